//! Every route, declared once.
//!
//! A [`Route`] names its method, path, action id (`clusters.create`: what service accounts are
//! allowed, what the audit log records), the right it needs ([`Need`]), its summary and its body
//! schemas. [`router`] wraps each handler in the authorization step for its need, so no route
//! can forget to check; [`super::openapi`] documents the same table; the access test walks it.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::RequestExt;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, RawPathParams, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, on};
use axum::{Extension, routing::MethodFilter};
use schemars::SchemaGenerator;

use super::access::{Grant, Need, authenticate};
use super::error::{ApiError, ErrorBody};
use super::resources::{self, KINDS, KindDef, handlers};
use super::{
    Hub, audit, blocking, breakglass, charts, clusters, delivery, identity, notify, observe,
    promotions, releases, signing, values,
};

/// A schema producer for the OpenAPI document.
pub type SchemaFn = fn(&mut SchemaGenerator) -> schemars::Schema;

/// A request or response body.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    /// JSON described by a schema.
    Json(SchemaFn),
    /// An opaque upload of this media type.
    Binary(&'static str),
}

/// One route.
#[derive(Debug)]
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Path with `{param}` placeholders.
    pub path: String,
    /// Action id.
    pub action: String,
    /// Required right.
    pub need: Need,
    /// One line for the OpenAPI document.
    pub summary: String,
    /// Request body.
    pub request: Option<Body>,
    /// Success status and body.
    pub response: (u16, Option<Body>),
    /// The handler.
    pub handler: MethodRouter<Hub>,
    /// A larger body limit than the default, for uploads.
    pub body_limit: Option<usize>,
}

fn schema<T: schemars::JsonSchema>(g: &mut SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<T>()
}

/// A JSON body of type `T`.
pub fn json<T: schemars::JsonSchema>() -> Option<Body> {
    Some(Body::Json(schema::<T>))
}

pub(super) fn route(
    method: Method,
    path: impl Into<String>,
    action: impl Into<String>,
    need: Need,
    summary: impl Into<String>,
) -> RouteBuilder {
    RouteBuilder(Route {
        method,
        path: path.into(),
        action: action.into(),
        need,
        summary: summary.into(),
        request: None,
        response: (200, None),
        handler: MethodRouter::new(),
        body_limit: None,
    })
}

/// Fluent construction of a [`Route`].
#[derive(Debug)]
pub struct RouteBuilder(Route);

impl RouteBuilder {
    pub(super) fn request(mut self, body: Option<Body>) -> Self {
        self.0.request = body;
        self
    }
    pub(super) fn response(mut self, status: u16, body: Option<Body>) -> Self {
        self.0.response = (status, body);
        self
    }
    pub(super) fn limit(mut self, bytes: usize) -> Self {
        self.0.body_limit = Some(bytes);
        self
    }
    pub(super) fn handler<H, T>(mut self, h: H) -> Route
    where
        H: axum::handler::Handler<T, Hub>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(self.0.method.clone()).unwrap_or(MethodFilter::GET);
        self.0.handler = on(filter, h);
        self.0
    }
}

/// The documented shape of a collection response.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Items {
    /// The objects.
    pub items: Vec<serde_json::Value>,
}

type Parts = handlers::Parts;

