//! `stdout`: conftest's default, `FAIL - file - namespace - message` lines then the summary.

use std::io::{self, Write};

use super::{Options, indicator, namespace};
use crate::commands::check::result::{CheckResult, summary_line, totals};

const RED: &str = "31";
const GREEN: &str = "32";
const YELLOW: &str = "33";
const CYAN: &str = "36";

pub(super) fn write(
    results: &[CheckResult],
    options: Options,
    out: &mut dyn Write,
) -> io::Result<()> {
    let paint = |text: &str, code: &str| {
        if options.color {
            format!("\u{1b}[{code}m{text}\u{1b}[0m")
        } else {
            text.to_owned()
        }
    };
    for r in results {
        let (file, ns) = (indicator(&r.filename), namespace(&r.namespace));
        for w in &r.warnings {
            writeln!(out, "{} {file} {ns} {}", paint("WARN", YELLOW), w.msg)?;
        }
        for f in &r.failures {
            writeln!(out, "{} {file} {ns} {}", paint("FAIL", RED), f.msg)?;
        }
        if !options.suppress_exceptions {
            for e in &r.exceptions {
                writeln!(out, "{} {file} {ns} {}", paint("EXCP", CYAN), e.msg)?;
            }
        }
    }
    let t = totals(results);
    let color = if t.failures > 0 {
        RED
    } else if t.warnings > 0 {
        YELLOW
    } else if t.exceptions > 0 {
        CYAN
    } else {
        GREEN
    };
    writeln!(out)?;
    writeln!(
        out,
        "{}",
        paint(&summary_line(t, options.show_skipped), color)
    )
}

#[cfg(test)]
mod tests {
    use super::super::Options;
    use super::super::fixtures::{render, results};
    use crate::cli::CheckOutput;

    #[test]
    fn lines_and_summary_match_conftest() {
        let text = render(CheckOutput::Stdout, &results(), Options::default());
        assert_eq!(
            text,
            "WARN - deploy.yaml - main - no owner label\n\
             FAIL - deploy.yaml - main - image uses latest\n\
             EXCP - deploy.yaml - main - data.main.exception[_][_] == \"root\"\n\
             \n\
             8 tests, 5 passed, 1 warning, 1 failure, 1 exception\n"
        );
    }

    #[test]
    fn colour_only_when_asked_and_exceptions_can_be_suppressed() {
        let options = Options {
            color: true,
            suppress_exceptions: true,
            ..Options::default()
        };
        let text = render(CheckOutput::Stdout, &results(), options);
        assert!(
            text.contains("\u{1b}[31mFAIL\u{1b}[0m - deploy.yaml"),
            "{text}"
        );
        assert!(!text.contains("EXCP"), "{text}");
    }
}
