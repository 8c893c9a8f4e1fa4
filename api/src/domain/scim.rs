//! SCIM 2.0 Users (RFC 7643/7644) over people and a partner's memberships. A SCIM User is a
//! person as one partner organisation knows them: `id` is the person's id, `externalId` the
//! membership's external id (Cascade's key; the enterprise `employeeNumber` is kept as sent and
//! stands in when no `externalId` comes), `active` the membership's state,
//! `department` the person's staff group (the partner is the key's, so `organization` is not
//! shown). Writes run
//! in one transaction holding the organisation's row, as staff sync does, and deactivation uses
//! sync's leaver rules.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entities::{memberships, organisations, people, staff_groups};
use poem::http::StatusCode;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{
    people::{check_external_id, email_key},
    validation::{FieldErrors, check_text, clean_text},
};
use crate::{
    audit::{self, Change},
    ctx::Ctx,
};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// The most Users one list answers.
pub const MAX_COUNT: u64 = 200;

pub use crate::scim_error::{ScimError, ScimResult};

/// A User as sent by an identity provider, read leniently (attribute names in any case,
/// booleans as strings).
#[derive(Debug, Clone, PartialEq)]
struct UserInput {
    /// Cascade's name for the person: `displayName`, else `name.formatted`, else the parts.
    name: String,
    /// The work email: the primary one, else the `work` one, else the first, else `userName`.
    email: String,
    user_name: String,
    external_id: String,
    employee_number: Option<String>,
    /// `None` while `active` is unassigned: the membership stays as it is.
    active: Option<bool>,
    department: Option<String>,
    /// The provider's view of the User, kept as sent (see `StoredUser`).
    stored: StoredUser,
}

/// What an identity provider last sent of the core attributes, stored on the membership and
/// shown back while it agrees with the person's own name and email.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredUser {
    user_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    emails: Vec<Map<String, Value>>,
    /// Whether `active` is assigned (its value is the membership's).
    #[serde(default)]
    active_assigned: bool,
}

/// The sub-attributes of `name` Cascade keeps (RFC 7643 §4.1.1).
const NAME_PARTS: [&str; 6] = [
    "formatted",
    "familyName",
    "givenName",
    "middleName",
    "honorificPrefix",
    "honorificSuffix",
];

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

