//! Which logged requests are page views. A successful (2xx, or 304 Not
//! Modified: a revisit served from the browser's cache) `GET` of a page is
//! one; by default these are not, each counted under its reason:
//!
//! - another method (`HEAD`, `POST`, ...);
//! - a redirect (3xx but 304) or an error (4xx, 5xx, and 1xx);
//! - a static file, by its extension (`.css`, `.js`, images, fonts, feeds,
//!   archives, ...), unless static files are included;
//! - a path an `--exclude` pattern rules out. A pattern is `glob:PATTERN`
//!   (the default without a prefix; `*` matches within a path segment, `**`
//!   across segments, `?` one character) or `re:REGEX` (Rust regex syntax,
//!   unanchored). Prefixed with `!` a pattern keeps instead: when any `!`
//!   pattern is given, only paths matching one of them count.
//!
//! Patterns see the path without its query. Bots are judged elsewhere, by
//! user agent, exactly as the tracker's events are.

use regex::Regex;

use super::LogRecord;

/// Extensions of files that are not pages.
const STATIC_EXTENSIONS: &[&str] = &[
    "7z",
    "avif",
    "bmp",
    "br",
    "css",
    "csv",
    "doc",
    "docx",
    "eot",
    "epub",
    "flac",
    "gif",
    "gz",
    "ico",
    "jpeg",
    "jpg",
    "js",
    "json",
    "m4a",
    "m4v",
    "map",
    "mjs",
    "mov",
    "mp3",
    "mp4",
    "ogg",
    "otf",
    "pdf",
    "png",
    "rar",
    "rss",
    "svg",
    "tar",
    "tgz",
    "ttf",
    "txt",
    "wasm",
    "wav",
    "webm",
    "webmanifest",
    "webp",
    "woff",
    "woff2",
    "xls",
    "xlsx",
    "xml",
    "zip",
    "zst",
];

/// Why a request is not a page view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// Not a `GET`.
    Method,
    /// A redirect (3xx other than 304).
    Redirect,
    /// An error or informational status.
    Error,
    /// A static file.
    Static,
    /// Ruled out by an `--exclude` pattern.
    Excluded,
    /// A bot, by its user agent.
    Bot,
    /// A day of imported aggregates on or after the site's first day of
    /// native data (the overlap rule: such a day is counted natively).
    NativeData,
}

impl SkipReason {
    /// The reason as reports name it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Method => "not GET",
            Self::Redirect => "redirect",
            Self::Error => "error status",
            Self::Static => "static file",
            Self::Excluded => "excluded",
            Self::Bot => "bot",
            Self::NativeData => "day with native data",
        }
    }
}

/// What the filter decided about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A page view.
    PageView,
    /// Not one, and why.
    Skip(SkipReason),
}

/// One `--exclude` pattern.
#[derive(Debug, Clone)]
pub struct ExcludePattern {
    regex: Regex,
    keep: bool,
}

impl ExcludePattern {
    /// Parses `glob:...`, `re:...` or a bare glob, each optionally
    /// prefixed with `!`.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let (keep, body) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        let regex = if let Some(re) = body.strip_prefix("re:") {
            Regex::new(re).map_err(|e| format!("bad --exclude regex {re:?}: {e}"))?
        } else {
            let glob = body.strip_prefix("glob:").unwrap_or(body);
            if glob.is_empty() {
                return Err("an --exclude pattern must not be empty".into());
            }
            Regex::new(&glob_to_regex(glob))
                .map_err(|e| format!("bad --exclude glob {glob:?}: {e}"))?
        };
        Ok(Self { regex, keep })
    }
}

/// A glob as an anchored regex.
fn glob_to_regex(glob: &str) -> String {
    let mut out = String::from("^");
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                out.push_str(".*");
            }
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            other => out.push_str(&regex::escape(&other.to_string())),
        }
    }
    out.push('$');
    out
}

/// The rules a log import applies to each request.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    include_static: bool,
    exclude: Vec<ExcludePattern>,
    keep: Vec<ExcludePattern>,
}

impl LogFilter {
    /// A filter with `patterns` (see [`ExcludePattern::parse`]); static
    /// files count when `include_static` is set.
    pub fn new(include_static: bool, patterns: Vec<ExcludePattern>) -> Self {
        let (keep, exclude) = patterns.into_iter().partition(|p| p.keep);
        Self {
            include_static,
            exclude,
            keep,
        }
    }

