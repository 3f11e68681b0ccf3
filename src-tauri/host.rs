//! The in-process server: opened, bound and served on Tauri's tokio runtime,
//! stopped gracefully (every accepted event committed) on quit, and restarted
//! on another port without restarting the app.

use std::sync::{Arc, Mutex};

use mallard_server::host_control::HostControl;
use mallard_server::launch::{self, BindError};
use mallard_server::{AppState, Config, Server, ServerError};
use tauri::async_runtime::JoinHandle;
use tokio::sync::oneshot;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened (locked, newer schema, corrupt, ...).
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The port could not be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
}

/// One running server.
struct Running {
    state: AppState,
    url: String,
    config: Config,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ServerError>>,
}

/// Makes the embedding controls for a server running with a configuration on
/// a port.
pub type ControlFactory = Box<dyn Fn(&Config, u16) -> Arc<dyn HostControl> + Send + Sync>;

/// The server this app runs; managed as Tauri state.
#[derive(Default)]
pub struct ServerHost {
    running: Mutex<Option<Running>>,
    controls: Option<ControlFactory>,
}

impl ServerHost {
    /// A host whose servers get the controls `factory` makes (the dashboard's
    /// port setting, see [`crate::port`]).
    pub fn with_controls(factory: ControlFactory) -> Self {
        Self {
            running: Mutex::new(None),
            controls: Some(factory),
        }
    }

    /// Opens the store, binds the port and starts serving in the background.
    /// Blocking (opening the store may replay events); call it outside the
    /// async runtime's workers.
    pub fn start(&self, config: Config) -> Result<(), StartError> {
        let server = Server::open(config.clone())?;
        let listener = launch::bind(&config.host, config.port)?;
        let port = listener.local_addr().map_err(ServerError::from)?.port();
        let url = config.dashboard_url(port);
        let state = server.state().clone();
        if let Some(factory) = &self.controls {
            let _ = state.host.set(factory(&config, port));
        }
        let (stop, stopped) = oneshot::channel();
        let task = tauri::async_runtime::spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let shutdown = async {
                let _ = stopped.await;
            };
            server.serve(listener, shutdown).await
        });
        tracing::info!(%url, data_dir = %config.data_dir.display(), "server started in-process");
        if let Ok(mut running) = self.running.lock() {
            *running = Some(Running {
                state,
                url,
                config,
                stop,
                task,
            });
        }
        Ok(())
    }

    /// Stops the server: it stops accepting, finishes in-flight requests,
    /// commits every queued event and closes the database. Blocks until done.
    pub fn stop(&self) {
        let running = self
            .running
            .lock()
            .ok()
            .and_then(|mut running| running.take());
        if let Some(running) = running {
            drop(running.state);
            let _ = running.stop.send(());
            match tauri::async_runtime::block_on(running.task) {
                Ok(Ok(())) => tracing::info!("stopped; every accepted event is committed"),
                Ok(Err(err)) => tracing::error!(error = %err, "the server stopped with an error"),
                Err(err) => tracing::error!(error = %err, "the server task failed"),
            }
        }
    }

    /// Restarts the server on `port`, keeping every other setting. If the new
    /// port cannot be used, the server comes back on the old one and the
    /// error is returned.
    pub fn restart_on_port(&self, port: u16) -> Result<String, StartError> {
        let Some(previous) = self.config() else {
            return Err(StartError::Server(ServerError::Io(std::io::Error::other(
                "the server is not running",
            ))));
        };
        // Check the port before stopping anything, so a taken port costs nothing.
        drop(launch::bind(&previous.host, port)?);
        self.stop();
        let mut config = previous.clone();
        config.port = port;
        match self.start(config) {
            Ok(()) => Ok(self.url().unwrap_or_default()),
            Err(err) => {
                self.start(previous)?;
                Err(err)
            }
        }
    }

    /// Stops the server, runs `work` with its configuration while nothing
    /// holds the data directory (a restore), and starts it again on the same
    /// port; returns what `work` returned. The server comes back even when
    /// `work` failed.
    pub fn restart_after<T>(&self, work: impl FnOnce(&Config) -> T) -> Result<T, StartError> {
        let Some(mut config) = self.config() else {
            return Err(StartError::Server(ServerError::Io(std::io::Error::other(
                "the server is not running",
            ))));
        };
        if let Some(port) = self
            .url()
            .and_then(|url| tauri::Url::parse(&url).ok())
            .and_then(|url| url.port())
        {
            config.port = port;
        }
        self.stop();
        let outcome = work(&config);
        self.start(config)?;
        Ok(outcome)
    }

    /// The dashboard URL of the running server.
    pub fn url(&self) -> Option<String> {
        self.with_running(|running| running.url.clone())
    }

    /// The running server's application state.
    pub fn state(&self) -> Option<AppState> {
        self.with_running(|running| running.state.clone())
    }

    /// The running server's configuration.
    pub fn config(&self) -> Option<Config> {
        self.with_running(|running| running.config.clone())
    }

    fn with_running<T>(&self, read: impl FnOnce(&Running) -> T) -> Option<T> {
        self.running.lock().ok()?.as_ref().map(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &std::path::Path) -> Config {
        let mut config = Config::with_data_dir(dir);
        config.port = 0;
        config
    }

    #[test]
    fn the_server_serves_until_stopped_and_releases_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let host = ServerHost::default();
        host.start(config(dir.path())).unwrap();
        let url = host.url().unwrap();
        let health = tauri::async_runtime::block_on(get(&url, "health"));
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
        host.stop();
        assert!(host.url().is_none());
        // The lock is released: the data directory opens again.
        host.start(config(dir.path())).unwrap();
        host.stop();
    }

    #[test]
    fn a_restart_moves_the_server_to_the_new_port() {
        let dir = tempfile::tempdir().unwrap();
        let host = ServerHost::default();
        host.start(config(dir.path())).unwrap();
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        // A taken port is refused and the server keeps running where it was.
        let old = host.url().unwrap();
        assert!(matches!(
            host.restart_on_port(port),
            Err(StartError::Bind(_))
        ));
        assert_eq!(host.url().unwrap(), old);
        drop(free);
        let new = host.restart_on_port(port).unwrap();
        assert_eq!(new, format!("http://127.0.0.1:{port}/"));
        let health = tauri::async_runtime::block_on(get(&new, "health"));
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
        host.stop();
    }

    /// A minimal HTTP/1.1 GET, enough to see the status line.
    async fn get(base: &str, path: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let authority = base.trim_start_matches("http://").trim_end_matches('/');
        let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
        let request =
            format!("GET /{path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }
}
