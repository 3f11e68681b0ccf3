//! SQLite storage of Mallard Metrics.
//!
//! The store owns one SQLite database file in the data directory. It knows SQL but
//! not HTTP. Its shape follows three rules from the architecture:
//!
//! - All writes go through one writer thread ([`writer`]) that owns the only write
//!   connection and commits events in batches (group commit). A submission resolves
//!   only after the transaction holding its events has committed.
//! - Reads use separate read-only connections ([`reader`]) in WAL mode and never
//!   wait for the writer.
//! - Every SQL statement is parameterized; dimension strings (paths, hosts,
//!   browsers, ...) are interned ([`dims`]) so an event row is a handful of integers.

pub mod annotations;
pub mod auth;
pub mod backup;
pub mod cancel;
pub mod collector;
pub mod dashboard_settings;
pub mod deletion;
pub mod derived_parts;
pub mod dims;
pub mod error;
pub mod feed;
pub mod goal_days;
pub mod goals;
pub mod hll;
pub mod imported_daily;
pub mod imports;
pub mod lock;
pub mod offline_check;
pub mod open;
pub mod prop_recount;
pub mod reader;
pub mod recent;
pub mod remotes;
pub mod retention;
pub mod rollup_check;
pub mod rollup_spans;
pub mod rollups;
pub mod schema;
pub mod sites;
pub mod stats;
pub mod visitor_salts;
pub mod visits;
pub mod writer;

mod bulk_load;
mod day_segment;
mod dedupe_keys;
mod insert;
mod key_filter;
mod packed_pages;
mod plain_sketches;
mod private_files;
mod rollup_rebuild;
mod segment_fold;
mod settings;
mod site_records;
mod sketch_cache;
mod varint;
mod visit_days;
mod visit_growth;
mod visit_paths;
mod visit_record;
mod visit_rows;

pub use cancel::QueryCancel;
#[doc(hidden)]
pub use day_segment::fuzz_decode as fuzz_decode_day_segment;
pub use error::StoreError;
pub use open::{Durability, Store, StoreOptions};
pub use reader::{ReadConn, ReadPool};
pub use visitor_salts::VisitorSalts;
pub use writer::{HeldBack, WriterHandle};

/// The name of the database file inside the data directory.
pub const DATABASE_FILE: &str = "mallard.db";
