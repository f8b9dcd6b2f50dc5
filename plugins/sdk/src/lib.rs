//! The guest SDK for Gatehouse decision plugins.
//!
//! A plugin is a small Rust crate built for `wasm32-unknown-unknown`. It receives the action
//! document being decided and its own configuration, and answers with violations, warnings and
//! requirements in the terms of Gatehouse's decision contract. This crate gives it the types
//! ([`Request`], [`Response`], [`Finding`], [`Requirement`]) and the [`export_plugin!`] macro,
//! which implements the binary interface the host calls (see `docs/plugins.md`, and
//! `plugins/wit/gatehouse-plugin.wit` for the declaration).
//!
//! ```
//! use gatehouse_plugin_sdk::{Finding, PluginError, Request, Response};
//!
//! fn evaluate(request: &Request) -> Result<Response, PluginError> {
//!     let max = request.config_u64("max_replicas")?.unwrap_or(10);
//!     let mut response = Response::default();
//!     if request.action["context"]["replicas"].as_u64().unwrap_or(0) > max {
//!         response.violations.push(Finding::new(format!("At most {max} replicas are allowed.")));
//!     }
//!     Ok(response)
//! }
//!
//! // In the plugin crate: gatehouse_plugin_sdk::export_plugin!(evaluate);
//! # let request = Request::from_json(br#"{"action": {"context": {"replicas": 12}}, "config": {}}"#).unwrap();
//! # assert_eq!(evaluate(&request).unwrap().violations.len(), 1);
//! ```
//!
//! The logic of a plugin is ordinary Rust: test it with `cargo test` on the host, then build
//! the module with `cargo build --release --target wasm32-unknown-unknown`.

use serde::{Deserialize, Serialize};
pub use serde_json::{self, Value as Json, json};

pub mod abi;

/// The version of the binary interface this SDK implements (`gatehouse_abi_version`).
pub const ABI_VERSION: u32 = 1;

/// What the host hands a plugin: the action document and the plugin's configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Request {
    /// The action document being decided (`input` in Rego), as JSON.
    #[serde(default)]
    pub action: Json,
    /// The plugin's configuration, as given by the caller (a Rego policy or the host).
    #[serde(default)]
    pub config: Json,
}

impl Request {
    /// Parses a request from its JSON text.
    pub fn from_json(bytes: &[u8]) -> Result<Request, PluginError> {
        serde_json::from_slice(bytes)
            .map_err(|e| PluginError::new(format!("the request is not valid JSON: {e}")))
    }

    /// The configuration value at `key`, if present and not null.
    pub fn config(&self, key: &str) -> Option<&Json> {
        self.config.get(key).filter(|v| !v.is_null())
    }

    /// A non-negative integer setting; an error names the key when it has another type.
    pub fn config_u64(&self, key: &str) -> Result<Option<u64>, PluginError> {
        match self.config(key) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                PluginError::new(format!(
                    "config.{key} must be a non-negative integer, not {v}"
                ))
            }),
        }
    }

    /// A configuration object deserialized into `T`; an error names the path that does not fit.
    pub fn config_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, PluginError> {
        T::deserialize(&self.config)
            .map_err(|e| PluginError::new(format!("the configuration is invalid: {e}")))
    }
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Informational.
    Info,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

/// A violation or a warning: the same shape a Rego `deny`/`warn` rule returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The message, a full sentence that says what to do next.
    pub msg: String,
    /// Severity; the calling policy's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// The object the finding is about (`Deployment/ns/name`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// Structured detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Json>,
}

impl Finding {
    /// A finding with only a message.
    pub fn new(msg: impl Into<String>) -> Finding {
        Finding {
            msg: msg.into(),
            severity: None,
            object: None,
            details: None,
        }
    }

    /// Sets the severity.
    pub fn severity(mut self, severity: Severity) -> Finding {
        self.severity = Some(severity);
        self
    }

    /// Sets the details.
    pub fn details(mut self, details: Json) -> Finding {
        self.details = Some(details);
        self
    }

    /// Sets the object.
    pub fn object(mut self, object: impl Into<String>) -> Finding {
        self.object = Some(object.into());
        self
    }
}

/// Something that must happen before the action may proceed: the shape of a Rego
/// `requirement` rule's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Requirement {
    /// A stable id, e.g. `approval:prod-two-teams`.
    pub id: String,
    /// What sort of requirement, e.g. `approval`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Progress in words, e.g. `1 of 2 approvals received`.
    pub msg: String,
    /// Whether it is met.
    pub satisfied: bool,
    /// Machine-readable progress, e.g. `{"received": 1, "required": 2}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Json>,
    /// Further detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Json>,
}

