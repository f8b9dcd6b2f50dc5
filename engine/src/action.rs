//! The action document: what a governed operation looks like to a policy.
//!
//! Every render, release step, promotion, rollback, break-glass session and cluster command is
//! described as an [`Action`] and handed to the engine as Rego's `input`. The shape is versioned
//! ([`ACTION_VERSION`]) because policy authors program against it; its JSON Schema is generated
//! from these types ([`action_schema`]) and published in `docs/reference/action.schema.json`.
//!
//! Parsing is strict: unknown fields, wrong types and missing required fields are refused with
//! the JSON path of the offending field ([`ActionError::path`]), so a typo in an integration
//! fails loudly instead of silently disabling a policy. Kubernetes objects and Helm values stay
//! free-form JSON.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// The version of the action document shape this engine understands.
pub const ACTION_VERSION: u32 = 1;

/// A governed operation, as policies see it (`input`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// Version of the action document shape; currently always 1.
    #[serde(default = "default_version")]
    pub version: u32,
    /// What is being attempted.
    pub kind: ActionKind,
    /// Caller-assigned identifier of this request, echoed in the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The decision's notion of "now", RFC 3339. Filled with the current time when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// Who is attempting the action.
    pub actor: Actor,
    /// Where the action applies; bindings are matched against this.
    pub scope: Scope,
    /// What the action operates on; which fields are present depends on `kind`.
    #[serde(default)]
    pub subject: Subject,
    /// What the decision needs to know about the world: approvals, freezes, sessions, deployed state.
    #[serde(default)]
    pub facts: Facts,
    /// Free-form facts for custom policies; never interpreted by Gatehouse itself.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<String, Json>,
}

fn default_version() -> u32 {
    ACTION_VERSION
}

/// The kinds of governed operation.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum ActionKind {
    /// Rendered manifests are about to be committed to a project's repository.
    #[serde(rename = "render")]
    Render,
    /// A release is being created from pending changes.
    #[serde(rename = "release.create")]
    ReleaseCreate,
    /// Someone approves a release.
    #[serde(rename = "release.approve")]
    ReleaseApprove,
    /// A release is about to be deployed.
    #[serde(rename = "release.deploy")]
    ReleaseDeploy,
    /// Changes are promoted to the next environment.
    #[serde(rename = "promotion")]
    Promotion,
    /// An earlier state is restored.
    #[serde(rename = "rollback")]
    Rollback,
    /// An operational command is sent to a cluster agent.
    #[serde(rename = "command")]
    Command,
    /// A break-glass session is opened.
    #[serde(rename = "breakglass.open")]
    BreakglassOpen,
    /// A change to a workload's Helm values is staged (before a release collects it).
    #[serde(rename = "values.update")]
    ValuesUpdate,
}

impl ActionKind {
    /// Every kind, in declaration order.
    pub const ALL: [ActionKind; 9] = [
        ActionKind::Render,
        ActionKind::ReleaseCreate,
        ActionKind::ReleaseApprove,
        ActionKind::ReleaseDeploy,
        ActionKind::Promotion,
        ActionKind::Rollback,
        ActionKind::Command,
        ActionKind::BreakglassOpen,
        ActionKind::ValuesUpdate,
    ];

    /// The wire name, e.g. `release.deploy`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Render => "render",
            ActionKind::ReleaseCreate => "release.create",
            ActionKind::ReleaseApprove => "release.approve",
            ActionKind::ReleaseDeploy => "release.deploy",
            ActionKind::Promotion => "promotion",
            ActionKind::Rollback => "rollback",
            ActionKind::Command => "command",
            ActionKind::BreakglassOpen => "breakglass.open",
            ActionKind::ValuesUpdate => "values.update",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<ActionKind> {
        ActionKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The identity attempting an action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// Stable identifier (user id, service account id, cluster id for agents).
    pub id: String,
    /// What sort of identity this is.
    pub kind: ActorKind,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Role in the organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Teams the actor belongs to.
    #[serde(default)]
    pub teams: Vec<String>,
}

/// Sorts of identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A person.
    User,
    /// A machine identity used by automation (CI).
    ServiceAccount,
    /// A cluster agent.
    Agent,
}

