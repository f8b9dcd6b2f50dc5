//! The notification outbox: every release event is queued, in the transaction that records
//! it, for each notification that wants it; a worker delivers and records each attempt.

use rusqlite::{OptionalExtension, params};
use serde_json::{Value as Json, json};

use super::{StoreError, Tx, new_id, now, parse_json};

/// A queued or finished delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Delivery id.
    pub id: String,
    /// Organization id.
    pub org_id: String,
    /// The notification's spec (url, format, secret, ...).
    pub spec: Json,
    /// The notification's name.
    pub notification: String,
    /// The event, e.g. `release.deployed`.
    pub event: String,
    /// What is sent (the generic JSON body).
    pub payload: Json,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Attempts so far.
    pub attempts: i64,
    /// When the next attempt is due.
    pub next_at: String,
    /// The last answer's HTTP status.
    pub last_status: Option<i64>,
    /// The last failure.
    pub last_error: Option<String>,
    /// Queued.
    pub created_at: String,
    /// Delivered.
    pub delivered_at: Option<String>,
}

const COLUMNS: &str = "d.id, d.org_id, r.spec, r.name, d.event, d.payload, d.state, d.attempts, \
     d.next_at, d.last_status, d.last_error, d.created_at, d.delivered_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Delivery, String, String)> {
    Ok((
        Delivery {
            id: r.get(0)?,
            org_id: r.get(1)?,
            spec: Json::Null,
            notification: r.get(3)?,
            event: r.get(4)?,
            payload: Json::Null,
            state: r.get(6)?,
            attempts: r.get(7)?,
            next_at: r.get(8)?,
            last_status: r.get(9)?,
            last_error: r.get(10)?,
            created_at: r.get(11)?,
            delivered_at: r.get(12)?,
        },
        r.get(2)?,
        r.get(5)?,
    ))
}

fn parsed((mut d, spec, payload): (Delivery, String, String)) -> Result<Delivery, StoreError> {
    d.spec = parse_json(&spec)?;
    d.payload = parse_json(&payload)?;
    Ok(d)
}

fn wants(list: Option<&Json>, value: &str) -> bool {
    match list.and_then(Json::as_array) {
        Some(items) if !items.is_empty() => items.iter().any(|i| {
            i.as_str().is_some_and(|p| {
                p == value
                    || p.strip_suffix('*')
                        .is_some_and(|pre| value.starts_with(pre))
            })
        }),
        _ => true,
    }
}

impl Tx<'_> {
    /// Queues a release event for every notification of the release's organization that
    /// wants it (by `events` and `projects`).
    pub(super) fn notify_release_event(
        &self,
        release_id: &str,
        event: &str,
        actor: &str,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        let found = self
            .conn
            .query_row(
                "SELECT r.org_id, p.name, r.number, r.title, r.state, r.id
                 FROM releases r JOIN resources p ON p.id = r.project_id WHERE r.id = ?1",
                [release_id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                    ))
                },
            )
            .optional()?;
        let Some((org_id, project, number, title, state, id)) = found else {
            return Ok(());
        };
        let event = format!("release.{event}");
        let at = now();
        let payload = json!({
            "event": event,
            "project": project,
            "release": {"id": id, "number": number, "title": title, "state": state},
            "actor": actor,
            "note": note,
            "at": at,
        });
        let mut stmt = self.conn.prepare(
            "SELECT id, spec FROM resources WHERE org_id = ?1 AND kind = 'notification'",
        )?;
        let targets = stmt
            .query_map([&org_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        for (notification, spec) in targets {
            let spec = parse_json(&spec)?;
            if !wants(spec.get("events"), &event) || !wants(spec.get("projects"), &project) {
                continue;
            }
            self.conn.execute(
                "INSERT INTO deliveries (id, org_id, notification, event, payload, state, next_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6)",
                params![new_id(), org_id, notification, event, payload.to_string(), at],
            )?;
        }
        Ok(())
    }

    /// Deliveries due at `at`, oldest first.
    pub fn deliveries_due(&self, at: &str, limit: i64) -> Result<Vec<Delivery>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM deliveries d JOIN resources r ON r.id = d.notification
             WHERE d.state = 'pending' AND d.next_at <= ?1 ORDER BY d.next_at LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![at, limit], row)?;
        rows.map(|r| parsed(r?)).collect()
    }

    /// When the next pending delivery is due, if any.
    pub fn delivery_next_due(&self) -> Result<Option<String>, StoreError> {
        Ok(self.conn.query_row(
            "SELECT min(next_at) FROM deliveries WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?)
    }

    /// Records an attempt: delivered, due again at `retry_at`, or failed for good.
    pub fn delivery_attempted(
        &self,
        id: &str,
        status: Option<u16>,
        error: Option<&str>,
        retry_at: Option<&str>,
        delivered: bool,
    ) -> Result<(), StoreError> {
        let state = if delivered {
            "delivered"
        } else if retry_at.is_some() {
            "pending"
        } else {
            "failed"
        };
        self.conn.execute(
            "UPDATE deliveries SET attempts = attempts + 1, state = ?2, last_status = ?3,
                 last_error = ?4, next_at = coalesce(?5, next_at),
                 delivered_at = CASE WHEN ?2 = 'delivered' THEN ?6 ELSE delivered_at END
             WHERE id = ?1",
            params![id, state, status, error, retry_at, now()],
        )?;
        Ok(())
    }

    /// A notification's deliveries, newest first.
    pub fn deliveries_of(
        &self,
        org_id: &str,
        notification_id: &str,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM deliveries d JOIN resources r ON r.id = d.notification
             WHERE d.org_id = ?1 AND d.notification = ?2 ORDER BY d.created_at DESC LIMIT ?3"
        ))?;
        let rows = stmt.query_map(params![org_id, notification_id, limit], row)?;
        rows.map(|r| parsed(r?)).collect()
    }
}
