//! The error type of the domain layer.

use thiserror::Error;

/// Why a piece of input was refused by domain validation.
///
/// Each variant names the field it concerns so that both API families can turn
/// it into their own documented error body without guessing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CoreError {
    /// The site id is empty, too long, or contains characters outside `[A-Za-z0-9._:-]`.
    #[error("invalid site id: {0}")]
    InvalidSiteId(String),
    /// The event name is empty or too long.
    #[error("invalid event name: {0}")]
    InvalidEventName(String),
    /// The page URL could not be parsed as an absolute http(s) URL.
    #[error("invalid url: {0}")]
    InvalidUrl(String),
    /// The custom properties are not a JSON object of scalar values within the limits.
    #[error("invalid props: {0}")]
    InvalidProps(String),
    /// A goal's definition is not valid (the message names the field).
    #[error("{0}")]
    InvalidGoal(String),
    /// The revenue amount is not a finite decimal number within range.
    #[error("invalid revenue: {0}")]
    InvalidRevenue(String),
    /// The currency is not a three-letter ISO 4217 code.
    #[error("invalid currency: {0}")]
    InvalidCurrency(String),
    /// The period, dates or interval of a stats query cannot be used.
    #[error("invalid period: {0}")]
    InvalidPeriod(String),
    /// The time zone is not a known IANA time zone name.
    #[error("invalid time zone: {0}")]
    InvalidTimeZone(String),
    /// A stats filter cannot be parsed.
    #[error("invalid filters: {0}")]
    InvalidFilter(String),
    /// A step of a behavioural query (funnel) cannot be parsed.
    #[error("invalid steps: {0}")]
    InvalidStep(String),
}
