//! What every embedder of the server does around [`crate::Server::serve`]:
//! install logging, bind the listening socket with a message that says how to
//! fix a taken port, wait for a shutdown signal, and tell the user where the
//! dashboard is and how to add the tracker to a site. [`serve_until_signal`]
//! is the whole headless run, shared by `mallard serve` and the desktop app's
//! headless mode.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use socket2::{Domain, Protocol, Socket, Type};

use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};
use crate::{Server, ServerError};

/// Why a headless run could not start or ended with an error.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The store could not be opened or the server failed.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The port could not be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// Installs the global tracing subscriber, logging to stderr as text or JSON
/// lines. `RUST_LOG` overrides the default `info` level. Does nothing if a
/// subscriber is already installed.
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second installation (tests, embedders with their own) is not an error.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Opens the store, binds the port, serves until SIGINT or SIGTERM, then
/// shuts down gracefully (every accepted event committed). Prints the
/// dashboard URL and the tracker snippet to stdout once the server is ready.
///
/// The store is opened and the port bound before the async runtime starts, so
/// a refusal (locked data directory, port in use) is reported and cleaned up
/// outside it.
pub fn serve_until_signal(config: Config) -> Result<(), LaunchError> {
    let server = Server::open(config.clone())?;
    let listener = bind(&config.host, config.port)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(LaunchError::Runtime)?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).map_err(ServerError::from)?;
        let port = listener.local_addr().map_err(ServerError::from)?.port();
        let data_dir = config.data_dir.display().to_string();
        let ready = |url: &str| {
            print_announcement(url);
            tracing::info!(port, data_dir, "listening");
        };
        server
            .serve_announced(listener, shutdown_signal(), ready)
            .await?;
        tracing::info!("stopped; every accepted event is committed");
        Ok(())
    })
}

/// Prints [`announcement`] to stdout; a closed stdout must not stop the server.
fn print_announcement(url: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(announcement(url).as_bytes())
        .and_then(|()| stdout.flush());
}

/// Why the listening socket could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Another program listens on the port.
    #[error(
        "port {port} on {host} is already in use; stop the program using it or choose another \
         port with --port, MALLARD_PORT or `port` in the config file"
    )]
    PortInUse {
        /// The address asked for.
        host: String,
        /// The port asked for.
        port: u16,
    },
    /// Any other failure (an address not on this machine, no permission, ...).
    #[error("cannot listen on {host}:{port}: {source}")]
    Other {
        /// The address asked for.
        host: String,
        /// The port asked for.
        port: u16,
        /// What the OS said.
        source: std::io::Error,
    },
}

impl BindError {
    /// Whether the port is taken by another program (a different port would work).
    pub fn is_port_in_use(&self) -> bool {
        matches!(self, Self::PortInUse { .. })
    }
}

/// How many connections the kernel holds, handshake done, until the server
/// accepts them. The standard library's `TcpListener::bind` asks for 128:
/// a burst of more (a page of many visitors at once, a load test, a flood of
/// stalled clients) while the server is busy for a moment would have further
/// handshakes dropped, and those clients would retry only after a second.
/// The kernel lowers this to `net.core.somaxconn` where that is smaller.
const LISTEN_BACKLOG: i32 = 1024;

/// Binds a non-blocking listening socket on `host:port` (port 0 picks a free
/// one), trying each address the host resolves to as the standard library
/// does, with a [`LISTEN_BACKLOG`]-deep accept queue.
pub fn bind(host: &str, port: u16) -> Result<TcpListener, BindError> {
    let failed = |source: std::io::Error| {
        if source.kind() == ErrorKind::AddrInUse {
            BindError::PortInUse {
                host: host.to_owned(),
                port,
            }
        } else {
            BindError::Other {
                host: host.to_owned(),
                port,
                source,
            }
        }
    };
    let mut last_error = None;
    for address in (host, port).to_socket_addrs().map_err(failed)? {
        match listen_on(address) {
            Ok(listener) => return Ok(listener),
            Err(error) => last_error = Some(error),
        }
    }
    Err(failed(last_error.unwrap_or_else(|| {
        std::io::Error::new(ErrorKind::InvalidInput, "the host resolves to no address")
    })))
}

/// Opens a non-blocking listening socket on one address.
fn listen_on(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    // As the standard library does on Unix: a restarted server can take its
    // port back while the last run's connections linger in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// The `<script>` tag that adds the tracker of the server at `dashboard_url`
/// (which ends with `/`) to a site.
pub fn tracker_snippet(dashboard_url: &str, site: &str) -> String {
    format!("<script defer data-domain=\"{site}\" src=\"{dashboard_url}mallard.js\"></script>")
}

/// The text printed when the server is ready: the dashboard URL and the snippet.
pub fn announcement(dashboard_url: &str) -> String {
    format!(
        "Mallard Metrics is running.\nDashboard: {dashboard_url}\nAdd this to your site's \
         <head>:\n  {}\n",
        tracker_snippet(dashboard_url, "YOUR-SITE")
    )
}

/// Resolves on SIGINT or SIGTERM (Ctrl-C elsewhere).
///
/// On Unix both handlers are installed when this is called, not when the
/// future is first polled, so a signal sent right after the start-up
/// announcement (which is printed before the serve loop polls the future)
/// still stops the server gracefully. Call it inside the runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let handlers = {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(interrupt), Ok(terminate)) => Some((interrupt, terminate)),
            (Err(err), _) | (_, Err(err)) => {
                tracing::error!(error = %err, "cannot listen for SIGINT or SIGTERM");
                None
            }
        }
    };
    async move {
        #[cfg(unix)]
        match handlers {
            Some((mut interrupt, mut terminate)) => {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            }
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing requests and committing queued events");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_reported_with_the_way_to_change_it() {
        let first = bind("127.0.0.1", 0).unwrap();
        let port = first.local_addr().unwrap().port();
        let err = bind("127.0.0.1", port).unwrap_err();
        assert!(err.is_port_in_use());
        let message = err.to_string();
        assert!(message.contains(&port.to_string()), "{message}");
        assert!(message.contains("--port"), "{message}");
    }

    #[test]
    fn a_burst_of_connections_waits_in_the_accept_queue() {
        // Nothing accepts: every handshake the kernel completes waits in the
        // queue. With the standard library's 128, the 130th connection's
        // handshake would be dropped and its connect time out.
        let listener = bind("127.0.0.1", 0).unwrap();
        let address = listener.local_addr().unwrap();
        let burst = 400;
        let connected: Vec<_> = (0..burst)
            .map_while(|_| {
                std::net::TcpStream::connect_timeout(
                    &address,
                    std::time::Duration::from_millis(500),
                )
                .ok()
            })
            .collect();
        assert_eq!(connected.len(), burst);
    }

    #[test]
    fn an_address_not_on_this_machine_is_not_called_a_taken_port() {
        // 192.0.2.0/24 is TEST-NET-1: never assigned to a local interface.
        let err = bind("192.0.2.1", 0).unwrap_err();
        assert!(!err.is_port_in_use());
    }

    #[test]
    fn the_snippet_points_at_this_server() {
        assert_eq!(
            tracker_snippet("http://127.0.0.1:8000/", "example.com"),
            "<script defer data-domain=\"example.com\" src=\"http://127.0.0.1:8000/mallard.js\"></script>"
        );
        assert!(
            announcement("http://127.0.0.1:8000/").contains("Dashboard: http://127.0.0.1:8000/")
        );
    }
}
