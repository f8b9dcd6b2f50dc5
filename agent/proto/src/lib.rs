//! The contract between the Gatehouse hub and its cluster agents.
//!
//! [`v1`] is the generated `agent.v1.AgentHub` gRPC service (client for the agent, server for
//! the hub) from `agent/v1/agent.proto`. [`command`] holds what both sides must agree on
//! byte for byte: the canonical form of a command, its digest, and the checks an agent makes
//! before it acts on one.

pub mod command;

/// The generated `agent.v1` messages, client and server.
#[allow(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    clippy::all
)]
pub mod v1 {
    tonic::include_proto!("agent.v1");
}

pub use command::{Capability, CommandKind, CommandSpec, Refusal, Target};

/// The prefix of a registration token (`ghqa_reg_` + 64 hex characters).
pub const REGISTRATION_TOKEN_PREFIX: &str = "ghqa_reg_";
/// The prefix of an agent token (`ghqa_` + 64 hex characters).
pub const AGENT_TOKEN_PREFIX: &str = "ghqa_";
/// Largest message either side accepts on the stream, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
