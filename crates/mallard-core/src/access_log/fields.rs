//! Log lines described field by field, for servers whose layout is none of
//! the named formats: `--format 'log:$remote_addr - [$datetime] "$request"
//! $status $ignore "$referrer" "$user_agent"'`.
//!
//! A layout is literal text and `$name` fields (the names follow
//! GoatCounter's where they overlap). Each field's value runs to where the
//! next literal text begins (or to the end of the line), so two fields need
//! text between them. The fields:
//!
//! | field | meaning |
//! |---|---|
//! | `$datetime` | the time: Common Log Format (`10/Oct/2000:13:55:36 -0700`), RFC 3339, or Unix seconds or milliseconds |
//! | `$date`, `$time` | a UTC date (`2000-10-10`) and time (`13:55:36`) |
//! | `$remote_addr` | the client address |
//! | `$xff` | an `X-Forwarded-For` list: its first address is the client, before `$remote_addr` |
//! | `$request` | the request line, `GET /path HTTP/1.1` |
//! | `$method`, `$path`, `$query` | the request's parts, when logged separately |
//! | `$status` | the response status |
//! | `$referrer`, `$user_agent`, `$host` | the headers |
//! | `$ignore` | anything (sizes, timings, ...) |
//!
//! `-` is an empty value, as in every log format.

use std::borrow::Cow;

use super::ncsa::split_request;
use super::{LineError, LogRecord, clf_time, dash_is_none, ip_of};

/// A field of a layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Datetime,
    Date,
    Time,
    RemoteAddr,
    Xff,
    Request,
    Method,
    Path,
    Query,
    Status,
    Referrer,
    UserAgent,
    Host,
    Ignore,
}

/// Every field name with its field.
const FIELDS: [(&str, Field); 14] = [
    ("datetime", Field::Datetime),
    ("date", Field::Date),
    ("time", Field::Time),
    ("remote_addr", Field::RemoteAddr),
    ("xff", Field::Xff),
    ("request", Field::Request),
    ("method", Field::Method),
    ("path", Field::Path),
    ("query", Field::Query),
    ("status", Field::Status),
    ("referrer", Field::Referrer),
    ("user_agent", Field::UserAgent),
    ("host", Field::Host),
    ("ignore", Field::Ignore),
];

/// One piece of a layout.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Field(Field),
}

/// A parsed `log:` layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldLayout {
    pieces: Vec<Piece>,
}

