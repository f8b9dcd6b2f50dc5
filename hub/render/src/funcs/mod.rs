//! The function library templates call: Sprig's functions and Helm's additions (`toYaml`,
//! `fromYaml`, `toJson`, `required`, ...), with Helm's semantics, plus Go's `fmt` formatting.
//!
//! Functions that need the template engine itself (`include`, `tpl`, `template`) live in
//! [`crate::template`]; everything here is a plain function of its arguments and a [`Ctx`].

use crate::value::Value;

mod data;
pub mod fmt;
mod sprig;

/// A library function: its arguments in, a value or an error message out. The message is what
/// Helm prints after `error calling NAME:`.
pub type Func = fn(&mut Ctx, &[Value]) -> Result<Value, String>;

/// Per-render state functions may use.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Seed for the functions that are random in Helm (`randAlphaNum`, `uuidv4`, `genCA`, ...):
    /// a render seeds it from the project, tenant, environment and workload, so the same inputs
    /// give byte-identical output.
    pub seed: [u8; 32],
    /// How many random draws have been made so far in this render.
    pub draws: u64,
    /// How many bcrypt hashes and password derivations this render has computed (they are
    /// slow on purpose, so a render has a budget of them).
    pub slow_hashes: u32,
    /// The render's clock (Unix seconds, UTC) for `now` and the date functions: fixed per
    /// render so that output does not depend on when it ran.
    pub now: i64,
}

impl Ctx {
    /// A context whose random functions are seeded by `seed` and whose clock reads `now`.
    pub fn new(seed: [u8; 32], now: i64) -> Ctx {
        Ctx {
            seed,
            draws: 0,
            slow_hashes: 0,
            now,
        }
    }
}

/// The function named `name`, if the library has it.
pub fn lookup(name: &str) -> Option<Func> {
    sprig::lookup(name).or_else(|| data::lookup(name))
}

/// Helm's `toYaml` of a value, without the trailing newline (`.Files.AsConfig` uses it too).
pub fn to_yaml(value: &Value) -> String {
    data::yaml::to_yaml(value)
}

/// A JSON document as YAML in the same dialect as `toYaml`, ending with a newline (how the
/// delivery generator writes the objects it creates itself).
pub fn to_yaml_document(json: &serde_json::Value) -> String {
    let mut text = to_yaml(&Value::from_json(json));
    text.push('\n');
    text
}
