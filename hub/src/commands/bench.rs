//! `gatehouse bench`: how fast a query or a decision runs, like `opa bench`.
//!
//! Each measured iteration is the real path: for `--action`, a full decision (encoding the
//! action as Rego input, evaluating every applicable policy, building the decision); with
//! `--parse-input`, parsing and validating the JSON text as well. Medians and percentiles are
//! reported, not means, because these machines are shared and noisy.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use gatehouse_engine::{Action, DecideOptions, Engine};
use serde_json::{Value as Json, json};

use super::{engine_for, read_document};
use crate::cli::{BenchArgs, DecideFormat};

/// One measured iteration: a decision or a query against the engine.
type Work = std::sync::Arc<dyn Fn(&Engine) + Send + Sync>;

pub(super) fn run(args: BenchArgs) -> Result<ExitCode> {
    if args.count == 0 {
        bail!("--count must be at least 1");
    }
    let (engine, work): (Engine, Work) = match (&args.action, &args.query) {
        (Some(path), _) => {
            let engine = engine_for(&args.source, args.bindings.as_deref(), true)?;
            let text = serde_json::to_string(&read_document(path)?)?;
            let action =
                Action::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            if args.parse_input {
                (
                    engine,
                    std::sync::Arc::new(move |e: &Engine| {
                        drop(e.decide_json(&text, DecideOptions::default()))
                    }),
                )
            } else if args.prepared {
                let prepared = Engine::prepare(action)?;
                let work: Work = std::sync::Arc::new(move |e: &Engine| {
                    drop(e.decide_prepared(&prepared, DecideOptions::default()))
                });
                (engine, work)
            } else {
                (
                    engine,
                    std::sync::Arc::new(move |e: &Engine| drop(e.decide(&action))),
                )
            }
        }
        (None, Some(query)) => {
            let engine = engine_for(&args.source, None, false)?;
            let input = args.input.as_deref().map(read_document).transpose()?;
            // Fail early on a query that does not evaluate.
            engine.query(query, input.as_ref())?;
            let query = query.clone();
            (
                engine,
                std::sync::Arc::new(move |e: &Engine| drop(e.query(&query, input.as_ref()))),
            )
        }
        (None, None) => {
            bail!("give a query to benchmark, or --action FILE to benchmark a decision")
        }
    };

    for _ in 0..(args.count / 10).max(10) {
        work(&engine);
    }
    let mut samples = Vec::with_capacity(args.count);
    for _ in 0..args.count {
        let t = Instant::now();
        work(&engine);
        samples.push(t.elapsed());
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    let us = |d: Duration| (d.as_secs_f64() * 1e6 * 100.0).round() / 100.0;
    let mut report = json!({
        "engine": "gatehouse",
        "runs": samples.len(),
        "median_us": us(pct(0.5)),
        "p10_us": us(pct(0.1)),
        "p90_us": us(pct(0.9)),
        "p99_us": us(pct(0.99)),
        "min_us": us(samples[0]),
        "max_us": us(samples[samples.len() - 1]),
        "mean_us": us(mean),
    });

    if args.action.is_some() {
        // Engine start: loading and compiling the bundle, as `gatehouse serve` does once.
        let mut starts: Vec<Duration> = (0..15)
            .map(|_| {
                let t = Instant::now();
                let _ = engine_for(&args.source, args.bindings.as_deref(), true);
                t.elapsed()
            })
            .collect();
        starts.sort();
        report["engine_start_ms"] =
            json!((starts[starts.len() / 2].as_secs_f64() * 1e5).round() / 100.0);
    }

    if let Some(threads) = args.threads.filter(|t| *t > 1) {
        let single = throughput(&engine, &work, 1, args.count);
        let multi = throughput(&engine, &work, threads, args.count);
        report["threads"] = json!({
            "threads": threads,
            "single_thread_ops_per_sec": single.round(),
            "ops_per_sec": multi.round(),
            "speedup": (multi / single * 100.0).round() / 100.0,
        });
    }

    match args.format {
        DecideFormat::Json => outln!("{}", serde_json::to_string(&report)?)?,
        DecideFormat::Pretty => print_table(&report)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Decisions per second with `threads` threads sharing one engine, `count` decisions in all.
fn throughput(engine: &Engine, work: &Work, threads: usize, count: usize) -> f64 {
    let per_thread = (count / threads).max(1);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let engine = engine.clone();
            let work = work.clone();
            s.spawn(move || {
                for _ in 0..per_thread {
                    work(&engine);
                }
            });
        }
    });
    (per_thread * threads) as f64 / start.elapsed().as_secs_f64()
}

fn print_table(report: &Json) -> Result<(), crate::OutputError> {
    let rows = [
        ("samples", report["runs"].to_string()),
        ("median", format!("{} µs", report["median_us"])),
        (
            "p10 / p90 / p99",
            format!(
                "{} / {} / {} µs",
                report["p10_us"], report["p90_us"], report["p99_us"]
            ),
        ),
        (
            "min / max",
            format!("{} / {} µs", report["min_us"], report["max_us"]),
        ),
        ("mean", format!("{} µs", report["mean_us"])),
        (
            "engine start",
            report
                .get("engine_start_ms")
                .map(|v| format!("{v} ms"))
                .unwrap_or_else(|| "-".into()),
        ),
    ];
    for (k, v) in rows {
        outln!("{k:<18} {v}")?;
    }
    if let Some(t) = report.get("threads") {
        outln!(
            "{:<18} {} ops/s with 1 thread, {} ops/s with {} threads ({}×)",
            "throughput",
            t["single_thread_ops_per_sec"],
            t["ops_per_sec"],
            t["threads"],
            t["speedup"]
        )?;
    }
    Ok(())
}
