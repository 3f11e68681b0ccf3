//! The desktop app's host controls. Chiefly moving the in-process server to
//! another port from the dashboard's settings (`PUT /api/host/port`): the
//! port is checked, the answer is sent, then the server restarts on the new
//! port and the window signs in there, keeping its view. The app keeps
//! running throughout. Also the native dialog that picks log files to
//! import ([`crate::file_dialog`]).

use std::sync::Arc;
use std::time::Duration;

use mallard_server::host_control::HostControl;
use mallard_server::{Config, launch};
use tauri::{AppHandle, Manager, Runtime};

use crate::host::ServerHost;
use crate::{file_dialog, window};

/// The desktop app's [`HostControl`] for one running server.
pub struct DesktopControl<R: Runtime> {
    app: AppHandle<R>,
    config: Config,
    port: u16,
}

impl<R: Runtime> std::fmt::Debug for DesktopControl<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DesktopControl")
            .field("host", &self.config.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Makes the control for a server running with `config` on `port`.
pub fn control_for<R: Runtime>(
    app: &AppHandle<R>,
    config: &Config,
    port: u16,
) -> Arc<dyn HostControl> {
    Arc::new(DesktopControl {
        app: app.clone(),
        config: config.clone(),
        port,
    })
}

impl<R: Runtime> HostControl for DesktopControl<R> {
    fn port(&self) -> u16 {
        self.port
    }

    fn change_port(&self, port: u16) -> Result<String, String> {
        // Refuse a taken port now, while the answer can still say so.
        drop(launch::bind(&self.config.host, port).map_err(|err| err.to_string())?);
        let app = self.app.clone();
        std::thread::spawn(move || {
            // Let the answer to this request go out before the server stops.
            std::thread::sleep(Duration::from_millis(200));
            match app.state::<ServerHost>().restart_on_port(port) {
                Ok(url) => {
                    tracing::info!(%url, "the server moved");
                    let handle = app.clone();
                    let _ = app.run_on_main_thread(move || {
                        if let Err(err) = window::sign_in_again(&handle) {
                            tracing::warn!(error = %err, "cannot reopen the window");
                        }
                    });
                }
                Err(err) => tracing::error!(error = %err, "cannot move the server"),
            }
        });
        Ok(self.config.dashboard_url(port))
    }

    fn pick_log_files(&self) -> Option<Vec<std::path::PathBuf>> {
        file_dialog::pick_log_files(&self.app)
    }
}
