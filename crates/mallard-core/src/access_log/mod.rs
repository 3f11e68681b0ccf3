//! Server access logs: one line to one [`LogRecord`], in the formats web
//! servers and CDNs write, and which of them count as page views.
//!
//! - [`LogFormat::Common`], [`LogFormat::Combined`] and
//!   [`LogFormat::CombinedVhost`]: the NCSA formats of Apache, nginx,
//!   lighttpd and most others ([`ncsa`]).
//! - [`LogFormat::Caddy`]: Caddy's JSON access log ([`caddy`]).
//! - [`LogFormat::Cloudfront`]: Amazon CloudFront's standard (W3C, tab
//!   separated) log, its columns named by its `#Fields:` line ([`w3c`]).
//! - [`LogFormat::Bunny`]: bunny.net's pipe-separated log ([`bunny`]).
//! - [`LogFormat::Fields`]: any other line layout, described with `$name`
//!   fields and literal text (`log:$remote_addr [$datetime] "$request" ...`,
//!   see [`fields`]).
//!
//! [`detect`] picks a format from a file's first lines. Parsing borrows from
//! the line wherever it can, so that a line costs no allocation when its
//! fields need no unescaping. What a record means for the stats (page view
//! or not, and why not) is [`filter`]'s job.

mod bunny;
mod caddy;
pub(crate) mod clf_time;
pub mod fields;
pub mod filter;
mod ncsa;
mod w3c;

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

pub use fields::FieldLayout;
pub use filter::{ExcludePattern, LogFilter, Verdict};
pub use w3c::W3cColumns;

/// One request read from a log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord<'a> {
    /// When the request was served, in ms since the Unix epoch (UTC).
    pub timestamp_ms: i64,
    /// The client's address, when the line names a valid one.
    pub ip: Option<IpAddr>,
    /// The request method (`GET`).
    pub method: Cow<'a, str>,
    /// The host the request was for, when the log says.
    pub host: Option<Cow<'a, str>>,
    /// The request target: path and query (`/blog?utm_source=x`).
    pub target: Cow<'a, str>,
    /// The response status.
    pub status: u16,
    /// The `Referer` header, when there was one.
    pub referrer: Option<Cow<'a, str>>,
    /// The `User-Agent` header, when there was one.
    pub user_agent: Option<Cow<'a, str>>,
}

/// Why a line could not be read. Such lines are counted and reported by
/// line number; they never stop an import.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The line does not have the layout of the format.
    #[error("not a {0} log line")]
    Layout(&'static str),
    /// A field has a value the format does not allow.
    #[error("bad {field}: {value:?}")]
    Field {
        /// The field.
        field: &'static str,
        /// The value, cut to 64 characters.
        value: String,
    },
}

impl LineError {
    /// A bad value of `field`, quoted briefly.
    pub fn field(field: &'static str, value: &str) -> Self {
        Self::Field {
            field,
            value: value.chars().take(64).collect(),
        }
    }
}

/// A log format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFormat {
    /// NCSA common: `host ident user [time] "request" status bytes`.
    Common,
    /// NCSA combined: common plus `"referrer" "user agent"`.
    Combined,
    /// Combined preceded by the virtual host (`host[:port] `), as Apache's
    /// `vhost_combined` and many nginx setups write it.
    CombinedVhost,
    /// Caddy's structured (JSON) access log.
    Caddy,
    /// Amazon CloudFront standard logs (W3C extended, tab separated); the
    /// columns are those of the file's `#Fields:` line, or CloudFront's
    /// documented order until one is seen.
    Cloudfront(W3cColumns),
    /// bunny.net's pipe-separated log.
    Bunny,
    /// A layout described field by field (`log:...`).
    Fields(FieldLayout),
}

