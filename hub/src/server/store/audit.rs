//! The audit log: append-only, one hash chain per organization.
//!
//! Each entry's hash covers its predecessor's hash and every field of the entry as stored
//! (length-prefixed, so no two different entries hash alike). SQLite triggers refuse updates and
//! deletes through SQL; `audit_heads` keeps the last sequence number and hash of each chain, so
//! that truncating the tail is caught as well as editing, deleting or reordering entries.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use super::{StoreError, Tx, now, parse_json};

/// The hash before the first entry of a chain.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What to append.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry {
    /// Who acted: `user:alice`, `service_account:ci`, `agent:prod-eu`, `system`.
    pub actor: String,
    /// What was done: the route's action id, e.g. `clusters.create`.
    pub action: String,
    /// What it was done to: `cluster/prod-eu`, `project/shop/workload/api`.
    pub resource: String,
    /// The state before (absent for creations).
    pub before: Option<Json>,
    /// The state after (absent for deletions).
    pub after: Option<Json>,
    /// The decision the action was taken under, when the engine was asked.
    pub decision_id: Option<String>,
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// Position in the organization's chain, from 1.
    pub seq: i64,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Who acted.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// What it was done to.
    pub resource: String,
    /// The state before.
    pub before: Option<Json>,
    /// The state after.
    pub after: Option<Json>,
    /// The decision the action was taken under.
    pub decision_id: Option<String>,
    /// The predecessor's hash.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

/// Filters for listing entries; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Exact actor.
    pub actor: Option<String>,
    /// Action id, or a prefix ending in `.` or `*` (e.g. `clusters.*`).
    pub action: Option<String>,
    /// Resource, or a prefix ending in `/` or `*`.
    pub resource: Option<String>,
    /// Entries at or after this time.
    pub since: Option<String>,
    /// Entries before this time.
    pub until: Option<String>,
    /// Entries after this sequence number (paging).
    pub after_seq: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

/// The outcome of checking one organization's chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyReport {
    /// The organization's name.
    pub org: String,
    /// Entries checked.
    pub entries: i64,
    /// The first problem found, if any.
    pub problem: Option<String>,
}

struct Raw {
    seq: i64,
    at: String,
    actor: String,
    action: String,
    resource: String,
    before: Option<String>,
    after: Option<String>,
    decision_id: Option<String>,
    prev_hash: String,
    hash: String,
}

fn chain_hash(org_id: &str, prev: &str, r: &Raw) -> String {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    field(prev.as_bytes());
    field(org_id.as_bytes());
    field(r.seq.to_string().as_bytes());
    field(r.at.as_bytes());
    field(r.actor.as_bytes());
    field(r.action.as_bytes());
    field(r.resource.as_bytes());
    for opt in [&r.before, &r.after, &r.decision_id] {
        match opt {
            Some(s) => {
                field(b"1");
                field(s.as_bytes());
            }
            None => field(b"0"),
        }
    }
    hex::encode(h.finalize())
}

const COLUMNS: &str =
    "seq, at, actor, action, resource, before, after, decision_id, prev_hash, hash";

fn raw_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Raw> {
    Ok(Raw {
        seq: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        resource: r.get(4)?,
        before: r.get(5)?,
        after: r.get(6)?,
        decision_id: r.get(7)?,
        prev_hash: r.get(8)?,
        hash: r.get(9)?,
    })
}