impl FieldLayout {
    /// Parses a layout (what follows `log:`). It must name a time
    /// (`$datetime`, or `$date` and `$time`), the request (`$request` or
    /// `$path`) and `$status`, and put text between any two fields.
    pub fn parse(layout: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut rest = layout;
        while !rest.is_empty() {
            match rest.find('$') {
                Some(0) => {
                    let name_len = rest[1..]
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len() - 1);
                    let name = &rest[1..=name_len];
                    let field = FIELDS
                        .iter()
                        .find(|(known, _)| *known == name)
                        .map(|(_, field)| *field)
                        .ok_or_else(|| {
                            let known: Vec<String> =
                                FIELDS.iter().map(|(n, _)| format!("${n}")).collect();
                            format!(
                                "unknown field ${name} in the log layout; known: {}",
                                known.join(", ")
                            )
                        })?;
                    if matches!(pieces.last(), Some(Piece::Field(_))) {
                        return Err(format!(
                            "${name} follows another field directly; put the text that separates them between"
                        ));
                    }
                    pieces.push(Piece::Field(field));
                    rest = &rest[1 + name_len..];
                }
                Some(at) => {
                    pieces.push(Piece::Literal(rest[..at].to_owned()));
                    rest = &rest[at..];
                }
                None => {
                    pieces.push(Piece::Literal(rest.to_owned()));
                    rest = "";
                }
            }
        }
        let has = |field: Field| pieces.contains(&Piece::Field(field));
        if !(has(Field::Datetime) || (has(Field::Date) && has(Field::Time))) {
            return Err("the log layout needs $datetime, or $date and $time".into());
        }
        if !(has(Field::Request) || has(Field::Path)) {
            return Err("the log layout needs $request or $path".into());
        }
        if !has(Field::Status) {
            return Err("the log layout needs $status".into());
        }
        Ok(Self { pieces })
    }

    /// Reads one line.
    pub(crate) fn read<'a>(&self, line: &'a str) -> Result<LogRecord<'a>, LineError> {
        let layout = || LineError::Layout("log:");
        let mut rest = line.trim_end_matches(['\r', '\n']);
        let mut values: Vec<(Field, &str)> = Vec::with_capacity(self.pieces.len());
        for (index, piece) in self.pieces.iter().enumerate() {
            match piece {
                Piece::Literal(text) => {
                    rest = rest.strip_prefix(text.as_str()).ok_or_else(layout)?;
                }
                Piece::Field(field) => {
                    let end = match self.pieces.get(index + 1) {
                        Some(Piece::Literal(next)) => {
                            rest.find(next.as_str()).ok_or_else(layout)?
                        }
                        _ => rest.len(),
                    };
                    values.push((*field, &rest[..end]));
                    rest = &rest[end..];
                }
            }
        }
        let value = |wanted: Field| {
            values
                .iter()
                .find(|(field, _)| *field == wanted)
                .map(|(_, value)| *value)
        };
        let timestamp_ms = match value(Field::Datetime) {
            Some(datetime) => {
                let datetime = datetime.trim_matches(['[', ']']);
                clf_time::parse_clf(datetime)
                    .or_else(|_| clf_time::parse_rfc3339(datetime))
                    .or_else(|_| clf_time::parse_unix(datetime))?
            }
            None => clf_time::parse_date_time(
                value(Field::Date).unwrap_or_default(),
                value(Field::Time).unwrap_or_default(),
            )?,
        };
        let (method, target) = match value(Field::Request) {
            Some(request) => split_request(Cow::Borrowed(request))?,
            None => {
                let path = value(Field::Path)
                    .and_then(dash_is_none)
                    .ok_or_else(|| LineError::field("path", ""))?;
                let target = match value(Field::Query).and_then(dash_is_none) {
                    Some(query) => Cow::Owned(format!("{path}?{}", query.trim_start_matches('?'))),
                    None => Cow::Borrowed(path),
                };
                let method = value(Field::Method).and_then(dash_is_none).unwrap_or("GET");
                (Cow::Borrowed(method), target)
            }
        };
        let status_text = value(Field::Status).unwrap_or_default();
        let status = status_text
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|s| (100..=599).contains(s))
            .ok_or_else(|| LineError::field("status", status_text))?;
        let ip = value(Field::Xff)
            .and_then(|list| list.split(',').next())
            .and_then(ip_of)
            .or_else(|| value(Field::RemoteAddr).and_then(ip_of));
        let text = |field: Field| value(field).and_then(dash_is_none).map(Cow::Borrowed);
        Ok(LogRecord {
            timestamp_ms,
            ip,
            method,
            host: text(Field::Host),
            target,
            status,
            referrer: text(Field::Referrer),
            user_agent: text(Field::UserAgent),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_are_checked_when_given() {
        assert!(FieldLayout::parse("$datetime $request $status").is_ok());
        let unknown = FieldLayout::parse("$datetime $request $status $nope").unwrap_err();
        assert!(
            unknown.contains("$nope") && unknown.contains("$user_agent"),
            "{unknown}"
        );
        assert!(
            FieldLayout::parse("$datetime$request $status")
                .unwrap_err()
                .contains("directly")
        );
        assert!(
            FieldLayout::parse("$request $status")
                .unwrap_err()
                .contains("$datetime")
        );
        assert!(
            FieldLayout::parse("$datetime $status")
                .unwrap_err()
                .contains("$request")
        );
        assert!(
            FieldLayout::parse("$datetime $request")
                .unwrap_err()
                .contains("$status")
        );
    }

    #[test]
    fn a_line_is_read_field_by_field() {
        let layout = FieldLayout::parse(
            "$date $time $remote_addr $method $path $query $status \"$referrer\" \"$user_agent\" $ignore",
        )
        .unwrap();
        let record = layout
            .read(
                "2024-03-10 10:00:01 2001:db8::1 GET /a utm_source=x 200 \"-\" \"Firefox/1\" 0.003",
            )
            .unwrap();
        assert_eq!(record.timestamp_ms, 1_710_064_801_000);
        assert_eq!(record.target, "/a?utm_source=x");
        assert_eq!(record.referrer, None);
        assert_eq!(record.user_agent.as_deref(), Some("Firefox/1"));
        assert_eq!(record.ip, "2001:db8::1".parse().ok());
        assert!(
            layout
                .read("2024-03-10 10:00:01 x GET /a - 200 \"-\"")
                .is_err()
        );
    }
}
