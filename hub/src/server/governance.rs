//! What a governed decision knows about the world, and decisions over several scopes.
//!
//! The hub never trusts a snapshot: every transition rebuilds the action's facts from the
//! store at that moment — the approvals recorded so far, each approver with their *current*
//! role and teams (someone who left the eligible team no longer counts), the organization's
//! approval policies and freeze windows, and the live break-glass sessions — and asks the
//! engine again.
//!
//! A release can reach several environments, tenants and workloads; policies match one scope
//! at a time. So a release is decided once per scope it touches ([`decide_each`]) and the
//! verdicts are combined ([`Verdict`]): any deny denies, else any unmet requirement keeps it
//! pending, requirements shared by several scopes counted once.
//!
//! Approval policies and freezes are organization objects (`/api/v2/approval-policies`,
//! `/api/v2/freezes`) whose specs are defined here and converted into the engine's contract.

use std::collections::{BTreeMap, BTreeSet};

use gatehouse_engine::action::{
    Action, ActionKind, Actor, ActorKind, Approval, ApprovalPolicy, BreakglassSession, Eligible,
    Facts, Freeze, FreezeEffect, Recurrence, Role, Schedule, ScopeSelector, SessionScope,
};
use gatehouse_engine::{Decision, Outcome, Requirement};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::Hub;
use super::error::{ApiError, ApiResult};
use super::resources::TeamSpec;
use super::store::{ApprovalRecord, Org, SessionRecord, Tx, now};

/// An approval policy: who must approve which actions where.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalPolicySpec {
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where it applies: lists of organization, project, environment, tenant, workload and
    /// cluster names, and `cluster_labels`; absent or empty matches anything.
    #[serde(default)]
    pub scope: ScopeSelector,
    /// Action kinds it gates (empty: release.deploy, promotion, rollback, command).
    #[serde(default)]
    pub kinds: Vec<ActionKind>,
    /// Approvals needed (at least 1).
    pub quorum: u32,
    /// Distinct teams the approvals must come from (0: no constraint).
    #[serde(default)]
    pub distinct_teams: u32,
    /// Whether the requester's own approval counts (default false).
    #[serde(default)]
    pub requester_can_approve: bool,
    /// Who may approve (all empty: any member).
    #[serde(default)]
    pub eligible: EligibleSpec,
}

/// Eligible approvers, by name.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EligibleSpec {
    /// Member user names.
    #[serde(default)]
    pub users: Vec<String>,
    /// Team names.
    #[serde(default)]
    pub teams: Vec<String>,
    /// Organization roles.
    #[serde(default)]
    pub roles: Vec<Role>,
}

/// A freeze window: a one-off window (`start`, `end`), a weekly one (`recurring`) or a
/// scheduled one (`schedule`: cron or RRULE, with a duration), in a time zone.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FreezeSpec {
    /// Why: shown to everyone it blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `deny` blocks while active; `allow` windows, where any exist, are the only times
    /// changes may happen.
    #[serde(default)]
    pub effect: FreezeEffect,
    /// Where it applies.
    #[serde(default)]
    pub scope: ScopeSelector,
    /// One-off window start, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// One-off window end, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Weekly recurring window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurring: Option<Recurrence>,
    /// Cron or RRULE window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
}

impl FreezeSpec {
    fn engine(&self, name: &str) -> Freeze {
        Freeze {
            name: name.to_owned(),
            reason: self.reason.clone(),
            effect: self.effect,
            scope: self.scope.clone(),
            start: self.start.clone(),
            end: self.end.clone(),
            recurring: self.recurring.clone(),
            schedule: self.schedule.clone(),
        }
    }

    /// Checks what the types cannot (which form, valid times), as the engine would.
    pub fn check(&self, name: &str) -> ApiResult<()> {
        let forms = usize::from(self.start.is_some() || self.end.is_some())
            + usize::from(self.recurring.is_some())
            + usize::from(self.schedule.is_some());
        if forms != 1 {
            return Err(ApiError::invalid(
                ".",
                "a freeze needs exactly one of: start and end (one-off), recurring (weekly), schedule (cron or RRULE)",
            ));
        }
        let probe = Action {
            facts: Facts {
                freezes: vec![self.engine(name)],
                ..Facts::default()
            },
            ..probe_action()
        };
        probe.validate().map_err(|e| {
            let path = e.path.strip_prefix("facts.freezes[0].").unwrap_or(&e.path);
            ApiError::invalid(path, e.message)
        })
    }
}

