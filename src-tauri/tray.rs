//! The tray: live visitor count, open dashboard, pause collection, copy the
//! tracker snippet, launch at login, quit. A background task refreshes the
//! count every few seconds and raises the traffic-spike notification.

use std::time::Duration;

use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_autostart::ManagerExt as _;
use tauri_plugin_notification::NotificationExt;

use crate::host::ServerHost;
use crate::menu::ids;
use crate::spike::SpikeAlarm;

/// How often the live count is refreshed.
const REFRESH: Duration = Duration::from_secs(5);
/// The tray icon's id.
const TRAY_ID: &str = "mallard";

/// The tray menu items whose text or check mark changes.
pub struct TrayItems<R: Runtime> {
    /// The live visitor count (not clickable).
    pub live: MenuItem<R>,
    /// Pause collection.
    pub pause: CheckMenuItem<R>,
    /// Launch at login.
    pub autostart: CheckMenuItem<R>,
}

impl<R: Runtime> TrayItems<R> {
    /// Builds the items and the tray menu that holds them.
    pub fn build(app: &AppHandle<R>, autostart: bool) -> tauri::Result<(Self, Menu<R>)> {
        let items = Self {
            live: MenuItem::with_id(app, "live", live_label(None), false, None::<&str>)?,
            pause: CheckMenuItem::with_id(
                app,
                ids::PAUSE,
                "Pause Collection",
                true,
                false,
                None::<&str>,
            )?,
            autostart: CheckMenuItem::with_id(
                app,
                ids::AUTOSTART,
                "Launch at Login",
                true,
                autostart,
                None::<&str>,
            )?,
        };
        let menu = Menu::with_items(
            app,
            &[
                &items.live,
                &PredefinedMenuItem::separator(app)?,
                &MenuItem::with_id(app, ids::OPEN, "Open Dashboard", true, None::<&str>)?,
                &items.pause,
                &MenuItem::with_id(
                    app,
                    ids::COPY_SNIPPET,
                    "Copy Tracker Snippet",
                    true,
                    None::<&str>,
                )?,
                &PredefinedMenuItem::separator(app)?,
                &items.autostart,
                &MenuItem::with_id(app, ids::QUIT, "Quit Mallard Metrics", true, None::<&str>)?,
            ],
        )?;
        Ok((items, menu))
    }

    /// Shows whether collection is paused.
    pub fn show_paused(&self, paused: bool) {
        let _ = self.pause.set_checked(paused);
    }

    /// Shows whether launch at login is on.
    pub fn show_autostart(&self, enabled: bool) {
        let _ = self.autostart.set_checked(enabled);
    }

    /// Shows the live visitor count (None while unknown).
    pub fn show_live(&self, visitors: Option<u64>) {
        let _ = self.live.set_text(live_label(visitors));
    }
}

/// The text of the live count item.
pub fn live_label(visitors: Option<u64>) -> String {
    match visitors {
        None => "Live visitors: …".to_owned(),
        Some(1) => "1 live visitor".to_owned(),
        Some(n) => format!("{n} live visitors"),
    }
}

/// Installs the tray icon and starts refreshing its count. Where the desktop
/// has no tray (some Linux desktops), the app still works from its window.
pub fn install<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let autostart = app.autolaunch().is_enabled().unwrap_or(false);
    let (items, menu) = TrayItems::build(app, autostart)?;
    let mut tray = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip("Mallard Metrics")
        .menu(&menu)
        .show_menu_on_left_click(true);
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    app.manage(items);
    spawn_refresh(app.clone());
    Ok(())
}

/// Refreshes the live count every [`REFRESH`] and notifies on a spike. Each
/// refresh is one store query for all sites together, so its cost does not
/// grow with a query per site.
fn spawn_refresh<R: Runtime>(app: AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        let threshold = app
            .state::<ServerHost>()
            .config()
            .map_or(0, |config| config.spike_alert_visitors);
        let mut alarm = SpikeAlarm::new(threshold);
        loop {
            let state = app.state::<ServerHost>().state();
            let visitors = match state {
                Some(state) => mallard_server::live::live_visitors(&state).await.ok(),
                None => None,
            };
            if let Some(items) = app.try_state::<TrayItems<R>>() {
                items.show_live(visitors);
            }
            if let Some(count) = visitors
                && alarm.observe(count)
            {
                notify_spike(&app, count);
            }
            tokio::time::sleep(REFRESH).await;
        }
    });
}

fn notify_spike<R: Runtime>(app: &AppHandle<R>, visitors: u64) {
    tracing::info!(visitors, "traffic spike");
    let shown = app
        .notification()
        .builder()
        .title("Traffic spike")
        .body(format!("{visitors} visitors on your sites right now."))
        .show();
    if let Err(err) = shown {
        tracing::warn!(error = %err, "cannot show the notification");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_live_label_reads_well() {
        assert_eq!(live_label(None), "Live visitors: …");
        assert_eq!(live_label(Some(1)), "1 live visitor");
        assert_eq!(live_label(Some(0)), "0 live visitors");
        assert_eq!(live_label(Some(1234)), "1234 live visitors");
    }
}
