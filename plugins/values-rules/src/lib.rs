//! The values-rules plugin: constraints on Helm values per environment.
//!
//! Configuration: a list of `rules`, each optionally limited to `environments` and
//! `workloads`, with `required` keys (dotted paths that must keep a value), `forbidden` keys
//! (that must not be set) and per-key constraints under `keys` in JSON Schema's terms: `type`
//! (a name or a list of names), `enum`, `minimum`, `maximum`, `minLength`, `maxLength` and
//! `pattern`.
//!
//! What is checked: every value change of the release (`subject.release.changes[]`, in the
//! change's environment and workload, else the action's) and, when the action carries them,
//! the full values in `context.values` (in the action's environment and workload). Each
//! violation names the key path, the environment and the rule.

use gatehouse_plugin_sdk::{Finding, Json, PluginError, Request, Response, Severity, json};
use regex_lite::Regex;

gatehouse_plugin_sdk::export_plugin!(evaluate);

struct Rule {
    name: String,
    environments: Vec<String>,
    workloads: Vec<String>,
    required: Vec<String>,
    forbidden: Vec<String>,
    keys: Vec<(String, Constraint)>,
}

#[derive(Default)]
struct Constraint {
    types: Vec<String>,
    one_of: Option<Vec<Json>>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    pattern: Option<(String, Regex)>,
}

const TYPES: [&str; 7] = [
    "string", "integer", "number", "boolean", "object", "array", "null",
];

fn list(v: Option<&Json>, what: &str) -> Result<Vec<String>, PluginError> {
    match v {
        None | Some(Json::Null) => Ok(Vec::new()),
        Some(Json::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| PluginError::new(format!("{what} must list strings, not {x}")))
            })
            .collect(),
        Some(other) => Err(PluginError::new(format!(
            "{what} must be a list, not {other}"
        ))),
    }
}

fn rules(config: &Json) -> Result<Vec<Rule>, PluginError> {
    let mut out = Vec::new();
    let items = match config.get("rules") {
        None | Some(Json::Null) => return Ok(out),
        Some(Json::Array(items)) => items,
        Some(other) => {
            return Err(PluginError::new(format!(
                "config.rules must be a list, not {other}"
            )));
        }
    };
    for (i, r) in items.iter().enumerate() {
        let at = format!("config.rules[{i}]");
        let name = r
            .get("name")
            .and_then(Json::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("rule {}", i + 1));
        let mut keys = Vec::new();
        for (path, c) in r
            .get("keys")
            .and_then(Json::as_object)
            .into_iter()
            .flatten()
        {
            let at = format!("{at}.keys.{path}");
            let num = |k: &str| -> Result<Option<f64>, PluginError> {
                match c.get(k) {
                    None => Ok(None),
                    Some(v) => v
                        .as_f64()
                        .map(Some)
                        .ok_or_else(|| PluginError::new(format!("{at}.{k} must be a number"))),
                }
            };
            let types = match c.get("type") {
                None => Vec::new(),
                Some(Json::String(t)) => vec![t.clone()],
                Some(other) => list(Some(other), &format!("{at}.type"))?,
            };
            if let Some(t) = types.iter().find(|t| !TYPES.contains(&t.as_str())) {
                return Err(PluginError::new(format!(
                    "{at}.type '{t}' is not a JSON type (string, integer, number, boolean, object, array, null)"
                )));
            }
            let pattern = match c.get("pattern").and_then(Json::as_str) {
                None => None,
                Some(p) => Some((
                    p.to_owned(),
                    Regex::new(p).map_err(|e| {
                        PluginError::new(format!(
                            "{at}.pattern is not a valid regular expression: {e}"
                        ))
                    })?,
                )),
            };
            keys.push((
                path.clone(),
                Constraint {
                    types,
                    one_of: c.get("enum").and_then(Json::as_array).cloned(),
                    minimum: num("minimum")?,
                    maximum: num("maximum")?,
                    min_length: c.get("minLength").and_then(Json::as_u64),
                    max_length: c.get("maxLength").and_then(Json::as_u64),
                    pattern,
                },
            ));
        }
        out.push(Rule {
            name,
            environments: list(r.get("environments"), &format!("{at}.environments"))?,
            workloads: list(r.get("workloads"), &format!("{at}.workloads"))?,
            required: list(r.get("required"), &format!("{at}.required"))?,
            forbidden: list(r.get("forbidden"), &format!("{at}.forbidden"))?,
            keys,
        });
    }
    Ok(out)
}