fn generic(def: &'static KindDef) -> Vec<Route> {
    let (base, prefix, read, write) = if def.in_project {
        (
            format!("/api/v2/projects/{{project}}/{}", def.plural),
            format!("projects.{}", def.plural),
            Need::Project(Grant::Read),
            Need::Project(def.write),
        )
    } else {
        let write = match def.kind {
            "cluster" => Need::Operate,
            _ => Need::OrgAdmin,
        };
        (
            format!("/api/v2/{}", def.plural),
            def.plural.to_owned(),
            Need::OrgRead,
            write,
        )
    };
    let one = format!("{base}/{{name}}");
    let body = Some(Body::Json(def.schema));
    let mut out = vec![
        route(
            Method::GET,
            &base,
            format!("{prefix}.list"),
            read,
            format!("List {}s", def.title),
        )
        .response(200, json::<Items>())
        .handler(
            move |(State(hub), Extension(caller), path): Parts| async move {
                resources::list(def, hub, caller, handlers::names(path)).await
            },
        ),
        route(
            Method::GET,
            &one,
            format!("{prefix}.get"),
            read,
            format!("Get a {}", def.title),
        )
        .response(200, body)
        .handler(
            move |(State(hub), Extension(caller), path): Parts| async move {
                resources::get(def, hub, caller, handlers::names(path)).await
            },
        ),
    ];
    let action = format!("{prefix}.update");
    out.push(
        route(
            Method::PATCH,
            &one,
            &action,
            write,
            format!(
                "Change a {} (JSON merge patch; If-Match for a conditional update)",
                def.title
            ),
        )
        .request(body)
        .response(200, body)
        .handler(
            move |(State(hub), Extension(caller), path): Parts,
                  headers: HeaderMap,
                  bytes: Result<Bytes, BytesRejection>| {
                let action = action.clone();
                async move {
                    let expected = resources::if_match(&headers)?;
                    let patch = handlers::body(bytes)?;
                    resources::update(
                        def,
                        action,
                        hub,
                        caller,
                        handlers::names(path),
                        expected,
                        patch,
                    )
                    .await
                }
            },
        ),
    );
    let action = format!("{prefix}.delete");
    out.push(
        route(
            Method::DELETE,
            &one,
            &action,
            write,
            format!("Delete a {} (refused while in use)", def.title),
        )
        .response(204, None)
        .handler(
            move |(State(hub), Extension(caller), path): Parts, headers: HeaderMap| {
                let action = action.clone();
                async move {
                    let expected = resources::if_match(&headers)?;
                    resources::delete(def, action, hub, caller, handlers::names(path), expected)
                        .await
                }
            },
        ),
    );
    if def.kind != "cluster" {
        let action = format!("{prefix}.create");
        out.push(
            route(
                Method::POST,
                &base,
                &action,
                write,
                format!("Create a {}", def.title),
            )
            .request(body)
            .response(201, body)
            .handler(
                move |(State(hub), Extension(caller), path): Parts,
                      bytes: Result<Bytes, BytesRejection>| {
                    let action = action.clone();
                    async move {
                        let body = handlers::body(bytes)?;
                        resources::create(def, action, hub, caller, handlers::names(path), body)
                            .await
                    }
                },
            ),
        );
    }
    out
}

/// The whole route table.
pub fn table() -> Vec<Route> {
    let mut routes = vec![
        route(
            Method::GET,
            "/healthz",
            "health.live",
            Need::Public,
            "Liveness: the process answers",
        )
        .handler(observe::healthz),
        route(
            Method::GET,
            "/readyz",
            "health.ready",
            Need::Public,
            "Readiness: the store answers",
        )
        .handler(observe::readyz),
        route(
            Method::GET,
            "/metrics",
            "metrics.read",
            Need::Public,
            "Prometheus metrics",
        )
        .handler(observe::metrics),
        route(
            Method::GET,
            "/api/v2/openapi.json",
            "openapi.read",
            Need::Public,
            "This document",
        )
        .handler(observe::openapi),
    ];
    routes.extend(identity::routes());
    routes.extend(signing::routes());
    routes.extend(KINDS.iter().flat_map(generic));
    routes.extend(clusters::routes());
    routes.extend(charts::routes());
    routes.extend(values::routes());
    routes.extend(releases::routes());
    routes.extend(promotions::routes());
    routes.extend(notify::routes());
    routes.extend(breakglass::routes());
    routes.extend(audit::routes());
    routes.extend(delivery::routes());
    routes
}

/// Every action id (service accounts' allowed actions are checked against these).
pub fn action_ids() -> &'static [String] {
    static IDS: OnceLock<Vec<String>> = OnceLock::new();
    IDS.get_or_init(|| {
        table()
            .into_iter()
            .filter(|r| r.need != Need::Public)
            .map(|r| r.action)
            .collect()
    })
}

#[derive(Debug)]
struct Meta {
    action: String,
    need: Need,
}

