//! `gatehouse render`: render a chart or a project directory exactly as the hub renders it, and
//! with `--check` put each render through the render gate, so CI sees the hub's verdict before
//! a merge.
//!
//! With `--schemas`, every rendered object is also validated against the Kubernetes JSON
//! schemas (and CRDs), each problem naming the object and the field.
//!
//! Exit codes: 0 rendered (valid, allowed), 2 a policy blocked a render, 1 error (the chart,
//! the values or the project could not be rendered, or an object is invalid).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use gatehouse_engine::{Decision, Engine, Outcome};
use gatehouse_render::chart::{Chart, RenderOptions, Renderer, values};
use gatehouse_render::delivery::{self, Target};
use gatehouse_render::validate::Schemas;
use serde_json::Value as Json;

use super::engine_for;
use crate::cli::{PolicySource, RenderArgs};
use crate::delivery::{GateScope, gate};

pub(super) fn run(args: RenderArgs) -> Result<ExitCode> {
    let engine = if args.check {
        let source = PolicySource {
            data: args.policies.clone(),
            builtin: args.builtin,
            v0: false,
            timeout: std::time::Duration::from_millis(500),
        };
        Some(engine_for(&source, args.bindings.as_deref(), true)?)
    } else {
        None
    };
    let base = RenderOptions {
        kube_version: args.kube_version.clone(),
        ..RenderOptions::default()
    };
    let mut checks = Checks {
        engine: engine.as_ref(),
        schemas: args
            .schemas
            .as_deref()
            .map(|dir| schemas(dir, &args))
            .transpose()?,
    };
    if args.project {
        project(&args, &base, &mut checks)
    } else {
        chart(&args, &base, &mut checks)
    }
}

/// What each render is checked against.
struct Checks<'a> {
    engine: Option<&'a Engine>,
    schemas: Option<Schemas>,
}

impl Checks<'_> {
    /// Validates `objects`, printing each problem; false when any.
    fn valid(&mut self, what: &str, objects: &[Json]) -> Result<bool> {
        let Some(schemas) = self.schemas.as_mut() else {
            return Ok(true);
        };
        schemas
            .add_crds_from(objects)
            .map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
        let problems = schemas.validate(objects);
        for p in &problems {
            eprintln!("{what}: invalid: {p}");
        }
        Ok(problems.is_empty())
    }
}

fn schemas(dir: &Path, args: &RenderArgs) -> Result<Schemas> {
    let mut schemas = Schemas::from_dir(dir)
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?
        .ignore_missing_schemas(args.ignore_missing_schemas);
    for file in &args.crds {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("{}: cannot be read", file.display()))?;
        let crd: Json = serde_saphyr::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        schemas
            .add_crd(&crd)
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    }
    Ok(schemas)
}

fn chart(args: &RenderArgs, base: &RenderOptions, checks: &mut Checks<'_>) -> Result<ExitCode> {
    if args.out.is_some() {
        bail!("--out writes a project's repository files: add --project");
    }
    let chart = load_chart(&args.path)?;
    let renderer = Renderer::new(chart)?;
    let mut layers = Vec::new();
    for file in &args.values {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("{}: cannot be read", file.display()))?;
        let layer = values::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        layers.push(layer);
    }
    let options = RenderOptions {
        release_name: args.name.clone(),
        namespace: args.namespace.clone(),
        ..base.clone()
    };
    let rendered = renderer.render(&values::layer(&layers), &options)?;
    out!("{}", rendered.stream())?;
    let objects = rendered.objects();
    if !checks.valid(&args.name, &objects)? {
        return Ok(ExitCode::FAILURE);
    }
    let Some(engine) = checks.engine else {
        return Ok(ExitCode::SUCCESS);
    };
    let scope = GateScope {
        org: args.org.clone(),
        project: None,
        environment: args.environment.clone(),
        tenant: args.tenant.clone(),
        workload: Some(args.name.clone()),
    };
    let decision = gate(engine, &scope, &objects);
    Ok(report(&[(
        format!("{} ({})", args.name, args.path.display()),
        decision,
    )]))
}

fn project(args: &RenderArgs, base: &RenderOptions, checks: &mut Checks<'_>) -> Result<ExitCode> {
    if !args.values.is_empty() {
        bail!("a project's values come from its project.yaml: drop -f");
    }
    let project = delivery::dir::load(&args.path)?;
    let mut decisions = Vec::new();
    let mut files = std::collections::BTreeMap::new();
    let mut valid = true;
    for target in project.targets() {
        let rt = project.render(&target, base)?;
        valid &= checks.valid(&target.dir(), &rt.objects)?;
        if let Some(engine) = checks.engine {
            decisions.push((
                target.dir(),
                gate(engine, &scope_of(args, &project.name, &target), &rt.objects),
            ));
        }
        if args.out.is_some() {
            files.extend(project.files(&rt));
        } else {
            out!("{}", rt.rendered.stream())?;
        }
    }
    if let Some(out) = &args.out {
        for (path, bytes) in &files {
            let dest = out.join(path);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("{}: cannot be created", parent.display()))?;
            }
            std::fs::write(&dest, bytes)
                .with_context(|| format!("{}: cannot be written", dest.display()))?;
        }
        eprintln!("wrote {} files to {}", files.len(), out.display());
    }
    if !valid {
        return Ok(ExitCode::FAILURE);
    }
    if checks.engine.is_none() {
        return Ok(ExitCode::SUCCESS);
    }
    Ok(report(&decisions))
}

fn scope_of(args: &RenderArgs, project: &str, target: &Target) -> GateScope {
    GateScope {
        org: args.org.clone(),
        project: Some(project.to_owned()),
        environment: Some(target.environment.clone()),
        tenant: Some(target.tenant.clone()),
        workload: Some(target.workload.clone()),
    }
}

fn load_chart(path: &Path) -> Result<Chart> {
    Ok(if path.is_dir() {
        Chart::load_dir(path)?
    } else {
        let bytes =
            std::fs::read(path).with_context(|| format!("{}: cannot be read", path.display()))?;
        Chart::load_archive(&bytes)?
    })
}

/// Prints each gate verdict to stderr (stdout carries the manifests) and picks the exit code.
fn report(decisions: &[(String, Decision)]) -> ExitCode {
    let mut blocked = false;
    for (what, d) in decisions {
        eprintln!("{}: {} ({})", what, d.outcome.as_str(), d.decision_id);
        for v in d.violations.iter().chain(d.warnings.iter()) {
            let object = v.object.as_deref().unwrap_or("-");
            eprintln!(
                "  [{}] {} {}: {}",
                v.mode.as_str(),
                v.policy,
                object,
                v.message
            );
        }
        blocked |= d.outcome != Outcome::Allow;
    }
    if blocked {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
