//! The NCSA formats: common (`host ident user [time] "request" status
//! bytes`), combined (plus `"referrer" "user agent"`) and combined with the
//! virtual host in front (`host[:port] `).
//!
//! Quoted fields end at the next unescaped `"`; nginx and Apache escape a
//! quote inside a value as `\"` (and nginx writes other bytes as `\xHH`),
//! which are unescaped here.

use std::borrow::Cow;

use super::{LineError, LogRecord, clf_time, dash_is_none, ip_of};

/// Which NCSA layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variant {
    Common,
    Combined,
    Vhost,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Self::Common => "common",
            Self::Combined => "combined",
            Self::Vhost => "combined-vhost",
        }
    }
}

/// Reads one line of `variant`.
pub(crate) fn parse(line: &str, variant: Variant) -> Result<LogRecord<'_>, LineError> {
    let layout = || LineError::Layout(variant.name());
    let mut rest = line.trim_end_matches(['\r', '\n']);
    let host = if variant == Variant::Vhost {
        let (vhost, after) = word(rest).ok_or_else(layout)?;
        rest = after;
        Some(vhost.rsplit_once(':').map_or(vhost, |(name, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                name
            } else {
                vhost
            }
        }))
    } else {
        None
    };
    let (client, after) = word(rest).ok_or_else(layout)?;
    let (_ident, after) = word(after).ok_or_else(layout)?;
    let (_user, after) = word(after).ok_or_else(layout)?;
    let after = after.trim_start().strip_prefix('[').ok_or_else(layout)?;
    let (time, after) = after.split_once(']').ok_or_else(layout)?;
    let timestamp_ms = clf_time::parse_clf(time)?;
    let (request, after) = quoted(after.trim_start()).ok_or_else(layout)?;
    let (status, after) = word(after).ok_or_else(layout)?;
    let status = status
        .parse::<u16>()
        .ok()
        .filter(|s| (100..=599).contains(s))
        .ok_or_else(|| LineError::field("status", status))?;
    let (_bytes, after) = word(after).ok_or_else(layout)?;
    let (referrer, user_agent) = if variant == Variant::Common {
        (None, None)
    } else {
        let (referrer, after) = quoted(after.trim_start()).ok_or_else(layout)?;
        let (user_agent, _) = quoted(after.trim_start()).ok_or_else(layout)?;
        (Some(referrer), Some(user_agent))
    };
    let (method, target) = split_request(request)?;
    Ok(LogRecord {
        timestamp_ms,
        ip: ip_of(client),
        method,
        host: host.map(Cow::Borrowed),
        target,
        status,
        referrer: referrer.filter(|r| dash_is_none(r).is_some()),
        user_agent: user_agent.filter(|ua| dash_is_none(ua).is_some()),
    })
}

/// `"GET /path HTTP/1.1"` to its method and target, borrowed from the
/// line when the request needed no unescaping.
pub(crate) fn split_request(
    request: Cow<'_, str>,
) -> Result<(Cow<'_, str>, Cow<'_, str>), LineError> {
    match request {
        Cow::Borrowed(text) => {
            let (method, target) = method_and_target(text)?;
            Ok((Cow::Borrowed(method), Cow::Borrowed(target)))
        }
        Cow::Owned(text) => {
            let (method, target) = method_and_target(&text)?;
            Ok((Cow::Owned(method.to_owned()), Cow::Owned(target.to_owned())))
        }
    }
}

/// The method and target of a request line; a line of one word (a
/// malformed request the server logged) is an error.
fn method_and_target(request: &str) -> Result<(&str, &str), LineError> {
    let mut parts = request.split(' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) || target.is_empty() {
        return Err(LineError::field("request", request));
    }
    Ok((method, target))
}

/// The next space-separated word and what follows it.
fn word(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start_matches(' ');
    if text.is_empty() {
        return None;
    }
    Some(match text.find(' ') {
        Some(end) => (&text[..end], &text[end..]),
        None => (text, ""),
    })
}

/// A `"..."` field at the start of `text` and what follows it; escapes are
/// undone (`\"`, `\\`, `\xHH`).
pub(crate) fn quoted(text: &str) -> Option<(Cow<'_, str>, &str)> {
    let body = text.strip_prefix('"')?;
    let bytes = body.as_bytes();
    let mut i = 0;
    let mut escaped = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                escaped = true;
                i += 2;
                continue;
            }
            b'"' => break,
            _ => i += 1,
        }
    }
    if i >= bytes.len() {
        return None;
    }
    let raw = &body[..i];
    let rest = &body[i + 1..];
    Some((
        if escaped {
            Cow::Owned(unescape(raw))
        } else {
            Cow::Borrowed(raw)
        },
        rest,
    ))
}

/// Undoes `\"`, `\\` and `\xHH` escapes; invalid UTF-8 from `\xHH` becomes
/// U+FFFD.
fn unescape(raw: &str) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            match bytes[i + 1] {
                b'x' if i + 3 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).ok();
                    if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        out.push(byte);
                        i += 4;
                        continue;
                    }
                    out.push(b'\\');
                    i += 1;
                }
                other => {
                    out.push(other);
                    i += 2;
                }
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_unescape_quotes_and_bytes() {
        let (value, rest) = quoted(r#""a \"b\" \\ \xC3\xA9" tail"#).unwrap();
        assert_eq!(value, "a \"b\" \\ é");
        assert_eq!(rest, " tail");
        assert!(quoted(r#""unterminated"#).is_none());
        assert!(quoted(r#""ends in a backslash\"#).is_none());
        let (plain, _) = quoted(r#""plain""#).unwrap();
        assert!(matches!(plain, Cow::Borrowed("plain")));
    }
}
