//! The binary interface, guest side (used by [`export_plugin!`](crate::export_plugin)).
//!
//! A plugin module exports its linear memory and five functions; it imports nothing.
//! The host writes the request (JSON, `{"action": ..., "config": ...}`) into memory it obtained
//! from `gatehouse_alloc`, calls `gatehouse_evaluate(ptr, len)`, and reads the answer (JSON)
//! from the `(ptr << 32) | len` it returns. Each call runs in a fresh instance, so nothing is
//! ever freed on the answer path. The functions only do something on `wasm32`; on other
//! targets (where plugin logic is unit-tested) they are inert.

use crate::{PluginError, Request, Response};

/// Reserves `len` bytes of guest memory and returns their address (0 when `len` cannot be
/// reserved).
pub fn alloc(len: u32) -> u32 {
    #[cfg(target_arch = "wasm32")]
    {
        let Ok(len) = usize::try_from(len) else {
            return 0;
        };
        let mut buf = Vec::<u8>::with_capacity(len);
        let ptr = buf.as_mut_ptr();
        std::mem::forget(buf);
        ptr as u32
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = len;
        0
    }
}

/// Releases memory reserved with [`alloc`].
pub fn dealloc(ptr: u32, len: u32) {
    #[cfg(target_arch = "wasm32")]
    if ptr != 0 {
        // SAFETY: the host hands back an address and length `alloc` returned.
        #[allow(unsafe_code)]
        unsafe {
            drop(Vec::from_raw_parts(ptr as *mut u8, 0, len as usize));
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (ptr, len);
}

/// Runs `plugin` on the request the host wrote at `ptr..ptr + len` and returns the address and
/// length of the answer, packed as `(ptr << 32) | len`.
pub fn evaluate(ptr: u32, len: u32, plugin: fn(&Request) -> Result<Response, PluginError>) -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        std::panic::set_hook(Box::new(|info| {
            if let Ok(mut slot) = PANIC.lock() {
                *slot = info.to_string();
            }
        }));
        let request: Vec<u8> = if ptr == 0 {
            Vec::new()
        } else {
            // SAFETY: the host wrote `len` bytes into memory `alloc(len)` returned and gives
            // up its claim on it.
            #[allow(unsafe_code)]
            unsafe {
                Vec::from_raw_parts(ptr as *mut u8, len as usize, len as usize)
            }
        };
        let answer = crate::run(&request, plugin);
        drop(request);
        leak(answer)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (ptr, len, plugin);
        0
    }
}

/// The message of the last panic (the host reads it after a trap), packed like an answer;
/// 0 when no panic happened.
pub fn panic_message() -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        let message = PANIC.lock().map(|m| m.clone()).unwrap_or_default();
        if message.is_empty() {
            return 0;
        }
        leak(message.into_bytes())
    }
    #[cfg(not(target_arch = "wasm32"))]
    0
}

#[cfg(target_arch = "wasm32")]
static PANIC: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

#[cfg(target_arch = "wasm32")]
fn leak(bytes: Vec<u8>) -> u64 {
    let bytes = bytes.into_boxed_slice();
    let len = bytes.len() as u64;
    let ptr = Box::into_raw(bytes) as *mut u8 as u32 as u64;
    (ptr << 32) | len
}