/// The given, middle and family names joined with spaces (empty when none is given).
fn joined_parts(name: &Map<String, Value>) -> String {
    ["givenName", "middleName", "familyName"]
        .into_iter()
        .filter_map(|k| text(name, k))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Cascade's name for a User: `displayName`, else `name.formatted`, else the parts joined.
fn name_of(display_name: Option<&str>, name: Option<&Map<String, Value>>) -> Option<String> {
    display_name
        .map(str::to_owned)
        .or_else(|| name.and_then(|n| text(n, "formatted")))
        .or_else(|| name.map(joined_parts).filter(|j| !j.is_empty()))
}

/// The email Cascade uses: the primary one, else the `work` one, else the first.
fn email_of(emails: &[Map<String, Value>]) -> Option<String> {
    let valued = |e: &&Map<String, Value>| text(e, "value").is_some();
    emails
        .iter()
        .filter(valued)
        .find(|e| get_ci(e, "primary").and_then(boolean) == Some(true))
        .or_else(|| {
            emails
                .iter()
                .filter(valued)
                .find(|e| text(e, "type").is_some_and(|t| t.eq_ignore_ascii_case("work")))
        })
        .or_else(|| emails.iter().find(valued))
        .and_then(|e| text(e, "value"))
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
    let name_obj: Option<Map<String, Value>> =
        get_ci(obj, "name").and_then(Value::as_object).map(|n| {
            NAME_PARTS
                .iter()
                .filter_map(|part| text(n, part).map(|v| ((*part).to_owned(), json!(v))))
                .collect()
        });
    let name_obj = name_obj.filter(|n| !n.is_empty());
    let display_name = text(obj, "displayName");
    let name = name_of(display_name.as_deref(), name_obj.as_ref())
        .ok_or_else(|| ScimError::invalid("displayName or name is required."))?;
    let mut emails: Vec<Map<String, Value>> = Vec::new();
    match get_ci(obj, "emails") {
        None => {}
        Some(Value::Array(list)) => {
            for e in list.iter().filter_map(Value::as_object) {
                let Some(value) = text(e, "value") else {
                    continue;
                };
                let mut kept = Map::new();
                kept.insert("value".into(), json!(value));
                if let Some(t) = text(e, "type") {
                    kept.insert("type".into(), json!(t));
                }
                if let Some(p) = get_ci(e, "primary") {
                    let p = boolean(p).ok_or_else(|| {
                        ScimError::invalid("emails.primary must be true or false.")
                    })?;
                    kept.insert("primary".into(), json!(p));
                }
                emails.push(kept);
            }
        }
        Some(_) => return Err(ScimError::invalid("emails must be a list.")),
    }
    let email = email_of(&emails)
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
    let active = get_ci(obj, "active")
        .map(|v| boolean(v).ok_or_else(|| ScimError::invalid("active must be true or false.")))
        .transpose()?;
    Ok(UserInput {
        name,
        email,
        external_id,
        employee_number,
        active,
        department: enterprise.and_then(|e| text(e, "department")),
        stored: StoredUser {
            user_name: user_name.clone(),
            name: name_obj,
            display_name,
            emails,
            active_assigned: active.is_some(),
        },
        user_name,
    })
}

/// The SCIM representation of a person as `organisation` knows them: what the identity
/// provider sent (see `StoredUser`) while it agrees with the person's name and email, the
/// person's own otherwise (someone else changed them, or the User came from a staff sync).
fn represent(
    base_url: &str,
    person: &people::Model,
    membership: &memberships::Model,
    department: Option<&str>,
) -> Value {
    let external = membership.external_id.clone();
    let mut enterprise = Map::new();
    if let Some(e) = &membership.employee_number {
        enterprise.insert("employeeNumber".into(), json!(e));
    }
    if let Some(d) = department {
        enterprise.insert("department".into(), json!(d));
    }
    // An extension with no values is not there (RFC 7643 §3.3); nor is its schema.
    let schemas = if enterprise.is_empty() {
        json!([USER_SCHEMA])
    } else {
        json!([USER_SCHEMA, ENTERPRISE_SCHEMA])
    };
    let stored: Option<StoredUser> = membership
        .scim_attributes
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    let own_name = || {
        (
            Some(person.name.clone()),
            Some(json!({ "formatted": person.name })),
        )
    };
    let (display_name, name) = match &stored {
        Some(s)
            if name_of(s.display_name.as_deref(), s.name.as_ref())
                .is_some_and(|n| clean_text(&n) == person.name) =>
        {
            (s.display_name.clone(), s.name.clone().map(Value::Object))
        }
        _ => own_name(),
    };
    let emails = match &stored {
        Some(s) if email_of(&s.emails).is_some_and(|e| email_key(&e) == person.email_key) => {
            json!(s.emails)
        }
        _ => json!([{ "value": person.email, "type": "work", "primary": true }]),
    };
    let modified = person.updated_at.max(membership.updated_at);
    let mut user = json!({
        "schemas": schemas,
        "id": person.id,
        "externalId": external,
        "userName": stored.as_ref().map_or(&person.email, |s| &s.user_name),
        "name": name,
        "displayName": display_name,
        "emails": emails,
        "active": membership.active,
        ENTERPRISE_SCHEMA: (!enterprise.is_empty()).then_some(enterprise),
        "meta": {
            "resourceType": "User",
            "created": membership.created_at.min(person.created_at),
            "lastModified": modified,
            "location": format!("{base_url}/scim/v2/Users/{}", person.id),
        },
    });
    if let Some(obj) = user.as_object_mut() {
        obj.retain(|_, v| !v.is_null());
        // RFC 7644 §3.5.2.2: a removed attribute is unassigned, and not returned.
        if stored.as_ref().is_some_and(|s| !s.active_assigned) {
            obj.remove("active");
        }
    }
    user
}

/// Loads people and staff groups for memberships, in two queries.
async fn represent_all(
    db: &impl ConnectionTrait,
    base_url: &str,
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
            Some(represent(base_url, p, m, dept))
        })
        .collect())
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
    let m = membership(db, org, id).await?;
    represent_all(db, base_url, &[m])
        .await?
        .pop()
        .ok_or_else(|| ScimError::new(StatusCode::NOT_FOUND, None, format!("User {id} not found.")))
}

