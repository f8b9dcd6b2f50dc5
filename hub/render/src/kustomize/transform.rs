//! The built-in transformers a kustomization's fields configure: namespace, name prefix and
//! suffix, labels, annotations, replica counts and image references.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::{Map, Value};

use super::Error;
use super::fieldspec::{self, FieldSpec, apply_specs};
use super::kustomization::{Image, Replica};
use super::resmap::{ResMap, is_cluster_scoped};

/// `namespace:` sets the namespace of every namespaced object, renames Namespace objects, and
/// places `default` role binding subjects in it.
pub(crate) fn namespace(rm: &mut ResMap, ns: &str) -> Result<(), Error> {
    let extra = fieldspec::namespace_extra();
    let leaf = Value::String(String::new());
    for res in &mut rm.list {
        let id = res.cur_id();
        if id.kind == "Namespace" {
            res.set_name(ns);
        } else if !is_cluster_scoped(&id.kind) {
            res.set_namespace(ns);
        }
        apply_specs(&mut res.obj, &id, &extra, Some(&leaf), &mut |n| {
            *n = Value::String(ns.to_string());
            Ok(())
        })?;
        if matches!(id.kind.as_str(), "RoleBinding" | "ClusterRoleBinding")
            && let Some(subjects) = res.obj.get_mut("subjects").and_then(Value::as_array_mut)
        {
            for s in subjects.iter_mut().filter_map(Value::as_object_mut) {
                if s.get("name").and_then(Value::as_str) == Some("default") {
                    s.insert("namespace".into(), Value::String(ns.to_string()));
                }
            }
        }
    }
    Ok(())
}

/// `namePrefix:` and `nameSuffix:`.
pub(crate) fn prefix_suffix(rm: &mut ResMap, prefix: &str, suffix: &str) {
    if prefix.is_empty() && suffix.is_empty() {
        return;
    }
    for res in &mut rm.list {
        let kind = res.kind().to_string();
        let group = res.cur_id().group;
        if kind == "CustomResourceDefinition"
            || kind == "Namespace"
            || (kind == "APIService" && group == "apiregistration.k8s.io")
        {
            continue;
        }
        let name = format!("{prefix}{}{suffix}", res.name());
        res.set_name(&name);
        if !prefix.is_empty() {
            res.prefixes.insert(0, prefix.to_string());
        }
        if !suffix.is_empty() {
            res.suffixes.push(suffix.to_string());
        }
    }
}

