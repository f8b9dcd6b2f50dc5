//! Replacements (`replacements:`): copy the value of one field of one resource into fields of
//! other resources, as Kustomize v5 runs them.
//!
//! Each replacement is written inline (`source` and `targets`) or in a file named by `path:`
//! (one replacement, or a list of them). They run after the kustomization's other transformers
//! (so a source already carries `namePrefix`, `namespace`, `images`, ...), before the hash
//! suffixes of generated names and before name references are rewritten.
//!
//! * The **source** selects exactly one resource by group, version, kind, name and namespace
//!   (exact values; any name or namespace the resource has had; an unset namespace reads as
//!   `default`), and reads `fieldPath` (default `metadata.name`). With `options.delimiter`, the
//!   value is split and part `options.index` taken.
//! * Each **target** selects resources with `select` (the same fields plus `labelSelector` and
//!   `annotationSelector`), minus those any `reject` entry selects, and writes every path in
//!   `fieldPaths`. A path is dotted; `[key=regex]` picks list items whose `key` matches the
//!   (unanchored) regular expression, `[=regex]` scalar items, a number an index, `*` every
//!   item, `[a.b]` a key holding dots. A path that matches nothing is an error unless
//!   `options.create` creates it. `options.delimiter` with `options.index` replaces one part of
//!   the target string (a negative index prepends, an index past the end appends).
//! * A scalar target keeps its type and takes the value's text (`replicas: 1` takes `"3"` as
//!   the number 3; a string takes `5` as `"5"`); a text that does not read as the target's
//!   type is an error. A created scalar is typed by how its text reads as plain YAML, and an
//!   annotation is always written as a string. Maps and lists are copied whole.
//!
//! Values are held as JSON, so a number copied as text is spelled as JSON spells it (`0x1F` is
//! copied as `31`), and a quoted string in a list is matched by `[key=regex]` as if unquoted.

use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Number, Value};

use super::resmap::{LabelSelector, ResId, ResMap, Resource};
use super::source::{Source, normalize};
use super::{Error, read_required, yaml};

/// The field path a source or target uses when none is given.
const DEFAULT_FIELD_PATH: &str = "metadata.name";

/// One entry of `replacements:` in a kustomization: a replacement written inline, or `path:`
/// naming a file that holds one replacement or a list of them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ReplacementField {
    #[serde(default)]
    pub(crate) path: Option<String>,
    #[serde(default)]
    pub(crate) source: Option<SourceSelector>,
    #[serde(default)]
    pub(crate) targets: Option<Vec<TargetSelector>>,
}

/// One replacement: where the value comes from and where it goes.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Replacement {
    #[serde(default)]
    pub(crate) source: Option<SourceSelector>,
    #[serde(default)]
    pub(crate) targets: Option<Vec<TargetSelector>>,
}

/// The resource a replacement reads, and the field it reads.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SourceSelector {
    #[serde(default)]
    pub(crate) group: String,
    #[serde(default)]
    pub(crate) version: String,
    #[serde(default)]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) namespace: String,
    #[serde(default)]
    pub(crate) field_path: String,
    #[serde(default)]
    pub(crate) options: Option<FieldOptions>,
}

/// The resources a replacement writes to, and the fields it writes.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TargetSelector {
    #[serde(default)]
    pub(crate) select: Option<ResSelector>,
    #[serde(default)]
    pub(crate) reject: Vec<Option<ResSelector>>,
    #[serde(default)]
    pub(crate) field_paths: Vec<String>,
    #[serde(default)]
    pub(crate) options: Option<FieldOptions>,
}

/// A target's `select` or `reject` entry. Unlike patch targets, names are matched exactly.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ResSelector {
    #[serde(default)]
    pub(crate) group: String,
    #[serde(default)]
    pub(crate) version: String,
    #[serde(default)]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) namespace: String,
    #[serde(default)]
    pub(crate) label_selector: String,
    #[serde(default)]
    pub(crate) annotation_selector: String,
}

/// `options:` of a source or target.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct FieldOptions {
    #[serde(default)]
    pub(crate) delimiter: String,
    #[serde(default)]
    pub(crate) index: i64,
    /// Accepted, and ignored as Kustomize v5 ignores it.
    #[serde(default)]
    #[allow(dead_code)]
    pub(crate) encoding: String,
    #[serde(default)]
    pub(crate) create: bool,
}

/// The group, version, kind, name and namespace a selector asks for (empty: any).
#[derive(Debug, Clone, Copy)]
struct IdSelector<'a> {
    group: &'a str,
    version: &'a str,
    kind: &'a str,
    name: &'a str,
    namespace: &'a str,
}

