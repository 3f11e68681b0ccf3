//! File → Back Up Now… and File → Restore…: a backup of the in-process
//! server's database to a file picked in a native save dialog, and a
//! restore from a file picked in an open dialog, confirmed, with the server
//! stopped for the moment it takes and started again on the same port (the
//! window follows, signed in). The database a restore replaces is kept as
//! `mallard.db.before-restore`.

use std::path::{Path, PathBuf};

use mallard_server::backups::{BackupRecord, Target};
use mallard_store::backup::CopyReport;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_dialog::{DialogExt, MessageDialogButtons, MessageDialogKind};

use crate::host::ServerHost;
use crate::window;

/// Takes a backup of the running server's database to `path`.
pub fn back_up_to(host: &ServerHost, path: &Path) -> Result<BackupRecord, String> {
    let state = host.state().ok_or("The server is not running")?;
    tauri::async_runtime::block_on(
        state
            .backups
            .take(&state, Target::File(path.to_owned()), false),
    )
    .map_err(|err| err.to_string())
}

/// Replaces the database with the backup at `path`, stopping the server for
/// the moment it takes.
pub fn restore_from(host: &ServerHost, path: &Path) -> Result<CopyReport, String> {
    host.restart_after(|config| mallard_store::backup::restore(&config.data_dir, path))
        .map_err(|err| format!("The server did not start again: {err}"))?
        .map_err(|err| err.to_string())
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

/// Tells the person how it went.
fn tell<R: Runtime>(app: &AppHandle<R>, title: &str, outcome: Result<String, String>) {
    let (kind, text) = match outcome {
        Ok(text) => (MessageDialogKind::Info, text),
        Err(text) => (MessageDialogKind::Error, text),
    };
    app.dialog()
        .message(text)
        .title(title)
        .kind(kind)
        .blocking_show();
}

/// File → Back Up Now…: asks where, then backs up there.
pub fn back_up_now<R: Runtime>(app: &AppHandle<R>) {
    let app = app.clone();
    std::thread::spawn(move || {
        let suggested = format!(
            "mallard-backup-{}.db",
            mallard_server::clock::rfc3339(mallard_server::clock::now_ms())
                .chars()
                .take(10)
                .collect::<String>()
        );
        let mut dialog = app
            .dialog()
            .file()
            .set_title("Back Up Mallard Metrics")
            .set_file_name(&suggested)
            .add_filter("SQLite database", &["db"]);
        if let Some(window) = app.get_webview_window(window::MAIN) {
            dialog = dialog.set_parent(&window);
        }
        let Some(path) = dialog.blocking_save_file().and_then(|f| f.into_path().ok()) else {
            return;
        };
        let outcome = back_up_to(&app.state::<ServerHost>(), &path).map(|record| {
            format!(
                "Backed up to {} ({}, checked).",
                record.path.display(),
                megabytes(record.bytes)
            )
        });
        tell(&app, "Back Up", outcome);
    });
}

/// File → Restore…: asks which backup, confirms, then restores it.
pub fn restore<R: Runtime>(app: &AppHandle<R>) {
    let app = app.clone();
    std::thread::spawn(move || {
        let mut dialog = app
            .dialog()
            .file()
            .set_title("Restore Mallard Metrics from a Backup")
            .add_filter("SQLite database", &["db"])
            .add_filter("All files", &["*"]);
        if let Some(window) = app.get_webview_window(window::MAIN) {
            dialog = dialog.set_parent(&window);
        }
        let Some(path): Option<PathBuf> =
            dialog.blocking_pick_file().and_then(|f| f.into_path().ok())
        else {
            return;
        };
        let confirmed = app
            .dialog()
            .message(format!(
                "Replace every site's data with the backup {}? The data of now is kept as \
                 mallard.db.before-restore in the data directory. Collection stops for the \
                 moment it takes.",
                path.display()
            ))
            .title("Restore")
            .kind(MessageDialogKind::Warning)
            .buttons(MessageDialogButtons::OkCancelCustom(
                "Restore".into(),
                "Cancel".into(),
            ))
            .blocking_show();
        if !confirmed {
            return;
        }
        let outcome = restore_from(&app.state::<ServerHost>(), &path).map(|report| {
            format!(
                "Restored from {} ({}). The data it replaced is kept as mallard.db.before-restore.",
                path.display(),
                megabytes(report.bytes)
            )
        });
        if let Err(err) = window::sign_in_again(&app) {
            tracing::warn!(error = %err, "cannot reload the window after a restore");
        }
        tell(&app, "Restore", outcome);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use mallard_server::Config;

    fn running(dir: &Path) -> ServerHost {
        let host = ServerHost::default();
        let mut config = Config::with_data_dir(dir);
        config.port = 0;
        host.start(config).unwrap();
        host
    }

    fn post_pageview(url: &str, path: &str) {
        let body =
            format!(r#"{{"d": "menu.test", "n": "pageview", "u": "https://menu.test{path}"}}"#);
        let status = std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(["-H", "content-type: application/json"])
            .args([
                "-A",
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            ])
            .args(["-d", &body, &format!("{url}api/event")])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&status.stdout), "202");
    }

    fn events(host: &ServerHost) -> u64 {
        let state = host.state().unwrap();
        tauri::async_runtime::block_on(state.read(|db| db.event_count("menu.test"))).unwrap()
    }

    #[test]
    fn a_backup_taken_from_the_menu_restores_with_the_server_back_on_its_port() {
        let dir = tempfile::tempdir().unwrap();
        let host = running(&dir.path().join("data"));
        let url = host.url().unwrap();
        post_pageview(&url, "/before");
        let file = dir.path().join("picked.db");
        let record = back_up_to(&host, &file).unwrap();
        assert_eq!(record.path, file);
        assert!(record.bytes > 0);
        post_pageview(&url, "/after");
        assert_eq!(events(&host), 2);

        restore_from(&host, &file).unwrap();
        assert_eq!(host.url().unwrap(), url, "back on the same port");
        assert_eq!(events(&host), 1, "the backup's data");
        assert!(dir.path().join("data/mallard.db.before-restore").exists());

        // Not a backup: refused, and the server still serves the same data.
        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, b"junk").unwrap();
        assert!(restore_from(&host, &junk).is_err());
        assert_eq!(events(&host), 1);
        host.stop();
    }
}
