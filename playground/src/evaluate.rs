//! Evaluation: what the page sends (policy files, input and data as text, a query or an action
//! kind), answered through the same engine the hub runs.
//!
//! Everything here is synchronous and shares nothing between requests: each request builds its
//! own bundle and compiles its own [`Engine`], so one person's policy can never see another's.
//! Problems with what the person wrote (a policy that does not compile, input that is not JSON, a
//! query that runs out of time) come back as a [`Failure`] carrying [`Marker`]s: the pane, line
//! and column where the page draws the error.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use gatehouse_engine::plugin::PluginSource;
use gatehouse_engine::query::{QueryOptions, RuleValue};
use gatehouse_engine::testing::{Coverage, Explanation, Status, TestResult};
use gatehouse_engine::{
    ActionKind, Bundle, DecideOptions, Decision, Engine, EngineOptions, Error, LoadOptions,
};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// The most policy files one request may carry.
pub const MAX_FILES: usize = 64;

/// Pane names markers use for the input and data editors and the query box.
pub const INPUT: &str = "input";
/// See [`INPUT`].
pub const DATA: &str = "data";
/// See [`INPUT`].
pub const QUERY: &str = "query";

/// The page's editable state: policy files, input and data as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    /// Policy files: `.rego` modules and, optionally, a `bindings.yaml`.
    #[serde(default)]
    pub files: Vec<SourceFile>,
    /// The input pane: JSON text (empty for no input).
    #[serde(default)]
    pub input: String,
    /// The data pane: a JSON object (empty for none), mounted at `data`.
    #[serde(default)]
    pub data: String,
}

/// One file of the workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    /// File name, e.g. `policy.rego` or `k8s/limits.rego`.
    pub name: String,
    /// Its text.
    pub content: String,
    /// Read this module as Rego v0 (`deny[msg] { ... }`) rather than v1.
    #[serde(default)]
    pub v0: bool,
}

/// What to evaluate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A Rego query, answered like `opa eval` (and `gatehouse eval`).
    #[default]
    Query,
    /// The input as an action document, decided as the hub would (`gatehouse decide`).
    Decision,
}

/// A request to evaluate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluateRequest {
    /// Policies, input and data.
    #[serde(flatten)]
    pub workspace: Workspace,
    /// Query or decision.
    #[serde(default)]
    pub mode: Mode,
    /// The query (query mode).
    #[serde(default)]
    pub query: String,
    /// Decision mode: decide the input as an action of this kind (overrides its `kind`).
    #[serde(default)]
    pub kind: Option<String>,
}

/// A request to run the workspace's `test_*` rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRequest {
    /// Policies (with their tests) and data; the input pane is not used.
    #[serde(flatten)]
    pub workspace: Workspace,
}

/// Where something is wrong (or worth pointing at) in the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Marker {
    /// A policy file name, or [`INPUT`], [`DATA`] or [`QUERY`].
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
    /// `error` or `warning`.
    pub severity: &'static str,
    /// What is wrong.
    pub message: String,
    /// What to do about it, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Marker {
    fn error(file: impl Into<String>, line: u32, col: u32, message: impl Into<String>) -> Marker {
        Marker {
            file: file.into(),
            line,
            col,
            severity: "error",
            message: message.into(),
            hint: None,
        }
    }
}

/// Why a request could not be evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// The files do not form a bundle (bad names, bad bindings, conflicting data).
    Bundle,
    /// A policy does not parse or compile.
    Compile,
    /// The input pane is not valid JSON (or not an action document where one is needed).
    Input,
    /// The data pane is not a JSON object.
    Data,
    /// The query does not parse, or is missing.
    Query,
    /// Evaluation failed in a policy.
    Runtime,
    /// Evaluation ran past the time limit.
    Timeout,
    /// Evaluation ran out of memory (in a worker process) and was stopped.
    Resources,
}

/// A request that could not be evaluated, with a message saying what to do and markers saying
/// where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// What kind of problem.
    pub code: FailureCode,
    /// A sentence or two: what is wrong and what to do next.
    pub message: String,
    /// Where, for the editors.
    pub markers: Vec<Marker>,
}

impl Failure {
    fn new(code: FailureCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            markers: Vec::new(),
        }
    }

    fn at(mut self, marker: Marker) -> Failure {
        self.markers.push(marker);
        self
    }
}

