//! Arbitrary bytes as an action document, decided by the built-in library: never a panic, and
//! text that is not JSON is never allowed.
#![no_main]

use std::sync::OnceLock;

use gatehouse_engine::{Bundle, DecideOptions, Engine, EngineOptions, LoadOptions, Outcome};
use libfuzzer_sys::fuzz_target;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let bundle =
            Bundle::from_files(gatehouse_policies::files(false), LoadOptions::default()).unwrap();
        Engine::compile(bundle, None, EngineOptions::default()).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let decision = engine().decide_json(&text, DecideOptions { explain: true });
    if serde_json::from_str::<serde_json::Value>(&text).is_err() {
        assert_eq!(decision.outcome, Outcome::Deny);
    }
});
