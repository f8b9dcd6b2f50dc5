//! `gatehouse serve`: opens the store, compiles the decision core, bootstraps the first
//! organization, and serves until SIGTERM.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::ServeArgs;
use crate::server::{HubConfig, HubState, bootstrap, serve};

pub(crate) fn run(args: ServeArgs) -> Result<ExitCode> {
    let engine = super::engine_for(&args.policy, args.bindings.as_deref(), true)?;
    let config = HubConfig {
        listen: args.listen,
        data_dir: super::admin::data_dir(&args.data)?,
        agent_address: args.agent_address,
        agent_chart: args.agent_chart,
        public_url: args.public_url,
        k8s_schemas: args.k8s_schemas,
        max_body_bytes: args.max_body_bytes,
        playground: !args.no_playground,
    };
    let hub = HubState::open(config, engine)?;
    if let Some(token) = bootstrap(&hub, &args.bootstrap_org, &args.bootstrap_owner)? {
        println!(
            "First start: created organization `{}` with owner `{}`.\n\
             Owner API token (shown once; store it now): {token}\n\
             Use it as `Authorization: Bearer <token>`; lost it? `gatehouse admin token --org {} --user {}`.",
            args.bootstrap_org, args.bootstrap_owner, args.bootstrap_org, args.bootstrap_owner
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(hub))?;
    Ok(ExitCode::SUCCESS)
}
