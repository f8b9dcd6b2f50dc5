//! WebAssembly plugins: decision logic that is awkward in Rego, sandboxed.
//!
//! A plugin is a core WebAssembly module with a [manifest](PluginManifest). It is handed the
//! action document and its configuration as JSON and answers with violations, warnings and
//! requirements in the decision contract's terms (the interface is declared in
//! `plugins/wit/gatehouse-plugin.wit` and specified in `docs/plugins.md`). Policies call
//! plugins from Rego with the extension function
//!
//! ```rego
//! result := gatehouse.plugin("freeze-windows", input, {})
//! deny contains v if some v in result.violations
//! ```
//!
//! and get `{"violations": [...], "warnings": [...], "requirements": [...]}` back.
//!
//! This module owns:
//! - [`PluginSet`]: a bundle's plugins, verified against their manifests' digests and compiled
//!   once (`host`: wasmtime with a pooling allocator, no WASI, a time budget by epoch
//!   interruption and a memory cap per call);
//! - [`Plugins`]: the set an [`Engine`](crate::Engine) uses, swappable atomically while
//!   decisions run (each call takes the set in force when it starts);
//! - the Rego extension and the per-decision call log (`rego`), through which a plugin that
//!   traps, runs out of time or memory, or answers garbage makes the decision deny with a
//!   finding that names the plugin and the reason.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::{Map, Value as Json};

mod host;
mod manifest;
pub(crate) mod rego;

pub use host::set_concurrent_calls;
pub use manifest::{PluginManifest, module_digest};

/// The binary interface version this host speaks (`gatehouse_abi_version`).
pub const ABI_VERSION: u32 = 1;

/// The name of the Rego extension function.
pub const REGO_FUNCTION: &str = "gatehouse.plugin";

/// Limits of one plugin call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginLimits {
    /// Wall-clock budget of one call (default 10 ms).
    pub time: Duration,
    /// Largest linear memory of one call, in bytes (default 32 MiB, at most 256 MiB).
    pub memory: usize,
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            time: Duration::from_millis(10),
            memory: 32 << 20,
        }
    }
}

/// A plugin as found in a bundle: its manifest and its module's bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSource {
    /// Path of the manifest inside the bundle, for messages.
    pub path: String,
    /// The manifest.
    pub manifest: PluginManifest,
    /// The module.
    pub module: Vec<u8>,
}

/// Why a plugin call failed; every failure denies the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailureKind {
    /// No plugin of that name is loaded.
    Missing,
    /// The call's configuration does not match the manifest's schema.
    Config,
    /// The module does not implement the interface.
    Interface,
    /// The time budget ran out.
    Timeout,
    /// The memory cap was reached.
    Memory,
    /// The module trapped (a panic, `unreachable`, an out-of-bounds access, stack exhaustion).
    Trap,
    /// The answer is not a valid response.
    Malformed,
    /// The plugin answered with an error of its own.
    Error,
    /// Every instance slot was in use.
    Busy,
}

impl FailureKind {
    /// A short stable name, used in finding details: `timeout`, `memory`, `trap`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Missing => "missing",
            FailureKind::Config => "config",
            FailureKind::Interface => "interface",
            FailureKind::Timeout => "timeout",
            FailureKind::Memory => "memory",
            FailureKind::Trap => "trap",
            FailureKind::Malformed => "malformed",
            FailureKind::Error => "error",
            FailureKind::Busy => "busy",
        }
    }
}

/// A failed plugin call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginFailure {
    /// The plugin's name.
    pub plugin: String,
    /// What sort of failure.
    pub kind: FailureKind,
    /// What happened, in words.
    pub reason: String,
}

impl std::fmt::Display for PluginFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "plugin {} failed: {}", self.plugin, self.reason)
    }
}

/// One compiled plugin.
struct Plugin {
    manifest: PluginManifest,
    compiled: host::Compiled,
    schema: Option<jsonschema::Validator>,
}

/// A set of verified, compiled plugins. Build one per bundle; share it freely.
#[derive(Default)]
pub struct PluginSet {
    plugins: BTreeMap<String, Plugin>,
    limits: PluginLimits,
}

impl std::fmt::Debug for PluginSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginSet")
            .field("plugins", &self.plugins.keys().collect::<Vec<_>>())
            .field("limits", &self.limits)
            .finish()
    }
}

