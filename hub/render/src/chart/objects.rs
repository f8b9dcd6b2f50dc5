//! The objects charts call methods on: `.Files` and `.Capabilities`.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use base64::Engine as _;

use crate::value::{Map, Object, Value};

/// The Kubernetes version templates see by default (`.Capabilities.KubeVersion`), the one
/// Helm v4.2 reports without a cluster.
pub const DEFAULT_KUBE_VERSION: &str = "v1.36.0";

/// The API versions Helm v4.2 reports without a cluster (`.Capabilities.APIVersions`).
pub const DEFAULT_API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1alpha1",
    "admissionregistration.k8s.io/v1beta1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta1",
    "apps/v1beta2",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1alpha1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1beta1",
    "certificates.k8s.io/v1alpha1",
    "coordination.k8s.io/v1alpha2",
    "coordination.k8s.io/v1beta1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1alpha1",
    "node.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "resource.k8s.io/v1",
    "resource.k8s.io/v1beta2",
    "resource.k8s.io/v1beta1",
    "resource.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1alpha2",
    "scheduling.k8s.io/v1beta1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1alpha1",
    "storagemigration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1",
];

/// `.Files`: a chart's non-template files (or a subset from `.Files.Glob`).
#[derive(Debug, Clone)]
pub struct Files(pub Arc<BTreeMap<String, Arc<[u8]>>>);

impl Files {
    fn text(&self, path: &str) -> Option<String> {
        self.0
            .get(path)
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
    }

    fn by_base_name(&self, f: impl Fn(&[u8]) -> Value) -> Value {
        let map = Map::new();
        for (path, bytes) in self.0.iter() {
            let base = path.rsplit('/').next().unwrap_or(path);
            map.insert(base, f(bytes));
        }
        Value::Map(map)
    }
}

fn one_string<'a>(method: &str, args: &'a [Value]) -> Result<&'a str, String> {
    match args {
        [Value::Str(s)] => Ok(s),
        [other] => Err(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        )),
        _ => Err(format!(
            "wrong number of args for {method}: want 1 got {}",
            args.len()
        )),
    }
}

impl Object for Files {
    fn type_name(&self) -> &str {
        "chart.Files"
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "AsConfig" => Some(Value::str(crate::funcs::to_yaml(
                &self.by_base_name(|b| Value::str(String::from_utf8_lossy(b))),
            ))),
            "AsSecrets" => Some(Value::str(crate::funcs::to_yaml(&self.by_base_name(|b| {
                Value::str(base64::engine::general_purpose::STANDARD.encode(b))
            })))),
            _ => None,
        }
    }

    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        Some(match name {
            "Get" => one_string(name, args).map(|p| Value::str(self.text(p).unwrap_or_default())),
            "GetBytes" => one_string(name, args).map(|p| {
                Value::from(
                    self.0
                        .get(p)
                        .map(|b| {
                            b.iter()
                                .map(|x| Value::Int(i64::from(*x)))
                                .collect::<Vec<_>>()
                        })
                        .unwrap_or_default(),
                )
            }),
            "Lines" => one_string(name, args).map(|p| match self.text(p) {
                None => Value::from(Vec::new()),
                Some(text) => {
                    let text = text.strip_suffix('\n').unwrap_or(&text);
                    Value::from(text.split('\n').map(Value::str).collect::<Vec<_>>())
                }
            }),
            "Glob" => one_string(name, args).and_then(|pattern| {
                let glob = globset::GlobBuilder::new(pattern)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| format!("bad glob pattern {pattern:?}: {e}"))?
                    .compile_matcher();
                let subset = self
                    .0
                    .iter()
                    .filter(|(path, _)| glob.is_match(path.as_str()))
                    .map(|(p, b)| (p.clone(), b.clone()))
                    .collect();
                Ok(Value::Object(Rc::new(Files(Arc::new(subset)))))
            }),
            _ => return None,
        })
    }

    fn plain(&self) -> Value {
        // Go encodes the []byte contents as base64, and so does `toJson .Files`.
        let map = Map::new();
        for (path, bytes) in self.0.iter() {
            map.insert(
                path.clone(),
                Value::str(base64::engine::general_purpose::STANDARD.encode(bytes)),
            );
        }
        Value::Map(map)
    }
}

/// `.Capabilities.KubeVersion`.
#[derive(Debug, Clone)]
pub struct KubeVersion {
    /// `v1.36.0`.
    pub version: String,
}

