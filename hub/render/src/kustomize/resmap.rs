//! The resources a build carries between steps: each object with the identities it has had
//! (Kustomize's original and previous ids, which name references and patches match against),
//! target selection, and the legacy output order.

use std::cmp::Ordering;
use std::fmt;

use regex::Regex;
use serde_json::{Map, Value};

use super::Error;
use super::kustomization::Selector;

/// Group, version, kind, name and namespace of an object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ResId {
    pub(crate) group: String,
    pub(crate) version: String,
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) namespace: String,
}

impl ResId {
    /// The id of an object as it stands.
    pub(crate) fn of(obj: &Value) -> Self {
        let api = str_at(obj, &["apiVersion"]);
        let (group, version) = match api.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api.to_string()),
        };
        Self {
            group,
            version,
            kind: str_at(obj, &["kind"]).to_string(),
            name: str_at(obj, &["metadata", "name"]).to_string(),
            namespace: str_at(obj, &["metadata", "namespace"]).to_string(),
        }
    }

    /// Kustomize's effective namespace: `default` when unset, none for cluster-scoped kinds.
    pub(crate) fn effective_namespace(&self) -> &str {
        if is_cluster_scoped(&self.kind) {
            "_non_namespaceable_"
        } else if self.namespace.is_empty() {
            "default"
        } else {
            &self.namespace
        }
    }

    /// Same group, version, kind and name, and the same effective namespace.
    pub(crate) fn equals(&self, o: &ResId) -> bool {
        self.group == o.group
            && self.version == o.version
            && self.kind == o.kind
            && self.name == o.name
            && self.effective_namespace() == o.effective_namespace()
    }
}

impl fmt::Display for ResId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let api = if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        };
        write!(f, "{} {}/{}", api, self.kind, self.name)?;
        if !self.namespace.is_empty() {
            write!(f, " in namespace {}", self.namespace)?;
        }
        Ok(())
    }
}

/// Kinds Kubernetes serves without a namespace.
pub(crate) fn is_cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Namespace"
            | "Node"
            | "PersistentVolume"
            | "StorageClass"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "CustomResourceDefinition"
            | "APIService"
            | "MutatingWebhookConfiguration"
            | "ValidatingWebhookConfiguration"
            | "ValidatingAdmissionPolicy"
            | "ValidatingAdmissionPolicyBinding"
            | "MutatingAdmissionPolicy"
            | "MutatingAdmissionPolicyBinding"
            | "PriorityClass"
            | "PriorityLevelConfiguration"
            | "FlowSchema"
            | "CSIDriver"
            | "CSINode"
            | "VolumeAttachment"
            | "VolumeAttributesClass"
            | "RuntimeClass"
            | "PodSecurityPolicy"
            | "IngressClass"
            | "CertificateSigningRequest"
            | "ClusterTrustBundle"
            | "ComponentStatus"
            | "TokenReview"
            | "SelfSubjectReview"
            | "SelfSubjectAccessReview"
            | "SelfSubjectRulesReview"
            | "SubjectAccessReview"
            | "DeviceClass"
            | "ResourceSlice"
            | "IPAddress"
            | "ServiceCIDR"
            | "StorageVersion"
            | "StorageVersionMigration"
    )
}

/// The string at a path of object keys, or `""`.
pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for k in path {
        match cur.get(k) {
            Some(next) => cur = next,
            None => return "",
        }
    }
    cur.as_str().unwrap_or("")
}

/// A generator's `behavior`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Behavior {
    #[default]
    Create,
    Merge,
    Replace,
}

/// One object in a build and the identities it has had.
#[derive(Debug, Clone)]
pub(crate) struct Resource {
    pub(crate) obj: Value,
    /// The id the object was read or generated with.
    pub(crate) org: ResId,
    /// Ids it had before renames (oldest first).
    pub(crate) prev: Vec<ResId>,
    /// A generated ConfigMap or Secret still waiting for its content-hash suffix.
    pub(crate) needs_hash: bool,
    /// How a generated object combines with one already present.
    pub(crate) behavior: Behavior,
    /// Name prefixes applied so far (outermost first), and suffixes (innermost first).
    pub(crate) prefixes: Vec<String>,
    pub(crate) suffixes: Vec<String>,
}