impl IdSelector<'_> {
    fn is_empty(&self) -> bool {
        [
            self.group,
            self.version,
            self.kind,
            self.name,
            self.namespace,
        ]
        .iter()
        .all(|s| s.is_empty())
    }

    /// Kustomize's `IsSelectedBy`: exact matches; namespaces compare as effective namespaces
    /// (unset reads as `default`; cluster-scoped kinds have none).
    fn selects(&self, id: &ResId) -> bool {
        let ns_ok = self.namespace.is_empty() || {
            let sel = ResId {
                kind: self.kind.to_string(),
                namespace: self.namespace.to_string(),
                ..ResId::default()
            };
            sel.effective_namespace() == id.effective_namespace()
        };
        (self.name.is_empty() || self.name == id.name)
            && ns_ok
            && (self.group.is_empty() || self.group == id.group)
            && (self.version.is_empty() || self.version == id.version)
            && (self.kind.is_empty() || self.kind == id.kind)
    }
}

impl std::fmt::Display for IdSelector<'_> {
    /// Kustomize's spelling of a selector: `Kind.Version.Group/Name.Namespace`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let or = |s: &'static str, v: &str| {
            if v.is_empty() {
                s.to_string()
            } else {
                v.to_string()
            }
        };
        write!(
            f,
            "{}.{}.{}/{}.{}",
            or("[noKind]", self.kind),
            or("[noVer]", self.version),
            or("[noGrp]", self.group),
            or("[noName]", self.name),
            or("[noNs]", self.namespace)
        )
    }
}

impl SourceSelector {
    fn id(&self) -> IdSelector<'_> {
        IdSelector {
            group: &self.group,
            version: &self.version,
            kind: &self.kind,
            name: &self.name,
            namespace: &self.namespace,
        }
    }

    /// The selector as Kustomize prints it, with `:fieldPath` when one is given.
    fn describe(&self) -> String {
        if self.field_path.is_empty() {
            self.id().to_string()
        } else {
            format!("{}:{}", self.id(), self.field_path)
        }
    }
}

impl ResSelector {
    fn id(&self) -> IdSelector<'_> {
        IdSelector {
            group: &self.group,
            version: &self.version,
            kind: &self.kind,
            name: &self.name,
            namespace: &self.namespace,
        }
    }
}

/// A replacement ready to run, with the label its errors carry.
#[derive(Debug)]
pub(crate) struct Loaded {
    label: String,
    rep: Replacement,
}

/// Resolves the entries of a kustomization's `replacements:`, reading the files `path:` names
/// (relative to `dir`; never outside the source root). `file` is the kustomization file.
pub(crate) fn load(
    src: &dyn Source,
    dir: &str,
    file: &str,
    entries: &[ReplacementField],
) -> Result<Vec<Loaded>, Error> {
    let mut out = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let label = format!("replacements[{i}] in {file}");
        let Some(path) = entry.path.as_deref().filter(|p| !p.is_empty()) else {
            out.push(Loaded {
                label,
                rep: Replacement {
                    source: entry.source.clone(),
                    targets: entry.targets.clone(),
                },
            });
            continue;
        };
        if entry.source.is_some() || entry.targets.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(Error::Replacement {
                replacement: label,
                message: "cannot specify both path and inline replacement; move the source and targets into the file or drop the path".into(),
            });
        }
        let path = normalize(dir, path)?;
        let bytes = read_required(src, &path, file)?;
        let text = String::from_utf8(bytes).map_err(|_| Error::Replacement {
            replacement: format!("{path} ({label})"),
            message: "the file is not UTF-8".into(),
        })?;
        // Like Kustomize, only the first document of the file counts.
        let doc = yaml::parse_documents(&path, &text)?
            .into_iter()
            .next()
            .unwrap_or(Value::Null);
        let items: Vec<(String, Value)> = match doc {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(j, item)| (format!("{path} item {j} ({label})"), item))
                .collect(),
            doc @ Value::Object(_) => vec![(format!("{path} ({label})"), doc)],
            other => {
                return Err(Error::Replacement {
                    replacement: format!("{path} ({label})"),
                    message: format!(
                        "unsupported replacement type encountered within replacement path: {}; the file must hold one replacement (a map with source and targets) or a list of them",
                        type_name(&other)
                    ),
                });
            }
        };
        for (item_label, mut item) in items {
            if !item.is_object() {
                return Err(Error::Replacement {
                    replacement: item_label,
                    message: format!(
                        "a replacement must be a map with source and targets, not {}",
                        type_name(&item)
                    ),
                });
            }
            // A replacement file is read leniently, as Kustomize reads it: unknown fields are
            // dropped rather than refused.
            prune_unknown(&mut item);
            let rep: Replacement =
                serde_json::from_value(item).map_err(|e| Error::Replacement {
                    replacement: item_label.clone(),
                    message: e.to_string(),
                })?;
            out.push(Loaded {
                label: item_label,
                rep,
            });
        }
    }
    Ok(out)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

const REPLACEMENT_KEYS: &[&str] = &["source", "targets"];
const SOURCE_KEYS: &[&str] = &[
    "group",
    "version",
    "kind",
    "name",
    "namespace",
    "fieldPath",
    "options",
];
const TARGET_KEYS: &[&str] = &["select", "reject", "fieldPaths", "options"];
const SELECTOR_KEYS: &[&str] = &[
    "group",
    "version",
    "kind",
    "name",
    "namespace",
    "labelSelector",
    "annotationSelector",
];
const OPTION_KEYS: &[&str] = &["delimiter", "index", "encoding", "create"];

