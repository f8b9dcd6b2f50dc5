//! `json`: the results as conftest serialises them, tab-indented; stdin's file name is empty.

use std::io::{self, Write};

use serde::Serialize;

use crate::commands::check::result::CheckResult;

pub(super) fn write(results: &[CheckResult], out: &mut dyn Write) -> io::Result<()> {
    let shown: Vec<CheckResult> = results
        .iter()
        .cloned()
        .map(|mut r| {
            if r.filename == "-" {
                r.filename.clear();
            }
            r
        })
        .collect();
    let mut buffer = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(
        &mut buffer,
        serde_json::ser::PrettyFormatter::with_indent(b"\t"),
    );
    shown.serialize(&mut serializer).map_err(io::Error::other)?;
    out.write_all(&buffer)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::super::Options;
    use super::super::fixtures::{render, results};
    use crate::cli::CheckOutput;
    use serde_json::{Value as Json, json};

    #[test]
    fn shape_matches_conftest() {
        let text = render(CheckOutput::Json, &results(), Options::default());
        let v: Json = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v[0],
            json!({
                "filename": "deploy.yaml",
                "namespace": "main",
                "successes": 2,
                "warnings": [{"msg": "no owner label", "metadata": {"query": "data.main.warn"}}],
                "failures": [{"msg": "image uses latest", "loc": {"file": "deploy.yaml", "line": 7}, "metadata": {"query": "data.main.deny"}}],
                "exceptions": [{"msg": "data.main.exception[_][_] == \"root\""}]
            })
        );
        assert_eq!(
            v[1],
            json!({"filename": "service.yaml", "namespace": "main", "successes": 3})
        );
        assert!(text.contains("\n\t{"), "tab-indented like conftest");
    }
}
