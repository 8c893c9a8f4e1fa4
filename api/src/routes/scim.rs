//! SCIM 2.0 at `/scim/v2` for partners' identity providers. SCIM has its own discovery
//! (`ServiceProviderConfig`, `ResourceTypes`, `Schemas`) and its own error format, so these are
//! plain poem handlers rather than part of the OpenAPI document; the rules live in
//! `domain::scim`.

use crate::ctx::Ctx;
use crate::versions::{self, Precondition, Resource, VERSION_HEADER};
use poem::{
    Endpoint, EndpointExt, IntoResponse, Request, Response, Route, handler,
    http::{StatusCode, header},
    web::{Data, Path, Query},
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    domain::scim::{
        self, ENTERPRISE_SCHEMA, LIST_SCHEMA, MAX_COUNT, ScimError, ScimResult, USER_SCHEMA,
    },
    state::AppState,
};

pub use crate::scim_error::{CONTENT_TYPE, error_response, json_response};

/// The SCIM routes, each error answered in SCIM's format.
pub fn routes() -> impl Endpoint<Output = Response> {
    Route::new()
        .at("/Users", poem::get(list_users).post(create_user))
        .at("/Users/.search", poem::post(search_users))
        // A search at the root covers every resource type: Cascade has only Users.
        .at("/.search", poem::post(search_users))
        .at(
            "/Users/:id",
            poem::get(get_user)
                .put(replace_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .at("/ServiceProviderConfig", poem::get(service_provider_config))
        .at("/ResourceTypes", poem::get(resource_types))
        .at("/ResourceTypes/:name", poem::get(resource_type))
        .at("/Schemas", poem::get(schemas))
        .at("/Schemas/:id", poem::get(schema))
        .catch_all_error(|err: poem::Error| async move {
            let status = err.status();
            let detail = match status {
                StatusCode::NOT_FOUND => "No such SCIM endpoint.".to_owned(),
                StatusCode::METHOD_NOT_ALLOWED => "That method is not allowed here.".to_owned(),
                _ => err.to_string(),
            };
            error_response(&ScimError::new(status, None, detail))
        })
        .map_to_response()
}

fn reply(status: StatusCode, result: ScimResult<Value>) -> Response {
    match result {
        Ok(body) => json_response(status, &body),
        Err(err) => error_response(&err),
    }
}

/// [`reply`] for a User read or written at `version` (its `ETag`, see [`crate::versions`]).
fn reply_versioned(result: ScimResult<(Value, Option<i64>)>) -> Response {
    match result {
        Ok((body, version)) => {
            let mut resp = json_response(StatusCode::OK, &body);
            if let Some(value) =
                version.and_then(|v| header::HeaderValue::from_str(&v.to_string()).ok())
            {
                resp.headers_mut().insert(VERSION_HEADER, value);
            }
            resp
        }
        Err(err) => error_response(&err),
    }
}

/// The partner organisation of the key presented; SCIM is for partner keys only.
async fn partner(req: &Request, state: &AppState) -> ScimResult<Uuid> {
    Ok(partner_key(req, state).await?.1)
}

/// The partner key that called, and the organisation whose staff it manages.
async fn partner_key(
    req: &Request,
    state: &AppState,
) -> ScimResult<(crate::auth::Principal, Uuid)> {
    let token = req
        .header(header::AUTHORIZATION)
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ScimError::new(
                StatusCode::UNAUTHORIZED,
                None,
                "Send a partner API key: Authorization: Bearer <key>.",
            )
        })?;
    let principal = crate::auth::authenticate(state, req, token).await?;
    let org = principal.scim_organisation()?;
    Ok((principal, org))
}

fn parse_body(body: &[u8]) -> ScimResult<Value> {
    serde_json::from_slice(body).map_err(|e| {
        ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            format!("The body is not JSON: {e}"),
        )
    })
}

