//! Policy tests: `test_*` rules, run the way `opa test` runs them.
//!
//! A test passes when its rule evaluates to `true`; `false` or undefined fails it, an error
//! errors it. Rules named `todo_*` are reported as skipped. Each test runs on its own copy of the
//! prepared interpreter, so tests cannot leak state into each other.
//!
//! With coverage on, each test's line coverage is merged into one [`Coverage`] over the policy
//! modules (test modules and the engine's generated collector are left out): a line counts as
//! covered when any test evaluated it.

use std::collections::{BTreeMap, BTreeSet};

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
    /// Last line of that definition.
    pub end_line: u32,
}

/// Why a test came out as it did, beyond pass or fail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// For a failed test: the last line of its body that was evaluated, with its text; the
    /// statement on it is the one that did not hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<(u32, String)>,
    /// What the test and the policies it ran wrote with `print`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
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

/// Line coverage of the policy modules by a test run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Coverage {
    /// Per file, in path order.
    pub files: Vec<FileCoverage>,
    /// Lines evaluated, over all files.
    pub covered_lines: usize,
    /// Lines never evaluated, over all files.
    pub not_covered_lines: usize,
    /// `covered / (covered + not covered)` as a percentage (100 when there is nothing to cover).
    pub percent: f64,
}

/// Line coverage of one file.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FileCoverage {
    /// File path as loaded.
    pub path: String,
    /// Lines some test evaluated.
    pub covered: BTreeSet<u32>,
    /// Lines no test evaluated.
    pub not_covered: BTreeSet<u32>,
    /// Coverage percentage of this file.
    pub percent: f64,
}

fn percent(covered: usize, not_covered: usize) -> f64 {
    let total = covered + not_covered;
    if total == 0 {
        100.0
    } else {
        (covered as f64 * 10000.0 / total as f64).round() / 100.0
    }
}

/// Merges the line coverage of several evaluations into one [`Coverage`]: a line counts as
/// covered when any evaluation reached it. The engine's generated collector is left out.
#[derive(Debug, Clone, Default)]
pub(crate) struct LineCoverage {
    files: BTreeMap<String, (BTreeSet<u32>, BTreeSet<u32>)>,
}

impl LineCoverage {
    /// Adds one evaluation's report, keeping the files `keep` accepts.
    pub(crate) fn add(&mut self, report: regorus::coverage::Report, keep: impl Fn(&str) -> bool) {
        for file in report.files {
            if file.path.starts_with("gatehouse_internal/") || !keep(&file.path) {
                continue;
            }
            let entry = self.files.entry(file.path).or_default();
            entry.0.extend(file.covered);
            entry.1.extend(file.not_covered);
        }
    }

    /// The merged coverage.
    pub(crate) fn finish(self) -> Coverage {
        let files: Vec<FileCoverage> = self
            .files
            .into_iter()
            .map(|(path, (covered, not_covered))| {
                let not_covered: BTreeSet<u32> =
                    not_covered.difference(&covered).copied().collect();
                let percent = percent(covered.len(), not_covered.len());
                FileCoverage {
                    path,
                    covered,
                    not_covered,
                    percent,
                }
            })
            .collect();
        let covered_lines = files.iter().map(|f| f.covered.len()).sum();
        let not_covered_lines = files.iter().map(|f| f.not_covered.len()).sum();
        Coverage {
            percent: percent(covered_lines, not_covered_lines),
            files,
            covered_lines,
            not_covered_lines,
        }
    }
}

