//! Start-up: start the in-process server, and when that fails, explain the
//! problem in a native dialog that offers the fix — use a free port when the
//! configured one is taken, show the dashboard of the Mallard Metrics already
//! using the data directory, or quit (a database from a newer version, a
//! corrupt file).

use mallard_server::{Config, ServerError};
use mallard_store::StoreError;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_dialog::{DialogExt, MessageDialogButtons, MessageDialogKind};

use crate::host::{ServerHost, StartError};

/// What a start-up failure means to the person who launched the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The dialog's title.
    pub title: String,
    /// What happened and what to do, in words.
    pub message: String,
    /// The fix the dialog offers besides quitting, if any.
    pub fix: Option<Fix>,
}

/// A fix the dialog can apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fix {
    /// Start on a free port for this session.
    UseFreePort,
    /// Show the dashboard of the server already using the data directory.
    ShowRunning(String),
}

impl Fix {
    /// The label of the button that applies the fix.
    pub fn label(&self) -> &'static str {
        match self {
            Self::UseFreePort => "Use a free port",
            Self::ShowRunning(_) => "Show its dashboard",
        }
    }
}

impl Problem {
    /// Explains `err`, which happened while starting with `config`.
    pub fn of(err: &StartError, config: &Config) -> Self {
        match err {
            StartError::Bind(bind) if bind.is_port_in_use() => Self {
                title: "Port in use".into(),
                message: format!(
                    "Another program is listening on port {port} of {host}, where Mallard \
                     Metrics receives events. Mallard Metrics can use a free port for this \
                     session; to keep a port, set `port` in {config_file}. Sites that send \
                     to port {port} will need the new address.",
                    port = config.port,
                    host = config.host,
                    config_file = config_file_hint(),
                ),
                fix: Some(Fix::UseFreePort),
            },
            StartError::Server(ServerError::Store(StoreError::Locked(dir))) => {
                let running = mallard_server::local_admin::discover(dir)
                    .ok()
                    .map(|(info, _)| info.url);
                Self {
                    title: "Already running".into(),
                    message: format!(
                        "Another Mallard Metrics (this app, or `mallard serve`) is using the \
                         data directory {}{}. Only one may use it at a time: quit the other \
                         one first, or use another data directory.",
                        dir.display(),
                        running
                            .as_ref()
                            .map(|url| format!(" and serves its dashboard at {url}"))
                            .unwrap_or_default(),
                    ),
                    fix: running.map(Fix::ShowRunning),
                }
            }
            StartError::Server(ServerError::Store(StoreError::NewerSchema { .. })) => Self {
                title: "Database from a newer version".into(),
                message: format!(
                    "{err}. Install the newer Mallard Metrics to open it; this version will \
                     not change it."
                ),
                fix: None,
            },
            other => Self {
                title: "Mallard Metrics cannot start".into(),
                message: other.to_string(),
                fix: None,
            },
        }
    }
}

/// Where the config file is, for messages.
fn config_file_hint() -> String {
    mallard_server::config::default_config_file().map_or_else(
        || "the config file".to_owned(),
        |path| path.display().to_string(),
    )
}

/// Starts the server and then the window and tray; on failure, asks the
/// person through a native dialog.
pub fn start<R: Runtime>(app: &AppHandle<R>, config: Config) {
    match app.state::<ServerHost>().start(config.clone()) {
        Ok(()) => crate::desktop::ready(app),
        Err(err) => {
            tracing::error!(error = %err, "cannot start the server");
            let problem = Problem::of(&err, &config);
            ask(app, config, &problem);
        }
    }
}

fn ask<R: Runtime>(app: &AppHandle<R>, config: Config, problem: &Problem) {
    let buttons = match &problem.fix {
        Some(fix) => MessageDialogButtons::OkCancelCustom(fix.label().into(), "Quit".into()),
        None => MessageDialogButtons::OkCustom("Quit".into()),
    };
    let fix = problem.fix.clone();
    let handle = app.clone();
    app.dialog()
        .message(&problem.message)
        .title(&problem.title)
        .kind(MessageDialogKind::Error)
        .buttons(buttons)
        .show(move |accepted| match fix.filter(|_| accepted) {
            Some(Fix::UseFreePort) => {
                let mut config = config;
                config.port = 0;
                start(&handle, config);
            }
            Some(Fix::ShowRunning(url)) => {
                if let Err(err) = crate::window::open_at(&handle, &url) {
                    tracing::error!(error = %err, "cannot open the window");
                    handle.exit(1);
                }
            }
            None => handle.exit(1),
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_offers_a_free_one() {
        let taken = mallard_server::launch::bind("127.0.0.1", 0).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::with_data_dir(dir.path());
        config.port = taken.local_addr().unwrap().port();
        let err = ServerHost::default().start(config.clone()).unwrap_err();
        let problem = Problem::of(&err, &config);
        assert_eq!(problem.fix, Some(Fix::UseFreePort));
        assert!(
            problem.message.contains(&config.port.to_string()),
            "{}",
            problem.message
        );
    }

    #[test]
    fn a_locked_data_directory_offers_the_running_dashboard() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::with_data_dir(dir.path());
        config.port = 0;
        let first = ServerHost::default();
        first.start(config.clone()).unwrap();
        let url = first.url().unwrap();
        // The running server publishes its address once it serves.
        for _ in 0..100 {
            if mallard_server::local_admin::discover(dir.path()).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let err = ServerHost::default().start(config.clone()).unwrap_err();
        let problem = Problem::of(&err, &config);
        assert_eq!(problem.title, "Already running");
        assert_eq!(
            problem.fix,
            Some(Fix::ShowRunning(url.trim_end_matches('/').to_owned()))
        );
        first.stop();
    }
}
