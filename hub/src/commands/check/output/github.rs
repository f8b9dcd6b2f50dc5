//! `github`: GitHub Actions workflow commands, a group per file and namespace with an
//! `::error`, `::warning` or `::notice` annotation per result, then the summary line.
//!
//! Annotations point at the line a policy gave in `_loc` (or a parser gave for an unreadable
//! file), else at line 1 of the file. Unlike conftest, `%`, CR and LF in messages are escaped
//! as GitHub requires, so multi-line messages stay one annotation.

use std::io::{self, Write};

use crate::commands::check::result::{CheckResult, Message, summary_line, totals};

pub(super) fn write(results: &[CheckResult], out: &mut dyn Write) -> io::Result<()> {
    for r in results {
        writeln!(
            out,
            "::group::Testing {} against {} policies in namespace {}",
            quote(&r.filename),
            r.tests(),
            quote(&r.namespace)
        )?;
        for m in &r.failures {
            annotate(out, "error", &r.filename, m, "")?;
        }
        for m in &r.warnings {
            annotate(out, "warning", &r.filename, m, "")?;
        }
        for m in &r.exceptions {
            annotate(out, "notice", &r.filename, m, "")?;
        }
        for m in &r.skipped {
            annotate(out, "notice", &r.filename, m, "Test was skipped: ")?;
        }
        writeln!(
            out,
            "::notice file={},line=1::Number of successful checks: {}",
            r.filename, r.successes
        )?;
        writeln!(out, "::endgroup::")?;
    }
    writeln!(out, "{}", summary_line(totals(results), false))
}

fn annotate(
    out: &mut dyn Write,
    level: &str,
    file: &str,
    m: &Message,
    prefix: &str,
) -> io::Result<()> {
    let msg = escape(&format!("{prefix}{}", m.msg));
    match &m.loc {
        Some(loc) if loc.file.is_empty() || loc.file == file => writeln!(
            out,
            "::{level} file={file},line={}::{msg}",
            loc.line.unwrap_or(1)
        ),
        Some(loc) => {
            let line = loc.line.unwrap_or(1);
            writeln!(out, "::{level} file={},line={line}::{msg}", loc.file)?;
            writeln!(
                out,
                "::{level} file={file},line=1::(ORIGINATING FROM {} L{line}) {msg}",
                loc.file
            )
        }
        None => writeln!(out, "::{level} file={file},line=1::{msg}"),
    }
}

/// Go's `%q`, for the plain names conftest quotes.
fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

fn escape(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

#[cfg(test)]
mod tests {
    use super::super::Options;
    use super::super::fixtures::{render, results};
    use crate::cli::CheckOutput;

    #[test]
    fn annotations_match_conftest() {
        let text = render(CheckOutput::Github, &results(), Options::default());
        assert_eq!(
            text,
            "::group::Testing \"deploy.yaml\" against 5 policies in namespace \"main\"\n\
             ::error file=deploy.yaml,line=7::image uses latest\n\
             ::warning file=deploy.yaml,line=1::no owner label\n\
             ::notice file=deploy.yaml,line=1::data.main.exception[_][_] == \"root\"\n\
             ::notice file=deploy.yaml,line=1::Number of successful checks: 2\n\
             ::endgroup::\n\
             ::group::Testing \"service.yaml\" against 3 policies in namespace \"main\"\n\
             ::notice file=service.yaml,line=1::Number of successful checks: 3\n\
             ::endgroup::\n\
             8 tests, 5 passed, 1 warning, 1 failure, 1 exception\n"
        );
    }
}