impl Engine {
    /// Runs `tests`, optionally measuring line coverage of the policy modules.
    pub fn run_tests(
        &self,
        tests: &[TestRule],
        coverage: bool,
    ) -> (Vec<TestResult>, Option<Coverage>) {
        let mut merged = LineCoverage::default();
        let mut results = Vec::with_capacity(tests.len());
        for test in tests {
            let (result, report) = self.run_test_inner(test, coverage);
            results.push(result);
            if let Some(report) = report {
                merged.add(report, |path| !path.ends_with("_test.rego"));
            }
        }
        (results, coverage.then(|| merged.finish()))
    }

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
                    end_line: span.line
                        + u32::try_from(span.text().lines().count().saturating_sub(1)).unwrap_or(0),
                });
            }
        }
        out.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        out
    }

    /// Explains a test: re-runs it gathering `print` output and, when it fails, finds the
    /// statement of its body where evaluation stopped (from line coverage).
    pub fn explain_test(&self, test: &TestRule) -> Explanation {
        let mut rego = self.interpreter();
        rego.set_enable_coverage(true);
        rego.set_gather_prints(true);
        let outcome = rego.eval_rule(format!("data.{}.{}", test.package, test.name));
        let notes = rego.take_prints().unwrap_or_default();
        let passed = matches!(outcome, Ok(regorus::Value::Bool(true)));
        let stopped_at = if passed {
            None
        } else {
            rego.get_coverage_report().ok().and_then(|report| {
                let file = report.files.into_iter().find(|f| f.path == test.file)?;
                let line = file
                    .covered
                    .range(test.line..=test.end_line)
                    .next_back()
                    .copied()?;
                let text = file
                    .code
                    .lines()
                    .nth(usize::try_from(line).ok()?.checked_sub(1)?)?
                    .trim()
                    .to_owned();
                Some((line, text))
            })
        };
        Explanation { stopped_at, notes }
    }

    /// Runs one test.
    pub fn run_test(&self, test: &TestRule) -> TestResult {
        self.run_test_inner(test, false).0
    }

    fn run_test_inner(
        &self,
        test: &TestRule,
        coverage: bool,
    ) -> (TestResult, Option<regorus::coverage::Report>) {
        let start = Instant::now();
        let mut report = None;
        let status = if test.name.starts_with("todo_") {
            Status::Skip
        } else {
            let mut rego = self.interpreter();
            rego.set_enable_coverage(coverage);
            // `print` output is shown by `explain_test`, not written to stderr mid-run.
            rego.set_gather_prints(true);
            let outcome = rego.eval_rule(format!("data.{}.{}", test.package, test.name));
            if coverage {
                report = rego.get_coverage_report().ok();
            }
            match outcome {
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
        let result = TestResult {
            rule: test.clone(),
            status,
            duration: start.elapsed(),
        };
        (result, report)
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

    #[test]
    fn a_failing_test_is_explained_by_where_it_stopped_and_its_notes() {
        let bundle = Bundle::from_files(
            [(
                "p_test.rego",
                "package p_test\n\ntest_math if {\n  x := 2\n  print(\"x is\", x)\n  x > 5\n  x < 10\n}\n",
            )],
            LoadOptions::default(),
        )
        .unwrap();
        let engine = Engine::compile(bundle, None, EngineOptions::default()).unwrap();
        let test = &engine.tests()[0];
        assert_eq!((test.line, test.end_line), (3, 8));
        let why = engine.explain_test(test);
        assert_eq!(why.stopped_at, Some((6, "x > 5".to_owned())));
        assert_eq!(why.notes, vec!["p_test.rego:5: x is 2".to_owned()]);
    }

    #[test]
    fn coverage_counts_lines_any_test_reached_and_leaves_test_files_out() {
        let bundle = Bundle::from_files(
            [
                (
                    "p.rego",
                    "package p\n\nsmall if {\n  input.n < 10\n}\n\nbig if {\n  input.n > 100\n}\n",
                ),
                (
                    "p_test.rego",
                    "package p_test\n\ntest_small if data.p.small with input as {\"n\": 1}\n",
                ),
            ],
            LoadOptions::default(),
        )
        .unwrap();
        let engine = Engine::compile(bundle, None, EngineOptions::default()).unwrap();
        let (results, coverage) = engine.run_tests(&engine.tests(), true);
        assert_eq!(results[0].status, Status::Pass);
        let coverage = coverage.unwrap();
        assert_eq!(coverage.files.len(), 1, "{coverage:?}");
        let file = &coverage.files[0];
        assert_eq!(file.path, "p.rego");
        assert!(file.covered.contains(&4), "{file:?}");
        assert!(file.not_covered.contains(&8), "{file:?}");
        assert!(
            coverage.percent > 0.0 && coverage.percent < 100.0,
            "{}",
            coverage.percent
        );
    }
}
