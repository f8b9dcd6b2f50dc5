//! Evaluation: which rules run, how one document is checked, and how results are counted.
//!
//! A [`Plan`] is made once from the compiled policies: the namespaces selected by `-n` (globs)
//! or `--all-namespaces`, and in each the `deny`, `violation` and `warn` rules (with their
//! `_suffix` variants) and how many times each is defined. Checking a document is then a single
//! query over all selected rules of all namespaces, `with data.conftest.file` set to the file
//! being checked, on the engine's prepared interpreter; only when that query fails are
//! namespaces and then rules evaluated one by one, so a broken rule is named while the others
//! still report.
//!
//! Results are counted as conftest counts them: every message of a failing rule is a failure
//! (or warning), a rule with no messages is a success, a rule exempted by `exception` yields one
//! exception per matching entry and no failures, and rules defined several times count once
//! per definition, the definitions that produced nothing counting as successes.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use gatehouse_engine::binding::glob_match;
use gatehouse_engine::{Engine, Error};
use serde_json::{Value as Json, json};

use super::result::{Location, Message};

/// A namespace's rules, as the plan runs them.
#[derive(Debug, Clone)]
struct Namespace {
    name: String,
    rules: Vec<Rule>,
    /// Sum of the definitions of its decision rules (conftest's rule count).
    definitions: usize,
}

#[derive(Debug, Clone)]
struct Rule {
    name: String,
    warning: bool,
    /// The name without `deny_`/`violation_`/`warn_`, as `exception` lists it (empty for the
    /// bare rule).
    suffix: String,
}

/// What one document produced in one namespace.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Outcome {
    pub successes: usize,
    pub warnings: Vec<Message>,
    pub failures: Vec<Message>,
    pub exceptions: Vec<Message>,
}

/// The selected namespaces and their rules.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    namespaces: Vec<Namespace>,
    strict: bool,
}

/// `deny`, `violation` or `warn`, optionally followed by `_suffix` segments of letters and
/// digits (conftest's `^(deny|violation)(_[a-zA-Z0-9]+)*$` and `^warn(_[a-zA-Z0-9]+)*$`).
fn decision_rule(name: &str) -> Option<(bool, String)> {
    for (base, warning) in [("deny", false), ("violation", false), ("warn", true)] {
        let Some(rest) = name.strip_prefix(base) else {
            continue;
        };
        if rest.is_empty() {
            return Some((warning, String::new()));
        }
        let segments_ok = rest.strip_prefix('_').is_some_and(|r| {
            r.split('_')
                .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()))
        });
        if segments_ok {
            return Some((warning, rest.trim_start_matches('_').to_owned()));
        }
    }
    None
}

/// `data["a"]["b"]["rule"]` for a dotted package: safe for any spelling.
fn data_ref(package: &str, rule: &str) -> String {
    let mut s = String::from("data");
    for part in package.split('.').chain(std::iter::once(rule)) {
        s.push('[');
        s.push_str(&Json::String(part.to_owned()).to_string());
        s.push(']');
    }
    s
}

/// `[x | x := data...rule]`: an empty array when the rule is undefined, else its value.
fn collect(package: &str, rule: &str) -> String {
    format!("[x | x := {}]", data_ref(package, rule))
}

impl Plan {
    /// Selects namespaces and their rules. Refuses patterns that match no package and a
    /// selection without any decision rule, since checking against nothing would pass silently.
    pub(crate) fn new(
        engine: &Engine,
        patterns: &[String],
        all: bool,
        strict: bool,
    ) -> Result<Plan> {
        let mut packages: BTreeMap<String, Vec<(String, usize)>> = BTreeMap::new();
        for r in engine.rule_definitions() {
            packages
                .entry(r.package)
                .or_default()
                .push((r.name, r.count));
        }
        let mut selected: Vec<&str> = Vec::new();
        if all {
            selected.extend(packages.keys().map(String::as_str));
        } else {
            for pattern in patterns {
                let matches: Vec<&str> = packages
                    .keys()
                    .map(String::as_str)
                    .filter(|p| glob_match(pattern, p))
                    .collect();
                if matches.is_empty() {
                    let known: Vec<&str> = packages.keys().map(String::as_str).collect();
                    bail!(
                        "The namespace `{pattern}` matches no package in the policies (they define: {}). \
                         Pass a package name or glob with -n/--namespace, or use --all-namespaces.",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    );
                }
                for m in matches {
                    if !selected.contains(&m) {
                        selected.push(m);
                    }
                }
            }
        }
        let namespaces: Vec<Namespace> = selected
            .iter()
            .map(|name| {
                let mut rules = Vec::new();
                let mut definitions = 0;
                for (rule, count) in packages.get(*name).map(Vec::as_slice).unwrap_or_default() {
                    if let Some((warning, suffix)) = decision_rule(rule) {
                        definitions += count;
                        rules.push(Rule {
                            name: rule.clone(),
                            warning,
                            suffix,
                        });
                    }
                }
                Namespace {
                    name: (*name).to_owned(),
                    rules,
                    definitions,
                }
            })
            .collect();
        if namespaces.iter().all(|n| n.rules.is_empty()) {
            let names: Vec<&str> = namespaces.iter().map(|n| n.name.as_str()).collect();
            bail!(
                "The policies define no deny, violation or warn rules in {} {}, so there is nothing to check. \
                 Add a rule such as `deny contains msg if {{ ... }}`, or select the package that has them with -n/--namespace.",
                if names.len() == 1 {
                    "namespace"
                } else {
                    "namespaces"
                },
                names.join(", ")
            );
        }
        Ok(Plan { namespaces, strict })
    }

