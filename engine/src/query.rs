//! Ad-hoc queries, shaped like `opa eval` output.
//!
//! `gatehouse eval` and the playground's query box use this: any Rego query against the bundle's
//! policies and data with an optional input, answered as `{"result": [{"expressions": [...],
//! "bindings": {...}}]}` (or `{}` when undefined), the way `opa eval -f json` answers.
//!
//! [`Engine::rule_definitions`] lists the rules as written (package, name, number of
//! definitions), for shells such as `gatehouse check` that decide which rules to query and count
//! results the way conftest does.
//!
//! [`Engine::query_with`] also reports the lines the query evaluated and what `print` wrote, and
//! [`Engine::rule_values`] evaluates every rule of the bundle against an input: together they
//! explain a result (which rules fired, which lines ran) in the playground.

use serde::Serialize;
use serde_json::{Value as Json, json};

use crate::diagnostic;
use crate::engine::{Engine, is_internal, rule_name};
use crate::error::Error;
use crate::input::to_value;
use crate::testing::{Coverage, LineCoverage};

/// What [`Engine::query_with`] gathers besides the result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryOptions {
    /// Measure which lines of the bundle's modules the query evaluated.
    pub coverage: bool,
    /// Gather what `print` wrote instead of discarding it.
    pub notes: bool,
}

/// A query's result with what [`QueryOptions`] asked for.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QueryReport {
    /// The result, shaped as [`Engine::query`] shapes it.
    pub result: Json,
    /// Lines evaluated, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
    /// `print` output as `file:line: text`, when asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A rule of the bundle and what it evaluated to; see [`Engine::rule_values`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleValue {
    /// Package path without `data.`.
    pub package: String,
    /// Rule name: the first segment of its head.
    pub name: String,
    /// File of its definitions.
    pub file: String,
    /// First line of each definition, in order.
    pub lines: Vec<u32>,
    /// What it evaluated to.
    #[serde(flatten)]
    pub outcome: RuleOutcome,
}

/// What a rule evaluated to.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "value")]
pub enum RuleOutcome {
    /// No definition produced a value (for a set rule: the set is empty).
    Undefined,
    /// The rule has a value: a set or an object with entries, `true`, `false` or any other.
    Defined(Json),
    /// Evaluating it failed; the message says where and why.
    Error(String),
    /// Left out by the caller's selection (see [`Engine::rule_values`]).
    NotEvaluated,
}

