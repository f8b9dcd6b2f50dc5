//! Drift: how a live object differs from what the hosted repository says it should be.
//!
//! Only what the desired object states is compared — fields the cluster adds (status, defaults,
//! managed fields, uid) are not drift. Maps are compared key by key; lists of objects that
//! carry a `name` (containers, env, ports, volumes) are matched by name, other lists by
//! position. A difference confined to labels and annotations is `cosmetic`; any other is
//! `functional`.

use gatehouse_agent_proto::v1::{DriftFinding, FieldDiff};
use serde_json::Value as Json;

/// Metadata the cluster owns; never compared.
const SERVER_METADATA: [&str; 7] = [
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "ownerReferences",
];

/// Most field differences reported per object.
const MAX_FIELDS: usize = 50;

/// The differences of `live` from `desired`, as JSON pointers with both sides' JSON text.
pub fn compare(desired: &Json, live: &Json) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    walk("", desired, live, &mut out);
    out.truncate(MAX_FIELDS);
    out
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn same_scalar(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        // The API server normalises some scalars to strings (quantities, int-or-string).
        (Json::Number(x), Json::String(y)) | (Json::String(y), Json::Number(x)) => {
            x.to_string() == *y
        }
        _ => a == b,
    }
}

fn walk(path: &str, desired: &Json, live: &Json, out: &mut Vec<FieldDiff>) {
    if out.len() >= MAX_FIELDS {
        return;
    }
    match (desired, live) {
        (Json::Object(d), Json::Object(l)) => {
            for (k, dv) in d {
                if path == "/metadata" && SERVER_METADATA.contains(&k.as_str())
                    || path.is_empty() && k == "status"
                {
                    continue;
                }
                let p = format!("{path}/{}", escape(k));
                match l.get(k) {
                    Some(lv) => walk(&p, dv, lv, out),
                    None if dv.is_null() => {}
                    None => out.push(FieldDiff {
                        path: p,
                        desired: dv.to_string(),
                        live: String::new(),
                    }),
                }
            }
        }
        (Json::Array(d), Json::Array(l)) => {
            let named = |v: &Json| v.get("name").and_then(Json::as_str).map(str::to_owned);
            if !d.is_empty() && d.iter().all(|x| named(x).is_some()) {
                for dv in d {
                    let n = named(dv).unwrap_or_default();
                    match l.iter().find(|lv| named(lv).as_deref() == Some(n.as_str())) {
                        Some(lv) => walk(&format!("{path}/{}", escape(&n)), dv, lv, out),
                        None => out.push(FieldDiff {
                            path: format!("{path}/{}", escape(&n)),
                            desired: dv.to_string(),
                            live: String::new(),
                        }),
                    }
                }
                for lv in l {
                    let n = named(lv).unwrap_or_default();
                    if !d.iter().any(|dv| named(dv).as_deref() == Some(n.as_str())) {
                        out.push(FieldDiff {
                            path: format!("{path}/{}", escape(&n)),
                            desired: String::new(),
                            live: lv.to_string(),
                        });
                    }
                }
            } else if d.len() != l.len() {
                out.push(FieldDiff {
                    path: path.to_owned(),
                    desired: desired.to_string(),
                    live: live.to_string(),
                });
            } else {
                for (i, (dv, lv)) in d.iter().zip(l).enumerate() {
                    walk(&format!("{path}/{i}"), dv, lv, out);
                }
            }
        }
        (d, l) if same_scalar(d, l) => {}
        (d, l) => out.push(FieldDiff {
            path: path.to_owned(),
            desired: d.to_string(),
            live: l.to_string(),
        }),
    }
}

/// A finding for an object, or `None` when it matches.
pub fn finding(source: &str, desired: &Json, live: Option<&Json>) -> Option<DriftFinding> {
    let s = |ptr: &str| {
        desired
            .pointer(ptr)
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (kind, namespace, name) = (s("/kind"), s("/metadata/namespace"), s("/metadata/name"));
    let Some(live) = live else {
        return Some(DriftFinding {
            kind,
            namespace,
            name,
            severity: "functional".into(),
            fields: vec![],
            source: source.to_owned(),
            missing: true,
        });
    };
    let fields = compare(desired, live);
    if fields.is_empty() {
        return None;
    }
    let cosmetic = fields.iter().all(|f| {
        f.path.starts_with("/metadata/labels") || f.path.starts_with("/metadata/annotations")
    });
    Some(DriftFinding {
        kind,
        namespace,
        name,
        severity: if cosmetic { "cosmetic" } else { "functional" }.into(),
        fields,
        source: source.to_owned(),
        missing: false,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(replicas: i64, image: &str) -> Json {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": { "name": "api", "namespace": "shop", "labels": { "app": "api" } },
            "spec": { "replicas": replicas, "template": { "spec": { "containers": [
                { "name": "api", "image": image, "resources": { "limits": { "cpu": 1 } } },
            ] } } },
        })
    }

    #[test]
    fn server_added_fields_are_not_drift() {
        let desired = deployment(2, "shop/api:1.0");
        let mut live = desired.clone();
        live["metadata"]["uid"] = json!("u-1");
        live["metadata"]["resourceVersion"] = json!("42");
        live["status"] = json!({ "replicas": 2 });
        live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] =
            json!("IfNotPresent");
        live["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] =
            json!("1");
        assert_eq!(finding("shop/x.yaml", &desired, Some(&live)), None);
    }

    #[test]
    fn changed_fields_are_named_and_classified() {
        let desired = deployment(2, "shop/api:1.0");
        let mut live = deployment(5, "shop/api:1.1");
        live["metadata"]["labels"]["team"] = json!("x");
        let f = finding("shop/x.yaml", &desired, Some(&live)).unwrap();
        assert_eq!(f.severity, "functional");
        let paths: Vec<&str> = f.fields.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            ["/spec/replicas", "/spec/template/spec/containers/api/image"]
        );
        assert_eq!(
            (f.fields[0].desired.as_str(), f.fields[0].live.as_str()),
            ("2", "5")
        );

        let mut live = deployment(2, "shop/api:1.0");
        live["metadata"]["labels"]["app"] = json!("other");
        let f = finding("shop/x.yaml", &desired, Some(&live)).unwrap();
        assert_eq!(f.severity, "cosmetic");
        assert_eq!(f.fields[0].path, "/metadata/labels/app");
    }

    #[test]
    fn missing_objects_and_extra_containers() {
        let desired = deployment(2, "shop/api:1.0");
        let f = finding("shop/x.yaml", &desired, None).unwrap();
        assert!(
            f.missing && f.severity == "functional" && f.name == "api" && f.namespace == "shop"
        );

        let mut live = desired.clone();
        live["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "name": "sidecar", "image": "x" }));
        let f = finding("shop/x.yaml", &desired, Some(&live)).unwrap();
        assert_eq!(f.fields[0].path, "/spec/template/spec/containers/sidecar");
        assert!(f.fields[0].desired.is_empty() && f.fields[0].live.contains("sidecar"));
    }
}