/// A minimal valid action, to run the engine's own checks on a definition.
fn probe_action() -> Action {
    Action {
        version: gatehouse_engine::action::ACTION_VERSION,
        kind: ActionKind::ReleaseDeploy,
        id: None,
        time: None,
        actor: Actor {
            id: "probe".into(),
            kind: ActorKind::User,
            name: None,
            role: None,
            teams: Vec::new(),
        },
        scope: gatehouse_engine::action::Scope {
            org: "probe".into(),
            ..Default::default()
        },
        subject: gatehouse_engine::action::Subject {
            release: Some(gatehouse_engine::action::Release {
                id: "probe".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
        facts: Facts::default(),
        context: BTreeMap::new(),
    }
}

/// The teams a member belongs to now.
pub(crate) fn teams_of(tx: &Tx<'_>, org_id: &str, user_name: &str) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    for team in tx.resources(org_id, None, "team")? {
        if let Ok(spec) = serde_json::from_value::<TeamSpec>(team.spec)
            && spec.members.iter().any(|m| m == user_name)
        {
            out.push(team.name);
        }
    }
    Ok(out)
}

/// A member as the engine sees them now; `None` when no longer a member.
pub(crate) fn actor_now(tx: &Tx<'_>, org_id: &str, user_id: &str) -> ApiResult<Option<Actor>> {
    let Some(m) = tx.member_by_id(org_id, user_id)? else {
        return Ok(None);
    };
    let role = super::access::Role::parse(&m.role).map(super::access::Role::engine);
    Ok(Some(Actor {
        id: m.user_id,
        kind: ActorKind::User,
        teams: teams_of(tx, org_id, &m.name)?,
        name: Some(m.name),
        role,
    }))
}

/// What the facts are about.
#[derive(Debug, Clone, Copy)]
pub(crate) struct About<'a> {
    /// The release whose approvals count, if any.
    pub release: Option<&'a str>,
    /// The project, for break-glass sessions confined to one.
    pub project: Option<&'a str>,
}

/// The facts of a governed action, read now.
pub(crate) fn facts(tx: &Tx<'_>, org: &Org, about: About<'_>) -> ApiResult<Facts> {
    let mut approvals = Vec::new();
    if let Some(release) = about.release {
        for a in tx.approvals(release)? {
            // Approvals of people who left the organization do not count.
            if let Some(actor) = actor_now(tx, &org.id, &a.user_id)? {
                approvals.push(approval_fact(actor, &a));
            }
        }
    }
    let mut approval_policies = Vec::new();
    for p in tx.resources(&org.id, None, "approval_policy")? {
        let spec: ApprovalPolicySpec =
            serde_json::from_value(p.spec).map_err(ApiError::internal)?;
        let mut users = Vec::new();
        for name in &spec.eligible.users {
            // A named user who is no longer a member is eligible no more.
            if let Some(m) = tx.member(&org.id, name)? {
                users.push(m.user_id);
            }
        }
        approval_policies.push(ApprovalPolicy {
            name: p.name,
            scope: spec.scope,
            kinds: spec.kinds,
            quorum: spec.quorum,
            distinct_teams: spec.distinct_teams,
            requester_can_approve: spec.requester_can_approve,
            eligible: Eligible {
                users,
                teams: spec.eligible.teams,
                roles: spec.eligible.roles,
            },
        });
    }
    let mut freezes = Vec::new();
    for f in tx.resources(&org.id, None, "freeze")? {
        let spec: FreezeSpec = serde_json::from_value(f.spec).map_err(ApiError::internal)?;
        freezes.push(spec.engine(&f.name));
    }
    let at = now();
    let breakglass = tx
        .sessions(&org.id, None)?
        .into_iter()
        .filter(|s| s.live(&at))
        .filter(|s| s.project.is_none() || s.project.as_deref() == about.project)
        .map(|s| session_fact(&s))
        .collect();
    Ok(Facts {
        approvals,
        approval_policies,
        freezes,
        breakglass,
        deployed: None,
    })
}

fn approval_fact(actor: Actor, a: &ApprovalRecord) -> Approval {
    Approval {
        actor,
        at: Some(a.at.clone()),
        comment: a.comment.clone(),
    }
}

fn session_fact(s: &SessionRecord) -> BreakglassSession {
    BreakglassSession {
        id: s.id.clone(),
        actor: s.user_id.clone(),
        scope: SessionScope {
            environment: s.environment.clone(),
            workload: s.workload.clone(),
        },
        opened_at: Some(s.opened_at.clone()),
        expires_at: s.expires_at.clone(),
        justification: s.justification.clone(),
        severity: s.severity.clone(),
    }
}

/// The live break-glass session of the action's actor that covers its scope, if any: what
/// marks an action as taken under break-glass.
pub(crate) fn covering_session(action: &Action) -> Option<String> {
    let at = now();
    action
        .facts
        .breakglass
        .iter()
        .filter(|s| s.actor == action.actor.id && s.expires_at.as_str() > at.as_str())
        .find(|s| {
            let covers =
                |want: &Option<String>, have: &Option<String>| want.is_none() || want == have;
            covers(&s.scope.environment, &action.scope.environment)
                && covers(&s.scope.workload, &action.scope.workload)
        })
        .map(|s| s.id.clone())
}

/// The combined verdict of one action decided in several scopes.
#[derive(Debug, Clone)]
pub(crate) struct Verdict {
    /// Deny if any denied, else pending if any requirement is unmet, else allow.
    pub outcome: Outcome,
    /// Each scope's action and decision.
    pub each: Vec<(Action, Decision)>,
    /// Break-glass sessions that lifted a gate in some scope.
    pub sessions: BTreeSet<String>,
}

impl Verdict {
    /// The decision ids, in scope order.
    pub(crate) fn ids(&self) -> Vec<String> {
        self.each
            .iter()
            .map(|(_, d)| d.decision_id.clone())
            .collect()
    }

    /// Requirements of every scope, each counted once.
    pub(crate) fn requirements(&self) -> Vec<&Requirement> {
        let mut seen = BTreeSet::new();
        self.each
            .iter()
            .flat_map(|(_, d)| &d.requirements)
            .filter(|r| seen.insert((r.policy.clone(), r.id.clone(), r.message.clone())))
            .collect()
    }

    /// Violations of every scope, each message once.
    pub(crate) fn violations(&self) -> Vec<&gatehouse_engine::Finding> {
        let mut seen = BTreeSet::new();
        self.each
            .iter()
            .flat_map(|(_, d)| &d.violations)
            .filter(|v| seen.insert((v.policy.clone(), v.message.clone())))
            .collect()
    }

    /// The unmet requirements' messages.
    pub(crate) fn waiting_for(&self) -> Vec<String> {
        self.requirements()
            .into_iter()
            .filter(|r| !r.satisfied)
            .map(|r| r.message.clone())
            .collect()
    }

    /// Whether a freeze is among the reasons for a deny.
    pub(crate) fn frozen(&self) -> bool {
        self.violations()
            .iter()
            .any(|v| v.policy == "gatehouse.governance.freeze")
    }

    /// The verdict as the API shows it.
    pub(crate) fn summary(&self) -> Json {
        let warnings: Vec<&gatehouse_engine::Finding> = {
            let mut seen = BTreeSet::new();
            self.each
                .iter()
                .flat_map(|(_, d)| &d.warnings)
                .filter(|w| seen.insert((w.policy.clone(), w.message.clone())))
                .collect()
        };
        json!({
            "outcome": self.outcome,
            "decisions": self.ids(),
            "violations": self.violations(),
            "warnings": warnings,
            "requirements": self.requirements(),
            "breakglass": self.sessions,
            "scopes": self.each.iter().map(|(a, _)| &a.scope).collect::<Vec<_>>(),
        })
    }
}

/// Decides each action (one per scope) and combines the verdicts; counts them in the metrics.
pub(crate) async fn decide_each(hub: &Hub, actions: Vec<Action>) -> ApiResult<Verdict> {
    if actions.is_empty() {
        return Err(ApiError::internal("a governed action reached no scope"));
    }
    let h = hub.clone();
    let each: Vec<(Action, Decision)> = tokio::task::spawn_blocking(move || {
        actions
            .into_iter()
            .map(|a| {
                let d = h.engine.decide(&a);
                (a, d)
            })
            .collect()
    })
    .await
    .map_err(ApiError::internal)?;
    let mut outcome = Outcome::Allow;
    let mut sessions = BTreeSet::new();
    for (a, d) in &each {
        hub.metrics.decision(d);
        match d.outcome {
            Outcome::Deny => outcome = Outcome::Deny,
            Outcome::Pending if outcome == Outcome::Allow => outcome = Outcome::Pending,
            _ => {}
        }
        if d.outcome == Outcome::Allow
            && let Some(s) = covering_session(a)
        {
            sessions.insert(s);
        }
    }
    Ok(Verdict {
        outcome,
        each,
        sessions,
    })
}

/// Records every decision of a verdict, with what it allowed.
pub(crate) fn record(
    tx: &Tx<'_>,
    org_id: &str,
    verdict: &Verdict,
    effect: Option<&Json>,
) -> ApiResult<()> {
    for (action, decision) in &verdict.each {
        let action_json = serde_json::to_value(action).map_err(ApiError::internal)?;
        let effect = (decision.outcome == Outcome::Allow)
            .then_some(effect)
            .flatten();
        tx.decision_insert(org_id, decision, &action_json, effect)?;
    }
    for s in &verdict.sessions {
        tx.session_mark(s, &json!({"decisions": verdict.ids(), "at": now()}))?;
    }
    Ok(())
}
