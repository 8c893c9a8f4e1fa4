//! People (staff of the partner organisations) and their memberships. A person may work for
//! several partners; each membership carries that organisation's own `external_id`.

use crate::ctx::Ctx;
use crate::problem::ProblemKind;
use crate::versions::{self, Resource};
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entities::{localities, memberships, organisations, people, staff_groups};
use poem_openapi::{Object, types::MaybeUndefined};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
    sea_query::Query,
};
use uuid::Uuid;
use validator::Validate;

use super::{
    membership_requests::{self, MembershipRequest, RequestSource},
    validation::{Email, FieldErrors, check_text, clean_text, ensure_free},
};
use crate::{
    audit::{self, Change},
    auth::{PeopleScope, Principal},
    error::{ApiError, ApiResult},
    pagination::{PageRequest, fetch_page},
};

mod scope;
pub(crate) use scope::*;

mod changes;
pub use changes::*;

/// A person's membership of a partner organisation.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Membership {
    /// The organisation.
    pub organisation_id: Uuid,
    /// The organisation's own identifier for this person (e.g. HR employee number), unique within
    /// the organisation.
    pub external_id: Option<String>,
    /// The employing organisation: charges and partner reports count against it.
    pub primary: bool,
    /// False once the person has left this organisation.
    pub active: bool,
}

/// A member of staff.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Person {
    /// The person's id in Cascade.
    pub id: Uuid,
    /// The name exactly as the person writes it, in any script (stored in Unicode NFC).
    pub name: String,
    /// Work email, unique across the partnership (compared without regard to case).
    pub email: String,
    /// The person's staff group.
    pub staff_group_id: Option<Uuid>,
    /// The community area the person mainly works in.
    pub locality_id: Option<Uuid>,
    /// Inactive people keep their records but cannot be booked.
    pub active: bool,
    /// When their identifying details were erased at their request (absent unless erased).
    pub erased_at: Option<DateTime<Utc>>,
    /// The person's organisations. A partner key sees only its own organisation's membership.
    pub memberships: Vec<Membership>,
    /// When the person was added.
    pub created_at: DateTime<Utc>,
    /// When the person or their memberships last changed.
    pub updated_at: DateTime<Utc>,
}

/// A membership given when creating a person.
#[derive(Debug, Clone, Object, Validate)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct NewMembership {
    /// The organisation the person works for.
    pub organisation_id: Uuid,
    /// The organisation's own identifier for the person, 1–100 characters, unique within it.
    pub external_id: Option<String>,
    /// Marks the employing organisation. When no membership says so, the first is primary.
    #[oai(default)]
    pub primary: bool,
}

/// A person to add.
#[derive(Debug, Clone, Object, Validate)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct NewPerson {
    /// 1–200 characters, any script.
    pub name: String,
    /// A valid work email address, unique across the partnership.
    pub email: String,
    /// The person's staff group (an active entry of `/staff-groups`).
    pub staff_group_id: Option<Uuid>,
    /// The community area the person mainly works in (an active entry of `/localities`).
    pub locality_id: Option<Uuid>,
    /// One to 20 organisations the person works for. A partner key may name only its own.
    pub memberships: Vec<NewMembership>,
}

/// Changes to a person; omitted fields stay as they are and `null` clears an optional field.
#[derive(Debug, Clone, Object, Validate)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct PersonChanges {
    /// New name, 1–200 characters, any script.
    pub name: Option<String>,
    /// New work email, unique across the partnership.
    pub email: Option<String>,
    /// New staff group; `null` clears it.
    pub staff_group_id: MaybeUndefined<Uuid>,
    /// New locality; `null` clears it.
    pub locality_id: MaybeUndefined<Uuid>,
    /// Set false to deactivate (people are never deleted while records refer to them). A partner
    /// key may change this only for people who work for no other organisation.
    pub active: Option<bool>,
}

/// A membership to create or change at `PUT /people/{id}/memberships/{organisation_id}`.
#[derive(Debug, Clone, Object, Validate)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct MembershipChanges {
    /// The organisation's own identifier, 1–100 characters; `null` removes it.
    pub external_id: MaybeUndefined<String>,
    /// Make this the employing organisation (the others stop being primary).
    pub primary: Option<bool>,
    /// False when the person leaves this organisation (default true for a new membership).
    pub active: Option<bool>,
}

/// Filters of the people list.
#[derive(Debug, Default, Clone)]
pub struct PeopleFilter {
    /// A prefix of the name or the surname, folded ([`entities::people::fold`]).
    pub name: Option<String>,
    pub organisation_id: Option<Uuid>,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub staff_group_id: Option<Uuid>,
    pub locality_id: Option<Uuid>,
    pub active: Option<bool>,
    pub updated_since: Option<DateTime<Utc>>,
}

/// An organisation's own identifier: 1–100 characters, no surrounding spaces or control characters.
pub(crate) fn check_external_id(errors: &mut FieldErrors, field: &str, value: &str) {
    errors.check(
        (1..=100).contains(&value.chars().count())
            && value.trim() == value
            && !value.chars().any(char::is_control),
        field,
        "must be 1 to 100 characters without surrounding spaces or control characters",
    );
}

