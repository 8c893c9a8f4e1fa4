//! Staff sync: a partner's HR system sends its staff (up to 10,000 rows) keyed by its own
//! `external_id`; Cascade creates, updates, links and — in snapshot mode — deactivates leavers.
//! One transaction, holding the organisation's row, so two syncs of one organisation never
//! interleave; a dry run does the same work and rolls it back.

use crate::ctx::Ctx;
use crate::db::FirstRow as _;
use crate::problem::ProblemKind;
use std::collections::{HashMap, HashSet};

use chrono::Utc;
use entities::{bookings, localities, memberships, organisations, people, staff_groups};
use poem_openapi::{Enum, Object};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use uuid::Uuid;

use super::{
    bookings::cancel::{cancel_places, future_places},
    membership_requests::{self, RequestSource},
    people::{check_external_id, email_key},
    validation::{Email, FieldErrors, check_text, clean_text},
};
use crate::{
    audit::{self, Change},
    auth::PeopleScope,
    error::{ApiError, ApiResult},
};

pub const MAX_ROWS: usize = 10_000;

/// How the batch relates to the organisation's staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
#[oai(rename_all = "snake_case")]
pub enum SyncMode {
    /// Create and update the people sent; leave everyone else alone.
    #[default]
    Upsert,
    /// The batch is the whole staff: anyone of the organisation missing from it has left.
    Snapshot,
}

/// What to do with invalid rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
#[oai(rename_all = "snake_case")]
pub enum OnInvalid {
    /// Write nothing if any row is invalid (422 listing every invalid row).
    #[default]
    Reject,
    /// Write the valid rows and report the invalid ones.
    Skip,
}

/// One member of staff as the HR system knows them.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct SyncRow {
    /// The organisation's own key for the person (1–100 characters).
    pub external_id: String,
    /// Their name, any script (1–200 characters).
    pub name: String,
    /// Their work email.
    pub email: String,
    /// Their staff group.
    pub staff_group_id: Option<Uuid>,
    /// Their locality.
    pub locality_id: Option<Uuid>,
}

/// A batch of staff.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct SyncBatch {
    /// 1 to 10,000 rows.
    pub people: Vec<SyncRow>,
}

/// One refused row.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct InvalidRow {
    /// The row's position in `people`, from 0.
    pub index: i32,
    /// The refused field.
    pub field: String,
    /// Why.
    pub message: String,
}

/// What the sync did (or, in a dry run, would do).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SyncResult {
    /// True when nothing was written.
    pub dry_run: bool,
    pub mode: SyncMode,
    /// People created (new to Cascade).
    pub created: i32,
    /// People already in Cascade (e.g. employed elsewhere) who gained this organisation's
    /// membership (coordinator and admin keys only).
    pub linked: i32,
    /// Partner keys: people already in Cascade whom the organisation does not employ. Nothing of
    /// theirs changed; a membership request now waits for their employer or a coordinator
    /// (`GET /membership-requests?mine=true`).
    pub requested: i32,
    /// Rows for people another organisation employs: the membership is kept, but their name,
    /// email, staff group and locality stay as their employer recorded them.
    pub kept_by_employer: i32,
    /// People whose details or membership changed.
    pub updated: i32,
    /// People sent exactly as Cascade already had them.
    pub unchanged: i32,
    /// Snapshot mode: leavers whose membership was ended.
    pub deactivated: i32,
    /// Future places cancelled because their holder left.
    pub bookings_cancelled: i32,
    /// Rows refused (written nowhere).
    pub invalid: Vec<InvalidRow>,
}

