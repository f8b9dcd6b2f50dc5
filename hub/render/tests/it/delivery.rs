//! The delivery generator over a project directory: targets, values precedence, HQ variables,
//! bindings, the repository layout and determinism.

use std::path::{Path, PathBuf};

use gatehouse_render::chart::RenderOptions;
use gatehouse_render::delivery::{DeliveryError, Target, dir};
use serde_json::Value as Json;

fn project_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/delivery/shop")
}

fn target(tenant: &str, env: &str, workload: &str) -> Target {
    Target {
        tenant: tenant.into(),
        environment: env.into(),
        workload: workload.into(),
    }
}

fn deployment(objects: &[Json]) -> &Json {
    objects.iter().find(|o| o["kind"] == "Deployment").unwrap()
}

#[test]
fn every_workload_renders_for_every_tenant_and_environment_and_bindings_where_bound() {
    let project = dir::load(&project_dir()).unwrap();
    let targets: Vec<String> = project.targets().iter().map(Target::dir).collect();
    assert_eq!(
        targets,
        [
            "tenants/acme/production/monitoring",
            "tenants/acme/production/web",
            "tenants/acme/staging/web",
            "tenants/globex/production/monitoring",
            "tenants/globex/production/web",
            "tenants/globex/staging/web",
        ]
    );
}

