//! The WebAssembly host: compiles plugin modules once and runs each call in a fresh, bounded
//! instance.
//!
//! One `wasmtime::Engine` serves the process. Modules are compiled with Cranelift when a
//! plugin set is built, and their instantiation is prepared then (`InstancePre`: imports
//! resolved, which for a plugin means checking it has none). A call takes an instance slot
//! from a pooling allocator (memory images are mapped copy-on-write, so instantiating a
//! module with a large data segment costs little), writes the request into guest memory,
//! calls `gatehouse_evaluate`, reads the answer and drops the instance: calls share nothing.
//!
//! Bounds: a memory cap enforced by a `ResourceLimiter` (growth past it fails, which the guest
//! usually turns into a trap; both are reported as memory exhaustion), and a time budget. The
//! budget is counted in *fuel* (WebAssembly work), calibrated so that the default budget is
//! about 10 ms of computation: the cut-off is deterministic, so a plugin decides the same on a
//! loaded CI runner as on an idle hub, and a preempted thread is never denied for being
//! descheduled. Behind it, epoch interruption (a ticker thread advances the epoch every
//! millisecond while calls are in flight and sleeps otherwise) stops any call after ten times
//! its budget of wall-clock time, whatever it was doing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread::Thread;
use std::time::Duration;

use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, Module,
    PoolingAllocationConfig, ResourceLimiter, Store, Trap, TypedFunc,
};

use super::FailureKind;

/// The epoch tick.
const TICK: Duration = Duration::from_millis(1);
/// Fuel per millisecond of budget: about what Cranelift-compiled code burns in a millisecond
/// on a current x86-64 core (measured with `gatehouse bench --plugins`; see
/// docs/benchmarks.md).
pub(crate) const FUEL_PER_MS: u64 = 1_000_000;
/// The wall-clock backstop, as a multiple of the budget.
const WALL_FACTOR: u32 = 10;
/// Concurrent calls the pool serves by default; more wait for nothing and fail (the action is
/// denied). See [`set_concurrent_calls`].
const SLOTS: u32 = 256;
/// The pool size the host is created with, when [`set_concurrent_calls`] changed it first.
static SLOTS_WANTED: AtomicU32 = AtomicU32::new(SLOTS);
/// The largest memory any plugin may be given (the per-call cap is at most this).
pub(crate) const MAX_MEMORY: usize = 256 << 20;
/// The most function-table entries a plugin may have (the built-in plugins use fewer than
/// 400); the pool keeps this many per slot, in memory the process writes to.
const MAX_TABLE_ELEMENTS: usize = 10_000;
/// The largest answer read back from a plugin.
const MAX_ANSWER: u32 = 16 << 20;

/// The process-wide WebAssembly engine and its epoch ticker.
pub(crate) struct Host {
    engine: Engine,
    /// Compiled modules by digest: an engine compiled again from the same bundle (a reload,
    /// a test run) does not compile its plugins again.
    modules: Mutex<HashMap<String, Module>>,
    in_flight: Arc<AtomicUsize>,
    ticker: Thread,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").finish_non_exhaustive()
    }
}

static HOST: OnceLock<Result<Host, String>> = OnceLock::new();

/// Sizes the process's plugin pool for `calls` concurrent calls (default 256) instead of the
/// default; only before the first plugin is compiled, so returns whether it took effect. Each
/// slot keeps memory the process writes to, so a process that decides one action at a time
/// under a tight memory limit (a playground worker) asks for a few.
pub fn set_concurrent_calls(calls: u32) -> bool {
    SLOTS_WANTED.store(calls.max(1), Ordering::SeqCst);
    HOST.get().is_none()
}

