//! SCIM 2.0 Users (RFC 7643/7644) over people and a partner's memberships. A SCIM User is a
//! person as one partner organisation knows them: `id` is the person's id, `externalId` the
//! membership's external id (Cascade's key; the enterprise `employeeNumber` is kept as sent and
//! stands in when no `externalId` comes), `active` the membership's state,
//! `department` the person's staff group and `organization` the partner (read-only). Writes run
//! in one transaction holding the organisation's row, as staff sync does, and deactivation uses
//! sync's leaver rules.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entities::{memberships, organisations, people, staff_groups};
use poem::http::StatusCode;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{
    people::{check_external_id, email_key},
    validation::{FieldErrors, check_text, clean_text},
};
use crate::{
    audit::{self, Change},
    auth::Principal,
    db::begin_write,
    error::ApiError,
};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// The most Users one list answers.
pub const MAX_COUNT: u64 = 200;

/// A SCIM refusal: its status, `scimType` and detail.
#[derive(Debug)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
    /// For 429: the seconds to wait, sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ScimError {
    pub fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
            retry_after: None,
        }
    }

    fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidValue"), detail)
    }
}

impl From<ApiError> for ScimError {
    fn from(err: ApiError) -> Self {
        let status = err.status();
        let problem = err.to_problem();
        if let ApiError::TooManyRequests(seconds) = err {
            return Self {
                retry_after: Some(seconds),
                ..Self::new(status, None, problem.detail)
            };
        }
        match err {
            ApiError::Validation(list) => Self::invalid(
                list.iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            ApiError::Conflict(_) => Self::new(status, Some("uniqueness"), problem.detail),
            _ if status == StatusCode::CONFLICT => {
                Self::new(status, Some("uniqueness"), problem.detail)
            }
            _ => Self::new(status, None, problem.detail),
        }
    }
}

impl From<sea_orm::DbErr> for ScimError {
    fn from(err: sea_orm::DbErr) -> Self {
        ApiError::from(err).into()
    }
}

pub type ScimResult<T> = Result<T, ScimError>;

/// A User as sent by an identity provider, read leniently (attribute names in any case,
/// booleans as strings).
#[derive(Debug, Clone, PartialEq)]
struct UserInput {
    name: String,
    email: String,
    external_id: String,
    employee_number: Option<String>,
    active: bool,
    department: Option<String>,
}

/// The value of `key` in `obj`, whatever its case.
fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

fn text(obj: &Map<String, Value>, key: &str) -> Option<String> {
    get_ci(obj, key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn parse_user(body: &Value) -> ScimResult<UserInput> {
    let obj = body.as_object().ok_or_else(|| {
        ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            "A User must be a JSON object.",
        )
    })?;
    let user_name =
        text(obj, "userName").ok_or_else(|| ScimError::invalid("userName is required."))?;
    let name_obj = get_ci(obj, "name").and_then(Value::as_object);
    let joined = name_obj.map(|n| {
        [
            text(n, "givenName"),
            text(n, "middleName"),
            text(n, "familyName"),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
    });
    let name = text(obj, "displayName")
        .or_else(|| name_obj.and_then(|n| text(n, "formatted")))
        .or(joined.filter(|j| !j.is_empty()))
        .ok_or_else(|| ScimError::invalid("displayName or name is required."))?;
    let emails = get_ci(obj, "emails").and_then(Value::as_array);
    let email = emails
        .and_then(|list| {
            let valued = |e: &&Value| e.get("value").and_then(Value::as_str).is_some();
            list.iter()
                .filter(valued)
                .find(|e| e.get("primary").and_then(boolean) == Some(true))
                .or_else(|| {
                    list.iter()
                        .filter(valued)
                        .find(|e| e.get("type").and_then(Value::as_str) == Some("work"))
                })
                .or_else(|| list.iter().find(valued))
        })
        .and_then(|e| e.get("value").and_then(Value::as_str))
        .map(|s| s.trim().to_owned())
        .or_else(|| user_name.contains('@').then(|| user_name.clone()))
        .ok_or_else(|| {
            ScimError::invalid(
                "A work email is required: in emails, or as a userName that is an email address.",
            )
        })?;
    let enterprise = get_ci(obj, ENTERPRISE_SCHEMA).and_then(Value::as_object);
    // externalId is Cascade's key for the person (the membership's external id, unique in the
    // organisation); employeeNumber is kept as sent, and stands in for a missing externalId.
    let employee_number = enterprise.and_then(|e| text(e, "employeeNumber"));
    let external = text(obj, "externalId");
    let external_id = match (external, employee_number.clone()) {
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => {
            return Err(ScimError::invalid(
                "externalId (or the enterprise employeeNumber) is required: it is your organisation's key for the person.",
            ));
        }
    };
    let active = match get_ci(obj, "active") {
        None => true,
        Some(v) => boolean(v).ok_or_else(|| ScimError::invalid("active must be true or false."))?,
    };
    Ok(UserInput {
        name,
        email,
        external_id,
        employee_number,
        active,
        department: enterprise.and_then(|e| text(e, "department")),
    })
}

/// The SCIM representation of a person as `organisation` knows them.
fn represent(
    base_url: &str,
    person: &people::Model,
    membership: &memberships::Model,
    organisation: &organisations::Model,
    department: Option<&str>,
) -> Value {
    let external = membership.external_id.clone();
    let mut enterprise = json!({ "organization": organisation.name });
    if let Some(e) = &membership.employee_number {
        enterprise["employeeNumber"] = json!(e);
    }
    if let Some(d) = department {
        enterprise["department"] = json!(d);
    }
    let modified = person.updated_at.max(membership.updated_at);
    json!({
        "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
        "id": person.id,
        "externalId": external,
        "userName": person.email,
        "name": { "formatted": person.name },
        "displayName": person.name,
        "emails": [{ "value": person.email, "type": "work", "primary": true }],
        "active": membership.active,
        ENTERPRISE_SCHEMA: enterprise,
        "meta": {
            "resourceType": "User",
            "created": membership.created_at.min(person.created_at),
            "lastModified": modified,
            "location": format!("{base_url}/scim/v2/Users/{}", person.id),
        },
    })
}

/// Loads people, staff groups and the organisation for memberships, in three queries.
async fn represent_all(
    db: &impl ConnectionTrait,
    base_url: &str,
    organisation: &organisations::Model,
    list: &[memberships::Model],
) -> ScimResult<Vec<Value>> {
    let ids: Vec<Uuid> = list.iter().map(|m| m.person_id).collect();
    let persons: HashMap<Uuid, people::Model> = people::Entity::find()
        .filter(people::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let group_ids: Vec<Uuid> = persons.values().filter_map(|p| p.staff_group_id).collect();
    let groups: HashMap<Uuid, String> = staff_groups::Entity::find()
        .filter(staff_groups::Column::Id.is_in(group_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|g| (g.id, g.name))
        .collect();
    Ok(list
        .iter()
        .filter_map(|m| {
            let p = persons.get(&m.person_id)?;
            let dept = m.department.as_deref().or_else(|| {
                p.staff_group_id
                    .and_then(|g| groups.get(&g))
                    .map(String::as_str)
            });
            Some(represent(base_url, p, m, organisation, dept))
        })
        .collect())
}

async fn organisation(db: &impl ConnectionTrait, id: Uuid) -> ScimResult<organisations::Model> {
    organisations::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ScimError::new(StatusCode::NOT_FOUND, None, "Organisation not found."))
}

async fn membership(
    db: &impl ConnectionTrait,
    organisation_id: Uuid,
    person_id: Uuid,
) -> ScimResult<memberships::Model> {
    memberships::Entity::find()
        .filter(memberships::Column::OrganisationId.eq(organisation_id))
        .filter(memberships::Column::PersonId.eq(person_id))
        .filter(memberships::Column::ScimDeletedAt.is_null())
        .one(db)
        .await?
        .ok_or_else(|| {
            ScimError::new(
                StatusCode::NOT_FOUND,
                None,
                format!("User {person_id} not found."),
            )
        })
}

pub async fn get(
    db: &impl ConnectionTrait,
    base_url: &str,
    org: Uuid,
    id: Uuid,
) -> ScimResult<Value> {
    let organisation = organisation(db, org).await?;
    let m = membership(db, org, id).await?;
    represent_all(db, base_url, &organisation, &[m])
        .await?
        .pop()
        .ok_or_else(|| ScimError::new(StatusCode::NOT_FOUND, None, format!("User {id} not found.")))
}

/// A parsed `filter`: the attribute compared with `eq` and the value.
#[derive(Debug, PartialEq, Eq)]
pub enum Filter {
    UserName(String),
    ExternalId(String),
    EmployeeNumber(String),
}

/// Parses the filters Cascade answers: `userName eq "…"`, `externalId eq "…"` and the
/// enterprise `employeeNumber eq "…"` (attribute names in any case).
pub fn parse_filter(raw: &str) -> ScimResult<Filter> {
    let refuse = || {
        ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidFilter"),
            "Supported filters: userName eq \"…\", externalId eq \"…\", employeeNumber eq \"…\".",
        )
    };
    let mut parts = raw.trim().splitn(3, char::is_whitespace);
    let (attr, op, value) = (
        parts.next().ok_or_else(refuse)?,
        parts.next().ok_or_else(refuse)?,
        parts.next().ok_or_else(refuse)?,
    );
    if !op.eq_ignore_ascii_case("eq") {
        return Err(refuse());
    }
    let value = value
        .trim()
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .ok_or_else(refuse)?
        .replace("\\\"", "\"");
    let attr = attr
        .strip_prefix(&format!("{ENTERPRISE_SCHEMA}:"))
        .unwrap_or(attr);
    if attr.eq_ignore_ascii_case("userName") {
        Ok(Filter::UserName(value))
    } else if attr.eq_ignore_ascii_case("externalId") {
        Ok(Filter::ExternalId(value))
    } else if attr.eq_ignore_ascii_case("employeeNumber") {
        Ok(Filter::EmployeeNumber(value))
    } else {
        Err(refuse())
    }
}

/// One page of Users: `start_index` from 1, at most `count`.
pub async fn list(
    db: &impl ConnectionTrait,
    base_url: &str,
    org: Uuid,
    filter: Option<Filter>,
    start_index: u64,
    count: u64,
) -> ScimResult<Value> {
    let organisation = organisation(db, org).await?;
    let mut select = memberships::Entity::find()
        .filter(memberships::Column::OrganisationId.eq(org))
        .filter(memberships::Column::ScimDeletedAt.is_null());
    match filter {
        Some(Filter::ExternalId(e)) => {
            select = select.filter(memberships::Column::ExternalId.eq(e))
        }
        Some(Filter::EmployeeNumber(e)) => {
            select = select.filter(memberships::Column::EmployeeNumber.eq(e))
        }
        Some(Filter::UserName(u)) => {
            let person = people::Entity::find()
                .filter(people::Column::EmailKey.eq(email_key(&u)))
                .one(db)
                .await?;
            select = select
                .filter(memberships::Column::PersonId.eq(person.map_or(Uuid::nil(), |p| p.id)));
        }
        None => {}
    }
    let total = select.clone().count(db).await?;
    let page = select
        .order_by_asc(memberships::Column::PersonId)
        .offset(start_index.saturating_sub(1))
        .limit(count)
        .all(db)
        .await?;
    let resources = if count == 0 {
        Vec::new()
    } else {
        represent_all(db, base_url, &organisation, &page).await?
    };
    Ok(json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    }))
}

/// Checks the input against the database; returns the staff group the department names, if it
/// names one (any other department is kept as sent on the membership, not refused).
async fn check(db: &impl ConnectionTrait, input: &UserInput) -> ScimResult<Option<Uuid>> {
    let mut errors = FieldErrors::default();
    check_text(&mut errors, "displayName", &clean_text(&input.name), 200);
    check_external_id(&mut errors, "externalId", &input.external_id);
    let valid_email =
        validator::ValidateEmail::validate_email(&input.email) && input.email.len() <= 254;
    errors.check(valid_email, "emails", "must hold a valid email address");
    errors.finish()?;
    let Some(department) = &input.department else {
        return Ok(None);
    };
    let groups = staff_groups::Entity::find()
        .filter(staff_groups::Column::Active.eq(true))
        .all(db)
        .await?;
    Ok(groups
        .into_iter()
        .find(|g| g.name.to_lowercase() == department.to_lowercase())
        .map(|g| g.id))
}

/// Begins a write holding the organisation's row, so SCIM writes and staff syncs of one
/// organisation never interleave.
async fn begin_for(db: &DatabaseConnection, org: Uuid) -> ScimResult<crate::db::WriteTxn> {
    let txn = begin_write(db).await?;
    organisations::Entity::find_by_id(org)
        .lock_exclusive()
        .one(&txn)
        .await?;
    Ok(txn)
}

/// Whether a membership of the organisation already has this external id.
async fn external_id_taken(
    db: &impl ConnectionTrait,
    org: Uuid,
    external_id: &str,
) -> ScimResult<bool> {
    Ok(memberships::Entity::find()
        .filter(memberships::Column::OrganisationId.eq(org))
        .filter(memberships::Column::ExternalId.eq(external_id))
        .one(db)
        .await?
        .is_some())
}

fn conflict(detail: impl Into<String>) -> ScimError {
    ScimError::new(StatusCode::CONFLICT, Some("uniqueness"), detail)
}

/// Creates a User: a new person. An email that belongs to someone the organisation does not
/// have makes a membership request (see `membership_requests`) and answers 409.
pub async fn create(
    db: &DatabaseConnection,
    who: &Principal,
    base_url: &str,
    org: Uuid,
    body: &Value,
    now: DateTime<Utc>,
) -> ScimResult<Value> {
    let input = parse_user(body)?;
    let txn = begin_for(db, org).await?;
    let group = check(&txn, &input).await?;
    // A User the identity provider deleted comes back: the membership is revived and made what
    // the request says (RFC 7644: after DELETE the same User may be created again).
    let deleted = memberships::Entity::find()
        .filter(memberships::Column::OrganisationId.eq(org))
        .filter(memberships::Column::ScimDeletedAt.is_not_null())
        .filter(
            sea_orm::Condition::any()
                .add(memberships::Column::ExternalId.eq(input.external_id.as_str()))
                .add(
                    memberships::Column::PersonId.in_subquery(
                        sea_orm::sea_query::Query::select()
                            .column(people::Column::Id)
                            .from(people::Entity)
                            .and_where(people::Column::EmailKey.eq(email_key(&input.email)))
                            .to_owned(),
                    ),
                ),
        )
        .one(&txn)
        .await?;
    if let Some(gone) = deleted {
        let mut revived: memberships::ActiveModel = gone.clone().into();
        revived.scim_deleted_at = Set(None);
        revived.update(&txn).await?;
        write(&txn, org, gone.person_id, &input, now).await?;
        audit::record(
            &txn,
            Change::new("person", gone.person_id, "scim_create")
                .summary(format!("SCIM provisioned again for organisation {org}"))
                .person(gone.person_id),
        )
        .await?;
        let user = get(&txn, base_url, org, gone.person_id).await?;
        txn.commit().await?;
        return Ok(user);
    }
    if external_id_taken(&txn, org, &input.external_id).await? {
        return Err(conflict(format!(
            "A User with externalId {:?} already exists.",
            input.external_id
        )));
    }
    let known = people::Entity::find()
        .filter(people::Column::EmailKey.eq(email_key(&input.email)))
        .one(&txn)
        .await?;
    let person_id = match known {
        Some(p) => {
            if memberships::Entity::find()
                .filter(memberships::Column::OrganisationId.eq(org))
                .filter(memberships::Column::PersonId.eq(p.id))
                .one(&txn)
                .await?
                .is_some()
            {
                return Err(conflict(format!(
                    "A User with userName {:?} already exists.",
                    input.email
                )));
            }
            // Someone this organisation does not have: it may not take them over by email. A
            // membership request waits for their employer or a coordinator; once confirmed,
            // the User appears here (a filter on externalId or userName finds it).
            let request = super::membership_requests::ask(
                &txn,
                who,
                p.id,
                org,
                Some(input.external_id.clone()),
                super::membership_requests::RequestSource::Scim,
                now,
            )
            .await?;
            txn.commit().await?;
            return Err(conflict(format!(
                "This email address belongs to a person your organisation does not have yet. \
                 Membership request {} now waits for their employing organisation or a \
                 partnership coordinator to confirm it; until then the User is not provisioned.",
                request.id
            )));
        }
        None => {
            let id = Uuid::now_v7();
            people::ActiveModel {
                id: Set(id),
                name: Set(clean_text(&input.name)),
                email: Set(input.email.clone()),
                email_key: Set(email_key(&input.email)),
                staff_group_id: Set(group),
                locality_id: Set(None),
                active: Set(true),
                erased_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?;
            id
        }
    };
    let has_primary = memberships::Entity::find()
        .filter(memberships::Column::PersonId.eq(person_id))
        .filter(memberships::Column::IsPrimary.eq(true))
        .one(&txn)
        .await?
        .is_some();
    let m = memberships::ActiveModel {
        id: Set(Uuid::now_v7()),
        person_id: Set(person_id),
        organisation_id: Set(org),
        external_id: Set(Some(input.external_id.clone())),
        employee_number: Set(input.employee_number.clone()),
        department: Set(input.department.clone()),
        scim_deleted_at: Set(None),
        is_primary: Set(!has_primary),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    if !input.active {
        super::sync::leave(&txn, org, &[&m], now).await?;
    }
    audit::record(
        &txn,
        Change::new("person", person_id, "scim_create")
            .summary(format!("SCIM provisioned for organisation {org}"))
            .person(person_id),
    )
    .await?;
    // Read inside the write: under an Idempotency-Key the commit waits for the answer.
    let user = get(&txn, base_url, org, person_id).await?;
    txn.commit().await?;
    Ok(user)
}

/// Replaces a User with `body` (PUT, and PATCH once its operations are applied).
pub async fn replace(
    db: &DatabaseConnection,
    base_url: &str,
    org: Uuid,
    id: Uuid,
    body: &Value,
    now: DateTime<Utc>,
) -> ScimResult<Value> {
    let input = parse_user(body)?;
    let txn = begin_for(db, org).await?;
    write(&txn, org, id, &input, now).await?;
    audit::record(
        &txn,
        Change::new("person", id, "scim_replace")
            .summary(format!("SCIM replaced for organisation {org}"))
            .person(id),
    )
    .await?;
    let user = get(&txn, base_url, org, id).await?;
    txn.commit().await?;
    Ok(user)
}

/// PATCH: the operations are applied to the representation read inside the write, so two
/// patches (or a patch and a sync) of one organisation never lose each other's changes.
pub async fn patch(
    db: &DatabaseConnection,
    base_url: &str,
    org: Uuid,
    id: Uuid,
    patch: &Value,
    now: DateTime<Utc>,
) -> ScimResult<Value> {
    let txn = begin_for(db, org).await?;
    let current = get(&txn, base_url, org, id).await?;
    let input = parse_user(&apply_patch(&current, patch)?)?;
    write(&txn, org, id, &input, now).await?;
    audit::record(
        &txn,
        Change::new("person", id, "scim_patch")
            .summary(format!("SCIM patched for organisation {org}"))
            .person(id),
    )
    .await?;
    let user = get(&txn, base_url, org, id).await?;
    txn.commit().await?;
    Ok(user)
}

/// Makes the User what `input` says, in the caller's transaction holding the organisation.
async fn write(
    txn: &crate::db::WriteTxn,
    org: Uuid,
    id: Uuid,
    input: &UserInput,
    now: DateTime<Utc>,
) -> ScimResult<()> {
    let m = membership(txn, org, id).await?;
    let group = check(txn, input).await?;
    if m.external_id.as_deref() != Some(input.external_id.as_str())
        && external_id_taken(txn, org, &input.external_id).await?
    {
        return Err(conflict(format!(
            "Another User has externalId {:?}.",
            input.external_id
        )));
    }
    let person = people::Entity::find_by_id(id)
        .one(txn)
        .await?
        .ok_or_else(|| {
            ScimError::new(StatusCode::NOT_FOUND, None, format!("User {id} not found."))
        })?;
    // Only the employer changes the person's own details; another organisation's User keeps
    // them as the employer recorded them (RFC 7644 lets a service provider keep its values).
    let employer = super::people::employer_of(txn, id).await?;
    let owns = employer.is_none_or(|e| e == org);
    let key = email_key(&input.email);
    if owns
        && key != person.email_key
        && people::Entity::find()
            .filter(people::Column::EmailKey.eq(key.clone()))
            .one(txn)
            .await?
            .is_some()
    {
        return Err(conflict(format!(
            "Another person has the email {:?}.",
            input.email
        )));
    }
    // A department that names no staff group is kept on the membership and leaves the person's
    // staff group as it was; no department at all clears it.
    let group = match (&input.department, group) {
        (Some(_), None) => person.staff_group_id,
        (_, group) => group,
    };
    let (name, email, group, key) = if owns {
        (clean_text(&input.name), input.email.clone(), group, key)
    } else {
        (
            person.name.clone(),
            person.email.clone(),
            person.staff_group_id,
            person.email_key.clone(),
        )
    };
    let person_changed =
        person.name != name || person.email != email || person.staff_group_id != group;
    if person_changed || (input.active && !person.active) {
        let mut pm: people::ActiveModel = person.into();
        pm.name = Set(name);
        pm.email = Set(email);
        pm.email_key = Set(key);
        pm.staff_group_id = Set(group);
        if input.active {
            pm.active = Set(true);
        }
        pm.updated_at = Set(now);
        pm.update(txn).await?;
    }
    if m.external_id.as_deref() != Some(input.external_id.as_str())
        || m.employee_number != input.employee_number
        || m.department != input.department
        || (input.active && !m.active)
    {
        let mut mm: memberships::ActiveModel = m.clone().into();
        mm.external_id = Set(Some(input.external_id.clone()));
        mm.employee_number = Set(input.employee_number.clone());
        mm.department = Set(input.department.clone());
        if input.active {
            mm.active = Set(true);
        }
        mm.updated_at = Set(now);
        mm.update(txn).await?;
    }
    if !input.active && m.active {
        super::sync::leave(txn, org, &[&m], now).await?;
    }
    Ok(())
}

/// DELETE: the User leaves the organisation (as a snapshot sync's leaver); the record stays.
pub async fn deactivate(
    db: &DatabaseConnection,
    org: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> ScimResult<()> {
    let txn = begin_for(db, org).await?;
    let m = membership(&txn, org, id).await?;
    if m.active {
        super::sync::leave(&txn, org, &[&m], now).await?;
    }
    // From now on SCIM answers 404 for this User; the membership stays as a leaver's.
    memberships::Entity::update_many()
        .col_expr(
            memberships::Column::ScimDeletedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(memberships::Column::Id.eq(m.id))
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        Change::new("person", id, "scim_deactivate")
            .summary(format!("left organisation {org} (SCIM)"))
            .person(id),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Applies a PatchOp's operations to a User's representation (RFC 7644 §3.5.2).
fn apply_patch(current: &Value, patch: &Value) -> ScimResult<Value> {
    let ops = patch
        .as_object()
        .and_then(|p| get_ci(p, "Operations"))
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ScimError::new(
                StatusCode::BAD_REQUEST,
                Some("invalidSyntax"),
                "A PatchOp needs an Operations list.",
            )
        })?;
    let mut user = current.clone();
    for op in ops {
        let obj = op.as_object().ok_or_else(|| {
            ScimError::new(
                StatusCode::BAD_REQUEST,
                Some("invalidSyntax"),
                "Each operation must be an object.",
            )
        })?;
        let kind = text(obj, "op").unwrap_or_default().to_lowercase();
        let path = text(obj, "path");
        let value = get_ci(obj, "value").cloned();
        match (kind.as_str(), path, value) {
            ("add" | "replace", None, Some(Value::Object(values))) => {
                for (k, v) in values {
                    if k.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) && v.is_object() {
                        for (ek, ev) in v.as_object().into_iter().flatten() {
                            set_path(
                                &mut user,
                                &format!("{ENTERPRISE_SCHEMA}:{ek}"),
                                Some(ev.clone()),
                            )?;
                        }
                    } else {
                        set_path(&mut user, &k, Some(v))?;
                    }
                }
            }
            ("add" | "replace", Some(path), Some(v)) => set_path(&mut user, &path, Some(v))?,
            ("remove", Some(path), _) => set_path(&mut user, &path, None)?,
            ("remove", None, _) => {
                return Err(ScimError::new(
                    StatusCode::BAD_REQUEST,
                    Some("noTarget"),
                    "remove needs a path.",
                ));
            }
            ("add" | "replace", _, _) => {
                return Err(ScimError::invalid("add and replace need a value."));
            }
            _ => {
                return Err(ScimError::new(
                    StatusCode::BAD_REQUEST,
                    Some("invalidSyntax"),
                    "op must be add, replace or remove.",
                ));
            }
        }
    }
    Ok(user)
}

/// Sets (or with `None` removes) the attribute a PATCH path names: `attr`, `attr.sub`,
/// `emails[…].value`, or the enterprise URN followed by `:attr`.
fn set_path(user: &mut Value, path: &str, value: Option<Value>) -> ScimResult<()> {
    let bad = || {
        ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidPath"),
            format!("Cascade cannot change {path:?}."),
        )
    };
    let (target, attr): (&mut Value, String) =
        if let Some(rest) = path.strip_prefix(&format!("{ENTERPRISE_SCHEMA}:")) {
            let root = user.as_object_mut().ok_or_else(bad)?;
            let ext = root
                .entry(ENTERPRISE_SCHEMA.to_owned())
                .or_insert_with(|| json!({}));
            (ext, rest.to_owned())
        } else if path.eq_ignore_ascii_case("userName") {
            // Cascade's userName is the work email: changing one changes the other.
            if let Some(email) = value.as_ref().and_then(Value::as_str) {
                set_key(
                    user,
                    "emails",
                    Some(json!([{ "value": email, "type": "work", "primary": true }])),
                );
            }
            return set_key(user, "userName", value).ok_or_else(bad);
        } else if path.to_lowercase().starts_with("emails") {
            let email = match value {
                Some(Value::Array(list)) => {
                    return set_key(user, "emails", Some(Value::Array(list))).ok_or_else(bad);
                }
                Some(v) => v
                    .as_str()
                    .map(|s| json!([{ "value": s, "type": "work", "primary": true }]))
                    .ok_or_else(bad)?,
                None => Value::Array(Vec::new()),
            };
            return set_key(user, "emails", Some(email)).ok_or_else(bad);
        } else {
            (user, path.to_owned())
        };
    match attr.split_once('.') {
        Some((parent, child)) => {
            let obj = target.as_object_mut().ok_or_else(bad)?;
            let key = obj
                .keys()
                .find(|k| k.eq_ignore_ascii_case(parent))
                .cloned()
                .unwrap_or_else(|| parent.to_owned());
            let inner = obj.entry(key).or_insert_with(|| json!({}));
            if !inner.is_object() {
                *inner = json!({});
            }
            set_key(inner, child, value).ok_or_else(bad)
        }
        None => {
            // Changing the name through its parts drops the stored full name, so the parts win.
            if attr.eq_ignore_ascii_case("name") {
                set_key(target, "displayName", None);
            }
            set_key(target, &attr, value).ok_or_else(bad)
        }
    }
    .map(|()| {
        if path.to_lowercase().starts_with("name.") {
            set_key(user, "displayName", None);
            if let Some(name) = user.get_mut("name").and_then(Value::as_object_mut)
                && !path.eq_ignore_ascii_case("name.formatted")
            {
                name.remove("formatted");
            }
        }
    })
}

/// Sets or removes `key` in an object, matching an existing key in any case.
fn set_key(target: &mut Value, key: &str, value: Option<Value>) -> Option<()> {
    let obj = target.as_object_mut()?;
    let existing = obj.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned();
    let key = existing.unwrap_or_else(|| key.to_owned());
    match value {
        Some(v) => {
            obj.insert(key, v);
        }
        None => {
            obj.remove(&key);
        }
    }
    Some(())
}

/// `attributes` and `excludedAttributes` (RFC 7644 §3.9), applied to a User representation:
/// with `attributes`, only the named attributes (and `id` and `schemas`, always returned) stay;
/// `excludedAttributes` removes the named ones (never `id` or `schemas`). Names are compared
/// without regard to case; `name.givenName` names a sub-attribute, and
/// `urn:…:enterprise:2.0:User:department` an extension's attribute.
pub fn project(user: &mut Value, attributes: &[String], excluded: &[String]) {
    const ALWAYS: [&str; 2] = ["id", "schemas"];
    let Some(obj) = user.as_object_mut() else {
        return;
    };
    // (top-level key as written in the representation, optional sub-attribute)
    let split = |path: &str| -> (String, Option<String>) {
        if let Some(rest) = path
            .get(..ENTERPRISE_SCHEMA.len())
            .filter(|head| head.eq_ignore_ascii_case(ENTERPRISE_SCHEMA))
            .map(|_| &path[ENTERPRISE_SCHEMA.len()..])
        {
            let sub = rest.strip_prefix(':').filter(|s| !s.is_empty());
            return (ENTERPRISE_SCHEMA.to_owned(), sub.map(str::to_owned));
        }
        match path.split_once('.') {
            Some((top, sub)) => (top.to_owned(), Some(sub.to_owned())),
            None => (path.to_owned(), None),
        }
    };
    let key_of = |obj: &serde_json::Map<String, Value>, name: &str| {
        obj.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
    };
    if !attributes.is_empty() {
        let wanted: Vec<(String, Option<String>)> = attributes.iter().map(|a| split(a)).collect();
        let keys: Vec<String> = obj.keys().cloned().collect();
        for key in keys {
            if ALWAYS.contains(&key.as_str()) {
                continue;
            }
            let asked: Vec<&Option<String>> = wanted
                .iter()
                .filter(|(top, _)| top.eq_ignore_ascii_case(&key))
                .map(|(_, sub)| sub)
                .collect();
            if asked.is_empty() {
                obj.remove(&key);
            } else if asked.iter().all(|s| s.is_some())
                && let Some(inner) = obj.get_mut(&key).and_then(Value::as_object_mut)
            {
                let subs: Vec<&str> = asked.iter().filter_map(|s| s.as_deref()).collect();
                inner.retain(|k, _| subs.iter().any(|s| s.eq_ignore_ascii_case(k)));
                if inner.is_empty() {
                    obj.remove(&key);
                }
            }
        }
    }
    for path in excluded {
        let (top, sub) = split(path);
        let Some(key) = key_of(obj, &top).filter(|k| !ALWAYS.contains(&k.as_str())) else {
            continue;
        };
        match sub {
            None => {
                obj.remove(&key);
            }
            Some(sub) => {
                if let Some(inner) = obj.get_mut(&key).and_then(Value::as_object_mut) {
                    inner.retain(|k, _| !k.eq_ignore_ascii_case(&sub));
                }
            }
        }
    }
}