/// An attribute a filter may compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterAttr {
    Id,
    UserName,
    ExternalId,
    EmployeeNumber,
    Email,
    Active,
}

/// A parsed `filter` (RFC 7644 §3.4.2.2): `eq` comparisons joined by `and`, `or` and
/// parentheses (`and` binds tighter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Eq(FilterAttr, String),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
}

const FILTER_HELP: &str = "Supported filters: eq on userName, externalId, employeeNumber, \
     emails.value, active or id, joined by and, or and parentheses, e.g. \
     userName eq \"jo@example.org\" or externalId eq \"E1\".";

fn invalid_filter(detail: impl std::fmt::Display) -> ScimError {
    ScimError::new(
        StatusCode::BAD_REQUEST,
        Some("invalidFilter"),
        format!("{detail} {FILTER_HELP}"),
    )
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Open,
    Close,
}

fn tokens(raw: &str) -> ScimResult<Vec<Token>> {
    let mut out = Vec::new();
    let mut chars = raw.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' => {
                chars.next();
                out.push(if c == '(' { Token::Open } else { Token::Close });
            }
            '"' => {
                chars.next();
                let mut value = String::new();
                loop {
                    match chars.next() {
                        None => return Err(invalid_filter("A quoted value is not closed.")),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(escaped) => value.push(escaped),
                            None => return Err(invalid_filter("A quoted value is not closed.")),
                        },
                        Some(other) => value.push(other),
                    }
                }
                out.push(Token::Quoted(value));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' || c == '"' {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                out.push(Token::Word(word));
            }
        }
    }
    Ok(out)
}

struct FilterParser {
    tokens: std::iter::Peekable<std::vec::IntoIter<Token>>,
}

impl FilterParser {
    fn keyword(&mut self, word: &str) -> bool {
        let found =
            matches!(self.tokens.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word));
        if found {
            self.tokens.next();
        }
        found
    }

    fn or(&mut self) -> ScimResult<Filter> {
        let mut left = self.and()?;
        while self.keyword("or") {
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> ScimResult<Filter> {
        let mut left = self.term()?;
        while self.keyword("and") {
            left = Filter::And(Box::new(left), Box::new(self.term()?));
        }
        Ok(left)
    }

    fn term(&mut self) -> ScimResult<Filter> {
        match self.tokens.next() {
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.tokens.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err(invalid_filter("A parenthesis is not closed.")),
                }
            }
            Some(Token::Word(attr)) => {
                let attr = filter_attr(&attr)?;
                match self.tokens.next() {
                    Some(Token::Word(op)) if op.eq_ignore_ascii_case("eq") => {}
                    Some(Token::Word(op)) => {
                        return Err(invalid_filter(format!(
                            "The operator {op:?} is not supported."
                        )));
                    }
                    _ => return Err(invalid_filter("An operator is missing.")),
                }
                let value = match (self.tokens.next(), attr) {
                    (Some(Token::Quoted(v)), _) => v,
                    (Some(Token::Word(w)), FilterAttr::Active)
                        if w.eq_ignore_ascii_case("true") || w.eq_ignore_ascii_case("false") =>
                    {
                        w.to_lowercase()
                    }
                    _ => return Err(invalid_filter("A value is missing or not quoted.")),
                };
                Ok(Filter::Eq(attr, value))
            }
            _ => Err(invalid_filter("An attribute is missing.")),
        }
    }
}

