//! Desktop sign-in: the URL that signs the window in. The token is minted in
//! this process by the server's [`mallard_server::auth::desktop`] store, works
//! once and for a minute, and the server redirects away from the URL holding
//! it at once, so no usable secret outlives the exchange.

use mallard_server::AppState;

/// The URL that signs the window in and then shows `next` (a path of the
/// dashboard, `/` by default). None if the OS random number generator failed.
pub fn sign_in_url(base: &str, state: &AppState, next: Option<&str>) -> Option<String> {
    let token = state.auth.desktop.mint()?;
    let mut url = format!("{base}api/auth/desktop?token={token}");
    if let Some(next) = next.filter(|next| *next != "/") {
        url.push_str("&next=");
        url.push_str(&percent_encode(next));
    }
    Some(url)
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use mallard_server::{Config, Server};

    #[test]
    fn the_url_carries_a_token_the_server_redeems_once() {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::open(Config::with_data_dir(dir.path())).unwrap();
        let state = server.state().clone();
        let url = sign_in_url("http://127.0.0.1:8000/", &state, None).unwrap();
        let token = url
            .strip_prefix("http://127.0.0.1:8000/api/auth/desktop?token=")
            .unwrap();
        assert!(state.auth.desktop.redeem(token));
        assert!(!state.auth.desktop.redeem(token));
    }

    #[test]
    fn the_next_path_is_encoded() {
        assert_eq!(
            percent_encode("/?site=a.com&p=7d"),
            "/%3Fsite%3Da.com%26p%3D7d"
        );
        let dir = tempfile::tempdir().unwrap();
        let server = Server::open(Config::with_data_dir(dir.path())).unwrap();
        let url = sign_in_url("http://h/", server.state(), Some("/?a=b")).unwrap();
        assert!(url.ends_with("&next=/%3Fa%3Db"), "{url}");
    }
}
