//! A JSON body extractor whose rejections use the Mallard family's flat error
//! body: malformed JSON is 400, well-formed JSON of the wrong shape is 422.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Like `axum::Json`, with documented error bodies.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(to_api_error(&rejection)),
        }
    }
}

fn to_api_error(rejection: &JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(err) => ApiError::Unprocessable(err.body_text()),
        JsonRejection::JsonSyntaxError(err) => ApiError::BadRequest(err.body_text()),
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::BadRequest("Content-Type must be application/json".into())
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge { limit_kb: 2048 }
        }
        other => ApiError::BadRequest(other.body_text()),
    }
}