fn parse_id(raw: &str) -> ScimResult<Uuid> {
    raw.parse().map_err(|_| {
        ScimError::new(
            StatusCode::NOT_FOUND,
            None,
            format!("User {raw} not found."),
        )
    })
}

#[derive(Debug, Deserialize)]
struct ListParams {
    filter: Option<String>,
    #[serde(rename = "startIndex")]
    start_index: Option<String>,
    count: Option<String>,
    attributes: Option<String>,
    #[serde(rename = "excludedAttributes")]
    excluded_attributes: Option<String>,
}

/// A comma-separated attribute list of a query.
fn names(raw: Option<&str>) -> Vec<String> {
    raw.map(|r| {
        r.split(',')
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect()
    })
    .unwrap_or_default()
}

/// Applies `attributes`/`excludedAttributes` to a User or to each User of a list.
fn projected(mut body: Value, attributes: &[String], excluded: &[String]) -> Value {
    if attributes.is_empty() && excluded.is_empty() {
        return body;
    }
    match body.get_mut("Resources").and_then(Value::as_array_mut) {
        Some(users) => users
            .iter_mut()
            .for_each(|u| scim::project(u, attributes, excluded)),
        None => scim::project(&mut body, attributes, excluded),
    }
    body
}

/// One search, as a query (`GET /Users`) or a body (`POST /Users/.search`) gives it.
struct Search {
    filter: Option<String>,
    start_index: Option<String>,
    count: Option<String>,
    attributes: Vec<String>,
    excluded: Vec<String>,
}

async fn search(req: &Request, state: &AppState, s: Search) -> ScimResult<Value> {
    let org = partner(req, state).await?;
    // RFC 7644 §3.4.2.4: a startIndex below 1 is taken as 1, a negative count as 0.
    let start = number(s.start_index.as_deref(), "startIndex", 1)?.max(1);
    let count = number(s.count.as_deref(), "count", 100)?.clamp(0, MAX_COUNT as i64);
    let filter = s.filter.as_deref().map(scim::parse_filter).transpose()?;
    let list = scim::list(
        &state.db,
        &state.config.public_url,
        org,
        filter,
        start as u64,
        count as u64,
    )
    .await?;
    Ok(projected(list, &s.attributes, &s.excluded))
}

/// `POST /Users/.search` (RFC 7644 §3.4.3): the same search with its parameters in the body.
#[handler]
async fn search_users(req: &Request, state: Data<&AppState>, body: Vec<u8>) -> Response {
    crate::audit::mark_read_only();
    let result = async {
        let body = parse_body(&body)?;
        let text = |key: &str| match body.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let list = |key: &str| -> Vec<String> {
            match body.get(key) {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                Some(Value::String(s)) => names(Some(s)),
                _ => Vec::new(),
            }
        };
        let s = Search {
            filter: text("filter"),
            start_index: text("startIndex"),
            count: text("count"),
            attributes: list("attributes"),
            excluded: list("excludedAttributes"),
        };
        search(req, &state, s).await
    }
    .await;
    reply(StatusCode::OK, result)
}

fn number(raw: Option<&str>, name: &str, default: i64) -> ScimResult<i64> {
    raw.map_or(Ok(default), |s| {
        s.trim().parse().map_err(|_| {
            ScimError::new(
                StatusCode::BAD_REQUEST,
                Some("invalidValue"),
                format!("{name} must be an integer."),
            )
        })
    })
}

#[handler]
async fn list_users(req: &Request, state: Data<&AppState>, params: Query<ListParams>) -> Response {
    let params = params.0;
    let s = Search {
        filter: params.filter,
        start_index: params.start_index,
        count: params.count,
        attributes: names(params.attributes.as_deref()),
        excluded: names(params.excluded_attributes.as_deref()),
    };
    reply(StatusCode::OK, search(req, &state, s).await)
}

#[derive(Deserialize)]
struct ProjectionParams {
    attributes: Option<String>,
    #[serde(rename = "excludedAttributes")]
    excluded_attributes: Option<String>,
}