impl Resource {
    pub(crate) fn new(obj: Value) -> Self {
        let org = ResId::of(&obj);
        Self {
            obj,
            org,
            prev: Vec::new(),
            needs_hash: false,
            behavior: Behavior::Create,
            prefixes: Vec::new(),
            suffixes: Vec::new(),
        }
    }

    pub(crate) fn cur_id(&self) -> ResId {
        ResId::of(&self.obj)
    }

    pub(crate) fn kind(&self) -> &str {
        str_at(&self.obj, &["kind"])
    }

    pub(crate) fn name(&self) -> &str {
        str_at(&self.obj, &["metadata", "name"])
    }

    pub(crate) fn namespace(&self) -> &str {
        str_at(&self.obj, &["metadata", "namespace"])
    }

    /// The original, previous and current ids.
    pub(crate) fn all_ids(&self) -> Vec<ResId> {
        let mut ids = vec![self.org.clone()];
        ids.extend(self.prev.iter().cloned());
        ids.push(self.cur_id());
        ids
    }

    /// Whether `id` is any id this object has had.
    pub(crate) fn matches_any_id(&self, id: &ResId) -> bool {
        self.all_ids().iter().any(|i| i.equals(id))
    }

    fn metadata_mut(&mut self) -> Option<&mut Map<String, Value>> {
        let obj = self.obj.as_object_mut()?;
        let meta = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !meta.is_object() {
            *meta = Value::Object(Map::new());
        }
        meta.as_object_mut()
    }

    fn remember_id(&mut self) {
        let cur = self.cur_id();
        if self.prev.last() != Some(&cur) {
            self.prev.push(cur);
        }
    }

    /// Renames the object, remembering the old id.
    pub(crate) fn set_name(&mut self, name: &str) {
        if self.name() == name {
            return;
        }
        self.remember_id();
        if let Some(meta) = self.metadata_mut() {
            meta.insert("name".into(), Value::String(name.to_string()));
        }
    }

    /// Moves the object to another namespace (`""` removes it), remembering the old id.
    pub(crate) fn set_namespace(&mut self, ns: &str) {
        if self.namespace() == ns {
            return;
        }
        self.remember_id();
        if let Some(meta) = self.metadata_mut() {
            if ns.is_empty() {
                meta.remove("namespace");
            } else {
                meta.insert("namespace".into(), Value::String(ns.to_string()));
            }
        }
    }

    /// The object's labels or annotations (`which` is `labels` or `annotations`).
    pub(crate) fn string_map(&self, which: &str) -> Map<String, Value> {
        self.obj
            .get("metadata")
            .and_then(|m| m.get(which))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    /// Replaces the object's labels or annotations; an empty map removes the field.
    pub(crate) fn set_string_map(&mut self, which: &str, map: Map<String, Value>) {
        if let Some(meta) = self.metadata_mut() {
            if map.is_empty() {
                meta.remove(which);
            } else {
                meta.insert(which.to_string(), Value::Object(map));
            }
        }
    }
}

/// The ordered resources of a build.
#[derive(Debug, Clone, Default)]
pub(crate) struct ResMap {
    pub(crate) list: Vec<Resource>,
}

impl ResMap {
    /// Appends a resource, refusing one whose current id is already present.
    pub(crate) fn append(&mut self, res: Resource) -> Result<(), Error> {
        let id = res.cur_id();
        if self.list.iter().any(|r| r.cur_id().equals(&id)) {
            return Err(Error::Conflict { id: id.to_string() });
        }
        self.list.push(res);
        Ok(())
    }

    /// Appends every resource of `other`.
    pub(crate) fn append_all(&mut self, other: ResMap) -> Result<(), Error> {
        for r in other.list {
            self.append(r)?;
        }
        Ok(())
    }

