//! `gatehouse schema`: the contract's JSON Schemas, generated from the engine's types.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{SchemaArgs, SchemaKind};

pub(super) fn run(args: SchemaArgs) -> Result<ExitCode> {
    let schema = match args.which {
        SchemaKind::Action => gatehouse_engine::action_schema(),
        SchemaKind::Decision => {
            serde_json::to_value(schemars::schema_for!(gatehouse_engine::Decision))?
        }
        SchemaKind::Bindings => {
            serde_json::to_value(schemars::schema_for!(gatehouse_engine::Bindings))?
        }
    };
    outln!("{}", serde_json::to_string_pretty(&schema)?)?;
    Ok(ExitCode::SUCCESS)
}
