//! Name references: after prefixes, suffixes, namespaces and hash suffixes have renamed
//! objects, the fields that name them (a pod's ConfigMap volume, a RoleBinding's subjects, an
//! Ingress backend, ...) are rewritten to the new names, choosing the referred object the way
//! Kustomize does (any name it has had, same namespace as the referrer, same prefixes).

use serde_json::{Map, Value};

use super::Error;
use super::fieldspec::{BackRef, name_references, walk};
use super::resmap::{ResId, ResMap, is_cluster_scoped};

/// What the pass needs to know about a possible referral.
#[derive(Debug)]
struct Candidate {
    ids: Vec<ResId>,
    cur: ResId,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
}

/// Rewrites every name reference in `rm`.
pub(crate) fn fix(rm: &mut ResMap) -> Result<(), Error> {
    let candidates: Vec<Candidate> = rm
        .list
        .iter()
        .map(|r| Candidate {
            ids: r.all_ids(),
            cur: r.cur_id(),
            prefixes: r.prefixes.clone(),
            suffixes: r.suffixes.clone(),
        })
        .collect();
    let config = name_references();
    for res in &mut rm.list {
        let referrer = res.cur_id();
        let (prefixes, suffixes) = (res.prefixes.clone(), res.suffixes.clone());
        for backref in &config {
            let pool: Vec<&Candidate> = candidates
                .iter()
                .filter(|c| gvk_selected(&c.cur, backref))
                .collect();
            if pool.is_empty() {
                continue;
            }
            for spec in backref.referrers.iter().filter(|s| s.applies_to(&referrer)) {
                let segs = spec.segments();
                let ctx = Ctx {
                    referrer: &referrer,
                    prefixes: &prefixes,
                    suffixes: &suffixes,
                    backref,
                    pool: &pool,
                };
                if segs.last().map(String::as_str) == Some("name")
                    && segs.first().map(String::as_str) == Some("roleRef")
                {
                    let role_kind = res
                        .obj
                        .get("roleRef")
                        .and_then(|r| r.get("kind"))
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    if role_kind != backref.kind {
                        continue;
                    }
                }
                walk(&mut res.obj, &segs, false, None, &mut |node| ctx.set(node))?;
            }
        }
    }
    Ok(())
}

fn gvk_selected(id: &ResId, b: &BackRef) -> bool {
    (b.group.is_empty() || b.group == id.group)
        && (b.version.is_empty() || b.version == id.version)
        && b.kind == id.kind
}

struct Ctx<'a> {
    referrer: &'a ResId,
    prefixes: &'a [String],
    suffixes: &'a [String],
    backref: &'a BackRef,
    pool: &'a [&'a Candidate],
}

impl Ctx<'_> {
    fn set(&self, node: &mut Value) -> Result<(), Error> {
        match node {
            Value::String(old) => {
                if let Some(c) = self.select(old, None)? {
                    *old = c.cur.name.clone();
                }
                Ok(())
            }
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::String(old) => {
                            if let Some(c) = self.select(old, None)? {
                                *old = c.cur.name.clone();
                            }
                        }
                        Value::Object(map) => self.set_mapping(map)?,
                        _ => {}
                    }
                }
                Ok(())
            }
            Value::Object(map) => self.set_mapping(map),
            _ => Ok(()),
        }
    }

    /// A `{name, namespace}` reference (role binding subjects, webhook services).
    fn set_mapping(&self, map: &mut Map<String, Value>) -> Result<(), Error> {
        let Some(old) = map.get("name").and_then(Value::as_str).map(str::to_string) else {
            return Ok(());
        };
        let ns = map
            .get("namespace")
            .and_then(Value::as_str)
            .map(str::to_string);
        let Some(c) = self.select(&old, ns.as_deref())? else {
            return Ok(());
        };
        map.insert("name".into(), Value::String(c.cur.name.clone()));
        if !c.cur.namespace.is_empty() {
            map.insert("namespace".into(), Value::String(c.cur.namespace.clone()));
        }
        Ok(())
    }

    fn select(&self, old: &str, ns: Option<&str>) -> Result<Option<&Candidate>, Error> {
        let referrer_cluster = is_cluster_scoped(&self.referrer.kind);
        let found: Vec<&Candidate> = self
            .pool
            .iter()
            .copied()
            .filter(|c| c.ids.iter().any(|id| id.name == old))
            .filter(|c| match ns {
                Some(ns) => c.ids.iter().any(|id| id.namespace == ns),
                None => true,
            })
            .filter(|c| {
                referrer_cluster
                    || is_cluster_scoped(&c.cur.kind)
                    || c.cur.kind == "ServiceAccount"
                    || c.cur.effective_namespace() == self.referrer.effective_namespace()
            })
            .collect();
        if found.len() <= 1 {
            return Ok(found.first().copied());
        }
        let same_affixes: Vec<&Candidate> = found
            .iter()
            .copied()
            .filter(|c| c.prefixes == self.prefixes && c.suffixes == self.suffixes)
            .collect();
        if same_affixes.len() == 1 {
            return Ok(same_affixes.first().copied());
        }
        let first = found.first().copied();
        if found
            .iter()
            .all(|c| Some(&c.cur.name) == first.map(|f| &f.cur.name))
        {
            return Ok(first);
        }
        Err(Error::Reference {
            referrer: self.referrer.to_string(),
            name: old.to_string(),
            kind: self.backref.kind.to_string(),
            candidates: found.iter().map(|c| c.cur.to_string()).collect(),
        })
    }
}
