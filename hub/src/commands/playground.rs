//! `gatehouse playground`: serves the playground page and its API on its own, no hub needed.
//!
//! Prints the address it listens on to stdout (`playground: http://ADDR/`), so scripts can start
//! it on port 0 and read where it went; stops cleanly on Ctrl+C or SIGTERM. Each evaluation runs
//! in a worker: this binary started again with `GATEHOUSE_PLAYGROUND_WORKER` set, which answers
//! one job and exits (see `gatehouse_playground::worker`).

use std::process::ExitCode;

use anyhow::{Context, Result};
use gatehouse_playground::worker::{WORKER_ENV, serve_one};
use gatehouse_playground::{Isolation, PlaygroundConfig, router};

use crate::cli::PlaygroundArgs;

pub(super) fn run(args: PlaygroundArgs) -> Result<ExitCode> {
    if let Some(memory) = std::env::var_os(WORKER_ENV) {
        let memory = memory
            .to_string_lossy()
            .parse::<u64>()
            .with_context(|| format!("{WORKER_ENV} must be a memory ceiling in bytes"))?;
        serve_one(memory).map_err(anyhow::Error::msg)?;
        return Ok(ExitCode::SUCCESS);
    }
    let defaults = PlaygroundConfig::default();
    let memory = args.max_memory_mib.saturating_mul(1024 * 1024);
    let config = PlaygroundConfig {
        timeout: args.timeout,
        max_body_bytes: args.max_request_kib.saturating_mul(1024),
        max_concurrent: args
            .max_concurrent
            .unwrap_or(defaults.max_concurrent)
            .max(1),
        isolation: if args.in_process {
            Isolation::InProcess
        } else {
            Isolation::current_exe(memory)
        },
        ..defaults
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {}: is another process using it? Pick another with --listen",
                    args.listen
                )
            })?;
        let address = listener.local_addr()?;
        outln!("playground: http://{address}/")?;
        tracing::info!(%address, "playground listening");
        axum::serve(listener, router(config))
            .with_graceful_shutdown(shutdown())
            .await
            .context("the playground server failed")?;
        Ok(ExitCode::SUCCESS)
    })
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
