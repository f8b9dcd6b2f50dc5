//! `gatehouse test`: runs `test_*` rules the way `opa test` does.
//!
//! Exit codes: 0 all passed, 2 a test failed or errored, 1 the policies did not load.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use gatehouse_engine::testing::Status;
use gatehouse_engine::{Engine, EngineOptions};

use super::load_bundle;
use crate::cli::{TestArgs, TestFormat};

pub(super) fn run(args: TestArgs) -> Result<ExitCode> {
    let started = Instant::now();
    if args.paths.is_empty() && !args.builtin {
        anyhow::bail!(
            "no policies to test: give one or more paths, or --builtin for the built-in library"
        );
    }
    let filter = args
        .run
        .as_deref()
        .map(regex::Regex::new)
        .transpose()
        .context("--run is not a valid regular expression")?;
    let bundle = load_bundle(&args.paths, args.builtin, args.v0, true)?;
    let engine = Engine::compile(
        bundle,
        None,
        EngineOptions {
            timeout: args.timeout,
            ..EngineOptions::default()
        },
    )?;
    let tests: Vec<_> = engine
        .tests()
        .into_iter()
        .filter(|t| {
            filter
                .as_ref()
                .is_none_or(|r| r.is_match(&format!("data.{}.{}", t.package, t.name)))
        })
        .collect();
    let results: Vec<_> = tests.iter().map(|t| engine.run_test(t)).collect();
    let count = |f: fn(&Status) -> bool| results.iter().filter(|r| f(&r.status)).count();
    let (pass, fail, error, skip) = (
        count(|s| *s == Status::Pass),
        count(|s| *s == Status::Fail),
        count(|s| matches!(s, Status::Error(_))),
        count(|s| *s == Status::Skip),
    );
    match args.format {
        TestFormat::Json => println!("{}", serde_json::to_string_pretty(&results)?),
        TestFormat::Pretty => {
            let mut file = "";
            for r in &results {
                let shown = args.verbose || !matches!(r.status, Status::Pass | Status::Skip);
                if !shown {
                    continue;
                }
                if r.rule.file != file {
                    file = &r.rule.file;
                    println!("{file}:");
                }
                let name = format!("data.{}.{}", r.rule.package, r.rule.name);
                match &r.status {
                    Status::Pass => println!("{name}: PASS ({})", human(r.duration)),
                    Status::Skip => println!("{name}: SKIPPED"),
                    Status::Fail => println!(
                        "{name}: FAIL ({}) at line {}",
                        human(r.duration),
                        r.rule.line
                    ),
                    Status::Error(e) => println!("{name}: ERROR ({})\n  {e}", human(r.duration)),
                }
            }
            if !results.is_empty() && (args.verbose || fail + error > 0) {
                println!("{}", "-".repeat(80));
            }
            println!("PASS: {pass}/{}", results.len());
            if fail > 0 {
                println!("FAIL: {fail}/{}", results.len());
            }
            if error > 0 {
                println!("ERROR: {error}/{}", results.len());
            }
            if skip > 0 {
                println!("SKIPPED: {skip}/{}", results.len());
            }
            if results.is_empty() {
                println!("no tests found (rules named test_* in the given paths)");
            }
            if args.verbose {
                println!("total time: {}", human(started.elapsed()));
            }
        }
    }
    Ok(if fail + error > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn human(d: Duration) -> String {
    if d.as_millis() >= 10 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}µs", d.as_secs_f64() * 1e6)
    }
}
