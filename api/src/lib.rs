//! Cascade: the workforce-training and champions-cascade service of a multi-agency children's
//! partnership. [`app`] builds the whole HTTP application; `main.rs` only parses the command line.

pub mod audit;
pub mod auth;
pub mod bench;
pub mod clock;
pub mod conditional;
pub mod config;
pub mod ctx;
pub mod db;
pub mod demo;
pub mod digest;
pub mod domain;
pub mod error;
pub mod guard;
pub mod idempotency;
pub mod json_types;
pub mod listener;
pub mod metrics;
pub mod pages;
pub mod pagination;
pub mod problem;
pub mod ratelimit;
pub mod render;
pub mod routes;
pub mod scim_error;
pub mod state;
pub mod versions;

use poem::{
    Endpoint, EndpointExt, IntoEndpoint, Response, Route, get,
    http::Method,
    middleware::{CatchPanic, Cors},
};
use poem_openapi::OpenApiService;

use crate::{
    error::problem_catcher,
    routes::{
        api_keys::ApiKeysApi,
        attendance::AttendanceApi,
        audit::AuditApi,
        bookings::BookingsApi,
        calendars::CalendarsApi,
        cascades::CascadesApi,
        certificates::{CertificatesApi, VerifyApi},
        champions::ChampionsApi,
        completions::CompletionsApi,
        courses::CoursesApi,
        events::EventsApi,
        funding::FundingApi,
        health,
        organisations::OrganisationsApi,
        people::{MembershipRequestsApi, PeopleApi, StaffSyncApi},
        programmes::ProgrammesApi,
        reference::{LocalitiesApi, StaffGroupsApi},
        reports::ReportsApi,
        sessions::{PastSessionsApi, SessionsApi},
        trainers::TrainersApi,
        webhooks::WebhooksApi,
    },
    state::AppState,
};

/// The OpenAPI root: every resource's operations, composed. Its document is committed at
/// `openapi/openapi.json`.
pub fn api_service() -> OpenApiService<impl poem_openapi::OpenApi, ()> {
    OpenApiService::new(
        (
            (
                OrganisationsApi,
                PeopleApi,
                MembershipRequestsApi,
                StaffSyncApi,
                LocalitiesApi,
                StaffGroupsApi,
                ProgrammesApi,
                CoursesApi,
            ),
            (
                SessionsApi,
                PastSessionsApi,
                BookingsApi,
                AttendanceApi,
                CompletionsApi,
                ChampionsApi,
                TrainersApi,
                CascadesApi,
            ),
            (
                CertificatesApi,
                VerifyApi,
                CalendarsApi,
                FundingApi,
                ReportsApi,
                ApiKeysApi,
                EventsApi,
                WebhooksApi,
                AuditApi,
            ),
        ),
        "Cascade",
        env!("CARGO_PKG_VERSION"),
    )
    // OpenAPI 3.0 has no `info.summary`: the description's first line says it.
    .description(include_str!("openapi_description.md"))
    .contact(
        poem_openapi::ContactObject::new()
            .name("FACT workforce training")
            .email(config::DEFAULT_ORGANIZER_EMAIL),
    )
    .license(poem_openapi::LicenseObject::new("MIT").url("https://opensource.org/licenses/MIT"))
    .server("/api/v1")
}

/// The OpenAPI document as committed and served. Operations that need no key (certificate
/// verification, calendar feeds) say so with `security: []`, which poem-openapi cannot write, so
/// linters and client generators do not assume a key; and a register's null marks are declared
/// nullable, which it cannot write either.
pub fn openapi_json() -> String {
    let spec = api_service().spec();
    let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(&spec) else {
        return spec + "\n";
    };
    for item in doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|p| p.values_mut())
    {
        for op in item
            .as_object_mut()
            .into_iter()
            .flat_map(|i| i.values_mut())
        {
            if let Some(op) = op.as_object_mut()
                && !op.contains_key("security")
            {
                op.insert("security".to_owned(), serde_json::json!([]));
            }
        }
    }
    // A register's marks are true, false or null (not yet marked): poem-openapi writes an
    // `Option` inside a `Vec` as its inner type, so the document says null is allowed here.
    if let Some(items) =
        doc.pointer_mut("/components/schemas/RegisterRow/properties/sittings/items")
    {
        items["nullable"] = serde_json::Value::Bool(true);
    }
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or(spec);
    out.push('\n');
    out
}

