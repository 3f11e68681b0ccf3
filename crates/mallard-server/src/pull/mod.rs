//! Pulling a remote Mallard's events into this install (`mallard pull`,
//! Settings → Remote servers): read the remote's event feed
//! (`GET /api/events/feed`, [`crate::routes::feed`]) page by page with an API
//! key, turn each visit's events back into [`mallard_core::NewEvent`]s with
//! their own times and visitor ids (so the writer forms the same visits as
//! if they had been ingested live), and write each page with its cursor in
//! one transaction (`mallard_store::remotes::record_page`): an interrupted
//! pull resumes where it stopped and a repeated one adds nothing.

mod client;
mod events;
mod run;
pub mod schedule;

pub use client::{FeedClient, PullError, base_url};
pub use events::{FeedEvents, Skipped};
pub use run::{PullProgress, PullReport, PullTarget, SiteReport, pull, pull_and_note};
