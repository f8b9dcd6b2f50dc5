//! Examples, one click away: a first policy to play with, the seed's Scenario 4 as written, and
//! every policy of the built-in library with the helpers it imports, its tests, the library's
//! default data and an action that exercises it.
//!
//! The library examples are built from the files embedded in `gatehouse-policies`, so they
//! always match the policies the hub runs.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value as Json;

use crate::evaluate::{Mode, SourceFile, Workspace};

/// An example: a whole page state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Example {
    /// Stable id, used in links (`#example=ID`).
    pub id: String,
    /// Menu group.
    pub group: &'static str,
    /// Menu title.
    pub title: String,
    /// One sentence on what it shows.
    pub description: String,
    /// Policies, input and data.
    #[serde(flatten)]
    pub workspace: Workspace,
    /// Query or decision.
    pub mode: Mode,
    /// The query (also offered in decision mode).
    pub query: String,
    /// The action kind for decision mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

const FIRST_POLICY: &str = r#"package example

# Containers must declare resource limits, and must not run from a `:latest` image.
# Edit the input on the right, press Ctrl+Enter, and watch the result and the
# coverage (green: evaluated, red: never reached).

deny contains msg if {
	some container in input.spec.containers
	not container.resources.limits
	msg := sprintf("container %q has no resource limits", [container.name])
}

deny contains msg if {
	some container in input.spec.containers
	endswith(container.image, ":latest")
	msg := sprintf("container %q uses a :latest image; pin a version", [container.name])
}

allow if count(deny) == 0
"#;

const FIRST_TEST: &str = r#"package example_test

import data.example

test_limits_required if {
	example.deny["container \"app\" has no resource limits"] with input as {"spec": {"containers": [{"name": "app", "image": "shop/app:1.0"}]}}
}

test_pinned_with_limits_is_allowed if {
	example.allow with input as {"spec": {"containers": [{"name": "app", "image": "shop/app:1.0", "resources": {"limits": {"cpu": "1"}}}]}}
}
"#;

const FIRST_INPUT: &str = r#"{
  "spec": {
    "containers": [
      {"name": "app", "image": "shop/checkout:latest"},
      {"name": "sidecar", "image": "envoy:1.31", "resources": {"limits": {"cpu": "200m"}}}
    ]
  }
}
"#;

const SCENARIO_4: &str = include_str!("../../tests/fixtures/seed/scenario-4-workload.rego");

const SCENARIO_4_BINDINGS: &str = "# Scenario 4: enforced in production, only a warning in staging.
bindings:
  - policy: gitopshq.workload
    mode: enforce
    scope: {environment: [production]}
  - policy: gitopshq.workload
    mode: warn
    scope: {environment: [staging]}
";

const SCENARIO_4_ACTION: &str = r#"{
  "version": 1,
  "kind": "render",
  "actor": {"id": "u-dev", "kind": "user", "teams": ["shop"]},
  "scope": {"org": "acme", "project": "shop", "environment": "production"},
  "subject": {
    "manifests": [
      {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {
          "replicas": 3,
          "template": {
            "spec": {
              "containers": [
                {"name": "app", "image": "shop/checkout:2.1.0"},
                {"name": "proxy", "image": "envoy:1.31", "resources": {"limits": {"cpu": "200m", "memory": "128Mi"}}}
              ]
            }
          }
        }
      }
    ]
  }
}
"#;

const ACTION_VIOLATIONS: &str =
    include_str!("../../tests/fixtures/actions/release-deploy-violations.json");
const ACTION_FROZEN: &str = include_str!("../../tests/fixtures/actions/release-deploy-frozen.json");
const ACTION_PENDING: &str =
    include_str!("../../tests/fixtures/actions/release-deploy-pending.json");
const ACTION_BREAKGLASS: &str =
    include_str!("../../tests/fixtures/actions/breakglass-open-invalid.json");

fn file(name: &str, content: &str, v0: bool) -> SourceFile {
    SourceFile {
        name: name.to_owned(),
        content: content.to_owned(),
        v0,
    }
}

