//! The remote side of a pull: the remote's sites and feed pages over HTTP,
//! with the key as a bearer token, and every way that can fail told apart
//! (a refused key, an unreachable server, a TLS failure, an answer that is
//! not a Mallard feed).

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use serde::Deserialize;

use crate::routes::feed::FeedBody;

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long connecting may take (a server that is down answers at once; one
/// behind a dead route would hold a pull, and a server's shutdown, longer).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The URL is not an http(s) URL.
    #[error("{0}")]
    BadUrl(String),
    /// The remote refused the key (401 or 403).
    #[error(
        "{url} refused the key ({status}: {message}); check it, and that it has at least the ReadOnly scope"
    )]
    Refused {
        /// The remote's base URL.
        url: String,
        /// The status.
        status: u16,
        /// The remote's message.
        message: String,
    },
    /// The remote could not be reached (connection refused, DNS, timeout).
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// The remote's base URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The TLS handshake failed (certificate not trusted, expired, wrong host).
    #[error("TLS error talking to {url}: {reason}")]
    Tls {
        /// The remote's base URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The remote does not know the site.
    #[error("{url} has no site {site}")]
    UnknownSite {
        /// The remote's base URL.
        url: String,
        /// The site asked for.
        site: String,
    },
    /// The remote answered with another error status.
    #[error("{url} answered {status}: {message}")]
    Remote {
        /// The remote's base URL.
        url: String,
        /// The status.
        status: u16,
        /// The remote's message.
        message: String,
    },
    /// The answer is not what a Mallard server sends.
    #[error("{url} did not answer as a Mallard server with an event feed does: {reason}")]
    NotMallard {
        /// The remote's base URL.
        url: String,
        /// What was wrong with the answer.
        reason: String,
    },
    /// The store refused a write.
    #[error(transparent)]
    Store(#[from] mallard_store::StoreError),
    /// The writer refused a page of events.
    #[error("writing the pulled events failed: {0}")]
    Write(#[from] mallard_store::error::WriteFailure),
    /// Stopped on request (a shutdown).
    #[error("the pull was stopped")]
    Stopped,
}

impl PullError {
    /// Whether trying again later may succeed without a change here (the
    /// remote was down or busy), as opposed to a wrong key or URL.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Write(_) | Self::Stopped => true,
            Self::Remote { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            _ => false,
        }
    }
}

/// The body of the remote's `/api/sites`, as far as a pull reads it.
#[derive(Debug, Deserialize)]
struct RemoteSite {
    site_id: String,
    #[serde(default)]
    time_zone: Option<String>,
}

/// The remote's error body (`{"error": "..."}`).
#[derive(Debug, Deserialize)]
struct RemoteError {
    error: String,
}

/// The base URL of a remote Mallard as it is stored and compared:
/// http(s) with a host, no query or fragment, and a path ending in `/`.
fn normalize_base(base: &str) -> Result<url::Url, PullError> {
    let mut parsed = url::Url::parse(base.trim())
        .map_err(|err| PullError::BadUrl(format!("{base} is not a URL: {err}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(PullError::BadUrl(format!(
            "{base} is not an http:// or https:// URL of a server"
        )));
    }
    if !parsed.path().ends_with('/') {
        let path = format!("{}/", parsed.path());
        parsed.set_path(&path);
    }
    parsed.set_query(None);
    parsed.set_fragment(None);
    Ok(parsed)
}

/// `base` as [`FeedClient::base`] will show it, or why it is no server URL.
pub fn base_url(base: &str) -> Result<String, PullError> {
    Ok(normalize_base(base)?
        .as_str()
        .trim_end_matches('/')
        .to_owned())
}

/// A remote Mallard's feed, read with one key.
#[derive(Debug, Clone)]
pub struct FeedClient {
    http: Client,
    base: url::Url,
    key: String,
}

