//! The Tauri application: plugins (single instance, dialogs, clipboard,
//! notifications, launch at login), the menu, start-up, and the graceful stop
//! of the in-process server when the app quits.

use mallard_server::Config;
use tauri::{AppHandle, Manager, RunEvent, Runtime};
use tauri_plugin_autostart::MacosLauncher;

use crate::host::ServerHost;
use crate::{menu, port, startup, tray, window};

/// Runs the desktop app until Quit (or SIGINT/SIGTERM).
pub fn run(config: Config) -> anyhow::Result<()> {
    let app = tauri::Builder::default()
        // First: a second launch hands over to the running app and exits
        // before it touches the data directory.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            tracing::info!("a second launch asked for the window; focusing it");
            if let Err(err) = window::show(app) {
                tracing::warn!(error = %err, "cannot focus the window");
            }
        }))
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_autostart::init(
            MacosLauncher::LaunchAgent,
            None,
        ))
        .menu(menu::app_menu)
        .on_menu_event(|app, event| menu::handle(app, event.id().as_ref()))
        .setup(move |app| {
            let handle = app.handle().clone();
            app.manage(ServerHost::with_controls(Box::new(move |config, port| {
                port::control_for(&handle, config, port)
            })));
            startup::start(app.handle(), config);
            Ok(())
        })
        .build(tauri::generate_context!())?;
    app.run(|app, event| match event {
        // Hiding the window is not quitting: keep collecting in the tray.
        RunEvent::ExitRequested {
            code: None, api, ..
        } => api.prevent_exit(),
        RunEvent::Exit => {
            tracing::info!("quitting: finishing requests and committing queued events");
            app.state::<ServerHost>().stop();
        }
        _ => {}
    });
    Ok(())
}

/// Called once the server runs: tray, window, and quitting on SIGINT/SIGTERM.
pub fn ready<R: Runtime>(app: &AppHandle<R>) {
    if let Err(err) = tray::install(app) {
        tracing::warn!(error = %err, "no tray icon on this desktop");
    }
    if let Err(err) = window::show(app) {
        tracing::error!(error = %err, "cannot open the window");
    }
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        mallard_server::launch::shutdown_signal().await;
        handle.exit(0);
    });
}
