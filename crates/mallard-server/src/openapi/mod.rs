//! The OpenAPI 3.1 description of both API families, generated from the
//! handlers' `#[utoipa::path]` attributes and the body types, and served at
//! `GET /api/openapi.json`.
//!
//! Every route of [`crate::routes::router`] is in it with its parameters,
//! request body, answers and error bodies (flat `{"error"}` for the Mallard
//! family, the nested envelope for the collector), and the security schemes:
//! the session cookie, `Authorization: Bearer` API keys, `X-API-Key`, and the
//! collector's `ADMIN_TOKEN`. The end-to-end test `tests/openapi.rs` fails
//! when the router and the description disagree.

pub(crate) mod params;
pub(crate) mod responses;

use std::sync::OnceLock;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::state::AppState;

/// The description, as the code declares it.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Mallard Metrics Desktop",
        description = "Local-first web analytics: the Mallard Metrics API (event \
            ingestion, authentication, API keys, stats) and the event collector API, \
            served by one process. See docs/api.md.",
        license(name = "MIT OR Apache-2.0"),
    ),
    paths(
        openapi_json,
        crate::routes::ingest::post_event,
        crate::routes::ingest::get_event,
        crate::routes::ingest::preflight,
        crate::routes::auth::setup,
        crate::routes::auth::login,
        crate::routes::auth::logout,
        crate::routes::auth::status,
        crate::routes::auth::desktop_sign_in,
        crate::routes::keys::create,
        crate::routes::keys::list,
        crate::routes::keys::revoke,
        crate::routes::open_access_keys::list,
        crate::routes::open_access_keys::revoke_all,
        crate::routes::open_access_keys::keep_all,
        crate::routes::ingest_keys::list,
        crate::routes::ingest_keys::create,
        crate::routes::ingest_keys::revoke,
        crate::routes::settings::show,
        crate::routes::settings::change,
        crate::routes::sites::list,
        crate::routes::sites::add,
        crate::routes::sites::update,
        crate::routes::sites::delete_site,
        crate::routes::sites::delete_range,
        crate::routes::goals::list,
        crate::routes::goals::add,
        crate::routes::goals::update,
        crate::routes::goals::remove,
        crate::routes::annotations::list,
        crate::routes::annotations::add,
        crate::routes::annotations::update,
        crate::routes::annotations::remove,
        crate::routes::backups::list,
        crate::routes::backups::take,
        crate::routes::imports::list,
        crate::routes::imports::undo,
        crate::routes::imports::start_logs,
        crate::routes::imports::job,
        crate::routes::imports::cancel_job,
        crate::routes::realtime::events,
        crate::routes::feed::feed,
        crate::routes::remotes::list,
        crate::routes::remotes::save,
        crate::routes::remotes::remove,
        crate::routes::remotes::pull_now,
        crate::routes::health::health,
        crate::routes::health::ready,
        crate::routes::health::detailed,
        crate::routes::host::describe,
        crate::routes::host::change_port,
        crate::routes::host::import_logs,
        crate::routes::metrics::metrics,
        crate::routes::metrics::metrics_v1,
        crate::routes::assets::index,
        crate::routes::assets::tracker,
        crate::routes::assets::static_file,
        crate::routes::assets::robots,
        crate::routes::assets::security_txt,
        crate::collector::router::browser_events,
        crate::collector::router::browser_events_v1,
        crate::collector::router::preflight,
        crate::collector::router::preflight_v1,
        crate::collector::router::server_events,
        crate::collector::router::server_events_v1,
        crate::collector::router::healthz,
        crate::collector::router::healthz_v1,
        crate::collector::router::version,
        crate::collector::router::version_v1,
        crate::collector::admin::create,
        crate::collector::admin::list,
        crate::collector::admin::revoke,
        crate::stats::handlers::main,
        crate::stats::handlers::timeseries,
        crate::stats::handlers::revenue,
        crate::stats::handlers::breakdown,
        crate::stats::handlers::breakdown_prop,
        crate::stats::handlers::prop_keys,
        crate::stats::handlers::realtime,
        crate::stats::view::view,
        crate::stats::behaviour::sessions,
        crate::stats::behaviour::visits,
        crate::stats::behaviour::funnel,
        crate::stats::behaviour::retention,
        crate::stats::behaviour::sequences,
        crate::stats::behaviour::paths,
        crate::stats::behaviour::flow,
        crate::stats::behaviour::flow_around,
        crate::stats::export_daily::daily,
        crate::stats::goals::goals,
        crate::stats::export::export,
        crate::stats::charts::by_file,
        crate::stats::charts::breakdown,
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "Ingestion", description = "Mallard's event ingestion"),
        (name = "Auth", description = "The password and sessions (spec 001)"),
        (name = "Keys", description = "API keys and ingestion keys"),
        (name = "Sites", description = "Sites and their time zones"),
        (name = "Goals", description = "What counts as a conversion: custom events and page path patterns"),
        (name = "Annotations", description = "Dated notes on a site, marked on its charts"),
        (name = "Settings", description = "The settings the dashboard may change"),
        (name = "Imports", description = "Access-log imports and their jobs"),
        (name = "Backups", description = "Backups of the database, on demand and automatic"),
        (name = "Host", description = "What runs this server"),
        (name = "Events", description = "The event feed another Mallard pulls a site's history through"),
        (name = "Remotes", description = "Remote Mallard servers this install pulls events from"),
        (name = "Stats", description = "Mallard's stats API and the richer answers beside it"),
        (name = "Health", description = "Health and metrics"),
        (name = "Static", description = "The dashboard, the tracker and well-known files"),
        (name = "Collector", description = "The event collector API (its own error envelope)"),
        (name = "Collector admin", description = "The collector's key administration, with ADMIN_TOKEN"),
        (name = "Meta", description = "This description"),
    )
)]
pub struct ApiDoc;

