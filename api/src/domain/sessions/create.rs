//! Scheduling a session: its sittings parsed in London time, its venue, facilitators and
//! audience checked, its booking window and reserved places set — rules shared with changes
//! and past sessions.

use super::*;

/// Sittings parsed into instants.
pub(crate) struct ParsedSittings(pub Vec<(DateTime<Utc>, DateTime<Utc>)>);

impl ParsedSittings {
    pub fn starts_at(&self) -> DateTime<Utc> {
        self.0.first().map(|s| s.0).unwrap_or_default()
    }

    pub fn ends_at(&self) -> DateTime<Utc> {
        self.0.last().map(|s| s.1).unwrap_or_default()
    }
}

pub(super) fn parse_time(value: &str) -> Option<NaiveTime> {
    let bytes = value.as_bytes();
    (bytes.len() == 5 && bytes[2] == b':')
        .then(|| NaiveTime::parse_from_str(value, "%H:%M").ok())
        .flatten()
}

/// The instant of a London wall-clock time. A time skipped by the spring change is refused; a
/// time that occurs twice in the autumn is taken at its first occurrence.
pub(super) fn london_instant(date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    London
        .from_local_datetime(&date.and_time(time))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// Parses and checks sittings: each 15 minutes to 12 hours, in the future, not overlapping.
pub(crate) fn parse_sittings(
    errors: &mut FieldErrors,
    input: &[SittingInput],
    now: DateTime<Utc>,
) -> ParsedSittings {
    if input.is_empty() || input.len() > MAX_SITTINGS {
        errors.add(
            "sittings",
            format!("must list 1 to {MAX_SITTINGS} sittings"),
        );
        return ParsedSittings(Vec::new());
    }
    let mut parsed = Vec::new();
    for (i, s) in input.iter().enumerate() {
        let field = |name: &str| format!("sittings[{i}].{name}");
        let start = parse_time(&s.start);
        let end = parse_time(&s.end);
        errors.check(start.is_some(), &field("start"), "must be a time as HH:MM");
        errors.check(end.is_some(), &field("end"), "must be a time as HH:MM");
        let (Some(start), Some(end)) = (start, end) else {
            continue;
        };
        let (Some(starts_at), Some(ends_at)) =
            (london_instant(s.date, start), london_instant(s.date, end))
        else {
            errors.add(
                field("start"),
                "does not exist in Europe/London that day (clocks go forward)",
            );
            continue;
        };
        let minutes = (ends_at - starts_at).num_minutes();
        if ends_at <= starts_at {
            errors.add(field("end"), "must be after the start");
        } else if !(15..=12 * 60).contains(&minutes) {
            errors.add(
                field("end"),
                "a sitting must last from 15 minutes to 12 hours",
            );
        }
        if starts_at <= now {
            errors.add(field("date"), "must be in the future");
        }
        parsed.push((i, starts_at, ends_at));
    }
    parsed.sort_by_key(|p| p.1);
    for pair in parsed.windows(2) {
        if pair[1].1 < pair[0].2 {
            errors.add(
                format!("sittings[{}]", pair[1].0),
                "overlaps another sitting",
            );
        }
    }
    ParsedSittings(parsed.into_iter().map(|p| (p.1, p.2)).collect())
}

/// Checks venue, link, capacity, people and window settings shared by create and update.
pub(crate) async fn check_venue(
    db: &impl ConnectionTrait,
    errors: &mut FieldErrors,
    venue: Option<&Venue>,
    online_url: Option<&str>,
) -> ApiResult<()> {
    if let Some(venue) = venue {
        check_text(errors, "venue.name", &clean_text(&venue.name), 200);
        if let Some(address) = &venue.address {
            errors.check(
                address.chars().count() <= 500,
                "venue.address",
                "must be at most 500 characters",
            );
        }
        if let Some(id) = venue.locality_id {
            let ok = localities::Entity::find_by_id(id)
                .first(db)
                .await?
                .is_some_and(|l| l.active);
            errors.check(ok, "venue.locality_id", "no such active locality");
        }
    }
    if let Some(url) = online_url {
        errors.check(
            (url.starts_with("https://") || url.starts_with("http://"))
                && url.len() <= 2000
                && !url.chars().any(|c| c.is_whitespace() || c.is_control()),
            "online_url",
            "must be an http or https link of at most 2000 characters",
        );
    }
    Ok(())
}

pub(crate) async fn check_people_and_groups(
    db: &impl ConnectionTrait,
    errors: &mut FieldErrors,
    facilitators: Option<&[Uuid]>,
    groups: Option<&[Uuid]>,
) -> ApiResult<()> {
    if let Some(ids) = facilitators {
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        let found = people::Entity::find()
            .filter(people::Column::Id.is_in(unique.iter().copied().copied()))
            .filter(people::Column::Active.eq(true))
            .count(db)
            .await?;
        errors.check(
            found == unique.len() as u64,
            "facilitator_ids",
            "names someone who is not an active person",
        );
    }
    if let Some(ids) = groups {
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        let found = staff_groups::Entity::find()
            .filter(staff_groups::Column::Id.is_in(unique.iter().copied().copied()))
            .count(db)
            .await?;
        errors.check(
            found == unique.len() as u64,
            "audience_staff_group_ids",
            "names a staff group that does not exist",
        );
    }
    Ok(())
}

pub(crate) fn check_window(
    errors: &mut FieldErrors,
    opens: Option<DateTime<Utc>>,
    closes: DateTime<Utc>,
    starts_at: DateTime<Utc>,
    late_days: i32,
) {
    errors.check(
        closes <= starts_at,
        "booking_closes_at",
        "must not be after the first sitting starts",
    );
    if let Some(opens) = opens {
        errors.check(
            opens < closes,
            "booking_opens_at",
            "must be before booking closes",
        );
    }
    errors.check(
        (0..=60).contains(&late_days),
        "late_cancellation_days",
        "must be between 0 and 60",
    );
}

pub(crate) fn default_close(starts_at: DateTime<Utc>) -> DateTime<Utc> {
    starts_at - Duration::days(DEFAULT_CLOSE_DAYS)
}

/// When unused reserved places become general: the release days before the first sitting.
pub(crate) fn release_at(
    sector: Option<Sector>,
    starts_at: DateTime<Utc>,
    release_days: i32,
) -> Option<DateTime<Utc>> {
    sector.map(|_| starts_at - Duration::days(i64::from(release_days)))
}

pub(crate) async fn replace_links(
    db: &impl ConnectionTrait,
    session_id: Uuid,
    facilitators: Option<&[Uuid]>,
    groups: Option<&[Uuid]>,
) -> ApiResult<()> {
    if let Some(ids) = facilitators {
        session_facilitators::Entity::delete_many()
            .filter(session_facilitators::Column::SessionId.eq(session_id))
            .exec(db)
            .await?;
        let mut ids = ids.to_vec();
        ids.sort();
        ids.dedup();
        if !ids.is_empty() {
            session_facilitators::Entity::insert_many(ids.into_iter().map(|person_id| {
                session_facilitators::ActiveModel {
                    session_id: Set(session_id),
                    person_id: Set(person_id),
                }
            }))
            .exec(db)
            .await?;
        }
    }
    if let Some(ids) = groups {
        session_audiences::Entity::delete_many()
            .filter(session_audiences::Column::SessionId.eq(session_id))
            .exec(db)
            .await?;
        let mut ids = ids.to_vec();
        ids.sort();
        ids.dedup();
        if !ids.is_empty() {
            session_audiences::Entity::insert_many(ids.into_iter().map(|staff_group_id| {
                session_audiences::ActiveModel {
                    session_id: Set(session_id),
                    staff_group_id: Set(staff_group_id),
                }
            }))
            .exec(db)
            .await?;
        }
    }
    Ok(())
}

pub(crate) async fn replace_sittings(
    db: &impl ConnectionTrait,
    session_id: Uuid,
    parsed: &ParsedSittings,
) -> ApiResult<()> {
    sittings::Entity::delete_many()
        .filter(sittings::Column::SessionId.eq(session_id))
        .exec(db)
        .await?;
    sittings::Entity::insert_many(parsed.0.iter().enumerate().map(|(i, (start, end))| {
        sittings::ActiveModel {
            id: Set(Uuid::now_v7()),
            session_id: Set(session_id),
            position: Set(i as i32 + 1),
            starts_at: Set(*start),
            ends_at: Set(*end),
        }
    }))
    .exec(db)
    .await?;
    Ok(())
}

/// Places a share in basis points holds of a capacity, rounded up.
pub fn reserved_places_for(capacity: i32, share_bp: i32) -> i32 {
    ((i64::from(capacity) * i64::from(share_bp) + 9_999) / 10_000) as i32
}

pub async fn create(ctx: &Ctx, input: NewSession) -> ApiResult<Session> {
    let clock = &ctx.clock;
    let txn = ctx.begin().await?;
    let session = create_in(&txn, clock, input).await?;
    txn.commit().await?;
    Ok(session)
}

/// A new session's input checked: everything [`create`] and [`preview`] decide before writing.
pub(super) struct Checked {
    pub course: courses::Model,
    pub parsed: ParsedSittings,
    pub closes: DateTime<Utc>,
    pub late_days: i32,
    pub release_days: i32,
}

pub(super) async fn check_new(
    db: &impl ConnectionTrait,
    clock: &Clock,
    input: &NewSession,
) -> ApiResult<Checked> {
    let now = clock.now();
    let mut errors = FieldErrors::of(input);
    let parsed = parse_sittings(&mut errors, &input.sittings, now);
    let course = courses::Entity::find_by_id(input.course_id)
        .first(db)
        .await?;
    match &course {
        None => errors.add("course_id", "no such course"),
        Some(c) if !c.active => errors.add("course_id", "the course is retired"),
        Some(_) => {}
    }
    errors.check(
        input.venue.is_some() || input.online_url.is_some(),
        "venue",
        "a session needs a venue, an online link, or both",
    );
    check_venue(
        db,
        &mut errors,
        input.venue.as_ref(),
        input.online_url.as_deref(),
    )
    .await?;
    check_people_and_groups(
        db,
        &mut errors,
        Some(&input.facilitator_ids),
        Some(&input.audience_staff_group_ids),
    )
    .await?;
    if let Some(capacity) = input.capacity {
        errors.check(
            (1..=1000).contains(&capacity),
            "capacity",
            "must be between 1 and 1000",
        );
    }
    if let Some(days) = input.reserved_release_days {
        errors.check(
            (0..=365).contains(&days),
            "reserved_release_days",
            "must be between 0 and 365",
        );
        errors.check(
            course.as_ref().is_none_or(|c| c.reserved_sector.is_some()),
            "reserved_release_days",
            "the course holds no reserved places",
        );
    }
    let starts_at = parsed.starts_at();
    let closes = input
        .booking_closes_at
        .unwrap_or_else(|| default_close(starts_at));
    let late_days = input.late_cancellation_days.unwrap_or(DEFAULT_LATE_DAYS);
    if !parsed.0.is_empty() {
        check_window(
            &mut errors,
            input.booking_opens_at,
            closes,
            starts_at,
            late_days,
        );
    }
    errors.finish()?;
    let Some(course) = course else {
        return Err(ApiError::not_found("Course"));
    };
    let release_days = input
        .reserved_release_days
        .unwrap_or(course.reserved_release_days);
    Ok(Checked {
        course,
        parsed,
        closes,
        late_days,
        release_days,
    })
}

/// [`create`] inside the caller's write transaction.
pub(crate) async fn create_in(
    txn: &crate::db::WriteTxn,
    clock: &Clock,
    input: NewSession,
) -> ApiResult<Session> {
    let now = clock.now();
    let Checked {
        course,
        parsed,
        closes,
        late_days,
        release_days,
    } = check_new(txn, clock, &input).await?;
    let starts_at = parsed.starts_at();

    let id = Uuid::now_v7();
    let venue = input.venue.as_ref();
    sessions::ActiveModel {
        id: Set(id),
        course_id: Set(course.id),
        programme_id: Set(course.programme_id),
        capacity: Set(input.capacity.unwrap_or(course.default_capacity)),
        reserved_sector: Set(course.reserved_sector),
        reserved_share_bp: Set(course.reserved_share_bp),
        reserved_release_days: Set(release_days),
        reserved_release_at: Set(release_at(course.reserved_sector, starts_at, release_days)),
        release_settled: Set(course.reserved_sector.is_none()),
        venue_name: Set(venue.map(|v| clean_text(&v.name))),
        venue_address: Set(venue.and_then(|v| v.address.as_ref().map(|a| a.trim().to_owned()))),
        locality_id: Set(venue.and_then(|v| v.locality_id)),
        online_url: Set(input.online_url.clone()),
        booking_opens_at: Set(input.booking_opens_at),
        booking_closes_at: Set(closes),
        late_cancellation_days: Set(late_days),
        status: Set(SessionStatus::Scheduled),
        cancel_reason: Set(None),
        cancelled_at: Set(None),
        revision: Set(1),
        starts_at: Set(starts_at),
        ends_at: Set(parsed.ends_at()),
        confirmed_count: Set(0),
        reserved_confirmed: Set(0),
        waitlist_count: Set(0),
        waitlist_next_seq: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(txn)
    .await?;
    replace_sittings(txn, id, &parsed).await?;
    replace_links(
        txn,
        id,
        Some(&input.facilitator_ids),
        Some(&input.audience_staff_group_ids),
    )
    .await?;
    let session = get(txn, clock, id).await?;
    audit::record(
        txn,
        Change::new("session", id, "create").summary(format!(
            "course {}, {} sitting(s)",
            input.course_id,
            parsed.0.len()
        )),
    )
    .await?;
    Ok(session)
}
