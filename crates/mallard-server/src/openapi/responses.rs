//! The error answers the handlers share, as reusable OpenAPI response sets:
//! each family's documented body with the statuses its endpoints answer.

use utoipa::IntoResponses;

use crate::collector::error::CollectorErrorBody;
use crate::error::ErrorBody;

/// The errors of a stats endpoint.
#[derive(IntoResponses)]
#[expect(
    dead_code,
    reason = "a description of answers: the handlers answer with ApiError"
)]
pub(crate) enum StatsErrors {
    /// A missing or invalid parameter.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// A password is set and the request has no session or API key.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// Too many stats queries run at once; `Retry-After` says when to retry.
    #[response(status = 429)]
    TooMany(ErrorBody),
    /// The database cannot answer right now (or a chart slot is busy).
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// The errors of an endpoint that needs the Admin scope.
#[derive(IntoResponses)]
#[expect(
    dead_code,
    reason = "a description of answers: the handlers answer with ApiError"
)]
pub(crate) enum AdminErrors {
    /// A missing or invalid field or parameter.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No session or Admin key.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// A key without the Admin scope, or a cross-site request (CSRF).
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// A body over the route's limit.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// A body that is not JSON (`Content-Type` or encoding).
    #[response(status = 415)]
    UnsupportedMediaType(ErrorBody),
    /// JSON that is not the documented body.
    #[response(status = 422)]
    Unprocessable(ErrorBody),
    /// The database cannot answer right now.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// The errors of the collector's ingestion endpoints, in its envelope.
#[derive(IntoResponses)]
#[expect(
    dead_code,
    reason = "a description of answers: the handlers answer with CollectorError"
)]
pub(crate) enum CollectorErrors {
    /// Not JSON, or an event that fails the schema (`invalid_json`,
    /// `missing_field`, `invalid_field`, `schema_validation_failed`).
    #[response(status = 400)]
    BadRequest(CollectorErrorBody),
    /// A missing, unknown or revoked key (`unauthorized`), or a key the mode
    /// requires (`api_key_required`).
    #[response(status = 401)]
    Unauthorized(CollectorErrorBody),
    /// The workspace's monthly quota is used up.
    #[response(status = 402)]
    PaymentRequired(CollectorErrorBody),
    /// A key without the scope, or a site outside `site_ids`.
    #[response(status = 403)]
    Forbidden(CollectorErrorBody),
    /// Over 5 MB once decompressed.
    #[response(status = 413)]
    TooLarge(CollectorErrorBody),
    /// An unknown `Content-Encoding`, or not JSON.
    #[response(status = 415)]
    UnsupportedMediaType(CollectorErrorBody),
    /// A rate limit; `Retry-After` and `x-ratelimit-reason` say which.
    #[response(status = 429)]
    TooMany(CollectorErrorBody),
    /// Collection paused, the database cannot take writes, or too many
    /// bodies in flight.
    #[response(status = 503)]
    Unavailable(CollectorErrorBody),
}
