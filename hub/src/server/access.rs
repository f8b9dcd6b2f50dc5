//! Identity and access: API tokens, the caller they identify, and what each caller may do.
//!
//! Tokens are 32 random bytes in hex behind a prefix that says what they are (`ghqu_` people,
//! `ghqs_` service accounts, `ghqa_reg_` cluster registration, `ghqa_` agents). Only their
//! SHA-256 is stored; the token itself is shown once. Every token acts inside exactly one
//! organization, which is the boundary every query is scoped by.
//!
//! Rights come from the member's role, from team grants per project (`read`, `write`,
//! `release`, `approve`, `rollback`), and for service accounts from their allowed actions and
//! projects. Each route declares one [`Need`]; [`Caller::check`] is the only place it is judged.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::store::{Org, StoreError, TokenKind, TokenRecord, Tx, new_id, now};

/// Organization roles, strongest first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Full control, including other owners.
    Owner,
    /// Manages members, teams, settings and every project.
    Admin,
    /// Reads everything; writes in projects as team grants allow.
    Member,
    /// A member who also runs cluster and runtime operations.
    Operator,
    /// Reads everything, changes nothing.
    Viewer,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "owner" => Role::Owner,
            "admin" => Role::Admin,
            "member" => Role::Member,
            "operator" => Role::Operator,
            "viewer" => Role::Viewer,
            _ => return None,
        })
    }

    /// The engine's view of the role.
    pub fn engine(self) -> gatehouse_engine::action::Role {
        use gatehouse_engine::action::Role as R;
        match self {
            Role::Owner => R::Owner,
            Role::Admin => R::Admin,
            Role::Member => R::Member,
            Role::Operator => R::Operator,
            Role::Viewer => R::Viewer,
        }
    }

    fn manages(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

/// Per-project rights a team grant can give.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Grant {
    /// See the project (every member has this already).
    Read,
    /// Change workloads, values, bindings and variables.
    Write,
    /// Create and deploy releases.
    Release,
    /// Approve releases, promotions and rollbacks.
    Approve,
    /// Roll back.
    Rollback,
}

impl Grant {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::Read => "read",
            Grant::Write => "write",
            Grant::Release => "release",
            Grant::Approve => "approve",
            Grant::Rollback => "rollback",
        }
    }
}

/// What a route requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// No credentials (health, metrics, the OpenAPI document).
    Public,
    /// Any valid token of the organization.
    Authenticated,
    /// Read organization-level objects.
    OrgRead,
    /// Manage the organization (owner or admin).
    OrgAdmin,
    /// Owner only.
    OrgOwner,
    /// Cluster and runtime operations (owner, admin, operator).
    Operate,
    /// A right in the project named by the `{project}` path parameter.
    Project(Grant),
}

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A person.
    User {
        /// User id.
        id: String,
        /// User name.
        name: String,
        /// Role in the organization.
        role: Role,
        /// Teams the user belongs to.
        teams: Vec<String>,
        /// Team grants per project name.
        grants: BTreeMap<String, BTreeSet<Grant>>,
    },
    /// A machine identity.
    ServiceAccount {
        /// Service account id.
        id: String,
        /// Its name.
        name: String,
        /// Route actions it may perform (exact ids or `prefix.*`).
        allowed_actions: Vec<String>,
        /// Projects it is confined to (empty: all).
        projects: Vec<String>,
    },
}

/// An authenticated caller within its organization.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The organization the token acts in.
    pub org: Org,
    /// Who.
    pub principal: Principal,
    /// The token's id (for `DELETE /tokens/{id}` of one's own tokens).
    pub token_id: String,
}

impl Caller {
    /// The audit log's actor string: `user:alice`, `service_account:ci`.
    pub fn actor(&self) -> String {
        match &self.principal {
            Principal::User { name, .. } => format!("user:{name}"),
            Principal::ServiceAccount { name, .. } => format!("service_account:{name}"),
        }
    }

    /// The user's or service account's id.
    pub fn id(&self) -> &str {
        match &self.principal {
            Principal::User { id, .. } | Principal::ServiceAccount { id, .. } => id,
        }
    }

    /// The user's role, if a person.
    pub fn role(&self) -> Option<Role> {
        match &self.principal {
            Principal::User { role, .. } => Some(*role),
            Principal::ServiceAccount { .. } => None,
        }
    }