/// A plugin's answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Findings that block when the calling policy is enforced.
    #[serde(default)]
    pub violations: Vec<Finding>,
    /// Findings that are shown but do not block.
    #[serde(default)]
    pub warnings: Vec<Finding>,
    /// Requirements, met or not.
    #[serde(default)]
    pub requirements: Vec<Requirement>,
}

/// A plugin that cannot answer (bad configuration, an input it cannot read). The host denies
/// the action and shows this message, naming the plugin: write it so the reader knows what
/// to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError(pub String);

impl PluginError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> PluginError {
        PluginError(message.into())
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PluginError {}

/// Runs a plugin function on request bytes and encodes its answer, as the host expects it:
/// the [`Response`] as JSON, or `{"error": "..."}`.
pub fn run(bytes: &[u8], plugin: fn(&Request) -> Result<Response, PluginError>) -> Vec<u8> {
    let result = Request::from_json(bytes).and_then(|request| plugin(&request));
    let encoded = match result {
        Ok(response) => serde_json::to_vec(&response),
        Err(e) => serde_json::to_vec(&json!({"error": e.0})),
    };
    encoded.unwrap_or_else(|_| br#"{"error": "the plugin's answer could not be encoded"}"#.to_vec())
}

/// Exports a plugin function `fn(&Request) -> Result<Response, PluginError>` with the
/// binary interface the Gatehouse host calls: `gatehouse_abi_version`, `gatehouse_alloc`,
/// `gatehouse_dealloc`, `gatehouse_evaluate` and `gatehouse_panic_message`. The exports exist
/// only when building for `wasm32`, so host builds of a plugin crate (its unit tests) can link
/// several plugins together.
#[macro_export]
macro_rules! export_plugin {
    ($evaluate:path) => {
        /// The interface version (1).
        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn gatehouse_abi_version() -> u32 {
            $crate::ABI_VERSION
        }

        /// Reserves `len` bytes for the host to write a request into.
        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn gatehouse_alloc(len: u32) -> u32 {
            $crate::abi::alloc(len)
        }

        /// Releases memory obtained from `gatehouse_alloc`.
        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn gatehouse_dealloc(ptr: u32, len: u32) {
            $crate::abi::dealloc(ptr, len)
        }

        /// Evaluates the request at `ptr..ptr+len`; returns the answer's `(ptr << 32) | len`.
        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn gatehouse_evaluate(ptr: u32, len: u32) -> u64 {
            $crate::abi::evaluate(ptr, len, $evaluate)
        }

        /// The message of the last panic, as `(ptr << 32) | len` (0 when there was none).
        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn gatehouse_panic_message() -> u64 {
            $crate::abi::panic_message()
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(request: &Request) -> Result<Response, PluginError> {
        if request.config("fail").is_some() {
            return Err(PluginError::new("config.fail is set"));
        }
        let mut r = Response::default();
        r.warnings
            .push(Finding::new("hello").severity(Severity::Low));
        r.requirements.push(Requirement {
            id: "x".into(),
            kind: "approval".into(),
            msg: "0 of 1".into(),
            satisfied: false,
            progress: Some(json!({"received": 0, "required": 1})),
            details: None,
        });
        Ok(r)
    }

    #[test]
    fn run_encodes_the_response_in_the_contract_shape() {
        let out = run(br#"{"action": {}, "config": {}}"#, plugin);
        let v: Json = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            json!({"violations": [], "warnings": [{"msg": "hello", "severity": "low"}],
                   "requirements": [{"id": "x", "type": "approval", "msg": "0 of 1", "satisfied": false,
                                     "progress": {"received": 0, "required": 1}}]})
        );
    }

    #[test]
    fn errors_and_bad_requests_become_error_objects() {
        let out = run(br#"{"config": {"fail": true}}"#, plugin);
        assert_eq!(
            serde_json::from_slice::<Json>(&out).unwrap(),
            json!({"error": "config.fail is set"})
        );
        let out = run(b"not json", plugin);
        let v: Json = serde_json::from_slice(&out).unwrap();
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .starts_with("the request is not valid JSON")
        );
    }

    #[test]
    fn config_u64_names_the_key() {
        let r = Request::from_json(br#"{"config": {"n": "two"}}"#).unwrap();
        assert_eq!(
            r.config_u64("n").unwrap_err().0,
            "config.n must be a non-negative integer, not \"two\""
        );
        assert_eq!(r.config_u64("m").unwrap(), None);
    }
}