impl PluginSet {
    /// Verifies each module against its manifest's digest and compiles it. A digest mismatch,
    /// an invalid module, a module that imports anything or lacks an export, an invalid
    /// config schema or two plugins of one name is an error naming the plugin.
    pub fn compile(sources: &[PluginSource], limits: PluginLimits) -> Result<PluginSet, String> {
        let mut plugins = BTreeMap::new();
        if sources.is_empty() {
            return Ok(PluginSet { plugins, limits });
        }
        let host = host::Host::get()?;
        for source in sources {
            let m = &source.manifest;
            let at = |e: String| format!("{}: {e}", source.path);
            m.verify(&source.module).map_err(at)?;
            if plugins.contains_key(&m.name) {
                return Err(at(format!(
                    "a plugin named {} is already loaded; plugin names must be unique",
                    m.name
                )));
            }
            let schema = m
                .config_schema
                .as_ref()
                .map(|s| {
                    jsonschema::validator_for(s).map_err(|e| {
                        at(format!(
                            "the config_schema of plugin {} is not a valid JSON Schema: {e}",
                            m.name
                        ))
                    })
                })
                .transpose()?;
            let compiled = host
                .compile(&m.name, &module_digest(&source.module), &source.module)
                .map_err(at)?;
            let plugin = Plugin {
                manifest: m.clone(),
                compiled,
                schema,
            };
            // One call at load: the module must start and report the interface version.
            let probe = host.call(
                &plugin.compiled,
                br#"{"action": {}, "config": {}}"#,
                limits.time.max(Duration::from_millis(100)),
                limits.memory,
            );
            if let Err((kind, reason)) = probe
                && matches!(kind, FailureKind::Interface)
            {
                return Err(at(format!("plugin {} cannot be used: {reason}", m.name)));
            }
            plugins.insert(m.name.clone(), plugin);
        }
        Ok(PluginSet { plugins, limits })
    }

    /// The limits each call runs under.
    pub fn limits(&self) -> PluginLimits {
        self.limits
    }

    /// The loaded plugins' manifests, by name.
    pub fn manifests(&self) -> impl Iterator<Item = &PluginManifest> {
        self.plugins.values().map(|p| &p.manifest)
    }

    /// Calls plugin `name` with an action (or any input document) and a configuration, and
    /// checks its answer: `{"violations": [...], "warnings": [...], "requirements": [...]}`.
    pub fn call(&self, name: &str, input: &Json, config: &Json) -> Result<Json, PluginFailure> {
        let failure = |kind: FailureKind, reason: String| PluginFailure {
            plugin: name.to_owned(),
            kind,
            reason,
        };
        let Some(plugin) = self.plugins.get(name) else {
            let known: Vec<&str> = self.plugins.keys().map(String::as_str).collect();
            return Err(failure(
                FailureKind::Missing,
                format!(
                    "no plugin named {name} is loaded (loaded: {}); add plugins/{name}/plugin.yaml and its module to the bundle",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        };
        let kinds = &plugin.manifest.kinds;
        if let Some(kind) = input.get("kind").and_then(Json::as_str)
            && !kinds.is_empty()
            && !kinds.iter().any(|k| k == kind)
        {
            return Ok(empty_response());
        }
        if let Some(schema) = &plugin.schema {
            let errors: Vec<String> = schema
                .iter_errors(config)
                .take(3)
                .map(|e| {
                    let path = e.instance_path().to_string();
                    format!("{}: {e}", if path.is_empty() { "/".into() } else { path })
                })
                .collect();
            if !errors.is_empty() {
                return Err(failure(
                    FailureKind::Config,
                    format!(
                        "its configuration does not match the plugin's config_schema ({}); correct the configuration the policy passes",
                        errors.join("; ")
                    ),
                ));
            }
        }
        let request = serde_json::to_vec(&serde_json::json!({"action": input, "config": config}))
            .map_err(|e| {
            failure(
                FailureKind::Malformed,
                format!("the request could not be encoded: {e}"),
            )
        })?;
        let host = host::Host::get().map_err(|e| failure(FailureKind::Interface, e))?;
        let span = tracing::debug_span!("plugin", plugin = name).entered();
        let answer = host
            .call(
                &plugin.compiled,
                &request,
                self.limits.time,
                self.limits.memory.min(host::MAX_MEMORY),
            )
            .map_err(|(kind, reason)| failure(kind, reason))?;
        drop(span);
        check_response(&answer).map_err(|(kind, reason)| failure(kind, reason))
    }
}

fn empty_response() -> Json {
    serde_json::json!({"violations": [], "warnings": [], "requirements": []})
}

const SEVERITIES: [&str; 5] = ["critical", "high", "medium", "low", "info"];

/// Checks a plugin's answer and returns it with every list present.
fn check_response(bytes: &[u8]) -> Result<Json, (FailureKind, String)> {
    let malformed = |m: String| (FailureKind::Malformed, m);
    let value: Json = serde_json::from_slice(bytes).map_err(|e| {
        let shown: String = String::from_utf8_lossy(bytes.get(..60).unwrap_or(bytes)).into();
        malformed(format!("its answer is not JSON ({e}); it begins {shown:?}"))
    })?;
    let Json::Object(mut map) = value else {
        return Err(malformed("its answer is not a JSON object".into()));
    };
    if let Some(error) = map.get("error") {
        let text = error
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| error.to_string());
        return Err((FailureKind::Error, text));
    }
    if let Some(k) = map
        .keys()
        .find(|k| !matches!(k.as_str(), "violations" | "warnings" | "requirements"))
    {
        return Err(malformed(format!(
            "its answer has the unknown field '{k}' (expected violations, warnings, requirements or error)"
        )));
    }
    for list in ["violations", "warnings", "requirements"] {
        let items = match map.remove(list) {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::Array(items)) => items,
            Some(_) => return Err(malformed(format!("{list} in its answer is not a list"))),
        };
        for (i, item) in items.iter().enumerate() {
            let at = format!("{list}[{i}]");
            let Some(obj) = item.as_object() else {
                return Err(malformed(format!("{at} in its answer is not an object")));
            };
            if list == "requirements" {
                check_requirement(obj).map_err(|e| malformed(format!("{at} in its answer {e}")))?;
            } else {
                check_finding(obj).map_err(|e| malformed(format!("{at} in its answer {e}")))?;
            }
        }
        map.insert(list.to_owned(), Json::Array(items));
    }
    Ok(Json::Object(map))
}

fn check_finding(obj: &Map<String, Json>) -> Result<(), String> {
    if !obj.get("msg").is_some_and(Json::is_string) {
        return Err("has no msg string".into());
    }
    if let Some(s) = obj.get("severity")
        && !s.as_str().is_some_and(|s| SEVERITIES.contains(&s))
    {
        return Err(format!(
            "has severity {s}, not one of critical, high, medium, low, info"
        ));
    }
    if obj.get("object").is_some_and(|o| !o.is_string()) {
        return Err("has an object that is not a string".into());
    }
    match obj
        .keys()
        .find(|k| !matches!(k.as_str(), "msg" | "severity" | "object" | "details"))
    {
        Some(k) => Err(format!("has the unknown field '{k}'")),
        None => Ok(()),
    }
}

fn check_requirement(obj: &Map<String, Json>) -> Result<(), String> {
    for key in ["id", "type", "msg"] {
        if !obj.get(key).is_some_and(Json::is_string) {
            return Err(format!("has no {key} string"));
        }
    }
    if !obj.get("satisfied").is_some_and(Json::is_boolean) {
        return Err("has no satisfied boolean".into());
    }
    match obj.keys().find(|k| {
        !matches!(
            k.as_str(),
            "id" | "type" | "msg" | "satisfied" | "progress" | "details"
        )
    }) {
        Some(k) => Err(format!("has the unknown field '{k}'")),
        None => Ok(()),
    }
}

/// The plugin set an engine uses, swappable while decisions run. Clones share the slot.
#[derive(Clone, Default)]
pub struct Plugins {
    slot: Arc<RwLock<Arc<PluginSet>>>,
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Plugins").field(&self.current()).finish()
    }
}