fn keep(v: &mut Value, keys: &[&str]) {
    if let Some(m) = v.as_object_mut() {
        m.retain(|k, _| keys.contains(&k.as_str()));
    }
}

/// Drops the fields of a replacement (and of its parts) that Kustomize does not know.
fn prune_unknown(item: &mut Value) {
    keep(item, REPLACEMENT_KEYS);
    if let Some(source) = item.get_mut("source") {
        keep(source, SOURCE_KEYS);
        if let Some(o) = source.get_mut("options") {
            keep(o, OPTION_KEYS);
        }
    }
    if let Some(targets) = item.get_mut("targets").and_then(Value::as_array_mut) {
        for t in targets {
            keep(t, TARGET_KEYS);
            if let Some(s) = t.get_mut("select") {
                keep(s, SELECTOR_KEYS);
            }
            if let Some(rejects) = t.get_mut("reject").and_then(Value::as_array_mut) {
                for r in rejects {
                    keep(r, SELECTOR_KEYS);
                }
            }
            if let Some(o) = t.get_mut("options") {
                keep(o, OPTION_KEYS);
            }
        }
    }
}

/// Runs replacements in order on the resources of a build.
pub(crate) fn apply(rm: &mut ResMap, reps: &[Loaded]) -> Result<(), Error> {
    for l in reps {
        run(rm, &l.rep).map_err(|message| Error::Replacement {
            replacement: l.label.clone(),
            message,
        })?;
    }
    Ok(())
}

fn run(rm: &mut ResMap, rep: &Replacement) -> Result<(), String> {
    let (Some(source), Some(targets)) =
        (&rep.source, rep.targets.as_ref().filter(|t| !t.is_empty()))
    else {
        return Err("replacements must specify a source and at least one target".into());
    };
    let value = source_value(rm, source)?;
    for (ti, target) in targets.iter().enumerate() {
        let Some(select) = &target.select else {
            return Err(format!(
                "targets[{ti}]: target must specify resources to select (give select, e.g. a kind)"
            ));
        };
        let matcher = TargetMatcher::new(select, &target.reject)
            .map_err(|m| format!("targets[{ti}]: {m}"))?;
        let paths: Vec<&str> = if target.field_paths.is_empty() {
            vec![DEFAULT_FIELD_PATH]
        } else {
            target.field_paths.iter().map(String::as_str).collect()
        };
        let options = target.options.clone().unwrap_or_default();
        for res in &mut rm.list {
            if !matcher.selects(res) {
                continue;
            }
            let id = res.cur_id();
            for fp in &paths {
                write(&mut res.obj, fp, &value, &options)
                    .map_err(|m| format!("targets[{ti}] on {id}: {m}"))?;
            }
        }
    }
    Ok(())
}

/// A target's `select` and `reject`, ready to test resources.
struct TargetMatcher<'a> {
    select: IdSelector<'a>,
    select_labels: Option<LabelSelector>,
    select_annotations: Option<LabelSelector>,
    /// Rejections by id (entries with any of group, version, kind, name or namespace).
    reject_ids: Vec<IdSelector<'a>>,
    /// Rejections by labels and annotations (entries with either selector), each a pair.
    reject_meta: Vec<(Option<LabelSelector>, Option<LabelSelector>)>,
}

fn parse_selector(field: &str, s: &str) -> Result<Option<LabelSelector>, String> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    LabelSelector::parse(s)
        .map(Some)
        .map_err(|m| format!("the {field} {s:?} is invalid: {m}"))
}

fn meta_matches(
    res: &Resource,
    labels: &Option<LabelSelector>,
    annotations: &Option<LabelSelector>,
) -> bool {
    labels
        .as_ref()
        .is_none_or(|l| l.matches(&res.string_map("labels")))
        && annotations
            .as_ref()
            .is_none_or(|a| a.matches(&res.string_map("annotations")))
}

impl<'a> TargetMatcher<'a> {
    fn new(select: &'a ResSelector, reject: &'a [Option<ResSelector>]) -> Result<Self, String> {
        let mut reject_ids = Vec::new();
        let mut reject_meta = Vec::new();
        for r in reject.iter().flatten() {
            if !r.id().is_empty() {
                reject_ids.push(r.id());
            }
            if !r.label_selector.is_empty() || !r.annotation_selector.is_empty() {
                reject_meta.push((
                    parse_selector("labelSelector", &r.label_selector)?,
                    parse_selector("annotationSelector", &r.annotation_selector)?,
                ));
            }
        }
        Ok(Self {
            select: select.id(),
            select_labels: parse_selector("labelSelector", &select.label_selector)?,
            select_annotations: parse_selector("annotationSelector", &select.annotation_selector)?,
            reject_ids,
            reject_meta,
        })
    }

    /// As Kustomize decides: the labels and annotations match `select` and no rejecting
    /// entry's; no id the resource has had is rejected; one of them is selected.
    fn selects(&self, res: &Resource) -> bool {
        if !meta_matches(res, &self.select_labels, &self.select_annotations) {
            return false;
        }
        if self
            .reject_meta
            .iter()
            .any(|(l, a)| meta_matches(res, l, a))
        {
            return false;
        }
        let ids = res.all_ids();
        if self
            .reject_ids
            .iter()
            .any(|r| ids.iter().any(|id| r.selects(id)))
        {
            return false;
        }
        ids.iter().any(|id| self.select.selects(id))
    }
}

