//! People and machines: the organization, its members and roles, API tokens, service-account
//! tokens, the feature report, and the first-start bootstrap.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json as AxumJson};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::access::{Caller, Need, Principal, Role, mint};
use super::error::{ApiError, ApiResult};
use super::routes::{Items, Params, Route, json, param, route};
use super::store::{AuditEntry, Member, StoreError, TokenKind, TokenRecord, Tx, now};
use super::{Hub, blocking, body_json, parse_typed, resources};

/// A new member.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewMember {
    /// User name (a DNS label, e.g. `alice`).
    pub name: String,
    /// Role in the organization.
    pub role: Role,
}

/// A role change.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct MemberPatch {
    /// The new role.
    pub role: Role,
}

/// A token request.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewToken {
    /// A label, e.g. `laptop` or `github-actions`.
    #[serde(default)]
    pub name: String,
    /// Lifetime in days (people: optional, at most 365; service accounts: default 90, at most 365).
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// A token as listed (never the secret).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenView {
    /// Identifier.
    pub id: String,
    /// Label.
    pub name: String,
    /// When created.
    pub created_at: String,
    /// Who created it.
    pub created_by: String,
    /// When it expires.
    pub expires_at: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<String>,
}

/// A token just created: the secret appears here once and is never shown again.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IssuedToken {
    /// The token's record.
    #[serde(flatten)]
    pub token: TokenView,
    /// The secret: store it now.
    pub secret: String,
}

/// A member as listed.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MemberView {
    /// User name.
    pub name: String,
    /// Role.
    pub role: String,
    /// When they joined.
    pub created_at: String,
}

/// A member just added, with a first API token for them.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AddedMember {
    /// The member.
    pub member: MemberView,
    /// Their first token (hand it over securely; shown once).
    pub token: IssuedToken,
}

/// The organization.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct OrgView {
    /// Identifier.
    pub id: String,
    /// Name.
    pub name: String,
}

/// Plan, features and limits in effect.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Features {
    /// The plan.
    pub plan: String,
    /// Feature gates and whether each is on.
    pub features: std::collections::BTreeMap<String, bool>,
    /// Limits in effect.
    pub limits: std::collections::BTreeMap<String, u64>,
    /// The bundle revision decisions are taken under.
    pub policy_revision: String,
}

fn member_view(m: &Member) -> MemberView {
    MemberView {
        name: m.name.clone(),
        role: m.role.clone(),
        created_at: m.created_at.clone(),
    }
}

fn token_view(t: &TokenRecord) -> TokenView {
    TokenView {
        id: t.id.clone(),
        name: t.name.clone(),
        created_at: t.created_at.clone(),
        created_by: t.created_by.clone(),
        expires_at: t.expires_at.clone(),
        revoked_at: t.revoked_at.clone(),
    }
}

fn expiry(days: Option<u32>, default: Option<u32>) -> ApiResult<Option<String>> {
    let days = days.or(default);
    if let Some(d) = days
        && !(1..=365).contains(&d)
    {
        return Err(ApiError::invalid(
            "expiresInDays",
            "must be between 1 and 365",
        ));
    }
    Ok(days.map(|d| {
        (chrono::Utc::now() + chrono::Duration::days(i64::from(d)))
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    }))
}

fn issue(
    tx: &Tx<'_>,
    caller_actor: &str,
    org: &str,
    kind: TokenKind,
    subject: &str,
    name: &str,
    expires: Option<String>,
) -> ApiResult<IssuedToken> {
    let minted = mint(org, kind, subject, name, caller_actor, expires)?;
    tx.token_insert(&minted.record)?;
    Ok(IssuedToken {
        token: token_view(&minted.record),
        secret: minted.secret,
    })
}

