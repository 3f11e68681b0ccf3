//! Imports of traffic recorded elsewhere. Server access logs first
//! (`mallard import logs`): [`source`] reads the files (gzip, standard
//! input, the identity of a file), [`log_events`] turns lines into events
//! with the same enrichment as live traffic, and [`run`] drives one import
//! through the store's writer, keeping the import ledger
//! (`mallard_store::imports`) in step with the events it commits.

pub mod jobs;
pub mod log_events;
pub mod run;
pub mod source;

pub use log_events::{LineCounts, LogEvents};
pub use run::{
    FOLLOW_POLL, FileOutcome, ImportError, ImportReport, LogImportRequest, Progress, import_logs,
};