/// Sets string entries in the maps the field specifications select.
pub(crate) fn set_entries(
    rm: &mut ResMap,
    entries: &BTreeMap<String, String>,
    specs: &[FieldSpec],
) -> Result<(), Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let leaf = Value::Object(Map::new());
    for res in &mut rm.list {
        let id = res.cur_id();
        apply_specs(&mut res.obj, &id, specs, Some(&leaf), &mut |n| {
            if !n.is_object() {
                *n = Value::Object(Map::new());
            }
            if let Some(m) = n.as_object_mut() {
                for (k, v) in entries {
                    m.insert(k.clone(), Value::String(v.clone()));
                }
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// One `replicas:` entry: sets the count on every workload that has had this name. Like
/// Kustomize, an entry that matches nothing is an error.
pub(crate) fn replicas(rm: &mut ResMap, rep: &Replica) -> Result<(), Error> {
    let specs = fieldspec::replicas();
    let mut found = false;
    let leaf = Value::from(rep.count);
    for res in &mut rm.list {
        let ids = res.all_ids();
        for spec in &specs {
            if !ids
                .iter()
                .any(|id| id.name == rep.name && spec.applies_to(id))
            {
                continue;
            }
            found = true;
            fieldspec::walk(
                &mut res.obj,
                &spec.segments(),
                true,
                Some(&leaf),
                &mut |n| {
                    *n = Value::from(rep.count);
                    Ok(())
                },
            )?;
        }
    }
    if !found {
        return Err(Error::Transform {
            message: format!(
                "replicas: no Deployment, ReplicationController, ReplicaSet or StatefulSet is named {:?}",
                rep.name
            ),
        });
    }
    Ok(())
}

/// One `images:` entry: rewrites matching image references in every `containers` and
/// `initContainers` list, and in image volumes.
pub(crate) fn image(rm: &mut ResMap, img: &Image) -> Result<(), Error> {
    let pattern = Regex::new(&format!(
        "^{}(@sha256)?(:[a-zA-Z0-9_.{{}}-]*)?(@sha256:[a-zA-Z0-9_.{{}}-]*)?$",
        img.name
    ))
    .map_err(|e| Error::Transform {
        message: format!("images: the name {:?} is not usable: {e}", img.name),
    })?;
    let update = |s: &str| -> Option<String> {
        if !pattern.is_match(s) {
            return None;
        }
        let (name, tag, digest) = split_image(s);
        let mut name = img.new_name.clone().unwrap_or(name);
        let (mut tag, mut digest) = (tag, digest);
        match (&img.new_tag, &img.digest) {
            (Some(t), Some(d)) => {
                tag = t.clone();
                digest = d.clone();
            }
            (Some(t), None) => {
                tag = t.clone();
                digest = String::new();
            }
            (None, Some(d)) => {
                tag = String::new();
                digest = d.clone();
            }
            (None, None) => {}
        }
        if let Some(suffix) = &img.tag_suffix {
            tag.push_str(suffix);
        }
        if !tag.is_empty() {
            name = format!("{name}:{tag}");
        }
        if !digest.is_empty() {
            name = format!("{name}@{digest}");
        }
        Some(name)
    };
    let specs = fieldspec::images();
    for res in &mut rm.list {
        update_containers(&mut res.obj, &update);
        let id = res.cur_id();
        apply_specs(&mut res.obj, &id, &specs, None, &mut |n| {
            if let Some(new) = n.as_str().and_then(&update) {
                *n = Value::String(new);
            }
            Ok(())
        })?;
    }
    Ok(())
}

fn update_containers(v: &mut Value, update: &dyn Fn(&str) -> Option<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if (k == "containers" || k == "initContainers")
                    && let Value::Array(items) = child
                {
                    for item in items.iter_mut() {
                        if let Some(img) = item.get_mut("image")
                            && let Some(new) = img.as_str().and_then(update)
                        {
                            *img = Value::String(new);
                        }
                    }
                }
                update_containers(child, update);
            }
        }
        Value::Array(items) => {
            for item in items {
                update_containers(item, update);
            }
        }
        _ => {}
    }
}

/// Splits an image reference into name, tag and digest, ignoring a `:` in a registry host.
pub(crate) fn split_image(image: &str) -> (String, String, String) {
    let slash = image.find('/').filter(|i| *i > 0).unwrap_or(0);
    let search = image.get(slash..).unwrap_or("");
    let at = search.find('@').map(|i| i + slash);
    let colon = search.find(':').map(|i| i + slash);
    let cut = |a: usize, b: usize| image.get(a..b).unwrap_or("").to_string();
    let rest = |a: usize| image.get(a..).unwrap_or("").to_string();
    match (colon, at) {
        (None, None) => (image.to_string(), String::new(), String::new()),
        (c, Some(d)) if c.is_none_or(|c| d < c) => (cut(0, d), String::new(), rest(d + 1)),
        (Some(c), Some(d)) => (cut(0, c), cut(c + 1, d), rest(d + 1)),
        (Some(c), None) => (cut(0, c), rest(c + 1), String::new()),
        (None, Some(d)) => (cut(0, d), String::new(), rest(d + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_image_forms() {
        let s = |i: &str| {
            let (a, b, c) = split_image(i);
            (a, b, c)
        };
        assert_eq!(s("nginx"), ("nginx".into(), "".into(), "".into()));
        assert_eq!(s("nginx:1.2"), ("nginx".into(), "1.2".into(), "".into()));
        assert_eq!(
            s("reg:5000/app:v1"),
            ("reg:5000/app".into(), "v1".into(), "".into())
        );
        assert_eq!(
            s("app@sha256:abc"),
            ("app".into(), "".into(), "sha256:abc".into())
        );
        assert_eq!(
            s("app:v1@sha256:abc"),
            ("app".into(), "v1".into(), "sha256:abc".into())
        );
    }
}