/// Where SCIM is mounted.
const SCIM_BASE: &str = "/scim/v2";

/// Marks each request with the error format of the tree it is routed to (SCIM's under
/// [`SCIM_BASE`], problem+json elsewhere), and the pages whose forms people post with a session
/// cookie rather than a key ([`auth::PageForm`]), before any middleware runs: the one place that
/// knows where SCIM and the pages are mounted; middleware reads the marks, never the path.
async fn mark_error_format<E: Endpoint>(
    next: E,
    mut req: poem::Request,
) -> poem::Result<E::Output> {
    let under = req
        .uri()
        .path()
        .strip_prefix(SCIM_BASE)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    if under {
        req.extensions_mut().insert(scim_error::ErrorFormat::Scim);
    }
    let path = req.uri().path();
    let page_form = ["/sign-in", "/sign-out", "/my", "/unsubscribe", "/console"]
        .iter()
        .any(|p| {
            path.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
    if page_form {
        req.extensions_mut().insert(auth::PageForm);
    }
    next.call(req).await
}

/// The whole HTTP application: the versioned API, its document and docs, SCIM, health probes
/// and metrics, behind the middleware of [`guard`], with every error answered as problem+json.
pub fn app(state: AppState) -> impl Endpoint<Output = Response> {
    let api = api_service();
    let docs = api.swagger_ui();
    let spec = openapi_json();
    let json_types = std::sync::Arc::new(json_types::JsonTypes::from_spec(&spec));
    let cors_origins = state.config.cors_origins.clone();
    let routes = Route::new()
        .at(
            "/api/v1/openapi.json",
            get(poem::endpoint::make_sync(move |_| {
                Response::builder()
                    .content_type("application/json; charset=utf-8")
                    .body(spec.clone())
            })),
        )
        .nest("/api/v1", api)
        .nest("/docs", docs)
        .nest(SCIM_BASE, routes::scim::routes())
        .at("/verify/:code", get(pages::verify))
        .at("/assets/cascade.css", get(pages::stylesheet))
        .at(
            "/sign-in",
            get(pages::door::sign_in_form).post(pages::door::sign_in_request),
        )
        .at(
            "/sign-in/:token",
            get(pages::door::sign_in_link).post(pages::door::sign_in_redeem),
        )
        .at("/sign-out", poem::post(pages::door::sign_out))
        .at("/my", get(pages::my::home))
        .at("/my/sessions", get(pages::my::find))
        .at("/my/sessions/:id", get(pages::my::session))
        .at("/my/sessions/:id/book", poem::post(pages::my::book))
        .at(
            "/my/bookings/:id/cancel",
            get(pages::my::cancel_form).post(pages::my::cancel),
        )
        .at("/my/bookings/:id/invite.ics", get(pages::my::invite))
        .at("/my/certificates/:id/pdf", get(pages::my::certificate_pdf))
        .at(
            "/my/calendar",
            get(pages::my::calendar_form).post(pages::my::calendar_link),
        )
        .at(
            "/my/email",
            get(pages::my::email_form).post(pages::my::email_save),
        )
        .at(
            "/unsubscribe/:token",
            get(pages::my::unsubscribe_form).post(pages::my::unsubscribe),
        )
        .at("/console", get(pages::console::dashboard))
        .at("/console/board.pdf", get(pages::console::board))
        .at("/console/progress.csv", get(pages::console::progress_csv))
        .at(
            "/console/reserved-places.csv",
            get(pages::console::reserved_csv),
        )
        .at("/console/sessions", get(pages::console::session_list))
        .at(
            "/console/sessions/new",
            get(pages::console::schedule_form).post(pages::console::schedule),
        )
        .at("/console/sessions/:id", get(pages::console::session))
        .at(
            "/console/sessions/:id/edit",
            get(pages::console::edit_form).post(pages::console::edit),
        )
        .at(
            "/console/sessions/:id/message",
            get(pages::console::message_form).post(pages::console::send_message),
        )
        .at(
            "/console/sessions/:id/book",
            poem::post(pages::console::book),
        )
        .at(
            "/console/sessions/:id/cancel",
            get(pages::console::cancel_session_form).post(pages::console::cancel_session),
        )
        .at(
            "/console/sessions/:id/register",
            get(pages::console::register).post(pages::console::mark),
        )
        .at(
            "/console/sessions/:id/walk-in",
            poem::post(pages::console::walk_in),
        )
        .at(
            "/console/sessions/:id/complete",
            get(pages::console::complete_form).post(pages::console::complete),
        )
        .at(
            "/console/bookings/:id/cancel",
            poem::post(pages::console::cancel_booking),
        )
        .at(
            "/console/bookings/:id/place",
            poem::post(pages::console::give_place),
        )
        .at("/console/trainers", get(pages::pipeline::board))
        .at(
            "/console/trainers/:id/sign-off",
            get(pages::pipeline::sign_off_form).post(pages::pipeline::sign_off),
        )
        .at(
            "/my/cascades/new",
            get(pages::pipeline::cascade_form).post(pages::pipeline::record_cascade),
        )
        .at("/console/people", get(pages::people::search))
        .at("/console/people/:id", get(pages::people::person))
        .at("/healthz", get(health::healthz))
        .at("/readyz", get(health::readyz))
        .at("/metrics", get(health::metrics))
        .around(conditional::conditional)
        .around(idempotency::idempotency)
        .around(guard::limit_public)
        .around(guard::sane_input)
        .around(guard::limit_body)
        .around(auth::authenticate_first)
        .around(guard::timeout)
        .with(CatchPanic::new())
        .around(problem_catcher)
        .map_to_response()
        .boxed();
    let routes = if cors_origins.is_empty() {
        routes
    } else {
        // Only the configured browser origins; the API takes keys in a header, never cookies.
        let cors = cors_origins
            .iter()
            .fold(Cors::new(), |cors, origin| {
                cors.allow_origin(origin.as_str())
            })
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                "authorization",
                "content-type",
                "if-match",
                "if-none-match",
                "idempotency-key",
            ])
            .expose_headers(["etag", "location", "retry-after", "x-request-id"])
            .max_age(600);
        routes
            .with(cors)
            .around(problem_catcher)
            .map_to_response()
            .boxed()
    };
    routes
        .around(guard::security_headers)
        .around(guard::observe)
        .around(mark_error_format)
        .data(json_types)
        .data(state)
        .into_endpoint()
        .map_to_response()
}