pub(crate) fn email_key(email: &str) -> String {
    Email::key_of(email)
}

/// Builds person views for a page of rows with one query for all their memberships.
async fn with_memberships(
    db: &impl ConnectionTrait,
    who: &Principal,
    rows: Vec<people::Model>,
) -> ApiResult<Vec<Person>> {
    let ids: Vec<Uuid> = rows.iter().map(|p| p.id).collect();
    let mut q = memberships::Entity::find().filter(memberships::Column::PersonId.is_in(ids));
    if let PeopleScope::Organisation(org) = who.people_scope() {
        q = q.filter(memberships::Column::OrganisationId.eq(org));
    }
    let mut by_person: HashMap<Uuid, Vec<memberships::Model>> = HashMap::new();
    for m in q.all(db).await? {
        by_person.entry(m.person_id).or_default().push(m);
    }
    Ok(rows
        .into_iter()
        .map(|p| {
            let mut list = by_person.remove(&p.id).unwrap_or_default();
            list.sort_by_key(|m| m.id);
            Person {
                id: p.id,
                name: p.name,
                email: p.email,
                staff_group_id: p.staff_group_id,
                locality_id: p.locality_id,
                active: p.active,
                erased_at: p.erased_at,
                memberships: list
                    .into_iter()
                    .map(|m| Membership {
                        organisation_id: m.organisation_id,
                        external_id: m.external_id,
                        primary: m.is_primary,
                        active: m.active,
                    })
                    .collect(),
                created_at: p.created_at,
                updated_at: p.updated_at,
            }
        })
        .collect())
}

pub async fn get(db: &impl ConnectionTrait, who: &Principal, id: Uuid) -> ApiResult<Person> {
    let person = find_visible(db, who, id).await?;
    Ok(with_memberships(db, who, vec![person]).await?.remove(0))
}

pub async fn list(
    db: &impl ConnectionTrait,
    who: &Principal,
    filter: PeopleFilter,
    page: PageRequest,
) -> ApiResult<(Vec<Person>, Option<String>)> {
    if let Some(org) = filter.organisation_id {
        // Another organisation's staff are not a partner's to look up, not even as a filter.
        who.require_organisation(org)?;
    }
    let organisation = match (filter.organisation_id, who.people_scope()) {
        (Some(org), _) => Some(org),
        (None, PeopleScope::Organisation(own)) if filter.external_id.is_some() => Some(own),
        _ => None,
    };
    if filter.external_id.is_some() && organisation.is_none() {
        return Err(ApiError::invalid(
            "external_id",
            "needs organisation_id: external ids are unique only within an organisation",
        ));
    }
    let mut select = scoped(who.people_scope());
    if let Some(org) = organisation {
        select = select
            .filter(people::Column::Id.in_subquery(members_of(org, filter.external_id.as_deref())));
    }
    if let Some(email) = &filter.email {
        select = select.filter(people::Column::EmailKey.eq(email_key(email)));
    }
    if let Some(name) = &filter.name {
        let prefix = people::fold(name);
        if prefix.is_empty() || name.chars().count() > 100 {
            return Err(ApiError::invalid(
                "name",
                "must have a letter or digit, and at most 100 characters",
            ));
        }
        // A prefix as an index range over each folded key (byte order on both backends).
        let end = format!("{prefix}\u{10FFFF}");
        select = select.filter(
            sea_orm::Condition::any()
                .add(
                    sea_orm::Condition::all()
                        .add(people::Column::NameKey.gte(prefix.clone()))
                        .add(people::Column::NameKey.lt(end.clone())),
                )
                .add(
                    sea_orm::Condition::all()
                        .add(people::Column::SurnameKey.gte(prefix))
                        .add(people::Column::SurnameKey.lt(end)),
                ),
        );
    }
    if let Some(group) = filter.staff_group_id {
        select = select.filter(people::Column::StaffGroupId.eq(group));
    }
    if let Some(locality) = filter.locality_id {
        select = select.filter(people::Column::LocalityId.eq(locality));
    }
    if let Some(active) = filter.active {
        select = select.filter(people::Column::Active.eq(active));
    }
    if let Some(since) = filter.updated_since {
        select = select.filter(people::Column::UpdatedAt.gte(since));
    }
    let (rows, next) = fetch_page(
        db,
        select,
        people::Column::Id,
        page,
        |m| m,
        |m: &people::Model| m.id,
    )
    .await?;
    Ok((with_memberships(db, who, rows).await?, next))
}

/// Names of the people the caller may see, by id, in one query (pages list bookings and
/// registers by name).
pub async fn names(
    db: &impl ConnectionTrait,
    who: &Principal,
    ids: impl IntoIterator<Item = Uuid>,
) -> ApiResult<std::collections::HashMap<Uuid, String>> {
    Ok(scoped(who.people_scope())
        .filter(people::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect())
}
