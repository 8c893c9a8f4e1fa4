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
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, sea_query::Query,
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

fn scoped(scope: PeopleScope) -> sea_orm::Select<people::Entity> {
    let select = people::Entity::find();
    match scope {
        PeopleScope::All => select,
        PeopleScope::Organisation(org) => {
            select.filter(people::Column::Id.in_subquery(members_of(org, None)))
        }
        PeopleScope::Person(id) => select.filter(people::Column::Id.eq(id)),
    }
}

/// Finds a person the caller may see, or 404 (never 403) so nothing leaks about others.
pub(crate) async fn find_visible(
    db: &impl ConnectionTrait,
    who: &Principal,
    id: Uuid,
) -> ApiResult<people::Model> {
    scoped(who.people_scope())
        .filter(people::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Person"))
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
        .one(db)
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
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Person"))
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

/// Checks that an optional staff group and locality exist and are in use.
async fn check_reference(
    db: &impl ConnectionTrait,
    errors: &mut FieldErrors,
    staff_group_id: Option<Uuid>,
    locality_id: Option<Uuid>,
) -> ApiResult<()> {
    if let Some(id) = staff_group_id {
        let ok = staff_groups::Entity::find_by_id(id)
            .one(db)
            .await?
            .is_some_and(|g| g.active);
        errors.check(ok, "staff_group_id", "no such active staff group");
    }
    if let Some(id) = locality_id {
        let ok = localities::Entity::find_by_id(id)
            .one(db)
            .await?
            .is_some_and(|l| l.active);
        errors.check(ok, "locality_id", "no such active locality");
    }
    Ok(())
}

async fn ensure_email_free(
    db: &impl ConnectionTrait,
    key: &str,
    except: Option<Uuid>,
) -> ApiResult<()> {
    let except = except.map(|id| (people::Column::Id, id));
    ensure_free::<people::Entity>(db, people::Column::EmailKey, key, except, || {
        "A person with this email address already exists; ask a coordinator to add your \
         organisation's membership to that person."
            .to_owned()
    })
    .await
}

async fn ensure_external_id_free(
    db: &impl ConnectionTrait,
    organisation_id: Uuid,
    external_id: &str,
    except_person: Option<Uuid>,
) -> ApiResult<()> {
    let mut q = memberships::Entity::find()
        .filter(memberships::Column::OrganisationId.eq(organisation_id))
        .filter(memberships::Column::ExternalId.eq(external_id));
    if let Some(person) = except_person {
        q = q.filter(memberships::Column::PersonId.ne(person));
    }
    if q.one(db).await?.is_some() {
        return Err(ApiError::Conflict(format!(
            "Organisation {organisation_id} already uses external id `{external_id}` for another person."
        )));
    }
    Ok(())
}

/// What adding a person did.
#[derive(Debug)]
pub enum CreateOutcome {
    /// A new person.
    Created(Person),
    /// The email belongs to someone a partner does not employ: a pending membership request.
    Requested(MembershipRequest),
}

pub async fn create(ctx: &Ctx, input: NewPerson) -> ApiResult<CreateOutcome> {
    let who = &ctx.who;
    let now = ctx.now();
    for m in &input.memberships {
        who.require_organisation(m.organisation_id)?;
    }
    let name = clean_text(&input.name);
    let mut errors = FieldErrors::of(&input);
    if let Err(why) = Email::parse(&input.email) {
        errors.add("email", why);
    }
    check_text(&mut errors, "name", &name, 200);
    let mut seen = HashSet::new();
    for (i, m) in input.memberships.iter().enumerate() {
        errors.check(
            seen.insert(m.organisation_id),
            &format!("memberships[{i}].organisation_id"),
            "names the same organisation twice",
        );
        if let Some(external) = &m.external_id {
            check_external_id(
                &mut errors,
                &format!("memberships[{i}].external_id"),
                external,
            );
        }
    }
    errors.check(
        (1..=20).contains(&input.memberships.len()),
        "memberships",
        "must list 1 to 20 organisations",
    );
    errors.check(
        input.memberships.iter().filter(|m| m.primary).count() <= 1,
        "memberships",
        "may mark at most one organisation as primary",
    );
    let txn = ctx.begin().await?;
    check_reference(&txn, &mut errors, input.staff_group_id, input.locality_id).await?;
    let orgs: Vec<Uuid> = input
        .memberships
        .iter()
        .map(|m| m.organisation_id)
        .collect();
    let active_orgs: HashSet<Uuid> = organisations::Entity::find()
        .filter(organisations::Column::Id.is_in(orgs))
        .filter(organisations::Column::Active.eq(true))
        .all(&txn)
        .await?
        .into_iter()
        .map(|o| o.id)
        .collect();
    for (i, m) in input.memberships.iter().enumerate() {
        errors.check(
            active_orgs.contains(&m.organisation_id),
            &format!("memberships[{i}].organisation_id"),
            "no such active organisation",
        );
    }
    errors.finish()?;

    let key = email_key(&input.email);
    for m in &input.memberships {
        if let Some(external) = &m.external_id {
            ensure_external_id_free(&txn, m.organisation_id, external, None).await?;
        }
    }
    // A partner never gains someone it cannot already see by knowing their email: it asks, and
    // the person's employer or a coordinator decides. (Its memberships all name its own
    // organisation, so there is exactly one.)
    if let PeopleScope::Organisation(own) = who.people_scope()
        && let Some(holder) = people::Entity::find()
            .filter(people::Column::EmailKey.eq(key.as_str()))
            .one(&txn)
            .await?
        && find_visible(&txn, who, holder.id).await.is_err()
    {
        let external = input
            .memberships
            .first()
            .and_then(|m| m.external_id.clone());
        let request =
            membership_requests::ask(&txn, who, holder.id, own, external, RequestSource::Api, now)
                .await?;
        txn.commit().await?;
        return Ok(CreateOutcome::Requested(membership_requests::view(
            who, request,
        )));
    }
    ensure_email_free(&txn, &key, None).await?;
    let id = Uuid::now_v7();
    people::ActiveModel {
        id: Set(id),
        name: Set(name),
        email: Set(input.email.trim().to_owned()),
        email_key: Set(key),
        staff_group_id: Set(input.staff_group_id),
        locality_id: Set(input.locality_id),
        active: Set(true),
        erased_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let any_primary = input.memberships.iter().any(|m| m.primary);
    let rows: Vec<_> = input
        .memberships
        .iter()
        .enumerate()
        .map(|(i, m)| memberships::ActiveModel {
            id: Set(Uuid::now_v7()),
            person_id: Set(id),
            organisation_id: Set(m.organisation_id),
            external_id: Set(m.external_id.clone()),
            employee_number: Set(None),
            department: Set(None),
            scim_deleted_at: Set(None),
            scim_user_name_key: Set(None),
            scim_attributes: Set(None),
            is_primary: Set(m.primary || (!any_primary && i == 0)),
            active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .collect();
    memberships::Entity::insert_many(rows).exec(&txn).await?;
    let person = get(&txn, who, id).await?;
    audit::record(
        &txn,
        Change::new("person", id, "create")
            .summary(format!("{} membership(s)", input.memberships.len()))
            .person(id),
    )
    .await?;
    txn.commit().await?;
    Ok(CreateOutcome::Created(person))
}

pub async fn update(
    ctx: &Ctx,
    id: Uuid,
    changes: PersonChanges,
) -> ApiResult<(Person, Option<i64>)> {
    let who = &ctx.who;
    let now = ctx.now();
    let summary = audit::changed(&changes);
    let txn = ctx.begin().await?;
    let current = find_visible(&txn, who, id).await?;
    require_employer(&txn, who, id).await?;
    if changes.active.is_some()
        && let PeopleScope::Organisation(own) = who.people_scope()
    {
        let elsewhere = memberships::Entity::find()
            .filter(memberships::Column::PersonId.eq(id))
            .filter(memberships::Column::OrganisationId.ne(own))
            .one(&txn)
            .await?;
        if elsewhere.is_some() {
            return Err(ApiError::Forbidden(
                "This person also works for another organisation: end your organisation's \
                 membership instead (PUT /api/v1/people/{id}/memberships/{organisation_id} with \
                 `active: false`)."
                    .to_owned(),
            ));
        }
    }
    ctx.precondition.claim(&txn, Resource::Person(id)).await?;
    let name = changes.name.as_deref().map(clean_text);
    let mut errors = FieldErrors::of(&changes);
    if let Some(Err(why)) = changes.email.as_deref().map(Email::parse) {
        errors.add("email", why);
    }
    if let Some(name) = &name {
        check_text(&mut errors, "name", name, 200);
    }
    check_reference(
        &txn,
        &mut errors,
        changes.staff_group_id.value().copied(),
        changes.locality_id.value().copied(),
    )
    .await?;
    errors.finish()?;
    let mut model: people::ActiveModel = current.into();
    if let Some(email) = &changes.email {
        let key = email_key(email);
        ensure_email_free(&txn, &key, Some(id)).await?;
        model.email = Set(email.trim().to_owned());
        model.email_key = Set(key);
    }
    if let Some(name) = name {
        model.name = Set(name);
    }
    if !changes.staff_group_id.is_undefined() {
        model.staff_group_id = Set(changes.staff_group_id.value().copied());
    }
    if !changes.locality_id.is_undefined() {
        model.locality_id = Set(changes.locality_id.value().copied());
    }
    if let Some(active) = changes.active {
        model.active = Set(active);
    }
    model.updated_at = Set(now);
    model.update(&txn).await?;
    let person = get(&txn, who, id).await?;
    audit::record(
        &txn,
        Change::new("person", id, "update")
            .summary(summary)
            .person(id),
    )
    .await?;
    let version = versions::version(&txn, Resource::Person(id)).await?;
    txn.commit().await?;
    Ok((person, version))
}

/// Creates or changes one organisation's membership of a person.
pub async fn put_membership(
    ctx: &Ctx,
    person_id: Uuid,
    organisation_id: Uuid,
    changes: MembershipChanges,
) -> ApiResult<Person> {
    let who = &ctx.who;
    let now = ctx.now();
    who.require_organisation(organisation_id)?;
    let summary = format!(
        "organisation {organisation_id}: {}",
        audit::changed(&changes)
    );
    let txn = ctx.begin().await?;
    find_visible(&txn, who, person_id).await?;
    let mut errors = FieldErrors::of(&changes);
    if let MaybeUndefined::Value(external) = &changes.external_id {
        check_external_id(&mut errors, "external_id", external);
    }
    let organisation = organisations::Entity::find_by_id(organisation_id)
        .one(&txn)
        .await?;
    let existing = memberships::Entity::find()
        .filter(memberships::Column::PersonId.eq(person_id))
        .filter(memberships::Column::OrganisationId.eq(organisation_id))
        .one(&txn)
        .await?;
    match &organisation {
        None => return Err(ApiError::not_found("Organisation")),
        Some(o) if !o.active && existing.is_none() => {
            errors.add("organisation_id", "the organisation is inactive")
        }
        Some(_) => {}
    }
    errors.finish()?;
    if let MaybeUndefined::Value(external) = &changes.external_id {
        ensure_external_id_free(&txn, organisation_id, external, Some(person_id)).await?;
    }
    let make_primary = changes.primary == Some(true);
    // Becoming someone's employer is not a partner's to take while another organisation
    // employs them: that organisation ends its membership first, or a coordinator moves it.
    if make_primary
        && matches!(who.people_scope(), PeopleScope::Organisation(_))
        && employer_of(&txn, person_id)
            .await?
            .is_some_and(|employer| employer != organisation_id)
    {
        return Err(ApiError::Rule {
            kind: ProblemKind::NotEmployer,
            detail: "Another organisation employs this person (their primary, active \
                     membership); it must end that membership, or a coordinator make the change."
                .to_owned(),
        });
    }
    if make_primary {
        memberships::Entity::update_many()
            .col_expr(
                memberships::Column::IsPrimary,
                sea_orm::sea_query::Expr::value(false),
            )
            .filter(memberships::Column::PersonId.eq(person_id))
            .filter(memberships::Column::OrganisationId.ne(organisation_id))
            .exec(&txn)
            .await?;
    }
    match existing {
        Some(current) => {
            let mut model: memberships::ActiveModel = current.into();
            if !changes.external_id.is_undefined() {
                model.external_id = Set(changes.external_id.value().cloned());
            }
            if let Some(primary) = changes.primary {
                model.is_primary = Set(primary);
            }
            if let Some(active) = changes.active {
                model.active = Set(active);
            }
            model.updated_at = Set(now);
            model.update(&txn).await?;
        }
        None => {
            memberships::ActiveModel {
                id: Set(Uuid::now_v7()),
                person_id: Set(person_id),
                organisation_id: Set(organisation_id),
                external_id: Set(changes.external_id.value().cloned()),
                employee_number: Set(None),
                department: Set(None),
                scim_deleted_at: Set(None),
                scim_user_name_key: Set(None),
                scim_attributes: Set(None),
                is_primary: Set(make_primary),
                active: Set(changes.active.unwrap_or(true)),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?;
        }
    }
    people::Entity::update_many()
        .col_expr(
            people::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(people::Column::Id.eq(person_id))
        .exec(&txn)
        .await?;
    let person = get(&txn, who, person_id).await?;
    audit::record(
        &txn,
        Change::new("person", person_id, "put_membership")
            .summary(summary)
            .person(person_id),
    )
    .await?;
    txn.commit().await?;
    Ok(person)
}
