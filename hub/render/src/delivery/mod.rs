//! The delivery generator: from a project (workloads, tenants, environments, values, HQ
//! variables) to the files of its hosted Git repository.
//!
//! Every workload is rendered for every tenant in every environment (a *target*). A target's
//! values are layered chart defaults < workload < environment < tenant < tenant-environment,
//! HQ variables are substituted, and the chart renders them. The rendered objects land under
//! `tenants/<tenant>/<environment>/<workload>/`, one file per object, deployed into the
//! namespace `<prefix>-<tenant>` (see [`Project::namespace`]), and the runtime
//! adapter's objects (an Argo CD `Application`, or a Flux `Kustomization` and its
//! `GitRepository`) land beside them, pointing at that directory.
//!
//! Nothing here decides: the caller puts each target's objects through the engine's render gate
//! before it commits anything.

pub mod dir;
pub mod variables;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value as Json, json};

use crate::chart::render::{Manifest, RenderError, Rendered};
use crate::chart::{RenderOptions, Renderer, values};
pub use variables::{Scope, Unresolved, Variable};

/// Which GitOps controller pulls the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Adapter {
    /// Argo CD `Application` objects under `argocd/<environment>/`.
    #[default]
    ArgoCd,
    /// Flux `Kustomization` objects (and a `GitRepository`) under `flux/<environment>/`.
    Flux,
}

/// An environment of the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// Name (`production`).
    pub name: String,
    /// The cluster Argo CD deploys to (`destination.name`); `in-cluster` when unknown.
    pub cluster: Option<String>,
    /// The namespace prefix of the project's objects there (default: the project's name).
    pub namespace: Option<String>,
}

/// A workload: a chart and its default values.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Name (the service; also the Helm release name).
    pub name: String,
    /// The parsed chart.
    pub chart: Arc<Renderer>,
    /// Default values for every environment and tenant.
    pub values: Json,
    /// Namespace prefix to deploy into, over the environment's.
    pub namespace: Option<String>,
}

/// What a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingKind {
    /// A Kustomize base: the files hold a `kustomization.yaml` at their root.
    Kustomize,
    /// A manifest bundle: plain YAML files (a `kustomization.yaml` among them, from the bundle or
    /// its overlay, is honoured).
    Manifests,
}

/// A Kustomize base or manifest bundle bound to tenant-environment pairs.
#[derive(Debug, Clone)]
pub struct Binding {
    /// Name (its directory beside the workloads').
    pub name: String,
    /// What it applies.
    pub kind: BindingKind,
    /// The base's or bundle's files, by path.
    pub files: Arc<BTreeMap<String, Vec<u8>>>,
    /// Tenants it applies to (empty: all).
    pub tenants: Vec<String>,
    /// Environments it applies to (empty: all).
    pub environments: Vec<String>,
    /// Overlay files laid over the source's (same path: replaced).
    pub overlay: BTreeMap<String, String>,
}

/// Values set for a workload at one level.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    /// The workload.
    pub workload: String,
    /// The environment, or every environment.
    pub environment: Option<String>,
    /// The tenant, or every tenant.
    pub tenant: Option<String>,
    /// The values.
    pub values: Json,
}

/// What the delivery generator needs to know about a project.
#[derive(Debug, Clone, Default)]
pub struct Project {
    /// Name.
    pub name: String,
    /// The URL Argo CD or Flux clone the hosted repository from.
    pub repo_url: String,
    /// The runtime adapter.
    pub adapter: Adapter,
    /// Environments.
    pub environments: Vec<Environment>,
    /// Tenant names.
    pub tenants: Vec<String>,
    /// Environments a tenant is restricted to (a tenant not listed, or listed with none, gets
    /// every environment).
    pub tenant_environments: BTreeMap<String, Vec<String>>,
    /// Workloads.
    pub workloads: Vec<Workload>,
    /// Values per level.
    pub levels: Vec<Level>,
    /// HQ variables.
    pub variables: Vec<Variable>,
    /// Kustomize and manifest bindings.
    pub bindings: Vec<Binding>,
}

/// One workload (or binding) for one tenant in one environment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    /// Tenant.
    pub tenant: String,
    /// Environment.
    pub environment: String,
    /// Workload, or binding.
    pub workload: String,
}

