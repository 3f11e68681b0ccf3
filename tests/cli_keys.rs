//! End-to-end tests of `mallard keys` on a stopped and on a running install.

use std::process::Output;

use mallard_e2e::{Server, TestHome, client};
use reqwest::StatusCode;

fn keys(home: &TestHome, args: &[&str]) -> Output {
    home.command()
        .arg("keys")
        .arg("--data-dir")
        .arg(home.data_dir())
        .args(args)
        .output()
        .unwrap()
}

fn succeeded(output: Output) -> Output {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn field(output: &Output, name: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {stdout}"))
        .trim()
        .to_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn status_with_key(server: &Server, key: &str) -> StatusCode {
    client()
        .get(server.url("/api/keys"))
        .bearer_auth(key)
        .send()
        .unwrap()
        .status()
}

#[test]
fn keys_made_on_a_stopped_install_work_once_it_runs() {
    let home = TestHome::new();
    let kept = succeeded(keys(
        &home,
        &["create", "--name", "offline", "--scope", "Admin"],
    ));
    let (key, hash) = (field(&kept, "key"), field(&kept, "key_hash"));
    assert!(key.starts_with("mm_"));
    let dropped = succeeded(keys(
        &home,
        &["create", "--name", "dropped", "--scope", "Admin"],
    ));
    let (dropped_key, dropped_hash) = (field(&dropped, "key"), field(&dropped, "key_hash"));
    succeeded(keys(&home, &["revoke", &dropped_hash]));
    let listing = stdout(&succeeded(keys(&home, &["list"])));
    assert!(
        listing.contains(&hash) && listing.contains("offline"),
        "{listing}"
    );
    assert!(
        listing
            .lines()
            .any(|l| l.contains(&dropped_hash) && l.contains("revoked")),
        "{listing}"
    );
    assert!(!listing.contains(&key), "plaintext never listed");

    let bad_scope = keys(&home, &["create", "--name", "x", "--scope", "Owner"]);
    assert!(!bad_scope.status.success());
    assert!(String::from_utf8_lossy(&bad_scope.stderr).contains("scope"));
    assert!(!keys(&home, &["revoke", &"0".repeat(64)]).status.success());

    let server = Server::start(&home, &[("MALLARD_ADMIN_PASSWORD", "a long password")]);
    assert_eq!(status_with_key(&server, &key), StatusCode::OK);
    assert_eq!(
        status_with_key(&server, &dropped_key),
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn keys_managed_while_the_server_runs_take_effect_immediately() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("MALLARD_ADMIN_PASSWORD", "a long password")]);
    let created = succeeded(keys(
        &home,
        &["create", "--name", "live", "--scope", "Admin"],
    ));
    let (key, hash) = (field(&created, "key"), field(&created, "key_hash"));
    assert_eq!(status_with_key(&server, &key), StatusCode::OK);
    let listing = stdout(&succeeded(keys(&home, &["list"])));
    assert!(
        listing.contains(&hash) && listing.contains("live"),
        "{listing}"
    );
    succeeded(keys(&home, &["revoke", &hash]));
    assert_eq!(status_with_key(&server, &key), StatusCode::UNAUTHORIZED);
    let refused = keys(&home, &["create", "--name", "x", "--scope", "Owner"]);
    assert!(!refused.status.success());
    // The published token is private to the owner and gone after shutdown.
    assert!(home.data_dir().join("local-admin-token").exists());
    server.terminate();
    assert!(!home.data_dir().join("local-admin-token").exists());
}
