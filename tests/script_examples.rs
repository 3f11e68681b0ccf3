//! The "Use from a script" examples of docs/api.md, run as a reader would
//! run them: the `sh` blocks with bash (curl), the `python` blocks with the
//! test tools' Python (which has requests), the `js` blocks with Node.js,
//! each against a live server with a password set, a ReadOnly key and an
//! ingestion key in the environment. Every example must succeed, and the
//! events each sends must arrive.

use std::path::{Path, PathBuf};
use std::process::Command;

use mallard_e2e::{Server, TestHome, client, create_api_key, json_of, mint_ingestion_key, sign_in};

/// The fenced code blocks of the section "Use from a script", with their
/// language.
fn examples() -> Vec<(String, String)> {
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/api.md"))
            .unwrap();
    let start = docs
        .find("## Use from a script")
        .expect("the section exists");
    let section = &docs[start..];
    let section = &section[..section[3..]
        .find("\n## ")
        .map_or(section.len(), |end| end + 3)];
    let mut blocks = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if let Some(language) = line.strip_prefix("```").filter(|l| !l.is_empty()) {
            let body: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.starts_with("```"))
                .collect();
            blocks.push((language.to_owned(), body.join("\n")));
        }
    }
    blocks
}

/// The Python of the test tools (`cargo xtask test` installs it with
/// Schemathesis and requests), or `MALLARD_PYTHON`.
fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("MALLARD_PYTHON") {
        return PathBuf::from(path);
    }
    let installed =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/tools/schemathesis/bin/python");
    assert!(
        installed.exists(),
        "{} is missing: run `cargo xtask test` (it installs the test tools) or set MALLARD_PYTHON",
        installed.display()
    );
    installed
}

#[test]
fn the_script_examples_of_the_api_docs_work_as_written() {
    let home = TestHome::new();
    let admin_token = "admin-token-0123456789abcdef";
    let server = Server::start(
        &home,
        &[
            ("MALLARD_ADMIN_PASSWORD", "a long password"),
            ("ADMIN_TOKEN", admin_token),
        ],
    );
    let session = sign_in(&server, "a long password");
    let key = create_api_key(&server, &session, "ReadOnly");
    let ingest_key = mint_ingestion_key(&server, admin_token, &["ingest:server"]);

    let blocks = examples();
    let languages: Vec<&str> = blocks.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(languages, ["sh", "python", "js"]);
    for (language, code) in &blocks {
        let mut command = match language.as_str() {
            "sh" => {
                let mut bash = Command::new("bash");
                bash.args(["-euo", "pipefail", "-c", code]);
                bash
            }
            "python" => {
                let mut python = Command::new(python());
                python.args(["-c", code]);
                python
            }
            "js" => {
                let mut node = Command::new("node");
                node.args(["--input-type=module", "-e", code]);
                node
            }
            other => panic!("an example in {other}"),
        };
        let output = command
            .env("MALLARD_URL", &server.base)
            .env("MALLARD_KEY", &key)
            .env("MALLARD_INGEST_KEY", &ingest_key)
            .output()
            .unwrap_or_else(|err| panic!("cannot run the {language} example: {err}"));
        assert!(
            output.status.success(),
            "the {language} example failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    // Each example sent a page view and a collector event: three of each.
    let stats = |path: &str| {
        json_of(
            client()
                .get(server.url(path))
                .bearer_auth(&key)
                .send()
                .unwrap(),
        )
    };
    let main = stats("/api/stats/main?site_id=example.com&period=day");
    assert_eq!(main["total_pageviews"], 3, "{main}");
    let events = stats("/api/stats/breakdown/events?site_id=example.com&period=day");
    assert_eq!(events[0]["value"], "signup", "{events}");
    assert_eq!(events[0]["events"], 3, "{events}");
}