/// Organization roles.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Full control of the organization.
    Owner,
    /// Manages members, settings and all projects.
    Admin,
    /// Works in projects as granted.
    Member,
    /// Cluster and runtime operations.
    Operator,
    /// Read-only.
    Viewer,
}

/// Where an action applies. Bindings and approval policies are matched against it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Organization (the isolation boundary).
    pub org: String,
    /// Project, when the action is inside one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Environment, e.g. `production`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Workload (service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// Target cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterRef>,
}

/// A cluster as seen by policies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterRef {
    /// Cluster name.
    pub name: String,
    /// Cluster labels, e.g. `tier: production`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// What an action operates on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    /// The release (release.*, promotion, rollback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<Release>,
    /// Rendered Kubernetes objects (render, release.deploy, promotion, rollback).
    #[serde(default)]
    pub manifests: Vec<Json>,
    /// The promotion (promotion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<Promotion>,
    /// The rollback (rollback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Rollback>,
    /// The cluster command (command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    /// The requested break-glass session (breakglass.open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakglass: Option<BreakglassRequest>,
    /// Values changes being staged (values.update), one per changed key path.
    #[serde(default)]
    pub changes: Vec<Change>,
}

/// A release.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// Release id, e.g. `rel-2847`.
    pub id: String,
    /// Short title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Longer description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who asked for the release; they may not approve it unless a policy allows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<Principal>,
    /// Current state (draft, pending_approval, approved, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The value changes the release carries.
    #[serde(default)]
    pub changes: Vec<Change>,
}

/// A person or machine referred to by id, with their teams.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Principal {
    /// Identifier.
    pub id: String,
    /// Teams, for distinct-team rules.
    #[serde(default)]
    pub teams: Vec<String>,
    /// Organization role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

/// One value edit in a release.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// Workload the change applies to.
    pub workload: String,
    /// Tenant, when tenant-specific.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Environment, when environment-specific.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Dotted values path, e.g. `image.tag`.
    pub path: String,
    /// Value before the change (absent when added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Json>,
    /// Value after the change (absent when removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Json>,
}

/// A promotion from one environment to the next.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Promotion {
    /// Source environment.
    pub from: String,
    /// Target environment.
    pub to: String,
    /// Tenants in this batch (empty: all).
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Batch name, e.g. `canary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
}

/// A rollback to an earlier release.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    /// The release whose state is restored.
    pub target_release: String,
    /// `full` (tenant-environment) or `service` (one workload).
    pub mode: RollbackMode,
}

/// Rollback breadth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RollbackMode {
    /// The whole tenant-environment.
    #[default]
    Full,
    /// One workload.
    Service,
}

/// An operational command for a cluster agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Command {
    /// `sync`, `rollback`, `restart`, `scale`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The object the command acts on.
    pub target: ObjectRef,
    /// Command parameters, e.g. `{"replicas": 3}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Json>,
}

/// A Kubernetes object reference.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectRef {
    /// Kind, e.g. `Deployment` or `Application`.
    pub kind: String,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

/// A requested break-glass session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakglassRequest {
    /// Why normal paths cannot be used.
    #[serde(default)]
    pub justification: String,
    /// Incident severity, e.g. `P1`.
    #[serde(default)]
    pub severity: String,
    /// What the session may touch.
    #[serde(default)]
    pub scope: SessionScope,
    /// Requested duration in minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_minutes: Option<u32>,
}

/// The reach of a break-glass session (absent fields: any).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionScope {
    /// Environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
}

/// What the decision needs to know about the world.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Facts {
    /// Approvals recorded so far for the subject.
    #[serde(default)]
    pub approvals: Vec<Approval>,
    /// The organization's approval policies (policies match them against the scope).
    #[serde(default)]
    pub approval_policies: Vec<ApprovalPolicy>,
    /// The organization's freeze windows.
    #[serde(default)]
    pub freezes: Vec<Freeze>,
    /// Open break-glass sessions.
    #[serde(default)]
    pub breakglass: Vec<BreakglassSession>,
    /// What is deployed now in this scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed: Option<Deployed>,
}

/// One recorded approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Who approved, with their current teams and role.
    pub actor: Actor,
    /// When, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Optional comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A scope selector in a definition: each field lists allowed values; absent or empty matches
