//! What several routers share: the `site_id` a request must name, ids from
//! paths, the answer to a refused write and to a deletion.

use axum::http::StatusCode;
use mallard_core::SiteId;

use crate::error::ApiError;

/// The `site_id` a request names: required, and a valid site id.
pub(crate) fn required_site(raw: Option<&str>) -> Result<SiteId, ApiError> {
    let raw = raw.ok_or_else(|| ApiError::BadRequest("site_id is required".into()))?;
    SiteId::parse(raw).map_err(|e| ApiError::BadRequest(format!("site_id: {e}")))
}

/// A query string's parameters by name (the last of a repeated one).
pub(crate) fn query_params(query: Option<&str>) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// The `site_id` parameter of a raw query, required; the error is the
/// message of a 400 answer.
pub(crate) fn query_site(
    params: &std::collections::HashMap<String, String>,
) -> Result<SiteId, String> {
    let site = params.get("site_id").ok_or("site_id is required")?;
    SiteId::parse(site).map_err(|e| format!("Invalid site_id: {e}"))
}

/// The `limit` parameter of a raw query: `default` when absent, else a whole
/// number from 1 to `max`; the error is the message of a 400 answer.
pub(crate) fn query_limit(
    params: &std::collections::HashMap<String, String>,
    default: usize,
    max: usize,
) -> Result<usize, String> {
    match params.get("limit") {
        None => Ok(default),
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| format!("limit must be a whole number from 1 to {max}")),
    }
}

/// A 503 for a write the store refused, logged with `what` was being done
/// (`"cannot change goals"`).
pub(crate) fn write_failed(what: &'static str) -> impl Fn(mallard_store::StoreError) -> ApiError {
    move |err| {
        tracing::error!(error = %err, "{what}");
        ApiError::Unavailable("Database unavailable".into())
    }
}

/// The id in a path; anything but a whole number names nothing
/// (`not_found`, e.g. `"Goal not found"`).
pub(crate) fn path_id(raw: &str, not_found: &str) -> Result<i64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(not_found.to_owned()))
}

/// 204 when something was deleted, 404 with `not_found` when there was
/// nothing to delete.
pub(crate) fn deleted(removed: bool, not_found: &str) -> Result<StatusCode, ApiError> {
    if removed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(not_found.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_answers_name_the_problem() {
        assert_eq!(required_site(Some("a.test")).unwrap().as_str(), "a.test");
        assert_eq!(
            required_site(None).unwrap_err(),
            ApiError::BadRequest("site_id is required".into())
        );
        assert!(
            matches!(required_site(Some("a b")), Err(ApiError::BadRequest(m)) if m.starts_with("site_id: "))
        );
        assert_eq!(path_id("12", "x").unwrap(), 12);
        assert_eq!(
            path_id("1x", "Goal not found").unwrap_err(),
            ApiError::NotFound("Goal not found".into())
        );
        assert_eq!(deleted(true, "x").unwrap(), StatusCode::NO_CONTENT);
        assert_eq!(
            deleted(false, "Gone").unwrap_err(),
            ApiError::NotFound("Gone".into())
        );
        assert_eq!(
            write_failed("cannot change goals")(mallard_store::StoreError::Locked(
                std::path::PathBuf::from("x")
            )),
            ApiError::Unavailable("Database unavailable".into())
        );
    }
}