/// Adds the security schemes the paths name.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "mm_session",
                "The dashboard session, set by POST /api/auth/login.",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key (mm_...) as Authorization: Bearer; for the collector, \
                         an ingestion key (lk_live_...).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "An API key (mm_...) in the X-API-Key header.",
            ))),
        );
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The collector's ADMIN_TOKEN as Authorization: Bearer.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The collector's event: the schema of `schemas/events.schema.json`, which
/// the collector validates every event against, put in the description's
/// components as it is ([`with_event_schema`]).
pub enum CollectorEvent {}

impl utoipa::PartialSchema for CollectorEvent {
    fn schema() -> RefOr<Schema> {
        // Replaced by the event schema itself once the description is built.
        RefOr::T(Schema::Object(ObjectBuilder::new().build()))
    }
}

impl utoipa::ToSchema for CollectorEvent {
    fn name() -> std::borrow::Cow<'static, str> {
        "CollectorEvent".into()
    }
}

/// The collector's event schema (JSON Schema draft 7, which OpenAPI 3.1's
/// JSON Schema 2020-12 reads the same for the keywords it uses).
const EVENT_SCHEMA: &str = include_str!("../../schemas/events.schema.json");

/// Puts the event schema in `components.schemas`: its root as
/// `CollectorEvent`, its definitions beside it, references rewritten.
fn with_event_schema(description: &mut Value) -> Result<(), String> {
    let text = EVENT_SCHEMA.replace("#/definitions/", "#/components/schemas/");
    let mut event: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let object = event
        .as_object_mut()
        .ok_or("the event schema is not an object")?;
    object.remove("$schema");
    let definitions = object.remove("definitions");
    let schemas = description
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .ok_or("the description has no schemas")?;
    if let Some(Value::Object(definitions)) = definitions {
        schemas.extend(definitions);
    }
    schemas.insert("CollectorEvent".into(), event);
    Ok(())
}

/// A link between operations that stateful tools follow: from the answer
/// `status` of `method` on `path`, the operation `operation`, with
/// `parameters` taken from that answer.
struct Link {
    path: &'static str,
    method: &'static str,
    status: &'static str,
    name: &'static str,
    operation: &'static str,
    parameters: &'static [(&'static str, &'static str)],
}

/// The links of the description (Schemathesis follows them in
/// `tests/schema_fuzz.rs`): a key created is listed and revoked with the id
/// its creation answered, a site added is changed.
const LINKS: &[Link] = &[
    Link {
        path: "/api/keys",
        method: "post",
        status: "201",
        name: "RevokeKey",
        operation: "revoke_api_key",
        parameters: &[("key_hash", "$response.body#/key_hash")],
    },
    Link {
        path: "/api/ingest-keys",
        method: "post",
        status: "201",
        name: "RevokeIngestKey",
        operation: "revoke_ingest_key",
        parameters: &[("id", "$response.body#/id")],
    },
    Link {
        path: "/admin/api-keys",
        method: "post",
        status: "201",
        name: "ListWorkspaceKeys",
        operation: "list_workspace_keys",
        parameters: &[("workspace_id", "$response.body#/workspace_id")],
    },
    Link {
        path: "/admin/api-keys",
        method: "post",
        status: "201",
        name: "RevokeWorkspaceKey",
        operation: "revoke_workspace_key",
        parameters: &[
            ("id", "$response.body#/id"),
            ("workspace_id", "$response.body#/workspace_id"),
        ],
    },
    Link {
        path: "/api/sites",
        method: "post",
        status: "201",
        name: "UpdateSite",
        operation: "update_site",
        parameters: &[("site_id", "$response.body#/site_id")],
    },
    Link {
        path: "/api/goals",
        method: "post",
        status: "201",
        name: "UpdateGoal",
        operation: "update_goal",
        parameters: &[("id", "$response.body#/id")],
    },
    Link {
        path: "/api/goals",
        method: "post",
        status: "201",
        name: "DeleteGoal",
        operation: "delete_goal",
        parameters: &[("id", "$response.body#/id")],
    },
    Link {
        path: "/api/sites",
        method: "post",
        status: "201",
        name: "DeleteSite",
        operation: "delete_site",
        parameters: &[("site_id", "$response.body#/site_id")],
    },
];

