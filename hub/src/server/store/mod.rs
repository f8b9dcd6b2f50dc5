//! The hub's store: one SQLite file (WAL journal, foreign keys, versioned migrations) behind a
//! narrow interface.
//!
//! Handlers never see SQL. They run a closure against a [`Tx`] through [`Store::write`] (one
//! `BEGIN IMMEDIATE` transaction on the single writer connection: it commits when the closure
//! returns `Ok` and rolls back on `Err`, so a failed request leaves nothing half-written) or
//! [`Store::read`] (a snapshot on one of the pooled reader connections). Every query is scoped
//! by organization; the methods of [`Tx`] are the whole repository surface a PostgreSQL
//! implementation would provide.

mod agents;
mod audit;
mod deliveries;
mod migrations;
mod releases;
mod signing;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::Value as Json;

pub use agents::{AgentState, CommandRecord};
pub use audit::{AuditEntry, AuditFilter, AuditRecord, VerifyReport};
pub use deliveries::Delivery;
pub use releases::{ApprovalRecord, PromotionRecord, ReleaseEvent, ReleaseRecord, SessionRecord};
pub use signing::SigningKey;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was violated (a name already taken).
    #[error("{0}")]
    Conflict(String),
    /// The store's file is newer than this binary, or unreadable as a store.
    #[error("{0}")]
    Incompatible(String),
    /// SQLite failed.
    #[error("the store failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored document is not valid JSON (the file was edited by hand).
    #[error("a stored document is corrupt: {0}")]
    Corrupt(String),
}

/// The store: one writer connection, a small pool of readers.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

const READERS: usize = 4;

impl Store {
    /// Opens (creating when absent) the store at `path` and applies pending migrations.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let mut writer = connect(path)?;
        migrate(&mut writer)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(connect(path)?);
        }
        Ok(Store {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            readers: Mutex::new(readers),
        })
    }

    /// The SQLite file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in a write transaction: committed on `Ok`, rolled back on `Err`.
    pub fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let out = f(&Tx { conn: &tx })?;
        tx.commit().map_err(StoreError::from)?;
        Ok(out)
    }

    /// Runs `f` against a consistent snapshot on a reader connection.
    pub fn read<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => connect(&self.path)?,
        };
        let out = (|| {
            let tx = conn.transaction().map_err(StoreError::from)?;
            let out = f(&Tx { conn: &tx });
            tx.finish().map_err(StoreError::from)?;
            out
        })();
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < READERS {
            pool.push(conn);
        }
        out
    }

    /// Whether the store answers (for `/readyz`).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.read(|tx| {
            tx.conn.query_row("SELECT 1", [], |_| Ok(()))?;
            Ok::<_, StoreError>(())
        })
    }

    /// Folds the write-ahead log into the main file (on shutdown).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;",
    )?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: usize =
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if current > migrations::MIGRATIONS.len() {
        return Err(StoreError::Incompatible(format!(
            "The store is at schema version {current}, newer than this binary knows ({}). \
             Run a newer gatehouse, or restore a backup taken before the upgrade.",
            migrations::MIGRATIONS.len()
        )));
    }
    for (i, sql) in migrations::MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        tx.commit()?;
        tracing::info!(version = i + 1, "store migrated");
    }
    Ok(())
}

/// The current time as stored: RFC 3339 UTC with microseconds (sorts as text).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A new time-ordered identifier.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// An organization.
#[derive(Debug, Clone, PartialEq)]
pub struct Org {
    /// Identifier.
    pub id: String,
    /// Unique name.
    pub name: String,
}

/// A member of an organization.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The user's identifier.
    pub user_id: String,
    /// The user's name.
    pub name: String,
    /// The role in this organization.
    pub role: String,
    /// When the user joined.
    pub created_at: String,
}

/// What a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A person's API token.
    User,
    /// A service account's token.
    ServiceAccount,
    /// A cluster's one-time registration token.
    Registration,
    /// A registered agent's token.
    Agent,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::User => "user",
            TokenKind::ServiceAccount => "service_account",
            TokenKind::Registration => "registration",
            TokenKind::Agent => "agent",
        }
    }

    fn parse(s: &str) -> Option<TokenKind> {
        Some(match s {
            "user" => TokenKind::User,
            "service_account" => TokenKind::ServiceAccount,
            "registration" => TokenKind::Registration,
            "agent" => TokenKind::Agent,
            _ => return None,
        })
    }
}

