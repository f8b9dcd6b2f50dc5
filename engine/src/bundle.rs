//! Policy bundles in OPA's layout.
//!
//! A bundle is a directory (or a `.tar.gz` of one) holding `.rego` modules anywhere, data files
//! named `data.json` / `data.yaml` / `data.yml` mounted at their directory's path (a file at
//! `gatehouse/config/data.json` becomes `data.gatehouse.config`), an optional `.manifest`
//! (revision, roots, Rego versions) and, Gatehouse's addition, an optional `bindings.yaml` at
//! the root saying where each policy set is enforced, and optional WebAssembly plugins, each a
//! `plugins/<name>/plugin.yaml` manifest beside its module (see [`crate::plugin`]).
//!
//! Loading reads everything into memory and checks it; compiling is [`crate::Engine`]'s job.
//! The revision is the manifest's, or a digest of the bundle's content when none is given, so
//! two hubs serving the same files report the same revision.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};

use crate::binding::Bindings;
use crate::error::Error;
use crate::plugin::{PluginManifest, PluginSource};

/// A `.rego` module of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Path inside the bundle (forward slashes), used in diagnostics.
    pub path: String,
    /// The Rego text.
    pub source: String,
    /// Whether it is read as Rego v1 (the default) or v0.
    pub rego_v1: bool,
}

/// The bundle `.manifest`, as OPA defines it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Revision string reported with every decision.
    #[serde(default)]
    pub revision: Option<String>,
    /// Package and data roots this bundle owns (empty: everything).
    #[serde(default)]
    pub roots: Option<Vec<String>>,
    /// Default Rego version of the bundle's modules: 0 or 1.
    #[serde(default)]
    pub rego_version: Option<u8>,
    /// Per-file Rego versions; keys are paths or `*` globs relative to the bundle root.
    #[serde(default)]
    pub file_rego_versions: BTreeMap<String, u8>,
    /// Free-form metadata.
    #[serde(default)]
    pub metadata: Option<Json>,
}

/// Loading options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Read modules as Rego v0 unless the manifest says otherwise (`--v0`).
    pub v0: bool,
}

/// A loaded, checked bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    /// Its modules, in path order.
    pub modules: Vec<Module>,
    /// The merged data document.
    pub data: Json,
    /// Its manifest (default when absent).
    pub manifest: Manifest,
    /// Its `bindings.yaml`, when present.
    pub bindings: Option<Bindings>,
    /// Its WebAssembly plugins (`plugins/<name>/plugin.yaml` and module), digests verified.
    pub plugins: Vec<PluginSource>,
    /// The manifest's revision, or `sha256:` and a digest of the content.
    pub revision: String,
}

const DATA_FILES: [&str; 3] = ["data.json", "data.yaml", "data.yml"];

