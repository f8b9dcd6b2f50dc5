//! `gatehouse decide`: the hub's verdict on an action document, for CI and for policy authors.
//!
//! Exit codes: 0 allow, 2 deny, 3 pending, 1 error (bundle or file problems).

use std::process::ExitCode;

use anyhow::Result;
use gatehouse_engine::{DecideOptions, Decision, Outcome};

use super::{engine_for, read_document};
use crate::cli::{DecideArgs, DecideFormat, PolicySource};

pub(super) fn run(args: DecideArgs) -> Result<ExitCode> {
    let source = PolicySource {
        data: args.policies.clone(),
        builtin: args.builtin,
        v0: args.v0,
        timeout: args.timeout,
    };
    let engine = engine_for(&source, args.bindings.as_deref(), true)?;
    // YAML actions are accepted for convenience; the engine sees the JSON text either way, so
    // size limits and field paths apply identically.
    let text = serde_json::to_string(&read_document(&args.action)?)?;
    let decision = engine.decide_json(
        &text,
        DecideOptions {
            explain: args.explain,
        },
    );
    match args.format {
        DecideFormat::Json => outln!("{}", serde_json::to_string_pretty(&decision)?)?,
        DecideFormat::Pretty => out!("{}", render(&decision))?,
    }
    Ok(ExitCode::from(match decision.outcome {
        Outcome::Allow => 0,
        Outcome::Deny => 2,
        Outcome::Pending => 3,
    }))
}

/// The decision as people read it.
pub(crate) fn render(d: &Decision) -> String {
    let mut out = format!(
        "{} {}  ({} µs, revision {}, {})\n",
        d.outcome.as_str().to_uppercase(),
        d.kind,
        d.duration_us,
        d.revision,
        d.decision_id
    );
    let line = |out: &mut String, tag: &str, f: &gatehouse_engine::Finding| {
        let object = f
            .object
            .as_deref()
            .map(|o| format!(" [{o}]"))
            .unwrap_or_default();
        out.push_str(&format!("  {tag} {}{object}: {}\n", f.policy, f.message));
    };
    for v in &d.violations {
        line(&mut out, "✗", v);
    }
    for r in &d.requirements {
        out.push_str(&format!(
            "  {} {}: {}\n",
            if r.satisfied { "✓" } else { "…" },
            r.policy,
            r.message
        ));
    }
    for w in &d.warnings {
        line(&mut out, "!", w);
    }
    for a in &d.audit {
        line(&mut out, "·", a);
    }
    if let Some(explain) = &d.explain {
        out.push_str("policies:\n");
        for p in explain {
            let state = match (&p.mode, &p.skipped) {
                (Some(mode), _) => format!("ran ({}, input: {})", mode.as_str(), p.input),
                (None, Some(why)) => format!("skipped: {why}"),
                (None, None) => "skipped".into(),
            };
            let fired: Vec<String> = p
                .fired
                .iter()
                .map(|r| format!("{}×{}", r.rule, r.count))
                .collect();
            let fired = if fired.is_empty() {
                String::new()
            } else {
                format!("; fired {}", fired.join(", "))
            };
            out.push_str(&format!("  {} {state}{fired}\n", p.policy));
        }
    }
    out
}
