//! Charges: late cancellations and no-shows priced by the programme year's tariff, a place taken
//! by a colleague (substitution) not charged, and waivers with a reason.

use super::*;

/// What a charge is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ChargeKind {
    /// A confirmed place given up within the late-cancellation period.
    LateCancellation,
    /// A confirmed place not attended at all.
    NoShow,
}

/// A charge computed from a booking.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Charge {
    /// The booking charged for.
    pub booking_id: Uuid,
    /// The session.
    pub session_id: Uuid,
    /// The person booked.
    pub person_id: Uuid,
    /// The employing organisation charged.
    pub organisation_id: Uuid,
    pub kind: ChargeKind,
    /// The tariff for this kind and course length, in pence.
    pub tariff_pence: i64,
    /// What is owed: the tariff, or 0 when waived.
    pub amount_pence: i64,
    /// Why it is waived: a coordinator's reason, or `substitute attended`.
    pub waived_reason: Option<String>,
}

/// A coordinator's reason for waiving a booking's charge.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct Waiver {
    /// 1–500 characters.
    pub reason: String,
}

/// Courses up to this long are charged at the half-day rate.
pub const HALF_DAY_MINUTES: i32 = 240;

/// Which charges a list shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChargeFilter {
    pub organisation_id: Option<Uuid>,
    pub kind: Option<ChargeKind>,
    /// Only waived (`true`) or only owed (`false`) charges.
    pub waived: Option<bool>,
}

/// One page of a programme year's charges, in booking order, filtered. A partner key sees only
/// its own organisation's.
pub async fn list_charges(
    db: &impl ConnectionTrait,
    who: &Principal,
    programme_id: Uuid,
    year: i32,
    mut filter: ChargeFilter,
    page: crate::pagination::PageRequest,
) -> ApiResult<(Vec<Charge>, Option<String>)> {
    check_year(db, programme_id, year).await?;
    if let crate::auth::PeopleScope::Organisation(own) = who.people_scope() {
        if filter.organisation_id.is_some_and(|o| o != own) {
            return Ok((Vec::new(), None));
        }
        filter.organisation_id = Some(own);
    }
    let mut items: Vec<Charge> = charges_for(db, programme_id, year, filter.organisation_id)
        .await?
        .into_iter()
        .filter(|c| filter.kind.is_none_or(|k| c.kind == k))
        .filter(|c| filter.waived.is_none_or(|w| c.waived_reason.is_some() == w))
        .filter(|c| page.after.is_none_or(|after| c.booking_id > after))
        .take(page.limit as usize + 1)
        .collect();
    let next = if items.len() as u64 > page.limit {
        items.truncate(page.limit as usize);
        items
            .last()
            .map(|c| crate::pagination::encode_cursor(c.booking_id))
    } else {
        None
    };
    Ok((items, next))
}

/// Every charge of a programme year: late cancellations and no-shows of sessions that start in
/// the year, at the year's tariff for the course's length, in booking order.
pub async fn charges_of(
    db: &impl ConnectionTrait,
    programme_id: Uuid,
    year: i32,
) -> ApiResult<Vec<Charge>> {
    charges_for(db, programme_id, year, None).await
}

/// `charges_of`, for one organisation when given (its bookings, and its colleagues as
/// substitutes: a substitute is always of the same organisation).
pub(super) async fn charges_for(
    db: &impl ConnectionTrait,
    programme_id: Uuid,
    year: i32,
    organisation: Option<Uuid>,
) -> ApiResult<Vec<Charge>> {
    let of_organisation = |c: Condition| match organisation {
        Some(o) => c.add(bookings::Column::OrganisationId.eq(o)),
        None => c,
    };
    let tariff = programme_years::Entity::find_by_id((programme_id, year))
        .first(db)
        .await?;
    let in_year: Vec<sessions::Model> = sessions::Entity::find()
        .filter(sessions_in_year(programme_id, year))
        .all(db)
        .await?;
    let durations: HashMap<Uuid, i32> = courses::Entity::find()
        .filter(courses::Column::ProgrammeId.eq(programme_id))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c.duration_minutes))
        .collect();
    let course_of: HashMap<Uuid, Uuid> = in_year.iter().map(|s| (s.id, s.course_id)).collect();
    // Only the bookings that can carry a charge, found with a subquery (no id list).
    let all = bookings::Entity::find()
        .filter(of_organisation(Condition::all()))
        .filter(
            bookings::Column::SessionId
                .in_subquery(session_ids(sessions_in_year(programme_id, year))),
        )
        .filter(
            Condition::any()
                .add(bookings::Column::Status.eq(BookingStatus::NoShow))
                .add(
                    Condition::all()
                        .add(bookings::Column::Status.eq(BookingStatus::Cancelled))
                        .add(bookings::Column::LateCancellation.eq(true)),
                ),
        )
        .order_by_asc(bookings::Column::Id)
        .all(db)
        .await?;
    // Who attended the sessions with a late cancellation, for the substitute waiver.
    let late_sessions: HashSet<Uuid> = all
        .iter()
        .filter(|b| b.status == BookingStatus::Cancelled)
        .map(|b| b.session_id)
        .collect();
    let attended = if late_sessions.is_empty() {
        Vec::new()
    } else {
        bookings::Entity::find()
            .filter(of_organisation(Condition::all()))
            .filter(bookings::Column::SessionId.is_in(late_sessions))
            .filter(
                bookings::Column::Status.is_in([BookingStatus::Attended, BookingStatus::Partial]),
            )
            .all(db)
            .await?
    };
    let substituted = substituted(&all, &attended);
    let mut out = Vec::new();
    for b in &all {
        let kind = match b.status {
            BookingStatus::NoShow => ChargeKind::NoShow,
            BookingStatus::Cancelled if b.late_cancellation => ChargeKind::LateCancellation,
            _ => continue,
        };
        let half_day = course_of
            .get(&b.session_id)
            .and_then(|c| durations.get(c))
            .is_some_and(|d| *d <= HALF_DAY_MINUTES);
        let tariff_pence = tariff
            .as_ref()
            .and_then(|t| match (kind, half_day) {
                (ChargeKind::LateCancellation, true) => t.late_cancel_half_day_pence,
                (ChargeKind::LateCancellation, false) => t.late_cancel_full_day_pence,
                (ChargeKind::NoShow, true) => t.no_show_half_day_pence,
                (ChargeKind::NoShow, false) => t.no_show_full_day_pence,
            })
            .unwrap_or(0);
        let substitute = kind == ChargeKind::LateCancellation && substituted.contains(&b.id);
        let waived_reason = b
            .charge_waived_reason
            .clone()
            .or_else(|| substitute.then(|| "substitute attended".to_owned()));
        out.push(Charge {
            booking_id: b.id,
            session_id: b.session_id,
            person_id: b.person_id,
            organisation_id: b.organisation_id,
            kind,
            tariff_pence,
            amount_pence: if waived_reason.is_some() {
                0
            } else {
                tariff_pence
            },
            waived_reason,
        });
    }
    Ok(out)
}

