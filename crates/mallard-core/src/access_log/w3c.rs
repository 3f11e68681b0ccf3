//! The W3C extended log format as Amazon CloudFront writes it: tab-separated
//! columns named by a `#Fields:` line, `-` for an empty value, and the
//! referrer, user agent and query percent-encoded (the user agent is encoded
//! twice, so `%2520` stands for a space).

use std::borrow::Cow;

use super::{LineError, LogRecord, clf_time, dash_is_none, ip_of};

/// Which column holds each field this reader needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct W3cColumns {
    date: usize,
    time: usize,
    ip: usize,
    method: usize,
    host: Option<usize>,
    stem: usize,
    status: usize,
    referrer: Option<usize>,
    user_agent: Option<usize>,
    query: Option<usize>,
    forwarded_for: Option<usize>,
    width: usize,
}

impl W3cColumns {
    /// CloudFront's documented column order, used until a `#Fields:` line
    /// says otherwise.
    pub fn cloudfront() -> Self {
        Self::from_fields(
            "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status \
             cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type \
             x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for",
        )
        .unwrap_or_else(|_| unreachable!("the built-in field list names every needed field"))
    }

    /// The columns of a `#Fields:` list (space separated). The list must
    /// name `date`, `time`, `c-ip`, `cs-method`, `cs-uri-stem` and
    /// `sc-status`.
    pub fn from_fields(list: &str) -> Result<Self, LineError> {
        let names: Vec<&str> = list.split_whitespace().collect();
        let find = |name: &str| names.iter().position(|n| n.eq_ignore_ascii_case(name));
        let need = |name: &'static str| {
            find(name).ok_or(LineError::Field {
                field: "#Fields",
                value: format!("no {name} column"),
            })
        };
        Ok(Self {
            date: need("date")?,
            time: need("time")?,
            ip: need("c-ip")?,
            method: need("cs-method")?,
            host: find("x-host-header").or_else(|| find("cs(Host)")),
            stem: need("cs-uri-stem")?,
            status: need("sc-status")?,
            referrer: find("cs(Referer)"),
            user_agent: find("cs(User-Agent)"),
            query: find("cs-uri-query"),
            forwarded_for: find("x-forwarded-for"),
            width: names.len(),
        })
    }

    /// Reads one line; `#Fields:` lines change the columns, other `#` lines
    /// are skipped.
    pub(crate) fn parse<'a>(&mut self, line: &'a str) -> Result<Option<LogRecord<'a>>, LineError> {
        let line = line.trim_end_matches(['\r', '\n']);
        if let Some(comment) = line.strip_prefix('#') {
            if let Some(list) = comment.strip_prefix("Fields:") {
                *self = Self::from_fields(list)?;
            }
            return Ok(None);
        }
        let columns: Vec<&str> = line.split('\t').collect();
        if columns.len() < self.width.min(self.status + 1) {
            return Err(LineError::Layout("cloudfront"));
        }
        let column = |index: usize| columns.get(index).copied().and_then(dash_is_none);
        let required = |index: usize, field: &'static str| {
            column(index).ok_or(LineError::Field {
                field,
                value: String::new(),
            })
        };
        let timestamp_ms =
            clf_time::parse_date_time(required(self.date, "date")?, required(self.time, "time")?)?;
        let status_text = required(self.status, "sc-status")?;
        let status = status_text
            .parse::<u16>()
            .ok()
            .filter(|s| (100..=599).contains(s))
            .ok_or_else(|| LineError::field("sc-status", status_text))?;
        // The viewer's address: the first of X-Forwarded-For when the
        // request came through a proxy, else the connecting address.
        let ip = self
            .forwarded_for
            .and_then(column)
            .and_then(|list| list.split(',').next())
            .and_then(ip_of)
            .or_else(|| column(self.ip).and_then(ip_of));
        let stem = required(self.stem, "cs-uri-stem")?;
        let target = match self.query.and_then(column) {
            Some(query) => Cow::Owned(format!("{stem}?{query}")),
            None => Cow::Borrowed(stem),
        };
        Ok(Some(LogRecord {
            timestamp_ms,
            ip,
            method: Cow::Borrowed(required(self.method, "cs-method")?),
            host: self.host.and_then(column).map(Cow::Borrowed),
            target,
            status,
            referrer: self.referrer.and_then(column).map(|r| decode(r, 1)),
            user_agent: self.user_agent.and_then(column).map(|ua| decode(ua, 2)),
        }))
    }
}

/// Percent-decodes `value` up to `rounds` times (stopping when nothing is
/// left to decode).
fn decode(value: &str, rounds: usize) -> Cow<'_, str> {
    let mut text = Cow::Borrowed(value);
    for _ in 0..rounds {
        if !text.contains('%') {
            break;
        }
        let decoded = percent_decode(&text);
        text = Cow::Owned(decoded);
    }
    text
}

/// `%HH` to the byte it names; invalid UTF-8 becomes U+FFFD.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
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
    fn user_agents_are_decoded_twice_and_referrers_once() {
        assert_eq!(decode("Mozilla/5.0%2520(X11)", 2), "Mozilla/5.0 (X11)");
        assert_eq!(
            decode("https://a.test/?q=%2520", 1),
            "https://a.test/?q=%20"
        );
        assert_eq!(decode("100%", 2), "100%");
        assert!(matches!(decode("plain", 2), Cow::Borrowed("plain")));
    }

    #[test]
    fn a_fields_line_must_name_what_is_needed() {
        assert!(W3cColumns::from_fields("date time c-ip").is_err());
        let columns =
            W3cColumns::from_fields("time date sc-status cs-uri-stem cs-method c-ip").unwrap();
        assert_eq!((columns.date, columns.time, columns.status), (1, 0, 2));
    }
}