fn type_of(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

impl Constraint {
    /// What is wrong with `v`, if anything.
    fn check(&self, v: &Json) -> Option<String> {
        let t = type_of(v);
        if !self.types.is_empty()
            && !self
                .types
                .iter()
                .any(|x| x == t || (x == "number" && t == "integer"))
        {
            return Some(format!(
                "is {v} ({t}), but must be {}",
                self.types.join(" or ")
            ));
        }
        if let Some(allowed) = &self.one_of
            && !allowed.contains(v)
        {
            let shown: Vec<String> = allowed.iter().map(Json::to_string).collect();
            return Some(format!("is {v}, but must be one of {}", shown.join(", ")));
        }
        if let Some(n) = v.as_f64() {
            if let Some(min) = self.minimum.filter(|m| n < *m) {
                return Some(format!("is {v}, below the minimum of {min}"));
            }
            if let Some(max) = self.maximum.filter(|m| n > *m) {
                return Some(format!("is {v}, above the maximum of {max}"));
            }
        }
        if let Some(s) = v.as_str() {
            let len = s.chars().count() as u64;
            if let Some(min) = self.min_length.filter(|m| len < *m) {
                return Some(format!("is {v}, shorter than {min} characters"));
            }
            if let Some(max) = self.max_length.filter(|m| len > *m) {
                return Some(format!("is {v}, longer than {max} characters"));
            }
            if let Some((p, re)) = &self.pattern
                && !re.is_match(s)
            {
                return Some(format!("is {v}, which does not match the pattern {p}"));
            }
        }
        None
    }
}

/// The value at a dotted path.
fn lookup<'a>(values: &'a Json, path: &str) -> Option<&'a Json> {
    path.split('.').try_fold(values, |v, k| v.get(k))
}

/// One set of values or one change to check, where it applies.
struct Target<'a> {
    environment: Option<&'a str>,
    workload: Option<&'a str>,
    what: Kind<'a>,
}

enum Kind<'a> {
    /// A change of one key: its value after (None when removed).
    Change {
        path: &'a str,
        after: Option<&'a Json>,
    },
    /// Full values.
    Values(&'a Json),
}

fn applies(rule: &Rule, t: &Target<'_>) -> bool {
    let ok = |list: &[String], v: Option<&str>| {
        list.is_empty() || v.is_some_and(|v| list.iter().any(|x| x == v))
    };
    ok(&rule.environments, t.environment) && ok(&rule.workloads, t.workload)
}

