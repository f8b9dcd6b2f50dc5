//! `gatehouse render`: the chart and project renders CI runs, and the render gate's exit codes.

use super::{gatehouse, k8s_schemas, root, stderr, stdout};

#[test]
fn a_chart_renders_as_helm_template_prints_it() {
    let out = gatehouse(&["render", "tests/fixtures/helm/charts/mychart"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected =
        std::fs::read_to_string(root().join("tests/fixtures/helm/expected/mychart-defaults.yaml"))
            .unwrap();
    assert_eq!(
        stdout(&out),
        expected.strip_suffix('\n').unwrap_or(&expected)
    );
}

#[test]
fn check_blocks_what_production_policies_refuse_and_names_policy_and_object() {
    // The default chart sets no resource limits and one replica: production refuses both.
    let out = gatehouse(&[
        "render",
        "tests/fixtures/helm/charts/mychart",
        "--name",
        "web",
        "--check",
        "--environment",
        "production",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("web (tests/fixtures/helm/charts/mychart): deny"),
        "{err}"
    );
    assert!(
        err.contains("[enforce] gatehouse.k8s.resource_limits Deployment/default/web-mychart"),
        "{err}"
    );
    assert!(err.contains("gatehouse.k8s.replicas"), "{err}");
    // Staging only warns about limits, and has no replica rule.
    let out = gatehouse(&[
        "render",
        "tests/fixtures/helm/charts/mychart",
        "--check",
        "--environment",
        "staging",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("[warn] gatehouse.k8s.resource_limits"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_project_directory_renders_to_repository_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = gatehouse(&[
        "render",
        "--project",
        "tests/fixtures/delivery/shop",
        "--out",
        dir.path().to_str().unwrap(),
        "--check",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for file in [
        "tenants/acme/production/web/deployment-web-mychart.yaml",
        "tenants/globex/staging/web/service-web-mychart.yaml",
        "tenants/acme/production/monitoring/configmap-alerts.yaml",
        "argocd/production/acme-web.yaml",
    ] {
        assert!(
            dir.path().join(file).is_file(),
            "{file} missing; {}",
            stderr(&out)
        );
    }
    let err = stderr(&out);
    assert!(err.contains("tenants/acme/production/web: allow"), "{err}");
}

#[test]
fn a_broken_chart_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("broken");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: broken\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/cm.yaml"),
        "a: {{ .Values.x | nosuchfunction }}\n",
    )
    .unwrap();
    let out = gatehouse(&["render", chart.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("broken/templates/cm.yaml:1"), "{err}");
    assert!(err.contains("nosuchfunction"), "{err}");
}

#[test]
fn schemas_validate_rendered_objects_naming_object_and_field() {
    let schemas = k8s_schemas();
    let out = gatehouse(&[
        "render",
        "tests/fixtures/helm/charts/mychart",
        "--schemas",
        &schemas,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("bad");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: bad\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(chart.join("values.yaml"), "port: \"8080\"\n").unwrap();
    std::fs::write(
        chart.join("templates/deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  selector: {matchLabels: {app: x}}\n  template:\n    metadata: {labels: {app: x}}\n    spec:\n      containers:\n        - name: app\n          image: nginx:1.27\n          ports:\n            - containerPort: {{ .Values.port | quote }}\n",
    )
    .unwrap();
    let out = gatehouse(&[
        "render",
        chart.to_str().unwrap(),
        "--name",
        "web",
        "--schemas",
        &schemas,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "web: invalid: Deployment/web: spec.template.spec.containers[0].ports[0].containerPort"
        ),
        "{err}"
    );
}