impl KubeVersion {
    fn parts(&self) -> (String, String) {
        let v = self.version.trim_start_matches('v');
        let mut it = v.split('.');
        let major = it.next().unwrap_or_default().to_owned();
        let minor = it.next().unwrap_or_default().to_owned();
        (major, minor)
    }
}

impl Object for KubeVersion {
    fn type_name(&self) -> &str {
        "*common.KubeVersion"
    }

    fn field(&self, name: &str) -> Option<Value> {
        let (major, minor) = self.parts();
        match name {
            "Version" | "GitVersion" | "String" => Some(Value::str(&self.version)),
            "Major" => Some(Value::str(major)),
            "Minor" => Some(Value::str(minor)),
            _ => None,
        }
    }

    fn plain(&self) -> Value {
        Value::str(&self.version)
    }
}

/// `.Capabilities.APIVersions`.
#[derive(Debug, Clone)]
pub struct ApiVersions(pub Arc<Vec<String>>);

impl Object for ApiVersions {
    fn type_name(&self) -> &str {
        "common.VersionSet"
    }

    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        match name {
            "Has" => Some(
                one_string(name, args).map(|v| Value::Bool(self.0.iter().any(|have| have == v))),
            ),
            _ => None,
        }
    }

    fn plain(&self) -> Value {
        Value::from(self.0.iter().map(Value::str).collect::<Vec<_>>())
    }
}

/// `.Capabilities`.
pub fn capabilities(kube_version: &str, api_versions: &Arc<Vec<String>>) -> Value {
    let caps = Map::new();
    caps.insert(
        "KubeVersion",
        Value::Object(Rc::new(KubeVersion {
            version: kube_version.to_owned(),
        })),
    );
    caps.insert(
        "APIVersions",
        Value::Object(Rc::new(ApiVersions(api_versions.clone()))),
    );
    let helm = Map::new();
    helm.insert("version", Value::str("v4.2"));
    helm.insert("go_version", Value::str(""));
    helm.insert("kube_client_version", Value::str("v1.36"));
    caps.insert("HelmVersion", Value::Map(helm));
    Value::Map(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Files {
        let mut m: BTreeMap<String, Arc<[u8]>> = BTreeMap::new();
        m.insert("files/a.txt".into(), Arc::from(&b"hello\nworld\n"[..]));
        m.insert("files/sub/b.txt".into(), Arc::from(&b""[..]));
        m.insert("README.md".into(), Arc::from(&b"# x"[..]));
        Files(Arc::new(m))
    }

    #[test]
    fn get_lines_and_glob_behave_as_helm() {
        let f = files();
        let get = f
            .call("Get", &[Value::str("files/a.txt")])
            .unwrap()
            .unwrap();
        assert_eq!(get.go_string(), "hello\nworld\n");
        let missing = f.call("Get", &[Value::str("nope")]).unwrap().unwrap();
        assert_eq!(missing.go_string(), "");
        let lines = f
            .call("Lines", &[Value::str("files/a.txt")])
            .unwrap()
            .unwrap();
        assert_eq!(lines.go_string(), "[hello world]");
        let Value::Object(glob) = f.call("Glob", &[Value::str("files/*")]).unwrap().unwrap() else {
            panic!("Glob returns Files")
        };
        assert_eq!(
            glob.plain().go_string(),
            "map[files/a.txt:aGVsbG8Kd29ybGQK]"
        );
        assert!(f.call("Nope", &[]).is_none());
        assert!(f.call("Get", &[Value::Int(1)]).unwrap().is_err());
    }

    #[test]
    fn capabilities_answer_has_and_versions() {
        let caps = capabilities("v1.30.2", &Arc::new(vec!["apps/v1".to_owned()]));
        let caps = caps.as_map().unwrap();
        let Some(Value::Object(api)) = caps.get("APIVersions") else {
            panic!()
        };
        assert!(
            api.call("Has", &[Value::str("apps/v1")])
                .unwrap()
                .unwrap()
                .truthy()
        );
        assert!(
            !api.call("Has", &[Value::str("batch/v2")])
                .unwrap()
                .unwrap()
                .truthy()
        );
        let Some(Value::Object(kv)) = caps.get("KubeVersion") else {
            panic!()
        };
        assert_eq!(kv.field("Minor").unwrap().go_string(), "30");
        assert_eq!(kv.field("GitVersion").unwrap().go_string(), "v1.30.2");
    }
}
