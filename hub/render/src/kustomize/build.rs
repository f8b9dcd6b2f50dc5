//! The build itself: loading kustomizations, accumulating resources from files, bases and
//! components, running generators and transformers in Kustomize's order, then the final hash
//! suffixes, name references and output order.

use serde_json::Value;

use super::generator::{self, GenKind};
use super::kustomization::{FILE_NAMES, Kustomization, Patch, Selector};
use super::patch::{self, Merged};
use super::resmap::{Behavior, ResId, ResMap, Resource};
use super::source::{Source, normalize};
use super::{Error, fieldspec, nameref, read_required, replacement, transform, yaml};

/// How deep kustomizations may nest (bases of bases, components).
const MAX_DEPTH: usize = 32;

/// Builds the kustomization in `dir` (a path inside `src`, `""` for the root) and returns its
/// objects in `kubectl kustomize`'s order.
///
/// ```
/// use gatehouse_render::kustomize::{build, MemSource};
/// let mut src = MemSource::new();
/// src.insert("base/kustomization.yaml", "resources: [svc.yaml]\n");
/// src.insert("base/svc.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n");
/// src.insert("prod/kustomization.yaml", "resources: [../base]\nnamespace: prod\nnameSuffix: -v2\n");
/// let objects = build(&src, "prod").unwrap();
/// assert_eq!(objects[0]["metadata"]["name"], "web-v2");
/// assert_eq!(objects[0]["metadata"]["namespace"], "prod");
/// ```
pub fn build(src: &dyn Source, dir: &str) -> Result<Vec<Value>, Error> {
    let dir = normalize("", dir)?;
    let mut b = Builder {
        src,
        stack: Vec::new(),
    };
    let (top, _) = b.load(&dir)?;
    let mut rm = b.accumulate_dir(&dir, ResMap::default(), None)?;

    for res in &mut rm.list {
        if res.needs_hash {
            let hash = generator::content_hash(&res.obj);
            let name = format!("{}-{}", res.name(), hash);
            res.set_name(&name);
            res.needs_hash = false;
        }
    }
    nameref::fix(&mut rm)?;
    for res in &mut rm.list {
        stringify_annotations(res);
    }
    rm.list.retain(|r| {
        r.obj
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(|a| a.get("config.kubernetes.io/local-config"))
            .and_then(Value::as_str)
            != Some("true")
    });
    let order = top.sort_options.as_ref().and_then(|s| s.order.as_deref());
    if order != Some("fifo") {
        rm.sort_legacy();
    }
    Ok(rm.list.into_iter().map(|r| r.obj).collect())
}

/// Annotation values are strings: Kustomize prints a scalar annotation as its text (`5` as
/// `"5"`; a null, whose spelling is not kept here, as `""`), a map or list as `""`, and drops
/// an empty annotation map.
fn stringify_annotations(res: &mut Resource) {
    let Some(found) = res.obj.get("metadata").and_then(|m| m.get("annotations")) else {
        return;
    };
    let Some(map) = found.as_object() else {
        return;
    };
    if !map.is_empty() && map.values().all(Value::is_string) {
        return;
    }
    let strings = map
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null | Value::Array(_) | Value::Object(_) => String::new(),
            };
            (k.clone(), Value::String(text))
        })
        .collect();
    res.set_string_map("annotations", strings);
}

struct Builder<'a> {
    src: &'a dyn Source,
    /// Directories being built, outermost first (for cycle detection).
    stack: Vec<String>,
}

/// Whether a resource entry is a remote address rather than a path.
fn is_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("git@")
        || entry.starts_with("git::")
        || entry.contains("?ref=")
        || entry.contains("?version=")
}