#[handler]
async fn get_user(
    req: &Request,
    state: Data<&AppState>,
    id: Path<String>,
    params: Query<ProjectionParams>,
) -> Response {
    let result = async {
        let org = partner(req, &state).await?;
        let id = parse_id(&id)?;
        let version = versions::version(&state.db, Resource::Person(id)).await?;
        let user = scim::get(&state.db, &state.config.public_url, org, id).await?;
        Ok((
            projected(
                user,
                &names(params.attributes.as_deref()),
                &names(params.excluded_attributes.as_deref()),
            ),
            version,
        ))
    }
    .await;
    reply_versioned(result)
}

#[handler]
async fn create_user(req: &Request, state: Data<&AppState>, body: Vec<u8>) -> Response {
    let result = async {
        let (who, org) = partner_key(req, &state).await?;
        scim::create(
            &Ctx::request(&state, &who),
            &state.config.public_url,
            org,
            &parse_body(&body)?,
        )
        .await
    }
    .await;
    match result {
        Ok(user) => {
            let mut resp = json_response(StatusCode::CREATED, &user);
            if let Some(location) = user["meta"]["location"]
                .as_str()
                .and_then(|l| header::HeaderValue::from_str(l).ok())
            {
                resp.headers_mut().insert(header::LOCATION, location);
            }
            resp
        }
        Err(err) => error_response(&err),
    }
}

#[handler]
async fn replace_user(
    req: &Request,
    state: Data<&AppState>,
    id: Path<String>,
    body: Vec<u8>,
    precondition: Precondition,
) -> Response {
    let result = async {
        let (who, org) = partner_key(req, &state).await?;
        let ctx = Ctx::request(&state, &who).expecting(precondition);
        let id = parse_id(&id)?;
        scim::replace(&ctx, &state.config.public_url, org, id, &parse_body(&body)?).await
    }
    .await;
    reply_versioned(result)
}

#[handler]
async fn patch_user(
    req: &Request,
    state: Data<&AppState>,
    id: Path<String>,
    body: Vec<u8>,
    precondition: Precondition,
) -> Response {
    let result = async {
        let (who, org) = partner_key(req, &state).await?;
        let ctx = Ctx::request(&state, &who).expecting(precondition);
        let id = parse_id(&id)?;
        let patch = parse_body(&body)?;
        scim::patch(&ctx, &state.config.public_url, org, id, &patch).await
    }
    .await;
    reply_versioned(result)
}

#[handler]
async fn delete_user(req: &Request, state: Data<&AppState>, id: Path<String>) -> Response {
    let result = async {
        let (who, org) = partner_key(req, &state).await?;
        let ctx = Ctx::request(&state, &who);
        scim::deactivate(&ctx, org, parse_id(&id)?).await
    }
    .await;
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => error_response(&err),
    }
}

fn meta(state: &AppState, kind: &str, path: &str) -> Value {
    json!({ "resourceType": kind, "location": format!("{}/scim/v2/{path}", state.config.public_url) })
}

#[handler]
async fn service_provider_config(state: Data<&AppState>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": format!("{}/docs", state.config.public_url),
            "patch": { "supported": true },
            "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
            "filter": { "supported": true, "maxResults": MAX_COUNT },
            "changePassword": { "supported": false },
            "sort": { "supported": false },
            "etag": { "supported": true },
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "API key",
                "description": "A Cascade partner API key sent as Authorization: Bearer <key>.",
                "primary": true,
            }],
            "meta": meta(&state, "ServiceProviderConfig", "ServiceProviderConfig"),
        }),
    )
}

fn user_resource_type(state: &AppState) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "A member of a partner organisation's staff",
        "schema": USER_SCHEMA,
        "schemaExtensions": [{ "schema": ENTERPRISE_SCHEMA, "required": false }],
        "meta": meta(state, "ResourceType", "ResourceTypes/User"),
    })
}