fn query_error(e: &impl std::fmt::Display) -> Error {
    let text = e.to_string();
    match diagnostic::parse_located(&text) {
        Some(d) => Error::Rego(Box::new(d)),
        None => Error::Query(text.trim().to_owned()),
    }
}

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
        Ok(self
            .query_with(query, input, QueryOptions::default())?
            .result)
    }

    /// Evaluates `query` as [`Engine::query`] does, also measuring coverage and gathering
    /// `print` notes when `options` ask for them.
    ///
    /// ```
    /// use gatehouse_engine::{Bundle, Engine, EngineOptions, LoadOptions};
    /// use gatehouse_engine::query::QueryOptions;
    /// let bundle = Bundle::from_files(
    ///     [("p.rego", "package p\n\nx := y if {\n  y := input.n * 2\n  print(\"y is\", y)\n}\n")],
    ///     LoadOptions::default(),
    /// )?;
    /// let engine = Engine::compile(bundle, None, EngineOptions::default())?;
    /// let options = QueryOptions { coverage: true, notes: true };
    /// let report = engine.query_with("data.p.x", Some(&serde_json::json!({"n": 21})), options)?;
    /// assert_eq!(report.result["result"][0]["expressions"][0]["value"], 42);
    /// assert!(report.coverage.unwrap().files[0].covered.contains(&4));
    /// assert_eq!(report.notes, ["p.rego:5: y is 42"]);
    /// # Ok::<(), gatehouse_engine::Error>(())
    /// ```
    pub fn query_with(
        &self,
        query: &str,
        input: Option<&Json>,
        options: QueryOptions,
    ) -> Result<QueryReport, Error> {
        let mut rego = self.interpreter();
        if let Some(input) = input {
            rego.set_input(
                to_value(input)
                    .map_err(|e| Error::Query(format!("the input cannot be used: {e}")))?,
            );
        }
        rego.set_enable_coverage(options.coverage);
        rego.set_gather_prints(true);
        let results = rego
            .eval_query(query.to_owned(), false)
            .map_err(|e| query_error(&e))?;
        let value = serde_json::to_value(&results).map_err(|e| Error::Query(e.to_string()))?;
        let empty = value
            .get("result")
            .and_then(Json::as_array)
            .is_none_or(Vec::is_empty);
        let coverage = options.coverage.then(|| {
            let mut merged = LineCoverage::default();
            if let Ok(report) = rego.get_coverage_report() {
                merged.add(report, |_| true);
            }
            merged.finish()
        });
        let notes = if options.notes {
            rego.take_prints().unwrap_or_default()
        } else {
            Vec::new()
        };
        Ok(QueryReport {
            result: if empty { json!({}) } else { value },
            coverage,
            notes,
        })
    }

    /// Lists every rule of the bundle's modules (functions and the engine's generated collector
    /// left out) in file and line order, and evaluates those `select` accepts against `input`:
    /// which rules fired, with their values, and which failed, with where. The others are
    /// reported as [`RuleOutcome::NotEvaluated`].
    ///
    /// The selected rules are evaluated in one query, so shared helpers are computed once; when
    /// that fails, each rule is evaluated on its own to find the ones at fault.
    ///
    /// ```
    /// use gatehouse_engine::{Bundle, Engine, EngineOptions, LoadOptions};
    /// use gatehouse_engine::query::RuleOutcome;
    /// let bundle = Bundle::from_files(
    ///     [("p.rego", "package p\n\ndeny contains \"big\" if input.n > 10\n\nwarn contains \"odd\" if input.n % 2 == 1\n")],
    ///     LoadOptions::default(),
    /// )?;
    /// let engine = Engine::compile(bundle, None, EngineOptions::default())?;
    /// let rules = engine.rule_values(Some(&serde_json::json!({"n": 12})), |_| true);
    /// assert_eq!((rules[0].name.as_str(), rules[0].lines.as_slice()), ("deny", &[3][..]));
    /// assert_eq!(rules[0].outcome, RuleOutcome::Defined(serde_json::json!(["big"])));
    /// assert_eq!(rules[1].outcome, RuleOutcome::Undefined);
    /// # Ok::<(), gatehouse_engine::Error>(())
    /// ```
    pub fn rule_values(
        &self,
        input: Option<&Json>,
        select: impl Fn(&RuleValue) -> bool,
    ) -> Vec<RuleValue> {
        let mut rules: Vec<RuleValue> = Vec::new();
        let mut rego = self.interpreter();
        for module in rego.get_modules() {
            let package = module.package.refr.span().text().to_owned();
            if is_internal(&package) {
                continue;
            }
            for rule in &module.policy {
                if let regorus::unstable::Rule::Spec {
                    head: regorus::unstable::RuleHead::Func { .. },
                    ..
                } = rule.as_ref()
                {
                    continue;
                }
                let name = rule_name(rule);
                if name.is_empty() {
                    continue;
                }
                let span = rule.span();
                let file = span.source.get_path().to_string();
                match rules
                    .iter_mut()
                    .find(|r| r.package == package && r.name == name)
                {
                    Some(r) => r.lines.push(span.line),
                    None => rules.push(RuleValue {
                        package: package.clone(),
                        name: name.to_owned(),
                        file,
                        lines: vec![span.line],
                        outcome: RuleOutcome::NotEvaluated,
                    }),
                }
            }
        }
        rules.sort_by(|a, b| (&a.file, a.lines.first()).cmp(&(&b.file, b.lines.first())));
        let selected: Vec<usize> = (0..rules.len())
            .filter(|i| rules.get(*i).is_some_and(&select))
            .collect();
        let input = input.map(to_value).transpose();
        let wrapped = |r: &RuleValue| {
            let mut refr = String::from("data");
            for part in r.package.split('.').chain(std::iter::once(r.name.as_str())) {
                refr.push_str(&format!("[{}]", Json::String(part.to_owned())));
            }
            format!("[x | x := {refr}]")
        };
        let evaluate = |query: String| -> Result<Json, String> {
            let mut rego = self.interpreter();
            match &input {
                Ok(Some(value)) => rego.set_input(value.clone()),
                Ok(None) => {}
                Err(e) => return Err(format!("the input cannot be used: {e}")),
            }
            rego.set_gather_prints(true);
            let results = rego
                .eval_query(query, false)
                .map_err(|e| match query_error(&e) {
                    Error::Rego(d) => format!("{}:{}:{}: {}", d.file, d.line, d.col, d.message),
                    other => other.to_string(),
                })?;
            let value = results
                .result
                .first()
                .and_then(|r| r.expressions.first())
                .map(|e| e.value.clone())
                .unwrap_or(regorus::Value::Undefined);
            serde_json::to_value(&value).map_err(|e| e.to_string())
        };
        let outcome =
            |wrapped: Option<&Json>| match wrapped.and_then(Json::as_array).and_then(|a| a.first())
            {
                None => RuleOutcome::Undefined,
                Some(Json::Array(a)) if a.is_empty() => RuleOutcome::Undefined,
                Some(Json::Object(o)) if o.is_empty() => RuleOutcome::Undefined,
                Some(v) => RuleOutcome::Defined(v.clone()),
            };
        if selected.is_empty() {
            return rules;
        }
        let all = format!(
            "[{}]",
            selected
                .iter()
                .filter_map(|i| rules.get(*i))
                .map(wrapped)
                .collect::<Vec<_>>()
                .join(", ")
        );
        match evaluate(all) {
            Ok(Json::Array(values)) => {
                for (i, value) in selected.iter().zip(values.iter()) {
                    if let Some(rule) = rules.get_mut(*i) {
                        rule.outcome = outcome(Some(value));
                    }
                }
            }
            _ => {
                for i in &selected {
                    if let Some(rule) = rules.get_mut(*i) {
                        rule.outcome = match evaluate(wrapped(rule)) {
                            Ok(value) => outcome(Some(&value)),
                            Err(message) => RuleOutcome::Error(message),
                        };
                    }
                }
            }
        }
        rules
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
