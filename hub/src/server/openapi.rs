//! The OpenAPI 3.1 document, generated from the route table and the request and response
//! types' JSON Schemas; `docs/reference/openapi.json` is this document, checked for drift.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value as Json, json};

use super::access::{Grant, Need};
use super::routes::{Body, Route, error_schema, table};

fn need_text(need: Need) -> &'static str {
    match need {
        Need::Public => "none",
        Need::Authenticated => "any token of the organization",
        Need::OrgRead => "any member (service accounts: the action allowed)",
        Need::OrgAdmin => "owner or admin",
        Need::OrgOwner => "owner",
        Need::Operate => "operator, admin or owner",
        Need::Project(Grant::Read) => "any member",
        Need::Project(Grant::Write) => "the project's `write` grant (owners and admins always)",
        Need::Project(Grant::Release) => "the project's `release` grant (owners and admins always)",
        Need::Project(Grant::Approve) => "the project's `approve` grant (owners and admins always)",
        Need::Project(Grant::Rollback) => {
            "the project's `rollback` grant (owners and admins always)"
        }
    }
}

fn operation(r: &Route, g: &mut schemars::SchemaGenerator, error: &Json) -> Json {
    let params: Vec<Json> = r
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    let mut op = Map::new();
    op.insert("operationId".into(), json!(r.action));
    op.insert("summary".into(), json!(r.summary));
    op.insert("x-gatehouse-action".into(), json!(r.action));
    op.insert("x-gatehouse-requires".into(), json!(need_text(r.need)));
    if r.need == Need::Public {
        op.insert("security".into(), json!([]));
    }
    if !params.is_empty() {
        op.insert("parameters".into(), Json::Array(params));
    }
    let content = |b: &Body, g: &mut schemars::SchemaGenerator| match b {
        Body::Json(f) => json!({ "application/json": { "schema": f(g) } }),
        Body::Binary(media) => {
            json!({ media.to_string(): { "schema": { "type": "string", "contentEncoding": "binary" } } })
        }
    };
    if let Some(b) = &r.request {
        op.insert(
            "requestBody".into(),
            json!({ "required": true, "content": content(b, g) }),
        );
    }
    let (status, body) = &r.response;
    let mut ok = json!({ "description": "Success" });
    if let Some(b) = body {
        ok["content"] = content(b, g);
    }
    let mut responses = Map::new();
    responses.insert(status.to_string(), ok);
    responses.insert("default".into(), json!({ "description": "An error: stable code, message, hint", "content": { "application/json": { "schema": error } } }));
    op.insert("responses".into(), Json::Object(responses));
    Json::Object(op)
}

/// Builds the document.
pub fn document() -> Json {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    let mut g = settings.into_generator();
    let error = serde_json::to_value(error_schema(&mut g)).unwrap_or(Json::Null);
    let mut paths = Map::new();
    let mut tags = BTreeSet::new();
    for r in table() {
        let op = operation(&r, &mut g, &error);
        let tag = r
            .path
            .trim_start_matches("/api/v2/")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        tags.insert(tag);
        let entry = paths.entry(r.path.clone()).or_insert_with(|| json!({}));
        entry[r.method.as_str().to_ascii_lowercase()] = op;
    }
    let schemas: Map<String, Json> = g.take_definitions(true).into_iter().collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Gatehouse hub API",
            "version": "v2",
            "description": "Every route needs `Authorization: Bearer <token>` unless marked otherwise; `x-gatehouse-action` is the id service accounts are allowed by and the audit log records; `x-gatehouse-requires` the right it needs. Errors are `{\"error\": {\"code\", \"message\", \"hint\", \"detail\"}}`: 401 unauthenticated, 403 not permitted, 404 not found in this organization, 409 conflicts (including `policy_denied`), 202 `pending_approval`."
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": schemas
        },
        "security": [ { "bearer": [] } ],
        "paths": paths,
    })
}

/// The document as pretty JSON text (computed once).
pub fn document_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut s = serde_json::to_string_pretty(&document()).unwrap_or_default();
        s.push('\n');
        s
    })
}
