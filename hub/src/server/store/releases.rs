//! Releases, their timeline and approvals, the deployed state and break-glass sessions.
//!
//! A state change is a compare-and-set on the release's current state
//! ([`Tx::release_transition`]): of any number of concurrent requests that would move a release
//! out of a state, exactly one does, and the others see that it already moved.

use rusqlite::{OptionalExtension, params};
use serde_json::Value as Json;

use super::{StoreError, Tx, now, parse_json};

/// A stored release.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseRecord {
    /// Release id (`rel_…`).
    pub id: String,
    /// Organization id.
    pub org_id: String,
    /// Project id.
    pub project_id: String,
    /// Number within the project, from 1.
    pub number: i64,
    /// Short title.
    pub title: String,
    /// Longer description.
    pub description: Option<String>,
    /// Current state.
    pub state: String,
    /// The requester's user (or service account) id.
    pub requester_id: String,
    /// The requester as the audit log names them (`user:alice`).
    pub requester: String,
    /// Deploy as soon as approved.
    pub auto_deploy: bool,
    /// The value changes, each with its level, path, before and after.
    pub changes: Json,
    /// The full values each changed level will hold: `[{workloadId, workload, environment,
    /// tenant, values, base}]`.
    pub targets: Json,
    /// The last evaluation of the deploy gate (a verdict summary).
    pub gate: Json,
    /// For a rollback, `{"to": release id, "number": n, "mode": "full" | "service"}`; else null.
    pub rollback: Json,
    /// For a batch of a promotion, `{"id": promotion id, "batch": index, "name": batch name,
    /// "from": env, "to": env, "tenants": [...]}`; else null.
    pub promotion: Json,
    /// Created.
    pub created_at: String,
    /// Last changed.
    pub updated_at: String,
    /// When it was deployed.
    pub deployed_at: Option<String>,
    /// The hosted repository's commit its deploy wrote (none when nothing changed).
    pub commit: Option<String>,
}

/// One entry of a release's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseEvent {
    /// Position in the timeline, from 1.
    pub seq: i64,
    /// When.
    pub at: String,
    /// Who (`user:alice`).
    pub actor: String,
    /// What happened (`created`, `submitted`, `approval`, `approved`, ...).
    pub event: String,
    /// State before, for transitions.
    pub from_state: Option<String>,
    /// State after, for transitions.
    pub to_state: Option<String>,
    /// The decisions behind it.
    pub decision_ids: Vec<String>,
    /// A note: a comment, a reason.
    pub note: Option<String>,
}

/// A recorded approval.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalRecord {
    /// The approver's user id.
    pub user_id: String,
    /// The approver's user name.
    pub user_name: String,
    /// Their comment.
    pub comment: Option<String>,
    /// When.
    pub at: String,
    /// The decision that admitted the approval.
    pub decision_id: String,
}

/// A break-glass session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// Session id (`bg_…`).
    pub id: String,
    /// Organization id.
    pub org_id: String,
    /// Whose session it is.
    pub user_id: String,
    /// Their user name.
    pub user_name: String,
    /// Project it covers (absent: any).
    pub project: Option<String>,
    /// Environment it covers (absent: any).
    pub environment: Option<String>,
    /// Workload it covers (absent: any).
    pub workload: Option<String>,
    /// Why.
    pub justification: String,
    /// Incident severity.
    pub severity: String,
    /// Opened.
    pub opened_at: String,
    /// Ends by itself.
    pub expires_at: String,
    /// Closed by hand.
    pub closed_at: Option<String>,
    /// The closing note.
    pub close_note: Option<String>,
    /// The decision that opened it.
    pub decision_id: String,
    /// What was done under it: `{decisions, at}` entries.
    pub actions: Json,
}

impl SessionRecord {
    /// Open: not closed and not expired at `at`.
    pub fn live(&self, at: &str) -> bool {
        self.closed_at.is_none() && self.expires_at.as_str() > at
    }
}

