//! Commands: what the hub decided, sealed so the agent can tell it arrived intact.
//!
//! The hub serializes a [`CommandSpec`] once ([`CommandSpec::seal`]) and sends that text with
//! its SHA-256. The agent acts only on the text it received ([`CommandSpec::open`]): the digest
//! must match, the spec must name this cluster, it must not have expired, and the agent must
//! have the capability the command needs. The agent's own policy is asked afterwards; that is
//! what keeps a compromised hub from pushing it past its local rules, since a hub can always
//! compute a digest.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use crate::v1::ExecuteCommand;

/// What a command does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommandKind {
    /// Ask Argo CD to reconcile an Application with its source now.
    Sync,
    /// Return an Argo CD Application to an earlier sync (`params.id`, its history id).
    Rollback,
    /// Restart a Deployment's pods (a new pod-template annotation).
    Restart,
    /// Set a Deployment's replicas (`params.replicas`).
    Scale,
}

impl CommandKind {
    /// Every kind, in documentation order.
    pub const ALL: [CommandKind; 4] = [Self::Sync, Self::Rollback, Self::Restart, Self::Scale];

    /// The lowercase name used on the wire and in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sync => "sync",
            Self::Rollback => "rollback",
            Self::Restart => "restart",
            Self::Scale => "scale",
        }
    }

    /// Parses the lowercase name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The capability an agent needs to run it.
    pub fn capability(self) -> Capability {
        match self {
            Self::Sync | Self::Rollback => Capability::ArgocdWrite,
            Self::Restart => Capability::KubernetesRestart,
            Self::Scale => Capability::KubernetesScale,
        }
    }

    /// The object kind the command acts on.
    pub fn target_kind(self) -> &'static str {
        match self {
            Self::Sync | Self::Rollback => "Application",
            Self::Restart | Self::Scale => "Deployment",
        }
    }
}

impl fmt::Display for CommandKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A feature an agent can be installed with (each is a flag of the agent's Helm chart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// Inventory browsing and resource inspection.
    Observe,
    /// Pod logs and events in the allowed namespaces.
    DiagnosticsRead,
    /// Read Argo CD Applications.
    ArgocdRead,
    /// Sync and roll back Argo CD Applications.
    ArgocdWrite,
    /// Apply manifests directly.
    DirectDeploy,
    /// Restart Deployments.
    KubernetesRestart,
    /// Scale Deployments.
    KubernetesScale,
    /// Copy credentials from the hub into the cluster.
    CredentialSync,
    /// Accept hub-initiated token rotation.
    TokenRotate,
}

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 9] = [
        Self::Observe,
        Self::DiagnosticsRead,
        Self::ArgocdRead,
        Self::ArgocdWrite,
        Self::DirectDeploy,
        Self::KubernetesRestart,
        Self::KubernetesScale,
        Self::CredentialSync,
        Self::TokenRotate,
    ];

    /// The dotted name reported to the hub, e.g. `kubernetes.scale`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Observe => "observe",
            Self::DiagnosticsRead => "diagnostics.read",
            Self::ArgocdRead => "argocd.read",
            Self::ArgocdWrite => "argocd.write",
            Self::DirectDeploy => "direct.deploy",
            Self::KubernetesRestart => "kubernetes.restart",
            Self::KubernetesScale => "kubernetes.scale",
            Self::CredentialSync => "credential.sync",
            Self::TokenRotate => "token.rotate",
        }
    }

    /// Parses the dotted name, or the Helm value's camelCase spelling (`kubernetesScale`).
    pub fn parse(s: &str) -> Option<Self> {
        let folded: String = s
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        Self::ALL
            .into_iter()
            .find(|c| c.as_str().replace('.', "") == folded)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The object a command acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// `Deployment` or `Application`.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// A command as the hub decided it. Field order is the serialization order, which is part of
/// the digest: change it only with the protocol version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommandSpec {
    /// The hub's command id.
    pub id: String,
    /// The cluster's id on the hub.
    pub cluster_id: String,
    /// The cluster's name.
    pub cluster: String,
    /// What to do.
    #[serde(rename = "type")]
    pub kind: CommandKind,
    /// What to do it to.
    pub target: Target,
    /// Parameters (`replicas` for scale, `id` for rollback).
    #[serde(default)]
    pub params: BTreeMap<String, Json>,
    /// Who asked.
    pub requested_by: String,
    /// The hub decision that allowed it.
    pub decision_id: String,
    /// When the hub sent it (RFC 3339).
    pub issued_at: String,
    /// After this instant the agent refuses it (RFC 3339).
    pub expires_at: String,
}