    /// The verdict on `record` (bots aside).
    pub fn verdict(&self, record: &LogRecord<'_>) -> Verdict {
        if record.method != "GET" {
            return Verdict::Skip(SkipReason::Method);
        }
        match record.status {
            200..=299 | 304 => {}
            300..=399 => return Verdict::Skip(SkipReason::Redirect),
            _ => return Verdict::Skip(SkipReason::Error),
        }
        let path = record.target.split(['?', '#']).next().unwrap_or_default();
        if !self.include_static && is_static(path) {
            return Verdict::Skip(SkipReason::Static);
        }
        if self.exclude.iter().any(|p| p.regex.is_match(path))
            || (!self.keep.is_empty() && !self.keep.iter().any(|p| p.regex.is_match(path)))
        {
            return Verdict::Skip(SkipReason::Excluded);
        }
        Verdict::PageView
    }
}

/// Whether the last segment of `path` has a static file's extension.
fn is_static(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or_default();
    last.rsplit_once('.').is_some_and(|(stem, extension)| {
        !stem.is_empty()
            && STATIC_EXTENSIONS
                .binary_search(&extension.to_ascii_lowercase().as_str())
                .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn record(method: &str, target: &str, status: u16) -> LogRecord<'static> {
        LogRecord {
            timestamp_ms: 0,
            ip: None,
            method: Cow::Owned(method.into()),
            host: None,
            target: Cow::Owned(target.into()),
            status,
            referrer: None,
            user_agent: None,
        }
    }

    #[test]
    fn the_extension_list_is_sorted_for_binary_search() {
        assert!(STATIC_EXTENSIONS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn only_successful_gets_of_pages_count() {
        let filter = LogFilter::default();
        let verdict = |method, target, status| filter.verdict(&record(method, target, status));
        assert_eq!(verdict("GET", "/", 200), Verdict::PageView);
        assert_eq!(
            verdict("GET", "/blog/post?utm_source=x", 200),
            Verdict::PageView
        );
        assert_eq!(verdict("GET", "/blog/v1.2/", 200), Verdict::PageView);
        assert_eq!(verdict("GET", "/about", 304), Verdict::PageView);
        assert_eq!(verdict("HEAD", "/", 200), Verdict::Skip(SkipReason::Method));
        assert_eq!(
            verdict("POST", "/form", 200),
            Verdict::Skip(SkipReason::Method)
        );
        assert_eq!(
            verdict("GET", "/old", 301),
            Verdict::Skip(SkipReason::Redirect)
        );
        assert_eq!(
            verdict("GET", "/missing", 404),
            Verdict::Skip(SkipReason::Error)
        );
        assert_eq!(
            verdict("GET", "/boom", 500),
            Verdict::Skip(SkipReason::Error)
        );
        assert_eq!(
            verdict("GET", "/style.CSS?v=3", 200),
            Verdict::Skip(SkipReason::Static)
        );
        assert_eq!(
            verdict("GET", "/img/a.webp", 200),
            Verdict::Skip(SkipReason::Static)
        );
        assert_eq!(verdict("GET", "/.well-known/x", 200), Verdict::PageView);
        let with_static = LogFilter::new(true, Vec::new());
        assert_eq!(
            with_static.verdict(&record("GET", "/a.pdf", 200)),
            Verdict::PageView
        );
    }

    #[test]
    fn exclude_patterns_rule_out_and_negated_ones_keep() {
        let patterns = ["glob:/admin/**", "re:^/api/", "/tmp/*.html"]
            .iter()
            .map(|p| ExcludePattern::parse(p).unwrap())
            .collect();
        let filter = LogFilter::new(false, patterns);
        let verdict = |target| filter.verdict(&record("GET", target, 200));
        assert_eq!(
            verdict("/admin/users/1"),
            Verdict::Skip(SkipReason::Excluded)
        );
        assert_eq!(verdict("/api/v1?x"), Verdict::Skip(SkipReason::Excluded));
        assert_eq!(verdict("/tmp/a.html"), Verdict::Skip(SkipReason::Excluded));
        assert_eq!(
            verdict("/tmp/sub/a.html"),
            Verdict::PageView,
            "* stays in its segment"
        );
        assert_eq!(verdict("/administration"), Verdict::PageView);

        let only_blog = LogFilter::new(
            false,
            vec![ExcludePattern::parse("!glob:/blog/**").unwrap()],
        );
        assert_eq!(
            only_blog.verdict(&record("GET", "/blog/a", 200)),
            Verdict::PageView
        );
        assert_eq!(
            only_blog.verdict(&record("GET", "/shop", 200)),
            Verdict::Skip(SkipReason::Excluded)
        );
        assert!(ExcludePattern::parse("re:(").unwrap_err().contains("regex"));
        assert!(ExcludePattern::parse("glob:").is_err());
    }
}
