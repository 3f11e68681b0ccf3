//! Build script of the desktop app: Tauri reads `tauri.conf.json` and the icons
//! beside the root manifest and generates the app context.

fn main() {
    tauri_build::build();
}
