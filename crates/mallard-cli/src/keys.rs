//! `mallard keys create|list|revoke`: Mallard API key management for headless
//! installs. On a stopped install the command opens the store itself; on a
//! running one (the data directory is locked) it calls the running server's
//! HTTP API with the local admin token the server published in the data
//! directory, so that every write still goes through the server's writer.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use mallard_core::Scope;
use mallard_core::scope::validate_key_name;
use mallard_server::auth::secrets::{new_api_key, sha256_hex};

use mallard_store::Store;
use mallard_store::auth::ApiKeyRecord;
use serde_json::{Value, json};

use crate::CommonArgs;
use crate::local_server::LocalServer;

/// Flags of `mallard keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    action: KeysAction,
}

#[derive(Debug, Subcommand)]
enum KeysAction {
    /// Create a key and print it once.
    Create {
        /// A name that says what the key is for.
        #[arg(long)]
        name: String,
        /// ReadOnly (stats only) or Admin (key management and settings too).
        #[arg(long, default_value = "ReadOnly")]
        scope: String,
    },
    /// List keys (never their plaintext).
    List,
    /// Revoke a key by its SHA-256 hash.
    Revoke {
        /// The key's hash, as listed.
        key_hash: String,
    },
}

/// A key as shown to the user.
struct Listed {
    key_hash: String,
    name: String,
    scope: String,
    created_at: String,
    revoked: bool,
}

/// Runs the command against the store or the running server.
pub fn run(args: KeysArgs) -> anyhow::Result<()> {
    let config = args.common.load(None, None)?;
    crate::local_server::on_store_or_server(
        &config.data_dir,
        |store| offline(store, &args.action),
        |dir| online(dir, &args.action),
    )
}

fn offline(store: &Store, action: &KeysAction) -> anyhow::Result<()> {
    let writer = store.writer();
    match action {
        KeysAction::Create { name, scope } => {
            let scope: Scope = scope.parse().map_err(anyhow::Error::msg)?;
            let name = validate_key_name(name).map_err(|e| anyhow::anyhow!("--{e}"))?;
            let key = new_api_key().context("the OS random number generator failed")?;
            let record = ApiKeyRecord {
                key_hash: sha256_hex(&key),
                name,
                scope,
                created_at_ms: mallard_server::clock::now_ms(),
                revoked_at_ms: None,
            };
            let stored = record.clone();
            writer.run_blocking(move |conn| mallard_store::auth::insert_api_key(conn, &stored))?;
            print_created(&key, &record.key_hash, &record.name, record.scope.as_str());
        }
        KeysAction::List => {
            let keys = store
                .reads()
                .with(|db| mallard_store::auth::list_api_keys(db.connection()))?;
            print_list(keys.into_iter().map(|k| Listed {
                created_at: mallard_server::clock::rfc3339(k.created_at_ms),
                revoked: k.revoked_at_ms.is_some(),
                key_hash: k.key_hash,
                name: k.name,
                scope: k.scope.as_str().to_owned(),
            }));
        }
        KeysAction::Revoke { key_hash } => {
            let hash = key_hash.trim().to_ascii_lowercase();
            let now = mallard_server::clock::now_ms();
            let found = writer
                .run_blocking(move |conn| mallard_store::auth::revoke_api_key(conn, &hash, now))?;
            if !found {
                bail!("no key has the hash {key_hash}");
            }
            println!("revoked {key_hash}");
        }
    }
    Ok(())
}

fn online(data_dir: &std::path::Path, action: &KeysAction) -> anyhow::Result<()> {
    let server = LocalServer::discover(data_dir)?;
    match action {
        KeysAction::Create { name, scope } => {
            let created = server.post("/api/keys", &json!({"name": name, "scope": scope}))?;
            print_created(
                created["key"].as_str().unwrap_or_default(),
                created["key_hash"].as_str().unwrap_or_default(),
                created["name"].as_str().unwrap_or_default(),
                created["scope"].as_str().unwrap_or_default(),
            );
        }
        KeysAction::List => {
            let keys = server.get("/api/keys")?;
            let text = |k: &Value, f: &str| k[f].as_str().unwrap_or_default().to_owned();
            print_list(keys.as_array().into_iter().flatten().map(|k| Listed {
                key_hash: text(k, "key_hash"),
                name: text(k, "name"),
                scope: text(k, "scope"),
                created_at: text(k, "created_at"),
                revoked: k["revoked"].as_bool().unwrap_or(false),
            }));
        }
        KeysAction::Revoke { key_hash } => {
            server.delete(&format!("/api/keys/{}", key_hash.trim()))?;
            println!("revoked {key_hash}");
        }
    }
    Ok(())
}

fn print_created(key: &str, key_hash: &str, name: &str, scope: &str) {
    println!("key:      {key}");
    println!("key_hash: {key_hash}");
    println!("name:     {name}");
    println!("scope:    {scope}");
    println!("Store the key now: it is not shown again.");
}

fn print_list(keys: impl Iterator<Item = Listed>) {
    for key in keys {
        let state = if key.revoked { "revoked" } else { "active" };
        println!(
            "{}  {:<8}  {:<7}  {}  {}",
            key.key_hash, key.scope, state, key.created_at, key.name
        );
    }
}
