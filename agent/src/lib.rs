//! The Gatehouse cluster agent.
//!
//! Runs in the cluster, dials out to the hub (`agent.v1.AgentHub`), and never accepts inbound
//! connections. It registers once with a single-use token and keeps the agent token it gets
//! back ([`identity`]); holds a `Connect` stream with heartbeats, inventory and Argo CD status
//! ([`session`]); and executes the commands the hub decided (sync, rollback, restart, scale)
//! only after checking their digest, expiry, cluster and capability and asking its own copy of
//! the decision core ([`policy`]). [`cluster`] is everything it reads from and does to the
//! Kubernetes API; [`transport`] the TLS connection to the hub; [`config`] the environment
//! variables it is configured by.

pub mod cluster;
pub mod config;
pub mod drift;
pub mod identity;
pub mod policy;
pub mod session;
pub mod transport;

pub use config::Config;
pub use session::Agent;

/// Starts the agent with `config` against the cluster the Kubernetes client finds (in-cluster
/// service account, or `KUBECONFIG`), and runs it until it cannot go on.
pub async fn run(config: Config) -> anyhow::Result<()> {
    use anyhow::Context;
    let client = kube::Client::try_default()
        .await
        .context("cannot configure the Kubernetes client (no in-cluster service account and no usable KUBECONFIG)")?;
    Agent::new(config, client)?.run().await
}
