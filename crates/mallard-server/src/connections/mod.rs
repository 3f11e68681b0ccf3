//! The connection loop: accepts TCP connections and serves HTTP/1.1 on each
//! with hyper, replacing `axum::serve`, which turns off hyper's header-read
//! timeout.
//!
//! - A connection must deliver each request head within the header-read
//!   timeout. hyper starts that timer when the connection opens and again
//!   when it has answered a request and waits for the next one, so the same
//!   limit closes slow (stalled) connections and idle keep-alive ones.
//! - At most `max_connections` connections are served at once (fewer when
//!   the open-file limit cannot be raised to fit them, see [`open_files`]). One more is
//!   accepted and answered 503 with `Retry-After` and a JSON body, then
//!   closed ([`refusal`]); beyond a small number of such answers in flight,
//!   further connections are closed at once.
//! - A request hyper cannot parse gets the family's JSON error body
//!   ([`malformed`]).
//! - On shutdown the listener closes, idle connections close, and requests in
//!   flight are answered before [`serve`] returns.

pub mod malformed;
pub mod open_files;
pub mod raw_response;
pub mod refusal;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

use crate::config::Config;
use malformed::AnswerMalformed;

/// How long the accept loop pauses after an accept error other than a
/// connection error, e.g. when the process is out of file descriptors.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The limits the connection loop enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// How long a connection may take to send a request head, counted from
    /// when it opens or its previous response was written.
    pub header_read_timeout: Duration,
    /// How many connections are served at once.
    pub max_connections: usize,
}

impl ConnectionLimits {
    /// The limits set in `config`.
    pub fn of(config: &Config) -> Self {
        Self {
            header_read_timeout: Duration::from_secs(config.header_read_timeout_secs),
            max_connections: usize::try_from(config.max_connections).unwrap_or(usize::MAX),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting and returns once every open connection has finished.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let max_connections = open_files::make_room(limits.max_connections);
    let permits = Arc::new(Semaphore::new(max_connections));
    let refusals = refusal::Refusals::new();
    // Every connection task holds a receiver; the loop waits for all of them
    // to be dropped after telling them to close.
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    pause_after(&err).await;
                    continue;
                }
            },
        };
        // Small responses must not wait for delayed ACKs (Nagle's algorithm).
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(error = %err, "cannot set TCP_NODELAY");
        }
        match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => {
                let connection = Connection {
                    http: http.clone(),
                    app: app.clone(),
                    peer,
                    closing: closing_rx.clone(),
                    _permit: permit,
                };
                tokio::spawn(connection.run(tcp));
            }
            Err(_) => refusals.refuse(tcp),
        }
    }
    drop(listener);
    drop(closing_rx);
    closing_tx.send_replace(true);
    closing_tx.closed().await;
    Ok(())
}

/// Pauses the accept loop after an accept error, except for errors of a
/// single connection (reset or aborted before it was accepted).
async fn pause_after(err: &io::Error) {
    let one_connection = matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    );
    if !one_connection {
        tracing::warn!(error = %err, "cannot accept a connection");
        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
    }
}

/// One accepted connection and what serving it needs.
struct Connection {
    http: http1::Builder,
    app: Router,
    peer: SocketAddr,
    closing: watch::Receiver<bool>,
    /// The connection's place under the cap, given back when it closes.
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    async fn run(mut self, tcp: TcpStream) {
        let (app, peer) = (self.app, self.peer);
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            // Handlers read the client address as axum's `ConnectInfo`.
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request)
        });
        let io = TokioIo::new(AnswerMalformed::new(tcp));
        let connection = self.http.serve_connection(io, service);
        let mut connection = std::pin::pin!(connection);
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = closing_requested(&mut self.closing) => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(err) = result {
            // Timeouts, resets and malformed requests are the client's doing.
            tracing::debug!(error = %err, "connection ended with an error");
        }
    }
}

/// Resolves when the loop tells connections to close (or is gone).
async fn closing_requested(closing: &mut watch::Receiver<bool>) {
    // The borrowed value must not live across an await (it is not `Send`).
    let _ = closing.wait_for(|closing| *closing).await.map(|_| ());
}
