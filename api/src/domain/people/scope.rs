//! Which people a caller reaches: a partner's read scope (any membership of its organisation),
//! write scope (the employer: the primary active membership) and the records produced for it;
//! a person out of scope is not found, never forbidden.

use super::*;
use crate::db::FirstRow as _;

/// The people with a membership (current or past) of an organisation, as a sub-query.
pub(crate) fn members_of(
    organisation_id: Uuid,
    external_id: Option<&str>,
) -> sea_orm::sea_query::SelectStatement {
    let mut q = Query::select();
    q.column(memberships::Column::PersonId)
        .from(memberships::Entity)
        .and_where(memberships::Column::OrganisationId.eq(organisation_id));
    if let Some(external) = external_id {
        q.and_where(memberships::Column::ExternalId.eq(external));
    }
    q.to_owned()
}

pub(super) fn scoped(scope: PeopleScope) -> sea_orm::Select<people::Entity> {
    let select = people::Entity::find();
    match scope {
        PeopleScope::All => select,
        PeopleScope::Organisation(org) => {
            select.filter(people::Column::Id.in_subquery(members_of(org, None)))
        }
        PeopleScope::Person(id) => select.filter(people::Column::Id.eq(id)),
    }
}

/// The person `id` if the caller may see them.
fn visible(who: &Principal, id: Uuid) -> sea_orm::Select<people::Entity> {
    scoped(who.people_scope()).filter(people::Column::Id.eq(id))
}

/// Finds a person the caller may see, or 404 (never 403) so nothing leaks about others.
pub(crate) async fn find_visible(
    db: &impl ConnectionTrait,
    who: &Principal,
    id: Uuid,
) -> ApiResult<people::Model> {
    visible(who, id)
        .first(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Person"))
}

/// [`find_visible`], holding the person's row for the rest of the write transaction (one
/// statement: the scope and the lock together); its first row (see `db::first_of_each`), or none
/// when the caller may not see the person (answer 404, as [`find_visible`] does).
pub(crate) fn visible_locked(who: &Principal, id: Uuid) -> sea_orm::Select<people::Entity> {
    visible(who, id).lock_exclusive()
}

/// The person's primary membership (current or ended): the organisation that employs, or last
/// employed, them.
pub(crate) async fn primary_membership(
    db: &impl ConnectionTrait,
    person_id: Uuid,
) -> ApiResult<Option<memberships::Model>> {
    Ok(memberships::Entity::find()
        .filter(memberships::Column::PersonId.eq(person_id))
        .filter(memberships::Column::IsPrimary.eq(true))
        .first(db)
        .await?)
}

/// The person's employer now: the organisation of their primary, active membership, if any.
pub(crate) async fn employer_of(
    db: &impl ConnectionTrait,
    person_id: Uuid,
) -> ApiResult<Option<Uuid>> {
    Ok(primary_membership(db, person_id)
        .await?
        .filter(|m| m.active)
        .map(|m| m.organisation_id))
}

/// A partner changes a person's own details (name, email, staff group, locality, active) only
/// while it employs them; other partners change only their own membership. Refused with 403
/// `not-employer`.
pub(crate) async fn require_employer(
    db: &impl ConnectionTrait,
    who: &Principal,
    person_id: Uuid,
) -> ApiResult<()> {
    let PeopleScope::Organisation(own) = who.people_scope() else {
        return Ok(());
    };
    if employer_of(db, person_id).await? == Some(own) {
        return Ok(());
    }
    Err(ApiError::Rule {
        kind: ProblemKind::NotEmployer,
        detail: "Only the person's employing organisation (their primary, active membership) or \
                 a coordinator may change their details; change your own membership with PUT \
                 /api/v1/people/{id}/memberships/{organisation_id}."
            .to_owned(),
    })
}

/// Limits a query on a record's person-id column to the records a caller may read: partners read
/// the records of the people their organisation employs (primary membership, current or ended),
/// never through a secondary membership; people their own.
pub(crate) fn records_scope(
    who: &Principal,
    person_column: impl ColumnTrait,
) -> sea_orm::Condition {
    match who.people_scope() {
        PeopleScope::All => sea_orm::Condition::all(),
        PeopleScope::Organisation(org) => {
            sea_orm::Condition::all().add(person_column.in_subquery(employees_of(org)))
        }
        PeopleScope::Person(me) => sea_orm::Condition::all().add(person_column.eq(me)),
    }
}

/// The people an organisation employs now (primary, active membership: [`employer_of`]'s rule
/// as a sub-query).
pub(crate) fn employed_now_by(organisation_id: Uuid) -> sea_orm::sea_query::SelectStatement {
    let mut q = employees_of(organisation_id);
    q.and_where(memberships::Column::Active.eq(true));
    q
}

/// The people whose primary membership (current or ended) is with an organisation.
pub(crate) fn employees_of(organisation_id: Uuid) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(memberships::Column::PersonId)
        .from(memberships::Entity)
        .and_where(memberships::Column::OrganisationId.eq(organisation_id))
        .and_where(memberships::Column::IsPrimary.eq(true))
        .to_owned()
}

/// Limits a query on completions or certificates to those a caller may read: a partner reads
/// the records produced for its organisation (its booked places, or while it employed the
/// person), wherever the person works now; people their own.
pub(crate) fn produced_for(
    who: &Principal,
    organisation_column: impl ColumnTrait,
    person_column: impl ColumnTrait,
) -> sea_orm::Condition {
    match who.people_scope() {
        PeopleScope::All => sea_orm::Condition::all(),
        PeopleScope::Organisation(org) => {
            sea_orm::Condition::all().add(organisation_column.eq(org))
        }
        PeopleScope::Person(me) => sea_orm::Condition::all().add(person_column.eq(me)),
    }
}

/// Finds a person whose records the caller may read, or 404.
pub(crate) async fn find_records_visible(
    db: &impl ConnectionTrait,
    who: &Principal,
    id: Uuid,
) -> ApiResult<people::Model> {
    people::Entity::find()
        .filter(records_scope(who, people::Column::Id))
        .filter(people::Column::Id.eq(id))
        .first(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Person"))
}