#[handler]
async fn resource_types(state: Data<&AppState>) -> Response {
    let types = [user_resource_type(&state)];
    json_response(
        StatusCode::OK,
        &json!({ "schemas": [LIST_SCHEMA], "totalResults": 1, "startIndex": 1, "itemsPerPage": 1, "Resources": types }),
    )
}

#[handler]
async fn resource_type(state: Data<&AppState>, name: Path<String>) -> Response {
    if name.0 == "User" {
        json_response(StatusCode::OK, &user_resource_type(&state))
    } else {
        error_response(&ScimError::new(
            StatusCode::NOT_FOUND,
            None,
            "Cascade has only the User resource type.",
        ))
    }
}

fn attribute(name: &str, kind: &str, description: &str, extra: Value) -> Value {
    let mut a = json!({
        "name": name, "type": kind, "multiValued": false, "description": description,
        "required": false, "caseExact": false, "mutability": "readWrite", "returned": "default",
        "uniqueness": "none",
    });
    if let (Some(a), Some(extra)) = (a.as_object_mut(), extra.as_object()) {
        a.extend(extra.clone());
    }
    a
}

fn schema_documents(state: &AppState) -> [Value; 2] {
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "A member of a partner organisation's staff",
        "attributes": [
            attribute("userName", "string", "Your identity provider's login name for the person, kept as sent (it need not be an email); unique in your organisation.",
                json!({ "required": true, "uniqueness": "server" })),
            attribute("name", "complex", "The person's name, in any script.", json!({ "subAttributes": [
                attribute("formatted", "string", "The full name.", json!({})),
                attribute("givenName", "string", "Given name.", json!({})),
                attribute("familyName", "string", "Family name.", json!({})),
            ] })),
            attribute("displayName", "string", "The name shown; Cascade keeps one name per person. Required unless name is given.", json!({ "required": true })),
            attribute("emails", "complex", "The work email (the primary one is used); required unless userName is an email address.", json!({ "multiValued": true, "required": true, "subAttributes": [
                attribute("value", "string", "Email address.", json!({ "required": true })),
                attribute("type", "string", "work", json!({})),
                attribute("primary", "boolean", "The email Cascade uses.", json!({})),
            ] })),
            attribute("active", "boolean", "Whether the person works for your organisation; false ends the membership as a leaver.", json!({})),
            attribute("externalId", "string", "Your organisation's key for the person.", json!({ "required": true, "caseExact": true })),
        ],
        "meta": meta(state, "Schema", &format!("Schemas/{USER_SCHEMA}")),
    });
    let enterprise = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": ENTERPRISE_SCHEMA,
        "name": "EnterpriseUser",
        "description": "Enterprise User",
        "attributes": [
            attribute("employeeNumber", "string", "Your HR system's employee number, kept as sent. Cascade's key for the person is externalId; employeeNumber stands in for it only when no externalId is sent.", json!({ "caseExact": true })),
            attribute("department", "string", "The person's staff group, by name.", json!({})),
        ],
        "meta": meta(state, "Schema", &format!("Schemas/{ENTERPRISE_SCHEMA}")),
    });
    [user, enterprise]
}

#[handler]
async fn schemas(state: Data<&AppState>) -> Response {
    let docs = schema_documents(&state);
    json_response(
        StatusCode::OK,
        &json!({ "schemas": [LIST_SCHEMA], "totalResults": docs.len(), "startIndex": 1, "itemsPerPage": docs.len(), "Resources": docs }),
    )
}

#[handler]
async fn schema(state: Data<&AppState>, id: Path<String>) -> Response {
    match schema_documents(&state)
        .into_iter()
        .find(|d| d["id"] == id.0.as_str())
    {
        Some(doc) => json_response(StatusCode::OK, &doc),
        None => error_response(&ScimError::new(
            StatusCode::NOT_FOUND,
            None,
            format!("No schema {}.", id.0),
        )),
    }
}
