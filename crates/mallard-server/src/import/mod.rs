//! Imports of traffic recorded elsewhere: server access logs (`mallard
//! import logs`), GoatCounter CSV exports (`mallard import goatcounter`)
//! and Plausible CSV exports (`mallard import plausible`, daily aggregates:
//! [`plausible`]).
//! [`source`] reads the files (gzip, standard input, the identity of a
//! file), [`log_events`] turns log lines into events with the same
//! enrichment as live traffic, [`goatcounter_events`] an export's rows, and
//! [`run`] drives one import through the store's writer, keeping the import
//! ledger (`mallard_store::imports`) in step with the events it commits.

pub mod goatcounter_events;
pub mod jobs;
pub mod log_events;
pub mod plausible;
pub mod run;
pub mod source;

pub use goatcounter_events::GoatCounterEvents;
pub use log_events::{LineCounts, LineEvents, LogEvents};
pub use run::{
    FOLLOW_POLL, FileOutcome, ImportError, ImportFormat, ImportReport, LogImportRequest, Progress,
    import_logs,
};
