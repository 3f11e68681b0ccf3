//! The embedded `ui/` files: the dashboard at `/`, the tracker at `/mallard.js`,
//! `/robots.txt` and `/.well-known/security.txt`.
//!
//! Files are embedded with rust-embed; debug builds read them from disk so the
//! dashboard can be edited without rebuilding.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

use crate::error::ApiError;
use crate::state::AppState;

/// The files of the dashboard and tracker.
#[derive(RustEmbed)]
#[folder = "../../ui/"]
pub struct UiAssets;

/// The static routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/mallard.js", get(tracker))
        .route("/static/{*path}", get(static_file))
        .route("/robots.txt", get(robots))
        .route("/.well-known/security.txt", get(security_txt))
}

#[utoipa::path(
    get,
    path = "/",
    tag = "Static",
    responses((status = 200, description = "The dashboard", body = String, content_type = "text/html")),
)]
async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers, "no-cache")
}

#[utoipa::path(
    get,
    path = "/mallard.js",
    tag = "Static",
    responses((status = 200, description = "The tracker script", body = String, content_type = "text/javascript")),
)]
async fn tracker(headers: HeaderMap) -> Response {
    let mut response = serve(
        "mallard.js",
        &headers,
        "public, max-age=3600, must-revalidate",
    );
    // Any site may load the tracker.
    response.headers_mut().insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("cross-origin"),
    );
    response
}

#[utoipa::path(
    get,
    path = "/static/{path}",
    tag = "Static",
    params(("path" = String, Path, description = "A file of the dashboard")),
    responses(
        (status = 200, description = "The file"),
        (status = 404, description = "No such file", body = crate::error::ErrorBody),
    ),
)]
async fn static_file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers, "no-cache")
}

#[utoipa::path(
    get,
    path = "/robots.txt",
    tag = "Static",
    responses((status = 200, description = "Disallow everything", body = String, content_type = "text/plain")),
)]
async fn robots() -> &'static str {
    "User-agent: *\nDisallow: /\n"
}

#[utoipa::path(
    get,
    path = "/.well-known/security.txt",
    tag = "Static",
    responses((status = 200, description = "RFC 9116 contact", body = String, content_type = "text/plain")),
)]
async fn security_txt(State(state): State<AppState>) -> Response {
    let expires = time::OffsetDateTime::now_utc() + time::Duration::days(365);
    let expires = expires
        .replace_nanosecond(0)
        .unwrap_or(expires)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let host = match state.config.host.as_str() {
        "0.0.0.0" | "::" | "127.0.0.1" | "::1" => "localhost",
        host => host,
    };
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        format!("Contact: mailto:security@{host}\nExpires: {expires}\nPreferred-Languages: en\n"),
    )
        .into_response()
}

/// Serves an embedded file with its MIME type, a strong ETag and `cache`.
fn serve(path: &str, headers: &HeaderMap, cache: &'static str) -> Response {
    let Some(file) = UiAssets::get(path) else {
        return ApiError::NotFound("Not found".into()).into_response();
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| given.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mime = file.metadata.mimetype().to_owned();
        ([(header::CONTENT_TYPE, mime)], file.data.into_owned()).into_response()
    };
    let response_headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response_headers.insert(header::ETAG, value);
    }
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn the_tracker_stays_within_one_kilobyte_gzipped() {
        let script = UiAssets::get("mallard.js").expect("ui/mallard.js is embedded");
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gzip.write_all(&script.data).unwrap();
        let size = gzip.finish().unwrap().len();
        assert!(
            size <= 1024,
            "mallard.js is {size} bytes gzipped; the budget is 1024"
        );
    }

    #[test]
    fn the_dashboard_and_tracker_are_embedded() {
        assert!(UiAssets::get("index.html").is_some());
        assert!(
            UiAssets::get("mallard.js")
                .is_some_and(|f| f.metadata.mimetype().contains("javascript"))
        );
    }
}
