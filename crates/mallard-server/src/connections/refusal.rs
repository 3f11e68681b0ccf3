//! The answer to a connection over the cap: 503 with `Retry-After` and a JSON
//! body, written without reading the request, then the connection closes.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use super::raw_response::{error_body, json_response};
use crate::layers::family::Family;

/// How many refusals may be in flight at once; beyond that, connections over
/// the cap are closed without an answer, so a flood of them cannot hold more
/// than this many extra sockets.
pub const REFUSALS_AT_ONCE: usize = 64;

/// How long a refused connection is kept to deliver its answer.
const REFUSAL_TIME: Duration = Duration::from_secs(2);

/// The seconds a refused client is told to wait.
const RETRY_AFTER_SECS: &str = "1";

/// Hands refusals to tasks, at most [`REFUSALS_AT_ONCE`] at a time.
#[derive(Debug)]
pub struct Refusals {
    in_flight: Arc<Semaphore>,
    answer: Arc<[u8]>,
}

impl Refusals {
    /// Ready to refuse connections.
    pub fn new() -> Self {
        let status = StatusCode::SERVICE_UNAVAILABLE;
        let body = error_body(
            Family::Mallard,
            status,
            "Too many open connections; retry shortly",
        );
        Self {
            in_flight: Arc::new(Semaphore::new(REFUSALS_AT_ONCE)),
            answer: json_response(status, &body, &[("retry-after", RETRY_AFTER_SECS)]).into(),
        }
    }

    /// Answers `tcp` with the 503 and closes it, or closes it at once when
    /// too many refusals are in flight.
    pub fn refuse(&self, tcp: TcpStream) {
        metrics::counter!("mallard_connections_refused_total").increment(1);
        let Ok(permit) = Arc::clone(&self.in_flight).try_acquire_owned() else {
            return;
        };
        let answer = Arc::clone(&self.answer);
        tokio::spawn(async move {
            let _permit = permit;
            let _ = tokio::time::timeout(REFUSAL_TIME, answer_and_close(tcp, &answer)).await;
        });
    }
}

impl Default for Refusals {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes `answer`, ends the sending side, and reads (and drops) what the
/// client still sends until it closes, so the close does not reset the
/// connection before the client has read the answer.
async fn answer_and_close(mut tcp: TcpStream, answer: &[u8]) {
    if write_all(&mut tcp, answer).await.is_err()
        || poll_fn(|cx| Pin::new(&mut tcp).poll_shutdown(cx))
            .await
            .is_err()
    {
        return;
    }
    let mut sink = [0u8; 1024];
    loop {
        let mut buf = ReadBuf::new(&mut sink);
        let read = poll_fn(|cx| Pin::new(&mut tcp).poll_read(cx, &mut buf)).await;
        if read.is_err() || buf.filled().is_empty() {
            break;
        }
    }
}

/// Writes all of `bytes` to `tcp`.
async fn write_all(tcp: &mut TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        let written = poll_fn(|cx| Pin::new(&mut *tcp).poll_write(cx, bytes)).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[written..];
    }
    Ok(())
}
