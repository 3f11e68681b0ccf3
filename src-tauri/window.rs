//! The dashboard window: created signed in, hidden rather than closed (the
//! app keeps collecting in the tray), shown and focused again from the tray,
//! the menu, or a second launch.

use tauri::{
    AppHandle, Manager, Runtime, WebviewUrl, WebviewWindow, WebviewWindowBuilder, WindowEvent,
};

use crate::host::ServerHost;
use crate::sign_in::sign_in_url;

/// The label of the dashboard window.
pub const MAIN: &str = "main";
/// The window's title.
pub const TITLE: &str = "Mallard Metrics";
/// The dashboard's import screen (File → Import…): logs, GoatCounter and
/// Plausible exports.
pub const IMPORT_SCREEN: &str = "#/import";

/// The fragment of Settings → Remote servers (File → Pull from Remote Servers…).
pub const REMOTES_SCREEN: &str = "#/settings?card=remotes";

/// Shows and focuses the dashboard window, creating it signed in if needed.
pub fn show<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    if let Some(window) = app.get_webview_window(MAIN) {
        return focus(&window);
    }
    let host = app.state::<ServerHost>();
    let (Some(url), Some(state)) = (host.url(), host.state()) else {
        return Ok(());
    };
    let target = sign_in_url(&url, &state, None).unwrap_or(url);
    open_at(app, &target)
}

/// Opens (or points) the dashboard window at `url`.
pub fn open_at<R: Runtime>(app: &AppHandle<R>, url: &str) -> tauri::Result<()> {
    let url: tauri::Url = url
        .parse()
        .map_err(|err| tauri::Error::Anyhow(anyhow::anyhow!("invalid URL {url}: {err}")))?;
    if let Some(window) = app.get_webview_window(MAIN) {
        window.navigate(url)?;
        return focus(&window);
    }
    let window = WebviewWindowBuilder::new(app, MAIN, WebviewUrl::External(url))
        .title(TITLE)
        .inner_size(1280.0, 860.0)
        .min_inner_size(420.0, 480.0)
        .build()?;
    let hidden = window.clone();
    window.on_window_event(move |event| {
        if let WindowEvent::CloseRequested { api, .. } = event {
            // Closing the window keeps the server collecting; Quit stops it.
            api.prevent_close();
            if let Err(err) = hidden.hide() {
                tracing::warn!(error = %err, "cannot hide the window");
            }
        }
    });
    Ok(())
}

/// Signs the window in again on the (possibly new) server address, keeping the
/// dashboard view it shows.
pub fn sign_in_again<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let host = app.state::<ServerHost>();
    let (Some(url), Some(state)) = (host.url(), host.state()) else {
        return Ok(());
    };
    let current = app
        .get_webview_window(MAIN)
        .and_then(|window| window.url().ok());
    let next = current.as_ref().map(|current| match current.query() {
        Some(query) => format!("{}?{query}", current.path()),
        None => current.path().to_owned(),
    });
    let mut target = sign_in_url(&url, &state, next.as_deref()).unwrap_or(url);
    // The dashboard keeps its view in the fragment, which the browser carries
    // over the sign-in redirect.
    if let Some(fragment) = current.as_ref().and_then(|current| current.fragment()) {
        target.push('#');
        target.push_str(fragment);
    }
    open_at(app, &target)
}

/// Shows the window on the dashboard screen `fragment` (`#/import`).
pub fn show_screen<R: Runtime>(app: &AppHandle<R>, fragment: &str) -> tauri::Result<()> {
    if let Some(window) = app.get_webview_window(MAIN) {
        // The dashboard routes by its fragment: changing it switches screens
        // without reloading, and keeps the session.
        window.eval(format!("window.location.hash = {fragment:?};"))?;
        return focus(&window);
    }
    let host = app.state::<ServerHost>();
    let (Some(url), Some(state)) = (host.url(), host.state()) else {
        return Ok(());
    };
    let mut target = sign_in_url(&url, &state, None).unwrap_or(url);
    target.push_str(fragment);
    open_at(app, &target)
}

fn focus<R: Runtime>(window: &WebviewWindow<R>) -> tauri::Result<()> {
    window.unminimize()?;
    window.show()?;
    window.set_focus()
}