impl Raw {
    fn record(self) -> Result<AuditRecord, StoreError> {
        Ok(AuditRecord {
            seq: self.seq,
            at: self.at,
            actor: self.actor,
            action: self.action,
            resource: self.resource,
            before: self.before.as_deref().map(parse_json).transpose()?,
            after: self.after.as_deref().map(parse_json).transpose()?,
            decision_id: self.decision_id,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

impl Tx<'_> {
    /// Appends an entry to the organization's chain (inside the caller's transaction, so the
    /// entry and the change it records commit together or not at all).
    pub fn audit_append(&self, org_id: &str, e: &AuditEntry) -> Result<i64, StoreError> {
        let head: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT seq, hash FROM audit_heads WHERE org_id = ?1",
                [org_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (last, prev) = head.unwrap_or((0, GENESIS.to_owned()));
        let mut raw = Raw {
            seq: last + 1,
            at: now(),
            actor: e.actor.clone(),
            action: e.action.clone(),
            resource: e.resource.clone(),
            before: e.before.as_ref().map(Json::to_string),
            after: e.after.as_ref().map(Json::to_string),
            decision_id: e.decision_id.clone(),
            prev_hash: prev.clone(),
            hash: String::new(),
        };
        raw.hash = chain_hash(org_id, &prev, &raw);
        self.conn.execute(
            &format!("INSERT INTO audit_log (org_id, {COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
            params![
                org_id, raw.seq, raw.at, raw.actor, raw.action, raw.resource, raw.before, raw.after,
                raw.decision_id, raw.prev_hash, raw.hash
            ],
        )?;
        self.conn.execute(
            "INSERT INTO audit_heads (org_id, seq, hash) VALUES (?1, ?2, ?3)
             ON CONFLICT (org_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            params![org_id, raw.seq, raw.hash],
        )?;
        Ok(raw.seq)
    }

    /// Entries matching the filter, oldest first.
    pub fn audit_list(
        &self,
        org_id: &str,
        f: &AuditFilter,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM audit_log WHERE org_id = ?1");
        let mut args: Vec<String> = vec![org_id.to_owned()];
        // Each condition compares a column expression with the next placeholder.
        let mut cond = |sql: &mut String, expr: &str, op: &str, value: String| {
            args.push(value);
            let n = args.len();
            sql.push_str(&format!(
                " AND {} {op} ?{n}",
                expr.replace("{}", &format!("?{n}"))
            ));
        };
        if let Some(a) = &f.actor {
            cond(&mut sql, "actor", "=", a.clone());
        }
        for (column, value) in [("action", &f.action), ("resource", &f.resource)] {
            if let Some(v) = value {
                match v.strip_suffix('*') {
                    Some(prefix) => cond(
                        &mut sql,
                        &format!("substr({column}, 1, length({{}}))"),
                        "=",
                        prefix.to_owned(),
                    ),
                    None => cond(&mut sql, column, "=", v.clone()),
                }
            }
        }
        if let Some(s) = &f.since {
            cond(&mut sql, "at", ">=", s.clone());
        }
        if let Some(u) = &f.until {
            cond(&mut sql, "at", "<", u.clone());
        }
        if let Some(n) = f.after_seq {
            cond(&mut sql, "seq", ">", n.to_string());
        }
        sql.push_str(&format!(" ORDER BY seq LIMIT {}", f.limit.clamp(1, 1000)));
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), raw_row)?;
        rows.map(|r| r?.record()).collect()
    }

    /// Walks one organization's chain and reports the first entry that was edited, deleted or
    /// reordered (or a truncated tail).
    pub fn audit_verify(&self, org_id: &str, org_name: &str) -> Result<VerifyReport, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM audit_log WHERE org_id = ?1 ORDER BY seq"
        ))?;
        let rows = stmt.query_map([org_id], raw_row)?;
        let mut prev = GENESIS.to_owned();
        let mut expected = 1;
        let mut entries = 0;
        let report = |entries, problem: String| VerifyReport {
            org: org_name.to_owned(),
            entries,
            problem: Some(problem),
        };
        for row in rows {
            let raw = row?;
            entries += 1;
            if raw.seq != expected {
                return Ok(report(
                    entries,
                    format!(
                        "entry {expected} is missing (the next entry found is {}): entries were deleted",
                        raw.seq
                    ),
                ));
            }
            if raw.prev_hash != prev {
                return Ok(report(
                    entries,
                    format!(
                        "entry {} does not follow entry {}: entries were deleted or reordered",
                        raw.seq,
                        raw.seq - 1
                    ),
                ));
            }
            if chain_hash(org_id, &prev, &raw) != raw.hash {
                return Ok(report(
                    entries,
                    format!(
                        "entry {} ({} by {} on {}) was edited after it was written",
                        raw.seq, raw.action, raw.actor, raw.resource
                    ),
                ));
            }
            prev = raw.hash;
            expected += 1;
        }
        let head: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT seq, hash FROM audit_heads WHERE org_id = ?1",
                [org_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let last = expected - 1;
        match head {
            Some((seq, hash)) if seq != last || hash != prev => Ok(report(
                entries,
                format!(
                    "the chain ends at entry {last} but its recorded head is entry {seq}: entries after {last} were deleted, or the head was altered"
                ),
            )),
            None if last > 0 => Ok(report(
                entries,
                "the chain has entries but no recorded head".into(),
            )),
            _ => Ok(VerifyReport {
                org: org_name.to_owned(),
                entries,
                problem: None,
            }),
        }
    }
}