/// How long each step took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Timing {
    /// Parsing the files and compiling the bundle, in microseconds.
    pub compile_us: u64,
    /// Evaluating, in microseconds.
    pub eval_us: u64,
}

/// The answer to an [`EvaluateRequest`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// The mode evaluated.
    pub mode: Mode,
    /// Query mode: the result, shaped like `opa eval -f json` (`{}` when undefined).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Json>,
    /// Decision mode: the decision, with its explanation (which policies ran, which rules fired).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// Query mode: every rule of the workspace and its value against the input.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleValue>,
    /// What `print` wrote.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Lines the evaluation reached.
    pub coverage: Coverage,
    /// Errors located in policies (decision mode reports them as findings too).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub markers: Vec<Marker>,
    /// Time taken.
    pub timing: Timing,
}

/// One test's result as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestOutcome {
    /// The result.
    #[serde(flatten)]
    pub result: TestResult,
    /// For failed tests, where they stopped and what they printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Explanation>,
}

/// Test counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Passed.
    pub pass: usize,
    /// Failed (false or undefined).
    pub fail: usize,
    /// Errored.
    pub error: usize,
    /// `todo_` tests.
    pub skip: usize,
}

/// The answer to a [`TestRequest`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestRun {
    /// Every test, in file and line order.
    pub tests: Vec<TestOutcome>,
    /// Counts.
    pub summary: Summary,
    /// Lines of the policies (test files left out) the tests reached.
    pub coverage: Coverage,
    /// Errors and failures located in the files.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub markers: Vec<Marker>,
    /// Time taken.
    pub timing: Timing,
}

/// Evaluates a request with `timeout` as the engine's time limit for each evaluation.
pub fn evaluate(request: &EvaluateRequest, timeout: Duration) -> Result<Evaluation, Failure> {
    let files = &request.workspace.files;
    match evaluate_inner(request, timeout) {
        Ok(mut e) => {
            character_columns(&mut e.markers, files);
            Ok(e)
        }
        Err(mut f) => {
            character_columns(&mut f.markers, files);
            Err(f)
        }
    }
}

/// The engine counts a tab as four columns; editors count characters. Markers in policy files
/// are converted to character columns.
fn character_columns(markers: &mut [Marker], files: &[SourceFile]) {
    for m in markers {
        let Some(file) = files.iter().find(|f| f.name == m.file) else {
            continue;
        };
        let Some(text) = file
            .content
            .lines()
            .nth(usize::try_from(m.line.saturating_sub(1)).unwrap_or(usize::MAX))
        else {
            continue;
        };
        let (mut visual, mut chars) = (1u32, 1u32);
        for c in text.chars() {
            if visual >= m.col {
                break;
            }
            visual += if c == '\t' { 4 } else { 1 };
            chars += 1;
        }
        m.col = chars;
    }
}

fn evaluate_inner(request: &EvaluateRequest, timeout: Duration) -> Result<Evaluation, Failure> {
    let started = Instant::now();
    let data = parse_pane(&request.workspace.data, DATA)?;
    let engine = compile(&request.workspace, data.is_some(), timeout)?;
    let compile_us = micros(started.elapsed());
    let started = Instant::now();
    let mut evaluation = match request.mode {
        Mode::Query => query(&engine, request)?,
        Mode::Decision => decide(&engine, request)?,
    };
    evaluation.timing = Timing {
        compile_us,
        eval_us: micros(started.elapsed()),
    };
    Ok(evaluation)
}

/// Runs the workspace's `test_*` rules, like `gatehouse test --coverage`.
pub fn test(request: &TestRequest, timeout: Duration) -> Result<TestRun, Failure> {
    let files = &request.workspace.files;
    match test_inner(request, timeout) {
        Ok(mut run) => {
            character_columns(&mut run.markers, files);
            Ok(run)
        }
        Err(mut f) => {
            character_columns(&mut f.markers, files);
            Err(f)
        }
    }
}

