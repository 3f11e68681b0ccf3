//! `mallard serve`: bind, serve, and shut down gracefully on SIGINT/SIGTERM.

use std::io::ErrorKind;

use anyhow::{Context, anyhow};
use clap::Args;
use mallard_server::Server;

use crate::CommonArgs;

/// Flags of `mallard serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The address to listen on (default 127.0.0.1).
    #[arg(long)]
    host: Option<String>,
    /// The port to listen on (default 8000; 0 picks a free port).
    #[arg(long)]
    port: Option<u16>,
}

/// Runs the server until a shutdown signal.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.common.load(args.host, args.port)?;
    crate::logging::init(config.log_format);
    // The store opens and the port is bound before the async runtime starts, so
    // a refusal (locked data directory, port in use) is reported and cleaned up
    // outside it.
    let server = Server::open(config.clone())?;
    let listener = bind(&config.host, config.port)?;
    let port = listener.local_addr()?.port();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let data_dir = config.data_dir.display().to_string();
        let ready = |url: &str| {
            announce(url);
            tracing::info!(port, data_dir, "listening");
        };
        server
            .serve_announced(listener, shutdown_signal(), ready)
            .await?;
        tracing::info!("stopped; every accepted event is committed");
        Ok(())
    })
}

/// Binds the listening socket, explaining a port that is already taken.
fn bind(host: &str, port: u16) -> anyhow::Result<std::net::TcpListener> {
    let address = format!("{host}:{port}");
    let listener = std::net::TcpListener::bind(&address).map_err(|err| {
        if err.kind() == ErrorKind::AddrInUse {
            anyhow!(
                "port {port} on {host} is already in use; stop the program using it or choose \
                 another port with --port, MALLARD_PORT or `port` in the config file"
            )
        } else {
            anyhow!("cannot listen on {address}: {err}")
        }
    })?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Prints the dashboard URL and the tracker snippet to stdout.
fn announce(url: &str) {
    use std::io::Write;
    let text = format!(
        "Mallard Metrics is running.\nDashboard: {url}\nAdd this to your site's <head>:\n  \
         <script defer data-domain=\"YOUR-SITE\" src=\"{url}mallard.js\"></script>\n"
    );
    let mut stdout = std::io::stdout().lock();
    // A closed stdout must not stop the server.
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(err) => {
                    tracing::error!(error = %err, "cannot listen for SIGTERM");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutting down: finishing requests and committing queued events");
}