/// Every example, in menu order.
pub fn all() -> Vec<Example> {
    let mut out = vec![
        Example {
            id: "first-policy".into(),
            group: "Start here",
            title: "A first policy".into(),
            description: "Two deny rules over a pod spec, with tests: evaluate, test and see \
                          the coverage."
                .into(),
            workspace: Workspace {
                files: vec![
                    file("policy.rego", FIRST_POLICY, false),
                    file("policy_test.rego", FIRST_TEST, false),
                ],
                input: FIRST_INPUT.into(),
                data: String::new(),
            },
            mode: Mode::Query,
            query: "data.example.deny".into(),
            kind: None,
        },
        Example {
            id: "seed-scenario-4".into(),
            group: "Seed scenarios",
            title: "Scenario 4: production containers must have limits".into(),
            description: "The seed's Rego v0 policy as written, bound in enforce mode to \
                          production and warn mode to staging, deciding a render."
                .into(),
            workspace: Workspace {
                files: vec![
                    file("workload.rego", SCENARIO_4, true),
                    file("bindings.yaml", SCENARIO_4_BINDINGS, false),
                ],
                input: SCENARIO_4_ACTION.into(),
                data: String::new(),
            },
            mode: Mode::Decision,
            query: "data.gitopshq.workload.deny".into(),
            kind: Some("render".into()),
        },
    ];
    out.extend(library());
    out
}

/// One example per policy of the built-in library.
fn library() -> Vec<Example> {
    let files: Vec<(&str, &str)> = gatehouse_policies::files(true)
        .filter_map(|(path, bytes)| Some((path, std::str::from_utf8(bytes).ok()?)))
        .collect();
    let data = files
        .iter()
        .find(|(p, _)| *p == "data.yaml")
        .and_then(|(_, text)| gatehouse_engine::yaml_from_str::<Json>(text).ok())
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_default();
    let bindings = files
        .iter()
        .find(|(p, _)| *p == "bindings.yaml")
        .map(|(_, t)| *t)
        .unwrap_or_default();
    let mut out = Vec::new();
    for (path, source) in &files {
        let Some(stem) = path.strip_suffix(".rego") else {
            continue;
        };
        if stem.ends_with("_test") || path.starts_with("lib/") {
            continue;
        }
        let Some(package) = gatehouse_engine::bundle::package_name(source) else {
            continue;
        };
        let package = package.strip_prefix("data.").unwrap_or(&package).to_owned();
        let mut chosen: Vec<SourceFile> = vec![file(path, source, false)];
        let mut queue: Vec<&str> = vec![source];
        let test = format!("{stem}_test.rego");
        if let Some((p, t)) = files.iter().find(|(p, _)| *p == test) {
            chosen.push(file(p, t, false));
            queue.push(t);
        }
        // The lib/ helpers it and its tests use, and the ones those use.
        let mut needed: BTreeSet<String> = BTreeSet::new();
        while let Some(text) = queue.pop() {
            for helper in lib_references(text) {
                let helper_path = format!("lib/{helper}.rego");
                if needed.insert(helper_path.clone())
                    && let Some((_, t)) = files.iter().find(|(p, _)| *p == helper_path)
                {
                    queue.push(t);
                }
            }
        }
        for helper in &needed {
            if let Some((p, t)) = files.iter().find(|(p, _)| p == helper) {
                chosen.push(file(p, t, false));
            }
        }
        let own_bindings = bindings_for(bindings, &package);
        if !own_bindings.is_empty() {
            chosen.push(file("bindings.yaml", &own_bindings, false));
        }
        let action = match package.as_str() {
            "gatehouse.governance.freeze" => ACTION_FROZEN,
            "gatehouse.governance.approvals" => ACTION_PENDING,
            "gatehouse.governance.breakglass" => ACTION_BREAKGLASS,
            _ => ACTION_VIOLATIONS,
        };
        let action = if package == "gatehouse.k8s.required_labels" {
            without_instance_label(action)
        } else {
            action.to_owned()
        };
        let data = if package == "gatehouse.release.values" {
            with_example_values_rules(&data)
        } else {
            data.clone()
        };
        let kind = serde_json::from_str::<Json>(&action)
            .ok()
            .and_then(|a| a.get("kind").and_then(Json::as_str).map(str::to_owned));
        let short = package.strip_prefix("gatehouse.").unwrap_or(&package);
        out.push(Example {
            id: format!("library-{}", short.replace('.', "-")),
            group: "Built-in library",
            title: short.to_owned(),
            description: first_comment(source)
                .unwrap_or_else(|| format!("The built-in policy {package}.")),
            workspace: Workspace {
                files: chosen,
                input: action,
                data,
            },
            mode: Mode::Decision,
            query: format!("data.{package}"),
            kind,
        });
    }
    out
}

