//! The compiled engine: a bundle turned into something that decides actions.
//!
//! [`Engine::compile`] parses every module once, mounts the data, indexes the *policies* (the
//! packages that define decision rules: `deny`, `warn`, `violation`, `requirement`, each with an
//! optional `_suffix`, and `exception`) and generates one internal collector rule per policy, so
//! that a decision is a single Rego evaluation over all applicable policies: shared helper rules
//! (say `gatehouse.lib.k8s.workloads`) are computed once per decision, not once per policy.
//!
//! [`Engine`] is cheap to clone and `Send + Sync`; each decision works on its own copy of the
//! prepared interpreter (a clone is a few reference-count increments), so decisions run in
//! parallel without locks.
//!
//! Deciding never fails: a policy that errors, a time limit hit, an oversized or malformed
//! action all produce a `deny` decision whose findings name the policy or the field.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use regorus::Value;
use regorus::utils::limits::ExecutionTimerConfig;
use serde_json::{Value as Json, json};

use crate::action::{Action, ActionKind};
use crate::binding::{Bindings, InputMode, Mode};
use crate::bundle::{Bundle, Module};
use crate::decision::{Decision, Finding, Outcome, PolicyTrace, Requirement, RuleCount, Severity};
use crate::diagnostic;
use crate::error::Error;
use crate::input;
use crate::metadata::{self, PackageMetadata};
use crate::plugin::{self, FailureKind, PluginFailure, PluginLimits, PluginSet, Plugins};
use crate::testing::LineCoverage;

/// The package of the generated collector module; bundles may not use it.
pub(crate) const INTERNAL: &str = "gatehouse_internal";
/// The pseudo-policy named in the engine's own findings.
pub const ENGINE_POLICY: &str = "gatehouse.engine";

/// Limits and defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    /// Time limit for one evaluation; exceeding it denies.
    pub timeout: Duration,
    /// Largest action document accepted as JSON text, in bytes; larger denies.
    pub max_input_bytes: usize,
    /// Time and memory limits of each WebAssembly plugin call.
    pub plugin_limits: PluginLimits,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            timeout: Duration::from_millis(500),
            max_input_bytes: 8 * 1024 * 1024,
            plugin_limits: PluginLimits::default(),
        }
    }
}

/// Per-decision options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecideOptions {
    /// Attach per-policy detail (which policies ran, which rules fired) to the decision.
    pub explain: bool,
}

/// A policy: a package with decision rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Package path without `data.`, e.g. `gatehouse.k8s.replicas`.
    pub package: String,
    /// Files that contribute to the package.
    pub files: Vec<String>,
    /// Decision rules it defines, sorted.
    pub rules: Vec<String>,
    /// Its annotations.
    pub metadata: PackageMetadata,
    /// The generated collector rule for this policy.
    slot: String,
}

/// A compiled bundle, ready to decide. Clone freely.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    prototype: regorus::Engine,
    policies: Vec<Policy>,
    bindings: Bindings,
    revision: String,
    options: EngineOptions,
    modules: Vec<Module>,
    data: Json,
    plugins: Plugins,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("revision", &self.inner.revision)
            .field("policies", &self.inner.policies.len())
            .field("modules", &self.inner.modules.len())
            .field("plugins", &self.inner.plugins)
            .finish()
    }
}

fn is_decision_rule(name: &str) -> bool {
    name == "exception"
        || ["deny", "warn", "violation", "requirement"]
            .iter()
            .any(|base| {
                name == *base
                    || name
                        .strip_prefix(base)
                        .is_some_and(|rest| rest.starts_with('_') && rest.len() > 1)
            })
}

/// `data["a"]["b"]` for a dotted package path: safe for any component spelling.
fn data_ref(package: &str, rule: &str) -> String {
    let mut s = String::from("data");
    for part in package.split('.').chain(std::iter::once(rule)) {
        s.push_str(&format!("[{}]", Json::String(part.to_owned())));
    }
    s
}

