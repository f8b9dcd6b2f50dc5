//! Field specifications: which field of which kinds a transformer touches (Kustomize's built-in
//! configuration for labels, annotations, namespaces, prefixes, replicas and name references),
//! and the walk that reaches those fields, stepping through lists and creating maps on request.

use serde_json::{Map, Value};

use super::Error;
use super::resmap::ResId;

/// One field specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldSpec {
    pub(crate) group: String,
    pub(crate) version: String,
    pub(crate) kind: String,
    pub(crate) path: String,
    pub(crate) create: bool,
}

impl FieldSpec {
    pub(crate) fn new(group: &str, version: &str, kind: &str, path: &str, create: bool) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            path: path.into(),
            create,
        }
    }

    /// Whether this specification applies to objects with this id (empty parts match all).
    pub(crate) fn applies_to(&self, id: &ResId) -> bool {
        (self.group.is_empty() || self.group == id.group)
            && (self.version.is_empty() || self.version == id.version)
            && (self.kind.is_empty() || self.kind == id.kind)
    }

    /// The path's segments; `\/` escapes a slash inside a segment.
    pub(crate) fn segments(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut chars = self.path.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&'/') => {
                    cur.push('/');
                    chars.next();
                }
                '/' => out.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        out.push(cur);
        out
    }
}