impl LogFormat {
    /// The format's name as the command line spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Common => "common",
            Self::Combined => "combined",
            Self::CombinedVhost => "combined-vhost",
            Self::Caddy => "caddy",
            Self::Cloudfront(_) => "cloudfront",
            Self::Bunny => "bunny",
            Self::Fields(_) => "log",
        }
    }

    /// Reads one line (without its line ending). `#` comment lines of the
    /// W3C format update the columns (`#Fields:`) and read as `Ok(None)`, as
    /// does an empty line.
    pub fn parse<'a>(&mut self, line: &'a str) -> Result<Option<LogRecord<'a>>, LineError> {
        if line.trim().is_empty() {
            return Ok(None);
        }
        match self {
            Self::Common => ncsa::parse(line, ncsa::Variant::Common).map(Some),
            Self::Combined => ncsa::parse(line, ncsa::Variant::Combined).map(Some),
            Self::CombinedVhost => ncsa::parse(line, ncsa::Variant::Vhost).map(Some),
            Self::Caddy => caddy::parse(line).map(Some),
            Self::Cloudfront(columns) => columns.parse(line),
            Self::Bunny => bunny::parse(line).map(Some),
            Self::Fields(layout) => layout.read(line).map(Some),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What `--format` accepts: a format, or `auto`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatChoice {
    /// Detect the format from the first lines ([`detect`]).
    Auto,
    /// This format.
    Fixed(LogFormat),
}

impl FromStr for FormatChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::Fixed(match s {
            "auto" => return Ok(Self::Auto),
            "common" => LogFormat::Common,
            "combined" => LogFormat::Combined,
            "combined-vhost" => LogFormat::CombinedVhost,
            "caddy" => LogFormat::Caddy,
            "cloudfront" => LogFormat::Cloudfront(W3cColumns::cloudfront()),
            "bunny" => LogFormat::Bunny,
            other => match other.strip_prefix("log:") {
                Some(layout) => LogFormat::Fields(FieldLayout::parse(layout)?),
                None => {
                    return Err(format!(
                        "unknown log format {other:?}: expected auto, combined, common, \
                         combined-vhost, caddy, cloudfront, bunny or log:<fields>"
                    ));
                }
            },
        }))
    }
}

/// The format that reads the most of `lines` (a file's first lines), or
/// `None` when no format reads any of them. On a tie the more specific
/// format wins (combined-vhost before combined before common).
pub fn detect<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<LogFormat> {
    let lines: Vec<&str> = lines
        .into_iter()
        .filter(|line| !line.trim().is_empty())
        .take(50)
        .collect();
    if lines
        .iter()
        .any(|line| line.starts_with("#Version:") || line.starts_with("#Fields:"))
    {
        return Some(LogFormat::Cloudfront(W3cColumns::cloudfront()));
    }
    let candidates = [
        LogFormat::Caddy,
        LogFormat::Bunny,
        LogFormat::CombinedVhost,
        LogFormat::Combined,
        LogFormat::Common,
    ];
    let mut best: Option<(usize, LogFormat)> = None;
    for mut candidate in candidates {
        let read = lines
            .iter()
            .filter(|line| matches!(candidate.parse(line), Ok(Some(_))))
            .count();
        if read > 0 && best.as_ref().is_none_or(|(most, _)| read > *most) {
            best = Some((read, candidate));
        }
    }
    best.map(|(_, format)| format)
}

/// A field that logs write as `-` when it is empty.
pub(crate) fn dash_is_none(value: &str) -> Option<&str> {
    match value {
        "" | "-" => None,
        other => Some(other),
    }
}

/// An IP address from a log field; `None` for `-` or anything else that is
/// not an address (a host name, say). A `host:port` or `[v6]:port` pair is
/// read as its address.
pub(crate) fn ip_of(value: &str) -> Option<IpAddr> {
    let value = value.trim();
    if let Ok(ip) = value.parse() {
        return Some(ip);
    }
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok());
    }
    value
        .rsplit_once(':')
        .and_then(|(ip, port)| port.parse::<u16>().ok().and(ip.parse().ok()))
}

#[cfg(test)]
mod tests;
