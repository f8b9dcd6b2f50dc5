//! The agent's identity: the agent token the hub issued at registration, persisted so a
//! restarted agent reconnects without a new registration token. Kept in a file (written to a
//! temporary name, synced, then renamed, mode 0600) or in a Kubernetes Secret.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use serde::{Deserialize, Serialize};

use crate::config::IdentityStore;

/// The Secret key (and file content) holding the identity.
const KEY: &str = "agent.json";

/// What the agent knows about itself after registering.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// `ghqa_` + 64 hex characters.
    pub agent_token: String,
    /// The cluster's id on the hub.
    pub cluster_id: String,
    /// The cluster's name.
    pub cluster_name: String,
    /// The organization the cluster belongs to.
    pub organization: String,
    /// When the identity was issued (RFC 3339).
    pub issued_at: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("agent_token", &"<redacted>")
            .field("cluster_id", &self.cluster_id)
            .field("cluster_name", &self.cluster_name)
            .field("organization", &self.organization)
            .field("issued_at", &self.issued_at)
            .finish()
    }
}

/// Reads and writes the identity where the configuration says.
#[derive(Clone)]
pub struct Store {
    place: IdentityStore,
    client: Option<kube::Client>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("place", &self.place).finish()
    }
}

impl Store {
    /// A store at `place`; the Secret store needs the Kubernetes client.
    pub fn new(place: IdentityStore, client: Option<kube::Client>) -> Result<Store> {
        if matches!(place, IdentityStore::Secret { .. }) && client.is_none() {
            anyhow::bail!("the secret identity store needs a Kubernetes client");
        }
        Ok(Store { place, client })
    }

    /// Where the identity lives, for messages.
    pub fn describe(&self) -> String {
        match &self.place {
            IdentityStore::File(p) => format!("file {}", p.display()),
            IdentityStore::Secret { namespace, name } => format!("secret {namespace}/{name}"),
        }
    }

    /// The stored identity, if any.
    pub async fn load(&self) -> Result<Option<Identity>> {
        let text = match &self.place {
            IdentityStore::File(path) => match std::fs::read(path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
            },
            IdentityStore::Secret { namespace, name } => {
                let api: Api<Secret> = Api::namespaced(self.kube()?, namespace);
                let Some(secret) = api
                    .get_opt(name)
                    .await
                    .with_context(|| format!("cannot read secret {namespace}/{name}"))?
                else {
                    return Ok(None);
                };
                match secret.data.and_then(|mut d| d.remove(KEY)) {
                    Some(ByteString(bytes)) => bytes,
                    None => return Ok(None),
                }
            }
        };
        let identity: Identity = serde_json::from_slice(&text)
            .with_context(|| format!("the identity in {} is not valid", self.describe()))?;
        Ok(Some(identity))
    }

    /// Persists `identity`, replacing what was there.
    pub async fn save(&self, identity: &Identity) -> Result<()> {
        let text = serde_json::to_vec_pretty(identity)?;
        match &self.place {
            IdentityStore::File(path) => write_private(path, &text),
            IdentityStore::Secret { namespace, name } => {
                let api: Api<Secret> = Api::namespaced(self.kube()?, namespace);
                let data = [(KEY.to_owned(), ByteString(text))].into();
                match api.get_opt(name).await? {
                    Some(mut existing) => {
                        existing.data = Some(data);
                        api.replace(name, &PostParams::default(), &existing)
                            .await
                            .with_context(|| format!("cannot update secret {namespace}/{name}"))?;
                    }
                    None => {
                        let secret = Secret {
                            metadata: ObjectMeta {
                                name: Some(name.clone()),
                                namespace: Some(namespace.clone()),
                                labels: Some(
                                    [(
                                        "app.kubernetes.io/component".to_owned(),
                                        "agent-identity".to_owned(),
                                    )]
                                    .into(),
                                ),
                                ..ObjectMeta::default()
                            },
                            type_: Some("Opaque".into()),
                            data: Some(data),
                            ..Secret::default()
                        };
                        api.create(&PostParams::default(), &secret)
                            .await
                            .with_context(|| format!("cannot create secret {namespace}/{name}"))?;
                    }
                }
                Ok(())
            }
        }
    }

    fn kube(&self) -> Result<kube::Client> {
        self.client
            .clone()
            .context("the secret identity store needs a Kubernetes client")
    }
}

/// Writes `bytes` to `path` atomically with owner-only permissions.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_identity_round_trips_privately() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/agent.json");
        let store = Store::new(IdentityStore::File(path.clone()), None).unwrap();
        assert_eq!(store.load().await.unwrap(), None);
        let id = Identity {
            agent_token: format!("ghqa_{}", "a".repeat(64)),
            cluster_id: "c1".into(),
            cluster_name: "prod".into(),
            organization: "acme".into(),
            issued_at: "2026-01-01T00:00:00Z".into(),
        };
        store.save(&id).await.unwrap();
        assert_eq!(store.load().await.unwrap(), Some(id.clone()));
        assert!(!format!("{id:?}").contains("aaaa"), "the token is redacted");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "{not json").unwrap();
        let e = store.load().await.unwrap_err().to_string();
        assert!(e.contains("is not valid"), "{e}");
    }
}
