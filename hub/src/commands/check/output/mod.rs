//! Output formats, each matching what conftest prints for it: `stdout` (the default),
//! `json`, `tap`, `table`, `junit`, `github` and `sarif`. Every format renders the same
//! [`CheckResult`]s; only `stdout` uses colour, and only when asked to.

mod github;
mod json;
mod junit;
mod sarif;
mod standard;
mod table;
mod tap;

use std::io::{self, Write};

use super::result::CheckResult;
use crate::cli::CheckOutput;

/// How to render.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Options {
    /// Colour the `stdout` format (decided by the caller: a terminal, no `NO_COLOR`).
    pub color: bool,
    /// Leave exceptions out of the `stdout` format.
    pub suppress_exceptions: bool,
    /// Add skipped tests to summaries (`--verify`).
    pub show_skipped: bool,
    /// Name JUnit test cases by file only.
    pub junit_hide_message: bool,
}

/// Writes `results` in `format`.
pub(crate) fn write(
    format: CheckOutput,
    results: &[CheckResult],
    options: Options,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        CheckOutput::Stdout => standard::write(results, options, out),
        CheckOutput::Json => json::write(results, out),
        CheckOutput::Tap => tap::write(results, out),
        CheckOutput::Table => table::write(results, out),
        CheckOutput::Junit => junit::write(results, options, out),
        CheckOutput::Github => github::write(results, out),
        CheckOutput::Sarif => sarif::write(results, out),
    }
}

/// `- file`, or `-` for stdin (conftest's indicator).
fn indicator(filename: &str) -> String {
    if filename == "-" {
        "-".to_owned()
    } else {
        format!("- {filename}")
    }
}

/// `- namespace -`, or `-` when there is none.
fn namespace(ns: &str) -> String {
    if ns == "-" {
        "-".to_owned()
    } else {
        format!("- {ns} -")
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    use crate::commands::check::result::{CheckResult, Location, Message};

    /// One file with a failure, a warning, an exception and two successes, and one clean file.
    pub(crate) fn results() -> Vec<CheckResult> {
        let mut located = Message::from_query("image uses latest", "data.main.deny");
        located.loc = Some(Location {
            file: "deploy.yaml".into(),
            line: Some(7),
        });
        vec![
            CheckResult {
                successes: 2,
                failures: vec![located],
                warnings: vec![Message::from_query("no owner label", "data.main.warn")],
                exceptions: vec![Message::text("data.main.exception[_][_] == \"root\"")],
                ..CheckResult::new("deploy.yaml", "main")
            },
            CheckResult {
                successes: 3,
                ..CheckResult::new("service.yaml", "main")
            },
        ]
    }

    pub(crate) fn render(
        format: crate::cli::CheckOutput,
        results: &[CheckResult],
        options: super::Options,
    ) -> String {
        let mut out = Vec::new();
        super::write(format, results, options, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }
}