impl Plugins {
    /// A slot holding `set`.
    pub fn new(set: PluginSet) -> Plugins {
        Plugins {
            slot: Arc::new(RwLock::new(Arc::new(set))),
        }
    }

    /// The set in force now. A call holds on to it, so a swap never changes a running call.
    pub fn current(&self) -> Arc<PluginSet> {
        match self.slot.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replaces the set atomically: calls that start afterwards use `set`; calls already
    /// running finish with the set they started with. Returns the previous set.
    pub fn swap(&self, set: PluginSet) -> Arc<PluginSet> {
        let new = Arc::new(set);
        match self.slot.write() {
            Ok(mut guard) => std::mem::replace(&mut *guard, new),
            Err(poisoned) => std::mem::replace(&mut *poisoned.into_inner(), new),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_are_checked_field_by_field() {
        let ok = check_response(
            br#"{"violations": [{"msg": "x", "severity": "high", "details": {"a": 1}}]}"#,
        )
        .unwrap();
        assert_eq!(
            ok,
            json!({"violations": [{"msg": "x", "severity": "high", "details": {"a": 1}}], "warnings": [], "requirements": []})
        );
        let bad = |b: &[u8]| check_response(b).unwrap_err();
        assert_eq!(bad(b"\x00\x01garbage").0, FailureKind::Malformed);
        assert!(bad(b"[1]").1.contains("not a JSON object"));
        assert!(
            bad(br#"{"violation": []}"#)
                .1
                .contains("unknown field 'violation'")
        );
        assert!(
            bad(br#"{"violations": [{"message": "x"}]}"#)
                .1
                .contains("violations[0] in its answer has no msg string")
        );
        assert!(
            bad(br#"{"warnings": [{"msg": "x", "severity": "urgent"}]}"#)
                .1
                .contains("severity")
        );
        assert!(
            bad(br#"{"requirements": [{"id": "a", "type": "approval", "msg": "m"}]}"#)
                .1
                .contains("satisfied")
        );
        assert_eq!(
            bad(br#"{"error": "config.x is missing"}"#),
            (FailureKind::Error, "config.x is missing".into())
        );
    }

    #[test]
    fn an_unknown_plugin_is_named_with_what_to_do() {
        let set = PluginSet::default();
        let e = set.call("nope", &json!({}), &json!({})).unwrap_err();
        assert_eq!(e.kind, FailureKind::Missing);
        assert!(e.reason.contains("add plugins/nope/plugin.yaml"), "{e}");
    }
}