fn file_in(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

impl Builder<'_> {
    /// Loads the kustomization file of `dir`; returns it and its path.
    fn load(&self, dir: &str) -> Result<(Kustomization, String), Error> {
        let mut found = Vec::new();
        for name in FILE_NAMES {
            let path = file_in(dir, name);
            if let Some(bytes) = self.src.read(&path)? {
                found.push((path, bytes));
            }
        }
        if found.len() > 1 {
            return Err(Error::MultipleKustomizations {
                dir: display_dir(dir),
            });
        }
        let Some((file, bytes)) = found.pop() else {
            return Err(Error::NoKustomization {
                dir: display_dir(dir),
            });
        };
        let text = String::from_utf8(bytes).map_err(|_| Error::Kustomization {
            file: file.clone(),
            message: "the file is not UTF-8".into(),
        })?;
        let value = yaml::parse_one(&file, &text)?;
        if value.is_null() {
            return Err(Error::Kustomization {
                file,
                message: "the file is empty".into(),
            });
        }
        let k: Kustomization = serde_json::from_value(value).map_err(|e| Error::Kustomization {
            file: file.clone(),
            message: e.to_string(),
        })?;
        let unsupported = k.unsupported_fields();
        if !unsupported.is_empty() {
            let fields = unsupported.join(", ");
            let verb = if unsupported.len() == 1 { "is" } else { "are" };
            return Err(Error::Unsupported {
                file,
                fields: format!("{fields} {verb}"),
            });
        }
        match k.kind.as_deref() {
            None | Some("Kustomization") | Some("Component") => {}
            Some(other) => {
                return Err(Error::Kustomization {
                    file,
                    message: format!("the kind {other:?} is neither Kustomization nor Component"),
                });
            }
        }
        Ok((k, file))
    }

    /// Builds the kustomization in `dir`. `component` is `Some(is_component)` when reached
    /// through a parent's `resources` (`false`) or `components` (`true`); a component works
    /// on its parent's resources `ra`.
    fn accumulate_dir(
        &mut self,
        dir: &str,
        ra: ResMap,
        component: Option<bool>,
    ) -> Result<ResMap, Error> {
        if let Some(pos) = self.stack.iter().position(|d| d == dir) {
            let mut chain: Vec<String> = self
                .stack
                .iter()
                .skip(pos)
                .map(|d| display_dir(d))
                .collect();
            chain.push(display_dir(dir));
            return Err(Error::Cycle {
                chain: chain.join(" -> "),
            });
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(Error::TooDeep {
                dir: display_dir(dir),
                limit: MAX_DEPTH,
            });
        }
        let (k, file) = self.load(dir)?;
        match component {
            Some(true) if !k.is_component() => {
                return Err(Error::Kustomization {
                    file,
                    message: "it is listed under components, so its kind must be Component".into(),
                });
            }
            Some(false) if k.is_component() => {
                return Err(Error::Kustomization {
                    file,
                    message: "a Component must be listed under components, not resources".into(),
                });
            }
            _ => {}
        }
        self.stack.push(dir.to_string());
        let result = self.accumulate_target(dir, &file, &k, ra);
        self.stack.pop();
        result
    }

    fn accumulate_target(
        &mut self,
        dir: &str,
        file: &str,
        k: &Kustomization,
        mut ra: ResMap,
    ) -> Result<ResMap, Error> {
        for entry in k.resources.iter().chain(&k.bases) {
            if is_remote(entry) {
                return Err(Error::Remote {
                    path: entry.clone(),
                    file: file.to_string(),
                });
            }
            let path = normalize(dir, entry)?;
            if self.src.is_dir(&path) {
                let sub = self.accumulate_dir(&path, ResMap::default(), Some(false))?;
                ra.append_all(sub)?;
            } else {
                for res in self.load_resources(&path, file)? {
                    ra.append(res)?;
                }
            }
        }

        let global = k.generator_options.as_ref();
        for (kind, list) in [
            (GenKind::ConfigMap, &k.config_map_generator),
            (GenKind::Secret, &k.secret_generator),
        ] {
            for args in list {
                let res = generator::generate(self.src, dir, file, kind, args, global)?;
                absorb(&mut ra, res, file)?;
            }
        }

        for entry in &k.components {
            if is_remote(entry) {
                return Err(Error::Remote {
                    path: entry.clone(),
                    file: file.to_string(),
                });
            }
            let path = normalize(dir, entry)?;
            if !self.src.is_dir(&path) {
                return Err(Error::NotFound {
                    path,
                    referenced_from: file.to_string(),
                });
            }
            ra = self.accumulate_dir(&path, ra, Some(true))?;
        }

        self.transform(dir, file, k, &mut ra)?;
        Ok(ra)
    }

    /// Reads the objects in a resource file (expanding `List` objects).
    fn load_resources(&self, path: &str, from: &str) -> Result<Vec<Resource>, Error> {
        let bytes = read_required(self.src, path, from)?;
        let text = String::from_utf8(bytes).map_err(|_| Error::InvalidResource {
            file: path.to_string(),
            message: "the file is not UTF-8".into(),
        })?;
        let mut out = Vec::new();
        for doc in yaml::parse_documents(path, &text)? {
            let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
            if kind.ends_with("List")
                && let Some(items) = doc.get("items").and_then(Value::as_array)
            {
                for item in items {
                    out.push(check_object(path, item.clone())?);
                }
                continue;
            }
            out.push(check_object(path, doc)?);
        }
        Ok(out)
    }

    fn transform(
        &self,
        dir: &str,
        file: &str,
        k: &Kustomization,
        ra: &mut ResMap,
    ) -> Result<(), Error> {
        for (i, entry) in k.patches_strategic_merge.iter().enumerate() {
            let (label, yaml_file, text) = if entry.contains('\n') || entry.contains(": ") {
                (
                    format!("patchesStrategicMerge[{i}] in {file}"),
                    file.to_string(),
                    entry.clone(),
                )
            } else {
                let path = normalize(dir, entry)?;
                let text = self.read_text(&path, file)?;
                (path.clone(), path, text)
            };
            let docs = yaml::parse_documents(&yaml_file, &text)?;
            for doc in docs {
                smp_by_id(ra, &label, &doc, &Default::default())?;
            }
        }
        for (i, p) in k.patches.iter().enumerate() {
            self.run_patch(ra, dir, file, "patches", i, p, false)?;
        }
        if let Some(ns) = k.namespace.as_deref().filter(|n| !n.is_empty()) {
            transform::namespace(ra, ns)?;
        }
        transform::prefix_suffix(
            ra,
            k.name_prefix.as_deref().unwrap_or(""),
            k.name_suffix.as_deref().unwrap_or(""),
        );
        for label in &k.labels {
            let mut specs: Vec<fieldspec::FieldSpec> = label
                .fields
                .iter()
                .map(|f| {
                    fieldspec::FieldSpec::new(&f.group, &f.version, &f.kind, &f.path, f.create)
                })
                .collect();
            if label.include_selectors {
                specs.extend(fieldspec::common_labels());
            } else {
                specs.extend(fieldspec::metadata_labels(label.include_templates));
            }
            transform::set_entries(ra, &label.pairs, &specs)?;
        }
        transform::set_entries(ra, &k.common_labels, &fieldspec::common_labels())?;
        transform::set_entries(ra, &k.common_annotations, &fieldspec::common_annotations())?;
        for (i, p) in k.patches_json6902.iter().enumerate() {
            self.run_patch(ra, dir, file, "patchesJson6902", i, p, true)?;
        }
        for r in &k.replicas {
            transform::replicas(ra, r)?;
        }
        for img in &k.images {
            transform::image(ra, img)?;
        }
        if !k.replacements.is_empty() {
            let loaded = replacement::load(self.src, dir, file, &k.replacements)?;
            replacement::apply(ra, &loaded)?;
        }
        Ok(())
    }

    fn read_text(&self, path: &str, from: &str) -> Result<String, Error> {
        let bytes = read_required(self.src, path, from)?;
        String::from_utf8(bytes).map_err(|_| Error::InvalidResource {
            file: path.to_string(),
            message: "the file is not UTF-8".into(),
        })
    }

    /// Runs one entry of `patches` (or `patchesJson6902` when `json_only`).
    #[allow(clippy::too_many_arguments)]
    fn run_patch(
        &self,
        ra: &mut ResMap,
        dir: &str,
        file: &str,
        field: &str,
        index: usize,
        p: &Patch,
        json_only: bool,
    ) -> Result<(), Error> {
        let (label, yaml_file, text) = match (&p.path, &p.patch) {
            (Some(_), Some(_)) => {
                return Err(Error::Patch {
                    patch: format!("{field}[{index}] in {file}"),
                    target: target_text(p.target.as_ref()),
                    message: "give either path or patch, not both".into(),
                });
            }
            (Some(path), None) => {
                let path = normalize(dir, path)?;
                let text = self.read_text(&path, file)?;
                (format!("{path} ({field}[{index}] in {file})"), path, text)
            }
            (None, Some(text)) => (
                format!("{field}[{index}] in {file}"),
                file.to_string(),
                text.clone(),
            ),
            (None, None) => {
                return Err(Error::Patch {
                    patch: format!("{field}[{index}] in {file}"),
                    target: target_text(p.target.as_ref()),
                    message: "the patch has neither path nor patch".into(),
                });
            }
        };
        let docs = yaml::parse_documents(&yaml_file, &text).map_err(|e| Error::Patch {
            patch: label.clone(),
            target: target_text(p.target.as_ref()),
            message: e.to_string(),
        })?;
        let is_json = json_only || matches!(docs.as_slice(), [Value::Array(_)]);
        if is_json {
            let doc = docs.first().cloned().unwrap_or(Value::Array(Vec::new()));
            let ops = patch::parse_json_patch(&doc).map_err(|m| Error::Patch {
                patch: label.clone(),
                target: target_text(p.target.as_ref()),
                message: m,
            })?;
            let Some(sel) = &p.target else {
                return Err(Error::Patch {
                    patch: label,
                    target: "no target".into(),
                    message: "a JSON 6902 patch needs a target selecting the objects to patch"
                        .into(),
                });
            };
            for i in ra.select(sel)? {
                if let Some(res) = ra.list.get_mut(i) {
                    let id = res.cur_id();
                    let (name, ns) = (id.name.clone(), id.namespace.clone());
                    patch::apply_json_patch(&mut res.obj, &ops).map_err(|m| Error::Patch {
                        patch: label.clone(),
                        target: id.to_string(),
                        message: m,
                    })?;
                    remember_renames(res, &name, &ns);
                }
            }
            return Ok(());
        }
        for doc in &docs {
            match &p.target {
                Some(sel) => {
                    let hits = ra.select(sel)?;
                    let mut deleted = Vec::new();
                    for i in hits {
                        if let Some(res) = ra.list.get_mut(i)
                            && apply_smp(res, &label, doc, &p.options)? == Merged::Deleted
                        {
                            deleted.push(i);
                        }
                    }
                    for i in deleted.into_iter().rev() {
                        ra.list.remove(i);
                    }
                }
                None => smp_by_id(ra, &label, doc, &p.options)?,
            }
        }
        Ok(())
    }
}