impl Engine {
    /// Compiles a bundle. `bindings` overrides the bundle's own `bindings.yaml`; with neither,
    /// every policy is enforced everywhere.
    pub fn compile(
        bundle: Bundle,
        bindings: Option<Bindings>,
        options: EngineOptions,
    ) -> Result<Engine, Error> {
        let set = PluginSet::compile(&bundle.plugins, options.plugin_limits)
            .map_err(|e| Error::bundle("plugins", e))?;
        let plugins = Plugins::new(set);
        let mut rego = regorus::Engine::new();
        plugin::rego::register(&mut rego, &plugins).map_err(Error::Query)?;
        rego.set_execution_timer_config(ExecutionTimerConfig {
            limit: options.timeout,
            check_interval: NonZeroU32::MIN.saturating_add(31),
        });
        let mut packages: BTreeMap<String, (Vec<String>, PackageMetadata)> = BTreeMap::new();
        for m in &bundle.modules {
            rego.set_rego_v0(!m.rego_v1);
            let package = rego
                .add_policy(m.path.clone(), m.source.clone())
                .map_err(|e| {
                    Error::Rego(Box::new(diagnostic::from_parse_error(
                        &m.path,
                        &m.source,
                        &e.to_string(),
                        m.rego_v1,
                    )))
                })?;
            let package = package.strip_prefix("data.").unwrap_or(&package).to_owned();
            if is_internal(&package) {
                return Err(Error::bundle(
                    &m.path,
                    format!("package {package} is reserved for the engine; rename it"),
                ));
            }
            let meta = metadata::parse(&m.source).map_err(|e| Error::bundle(&m.path, e))?;
            let entry = packages.entry(package).or_default();
            entry.0.push(m.path.clone());
            if entry.1 == PackageMetadata::default() {
                entry.1 = meta;
            }
        }
        rego.set_rego_v0(false);
        rego.add_data(Value::from(bundle.data.clone()))
            .map_err(|e| Error::bundle("data", format!("cannot be loaded: {e}")))?;

        // Rule names per package, from the parsed modules.
        let mut rules: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for module in rego.get_modules() {
            let package = module.package.refr.span().text().to_owned();
            for rule in &module.policy {
                let name = rule_name(rule).to_owned();
                rules.entry(package.clone()).or_default().insert(name);
            }
        }

        let mut policies = Vec::new();
        let mut collector = format!("package {INTERNAL}.decide\n\n");
        for (package, (files, meta)) in packages {
            if package.ends_with("_test") {
                continue;
            }
            let decision_rules: Vec<String> = rules
                .get(&package)
                .map(|r| r.iter().filter(|n| is_decision_rule(n)).cloned().collect())
                .unwrap_or_default();
            if decision_rules.is_empty() {
                continue;
            }
            let slot = format!("p{}", policies.len());
            let fields: Vec<String> = decision_rules
                .iter()
                .map(|r| {
                    format!(
                        "  {}: [x | x := {}]",
                        Json::String(r.clone()),
                        data_ref(&package, r)
                    )
                })
                .collect();
            collector.push_str(&format!("{slot} := {{\n{}\n}}\n\n", fields.join(",\n")));
            policies.push(Policy {
                package,
                files,
                rules: decision_rules,
                metadata: meta,
                slot,
            });
        }
        rego.add_policy(format!("{INTERNAL}/decide.rego"), collector)
            .map_err(|e| Error::Query(format!("internal collector failed to compile: {e}")))?;
        // Prepare the interpreter once, so every clone starts ready.
        rego.eval_query("true".into(), false)
            .map_err(|e| Error::Query(format!("the bundle failed to prepare: {e}")))?;

        let bindings = bindings
            .or(bundle.bindings.clone())
            .unwrap_or_else(Bindings::enforce_all);
        for b in &bindings.bindings {
            if b.policy != "*"
                && !policies.iter().any(|p| {
                    p.package == b.policy || p.package.starts_with(&format!("{}.", b.policy))
                })
            {
                tracing::warn!(policy = %b.policy, "binding matches no policy in the bundle");
            }
        }
        Ok(Engine {
            inner: Arc::new(Inner {
                prototype: rego,
                policies,
                bindings,
                revision: bundle.revision,
                options,
                modules: bundle.modules,
                data: bundle.data,
                plugins,
            }),
        })
    }

    /// The bundle revision decisions report.
    pub fn revision(&self) -> &str {
        &self.inner.revision
    }

    /// The policies (packages with decision rules) in the bundle.
    pub fn policies(&self) -> &[Policy] {
        &self.inner.policies
    }

    /// The bindings in force.
    pub fn bindings(&self) -> &Bindings {
        &self.inner.bindings
    }

    /// The bundle's modules, as loaded.
    pub fn modules(&self) -> &[Module] {
        &self.inner.modules
    }

    /// The bundle's data document.
    pub fn data(&self) -> &Json {
        &self.inner.data
    }

    /// The engine's WebAssembly plugins; [`Plugins::swap`] replaces them while decisions run.
    pub fn plugins(&self) -> &Plugins {
        &self.inner.plugins
    }

    /// The limits this engine runs under.
    pub fn options(&self) -> EngineOptions {
        self.inner.options
    }

    /// A fresh copy of the prepared interpreter (for queries and tests).
    pub(crate) fn interpreter(&self) -> regorus::Engine {
        self.inner.prototype.clone()
    }

    /// Decides an action given as JSON text: oversized or malformed documents are denied with
    /// the offending field's path.
    pub fn decide_json(&self, text: &str, options: DecideOptions) -> Decision {
        self.decide_json_inner(text, options, None)
    }

    /// Decides an action given as JSON text, as [`Engine::decide_json`] does, and reports which
    /// lines of the bundle's modules the decision evaluated (for the playground's editor).
    ///
    /// ```
    /// use gatehouse_engine::{Bundle, DecideOptions, Engine, EngineOptions, LoadOptions};
    /// let bundle = Bundle::from_files(
    ///     [("p.rego", "package p\n\ndeny contains \"prod\" if {\n  input.scope.environment == \"production\"\n}\n")],
    ///     LoadOptions::default(),
    /// )?;
    /// let engine = Engine::compile(bundle, None, EngineOptions::default())?;
    /// let action = r#"{"kind": "release.deploy", "actor": {"id": "u-alice", "kind": "user"},
    ///     "scope": {"org": "acme", "environment": "staging"},
    ///     "subject": {"release": {"id": "rel-1"}}}"#;
    /// let (decision, coverage) = engine.decide_json_with_coverage(action, DecideOptions::default());
    /// assert_eq!(decision.outcome.as_str(), "allow");
    /// assert!(coverage.files[0].covered.contains(&4));
    /// # Ok::<(), gatehouse_engine::Error>(())
    /// ```
    pub fn decide_json_with_coverage(
        &self,
        text: &str,
        options: DecideOptions,
    ) -> (Decision, crate::testing::Coverage) {
        let mut coverage = LineCoverage::default();
        let decision = self.decide_json_inner(text, options, Some(&mut coverage));
        (decision, coverage.finish())
    }

    fn decide_json_inner(
        &self,
        text: &str,
        options: DecideOptions,
        coverage: Option<&mut LineCoverage>,
    ) -> Decision {
        let start = Instant::now();
        if text.len() > self.inner.options.max_input_bytes {
            return self.refuse(
                None,
                None,
                format!(
                    "The action document is {} bytes, over the {} byte limit; it is denied without evaluation. \
                     Send fewer or smaller manifests, or raise the limit.",
                    text.len(),
                    self.inner.options.max_input_bytes
                ),
                start,
            );
        }
        match Action::from_json(text) {
            Ok(action) => self.decide_inner(&action, None, options, start, coverage),
            Err(e) => {
                let kind = serde_json::from_str::<Json>(text)
                    .ok()
                    .and_then(|v| v.get("kind").and_then(Json::as_str).map(str::to_owned));
                self.refuse(
                    kind,
                    Some(json!({"path": e.path})),
                    format!("The action document is malformed at `{}`: {}. It is denied without evaluation.", e.path, e.message),
                    start,
                )
            }
        }
    }

