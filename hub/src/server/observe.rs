//! Health, readiness, Prometheus metrics and the request log.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gatehouse_engine::Decision;
use tracing::Instrument;

use super::Hub;

/// Latency buckets in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// Counters behind `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    decisions: Mutex<BTreeMap<(String, String), u64>>,
}

impl Metrics {
    fn request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut r = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *r.entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        drop(r);
        let mut l = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let h = l.entry(route.to_owned()).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b
                && let Some(c) = h.counts.get_mut(i)
            {
                *c += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }

    /// Counts a decision the hub acted on.
    pub(crate) fn decision(&self, d: &Decision) {
        let mut m = self.decisions.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry((d.kind.clone(), d.outcome.as_str().to_owned()))
            .or_default() += 1;
    }

    fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP gatehouse_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE gatehouse_http_requests_total counter\n");
        for ((m, r, s), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "gatehouse_http_requests_total{{method=\"{m}\",route=\"{r}\",status=\"{s}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP gatehouse_http_request_duration_seconds HTTP request latency by route.\n",
        );
        out.push_str("# TYPE gatehouse_http_request_duration_seconds histogram\n");
        for (r, h) in self
            .latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            for (b, c) in BUCKETS.iter().zip(h.counts.iter()) {
                let _ = writeln!(
                    out,
                    "gatehouse_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{b}\"}} {c}"
                );
            }
            let _ = writeln!(
                out,
                "gatehouse_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "gatehouse_http_request_duration_seconds_sum{{route=\"{r}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "gatehouse_http_request_duration_seconds_count{{route=\"{r}\"}} {}",
                h.count
            );
        }
        out.push_str("# HELP gatehouse_decisions_total Decisions the hub acted on, by action kind and outcome.\n");
        out.push_str("# TYPE gatehouse_decisions_total counter\n");
        for ((k, o), n) in self
            .decisions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "gatehouse_decisions_total{{kind=\"{k}\",outcome=\"{o}\"}} {n}"
            );
        }
        out
    }
}

/// Records every request's route, status and latency, in a span with those fields.
pub(crate) async fn track(State(hub): State<Hub>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let span = tracing::info_span!("request", %method, %route);
    let response = next.run(req).instrument(span).await;
    let status = response.status().as_u16();
    let seconds = start.elapsed().as_secs_f64();
    hub.metrics.request(&method, &route, status, seconds);
    tracing::debug!(%method, %route, status, micros = (seconds * 1e6) as u64, "request");
    response
}

/// `GET /healthz`.
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: 503 when the store does not answer.
pub(crate) async fn readyz(State(hub): State<Hub>) -> Response {
    let h = hub.clone();
    match tokio::task::spawn_blocking(move || h.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the store does not answer\n",
        )
            .into_response(),
    }
}

/// `GET /metrics` in the Prometheus text format.
pub(crate) async fn metrics(State(hub): State<Hub>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        format!(
            "{}# HELP gatehouse_agents_connected Agent sessions open now.\n# TYPE gatehouse_agents_connected gauge\ngatehouse_agents_connected {}\n",
            hub.metrics.render(),
            hub.agents.count()
        ),
    )
        .into_response()
}

/// `GET /api/v2/openapi.json`.
pub(crate) async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::openapi::document_text(),
    )
        .into_response()
}