fn display_dir(dir: &str) -> String {
    if dir.is_empty() {
        ".".to_string()
    } else {
        dir.to_string()
    }
}

fn target_text(sel: Option<&Selector>) -> String {
    match sel {
        Some(s) => format!("target {s}"),
        None => "its own kind and name".into(),
    }
}

fn check_object(file: &str, doc: Value) -> Result<Resource, Error> {
    if !doc.is_object() {
        return Err(Error::InvalidResource {
            file: file.to_string(),
            message: "a document is not a map; each document must be a Kubernetes object".into(),
        });
    }
    let id = ResId::of(&doc);
    if id.kind.is_empty() {
        return Err(Error::InvalidResource {
            file: file.to_string(),
            message: "an object has no kind".into(),
        });
    }
    if id.name.is_empty() {
        return Err(Error::InvalidResource {
            file: file.to_string(),
            message: format!("a {} has no metadata.name", id.kind),
        });
    }
    Ok(Resource::new(doc))
}

/// Adds a generated object, or merges it into / replaces the one it names.
fn absorb(ra: &mut ResMap, res: Resource, file: &str) -> Result<(), Error> {
    let id = res.cur_id();
    let hits: Vec<usize> = ra
        .list
        .iter()
        .enumerate()
        .filter(|(_, r)| r.matches_any_id(&id))
        .map(|(i, _)| i)
        .collect();
    match (hits.as_slice(), res.behavior) {
        ([], Behavior::Create) => ra.append(res),
        ([], _) => Err(Error::Kustomization {
            file: file.to_string(),
            message: format!("{id} does not exist, so it cannot be merged or replaced"),
        }),
        ([i], Behavior::Merge | Behavior::Replace) => {
            if let Some(slot) = ra.list.get_mut(*i) {
                *slot = generator::combine(slot, res);
            }
            Ok(())
        }
        ([_], Behavior::Create) => Err(Error::Kustomization {
            file: file.to_string(),
            message: format!("{id} already exists; set behavior to merge or replace"),
        }),
        (_, _) => Err(Error::Kustomization {
            file: file.to_string(),
            message: format!("several objects could take the merge of {id}"),
        }),
    }
}

