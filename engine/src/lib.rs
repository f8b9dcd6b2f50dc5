//! The Gatehouse decision core.
//!
//! Every governed operation in Gatehouse (a render, a release step, a promotion, a rollback, a
//! break-glass session, a cluster command) is described as an [`Action`] and decided here. The
//! hub and the agent are thin shells: they gather facts, ask this crate, and carry out only what
//! the returned [`Decision`] allows.
//!
//! The crate owns:
//! - [`bundle`]: loading policy bundles in OPA's layout (directory or `.tar.gz`, data mounted
//!   at directory paths, `.manifest`, per-file Rego versions, a content-digest revision);
//! - [`action`] and [`decision`]: the versioned contract policy authors program against;
//! - [`binding`]: where each policy set is enforced, warned about or audited;
//! - [`Engine`]: compile once, decide many times, in parallel, failing closed;
//! - [`plugin`]: sandboxed WebAssembly plugins that policies call as `gatehouse.plugin(...)`;
//! - [`query`] and [`testing`]: ad-hoc queries (`gatehouse eval`) and `test_*` rules
//!   (`gatehouse test`).
//!
//! It has no async runtime, no network, no database and no Kubernetes dependency, so the CLI in
//! CI decides exactly as the hub does.
//!
//! ```
//! use gatehouse_engine::{Action, Bundle, Engine, EngineOptions, LoadOptions, Outcome};
//!
//! let bundle = Bundle::from_files(
//!     [("policy.rego", "package demo\ndeny contains \"frozen\" if input.scope.environment == \"production\"\n")],
//!     LoadOptions::default(),
//! )?;
//! let engine = Engine::compile(bundle, None, EngineOptions::default())?;
//! let action = Action::from_json(r#"{"kind": "release.deploy",
//!     "actor": {"id": "u-alice", "kind": "user"},
//!     "scope": {"org": "acme", "environment": "production"},
//!     "subject": {"release": {"id": "rel-1"}}}"#)?;
//! let decision = engine.decide(&action);
//! assert_eq!(decision.outcome, Outcome::Deny);
//! assert_eq!(decision.violations[0].message, "frozen");
//! # Ok::<(), gatehouse_engine::Error>(())
//! ```

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod action;
pub mod binding;
pub mod bundle;
pub mod decision;
pub mod diagnostic;
mod engine;
mod error;
mod input;
pub mod metadata;
pub mod plugin;
pub mod query;
pub mod testing;
mod yaml;

pub use action::{Action, ActionError, ActionKind, action_schema};
pub use binding::{Binding, Bindings, InputMode, Mode};
pub use bundle::{Bundle, LoadOptions, Module};
pub use decision::{Decision, Finding, Outcome, PolicyTrace, Requirement, Severity};
pub use diagnostic::Diagnostic;
pub use engine::{
    DecideOptions, ENGINE_POLICY, Engine, EngineOptions, Policy, object_ref, pod_spec,
};
pub use error::Error;
pub use plugin::{PluginLimits, PluginManifest, PluginSet, Plugins};

/// Parses YAML as Kubernetes does (legacy octal on); one document.
pub fn yaml_from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    yaml::from_str(text)
}

/// Parses every document of a YAML stream, as Kubernetes does (legacy octal on).
pub fn yaml_from_str_multiple<T: serde::de::DeserializeOwned>(
    text: &str,
) -> Result<Vec<T>, String> {
    yaml::from_str_multiple(text)
}
