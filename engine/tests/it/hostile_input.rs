//! Hostile action documents: corrupted text and wrongly typed values never panic the engine,
//! and nothing unparseable is ever allowed.

use gatehouse_engine::{Bundle, DecideOptions, Engine, EngineOptions, LoadOptions, Outcome};
use serde_json::Value as Json;

fn library() -> Engine {
    let bundle =
        Bundle::from_files(gatehouse_policies::files(false), LoadOptions::default()).unwrap();
    Engine::compile(bundle, None, EngineOptions::default()).unwrap()
}

fn fixtures() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/actions");
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json") && !p.to_string_lossy().contains("bench-")
        })
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    out.sort();
    out
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn corrupted_text_is_denied_never_allowed_and_never_panics() {
    let engine = library();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for text in fixtures() {
        for _ in 0..300 {
            let mut bytes = text.clone().into_bytes();
            match rng.below(3) {
                0 => {
                    let i = rng.below(bytes.len());
                    bytes[i] = (rng.next() & 0x7f) as u8;
                }
                1 => bytes.truncate(rng.below(bytes.len())),
                _ => {
                    let i = rng.below(bytes.len());
                    bytes.insert(i, b"{}[],:\"\\"[rng.below(8)]);
                }
            }
            let mutated = String::from_utf8_lossy(&bytes);
            let decision = engine.decide_json(&mutated, DecideOptions::default());
            if serde_json::from_str::<Json>(&mutated).is_err() {
                assert_eq!(
                    decision.outcome,
                    Outcome::Deny,
                    "unparseable input was not denied: {mutated}"
                );
            }
        }
    }
}

fn paths(v: &Json, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(prefix.clone());
    match v {
        Json::Object(m) => m.iter().for_each(|(k, c)| {
            let mut p = prefix.clone();
            p.push(k.clone());
            paths(c, p, out)
        }),
        Json::Array(a) => a.iter().enumerate().for_each(|(i, c)| {
            let mut p = prefix.clone();
            p.push(i.to_string());
            paths(c, p, out)
        }),
        _ => {}
    }
}

fn set(v: &mut Json, path: &[String], new: Json) {
    let mut node = v;
    for seg in path {
        node = match node {
            Json::Object(m) => m.get_mut(seg).unwrap(),
            Json::Array(a) => &mut a[seg.parse::<usize>().unwrap()],
            _ => return,
        };
    }
    *node = new;
}

#[test]
fn wrongly_typed_values_anywhere_never_panic() {
    let engine = library();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let replacements = [
        Json::Null,
        Json::Bool(true),
        serde_json::json!(-1),
        serde_json::json!(1e300),
        serde_json::json!(""),
        serde_json::json!("x".repeat(10_000)),
        serde_json::json!([]),
        serde_json::json!({}),
        serde_json::json!([[[[{}]]]]),
    ];
    for text in fixtures() {
        let original: Json = serde_json::from_str(&text).unwrap();
        let mut all = Vec::new();
        paths(&original, Vec::new(), &mut all);
        for _ in 0..300 {
            let mut v = original.clone();
            let path = &all[rng.below(all.len())];
            set(
                &mut v,
                path,
                replacements[rng.below(replacements.len())].clone(),
            );
            let decision = engine.decide_json(&v.to_string(), DecideOptions::default());
            // Whatever the outcome, it is a decision with reasons when it denies.
            if decision.outcome == Outcome::Deny {
                assert!(
                    !decision.violations.is_empty(),
                    "a denial without a reason for {path:?}"
                );
            }
        }
    }
}