    /// The caller as the engine's action actor.
    pub fn engine_actor(&self) -> gatehouse_engine::action::Actor {
        use gatehouse_engine::action::{Actor, ActorKind};
        match &self.principal {
            Principal::User {
                id,
                name,
                role,
                teams,
                ..
            } => Actor {
                id: id.clone(),
                kind: ActorKind::User,
                name: Some(name.clone()),
                role: Some(role.engine()),
                teams: teams.clone(),
            },
            Principal::ServiceAccount { id, name, .. } => Actor {
                id: id.clone(),
                kind: ActorKind::ServiceAccount,
                name: Some(name.clone()),
                role: None,
                teams: Vec::new(),
            },
        }
    }

    /// Judges a route's need for this caller. `action` is the route's action id, `project`
    /// the `{project}` path parameter when present.
    pub fn check(&self, need: Need, action: &str, project: Option<&str>) -> Result<(), ApiError> {
        match &self.principal {
            Principal::ServiceAccount {
                name,
                allowed_actions,
                projects,
                ..
            } => {
                if need == Need::Public || need == Need::Authenticated {
                    return Ok(());
                }
                if matches!(need, Need::OrgOwner) {
                    return Err(ApiError::forbidden(
                        format!(
                            "Service account `{name}` cannot perform `{action}`: only an owner can."
                        ),
                        "Ask an owner to do this.",
                    ));
                }
                if !allowed_actions.iter().any(|a| action_matches(a, action)) {
                    return Err(ApiError::forbidden(
                        format!("Service account `{name}` is not allowed to perform `{action}`."),
                        format!(
                            "An admin can add `{action}` to the service account's allowedActions."
                        ),
                    ));
                }
                if let (Some(p), false) = (project, projects.is_empty())
                    && !projects.iter().any(|x| x == p)
                {
                    return Err(ApiError::forbidden(
                        format!(
                            "Service account `{name}` is confined to other projects than `{p}`."
                        ),
                        "An admin can add the project to the service account's projects.",
                    ));
                }
                Ok(())
            }
            Principal::User {
                name, role, grants, ..
            } => {
                let denied = |why: String, hint: &str| Err(ApiError::forbidden(why, hint));
                match need {
                    Need::Public | Need::Authenticated | Need::OrgRead => Ok(()),
                    Need::OrgAdmin if role.manages() => Ok(()),
                    Need::OrgAdmin => denied(
                        format!(
                            "`{action}` needs the owner or admin role; {name} is {}.",
                            role.as_str()
                        ),
                        "Ask an owner or admin to do it, or to change your role.",
                    ),
                    Need::OrgOwner if *role == Role::Owner => Ok(()),
                    Need::OrgOwner => denied(
                        format!(
                            "`{action}` needs the owner role; {name} is {}.",
                            role.as_str()
                        ),
                        "Ask an owner to do it.",
                    ),
                    Need::Operate if role.manages() || *role == Role::Operator => Ok(()),
                    Need::Operate => denied(
                        format!(
                            "`{action}` is a cluster operation: it needs the operator, admin or owner role; {name} is {}.",
                            role.as_str()
                        ),
                        "Ask an admin to give you the operator role, or to run the operation.",
                    ),
                    Need::Project(Grant::Read) => Ok(()),
                    Need::Project(g) => {
                        let project = project.unwrap_or_default();
                        if role.manages() {
                            return Ok(());
                        }
                        if *role == Role::Viewer {
                            return denied(
                                format!("{name} is a viewer and cannot perform `{action}`."),
                                "Viewers only read; ask an admin for the member role and a team grant.",
                            );
                        }
                        if grants.get(project).is_some_and(|set| set.contains(&g)) {
                            return Ok(());
                        }
                        denied(
                            format!(
                                "`{action}` needs the `{}` grant on project `{project}`, which none of {name}'s teams has.",
                                g.as_str()
                            ),
                            "Ask an admin to grant it to one of your teams (PATCH /api/v2/teams/{team}).",
                        )
                    }
                }
            }
        }
    }
}

/// Whether an allowed-action pattern (`releases.create`, `releases.*`, `*`) covers an action.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => action.starts_with(prefix),
        None => pattern == action,
    }
}

/// A freshly minted token: the secret (shown once) and its record.
#[derive(Debug)]
pub struct Minted {
    /// The token to hand over once.
    pub secret: String,
    /// What is stored.
    pub record: TokenRecord,
}

/// The prefix of each token kind.
pub fn prefix(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::User => "ghqu_",
        TokenKind::ServiceAccount => "ghqs_",
        TokenKind::Registration => "ghqa_reg_",
        TokenKind::Agent => "ghqa_",
    }
}