/// Why an agent refuses a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The text is not a command spec.
    Malformed(String),
    /// The digest does not match the text.
    Digest,
    /// The command names another cluster.
    WrongCluster {
        /// The cluster the spec names.
        named: String,
    },
    /// The command's expiry has passed (or cannot be read).
    Expired {
        /// The spec's expiry.
        expires_at: String,
    },
    /// The agent was not installed with the capability the command needs.
    Capability(Capability),
    /// The command's target is not the kind the command acts on, or its parameters are wrong.
    Invalid(String),
    /// The agent's local policy denied it.
    Policy(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "the command is not a valid command spec: {e}"),
            Self::Digest => f.write_str(
                "the command's SHA-256 does not match its spec; it was altered on the way",
            ),
            Self::WrongCluster { named } => {
                write!(f, "the command is for cluster `{named}`, not this one")
            }
            Self::Expired { expires_at } => write!(f, "the command expired at {expires_at}"),
            Self::Capability(c) => write!(
                f,
                "this agent was not installed with the `{c}` capability the command needs"
            ),
            Self::Invalid(e) => write!(f, "{e}"),
            Self::Policy(e) => write!(f, "the agent's local policy denied the command: {e}"),
        }
    }
}

impl std::error::Error for Refusal {}

/// Hex SHA-256 of `text`.
pub fn digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl CommandSpec {
    /// Serializes the spec once and wraps it with its digest, ready to send.
    pub fn seal(&self) -> ExecuteCommand {
        // A struct of strings, maps and JSON values always serializes.
        let spec = serde_json::to_string(self).unwrap_or_default();
        ExecuteCommand {
            spec_sha256: digest(&spec),
            spec,
        }
    }

    /// Checks a received command for this agent (cluster `cluster`, capabilities `has`) at
    /// `now`, and returns the spec it carries. The local policy is the caller's next step.
    pub fn open(
        msg: &ExecuteCommand,
        cluster: &str,
        has: impl Fn(Capability) -> bool,
        now: DateTime<Utc>,
    ) -> Result<CommandSpec, Refusal> {
        if !constant_time_eq(digest(&msg.spec).as_bytes(), msg.spec_sha256.as_bytes()) {
            return Err(Refusal::Digest);
        }
        let spec: CommandSpec =
            serde_json::from_str(&msg.spec).map_err(|e| Refusal::Malformed(e.to_string()))?;
        if spec.cluster != cluster {
            return Err(Refusal::WrongCluster {
                named: spec.cluster,
            });
        }
        let expires =
            DateTime::parse_from_rfc3339(&spec.expires_at).map_err(|_| Refusal::Expired {
                expires_at: spec.expires_at.clone(),
            })?;
        if expires.with_timezone(&Utc) <= now {
            return Err(Refusal::Expired {
                expires_at: spec.expires_at,
            });
        }
        if !has(spec.kind.capability()) {
            return Err(Refusal::Capability(spec.kind.capability()));
        }
        spec.check()?;
        Ok(spec)
    }

    /// The shape rules both sides apply: the target kind fits the command, names are set, and
    /// the parameters the command needs are there.
    pub fn check(&self) -> Result<(), Refusal> {
        let want = self.kind.target_kind();
        if self.target.kind != want {
            return Err(Refusal::Invalid(format!(
                "a `{}` command acts on a {want}, not a {}",
                self.kind, self.target.kind
            )));
        }
        if self.target.name.is_empty() || self.target.namespace.is_empty() {
            return Err(Refusal::Invalid(
                "the command's target needs a namespace and a name".into(),
            ));
        }
        match self.kind {
            CommandKind::Scale => match self.params.get("replicas").and_then(Json::as_i64) {
                Some(n) if (0..=10_000).contains(&n) => {}
                _ => {
                    return Err(Refusal::Invalid(
                        "a `scale` command needs `params.replicas`, a whole number from 0 to 10000"
                            .into(),
                    ));
                }
            },
            CommandKind::Rollback => {
                if self.params.get("id").and_then(Json::as_i64).is_none() {
                    return Err(Refusal::Invalid(
                        "a `rollback` command needs `params.id`, the Argo CD history id to return to"
                            .into(),
                    ));
                }
            }
            CommandKind::Sync | CommandKind::Restart => {}
        }
        Ok(())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> CommandSpec {
        CommandSpec {
            id: "cmd-1".into(),
            cluster_id: "c1".into(),
            cluster: "prod-eu".into(),
            kind: CommandKind::Scale,
            target: Target {
                kind: "Deployment".into(),
                namespace: "shop".into(),
                name: "api".into(),
            },
            params: [("replicas".to_string(), Json::from(3))].into(),
            requested_by: "user:ana".into(),
            decision_id: "d1".into(),
            issued_at: "2026-01-01T00:00:00Z".into(),
            expires_at: "2026-01-01T00:05:00Z".into(),
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_sealed_command_opens_and_every_tampering_is_caught() {
        let sealed = spec().seal();
        let now = at("2026-01-01T00:01:00Z");
        assert_eq!(
            CommandSpec::open(&sealed, "prod-eu", |_| true, now).unwrap(),
            spec()
        );

        let mut tampered = sealed.clone();
        tampered.spec = tampered.spec.replace("\"replicas\":3", "\"replicas\":30");
        assert_ne!(tampered.spec, sealed.spec);
        assert_eq!(
            CommandSpec::open(&tampered, "prod-eu", |_| true, now),
            Err(Refusal::Digest)
        );
        assert_eq!(
            CommandSpec::open(&sealed, "staging", |_| true, now),
            Err(Refusal::WrongCluster {
                named: "prod-eu".into()
            })
        );
        assert!(matches!(
            CommandSpec::open(&sealed, "prod-eu", |_| true, at("2026-01-01T00:05:00Z")),
            Err(Refusal::Expired { .. })
        ));
        assert_eq!(
            CommandSpec::open(
                &sealed,
                "prod-eu",
                |c| c != Capability::KubernetesScale,
                now
            ),
            Err(Refusal::Capability(Capability::KubernetesScale))
        );
    }

    #[test]
    fn shapes_are_checked() {
        let mut s = spec();
        s.params.clear();
        assert!(
            s.check()
                .unwrap_err()
                .to_string()
                .contains("params.replicas")
        );
        let mut s = spec();
        s.target.kind = "Application".into();
        assert!(
            s.check()
                .unwrap_err()
                .to_string()
                .contains("acts on a Deployment")
        );
        let mut s = spec();
        s.kind = CommandKind::Rollback;
        s.target.kind = "Application".into();
        assert!(s.check().unwrap_err().to_string().contains("params.id"));
    }

    #[test]
    fn capabilities_parse_from_both_spellings() {
        assert_eq!(
            Capability::parse("kubernetes.scale"),
            Some(Capability::KubernetesScale)
        );
        assert_eq!(
            Capability::parse("kubernetesScale"),
            Some(Capability::KubernetesScale)
        );
        assert_eq!(
            Capability::parse("argocdRead"),
            Some(Capability::ArgocdRead)
        );
        assert_eq!(Capability::parse("nope"), None);
    }
}
