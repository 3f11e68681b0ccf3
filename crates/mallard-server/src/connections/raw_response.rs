//! Complete HTTP/1.1 responses as bytes, for the answers the connection loop
//! writes on a socket itself (no router, no hyper): a refusal over the
//! connection cap and the JSON answer to a malformed request. Each carries a
//! JSON body, the security headers and `Connection: close`.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::layers::family::Family;
use crate::layers::security_headers;

/// A `status` response with the JSON `body` and the extra `headers`, closing
/// the connection.
pub fn json_response(status: StatusCode, body: &Value, headers: &[(&str, &str)]) -> Vec<u8> {
    let body = body.to_string();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    let security_headers = security_headers::HEADERS;
    let security = security_headers
        .iter()
        .map(|(name, value)| (name.as_str(), *value));
    for (name, value) in headers.iter().copied().chain(security) {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

/// The error body of `family` for a request refused with `status` before
/// routing, saying `message`.
pub fn error_body(family: Family, status: StatusCode, message: &str) -> Value {
    match family {
        Family::Mallard => json!({ "error": message }),
        Family::Collector => {
            let code = match status {
                StatusCode::SERVICE_UNAVAILABLE => "unavailable",
                _ => "invalid_request",
            };
            json!({"error": {"code": code, "message": message, "details": []}})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_response_has_a_json_body_security_headers_and_closes() {
        let body = error_body(Family::Mallard, StatusCode::BAD_REQUEST, "Malformed");
        let bytes = json_response(StatusCode::BAD_REQUEST, &body, &[("retry-after", "1")]);
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains("\r\nconnection: close\r\n"), "{head}");
        assert!(head.contains("\r\nretry-after: 1\r\n"), "{head}");
        assert!(
            head.contains("\r\nx-content-type-options: nosniff\r\n"),
            "{head}"
        );
        assert!(head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())));
        assert_eq!(body, r#"{"error":"Malformed"}"#);
    }

    #[test]
    fn the_collector_family_gets_its_envelope() {
        let body = error_body(Family::Collector, StatusCode::URI_TOO_LONG, "Too long");
        assert_eq!(body["error"]["code"], "invalid_request");
        assert_eq!(body["error"]["message"], "Too long");
        assert_eq!(body["error"]["details"], json!([]));
    }
}
