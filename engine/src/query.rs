//! Ad-hoc queries, shaped like `opa eval` output.
//!
//! `gatehouse eval` and the playground's query box use this: any Rego query against the bundle's
//! policies and data with an optional input, answered as `{"result": [{"expressions": [...],
//! "bindings": {...}}]}` (or `{}` when undefined), the way `opa eval -f json` answers.
//!
//! [`Engine::rule_definitions`] lists the rules as written (package, name, number of
//! definitions), for shells such as `gatehouse check` that decide which rules to query and count
//! results the way conftest does.

use serde_json::{Value as Json, json};

use crate::diagnostic;
use crate::engine::{Engine, is_internal, rule_name, to_rego};
use crate::error::Error;

/// A rule as written in the bundle: where it lives and how many times it is defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleDefinitions {
    /// Package path without `data.`, e.g. `main` or `k8s.images`.
    pub package: String,
    /// Rule name: the first segment of its head, e.g. `deny_latest`.
    pub name: String,
    /// Definitions of the rule: each `deny contains msg if { ... }` body counts, and so does a
    /// `default` definition.
    pub count: usize,
}

impl Engine {
    /// Every rule of the bundle's modules, in package and name order (the engine's generated
    /// collector is left out).
    ///
    /// ```
    /// use gatehouse_engine::{Bundle, Engine, EngineOptions, LoadOptions};
    /// let bundle = Bundle::from_files(
    ///     [("p.rego", "package main\ndeny contains 1 if input.a\ndeny contains 2 if input.b\nwarn contains 3 if true\n")],
    ///     LoadOptions::default(),
    /// )?;
    /// let engine = Engine::compile(bundle, None, EngineOptions::default())?;
    /// let rules = engine.rule_definitions();
    /// assert_eq!((rules[0].package.as_str(), rules[0].name.as_str(), rules[0].count), ("main", "deny", 2));
    /// assert_eq!((rules[1].name.as_str(), rules[1].count), ("warn", 1));
    /// # Ok::<(), gatehouse_engine::Error>(())
    /// ```
    pub fn rule_definitions(&self) -> Vec<RuleDefinitions> {
        let mut rego = self.interpreter();
        let mut counts: std::collections::BTreeMap<(String, String), usize> =
            std::collections::BTreeMap::new();
        for module in rego.get_modules() {
            let package = module.package.refr.span().text().to_owned();
            if is_internal(&package) {
                continue;
            }
            for rule in &module.policy {
                let name = rule_name(rule);
                if name.is_empty() {
                    continue;
                }
                *counts
                    .entry((package.clone(), name.to_owned()))
                    .or_default() += 1;
            }
        }
        counts
            .into_iter()
            .map(|((package, name), count)| RuleDefinitions {
                package,
                name,
                count,
            })
            .collect()
    }

    /// Evaluates `query` with `input` (when given) against the bundle.
    ///
    /// ```
    /// use gatehouse_engine::{Bundle, Engine, EngineOptions, LoadOptions};
    /// let bundle = Bundle::from_files([("p.rego", "package p\nx := input.n * 2\n")], LoadOptions::default())?;
    /// let engine = Engine::compile(bundle, None, EngineOptions::default())?;
    /// let out = engine.query("data.p.x", Some(&serde_json::json!({"n": 21})))?;
    /// assert_eq!(out["result"][0]["expressions"][0]["value"], 42);
    /// # Ok::<(), gatehouse_engine::Error>(())
    /// ```
    pub fn query(&self, query: &str, input: Option<&Json>) -> Result<Json, Error> {
        let mut rego = self.interpreter();
        if let Some(input) = input {
            rego.set_input(
                to_rego(input)
                    .map_err(|e| Error::Query(format!("the input cannot be used: {e}")))?,
            );
        }
        let results = rego.eval_query(query.to_owned(), false).map_err(|e| {
            let text = e.to_string();
            match diagnostic::parse_located(&text) {
                Some(d) => Error::Rego(Box::new(d)),
                None => Error::Query(text.trim().to_owned()),
            }
        })?;
        let value = serde_json::to_value(&results).map_err(|e| Error::Query(e.to_string()))?;
        let empty = value
            .get("result")
            .and_then(Json::as_array)
            .is_none_or(Vec::is_empty);
        Ok(if empty { json!({}) } else { value })
    }
}

#[cfg(test)]
mod tests {
    use crate::{Bundle, Engine, EngineOptions, LoadOptions};
    use serde_json::json;

    fn engine() -> Engine {
        let bundle = Bundle::from_files(
            [
                ("p.rego", "package p\nallow if input.user == \"root\"\n"),
                ("data.json", "{\"roles\": [\"a\", \"b\"]}"),
            ],
            LoadOptions::default(),
        )
        .unwrap();
        Engine::compile(bundle, None, EngineOptions::default()).unwrap()
    }

    #[test]
    fn undefined_is_an_empty_object_like_opa() {
        assert_eq!(
            engine()
                .query("data.p.allow", Some(&json!({"user": "bob"})))
                .unwrap(),
            json!({})
        );
    }

    #[test]
    fn bindings_are_reported() {
        let out = engine()
            .query("some r in data.roles; x := r", None)
            .unwrap();
        let bindings: Vec<_> = out["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["bindings"]["x"].clone())
            .collect();
        assert_eq!(bindings, vec![json!("a"), json!("b")]);
    }

    #[test]
    fn query_syntax_errors_are_located() {
        let err = engine().query("data.p.allow ==", None).unwrap_err();
        assert!(err.diagnostic().is_some(), "{err}");
    }
}
