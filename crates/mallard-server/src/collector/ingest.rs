//! Collector ingestion: gates, authentication, decoding, validation and
//! enrichment of one event, answered 202 once its transaction committed.
//!
//! Order of checks: per-IP gate, authentication, per-credential gate,
//! per-workspace gate, consent, `Content-Encoding`, body (decoded under 5 MB),
//! wire schema, site (allowlist and per-site rate limit), tracking plan, new
//! site cap, monthly quota, store. Everything before the body runs on the
//! headers alone: a request refused there is answered without reading a byte
//! of its body. The body and its decoded form are charged to the request's
//! share of the body budget ([`crate::body_budget`]).
//!
//! Browser events (`/events`) get the same enrichment as Mallard events: user
//! agent (browser, OS, device), bot detection (dropped and counted when
//! `filter_bots` is on, else stored with `is_bot`), internal-traffic detection
//! from `internal_ip_ranges`, and the country of the client's address (see
//! [`mallard_geo`]; the address is dropped after the lookup). Server events (`/s2s/events`) get none: their visits carry
//! `is_bot = false`, `is_internal = false` and no country, browser or OS.
//!
//! The visitor is a site-scoped hash of the SDK's `anon_id`; the
//! event time is the client's `ts` when it lies between 30 days in the past and
//! 24 hours in the future, else the server time.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use mallard_core::page::parse_page_url;
use mallard_core::props::props_from_map;
use mallard_core::referrer::{classify_referrer, source_from_param};
use mallard_core::visitor::visitor_id_from_anon_id;
use mallard_core::{
    CollectorEventData, DeviceClass, EventName, NewEvent, SessionAttributes, SiteId, device,
};
use sha2::{Digest, Sha256};

use super::auth::{Endpoint, Principal, authenticate};
use super::body::{Encoding, MAX_BODY_BYTES, decode_granted};
use super::error::{CollectorError, FieldError, LimitGate};
use super::limits::current_month;
use super::schema::{WireEvent, parse_event};
use super::tracking_plan::Verdict;
use crate::body_budget::Reservation;
use crate::layers::timeout::CommitPoint;
use crate::request_body::{BodyReadError, read_limited};
use crate::settings::Effective;
use crate::site_gate::{Admission, SiteRefusal, check_allowed_and_rate};
use crate::state::AppState;

/// How far in the past a client timestamp is believed.
pub const MAX_TS_PAST_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// How far in the future a client timestamp is believed.
pub const MAX_TS_FUTURE_MS: i64 = 24 * 60 * 60 * 1000;
/// The longest consent token accepted, in bytes.
pub const MAX_CONSENT_LEN: usize = 512;
/// Compressed bodies larger than this are decoded on a blocking thread.
const INLINE_DECODE_BYTES: usize = 16 * 1024;

/// What an ingest request brings besides its headers.
#[derive(Debug)]
pub struct IngestBody {
    /// The body, not read yet.
    pub body: Body,
    /// The request's share of the body budget, if the layer gave it one.
    pub reservation: Option<Arc<Reservation>>,
    /// Passed just before the event is handed to the writer.
    pub commit: CommitPoint,
}