/// The routes of this module.
pub(crate) fn routes() -> Vec<Route> {
    vec![
        route(Method::GET, "/api/v2/organization", "organization.get", Need::OrgRead, "The caller's organization")
            .response(200, json::<OrgView>())
            .handler(|Extension(caller): Extension<Caller>| async move {
                AxumJson(OrgView { id: caller.org.id, name: caller.org.name })
            }),
        route(Method::GET, "/api/v2/features", "features.get", Need::Authenticated, "Plan, feature gates and limits in effect")
            .response(200, json::<Features>())
            .handler(features),
        route(Method::GET, "/api/v2/members", "members.list", Need::OrgRead, "List members and their roles")
            .response(200, json::<Items>())
            .handler(|State(hub): State<Hub>, Extension(caller): Extension<Caller>| async move {
                let members = blocking(&hub, move |tx| Ok(tx.members(&caller.org.id)?), false).await?;
                Ok::<_, ApiError>(AxumJson(json!({ "items": members.iter().map(member_view).collect::<Vec<_>>() })))
            }),
        route(Method::POST, "/api/v2/members", "members.create", Need::OrgAdmin, "Add a member; returns their first token, once")
            .request(json::<NewMember>())
            .response(201, json::<AddedMember>())
            .handler(add_member),
        route(Method::PATCH, "/api/v2/members/{member}", "members.update", Need::OrgAdmin, "Change a member's role (owner roles: owners only)")
            .request(json::<MemberPatch>())
            .response(200, json::<MemberView>())
            .handler(change_member),
        route(Method::DELETE, "/api/v2/members/{member}", "members.delete", Need::OrgAdmin, "Remove a member and revoke their tokens")
            .response(204, None)
            .handler(remove_member),
        route(Method::GET, "/api/v2/tokens", "tokens.list", Need::Authenticated, "List the caller's own tokens")
            .response(200, json::<Items>())
            .handler(|State(hub): State<Hub>, Extension(caller): Extension<Caller>| async move {
                let (kind, subject) = subject_of(&caller);
                let tokens = blocking(&hub, move |tx| Ok(tx.tokens_of(&caller.org.id, kind, &subject)?), false).await?;
                Ok::<_, ApiError>(AxumJson(json!({ "items": tokens.iter().map(token_view).collect::<Vec<_>>() })))
            }),
        route(Method::POST, "/api/v2/tokens", "tokens.create", Need::Authenticated, "Create an API token for the caller (people only); shown once")
            .request(json::<NewToken>())
            .response(201, json::<IssuedToken>())
            .handler(create_own_token),
        route(Method::DELETE, "/api/v2/tokens/{token}", "tokens.delete", Need::Authenticated, "Revoke one of the caller's tokens (admins: any person's token)")
            .response(204, None)
            .handler(revoke_token),
        route(Method::GET, "/api/v2/service-accounts/{name}/tokens", "service-accounts.tokens.list", Need::OrgAdmin, "List a service account's tokens")
            .response(200, json::<Items>())
            .handler(|State(hub): State<Hub>, Extension(caller): Extension<Caller>, path: Params| async move {
                let name = param(&path, "name");
                let tokens = blocking(&hub, move |tx| {
                    let sa = service_account(tx, &caller.org.id, &name)?;
                    Ok(tx.tokens_of(&caller.org.id, TokenKind::ServiceAccount, &sa.id)?)
                }, false)
                .await?;
                Ok::<_, ApiError>(AxumJson(json!({ "items": tokens.iter().map(token_view).collect::<Vec<_>>() })))
            }),
        route(Method::POST, "/api/v2/service-accounts/{name}/tokens", "service-accounts.tokens.create", Need::OrgAdmin, "Issue an expiring service-account token; shown once")
            .request(json::<NewToken>())
            .response(201, json::<IssuedToken>())
            .handler(create_sa_token),
        route(Method::DELETE, "/api/v2/service-accounts/{name}/tokens/{token}", "service-accounts.tokens.delete", Need::OrgAdmin, "Revoke a service-account token")
            .response(204, None)
            .handler(revoke_sa_token),
    ]
}

fn subject_of(caller: &Caller) -> (TokenKind, String) {
    match &caller.principal {
        Principal::User { id, .. } => (TokenKind::User, id.clone()),
        Principal::ServiceAccount { id, .. } => (TokenKind::ServiceAccount, id.clone()),
    }
}

