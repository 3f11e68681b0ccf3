//! `mallard check`: SQLite's integrity check on the data directory's database.

use anyhow::{Context, bail};
use mallard_store::{Store, StoreOptions};

use crate::CommonArgs;

/// Opens the store (taking the data directory lock) and runs the check.
pub fn run(args: &CommonArgs) -> anyhow::Result<()> {
    let config = args.load(None, None)?;
    let store = Store::open(&config.data_dir, StoreOptions::default())
        .with_context(|| format!("cannot open {}", config.data_dir.display()))?;
    let problems = store.reads().with(|db| db.integrity_problems())?;
    let sites = store.reads().with(|db| db.site_domains())?;
    store.close();
    if !problems.is_empty() {
        bail!("the database is damaged:\n{}", problems.join("\n"));
    }
    println!("ok: {} site(s): {}", sites.len(), sites.join(", "));
    Ok(())
}