/// How a scalar reads in YAML: the tag go-yaml gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Str,
    Int,
    Float,
    Bool,
    Null,
    /// A scalar Kustomize created without a tag: typed by how its text reads.
    Implicit,
}

impl Tag {
    fn of(v: &Value) -> Self {
        match v {
            Value::String(_) => Tag::Str,
            Value::Number(n) if n.is_f64() => Tag::Float,
            Value::Number(_) => Tag::Int,
            Value::Bool(_) => Tag::Bool,
            _ => Tag::Null,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Tag::Str | Tag::Implicit => "!!str",
            Tag::Int => "!!int",
            Tag::Float => "!!float",
            Tag::Bool => "!!bool",
            Tag::Null => "!!null",
        }
    }
}

/// The value a replacement copies: a scalar (its tag and text) or a whole map or list.
#[derive(Debug, Clone)]
enum Copied {
    Scalar { tag: Tag, text: String },
    Node(Value),
}

/// What a created field holds before the value is written: a scalar, a map or a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeKind {
    Scalar,
    Map,
    Seq,
}

impl Copied {
    fn of(v: &Value) -> Self {
        match v {
            Value::Object(_) | Value::Array(_) => Copied::Node(v.clone()),
            scalar => Copied::Scalar {
                tag: Tag::of(scalar),
                text: raw_text(scalar),
            },
        }
    }

    /// The scalar text (maps and lists have none).
    fn text(&self) -> &str {
        match self {
            Copied::Scalar { text, .. } => text,
            Copied::Node(_) => "",
        }
    }

    fn kind(&self) -> NodeKind {
        match self {
            Copied::Scalar { .. } => NodeKind::Scalar,
            Copied::Node(Value::Array(_)) => NodeKind::Seq,
            Copied::Node(_) => NodeKind::Map,
        }
    }

    /// The value as it lands in place of a map or list.
    fn materialize(&self) -> Result<Value, String> {
        match self {
            Copied::Scalar { tag, text } => scalar_value(*tag, text),
            Copied::Node(v) => Ok(v.clone()),
        }
    }
}

/// A scalar's text as YAML holds it (`true`, `8080`, the string itself).
fn raw_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::Array(_) | Value::Object(_) => String::new(),
    }
}

/// A node as YAML prints it, for `[key=regex]` matching in targets.
fn printed(v: &Value) -> String {
    yaml::to_yaml(std::slice::from_ref(v)).trim().to_string()
}

/// Reads the source value of a replacement.
fn source_value(rm: &ResMap, source: &SourceSelector) -> Result<Copied, String> {
    let sel = source.id();
    let mut hits = rm
        .list
        .iter()
        .filter(|r| r.all_ids().iter().any(|id| sel.selects(id)));
    let Some(res) = hits.next() else {
        return Err(format!(
            "nothing selected by {}; the source must select exactly one resource",
            source.describe()
        ));
    };
    if let Some(other) = hits.next() {
        return Err(format!(
            "multiple matches for selector {} ({} and {}); the source must select exactly one resource",
            source.describe(),
            res.cur_id(),
            other.cur_id()
        ));
    }
    let field_path = if source.field_path.is_empty() {
        DEFAULT_FIELD_PATH
    } else {
        &source.field_path
    };
    let found = lookup(&res.obj, &split_path(field_path))
        .map_err(|m| format!("error looking up replacement source {}: {m}", res.cur_id()))?;
    let value = match found {
        Some(v) if !is_nil_or_empty(v) => v,
        _ => {
            return Err(format!(
                "fieldPath `{field_path}` is missing for replacement source {} ({})",
                sel,
                res.cur_id()
            ));
        }
    };
    let copied = Copied::of(value);
    let Some(options) = source.options.as_ref().filter(|o| !o.delimiter.is_empty()) else {
        return Ok(copied);
    };
    let Copied::Scalar { tag, text } = copied else {
        return Err(format!(
            "delimiter option can only be used with scalar nodes (the source field `{field_path}` is a map or list)"
        ));
    };
    let parts: Vec<&str> = text.split(options.delimiter.as_str()).collect();
    let part = usize::try_from(options.index)
        .ok()
        .and_then(|i| parts.get(i))
        .ok_or_else(|| {
            format!(
                "options.index {} is out of bounds for value {text}",
                options.index
            )
        })?;
    Ok(Copied::Scalar {
        tag,
        text: (*part).to_string(),
    })
}

