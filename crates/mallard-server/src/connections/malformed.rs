//! The family's JSON answer to a malformed request.
//!
//! hyper answers a request it cannot parse (bad header bytes, a duplicate
//! `Content-Length`, an over-long URI, headers over the buffer size) itself,
//! with an empty 400, 414 or 431 and no security headers, and then closes the
//! connection; the router never sees the request. [`AnswerMalformed`] wraps
//! the connection's socket: it remembers the first bytes of the request being
//! read, recognises hyper's bare answer when it is written and writes, in its
//! place, the same status with the JSON error body of the family the request's
//! path belongs to (the Mallard family when the path cannot be read), the
//! security headers and `Connection: close`.
//!
//! hyper's bare answer is recognised by its status line (400, 414 or 431) and
//! by the missing `X-Content-Type-Options` header, which every answer of the
//! router carries (see [`crate::layers::security_headers`]).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::raw_response::{error_body, json_response};
use crate::layers::family::Family;

/// How many bytes of a request are kept to find its path.
const REQUEST_START_BYTES: usize = 512;

/// A socket whose bare parse-error answers from hyper are replaced by JSON ones.
#[derive(Debug)]
pub struct AnswerMalformed<T> {
    inner: T,
    /// The first bytes of the request being read.
    request_start: Vec<u8>,
    /// Whether a response was written since the last read, so the next bytes
    /// read begin a new request.
    responded: bool,
    /// A replacement answer still to be written to `inner`, and how much of it
    /// is written.
    replacement: Vec<u8>,
    replacement_written: usize,
}

impl<T> AnswerMalformed<T> {
    /// Wraps the socket `inner`.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            request_start: Vec::new(),
            responded: false,
            replacement: Vec::new(),
            replacement_written: 0,
        }
    }

    fn note_read(&mut self, read: &[u8]) {
        if self.responded {
            self.request_start.clear();
            self.responded = false;
        }
        let room = REQUEST_START_BYTES.saturating_sub(self.request_start.len());
        self.request_start
            .extend_from_slice(&read[..read.len().min(room)]);
    }

    /// Queues the JSON answer that replaces hyper's bare `status` answer.
    fn replace(&mut self, status: StatusCode) {
        let family = request_path(&self.request_start).map_or(Family::Mallard, Family::of_path);
        let message = match status {
            StatusCode::URI_TOO_LONG => "Request URI too long",
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "Request headers too large",
            _ => "Malformed HTTP request",
        };
        self.replacement = json_response(status, &error_body(family, status, message), &[]);
        self.replacement_written = 0;
    }
}

