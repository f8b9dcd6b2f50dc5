//! Arbitrary text through the YAML reader (single and multi-document): errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = gatehouse_engine::yaml_from_str::<serde_json::Value>(text);
        let _ = gatehouse_engine::yaml_from_str_multiple::<serde_json::Value>(text);
    }
});
