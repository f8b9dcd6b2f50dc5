//! The decision: what the engine answers for an action.
//!
//! A [`Decision`] carries the [`Outcome`], every violation and warning with the policy and rule
//! that produced it and the enforcement mode that applied, the requirements still to be met,
//! the bundle revision it was taken under, a unique id and the evaluation time. The hub and the
//! agent record it in the audit log next to whatever it allowed.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::binding::Mode;

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The action may proceed.
    Allow,
    /// The action must not happen.
    Deny,
    /// The action may proceed once every unsatisfied requirement is met (e.g. approvals).
    Pending,
}

impl Outcome {
    /// `allow`, `deny` or `pending`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::Pending => "pending",
        }
    }
}

/// How serious a finding is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Informational.
    Info,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// Parses `critical`, `high`, `medium`, `low` or `info` (any case).
    pub fn parse(s: &str) -> Option<Severity> {
        match s.to_ascii_lowercase().as_str() {
            "critical" => Some(Severity::Critical),
            "high" => Some(Severity::High),
            "medium" => Some(Severity::Medium),
            "low" => Some(Severity::Low),
            "info" => Some(Severity::Info),
            _ => None,
        }
    }
}

/// One finding from a policy rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    /// The policy package, e.g. `gatehouse.k8s.resource_limits`; `gatehouse.engine` for the
    /// engine's own refusals (malformed input, time limit).
    pub policy: String,
    /// The rule, e.g. `deny` or `deny_latest_tag`.
    pub rule: String,
    /// The message, a full sentence.
    pub message: String,
    /// Severity, from the finding itself or the policy's metadata.
    pub severity: Severity,
    /// The enforcement mode the binding applied.
    pub mode: Mode,
    /// The object the finding is about (`Deployment/ns/name`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// Any further structured detail the rule returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Json>,
}

/// Something that must happen before a pending action may proceed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Requirement {
    /// The policy package that raised it.
    pub policy: String,
    /// A stable id for the requirement, e.g. `approval:prod-two-teams`.
    pub id: String,
    /// What sort of requirement (`approval`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Progress in words, e.g. `1 of 2 approvals received; needs a team other than backend`.
    pub message: String,
    /// Whether it is met.
    pub satisfied: bool,
    /// Machine-readable progress, e.g. `{"received": 1, "required": 2}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Json>,
    /// Further detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Json>,
}

/// What happened inside one policy during a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyTrace {
    /// The policy package.
    pub policy: String,
    /// The mode it ran under, or none if it did not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// `action` or `object` (evaluated once per rendered object).
    pub input: String,
    /// Why it did not run, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Rules that produced at least one result, with how many.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fired: Vec<RuleCount>,
    /// Rules suppressed by an `exception` rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excepted: Vec<String>,
}

/// A rule and the number of results it produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RuleCount {
    /// Rule name.
    pub rule: String,
    /// Number of results.
    pub count: usize,
}

/// The engine's answer for one action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Decision {
    /// Unique, time-ordered decision id (`dec_...`).
    pub decision_id: String,
    /// The verdict.
    pub outcome: Outcome,
    /// The action kind decided.
    pub kind: String,
    /// The caller's action id, echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_id: Option<String>,
    /// Findings that block (enforce mode) — non-empty exactly when the outcome is `deny`.
    pub violations: Vec<Finding>,
    /// Findings shown but not blocking (`warn` rules, and `deny` rules bound in warn mode).
    pub warnings: Vec<Finding>,
    /// Findings recorded only (audit mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audit: Vec<Finding>,
    /// Requirements, met or not; any unmet one makes an otherwise allowed action `pending`.
    pub requirements: Vec<Requirement>,
    /// The policy bundle revision the decision was taken under.
    pub revision: String,
    /// When the decision was taken (RFC 3339, UTC).
    pub decided_at: String,
    /// Evaluation time in microseconds.
    pub duration_us: u64,
    /// Per-policy detail: which policies ran and which rules fired (when requested).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explain: Option<Vec<PolicyTrace>>,
}

impl Decision {
    /// Whether the action may proceed now.
    pub fn allowed(&self) -> bool {
        self.outcome == Outcome::Allow
    }

    /// One line per blocking reason, for logs and CLI output.
    pub fn reasons(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .violations
            .iter()
            .map(|v| format!("{}: {}", v.policy, v.message))
            .collect();
        out.extend(
            self.requirements
                .iter()
                .filter(|r| !r.satisfied)
                .map(|r| format!("{}: {}", r.policy, r.message)),
        );
        out
    }
}
