//! Results in conftest's shape: one [`CheckResult`] per file and namespace, holding the
//! messages of failures, warnings and exceptions and a count of successes.
//!
//! The JSON output is these types serialised; every other format is rendered from them, and the
//! exit code is decided from them exactly as conftest decides it.

use serde::Serialize;
use serde_json::{Map, Value as Json};

/// The outcome of checking one file (all its documents) against one namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct CheckResult {
    /// The file as named on the command line (`-` for stdin, `Combined` with `--combine`).
    pub filename: String,
    /// The namespace (package) whose rules ran, or `-` for a file that could not be read.
    pub namespace: String,
    /// Rules that passed.
    pub successes: usize,
    /// Skipped tests (`todo_*` rules with `--verify`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Message>,
    /// `warn` results.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Message>,
    /// `deny` and `violation` results, unreadable files and failing rules.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<Message>,
    /// Results exempted by an `exception` rule.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exceptions: Vec<Message>,
}

impl CheckResult {
    /// An empty result for a file and namespace.
    pub(crate) fn new(filename: &str, namespace: &str) -> CheckResult {
        CheckResult {
            filename: filename.to_owned(),
            namespace: namespace.to_owned(),
            ..CheckResult::default()
        }
    }

    /// How many tests this result counts.
    pub(crate) fn tests(&self) -> usize {
        self.successes
            + self.skipped.len()
            + self.warnings.len()
            + self.failures.len()
            + self.exceptions.len()
    }
}

/// One message: a rule's result, an exception, or why a file or rule failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Message {
    /// The text.
    pub msg: String,
    /// Where in a configuration file the problem is, when the policy (via `_loc`) or the parser
    /// said so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loc: Option<Location>,
    /// Everything else the rule returned, plus the `query` that produced it.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Json>,
}

impl Message {
    /// A message without location or metadata.
    pub(crate) fn text(msg: impl Into<String>) -> Message {
        Message {
            msg: msg.into(),
            loc: None,
            metadata: Map::new(),
        }
    }

    /// A message carrying the query that produced it.
    pub(crate) fn from_query(msg: impl Into<String>, query: &str) -> Message {
        let mut m = Message::text(msg);
        m.metadata
            .insert("query".into(), Json::String(query.to_owned()));
        m
    }
}

/// A position in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Location {
    /// The file.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub file: String,
    /// 1-based line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
}

/// Totals over all results, for summary lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub tests: usize,
    pub passed: usize,
    pub warnings: usize,
    pub failures: usize,
    pub exceptions: usize,
    pub skipped: usize,
}

pub(crate) fn totals(results: &[CheckResult]) -> Totals {
    let mut t = Totals::default();
    for r in results {
        t.tests += r.tests();
        t.passed += r.successes;
        t.warnings += r.warnings.len();
        t.failures += r.failures.len();
        t.exceptions += r.exceptions.len();
        t.skipped += r.skipped.len();
    }
    t
}

/// `N tests, N passed, N warnings, N failures, N exceptions` (plus `, N skipped` when asked),
/// singular where the count is one, exactly as conftest prints it.
pub(crate) fn summary_line(t: Totals, show_skipped: bool) -> String {
    let plural = |n: usize, word: &str| {
        if n == 1 {
            format!("{n} {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    let mut line = format!(
        "{}, {} passed, {}, {}, {}",
        plural(t.tests, "test"),
        t.passed,
        plural(t.warnings, "warning"),
        plural(t.failures, "failure"),
        plural(t.exceptions, "exception"),
    );
    if show_skipped {
        line.push_str(&format!(", {} skipped", t.skipped));
    }
    line
}

/// conftest's exit code: 1 when anything failed; with `--fail-on-warn`, 2 when anything failed
/// and 1 when only warnings were found.
pub(crate) fn exit_code(results: &[CheckResult], fail_on_warn: bool) -> u8 {
    let failed = results.iter().any(|r| !r.failures.is_empty());
    let warned = results.iter().any(|r| !r.warnings.is_empty());
    match (failed, warned, fail_on_warn) {
        (true, _, false) => 1,
        (true, _, true) => 2,
        (false, true, true) => 1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(failures: usize, warnings: usize) -> CheckResult {
        CheckResult {
            failures: vec![Message::text("f"); failures],
            warnings: vec![Message::text("w"); warnings],
            ..CheckResult::new("a.yaml", "main")
        }
    }

    #[test]
    fn exit_codes_match_conftest() {
        assert_eq!(exit_code(&[result(0, 0)], false), 0);
        assert_eq!(exit_code(&[result(0, 1)], false), 0);
        assert_eq!(exit_code(&[result(1, 1)], false), 1);
        assert_eq!(exit_code(&[result(0, 1)], true), 1);
        assert_eq!(exit_code(&[result(1, 0)], true), 2);
    }

    #[test]
    fn the_summary_uses_singulars_like_conftest() {
        let t = Totals {
            tests: 1,
            passed: 0,
            warnings: 0,
            failures: 1,
            exceptions: 2,
            skipped: 0,
        };
        assert_eq!(
            summary_line(t, false),
            "1 test, 0 passed, 0 warnings, 1 failure, 2 exceptions"
        );
        assert_eq!(
            summary_line(t, true),
            "1 test, 0 passed, 0 warnings, 1 failure, 2 exceptions, 0 skipped"
        );
    }
}
