//! The native "open files" dialog in which the person at the machine picks
//! server logs or another tool's export to import (`POST /api/host/import-logs`).
//!
//! Automated tests cannot click through a native dialog, so
//! `MALLARD_FILE_DIALOG_ANSWER` (paths joined as in `PATH`) answers it
//! instead of showing it; only the person who starts the app can set it.

use std::path::PathBuf;

use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_dialog::DialogExt;

use crate::window;

/// The variable that answers the dialog in automated tests.
pub const ANSWER_VARIABLE: &str = "MALLARD_FILE_DIALOG_ANSWER";

/// Shows the dialog over the dashboard window and waits for the choice:
/// the files picked, or `None` when it was closed. Blocks: call it off the
/// main thread.
pub fn pick_log_files<R: Runtime>(app: &AppHandle<R>) -> Option<Vec<PathBuf>> {
    if let Some(answer) = std::env::var_os(ANSWER_VARIABLE) {
        return answer_from(&answer);
    }
    let mut dialog = app
        .dialog()
        .file()
        .set_title("Import Logs or an Export")
        .add_filter("All files", &["*"])
        .add_filter("Logs", &["log", "gz", "txt"])
        .add_filter("Exports (CSV, zip)", &["csv", "zip"]);
    if let Some(window) = app.get_webview_window(window::MAIN) {
        dialog = dialog.set_parent(&window);
    }
    let picked = dialog.blocking_pick_files()?;
    let paths: Vec<PathBuf> = picked
        .into_iter()
        .filter_map(|file| file.into_path().ok())
        .collect();
    (!paths.is_empty()).then_some(paths)
}

/// The files a test's answer names; an empty answer closes the dialog.
fn answer_from(answer: &std::ffi::OsStr) -> Option<Vec<PathBuf>> {
    let paths: Vec<PathBuf> = std::env::split_paths(answer)
        .filter(|path| !path.as_os_str().is_empty())
        .collect();
    (!paths.is_empty()).then_some(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_names_files_or_closes_the_dialog() {
        assert_eq!(
            answer_from("/logs/a.log:/logs/b.log.gz".as_ref()),
            Some(vec![
                PathBuf::from("/logs/a.log"),
                PathBuf::from("/logs/b.log.gz")
            ])
        );
        assert_eq!(answer_from("".as_ref()), None);
    }
}