impl Bundle {
    /// Loads a bundle from in-memory files (path relative to the bundle root, content).
    pub fn from_files<P, C>(
        files: impl IntoIterator<Item = (P, C)>,
        options: LoadOptions,
    ) -> Result<Bundle, Error>
    where
        P: AsRef<str>,
        C: AsRef<[u8]>,
    {
        let mut files: Vec<(String, Vec<u8>)> = files
            .into_iter()
            .map(|(p, c)| (normalize(p.as_ref()), c.as_ref().to_vec()))
            .collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        let revision_digest = digest(&files);

        let text = |path: &str, bytes: &[u8]| {
            String::from_utf8(bytes.to_vec())
                .map_err(|_| Error::bundle(path, "is not valid UTF-8 text"))
        };
        let manifest = match files.iter().find(|(p, _)| p == ".manifest") {
            Some((p, bytes)) => serde_json::from_str::<Manifest>(&text(p, bytes)?)
                .map_err(|e| Error::bundle(p, format!("is not a valid bundle manifest: {e}")))?,
            None => Manifest::default(),
        };
        for (pattern, v) in &manifest.file_rego_versions {
            if *v > 1 {
                return Err(Error::bundle(
                    ".manifest",
                    format!("file_rego_versions[{pattern}] must be 0 or 1, not {v}"),
                ));
            }
        }
        let bindings = match files
            .iter()
            .find(|(p, _)| p == "bindings.yaml" || p == "bindings.yml")
        {
            Some((p, bytes)) => {
                Some(Bindings::from_yaml(&text(p, bytes)?).map_err(|e| Error::bundle(p, e))?)
            }
            None => None,
        };

        let mut modules = Vec::new();
        let mut data = Json::Object(Map::new());
        let mut data_owner: BTreeMap<String, String> = BTreeMap::new();
        for (path, bytes) in &files {
            let name = path.rsplit('/').next().unwrap_or(path);
            if path.ends_with(".rego") {
                let source = text(path, bytes)?;
                let rego_v1 = rego_v1_for(path, &manifest, options);
                modules.push(Module {
                    path: path.clone(),
                    source,
                    rego_v1,
                });
            } else if DATA_FILES.contains(&name) {
                let value: Json = if name.ends_with(".json") {
                    serde_json::from_slice(bytes)
                        .map_err(|e| Error::bundle(path, format!("is not valid JSON: {e}")))?
                } else {
                    crate::yaml::from_str(&text(path, bytes)?)
                        .map_err(|e| Error::bundle(path, format!("is not valid YAML: {e}")))?
                };
                let dir: Vec<&str> = path
                    .rsplit_once('/')
                    .map(|(d, _)| d.split('/').collect())
                    .unwrap_or_default();
                mount(&mut data, &dir, value, path, &mut data_owner)?;
            }
        }
        if let Some(roots) = &manifest.roots {
            check_roots(roots, &modules, &data)?;
        }
        let plugins = plugins(&files)?;
        let revision = manifest.revision.clone().unwrap_or(revision_digest);
        Ok(Bundle {
            modules,
            data,
            manifest,
            bindings,
            plugins,
            revision,
        })
    }