fn invalid_rows(errors: FieldErrors) -> Vec<InvalidRow> {
    match errors.finish() {
        Ok(()) => Vec::new(),
        Err(ApiError::Validation(list)) => list
            .into_iter()
            .map(|e| {
                let (index, field) = e
                    .field
                    .strip_prefix("people[")
                    .and_then(|rest| rest.split_once("]."))
                    .map_or((-1, e.field.clone()), |(i, f)| {
                        (i.parse().unwrap_or(-1), f.to_owned())
                    });
                InvalidRow {
                    index,
                    field,
                    message: e.message,
                }
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

pub async fn sync(
    ctx: &Ctx,
    organisation_id: Uuid,
    mode: SyncMode,
    dry_run: bool,
    on_invalid: OnInvalid,
    batch: SyncBatch,
) -> ApiResult<SyncResult> {
    let clock = &ctx.clock;
    let who = &ctx.who;
    who.require_organisation(organisation_id)?;
    if batch.people.is_empty() || batch.people.len() > MAX_ROWS {
        return Err(ApiError::invalid(
            "people",
            format!("must list 1 to {MAX_ROWS} people"),
        ));
    }
    let now = clock.now();
    let txn = ctx.begin().await?;
    let org = organisations::Entity::find_by_id(organisation_id)
        .lock_exclusive()
        .first(&txn)
        .await?
        .ok_or_else(|| ApiError::not_found("Organisation"))?;
    if !org.active {
        return Err(ApiError::Rule {
            kind: ProblemKind::OrganisationInactive,
            detail: "The organisation is inactive.".into(),
        });
    }

    // Validate every row, including what needs the database, before writing anything.
    let groups: HashSet<Uuid> = staff_groups::Entity::find()
        .filter(staff_groups::Column::Active.eq(true))
        .all(&txn)
        .await?
        .into_iter()
        .map(|g| g.id)
        .collect();
    let places: HashSet<Uuid> = localities::Entity::find()
        .filter(localities::Column::Active.eq(true))
        .all(&txn)
        .await?
        .into_iter()
        .map(|l| l.id)
        .collect();
    let mut errors = FieldErrors::default();
    let mut seen_external = HashMap::new();
    let mut seen_email = HashMap::new();
    for (i, row) in batch.people.iter().enumerate() {
        let f = |name: &str| format!("people[{i}].{name}");
        check_external_id(&mut errors, &f("external_id"), &row.external_id);
        check_text(&mut errors, &f("name"), &clean_text(&row.name), 200);
        if Email::parse(row.email.trim()).is_err() || row.email.len() > Email::MAX_LEN {
            errors.add(f("email"), "must be a valid email address");
        }
        if let Some(first) = seen_external.insert(row.external_id.clone(), i) {
            errors.add(f("external_id"), format!("repeats row {first}"));
        }
        if let Some(first) = seen_email.insert(email_key(&row.email), i) {
            errors.add(f("email"), format!("repeats row {first}"));
        }
        if let Some(g) = row.staff_group_id {
            errors.check(
                groups.contains(&g),
                &f("staff_group_id"),
                "no such active staff group",
            );
        }
        if let Some(l) = row.locality_id {
            errors.check(
                places.contains(&l),
                &f("locality_id"),
                "no such active locality",
            );
        }
    }
    let existing: Vec<memberships::Model> = memberships::Entity::find()
        .filter(memberships::Column::OrganisationId.eq(organisation_id))
        .all(&txn)
        .await?;
    let by_external: HashMap<String, memberships::Model> = existing
        .iter()
        .filter_map(|m| m.external_id.clone().map(|e| (e, m.clone())))
        .collect();
    let member_ids: Vec<Uuid> = existing.iter().map(|m| m.person_id).collect();
    let keys: Vec<String> = batch.people.iter().map(|r| email_key(&r.email)).collect();
    let mut persons: HashMap<Uuid, people::Model> = HashMap::new();
    for chunk in member_ids.chunks(1000) {
        for p in people::Entity::find()
            .filter(people::Column::Id.is_in(chunk.iter().copied()))
            .all(&txn)
            .await?
        {
            persons.insert(p.id, p);
        }
    }
    let mut by_email: HashMap<String, people::Model> = HashMap::new();
    for chunk in keys.chunks(1000) {
        for p in people::Entity::find()
            .filter(people::Column::EmailKey.is_in(chunk.iter().cloned()))
            .all(&txn)
            .await?
        {
            by_email.insert(p.email_key.clone(), p);
        }
    }
    // An email already used by someone else than the row's own person is refused.
    for (i, row) in batch.people.iter().enumerate() {
        let own = by_external.get(&row.external_id).map(|m| m.person_id);
        if let Some(holder) = by_email.get(&email_key(&row.email)) {
            if own.is_some_and(|o| o != holder.id) {
                errors.add(format!("people[{i}].email"), "belongs to another person");
            } else if own.is_none() && member_ids.contains(&holder.id) {
                errors.add(
                    format!("people[{i}].external_id"),
                    "this person is already a member of the organisation under another external id",
                );
            }
        }
    }
    let invalid = invalid_rows(errors);
    if !invalid.is_empty() && on_invalid == OnInvalid::Reject {
        let list = invalid
            .iter()
            .map(|r| {
                crate::error::FieldError::new(
                    format!("people[{}].{}", r.index, r.field),
                    r.message.clone(),
                )
            })
            .collect();
        return Err(ApiError::Validation(list));
    }
    let refused: HashSet<i32> = invalid.iter().map(|r| r.index).collect();

    let mut result = SyncResult {
        dry_run,
        mode,
        created: 0,
        linked: 0,
        requested: 0,
        kept_by_employer: 0,
        updated: 0,
        unchanged: 0,
        deactivated: 0,
        bookings_cancelled: 0,
        invalid,
    };
    // Whose details this organisation may change: a partner only its employees'.
    let partner = matches!(who.people_scope(), PeopleScope::Organisation(_));
    let mut employed_elsewhere: HashSet<Uuid> = HashSet::new();
    if partner {
        for chunk in member_ids.chunks(1000) {
            for m in memberships::Entity::find()
                .filter(memberships::Column::PersonId.is_in(chunk.iter().copied()))
                .filter(memberships::Column::IsPrimary.eq(true))
                .filter(memberships::Column::Active.eq(true))
                .filter(memberships::Column::OrganisationId.ne(organisation_id))
                .all(&txn)
                .await?
            {
                employed_elsewhere.insert(m.person_id);
            }
        }
    }
    let mut present: HashSet<Uuid> = HashSet::new();
    let mut new_people = Vec::new();
    let mut new_memberships = Vec::new();
    for (i, row) in batch.people.iter().enumerate() {
        if refused.contains(&(i as i32)) {
            continue;
        }
        let name = clean_text(&row.name);
        let key = email_key(&row.email);
        match by_external.get(&row.external_id) {
            Some(m) => {
                present.insert(m.id);
                let Some(p) = persons.get(&m.person_id) else {
                    continue;
                };
                if employed_elsewhere.contains(&p.id) {
                    result.kept_by_employer += 1;
                    if !m.active {
                        let mut mm: memberships::ActiveModel = m.clone().into();
                        mm.active = Set(true);
                        mm.scim_deleted_at = Set(None);
                        mm.updated_at = Set(now);
                        mm.update(&txn).await?;
                    }
                    continue;
                }
                let same = p.name == name
                    && p.email_key == key
                    && p.staff_group_id == row.staff_group_id
                    && p.locality_id == row.locality_id
                    && p.active
                    && m.active;
                if same {
                    result.unchanged += 1;
                    continue;
                }
                result.updated += 1;
                let mut pm: people::ActiveModel = p.clone().into();
                pm.set_name(name);
                pm.email = Set(row.email.trim().to_owned());
                pm.email_key = Set(key);
                pm.staff_group_id = Set(row.staff_group_id);
                pm.locality_id = Set(row.locality_id);
                pm.active = Set(true);
                pm.updated_at = Set(now);
                pm.update(&txn).await?;
                if !m.active {
                    let mut mm: memberships::ActiveModel = m.clone().into();
                    mm.active = Set(true);
                    mm.scim_deleted_at = Set(None);
                    mm.updated_at = Set(now);
                    mm.update(&txn).await?;
                }
            }
            None => {
                let person_id = match by_email.get(&key) {
                    Some(p) if partner => {
                        membership_requests::ask(
                            &txn,
                            who,
                            p.id,
                            organisation_id,
                            Some(row.external_id.clone()),
                            RequestSource::Sync,
                            now,
                        )
                        .await?;
                        result.requested += 1;
                        continue;
                    }
                    Some(p) => {
                        result.linked += 1;
                        p.id
                    }
                    None => {
                        result.created += 1;
                        let id = Uuid::now_v7();
                        new_people.push(people::ActiveModel {
                            id: Set(id),
                            email: Set(row.email.trim().to_owned()),
                            email_key: Set(key),
                            staff_group_id: Set(row.staff_group_id),
                            locality_id: Set(row.locality_id),
                            active: Set(true),
                            erased_at: Set(None),
                            mail_opt_out: Set(false),
                            created_at: Set(now),
                            updated_at: Set(now),
                            ..people::ActiveModel::with_name(name)
                        });
                        id
                    }
                };
                let is_primary = !member_ids.contains(&person_id)
                    && !by_email.contains_key(&email_key(&row.email));
                new_memberships.push(memberships::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    person_id: Set(person_id),
                    organisation_id: Set(organisation_id),
                    external_id: Set(Some(row.external_id.clone())),
                    employee_number: Set(None),
                    department: Set(None),
                    scim_deleted_at: Set(None),
                    scim_user_name_key: Set(None),
                    scim_attributes: Set(None),
                    is_primary: Set(is_primary),
                    active: Set(true),
                    created_at: Set(now),
                    updated_at: Set(now),
                });
            }
        }
    }
    for chunk in new_people.chunks(500) {
        people::Entity::insert_many(chunk.to_vec())
            .exec(&txn)
            .await?;
    }
    for chunk in new_memberships.chunks(500) {
        memberships::Entity::insert_many(chunk.to_vec())
            .exec(&txn)
            .await?;
    }
    if mode == SyncMode::Snapshot {
        let leavers: Vec<&memberships::Model> = existing
            .iter()
            .filter(|m| m.active && !present.contains(&m.id))
            .collect();
        result.deactivated = leavers.len() as i32;
        result.bookings_cancelled = leave(&txn, organisation_id, &leavers, now).await?;
    }
    audit::record(
        &txn,
        Change::new("organisation", organisation_id, "staff_sync").summary(format!(
            "{:?} sync: {} created, {} linked, {} requested, {} kept by employer, {} updated, {} \
             unchanged, {} deactivated, {} bookings cancelled, {} invalid",
            mode,
            result.created,
            result.linked,
            result.requested,
            result.kept_by_employer,
            result.updated,
            result.unchanged,
            result.deactivated,
            result.bookings_cancelled,
            result.invalid.len()
        )),
    )
    .await?;
    if dry_run {
        txn.rollback().await?;
    } else {
        txn.commit().await?;
    }
    Ok(result)
}

/// Ends the leavers' memberships; deactivates people left with no active membership; cancels
/// their future places booked for this organisation (all their future places when deactivated)
/// and offers each freed place to the waitlist.
pub(crate) async fn leave(
    db: &crate::db::WriteTxn,
    organisation_id: Uuid,
    leavers: &[&memberships::Model],
    now: chrono::DateTime<Utc>,
) -> ApiResult<i32> {
    if leavers.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = leavers.iter().map(|m| m.id).collect();
    let people_ids: Vec<Uuid> = leavers.iter().map(|m| m.person_id).collect();
    memberships::Entity::update_many()
        .col_expr(
            memberships::Column::Active,
            sea_orm::sea_query::Expr::value(false),
        )
        .col_expr(
            memberships::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(memberships::Column::Id.is_in(ids))
        .exec(db)
        .await?;
    let still_employed: HashSet<Uuid> = memberships::Entity::find()
        .filter(memberships::Column::PersonId.is_in(people_ids.clone()))
        .filter(memberships::Column::Active.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.person_id)
        .collect();
    let gone: Vec<Uuid> = people_ids
        .iter()
        .copied()
        .filter(|p| !still_employed.contains(p))
        .collect();
    if !gone.is_empty() {
        people::Entity::update_many()
            .col_expr(
                people::Column::Active,
                sea_orm::sea_query::Expr::value(false),
            )
            .col_expr(
                people::Column::UpdatedAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(people::Column::Id.is_in(gone.clone()))
            .exec(db)
            .await?;
    }
    let places: Vec<bookings::Model> = future_places(db, &people_ids, now)
        .await?
        .into_iter()
        .filter(|b| b.organisation_id == organisation_id || gone.contains(&b.person_id))
        .collect();
    cancel_places(db, places, "left_organisation", now).await
}