fn is_nil_or_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Splits a field path as Kustomize does: on dots, except escaped (`\.`) ones and those inside
/// `[...]`; brackets around a plain key (`[example.com/x]`) are dropped, those of a list-item
/// matcher (`[name=web]`) kept.
fn split_path(path: &str) -> Vec<String> {
    let mut split: Vec<String> = Vec::new();
    for piece in path.split('.') {
        match split.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push('.');
                last.push_str(piece);
            }
            _ => split.push(piece.to_string()),
        }
    }
    let mut out = Vec::new();
    let mut pieces = split.into_iter();
    while let Some(elem) = pieces.next() {
        if elem.starts_with('[') && !elem.ends_with(']') {
            let mut bracketed = vec![elem];
            for next in pieces.by_ref() {
                let done = next.ends_with(']');
                bracketed.push(next);
                if done {
                    break;
                }
            }
            let joined = bracketed.join(".");
            if joined.contains('=') {
                out.push(joined);
            } else {
                out.push(joined.trim_matches(['[', ']']).to_string());
            }
        } else {
            out.push(elem);
        }
    }
    out
}

fn is_list_index(part: &str) -> bool {
    part.starts_with('[') && part.ends_with(']')
}

/// A non-negative list index (`0`, `+2`).
fn index_part(part: &str) -> Option<usize> {
    part.parse::<i64>()
        .ok()
        .and_then(|i| usize::try_from(i).ok())
}

/// `[key=value]` into `key` and `value` (`key` is empty for `[=value]`).
fn split_index(part: &str) -> Result<(&str, &str), String> {
    let inner = part
        .strip_prefix('[')
        .unwrap_or(part)
        .strip_suffix(']')
        .unwrap_or(part);
    inner.split_once('=').ok_or_else(|| {
        format!("the path element {part} must contain fieldName=fieldValue for element to match")
    })
}

fn node_kind_name(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "MappingNode",
        Value::Array(_) => "SequenceNode",
        _ => "ScalarNode",
    }
}

fn wrong_kind(expected: &str, v: &Value) -> String {
    format!(
        "wrong node kind: expected {expected} but got {}",
        node_kind_name(v)
    )
}

/// Reads a source field (Kustomize's `PathGetter`): list items by index, `-` (the last),
/// `[key=value]` (exact); `None` when the field is absent.
fn lookup<'a>(obj: &'a Value, parts: &[String]) -> Result<Option<&'a Value>, String> {
    let elements = |v: &'a Value| -> Result<Option<&'a Vec<Value>>, String> {
        match v {
            Value::Array(items) => Ok(Some(items)),
            Value::Null => Ok(None),
            other => Err(wrong_kind("SequenceNode", other)),
        }
    };
    let mut cur = obj;
    for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let next = if let Ok(idx) = part.parse::<i64>() {
            let idx = usize::try_from(idx)
                .map_err(|_| format!("array index {idx} cannot be negative"))?;
            elements(cur)?.and_then(|items| items.get(idx))
        } else if part == "-" {
            elements(cur)?.and_then(|items| items.last())
        } else if part == "*" {
            return Err("a wildcard (*) cannot be used in a source fieldPath".into());
        } else if is_list_index(part) {
            let (key, want) = split_index(part)?;
            elements(cur)?.and_then(|items| {
                items.iter().find(|item| {
                    if key.is_empty() {
                        raw_text(item) == want
                    } else {
                        item.as_object()
                            .and_then(|m| m.get(key))
                            .is_some_and(|v| raw_text(v) == want)
                    }
                })
            })
        } else {
            match cur {
                Value::Object(m) => m.get(part),
                Value::Null => None,
                other => return Err(wrong_kind("MappingNode", other)),
            }
        };
        match next {
            Some(n) => cur = n,
            None => return Ok(None),
        }
    }
    Ok(Some(cur))
}

/// Why a target walk stopped.
enum WalkError {
    /// The path does not fit the object.
    Path(String),
    /// The value cannot be written where the path leads.
    Set(String),
}

/// Walks a target field path (Kustomize's `PathMatcher`), creating what is missing when
/// `create` is set, and writes every field reached.
struct Walker<'a> {
    create: Option<NodeKind>,
    value: &'a Copied,
    options: &'a FieldOptions,
    /// The path ends at an annotation, whose value Kustomize prints as its text whatever its
    /// type: the field is written as a string.
    as_string: bool,
}