/// Builds the router: each route behind the authorization step for its need, the default body
/// limit, and request metrics.
pub fn router(hub: Hub) -> Router {
    let mut router: Router<Hub> = Router::new();
    let default_limit = hub.config.max_body_bytes;
    for r in table() {
        let meta = Arc::new(Meta {
            action: r.action,
            need: r.need,
        });
        let handler = r
            .handler
            .layer(DefaultBodyLimit::max(r.body_limit.unwrap_or(default_limit)))
            .route_layer(middleware::from_fn_with_state(
                (hub.clone(), meta),
                authorize,
            ));
        router = router.route(&r.path, handler);
    }
    if hub.config.playground {
        let config = gatehouse_playground::PlaygroundConfig {
            isolation: gatehouse_playground::Isolation::current_exe(1 << 30),
            ..Default::default()
        };
        router = router.nest_service("/playground", gatehouse_playground::router(config));
    }
    router
        .fallback(|| async {
            ApiError::not_found("such route")
                .with_detail(serde_json::json!({"hint": "see /api/v2/openapi.json"}))
        })
        .layer(middleware::from_fn_with_state(hub.clone(), observe::track))
        .with_state(hub)
}

async fn authorize(
    State((hub, meta)): State<(Hub, Arc<Meta>)>,
    mut req: Request,
    next: Next,
) -> Response {
    if meta.need == Need::Public {
        return next.run(req).await;
    }
    // Git clients (and Argo CD, Flux) send the token as a Basic password, and only after a
    // challenge.
    let git = meta.action.starts_with("projects.repository.");
    let challenge = |e: ApiError| {
        let mut r = e.into_response();
        if git {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"gatehouse\""),
            );
        }
        r
    };
    let signed = signing::SIGNED_ACTIONS.contains(&meta.action.as_str())
        && !req.headers().contains_key(header::AUTHORIZATION)
        && req.headers().contains_key("x-gatehouse-signature");
    let caller = if signed {
        // The signature covers the body: read it (within the route's limit), check, put back.
        let (parts, body) = req.into_parts();
        let limit = hub.config.max_body_bytes;
        let bytes = match axum::body::to_bytes(body, limit).await {
            Ok(b) => b,
            Err(_) => {
                return ApiError::invalid(".", format!("the body is larger than {limit} bytes"))
                    .into_response();
            }
        };
        let path = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
        let c = signing::authenticate(
            &hub,
            &parts.headers,
            &parts.method,
            &path,
            &bytes,
            &meta.action,
        )
        .await;
        req = Request::from_parts(parts, axum::body::Body::from(bytes));
        match c {
            Ok(c) => c,
            Err(e) => return e.into_response(),
        }
    } else {
        let token = match bearer(req.headers()) {
            Ok(t) => t,
            Err(e) => return challenge(e),
        };
        match blocking(&hub, move |tx| authenticate(tx, &token), false).await {
            Ok(c) => c,
            Err(e) => return challenge(e),
        }
    };
    let project = match req.extract_parts::<RawPathParams>().await {
        Ok(params) => params
            .iter()
            .find(|(k, _)| *k == "project")
            .map(|(_, v)| v.to_owned()),
        Err(_) => None,
    };
    if let Err(e) = caller.check(meta.need, &meta.action, project.as_deref()) {
        tracing::info!(action = %meta.action, actor = %caller.actor(), "refused: not permitted");
        return e.into_response();
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

fn bearer(headers: &HeaderMap) -> Result<String, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthenticated("The request has no Authorization header."))?;
    let text = value.to_str().unwrap_or_default();
    if let Some(basic) = text
        .strip_prefix("Basic ")
        .or_else(|| text.strip_prefix("basic "))
    {
        // `user:token`: the user name is ignored, the token is the password.
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                ApiError::unauthenticated("The Basic credentials are not base64 of `user:token`.")
            })?;
        let (_, token) = decoded.split_once(':').ok_or_else(|| {
            ApiError::unauthenticated("The Basic credentials are not `user:token`.")
        })?;
        return Ok(token.trim().to_owned());
    }
    let token = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
        .ok_or_else(|| {
            ApiError::unauthenticated(
                "The Authorization header is neither `Bearer <token>` nor Basic with the token as password.",
            )
        })?;
    Ok(token.trim().to_owned())
}

/// Path parameters as a map, for handlers with more than the generic ones.
pub type Params = Path<BTreeMap<String, String>>;

/// Reads a path parameter.
pub fn param(p: &BTreeMap<String, String>, key: &str) -> String {
    p.get(key).cloned().unwrap_or_default()
}

/// The error body schema, for the OpenAPI document.
pub fn error_schema(g: &mut SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<ErrorBody>()
}