/// Handles one ingest request on `endpoint`; answers 202 or the error.
pub async fn ingest(
    state: &AppState,
    endpoint: Endpoint,
    ip: IpAddr,
    headers: &HeaderMap,
    request: IngestBody,
) -> Result<StatusCode, CollectorError> {
    let IngestBody {
        body,
        reservation: budget,
        commit,
    } = request;
    let collector = &state.collector;
    let settings = &state.config.collector;
    if state.collection.is_paused() {
        return Err(CollectorError::Unavailable("Collection is paused".into()));
    }
    let live = state.settings.get();
    let gates = collector.gates();
    if !gates.ip.check(&ip) {
        return Err(CollectorError::RateLimited(LimitGate::Ip));
    }
    let principal = authenticate(
        live.api_key_mode,
        &collector.keys,
        headers,
        endpoint,
        &|| collector.upgrade_docs(&state.config),
    )?;
    if !gates.credential.check(&principal.credential) {
        return Err(CollectorError::RateLimited(LimitGate::ApiKey));
    }
    if let (Some(gate), Some(workspace)) = (&gates.workspace, &principal.workspace)
        && !gate.check(workspace)
    {
        return Err(CollectorError::WorkspaceRateLimited);
    }
    let consent = consent_of(headers, settings.consent_required)?;
    let encoding = Encoding::from_headers(headers)?;
    let raw = read_limited(body, MAX_BODY_BYTES, budget.as_deref())
        .await
        .map_err(|err| match err {
            BodyReadError::TooLarge { .. } => CollectorError::PayloadTooLarge {
                limit_mb: MAX_BODY_BYTES / (1024 * 1024),
            },
            BodyReadError::OverBudget => CollectorError::ServerBusy,
            BodyReadError::Failed(message) => CollectorError::InvalidRequest(message),
        })?;
    let decoded = if encoding == Encoding::Identity || raw.len() <= INLINE_DECODE_BYTES {
        decode_granted(
            encoding,
            &raw,
            MAX_BODY_BYTES,
            &mut granter(budget.as_deref()),
        )?
    } else {
        tokio::task::spawn_blocking(move || {
            decode_granted(
                encoding,
                &raw,
                MAX_BODY_BYTES,
                &mut granter(budget.as_deref()),
            )
            .map(|decoded| Cow::Owned(decoded.into_owned()))
        })
        .await
        .map_err(|_| CollectorError::Internal)??
    };
    let wire = parse_event(&decoded)?;
    drop(decoded);
    let site = resolve_site(&principal, &wire)?;
    check_site(state, &live, &site)?;
    if let Some(plan) = &settings.tracking_plan {
        match plan.check(site.as_str(), wire.kind.trim(), wire.props.as_ref()) {
            Verdict::Pass => {}
            Verdict::Warn(problems) => {
                let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
                tracing::warn!(site = %site, event_type = %wire.kind, ?fields, "event breaks the tracking plan");
                metrics::counter!("mallard_collector_plan_violations_total", "mode" => "warn")
                    .increment(1);
            }
            Verdict::Reject(problems) => {
                metrics::counter!("mallard_collector_plan_violations_total", "mode" => "reject")
                    .increment(1);
                return Err(CollectorError::SchemaValidationFailed(problems));
            }
        }
    }
    let now = now_ms();
    let user_agent = match endpoint {
        Endpoint::Browser => user_agent_of(&wire, headers),
        Endpoint::Server => String::new(),
    };
    let event = build_event(state, endpoint, site, wire, ip, &user_agent, now)?;
    if event.session.is_bot && live.filter_bots {
        metrics::counter!("mallard_events_dropped_total", "reason" => "bot").increment(1);
        return Ok(StatusCode::ACCEPTED);
    }
    let site = event.site.clone();
    let admission = crate::site_gate::admit(state, &site)
        .await
        .map_err(|refusal| CollectorError::SiteLimitReached(refusal.message(&site)))?;
    let reservation = match reserve_quota(state, principal.workspace.as_deref()).await {
        Ok(reservation) => reservation,
        Err(err) => {
            release_site(state, admission, &site);
            return Err(err);
        }
    };
    let mut event = event;
    if let Some(extra) = event.collector.as_mut() {
        extra.consent = consent;
        extra.workspace = principal.workspace.clone();
    }
    // From here the outcome of the write decides the answer, whatever the
    // time limit: a committed event is never answered 408.
    commit.pass();
    let outcome = state.writer.insert(vec![event]).await;
    state.write_health.record(&outcome);
    if let Err(failure) = outcome {
        if let (Some(month), Some(workspace)) = (reservation, principal.workspace.as_deref()) {
            collector_release(state, workspace, &month);
        }
        release_site(state, admission, &site);
        return Err(failure.into());
    }
    crate::observability::events_ingested(crate::observability::Family::Collector).increment(1);
    Ok(StatusCode::ACCEPTED)
}

/// Grants decoded output from `reservation` (everything without one).
fn granter(reservation: Option<&Reservation>) -> impl FnMut(usize) -> bool + '_ {
    move |bytes| reservation.is_none_or(|r| r.grow(bytes).is_ok())
}

/// The site allowlist and the per-site rate limit, as on `/api/event`.
fn check_site(state: &AppState, live: &Effective, site: &SiteId) -> Result<(), CollectorError> {
    let limiter = state.settings.site_limiter();
    check_allowed_and_rate(&live.site_ids, limiter.as_deref(), site).map_err(
        |refusal| match refusal {
            SiteRefusal::RateLimited { retry_after_secs } => {
                CollectorError::SiteRateLimited { retry_after_secs }
            }
            SiteRefusal::NotAllowed => CollectorError::SiteNotAllowed(refusal.message(site)),
            SiteRefusal::NewSiteLimit { .. } => {
                CollectorError::SiteLimitReached(refusal.message(site))
            }
        },
    )
}

/// Gives back a new site's admission when its event was not stored.
fn release_site(state: &AppState, admission: Admission, site: &SiteId) {
    if admission == Admission::New {
        state.new_sites.release(site);
    }
}

fn collector_release(state: &AppState, workspace: &str, month: &str) {
    state.collector.quota.release(workspace, month);
}

