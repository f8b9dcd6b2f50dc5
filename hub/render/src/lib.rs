//! The delivery generator's pure core: everything between a workload's inputs and the
//! Kubernetes objects that go to the engine's render gate and then to the hosted repository.
//!
//! - [`chart`]: Helm charts: loading, values coalescing, rendering as `helm template` does;
//! - [`value`]: the values templates compute with, modelled on what Helm's Go templates see;
//! - [`template`]: Go's `text/template` (parse once, execute many), with Helm's `include`,
//!   `tpl` and error messages;
//! - [`funcs`]: Sprig's and Helm's template functions, and Go's `fmt`;
//! - [`kustomize`]: Kustomize-style overlays.
//!
//! It has no async runtime, no network, no database and no server: the CLI renders in CI exactly
//! what the hub renders before its gate.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod chart;
pub mod delivery;
pub mod funcs;
mod goyaml;
pub mod kustomize;
pub mod template;
pub mod validate;
pub mod value;
mod yaml;

pub use value::{Map, Object, Value};
