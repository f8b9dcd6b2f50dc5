//! `table`: one row per result in a box-drawn table, as conftest's tablewriter renders it.

use std::io::{self, Write};

use crate::commands::check::result::CheckResult;

pub(super) fn write(results: &[CheckResult], out: &mut dyn Write) -> io::Result<()> {
    let mut rows: Vec<[String; 4]> = Vec::new();
    for r in results {
        let row = |kind: &str, msg: &str| {
            [
                kind.to_owned(),
                r.filename.clone(),
                r.namespace.clone(),
                msg.to_owned(),
            ]
        };
        rows.extend((0..r.successes).map(|_| row("success", "SUCCESS")));
        rows.extend(r.exceptions.iter().map(|m| row("exception", &m.msg)));
        rows.extend(r.warnings.iter().map(|m| row("warning", &m.msg)));
        rows.extend(r.skipped.iter().map(|m| row("skipped", &m.msg)));
        rows.extend(r.failures.iter().map(|m| row("failure", &m.msg)));
    }
    if rows.is_empty() {
        return Ok(());
    }
    let header = ["RESULT", "FILE", "NAMESPACE", "MESSAGE"];
    let width = |s: &str| s.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    let mut widths = header.map(width);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell));
        }
    }
    let rule = |left: &str, mid: &str, right: &str| {
        let bars: Vec<String> = widths.iter().map(|w| "─".repeat(w + 2)).collect();
        format!("{left}{}{right}", bars.join(mid))
    };
    writeln!(out, "{}", rule("┌", "┬", "┐"))?;
    let centred: Vec<String> = header
        .iter()
        .zip(widths)
        .map(|(h, w)| {
            let extra = w - h.chars().count();
            let left = extra / 2;
            format!(" {}{h}{} ", " ".repeat(left), " ".repeat(extra - left))
        })
        .collect();
    writeln!(out, "│{}│", centred.join("│"))?;
    writeln!(out, "{}", rule("├", "┼", "┤"))?;
    for row in &rows {
        let cells: Vec<Vec<&str>> = row.iter().map(|c| c.lines().collect()).collect();
        let height = cells.iter().map(Vec::len).max().unwrap_or(1).max(1);
        for i in 0..height {
            let line: Vec<String> = cells
                .iter()
                .zip(widths)
                .map(|(lines, w)| {
                    let text = lines.get(i).copied().unwrap_or_default();
                    format!(" {text}{} ", " ".repeat(w - text.chars().count()))
                })
                .collect();
            writeln!(out, "│{}│", line.join("│"))?;
        }
    }
    writeln!(out, "{}", rule("└", "┴", "┘"))
}

#[cfg(test)]
mod tests {
    use super::super::Options;
    use super::super::fixtures::render;
    use crate::cli::CheckOutput;
    use crate::commands::check::result::{CheckResult, Message};

    #[test]
    fn layout_matches_conftests_table() {
        let results = vec![CheckResult {
            warnings: vec![Message::text("first warning")],
            failures: vec![Message::text("first failure")],
            skipped: vec![Message::text("first skipped")],
            ..CheckResult::new("examples/kubernetes/service.yaml", "namespace")
        }];
        let text = render(CheckOutput::Table, &results, Options::default());
        assert_eq!(
            text,
            "┌─────────┬──────────────────────────────────┬───────────┬───────────────┐\n\
             │ RESULT  │               FILE               │ NAMESPACE │    MESSAGE    │\n\
             ├─────────┼──────────────────────────────────┼───────────┼───────────────┤\n\
             │ warning │ examples/kubernetes/service.yaml │ namespace │ first warning │\n\
             │ skipped │ examples/kubernetes/service.yaml │ namespace │ first skipped │\n\
             │ failure │ examples/kubernetes/service.yaml │ namespace │ first failure │\n\
             └─────────┴──────────────────────────────────┴───────────┴───────────────┘\n"
        );
        assert_eq!(
            render(
                CheckOutput::Table,
                &[CheckResult::new("a", "main")],
                Options::default()
            ),
            ""
        );
    }
}