impl FeedClient {
    /// A client for the Mallard at `base` (`https://stats.example.com`, a
    /// path prefix allowed), reading with `key`. Builds a blocking client:
    /// call it outside an async task.
    pub fn new(base: &str, key: &str) -> Result<Self, PullError> {
        let parsed = normalize_base(base)?;
        let http = Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("mallard-pull/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| PullError::Tls {
                url: base.to_owned(),
                reason: err.to_string(),
            })?;
        Ok(Self {
            http,
            base: parsed,
            key: key.trim().to_owned(),
        })
    }

    /// The base URL, as normalised.
    pub fn base(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// The sites the key may read, with their time zones (UTC when the
    /// remote names none this install knows).
    pub fn sites(&self) -> Result<Vec<(String, mallard_core::SiteTimeZone)>, PullError> {
        let response = self.get("api/sites", &[])?;
        let sites: Vec<RemoteSite> = self.json(response)?;
        Ok(sites
            .into_iter()
            .map(|s| {
                let zone = s
                    .time_zone
                    .and_then(|name| mallard_core::SiteTimeZone::parse(&name).ok())
                    .unwrap_or_else(mallard_core::SiteTimeZone::utc);
                (s.site_id, zone)
            })
            .collect())
    }

    /// The page of `site`'s feed after `after`, about `limit` events.
    pub fn page(&self, site: &str, after: i64, limit: usize) -> Result<FeedBody, PullError> {
        let response = self.get(
            "api/events/feed",
            &[
                ("site_id", site.to_owned()),
                ("after", after.to_string()),
                ("limit", limit.to_string()),
            ],
        );
        match response {
            Err(PullError::Remote {
                status: 404,
                message,
                ..
            }) if message.starts_with("Unknown site") => Err(PullError::UnknownSite {
                url: self.base().to_owned(),
                site: site.to_owned(),
            }),
            Err(PullError::Remote { status: 404, .. }) => Err(PullError::NotMallard {
                url: self.base().to_owned(),
                reason: "it has no /api/events/feed (is it a Mallard server, and new enough?)"
                    .into(),
            }),
            Err(other) => Err(other),
            Ok(response) => self.json(response),
        }
    }

    fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Response, PullError> {
        let url = self
            .base
            .join(path)
            .map_err(|err| PullError::BadUrl(err.to_string()))?;
        let response = self
            .http
            .get(url)
            .bearer_auth(&self.key)
            .query(query)
            .send()
            .map_err(|err| self.transport(&err))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let message = response
            .json::<RemoteError>()
            .map(|body| body.error)
            .unwrap_or_else(|_| status.canonical_reason().unwrap_or("").to_owned());
        let url = self.base().to_owned();
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => PullError::Refused {
                url,
                status: status.as_u16(),
                message,
            },
            _ => PullError::Remote {
                url,
                status: status.as_u16(),
                message,
            },
        })
    }

    fn json<T: serde::de::DeserializeOwned>(&self, response: Response) -> Result<T, PullError> {
        let bytes = response.bytes().map_err(|err| self.transport(&err))?;
        serde_json::from_slice(&bytes).map_err(|err| PullError::NotMallard {
            url: self.base().to_owned(),
            reason: err.to_string(),
        })
    }

    /// A failure below HTTP: TLS when a cause in its chain is a rustls
    /// error (a certificate not trusted, expired or for another host, or a
    /// server that does not speak TLS), the server unreachable otherwise.
    fn transport(&self, err: &reqwest::Error) -> PullError {
        let mut reason = err.to_string();
        let mut tls = false;
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            reason = format!("{reason}: {cause}");
            tls |= is_tls(cause);
            source = cause.source();
        }
        let url = self.base().to_owned();
        if tls {
            PullError::Tls { url, reason }
        } else {
            PullError::Unreachable { url, reason }
        }
    }
}

/// Whether `cause` is a rustls error, or an I/O error carrying one (as the
/// TLS stream reports them; `io::Error::source` skips the error it wraps),
/// however deeply wrapped.
fn is_tls(cause: &(dyn std::error::Error + 'static)) -> bool {
    if cause.downcast_ref::<rustls::Error>().is_some() {
        return true;
    }
    let Some(inner) = cause
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
    else {
        return false;
    };
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(inner);
    while let Some(error) = next {
        if is_tls(error) {
            return true;
        }
        next = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_of_a_server_are_taken() {
        for bad in [
            "ftp://x.test",
            "not a url",
            "file:///tmp/x",
            "mailto:a@b.test",
        ] {
            assert!(
                matches!(FeedClient::new(bad, "k"), Err(PullError::BadUrl(_))),
                "{bad}"
            );
        }
        let client = FeedClient::new(" https://stats.test/mallard?x=1 ", "k").unwrap();
        assert_eq!(client.base(), "https://stats.test/mallard");
        assert_eq!(
            FeedClient::new("http://127.0.0.1:9", "k").unwrap().base(),
            "http://127.0.0.1:9"
        );
    }

    #[test]
    fn an_unreachable_server_is_told_apart_and_worth_retrying() {
        // Port 9 (discard) on loopback is closed on this kind of machine.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = FeedClient::new(&format!("http://127.0.0.1:{port}"), "k")
            .unwrap()
            .sites()
            .unwrap_err();
        assert!(matches!(err, PullError::Unreachable { .. }), "{err}");
        assert!(err.is_transient());
        assert!(
            err.to_string()
                .starts_with("cannot reach http://127.0.0.1:"),
            "{err}"
        );
        let refused = PullError::Refused {
            url: "x".into(),
            status: 401,
            message: "m".into(),
        };
        assert!(!refused.is_transient());
    }
}

#[cfg(test)]
mod tls_tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn a_server_that_does_not_speak_tls_is_a_tls_error_not_an_unreachable_one() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut buf = [0u8; 512];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
            }
        });
        let err = FeedClient::new(&format!("https://127.0.0.1:{port}"), "k")
            .unwrap()
            .sites()
            .unwrap_err();
        server.join().unwrap();
        assert!(matches!(err, PullError::Tls { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("TLS error talking to https://127.0.0.1:{port}")),
            "{err}"
        );
        assert!(
            !err.is_transient(),
            "a TLS failure needs a change of settings"
        );
    }
}