/// Adds [`LINKS`] to the answers they start from.
fn with_links(description: &mut Value) -> Result<(), String> {
    for Link {
        path,
        method,
        status,
        name,
        operation,
        parameters,
    } in LINKS
    {
        let pointer = format!(
            "/paths/{}/{method}/responses/{status}",
            path.replace('~', "~0").replace('/', "~1")
        );
        let response = description
            .pointer_mut(&pointer)
            .and_then(Value::as_object_mut)
            .ok_or_else(|| format!("no answer {status} of {method} {path} to link from"))?;
        let links = response
            .entry("links")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        let parameters: serde_json::Map<String, Value> = parameters
            .iter()
            .map(|(name, value)| ((*name).to_owned(), Value::String((*value).to_owned())))
            .collect();
        if let Value::Object(links) = links {
            links.insert(
                (*name).to_owned(),
                serde_json::json!({ "operationId": operation, "parameters": parameters }),
            );
        }
    }
    Ok(())
}

/// The description as JSON, built once.
pub fn description_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let built = serde_json::to_value(ApiDoc::openapi())
            .map_err(|e| e.to_string())
            .and_then(|mut description| {
                with_event_schema(&mut description)?;
                with_links(&mut description)?;
                serde_json::to_string(&description).map_err(|e| e.to_string())
            });
        built.unwrap_or_else(|err| {
            tracing::error!(error = %err, "the OpenAPI description cannot be built");
            serde_json::json!({ "error": err }).to_string()
        })
    })
}

/// `GET /api/openapi.json`: this description.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "Meta",
    responses((status = 200, description = "The OpenAPI 3.1 description of both API families", content_type = "application/json")),
)]
async fn openapi_json() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        description_json(),
    )
        .into_response()
}

/// The route of the description.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/openapi.json", get(openapi_json))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn description() -> Value {
        serde_json::from_str(description_json()).unwrap()
    }

    /// Every `$ref` under `value`.
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                for (key, item) in map {
                    match (key.as_str(), item) {
                        ("$ref", Value::String(target)) => out.push(target),
                        _ => refs(item, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| refs(item, out)),
            _ => {}
        }
    }

    #[test]
    fn the_description_is_openapi_3_1_with_unique_operations_and_whole_references() {
        let value = description();
        assert!(
            value["openapi"].as_str().unwrap().starts_with("3.1"),
            "{value}"
        );
        let mut ids = HashSet::new();
        for (path, item) in value["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let id = operation["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_owned()), "{method} {path}: {id} twice");
                assert!(
                    operation["responses"]
                        .as_object()
                        .is_some_and(|r| !r.is_empty()),
                    "{method} {path} documents no answer"
                );
            }
        }
        let mut targets = Vec::new();
        refs(&value, &mut targets);
        assert!(!targets.is_empty());
        for target in targets {
            assert!(
                value.pointer(&target[1..]).is_some(),
                "{target} is not in the description"
            );
        }
    }

    #[test]
    fn the_collector_event_is_the_schema_its_requests_are_checked_against() {
        let value = description();
        let event = &value["components"]["schemas"]["CollectorEvent"];
        assert_eq!(
            event["required"],
            serde_json::json!(["id", "site_id", "anon_id", "type", "url", "ts"])
        );
        assert!(value["components"]["schemas"]["EventContext"].is_object());
        let body = &value["paths"]["/s2s/events"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"];
        assert_eq!(body["$ref"], "#/components/schemas/CollectorEvent");
    }

    #[test]
    fn links_lead_to_operations_that_exist_with_parameters_they_take() {
        let value = description();
        let mut operations = std::collections::HashMap::new();
        for item in value["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                let names: Vec<String> = operation["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| p["name"].as_str().unwrap().to_owned())
                    .collect();
                operations.insert(operation["operationId"].as_str().unwrap().to_owned(), names);
            }
        }
        let mut found = 0;
        for item in value["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                for response in operation["responses"].as_object().unwrap().values() {
                    for link in response["links"]
                        .as_object()
                        .into_iter()
                        .flat_map(|l| l.values())
                    {
                        found += 1;
                        let target = link["operationId"].as_str().unwrap();
                        let names = &operations[target];
                        for parameter in link["parameters"].as_object().unwrap().keys() {
                            assert!(names.contains(parameter), "{target} takes no {parameter}");
                        }
                    }
                }
            }
        }
        assert_eq!(found, LINKS.len());
    }

    #[test]
    fn every_security_scheme_is_declared() {
        let value = description();
        let schemes = value["components"]["securitySchemes"].as_object().unwrap();
        for name in ["session", "bearer", "api_key", "admin_token"] {
            assert!(schemes.contains_key(name), "{name}");
        }
        assert_eq!(schemes["session"]["in"], "cookie");
        assert_eq!(schemes["api_key"]["name"], "X-API-Key");
    }
}
