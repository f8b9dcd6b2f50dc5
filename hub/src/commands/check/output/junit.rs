//! `junit`: one test suite per namespace (`conftest.<namespace>`), one test case per result,
//! laid out as conftest's go-junit-report formatter lays it out.

use std::io::{self, Write};

use super::Options;
use crate::commands::check::result::CheckResult;

enum Case {
    Pass,
    Fail(String),
    Skip(String),
}

pub(super) fn write(
    results: &[CheckResult],
    options: Options,
    out: &mut dyn Write,
) -> io::Result<()> {
    // Suites in the order their namespaces first appear.
    let mut suites: Vec<(String, Vec<(String, Case)>)> = Vec::new();
    for r in results {
        let index = match suites.iter().position(|(ns, _)| *ns == r.namespace) {
            Some(i) => i,
            None => {
                suites.push((r.namespace.clone(), Vec::new()));
                suites.len() - 1
            }
        };
        let Some((_, cases)) = suites.get_mut(index) else {
            continue;
        };
        let name = |msg: &str| {
            if options.junit_hide_message || msg.is_empty() {
                r.filename.clone()
            } else {
                format!(
                    "{} - {}",
                    r.filename,
                    msg.lines().next().unwrap_or_default()
                )
            }
        };
        for m in r.warnings.iter().chain(&r.failures) {
            cases.push((name(&m.msg), Case::Fail(m.msg.clone())));
        }
        for m in &r.skipped {
            cases.push((name(&m.msg), Case::Skip(m.msg.clone())));
        }
        for _ in 0..r.successes {
            cases.push((name(""), Case::Pass));
        }
    }
    suites.retain(|(_, cases)| !cases.is_empty());
    writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    if suites.is_empty() {
        return writeln!(out, "<testsuites></testsuites>");
    }
    writeln!(out, "<testsuites>")?;
    for (ns, cases) in &suites {
        let suite = escape(&format!("conftest.{ns}"));
        let failures = cases
            .iter()
            .filter(|(_, c)| matches!(c, Case::Fail(_)))
            .count();
        writeln!(
            out,
            "\t<testsuite tests=\"{}\" failures=\"{failures}\" time=\"0.000\" name=\"{suite}\">",
            cases.len()
        )?;
        writeln!(out, "\t\t<properties>")?;
        writeln!(
            out,
            "\t\t\t<property name=\"gatehouse.version\" value=\"{}\"></property>",
            env!("CARGO_PKG_VERSION")
        )?;
        writeln!(out, "\t\t</properties>")?;
        for (name, case) in cases {
            let open = format!(
                "\t\t<testcase classname=\"{suite}\" name=\"{}\" time=\"0.000\">",
                escape(name)
            );
            match case {
                Case::Pass => writeln!(out, "{open}</testcase>")?,
                Case::Fail(msg) => {
                    writeln!(out, "{open}")?;
                    writeln!(
                        out,
                        "\t\t\t<failure message=\"Failed\" type=\"\">{}</failure>",
                        escape(msg)
                    )?;
                    writeln!(out, "\t\t</testcase>")?;
                }
                Case::Skip(msg) => {
                    writeln!(out, "{open}")?;
                    writeln!(out, "\t\t\t<skipped message=\"{}\"></skipped>", escape(msg))?;
                    writeln!(out, "\t\t</testcase>")?;
                }
            }
        }
        writeln!(out, "\t</testsuite>")?;
    }
    writeln!(out, "</testsuites>")
}

/// Escapes text as Go's `encoding/xml` does.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::Options;
    use super::super::fixtures::render;
    use crate::cli::CheckOutput;
    use crate::commands::check::result::{CheckResult, Message};

    #[test]
    fn layout_matches_conftests_junit() {
        let results = vec![CheckResult {
            successes: 1,
            failures: vec![Message::text("long failure\n\nmore <detail>")],
            ..CheckResult::new("service.yaml", "main")
        }];
        let text = render(CheckOutput::Junit, &results, Options::default());
        let expected = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n\
             \t<testsuite tests=\"2\" failures=\"1\" time=\"0.000\" name=\"conftest.main\">\n\
             \t\t<properties>\n\
             \t\t\t<property name=\"gatehouse.version\" value=\"{}\"></property>\n\
             \t\t</properties>\n\
             \t\t<testcase classname=\"conftest.main\" name=\"service.yaml - long failure\" time=\"0.000\">\n\
             \t\t\t<failure message=\"Failed\" type=\"\">long failure&#xA;&#xA;more &lt;detail&gt;</failure>\n\
             \t\t</testcase>\n\
             \t\t<testcase classname=\"conftest.main\" name=\"service.yaml\" time=\"0.000\"></testcase>\n\
             \t</testsuite>\n</testsuites>\n",
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(text, expected);
        let hidden = render(
            CheckOutput::Junit,
            &results,
            Options {
                junit_hide_message: true,
                ..Options::default()
            },
        );
        assert!(
            hidden.contains("name=\"service.yaml\" time=\"0.000\">\n"),
            "{hidden}"
        );
        assert_eq!(
            render(
                CheckOutput::Junit,
                &[CheckResult::new("a", "main")],
                Options::default()
            ),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites></testsuites>\n"
        );
    }
}
