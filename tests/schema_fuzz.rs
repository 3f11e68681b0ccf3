//! Schemathesis (the schema-driven API fuzzer, pinned in
//! `tests/schemathesis/requirements.txt` and installed by `cargo xtask
//! test`) against a live server, generating requests from the OpenAPI
//! description at `/api/openapi.json` for both API families, without and
//! with credentials, and following the description's links statefully
//! (create a key, read it, revoke it).
//!
//! The checks: no 5xx; every status, content type, header and body is the
//! one the description documents (so every error body is its family's);
//! keys stay available after creation and gone after revocation; and no
//! answer takes more than 5 s. The request-precision checks
//! (`positive_data_acceptance`, `negative_data_rejection`) are off: the
//! server validates more than a schema can say (the filter grammar, dates
//! given together, known breakdown names).
//!
//! Each run has a fixed seed and a bounded number of examples per
//! operation, so a failure reproduces with the same command.

use std::path::PathBuf;
use std::process::Command;

use mallard_e2e::{Server, TestHome, create_api_key, mint_ingestion_key, sign_in};

/// The checks every run applies.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
    response_headers_conformance,response_schema_conformance,use_after_free,\
    ensure_resource_availability";

/// The Schemathesis installed by `cargo xtask test`, or the one named by
/// `MALLARD_SCHEMATHESIS`.
fn schemathesis() -> PathBuf {
    if let Some(path) = std::env::var_os("MALLARD_SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    let installed = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/tools/schemathesis/bin/schemathesis");
    assert!(
        installed.exists(),
        "Schemathesis is not installed at {}: run `cargo xtask test` (it installs the \
         pinned version) or set MALLARD_SCHEMATHESIS",
        installed.display()
    );
    installed
}

/// Runs Schemathesis against `server` for at most `seconds` (fuzzing repeats
/// until they are spent) with `args` on top of the common ones; fails the
/// test with its report when it finds anything.
fn fuzz(home: &TestHome, server: &Server, seed: u64, seconds: u32, args: &[&str]) {
    let reports = home.path().join("schemathesis");
    let output = Command::new(schemathesis())
        .arg("run")
        .arg(server.url("/api/openapi.json"))
        .args(["--checks", CHECKS])
        .args(["--max-response-time", "5"])
        .args(["--request-timeout", "10"])
        .args(["--seed", &seed.to_string()])
        .args(["--max-examples", "30"])
        .args(["--max-time", &seconds.to_string()])
        // One worker: Hypothesis describes its filters by parsing their
        // source, and CPython 3.11 can fail a parse that runs beside
        // another thread's with a spurious `SystemError: AST constructor
        // recursion depth mismatch` (python/cpython#106905), which ended a
        // run whose every case passed.
        .args(["--workers", "1"])
        .args(["--generation-database", "none"])
        .args(["--generation-with-security-parameters", "false"])
        .args(["--no-color", "--warnings", "off"])
        .arg("--report-dir")
        .arg(&reports)
        .args(args)
        .current_dir(home.path())
        .env("HOME", home.path())
        .output()
        .expect("Schemathesis runs");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "Schemathesis found problems:\n{report}"
    );
    assert!(
        report.contains("Tested:"),
        "Schemathesis tested nothing:\n{report}"
    );
}

#[test]
fn open_access_answers_are_what_the_description_says() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("ADMIN_TOKEN", "admin-token-0123456789abcdef")]);
    // Setting the password would end open access for the rest of the run,
    // a log import reads files by the path the request names, and a backup
    // writes one there (or into a directory a fuzzed setting names): these
    // are tested in their own suites.
    fuzz(
        &home,
        &server,
        20_261_205,
        40,
        &[
            "--exclude-path",
            "/api/auth/setup",
            "--exclude-path",
            "/api/imports/logs",
            "--exclude-operation-id",
            "take_backup",
        ],
    );
}

#[test]
fn with_a_password_an_admin_keys_answers_are_what_the_description_says() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("MALLARD_ADMIN_PASSWORD", "a long password")]);
    let session = sign_in(&server, "a long password");
    let key = create_api_key(&server, &session, "Admin");
    let header = format!("X-API-Key: {key}");
    fuzz(
        &home,
        &server,
        20_261_206,
        40,
        &[
            "--header",
            &header,
            "--include-path-regex",
            "^/(api|health|metrics)",
            "--exclude-path",
            "/api/imports/logs",
            "--exclude-operation-id",
            "take_backup",
        ],
    );
}

#[test]
fn the_collector_answers_in_its_envelope_with_an_ingestion_key_and_the_admin_token() {
    let home = TestHome::new();
    let admin_token = "admin-token-0123456789abcdef";
    let server = Server::start(&home, &[("ADMIN_TOKEN", admin_token)]);
    let key = mint_ingestion_key(&server, admin_token, &["ingest:write", "ingest:server"]);
    let ingest = format!("Authorization: Bearer {key}");
    fuzz(
        &home,
        &server,
        20_261_207,
        20,
        &[
            "--header",
            &ingest,
            "--include-path-regex",
            "^/(v1/)?(events|s2s/events|healthz|version)$",
        ],
    );
    let admin = format!("Authorization: Bearer {admin_token}");
    fuzz(
        &home,
        &server,
        20_261_208,
        20,
        &["--header", &admin, "--include-path-regex", "^/admin/"],
    );
}