impl Walker<'_> {
    /// Returns how many fields the path reached. `fresh` marks a scalar created on the way.
    fn walk(&self, node: &mut Value, path: &[String], fresh: bool) -> Result<usize, WalkError> {
        let Some((part, rest)) = path.split_first() else {
            set_field(node, fresh, self.as_string, self.value, self.options)
                .map_err(WalkError::Set)?;
            return Ok(1);
        };
        if node.is_null() && self.create.is_some() {
            // Kustomize hangs what it creates under a null field on a node it never prints:
            // the path counts as found and the object stays as it is.
            let mut scratch = if index_part(part).is_some() || is_list_index(part) || part == "*" {
                Value::Array(Vec::new())
            } else {
                Value::Object(Map::new())
            };
            return self.walk(&mut scratch, path, false);
        }
        if let Some(idx) = index_part(part) {
            return self.index(node, idx, rest);
        }
        if is_list_index(part) {
            return self.items(node, part, rest);
        }
        if part == "*" {
            return match node {
                Value::Array(items) => {
                    let mut n = 0;
                    for item in items {
                        n += self.walk(item, rest, false)?;
                    }
                    Ok(n)
                }
                Value::Null => Ok(0),
                other => Err(WalkError::Path(wrong_kind("SequenceNode", other))),
            };
        }
        match node {
            Value::Object(m) => {
                let mut fresh = false;
                if !m.contains_key(part.as_str()) {
                    let Some(kind) = self.create else {
                        return Ok(0);
                    };
                    let (child, is_fresh) = new_node(rest.first(), kind);
                    m.insert(part.clone(), child);
                    fresh = is_fresh;
                }
                match m.get_mut(part.as_str()) {
                    Some(child) => self.walk(child, rest, fresh),
                    None => Ok(0),
                }
            }
            Value::Null => Ok(0),
            other => Err(WalkError::Path(wrong_kind("MappingNode", other))),
        }
    }

    fn index(&self, node: &mut Value, idx: usize, rest: &[String]) -> Result<usize, WalkError> {
        let items = match node {
            Value::Array(items) => items,
            Value::Null => {
                return Err(WalkError::Path(format!(
                    "index {idx} specified but only 0 elements found"
                )));
            }
            other => return Err(WalkError::Path(wrong_kind("SequenceNode", other))),
        };
        let mut fresh = false;
        if items.len() == idx
            && let Some(kind) = self.create
        {
            let (child, is_fresh) = new_node(rest.first(), kind);
            items.push(child);
            fresh = is_fresh;
        }
        let len = items.len();
        match items.get_mut(idx) {
            Some(item) => self.walk(item, rest, fresh),
            None => Err(WalkError::Path(format!(
                "index {idx} specified but only {len} elements found"
            ))),
        }
    }

    /// `[key=regex]` or `[=regex]`: every list item whose key (or itself) matches, unanchored.
    fn items(&self, node: &mut Value, part: &str, rest: &[String]) -> Result<usize, WalkError> {
        let (key, pattern) = split_index(part).map_err(WalkError::Path)?;
        let re = Regex::new(pattern).map_err(|e| {
            WalkError::Path(format!(
                "{part}: {pattern:?} is not a valid regular expression: {e}"
            ))
        })?;
        let items = match node {
            Value::Array(items) => items,
            Value::Null => return Ok(0),
            other => return Err(WalkError::Path(wrong_kind("SequenceNode", other))),
        };
        let mut n = 0;
        for item in items.iter_mut() {
            let text = if key.is_empty() {
                Some(printed(item))
            } else {
                item.as_object().and_then(|m| m.get(key)).map(printed)
            };
            if text.is_some_and(|t| re.is_match(&t)) {
                n += self.walk(item, rest, false)?;
            }
        }
        if n > 0 || self.create.is_none() {
            return Ok(n);
        }
        let (elem, fresh) = if key.is_empty() {
            (Value::String(pattern.to_string()), true)
        } else {
            let mut m = Map::new();
            m.insert(key.to_string(), resolve(pattern, true).1);
            (Value::Object(m), false)
        };
        items.push(elem);
        match items.last_mut() {
            Some(item) => self.walk(item, rest, fresh),
            None => Ok(0),
        }
    }
}

/// A field created on the way: a list before an index or `[...]`, the value's kind at the end
/// (a scalar is marked fresh), a map otherwise.
fn new_node(next: Option<&String>, kind: NodeKind) -> (Value, bool) {
    match next {
        Some(p) if index_part(p).is_some() || is_list_index(p) => (Value::Array(Vec::new()), false),
        Some(_) => (Value::Object(Map::new()), false),
        None => match kind {
            NodeKind::Scalar => (Value::String(String::new()), true),
            NodeKind::Map => (Value::Object(Map::new()), false),
            NodeKind::Seq => (Value::Array(Vec::new()), false),
        },
    }
}

/// Writes the value at one target field path of one object.
fn write(obj: &mut Value, fp: &str, value: &Copied, options: &FieldOptions) -> Result<(), String> {
    let create = options.create.then(|| value.kind());
    let parts = split_path(fp);
    let as_string = matches!(parts.as_slice(), [m, a, key]
        if m == "metadata" && a == "annotations" && index_part(key).is_none() && !is_list_index(key) && key != "*");
    let walker = Walker {
        create,
        value,
        options,
        as_string,
    };
    let what = if create.is_some() {
        "unable to find or create field"
    } else {
        "unable to find field"
    };
    match walker.walk(obj, &parts, false) {
        Ok(0) => Err(format!("{what} {fp:?} in replacement target")),
        Ok(_) => Ok(()),
        Err(WalkError::Path(m)) => Err(format!("{what} {fp:?} in replacement target: {m}")),
        Err(WalkError::Set(m)) => Err(format!("field {fp:?}: {m}")),
    }
}