const RELEASE_COLUMNS: &str = "id, org_id, project_id, number, title, description, state, \
     requester_id, requester, auto_deploy, changes, targets, gate, rollback, promotion, created_at, updated_at, \
     deployed_at, commit_sha";

fn release_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(ReleaseRecord, [String; 5])> {
    Ok((
        ReleaseRecord {
            id: r.get(0)?,
            org_id: r.get(1)?,
            project_id: r.get(2)?,
            number: r.get(3)?,
            title: r.get(4)?,
            description: r.get(5)?,
            state: r.get(6)?,
            requester_id: r.get(7)?,
            requester: r.get(8)?,
            auto_deploy: r.get(9)?,
            changes: Json::Null,
            targets: Json::Null,
            gate: Json::Null,
            rollback: Json::Null,
            promotion: Json::Null,
            created_at: r.get(15)?,
            updated_at: r.get(16)?,
            deployed_at: r.get(17)?,
            commit: r.get(18)?,
        },
        [r.get(10)?, r.get(11)?, r.get(12)?, r.get(13)?, r.get(14)?],
    ))
}

fn with_docs(
    (mut rec, [changes, targets, gate, rollback, promotion]): (ReleaseRecord, [String; 5]),
) -> Result<ReleaseRecord, StoreError> {
    rec.rollback = parse_json(&rollback)?;
    rec.promotion = parse_json(&promotion)?;
    rec.changes = parse_json(&changes)?;
    rec.targets = parse_json(&targets)?;
    rec.gate = parse_json(&gate)?;
    Ok(rec)
}

/// A promotion: one release's changes carried to other levels, batch by batch.
#[derive(Debug, Clone, PartialEq)]
pub struct PromotionRecord {
    /// Promotion id (`promo_…`).
    pub id: String,
    /// Organization id.
    pub org_id: String,
    /// Project id.
    pub project_id: String,
    /// The deployed release whose changes are promoted.
    pub source: String,
    /// The environment the changes come from.
    pub from_env: String,
    /// The environment they go to.
    pub to_env: String,
    /// `[{"name", "tenants", "release"}]`: each batch and the release that carries it.
    pub batches: Json,
    /// The batch under way (index).
    pub current: i64,
    /// `running`, `paused` or `completed`.
    pub state: String,
    /// Deploy each batch as soon as approved.
    pub auto_deploy: bool,
    /// Who started it.
    pub requester: String,
    /// Created.
    pub created_at: String,
    /// Last changed.
    pub updated_at: String,
}

const PROMOTION_COLUMNS: &str = "id, org_id, project_id, source, from_env, to_env, batches, \
     current, state, auto_deploy, requester, created_at, updated_at";

fn promotion_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(PromotionRecord, String)> {
    Ok((
        PromotionRecord {
            id: r.get(0)?,
            org_id: r.get(1)?,
            project_id: r.get(2)?,
            source: r.get(3)?,
            from_env: r.get(4)?,
            to_env: r.get(5)?,
            batches: Json::Null,
            current: r.get(7)?,
            state: r.get(8)?,
            auto_deploy: r.get(9)?,
            requester: r.get(10)?,
            created_at: r.get(11)?,
            updated_at: r.get(12)?,
        },
        r.get(6)?,
    ))
}

const SESSION_COLUMNS: &str = "id, org_id, user_id, user_name, project, environment, workload, \
     justification, severity, opened_at, expires_at, closed_at, close_note, decision_id, actions";

fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(SessionRecord, String)> {
    Ok((
        SessionRecord {
            id: r.get(0)?,
            org_id: r.get(1)?,
            user_id: r.get(2)?,
            user_name: r.get(3)?,
            project: r.get(4)?,
            environment: r.get(5)?,
            workload: r.get(6)?,
            justification: r.get(7)?,
            severity: r.get(8)?,
            opened_at: r.get(9)?,
            expires_at: r.get(10)?,
            closed_at: r.get(11)?,
            close_note: r.get(12)?,
            decision_id: r.get(13)?,
            actions: Json::Null,
        },
        r.get(14)?,
    ))
}

