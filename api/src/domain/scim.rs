//! SCIM 2.0 Users (RFC 7643/7644) over people and a partner's memberships. A SCIM User is a
//! person as one partner organisation knows them: `id` is the person's id, `externalId` the
//! membership's external id (Cascade's key; the enterprise `employeeNumber` is kept as sent and
//! stands in when no `externalId` comes), `active` the membership's state,
//! `department` the person's staff group (the partner is the key's, so `organization` is not
//! shown). Writes run
//! in one transaction holding the organisation's row, as staff sync does, and deactivation uses
//! sync's leaver rules.

use crate::db::FirstRow as _;
use crate::versions::{self, Resource};
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
    validation::{Email, FieldErrors, check_text, clean_text},
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

mod filter;
mod patch;
mod resource;

use filter::condition;
pub use filter::{Filter, FilterAttr, parse_filter};
use patch::apply_patch;
pub use resource::project;
use resource::*;

async fn membership(
    db: &impl ConnectionTrait,
    organisation_id: Uuid,
    person_id: Uuid,
) -> ScimResult<memberships::Model> {
    memberships::Entity::find()
        .filter(memberships::Column::OrganisationId.eq(organisation_id))
        .filter(memberships::Column::PersonId.eq(person_id))
        .filter(memberships::Column::ScimDeletedAt.is_null())
        .first(db)
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
    let page = crate::db::limited(
        db,
        select
            .order_by_asc(memberships::Column::PersonId)
            .offset(start_index.saturating_sub(1)),
        count,
    )
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
    errors.check(
        Email::parse(&input.email).is_ok(),
        "emails",
        "must hold a valid email address",
    );
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
        .first(&txn)
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
        .first(db)
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
    Ok(select.first(db).await?.is_some())
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
        .first(&txn)
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
        .first(&txn)
        .await?;
    let person_id = match known {
        Some(p) => {
            if memberships::Entity::find()
                .filter(memberships::Column::OrganisationId.eq(org))
                .filter(memberships::Column::PersonId.eq(p.id))
                .first(&txn)
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
                email: Set(input.email.clone()),
                email_key: Set(email_key(&input.email)),
                staff_group_id: Set(group),
                locality_id: Set(None),
                active: Set(true),
                erased_at: Set(None),
                mail_opt_out: Set(false),
                created_at: Set(now),
                updated_at: Set(now),
                ..people::ActiveModel::with_name(clean_text(&input.name))
            }
            .insert(&txn)
            .await?;
            id
        }
    };
    let has_primary = memberships::Entity::find()
        .filter(memberships::Column::PersonId.eq(person_id))
        .filter(memberships::Column::IsPrimary.eq(true))
        .first(&txn)
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
) -> ScimResult<(Value, Option<i64>)> {
    let now = ctx.now();
    let input = parse_user(body)?;
    let txn = begin_for(ctx, org).await?;
    membership(&txn, org, id).await?;
    ctx.precondition.claim(&txn, Resource::Person(id)).await?;
    write(&txn, org, id, &input, now).await?;
    audit::record(
        &txn,
        Change::new("person", id, "scim_replace")
            .summary(format!("SCIM replaced for organisation {org}"))
            .person(id),
    )
    .await?;
    let user = get(&txn, base_url, org, id).await?;
    let version = versions::version(&txn, Resource::Person(id)).await?;
    txn.commit().await?;
    Ok((user, version))
}

/// PATCH: the operations are applied to the representation read inside the write, so two
/// patches (or a patch and a sync) of one organisation never lose each other's changes.
pub async fn patch(
    ctx: &Ctx,
    base_url: &str,
    org: Uuid,
    id: Uuid,
    patch: &Value,
) -> ScimResult<(Value, Option<i64>)> {
    let now = ctx.now();
    let txn = begin_for(ctx, org).await?;
    let current = get(&txn, base_url, org, id).await?;
    ctx.precondition.claim(&txn, Resource::Person(id)).await?;
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
    let version = versions::version(&txn, Resource::Person(id)).await?;
    txn.commit().await?;
    Ok((user, version))
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
        .first(txn)
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
            .first(txn)
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
        pm.set_name(name);
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