/// Writes `value` into one target field: a scalar keeps its type and takes the value's text
/// (with a delimiter, replacing one part of its own text); a map or list is replaced.
fn set_field(
    node: &mut Value,
    fresh: bool,
    as_string: bool,
    value: &Copied,
    options: &FieldOptions,
) -> Result<(), String> {
    let scalar = fresh || !(node.is_object() || node.is_array());
    let delimited = if options.delimiter.is_empty() {
        None
    } else {
        if !scalar {
            return Err(
                "delimiter option can only be used with scalar nodes (the target is a map or list)"
                    .into(),
            );
        }
        let current = if fresh {
            node.as_str().unwrap_or_default().to_string()
        } else {
            raw_text(node)
        };
        let delim = options.delimiter.as_str();
        let mut parts: Vec<String> = current.split(delim).map(str::to_string).collect();
        let v = value.text().to_string();
        match usize::try_from(options.index) {
            Err(_) => parts.insert(0, v),
            Ok(i) if i >= parts.len() => parts.push(v),
            Ok(i) => {
                if let Some(slot) = parts.get_mut(i) {
                    *slot = v;
                }
            }
        }
        Some(parts.join(delim))
    };
    *node = if scalar {
        let tag = if as_string {
            Tag::Str
        } else if fresh {
            Tag::Implicit
        } else {
            Tag::of(node)
        };
        let text = delimited.unwrap_or_else(|| value.text().to_string());
        scalar_value(tag, &text)?
    } else {
        value.materialize()?
    };
    Ok(())
}

/// A scalar with a tag and a text as it reads back: a string as is, an untagged scalar as
/// plain YAML reads it, other tags only when the text reads as that type.
fn scalar_value(tag: Tag, text: &str) -> Result<Value, String> {
    match tag {
        Tag::Str => Ok(Value::String(text.to_string())),
        Tag::Implicit => Ok(resolve(text, true).1),
        _ => {
            let (found, v) = resolve(text, false);
            if found == tag {
                return Ok(v);
            }
            if tag == Tag::Float && found == Tag::Int {
                return Ok(v
                    .as_f64()
                    .and_then(Number::from_f64)
                    .map_or(v, Value::Number));
            }
            Err(format!(
                "cannot decode {} `{text}` as a {} (the target field holds {}, and the value does not read as one)",
                found.name(),
                tag.name(),
                match tag {
                    Tag::Int => "an integer",
                    Tag::Float => "a number",
                    Tag::Bool => "a boolean",
                    _ => "null",
                }
            ))
        }
    }
}

/// How go-yaml v3 reads a plain scalar: null, booleans (`true`, `True`, `TRUE`, ...),
/// integers (decimal, `0x`, `0o`, `0b`, legacy `0777` octal, `_` separators), floats;
/// with `timestamps`, a date (`2024-01-05`) reads as a timestamp, printed in RFC 3339.
/// Everything else is a string.
fn resolve(text: &str, timestamps: bool) -> (Tag, Value) {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return (Tag::Null, Value::Null),
        "true" | "True" | "TRUE" => return (Tag::Bool, Value::Bool(true)),
        "false" | "False" | "FALSE" => return (Tag::Bool, Value::Bool(false)),
        _ => {}
    }
    let string = || (Tag::Str, Value::String(text.to_string()));
    let float = |s: &str| {
        s.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .and_then(Number::from_f64)
            .map(|n| (Tag::Float, Value::Number(n)))
    };
    match text.chars().next() {
        Some('.') => float(text).unwrap_or_else(string),
        Some(c) if c.is_ascii_digit() || c == '+' || c == '-' => {
            if timestamps && let Some(ts) = date_timestamp(text) {
                return (Tag::Str, Value::String(ts));
            }
            let plain = text.replace('_', "");
            if let Some(n) = crate::goyaml::go_integer(&plain) {
                return (Tag::Int, Value::Number(n));
            }
            if crate::goyaml::is_float_syntax(&plain)
                && let Some(f) = float(&plain)
            {
                return f;
            }
            string()
        }
        _ => string(),
    }
}