impl Target {
    /// The target's directory in the repository.
    pub fn dir(&self) -> String {
        format!(
            "tenants/{}/{}/{}",
            self.tenant, self.environment, self.workload
        )
    }

    /// The scope HQ variables are resolved for.
    pub fn scope(&self, project: &str) -> Scope {
        Scope {
            project: Some(project.to_owned()),
            environment: Some(self.environment.clone()),
            tenant: Some(self.tenant.clone()),
            service: Some(self.workload.clone()),
        }
    }
}

/// A target could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The target names something the project does not have.
    #[error("{0}")]
    Unknown(String),
    /// Values reference HQ variables that do not exist for the target.
    #[error("{target}: unknown HQ variable(s): {}", list(.unresolved))]
    Variables {
        /// Where.
        target: String,
        /// What is missing.
        unresolved: Vec<Unresolved>,
    },
    /// The chart did not render.
    #[error("{target}: {source}")]
    Render {
        /// Where.
        target: String,
        /// Why.
        #[source]
        source: Box<RenderError>,
    },
    /// The Kustomize base or manifest bundle did not build.
    #[error("{target}: {source}")]
    Build {
        /// Where.
        target: String,
        /// Why.
        #[source]
        source: Box<crate::kustomize::Error>,
    },
}

fn list(unresolved: &[Unresolved]) -> String {
    unresolved
        .iter()
        .map(|u| format!("{} (at {})", u.name, u.path))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A rendered target.
#[derive(Debug, Clone)]
pub struct RenderedTarget {
    /// Which.
    pub target: Target,
    /// The namespace it deploys into.
    pub namespace: String,
    /// The values it rendered with (layered, variables substituted; before chart defaults).
    pub values: Json,
    /// The chart's output.
    pub rendered: Rendered,
    /// The objects, parsed (what the render gate sees).
    pub objects: Vec<Json>,
}

impl Project {
    /// Every target, in a stable order (tenant, environment, workload): each workload for each
    /// tenant and environment, and each binding where it applies.
    pub fn targets(&self) -> Vec<Target> {
        let mut out = Vec::new();
        for tenant in &self.tenants {
            let only = self
                .tenant_environments
                .get(tenant)
                .filter(|e| !e.is_empty());
            for env in &self.environments {
                if only.is_some_and(|envs| !envs.contains(&env.name)) {
                    continue;
                }
                let target = |name: &str| Target {
                    tenant: tenant.clone(),
                    environment: env.name.clone(),
                    workload: name.to_owned(),
                };
                out.extend(self.workloads.iter().map(|w| target(&w.name)));
                out.extend(
                    self.bindings
                        .iter()
                        .filter(|b| b.tenants.is_empty() || b.tenants.contains(tenant))
                        .filter(|b| b.environments.is_empty() || b.environments.contains(&env.name))
                        .map(|b| target(&b.name)),
                );
            }
        }
        out.sort();
        out.dedup();
        out
    }

    fn workload(&self, name: &str) -> Result<&Workload, DeliveryError> {
        self.workloads
            .iter()
            .find(|w| w.name == name)
            .ok_or_else(|| DeliveryError::Unknown(format!("the project has no workload {name:?}")))
    }

    /// A target's values: workload < environment < tenant < tenant-environment, with HQ
    /// variables substituted (chart defaults come under these when the chart renders).
    pub fn values(&self, target: &Target) -> Result<Json, DeliveryError> {
        let w = self.workload(&target.workload)?;
        let at = |env: bool, tenant: bool| {
            self.levels
                .iter()
                .filter(move |l| {
                    l.workload == target.workload
                        && l.environment.as_deref() == env.then_some(target.environment.as_str())
                        && l.tenant.as_deref() == tenant.then_some(target.tenant.as_str())
                })
                .map(|l| l.values.clone())
        };
        let mut layers = vec![w.values.clone()];
        layers.extend(at(true, false));
        layers.extend(at(false, true));
        layers.extend(at(true, true));
        let mut merged = values::layer(&layers);
        variables::substitute(&mut merged, &self.variables, &target.scope(&self.name)).map_err(
            |unresolved| DeliveryError::Variables {
                target: target.dir(),
                unresolved,
            },
        )?;
        Ok(merged)
    }

    /// Renders one target. `base` carries the release-wide options (clock, revision); the
    /// release name, namespace and seed are the target's.
    pub fn render(
        &self,
        target: &Target,
        base: &RenderOptions,
    ) -> Result<RenderedTarget, DeliveryError> {
        if let Some(b) = self.bindings.iter().find(|b| b.name == target.workload)
            && self.workloads.iter().all(|w| w.name != b.name)
        {
            return self.build_binding(b, target);
        }
        let w = self.workload(&target.workload)?;
        let values = self.values(target)?;
        let namespace = self.namespace(target, w.namespace.as_deref());
        let options = RenderOptions {
            release_name: target.workload.clone(),
            namespace: namespace.clone(),
            seed: seed(&self.name, target),
            ..base.clone()
        };
        let fail = |source| DeliveryError::Render {
            target: target.dir(),
            source: Box::new(source),
        };
        let rendered = w.chart.render(&values, &options).map_err(fail)?;
        let objects = rendered.objects();
        Ok(RenderedTarget {
            target: target.clone(),
            namespace,
            values,
            rendered,
            objects,
        })
    }

    /// The namespace a target deploys into: `<prefix>-<tenant>`, the prefix being the
    /// workload's, else the environment's, else the project's name; tenants never share one.
    pub fn namespace(&self, target: &Target, workload: Option<&str>) -> String {
        let env = self
            .environments
            .iter()
            .find(|e| e.name == target.environment)
            .and_then(|e| e.namespace.as_deref());
        let prefix = workload.or(env).unwrap_or(&self.name);
        format!("{prefix}-{}", target.tenant)
    }

    /// Builds a Kustomize base or manifest bundle for a target: the source's files with the
    /// overlay laid over them, HQ variables substituted in the resulting objects.
    fn build_binding(&self, b: &Binding, target: &Target) -> Result<RenderedTarget, DeliveryError> {
        let fail = |source| DeliveryError::Build {
            target: target.dir(),
            source: Box::new(source),
        };
        let mut src = crate::kustomize::MemSource::new();
        let mut paths: Vec<String> = Vec::new();
        for (path, bytes) in b.files.iter() {
            src.insert(path.clone(), bytes.clone());
            paths.push(path.clone());
        }
        for (path, text) in &b.overlay {
            src.insert(path.clone(), text.clone().into_bytes());
            paths.push(path.clone());
        }
        let has_kustomization = paths.iter().any(|p| {
            matches!(
                p.as_str(),
                "kustomization.yaml" | "kustomization.yml" | "Kustomization"
            )
        });
        if b.kind == BindingKind::Manifests && !has_kustomization {
            paths.sort();
            paths.dedup();
            let resources: Vec<Json> = paths
                .iter()
                .filter(|p| p.ends_with(".yaml") || p.ends_with(".yml") || p.ends_with(".json"))
                .map(|p| Json::String(p.clone()))
                .collect();
            let kustomization = json!({"resources": resources});
            src.insert("kustomization.yaml", kustomization.to_string().into_bytes());
        }
        let mut objects = crate::kustomize::build(&src, "").map_err(fail)?;
        let scope = target.scope(&self.name);
        for object in &mut objects {
            variables::substitute(object, &self.variables, &scope).map_err(|unresolved| {
                DeliveryError::Variables {
                    target: target.dir(),
                    unresolved,
                }
            })?;
        }
        let source = format!("{}/{}", b.name, "kustomization.yaml");
        let manifests = objects
            .iter()
            .map(|o| Manifest {
                source: source.clone(),
                content: crate::funcs::to_yaml_document(o),
                kind: o
                    .get("kind")
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                name: o
                    .pointer("/metadata/name")
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                hook: None,
                object: o.clone(),
            })
            .collect();
        Ok(RenderedTarget {
            target: target.clone(),
            namespace: self.namespace(target, None),
            values: Json::Object(Default::default()),
            rendered: Rendered {
                manifests,
                ..Rendered::default()
            },
            objects,
        })
    }

    /// The repository files of a rendered target: one file per object, plus the adapter's.
    pub fn files(&self, rt: &RenderedTarget) -> BTreeMap<String, Vec<u8>> {
        let mut files = BTreeMap::new();
        let dir = rt.target.dir();
        for (m, object) in rt.rendered.manifests.iter().zip(&rt.objects) {
            let mut name = file_name(object);
            let mut n = 2;
            while files.contains_key(&format!("{dir}/{name}")) {
                name = format!("{}-{n}.yaml", file_name(object).trim_end_matches(".yaml"));
                n += 1;
            }
            let mut text = format!("# Source: {}\n{}", m.source, m.content.trim_end());
            text.push('\n');
            files.insert(format!("{dir}/{name}"), text.into_bytes());
        }
        let env = self
            .environments
            .iter()
            .find(|e| e.name == rt.target.environment);
        let cluster = env.and_then(|e| e.cluster.clone());
        for (path, object) in self.adapter_objects(rt, cluster.as_deref()) {
            files.insert(path, crate::funcs::to_yaml_document(&object).into_bytes());
        }
        files
    }

    fn adapter_objects(&self, rt: &RenderedTarget, cluster: Option<&str>) -> Vec<(String, Json)> {
        let t = &rt.target;
        let name = format!(
            "{}-{}-{}-{}",
            self.name, t.tenant, t.environment, t.workload
        );
        let labels = json!({
            "app.kubernetes.io/managed-by": "gatehouse",
            "gatehouse.dev/project": self.name,
            "gatehouse.dev/tenant": t.tenant,
            "gatehouse.dev/environment": t.environment,
            "gatehouse.dev/workload": t.workload,
        });
        match self.adapter {
            Adapter::ArgoCd => vec![(
                format!("argocd/{}/{}-{}.yaml", t.environment, t.tenant, t.workload),
                json!({
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "Application",
                    "metadata": {"name": name, "namespace": "argocd", "labels": labels},
                    "spec": {
                        "project": "default",
                        "source": {"repoURL": self.repo_url, "targetRevision": "main", "path": t.dir()},
                        "destination": {"name": cluster.unwrap_or("in-cluster"), "namespace": rt.namespace},
                        "syncPolicy": {
                            "automated": {"prune": true, "selfHeal": true},
                            "syncOptions": ["CreateNamespace=true"],
                        },
                    },
                }),
            )],
            Adapter::Flux => vec![
                (
                    format!("flux/{}/{}-{}.yaml", t.environment, t.tenant, t.workload),
                    json!({
                        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                        "kind": "Kustomization",
                        "metadata": {"name": name, "namespace": "flux-system", "labels": labels},
                        "spec": {
                            "interval": "1m",
                            "path": format!("./{}", t.dir()),
                            "prune": true,
                            "targetNamespace": rt.namespace,
                            "sourceRef": {"kind": "GitRepository", "name": format!("gatehouse-{}", self.name)},
                        },
                    }),
                ),
                (
                    format!("flux/{}/source.yaml", t.environment),
                    json!({
                        "apiVersion": "source.toolkit.fluxcd.io/v1",
                        "kind": "GitRepository",
                        "metadata": {"name": format!("gatehouse-{}", self.name), "namespace": "flux-system"},
                        "spec": {
                            "interval": "1m",
                            "url": self.repo_url,
                            "ref": {"branch": "main"},
                            "secretRef": {"name": format!("gatehouse-{}-auth", self.name)},
                        },
                    }),
                ),
            ],
        }
    }
}

/// The file an object is written to: `<kind>-<name>.yaml`, lower-case.
fn file_name(object: &Json) -> String {
    let kind = object
        .get("kind")
        .and_then(Json::as_str)
        .unwrap_or("object");
    let name = object
        .pointer("/metadata/name")
        .and_then(Json::as_str)
        .unwrap_or("unnamed");
    let clean = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect::<String>()
    };
    format!("{}-{}.yaml", clean(kind), clean(name))
}

/// The seed of a target's random functions: the same target always draws the same numbers.
pub fn seed(project: &str, target: &Target) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [
        "gatehouse-render-seed",
        project,
        &target.tenant,
        &target.environment,
        &target.workload,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize().into()
}
