//! Policy tests: `test_*` rules, run the way `opa test` runs them.
//!
//! A test passes when its rule evaluates to `true`; `false` or undefined fails it, an error
//! errors it. Rules named `todo_*` are reported as skipped. Each test runs on its own copy of the
//! prepared interpreter, so tests cannot leak state into each other.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::diagnostic;
use crate::engine::Engine;

/// A discovered test rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestRule {
    /// Package without `data.`.
    pub package: String,
    /// Rule name, `test_...` or `todo_...`.
    pub name: String,
    /// File and line of its first definition.
    pub file: String,
    /// 1-based line.
    pub line: u32,
}

/// How a test ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "detail")]
pub enum Status {
    /// Evaluated to true.
    Pass,
    /// Evaluated to false or was undefined.
    Fail,
    /// Evaluation failed; the message says where and why.
    Error(String),
    /// A `todo_` rule.
    Skip,
}

/// One test's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestResult {
    /// The test.
    #[serde(flatten)]
    pub rule: TestRule,
    /// Its outcome.
    #[serde(flatten)]
    pub status: Status,
    /// Evaluation time.
    #[serde(serialize_with = "as_nanos")]
    pub duration: Duration,
}

fn as_nanos<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Engine {
    /// Every `test_*` and `todo_*` rule in the bundle, in file and line order.
    pub fn tests(&self) -> Vec<TestRule> {
        let mut rego = self.interpreter();
        let mut out: Vec<TestRule> = Vec::new();
        for module in rego.get_modules() {
            let package = module.package.refr.span().text().to_owned();
            for rule in &module.policy {
                let regorus::unstable::Rule::Spec { head, span, .. } = rule.as_ref() else {
                    continue;
                };
                let regorus::unstable::RuleHead::Compr { refr, .. } = head else {
                    continue;
                };
                let name = refr.span().text();
                if !(name.starts_with("test_") || name.starts_with("todo_"))
                    || name.contains(['.', '['])
                {
                    continue;
                }
                if out.iter().any(|t| t.package == package && t.name == name) {
                    continue; // incremental definitions of one test
                }
                out.push(TestRule {
                    package: package.clone(),
                    name: name.to_owned(),
                    file: span.source.get_path().to_string(),
                    line: span.line,
                });
            }
        }
        out.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        out
    }

    /// Runs one test.
    pub fn run_test(&self, test: &TestRule) -> TestResult {
        let start = Instant::now();
        let status = if test.name.starts_with("todo_") {
            Status::Skip
        } else {
            let mut rego = self.interpreter();
            match rego.eval_rule(format!("data.{}.{}", test.package, test.name)) {
                Ok(regorus::Value::Bool(true)) => Status::Pass,
                Ok(_) => Status::Fail,
                Err(e) => {
                    let text = e.to_string();
                    Status::Error(match diagnostic::parse_located(&text) {
                        Some(d) => format!("{}:{}:{}: {}", d.file, d.line, d.col, d.message),
                        None => text.trim().to_owned(),
                    })
                }
            }
        };
        TestResult {
            rule: test.clone(),
            status,
            duration: start.elapsed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bundle, EngineOptions, LoadOptions};

    #[test]
    fn discovers_and_runs_pass_fail_error_and_todo() {
        let bundle = Bundle::from_files(
            [(
                "p_test.rego",
                "package p_test\n\ntest_ok if 1 == 1\n\ntest_bad if 1 == 2\n\ntest_boom if {\n  x := 1 / input.zero\n  x > 0\n}\n\ntodo_later if true\n",
            )],
            LoadOptions::default(),
        )
        .unwrap();
        let engine = Engine::compile(bundle, None, EngineOptions::default()).unwrap();
        let tests = engine.tests();
        let names: Vec<_> = tests.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["test_ok", "test_bad", "test_boom", "todo_later"]);
        assert_eq!(tests[1].line, 5);
        let results: Vec<Status> = tests.iter().map(|t| engine.run_test(t).status).collect();
        assert_eq!(results[0], Status::Pass);
        assert_eq!(results[1], Status::Fail);
        assert!(
            matches!(&results[2], Status::Fail | Status::Error(_)),
            "{:?}",
            results[2]
        );
        assert_eq!(results[3], Status::Skip);
    }
}
