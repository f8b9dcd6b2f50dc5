//! Cluster agents: what each agent reported last (version, capabilities, connection times,
//! inventory, Argo CD applications), and the commands sent to clusters with their approvals.

use rusqlite::{OptionalExtension, params};
use serde_json::Value as Json;

use super::{ApprovalRecord, StoreError, Tx, now, parse_json};

/// What the hub remembers about a cluster's agent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentState {
    /// The cluster's id.
    pub cluster_id: String,
    /// The agent's version.
    pub agent_version: String,
    /// Capabilities the agent reported.
    pub capabilities: Vec<String>,
    /// Namespaces the agent reads diagnostics from.
    pub allowed_namespaces: Vec<String>,
    /// When the agent registered.
    pub registered_at: Option<String>,
    /// When the agent process started.
    pub agent_started_at: Option<String>,
    /// When the current (or last) session began.
    pub connected_at: Option<String>,
    /// When the last session ended (absent while connected).
    pub disconnected_at: Option<String>,
    /// The last message from the agent.
    pub last_seen_at: Option<String>,
    /// The last inventory snapshot.
    pub inventory: Option<Json>,
    /// When it was taken.
    pub inventory_at: Option<String>,
    /// The last Argo CD application list.
    pub applications: Option<Json>,
    /// When it was reported.
    pub applications_at: Option<String>,
    /// The last drift report.
    pub drift: Option<Json>,
    /// When it was reported.
    pub drift_at: Option<String>,
}

/// A command sent (or to be sent) to a cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandRecord {
    /// `cmd_…`.
    pub id: String,
    /// Organization.
    pub org_id: String,
    /// Cluster.
    pub cluster_id: String,
    /// `sync`, `rollback`, `restart`, `scale`.
    pub kind: String,
    /// `{kind, namespace, name}`.
    pub target: Json,
    /// Parameters.
    pub params: Json,
    /// Why it was asked for.
    pub reason: Option<String>,
    /// The requester's user or service account id.
    pub requester_id: String,
    /// The requester as the audit log names them (`user:ana`).
    pub requested_by: String,
    /// `pending`, `executing`, `completed`, `failed`, `rejected`.
    pub state: String,
    /// Whether the hub's decision allowed it (pending ones may still wait for approvals).
    pub approved: bool,
    /// Every decision taken about it.
    pub decision_ids: Vec<String>,
    /// The sealed spec sent to the agent.
    pub spec: Option<String>,
    /// Its SHA-256.
    pub spec_sha256: Option<String>,
    /// After this the agent refuses it, and the hub stops trying to send it.
    pub expires_at: String,
    /// What the agent reported, or why it was refused.
    pub output: Option<String>,
    /// Requested.
    pub created_at: String,
    /// Sent to the agent.
    pub sent_at: Option<String>,
    /// Finished (completed, failed or rejected).
    pub finished_at: Option<String>,
    /// Last change.
    pub updated_at: String,
}

const STATE_COLUMNS: &str = "cluster_id, agent_version, capabilities, allowed_namespaces, \
    registered_at, agent_started_at, connected_at, disconnected_at, last_seen_at, inventory, \
    inventory_at, applications, applications_at, drift, drift_at";

const COMMAND_COLUMNS: &str = "id, org_id, cluster_id, kind, target, params, reason, requester_id, \
    requested_by, state, approved, decision_ids, spec, spec_sha256, expires_at, output, created_at, \
    sent_at, finished_at, updated_at";

