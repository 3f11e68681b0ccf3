//! The Mallard ingest format and its validation: the one place where a Mallard
//! event from the network becomes a typed value.
//!
//! Fields: `d` site id, `n` event name, `u` page URL, `r` referrer, `w` screen
//! width, `p` custom props (a JSON-encoded object, or an object), `ra` revenue
//! amount, `rc` ISO 4217 currency.

use mallard_core::page::parse_page_url;
use mallard_core::props::{parse_props_json, props_from_map};
use mallard_core::revenue::parse_revenue;
use mallard_core::{EventName, PageUrl, Revenue, SiteId};
use serde::Deserialize;
use serde_json::Value;
use serde_json::error::Category;

use crate::error::ApiError;
use crate::excerpt::shorten;

/// `message` with long quoted values cut (see [`crate::excerpt`]).
fn short(message: String) -> String {
    match shorten(&message) {
        std::borrow::Cow::Borrowed(_) => message,
        std::borrow::Cow::Owned(cut) => cut,
    }
}

/// A 400 quoting at most a short excerpt of the refused value.
fn bad_request(err: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(short(err.to_string()))
}

/// An event as posted in a JSON body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct MallardPayload {
    /// Site id (domain).
    pub d: String,
    /// Event name.
    pub n: String,
    /// Page URL.
    pub u: String,
    /// Referrer.
    #[serde(default)]
    pub r: Option<String>,
    /// Screen width in CSS pixels.
    #[serde(default)]
    pub w: Option<u32>,
    /// Custom props: a JSON-encoded object string, or an object.
    #[serde(default)]
    pub p: Option<Value>,
    /// Revenue amount: a number or a decimal string.
    #[serde(default)]
    pub ra: Option<Value>,
    /// Currency code.
    #[serde(default)]
    pub rc: Option<String>,
}

/// An event as sent in the query string of the tracking pixel.
#[derive(Debug, Clone, Deserialize)]
pub struct MallardQuery {
    d: Option<String>,
    n: Option<String>,
    u: Option<String>,
    r: Option<String>,
    w: Option<String>,
    p: Option<String>,
    ra: Option<String>,
    rc: Option<String>,
}

/// A validated Mallard event, before enrichment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedEvent {
    /// The site.
    pub site: SiteId,
    /// The event name.
    pub name: EventName,
    /// The parsed page URL.
    pub page: PageUrl,
    /// The raw referrer, classified during enrichment.
    pub referrer: Option<String>,
    /// The screen width, when it fits the range of real screens.
    pub screen_width: Option<u16>,
    /// Custom properties.
    pub props: Vec<(String, String)>,
    /// Revenue, if any.
    pub revenue: Option<Revenue>,
}

/// Parses a JSON body. Malformed JSON is a 400; well-formed JSON of the wrong
/// shape (not an object, a missing field, a wrong type) is a 422.
pub fn parse_json(body: &[u8]) -> Result<MallardPayload, ApiError> {
    serde_json::from_slice(body).map_err(|err| match err.classify() {
        Category::Data => ApiError::Unprocessable(short(format!("Invalid event: {err}"))),
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::BadRequest(short(format!("Invalid JSON: {err}")))
        }
    })
}

impl MallardQuery {
    /// Turns query-string parameters into the JSON shape, with the same errors.
    pub fn into_payload(self) -> Result<MallardPayload, ApiError> {
        let missing = |field: &str| {
            ApiError::Unprocessable(format!("Invalid event: missing field `{field}`"))
        };
        let w = self
            .w
            .filter(|w| !w.is_empty())
            .map(|w| {
                w.parse::<u32>().map_err(|_| {
                    ApiError::Unprocessable(short(format!(
                        "Invalid event: `w` must be a non-negative integer, got {w:?}"
                    )))
                })
            })
            .transpose()?;
        Ok(MallardPayload {
            d: self.d.ok_or_else(|| missing("d"))?,
            n: self.n.ok_or_else(|| missing("n"))?,
            u: self.u.ok_or_else(|| missing("u"))?,
            r: self.r,
            w,
            p: self.p.map(Value::String),
            ra: self.ra.map(Value::String),
            rc: self.rc,
        })
    }
}

