//! Cross-cutting concerns as tower layers and middleware.

pub mod host_guard;
pub mod http_metrics;
pub mod security_headers;
pub mod timeout;