fn strings(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn command_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(CommandRecord, [String; 3])> {
    Ok((
        CommandRecord {
            id: r.get(0)?,
            org_id: r.get(1)?,
            cluster_id: r.get(2)?,
            kind: r.get(3)?,
            target: Json::Null,
            params: Json::Null,
            reason: r.get(6)?,
            requester_id: r.get(7)?,
            requested_by: r.get(8)?,
            state: r.get(9)?,
            approved: r.get::<_, i64>(10)? != 0,
            decision_ids: Vec::new(),
            spec: r.get(12)?,
            spec_sha256: r.get(13)?,
            expires_at: r.get(14)?,
            output: r.get(15)?,
            created_at: r.get(16)?,
            sent_at: r.get(17)?,
            finished_at: r.get(18)?,
            updated_at: r.get(19)?,
        },
        [r.get(4)?, r.get(5)?, r.get(11)?],
    ))
}

fn finish_command(
    (mut c, [target, params, ids]): (CommandRecord, [String; 3]),
) -> Result<CommandRecord, StoreError> {
    c.target = parse_json(&target)?;
    c.params = parse_json(&params)?;
    c.decision_ids = strings(&ids)?;
    Ok(c)
}

impl Tx<'_> {
    // ----- agent state -----

    /// The agent state of a cluster, if an agent ever registered.
    pub fn agent_state(&self, cluster_id: &str) -> Result<Option<AgentState>, StoreError> {
        let sql = format!("SELECT {STATE_COLUMNS} FROM agent_state WHERE cluster_id = ?1");
        let row = self
            .conn
            .query_row(&sql, [cluster_id], |r| {
                Ok((
                    AgentState {
                        cluster_id: r.get(0)?,
                        agent_version: r.get(1)?,
                        registered_at: r.get(4)?,
                        agent_started_at: r.get(5)?,
                        connected_at: r.get(6)?,
                        disconnected_at: r.get(7)?,
                        last_seen_at: r.get(8)?,
                        inventory_at: r.get(10)?,
                        applications_at: r.get(12)?,
                        drift_at: r.get(14)?,
                        ..AgentState::default()
                    },
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(9)?,
                    r.get::<_, Option<String>>(11)?,
                    r.get::<_, Option<String>>(13)?,
                ))
            })
            .optional()?;
        let Some((mut s, caps, namespaces, inventory, applications, drift)) = row else {
            return Ok(None);
        };
        s.drift = drift.as_deref().map(parse_json).transpose()?;
        s.capabilities = strings(&caps)?;
        s.allowed_namespaces = strings(&namespaces)?;
        s.inventory = inventory.as_deref().map(parse_json).transpose()?;
        s.applications = applications.as_deref().map(parse_json).transpose()?;
        Ok(Some(s))
    }

    /// Records a registration (creating the cluster's agent state).
    pub fn agent_registered(
        &self,
        org_id: &str,
        cluster_id: &str,
        version: &str,
        capabilities: &[String],
    ) -> Result<(), StoreError> {
        let caps = serde_json::to_string(capabilities).unwrap_or_else(|_| "[]".into());
        self.conn.execute(
            "INSERT INTO agent_state (cluster_id, org_id, agent_version, capabilities, registered_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (cluster_id) DO UPDATE SET agent_version = ?3, capabilities = ?4, registered_at = ?5",
            params![cluster_id, org_id, version, caps, now()],
        )?;
        Ok(())
    }

    /// Records the start of a session (the agent's hello).
    pub fn agent_connected(
        &self,
        org_id: &str,
        cluster_id: &str,
        version: &str,
        capabilities: &[String],
        allowed_namespaces: &[String],
        started_at: Option<&str>,
    ) -> Result<(), StoreError> {
        let caps = serde_json::to_string(capabilities).unwrap_or_else(|_| "[]".into());
        let namespaces = serde_json::to_string(allowed_namespaces).unwrap_or_else(|_| "[]".into());
        let at = now();
        self.conn.execute(
            "INSERT INTO agent_state (cluster_id, org_id, agent_version, capabilities, allowed_namespaces,
                 agent_started_at, connected_at, last_seen_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
             ON CONFLICT (cluster_id) DO UPDATE SET agent_version = ?3, capabilities = ?4,
                 allowed_namespaces = ?5, agent_started_at = ?6, connected_at = ?7, last_seen_at = ?7,
                 disconnected_at = NULL",
            params![cluster_id, org_id, version, caps, namespaces, started_at, at],
        )?;
        Ok(())
    }

    /// Records when the agent was last heard from (and, when `ended`, that its session ended).
    pub fn agent_seen(&self, cluster_id: &str, at: &str, ended: bool) -> Result<(), StoreError> {
        if ended {
            self.conn.execute(
                "UPDATE agent_state SET last_seen_at = max(coalesce(last_seen_at, ''), ?2), disconnected_at = ?3
                 WHERE cluster_id = ?1",
                params![cluster_id, at, now()],
            )?;
        } else {
            self.conn.execute(
                "UPDATE agent_state SET last_seen_at = max(coalesce(last_seen_at, ''), ?2) WHERE cluster_id = ?1",
                params![cluster_id, at],
            )?;
        }
        Ok(())
    }

    /// Stores an inventory snapshot.
    pub fn agent_inventory(&self, cluster_id: &str, inventory: &Json) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE agent_state SET inventory = ?2, inventory_at = ?3 WHERE cluster_id = ?1",
            params![cluster_id, inventory.to_string(), now()],
        )?;
        Ok(())
    }

    /// Stores the Argo CD application list.
    pub fn agent_applications(
        &self,
        cluster_id: &str,
        applications: &Json,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE agent_state SET applications = ?2, applications_at = ?3 WHERE cluster_id = ?1",
            params![cluster_id, applications.to_string(), now()],
        )?;
        Ok(())
    }

    /// Stores a drift report.
    pub fn agent_drift(&self, cluster_id: &str, report: &Json) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE agent_state SET drift = ?2, drift_at = ?3 WHERE cluster_id = ?1",
            params![cluster_id, report.to_string(), now()],
        )?;
        Ok(())
    }

    // ----- commands -----

    /// Stores a new command.
    pub fn command_insert(&self, c: &CommandRecord) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO cluster_commands ({COMMAND_COLUMNS}) VALUES
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)"
        );
        self.conn.execute(
            &sql,
            params![
                c.id,
                c.org_id,
                c.cluster_id,
                c.kind,
                c.target.to_string(),
                c.params.to_string(),
                c.reason,
                c.requester_id,
                c.requested_by,
                c.state,
                i64::from(c.approved),
                serde_json::to_string(&c.decision_ids).unwrap_or_else(|_| "[]".into()),
                c.spec,
                c.spec_sha256,
                c.expires_at,
                c.output,
                c.created_at,
                c.sent_at,
                c.finished_at,
                c.updated_at,
            ],
        )?;
        Ok(())
    }

    /// Replaces a command's mutable fields (state, approval, decisions, spec, output, times).
    pub fn command_update(&self, c: &CommandRecord) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE cluster_commands SET state = ?2, approved = ?3, decision_ids = ?4, spec = ?5,
                 spec_sha256 = ?6, output = ?7, sent_at = ?8, finished_at = ?9, updated_at = ?10
             WHERE id = ?1",
            params![
                c.id,
                c.state,
                i64::from(c.approved),
                serde_json::to_string(&c.decision_ids).unwrap_or_else(|_| "[]".into()),
                c.spec,
                c.spec_sha256,
                c.output,
                c.sent_at,
                c.finished_at,
                now(),
            ],
        )?;
        Ok(())
    }

    /// One command of an organization.
    pub fn command(&self, org_id: &str, id: &str) -> Result<Option<CommandRecord>, StoreError> {
        let sql =
            format!("SELECT {COMMAND_COLUMNS} FROM cluster_commands WHERE org_id = ?1 AND id = ?2");
        self.conn
            .query_row(&sql, [org_id, id], command_row)
            .optional()?
            .map(finish_command)
            .transpose()
    }

    /// A cluster's commands, newest first, optionally of one state.
    pub fn commands(
        &self,
        org_id: &str,
        cluster_id: &str,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<CommandRecord>, StoreError> {
        let sql = format!(
            "SELECT {COMMAND_COLUMNS} FROM cluster_commands
             WHERE org_id = ?1 AND cluster_id = ?2 AND (?3 IS NULL OR state = ?3)
             ORDER BY created_at DESC, id DESC LIMIT ?4"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt
            .query_map(params![org_id, cluster_id, state, limit], command_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(finish_command).collect()
    }

    /// Approved commands of a cluster still waiting to be sent.
    pub fn commands_due(&self, cluster_id: &str) -> Result<Vec<CommandRecord>, StoreError> {
        let sql = format!(
            "SELECT {COMMAND_COLUMNS} FROM cluster_commands
             WHERE cluster_id = ?1 AND state = 'pending' AND approved = 1 ORDER BY created_at"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt
            .query_map([cluster_id], command_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(finish_command).collect()
    }

    /// Records an approval of a command; false when that user had approved it already.
    pub fn command_approve(
        &self,
        command_id: &str,
        a: &ApprovalRecord,
    ) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO command_approvals (command_id, user_id, user_name, comment, at, decision_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![command_id, a.user_id, a.user_name, a.comment, a.at, a.decision_id],
        )?;
        Ok(n == 1)
    }

    /// A command's approvals, oldest first.
    pub fn command_approvals(&self, command_id: &str) -> Result<Vec<ApprovalRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT user_id, user_name, comment, at, decision_id FROM command_approvals
             WHERE command_id = ?1 ORDER BY at, user_name",
        )?;
        let rows = stmt.query_map([command_id], super::releases::approval_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Sets a token's expiry to `at` if it would otherwise live longer (the grace period of a
    /// rotated agent token).
    pub fn token_expire(&self, id: &str, at: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE tokens SET expires_at = ?2 WHERE id = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
            [id, at],
        )?;
        Ok(())
    }
}