/// anything and `*` matches anything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeSelector {
    /// Organizations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub org: Vec<String>,
    /// Projects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub project: Vec<String>,
    /// Environments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<String>,
    /// Tenants.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenant: Vec<String>,
    /// Workloads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workload: Vec<String>,
    /// Clusters by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster: Vec<String>,
    /// Cluster labels that must all be present with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cluster_labels: BTreeMap<String, String>,
}

/// An approval policy as configured in the organization.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalPolicy {
    /// Name shown in requirements.
    pub name: String,
    /// Where it applies.
    #[serde(default)]
    pub scope: ScopeSelector,
    /// Action kinds it gates (empty: release.deploy, promotion, rollback, command).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<ActionKind>,
    /// Approvals needed.
    pub quorum: u32,
    /// Distinct teams the approvals must come from (0: no constraint).
    #[serde(default)]
    pub distinct_teams: u32,
    /// Whether the requester's own approval counts.
    #[serde(default)]
    pub requester_can_approve: bool,
    /// Who may approve (all empty: anyone in the organization).
    #[serde(default)]
    pub eligible: Eligible,
}

/// Eligible approvers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Eligible {
    /// User ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// Team names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<String>,
    /// Organization roles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Role>,
}

/// A freeze window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Freeze {
    /// Name shown in messages.
    pub name: String,
    /// Why the freeze exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `deny` blocks while active; `allow` windows, if any exist, are the only times allowed.
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
    /// Window recurring by a cron expression or an RFC 5545 RRULE (instead of start/end or
    /// recurring).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
}

/// A window that starts by a cron expression or an RFC 5545 RRULE and lasts a duration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Five-field cron expression for each occurrence's start (`minute hour day-of-month
    /// month day-of-week`, e.g. `0 18 * * FRI`), in the time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// RFC 5545 recurrence rule for each occurrence's start, e.g. `FREQ=MONTHLY;BYDAY=-1FR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rrule: Option<String>,
    /// The rule's first occurrence, a local date-time in the time zone (`2026-01-02T18:00`);
    /// required with `rrule`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtstart: Option<String>,
    /// How long each occurrence lasts: ISO 8601 (`PT62H`, `P2DT14H`) or `62h`, `2d 14h`.
    pub duration: String,
    /// IANA time zone, e.g. `Europe/Berlin`.
    #[serde(default = "utc")]
    pub timezone: String,
}

/// Freeze effect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FreezeEffect {
    /// Block while active.
    #[default]
    Deny,
    /// Only allow while active.
    Allow,
}

/// A weekly recurring window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recurrence {
    /// Days: `mon` ... `sun`.
    pub days: Vec<String>,
    /// Start time of day, `HH:MM`.
    pub start: String,
    /// End time of day, `HH:MM` (`24:00` for end of day).
    pub end: String,
    /// IANA time zone, e.g. `Europe/Berlin`.
    #[serde(default = "utc")]
    pub timezone: String,
}

fn utc() -> String {
    "UTC".to_owned()
}

/// An open break-glass session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakglassSession {
    /// Session id.
    pub id: String,
    /// The actor id the session belongs to.
    pub actor: String,
    /// What it covers.
    #[serde(default)]
    pub scope: SessionScope,
    /// Opened, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<String>,
    /// Expiry, RFC 3339.
    pub expires_at: String,
    /// Justification given.
    #[serde(default)]
    pub justification: String,
    /// Severity given.
    #[serde(default)]
    pub severity: String,
}

/// The currently deployed state in the action's scope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deployed {
    /// The release that produced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// Its Kubernetes objects.
    #[serde(default)]
    pub manifests: Vec<Json>,
}

/// An action document that does not match the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid action at `{path}`: {message}")]
pub struct ActionError {
    /// JSON path of the offending field, e.g. `facts.approvals[0].actor.kind`; `.` for the root.
    pub path: String,
    /// What is wrong and what is expected.
    pub message: String,
}