    /// Decides an action.
    pub fn decide(&self, action: &Action) -> Decision {
        self.decide_with(action, DecideOptions::default())
    }

    /// Decides an action, with options.
    pub fn decide_with(&self, action: &Action, options: DecideOptions) -> Decision {
        self.decide_inner(action, None, options, Instant::now(), None)
    }

    /// Converts an action to Rego input once, for deciding it several times (each decision
    /// then skips the conversion, which dominates for actions carrying many manifests). A
    /// missing `time` is filled with the time of preparation.
    pub fn prepare(action: Action) -> Result<PreparedAction, Error> {
        let value = action_value(&action)
            .map_err(|e| Error::Query(format!("the action could not be converted: {e}")))?;
        Ok(PreparedAction { action, value })
    }

    /// Decides a prepared action.
    pub fn decide_prepared(&self, prepared: &PreparedAction, options: DecideOptions) -> Decision {
        self.decide_inner(
            &prepared.action,
            Some(prepared),
            options,
            Instant::now(),
            None,
        )
    }

    fn decide_inner(
        &self,
        action: &Action,
        prepared: Option<&PreparedAction>,
        options: DecideOptions,
        start: Instant,
        coverage: Option<&mut LineCoverage>,
    ) -> Decision {
        let _span =
            tracing::debug_span!("decide", kind = %action.kind, org = %action.scope.org).entered();
        let _plugin_log = plugin::rego::DecisionLog::begin(&self.inner.plugins);

        // Which policies run, in which mode, seeing which input.
        let mut traces: Vec<PolicyTrace> = Vec::with_capacity(self.inner.policies.len());
        let mut selected: Vec<(usize, Mode, InputMode)> = Vec::new();
        for (i, p) in self.inner.policies.iter().enumerate() {
            let binding = self.inner.bindings.resolve(&p.package, action);
            let input = binding
                .and_then(|b| b.input)
                .or(p.metadata.input)
                .unwrap_or(if action.kind == ActionKind::Render {
                    InputMode::Object
                } else {
                    InputMode::Action
                });
            let kinds_ok = match binding {
                Some(b) if !b.kinds.is_empty() => true, // the binding already matched on kind
                _ => p.metadata.kinds.is_empty() || p.metadata.kinds.contains(&action.kind),
            };
            let skipped = if !kinds_ok {
                Some(format!("does not apply to kind {}", action.kind))
            } else if binding.is_none() {
                Some("not bound for this scope".to_owned())
            } else if input == InputMode::Object && action.subject.manifests.is_empty() {
                Some("reads rendered objects and the action carries none".to_owned())
            } else {
                None
            };
            let mode = binding.map(|b| b.mode).filter(|_| skipped.is_none());
            traces.push(PolicyTrace {
                policy: p.package.clone(),
                mode,
                input: input.as_str().to_owned(),
                skipped,
                fired: Vec::new(),
                excepted: Vec::new(),
            });
            if let Some(mode) = mode {
                selected.push((i, mode, input));
            }
        }

        let converted;
        let input = match prepared {
            Some(p) => &p.value,
            None => match action_value(action) {
                Ok(v) => {
                    converted = v;
                    &converted
                }
                Err(e) => {
                    let message = format!("The action could not be converted to Rego input: {e}.");
                    return self.refuse(Some(action.kind.to_string()), None, message, start);
                }
            },
        };

        let mut collected = Collected {
            coverage: coverage.is_some().then(LineCoverage::default),
            ..Collected::default()
        };
        let whole: Vec<usize> = selected
            .iter()
            .filter(|s| s.2 == InputMode::Action)
            .map(|s| s.0)
            .collect();
        if !whole.is_empty() {
            self.evaluate(&whole, input, None, &mut collected);
        }
        let per_object: Vec<usize> = selected
            .iter()
            .filter(|s| s.2 == InputMode::Object)
            .map(|s| s.0)
            .collect();
        if !per_object.is_empty() {
            let views = input::object_views(input);
            for (object, view) in action.subject.manifests.iter().zip(&views) {
                self.evaluate(&per_object, view, Some(object_ref(object)), &mut collected);
            }
        }

        // Turn raw results into findings under each policy's mode.
        let mut decision = Decision {
            decision_id: format!("dec_{}", uuid::Uuid::now_v7().simple()),
            outcome: Outcome::Allow,
            kind: action.kind.to_string(),
            action_id: action.id.clone(),
            violations: Vec::new(),
            warnings: Vec::new(),
            audit: Vec::new(),
            requirements: Vec::new(),
            revision: self.inner.revision.clone(),
            decided_at: String::new(),
            duration_us: 0,
            explain: None,
        };
        for (index, mode, _) in &selected {
            let (Some(policy), Some(trace)) =
                (self.inner.policies.get(*index), traces.get_mut(*index))
            else {
                continue;
            };
            if let Some((error, details)) = collected.errors.get(index) {
                let finding = Finding {
                    policy: policy.package.clone(),
                    rule: "error".into(),
                    message: error.clone(),
                    severity: Severity::Critical,
                    mode: *mode,
                    object: None,
                    details: details.clone(),
                };
                match mode {
                    Mode::Enforce => decision.violations.push(finding),
                    Mode::Warn => decision.warnings.push(finding),
                    Mode::Audit => decision.audit.push(finding),
                }
                continue;
            }
            let Some(results) = collected.results.get(index) else {
                continue;
            };
            apply(policy, *mode, results, trace, &mut decision);
        }

        if let (Some(out), Some(merged)) = (coverage, collected.coverage.take()) {
            *out = merged;
        }
        decision.outcome = if !decision.violations.is_empty() {
            Outcome::Deny
        } else if decision.requirements.iter().any(|r| !r.satisfied) {
            Outcome::Pending
        } else {
            Outcome::Allow
        };
        decision.decided_at = now_rfc3339();
        decision.duration_us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        if options.explain {
            decision.explain = Some(traces);
        }
        tracing::debug!(
            outcome = decision.outcome.as_str(),
            violations = decision.violations.len(),
            us = decision.duration_us,
            "decided"
        );
        decision
    }