/// Decides an action's Helm values.
pub fn evaluate(request: &Request) -> Result<Response, PluginError> {
    let rules = rules(&request.config)?;
    let action = &request.action;
    let str_at = |p: &str| action.pointer(p).and_then(Json::as_str);
    let (env, workload) = (str_at("/scope/environment"), str_at("/scope/workload"));
    let mut targets = Vec::new();
    for c in action
        .pointer("/subject/release/changes")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        let Some(path) = c.get("path").and_then(Json::as_str) else {
            continue;
        };
        targets.push(Target {
            environment: c.get("environment").and_then(Json::as_str).or(env),
            workload: c.get("workload").and_then(Json::as_str).or(workload),
            what: Kind::Change {
                path,
                after: c.get("after"),
            },
        });
    }
    if let Some(values) = action.pointer("/context/values").filter(|v| v.is_object()) {
        targets.push(Target {
            environment: env,
            workload,
            what: Kind::Values(values),
        });
    }
    let mut response = Response::default();
    let mut push = |rule: &Rule, t: &Target<'_>, key: &str, problem: String| {
        let place = match (t.workload, t.environment) {
            (Some(w), Some(e)) => format!(" of {w} in {e}"),
            (None, Some(e)) => format!(" in {e}"),
            (Some(w), None) => format!(" of {w}"),
            (None, None) => String::new(),
        };
        let finding = Finding::new(format!("Helm value {key}{place} {problem} (values rule '{}').", rule.name))
            .severity(Severity::High)
            .details(json!({"key": key, "rule": rule.name, "environment": t.environment, "workload": t.workload}));
        if !response.violations.contains(&finding) {
            response.violations.push(finding);
        }
    };
    for t in &targets {
        for rule in rules.iter().filter(|r| applies(r, t)) {
            match &t.what {
                Kind::Change { path, after } => {
                    if rule.forbidden.iter().any(|k| k == path) && after.is_some() {
                        push(
                            rule,
                            t,
                            path,
                            "is set, but it is forbidden here; remove it".into(),
                        );
                    }
                    if rule.required.iter().any(|k| k == path) && after.is_none_or(Json::is_null) {
                        push(
                            rule,
                            t,
                            path,
                            "is removed, but it is required here; keep a value".into(),
                        );
                    }
                    for (key, c) in &rule.keys {
                        if key == path
                            && let Some(problem) = after.and_then(|a| c.check(a))
                        {
                            push(rule, t, key, problem);
                        }
                    }
                }
                Kind::Values(values) => {
                    for key in &rule.required {
                        if lookup(values, key).is_none_or(Json::is_null) {
                            push(
                                rule,
                                t,
                                key,
                                "is missing, but it is required here; set it".into(),
                            );
                        }
                    }
                    for key in &rule.forbidden {
                        if lookup(values, key).is_some() {
                            push(
                                rule,
                                t,
                                key,
                                "is set, but it is forbidden here; remove it".into(),
                            );
                        }
                    }
                    for (key, c) in &rule.keys {
                        if let Some(problem) = lookup(values, key).and_then(|v| c.check(v)) {
                            push(rule, t, key, problem);
                        }
                    }
                }
            }
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Json {
        json!({"rules": [{
            "name": "prod-values",
            "environments": ["production"],
            "required": ["image.tag", "resources.limits.memory"],
            "forbidden": ["debug"],
            "keys": {
                "replicaCount": {"type": "integer", "minimum": 2, "maximum": 20},
                "image.tag": {"type": "string", "pattern": "^v?[0-9]+\\.[0-9]+\\.[0-9]+$"},
                "service.type": {"enum": ["ClusterIP", "LoadBalancer"]},
                "name": {"type": "string", "minLength": 3, "maxLength": 8}
            }
        }]})
    }

    fn msgs(action: Json, config: Json) -> Vec<String> {
        evaluate(&Request { action, config })
            .unwrap()
            .violations
            .into_iter()
            .map(|v| v.msg)
            .collect()
    }

    fn change(path: &str, after: Option<Json>) -> Json {
        let mut c = json!({"workload": "checkout", "path": path});
        if let Some(a) = after {
            c["after"] = a;
        }
        json!({"scope": {"environment": "production"}, "subject": {"release": {"changes": [c]}}})
    }

    #[test]
    fn changes_are_checked_and_name_the_key() {
        assert_eq!(
            msgs(change("replicaCount", Some(json!(1))), config()),
            [
                "Helm value replicaCount of checkout in production is 1, below the minimum of 2 (values rule 'prod-values')."
            ]
        );
        assert_eq!(
            msgs(change("image.tag", Some(json!("latest"))), config()),
            [
                "Helm value image.tag of checkout in production is \"latest\", which does not match the pattern ^v?[0-9]+\\.[0-9]+\\.[0-9]+$ (values rule 'prod-values')."
            ]
        );
        assert!(msgs(change("image.tag", Some(json!("1.4.2"))), config()).is_empty());
        assert!(
            msgs(change("image.tag", None), config())[0]
                .contains("is removed, but it is required here")
        );
        assert!(
            msgs(change("debug", Some(json!(true))), config())[0]
                .contains("is set, but it is forbidden here")
        );
        assert!(
            msgs(change("replicaCount", Some(json!("3"))), config())[0]
                .contains("is \"3\" (string), but must be integer")
        );
        assert!(
            msgs(change("service.type", Some(json!("NodePort"))), config())[0]
                .contains("must be one of \"ClusterIP\", \"LoadBalancer\"")
        );
        assert!(
            msgs(change("name", Some(json!("ab"))), config())[0]
                .contains("shorter than 3 characters")
        );
    }

    #[test]
    fn rules_apply_per_environment() {
        let mut staging = change("replicaCount", Some(json!(1)));
        staging["scope"]["environment"] = json!("staging");
        assert!(msgs(staging, config()).is_empty());
    }

    #[test]
    fn full_values_are_checked() {
        let action = json!({"scope": {"environment": "production"}, "context": {"values": {
            "image": {"tag": "v1.2.3"}, "replicaCount": 30, "debug": false}}});
        let got = msgs(action, config());
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(
            got.iter()
                .any(|m| m
                    .starts_with("Helm value resources.limits.memory in production is missing"))
        );
        assert!(got.iter().any(|m| m.contains("above the maximum of 20")));
        assert!(
            got.iter()
                .any(|m| m.starts_with("Helm value debug in production is set"))
        );
    }

    #[test]
    fn bad_configuration_is_an_error_naming_the_place() {
        let bad = json!({"rules": [{"keys": {"a": {"pattern": "("}}}]});
        let e = evaluate(&Request {
            action: json!({}),
            config: bad,
        })
        .unwrap_err();
        assert!(
            e.0.starts_with("config.rules[0].keys.a.pattern is not a valid regular expression"),
            "{e}"
        );
        let bad = json!({"rules": [{"keys": {"a": {"type": "text"}}}]});
        assert!(
            evaluate(&Request {
                action: json!({}),
                config: bad
            })
            .unwrap_err()
            .0
            .contains("is not a JSON type")
        );
        assert!(msgs(json!({}), json!({})).is_empty());
    }
}
