//! Signing keys: shared secrets with which a service account signs requests (HMAC-SHA256)
//! instead of sending a token — the registry and CI webhooks. Unlike tokens they cannot be kept
//! as hashes (the hub recomputes the signature), so they are stored as issued; revoke a key to
//! end it.

use rusqlite::{OptionalExtension, params};

use super::{StoreError, Tx};

/// A service account's signing key.
#[derive(Clone, PartialEq)]
pub struct SigningKey {
    /// `sk_…`, sent with each signed request.
    pub id: String,
    /// Organization.
    pub org_id: String,
    /// The service account's id.
    pub subject: String,
    /// The shared secret.
    pub secret: String,
    /// Issued.
    pub created_at: String,
    /// By whom.
    pub created_by: String,
    /// Revoked.
    pub revoked_at: Option<String>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("subject", &self.subject)
            .field("secret", &"<redacted>")
            .field("revoked_at", &self.revoked_at)
            .finish()
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SigningKey> {
    Ok(SigningKey {
        id: r.get(0)?,
        org_id: r.get(1)?,
        subject: r.get(2)?,
        secret: r.get(3)?,
        created_at: r.get(4)?,
        created_by: r.get(5)?,
        revoked_at: r.get(6)?,
    })
}

const COLUMNS: &str = "id, org_id, subject, secret, created_at, created_by, revoked_at";

impl Tx<'_> {
    /// Stores a new signing key.
    pub fn signing_key_insert(&self, k: &SigningKey) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO signing_keys (id, org_id, subject, secret, created_at, created_by, revoked_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![k.id, k.org_id, k.subject, k.secret, k.created_at, k.created_by, k.revoked_at],
        )?;
        Ok(())
    }

    /// A key by id (any organization: the id is what a signed request names).
    pub fn signing_key(&self, id: &str) -> Result<Option<SigningKey>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM signing_keys WHERE id = ?1");
        Ok(self.conn.query_row(&sql, [id], row).optional()?)
    }

    /// A service account's keys, oldest first.
    pub fn signing_keys_of(
        &self,
        org_id: &str,
        subject: &str,
    ) -> Result<Vec<SigningKey>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM signing_keys WHERE org_id = ?1 AND subject = ?2 ORDER BY created_at"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([org_id, subject], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Revokes a key; false when it was not found or already revoked.
    pub fn signing_key_revoke(&self, org_id: &str, id: &str, at: &str) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE signing_keys SET revoked_at = ?3 WHERE org_id = ?1 AND id = ?2 AND revoked_at IS NULL",
            [org_id, id, at],
        )?;
        Ok(n == 1)
    }
}
