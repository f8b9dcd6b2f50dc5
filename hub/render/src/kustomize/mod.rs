//! Kustomize-style overlays: a Kustomize v5 build in Rust that produces the objects
//! `kubectl kustomize DIR` produces, from any read-only file tree.
//!
//! A build reads a kustomization directory ([`build`]): its resources (files, and directories
//! holding a kustomization, recursively), generators, components and transformers, in the order
//! Kustomize runs them; then adds content-hash suffixes to generated names, rewrites the
//! references to renamed objects and sorts the result in Kustomize's legacy order. Files come
//! from a [`Source`] ([`DirSource`] on disk, [`MemSource`] in memory); nothing is read outside
//! its root, remote bases are refused, and nesting is bounded.
//!
//! Supported: `resources`/`bases`, `components`, `namespace`, `namePrefix`/`nameSuffix`,
//! `labels`, `commonLabels`, `commonAnnotations`, `images`, `replicas`, `patches`,
//! `patchesStrategicMerge`, `patchesJson6902`, `replacements`, `configMapGenerator`,
//! `secretGenerator`, `generatorOptions` and `sortOptions`. Plugins, Helm charts and vars are
//! refused with a clear error.

mod build;
mod fieldspec;
mod generator;
mod kustomization;
mod nameref;
mod patch;
mod replacement;
mod resmap;
mod source;
mod transform;
mod yaml;

pub use build::build;
pub use source::{DirSource, MemSource, Source};

/// Writes objects as one multi-document YAML stream (`---` between documents), formatted as
/// `kubectl kustomize` prints them: keys sorted, block style, literal blocks for multi-line
/// strings.
///
/// ```
/// let text = gatehouse_render::kustomize::to_yaml(&[serde_json::json!({"kind": "A"})]);
/// assert_eq!(text, "kind: A\n");
/// ```
pub fn to_yaml(objects: &[serde_json::Value]) -> String {
    yaml::to_yaml(objects)
}

/// Why a build failed. Every message names the file, directory, patch or object involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {path}: {message}")]
    Io {
        /// The path as given.
        path: String,
        /// The operating system's message.
        message: String,
    },
    /// A path leaves the source root (`../` too far, an absolute path, or a symbolic link).
    #[error(
        "the path {path:?} leaves the source root; only files inside the tree being built can be used"
    )]
    Escapes {
        /// The offending path.
        path: String,
    },
    /// A remote base or resource (a URL or Git address).
    #[error(
        "{file}: the remote resource {path:?} is not supported; vendor it into the tree and refer to it by a relative path"
    )]
    Remote {
        /// The remote address.
        path: String,
        /// The kustomization that names it.
        file: String,
    },
    /// A resource, patch or generator input that does not exist.
    #[error(
        "{referenced_from}: {path} does not exist; check the path (it is relative to the kustomization's directory)"
    )]
    NotFound {
        /// The missing path (from the source root).
        path: String,
        /// The kustomization that names it.
        referenced_from: String,
    },
    /// A directory without a kustomization file.
    #[error("{dir} holds no kustomization.yaml, kustomization.yml or Kustomization file")]
    NoKustomization {
        /// The directory.
        dir: String,
    },
    /// A directory with more than one kustomization file.
    #[error("{dir} holds more than one kustomization file; keep exactly one")]
    MultipleKustomizations {
        /// The directory.
        dir: String,
    },
    /// YAML that does not parse.
    #[error("{file}{}: malformed YAML: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Yaml {
        /// The file.
        file: String,
        /// The 1-based line of the error, when known.
        line: Option<u64>,
        /// The parser's message.
        message: String,
    },
    /// A kustomization file with invalid content.
    #[error("{file}: invalid kustomization: {message}")]
    Kustomization {
        /// The kustomization file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A kustomization using fields this build does not run.
    #[error(
        "{file}: {fields} not supported by this build; remove them or render the result beforehand"
    )]
    Unsupported {
        /// The kustomization file.
        file: String,
        /// The fields, comma-separated.
        fields: String,
    },
    /// An object that is not a Kubernetes object.
    #[error("{file}: {message}")]
    InvalidResource {
        /// The file it came from.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// Kustomizations that include each other.
    #[error("cycle in kustomizations: {chain}; a kustomization cannot include itself")]
    Cycle {
        /// The directories along the cycle, joined by ` -> `.
        chain: String,
    },
    /// Nesting deeper than the limit.
    #[error("{dir}: kustomizations nest deeper than {limit} levels")]
    TooDeep {
        /// The directory where the limit was hit.
        dir: String,
        /// The limit.
        limit: usize,
    },
    /// Two objects with the same id.
    #[error(
        "may not add resource with an already registered id: {id}; each object must be declared once (use a patch to change it)"
    )]
    Conflict {
        /// The id.
        id: String,
    },
    /// A target selector that cannot be used.
    #[error("the target selector {selector} is invalid: {message}")]
    Selector {
        /// The selector.
        selector: String,
        /// What is wrong.
        message: String,
    },
    /// A patch that cannot be read or applied.
    #[error("patch {patch} on {target}: {message}")]
    Patch {
        /// The patch: its file, or its index and kustomization.
        patch: String,
        /// The targeted object or selector.
        target: String,
        /// What went wrong.
        message: String,
    },
    /// A replacement that cannot run: its source selects no resource or several, a field
    /// path does not fit, or the value cannot be written.
    #[error("{replacement}: {message}")]
    Replacement {
        /// The replacement: its index and kustomization, and its file when read from `path:`.
        replacement: String,
        /// What went wrong.
        message: String,
    },
    /// A generator that cannot run.
    #[error("{dir}: {field} {name:?}: {message}")]
    Generator {
        /// The kustomization's directory.
        dir: String,
        /// `configMapGenerator` or `secretGenerator`.
        field: &'static str,
        /// The generator's name.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// A transformer that cannot run.
    #[error("{message}")]
    Transform {
        /// What went wrong.
        message: String,
    },
    /// A name reference that could mean several objects.
    #[error("{referrer} refers to the {kind} {name:?}, which could be any of: {}; give them distinct names or namespaces", candidates.join(", "))]
    Reference {
        /// The referring object.
        referrer: String,
        /// The name referred to.
        name: String,
        /// The kind referred to.
        kind: String,
        /// The objects it could mean.
        candidates: Vec<String>,
    },
}

/// Reads a file that must exist; `from` is the kustomization that names it.
pub(crate) fn read_required(src: &dyn Source, path: &str, from: &str) -> Result<Vec<u8>, Error> {
    src.read(path)?.ok_or_else(|| Error::NotFound {
        path: path.to_string(),
        referenced_from: from.to_string(),
    })
}