impl MallardPayload {
    /// Validates every field and returns the typed event.
    pub fn validate(self) -> Result<ValidatedEvent, ApiError> {
        let site = SiteId::parse(self.d.trim()).map_err(bad_request)?;
        let name = EventName::parse(&self.n).map_err(bad_request)?;
        let page = parse_page_url(self.u.trim()).map_err(bad_request)?;
        let props = match self.p {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(json)) => parse_props_json(&json),
            Some(Value::Object(map)) => props_from_map(&map),
            Some(_) => {
                return Err(ApiError::BadRequest(
                    "invalid props: `p` must be a JSON-encoded object".into(),
                ));
            }
        }
        .map_err(bad_request)?;
        let rc = self.rc.as_deref().map(str::trim).filter(|c| !c.is_empty());
        let revenue =
            parse_revenue(self.ra.as_ref().filter(|v| !v.is_null()), rc).map_err(bad_request)?;
        Ok(ValidatedEvent {
            site,
            name,
            page,
            referrer: self.r.filter(|r| !r.trim().is_empty()),
            screen_width: self
                .w
                .and_then(|w| u16::try_from(w).ok())
                .filter(|w| *w > 0),
            props,
            revenue,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn status_of(body: &str) -> Option<u16> {
        parse_json(body.as_bytes())
            .and_then(MallardPayload::validate)
            .err()
            .map(|e| e.status().as_u16())
    }

    #[test]
    fn a_complete_event_validates() {
        let event = parse_json(
            br#"{"d":"example.com","n":"signup","u":"https://example.com/pricing?utm_source=hn",
                "r":"https://news.ycombinator.com/item?id=1","w":1280,
                "p":"{\"plan\":\"pro\",\"seats\":3}","ra":"19.99","rc":"eur"}"#,
        )
        .unwrap()
        .validate()
        .unwrap();
        assert_eq!(event.site.as_str(), "example.com");
        assert_eq!(event.page.pathname, "/pricing");
        assert_eq!(event.screen_width, Some(1280));
        assert!(event.props.contains(&("plan".into(), "pro".into())));
        let revenue = event.revenue.unwrap();
        assert_eq!(
            (revenue.amount_micros, revenue.currency.as_str()),
            (19_990_000, "EUR")
        );
    }

    #[test]
    fn errors_have_the_documented_status() {
        assert_eq!(status_of("{"), Some(400));
        assert_eq!(status_of("not json"), Some(400));
        assert_eq!(status_of("[]"), Some(422));
        assert_eq!(
            status_of(r#"{"n":"pageview","u":"https://a.com/"}"#),
            Some(422)
        );
        assert_eq!(
            status_of(r#"{"d":1,"n":"pageview","u":"https://a.com/"}"#),
            Some(422)
        );
        assert_eq!(
            status_of(r#"{"d":"a.com","n":"pageview","u":"https://a.com/","w":"wide"}"#),
            Some(422)
        );
        assert_eq!(
            status_of(r#"{"d":"","n":"pageview","u":"https://a.com/"}"#),
            Some(400)
        );
        assert_eq!(
            status_of(r#"{"d":"a b","n":"pageview","u":"https://a.com/"}"#),
            Some(400)
        );
        assert_eq!(
            status_of(r#"{"d":"a.com","n":"pageview","u":"nope"}"#),
            Some(400)
        );
        assert_eq!(
            status_of(r#"{"d":"a.com","n":"x","u":"https://a.com/","p":"{bad"}"#),
            Some(400)
        );
        assert_eq!(
            status_of(r#"{"d":"a.com","n":"x","u":"https://a.com/","p":"[1]"}"#),
            Some(400)
        );
        assert_eq!(
            status_of(r#"{"d":"a.com","n":"x","u":"https://a.com/","ra":"1","rc":"EURO"}"#),
            Some(400)
        );
        assert_eq!(
            status_of(r#"{"d":"a.com","n":"x","u":"https://a.com/","ra":"lots","rc":"EUR"}"#),
            Some(400)
        );
        assert_eq!(
            status_of(r#"{"d":"a.com","n":"pageview","u":"https://a.com/"}"#),
            None
        );
    }

    #[test]
    fn the_pixel_query_maps_to_the_same_rules() {
        let query = MallardQuery {
            d: Some("a.com".into()),
            n: Some("pageview".into()),
            u: Some("https://a.com/x".into()),
            r: None,
            w: Some("390".into()),
            p: None,
            ra: None,
            rc: None,
        };
        let event = query.clone().into_payload().unwrap().validate().unwrap();
        assert_eq!(event.screen_width, Some(390));
        let bad = MallardQuery {
            w: Some("-1".into()),
            ..query.clone()
        };
        assert_eq!(bad.into_payload().unwrap_err().status().as_u16(), 422);
        let missing = MallardQuery { u: None, ..query };
        assert_eq!(missing.into_payload().unwrap_err().status().as_u16(), 422);
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic_and_only_give_documented_statuses(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Err(err) = parse_json(&body).and_then(MallardPayload::validate) {
                prop_assert!(matches!(err.status().as_u16(), 400 | 422));
            }
        }

        #[test]
        fn arbitrary_field_values_never_panic(d in ".{0,40}", n in ".{0,40}", u in ".{0,80}", r in ".{0,80}", p in ".{0,80}", ra in ".{0,20}", rc in ".{0,5}") {
            let body = serde_json::json!({"d": d, "n": n, "u": u, "r": r, "p": p, "ra": ra, "rc": rc});
            if let Err(err) = parse_json(body.to_string().as_bytes()).and_then(MallardPayload::validate) {
                prop_assert!(matches!(err.status().as_u16(), 400 | 422));
            }
        }
    }
}
