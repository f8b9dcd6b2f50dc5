//! Bindings: where a policy set applies and how hard it bites.
//!
//! Enforcement is not written in policy text. A binding attaches a policy set (a Rego package,
//! or a package prefix such as `gatehouse.k8s`) to a scope selector in one [`Mode`]:
//! `enforce` blocks, `warn` allows and shows the finding, `audit` allows and records it. The same
//! policy can be enforced in production and warned about in staging (the seed's Scenario 4).
//!
//! When several bindings match one policy and action, the most specific scope wins (the one that
//! constrains more fields); between equally specific bindings the strictest mode wins, so an
//! ambiguous configuration errs towards blocking.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::action::{Action, ActionKind, Scope, ScopeSelector};

/// Enforcement mode.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Allows; the finding is recorded only.
    Audit,
    /// Allows; the finding is shown as a warning.
    Warn,
    /// Blocks.
    Enforce,
}

impl Mode {
    /// `enforce`, `warn` or `audit`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Warn => "warn",
            Mode::Audit => "audit",
        }
    }
}

/// How a policy sees `input`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InputMode {
    /// The whole action document, once.
    Action,
    /// Each rendered object in `subject.manifests`, one evaluation per object: the object itself
    /// with its pod spec (for pod-bearing kinds) as `spec`, the scope fields (`environment`,
    /// `tenant`, ...) at the top level, the original object as `object` and the action as `action`.
    Object,
}

impl InputMode {
    /// `action` or `object`.
    pub fn as_str(self) -> &'static str {
        match self {
            InputMode::Action => "action",
            InputMode::Object => "object",
        }
    }
}

/// One binding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    /// A package (`gatehouse.k8s.replicas`), a prefix (`gatehouse.k8s`) or `*` for every policy.
    pub policy: String,
    /// Enforcement mode.
    pub mode: Mode,
    /// Where it applies (absent: everywhere).
    #[serde(default)]
    pub scope: ScopeSelector,
    /// Restricts (and overrides) the action kinds the policy runs for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<ActionKind>,
    /// Overrides how the policy sees `input`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<InputMode>,
}

/// A set of bindings, usually `bindings.yaml` at the root of a bundle.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bindings {
    /// The bindings, in no particular order.
    #[serde(default)]
    pub bindings: Vec<Binding>,
}

impl Bindings {
    /// Every policy enforced everywhere: what applies when a bundle has no bindings.
    pub fn enforce_all() -> Bindings {
        Bindings {
            bindings: vec![Binding {
                policy: "*".into(),
                mode: Mode::Enforce,
                scope: ScopeSelector::default(),
                kinds: Vec::new(),
                input: None,
            }],
        }
    }

    /// Parses a bindings document (YAML or JSON).
    pub fn from_yaml(text: &str) -> Result<Bindings, String> {
        let bindings: Bindings = crate::yaml::from_str(text)?;
        for (i, b) in bindings.bindings.iter().enumerate() {
            if b.policy.trim().is_empty() {
                return Err(format!(
                    "bindings[{i}].policy must name a package, a package prefix or `*`"
                ));
            }
        }
        Ok(bindings)
    }

    /// The binding that governs `package` for `action`, if any.
    pub fn resolve(&self, package: &str, action: &Action) -> Option<&Binding> {
        self.bindings
            .iter()
            .filter(|b| covers(&b.policy, package))
            .filter(|b| b.kinds.is_empty() || b.kinds.contains(&action.kind))
            .filter(|b| selector_matches(&b.scope, &action.scope))
            .max_by_key(|b| (specificity(&b.scope), b.mode, b.policy.len()))
    }
}

fn covers(pattern: &str, package: &str) -> bool {
    pattern == "*"
        || pattern == package
        || (package.starts_with(pattern) && package.as_bytes().get(pattern.len()) == Some(&b'.'))
}

fn specificity(s: &ScopeSelector) -> usize {
    [
        &s.org,
        &s.project,
        &s.environment,
        &s.tenant,
        &s.workload,
        &s.cluster,
    ]
    .iter()
    .filter(|v| !v.is_empty() && !v.iter().any(|x| x == "*"))
    .count()
        + s.cluster_labels.len()
}

/// Whether a scope selector matches an action's scope: each listed field must contain the
/// action's value (`*` and shell-style `prod-*` globs allowed); absent or empty lists match all.
pub fn selector_matches(sel: &ScopeSelector, scope: &Scope) -> bool {
    let cluster = scope.cluster.as_ref();
    field(&sel.org, Some(&scope.org))
        && field(&sel.project, scope.project.as_ref())
        && field(&sel.environment, scope.environment.as_ref())
        && field(&sel.tenant, scope.tenant.as_ref())
        && field(&sel.workload, scope.workload.as_ref())
        && field(&sel.cluster, cluster.map(|c| &c.name))
        && labels(&sel.cluster_labels, cluster.map(|c| &c.labels))
}