/// A stored token (only its hash is kept).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    /// Identifier (safe to show).
    pub id: String,
    /// Organization the token acts in.
    pub org_id: String,
    /// What it belongs to.
    pub kind: TokenKind,
    /// The user id, service account id or cluster id.
    pub subject: String,
    /// A label chosen at creation.
    pub name: String,
    /// SHA-256 of the token, hex.
    pub hash: String,
    /// When it was created.
    pub created_at: String,
    /// Who created it.
    pub created_by: String,
    /// When it stops working.
    pub expires_at: Option<String>,
    /// When a single-use token was used.
    pub consumed_at: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<String>,
}

impl TokenRecord {
    /// Whether the token may still be used at `now`.
    pub fn usable(&self, now: &str) -> bool {
        self.revoked_at.is_none()
            && self.consumed_at.is_none()
            && self.expires_at.as_deref().is_none_or(|e| e > now)
    }
}

/// A stored object of the model (team, tenant, cluster, project, workload, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// Identifier.
    pub id: String,
    /// Organization.
    pub org_id: String,
    /// The project it belongs to, for project-level kinds.
    pub project_id: Option<String>,
    /// Kind (`team`, `cluster`, `workload`, ...).
    pub kind: String,
    /// Name, unique per organization, project and kind.
    pub name: String,
    /// The kind's fields.
    pub spec: Json,
    /// Incremented by every update (optimistic concurrency).
    pub version: i64,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
    /// Who created it.
    pub created_by: String,
}

/// A chart version in the registry (without its archive).
#[derive(Debug, Clone, PartialEq)]
pub struct ChartVersion {
    /// Semantic version from Chart.yaml.
    pub version: String,
    /// appVersion from Chart.yaml.
    pub app_version: Option<String>,
    /// description from Chart.yaml.
    pub description: Option<String>,
    /// SHA-256 of the archive, hex.
    pub digest: String,
    /// Archive size in bytes.
    pub size: i64,
    /// The chart's values.yaml as JSON.
    pub default_values: Json,
    /// When it was uploaded.
    pub created_at: String,
    /// Who uploaded it.
    pub created_by: String,
}

/// Values overrides of one workload at one (environment, tenant) level.
#[derive(Debug, Clone, PartialEq)]
pub struct ValuesRecord {
    /// The values document.
    pub values: Json,
    /// Incremented by every change.
    pub version: i64,
    /// When it last changed.
    pub updated_at: String,
    /// Who changed it.
    pub updated_by: String,
}

/// A transaction: the repository interface.
#[derive(Debug)]
pub struct Tx<'c> {
    conn: &'c Connection,
}

