//! `gatehouse check`: configuration files tested against policies, the way `conftest test`
//! tests them, so existing conftest pipelines switch over unchanged.
//!
//! The command compiles the policies once ([`evaluate::Plan`] picks the namespaces and their
//! `deny`, `violation` and `warn` rules), reads every file into documents with the parser its
//! name calls for ([`parse`]), checks each document with a single query on the prepared engine
//! (documents in parallel, results in file order), and prints the results in conftest's formats
//! ([`output`]) with conftest's exit codes ([`result::exit_code`]). `--verify` runs the
//! policies' own tests instead ([`verify`]).

mod data;
mod evaluate;
mod files;
mod output;
mod parallel;
mod parse;
mod progress;
mod result;
mod verify;

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use gatehouse_engine::{Bundle, Engine, EngineOptions, LoadOptions};
use serde_json::{Value as Json, json};

use crate::cli::{CheckArgs, CheckOutput, RegoVersion};
use evaluate::{Outcome, Plan, file_info};
use result::{CheckResult, exit_code};

pub(super) fn run(args: CheckArgs) -> Result<ExitCode> {
    let _span = tracing::info_span!(
        "check",
        files = args.files.len(),
        verify = args.verify,
        combine = args.combine
    )
    .entered();
    let engine = compile(&args)?;
    let results = if args.verify {
        verify::run(&engine)
    } else {
        check(&engine, &args)?
    };
    let options = output::Options {
        color: args.output == CheckOutput::Stdout && colour_wanted(args.no_color),
        suppress_exceptions: args.suppress_exceptions,
        show_skipped: args.verify,
        junit_hide_message: args.junit_hide_message,
    };
    let mut out = std::io::stdout().lock();
    output::write(args.output, &results, options, &mut out)
        .and_then(|()| out.flush())
        .context("the results could not be written to stdout")?;
    let code = if args.no_fail {
        0
    } else {
        exit_code(&results, args.fail_on_warn && !args.verify)
    };
    tracing::info!(results = results.len(), code, "checked");
    Ok(ExitCode::from(code))
}

/// Colour on a terminal, unless `--no-color` or a non-empty `NO_COLOR` says otherwise.
fn colour_wanted(no_color: bool) -> bool {
    !no_color
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::stdout().is_terminal()
}

/// Loads the policies (and `-d` data) and compiles them once.
fn compile(args: &CheckArgs) -> Result<Engine> {
    for path in &args.policy {
        if !path.exists() {
            bail!(
                "The policy path {} does not exist. Put your .rego files there, or point -p/--policy at them.",
                path.display()
            );
        }
    }
    let options = LoadOptions {
        v0: args.v0 || args.rego_version == RegoVersion::V0,
    };
    let mut bundle = super::with_builtin_plugins(Bundle::load_paths(&args.policy, options)?)?;
    if bundle.modules.is_empty() {
        let shown: Vec<String> = args
            .policy
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        bail!(
            "No policies found in {}: there are no .rego files. Point -p/--policy at the directory that holds them.",
            shown.join(", ")
        );
    }
    data::load_into(&args.data, &mut bundle.data)?;
    let options = EngineOptions {
        timeout: args.timeout,
        ..EngineOptions::default()
    };
    Ok(Engine::compile(bundle, None, options)?)
}

/// Checks the files named by the arguments.
fn check(engine: &Engine, args: &CheckArgs) -> Result<Vec<CheckResult>> {
    let plan = Plan::new(engine, &args.namespace, args.all_namespaces, args.strict)?;
    let ignore = args
        .ignore
        .as_deref()
        .map(regex::Regex::new)
        .transpose()
        .context("--ignore is not a valid regular expression")?;
    let sources = files::collect(&args.files, ignore.as_ref())?;
    let stdin = if sources.iter().any(|s| s.name == "-") {
        super::read_text(Path::new("-"))?
    } else {
        String::new()
    };
    let reading = progress::Progress::new("reading files", sources.len());
    let parsed = parallel::map(&sources, |s| {
        let parsed = files::read(s, args.parser, &stdin);
        reading.tick();
        parsed
    });
    drop(reading);
    let namespaces: Vec<&str> = plan.namespaces().collect();
    let mut results = Vec::new();
    let unreadable = |p: &files::Parsed, failure: &result::Message| CheckResult {
        failures: vec![failure.clone()],
        ..CheckResult::new(&p.name, "-")
    };

    if args.combine {
        let mut contents = Vec::new();
        for p in &parsed {
            match &p.documents {
                Ok(docs) => {
                    contents.extend(docs.iter().map(|d| json!({"path": p.name, "contents": d})))
                }
                Err(failure) => results.push(unreadable(p, failure)),
            }
        }
        let outcomes = plan.check(engine, &Json::Array(contents), &file_info("Combined"));
        for (ns, outcome) in namespaces.iter().zip(outcomes) {
            results.push(combine("Combined", ns, [outcome]));
        }
        return Ok(results);
    }

    let documents: Vec<(usize, &Json)> = parsed
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.documents.as_ref().ok().map(|docs| (i, docs)))
        .flat_map(|(i, docs)| docs.iter().map(move |d| (i, d)))
        .collect();
    let checking = progress::Progress::new("checking documents", documents.len());
    let outcomes = parallel::map(&documents, |(i, doc)| {
        let info = parsed.get(*i).map_or(&Json::Null, |p| &p.info);
        let outcome = plan.check(engine, doc, info);
        checking.tick();
        outcome
    });
    drop(checking);
    let mut outcomes = documents.iter().map(|(i, _)| *i).zip(outcomes).peekable();
    for (i, p) in parsed.iter().enumerate() {
        let mut mine: Vec<Vec<Outcome>> = Vec::new();
        while let Some((_, o)) = outcomes.next_if(|(file, _)| *file == i) {
            mine.push(o);
        }
        match &p.documents {
            Err(failure) => results.push(unreadable(p, failure)),
            Ok(_) => {
                for (k, ns) in namespaces.iter().enumerate() {
                    let per_doc = mine
                        .iter_mut()
                        .filter_map(|o| o.get_mut(k).map(std::mem::take));
                    results.push(combine(&p.name, ns, per_doc));
                }
            }
        }
    }
    Ok(results)
}

/// One file's result in one namespace, from its documents' outcomes.
fn combine(
    file: &str,
    namespace: &str,
    outcomes: impl IntoIterator<Item = Outcome>,
) -> CheckResult {
    let mut result = CheckResult::new(file, namespace);
    for o in outcomes {
        result.successes += o.successes;
        result.warnings.extend(o.warnings);
        result.failures.extend(o.failures);
        result.exceptions.extend(o.exceptions);
    }
    result
}