fn field(allowed: &[String], value: Option<&String>) -> bool {
    if allowed.is_empty() || allowed.iter().any(|a| a == "*") {
        return true;
    }
    match value {
        Some(v) => allowed.iter().any(|a| glob_match(a, v)),
        None => false,
    }
}

fn labels(want: &BTreeMap<String, String>, have: Option<&BTreeMap<String, String>>) -> bool {
    want.iter()
        .all(|(k, v)| have.and_then(|h| h.get(k)) == Some(v))
}

/// Matches `*` (any run of characters, dots included) and `?` (one character); everything else
/// literally. Used for scope selectors and for `gatehouse check -n` namespace patterns.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0usize, 0usize, None::<usize>, 0usize);
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some(pi);
                mark = ti;
                pi += 1;
            }
            Some(c) if *c == '?' || Some(c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some(s) => {
                    pi = s + 1;
                    mark += 1;
                    ti = mark;
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|c| *c == '*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(env: &str) -> Action {
        Action::from_value(&serde_json::json!({
            "kind": "release.deploy",
            "actor": {"id": "u", "kind": "user"},
            "scope": {"org": "acme", "environment": env, "cluster": {"name": "eu-1", "labels": {"tier": "prod"}}},
            "subject": {"release": {"id": "r"}}
        }))
        .unwrap()
    }

    const SCENARIO_4: &str = "
bindings:
  - policy: gitopshq.workload
    mode: enforce
    scope: {environment: [production]}
  - policy: gitopshq.workload
    mode: warn
    scope: {environment: [staging]}
";

    #[test]
    fn scenario_4_enforces_in_production_and_warns_in_staging() {
        let b = Bindings::from_yaml(SCENARIO_4).unwrap();
        assert_eq!(
            b.resolve("gitopshq.workload", &action("production"))
                .map(|b| b.mode),
            Some(Mode::Enforce)
        );
        assert_eq!(
            b.resolve("gitopshq.workload", &action("staging"))
                .map(|b| b.mode),
            Some(Mode::Warn)
        );
        assert_eq!(b.resolve("gitopshq.workload", &action("dev")), None);
    }

    #[test]
    fn prefix_covers_subpackages_only_at_dot_boundaries() {
        assert!(covers("gatehouse.k8s", "gatehouse.k8s.replicas"));
        assert!(!covers("gatehouse.k8s", "gatehouse.k8sx.replicas"));
        assert!(covers("*", "anything"));
    }

    #[test]
    fn most_specific_binding_wins_then_strictest() {
        let b = Bindings::from_yaml(
            "bindings:
  - {policy: p, mode: enforce}
  - {policy: p, mode: audit, scope: {environment: [production]}}
  - {policy: p, mode: warn, scope: {environment: [production]}}
",
        )
        .unwrap();
        assert_eq!(
            b.resolve("p", &action("production")).map(|b| b.mode),
            Some(Mode::Warn)
        );
        assert_eq!(
            b.resolve("p", &action("dev")).map(|b| b.mode),
            Some(Mode::Enforce)
        );
    }

    #[test]
    fn cluster_labels_and_globs_match() {
        let b = Bindings::from_yaml(
            "bindings:
  - {policy: p, mode: enforce, scope: {environment: ['prod*'], cluster_labels: {tier: prod}}}
",
        )
        .unwrap();
        assert!(b.resolve("p", &action("production")).is_some());
        assert!(b.resolve("p", &action("staging")).is_none());
    }

    #[test]
    fn glob_semantics() {
        assert!(glob_match("*", ""));
        assert!(glob_match("prod-*", "prod-eu"));
        assert!(glob_match("p?od", "prod"));
        assert!(!glob_match("prod-*", "staging"));
        assert!(glob_match("*-eu-*", "prod-eu-1"));
    }

    #[test]
    fn unknown_fields_in_bindings_are_refused() {
        let err = Bindings::from_yaml("bindings:\n  - {policy: p, mode: enforce, scop: {}}\n")
            .unwrap_err();
        assert!(err.contains("scop"), "{err}");
        let err = Bindings::from_yaml("bindings:\n  - {policy: p, mode: block}\n").unwrap_err();
        assert!(err.contains("block"), "{err}");
    }
}