impl Host {
    /// The shared host, created on first use.
    pub(crate) fn get() -> Result<&'static Host, String> {
        HOST.get_or_init(Host::new).as_ref().map_err(Clone::clone)
    }

    fn new() -> Result<Host, String> {
        let slots = SLOTS_WANTED.load(Ordering::SeqCst);
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(slots)
            .total_memories(slots)
            .total_tables(slots)
            .total_component_instances(0)
            .max_memory_size(MAX_MEMORY)
            .table_elements(MAX_TABLE_ELEMENTS)
            .max_unused_warm_slots(16);
        let mut config = Config::new();
        config
            .epoch_interruption(true)
            .consume_fuel(true)
            .max_wasm_stack(1 << 20)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)
            .map_err(|e| format!("the WebAssembly engine could not start: {e}"))?;
        let in_flight = Arc::new(AtomicUsize::new(0));
        // Without the ticker a runaway plugin would never be stopped: no ticker, no host.
        let ticker = spawn_ticker(engine.weak(), Arc::downgrade(&in_flight))
            .map_err(|e| format!("the plugin time-keeping thread could not start: {e}"))?;
        Ok(Host {
            engine,
            modules: Mutex::new(HashMap::new()),
            in_flight,
            ticker,
        })
    }

    /// Compiles a module and prepares its instantiation; checks the interface.
    pub(crate) fn compile(
        &self,
        name: &str,
        digest: &str,
        bytes: &[u8],
    ) -> Result<Compiled, String> {
        let cached = self
            .modules
            .lock()
            .ok()
            .and_then(|m| m.get(digest).cloned());
        let module = match cached {
            Some(m) => m,
            None => {
                let m = Module::new(&self.engine, bytes).map_err(|e| {
                    format!("the module of plugin {name} is not valid WebAssembly: {e:#}")
                })?;
                if let Ok(mut cache) = self.modules.lock() {
                    cache.insert(digest.to_owned(), m.clone());
                }
                m
            }
        };
        if let Some(import) = module.imports().next() {
            return Err(format!(
                "plugin {name} imports {}.{}, but plugins may import nothing (no WASI, no host functions). \
                 Build it for wasm32-unknown-unknown with the gatehouse-plugin-sdk, without wasm-bindgen",
                import.module(),
                import.name()
            ));
        }
        let mut missing: Vec<&str> = [
            "memory",
            "gatehouse_abi_version",
            "gatehouse_alloc",
            "gatehouse_evaluate",
        ]
        .into_iter()
        .filter(|e| module.get_export(e).is_none())
        .collect();
        missing.sort_unstable();
        if !missing.is_empty() {
            return Err(format!(
                "plugin {name} does not export {}; a plugin exports memory, gatehouse_abi_version, gatehouse_alloc and gatehouse_evaluate (see docs/plugins.md)",
                missing.join(", ")
            ));
        }
        let linker: Linker<Limits> = Linker::new(&self.engine);
        let pre = linker
            .instantiate_pre(&module)
            .map_err(|e| format!("plugin {name} cannot be instantiated: {e:#}"))?;
        Ok(Compiled { pre })
    }

    /// Runs one call: `request` in, the answer's bytes out.
    pub(crate) fn call(
        &self,
        compiled: &Compiled,
        request: &[u8],
        time: Duration,
        memory: usize,
    ) -> Result<Vec<u8>, (FailureKind, String)> {
        let _flight = InFlight::enter(self);
        let mut store = Store::new(
            &self.engine,
            Limits {
                memory,
                denied: false,
            },
        );
        store.limiter(|l| l);
        let fuel = u64::try_from(time.as_micros())
            .unwrap_or(u64::MAX / FUEL_PER_MS)
            .saturating_mul(FUEL_PER_MS)
            / 1000;
        if let Err(e) = store.set_fuel(fuel.max(1)) {
            return Err((
                FailureKind::Interface,
                format!("its budget could not be set: {e}"),
            ));
        }
        let wall = time.saturating_mul(WALL_FACTOR);
        let ticks = u64::try_from(wall.as_micros().div_ceil(TICK.as_micros()))
            .unwrap_or(u64::MAX)
            .max(1);
        store.set_epoch_deadline(ticks);
        let fail = |store: &Store<Limits>, e: wasmtime::Error, doing: &str| {
            classify(store.data(), &e, time, memory, doing)
        };
        let instance = match compiled.pre.instantiate(&mut store) {
            Ok(i) => i,
            Err(e) => return Err(fail(&store, e, "starting")),
        };
        let func = |store: &mut Store<Limits>, name: &str| {
            instance
                .get_export(&mut *store, name)
                .and_then(wasmtime::Extern::into_func)
        };
        let typed = |store: &mut Store<Limits>, name: &str| -> Result<_, (FailureKind, String)> {
            func(store, name).ok_or_else(|| {
                (
                    FailureKind::Interface,
                    format!("it does not export the function {name}"),
                )
            })
        };
        let version: TypedFunc<(), u32> = typed(&mut store, "gatehouse_abi_version")?
            .typed(&store)
            .map_err(|e| {
                (
                    FailureKind::Interface,
                    format!("gatehouse_abi_version has the wrong type: {e}"),
                )
            })?;
        let abi = version
            .call(&mut store, ())
            .map_err(|e| fail(&store, e, "reporting its interface version"))?;
        if abi != super::ABI_VERSION {
            return Err((
                FailureKind::Interface,
                format!(
                    "it implements interface version {abi}; this Gatehouse speaks version {}. Rebuild it with a matching gatehouse-plugin-sdk",
                    super::ABI_VERSION
                ),
            ));
        }
        let alloc: TypedFunc<u32, u32> = typed(&mut store, "gatehouse_alloc")?
            .typed(&store)
            .map_err(|e| {
                (
                    FailureKind::Interface,
                    format!("gatehouse_alloc has the wrong type: {e}"),
                )
            })?;
        let evaluate: TypedFunc<(u32, u32), u64> = typed(&mut store, "gatehouse_evaluate")?
            .typed(&store)
            .map_err(|e| {
                (
                    FailureKind::Interface,
                    format!("gatehouse_evaluate has the wrong type: {e}"),
                )
            })?;
        let Some(mem) = instance.get_memory(&mut store, "memory") else {
            return Err((
                FailureKind::Interface,
                "it does not export its memory".into(),
            ));
        };
        let len = u32::try_from(request.len()).map_err(|_| {
            (
                FailureKind::Memory,
                "the request is larger than 4 GiB".to_owned(),
            )
        })?;
        let ptr = alloc
            .call(&mut store, len)
            .map_err(|e| fail(&store, e, "reserving memory for the request"))?;
        if ptr == 0 && len > 0 {
            return Err(memory_failure(memory, "reserving memory for the request"));
        }
        mem.write(&mut store, ptr as usize, request).map_err(|_| {
            (
                FailureKind::Malformed,
                "gatehouse_alloc returned memory outside its linear memory".to_owned(),
            )
        })?;
        let packed = match evaluate.call(&mut store, (ptr, len)) {
            Ok(p) => p,
            Err(e) => {
                let (kind, mut reason) = fail(&store, e, "evaluating");
                if kind == FailureKind::Trap
                    && let Some(message) = panic_message(&instance, &mut store)
                {
                    reason = format!("{reason}: {message}");
                }
                return Err((kind, reason));
            }
        };
        let (out_ptr, out_len) = ((packed >> 32) as u32, packed as u32);
        if out_len > MAX_ANSWER {
            return Err((
                FailureKind::Malformed,
                format!("its answer is {out_len} bytes, over the {MAX_ANSWER} byte limit"),
            ));
        }
        let mut out = vec![0u8; out_len as usize];
        mem.read(&store, out_ptr as usize, &mut out).map_err(|_| {
            (
                FailureKind::Malformed,
                format!(
                    "it answered with memory outside its linear memory ({out_len} bytes at {out_ptr})"
                ),
            )
        })?;
        Ok(out)
    }
}