fn with_actions((mut s, actions): (SessionRecord, String)) -> Result<SessionRecord, StoreError> {
    s.actions = parse_json(&actions)?;
    Ok(s)
}

impl Tx<'_> {
    // ----- releases -----

    /// Stores a new release, numbering it within its project; returns the number.
    pub fn release_insert(&self, rec: &ReleaseRecord) -> Result<i64, StoreError> {
        let number: i64 = self.conn.query_row(
            "SELECT ifnull(max(number), 0) + 1 FROM releases WHERE project_id = ?1",
            [&rec.project_id],
            |r| r.get(0),
        )?;
        self.conn.execute(
            &format!("INSERT INTO releases ({RELEASE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)"),
            params![
                rec.id,
                rec.org_id,
                rec.project_id,
                number,
                rec.title,
                rec.description,
                rec.state,
                rec.requester_id,
                rec.requester,
                rec.auto_deploy,
                rec.changes.to_string(),
                rec.targets.to_string(),
                rec.gate.to_string(),
                rec.rollback.to_string(),
                rec.promotion.to_string(),
                rec.created_at,
                rec.updated_at,
                rec.deployed_at,
                rec.commit
            ],
        )?;
        Ok(number)
    }

    /// A release of a project, by id.
    pub fn release(
        &self,
        org_id: &str,
        project_id: &str,
        id: &str,
    ) -> Result<Option<ReleaseRecord>, StoreError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {RELEASE_COLUMNS} FROM releases WHERE org_id = ?1 AND project_id = ?2 AND id = ?3"
                ),
                [org_id, project_id, id],
                release_row,
            )
            .optional()?
            .map(with_docs)
            .transpose()
    }

    /// Releases of a project (newest first), or of the whole organization when `project_id`
    /// is `None`; optionally only those in `state`.
    pub fn releases(
        &self,
        org_id: &str,
        project_id: Option<&str>,
        state: Option<&str>,
    ) -> Result<Vec<ReleaseRecord>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {RELEASE_COLUMNS} FROM releases
             WHERE org_id = ?1 AND (?2 IS NULL OR project_id = ?2) AND (?3 IS NULL OR state = ?3)
             ORDER BY created_at DESC, number DESC"
        ))?;
        let rows = stmt.query_map(params![org_id, project_id, state], release_row)?;
        rows.map(|r| with_docs(r?)).collect()
    }

    /// Moves a release from `from` to `to`; false (and nothing changed) when it is no longer
    /// in `from`.
    pub fn release_transition(&self, id: &str, from: &str, to: &str) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE releases SET state = ?3, updated_at = ?4 WHERE id = ?1 AND state = ?2",
            params![id, from, to, now()],
        )?;
        Ok(n == 1)
    }

    /// Notes when a release was deployed (the order rollbacks go back through).
    pub fn release_deployed_at(&self, id: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE releases SET deployed_at = ?2 WHERE id = ?1",
            params![id, now()],
        )?;
        Ok(())
    }

    /// Notes the hosted repository's commit a release's deploy wrote.
    pub fn release_commit(&self, id: &str, commit: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE releases SET commit_sha = ?2 WHERE id = ?1",
            params![id, commit],
        )?;
        Ok(())
    }

    /// Stores the last evaluation of a release's deploy gate.
    pub fn release_set_gate(&self, id: &str, gate: &Json) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE releases SET gate = ?2 WHERE id = ?1",
            params![id, gate.to_string()],
        )?;
        Ok(())
    }

    /// Appends to a release's timeline.
    pub fn release_event(
        &self,
        release_id: &str,
        actor: &str,
        event: &str,
        transition: Option<(&str, &str)>,
        decision_ids: &[String],
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO release_events (release_id, seq, at, actor, event, from_state, to_state, decision_ids, note)
             VALUES (?1, (SELECT ifnull(max(seq), 0) + 1 FROM release_events WHERE release_id = ?1),
                     ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                release_id,
                now(),
                actor,
                event,
                transition.map(|t| t.0),
                transition.map(|t| t.1),
                serde_json::to_string(decision_ids).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                note
            ],
        )?;
        // The outbox: notifications commit with the event they announce.
        self.notify_release_event(release_id, event, actor, note)
    }

    /// A release's timeline, oldest first.
    pub fn release_events(&self, release_id: &str) -> Result<Vec<ReleaseEvent>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, at, actor, event, from_state, to_state, decision_ids, note
             FROM release_events WHERE release_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([release_id], |r| {
            Ok((
                ReleaseEvent {
                    seq: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    event: r.get(3)?,
                    from_state: r.get(4)?,
                    to_state: r.get(5)?,
                    decision_ids: Vec::new(),
                    note: r.get(7)?,
                },
                r.get::<_, String>(6)?,
            ))
        })?;
        rows.map(|row| {
            let (mut e, ids) = row?;
            e.decision_ids =
                serde_json::from_str(&ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok(e)
        })
        .collect()
    }

    // ----- approvals -----

    /// Records an approval; false when this person already approved the release.
    pub fn approval_insert(
        &self,
        release_id: &str,
        approval: &ApprovalRecord,
    ) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "INSERT INTO approvals (release_id, user_id, user_name, comment, at, decision_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            params![
                release_id,
                approval.user_id,
                approval.user_name,
                approval.comment,
                approval.at,
                approval.decision_id
            ],
        )?;
        Ok(n == 1)
    }

    /// A release's approvals, oldest first.
    pub fn approvals(&self, release_id: &str) -> Result<Vec<ApprovalRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT user_id, user_name, comment, at, decision_id FROM approvals
             WHERE release_id = ?1 ORDER BY at, user_name",
        )?;
        let rows = stmt.query_map([release_id], approval_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // ----- the deployed state -----

    /// What a release last deployed at one level: (values, release id).
    pub fn deployed_values(
        &self,
        workload_id: &str,
        environment: &str,
        tenant: &str,
    ) -> Result<Option<(Json, String)>, StoreError> {
        self.conn
            .query_row(
                "SELECT doc, release_id FROM deployed_values
                 WHERE workload_id = ?1 AND environment = ?2 AND tenant = ?3",
                [workload_id, environment, tenant],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()?
            .map(|(doc, rel)| Ok((parse_json(&doc)?, rel)))
            .transpose()
    }

    /// Records what a release deployed at one level.
    pub fn deployed_put(
        &self,
        workload_id: &str,
        environment: &str,
        tenant: &str,
        values: &Json,
        release_id: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO deployed_values (workload_id, environment, tenant, doc, release_id, deployed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (workload_id, environment, tenant)
             DO UPDATE SET doc = excluded.doc, release_id = excluded.release_id, deployed_at = excluded.deployed_at",
            params![workload_id, environment, tenant, values.to_string(), release_id, now()],
        )?;
        Ok(())
    }

    /// Every level of a workload with staged or deployed values: (environment, tenant, the
    /// staged values if any).
    pub fn values_levels(
        &self,
        workload_id: &str,
    ) -> Result<Vec<(String, String, Option<Json>)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT environment, tenant, doc FROM values_overrides WHERE workload_id = ?1
             UNION ALL
             SELECT environment, tenant, NULL FROM deployed_values d WHERE workload_id = ?1
               AND NOT EXISTS (SELECT 1 FROM values_overrides v WHERE v.workload_id = d.workload_id
                               AND v.environment = d.environment AND v.tenant = d.tenant)
             ORDER BY 1, 2",
        )?;
        let rows = stmt.query_map([workload_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?;
        rows.map(|row| {
            let (e, t, doc) = row?;
            Ok((e, t, doc.as_deref().map(parse_json).transpose()?))
        })
        .collect()
    }

    // ----- promotions -----

    /// Stores a new promotion.
    pub fn promotion_insert(&self, p: &PromotionRecord) -> Result<(), StoreError> {
        self.conn.execute(
            &format!("INSERT INTO promotions ({PROMOTION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
            params![
                p.id,
                p.org_id,
                p.project_id,
                p.source,
                p.from_env,
                p.to_env,
                p.batches.to_string(),
                p.current,
                p.state,
                p.auto_deploy,
                p.requester,
                p.created_at,
                p.updated_at
            ],
        )?;
        Ok(())
    }

    /// A promotion of a project.
    pub fn promotion(
        &self,
        org_id: &str,
        project_id: &str,
        id: &str,
    ) -> Result<Option<PromotionRecord>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {PROMOTION_COLUMNS} FROM promotions WHERE org_id = ?1 AND project_id = ?2 AND id = ?3"),
                [org_id, project_id, id],
                promotion_row,
            )
            .optional()?
            .map(|(mut p, batches)| {
                p.batches = parse_json(&batches)?;
                Ok(p)
            })
            .transpose()
    }

    /// Saves a promotion's batches, position and state.
    pub fn promotion_update(&self, p: &PromotionRecord) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE promotions SET batches = ?2, current = ?3, state = ?4, updated_at = ?5 WHERE id = ?1",
            params![p.id, p.batches.to_string(), p.current, p.state, now()],
        )?;
        Ok(())
    }

    // ----- break-glass sessions -----

    /// Stores a new session.
    pub fn session_insert(&self, s: &SessionRecord) -> Result<(), StoreError> {
        self.conn.execute(
            &format!("INSERT INTO breakglass_sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"),
            params![
                s.id,
                s.org_id,
                s.user_id,
                s.user_name,
                s.project,
                s.environment,
                s.workload,
                s.justification,
                s.severity,
                s.opened_at,
                s.expires_at,
                s.closed_at,
                s.close_note,
                s.decision_id,
                s.actions.to_string()
            ],
        )?;
        Ok(())
    }

    /// A session by id.
    pub fn session(&self, org_id: &str, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM breakglass_sessions WHERE org_id = ?1 AND id = ?2"
                ),
                [org_id, id],
                session_row,
            )
            .optional()?
            .map(with_actions)
            .transpose()
    }

    /// The organization's sessions, newest first; only one user's when given.
    pub fn sessions(
        &self,
        org_id: &str,
        user_id: Option<&str>,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {SESSION_COLUMNS} FROM breakglass_sessions
             WHERE org_id = ?1 AND (?2 IS NULL OR user_id = ?2) ORDER BY opened_at DESC"
        ))?;
        let rows = stmt.query_map(params![org_id, user_id], session_row)?;
        rows.map(|r| with_actions(r?)).collect()
    }

    /// Notes something done under a session.
    pub fn session_mark(&self, id: &str, entry: &Json) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE breakglass_sessions SET actions = json_insert(actions, '$[#]', json(?2)) WHERE id = ?1",
            params![id, entry.to_string()],
        )?;
        Ok(())
    }

    /// Closes a live session with a note; false when it was already closed.
    pub fn session_close(&self, id: &str, note: &str) -> Result<bool, StoreError> {
        self.session_close_at(id, &now(), note)
    }

    /// Closes a session as of `at` (an expired one: its expiry); false when already closed.
    pub fn session_close_at(&self, id: &str, at: &str, note: &str) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE breakglass_sessions SET closed_at = ?2, close_note = ?3
             WHERE id = ?1 AND closed_at IS NULL",
            params![id, at, note],
        )?;
        Ok(n == 1)
    }

    /// Sessions of every organization that expired by `at` and were never closed.
    pub fn sessions_expired(&self, at: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {SESSION_COLUMNS} FROM breakglass_sessions
             WHERE closed_at IS NULL AND expires_at <= ?1 ORDER BY expires_at"
        ))?;
        let rows = stmt.query_map([at], session_row)?;
        rows.map(|r| with_actions(r?)).collect()
    }
}

/// An approval from `SELECT user_id, user_name, comment, at, decision_id` (releases' and
/// commands' approvals share the shape).
pub(super) fn approval_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApprovalRecord> {
    Ok(ApprovalRecord {
        user_id: r.get(0)?,
        user_name: r.get(1)?,
        comment: r.get(2)?,
        at: r.get(3)?,
        decision_id: r.get(4)?,
    })
}