/// The library's data with a production values rule set, which ships empty, for the values
/// policy: the release fixture's `image.tag: latest` and `replicas: 1` break it.
fn with_example_values_rules(data: &str) -> String {
    let Ok(mut value) = serde_json::from_str::<Json>(data) else {
        return data.to_owned();
    };
    if let Some(Json::Object(config)) = value.pointer_mut("/gatehouse/config") {
        config.insert(
            "values_rules".into(),
            serde_json::json!([{
                "name": "production-values",
                "environments": ["production"],
                "required": ["image.tag"],
                "forbidden": ["debug"],
                "keys": {
                    "replicas": {"type": "integer", "minimum": 2},
                    "image.tag": {"type": "string", "pattern": "^v?[0-9]+\\.[0-9]+\\.[0-9]+$"}
                }
            }]),
        );
    }
    serde_json::to_string_pretty(&value).unwrap_or_else(|_| data.to_owned())
}

/// The release fixture with one object missing its instance label, for the labels policy.
fn without_instance_label(action: &str) -> String {
    let Ok(mut value) = serde_json::from_str::<Json>(action) else {
        return action.to_owned();
    };
    if let Some(Json::Object(labels)) = value.pointer_mut("/subject/manifests/1/metadata/labels") {
        labels.remove("app.kubernetes.io/instance");
    }
    serde_json::to_string_pretty(&value).map_or_else(|_| action.to_owned(), |t| t + "\n")
}

/// `clock`, `k8s`, ... for every `data.gatehouse.lib.NAME` a module mentions.
fn lib_references(text: &str) -> BTreeSet<String> {
    const PREFIX: &str = "data.gatehouse.lib.";
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find(PREFIX) {
        rest = rest.get(i + PREFIX.len()..).unwrap_or_default();
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

/// The library's bindings for one package, as a bindings.yaml of their own.
fn bindings_for(bindings: &str, package: &str) -> String {
    let mut out = String::new();
    let mut keep = false;
    for line in bindings.lines() {
        if let Some(policy) = line.trim_start().strip_prefix("- policy:") {
            keep = policy.trim() == package;
        } else if !line.starts_with("    ") {
            keep = false;
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    if out.is_empty() {
        out
    } else {
        format!("# The built-in library's bindings for {package}.\nbindings:\n{out}")
    }
}

/// The first comment block of a module (its METADATA title or leading comment), as one line.
fn first_comment(source: &str) -> Option<String> {
    let text: Vec<&str> = source
        .lines()
        .skip_while(|l| !l.starts_with('#'))
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim())
        .filter(|l| !l.is_empty() && *l != "METADATA" && !l.ends_with(':'))
        .collect();
    let title = text
        .iter()
        .find_map(|l| l.strip_prefix("title:").map(str::trim))
        .map(str::to_owned);
    let description = text
        .iter()
        .find_map(|l| l.strip_prefix("description:").map(str::trim))
        .map(str::to_owned);
    title
        .or(description)
        .or_else(|| (!text.is_empty()).then(|| text.join(" ")))
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_library_policy_has_an_example_with_its_helpers() {
        let examples = all();
        let limits = examples
            .iter()
            .find(|e| e.id == "library-k8s-resource_limits")
            .expect("resource limits example");
        let names: Vec<&str> = limits
            .workspace
            .files
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert!(names.contains(&"k8s/resource_limits.rego"), "{names:?}");
        assert!(
            names.contains(&"k8s/resource_limits_test.rego"),
            "{names:?}"
        );
        assert!(names.contains(&"lib/k8s.rego"), "{names:?}");
        assert!(names.contains(&"bindings.yaml"), "{names:?}");
        let ids: BTreeSet<&str> = examples.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), examples.len(), "ids are unique");
        assert!(examples.len() >= 10, "{}", examples.len());
    }

    #[test]
    fn bindings_are_cut_to_one_package() {
        let text = "bindings:\n  - policy: a.b\n    mode: enforce\n    scope: {environment: [production]}\n  - policy: c\n    mode: warn\n";
        let own = bindings_for(text, "a.b");
        assert!(
            own.contains("policy: a.b") && own.contains("production"),
            "{own}"
        );
        assert!(!own.contains("policy: c"), "{own}");
        assert_eq!(bindings_for(text, "zzz"), "");
    }
}