    /// Evaluates the collector rules of `policies` against `input`, adding their results (tagged
    /// with `object` when evaluating per object) or their errors to `out`.
    fn evaluate(
        &self,
        policies: &[usize],
        input: &Value,
        object: Option<String>,
        out: &mut Collected,
    ) {
        let mut rego = self.interpreter();
        rego.set_input(input.clone());
        rego.set_enable_coverage(out.coverage.is_some());
        let query = format!(
            "[{}]",
            policies
                .iter()
                .filter_map(|i| self.inner.policies.get(*i))
                .map(|p| format!("data.{INTERNAL}.decide.{}", p.slot))
                .collect::<Vec<_>>()
                .join(", ")
        );
        plugin::rego::take_failures();
        let evaluated = rego.eval_query(query, false);
        let failures = plugin::rego::take_failures();
        if let Some(coverage) = out.coverage.as_mut()
            && let Ok(report) = rego.get_coverage_report()
        {
            coverage.add(report, |_| true);
        }
        if !failures.is_empty() && evaluated.is_ok() {
            // A policy went on after a plugin failed (say, inside a negation): still deny,
            // and find out which policy called it.
            if policies.len() > 1 {
                for index in policies {
                    self.evaluate(std::slice::from_ref(index), input, object.clone(), out);
                }
            } else if let Some(index) = policies.first() {
                self.plugin_error(*index, &failures, object.as_deref(), out);
            }
            return;
        }
        match evaluated {
            Ok(results) => {
                let values = results
                    .result
                    .first()
                    .and_then(|r| r.expressions.first())
                    .map(|e| e.value.clone())
                    .unwrap_or(Value::Undefined);
                let array = values.as_array().ok();
                for (pos, index) in policies.iter().enumerate() {
                    match array.and_then(|a| a.get(pos)) {
                        Some(v) => out.add(*index, v, object.clone()),
                        None => {
                            out.errors.entry(*index).or_insert_with(|| {
                                ("The policy produced no result (the collector was undefined); the action is denied.".into(), None)
                            });
                        }
                    }
                }
            }
            Err(_) if policies.len() > 1 => {
                // Find out which policy failed: evaluate each one on its own.
                for index in policies {
                    self.evaluate(std::slice::from_ref(index), input, object.clone(), out);
                }
            }
            Err(_) if !failures.is_empty() => {
                let index = policies.first().copied().unwrap_or_default();
                self.plugin_error(index, &failures, object.as_deref(), out);
            }
            Err(e) => {
                let index = policies.first().copied().unwrap_or_default();
                let Some(policy) = self.inner.policies.get(index) else {
                    return;
                };
                let text = e.to_string();
                let message = if text.contains("exceeded time limit") {
                    format!(
                        "Policy {} did not finish within the {} ms time limit{}; the action is denied. \
                         Look for loops over large collections or raise the limit.",
                        policy.package,
                        self.inner.options.timeout.as_millis(),
                        object
                            .as_deref()
                            .map(|o| format!(" while checking {o}"))
                            .unwrap_or_default()
                    )
                } else {
                    let located = diagnostic::parse_located(&text)
                        .map(|d| format!("{}:{}:{}: {}", d.file, d.line, d.col, d.message))
                        .unwrap_or_else(|| text.trim().to_owned());
                    format!(
                        "Policy {} failed{}: {}; the action is denied until the policy is fixed.",
                        policy.package,
                        object
                            .as_deref()
                            .map(|o| format!(" on {o}"))
                            .unwrap_or_default(),
                        located
                    )
                };
                out.errors.entry(index).or_insert((message, None));
            }
        }
    }

    /// Records the denial for a policy whose plugin call failed, naming the plugin.
    fn plugin_error(
        &self,
        index: usize,
        failures: &[PluginFailure],
        object: Option<&str>,
        out: &mut Collected,
    ) {
        let Some(policy) = self.inner.policies.get(index) else {
            return;
        };
        let Some(first) = failures.first() else {
            return;
        };
        let next = match first.kind {
            FailureKind::Timeout => {
                "Look for unbounded loops in the plugin, or raise the plugin time limit."
            }
            FailureKind::Memory => {
                "Make the plugin allocate less, or raise the plugin memory limit."
            }
            FailureKind::Trap => "The plugin has a bug: fix it and rebuild it.",
            FailureKind::Malformed | FailureKind::Interface => {
                "Rebuild the plugin against the gatehouse-plugin-sdk (see docs/plugins.md)."
            }
            FailureKind::Error | FailureKind::Config => {
                "Correct the configuration or facts it names."
            }
            FailureKind::Missing => "Add the plugin to the bundle.",
            FailureKind::Busy => "Try again; too many plugin calls were running at once.",
        };
        let message = format!(
            "Plugin {} failed while policy {} was evaluated{}: {}. The action is denied. {next}",
            first.plugin,
            policy.package,
            object.map(|o| format!(" on {o}")).unwrap_or_default(),
            first.reason,
        );
        let details = json!({"plugin": first.plugin, "failure": first.kind.as_str()});
        out.errors.entry(index).or_insert((message, Some(details)));
    }

