//! The native menus: the window's menu bar with the usual shortcuts, and the
//! handler of every menu item (menu bar and tray) by id.

use tauri::menu::{AboutMetadata, Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_autostart::ManagerExt as _;
use tauri_plugin_clipboard_manager::ClipboardExt;

use crate::host::ServerHost;
use crate::tray::TrayItems;
use crate::window;

/// Menu item ids.
pub mod ids {
    /// Show the dashboard window.
    pub const OPEN: &str = "open";
    /// Reload the dashboard.
    pub const RELOAD: &str = "reload";
    /// Pause or resume collection.
    pub const PAUSE: &str = "pause";
    /// Copy the tracker snippet.
    pub const COPY_SNIPPET: &str = "copy-snippet";
    /// Open the dashboard's log import screen.
    pub const IMPORT_LOGS: &str = "import-logs";
    /// Open Settings → Remote servers (pulling a remote Mallard's events).
    pub const REMOTES: &str = "remotes";
    /// Back up the database to a file picked in a dialog.
    pub const BACK_UP: &str = "back-up";
    /// Restore the database from a backup picked in a dialog.
    pub const RESTORE: &str = "restore";
    /// Launch at login on or off.
    pub const AUTOSTART: &str = "autostart";
    /// Stop the server gracefully and quit.
    pub const QUIT: &str = "quit";
}

/// The window's menu bar: File, Edit, View, Window, with the usual shortcuts.
pub fn app_menu<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<Menu<R>> {
    let file = Submenu::with_items(
        app,
        "File",
        true,
        &[
            &MenuItem::with_id(app, ids::IMPORT_LOGS, "Import…", true, Some("CmdOrCtrl+I"))?,
            &MenuItem::with_id(
                app,
                ids::REMOTES,
                "Pull from Remote Servers…",
                true,
                None::<&str>,
            )?,
            &MenuItem::with_id(app, ids::BACK_UP, "Back Up Now…", true, None::<&str>)?,
            &MenuItem::with_id(app, ids::RESTORE, "Restore…", true, None::<&str>)?,
            &MenuItem::with_id(
                app,
                ids::COPY_SNIPPET,
                "Copy Tracker Snippet",
                true,
                Some("CmdOrCtrl+Shift+C"),
            )?,
            &PredefinedMenuItem::separator(app)?,
            &PredefinedMenuItem::close_window(app, Some("Close Window"))?,
            &MenuItem::with_id(
                app,
                ids::QUIT,
                "Quit Mallard Metrics",
                true,
                Some("CmdOrCtrl+Q"),
            )?,
        ],
    )?;
    let edit = Submenu::with_items(
        app,
        "Edit",
        true,
        &[
            &PredefinedMenuItem::undo(app, None)?,
            &PredefinedMenuItem::redo(app, None)?,
            &PredefinedMenuItem::separator(app)?,
            &PredefinedMenuItem::cut(app, None)?,
            &PredefinedMenuItem::copy(app, None)?,
            &PredefinedMenuItem::paste(app, None)?,
            &PredefinedMenuItem::select_all(app, None)?,
        ],
    )?;
    let view = Submenu::with_items(
        app,
        "View",
        true,
        &[
            &MenuItem::with_id(app, ids::RELOAD, "Reload", true, Some("CmdOrCtrl+R"))?,
            &PredefinedMenuItem::fullscreen(app, None)?,
        ],
    )?;
    let window_menu = Submenu::with_items(
        app,
        "Window",
        true,
        &[
            &PredefinedMenuItem::minimize(app, None)?,
            &PredefinedMenuItem::maximize(app, None)?,
        ],
    )?;
    let help = Submenu::with_items(
        app,
        "Help",
        true,
        &[&PredefinedMenuItem::about(
            app,
            Some("About Mallard Metrics"),
            Some(about()),
        )?],
    )?;
    Menu::with_items(app, &[&file, &edit, &view, &window_menu, &help])
}

/// The About dialog: the version, the licence, and the credits the bundled
/// data's licences ask for (the country database is CC BY 4.0).
fn about() -> AboutMetadata<'static> {
    let credits = format!(
        "{}\n\n{}",
        mallard_geo::BUNDLED_ATTRIBUTION,
        mallard_charts::ATTRIBUTION
    );
    AboutMetadata {
        name: Some("Mallard Metrics".into()),
        version: Some(env!("CARGO_PKG_VERSION").into()),
        comments: Some(format!("Local-first web analytics.\n\n{credits}")),
        credits: Some(credits),
        license: Some(env!("CARGO_PKG_LICENSE").into()),
        ..AboutMetadata::default()
    }
}