/// The consent token, required when `required` is set: visible ASCII, at most
/// [`MAX_CONSENT_LEN`] bytes.
fn consent_of(headers: &HeaderMap, required: bool) -> Result<Option<String>, CollectorError> {
    let token = headers
        .get("x-consent")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= MAX_CONSENT_LEN)
        .filter(|t| t.bytes().all(|b| b.is_ascii_graphic() || b == b' '))
        .map(str::to_owned);
    if required && token.is_none() {
        return Err(CollectorError::ConsentRequired);
    }
    Ok(token)
}

/// The event's site: the one the credentials name, which the body's `site_id`
/// must match; with a key and no `X-Site-Id`, the body's `site_id`.
fn resolve_site(principal: &Principal, wire: &WireEvent) -> Result<SiteId, CollectorError> {
    let body_site = SiteId::parse(wire.site_id.trim()).map_err(|e| {
        CollectorError::InvalidField(vec![FieldError::new("site_id", e.to_string())])
    })?;
    match &principal.site {
        Some(site) if *site != body_site => Err(CollectorError::SiteMismatch),
        _ => Ok(body_site),
    }
}

/// Reserves one event of the workspace's monthly quota, seeding the count from
/// the store on first use each month. Returns the month reserved in.
async fn reserve_quota(
    state: &AppState,
    workspace: Option<&str>,
) -> Result<Option<String>, CollectorError> {
    let (Some(quota), Some(workspace)) =
        (state.config.collector.workspace_monthly_quota, workspace)
    else {
        return Ok(None);
    };
    let tracker = &state.collector.quota;
    let month = current_month();
    if !tracker.knows(workspace, &month) {
        let id = workspace.to_owned();
        let stored = state
            .read(move |db| db.collector_month_usage(&id))
            .await
            .map_err(|_| CollectorError::Unavailable("The database is not ready".into()))?;
        tracker.seed(workspace, &month, stored);
    }
    if tracker.reserve(workspace, &month, quota) {
        Ok(Some(month))
    } else {
        Err(CollectorError::MonthlyQuotaExceeded)
    }
}