/// A strategic merge patch without a target: it patches the one object its own id names.
fn smp_by_id(
    ra: &mut ResMap,
    label: &str,
    doc: &Value,
    options: &std::collections::BTreeMap<String, bool>,
) -> Result<(), Error> {
    if !doc.is_object() {
        return Err(Error::Patch {
            patch: label.to_string(),
            target: "its own kind and name".into(),
            message: "a strategic merge patch must be a map".into(),
        });
    }
    let id = ResId::of(doc);
    let hits: Vec<usize> = ra
        .list
        .iter()
        .enumerate()
        .filter(|(_, r)| r.matches_any_id(&id))
        .map(|(i, _)| i)
        .collect();
    let [i] = hits.as_slice() else {
        let message = if hits.is_empty() {
            "no resource matches the patch's kind, name and namespace".to_string()
        } else {
            format!(
                "{} resources match the patch's kind, name and namespace",
                hits.len()
            )
        };
        return Err(Error::Patch {
            patch: label.to_string(),
            target: id.to_string(),
            message,
        });
    };
    let i = *i;
    let deleted = match ra.list.get_mut(i) {
        Some(res) => apply_smp(res, label, doc, options)? == Merged::Deleted,
        None => false,
    };
    if deleted {
        ra.list.remove(i);
    }
    Ok(())
}