impl Action {
    /// Parses and validates an action document from JSON text.
    ///
    /// ```
    /// let action = gatehouse_engine::Action::from_json(r#"{
    ///   "kind": "release.deploy",
    ///   "actor": {"id": "u-alice", "kind": "user"},
    ///   "scope": {"org": "acme", "environment": "production"},
    ///   "subject": {"release": {"id": "rel-1"}}
    /// }"#).unwrap();
    /// assert_eq!(action.kind.as_str(), "release.deploy");
    ///
    /// let err = gatehouse_engine::Action::from_json(r#"{"kind": "release.deploy",
    ///   "actor": {"id": "u", "kind": "robot"}, "scope": {"org": "acme"}}"#).unwrap_err();
    /// assert_eq!(err.path, "actor.kind");
    /// ```
    pub fn from_json(text: &str) -> Result<Action, ActionError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let action: Action =
            serde_path_to_error::deserialize(&mut de).map_err(|e| ActionError {
                path: display_path(&e.path().to_string()),
                message: tidy_serde_message(&e.inner().to_string()),
            })?;
        // A document is one JSON value: anything after it makes the whole text malformed.
        de.end().map_err(|e| ActionError {
            path: ".".to_owned(),
            message: format!(
                "unexpected text after the action document ({e}); send exactly one JSON object"
            ),
        })?;
        action.validate()?;
        Ok(action)
    }

    /// Parses and validates an action document from a JSON value.
    pub fn from_value(value: &Json) -> Result<Action, ActionError> {
        let action: Action = serde_path_to_error::deserialize(value).map_err(|e| ActionError {
            path: display_path(&e.path().to_string()),
            message: tidy_serde_message(&e.inner().to_string()),
        })?;
        action.validate()?;
        Ok(action)
    }

    /// Checks what types alone cannot: the version, timestamps, and the subject each kind needs.
    pub fn validate(&self) -> Result<(), ActionError> {
        let err = |path: &str, message: String| ActionError {
            path: path.to_owned(),
            message,
        };
        if self.version != ACTION_VERSION {
            return Err(err(
                "version",
                format!(
                    "version {} is not supported; this engine reads version {ACTION_VERSION}",
                    self.version
                ),
            ));
        }
        if self.actor.id.trim().is_empty() {
            return Err(err("actor.id", "must not be empty".into()));
        }
        if self.scope.org.trim().is_empty() {
            return Err(err("scope.org", "must not be empty".into()));
        }
        if let Some(time) = &self.time {
            check_time("time", time)?;
        }
        for (i, s) in self.facts.breakglass.iter().enumerate() {
            check_time(&format!("facts.breakglass[{i}].expires_at"), &s.expires_at)?;
        }
        for (i, f) in self.facts.freezes.iter().enumerate() {
            match (&f.start, &f.end, &f.recurring) {
                (Some(start), Some(end), None) => {
                    check_time(&format!("facts.freezes[{i}].start"), start)?;
                    check_time(&format!("facts.freezes[{i}].end"), end)?;
                }
                (None, None, Some(_)) => {}
                _ => {
                    return Err(err(
                        &format!("facts.freezes[{i}]"),
                        "a freeze needs either both `start` and `end` (a one-off window) or `recurring`, not both".into(),
                    ));
                }
            }
        }
        let needs = |present: bool, field: &str| {
            if present {
                Ok(())
            } else {
                Err(err(
                    &format!("subject.{field}"),
                    format!("is required for kind `{}`", self.kind),
                ))
            }
        };
        match self.kind {
            ActionKind::ReleaseCreate | ActionKind::ReleaseApprove | ActionKind::ReleaseDeploy => {
                needs(self.subject.release.is_some(), "release")
            }
            ActionKind::Promotion => needs(self.subject.promotion.is_some(), "promotion"),
            ActionKind::Rollback => needs(self.subject.rollback.is_some(), "rollback"),
            ActionKind::Command => needs(self.subject.command.is_some(), "command"),
            ActionKind::BreakglassOpen => needs(self.subject.breakglass.is_some(), "breakglass"),
            ActionKind::ValuesUpdate => needs(!self.subject.changes.is_empty(), "changes"),
            ActionKind::Render => Ok(()),
        }
    }
}

fn check_time(path: &str, value: &str) -> Result<(), ActionError> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|_| ())
        .map_err(|e| ActionError {
            path: path.to_owned(),
            message: format!(
                "`{value}` is not an RFC 3339 timestamp ({e}); write e.g. 2026-11-22T10:00:00Z"
            ),
        })
}

