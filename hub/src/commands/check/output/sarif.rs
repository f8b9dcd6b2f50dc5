//! `sarif`: a SARIF 2.1.0 log with one run, as conftest writes it: a rule per namespace and
//! kind (`main/deny`, `main/warn`, `main/allow` for exceptions, `main/success`, `main/skip`),
//! a result per message, and a success or skip result for files without failures or warnings.

use std::io::{self, Write};

use serde_json::{Map, Value as Json, json};

use crate::commands::check::result::{CheckResult, Message, exit_code};

const SCHEMA: &str = "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/main/sarif-2.1/schema/sarif-schema-2.1.0.json";
const SUCCESS: &str = "Policy was satisfied successfully";
const SKIPPED: &str = "Policy check was skipped";

#[derive(Default)]
struct Run {
    rules: Vec<Json>,
    results: Vec<Json>,
}

impl Run {
    fn add(&mut self, m: &Message, namespace: &str, kind: &str, level: &str, file: &str) {
        let id = format!("{namespace}/{kind}");
        let index = match self.rules.iter().position(|r| r["id"] == id.as_str()) {
            Some(i) => i,
            None => {
                let description = match kind {
                    "success" => SUCCESS,
                    "skip" => SKIPPED,
                    "allow" => "Policy exception",
                    "warn" => "Policy warning",
                    _ => "Policy violation",
                };
                let mut rule = json!({"id": id, "shortDescription": {"text": description}});
                if !m.metadata.is_empty() {
                    rule["properties"] = Json::Object(m.metadata.clone());
                }
                self.rules.push(rule);
                self.rules.len() - 1
            }
        };
        let mut physical = Map::new();
        match &m.loc {
            Some(loc) => {
                let uri = if loc.file.is_empty() { file } else { &loc.file };
                physical.insert(
                    "artifactLocation".into(),
                    json!({"uri": uri.replace('\\', "/")}),
                );
                if let Some(line) = loc.line {
                    physical.insert("region".into(), json!({"startLine": line, "endLine": line}));
                }
            }
            None => {
                physical.insert(
                    "artifactLocation".into(),
                    json!({"uri": file.replace('\\', "/")}),
                );
            }
        }
        self.results.push(json!({
            "ruleId": id,
            "ruleIndex": index,
            "level": level,
            "message": {"text": m.msg},
            "locations": [{"physicalLocation": physical}],
        }));
    }
}

pub(super) fn write(results: &[CheckResult], out: &mut dyn Write) -> io::Result<()> {
    let mut run = Run::default();
    for r in results {
        let (ns, file) = (r.namespace.as_str(), r.filename.as_str());
        for m in &r.failures {
            run.add(m, ns, "deny", "error", file);
        }
        for m in &r.warnings {
            run.add(m, ns, "warn", "warning", file);
        }
        for m in &r.exceptions {
            run.add(m, ns, "allow", "note", file);
        }
        if !r.failures.is_empty() || !r.warnings.is_empty() {
            continue;
        }
        let status = |text: &str| {
            let mut m = Message::text(text);
            m.metadata.insert("description".into(), json!(text));
            m
        };
        if r.successes > 0 || !r.exceptions.is_empty() {
            run.add(&status(SUCCESS), ns, "success", "none", file);
        } else {
            run.add(&status(SKIPPED), ns, "skip", "none", file);
        }
    }
    let code = exit_code(results, false);
    let description = if code > 0 {
        "Policy violations found"
    } else if results.iter().any(|r| !r.warnings.is_empty()) {
        "Policy warnings found"
    } else {
        "No policy violations found"
    };
    let log = json!({
        "version": "2.1.0",
        "$schema": SCHEMA,
        "runs": [{
            "tool": {"driver": {
                "name": "gatehouse",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": env!("CARGO_PKG_REPOSITORY"),
                "rules": run.rules,
            }},
            "invocations": [{
                "executionSuccessful": true,
                "exitCode": code,
                "exitCodeDescription": description,
            }],
            "results": run.results,
        }],
    });
    let text = serde_json::to_string_pretty(&log).map_err(io::Error::other)?;
    writeln!(out, "{text}")
}

#[cfg(test)]
mod tests {
    use super::super::Options;
    use super::super::fixtures::{render, results};
    use crate::cli::CheckOutput;
    use serde_json::{Value as Json, json};

    #[test]
    fn log_matches_conftests_sarif() {
        let text = render(CheckOutput::Sarif, &results(), Options::default());
        let log: Json = serde_json::from_str(&text).unwrap();
        assert_eq!(log["version"], "2.1.0");
        let run = &log["runs"][0];
        let ids: Vec<&str> = run["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            ["main/deny", "main/warn", "main/allow", "main/success"]
        );
        assert_eq!(
            run["results"][0],
            json!({
                "ruleId": "main/deny", "ruleIndex": 0, "level": "error",
                "message": {"text": "image uses latest"},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": "deploy.yaml"},
                    "region": {"startLine": 7, "endLine": 7}
                }}]
            })
        );
        assert_eq!(run["results"][3]["ruleId"], "main/success");
        assert_eq!(
            run["results"][3]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "service.yaml"
        );
        assert_eq!(
            run["invocations"][0],
            json!({"executionSuccessful": true, "exitCode": 1, "exitCodeDescription": "Policy violations found"})
        );
    }
}
