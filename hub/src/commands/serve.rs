//! `gatehouse serve`: opens the store, compiles the decision core, bootstraps the first
//! organization, and serves until SIGTERM.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::ServeArgs;
use crate::server::agents::{AgentConfig, AgentTls};
use crate::server::{HubConfig, HubState, bootstrap, serve};
use std::time::Duration;

/// The agent service's configuration from the serve flags.
fn agent_config(args: &ServeArgs) -> Result<AgentConfig> {
    let listen = match args.agent_listen.trim() {
        "off" | "" => None,
        addr => Some(addr.parse().with_context(|| {
            format!("--agent-listen: `{addr}` is not an address (HOST:PORT) or `off`")
        })?),
    };
    let tls = match (
        &args.agent_tls_cert,
        &args.agent_tls_key,
        args.agent_plaintext,
    ) {
        (_, _, true) => AgentTls::Plaintext,
        (Some(cert), Some(key), false) => AgentTls::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ => AgentTls::Generated,
    };
    Ok(AgentConfig {
        listen,
        tls,
        heartbeat: Duration::from_secs(args.agent_heartbeat_seconds),
        timeout: Duration::from_secs(args.agent_timeout_seconds),
        command_ttl: Duration::from_secs(args.command_ttl_seconds),
        ..AgentConfig::default()
    })
}

pub(crate) fn run(args: ServeArgs) -> Result<ExitCode> {
    let engine = super::engine_for(&args.policy, args.bindings.as_deref(), true)?;
    let agents = agent_config(&args)?;
    let config = HubConfig {
        listen: args.listen,
        data_dir: super::admin::data_dir(&args.data)?,
        agent_address: args.agent_address,
        agent_chart: args.agent_chart,
        agents,
        public_url: args.public_url,
        k8s_schemas: args.k8s_schemas,
        notify_ca: args.notify_ca,
        max_body_bytes: args.max_body_bytes,
        playground: !args.no_playground,
    };
    let hub = HubState::open(config, engine)?;
    if let Some(token) = bootstrap(&hub, &args.bootstrap_org, &args.bootstrap_owner)? {
        outln!(
            "First start: created organization `{}` with owner `{}`.\n\
             Owner API token (shown once; store it now): {token}\n\
             Use it as `Authorization: Bearer <token>`; lost it? `gatehouse admin token --org {} --user {}`.",
            args.bootstrap_org,
            args.bootstrap_owner,
            args.bootstrap_org,
            args.bootstrap_owner
        )?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(hub))?;
    Ok(ExitCode::SUCCESS)
}