/// A plain `YYYY-M-D` date as go-yaml reads it (a timestamp) and JSON prints it.
fn date_timestamp(s: &str) -> Option<String> {
    let mut parts = s.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || y.len() != 4
        || !(1..=2).contains(&m.len())
        || !(1..=2).contains(&d.len())
        || ![y, m, d]
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let (year, month, day): (u32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > days {
        return None;
    }
    Some(format!("{year:04}-{month:02}-{day:02}T00:00:00Z"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parts(p: &str) -> Vec<String> {
        split_path(p)
    }

    #[test]
    fn paths_split_on_dots_but_not_inside_brackets_or_escapes() {
        assert_eq!(
            parts("spec.containers.[name=a.b].image"),
            ["spec", "containers", "[name=a.b]", "image"]
        );
        assert_eq!(
            parts("metadata.annotations.[example.com/x]"),
            ["metadata", "annotations", "example.com/x"]
        );
        assert_eq!(parts(r"a.b\.c.d"), ["a", "b.c", "d"]);
        assert_eq!(parts("metadata.name"), ["metadata", "name"]);
    }

    #[test]
    fn plain_scalars_read_as_go_yaml_reads_them() {
        assert_eq!(resolve("8080", true).1, json!(8080));
        assert_eq!(resolve("0777", true).1, json!(511));
        assert_eq!(resolve("0x1F", true).1, json!(31));
        assert_eq!(resolve("1_000", true).1, json!(1000));
        assert_eq!(resolve("1e3", true).1, json!(1000.0));
        assert_eq!(resolve("1.2.3", true).1, json!("1.2.3"));
        assert_eq!(resolve("", true).1, Value::Null);
        assert_eq!(resolve("True", true).1, json!(true));
        assert_eq!(resolve("yes", true).1, json!("yes"));
        assert_eq!(resolve("2024-01-05", true).1, json!("2024-01-05T00:00:00Z"));
        assert_eq!(resolve("2024-01-05", false).1, json!("2024-01-05"));
        assert_eq!(resolve("-12", true).1, json!(-12));
    }

    #[test]
    fn scalar_targets_keep_their_type() {
        assert_eq!(scalar_value(Tag::Int, "3").unwrap(), json!(3));
        assert_eq!(scalar_value(Tag::Str, "3").unwrap(), json!("3"));
        assert_eq!(scalar_value(Tag::Float, "3").unwrap(), json!(3.0));
        let err = scalar_value(Tag::Int, "1.2.3").unwrap_err();
        assert!(
            err.starts_with("cannot decode !!str `1.2.3` as a !!int"),
            "{err}"
        );
        assert!(scalar_value(Tag::Null, "x").is_err());
        assert_eq!(scalar_value(Tag::Null, "").unwrap(), Value::Null);
    }

    #[test]
    fn source_lookup_by_index_last_and_exact_item() {
        let obj = json!({"spec": {"containers": [
            {"name": "app", "image": "a:1"}, {"name": "app-sidecar", "image": "b:2"}
        ]}});
        let get = |p: &str| lookup(&obj, &parts(p)).unwrap().cloned();
        assert_eq!(get("spec.containers.[name=app].image"), Some(json!("a:1")));
        assert_eq!(get("spec.containers.1.image"), Some(json!("b:2")));
        assert_eq!(get("spec.containers.-.image"), Some(json!("b:2")));
        assert_eq!(get("spec.containers.[name=ap].image"), None);
        assert_eq!(get("spec.nope.x"), None);
        let err = lookup(&obj, &parts("spec.containers.image")).unwrap_err();
        assert!(
            err.contains("expected MappingNode but got SequenceNode"),
            "{err}"
        );
    }

    #[test]
    fn target_matchers_are_unanchored_regexes_and_wildcards_step_through_lists() {
        let mut obj = json!({"spec": {"containers": [
            {"name": "app", "image": "a:1"}, {"name": "app-sidecar", "image": "b:2"},
            {"name": "other", "image": "c:3"}
        ]}});
        let value = Copied::of(&json!("x:9"));
        let opts = FieldOptions::default();
        write(&mut obj, "spec.containers.[name=app].image", &value, &opts).unwrap();
        assert_eq!(obj["spec"]["containers"][0]["image"], "x:9");
        assert_eq!(obj["spec"]["containers"][1]["image"], "x:9");
        assert_eq!(obj["spec"]["containers"][2]["image"], "c:3");
        let tag = FieldOptions {
            delimiter: ":".into(),
            index: 1,
            ..FieldOptions::default()
        };
        let v = Copied::of(&json!("7"));
        write(&mut obj, "spec.containers.*.image", &v, &tag).unwrap();
        assert_eq!(obj["spec"]["containers"][2]["image"], "c:7");
        let err = write(&mut obj, "spec.nope", &v, &opts).unwrap_err();
        assert_eq!(
            err,
            "unable to find field \"spec.nope\" in replacement target"
        );
    }

    #[test]
    fn create_builds_missing_maps_lists_and_items() {
        let mut obj = json!({"spec": {"x": null}});
        let opts = FieldOptions {
            create: true,
            ..FieldOptions::default()
        };
        let v = Copied::of(&json!("8080"));
        write(&mut obj, "spec.a.b", &v, &opts).unwrap();
        write(&mut obj, "spec.c.[name=web].port", &v, &opts).unwrap();
        write(&mut obj, "spec.args.0", &v, &opts).unwrap();
        write(&mut obj, "spec.x.y", &v, &opts).unwrap();
        assert_eq!(
            obj,
            json!({"spec": {
                "a": {"b": 8080},
                "c": [{"name": "web", "port": 8080}],
                "args": [8080],
                "x": null
            }})
        );
        let err = write(&mut obj, "spec.args.5", &v, &opts).unwrap_err();
        assert!(
            err.contains("index 5 specified but only 1 elements found"),
            "{err}"
        );
    }

    #[test]
    fn delimiter_prepends_replaces_and_appends() {
        let opts = |index| FieldOptions {
            delimiter: "-".into(),
            index,
            ..FieldOptions::default()
        };
        let v = Copied::of(&json!("x"));
        for (index, want) in [(-1, "x-a-b"), (0, "x-b"), (1, "a-x"), (5, "a-b-x")] {
            let mut node = json!("a-b");
            set_field(&mut node, false, false, &v, &opts(index)).unwrap();
            assert_eq!(node, json!(want), "index {index}");
        }
        let mut map = json!({"a": 1});
        assert!(set_field(&mut map, false, false, &v, &opts(0)).is_err());
    }
}