fn test_inner(request: &TestRequest, timeout: Duration) -> Result<TestRun, Failure> {
    let started = Instant::now();
    let data = parse_pane(&request.workspace.data, DATA)?;
    let engine = compile(&request.workspace, data.is_some(), timeout)?;
    let compile_us = micros(started.elapsed());
    let started = Instant::now();
    let (results, coverage) = engine.run_tests(&engine.tests(), true);
    let mut summary = Summary::default();
    let mut markers = Vec::new();
    let mut tests = Vec::with_capacity(results.len());
    for result in results {
        let explanation = match &result.status {
            Status::Pass => {
                summary.pass += 1;
                None
            }
            Status::Skip => {
                summary.skip += 1;
                None
            }
            Status::Fail => {
                summary.fail += 1;
                let why = engine.explain_test(&result.rule);
                let (line, text) = why
                    .stopped_at
                    .clone()
                    .unwrap_or((result.rule.line, String::new()));
                markers.push(Marker {
                    file: result.rule.file.clone(),
                    line,
                    col: 1,
                    severity: "warning",
                    message: if text.is_empty() {
                        format!("{} failed", result.rule.name)
                    } else {
                        format!("{} failed here: `{text}` did not hold", result.rule.name)
                    },
                    hint: None,
                });
                Some(why)
            }
            Status::Error(message) => {
                summary.error += 1;
                markers.extend(located_markers(message));
                if markers.is_empty() {
                    markers.push(Marker::error(
                        result.rule.file.clone(),
                        result.rule.line,
                        1,
                        message.clone(),
                    ));
                }
                Some(engine.explain_test(&result.rule))
            }
        };
        tests.push(TestOutcome {
            result,
            explanation,
        });
    }
    Ok(TestRun {
        tests,
        summary,
        coverage: coverage.unwrap_or_default(),
        markers,
        timing: Timing {
            compile_us,
            eval_us: micros(started.elapsed()),
        },
    })
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Parses the input or data pane: `None` when blank, the JSON value otherwise, or a failure
/// pointing at the line and column JSON stopped at.
fn parse_pane(text: &str, pane: &str) -> Result<Option<Json>, Failure> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let value: Json = serde_json::from_str(text).map_err(|e| {
        let (code, what, next) = if pane == DATA {
            (
                FailureCode::Data,
                "data",
                "Fix it in the data pane, or clear the pane to evaluate without data.",
            )
        } else {
            (
                FailureCode::Input,
                "input",
                "Fix it in the input pane, or clear the pane to evaluate without input.",
            )
        };
        let line = u32::try_from(e.line()).unwrap_or(1).max(1);
        let col = u32::try_from(e.column()).unwrap_or(1).max(1);
        let reason = json_reason(&e);
        Failure::new(
            code,
            format!("The {what} is not valid JSON at line {line}, column {col}: {reason}. {next}"),
        )
        .at(Marker::error(pane, line, col, reason))
    })?;
    if pane == DATA && !value.is_object() {
        return Err(Failure::new(
            FailureCode::Data,
            "The data must be a JSON object: its keys become `data.<key>` in policies.",
        )
        .at(Marker::error(DATA, 1, 1, "expected a JSON object")));
    }
    Ok(Some(value))
}

/// serde_json's message without its " at line L column C" suffix.
fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text.get(..i).unwrap_or(&text).to_owned(),
        None => text,
    }
}

fn check_name(name: &str) -> Result<(), Failure> {
    let allowed = name.ends_with(".rego") || name == "bindings.yaml";
    let safe = !name.is_empty()
        && !name.starts_with('/')
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if allowed && safe {
        Ok(())
    } else {
        Err(Failure::new(
            FailureCode::Bundle,
            format!(
                "`{name}` is not a file name the playground can use: name policy files like \
                 `policy.rego` or `k8s/limits.rego` (relative, ending in .rego), and bindings \
                 `bindings.yaml`."
            ),
        ))
    }
}