fn service_account(tx: &Tx<'_>, org: &str, name: &str) -> ApiResult<super::store::Resource> {
    tx.resource(org, None, "service_account", name)?
        .ok_or_else(|| ApiError::not_found(format!("service account `{name}`")))
}

async fn features(State(hub): State<Hub>) -> AxumJson<Features> {
    // Features this build serves; the rest report false until they land.
    let on = [
        "teams",
        "resourcePermissions",
        "auditLog",
        "valuesGovernance",
        "chartRegistry",
        "clusterRegistration",
        "releases",
        "approvals",
        "freezes",
        "breakglass",
        "rollback",
        "promotion",
    ];
    let off = ["agentConnect"];
    let features = on
        .into_iter()
        .map(|f| (f.to_owned(), true))
        .chain(off.into_iter().map(|f| (f.to_owned(), false)))
        .chain([("playground".to_owned(), hub.config.playground)])
        .collect();
    let limits = [
        ("maxBodyBytes".to_owned(), hub.config.max_body_bytes as u64),
        (
            "registrationTokenTtlSeconds".to_owned(),
            super::REGISTRATION_TTL.as_secs(),
        ),
        ("maxTokenLifetimeDays".to_owned(), 365),
    ]
    .into_iter()
    .collect();
    AxumJson(Features {
        plan: "community".into(),
        features,
        limits,
        policy_revision: hub.engine.revision().to_owned(),
    })
}

async fn add_member(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let req: NewMember = parse_typed(body_json(bytes)?)?;
    resources::check_name(&req.name)?;
    if req.role == Role::Owner && caller.role() != Some(Role::Owner) {
        return Err(ApiError::forbidden(
            "Only an owner can add another owner.",
            "Add them as admin, or ask an owner.",
        ));
    }
    let added = blocking(
        &hub,
        move |tx| {
            let org = &caller.org.id;
            let m = tx.member_add(org, &req.name, req.role.as_str())?;
            let token = issue(
                tx,
                &caller.actor(),
                org,
                TokenKind::User,
                &m.user_id,
                "first token",
                None,
            )?;
            tx.audit_append(
                org,
                &AuditEntry {
                    actor: caller.actor(),
                    action: "members.create".into(),
                    resource: format!("member/{}", m.name),
                    after: Some(
                        json!({ "name": m.name, "role": m.role, "tokenId": token.token.id }),
                    ),
                    ..AuditEntry::default()
                },
            )?;
            Ok(AddedMember {
                member: member_view(&m),
                token,
            })
        },
        true,
    )
    .await?;
    Ok((StatusCode::CREATED, AxumJson(added)).into_response())
}

fn owner_rules(
    caller: &Caller,
    target: &Member,
    new_role: Option<Role>,
    tx: &Tx<'_>,
) -> ApiResult<()> {
    let touches_owner = target.role == "owner" || new_role == Some(Role::Owner);
    if touches_owner && caller.role() != Some(Role::Owner) {
        return Err(ApiError::forbidden(
            "Only an owner can change or remove an owner, or make someone an owner.",
            "Ask an owner.",
        ));
    }
    if target.role == "owner"
        && new_role != Some(Role::Owner)
        && tx.owner_count(&caller.org.id)? <= 1
    {
        return Err(ApiError::conflict(
            format!("`{}` is the organization's last owner.", target.name),
            "Make another member an owner first.",
        ));
    }
    Ok(())
}

