//! Adding and changing people: every field checked before anything is written, emails and
//! external ids unique, a partner naming someone it cannot see asking (a membership request)
//! instead of gaining them, and a person's own fields changed only by their employer.

use super::*;
use crate::db::FirstRow as _;

/// Checks that an optional staff group and locality exist and are in use.
pub(super) async fn check_reference(
    db: &impl ConnectionTrait,
    errors: &mut FieldErrors,
    staff_group_id: Option<Uuid>,
    locality_id: Option<Uuid>,
) -> ApiResult<()> {
    if let Some(id) = staff_group_id {
        let ok = staff_groups::Entity::find_by_id(id)
            .first(db)
            .await?
            .is_some_and(|g| g.active);
        errors.check(ok, "staff_group_id", "no such active staff group");
    }
    if let Some(id) = locality_id {
        let ok = localities::Entity::find_by_id(id)
            .first(db)
            .await?
            .is_some_and(|l| l.active);
        errors.check(ok, "locality_id", "no such active locality");
    }
    Ok(())
}

pub(super) async fn ensure_email_free(
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

pub(super) async fn ensure_external_id_free(
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
    if q.first(db).await?.is_some() {
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
            .first(&txn)
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
        email: Set(input.email.trim().to_owned()),
        email_key: Set(key),
        staff_group_id: Set(input.staff_group_id),
        locality_id: Set(input.locality_id),
        active: Set(true),
        erased_at: Set(None),
        mail_opt_out: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..people::ActiveModel::with_name(name)
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
            .first(&txn)
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
        model.set_name(name);
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
        .first(&txn)
        .await?;
    let existing = memberships::Entity::find()
        .filter(memberships::Column::PersonId.eq(person_id))
        .filter(memberships::Column::OrganisationId.eq(organisation_id))
        .first(&txn)
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
