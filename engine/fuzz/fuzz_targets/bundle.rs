//! Arbitrary bytes as a bundle's module, data file and bindings: loading and compiling either
//! succeed or fail with an error, and a compiled engine decides without panicking.
#![no_main]

use gatehouse_engine::{Action, Bundle, Engine, EngineOptions, LoadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let files = [
        ("p.rego", data),
        ("d/data.yaml", data),
        ("bindings.yaml", data),
    ];
    for chosen in [&files[..1], &files[1..2], &files[2..], &files[..]] {
        let Ok(bundle) = Bundle::from_files(chosen.iter().copied(), LoadOptions::default()) else {
            continue;
        };
        let Ok(engine) = Engine::compile(bundle, None, EngineOptions::default()) else {
            continue;
        };
        let action = Action::from_json(
            r#"{"kind": "render", "actor": {"id": "u", "kind": "user"}, "scope": {"org": "o", "environment": "production"},
                "subject": {"manifests": [{"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}]}}"#,
        )
        .unwrap();
        let _ = engine.decide(&action);
    }
});
