//! A keep-alive HTTP/1.1 client on loopback for the query benchmark: one
//! connection, reopened only when the server closed it, each answer read to
//! its end (chunked exports included) before the time stops.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A browser user agent, as the dashboard sends.
pub const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 \
    (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// One answer: its status and the time from sending the request until the
/// last byte of the body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// Request sent to body read.
    pub elapsed: Duration,
    /// The body.
    pub body: Bytes,
}

/// A keep-alive connection to the server under test.
pub struct KeepAlive {
    addr: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl KeepAlive {
    /// A client of the server at `addr`; it connects on the first request.
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr, sender: None }
    }

    /// `GET target` (a path with its query string).
    pub async fn get(&mut self, target: &str) -> anyhow::Result<Answer> {
        self.send("GET", target, Bytes::new(), &[]).await
    }

    /// Sends one request with extra `headers` (a `user-agent` among them
    /// replaces the default one) and reads the whole answer.
    pub async fn send(
        &mut self,
        method: &str,
        target: &str,
        body: Bytes,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Answer> {
        if self.sender.as_ref().is_none_or(SendRequest::is_closed) {
            self.sender = Some(self.connect().await?);
        }
        let sender = self.sender.as_mut().context("no connection")?;
        sender.ready().await.context("connection not ready")?;
        let mut request = Request::builder()
            .method(method)
            .uri(target)
            .header("host", "127.0.0.1")
            .header("accept", "application/json");
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("user-agent"))
        {
            request = request.header("user-agent", USER_AGENT);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body))?;
        let started = Instant::now();
        let outcome = async {
            let response = sender.send_request(request).await?;
            let status = response.status().as_u16();
            // The whole body is read: the time covers producing all of it.
            let body = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, body))
        }
        .await;
        match outcome {
            Ok((status, body)) => Ok(Answer {
                status,
                elapsed: started.elapsed(),
                body,
            }),
            Err(err) => {
                // The next request opens a new connection.
                self.sender = None;
                Err(err.context(format!("{method} {target}")))
            }
        }
    }

    async fn connect(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let stream = TcpStream::connect(self.addr).await.context("connect")?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(sender)
    }
}