    /// Loads a bundle from a directory or a `.tar.gz` / `.tgz` archive.
    pub fn load(path: &Path, options: LoadOptions) -> Result<Bundle, Error> {
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path)
            .map_err(|e| Error::bundle(&shown, format!("cannot be read: {e}")))?;
        if meta.is_dir() {
            let mut files = Vec::new();
            walk(path, path, &mut files)?;
            Bundle::from_files(files, options)
        } else if shown.ends_with(".tar.gz") || shown.ends_with(".tgz") {
            Bundle::from_files(read_tar_gz(path)?, options)
        } else {
            Err(Error::bundle(
                &shown,
                "is neither a directory nor a .tar.gz bundle",
            ))
        }
    }

    /// Loads what `opa eval -d` accepts: directories, bundles, single `.rego` files and single
    /// JSON/YAML data files (mounted at the root), each as its own bundle, merged with
    /// [`Bundle::merge`]. Module paths are shown as given on the command line.
    pub fn load_paths(paths: &[PathBuf], options: LoadOptions) -> Result<Bundle, Error> {
        let mut parts = Vec::with_capacity(paths.len());
        for path in paths {
            let shown = path.display().to_string();
            let meta = std::fs::metadata(path)
                .map_err(|e| Error::bundle(&shown, format!("cannot be read: {e}")))?;
            let is_archive = shown.ends_with(".tar.gz") || shown.ends_with(".tgz");
            let files = if meta.is_dir() {
                let mut found = Vec::new();
                walk(path, path, &mut found)?;
                found
            } else if is_archive {
                read_tar_gz(path)?
            } else {
                let bytes = std::fs::read(path)
                    .map_err(|e| Error::bundle(&shown, format!("cannot be read: {e}")))?;
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let as_name = if name.ends_with(".rego") {
                    name
                } else if name.ends_with(".json") {
                    "data.json".to_owned()
                } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                    "data.yaml".to_owned()
                } else {
                    return Err(Error::bundle(
                        &shown,
                        "is not a .rego, .json or .yaml file, a directory or a bundle",
                    ));
                };
                vec![(as_name, bytes)]
            };
            let single_file = !meta.is_dir() && !is_archive;
            let mut bundle = Bundle::from_files(files, options)?;
            for m in &mut bundle.modules {
                m.path = if single_file {
                    shown.clone()
                } else {
                    format!("{}/{}", shown.trim_end_matches('/'), m.path)
                };
            }
            parts.push((shown, bundle));
        }
        Bundle::merge(parts)
    }

    /// Sets `values` over this bundle's data, the given values winning at every leaf: how a
    /// user's configuration overrides the defaults a library ships (`data.gatehouse.config`).
    pub fn override_data(&mut self, values: Json) {
        fn overlay(base: &mut Json, over: Json) {
            match (base, over) {
                (Json::Object(a), Json::Object(b)) => {
                    for (k, v) in b {
                        match a.get_mut(&k) {
                            Some(existing) => overlay(existing, v),
                            None => {
                                a.insert(k, v);
                            }
                        }
                    }
                }
                (slot, v) => *slot = v,
            }
        }
        overlay(&mut self.data, values);
    }

    /// Adds plugins whose names the bundle does not define yet (a bundle's own plugins win);
    /// how the built-in plugins are made available to any bundle.
    pub fn add_plugins(&mut self, plugins: impl IntoIterator<Item = PluginSource>) {
        for p in plugins {
            if !self
                .plugins
                .iter()
                .any(|o| o.manifest.name == p.manifest.name)
            {
                self.plugins.push(p);
            }
        }
    }

    /// Merges bundles loaded separately (several `-d` paths; a user's policies beside the built-in
    /// library): modules and bindings are concatenated and data documents merged, a value set by
    /// two of them being an error that names both. Each part is labelled for those errors. The
    /// revision is the single part's, or a digest of all of theirs.
    pub fn merge(parts: Vec<(String, Bundle)>) -> Result<Bundle, Error> {
        let mut modules = Vec::new();
        let mut data = Json::Object(Map::new());
        let mut owners = BTreeMap::new();
        let mut bindings: Option<Bindings> = None;
        let mut revisions = Vec::new();
        let mut plugins: Vec<PluginSource> = Vec::new();
        for (label, part) in parts {
            modules.extend(part.modules);
            for p in part.plugins {
                if let Some(other) = plugins.iter().find(|o| o.manifest.name == p.manifest.name) {
                    return Err(Error::bundle(
                        &label,
                        format!(
                            "plugin {} is defined twice ({} and {}); keep one",
                            p.manifest.name, other.path, p.path
                        ),
                    ));
                }
                plugins.push(p);
            }
            mount(&mut data, &[], part.data, &label, &mut owners)?;
            if let Some(more) = part.bindings {
                bindings
                    .get_or_insert_with(Bindings::default)
                    .bindings
                    .extend(more.bindings);
            }
            revisions.push(part.revision);
        }
        let revision = if revisions.len() == 1 {
            revisions.remove(0)
        } else {
            digest_strings(&revisions)
        };
        Ok(Bundle {
            modules,
            data,
            manifest: Manifest::default(),
            bindings,
            plugins,
            revision,
        })
    }
}

/// The plugins of a bundle: each `plugins/<dir>/plugin.yaml` with the module it names,
/// verified against the manifest's digest.
fn plugins(files: &[(String, Vec<u8>)]) -> Result<Vec<PluginSource>, Error> {
    let mut out = Vec::new();
    for (path, bytes) in files {
        let Some(dir) = path
            .strip_prefix("plugins/")
            .and_then(|rest| rest.strip_suffix("/plugin.yaml"))
            .filter(|d| !d.contains('/'))
        else {
            continue;
        };
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Error::bundle(path, "is not valid UTF-8 text"))?;
        let manifest = PluginManifest::from_yaml(text)
            .map_err(|e| Error::bundle(path, format!("is not a valid plugin manifest: {e}")))?;
        let module_path = format!("plugins/{dir}/{}", manifest.module);
        let Some((_, module)) = files.iter().find(|(p, _)| *p == module_path) else {
            return Err(Error::bundle(
                path,
                format!(
                    "names the module {}, which is not in the bundle; build the plugin and put its module beside the manifest",
                    manifest.module
                ),
            ));
        };
        manifest
            .verify(module)
            .map_err(|e| Error::bundle(path, e))?;
        out.push(PluginSource {
            path: path.clone(),
            manifest,
            module: module.clone(),
        });
    }
    Ok(out)
}

fn normalize(path: &str) -> String {
    path.trim_start_matches("./")
        .trim_start_matches('/')
        .replace('\\', "/")
}