fn filter_attr(raw: &str) -> ScimResult<FilterAttr> {
    let lower = raw.to_lowercase();
    let enterprise = format!("{}:", ENTERPRISE_SCHEMA.to_lowercase());
    let core = format!("{}:", USER_SCHEMA.to_lowercase());
    let attr = lower
        .strip_prefix(&enterprise)
        .or_else(|| lower.strip_prefix(&core))
        .unwrap_or(&lower);
    Ok(match attr {
        "id" => FilterAttr::Id,
        "username" => FilterAttr::UserName,
        "externalid" => FilterAttr::ExternalId,
        "employeenumber" => FilterAttr::EmployeeNumber,
        "emails" | "emails.value" => FilterAttr::Email,
        "active" => FilterAttr::Active,
        _ => return Err(invalid_filter(format!("Cannot filter on {raw:?}."))),
    })
}

/// Parses the filters Cascade answers (attribute names in any case).
pub fn parse_filter(raw: &str) -> ScimResult<Filter> {
    let mut parser = FilterParser {
        tokens: tokens(raw)?.into_iter().peekable(),
    };
    let filter = parser.or()?;
    match parser.tokens.next() {
        None => Ok(filter),
        Some(_) => Err(invalid_filter("The filter has more after its end.")),
    }
}

/// The memberships of a people subquery: those whose person has this email.
fn person_with_email(email: &str) -> sea_orm::Condition {
    sea_orm::Condition::all().add(
        memberships::Column::PersonId.in_subquery(
            sea_orm::sea_query::Query::select()
                .column(people::Column::Id)
                .from(people::Entity)
                .and_where(people::Column::EmailKey.eq(email_key(email)))
                .to_owned(),
        ),
    )
}