    fn refuse(
        &self,
        kind: Option<String>,
        details: Option<Json>,
        message: String,
        start: Instant,
    ) -> Decision {
        Decision {
            decision_id: format!("dec_{}", uuid::Uuid::now_v7().simple()),
            outcome: Outcome::Deny,
            kind: kind.unwrap_or_default(),
            action_id: None,
            violations: vec![Finding {
                policy: ENGINE_POLICY.into(),
                rule: "input".into(),
                message,
                severity: Severity::Critical,
                mode: Mode::Enforce,
                object: None,
                details,
            }],
            warnings: Vec::new(),
            audit: Vec::new(),
            requirements: Vec::new(),
            revision: self.inner.revision.clone(),
            decided_at: now_rfc3339(),
            duration_us: u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX),
            explain: None,
        }
    }
}

/// An action already converted to Rego input; see [`Engine::prepare`].
#[derive(Debug, Clone)]
pub struct PreparedAction {
    action: Action,
    value: Value,
}

impl PreparedAction {
    /// The action.
    pub fn action(&self) -> &Action {
        &self.action
    }
}

/// The action as Rego input, with `time` filled in when absent.
fn action_value(action: &Action) -> Result<Value, input::InputError> {
    let mut value = input::to_value(action)?;
    if action.time.is_none()
        && let Value::Object(map) = &mut value
    {
        Arc::make_mut(map).insert(Value::from("time"), Value::from(now_rfc3339()));
    }
    Ok(value)
}

/// One policy's results: rule name → values, each tagged with the object it came from.
type RuleResults = BTreeMap<String, Vec<(Json, Option<String>)>>;

/// Raw per-policy results: rule name → values (each tagged with the object it came from).
#[derive(Default)]
struct Collected {
    results: BTreeMap<usize, RuleResults>,
    /// Per policy: the message of its failure, with details (the plugin, for plugin failures).
    errors: BTreeMap<usize, (String, Option<Json>)>,
    /// Lines evaluated, when the caller asked for coverage.
    coverage: Option<LineCoverage>,
}

impl Collected {
    fn add(&mut self, index: usize, value: &Value, object: Option<String>) {
        let Ok(Json::Object(rules)) = serde_json::to_value(value) else {
            return;
        };
        let slot = self.results.entry(index).or_default();
        for (rule, wrapped) in rules {
            // Each field is `[x | x := data.pkg.rule]`: empty when undefined, else one value.
            let Json::Array(mut wrapped) = wrapped else {
                continue;
            };
            let Some(value) = wrapped.pop() else { continue };
            let items = match value {
                Json::Array(items) => items,
                Json::Bool(false) | Json::Null => Vec::new(),
                other => vec![other],
            };
            let entry = slot.entry(rule).or_default();
            entry.extend(items.into_iter().map(|i| (i, object.clone())));
        }
    }
}

/// Turns one policy's raw results into findings and requirements.
fn apply(
    policy: &Policy,
    mode: Mode,
    results: &RuleResults,
    trace: &mut PolicyTrace,
    decision: &mut Decision,
) {
    // conftest semantics: `exception` yields rule-name suffixes (`["latest"]` exempts `deny_latest`).
    let mut excepted: BTreeSet<String> = BTreeSet::new();
    for (value, _) in results
        .get("exception")
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let names: Vec<&str> = match value {
            Json::Array(a) => a.iter().filter_map(Json::as_str).collect(),
            Json::String(s) => vec![s.as_str()],
            _ => Vec::new(),
        };
        for n in names {
            for base in ["deny", "violation", "warn"] {
                excepted.insert(if n.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}_{n}")
                });
            }
            excepted.insert(n.to_owned());
        }
    }
    for (rule, values) in results {
        if rule == "exception" || values.is_empty() {
            continue;
        }
        if excepted.contains(rule) {
            trace.excepted.push(rule.clone());
            continue;
        }
        trace.fired.push(RuleCount {
            rule: rule.clone(),
            count: values.len(),
        });
        let is_warn = rule == "warn" || rule.starts_with("warn_");
        if rule == "requirement" || rule.starts_with("requirement_") {
            for (value, object) in values {
                let r = requirement(&policy.package, rule, value, object.as_deref());
                match mode {
                    Mode::Enforce => decision.requirements.push(r),
                    Mode::Warn | Mode::Audit if r.satisfied => {}
                    _ => {
                        let f = Finding {
                            policy: policy.package.clone(),
                            rule: rule.clone(),
                            message: r.message,
                            severity: Severity::Medium,
                            mode,
                            object: object.clone(),
                            details: r.progress,
                        };
                        if mode == Mode::Warn {
                            decision.warnings.push(f)
                        } else {
                            decision.audit.push(f)
                        }
                    }
                }
            }
            continue;
        }
        let default_severity = policy.metadata.severity.unwrap_or(if is_warn {
            Severity::Medium
        } else {
            Severity::High
        });
        for (value, object) in values {
            let f = finding(
                &policy.package,
                rule,
                value,
                object.as_deref(),
                default_severity,
                mode,
            );
            match (mode, is_warn) {
                (Mode::Audit, _) => decision.audit.push(f),
                (Mode::Enforce, false) => decision.violations.push(f),
                _ => decision.warnings.push(f),
            }
        }
    }
}

