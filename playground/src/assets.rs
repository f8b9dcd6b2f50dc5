//! The page and its bundles, embedded in the binary at build time (`build.rs` bundles `web/`
//! into `OUT_DIR`). Served with a content-hash ETag, so browsers revalidate cheaply and never
//! run a stale bundle after an upgrade.

use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// An embedded file.
#[derive(Debug)]
pub(crate) struct Asset {
    pub(crate) content_type: &'static str,
    pub(crate) bytes: &'static [u8],
    etag: String,
}

impl Asset {
    fn new(content_type: &'static str, bytes: &'static [u8]) -> Asset {
        Asset {
            content_type,
            bytes,
            etag: etag_of(bytes),
        }
    }

    /// The asset, or `304 Not Modified` when the browser's copy is current.
    pub(crate) fn respond(&self, request: &HeaderMap) -> Response {
        respond(request, self.content_type, &self.etag, self.bytes.to_vec())
    }
}

fn etag_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!("\"{}\"", hex::encode(digest.get(..12).unwrap_or_default()))
}

fn respond(
    request: &HeaderMap,
    content_type: &'static str,
    etag: &str,
    bytes: Vec<u8>,
) -> Response {
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut headers = HeaderMap::new();
    if let Ok(etag) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    (headers, bytes).into_response()
}

/// The page, with a `<base>` naming the directory it is served from, so its relative asset and
/// API URLs resolve there whether it is opened as `/playground` or `/playground/`.
pub(crate) fn index(base: &str, request: &HeaderMap) -> Response {
    let escaped = base
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    let html = INDEX.replacen("<head>", &format!("<head>\n  <base href=\"{escaped}\">"), 1);
    let etag = etag_of(html.as_bytes());
    respond(
        request,
        "text/html; charset=utf-8",
        &etag,
        html.into_bytes(),
    )
}

const INDEX: &str = include_str!("../web/index.html");

pub(crate) static APP_JS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "text/javascript; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/app.js")),
    )
});
pub(crate) static STYLE_CSS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "text/css; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/style.css")),
    )
});
pub(crate) static LICENSES: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "text/plain; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/licenses.txt")),
    )
});
pub(crate) static ICON: LazyLock<Asset> =
    LazyLock::new(|| Asset::new("image/svg+xml", include_bytes!("../web/icon.svg")));
