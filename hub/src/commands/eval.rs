//! `gatehouse eval`: a Rego query against policies and data, answered like `opa eval`.

use std::process::ExitCode;

use anyhow::Result;
use serde_json::Value as Json;

use super::{engine_for, read_document};
use crate::cli::{EvalArgs, EvalFormat};

pub(super) fn run(args: EvalArgs) -> Result<ExitCode> {
    let engine = engine_for(&args.source, None, false)?;
    let input = args.input.as_deref().map(read_document).transpose()?;
    let output = engine.query(&args.query, input.as_ref())?;
    let results = output
        .get("result")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    match args.format {
        EvalFormat::Json => outln!("{}", serde_json::to_string_pretty(&output)?)?,
        EvalFormat::Values => {
            for r in &results {
                let values: Vec<&Json> = r["expressions"]
                    .as_array()
                    .map(|e| e.iter().map(|x| &x["value"]).collect())
                    .unwrap_or_default();
                let line = if values.len() == 1 {
                    values[0].to_string()
                } else {
                    serde_json::to_string(&values)?
                };
                outln!("{line}")?;
            }
        }
        EvalFormat::Pretty => {
            if results.is_empty() {
                outln!("undefined")?;
            }
            for r in &results {
                if let Some(b) = r
                    .get("bindings")
                    .and_then(Json::as_object)
                    .filter(|b| !b.is_empty())
                {
                    for (k, v) in b {
                        outln!("{k} = {}", serde_json::to_string_pretty(v)?)?;
                    }
                } else if let Some(exprs) = r["expressions"].as_array() {
                    for e in exprs {
                        outln!("{}", serde_json::to_string_pretty(&e["value"])?)?;
                    }
                }
            }
        }
    }
    let defined = !results.is_empty();
    Ok(
        if (args.fail && !defined) || (args.fail_defined && defined) {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        },
    )
}
