//! `tap`: a TAP plan per file and namespace; failures and warnings are `not ok`, exceptions,
//! skipped tests and successes `ok`.

use std::io::{self, Write};

use super::{indicator, namespace};
use crate::commands::check::result::CheckResult;

pub(super) fn write(results: &[CheckResult], out: &mut dyn Write) -> io::Result<()> {
    for r in results {
        let total = r.tests();
        if total == 0 {
            continue;
        }
        let (file, ns) = (indicator(&r.filename), namespace(&r.namespace));
        let mut n = 0;
        let mut line = |out: &mut dyn Write, status: &str, msg: &str| {
            n += 1;
            writeln!(out, "{status} {n} {file} {ns} {msg}")
        };
        writeln!(out, "1..{total}")?;
        for f in &r.failures {
            line(out, "not ok", &f.msg)?;
        }
        if !r.warnings.is_empty() {
            writeln!(out, "# warnings")?;
            for w in &r.warnings {
                line(out, "not ok", &w.msg)?;
            }
        }
        if !r.exceptions.is_empty() {
            writeln!(out, "# exceptions")?;
            for e in &r.exceptions {
                line(out, "ok", &e.msg)?;
            }
        }
        if !r.skipped.is_empty() {
            writeln!(out, "# skip")?;
            for s in &r.skipped {
                line(out, "ok", &s.msg)?;
            }
        }
        if r.successes > 0 {
            writeln!(out, "# successes")?;
            for _ in 0..r.successes {
                line(out, "ok", "SUCCESS")?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Options;
    use super::super::fixtures::{render, results};
    use crate::cli::CheckOutput;

    #[test]
    fn plans_and_lines_match_conftest() {
        let text = render(CheckOutput::Tap, &results(), Options::default());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[..8],
            [
                "1..5",
                "not ok 1 - deploy.yaml - main - image uses latest",
                "# warnings",
                "not ok 2 - deploy.yaml - main - no owner label",
                "# exceptions",
                "ok 3 - deploy.yaml - main - data.main.exception[_][_] == \"root\"",
                "# successes",
                "ok 4 - deploy.yaml - main - SUCCESS",
            ]
        );
        assert!(
            text.contains("1..3\n# successes\nok 1 - service.yaml - main - SUCCESS\n"),
            "{text}"
        );
    }
}