fn finding(
    policy: &str,
    rule: &str,
    value: &Json,
    object: Option<&str>,
    severity: Severity,
    mode: Mode,
) -> Finding {
    let (message, severity, obj, details) = match value {
        Json::String(s) => (s.clone(), severity, None, None),
        Json::Bool(true) => (format!("{policy}.{rule} is true"), severity, None, None),
        Json::Object(map) => {
            let mut rest = map.clone();
            let message = ["msg", "message"]
                .iter()
                .find_map(|k| rest.remove(*k))
                .map(|m| {
                    m.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| m.to_string())
                })
                .unwrap_or_else(|| value.to_string());
            let severity = rest
                .remove("severity")
                .and_then(|s| s.as_str().and_then(Severity::parse))
                .unwrap_or(severity);
            let obj = ["object", "resource"]
                .iter()
                .find_map(|k| rest.remove(*k))
                .and_then(|o| match o {
                    Json::String(s) => Some(s),
                    Json::Null => None,
                    other => Some(other.to_string()),
                });
            let details = match rest.remove("details") {
                Some(d) if rest.is_empty() => Some(d),
                Some(d) => {
                    rest.insert("details".into(), d);
                    Some(Json::Object(rest))
                }
                None if rest.is_empty() => None,
                None => Some(Json::Object(rest)),
            };
            (message, severity, obj, details)
        }
        other => (other.to_string(), severity, None, None),
    };
    Finding {
        policy: policy.to_owned(),
        rule: rule.to_owned(),
        message,
        severity,
        mode,
        object: obj.or_else(|| object.map(str::to_owned)),
        details,
    }
}

fn requirement(policy: &str, rule: &str, value: &Json, object: Option<&str>) -> Requirement {
    let get = |k: &str| value.get(k);
    let message = get("msg")
        .or_else(|| get("message"))
        .and_then(Json::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| value.to_string());
    Requirement {
        policy: policy.to_owned(),
        id: get("id")
            .and_then(Json::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| {
                format!(
                    "{policy}.{rule}{}",
                    object.map(|o| format!(":{o}")).unwrap_or_default()
                )
            }),
        kind: get("type")
            .and_then(Json::as_str)
            .unwrap_or("requirement")
            .to_owned(),
        message,
        // A requirement that does not say it is satisfied is not.
        satisfied: get("satisfied").and_then(Json::as_bool).unwrap_or(false),
        progress: get("progress").cloned(),
        details: get("details").cloned(),
    }
}

/// The name a rule defines: the first segment of its head (`deny` for `deny contains msg`,
/// `p` for `p.q.r := 1`).
pub(crate) fn rule_name(rule: &regorus::unstable::Rule) -> &str {
    use regorus::unstable::{Rule, RuleHead};
    let refr = match rule {
        Rule::Spec { head, .. } => match head {
            RuleHead::Compr { refr, .. }
            | RuleHead::Set { refr, .. }
            | RuleHead::Func { refr, .. } => refr,
        },
        Rule::Default { refr, .. } => refr,
    };
    refr.span()
        .text()
        .split(['.', '['])
        .next()
        .unwrap_or_default()
        .trim()
}

/// Whether a package is the engine's own generated collector.
pub(crate) fn is_internal(package: &str) -> bool {
    package == INTERNAL || package.starts_with(&format!("{INTERNAL}."))
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The pod spec of a pod-bearing object.
pub fn pod_spec(object: &Json) -> Option<&Json> {
    let kind = object.get("kind")?.as_str()?;
    pod_spec_path(kind)?
        .iter()
        .try_fold(object, |at, key| at.get(key))
}

/// Where objects of `kind` keep their pod spec, if they have one.
pub(crate) fn pod_spec_path(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "Pod" => Some(&["spec"]),
        "CronJob" => Some(&["spec", "jobTemplate", "spec", "template", "spec"]),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => Some(&["spec", "template", "spec"]),
        _ => None,
    }
}