/// Handles a click on the menu item `id`, from the menu bar or the tray.
pub fn handle<R: Runtime>(app: &AppHandle<R>, id: &str) {
    let result = match id {
        ids::OPEN => window::show(app),
        ids::RELOAD => window::sign_in_again(app),
        ids::IMPORT_LOGS => window::show_screen(app, window::IMPORT_SCREEN),
        ids::REMOTES => window::show_screen(app, window::REMOTES_SCREEN),
        ids::BACK_UP => {
            crate::backup_menu::back_up_now(app);
            Ok(())
        }
        ids::RESTORE => {
            crate::backup_menu::restore(app);
            Ok(())
        }
        ids::PAUSE => {
            toggle_pause(app);
            Ok(())
        }
        ids::COPY_SNIPPET => {
            copy_snippet(app);
            Ok(())
        }
        ids::AUTOSTART => {
            toggle_autostart(app);
            Ok(())
        }
        ids::QUIT => {
            app.exit(0);
            Ok(())
        }
        _ => Ok(()),
    };
    if let Err(err) = result {
        tracing::warn!(error = %err, id, "menu action failed");
    }
}

/// Pauses or resumes collection to match the tray's check mark.
pub fn toggle_pause<R: Runtime>(app: &AppHandle<R>) {
    let Some(state) = app.state::<ServerHost>().state() else {
        return;
    };
    let paused = !state.collection.is_paused();
    state.collection.set_paused(paused);
    if let Some(items) = app.try_state::<TrayItems<R>>() {
        items.show_paused(paused);
    }
}

fn toggle_autostart<R: Runtime>(app: &AppHandle<R>) {
    let launcher = app.autolaunch();
    let enabled = launcher.is_enabled().unwrap_or(false);
    let outcome = if enabled {
        launcher.disable()
    } else {
        launcher.enable()
    };
    match outcome {
        Ok(()) => tracing::info!(enabled = !enabled, "launch at login switched"),
        Err(err) => tracing::warn!(error = %err, "cannot switch launch at login"),
    }
    if let Some(items) = app.try_state::<TrayItems<R>>() {
        items.show_autostart(launcher.is_enabled().unwrap_or(false));
    }
}

/// Copies the tracker snippet of the first site seen (or a placeholder) to
/// the clipboard.
fn copy_snippet<R: Runtime>(app: &AppHandle<R>) {
    let host = app.state::<ServerHost>();
    let (Some(url), Some(state)) = (host.url(), host.state()) else {
        return;
    };
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let site = state
            .read(|db| db.site_domains())
            .await
            .ok()
            .and_then(|sites| sites.into_iter().next())
            .unwrap_or_else(|| "YOUR-SITE".to_owned());
        let snippet = mallard_server::launch::tracker_snippet(&url, &site);
        if let Err(err) = app.clipboard().write_text(snippet) {
            tracing::warn!(error = %err, "cannot copy the snippet");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use mallard_server::Config;
    use tauri::test::{MockRuntime, mock_builder, mock_context, noop_assets};

    fn app_with_server(dir: &std::path::Path) -> tauri::App<MockRuntime> {
        let app = mock_builder()
            .manage(ServerHost::default())
            .build(mock_context(noop_assets()))
            .unwrap();
        let mut config = Config::with_data_dir(dir);
        config.port = 0;
        app.state::<ServerHost>().start(config).unwrap();
        app
    }

    #[test]
    fn pause_in_the_tray_pauses_collection_and_shows_it() {
        let dir = tempfile::tempdir().unwrap();
        let app = app_with_server(dir.path());
        let handle = app.handle();
        let (items, _menu) = TrayItems::build(handle, false).unwrap();
        app.manage(items);
        let server = app.state::<ServerHost>().state().unwrap();
        assert!(!server.collection.is_paused());
        handle_menu_click(handle, ids::PAUSE);
        assert!(server.collection.is_paused());
        let items = app.state::<TrayItems<MockRuntime>>();
        assert!(items.pause.is_checked().unwrap());
        handle_menu_click(handle, ids::PAUSE);
        assert!(!server.collection.is_paused());
        assert!(!items.pause.is_checked().unwrap());
        app.state::<ServerHost>().stop();
    }

    #[test]
    fn the_tray_menu_has_every_action() {
        let dir = tempfile::tempdir().unwrap();
        let app = app_with_server(dir.path());
        let (items, menu) = TrayItems::build(app.handle(), true).unwrap();
        let ids: Vec<String> = menu
            .items()
            .unwrap()
            .iter()
            .map(|item| item.id().as_ref().to_owned())
            .collect();
        for id in [
            "live",
            ids::OPEN,
            ids::PAUSE,
            ids::COPY_SNIPPET,
            ids::AUTOSTART,
            ids::QUIT,
        ] {
            assert!(
                ids.iter().any(|have| have == id),
                "{id} missing from {ids:?}"
            );
        }
        assert!(items.autostart.is_checked().unwrap());
        items.show_live(Some(7));
        assert_eq!(items.live.text().unwrap(), "7 live visitors");
        app.state::<ServerHost>().stop();
    }

    fn handle_menu_click(app: &AppHandle<MockRuntime>, id: &str) {
        handle(app, id);
    }
}