/// Builds and compiles the workspace's bundle: files as named, the data pane mounted at `data`.
fn compile(workspace: &Workspace, has_data: bool, timeout: Duration) -> Result<Engine, Failure> {
    if workspace.files.len() > MAX_FILES {
        return Err(Failure::new(
            FailureCode::Bundle,
            format!(
                "The playground takes at most {MAX_FILES} files; this workspace has {}. Remove some, \
                 or run `gatehouse eval -d DIR` on your machine.",
                workspace.files.len()
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    for f in &workspace.files {
        check_name(&f.name)?;
        if !seen.insert(f.name.as_str()) {
            return Err(Failure::new(
                FailureCode::Bundle,
                format!("Two files are named `{}`; rename one of them.", f.name),
            ));
        }
    }
    if !workspace.files.iter().any(|f| f.name.ends_with(".rego")) {
        return Err(Failure::new(
            FailureCode::Bundle,
            "There is no policy to evaluate: add a .rego file, or pick an example.",
        ));
    }
    let mut files: Vec<(&str, &[u8])> = workspace
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.content.as_bytes()))
        .collect();
    if has_data {
        files.push(("data.json", workspace.data.as_bytes()));
    }
    let mut bundle = Bundle::from_files(files, LoadOptions::default()).map_err(|e| match e {
        Error::Bundle { file, message } if file == "data.json" => Failure::new(
            FailureCode::Data,
            format!("The data cannot be used: {message}."),
        )
        .at(Marker::error(DATA, 1, 1, message)),
        Error::Bundle { file, message } => Failure::new(
            FailureCode::Bundle,
            format!("{file}: {message}. Fix the file and evaluate again."),
        )
        .at(Marker::error(file, 1, 1, message)),
        other => Failure::new(FailureCode::Bundle, other.to_string()),
    })?;
    for module in &mut bundle.modules {
        if let Some(f) = workspace.files.iter().find(|f| f.name == module.path) {
            module.rego_v1 = !f.v0;
        }
    }
    // The built-in plugins the policies call (the library's among them), so that they decide
    // here as they do in the hub; only those, as compiling a module is not free.
    let called = plugins_called(&workspace.files);
    if !called.is_empty() {
        bundle.add_plugins(
            builtin_plugins()?
                .iter()
                .filter(|p| called.contains(&p.manifest.name))
                .cloned(),
        );
    }
    let options = EngineOptions {
        timeout,
        ..EngineOptions::default()
    };
    Engine::compile(bundle, None, options).map_err(|e| match e {
        Error::Rego(d) => Failure::new(
            FailureCode::Compile,
            format!(
                "{}, line {}: {}{}",
                d.file,
                d.line,
                d.message,
                d.hint
                    .as_deref()
                    .map(|h| format!(". Hint: {h}"))
                    .unwrap_or_default()
            ),
        )
        .at(Marker {
            file: d.file.clone(),
            line: d.line,
            col: d.col,
            severity: "error",
            message: d.message.clone(),
            hint: d.hint.clone(),
        }),
        Error::Bundle { file, message } => {
            Failure::new(FailureCode::Bundle, format!("{file}: {message}."))
                .at(Marker::error(file, 1, 1, message))
        }
        other => Failure::new(FailureCode::Compile, other.to_string()),
    })
}

fn is_timeout(text: &str) -> bool {
    text.contains("exceeded time limit")
}

fn timeout_failure(timeout: Duration) -> Failure {
    Failure::new(
        FailureCode::Timeout,
        format!(
            "The evaluation did not finish within the playground's {} ms time limit and was \
             stopped. Look for rules that iterate over large collections (nested `some ... in`, \
             `numbers.range`) or comprehensions that grow without bound.",
            timeout.as_millis()
        ),
    )
}

fn query(engine: &Engine, request: &EvaluateRequest) -> Result<Evaluation, Failure> {
    let input = parse_pane(&request.workspace.input, INPUT)?;
    let text = request.query.trim();
    if text.is_empty() {
        return Err(Failure::new(
            FailureCode::Query,
            "Type a query to evaluate, e.g. `data.example.deny`, or switch to Decision to see \
             what the hub would decide.",
        )
        .at(Marker::error(QUERY, 1, 1, "the query is empty")));
    }
    let options = QueryOptions {
        coverage: true,
        notes: true,
    };
    let report = engine
        .query_with(text, input.as_ref(), options)
        .map_err(|e| query_failure(engine, request, e))?;
    // Explain the rules the query reached (a line of theirs was evaluated), and only those:
    // evaluating unrelated rules could fail for reasons that have nothing to do with the query.
    // Tests are run by the Test button; their values against this input say nothing.
    let coverage = report.coverage.unwrap_or_default();
    let starts = rule_starts(engine);
    let rules: Vec<RuleValue> = engine
        .rule_values(input.as_ref(), |r| reached(r, &starts, &coverage))
        .into_iter()
        .filter(|r| {
            !(r.package.ends_with("_test")
                || r.name.starts_with("test_")
                || r.name.starts_with("todo_"))
        })
        .collect();
    let markers = rules
        .iter()
        .filter_map(|r| match &r.outcome {
            gatehouse_engine::query::RuleOutcome::Error(m) if !is_timeout(m) => {
                located_markers(m).into_iter().next()
            }
            _ => None,
        })
        .collect();
    Ok(Evaluation {
        mode: Mode::Query,
        result: Some(report.result),
        decision: None,
        rules,
        notes: report.notes,
        coverage,
        markers,
        timing: Timing::default(),
    })
}

/// Per file, the first line of every rule definition, sorted.
fn rule_starts(engine: &Engine) -> BTreeMap<String, Vec<u32>> {
    let mut starts: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for rule in engine.rule_values(None, |_| false) {
        starts.entry(rule.file).or_default().extend(rule.lines);
    }
    for lines in starts.values_mut() {
        lines.sort_unstable();
    }
    starts
}

/// Whether evaluation reached a rule: some covered line lies within one of its definitions
/// (from its first line up to the next definition in the file).
fn reached(rule: &RuleValue, starts: &BTreeMap<String, Vec<u32>>, coverage: &Coverage) -> bool {
    let Some(file) = coverage.files.iter().find(|f| f.path == rule.file) else {
        return false;
    };
    let starts = starts
        .get(&rule.file)
        .map(Vec::as_slice)
        .unwrap_or_default();
    rule.lines.iter().any(|&first| {
        let end = starts
            .iter()
            .copied()
            .find(|&s| s > first)
            .unwrap_or(u32::MAX);
        file.covered.range(first..end).next().is_some()
    })
}

fn query_failure(engine: &Engine, request: &EvaluateRequest, e: Error) -> Failure {
    let text = e.to_string();
    if is_timeout(&text) {
        return timeout_failure(engine.options().timeout);
    }
    match e {
        Error::Rego(d) => {
            let in_policy = request.workspace.files.iter().any(|f| f.name == d.file);
            let (code, file, message) = if in_policy {
                (
                    FailureCode::Runtime,
                    d.file.clone(),
                    format!(
                        "Evaluation failed in {}, line {}: {}. Fix the policy and evaluate again.",
                        d.file, d.line, d.message
                    ),
                )
            } else {
                (
                    FailureCode::Query,
                    QUERY.to_owned(),
                    format!(
                        "The query is not valid Rego at column {}: {}.",
                        d.col, d.message
                    ),
                )
            };
            Failure::new(code, message).at(Marker {
                file,
                line: d.line,
                col: d.col,
                severity: "error",
                message: d.message.clone(),
                hint: d.hint.clone(),
            })
        }
        other => {
            let message = other.to_string();
            let markers = located_markers(&message);
            Failure {
                code: FailureCode::Runtime,
                message: format!("Evaluation failed: {message}"),
                markers,
            }
        }
    }
}

fn decide(engine: &Engine, request: &EvaluateRequest) -> Result<Evaluation, Failure> {
    let Some(mut action) = parse_pane(&request.workspace.input, INPUT)? else {
        return Err(Failure::new(
            FailureCode::Input,
            "A decision needs an action document in the input pane (its `kind`, `actor`, \
             `scope` and `subject`). Pick an example to start from, or switch to Query.",
        )
        .at(Marker::error(INPUT, 1, 1, "the input is empty")));
    };
    if let Some(kind) = request.kind.as_deref().filter(|k| !k.is_empty()) {
        if !ActionKind::ALL.iter().any(|k| k.as_str() == kind) {
            let known: Vec<&str> = ActionKind::ALL.iter().map(|k| k.as_str()).collect();
            return Err(Failure::new(
                FailureCode::Input,
                format!(
                    "`{kind}` is not an action kind; choose one of {}.",
                    known.join(", ")
                ),
            ));
        }
        match &mut action {
            Json::Object(map) => {
                map.insert("kind".into(), Json::String(kind.to_owned()));
            }
            _ => {
                return Err(Failure::new(
                    FailureCode::Input,
                    "The action document must be a JSON object with `kind`, `actor`, `scope` and \
                     `subject`.",
                )
                .at(Marker::error(INPUT, 1, 1, "expected a JSON object")));
            }
        }
    }
    let text = action.to_string();
    let (decision, coverage) =
        engine.decide_json_with_coverage(&text, DecideOptions { explain: true });
    let markers = decision
        .violations
        .iter()
        .chain(&decision.warnings)
        .chain(&decision.audit)
        .filter(|f| f.rule == "error")
        .flat_map(|f| located_markers(&f.message))
        .collect();
    Ok(Evaluation {
        mode: Mode::Decision,
        result: None,
        decision: Some(decision),
        rules: Vec::new(),
        notes: Vec::new(),
        coverage,
        markers,
        timing: Timing::default(),
    })
}

/// Markers for every `file.rego:line:col: message` an engine message carries.
fn located_markers(message: &str) -> Vec<Marker> {
    let mut out = Vec::new();
    let mut rest = message;
    while let Some(i) = rest.find(".rego:") {
        let before = rest.get(..i).unwrap_or_default();
        let start = before
            .rfind(|c: char| c.is_whitespace() || c == '(' || c == '`')
            .map_or(0, |s| s + 1);
        let file = format!("{}.rego", before.get(start..).unwrap_or_default());
        let after = rest.get(i + 6..).unwrap_or_default();
        let mut parts = after.splitn(3, ':');
        let line = parts.next().and_then(|l| l.parse::<u32>().ok());
        let col = parts.next().and_then(|c| c.trim().parse::<u32>().ok());
        if let (Some(line), Some(col)) = (line, col) {
            let text = parts.next().unwrap_or_default();
            let text = text.split("; the action is denied").next().unwrap_or(text);
            out.push(Marker::error(file, line, col, text.trim()));
        }
        rest = after;
    }
    out
}

/// The built-in plugins, read from the embedded library once per process.
fn builtin_plugins() -> Result<&'static [PluginSource], Failure> {
    static PLUGINS: std::sync::OnceLock<Result<Vec<PluginSource>, String>> =
        std::sync::OnceLock::new();
    PLUGINS
        .get_or_init(|| {
            Bundle::from_files(gatehouse_policies::plugin_files(), LoadOptions::default())
                .map(|b| b.plugins)
                .map_err(|e| e.to_string())
        })
        .as_deref()
        .map_err(|e| Failure::new(FailureCode::Bundle, e.clone()))
}

/// The plugin names the files call as `gatehouse.plugin("name", ...)`.
fn plugins_called(files: &[SourceFile]) -> std::collections::BTreeSet<String> {
    const CALL: &str = "gatehouse.plugin(";
    let mut out = std::collections::BTreeSet::new();
    for f in files {
        let mut rest = f.content.as_str();
        while let Some(i) = rest.find(CALL) {
            rest = &rest[i + CALL.len()..];
            let args = rest.trim_start();
            if let Some(quoted) = args.strip_prefix('"')
                && let Some(end) = quoted.find('"')
            {
                out.insert(quoted[..end].to_owned());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugins_a_workspace_calls_are_found_by_name() {
        let f = |content: &str| SourceFile {
            name: "p.rego".into(),
            content: content.into(),
            v0: false,
        };
        let files = [
            f(r#"r := gatehouse.plugin("quorum", input, {}) if true"#),
            f(r#"x := gatehouse.plugin( "freeze-windows", i, c)"#),
            f("# no calls here, nor gatehouse.plugin(name)"),
        ];
        let names: Vec<String> = plugins_called(&files).into_iter().collect();
        assert_eq!(names, ["freeze-windows", "quorum"]);
    }

    #[test]
    fn located_markers_are_found_in_engine_messages() {
        let m = located_markers(
            "Policy p failed: k8s/p.rego:7:12: rule conflicts; the action is denied until the policy is fixed.",
        );
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].file.as_str(), m[0].line, m[0].col),
            ("k8s/p.rego", 7, 12)
        );
        assert_eq!(m[0].message, "rule conflicts");
        assert!(located_markers("no location here").is_empty());
    }

    #[test]
    fn tab_columns_become_character_columns() {
        let files = [SourceFile {
            name: "p.rego".into(),
            content: "package p\n\tinput.x == = 1\n".into(),
            v0: false,
        }];
        // regorus: the tab is four columns, so the second `=` is at 16; it is character 13.
        let mut markers = [
            Marker::error("p.rego", 2, 16, "x"),
            Marker::error("input", 2, 16, "y"),
        ];
        character_columns(&mut markers, &files);
        assert_eq!(markers[0].col, 13);
        assert_eq!(markers[1].col, 16, "other panes are left alone");
    }

    #[test]
    fn file_names_are_checked() {
        for ok in ["policy.rego", "k8s/limits.rego", "bindings.yaml"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc/x.rego",
            "../x.rego",
            "a//b.rego",
            "notes.txt",
            "data.json",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
