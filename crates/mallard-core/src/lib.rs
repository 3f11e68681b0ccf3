//! Domain types and pure logic of Mallard Metrics.
//!
//! This crate knows what an analytics event is and how raw input (a page URL, a
//! referrer, a user agent, a screen width, an IP address) is validated and turned
//! into the typed values the store keeps. It does no IO, runs no async code and
//! contains no SQL: every function here is deterministic and cheap to test.

pub mod access_log;
pub mod csv_line;
pub mod device;
pub mod error;
pub mod event;
pub mod filter;
pub mod goal;
pub mod goatcounter;
pub mod page;
pub mod period;
pub mod plausible_export;
pub mod props;
pub mod referrer;
pub mod revenue;
pub mod scope;
pub mod site;
pub mod step;
mod text;
pub mod user_agent;
pub mod visitor;

pub use device::DeviceClass;
pub use error::CoreError;
pub use event::{CollectorEventData, EventName, NewEvent, SessionAttributes};
pub use filter::{Dimension, Filter, FilterOp};
pub use page::{PageUrl, Utm};
pub use period::{DayRange, Interval, Period, SiteTimeZone};
pub use referrer::Referrer;
pub use revenue::{Currency, Revenue};
pub use scope::Scope;
pub use site::SiteId;
pub use step::Step;
pub use user_agent::{UserAgentClassifier, UserAgentInfo};
pub use visitor::{DailySalt, VisitorId};