    /// The indices of the resources `sel` picks, matching names and namespaces against both
    /// the original and the current id as Kustomize does.
    pub(crate) fn select(&self, sel: &Selector) -> Result<Vec<usize>, Error> {
        let re = |field: &str, pat: &Option<String>| -> Result<Option<Regex>, Error> {
            match pat.as_deref() {
                None | Some("") => Ok(None),
                Some(p) => {
                    Regex::new(&format!("^(?:{p})$"))
                        .map(Some)
                        .map_err(|e| Error::Selector {
                            selector: sel.to_string(),
                            message: format!("the {field} is not a valid regular expression: {e}"),
                        })
                }
            }
        };
        let group = re("group", &sel.group)?;
        let version = re("version", &sel.version)?;
        let kind = re("kind", &sel.kind)?;
        let name = re("name", &sel.name)?;
        let namespace = re("namespace", &sel.namespace)?;
        let labels = match sel.label_selector.as_deref() {
            Some(s) if !s.trim().is_empty() => {
                Some(LabelSelector::parse(s).map_err(|m| Error::Selector {
                    selector: sel.to_string(),
                    message: m,
                })?)
            }
            _ => None,
        };
        let annotations = match sel.annotation_selector.as_deref() {
            Some(s) if !s.trim().is_empty() => {
                Some(LabelSelector::parse(s).map_err(|m| Error::Selector {
                    selector: sel.to_string(),
                    message: m,
                })?)
            }
            _ => None,
        };
        let hit = |r: &Option<Regex>, s: &str| r.as_ref().is_none_or(|r| r.is_match(s));
        let mut out = Vec::new();
        for (i, r) in self.list.iter().enumerate() {
            let cur = r.cur_id();
            let org = &r.org;
            if !hit(&namespace, org.effective_namespace())
                && !hit(&namespace, cur.effective_namespace())
            {
                continue;
            }
            if !hit(&name, &org.name) && !hit(&name, &cur.name) {
                continue;
            }
            if !hit(&group, &cur.group) || !hit(&version, &cur.version) || !hit(&kind, &cur.kind) {
                continue;
            }
            if let Some(ls) = &labels
                && !ls.matches(&r.string_map("labels"))
            {
                continue;
            }
            if let Some(ls) = &annotations
                && !ls.matches(&r.string_map("annotations"))
            {
                continue;
            }
            out.push(i);
        }
        Ok(out)
    }