/// The late cancellations whose place a colleague took: someone from the same organisation who
/// got a place on the same session (booked, or promoted from the waitlist) at or after the
/// cancellation, and attended (fully or in part). Each colleague takes one place: the
/// cancellations of a session and organisation are matched in the order they were made, each to
/// the first colleague placed at or after it who is not matched yet. This is the one definition
/// of a substitute; every charge figure comes from `charges_of`, which uses it.
pub(super) fn substituted(
    charged: &[bookings::Model],
    attended: &[bookings::Model],
) -> HashSet<Uuid> {
    let mut cancellations: Vec<&bookings::Model> = charged
        .iter()
        .filter(|b| b.status == BookingStatus::Cancelled && b.late_cancellation)
        .collect();
    cancellations.sort_by_key(|b| (b.cancelled_at, b.id));
    let mut colleagues: Vec<&bookings::Model> = attended.iter().collect();
    colleagues.sort_by_key(|b| (b.confirmed_at, b.id));
    let mut taken: HashSet<Uuid> = HashSet::new();
    let mut waived = HashSet::new();
    for c in cancellations {
        let Some(cancelled_at) = c.cancelled_at else {
            continue;
        };
        if let Some(s) = colleagues.iter().find(|o| {
            o.session_id == c.session_id
                && o.organisation_id == c.organisation_id
                && o.confirmed_at.is_some_and(|at| at >= cancelled_at)
                && !taken.contains(&o.id)
        }) {
            taken.insert(s.id);
            waived.insert(c.id);
        }
    }
    waived
}

/// Records a coordinator's waiver on a booking with a late cancellation or a no-show.
pub async fn waive(ctx: &Ctx, booking_id: Uuid, input: Waiver) -> ApiResult<Charge> {
    let clock = &ctx.clock;
    let who = &ctx.who;
    let reason = input.reason.trim().to_owned();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::invalid("reason", "must be 1 to 500 characters"));
    }
    let txn = ctx.begin().await?;
    let booking = find_booking(&txn, who, booking_id).await?;
    let chargeable = booking.status == BookingStatus::NoShow
        || (booking.status == BookingStatus::Cancelled && booking.late_cancellation);
    if !chargeable {
        return Err(ApiError::Rule {
            kind: ProblemKind::NothingToWaive,
            detail: "Only a late cancellation or a no-show is charged.".into(),
        });
    }
    let session = sessions::Entity::find_by_id(booking.session_id)
        .first(&txn)
        .await?
        .ok_or_else(|| ApiError::not_found("Session"))?;
    let mut model: bookings::ActiveModel = booking.into();
    model.charge_waived_reason = Set(Some(reason));
    model.charge_waived_at = Set(Some(clock.now()));
    model.charge_waived_by_key_id = Set(Some(who.key_id));
    model.update(&txn).await?;
    let year = crate::domain::trainers::steps::financial_year(
        crate::domain::sessions::london_today(session.starts_at),
    );
    let charge = charges_of(&txn, session.programme_id, year)
        .await?
        .into_iter()
        .find(|c| c.booking_id == booking_id)
        .ok_or_else(|| ApiError::not_found("Charge"))?;
    audit::record(
        &txn,
        Change::new("booking", booking_id, "waive_charge").summary("charge waived"),
    )
    .await?;
    txn.commit().await?;
    Ok(charge)
}
