//! The agent's own copy of the decision core. Every command is decided here again, with the
//! built-in local policy (agent/policy: protected namespaces, a replica limit) and whatever
//! the operator adds in `GATEHOUSE_POLICY_DIR`, after the hub has already allowed it. A hub
//! cannot push the agent past this policy; if the policy cannot decide, the command does not
//! run.

use std::path::Path;

use anyhow::{Context, Result};
use gatehouse_agent_proto::CommandSpec;
use gatehouse_engine::action::{Actor, ActorKind, ClusterRef, Command, ObjectRef, Scope, Subject};
use gatehouse_engine::{Action, ActionKind, Bundle, Engine, EngineOptions, LoadOptions};

/// The built-in local policy.
const BUILTIN: [(&str, &str); 2] = [
    (
        "agent/command.rego",
        include_str!("../policy/agent/command.rego"),
    ),
    ("agent/data.json", include_str!("../policy/agent/data.json")),
];

/// The compiled local policy.
#[derive(Debug, Clone)]
pub struct LocalPolicy {
    engine: Engine,
}

impl LocalPolicy {
    /// Compiles the built-in policy plus the Rego in `dir`, if given. A policy that does not
    /// compile stops the agent from starting: an agent that cannot check commands must not
    /// run them.
    pub fn load(dir: Option<&Path>) -> Result<LocalPolicy> {
        let builtin = Bundle::from_files(BUILTIN, LoadOptions::default())
            .context("the built-in agent policy does not load")?;
        let bundle = match dir {
            None => builtin,
            Some(dir) => {
                let extra = Bundle::load(dir, LoadOptions::default()).with_context(|| {
                    format!("cannot load the local policy in {}", dir.display())
                })?;
                Bundle::merge(vec![
                    ("built-in agent policy".into(), builtin),
                    (dir.display().to_string(), extra),
                ])
                .context("cannot combine the local policy with the built-in one")?
            }
        };
        let engine = Engine::compile(bundle, None, EngineOptions::default())
            .context("the local policy does not compile")?;
        Ok(LocalPolicy { engine })
    }

    /// The policy revision, reported in logs.
    pub fn revision(&self) -> &str {
        self.engine.revision()
    }

    /// Decides `spec` for the cluster's organization: `Ok` when allowed, otherwise the reasons.
    pub fn check(&self, spec: &CommandSpec, organization: &str) -> Result<(), String> {
        let (kind, id) = match spec.requested_by.split_once(':') {
            Some(("service_account", name)) => (ActorKind::ServiceAccount, name),
            Some((_, name)) => (ActorKind::User, name),
            None => (ActorKind::User, spec.requested_by.as_str()),
        };
        let action = Action {
            version: gatehouse_engine::action::ACTION_VERSION,
            kind: ActionKind::Command,
            id: Some(spec.id.clone()),
            time: None,
            actor: Actor {
                id: id.to_owned(),
                kind,
                name: None,
                role: None,
                teams: Vec::new(),
            },
            scope: Scope {
                org: organization.to_owned(),
                cluster: Some(ClusterRef {
                    name: spec.cluster.clone(),
                    labels: Default::default(),
                }),
                ..Scope::default()
            },
            subject: Subject {
                command: Some(Command {
                    kind: spec.kind.as_str().to_owned(),
                    target: ObjectRef {
                        kind: spec.target.kind.clone(),
                        namespace: Some(spec.target.namespace.clone()),
                        name: spec.target.name.clone(),
                    },
                    params: spec.params.clone(),
                }),
                ..Subject::default()
            },
            facts: Default::default(),
            context: [("hubDecisionId".to_owned(), spec.decision_id.clone().into())].into(),
        };
        let decision = self.engine.decide(&action);
        if decision.allowed() {
            Ok(())
        } else {
            Err(decision.reasons().join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_agent_proto::{CommandKind, Target};

    use super::*;

    fn scale(ns: &str, replicas: i64) -> CommandSpec {
        CommandSpec {
            id: "cmd-1".into(),
            cluster_id: "c1".into(),
            cluster: "prod".into(),
            kind: CommandKind::Scale,
            target: Target {
                kind: "Deployment".into(),
                namespace: ns.into(),
                name: "api".into(),
            },
            params: [("replicas".to_owned(), replicas.into())].into(),
            requested_by: "user:ana".into(),
            decision_id: "dec_1".into(),
            issued_at: "2026-01-01T00:00:00Z".into(),
            expires_at: "2026-01-01T00:05:00Z".into(),
        }
    }

    #[test]
    fn the_builtin_policy_holds_its_limits() {
        let p = LocalPolicy::load(None).unwrap();
        p.check(&scale("shop", 3), "acme").unwrap();
        let e = p.check(&scale("kube-system", 3), "acme").unwrap_err();
        assert!(e.contains("kube-system is protected"), "{e}");
        let e = p.check(&scale("shop", 101), "acme").unwrap_err();
        assert!(e.contains("limit of 100"), "{e}");
    }

    #[test]
    fn operators_add_rules_and_broken_rules_stop_the_agent() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("night.rego"),
            "package local.noscale\n\ndeny contains \"scaling is handled by the autoscaler here\" if input.subject.command.type == \"scale\"\n",
        )
        .unwrap();
        let p = LocalPolicy::load(Some(dir.path())).unwrap();
        let e = p.check(&scale("shop", 3), "acme").unwrap_err();
        assert!(e.contains("autoscaler"), "{e}");

        std::fs::write(
            dir.path().join("broken.rego"),
            "package local.broken\n\ndeny contains x if {\n",
        )
        .unwrap();
        let e = format!("{:#}", LocalPolicy::load(Some(dir.path())).unwrap_err());
        assert!(e.contains("broken.rego"), "{e}");
    }
}
