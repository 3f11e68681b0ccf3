//! Caddy's structured access log: one JSON object per line, the request
//! under `request` (`client_ip` or `remote_ip`, or the older `remote_addr`
//! with its port; `method`, `host`, `uri`, `headers`), the `status`, and the
//! time `ts` as Unix seconds (Caddy's default) or as the text of a
//! configured `time_format` (RFC 3339, or Unix seconds or milliseconds).

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;

use super::{LineError, LogRecord, clf_time, ip_of};

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(borrow)]
    ts: Time<'a>,
    #[serde(borrow)]
    request: Request<'a>,
    status: u16,
}

/// `ts`: a number, or a string in a configured format.
#[derive(Deserialize)]
#[serde(untagged)]
enum Time<'a> {
    Number(f64),
    #[serde(borrow)]
    Text(Cow<'a, str>),
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow, default)]
    client_ip: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    remote_ip: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    remote_addr: Option<Cow<'a, str>>,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow, default)]
    host: Option<Cow<'a, str>>,
    #[serde(borrow)]
    uri: Cow<'a, str>,
    #[serde(borrow, default)]
    headers: HashMap<Cow<'a, str>, Vec<Cow<'a, str>>>,
}

/// Reads one line.
pub(crate) fn parse(line: &str) -> Result<LogRecord<'_>, LineError> {
    let entry: Entry<'_> =
        serde_json::from_str(line.trim()).map_err(|_| LineError::Layout("caddy"))?;
    let timestamp_ms = match entry.ts {
        Time::Number(seconds) if seconds.is_finite() && seconds >= 0.0 => {
            (seconds * 1000.0).round() as i64
        }
        Time::Number(seconds) => return Err(LineError::field("ts", &seconds.to_string())),
        Time::Text(text) => clf_time::parse_rfc3339(&text)
            .or_else(|_| clf_time::parse_unix(&text))
            .or_else(|_| clf_time::parse_clf(&text))?,
    };
    let request = entry.request;
    let ip = [&request.client_ip, &request.remote_ip, &request.remote_addr]
        .into_iter()
        .flatten()
        .find_map(|value| ip_of(value));
    let mut headers = request.headers;
    let mut header = |name: &str| {
        let key = headers
            .keys()
            .find(|key| key.eq_ignore_ascii_case(name))
            .cloned()?;
        headers.remove(&key)?.into_iter().next()
    };
    let referrer = header("Referer");
    let user_agent = header("User-Agent");
    if !(100..=599).contains(&entry.status) {
        return Err(LineError::field("status", &entry.status.to_string()));
    }
    if request.method.is_empty() || !request.method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(LineError::field("method", &request.method));
    }
    if request.uri.is_empty() {
        return Err(LineError::field("uri", ""));
    }
    Ok(LogRecord {
        timestamp_ms,
        ip,
        method: request.method,
        host: request.host,
        target: request.uri,
        status: entry.status,
        referrer: referrer.filter(|r| !r.is_empty()),
        user_agent: user_agent.filter(|ua| !ua.is_empty()),
    })
}