    /// Sorts into `kubectl kustomize`'s legacy order: a fixed order of well-known kinds first,
    /// webhooks last, then by group/version/kind, namespace and name.
    pub(crate) fn sort_legacy(&mut self) {
        self.list
            .sort_by(|a, b| legacy_cmp(&a.cur_id(), &b.cur_id()));
    }
}

const ORDER_FIRST: [&str; 22] = [
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];
const ORDER_LAST: [&str; 2] = [
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

fn type_order(kind: &str) -> i64 {
    if let Some(i) = ORDER_FIRST.iter().position(|k| *k == kind) {
        return i as i64 - ORDER_FIRST.len() as i64;
    }
    if let Some(i) = ORDER_LAST.iter().position(|k| *k == kind) {
        return 1 + i as i64;
    }
    0
}

fn gvk_sort_string(id: &ResId) -> String {
    let or = |s: &str, d: &str| {
        if s.is_empty() {
            d.to_string()
        } else {
            s.to_string()
        }
    };
    format!(
        "{}_{}_{}",
        or(&id.group, "~G"),
        or(&id.version, "~V"),
        or(&id.kind, "~K")
    )
}

fn legacy_cmp(a: &ResId, b: &ResId) -> Ordering {
    let same_gvk = a.group == b.group && a.version == b.version && a.kind == b.kind;
    if !same_gvk {
        let (ia, ib) = (type_order(&a.kind), type_order(&b.kind));
        if ia != ib {
            return ia.cmp(&ib);
        }
        let (sa, sb) = (gvk_sort_string(a), gvk_sort_string(b));
        if a.kind == "Namespace"
            && b.kind == "Namespace"
            && (a.group.is_empty() || b.group.is_empty())
        {
            return sb.cmp(&sa);
        }
        return sa.cmp(&sb);
    }
    let key = |id: &ResId| {
        let ns = if id.namespace.is_empty() {
            "~X"
        } else {
            &id.namespace
        };
        let nm = if id.name.is_empty() { "~N" } else { &id.name };
        format!("{ns}|{nm}")
    };
    key(a).cmp(&key(b))
}

/// A Kubernetes label selector (`a=b,c!=d,e in (x,y),!f,g`).
#[derive(Debug)]
pub(crate) struct LabelSelector {
    reqs: Vec<Requirement>,
}

#[derive(Debug)]
enum Requirement {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl LabelSelector {
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        // Split on commas that are not inside parentheses.
        let mut parts = Vec::new();
        let mut depth = 0usize;
        let mut cur = String::new();
        for c in s.chars() {
            match c {
                '(' => {
                    depth += 1;
                    cur.push(c);
                }
                ')' => {
                    depth = depth.saturating_sub(1);
                    cur.push(c);
                }
                ',' if depth == 0 => parts.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        parts.push(cur);
        for part in parts {
            let p = part.trim();
            if p.is_empty() {
                continue;
            }
            let set = |rest: &str| -> Result<Vec<String>, String> {
                let inner = rest
                    .trim()
                    .strip_prefix('(')
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or_else(|| format!("expected a parenthesised set in {p:?}"))?;
                Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
            };
            if let Some(k) = p.strip_prefix('!') {
                reqs.push(Requirement::NotExists(k.trim().to_string()));
            } else if let Some((k, v)) = p.split_once("!=") {
                reqs.push(Requirement::NotEq(k.trim().into(), v.trim().into()));
            } else if let Some((k, v)) = p.split_once("==") {
                reqs.push(Requirement::Eq(k.trim().into(), v.trim().into()));
            } else if let Some((k, v)) = p.split_once('=') {
                reqs.push(Requirement::Eq(k.trim().into(), v.trim().into()));
            } else if let Some((k, rest)) = p.split_once(" notin ") {
                reqs.push(Requirement::NotIn(k.trim().into(), set(rest)?));
            } else if let Some((k, rest)) = p.split_once(" in ") {
                reqs.push(Requirement::In(k.trim().into(), set(rest)?));
            } else if p.contains(char::is_whitespace) || p.contains(['(', ')']) {
                return Err(format!("cannot parse the label selector requirement {p:?}"));
            } else {
                reqs.push(Requirement::Exists(p.to_string()));
            }
        }
        Ok(Self { reqs })
    }

    pub(crate) fn matches(&self, labels: &Map<String, Value>) -> bool {
        let get = |k: &str| labels.get(k).and_then(super::kustomization::scalar_string);
        self.reqs.iter().all(|r| match r {
            Requirement::Eq(k, v) => get(k).as_deref() == Some(v.as_str()),
            Requirement::NotEq(k, v) => get(k).as_deref() != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.contains(&x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(&x)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selector_forms() {
        let labels = json!({"app": "web", "tier": "front"});
        let labels = labels.as_object().unwrap();
        for (sel, want) in [
            ("app=web", true),
            ("app==web,tier=front", true),
            ("app!=web", false),
            ("tier in (front, back)", true),
            ("tier notin (front)", false),
            ("app", true),
            ("!missing", true),
            ("!app", false),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(labels),
                want,
                "{sel}"
            );
        }
    }

    #[test]
    fn legacy_order_puts_namespaces_first_and_webhooks_last() {
        let mut m = ResMap::default();
        for (api, kind, name) in [
            (
                "admissionregistration.k8s.io/v1",
                "ValidatingWebhookConfiguration",
                "w",
            ),
            ("apps/v1", "Deployment", "d"),
            ("example.com/v1", "Widget", "x"),
            ("v1", "Service", "b"),
            ("v1", "Service", "a"),
            ("v1", "Namespace", "n"),
        ] {
            m.list.push(Resource::new(
                json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}}),
            ));
        }
        m.sort_legacy();
        let names: Vec<_> = m.list.iter().map(|r| r.name().to_string()).collect();
        assert_eq!(names, ["n", "a", "b", "d", "x", "w"]);
    }
}