/// `Kind/namespace/name` for findings.
pub fn object_ref(object: &Json) -> String {
    let s = |v: Option<&Json>| v.and_then(Json::as_str).map(str::to_owned);
    let kind = s(object.get("kind")).unwrap_or_else(|| "Object".into());
    let meta = object.get("metadata");
    let name = s(meta.and_then(|m| m.get("name"))).unwrap_or_else(|| "(unnamed)".into());
    let ns = s(meta.and_then(|m| m.get("namespace"))).unwrap_or_else(|| "default".into());
    format!("{kind}/{ns}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::LoadOptions;

    fn engine(files: &[(&str, &str)]) -> Engine {
        let bundle = Bundle::from_files(
            files.iter().map(|(p, c)| (*p, c.as_bytes())),
            LoadOptions::default(),
        )
        .unwrap();
        Engine::compile(bundle, None, EngineOptions::default()).unwrap()
    }

    fn action(kind: &str, env: &str, extra: Json) -> Action {
        let mut v = json!({
            "kind": kind,
            "actor": {"id": "u-alice", "kind": "user", "teams": ["backend"]},
            "scope": {"org": "acme", "environment": env},
            "subject": {"release": {"id": "rel-1"}},
            "time": "2026-11-22T10:00:00Z"
        });
        if let (Json::Object(a), Json::Object(b)) = (&mut v, extra) {
            for (k, val) in b {
                a.insert(k, val);
            }
        }
        Action::from_value(&v).unwrap()
    }

    /// The seed's Scenario 4 policy, verbatim (Rego v0).
    const SEED_SCENARIO_4: &str =
        include_str!("../../tests/fixtures/seed/scenario-4-workload.rego");

    fn deployment(limits: bool) -> Json {
        let mut c = json!({"name": "api", "image": "registry/api:1.0"});
        if limits {
            c["resources"] = json!({"limits": {"cpu": "1", "memory": "1Gi"}});
        }
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "checkout", "namespace": "shop"},
               "spec": {"replicas": 2, "template": {"spec": {"containers": [c]}}}})
    }

    #[test]
    fn seed_scenario_4_policy_works_as_written_on_render() {
        let e = engine(&[
            ("gitopshq/workload.rego", SEED_SCENARIO_4),
            (
                ".manifest",
                r#"{"file_rego_versions": {"gitopshq/workload.rego": 0}}"#,
            ),
            (
                "bindings.yaml",
                "bindings:\n  - {policy: gitopshq.workload, mode: enforce, scope: {environment: [production]}}\n  - {policy: gitopshq.workload, mode: warn, scope: {environment: [staging]}}\n",
            ),
        ]);
        let bad = json!({"subject": {"manifests": [deployment(false)]}});
        let d = e.decide(&action("render", "production", bad.clone()));
        assert_eq!(d.outcome, Outcome::Deny);
        assert_eq!(d.violations.len(), 1);
        assert_eq!(
            d.violations[0].message,
            "Container 'api' in production must have resource limits"
        );
        assert_eq!(
            d.violations[0].object.as_deref(),
            Some("Deployment/shop/checkout")
        );
        assert_eq!(d.violations[0].policy, "gitopshq.workload");

        // Staging: the same finding, as a warning.
        let d = e.decide(&action("render", "staging", bad));
        assert_eq!(d.outcome, Outcome::Allow);
        assert_eq!(
            d.warnings.len(),
            0,
            "the policy itself only fires in production"
        );

        let good = json!({"subject": {"manifests": [deployment(true)]}});
        assert_eq!(
            e.decide(&action("render", "production", good)).outcome,
            Outcome::Allow
        );
    }

    #[test]
    fn a_prepared_action_decides_like_a_fresh_one() {
        let e = engine(&[
            (
                "p.rego",
                "package p\ndeny contains input.scope.environment if input.scope.environment == \"prod\"\n",
            ),
            (
                "o.rego",
                "# METADATA\n# custom:\n#   input: object\npackage o\nwarn contains input.metadata.name if input.kind == \"Pod\"\n",
            ),
        ]);
        let a = action(
            "release.deploy",
            "prod",
            json!({"subject": {"release": {"id": "r"}, "manifests": [
            {"kind": "Pod", "metadata": {"name": "web"}, "spec": {"containers": []}}]}}),
        );
        let fresh = e.decide(&a);
        let prepared = e.decide_prepared(&Engine::prepare(a).unwrap(), DecideOptions::default());
        assert_eq!(fresh.outcome, Outcome::Deny);
        assert_eq!(
            (&fresh.violations, &fresh.warnings),
            (&prepared.violations, &prepared.warnings)
        );
        assert_eq!(
            prepared.warnings[0].object.as_deref(),
            Some("Pod/default/web")
        );
    }

    #[test]
    fn warn_mode_turns_denials_into_warnings() {
        let e = engine(&[
            ("p.rego", "package p\ndeny contains \"always\" if true\n"),
            ("bindings.yaml", "bindings:\n  - {policy: p, mode: warn}\n"),
        ]);
        let d = e.decide(&action("release.deploy", "dev", json!({})));
        assert_eq!(d.outcome, Outcome::Allow);
        assert_eq!(d.warnings.len(), 1);
        assert_eq!(d.warnings[0].mode, Mode::Warn);
    }

    #[test]
    fn audit_mode_records_without_showing() {
        let e = engine(&[
            ("p.rego", "package p\ndeny contains \"always\" if true\n"),
            ("bindings.yaml", "bindings:\n  - {policy: p, mode: audit}\n"),
        ]);
        let d = e.decide(&action("release.deploy", "dev", json!({})));
        assert_eq!(d.outcome, Outcome::Allow);
        assert!(d.warnings.is_empty());
        assert_eq!(d.audit.len(), 1);
    }

    #[test]
    fn structured_violations_keep_severity_object_and_details() {
        let e = engine(&[(
            "p.rego",
            "package p\nviolation contains {\"msg\": \"bad\", \"severity\": \"low\", \"object\": \"Pod/a/b\", \"details\": {\"k\": 1}} if true\n",
        )]);
        let d = e.decide(&action("release.deploy", "dev", json!({})));
        let v = &d.violations[0];
        assert_eq!(
            (v.message.as_str(), v.severity, v.object.as_deref()),
            ("bad", Severity::Low, Some("Pod/a/b"))
        );
        assert_eq!(v.details, Some(json!({"k": 1})));
    }

    #[test]
    fn unsatisfied_requirement_makes_pending() {
        let e = engine(&[(
            "p.rego",
            "package p\nrequirement contains {\"id\": \"approval:x\", \"type\": \"approval\", \"msg\": \"1 of 2 approvals\", \"satisfied\": count(input.facts.approvals) >= 2} if true\n",
        )]);
        let d = e.decide(&action("release.deploy", "prod", json!({})));
        assert_eq!(d.outcome, Outcome::Pending);
        assert_eq!(d.requirements[0].message, "1 of 2 approvals");
        assert_eq!(d.requirements[0].kind, "approval");
    }

    #[test]
    fn exceptions_follow_conftest_semantics() {
        let e = engine(&[(
            "p.rego",
            "package p\ndeny_latest contains \"latest\" if true\ndeny_other contains \"other\" if true\nexception contains [\"latest\"] if true\n",
        )]);
        let d = e.decide_with(
            &action("release.deploy", "prod", json!({})),
            DecideOptions { explain: true },
        );
        assert_eq!(d.violations.len(), 1);
        assert_eq!(d.violations[0].rule, "deny_other");
        let trace = &d.explain.unwrap()[0];
        assert_eq!(trace.excepted, vec!["deny_latest".to_owned()]);
    }

    #[test]
    fn metadata_kinds_restrict_where_a_policy_runs() {
        let e = engine(&[(
            "p.rego",
            "# METADATA\n# custom:\n#   kinds: [command]\npackage p\ndeny contains \"no\" if true\n",
        )]);
        assert_eq!(
            e.decide(&action("release.deploy", "prod", json!({})))
                .outcome,
            Outcome::Allow
        );
    }

    #[test]
    fn a_failing_policy_denies_and_is_named_while_others_still_report() {
        let e = engine(&[
            ("ok.rego", "package ok\nwarn contains \"fine\" if true\n"),
            (
                "bad.rego",
                "package bad\nlevel := \"low\" if input.context.a\nlevel := \"high\" if input.context.b\ndeny contains level if level == \"x\"\n",
            ),
        ]);
        let d = e.decide(&action(
            "release.deploy",
            "prod",
            json!({"context": {"a": true, "b": true}}),
        ));
        assert_eq!(d.outcome, Outcome::Deny);
        let v = &d.violations[0];
        assert_eq!((v.policy.as_str(), v.rule.as_str()), ("bad", "error"));
        assert!(
            v.message.contains("bad.rego:3:1") && v.message.contains("conflict"),
            "{}",
            v.message
        );
        assert_eq!(d.warnings.len(), 1, "the healthy policy still reports");
        // Without the conflict the same bundle allows.
        let d = e.decide(&action(
            "release.deploy",
            "prod",
            json!({"context": {"a": true}}),
        ));
        assert_eq!(d.outcome, Outcome::Allow);
    }

    #[test]
    fn a_builtin_error_in_an_enforced_policy_denies() {
        let e = engine(&[(
            "bad.rego",
            "package bad\ndeny contains msg if {\n  x := 1 / input.context.zero\n  msg := sprintf(\"%v\", [x])\n}\n",
        )]);
        let d = e.decide(&action(
            "release.deploy",
            "prod",
            json!({"context": {"zero": 0}}),
        ));
        assert_eq!(d.outcome, Outcome::Deny);
        assert!(
            d.violations[0]
                .message
                .contains("bad.rego:3:10: divide by zero"),
            "{}",
            d.violations[0].message
        );
    }

    #[test]
    fn a_runaway_policy_is_cut_off_and_denies() {
        let bundle = Bundle::from_files(
            [(
                "loop.rego",
                "package slow\nr := numbers.range(1, 5000)\ndeny contains n if {\n  some i in r\n  some j in r\n  n := i * j\n  n < 0\n}\n"
                    .as_bytes(),
            )],
            LoadOptions::default(),
        )
        .unwrap();
        let options = EngineOptions {
            timeout: Duration::from_millis(50),
            ..EngineOptions::default()
        };
        let e = Engine::compile(bundle, None, options).unwrap();
        let start = Instant::now();
        let d = e.decide(&action("release.deploy", "prod", json!({})));
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "cut off in {:?}",
            start.elapsed()
        );
        assert_eq!(d.outcome, Outcome::Deny);
        assert!(
            d.violations[0].message.contains("time limit"),
            "{}",
            d.violations[0].message
        );
        assert_eq!(d.violations[0].policy, "slow");
    }

    #[test]
    fn malformed_and_oversized_json_is_denied_naming_the_field() {
        let e = engine(&[("p.rego", "package p\nwarn contains 1 if false\n")]);
        let d = e.decide_json(r#"{"kind": "release.deploy", "actor": {"id": "u", "kind": "robot"}, "scope": {"org": "a"}}"#, DecideOptions::default());
        assert_eq!(d.outcome, Outcome::Deny);
        assert!(
            d.violations[0].message.contains("`actor.kind`"),
            "{}",
            d.violations[0].message
        );
        assert_eq!(d.kind, "release.deploy");

        let bundle = Bundle::from_files(
            [("p.rego", "package p\n".as_bytes())],
            LoadOptions::default(),
        )
        .unwrap();
        let small = Engine::compile(
            bundle,
            None,
            EngineOptions {
                max_input_bytes: 64,
                ..EngineOptions::default()
            },
        )
        .unwrap();
        let d = small.decide_json(
            &format!("{{\"pad\": \"{}\"}}", "x".repeat(100)),
            DecideOptions::default(),
        );
        assert_eq!(d.outcome, Outcome::Deny);
        assert!(
            d.violations[0].message.contains("byte limit"),
            "{}",
            d.violations[0].message
        );
    }

    #[test]
    fn compile_errors_carry_file_line_col_and_v0_hint() {
        let bundle = Bundle::from_files(
            [("w.rego", SEED_SCENARIO_4.as_bytes())],
            LoadOptions::default(),
        )
        .unwrap();
        let err = Engine::compile(bundle, None, EngineOptions::default()).unwrap_err();
        let d = err.diagnostic().unwrap();
        assert_eq!((d.file.as_str(), d.line), ("w.rego", 3));
        assert!(
            d.hint.as_deref().unwrap_or_default().contains("Rego v0"),
            "{d}"
        );
    }

    #[test]
    fn reserved_package_is_refused() {
        let bundle = Bundle::from_files(
            [("x.rego", "package gatehouse_internal.decide\n".as_bytes())],
            LoadOptions::default(),
        )
        .unwrap();
        let err = Engine::compile(bundle, None, EngineOptions::default()).unwrap_err();
        assert!(err.to_string().contains("reserved"), "{err}");
    }

    #[test]
    fn engine_is_send_and_sync_and_decides_in_parallel() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Engine>();
        let e = engine(&[(
            "p.rego",
            "package p\ndeny contains input.scope.environment if input.scope.environment == \"prod\"\n",
        )]);
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let e = e.clone();
                std::thread::spawn(move || {
                    let env = if i % 2 == 0 { "prod" } else { "dev" };
                    (
                        i,
                        e.decide(&action("release.deploy", env, json!({}))).outcome,
                    )
                })
            })
            .collect();
        for h in handles {
            let (i, outcome) = h.join().unwrap();
            assert_eq!(
                outcome,
                if i % 2 == 0 {
                    Outcome::Deny
                } else {
                    Outcome::Allow
                }
            );
        }
    }
}
