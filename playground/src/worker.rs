//! Worker processes: each evaluation in a process of its own, with a memory ceiling and a kill
//! at the deadline.
//!
//! The engine stops a policy that runs too long, but some built-ins do their work in one step
//! the time limit cannot interrupt: `numbers.range(1, 1e10)` asks for hundreds of gigabytes at
//! once. On a page anyone can type into, that must cost one worker, not the server. So the
//! server (`gatehouse playground`, or the hub's `/playground`) can run every evaluation by
//! starting its own binary again with [`WORKER_ENV`] set: the worker lowers its data-segment
//! limit (the memory it can write; not the address space, which the WebAssembly plugin host
//! reserves generously but never touches), reads one job on stdin, writes the answer on stdout and exits. A worker that runs out
//! of memory dies alone and the page is told why; one that overruns the deadline is killed.
//!
//! Jobs and answers are JSON: `{"job": "evaluate" | "test", "timeout_ms": N, "request": ...}`
//! in, `{"ok": ...}` or `{"failure": ...}` out.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::api::ApiError;
use crate::evaluate::{self, EvaluateRequest, Failure, FailureCode, TestRequest};

/// Set (to the memory ceiling in bytes) in a worker's environment; the binary's `playground`
/// subcommand checks it and calls [`serve_one`] instead of serving HTTP.
pub const WORKER_ENV: &str = "GATEHOUSE_PLAYGROUND_WORKER";

/// How evaluations are isolated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Isolation {
    /// In the server's own process, on its blocking pool (tests, trusted users).
    #[default]
    InProcess,
    /// In a worker process: `program args...` started with [`WORKER_ENV`] set.
    Worker {
        /// The binary to start (usually `std::env::current_exe()`).
        program: PathBuf,
        /// Its arguments (for `gatehouse`: `["playground"]`).
        args: Vec<String>,
        /// Address-space ceiling of a worker, in bytes.
        memory_bytes: u64,
    },
}

impl Isolation {
    /// Workers running this very binary's `playground` subcommand, each limited to
    /// `memory_bytes`. Falls back to in-process evaluation when the binary cannot be found.
    pub fn current_exe(memory_bytes: u64) -> Isolation {
        match std::env::current_exe() {
            Ok(program) => Isolation::Worker {
                program,
                args: vec!["playground".into()],
                memory_bytes,
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot find the running binary; the playground evaluates in-process");
                Isolation::InProcess
            }
        }
    }
}

/// A job for a worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub(crate) enum Job {
    /// An evaluation.
    Evaluate {
        /// Engine time limit.
        timeout_ms: u64,
        /// The request.
        request: EvaluateRequest,
    },
    /// A test run.
    Test {
        /// Engine time limit.
        timeout_ms: u64,
        /// The request.
        request: TestRequest,
    },
}

impl Job {
    /// Runs the job here, answering `{"ok": ...}` or `{"failure": ...}`.
    pub(crate) fn run(&self) -> Json {
        let answer = match self {
            Job::Evaluate {
                timeout_ms,
                request,
            } => evaluate::evaluate(request, Duration::from_millis(*timeout_ms))
                .map(|e| serde_json::to_value(e).unwrap_or_default()),
            Job::Test {
                timeout_ms,
                request,
            } => evaluate::test(request, Duration::from_millis(*timeout_ms))
                .map(|r| serde_json::to_value(r).unwrap_or_default()),
        };
        match answer {
            Ok(value) => json!({"ok": value}),
            Err(failure) => json!({"failure": failure}),
        }
    }
}

/// The worker side: applies the memory ceiling, runs the one job on stdin and writes the
/// answer to stdout. Returns an error message when the job cannot be read or answered.
pub fn serve_one(memory_bytes: u64) -> Result<(), String> {
    // One evaluation at a time: a small plugin pool keeps the ceiling for the policy.
    gatehouse_engine::plugin::set_concurrent_calls(4);
    limit_memory(memory_bytes)?;
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the job: {e}"))?;
    let job: Job = serde_json::from_str(&text).map_err(|e| format!("the job is not valid: {e}"))?;
    let answer = job.run();
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &answer)
        .map_err(|e| format!("cannot write the answer: {e}"))?;
    out.flush()
        .map_err(|e| format!("cannot write the answer: {e}"))
}