/// Dependencies point one way (routes → domain → ctx, auth, db, entities): the low-level
/// modules (errors, database, context, auth, middleware, state) import neither `routes` nor
/// `domain`, and no middleware decides by SCIM's path (it reads `scim_error::ErrorFormat`).
#[cfg(test)]
mod layering {
    #[test]
    fn low_level_modules_import_neither_routes_nor_domain() {
        let sources = [
            ("audit", include_str!("audit.rs")),
            ("auth", include_str!("auth.rs")),
            ("clock", include_str!("clock.rs")),
            ("ctx", include_str!("ctx.rs")),
            ("conditional", include_str!("conditional.rs")),
            ("config", include_str!("config.rs")),
            ("db", include_str!("db.rs")),
            ("digest", include_str!("digest.rs")),
            ("error", include_str!("error.rs")),
            ("guard", include_str!("guard.rs")),
            ("idempotency", include_str!("idempotency.rs")),
            ("json_types", include_str!("json_types.rs")),
            ("listener", include_str!("listener.rs")),
            ("metrics", include_str!("metrics.rs")),
            ("pagination", include_str!("pagination.rs")),
            ("problem", include_str!("problem.rs")),
            ("ratelimit", include_str!("ratelimit.rs")),
            ("scim_error", include_str!("scim_error.rs")),
            ("state", include_str!("state.rs")),
        ];
        for (name, source) in sources {
            for (n, line) in source.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                assert!(
                    !code.contains("routes::")
                        && !code.contains("domain::")
                        && !code.contains("\"/scim"),
                    "{name}.rs:{}: {line}",
                    n + 1
                );
            }
        }
    }

    /// The top-level modules `crate::x` names, per module, read from every source file.
    fn module_graph() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
        use std::collections::{BTreeMap, BTreeSet};
        fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    files(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut all = Vec::new();
        files(&root, &mut all);
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for file in all {
            let relative = file.strip_prefix(&root).unwrap_or(&file);
            let Some(first) = relative.components().next() else {
                continue;
            };
            let module = first
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned();
            if module == "lib" || module == "main" {
                continue;
            }
            let source = std::fs::read_to_string(&file).unwrap_or_default();
            let code: String = source
                .lines()
                .map(|l| l.split("//").next().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n");
            let deps = graph.entry(module.clone()).or_default();
            // `crate::x` anywhere, and the names of `use crate::{x, y::z}` groups.
            for (i, _) in code.match_indices("crate::") {
                let rest = &code[i + "crate::".len()..];
                if let Some(group) = rest.strip_prefix('{') {
                    let mut depth = 0;
                    let mut name = String::new();
                    let mut at_start = true;
                    for c in group.chars() {
                        match c {
                            '{' => depth += 1,
                            '}' if depth == 0 => break,
                            '}' => depth -= 1,
                            ',' if depth == 0 => at_start = true,
                            c if depth == 0 && at_start && (c.is_alphanumeric() || c == '_') => {
                                name.push(c)
                            }
                            _ if depth == 0 && at_start && !name.is_empty() => {
                                deps.insert(std::mem::take(&mut name));
                                at_start = false;
                            }
                            _ => {}
                        }
                    }
                    if !name.is_empty() {
                        deps.insert(name);
                    }
                } else {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    deps.insert(name);
                }
            }
            deps.remove(&module);
        }
        let modules: BTreeSet<String> = graph.keys().cloned().collect();
        for deps in graph.values_mut() {
            deps.retain(|d| modules.contains(d));
        }
        graph
    }

    /// No two top-level modules import each other, directly or through others: the
    /// dependencies form layers (checked by reading every `crate::` path of `api/src`).
    #[test]
    fn top_level_modules_import_each_other_in_no_cycle() {
        let graph = module_graph();
        // Depth-first search for a back edge.
        fn visit(
            node: &str,
            graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
            path: &mut Vec<String>,
            done: &mut std::collections::BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(start) = path.iter().position(|p| p == node) {
                let mut cycle = path[start..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            if done.contains(node) {
                return None;
            }
            path.push(node.to_owned());
            for next in graph.get(node).into_iter().flatten() {
                if let Some(cycle) = visit(next, graph, path, done) {
                    return Some(cycle);
                }
            }
            path.pop();
            done.insert(node.to_owned());
            None
        }
        let mut done = std::collections::BTreeSet::new();
        assert!(graph.contains_key("domain") && graph["routes"].contains("domain"));
        for node in graph.keys() {
            let cycle = visit(node, &graph, &mut Vec::new(), &mut done);
            assert!(
                cycle.is_none(),
                "import cycle: {}",
                cycle.unwrap_or_default().join(" → ")
            );
        }
    }
}