fn digest(files: &[(String, Vec<u8>)]) -> String {
    let mut h = Sha256::new();
    for (p, c) in files {
        h.update(p.as_bytes());
        h.update([0]);
        h.update((c.len() as u64).to_le_bytes());
        h.update(c);
    }
    format!(
        "sha256:{}",
        hex::encode(h.finalize()).get(..16).unwrap_or_default()
    )
}

fn digest_strings(items: &[String]) -> String {
    let mut h = Sha256::new();
    for s in items {
        h.update(s.as_bytes());
        h.update([0]);
    }
    format!(
        "sha256:{}",
        hex::encode(h.finalize()).get(..16).unwrap_or_default()
    )
}

fn rego_v1_for(path: &str, manifest: &Manifest, options: LoadOptions) -> bool {
    let matched = manifest
        .file_rego_versions
        .iter()
        .filter(|(pattern, _)| path_glob(pattern, path))
        .max_by_key(|(pattern, _)| pattern.len())
        .map(|(_, v)| *v);
    match matched.or(manifest.rego_version) {
        Some(v) => v == 1,
        None => !options.v0,
    }
}

fn path_glob(pattern: &str, path: &str) -> bool {
    let pattern = normalize(pattern);
    if !pattern.contains('*') {
        return pattern == path;
    }
    // `*` within a segment, `**` across segments.
    let re = regex::escape(&pattern)
        .replace(r"\*\*", "\u{0}")
        .replace(r"\*", "[^/]*")
        .replace('\u{0}', ".*");
    regex::Regex::new(&format!("^{re}$")).is_ok_and(|r| r.is_match(path))
}

fn mount(
    data: &mut Json,
    dir: &[&str],
    value: Json,
    file: &str,
    owners: &mut BTreeMap<String, String>,
) -> Result<(), Error> {
    let mut node = data;
    for seg in dir {
        let Json::Object(map) = node else {
            return Err(Error::bundle(
                file,
                format!(
                    "cannot be mounted at {}: a parent is not an object",
                    dir.join(".")
                ),
            ));
        };
        node = map
            .entry((*seg).to_owned())
            .or_insert_with(|| Json::Object(Map::new()));
    }
    merge(node, value, &dir.join("."), file, owners)
}

fn merge(
    into: &mut Json,
    value: Json,
    at: &str,
    file: &str,
    owners: &mut BTreeMap<String, String>,
) -> Result<(), Error> {
    match (into, value) {
        (Json::Object(a), Json::Object(b)) => {
            for (k, v) in b {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                match a.get_mut(&k) {
                    Some(existing) => merge(existing, v, &path, file, owners)?,
                    None => {
                        owners.insert(path, file.to_owned());
                        a.insert(k, v);
                    }
                }
            }
            Ok(())
        }
        (slot, v) => {
            if *slot == Json::Object(Map::new()) {
                *slot = v;
                owners.insert(at.to_owned(), file.to_owned());
                return Ok(());
            }
            // Owners are recorded where a subtree was first inserted: the nearest recorded
            // ancestor of `at` is the file that set it.
            let mut key = at;
            let other = loop {
                if let Some(owner) = owners.get(key) {
                    break owner.clone();
                }
                match key.rfind('.') {
                    Some(i) => key = key.get(..i).unwrap_or_default(),
                    None => break "another data file".to_owned(),
                }
            };
            Err(Error::bundle(
                file,
                format!("sets data.{at}, which {other} also sets; merge them into one file"),
            ))
        }
    }
}

fn check_roots(roots: &[String], modules: &[Module], data: &Json) -> Result<(), Error> {
    let within = |path: &str| {
        roots.iter().any(|r| {
            r.is_empty()
                || path == r
                || path.starts_with(&format!("{r}/"))
                || path.starts_with(&format!("{r}."))
        })
    };
    for m in modules {
        if let Some(pkg) = package_name(&m.source)
            && !within(&pkg)
        {
            return Err(Error::bundle(
                &m.path,
                format!("declares package {pkg}, outside the manifest's roots {roots:?}"),
            ));
        }
    }
    if let Json::Object(map) = data {
        for k in map.keys() {
            if !roots
                .iter()
                .any(|r| r.split(['/', '.']).next() == Some(k.as_str()) || r.is_empty())
            {
                return Err(Error::bundle(
                    ".manifest",
                    format!("data.{k} lies outside the manifest's roots {roots:?}"),
                ));
            }
        }
    }
    Ok(())
}