/// A filter as a condition on memberships; every comparison is served by an index.
fn condition(filter: &Filter) -> sea_orm::Condition {
    use sea_orm::Condition;
    match filter {
        Filter::And(a, b) => Condition::all().add(condition(a)).add(condition(b)),
        Filter::Or(a, b) => Condition::any().add(condition(a)).add(condition(b)),
        Filter::Eq(attr, v) => match attr {
            FilterAttr::Id => Condition::all().add(
                memberships::Column::PersonId.eq(v.parse::<Uuid>().unwrap_or_else(|_| Uuid::nil())),
            ),
            FilterAttr::ExternalId => Condition::all().add(memberships::Column::ExternalId.eq(v)),
            FilterAttr::EmployeeNumber => {
                Condition::all().add(memberships::Column::EmployeeNumber.eq(v))
            }
            FilterAttr::Active => Condition::all().add(memberships::Column::Active.eq(v == "true")),
            FilterAttr::Email => person_with_email(v),
            // A User provisioned by SCIM has its own userName; one from a staff sync shows its
            // email as its userName.
            FilterAttr::UserName => Condition::any()
                .add(memberships::Column::ScimUserNameKey.eq(v.to_lowercase()))
                .add(
                    Condition::all()
                        .add(memberships::Column::ScimUserNameKey.is_null())
                        .add(person_with_email(v)),
                ),
        },
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
    let mut select = memberships::Entity::find()
        .filter(memberships::Column::OrganisationId.eq(org))
        .filter(memberships::Column::ScimDeletedAt.is_null());
    if let Some(filter) = &filter {
        select = select.filter(condition(filter));
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
        represent_all(db, base_url, &page).await?
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
    // Everything kept is bounded before it reaches the database (and its indexes).
    check_text(&mut errors, "userName", &input.user_name, 254);
    for (field, value) in [
        ("employeeNumber", &input.employee_number),
        ("department", &input.department),
    ] {
        if let Some(value) = value {
            check_text(&mut errors, field, value, 200);
        }
    }
    for (part, value) in input.stored.name.iter().flatten() {
        check_text(
            &mut errors,
            &format!("name.{part}"),
            value.as_str().unwrap_or_default(),
            200,
        );
    }
    errors.check(
        input.stored.emails.len() <= 10,
        "emails",
        "must list at most 10 emails",
    );
    for (i, email) in input.stored.emails.iter().enumerate() {
        for key in ["value", "type"] {
            if let Some(v) = email.get(key).and_then(Value::as_str) {
                check_text(&mut errors, &format!("emails[{i}].{key}"), v, 254);
            }
        }
    }
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
async fn begin_for(ctx: &Ctx, org: Uuid) -> ScimResult<crate::db::WriteTxn> {
    let txn = ctx.begin().await?;
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

/// Whether another membership of the organisation has this userName (in any case).
async fn user_name_taken(
    db: &impl ConnectionTrait,
    org: Uuid,
    except: Option<Uuid>,
    user_name: &str,
) -> ScimResult<bool> {
    let mut select = memberships::Entity::find()
        .filter(memberships::Column::OrganisationId.eq(org))
        .filter(memberships::Column::ScimUserNameKey.eq(user_name.to_lowercase()));
    if let Some(id) = except {
        select = select.filter(memberships::Column::Id.ne(id));
    }
    Ok(select.one(db).await?.is_some())
}

impl StoredUser {
    fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn conflict(detail: impl Into<String>) -> ScimError {
    ScimError::new(StatusCode::CONFLICT, Some("uniqueness"), detail)
}

/// Creates a User: a new person. An email that belongs to someone the organisation does not
/// have makes a membership request (see `membership_requests`) and answers 409.
pub async fn create(ctx: &Ctx, base_url: &str, org: Uuid, body: &Value) -> ScimResult<Value> {
    let (who, now) = (&ctx.who, ctx.now());
    let input = parse_user(body)?;
    let txn = begin_for(ctx, org).await?;
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
    if user_name_taken(&txn, org, None, &input.user_name).await? {
        return Err(conflict(format!(
            "A User with userName {:?} already exists.",
            input.user_name
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
        scim_user_name_key: Set(Some(input.user_name.to_lowercase())),
        scim_attributes: Set(Some(input.stored.to_json())),
        is_primary: Set(!has_primary),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    if input.active == Some(false) {
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
    ctx: &Ctx,
    base_url: &str,
    org: Uuid,
    id: Uuid,
    body: &Value,
) -> ScimResult<Value> {
    let now = ctx.now();
    let input = parse_user(body)?;
    let txn = begin_for(ctx, org).await?;
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
    ctx: &Ctx,
    base_url: &str,
    org: Uuid,
    id: Uuid,
    patch: &Value,
) -> ScimResult<Value> {
    let now = ctx.now();
    let txn = begin_for(ctx, org).await?;
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
    if user_name_taken(txn, org, Some(m.id), &input.user_name).await? {
        return Err(conflict(format!(
            "Another User has userName {:?}.",
            input.user_name
        )));
    }
    let stored = input.stored.to_json();
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
    let reactivate = input.active == Some(true);
    if person_changed || (reactivate && !person.active) {
        let mut pm: people::ActiveModel = person.into();
        pm.name = Set(name);
        pm.email = Set(email);
        pm.email_key = Set(key);
        pm.staff_group_id = Set(group);
        if reactivate {
            pm.active = Set(true);
        }
        pm.updated_at = Set(now);
        pm.update(txn).await?;
    }
    if m.external_id.as_deref() != Some(input.external_id.as_str())
        || m.employee_number != input.employee_number
        || m.department != input.department
        || m.scim_attributes.as_deref() != Some(stored.as_str())
        || (reactivate && !m.active)
    {
        let mut mm: memberships::ActiveModel = m.clone().into();
        mm.external_id = Set(Some(input.external_id.clone()));
        mm.employee_number = Set(input.employee_number.clone());
        mm.department = Set(input.department.clone());
        mm.scim_user_name_key = Set(Some(input.user_name.to_lowercase()));
        mm.scim_attributes = Set(Some(stored));
        if reactivate {
            mm.active = Set(true);
        }
        mm.updated_at = Set(now);
        mm.update(txn).await?;
    }
    if input.active == Some(false) && m.active {
        super::sync::leave(txn, org, &[&m], now).await?;
    }
    Ok(())
}

/// DELETE: the User leaves the organisation (as a snapshot sync's leaver); the record stays.
pub async fn deactivate(ctx: &Ctx, org: Uuid, id: Uuid) -> ScimResult<()> {
    let now = ctx.now();
    let txn = begin_for(ctx, org).await?;
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
        // The userName is free for another User.
        .col_expr(
            memberships::Column::ScimUserNameKey,
            sea_orm::sea_query::Expr::value(None::<String>),
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

/// A PATCH operation (RFC 7644 §3.5.2; the op's name in any case, as Entra ID sends it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
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
        let kind = match text(obj, "op").unwrap_or_default().to_lowercase().as_str() {
            "add" => Op::Add,
            "replace" => Op::Replace,
            "remove" => Op::Remove,
            _ => {
                return Err(ScimError::new(
                    StatusCode::BAD_REQUEST,
                    Some("invalidSyntax"),
                    "op must be add, replace or remove.",
                ));
            }
        };
        let path = text(obj, "path");
        let value = get_ci(obj, "value").cloned();
        match (kind, path, value) {
            (Op::Add | Op::Replace, None, Some(Value::Object(values))) => {
                for (k, v) in values {
                    set_path(&mut user, kind, &k, Some(v))?;
                }
            }
            (Op::Add | Op::Replace, Some(path), Some(v)) => {
                set_path(&mut user, kind, &path, Some(v))?;
            }
            (Op::Remove, Some(path), _) => set_path(&mut user, kind, &path, None)?,
            (Op::Remove, None, _) => {
                return Err(ScimError::new(
                    StatusCode::BAD_REQUEST,
                    Some("noTarget"),
                    "remove needs a path.",
                ));
            }
            (Op::Add | Op::Replace, _, _) => {
                return Err(ScimError::invalid("add and replace need a value."));
            }
        }
    }
    Ok(user)
}

/// `path` without `prefix` (compared in any case), if it starts with it.
fn strip_prefix_ci<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    path.get(..prefix.len())
        .filter(|head| head.eq_ignore_ascii_case(prefix))
        .map(|_| &path[prefix.len()..])
}

/// Sets (or with `None` removes) the attribute a PATCH path names: `attr`, `attr.sub`,
/// `emails[type eq "work"].value`, the enterprise URN (its writable attributes) or the URN
/// followed by `:attr`.
fn set_path(user: &mut Value, op: Op, path: &str, value: Option<Value>) -> ScimResult<()> {
    let bad = || {
        ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidPath"),
            format!("Cascade cannot change {path:?}."),
        )
    };
    let path = strip_prefix_ci(path, &format!("{USER_SCHEMA}:")).unwrap_or(path);
    if let Some(rest) = strip_prefix_ci(path, ENTERPRISE_SCHEMA) {
        let root = user.as_object_mut().ok_or_else(bad)?;
        let ext = root
            .entry(ENTERPRISE_SCHEMA.to_owned())
            .or_insert_with(|| json!({}));
        return match rest.strip_prefix(':') {
            Some(attr) if !attr.is_empty() => set_key(ext, attr, value).ok_or_else(bad),
            _ if !rest.is_empty() => Err(bad()),
            // The whole extension: the attributes Cascade keeps (organization is the key's).
            _ => {
                for attr in ["employeeNumber", "department"] {
                    let v = value
                        .as_ref()
                        .and_then(Value::as_object)
                        .and_then(|o| get_ci(o, attr))
                        .cloned();
                    if value.is_none() || v.is_some() || op == Op::Replace {
                        set_key(ext, attr, v).ok_or_else(bad)?;
                    }
                }
                Ok(())
            }
        };
    }
    if path
        .get(..6)
        .is_some_and(|h| h.eq_ignore_ascii_case("emails"))
    {
        return set_emails(user, op, &path[6..], value).ok_or_else(bad);
    }
    if let Some(part) = strip_prefix_ci(path, "name.") {
        let obj = user.as_object_mut().ok_or_else(bad)?;
        let key = obj
            .keys()
            .find(|k| k.eq_ignore_ascii_case("name"))
            .cloned()
            .unwrap_or_else(|| "name".to_owned());
        let name = obj.entry(key).or_insert_with(|| json!({}));
        if !name.is_object() {
            *name = json!({});
        }
        let before = name.as_object().map(joined_parts).unwrap_or_default();
        set_key(name, part, value).ok_or_else(bad)?;
        // The formatted name follows the parts it was made from (or was never given).
        if let Some(n) = name.as_object_mut()
            && ["givenName", "middleName", "familyName"]
                .iter()
                .any(|p| p.eq_ignore_ascii_case(part))
            && text(n, "formatted").is_none_or(|f| f == before)
        {
            let after = joined_parts(n);
            set_key(name, "formatted", (!after.is_empty()).then(|| json!(after)));
        }
        return Ok(());
    }
    if path.contains('.') || path.contains('[') {
        return Err(bad());
    }
    set_key(user, path, value).ok_or_else(bad)
}

/// A PATCH of `emails` (`rest` is what follows the attribute name: empty, `.value`, or a value
/// filter such as `[type eq "work"]` with an optional `.sub`). The `type` and `primary` of each
/// email are kept as sent; a filter that matches none adds an email (as Entra ID expects).
fn set_emails(user: &mut Value, op: Op, rest: &str, value: Option<Value>) -> Option<()> {
    let obj = user.as_object_mut()?;
    let key = obj
        .keys()
        .find(|k| k.eq_ignore_ascii_case("emails"))
        .cloned()
        .unwrap_or_else(|| "emails".to_owned());
    let list = obj.entry(key).or_insert_with(|| json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    let items = list.as_array_mut()?;
    // [attr eq "value"], then .sub
    let (selector, sub) = match rest.strip_prefix('[') {
        Some(inner) => {
            let (filter, after) = inner.split_once(']')?;
            let mut parts = filter.trim().splitn(3, char::is_whitespace);
            let (attr, eq, wanted) = (parts.next()?, parts.next()?, parts.next()?);
            if !eq.eq_ignore_ascii_case("eq") {
                return None;
            }
            let wanted = wanted.trim().trim_matches('"').to_owned();
            let sub = after.strip_prefix('.').map(str::to_owned);
            (Some((attr.to_owned(), wanted)), sub)
        }
        None if rest.is_empty() => (None, None),
        None => (None, Some(rest.strip_prefix('.')?.to_owned())),
    };
    let matches = |e: &Value, sel: &(String, String)| {
        e.as_object()
            .and_then(|o| get_ci(o, &sel.0))
            .is_some_and(|v| match v {
                Value::String(s) => s.eq_ignore_ascii_case(&sel.1),
                other => other.to_string().eq_ignore_ascii_case(&sel.1),
            })
    };
    match (&selector, &sub, op) {
        (None, None, Op::Remove) => items.clear(),
        (None, None, Op::Replace) => *items = as_emails(value?)?,
        (None, None, Op::Add) => {
            for email in as_emails(value?)? {
                if !items.iter().any(|e| e.get("value") == email.get("value")) {
                    items.push(email);
                }
            }
        }
        (Some(sel), None, Op::Remove) => items.retain(|e| !matches(e, sel)),
        (Some(sel), sub, _) => {
            let found = items
                .iter_mut()
                .filter(|e| matches(e, sel))
                .fold(0, |n, e| {
                    match sub {
                        Some(sub) => set_key(e, sub, value.clone()),
                        None => value.clone().map(|v| *e = v),
                    };
                    n + 1
                });
            if found == 0 && op != Op::Remove {
                let mut email = json!({ sel.0.clone(): sel.1.clone() });
                match sub {
                    Some(sub) => set_key(&mut email, sub, value)?,
                    None => email = value?,
                }
                items.push(email);
            }
        }
        // emails.value (no filter): the email Cascade uses.
        (None, Some(sub), _) => {
            let index = items
                .iter()
                .position(|e| e.get("primary").and_then(boolean) == Some(true))
                .unwrap_or(0);
            match items.get_mut(index) {
                Some(email) => set_key(email, sub, value)?,
                None if op != Op::Remove => {
                    let mut email = json!({ "type": "work", "primary": true });
                    set_key(&mut email, sub, value)?;
                    items.push(email);
                }
                None => {}
            }
        }
    }
    Some(())
}

/// A PATCH value for `emails`: a list, one email object, or a bare address.
fn as_emails(value: Value) -> Option<Vec<Value>> {
    match value {
        Value::Array(list) => Some(list),
        Value::Object(_) => Some(vec![value]),
        Value::String(s) => Some(vec![json!({ "value": s, "type": "work", "primary": true })]),
        _ => None,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_with_and_binding_tighter_than_or() {
        let f = parse_filter(r#"userName eq "a" or externalId eq "b" and active eq true"#)
            .unwrap_or_else(|e| panic!("{}", e.detail));
        assert_eq!(
            f,
            Filter::Or(
                Box::new(Filter::Eq(FilterAttr::UserName, "a".into())),
                Box::new(Filter::And(
                    Box::new(Filter::Eq(FilterAttr::ExternalId, "b".into())),
                    Box::new(Filter::Eq(FilterAttr::Active, "true".into())),
                )),
            )
        );
        let quoted = parse_filter(&format!(
            r#"({ENTERPRISE_SCHEMA}:employeeNumber eq "x \"y\"")"#
        ))
        .unwrap_or_else(|e| panic!("{}", e.detail));
        assert_eq!(
            quoted,
            Filter::Eq(FilterAttr::EmployeeNumber, "x \"y\"".into())
        );
        for bad in [
            r#"userName sw "a""#,
            "userName eq",
            r#"(userName eq "a""#,
            r#"title eq "x""#,
        ] {
            let err = parse_filter(bad).err().map(|e| e.scim_type);
            assert_eq!(err, Some(Some("invalidFilter")), "{bad}");
        }
    }

    #[test]
    fn patch_paths_change_only_what_they_name() {
        let user = json!({
            "userName": "jo", "displayName": "Jo",
            "name": { "givenName": "Jo", "familyName": "Bloggs", "formatted": "Jo Bloggs" },
            "emails": [{ "value": "jo@x.org", "type": "work", "primary": true },
                       { "value": "jo@home.org", "type": "home" }],
        });
        let patched = apply_patch(
            &user,
            &json!({ "Operations": [
            { "op": "Replace", "path": "name.familyName", "value": "Smith" },
            { "op": "replace", "path": "emails[type eq \"home\"].value", "value": "jo@new.org" },
            { "op": "remove", "path": "displayName" },
        ] }),
        )
        .unwrap_or_else(|e| panic!("{}", e.detail));
        assert_eq!(
            patched["name"],
            json!({ "givenName": "Jo", "familyName": "Smith", "formatted": "Jo Smith" })
        );
        assert_eq!(patched["emails"][0]["value"], "jo@x.org");
        assert_eq!(
            patched["emails"][1],
            json!({ "value": "jo@new.org", "type": "home" })
        );
        assert!(patched.get("displayName").is_none());
        let err = apply_patch(&user, &json!({ "Operations": [{ "op": "remove" }] })).err();
        assert_eq!(err.map(|e| e.scim_type), Some(Some("noTarget")));
    }
}