impl<T: AsyncWrite + Unpin> AnswerMalformed<T> {
    /// Writes what is left of a replacement answer.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.replacement_written < self.replacement.len() {
            let rest = &self.replacement[self.replacement_written..];
            let written = ready!(Pin::new(&mut self.inner).poll_write(cx, rest))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.replacement_written += written;
        }
        if !self.replacement.is_empty() {
            self.replacement = Vec::new();
            self.replacement_written = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for AnswerMalformed<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled
            && buf.filled().len() > before
        {
            this.note_read(&buf.filled()[before..]);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for AnswerMalformed<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        this.responded = true;
        if let Some(status) = bare_parse_error_status(buf) {
            this.replace(status);
            // hyper's answer counts as written; the replacement goes out in
            // its place now or on the flush that follows.
            if let Poll::Ready(Err(err)) = this.poll_replacement(cx) {
                return Poll::Ready(Err(err));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        this.responded = true;
        let mut non_empty = bufs.iter().filter(|buf| !buf.is_empty());
        if let (Some(only), None) = (non_empty.next(), non_empty.next())
            && let Some(status) = bare_parse_error_status(only)
        {
            this.replace(status);
            if let Poll::Ready(Err(err)) = this.poll_replacement(cx) {
                return Poll::Ready(Err(err));
            }
            return Poll::Ready(Ok(only.len()));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// The status of `written` when it is hyper's own answer to a request it could
/// not parse: a 400, 414 or 431 head without the security headers.
fn bare_parse_error_status(written: &[u8]) -> Option<StatusCode> {
    let rest = written.strip_prefix(b"HTTP/1.1 ")?;
    let status = match rest.get(..4)? {
        b"400 " => StatusCode::BAD_REQUEST,
        b"414 " => StatusCode::URI_TOO_LONG,
        b"431 " => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        _ => return None,
    };
    let head_end = written.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = written[..head_end].to_ascii_lowercase();
    let marked = head
        .windows(b"x-content-type-options".len())
        .any(|w| w == b"x-content-type-options");
    (!marked).then_some(status)
}

/// The path of the request line at the start of `request`, when it can be
/// read (origin form or absolute form).
fn request_path(request: &[u8]) -> Option<&str> {
    let line_end = request
        .iter()
        .position(|b| matches!(b, b'\r' | b'\n'))
        .unwrap_or(request.len());
    let line = &request[..line_end];
    let target = &line[line.iter().position(|b| *b == b' ')? + 1..];
    let target_end = target
        .iter()
        .position(|b| matches!(b, b' ' | b'?' | b'#'))
        .unwrap_or(target.len());
    let target = std::str::from_utf8(&target[..target_end]).ok()?;
    let path = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |slash| &rest[slash..]),
        None => target,
    };
    path.starts_with('/').then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyper_answers_are_told_from_the_router_answers() {
        let bare = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(bare_parse_error_status(bare), Some(StatusCode::BAD_REQUEST));
        let routed = b"HTTP/1.1 400 Bad Request\r\nx-content-type-options: nosniff\r\n\r\n{}";
        assert_eq!(bare_parse_error_status(routed), None);
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(bare_parse_error_status(ok), None);
        assert_eq!(bare_parse_error_status(b"{\"a\": 1}"), None);
    }

    #[test]
    fn the_path_is_read_from_the_request_line() {
        assert_eq!(
            request_path(b"POST /events?x=1 HTTP/1.1\r\n"),
            Some("/events")
        );
        assert_eq!(request_path(b"GET /api/event HTTP/1.1"), Some("/api/event"));
        assert_eq!(
            request_path(b"GET http://localhost:8000/v1/events HTTP/1.1\r\n"),
            Some("/v1/events")
        );
        assert_eq!(request_path(b"GET /aaaa"), Some("/aaaa"));
        assert_eq!(request_path(b"GARBAGE\r\n"), None);
        assert_eq!(request_path(b"GET * HTTP/1.1\r\n"), None);
    }

    /// A socket whose peer sent `incoming` and that records what is written.
    struct Recorded {
        incoming: Vec<u8>,
        written: Vec<u8>,
    }

    impl AsyncRead for Recorded {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            let take = this.incoming.len().min(buf.remaining());
            buf.put_slice(&this.incoming[..take]);
            this.incoming.drain(..take);
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Recorded {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            // A short write: the replacement must be finished on later polls.
            let take = buf.len().min(16);
            self.get_mut().written.extend_from_slice(&buf[..take]);
            Poll::Ready(Ok(take))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_bare_answer_is_replaced_by_the_family_json_answer() {
        let mut wrapped = AnswerMalformed::new(Recorded {
            incoming: b"POST /events HTTP/1.1\r\nbad\x01: x\r\n\r\n".to_vec(),
            written: Vec::new(),
        });
        let mut request = [0u8; 128];
        let mut buf = ReadBuf::new(&mut request);
        std::future::poll_fn(|cx| Pin::new(&mut wrapped).poll_read(cx, &mut buf))
            .await
            .unwrap();
        let bare = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        let written = std::future::poll_fn(|cx| Pin::new(&mut wrapped).poll_write(cx, bare))
            .await
            .unwrap();
        assert_eq!(written, bare.len());
        std::future::poll_fn(|cx| Pin::new(&mut wrapped).poll_flush(cx))
            .await
            .unwrap();
        let answer = String::from_utf8(wrapped.inner.written).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains("x-content-type-options: nosniff"), "{head}");
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"]["code"], "invalid_request");
    }
}
