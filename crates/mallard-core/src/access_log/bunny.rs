//! bunny.net's CDN log: twelve `|`-separated fields, `cache status | status |
//! Unix time in ms | bytes | pull zone | client address | referrer | URL |
//! edge location | user agent | request id | country`. The method is not
//! logged (the CDN serves GET and HEAD); every line reads as a GET. The
//! user agent comes second to last but one, so a `|` inside it is read by
//! counting fields from both ends.

use std::borrow::Cow;

use super::{LineError, LogRecord, clf_time, dash_is_none, ip_of};

/// Reads one line.
pub(crate) fn parse(line: &str) -> Result<LogRecord<'_>, LineError> {
    let line = line.trim_end_matches(['\r', '\n']);
    let fields: Vec<&str> = line.split('|').collect();
    if fields.len() < 12 || !matches!(fields[0], "HIT" | "MISS" | "hit" | "miss") {
        return Err(LineError::Layout("bunny"));
    }
    let status = fields[1]
        .parse::<u16>()
        .ok()
        .filter(|s| (100..=599).contains(s))
        .ok_or_else(|| LineError::field("status", fields[1]))?;
    let timestamp_ms = clf_time::parse_unix(fields[2])?;
    // Fields 0..=8 from the front, the last two from the back; the user
    // agent is everything in between.
    let tail = fields.len() - 2;
    let user_agent = fields[9..tail].join("|");
    let url = fields[7];
    let (host, target) = split_url(url).ok_or_else(|| LineError::field("url", url))?;
    Ok(LogRecord {
        timestamp_ms,
        ip: ip_of(fields[5]),
        method: Cow::Borrowed("GET"),
        host: Some(Cow::Borrowed(host)),
        target: Cow::Borrowed(target),
        status,
        referrer: dash_is_none(fields[6]).map(Cow::Borrowed),
        user_agent: dash_is_none(&user_agent)
            .is_some()
            .then_some(Cow::Owned(user_agent)),
    })
}

/// `https://host/path?query` to its host and target (`/` when the URL has
/// no path).
fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    Some(match rest.find(['/', '?']) {
        Some(at) if rest.as_bytes()[at] == b'/' => (&rest[..at], &rest[at..]),
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_and_target() {
        assert_eq!(
            split_url("https://a.b-cdn.net/x/y?z=1"),
            Some(("a.b-cdn.net", "/x/y?z=1"))
        );
        assert_eq!(split_url("http://a.test"), Some(("a.test", "/")));
        assert_eq!(split_url("https://a.test?q"), Some(("a.test", "?q")));
        assert_eq!(split_url("/relative"), None);
    }
}