    /// The selected namespaces, in output order.
    pub(crate) fn namespaces(&self) -> impl Iterator<Item = &str> {
        self.namespaces.iter().map(|n| n.name.as_str())
    }

    /// Checks one document; one outcome per namespace, in [`Plan::namespaces`] order.
    pub(crate) fn check(&self, engine: &Engine, input: &Json, file: &Json) -> Vec<Outcome> {
        let with = format!(" with data.conftest.file as {file}");
        let all: Vec<String> = self.namespaces.iter().map(namespace_query).collect();
        let query = format!("[{}]{with}", all.join(", "));
        if let Ok(Some(Json::Array(per_namespace))) = run(engine, &query, input)
            && per_namespace.len() == self.namespaces.len()
        {
            return self
                .namespaces
                .iter()
                .zip(per_namespace)
                .map(|(ns, values)| self.count(ns, values_of(values), Vec::new()))
                .collect();
        }
        // Something failed: find out which namespace, then which rule.
        self.namespaces
            .iter()
            .map(|ns| {
                let query = format!("{}{with}", namespace_query(ns));
                if let Ok(Some(values)) = run(engine, &query, input) {
                    return self.count(ns, values_of(values), Vec::new());
                }
                let mut values = Vec::new();
                let mut errors = Vec::new();
                for rule in ns.rules.iter().map(|r| r.name.as_str()).chain(["exception"]) {
                    let query = format!("{}{with}", collect(&ns.name, rule));
                    match run(engine, &query, input) {
                        Ok(Some(v)) => values.push(v),
                        Ok(None) => values.push(Json::Array(Vec::new())),
                        Err(e) => {
                            let q = format!("data.{}.{rule}", ns.name);
                            errors.push(Message::from_query(
                                format!("{q} failed: {e}. Fix the policy; until then this counts as a failure."),
                                &q,
                            ));
                            values.push(Json::Array(Vec::new()));
                        }
                    }
                }
                self.count(ns, values, errors)
            })
            .collect()
    }

    /// Counts one namespace's rule values (one `[]` or `[value]` per rule, then `exception`).
    fn count(&self, ns: &Namespace, values: Vec<Json>, errors: Vec<Message>) -> Outcome {
        let mut out = Outcome {
            failures: errors,
            ..Outcome::default()
        };
        let mut values = values.into_iter().map(|v| match v {
            Json::Array(mut wrapped) => wrapped.pop(),
            _ => None,
        });
        let rule_values: Vec<Option<Json>> = values.by_ref().take(ns.rules.len()).collect();
        let exception = values.next().flatten();
        let mut successes = 0;
        for (rule, value) in ns.rules.iter().zip(rule_values) {
            let query = format!("data.{}.{}", ns.name, rule.name);
            let excepted = exception
                .as_ref()
                .map_or(0, |e| count_exceptions(e, &rule.suffix));
            if excepted > 0 {
                let text = format!(
                    "data.{}.exception[_][_] == {}",
                    ns.name,
                    Json::String(rule.suffix.clone())
                );
                out.exceptions
                    .extend(std::iter::repeat_n(Message::text(text), excepted));
                continue;
            }
            match value {
                None => {}
                Some(Json::Array(items)) if items.is_empty() => successes += 1,
                Some(Json::Array(items)) => {
                    for item in items {
                        match self.message(&item, &query) {
                            Some(Ok(m)) if rule.warning => out.warnings.push(m),
                            Some(Ok(m)) | Some(Err(m)) => out.failures.push(m),
                            None => {}
                        }
                    }
                }
                Some(Json::Bool(true)) => out.failures.push(Message::from_query(
                    format!(
                        "{query} is `true`, not a set of messages; write `{} contains msg if {{ ... }}` instead of `{} if {{ ... }}`.",
                        rule.name, rule.name
                    ),
                    &query,
                )),
                Some(_) => successes += 1,
            }
        }
        let counted = out.failures.len() + out.warnings.len() + out.exceptions.len() + successes;
        out.successes = successes + ns.definitions.saturating_sub(counted);
        out
    }