/// Walks `node` along `segs`, calling `f` on every field reached. Lists are stepped through
/// (every element); a segment ending in `[]` names a list. With `create`, missing maps along the
/// way are created, and a missing last field is created as `leaf` (when given).
pub(crate) fn walk(
    node: &mut Value,
    segs: &[String],
    create: bool,
    leaf: Option<&Value>,
    f: &mut dyn FnMut(&mut Value) -> Result<(), Error>,
) -> Result<(), Error> {
    let Some((first, rest)) = segs.split_first() else {
        return f(node);
    };
    match node {
        Value::Array(items) => {
            for item in items {
                walk(item, segs, create, leaf, f)?;
            }
            Ok(())
        }
        Value::Object(map) => {
            let (field, is_seq) = match first.strip_suffix("[]") {
                Some(f) => (f, true),
                None => (first.as_str(), false),
            };
            let missing = map.get(field).is_none_or(Value::is_null);
            if missing {
                if !create || is_seq {
                    return Ok(());
                }
                let fresh = if rest.is_empty() {
                    match leaf {
                        Some(v) => v.clone(),
                        None => return Ok(()),
                    }
                } else {
                    Value::Object(Map::new())
                };
                map.insert(field.to_string(), fresh);
            }
            match map.get_mut(field) {
                Some(child) => walk(child, rest, create, leaf, f),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// Applies `f` to every field `specs` select in `obj` (an object with id `id`).
pub(crate) fn apply_specs(
    obj: &mut Value,
    id: &ResId,
    specs: &[FieldSpec],
    leaf: Option<&Value>,
    f: &mut dyn FnMut(&mut Value) -> Result<(), Error>,
) -> Result<(), Error> {
    for spec in specs.iter().filter(|s| s.applies_to(id)) {
        walk(obj, &spec.segments(), spec.create, leaf, f)?;
    }
    Ok(())
}

type Row = (&'static str, &'static str, &'static str, &'static str, bool);

fn table(rows: &[Row]) -> Vec<FieldSpec> {
    rows.iter()
        .map(|(g, v, k, p, c)| FieldSpec::new(g, v, k, p, *c))
        .collect()
}

/// Where labels go on templates (pod templates, job templates, claim templates).
const TEMPLATE_LABELS: &[Row] = &[
    (
        "",
        "v1",
        "ReplicationController",
        "spec/template/metadata/labels",
        true,
    ),
    ("", "", "Deployment", "spec/template/metadata/labels", true),
    ("", "", "ReplicaSet", "spec/template/metadata/labels", true),
    ("", "", "DaemonSet", "spec/template/metadata/labels", true),
    (
        "apps",
        "",
        "StatefulSet",
        "spec/template/metadata/labels",
        true,
    ),
    (
        "apps",
        "",
        "StatefulSet",
        "spec/volumeClaimTemplates[]/metadata/labels",
        true,
    ),
    ("batch", "", "Job", "spec/template/metadata/labels", true),
    (
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/metadata/labels",
        true,
    ),
    (
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/spec/template/metadata/labels",
        true,
    ),
];

/// Where labels go on selectors (and the affinity terms that must keep matching them).
const SELECTOR_LABELS: &[Row] = &[
    ("", "v1", "Service", "spec/selector", true),
    ("", "v1", "ReplicationController", "spec/selector", true),
    ("", "", "Deployment", "spec/selector/matchLabels", true),
    (
        "apps",
        "",
        "Deployment",
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    (
        "apps",
        "",
        "Deployment",
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    (
        "apps",
        "",
        "Deployment",
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    (
        "apps",
        "",
        "Deployment",
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    (
        "apps",
        "",
        "Deployment",
        "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
        false,
    ),
    ("", "", "ReplicaSet", "spec/selector/matchLabels", true),
    ("", "", "DaemonSet", "spec/selector/matchLabels", true),
    ("apps", "", "StatefulSet", "spec/selector/matchLabels", true),
    (
        "apps",
        "",
        "StatefulSet",
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    (
        "apps",
        "",
        "StatefulSet",
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    (
        "apps",
        "",
        "StatefulSet",
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    (
        "apps",
        "",
        "StatefulSet",
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    (
        "apps",
        "",
        "StatefulSet",
        "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
        false,
    ),
    ("batch", "", "Job", "spec/selector/matchLabels", false),
    (
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/spec/selector/matchLabels",
        false,
    ),
    (
        "policy",
        "",
        "PodDisruptionBudget",
        "spec/selector/matchLabels",
        false,
    ),
    (
        "networking.k8s.io",
        "",
        "NetworkPolicy",
        "spec/podSelector/matchLabels",
        false,
    ),
    (
        "networking.k8s.io",
        "",
        "NetworkPolicy",
        "spec/ingress/from/podSelector/matchLabels",
        false,
    ),
    (
        "networking.k8s.io",
        "",
        "NetworkPolicy",
        "spec/egress/to/podSelector/matchLabels",
        false,
    ),
];

const METADATA_LABELS: Row = ("", "", "", "metadata/labels", true);

/// `commonLabels`, and `labels` with `includeSelectors`: metadata, selectors and templates.
pub(crate) fn common_labels() -> Vec<FieldSpec> {
    let mut out = table(SELECTOR_LABELS);
    out.extend(table(&[METADATA_LABELS]));
    out.extend(table(TEMPLATE_LABELS));
    out
}

/// `labels` without `includeSelectors`: metadata only, plus templates with `includeTemplates`.
pub(crate) fn metadata_labels(include_templates: bool) -> Vec<FieldSpec> {
    let mut out = table(&[METADATA_LABELS]);
    if include_templates {
        out.extend(table(TEMPLATE_LABELS));
    }
    out
}

/// `commonAnnotations`.
pub(crate) fn common_annotations() -> Vec<FieldSpec> {
    table(&[
        ("", "", "", "metadata/annotations", true),
        (
            "",
            "v1",
            "ReplicationController",
            "spec/template/metadata/annotations",
            true,
        ),
        (
            "",
            "",
            "Deployment",
            "spec/template/metadata/annotations",
            true,
        ),
        (
            "",
            "",
            "ReplicaSet",
            "spec/template/metadata/annotations",
            true,
        ),
        (
            "",
            "",
            "DaemonSet",
            "spec/template/metadata/annotations",
            true,
        ),
        (
            "",
            "",
            "StatefulSet",
            "spec/template/metadata/annotations",
            true,
        ),
        (
            "batch",
            "",
            "Job",
            "spec/template/metadata/annotations",
            true,
        ),
        (
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/metadata/annotations",
            true,
        ),
        (
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/spec/template/metadata/annotations",
            true,
        ),
    ])
}

/// `namespace`, besides `metadata/namespace` (set on every namespaced object).
pub(crate) fn namespace_extra() -> Vec<FieldSpec> {
    table(&[
        (
            "apiregistration.k8s.io",
            "",
            "APIService",
            "spec/service/namespace",
            true,
        ),
        (
            "apiextensions.k8s.io",
            "",
            "CustomResourceDefinition",
            "spec/conversion/webhook/clientConfig/service/namespace",
            false,
        ),
    ])
}

/// `replicas`.
pub(crate) fn replicas() -> Vec<FieldSpec> {
    table(&[
        ("", "", "Deployment", "spec/replicas", true),
        ("", "", "ReplicationController", "spec/replicas", true),
        ("", "", "ReplicaSet", "spec/replicas", true),
        ("", "", "StatefulSet", "spec/replicas", true),
    ])
}

/// `images`, besides every `containers` and `initContainers` list.
pub(crate) fn images() -> Vec<FieldSpec> {
    table(&[
        ("", "", "", "spec/volumes[]/image/reference", false),
        (
            "",
            "",
            "",
            "spec/template/spec/volumes[]/image/reference",
            false,
        ),
    ])
}

/// A kind that other objects refer to by name, and where they do.
#[derive(Debug)]
pub(crate) struct BackRef {
    pub(crate) group: &'static str,
    pub(crate) version: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) referrers: Vec<FieldSpec>,
}

/// Kinds with a pod template, and the path to their pod spec.
const POD_SPECS: &[(&str, &str, &str)] = &[
    ("v1", "Pod", "spec"),
    ("", "Deployment", "spec/template/spec"),
    ("", "ReplicaSet", "spec/template/spec"),
    ("", "DaemonSet", "spec/template/spec"),
    ("", "StatefulSet", "spec/template/spec"),
    ("", "Job", "spec/template/spec"),
    ("", "CronJob", "spec/jobTemplate/spec/template/spec"),
];

/// Kinds that name a service account, claim or priority class in their pod spec.
const POD_OWNERS: &[(&str, &str)] = &[
    ("Pod", "spec"),
    ("StatefulSet", "spec/template/spec"),
    ("Deployment", "spec/template/spec"),
    ("ReplicationController", "spec/template/spec"),
    ("CronJob", "spec/jobTemplate/spec/template/spec"),
    ("Job", "spec/template/spec"),
    ("DaemonSet", "spec/template/spec"),
];

fn pod_refs(paths: &[&str], cron_skip: &[&str]) -> Vec<FieldSpec> {
    let mut out = Vec::new();
    for (version, kind, prefix) in POD_SPECS {
        for p in paths {
            if *kind == "CronJob" && cron_skip.contains(p) {
                continue;
            }
            out.push(FieldSpec::new(
                "",
                version,
                kind,
                &format!("{prefix}/{p}"),
                false,
            ));
        }
    }
    out
}

fn owner_refs(field: &str) -> Vec<FieldSpec> {
    POD_OWNERS
        .iter()
        .map(|(kind, prefix)| FieldSpec::new("", "", kind, &format!("{prefix}/{field}"), false))
        .collect()
}

/// Kustomize's built-in name reference configuration.
pub(crate) fn name_references() -> Vec<BackRef> {
    let mut config_map = pod_refs(
        &[
            "volumes/configMap/name",
            "containers/env/valueFrom/configMapKeyRef/name",
            "initContainers/env/valueFrom/configMapKeyRef/name",
            "containers/envFrom/configMapRef/name",
            "initContainers/envFrom/configMapRef/name",
            "volumes/projected/sources/configMap/name",
        ],
        &[],
    );
    config_map.extend(table(&[
        ("", "", "Node", "spec/configSource/configMap", false),
        ("", "", "Role", "rules/resourceNames", false),
        ("", "", "ClusterRole", "rules/resourceNames", false),
        (
            "",
            "",
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap",
            false,
        ),
        (
            "serving.knative.dev",
            "v1",
            "Service",
            "spec/template/spec/containers/env/valueFrom/configMapKeyRef/name",
            false,
        ),
        (
            "serving.knative.dev",
            "v1",
            "Service",
            "spec/template/spec/containers/envFrom/configMapRef/name",
            false,
        ),
    ]));
    let mut secret = pod_refs(
        &[
            "volumes/secret/secretName",
            "containers/env/valueFrom/secretKeyRef/name",
            "initContainers/env/valueFrom/secretKeyRef/name",
            "containers/envFrom/secretRef/name",
            "initContainers/envFrom/secretRef/name",
            "imagePullSecrets/name",
            "volumes/projected/sources/secret/name",
        ],
        &[],
    );
    secret.extend(table(&[
        ("", "", "Ingress", "spec/tls/secretName", false),
        (
            "",
            "",
            "Ingress",
            "metadata/annotations/ingress.kubernetes.io\\/auth-secret",
            false,
        ),
        (
            "",
            "",
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret",
            false,
        ),
        (
            "",
            "",
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret",
            false,
        ),
        ("", "", "ServiceAccount", "imagePullSecrets/name", false),
        ("", "", "StorageClass", "parameters/secretName", false),
        ("", "", "StorageClass", "parameters/adminSecretName", false),
        ("", "", "StorageClass", "parameters/userSecretName", false),
        ("", "", "StorageClass", "parameters/secretRef", false),
        ("", "", "Role", "rules/resourceNames", false),
        ("", "", "ClusterRole", "rules/resourceNames", false),
        (
            "serving.knative.dev",
            "v1",
            "Service",
            "spec/template/spec/containers/env/valueFrom/secretKeyRef/name",
            false,
        ),
        (
            "",
            "",
            "PersistentVolume",
            "spec/azureFile/secretName",
            false,
        ),
    ]));
    let mut service_account = table(&[
        (
            "rbac.authorization.k8s.io",
            "",
            "RoleBinding",
            "subjects",
            false,
        ),
        (
            "rbac.authorization.k8s.io",
            "",
            "ClusterRoleBinding",
            "subjects",
            false,
        ),
    ]);
    service_account.extend(owner_refs("serviceAccountName"));
    let mut storage_class = table(&[
        ("", "", "PersistentVolume", "spec/storageClassName", false),
        (
            "",
            "",
            "PersistentVolumeClaim",
            "spec/storageClassName",
            false,
        ),
        (
            "",
            "",
            "StatefulSet",
            "spec/volumeClaimTemplates/spec/storageClassName",
            false,
        ),
    ]);
    storage_class.dedup();
    let scale = |kind: &'static str| BackRef {
        group: "",
        version: "",
        kind,
        referrers: table(&[(
            "",
            "",
            "HorizontalPodAutoscaler",
            "spec/scaleTargetRef/name",
            false,
        )]),
    };
    vec![
        scale("Deployment"),
        scale("ReplicationController"),
        scale("ReplicaSet"),
        scale("StatefulSet"),
        BackRef {
            group: "",
            version: "v1",
            kind: "ConfigMap",
            referrers: config_map,
        },
        BackRef {
            group: "",
            version: "v1",
            kind: "Secret",
            referrers: secret,
        },
        BackRef {
            group: "",
            version: "v1",
            kind: "Service",
            referrers: table(&[
                ("apps", "", "StatefulSet", "spec/serviceName", false),
                (
                    "",
                    "",
                    "Ingress",
                    "spec/rules/http/paths/backend/serviceName",
                    false,
                ),
                ("", "", "Ingress", "spec/backend/serviceName", false),
                (
                    "",
                    "",
                    "Ingress",
                    "spec/rules/http/paths/backend/service/name",
                    false,
                ),
                ("", "", "Ingress", "spec/defaultBackend/service/name", false),
                (
                    "apiregistration.k8s.io",
                    "",
                    "APIService",
                    "spec/service/name",
                    false,
                ),
                (
                    "admissionregistration.k8s.io",
                    "",
                    "ValidatingWebhookConfiguration",
                    "webhooks/clientConfig/service",
                    false,
                ),
                (
                    "admissionregistration.k8s.io",
                    "",
                    "MutatingWebhookConfiguration",
                    "webhooks/clientConfig/service",
                    false,
                ),
            ]),
        },
        BackRef {
            group: "rbac.authorization.k8s.io",
            version: "",
            kind: "Role",
            referrers: table(&[(
                "rbac.authorization.k8s.io",
                "",
                "RoleBinding",
                "roleRef/name",
                false,
            )]),
        },
        BackRef {
            group: "rbac.authorization.k8s.io",
            version: "",
            kind: "ClusterRole",
            referrers: table(&[
                (
                    "rbac.authorization.k8s.io",
                    "",
                    "RoleBinding",
                    "roleRef/name",
                    false,
                ),
                (
                    "rbac.authorization.k8s.io",
                    "",
                    "ClusterRoleBinding",
                    "roleRef/name",
                    false,
                ),
            ]),
        },
        BackRef {
            group: "",
            version: "v1",
            kind: "ServiceAccount",
            referrers: service_account,
        },
        BackRef {
            group: "",
            version: "v1",
            kind: "PersistentVolumeClaim",
            referrers: owner_refs("volumes/persistentVolumeClaim/claimName"),
        },
        BackRef {
            group: "",
            version: "v1",
            kind: "PersistentVolume",
            referrers: table(&[
                ("", "", "PersistentVolumeClaim", "spec/volumeName", false),
                ("", "", "ClusterRole", "rules/resourceNames", false),
            ]),
        },
        BackRef {
            group: "storage.k8s.io",
            version: "v1",
            kind: "StorageClass",
            referrers: storage_class,
        },
        BackRef {
            group: "scheduling.k8s.io",
            version: "v1",
            kind: "PriorityClass",
            referrers: owner_refs("priorityClassName"),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn walk_steps_through_lists_and_creates_maps() {
        let mut v = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let segs: Vec<String> = ["spec", "containers", "name"].map(String::from).to_vec();
        let mut seen = Vec::new();
        walk(&mut v, &segs, false, None, &mut |n| {
            seen.push(n.clone());
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec![json!("a"), json!("b")]);

        let segs: Vec<String> = ["spec", "selector", "matchLabels"]
            .map(String::from)
            .to_vec();
        walk(&mut v, &segs, true, Some(&json!({})), &mut |n| {
            n["x"] = json!("y");
            Ok(())
        })
        .unwrap();
        assert_eq!(v["spec"]["selector"]["matchLabels"]["x"], "y");
    }

    #[test]
    fn escaped_slash_stays_in_one_segment() {
        let fs = FieldSpec::new("", "", "Ingress", "metadata/annotations/a.io\\/b", false);
        assert_eq!(fs.segments(), ["metadata", "annotations", "a.io/b"]);
    }
}
