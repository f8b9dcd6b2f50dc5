//! `gatehouse test`: runs `test_*` rules the way `opa test` does.
//!
//! Exit codes: 0 all passed, 2 a test failed or errored, 1 the policies did not load.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use gatehouse_engine::testing::{Coverage, Status};
use gatehouse_engine::{Engine, EngineOptions};

use super::load_bundle;
use crate::cli::{Explain, TestArgs, TestFormat};

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
    let (results, coverage) = engine.run_tests(&tests, args.coverage);
    let count = |f: fn(&Status) -> bool| results.iter().filter(|r| f(&r.status)).count();
    let (pass, fail, error, skip) = (
        count(|s| *s == Status::Pass),
        count(|s| *s == Status::Fail),
        count(|s| matches!(s, Status::Error(_))),
        count(|s| *s == Status::Skip),
    );
    let below_threshold = coverage
        .as_ref()
        .is_some_and(|c| c.percent < args.threshold);
    match args.format {
        TestFormat::Json if args.coverage => outln!(
            "{}",
            serde_json::to_string_pretty(&coverage.as_ref().map(opa_coverage_json))?
        )?,
        TestFormat::Json => {
            let explained: Vec<serde_json::Value> = results
                .iter()
                .map(|r| {
                    let mut v = serde_json::to_value(r).unwrap_or_default();
                    if wants_explanation(args.explain, &r.status) {
                        v["explanation"] =
                            serde_json::to_value(engine.explain_test(&r.rule)).unwrap_or_default();
                    }
                    v
                })
                .collect();
            outln!("{}", serde_json::to_string_pretty(&explained)?)?
        }
        TestFormat::Pretty => {
            let mut file = "";
            for r in &results {
                let explanation = wants_explanation(args.explain, &r.status)
                    .then(|| engine.explain_test(&r.rule));
                let has_notes = explanation.as_ref().is_some_and(|e| !e.notes.is_empty());
                let shown = args.verbose
                    || args.explain == Explain::Full
                    || has_notes
                    || !matches!(r.status, Status::Pass | Status::Skip);
                if !shown {
                    continue;
                }
                if r.rule.file != file {
                    file = &r.rule.file;
                    outln!("{file}:")?;
                }
                let name = format!("data.{}.{}", r.rule.package, r.rule.name);
                match &r.status {
                    Status::Pass => outln!("{name}: PASS ({})", human(r.duration))?,
                    Status::Skip => outln!("{name}: SKIPPED")?,
                    Status::Fail => outln!(
                        "{name}: FAIL ({}) at line {}",
                        human(r.duration),
                        r.rule.line
                    )?,
                    Status::Error(e) => outln!("{name}: ERROR ({})\n  {e}", human(r.duration))?,
                }
                if let Some(why) = explanation {
                    if let Some((line, text)) = &why.stopped_at {
                        outln!("  stopped at {}:{line}: {text}", r.rule.file)?;
                    }
                    for note in &why.notes {
                        outln!("  note: {note}")?;
                    }
                }
            }
            if !results.is_empty() && (args.verbose || fail + error > 0) {
                outln!("{}", "-".repeat(80))?;
            }
            outln!("PASS: {pass}/{}", results.len())?;
            if fail > 0 {
                outln!("FAIL: {fail}/{}", results.len())?;
            }
            if error > 0 {
                outln!("ERROR: {error}/{}", results.len())?;
            }
            if skip > 0 {
                outln!("SKIPPED: {skip}/{}", results.len())?;
            }
            if results.is_empty() {
                outln!("no tests found (rules named test_* in the given paths)")?;
            }
            if args.verbose {
                outln!("total time: {}", human(started.elapsed()))?;
            }
            if let Some(c) = &coverage {
                outln!("{}", "-".repeat(80))?;
                outln!("coverage (lines evaluated by the tests / lines with rules):")?;
                for f in &c.files {
                    let total = f.covered.len() + f.not_covered.len();
                    outln!(
                        "  {:>6.2}%  {:>4}/{:<4} {}",
                        f.percent,
                        f.covered.len(),
                        total,
                        f.path
                    )?;
                }
                let total = c.covered_lines + c.not_covered_lines;
                outln!(
                    "  {:>6.2}%  {:>4}/{:<4} total",
                    c.percent,
                    c.covered_lines,
                    total
                )?;
            }
        }
    }
    if below_threshold && let Some(c) = &coverage {
        eprintln!(
            "Code coverage threshold not met: got {:.2} instead of {:.2}",
            c.percent, args.threshold
        );
    }
    Ok(if fail + error > 0 || below_threshold {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// The coverage report in `opa test --coverage -f json`'s shape: line ranges per file.
fn opa_coverage_json(c: &Coverage) -> serde_json::Value {
    let ranges = |lines: &std::collections::BTreeSet<u32>| {
        let mut out: Vec<(u32, u32)> = Vec::new();
        for &l in lines {
            match out.last_mut() {
                Some((_, end)) if *end + 1 == l => *end = l,
                _ => out.push((l, l)),
            }
        }
        out.into_iter()
            .map(|(s, e)| serde_json::json!({"start": {"row": s}, "end": {"row": e}}))
            .collect::<Vec<_>>()
    };
    let files: serde_json::Map<String, serde_json::Value> = c
        .files
        .iter()
        .map(|f| {
            let report = serde_json::json!({
                "covered": ranges(&f.covered),
                "not_covered": ranges(&f.not_covered),
                "covered_lines": f.covered.len(),
                "not_covered_lines": f.not_covered.len(),
                "coverage": f.percent,
            });
            (f.path.clone(), report)
        })
        .collect();
    serde_json::json!({
        "files": files,
        "covered_lines": c.covered_lines,
        "not_covered_lines": c.not_covered_lines,
        "coverage": c.percent,
    })
}

/// Whether `--explain` asks for an explanation of a test with this status.
fn wants_explanation(explain: Explain, status: &Status) -> bool {
    match explain {
        Explain::Fails => matches!(status, Status::Fail | Status::Error(_)),
        Explain::Notes | Explain::Full => !matches!(status, Status::Skip),
    }
}

fn human(d: Duration) -> String {
    if d.as_millis() >= 10 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}µs", d.as_secs_f64() * 1e6)
    }
}