    /// A rule value as a message: a string, or an object with a string `msg` (other keys become
    /// metadata, `_loc` the location). `Err` is a malformed value reported as a failure; `None`
    /// a value conftest skips (reported with `--strict`).
    fn message(&self, item: &Json, query: &str) -> Option<Result<Message, Message>> {
        match item {
            Json::String(s) => Some(Ok(Message::from_query(s.clone(), query))),
            Json::Object(map) => {
                let Some(msg) = map.get("msg").and_then(Json::as_str) else {
                    return Some(Err(Message::from_query(
                        format!(
                            "{query} returned {item}, which has no string `msg` field; return objects such as {{\"msg\": \"...\"}}."
                        ),
                        query,
                    )));
                };
                let mut m = Message::from_query(msg, query);
                for (k, v) in map {
                    if k != "msg" && k != "_loc" {
                        m.metadata.insert(k.clone(), v.clone());
                    }
                }
                m.loc = map.get("_loc").and_then(location);
                Some(Ok(m))
            }
            other if self.strict => Some(Err(Message::from_query(
                format!(
                    "{query} returned {other}, which is neither a string nor an object with `msg` (--strict)."
                ),
                query,
            ))),
            _ => None,
        }
    }
}

/// The query for one namespace: its rules' values, then its exceptions.
fn namespace_query(ns: &Namespace) -> String {
    let parts: Vec<String> = ns
        .rules
        .iter()
        .map(|r| collect(&ns.name, &r.name))
        .chain(std::iter::once(collect(&ns.name, "exception")))
        .collect();
    format!("[{}]", parts.join(", "))
}

fn values_of(v: Json) -> Vec<Json> {
    match v {
        Json::Array(items) => items,
        _ => Vec::new(),
    }
}

/// Runs a query; `Ok(None)` when undefined, `Err` with a one-line located message.
fn run(engine: &Engine, query: &str, input: &Json) -> Result<Option<Json>, String> {
    match engine.query(query, Some(input)) {
        Ok(out) => Ok(out
            .get("result")
            .and_then(|r| r.get(0))
            .and_then(|r| r.get("expressions"))
            .and_then(|e| e.get(0))
            .and_then(|e| e.get("value"))
            .cloned()),
        Err(e) => Err(one_line(&e)),
    }
}

fn one_line(e: &Error) -> String {
    match e.diagnostic() {
        Some(d) => format!("{}:{}:{}: {}", d.file, d.line, d.col, d.message),
        None => {
            let text = e.to_string();
            if text.contains("exceeded time limit") {
                "the evaluation did not finish within the time limit (raise it with --timeout)"
                    .to_owned()
            } else {
                text.lines().next().unwrap_or_default().trim().to_owned()
            }
        }
    }
}

/// Matches of conftest's `exception[_][_] == suffix`.
fn count_exceptions(exception: &Json, suffix: &str) -> usize {
    let items = |v: &Json| -> Vec<Json> {
        match v {
            Json::Array(a) => a.clone(),
            Json::Object(o) => o.values().cloned().collect(),
            _ => Vec::new(),
        }
    };
    items(exception)
        .iter()
        .map(|inner| {
            items(inner)
                .iter()
                .filter(|v| v.as_str() == Some(suffix))
                .count()
        })
        .sum()
}

fn location(loc: &Json) -> Option<Location> {
    let file = loc
        .get("file")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned();
    let line = loc.get("line").and_then(Json::as_u64);
    (!file.is_empty() || line.is_some()).then_some(Location { file, line })
}

/// `data.conftest.file` for a path: its name and absolute directory, as conftest sets them.
pub(crate) fn file_info(path: &str) -> Json {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.into());
    let name = absolute
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_owned());
    let dir = absolute
        .parent()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    json!({"name": name, "dir": dir})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_rules_follow_conftests_patterns() {
        assert_eq!(decision_rule("deny"), Some((false, String::new())));
        assert_eq!(
            decision_rule("warn_no_owner"),
            Some((true, "no_owner".into()))
        );
        assert_eq!(decision_rule("violation_x1"), Some((false, "x1".into())));
        assert_eq!(decision_rule("denied"), None);
        assert_eq!(decision_rule("deny_"), None);
        assert_eq!(decision_rule("exception"), None);
    }

    #[test]
    fn globs_match_package_names() {
        assert!(glob_match("main", "main"));
        assert!(glob_match("main.*", "main.k8s"));
        assert!(glob_match("*", "a.b.c"));
        assert!(glob_match("k8s.?ods", "k8s.pods"));
        assert!(!glob_match("main.*", "main"));
        assert!(!glob_match("main", "main.k8s"));
    }

    #[test]
    fn exceptions_count_like_conftests_query() {
        let e = json!([["no_latest", "x"], ["no_latest"]]);
        assert_eq!(count_exceptions(&e, "no_latest"), 2);
        assert_eq!(count_exceptions(&e, "other"), 0);
        assert_eq!(count_exceptions(&json!([[""]]), ""), 1);
    }

    #[test]
    fn file_info_names_the_file_and_its_absolute_directory() {
        let info = file_info("some/dir/app.yaml");
        assert_eq!(info["name"], "app.yaml");
        assert!(
            info["dir"].as_str().unwrap().ends_with("some/dir"),
            "{info}"
        );
    }
}