/// The package a module declares, read from its text (`package a.b.c`).
pub fn package_name(source: &str) -> Option<String> {
    source.lines().find_map(|l| {
        let t = l.trim_start();
        t.strip_prefix("package ")
            .map(|rest| rest.split('#').next().unwrap_or(rest).trim().to_owned())
    })
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) -> Result<(), Error> {
    let shown = dir.display().to_string();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| Error::bundle(&shown, format!("cannot be listed: {e}")))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        let file_type = entry
            .file_type()
            .map_err(|e| Error::bundle(&rel, format!("cannot be read: {e}")))?;
        if file_type.is_dir() {
            if !name.starts_with('.') {
                walk(root, &path, out)?;
            }
            continue;
        }
        let plugin_file =
            rel.starts_with("plugins/") && (name == "plugin.yaml" || name.ends_with(".wasm"));
        let wanted = name.ends_with(".rego")
            || plugin_file
            || DATA_FILES.contains(&name.as_str())
            || (dir == root
                && (name == ".manifest" || name == "bindings.yaml" || name == "bindings.yml"));
        if wanted {
            let bytes = std::fs::read(&path).map_err(|e| {
                Error::bundle(&path.display().to_string(), format!("cannot be read: {e}"))
            })?;
            out.push((rel, bytes));
        }
    }
    Ok(())
}