/// The guest's panic message, if it recorded one (read with a fresh small time budget).
fn panic_message(instance: &wasmtime::Instance, store: &mut Store<Limits>) -> Option<String> {
    let f: TypedFunc<(), u64> = instance
        .get_typed_func(&mut *store, "gatehouse_panic_message")
        .ok()?;
    store.set_epoch_deadline(2);
    store.set_fuel(1_000_000).ok()?;
    let packed = f.call(&mut *store, ()).ok()?;
    let (ptr, len) = ((packed >> 32) as usize, (packed as u32).min(4096) as usize);
    let mem = instance.get_memory(&mut *store, "memory")?;
    let bytes = mem.data(&*store).get(ptr..ptr.checked_add(len)?)?;
    let text = String::from_utf8_lossy(bytes).trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn memory_failure(memory: usize, doing: &str) -> (FailureKind, String) {
    (
        FailureKind::Memory,
        format!(
            "it ran out of memory while {doing} (its limit is {} MiB)",
            memory >> 20
        ),
    )
}

fn classify(
    limits: &Limits,
    e: &wasmtime::Error,
    time: Duration,
    memory: usize,
    doing: &str,
) -> (FailureKind, String) {
    let trap = e.downcast_ref::<Trap>().copied();
    if trap == Some(Trap::OutOfFuel) {
        return (
            FailureKind::Timeout,
            format!(
                "it did not finish within its {} ms time budget while {doing} (it used up its fuel)",
                time.as_millis()
            ),
        );
    }
    if trap == Some(Trap::Interrupt) {
        return (
            FailureKind::Timeout,
            format!(
                "it did not finish within its {} ms time budget while {doing} (it ran for {} ms of wall-clock time)",
                time.as_millis(),
                time.saturating_mul(WALL_FACTOR).as_millis()
            ),
        );
    }
    if limits.denied {
        return memory_failure(memory, doing);
    }
    let text = format!("{e:#}");
    if text.contains("pooling allocator") || text.contains("concurrent") {
        return (
            FailureKind::Busy,
            format!("no instance slot was free ({text}); too many plugin calls run at once"),
        );
    }
    match trap {
        Some(Trap::StackOverflow) => (
            FailureKind::Trap,
            format!("it exhausted its stack while {doing}"),
        ),
        Some(t) => (FailureKind::Trap, format!("it trapped while {doing} ({t})")),
        None => (
            FailureKind::Trap,
            format!("it failed while {doing}: {text}"),
        ),
    }
}

/// A compiled, ready-to-instantiate plugin module.
pub(crate) struct Compiled {
    pre: InstancePre<Limits>,
}

/// Per-call memory accounting.
struct Limits {
    memory: usize,
    denied: bool,
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory {
            self.denied = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// Counts a call in flight for the ticker, waking it on the first.
struct InFlight<'a> {
    host: &'a Host,
}

impl<'a> InFlight<'a> {
    fn enter(host: &'a Host) -> InFlight<'a> {
        if host.in_flight.fetch_add(1, Ordering::SeqCst) == 0 {
            host.ticker.unpark();
        }
        InFlight { host }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.host.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Advances the epoch every tick while calls are in flight; parks while none are.
fn spawn_ticker(
    engine: wasmtime::EngineWeak,
    in_flight: Weak<AtomicUsize>,
) -> std::io::Result<Thread> {
    std::thread::Builder::new()
        .name("gatehouse-plugin-epoch".into())
        .spawn(move || {
            loop {
                let Some(count) = in_flight.upgrade() else {
                    return;
                };
                if count.load(Ordering::SeqCst) == 0 {
                    drop(count);
                    std::thread::park_timeout(Duration::from_millis(100));
                    continue;
                }
                drop(count);
                std::thread::sleep(TICK);
                match engine.upgrade() {
                    Some(e) => e.increment_epoch(),
                    None => return,
                }
            }
        })
        .map(|h| h.thread().clone())
}