async fn change_member(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<AxumJson<MemberView>> {
    let patch: MemberPatch = parse_typed(body_json(bytes)?)?;
    let name = param(&path, "member");
    blocking(
        &hub,
        move |tx| {
            let org = &caller.org.id;
            let m = tx
                .member(org, &name)?
                .ok_or_else(|| ApiError::not_found(format!("member `{name}`")))?;
            owner_rules(&caller, &m, Some(patch.role), tx)?;
            tx.member_set_role(org, &m.user_id, patch.role.as_str())?;
            tx.audit_append(
                org,
                &AuditEntry {
                    actor: caller.actor(),
                    action: "members.update".into(),
                    resource: format!("member/{name}"),
                    before: Some(json!({ "role": m.role })),
                    after: Some(json!({ "role": patch.role.as_str() })),
                    decision_id: None,
                },
            )?;
            Ok(AxumJson(MemberView {
                role: patch.role.as_str().to_owned(),
                ..member_view(&m)
            }))
        },
        true,
    )
    .await
}

async fn remove_member(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
) -> ApiResult<StatusCode> {
    let name = param(&path, "member");
    blocking(
        &hub,
        move |tx| {
            let org = &caller.org.id;
            let m = tx
                .member(org, &name)?
                .ok_or_else(|| ApiError::not_found(format!("member `{name}`")))?;
            owner_rules(&caller, &m, None, tx)?;
            tx.member_remove(org, &m.user_id)?;
            tx.audit_append(
                org,
                &AuditEntry {
                    actor: caller.actor(),
                    action: "members.delete".into(),
                    resource: format!("member/{name}"),
                    before: Some(json!({ "role": m.role })),
                    ..AuditEntry::default()
                },
            )?;
            Ok(StatusCode::NO_CONTENT)
        },
        true,
    )
    .await
}

fn token_request(bytes: Result<Bytes, BytesRejection>) -> ApiResult<NewToken> {
    let bytes = super::body_bytes(bytes)?;
    if bytes.is_empty() {
        return Ok(NewToken::default());
    }
    parse_typed(body_json(Ok(bytes))?)
}

async fn create_own_token(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let req = token_request(bytes)?;
    let Principal::User { id, .. } = &caller.principal else {
        return Err(ApiError::forbidden(
            "Service accounts cannot create their own tokens.",
            "An admin issues service-account tokens: POST /api/v2/service-accounts/{name}/tokens.",
        ));
    };
    let user = id.clone();
    let expires = expiry(req.expires_in_days, None)?;
    let issued = blocking(
        &hub,
        move |tx| {
            let t = issue(
                tx,
                &caller.actor(),
                &caller.org.id,
                TokenKind::User,
                &user,
                &req.name,
                expires,
            )?;
            tx.audit_append(
                &caller.org.id,
                &AuditEntry {
                    actor: caller.actor(),
                    action: "tokens.create".into(),
                    resource: format!("token/{}", t.token.id),
                    after: Some(serde_json::to_value(&t.token).map_err(ApiError::internal)?),
                    ..AuditEntry::default()
                },
            )?;
            Ok(t)
        },
        true,
    )
    .await?;
    Ok((StatusCode::CREATED, AxumJson(issued)).into_response())
}

fn revoke(tx: &Tx<'_>, caller: &Caller, t: &TokenRecord, action: &str) -> ApiResult<()> {
    tx.token_revoke(&t.id, &now())?;
    tx.audit_append(
        &caller.org.id,
        &AuditEntry {
            actor: caller.actor(),
            action: action.into(),
            resource: format!("token/{}", t.id),
            before: Some(serde_json::to_value(token_view(t)).map_err(ApiError::internal)?),
            ..AuditEntry::default()
        },
    )?;
    Ok(())
}

async fn revoke_token(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
) -> ApiResult<StatusCode> {
    let id = param(&path, "token");
    blocking(
        &hub,
        move |tx| {
            let (kind, subject) = subject_of(&caller);
            let admin = matches!(caller.role(), Some(Role::Owner | Role::Admin));
            let t = tx
                .token(&caller.org.id, &id)?
                .filter(|t| {
                    (t.kind == kind && t.subject == subject) || (admin && t.kind == TokenKind::User)
                })
                .ok_or_else(|| ApiError::not_found(format!("token `{id}`")))?;
            revoke(tx, &caller, &t, "tokens.delete")?;
            Ok(StatusCode::NO_CONTENT)
        },
        true,
    )
    .await
}

async fn create_sa_token(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let req = token_request(bytes)?;
    let name = param(&path, "name");
    let expires = expiry(req.expires_in_days, Some(90))?;
    let issued = blocking(
        &hub,
        move |tx| {
            let sa = service_account(tx, &caller.org.id, &name)?;
            let t = issue(
                tx,
                &caller.actor(),
                &caller.org.id,
                TokenKind::ServiceAccount,
                &sa.id,
                &req.name,
                expires,
            )?;
            tx.audit_append(
                &caller.org.id,
                &AuditEntry {
                    actor: caller.actor(),
                    action: "service-accounts.tokens.create".into(),
                    resource: format!("service_account/{name}/token/{}", t.token.id),
                    after: Some(serde_json::to_value(&t.token).map_err(ApiError::internal)?),
                    ..AuditEntry::default()
                },
            )?;
            Ok(t)
        },
        true,
    )
    .await?;
    Ok((StatusCode::CREATED, AxumJson(issued)).into_response())
}

async fn revoke_sa_token(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
) -> ApiResult<StatusCode> {
    let (name, id) = (param(&path, "name"), param(&path, "token"));
    blocking(
        &hub,
        move |tx| {
            let sa = service_account(tx, &caller.org.id, &name)?;
            let t = tx
                .token(&caller.org.id, &id)?
                .filter(|t| t.kind == TokenKind::ServiceAccount && t.subject == sa.id)
                .ok_or_else(|| ApiError::not_found(format!("token `{id}`")))?;
            revoke(tx, &caller, &t, "service-accounts.tokens.delete")?;
            Ok(StatusCode::NO_CONTENT)
        },
        true,
    )
    .await
}

/// Creates an organization with an owner and returns the owner's first token (shown once).
/// Used by the first start of `gatehouse serve` and by `gatehouse admin`.
pub fn create_org(tx: &Tx<'_>, org: &str, owner: &str) -> Result<String, StoreError> {
    let o = tx.org_create(org)?;
    let m = tx.member_add(&o.id, owner, "owner")?;
    let minted = mint(
        &o.id,
        TokenKind::User,
        &m.user_id,
        "bootstrap",
        "system",
        None,
    )?;
    tx.token_insert(&minted.record)?;
    tx.audit_append(
        &o.id,
        &AuditEntry {
            actor: "system".into(),
            action: "organization.create".into(),
            resource: format!("organization/{org}"),
            after: Some(json!({ "name": org, "owner": owner, "tokenId": minted.record.id })),
            ..AuditEntry::default()
        },
    )?;
    Ok(minted.secret)
}

/// Issues another token for an existing member (the `gatehouse admin token` path, for when
/// every token of an organization is lost).
pub fn admin_token(tx: &Tx<'_>, org: &str, user: &str) -> Result<String, StoreError> {
    let o = tx
        .org_by_name(org)?
        .ok_or_else(|| StoreError::Conflict(format!("There is no organization named `{org}`.")))?;
    let m = tx
        .member(&o.id, user)?
        .ok_or_else(|| StoreError::Conflict(format!("`{user}` is not a member of `{org}`.")))?;
    let minted = mint(
        &o.id,
        TokenKind::User,
        &m.user_id,
        "admin command",
        "system",
        None,
    )?;
    tx.token_insert(&minted.record)?;
    tx.audit_append(
        &o.id,
        &AuditEntry {
            actor: "system".into(),
            action: "tokens.create".into(),
            resource: format!("token/{}", minted.record.id),
            after: Some(json!({ "user": user, "via": "gatehouse admin token" })),
            ..AuditEntry::default()
        },
    )?;
    Ok(minted.secret)
}

/// On the first start (no organization yet) creates `org` with owner `owner` and returns the
/// owner's token, to be printed once.
pub fn bootstrap(hub: &Hub, org: &str, owner: &str) -> Result<Option<String>, StoreError> {
    hub.store.write(|tx| {
        if tx.org_count()? > 0 {
            return Ok(None);
        }
        create_org(tx, org, owner).map(Some)
    })
}