/// SHA-256 of a token, hex: the only form in which tokens are stored.
pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Mints a token: 32 bytes from the operating system's generator, hex, behind the kind's prefix.
pub fn mint(
    org_id: &str,
    kind: TokenKind,
    subject: &str,
    name: &str,
    created_by: &str,
    expires_at: Option<String>,
) -> Result<Minted, StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| StoreError::Corrupt(format!("no randomness available: {e}")))?;
    let secret = format!("{}{}", prefix(kind), hex::encode(bytes));
    let record = TokenRecord {
        id: format!("tok_{}", new_id()),
        org_id: org_id.to_owned(),
        kind,
        subject: subject.to_owned(),
        name: name.to_owned(),
        hash: hash_token(&secret),
        created_at: now(),
        created_by: created_by.to_owned(),
        expires_at,
        consumed_at: None,
        revoked_at: None,
    };
    Ok(Minted { secret, record })
}

/// Resolves a bearer token to a caller, or says why it does not work.
pub fn authenticate(tx: &Tx<'_>, secret: &str) -> Result<Caller, ApiError> {
    let kind = if secret.starts_with("ghqu_") {
        TokenKind::User
    } else if secret.starts_with("ghqs_") {
        TokenKind::ServiceAccount
    } else {
        return Err(ApiError::unauthenticated(
            "The bearer token is not an API token (ghqu_… for people, ghqs_… for service accounts).",
        ));
    };
    let record = tx
        .token_by_hash(&hash_token(secret))?
        .filter(|t| t.kind == kind)
        .ok_or_else(|| ApiError::unauthenticated("The bearer token is not known to this hub."))?;
    if !record.usable(&now()) {
        return Err(ApiError::unauthenticated(
            "The bearer token has expired or was revoked.",
        ));
    }
    let org = tx
        .org(&record.org_id)?
        .ok_or_else(|| ApiError::unauthenticated("The token's organization no longer exists."))?;
    let principal = match kind {
        TokenKind::User => {
            let member = tx.member_by_id(&org.id, &record.subject)?.ok_or_else(|| {
                ApiError::unauthenticated(
                    "The token's owner is no longer a member of the organization.",
                )
            })?;
            let role = Role::parse(&member.role)
                .ok_or_else(|| ApiError::internal("a stored role is unknown"))?;
            let mut teams = Vec::new();
            let mut grants: BTreeMap<String, BTreeSet<Grant>> = BTreeMap::new();
            for team in tx.resources(&org.id, None, "team")? {
                let Ok(spec) = serde_json::from_value::<super::resources::TeamSpec>(team.spec)
                else {
                    continue;
                };
                if spec.members.contains(&member.name) {
                    teams.push(team.name);
                    for (project, gs) in spec.grants {
                        grants.entry(project).or_default().extend(gs);
                    }
                }
            }
            Principal::User {
                id: member.user_id,
                name: member.name,
                role,
                teams,
                grants,
            }
        }
        _ => service_account(tx, &org.id, &record.subject)?,
    };
    Ok(Caller {
        org,
        principal,
        token_id: record.id,
    })
}

/// A service account as a principal (for its tokens and its signing keys).
pub(crate) fn service_account(tx: &Tx<'_>, org_id: &str, id: &str) -> Result<Principal, ApiError> {
    let sa = tx
        .resource_by_id(org_id, id)?
        .filter(|r| r.kind == "service_account")
        .ok_or_else(|| {
            ApiError::unauthenticated("The credential's service account no longer exists.")
        })?;
    let spec: super::resources::ServiceAccountSpec =
        serde_json::from_value(sa.spec).map_err(ApiError::internal)?;
    Ok(Principal::ServiceAccount {
        id: sa.id,
        name: sa.name,
        allowed_actions: spec.allowed_actions,
        projects: spec.projects,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let a = mint("o", TokenKind::Registration, "c", "", "system", None).unwrap();
        let b = mint("o", TokenKind::Registration, "c", "", "system", None).unwrap();
        assert_ne!(a.secret, b.secret);
        let hexpart = a.secret.strip_prefix("ghqa_reg_").unwrap();
        assert_eq!(hexpart.len(), 64);
        assert!(hexpart.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a.record.hash, hash_token(&a.secret));
        assert!(!a.record.hash.contains(hexpart));
    }

    #[test]
    fn action_patterns() {
        assert!(action_matches("releases.*", "releases.create"));
        assert!(action_matches("*", "clusters.create"));
        assert!(!action_matches("releases.create", "releases.approve"));
        assert!(!action_matches("releases.*", "clusters.create"));
    }
}