/// Allows the worker `bytes` of writable memory beyond what it holds when the job starts.
/// RLIMIT_DATA counts heap and writable private mappings (Linux 4.7 and later), so the plugin
/// host's inaccessible address-space reservations cost nothing against it.
#[cfg(unix)]
fn limit_memory(bytes: u64) -> Result<(), String> {
    let held = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmData:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(0);
    let limit = held.saturating_add(bytes);
    rlimit::setrlimit(rlimit::Resource::DATA, limit, limit)
        .map_err(|e| format!("cannot limit the worker's memory: {e}"))
}

#[cfg(not(unix))]
fn limit_memory(_bytes: u64) -> Result<(), String> {
    Ok(())
}

fn out_of_resources(memory_bytes: u64, detail: &str) -> ApiError {
    ApiError::Failure(Failure {
        code: FailureCode::Resources,
        message: format!(
            "The evaluation ran out of memory (each evaluation may use {} MiB) and was stopped. \
             Look for built-ins that build huge collections at once, such as `numbers.range` with \
             large bounds, or comprehensions over large inputs.{detail}",
            memory_bytes / (1024 * 1024)
        ),
        markers: Vec::new(),
    })
}

/// The server side: runs `job` in a worker and returns its answer (`Ok` for `{"ok": ...}`,
/// `Err(ApiError::Failure)` for `{"failure": ...}`), killing the worker at `deadline`.
pub(crate) async fn run(
    program: &PathBuf,
    args: &[String],
    memory_bytes: u64,
    job: &Job,
    deadline: Duration,
) -> Result<Json, ApiError> {
    let input = serde_json::to_vec(job).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env(WORKER_ENV, memory_bytes.to_string())
        // The allocator's first arena is reserved before the limit is set and not counted
        // against it afterwards: keep it small so the limit governs.
        .env("MIMALLOC_ARENA_RESERVE", "64MiB")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            ApiError::Internal(format!(
                "cannot start an evaluation worker ({}): {e}",
                program.display()
            ))
        })?;
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(ApiError::Internal("the worker's pipes are missing".into()));
    };
    let talk = async {
        stdin.write_all(&input).await?;
        drop(stdin);
        let mut out = Vec::new();
        let mut err = Vec::new();
        let (a, b) = tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
        a?;
        b?;
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((status, out, err))
    };
    let (status, out, err) = match tokio::time::timeout(deadline, talk).await {
        Err(_) => return Err(ApiError::Overrun(deadline)),
        Ok(Err(e)) => return Err(ApiError::Internal(format!("the worker failed: {e}"))),
        Ok(Ok(done)) => done,
    };
    let err = String::from_utf8_lossy(&err);
    if !status.success() {
        let allocation = err.contains("memory allocation") || err.contains("out of memory");
        tracing::warn!(%status, stderr = %err.trim(), "playground worker died");
        return Err(if allocation || abort_signal(&status) {
            out_of_resources(memory_bytes, "")
        } else {
            ApiError::Internal(format!("the evaluation worker exited with {status}"))
        });
    }
    let mut answer: Json = serde_json::from_slice(&out)
        .map_err(|e| ApiError::Internal(format!("the worker's answer is not valid: {e}")))?;
    if let Some(ok) = answer.get_mut("ok") {
        return Ok(ok.take());
    }
    match answer.get_mut("failure").map(Json::take) {
        Some(failure) => Err(ApiError::FailureJson(failure)),
        None => Err(ApiError::Internal("the worker's answer is empty".into())),
    }
}

#[cfg(unix)]
fn abort_signal(status: &std::process::ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    // SIGABRT (an allocation the ceiling refused), SIGSEGV (a stack exhausted by recursion).
    matches!(status.signal(), Some(6 | 11))
}

#[cfg(not(unix))]
fn abort_signal(_status: &std::process::ExitStatus) -> bool {
    false
}