fn parse_json(text: &str) -> Result<Json, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn unique_violation(err: &rusqlite::Error) -> bool {
    matches!(
        err,
        rusqlite::Error::SqliteFailure(e, _)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

const RESOURCE_COLUMNS: &str =
    "id, org_id, project_id, kind, name, spec, version, created_at, updated_at, created_by";

fn resource_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Resource, String)> {
    Ok((
        Resource {
            id: r.get(0)?,
            org_id: r.get(1)?,
            project_id: r.get(2)?,
            kind: r.get(3)?,
            name: r.get(4)?,
            spec: Json::Null,
            version: r.get(6)?,
            created_at: r.get(7)?,
            updated_at: r.get(8)?,
            created_by: r.get(9)?,
        },
        r.get(5)?,
    ))
}

fn with_spec((mut res, spec): (Resource, String)) -> Result<Resource, StoreError> {
    res.spec = parse_json(&spec)?;
    Ok(res)
}

impl Tx<'_> {
    // ----- organizations, users, members -----

    /// Number of organizations (zero before bootstrap).
    pub fn org_count(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM organizations", [], |r| r.get(0))?)
    }

    /// Creates an organization; its name must be free.
    pub fn org_create(&self, name: &str) -> Result<Org, StoreError> {
        let org = Org {
            id: new_id(),
            name: name.to_owned(),
        };
        match self.conn.execute(
            "INSERT INTO organizations (id, name, created_at) VALUES (?1, ?2, ?3)",
            params![org.id, org.name, now()],
        ) {
            Ok(_) => Ok(org),
            Err(e) if unique_violation(&e) => Err(StoreError::Conflict(format!(
                "An organization named `{name}` already exists."
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// The organization with this id.
    pub fn org(&self, id: &str) -> Result<Option<Org>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, name FROM organizations WHERE id = ?1",
                [id],
                |r| {
                    Ok(Org {
                        id: r.get(0)?,
                        name: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    /// The organization with this name.
    pub fn org_by_name(&self, name: &str) -> Result<Option<Org>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, name FROM organizations WHERE name = ?1",
                [name],
                |r| {
                    Ok(Org {
                        id: r.get(0)?,
                        name: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    /// Every organization id (for `audit verify`).
    pub fn org_ids(&self) -> Result<Vec<Org>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, name FROM organizations ORDER BY name")?;
        let rows = stmt.query_map([], |r| {
            Ok(Org {
                id: r.get(0)?,
                name: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The user with this name, created when absent; returns its id.
    pub fn user_ensure(&self, name: &str) -> Result<String, StoreError> {
        if let Some(id) = self
            .conn
            .query_row("SELECT id FROM users WHERE name = ?1", [name], |r| r.get(0))
            .optional()?
        {
            return Ok(id);
        }
        let id = new_id();
        self.conn.execute(
            "INSERT INTO users (id, name, created_at) VALUES (?1, ?2, ?3)",
            params![id, name, now()],
        )?;
        Ok(id)
    }

    /// A member by user name.
    pub fn member(&self, org_id: &str, name: &str) -> Result<Option<Member>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT u.id, u.name, m.role, m.created_at FROM members m JOIN users u ON u.id = m.user_id
                 WHERE m.org_id = ?1 AND u.name = ?2",
                [org_id, name],
                member_row,
            )
            .optional()?)
    }

    /// A member by user id.
    pub fn member_by_id(&self, org_id: &str, user_id: &str) -> Result<Option<Member>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT u.id, u.name, m.role, m.created_at FROM members m JOIN users u ON u.id = m.user_id
                 WHERE m.org_id = ?1 AND u.id = ?2",
                [org_id, user_id],
                member_row,
            )
            .optional()?)
    }

    /// Every member, by name.
    pub fn members(&self, org_id: &str) -> Result<Vec<Member>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT u.id, u.name, m.role, m.created_at FROM members m JOIN users u ON u.id = m.user_id
             WHERE m.org_id = ?1 ORDER BY u.name",
        )?;
        let rows = stmt.query_map([org_id], member_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Adds a member; the user must not be one already.
    pub fn member_add(&self, org_id: &str, name: &str, role: &str) -> Result<Member, StoreError> {
        let user_id = self.user_ensure(name)?;
        match self.conn.execute(
            "INSERT INTO members (org_id, user_id, role, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![org_id, user_id, role, now()],
        ) {
            Ok(_) => {}
            Err(e) if unique_violation(&e) => {
                return Err(StoreError::Conflict(format!(
                    "`{name}` is already a member."
                )));
            }
            Err(e) => return Err(e.into()),
        }
        self.member_by_id(org_id, &user_id)?
            .ok_or_else(|| StoreError::Corrupt("a member vanished while being added".into()))
    }

    /// Changes a member's role.
    pub fn member_set_role(
        &self,
        org_id: &str,
        user_id: &str,
        role: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE members SET role = ?3 WHERE org_id = ?1 AND user_id = ?2",
            params![org_id, user_id, role],
        )?;
        Ok(())
    }

    /// Removes a member and revokes their tokens in this organization.
    pub fn member_remove(&self, org_id: &str, user_id: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM members WHERE org_id = ?1 AND user_id = ?2",
            [org_id, user_id],
        )?;
        self.conn.execute(
            "UPDATE tokens SET revoked_at = ?3 WHERE org_id = ?1 AND kind = 'user' AND subject = ?2 AND revoked_at IS NULL",
            params![org_id, user_id, now()],
        )?;
        Ok(())
    }

    /// How many owners the organization has.
    pub fn owner_count(&self, org_id: &str) -> Result<i64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM members WHERE org_id = ?1 AND role = 'owner'",
            [org_id],
            |r| r.get(0),
        )?)
    }

    // ----- tokens -----

    /// Stores a token record.
    pub fn token_insert(&self, t: &TokenRecord) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO tokens (id, org_id, kind, subject, name, hash, created_at, created_by, expires_at, consumed_at, revoked_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                t.id, t.org_id, t.kind.as_str(), t.subject, t.name, t.hash, t.created_at, t.created_by,
                t.expires_at, t.consumed_at, t.revoked_at
            ],
        )?;
        Ok(())
    }

    /// The token with this hash.
    pub fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.token_where("hash = ?1", [hash]).map(|mut v| v.pop())
    }

    /// The token with this id in this organization.
    pub fn token(&self, org_id: &str, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.token_where("org_id = ?1 AND id = ?2", [org_id, id])
            .map(|mut v| v.pop())
    }

    /// Tokens of one subject, newest first.
    pub fn tokens_of(
        &self,
        org_id: &str,
        kind: TokenKind,
        subject: &str,
    ) -> Result<Vec<TokenRecord>, StoreError> {
        self.token_where(
            "org_id = ?1 AND kind = ?2 AND subject = ?3 ORDER BY created_at DESC",
            [org_id, kind.as_str(), subject],
        )
    }

    fn token_where<P: rusqlite::Params>(
        &self,
        clause: &str,
        p: P,
    ) -> Result<Vec<TokenRecord>, StoreError> {
        let sql = format!(
            "SELECT id, org_id, kind, subject, name, hash, created_at, created_by, expires_at, consumed_at, revoked_at
             FROM tokens WHERE {clause}"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(p, |r| {
            let kind: String = r.get(2)?;
            Ok(TokenRecord {
                id: r.get(0)?,
                org_id: r.get(1)?,
                kind: TokenKind::parse(&kind).unwrap_or(TokenKind::User),
                subject: r.get(3)?,
                name: r.get(4)?,
                hash: r.get(5)?,
                created_at: r.get(6)?,
                created_by: r.get(7)?,
                expires_at: r.get(8)?,
                consumed_at: r.get(9)?,
                revoked_at: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Revokes a token now (or at `at`, for a grace period); a no-op when already revoked.
    pub fn token_revoke(&self, id: &str, at: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND (revoked_at IS NULL OR revoked_at > ?2)",
            [id, at],
        )?;
        Ok(())
    }

    /// Revokes every unconsumed token of a subject of one kind (e.g. old registration tokens).
    pub fn tokens_revoke_all(
        &self,
        org_id: &str,
        kind: TokenKind,
        subject: &str,
        at: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE tokens SET revoked_at = ?4 WHERE org_id = ?1 AND kind = ?2 AND subject = ?3
             AND consumed_at IS NULL AND (revoked_at IS NULL OR revoked_at > ?4)",
            params![org_id, kind.as_str(), subject, at],
        )?;
        Ok(())
    }

    /// Marks a single-use token used; false when it was already used (lost the race).
    pub fn token_consume(&self, id: &str) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE tokens SET consumed_at = ?2 WHERE id = ?1 AND consumed_at IS NULL",
            [id, &now()],
        )?;
        Ok(n == 1)
    }

    // ----- resources -----

    /// One resource by kind and name.
    pub fn resource(
        &self,
        org_id: &str,
        project_id: Option<&str>,
        kind: &str,
        name: &str,
    ) -> Result<Option<Resource>, StoreError> {
        let sql = format!(
            "SELECT {RESOURCE_COLUMNS} FROM resources
             WHERE org_id = ?1 AND ifnull(project_id, '') = ?2 AND kind = ?3 AND name = ?4"
        );
        self.conn
            .query_row(
                &sql,
                params![org_id, project_id.unwrap_or(""), kind, name],
                resource_row,
            )
            .optional()?
            .map(with_spec)
            .transpose()
    }

    /// Resources of one kind in one organization (and project), by name.
    pub fn resources(
        &self,
        org_id: &str,
        project_id: Option<&str>,
        kind: &str,
    ) -> Result<Vec<Resource>, StoreError> {
        let sql = format!(
            "SELECT {RESOURCE_COLUMNS} FROM resources
             WHERE org_id = ?1 AND ifnull(project_id, '') = ?2 AND kind = ?3 ORDER BY name"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(
            params![org_id, project_id.unwrap_or(""), kind],
            resource_row,
        )?;
        rows.map(|r| with_spec(r?)).collect()
    }

    /// Resources of one kind across every project of the organization.
    pub fn resources_everywhere(
        &self,
        org_id: &str,
        kind: &str,
    ) -> Result<Vec<Resource>, StoreError> {
        let sql = format!(
            "SELECT {RESOURCE_COLUMNS} FROM resources WHERE org_id = ?1 AND kind = ?2 ORDER BY project_id, name"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![org_id, kind], resource_row)?;
        rows.map(|r| with_spec(r?)).collect()
    }

    /// A resource by id (for resolving a project id to its name).
    pub fn resource_by_id(&self, org_id: &str, id: &str) -> Result<Option<Resource>, StoreError> {
        let sql = format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE org_id = ?1 AND id = ?2");
        self.conn
            .query_row(&sql, params![org_id, id], resource_row)
            .optional()?
            .map(with_spec)
            .transpose()
    }

    /// Inserts a resource at version 1; the name must be free.
    pub fn resource_insert(
        &self,
        org_id: &str,
        project_id: Option<&str>,
        kind: &str,
        name: &str,
        spec: &Json,
        actor: &str,
    ) -> Result<Resource, StoreError> {
        let at = now();
        let res = Resource {
            id: new_id(),
            org_id: org_id.to_owned(),
            project_id: project_id.map(str::to_owned),
            kind: kind.to_owned(),
            name: name.to_owned(),
            spec: spec.clone(),
            version: 1,
            created_at: at.clone(),
            updated_at: at,
            created_by: actor.to_owned(),
        };
        match self.conn.execute(
            "INSERT INTO resources (id, org_id, project_id, kind, name, spec, version, created_at, updated_at, created_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7, ?8)",
            params![res.id, org_id, project_id, kind, name, spec.to_string(), res.created_at, actor],
        ) {
            Ok(_) => Ok(res),
            Err(e) if unique_violation(&e) => Err(StoreError::Conflict(format!(
                "A {} named `{name}` already exists here.",
                kind.replace('_', " ")
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces a resource's spec and bumps its version.
    pub fn resource_update(&self, res: &Resource, spec: &Json) -> Result<Resource, StoreError> {
        let at = now();
        self.conn.execute(
            "UPDATE resources SET spec = ?2, version = version + 1, updated_at = ?3 WHERE id = ?1",
            params![res.id, spec.to_string(), at],
        )?;
        Ok(Resource {
            spec: spec.clone(),
            version: res.version + 1,
            updated_at: at,
            ..res.clone()
        })
    }

    /// Deletes a resource (and, for a project, everything in it).
    pub fn resource_delete(&self, id: &str) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM resources WHERE id = ?1", [id])?;
        Ok(())
    }

    // ----- chart registry -----

    /// Stores an uploaded chart version; the version must be new.
    pub fn chart_version_insert(
        &self,
        chart_id: &str,
        v: &ChartVersion,
        archive: &[u8],
    ) -> Result<(), StoreError> {
        match self.conn.execute(
            "INSERT INTO chart_versions (chart_id, version, app_version, description, digest, size, archive, default_values, created_at, created_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                chart_id, v.version, v.app_version, v.description, v.digest, v.size, archive,
                v.default_values.to_string(), v.created_at, v.created_by
            ],
        ) {
            Ok(_) => Ok(()),
            Err(e) if unique_violation(&e) => Err(StoreError::Conflict(format!(
                "Version {} of this chart was already uploaded; chart versions are immutable, publish a new version.",
                v.version
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// The versions of a chart, newest upload first.
    pub fn chart_versions(&self, chart_id: &str) -> Result<Vec<ChartVersion>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT version, app_version, description, digest, size, default_values, created_at, created_by
             FROM chart_versions WHERE chart_id = ?1 ORDER BY created_at DESC",
        )?;
        let rows = stmt.query_map([chart_id], |r| {
            Ok((
                ChartVersion {
                    version: r.get(0)?,
                    app_version: r.get(1)?,
                    description: r.get(2)?,
                    digest: r.get(3)?,
                    size: r.get(4)?,
                    default_values: Json::Null,
                    created_at: r.get(6)?,
                    created_by: r.get(7)?,
                },
                r.get::<_, String>(5)?,
            ))
        })?;
        rows.map(|r| {
            let (mut v, values) = r?;
            v.default_values = parse_json(&values)?;
            Ok(v)
        })
        .collect()
    }

    /// A chart version's archive and its digest.
    pub fn chart_archive(
        &self,
        chart_id: &str,
        version: &str,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT digest, archive FROM chart_versions WHERE chart_id = ?1 AND version = ?2",
                [chart_id, version],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    // ----- values overrides -----

    /// The values of a workload at one level (environment and tenant may be empty).
    pub fn values(
        &self,
        workload_id: &str,
        environment: &str,
        tenant: &str,
    ) -> Result<Option<ValuesRecord>, StoreError> {
        self.conn
            .query_row(
                "SELECT doc, version, updated_at, updated_by FROM values_overrides
                 WHERE workload_id = ?1 AND environment = ?2 AND tenant = ?3",
                [workload_id, environment, tenant],
                |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?
            .map(|(doc, version, updated_at, updated_by)| {
                Ok(ValuesRecord {
                    values: parse_json(&doc)?,
                    version,
                    updated_at,
                    updated_by,
                })
            })
            .transpose()
    }

    /// Sets the values of a workload at one level; returns the new version.
    pub fn values_put(
        &self,
        workload_id: &str,
        environment: &str,
        tenant: &str,
        values: &Json,
        actor: &str,
    ) -> Result<i64, StoreError> {
        let version: i64 = self.conn.query_row(
            "INSERT INTO values_overrides (workload_id, environment, tenant, doc, version, updated_at, updated_by)
             VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6)
             ON CONFLICT (workload_id, environment, tenant)
             DO UPDATE SET doc = excluded.doc, version = version + 1, updated_at = excluded.updated_at, updated_by = excluded.updated_by
             RETURNING version",
            params![workload_id, environment, tenant, values.to_string(), now(), actor],
            |r| r.get(0),
        )?;
        Ok(version)
    }

    // ----- decisions -----

    /// Records a decision the hub acted on, with what it allowed (`effect`).
    pub fn decision_insert(
        &self,
        org_id: &str,
        decision: &gatehouse_engine::Decision,
        action: &Json,
        effect: Option<&Json>,
    ) -> Result<(), StoreError> {
        let doc =
            serde_json::to_string(decision).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.conn.execute(
            "INSERT INTO decisions (id, org_id, kind, outcome, action, decision, effect, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                decision.decision_id,
                org_id,
                decision.kind,
                decision.outcome.as_str(),
                action.to_string(),
                doc,
                effect.map(Json::to_string),
                now()
            ],
        )?;
        Ok(())
    }

    /// A recorded decision: (action, decision, effect).
    pub fn decision(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<Option<(Json, Json, Option<Json>)>, StoreError> {
        self.conn
            .query_row(
                "SELECT action, decision, effect FROM decisions WHERE org_id = ?1 AND id = ?2",
                [org_id, id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ))
                },
            )
            .optional()?
            .map(|(a, d, e)| {
                Ok((
                    parse_json(&a)?,
                    parse_json(&d)?,
                    e.as_deref().map(parse_json).transpose()?,
                ))
            })
            .transpose()
    }
}

fn member_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Member> {
    Ok(Member {
        user_id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        created_at: r.get(3)?,
    })
}