/// Applies a strategic merge patch to one object, keeping its kind, name and namespace unless
/// the patch's options allow changing them.
fn apply_smp(
    res: &mut Resource,
    label: &str,
    doc: &Value,
    options: &std::collections::BTreeMap<String, bool>,
) -> Result<Merged, Error> {
    let id = res.cur_id();
    let api = res.obj.get("apiVersion").cloned();
    let kind = id.kind.clone();
    let merged = patch::strategic_merge(&mut res.obj, doc, &kind);
    if merged == Merged::Deleted || res.obj.as_object().is_none_or(|m| m.is_empty()) {
        return Ok(Merged::Deleted);
    }
    let allow_kind = options.get("allowKindChange").copied().unwrap_or(false);
    let allow_name = options.get("allowNameChange").copied().unwrap_or(false);
    let Some(obj) = res.obj.as_object_mut() else {
        return Err(Error::Patch {
            patch: label.to_string(),
            target: id.to_string(),
            message: "the patched object is not a map".into(),
        });
    };
    if !allow_kind {
        obj.insert("kind".into(), Value::String(kind));
        match api {
            Some(a) => obj.insert("apiVersion".into(), a),
            None => obj.remove("apiVersion"),
        };
    }
    let new_name = super::resmap::str_at(&res.obj, &["metadata", "name"]).to_string();
    if let Some(meta) = res.obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("name".into(), Value::String(id.name.clone()));
        if id.namespace.is_empty() {
            meta.remove("namespace");
        } else {
            meta.insert("namespace".into(), Value::String(id.namespace.clone()));
        }
    }
    if allow_name && !new_name.is_empty() {
        res.set_name(&new_name);
    }
    Ok(Merged::Kept)
}

/// After a JSON patch: if it renamed the object or moved it to another namespace, remember
/// the old id (name references still find it).
fn remember_renames(res: &mut Resource, old_name: &str, old_ns: &str) {
    let cur = res.cur_id();
    if cur.name != old_name || cur.namespace != old_ns {
        let mut old = cur;
        old.name = old_name.to_string();
        old.namespace = old_ns.to_string();
        res.prev.push(old);
    }
}
