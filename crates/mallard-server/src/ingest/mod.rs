//! Ingestion of Mallard-format events (`POST /api/event`, `GET /api/event`).
//!
//! The network input is parsed and validated in [`payload`], enriched in
//! [`enrich`] and handed to the store's writer; the request is answered only after
//! the transaction holding the event committed.

pub mod enrich;
pub mod payload;