#[test]
fn values_layer_workload_environment_tenant_then_tenant_environment() {
    let project = dir::load(&project_dir()).unwrap();
    let base = RenderOptions::default();
    let replicas = |t: Target| {
        let rt = project.render(&t, &base).unwrap();
        let d = deployment(&rt.objects);
        (
            d["spec"]["replicas"].as_i64().unwrap(),
            d["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    };
    // workload 2, image 1.27.0
    assert_eq!(
        replicas(target("globex", "staging", "web")),
        (2, "nginx:1.27.0".into())
    );
    // environment beats workload
    assert_eq!(
        replicas(target("globex", "production", "web")),
        (3, "nginx:1.27.1".into())
    );
    // tenant beats environment
    assert_eq!(
        replicas(target("acme", "staging", "web")),
        (4, "nginx:1.27.0".into())
    );
    // tenant-environment beats all
    assert_eq!(
        replicas(target("acme", "production", "web")),
        (6, "nginx:1.27.1".into())
    );
}

#[test]
fn hq_variables_resolve_by_the_most_specific_scope() {
    let project = dir::load(&project_dir()).unwrap();
    let base = RenderOptions::default();
    let annotation = |t: Target| {
        let rt = project.render(&t, &base).unwrap();
        deployment(&rt.objects)["spec"]["template"]["metadata"]["annotations"]["database"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        annotation(target("globex", "staging", "web")),
        "db.shared.internal"
    );
    assert_eq!(
        annotation(target("globex", "production", "web")),
        "db.prod.internal"
    );
    assert_eq!(
        annotation(target("acme", "production", "web")),
        "db.acme-prod.internal"
    );
    let rt = project
        .render(&target("acme", "production", "monitoring"), &base)
        .unwrap();
    assert_eq!(
        rt.objects[0]["data"]["receiver"],
        "db.acme-prod.internal-oncall"
    );
    assert_eq!(
        rt.objects[0]["metadata"]["labels"]["app.kubernetes.io/part-of"],
        "monitoring"
    );
}

#[test]
fn an_unknown_variable_is_named_with_its_key_path() {
    let mut project = dir::load(&project_dir()).unwrap();
    project.variables.clear();
    let err = project
        .render(&target("acme", "staging", "web"), &RenderOptions::default())
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Variables { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "tenants/acme/staging/web: unknown HQ variable(s): DB_HOST (at podAnnotations.database)"
    );
}

#[test]
fn files_land_per_object_beside_an_argo_cd_application_and_are_byte_identical_across_runs() {
    let project = dir::load(&project_dir()).unwrap();
    let base = RenderOptions::default();
    let t = target("acme", "production", "web");
    let files = project.files(&project.render(&t, &base).unwrap());
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "argocd/production/acme-web.yaml",
            "tenants/acme/production/web/deployment-web-mychart.yaml",
            "tenants/acme/production/web/service-web-mychart.yaml",
            "tenants/acme/production/web/serviceaccount-web-mychart.yaml",
        ]
    );
    let app: Json = serde_saphyr::from_slice(&files["argocd/production/acme-web.yaml"]).unwrap();
    assert_eq!(app["spec"]["source"]["path"], "tenants/acme/production/web");
    assert_eq!(
        app["spec"]["source"]["repoURL"],
        "http://127.0.0.1:8080/git/acme/shop.git"
    );
    assert_eq!(app["spec"]["destination"]["name"], "prod-eu");
    assert_eq!(app["spec"]["destination"]["namespace"], "shop-acme");
    let again = project.files(&project.render(&t, &base).unwrap());
    assert_eq!(files, again);
}

#[test]
fn the_flux_adapter_writes_a_kustomization_and_its_source() {
    let mut project = dir::load(&project_dir()).unwrap();
    project.adapter = gatehouse_render::delivery::Adapter::Flux;
    let t = target("globex", "staging", "web");
    let files = project.files(&project.render(&t, &RenderOptions::default()).unwrap());
    let k: Json = serde_saphyr::from_slice(&files["flux/staging/globex-web.yaml"]).unwrap();
    assert_eq!(k["kind"], "Kustomization");
    assert_eq!(k["spec"]["path"], "./tenants/globex/staging/web");
    assert_eq!(k["spec"]["targetNamespace"], "shop-globex");
    assert_eq!(k["spec"]["sourceRef"]["name"], "gatehouse-shop");
    let source: Json = serde_saphyr::from_slice(&files["flux/staging/source.yaml"]).unwrap();
    assert_eq!(source["kind"], "GitRepository");
    assert_eq!(
        source["spec"]["url"],
        "http://127.0.0.1:8080/git/acme/shop.git"
    );
    assert!(!files.keys().any(|f| f.starts_with("argocd/")));
}

#[test]
fn a_manifest_bundle_binding_applies_its_files_with_the_overlay_laid_over_them() {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use gatehouse_render::delivery::{Binding, BindingKind};

    let mut project = dir::load(&project_dir()).unwrap();
    let files: BTreeMap<String, Vec<u8>> = [
        (
            "quota.yaml",
            "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: quota\nspec:\n  hard:\n    pods: \"10\"\n",
        ),
        (
            "limits.yaml",
            "apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: limits\nspec:\n  limits: []\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: owner\ndata:\n  db: \"{{hq.var.DB_HOST}}\"\n",
        ),
        ("README.md", "not a manifest"),
    ]
    .into_iter()
    .map(|(p, t)| (p.to_owned(), t.as_bytes().to_vec()))
    .collect();
    project.bindings.push(Binding {
        name: "guardrails".into(),
        kind: BindingKind::Manifests,
        files: Arc::new(files),
        tenants: vec!["globex".into()],
        environments: vec![],
        overlay: [(
            "quota.yaml".to_owned(),
            "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: quota\nspec:\n  hard:\n    pods: \"50\"\n".to_owned(),
        )]
        .into(),
    });
    let targets: Vec<String> = project
        .targets()
        .iter()
        .filter(|t| t.workload == "guardrails")
        .map(Target::dir)
        .collect();
    assert_eq!(
        targets,
        [
            "tenants/globex/production/guardrails",
            "tenants/globex/staging/guardrails"
        ]
    );
    let rt = project
        .render(
            &target("globex", "staging", "guardrails"),
            &RenderOptions::default(),
        )
        .unwrap();
    let kinds: Vec<&str> = rt
        .objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["ResourceQuota", "ConfigMap", "LimitRange"],
        "Kustomize's legacy order"
    );
    assert_eq!(
        rt.objects[0]["spec"]["hard"]["pods"], "50",
        "the overlay replaced the file"
    );
    assert_eq!(rt.objects[1]["data"]["db"], "db.shared.internal");
}