fn read_tar_gz(path: &Path) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path)
        .map_err(|e| Error::bundle(&shown, format!("cannot be read: {e}")))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = Vec::new();
    let entries = archive
        .entries()
        .map_err(|e| Error::bundle(&shown, format!("is not a readable .tar.gz: {e}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| Error::bundle(&shown, format!("is not a readable .tar.gz: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .map(|p| normalize(&p.to_string_lossy()))
            .unwrap_or_default();
        if name.split('/').any(|seg| seg == "..") {
            return Err(Error::bundle(
                &shown,
                format!("contains an entry escaping the bundle root: {name}"),
            ));
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| {
            Error::bundle(&format!("{shown}!{name}"), format!("cannot be read: {e}"))
        })?;
        out.push((name, bytes));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(files: &[(&str, &str)]) -> Result<Bundle, Error> {
        Bundle::from_files(
            files.iter().map(|(p, c)| (*p, c.as_bytes())),
            LoadOptions::default(),
        )
    }

    #[test]
    fn data_files_mount_at_their_directory() {
        let b = load(&[
            ("a/b/data.json", r#"{"x": 1}"#),
            ("a/data.yaml", "y: 2\n"),
            ("data.json", r#"{"top": true}"#),
        ])
        .unwrap();
        assert_eq!(
            b.data,
            serde_json::json!({"a": {"b": {"x": 1}, "y": 2}, "top": true})
        );
    }

    #[test]
    fn conflicting_data_names_both_files() {
        let err = load(&[
            ("a/data.json", r#"{"x": 1}"#),
            ("data.json", r#"{"a": {"x": 2}}"#),
        ])
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("data.a.x") && msg.contains("a/data.json"),
            "{msg}"
        );
    }

    #[test]
    fn revision_is_a_content_digest_unless_the_manifest_says() {
        let a = load(&[("p.rego", "package p\n")]).unwrap();
        let b = load(&[("p.rego", "package p\n")]).unwrap();
        let c = load(&[("p.rego", "package q\n")]).unwrap();
        assert!(a.revision.starts_with("sha256:"));
        assert_eq!(a.revision, b.revision);
        assert_ne!(a.revision, c.revision);
        let m = load(&[
            ("p.rego", "package p\n"),
            (".manifest", r#"{"revision": "v42"}"#),
        ])
        .unwrap();
        assert_eq!(m.revision, "v42");
    }

    #[test]
    fn manifest_marks_files_v0() {
        let b = load(&[
            ("legacy/old.rego", "package old\n"),
            ("new.rego", "package new\n"),
            (
                ".manifest",
                r#"{"file_rego_versions": {"legacy/*.rego": 0}}"#,
            ),
        ])
        .unwrap();
        let v1: Vec<_> = b
            .modules
            .iter()
            .map(|m| (m.path.as_str(), m.rego_v1))
            .collect();
        assert_eq!(v1, vec![("legacy/old.rego", false), ("new.rego", true)]);
    }

    #[test]
    fn roots_are_enforced() {
        let err = load(&[
            ("p.rego", "package other.p\n"),
            (".manifest", r#"{"roots": ["gatehouse"]}"#),
        ])
        .unwrap_err();
        assert!(
            err.to_string().contains("outside the manifest's roots"),
            "{err}"
        );
    }

    #[test]
    fn bad_files_are_named() {
        let err = load(&[("x/data.json", "{nope")]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("x/data.json: is not valid JSON"),
            "{err}"
        );
        let err = load(&[(".manifest", r#"{"revision": 5}"#)]).unwrap_err();
        assert!(err.to_string().starts_with(".manifest:"), "{err}");
    }

    #[test]
    fn tar_gz_bundles_load_like_directories() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.tar.gz");
        let file = std::fs::File::create(&path).unwrap();
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::fast(),
        ));
        for (name, body) in [
            ("/p/policy.rego", "package p\n"),
            ("/p/data.json", "{\"k\": 1}"),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name.trim_start_matches('/'), body.as_bytes())
                .unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
        let b = Bundle::load(&path, LoadOptions::default()).unwrap();
        assert_eq!(b.modules.len(), 1);
        assert_eq!(b.data, serde_json::json!({"p": {"k": 1}}));
    }

    #[test]
    fn merging_bundles_refuses_a_value_set_twice_and_names_both() {
        let a = load(&[("a/data.json", r#"{"x": 1}"#), ("p.rego", "package p\n")]).unwrap();
        let b = load(&[("a/data.json", r#"{"y": 2}"#), ("q.rego", "package q\n")]).unwrap();
        let merged =
            Bundle::merge(vec![("first".into(), a.clone()), ("second".into(), b)]).unwrap();
        assert_eq!(merged.data, serde_json::json!({"a": {"x": 1, "y": 2}}));
        assert_eq!(merged.modules.len(), 2);
        let c = load(&[("a/data.json", r#"{"x": 3}"#)]).unwrap();
        let err = Bundle::merge(vec![("first".into(), a), ("second".into(), c)])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("second:") && err.contains("data.a.x") && err.contains("first"),
            "{err}"
        );
    }

    #[test]
    fn overriding_data_wins_at_the_leaves_and_keeps_the_rest() {
        let mut lib = load(&[(
            "data.yaml",
            "gatehouse: {config: {min_replicas: 2, labels: [a]}}\n",
        )])
        .unwrap();
        lib.override_data(serde_json::json!({"gatehouse": {"config": {"min_replicas": 3}}}));
        assert_eq!(
            lib.data,
            serde_json::json!({"gatehouse": {"config": {"min_replicas": 3, "labels": ["a"]}}})
        );
    }

    #[test]
    fn load_paths_keeps_each_argument_its_own_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (dir.path().join("one"), dir.path().join("two"));
        std::fs::create_dir_all(one.join("cfg")).unwrap();
        std::fs::create_dir_all(&two).unwrap();
        std::fs::write(one.join("p.rego"), "package p\n").unwrap();
        std::fs::write(one.join("cfg/data.json"), r#"{"k": 1}"#).unwrap();
        std::fs::write(two.join("extra.yaml"), "other: true\n").unwrap();
        let b = Bundle::load_paths(
            &[one.clone(), two.join("extra.yaml")],
            LoadOptions::default(),
        )
        .unwrap();
        assert_eq!(b.data, serde_json::json!({"cfg": {"k": 1}, "other": true}));
        assert_eq!(b.modules[0].path, format!("{}/p.rego", one.display()));
    }

    #[test]
    fn missing_path_is_named() {
        let err =
            Bundle::load(Path::new("/nonexistent/bundle"), LoadOptions::default()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/nonexistent/bundle: cannot be read"),
            "{err}"
        );
    }
}
