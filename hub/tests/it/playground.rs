//! `gatehouse playground` as an evaluation worker: one job on stdin, one answer on stdout, and
//! a memory ceiling that stops a policy asking for unbounded memory without harming anyone else.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value as Json, json};

fn worker(job: &Json, memory_bytes: u64) -> (std::process::ExitStatus, Json, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("playground")
        .env("GATEHOUSE_PLAYGROUND_WORKER", memory_bytes.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the worker starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(job.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let answer = serde_json::from_slice(&out.stdout).unwrap_or(Json::Null);
    (
        out.status,
        answer,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn job(policy: &str, query: &str) -> Json {
    json!({
        "job": "evaluate",
        "timeout_ms": 1000,
        "request": {"files": [{"name": "p.rego", "content": policy}], "query": query},
    })
}

#[test]
fn a_worker_answers_one_job() {
    let (status, answer, err) = worker(&job("package p\n\nx := 6 * 7\n", "data.p.x"), 1 << 30);
    assert!(status.success(), "{err}");
    assert_eq!(
        answer["ok"]["result"]["result"][0]["expressions"][0]["value"],
        42
    );
    let (status, answer, _) = worker(&job("package p\n\nx := \n", "data.p.x"), 1 << 30);
    assert!(status.success());
    assert_eq!(answer["failure"]["code"], "compile");
}

#[cfg(unix)]
#[test]
fn a_worker_that_asks_for_unbounded_memory_dies_alone() {
    let greedy = job(
        "package p\n\nx := count(numbers.range(1, 10000000000))\n",
        "data.p.x",
    );
    let (status, answer, err) = worker(&greedy, 512 << 20);
    assert!(!status.success(), "{answer}");
    assert!(err.contains("memory allocation"), "{err}");
}