fn user_agent_of(wire: &WireEvent, headers: &HeaderMap) -> String {
    wire.context
        .as_ref()
        .and_then(|c| c.ua.clone())
        .or_else(|| wire.ua.clone())
        .or_else(|| {
            headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

/// `pageview` and its common spellings are page views; other types are custom
/// events named as sent.
fn event_name(kind: &str) -> Result<EventName, CollectorError> {
    let trimmed = kind.trim();
    let name = match trimmed.to_ascii_lowercase().as_str() {
        "pageview" | "page_view" | "page" => EventName::PAGEVIEW,
        _ => trimmed,
    };
    EventName::parse(name)
        .map_err(|e| CollectorError::InvalidField(vec![FieldError::new("type", e.to_string())]))
}

/// The event time: the client's `ts` inside the sane window, else `now`.
pub fn event_time(ts: f64, now: i64) -> i64 {
    if !ts.is_finite() {
        return now;
    }
    let ts = ts.round();
    let (low, high) = (now - MAX_TS_PAST_MS, now + MAX_TS_FUTURE_MS);
    if ts >= low as f64 && ts <= high as f64 {
        ts as i64
    } else {
        now
    }
}

/// The dedupe key of an event: 16 bytes of SHA-256 over the site and the id.
pub fn dedupe_key(site: &SiteId, id: &str) -> [u8; 16] {
    let digest = Sha256::new()
        .chain_update(site.as_str().as_bytes())
        .chain_update([0])
        .chain_update(id.trim().as_bytes())
        .finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

fn clean(value: Option<&String>) -> Option<String> {
    value
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(|v| v.chars().take(256).collect())
}

fn build_event(
    state: &AppState,
    endpoint: Endpoint,
    site: SiteId,
    wire: WireEvent,
    ip: IpAddr,
    user_agent: &str,
    now: i64,
) -> Result<NewEvent, CollectorError> {
    let invalid = |field: &str, e: mallard_core::CoreError| {
        CollectorError::InvalidField(vec![FieldError::new(field, e.to_string())])
    };
    let name = event_name(&wire.kind)?;
    let mut page = parse_page_url(wire.url.trim()).map_err(|e| invalid("url", e))?;
    let props = match &wire.props {
        Some(map) => props_from_map(map).map_err(|e| invalid("props", e))?,
        None => Vec::new(),
    };
    let context = wire.context.clone().unwrap_or_default();
    if let Some(utm) = &context.utm {
        let pairs = [
            (&mut page.utm.source, &utm.source),
            (&mut page.utm.medium, &utm.medium),
            (&mut page.utm.campaign, &utm.campaign),
            (&mut page.utm.term, &utm.term),
            (&mut page.utm.content, &utm.content),
        ];
        for (slot, value) in pairs {
            if let Some(value) = clean(value.as_ref()) {
                *slot = Some(value);
            }
        }
    }
    let referrer = context
        .referrer
        .as_deref()
        .or(wire.referrer.as_deref())
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .and_then(|raw| classify_referrer(raw, &page.hostname))
        .or_else(|| page.ref_param.as_deref().and_then(source_from_param))
        .or_else(|| page.utm.source.as_deref().and_then(source_from_param));
    let screen_width = context
        .screen
        .map(|s| s.w)
        .filter(|w| w.is_finite() && *w >= 1.0 && *w <= f64::from(u16::MAX))
        .map(|w| w as u16);
    let collector = &state.collector;
    let mut session = SessionAttributes {
        referrer,
        utm: page.utm.clone(),
        screen_width,
        device: screen_width.map_or(DeviceClass::default(), device::from_screen_width),
        ..SessionAttributes::default()
    };
    if endpoint == Endpoint::Browser {
        let agent = collector.classifier.classify(user_agent);
        session.browser = agent.browser.clone();
        session.browser_version = agent.browser_version.clone();
        session.os = agent.os.clone();
        session.os_version = agent.os_version.clone();
        session.device = device::classify(screen_width, &agent);
        session.is_bot = agent.is_bot;
        session.is_internal = state
            .config
            .collector
            .internal_ip_ranges
            .iter()
            .any(|net| net.contains(&ip));
        let location = state.geo.locate(ip);
        session.country = location.country.map(|code| code.as_str().to_owned());
        session.region = location.region;
        session.city = location.city;
    }
    Ok(NewEvent {
        visitor: visitor_id_from_anon_id(&site, wire.anon_id.trim()),
        collector: Some(Box::new(CollectorEventData {
            dedupe_key: dedupe_key(&site, &wire.id),
            consent: None,
            workspace: None,
        })),
        site,
        timestamp_ms: event_time(wire.ts, now),
        name,
        hostname: page.hostname,
        pathname: page.pathname,
        props,
        revenue: None,
        session,
    })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn client_timestamps_are_used_inside_the_window_only() {
        assert_eq!(event_time((NOW - 1000) as f64, NOW), NOW - 1000);
        assert_eq!(
            event_time((NOW - MAX_TS_PAST_MS) as f64, NOW),
            NOW - MAX_TS_PAST_MS
        );
        assert_eq!(event_time((NOW - MAX_TS_PAST_MS - 1) as f64, NOW), NOW);
        assert_eq!(
            event_time((NOW + MAX_TS_FUTURE_MS) as f64, NOW),
            NOW + MAX_TS_FUTURE_MS
        );
        assert_eq!(event_time((NOW + MAX_TS_FUTURE_MS + 1) as f64, NOW), NOW);
        assert_eq!(event_time(f64::NAN, NOW), NOW);
        assert_eq!(event_time(-1.0, NOW), NOW);
    }

    #[test]
    fn dedupe_keys_depend_on_site_and_id() {
        let a = SiteId::parse("a.test").unwrap();
        let b = SiteId::parse("b.test").unwrap();
        assert_eq!(dedupe_key(&a, "1"), dedupe_key(&a, " 1 "));
        assert_ne!(dedupe_key(&a, "1"), dedupe_key(&a, "2"));
        assert_ne!(dedupe_key(&a, "1"), dedupe_key(&b, "1"));
    }

    #[test]
    fn page_view_spellings_are_normalised() {
        for kind in ["pageview", "page_view", "PageView", "page"] {
            assert!(event_name(kind).unwrap().is_pageview(), "{kind}");
        }
        assert_eq!(
            event_name(" checkout_completed ").unwrap().as_str(),
            "checkout_completed"
        );
        assert_eq!(event_name("a\u{1}b").unwrap_err().code(), "invalid_field");
    }

    #[test]
    fn consent_tokens_are_checked() {
        let mut headers = HeaderMap::new();
        assert_eq!(consent_of(&headers, false).unwrap(), None);
        assert_eq!(
            consent_of(&headers, true).unwrap_err().code(),
            "consent_required"
        );
        headers.insert("x-consent", "granted:analytics".parse().unwrap());
        assert_eq!(
            consent_of(&headers, true).unwrap().as_deref(),
            Some("granted:analytics")
        );
        headers.insert(
            "x-consent",
            "x".repeat(MAX_CONSENT_LEN + 1).parse().unwrap(),
        );
        assert!(consent_of(&headers, true).is_err());
    }
}