fn display_path(path: &str) -> String {
    if path.is_empty() {
        ".".to_owned()
    } else {
        path.to_owned()
    }
}

/// serde's messages carry " at line 1 column 42" for text input; the path already says where.
fn tidy_serde_message(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The JSON Schema of the action document, generated from these types.
pub fn action_schema() -> Json {
    let schema = schemars::schema_for!(Action);
    serde_json::to_value(schema).unwrap_or(Json::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal(kind: &str) -> Json {
        serde_json::json!({
            "kind": kind,
            "actor": {"id": "u-alice", "kind": "user", "teams": ["backend"]},
            "scope": {"org": "acme", "environment": "production"},
            "subject": {"release": {"id": "rel-1"}}
        })
    }

    #[test]
    fn minimal_release_deploy_parses() {
        let a = Action::from_value(&minimal("release.deploy")).unwrap();
        assert_eq!(a.kind, ActionKind::ReleaseDeploy);
        assert_eq!(a.version, 1);
    }

    #[test]
    fn unknown_kind_is_refused_at_kind() {
        let err = Action::from_value(&minimal("release.explode")).unwrap_err();
        assert_eq!(err.path, "kind");
        assert!(err.message.contains("release.explode"), "{}", err.message);
    }

    #[test]
    fn wrong_type_deep_inside_names_the_path() {
        let mut v = minimal("release.deploy");
        v["facts"] = serde_json::json!({"approvals": [{"actor": {"id": "u-bob", "kind": "user", "teams": "sre"}}]});
        let err = Action::from_value(&v).unwrap_err();
        assert_eq!(err.path, "facts.approvals[0].actor.teams");
    }

    #[test]
    fn unknown_field_is_refused_with_its_parent_path() {
        let mut v = minimal("release.deploy");
        v["scope"]["enviroment"] = "production".into();
        let err = Action::from_value(&v).unwrap_err();
        assert_eq!(err.path, "scope.enviroment");
        assert!(err.message.contains("unknown field"), "{}", err.message);
    }

    #[test]
    fn missing_required_field_is_refused() {
        let v = serde_json::json!({"kind": "render", "actor": {"id": "x", "kind": "user"}});
        let err = Action::from_value(&v).unwrap_err();
        assert_eq!(err.path, ".");
        assert!(err.message.contains("scope"), "{}", err.message);
    }

    #[test]
    fn kind_specific_subject_is_required() {
        let mut v = minimal("command");
        v["subject"] = serde_json::json!({});
        let err = Action::from_value(&v).unwrap_err();
        assert_eq!(err.path, "subject.command");
    }

    #[test]
    fn bad_timestamp_names_field() {
        let mut v = minimal("release.deploy");
        v["facts"] = serde_json::json!({"freezes": [{"name": "f", "start": "tomorrow", "end": "2026-01-01T00:00:00Z"}]});
        let err = Action::from_value(&v).unwrap_err();
        assert_eq!(err.path, "facts.freezes[0].start");
    }

    #[test]
    fn text_errors_do_not_repeat_line_and_column() {
        let err = Action::from_json(r#"{"kind": 7}"#).unwrap_err();
        assert_eq!(err.path, "kind");
        assert!(!err.message.contains("at line"), "{}", err.message);
    }

    #[test]
    fn trailing_text_after_the_document_is_refused() {
        // Found by fuzzing: a valid action followed by garbage used to be accepted.
        let text =
            serde_json::to_string(&minimal("release.deploy")).unwrap() + " {\"kind\": \"render\"}";
        let err = Action::from_json(&text).unwrap_err();
        assert_eq!(err.path, ".");
        assert!(
            err.message.contains("after the action document"),
            "{}",
            err.message
        );
        assert!(
            Action::from_json(
                &(serde_json::to_string(&minimal("release.deploy")).unwrap() + "\n  ")
            )
            .is_ok()
        );
    }

    #[test]
    fn schema_lists_every_kind() {
        let schema = action_schema().to_string();
        for kind in ActionKind::ALL {
            assert!(
                schema.contains(&format!("\"{}\"", kind.as_str())),
                "{kind} missing from schema"
            );
        }
    }
}
