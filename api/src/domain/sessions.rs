//! Sessions: scheduled runs of a course, with their sittings in Europe/London, venue or joining
//! link, capacity, facilitators, audience, booking window and reserved places.

use crate::ctx::Ctx;
use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::London;
use entities::{
    courses,
    enums::{Sector, SessionStatus},
    localities, people, session_audiences, session_facilitators, sessions, sittings, staff_groups,
};
use poem_openapi::{Enum, Object};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;
use validator::Validate;

use super::{
    organisations::SectorCode,
    validation::{FieldErrors, check_text, clean_text},
};
use crate::{
    audit::{self, Change},
    clock::Clock,
    error::{ApiError, ApiResult},
    pagination::{PageRequest, fetch_page},
};

pub mod availability;
pub mod changes;
pub mod past;
pub mod waitlist;

pub use availability::Availability;
pub use changes::{cancel, update};

const MAX_SITTINGS: usize = 20;
const DEFAULT_CLOSE_DAYS: i64 = 3;
const DEFAULT_LATE_DAYS: i32 = 3;

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(remote = "entities::enums::SessionStatus", rename_all = "snake_case")]
pub enum SessionStatusCode {
    /// Planned; open for booking within its booking window.
    Scheduled,
    /// Called off; its bookings were cancelled.
    Cancelled,
    /// Delivered and closed.
    Completed,
}

/// One sitting as sent: a local date with start and end times in Europe/London.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct SittingInput {
    /// The local date, `YYYY-MM-DD`.
    pub date: NaiveDate,
    /// Local start time in Europe/London, `HH:MM`.
    pub start: String,
    /// Local end time in Europe/London, `HH:MM`, after the start on the same day.
    pub end: String,
}

/// One sitting of a session, as both the instant and the wall-clock time people read.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Sitting {
    /// 1-based order within the session.
    pub position: i32,
    /// The local date in Europe/London.
    pub date: NaiveDate,
    /// Local start time in Europe/London, `HH:MM`.
    pub start: String,
    /// Local end time in Europe/London, `HH:MM`.
    pub end: String,
    /// The start as an instant (UTC).
    pub starts_at: DateTime<Utc>,
    /// The end as an instant (UTC).
    pub ends_at: DateTime<Utc>,
}

/// Where an in-person session takes place.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct Venue {
    /// The venue's name, 1–200 characters.
    pub name: String,
    /// Its postal address, up to 500 characters.
    pub address: Option<String>,
    /// The locality (community area) it is in.
    pub locality_id: Option<Uuid>,
}

/// The ring-fence of a session, fixed from the course's policy when it was scheduled.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SessionReservedPlaces {
    /// The sector the places are held for.
    pub sector: SectorCode,
    /// Places held: ceil(capacity × the course's share).
    pub places: i32,
    /// When unused reserved places become general.
    pub release_at: DateTime<Utc>,
    /// Whether that moment has passed.
    pub released: bool,
}

/// A scheduled run of a course.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Session {
    /// The session's id.
    pub id: Uuid,
    /// The course this session runs.
    pub course_id: Uuid,
    /// The course's programme.
    pub programme_id: Uuid,
    pub status: SessionStatusCode,
    /// Rises on every change a calendar must show (times, venue, link, facilitators, status).
    pub revision: i32,
    /// The sittings in order.
    pub sittings: Vec<Sitting>,
    /// Start of the first sitting.
    pub starts_at: DateTime<Utc>,
    /// End of the last sitting.
    pub ends_at: DateTime<Utc>,
    /// Where it takes place, for in-person sessions.
    pub venue: Option<Venue>,
    /// The joining link, for online sessions.
    pub online_url: Option<String>,
    /// Trainers delivering the session (people).
    pub facilitator_ids: Vec<Uuid>,
    /// Staff groups this edition is tailored to; empty means everyone.
    pub audience_staff_group_ids: Vec<Uuid>,
    /// Booking opens at this instant; none means open now.
    pub booking_opens_at: Option<DateTime<Utc>>,
    /// Booking closes at this instant (default 3 days before the first sitting).
    pub booking_closes_at: DateTime<Utc>,
    /// Cancelling a confirmed place within this many days of the first sitting is late.
    pub late_cancellation_days: i32,
    /// Places held for one sector, if the course reserves any.
    pub reserved_places: Option<SessionReservedPlaces>,
    /// Places now: confirmed, held, free and waiting.
    pub availability: Availability,
    /// Why the session was cancelled.
    pub cancel_reason: Option<String>,
    /// When it was cancelled.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// When the session was scheduled.
    pub created_at: DateTime<Utc>,
    /// When the session last changed.
    pub updated_at: DateTime<Utc>,
}

/// A session to schedule.
#[derive(Debug, Clone, Object, Validate)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct NewSession {
    /// The course to run (active).
    pub course_id: Uuid,
    /// One to 20 sittings; they may not overlap.
    pub sittings: Vec<SittingInput>,
    /// Where it takes place; a session needs a venue, an online link, or both.
    pub venue: Option<Venue>,
    /// The joining link (http or https), for online sessions.
    pub online_url: Option<String>,
    /// Places, 1–1,000 (default: the course's default capacity).
    pub capacity: Option<i32>,
    /// Trainers delivering the session: active people, at most 20.
    #[oai(default)]
    #[validate(length(max = 20, message = "must list at most 20 facilitators"))]
    pub facilitator_ids: Vec<Uuid>,
    /// Staff groups this edition is tailored to (at most 50); empty means everyone.
    #[oai(default)]
    #[validate(length(max = 50, message = "must list at most 50 staff groups"))]
    pub audience_staff_group_ids: Vec<Uuid>,
    /// When booking opens; omit to open at once.
    pub booking_opens_at: Option<DateTime<Utc>>,
    /// When booking closes; default 3 days before the first sitting.
    pub booking_closes_at: Option<DateTime<Utc>>,
    /// Days before the first sitting within which a cancellation is late, 0–60 (default 3).
    pub late_cancellation_days: Option<i32>,
    /// For a course with reserved places: days before the first sitting when unused reserved
    /// places become general, 0–365 (default: the course's). Set it to schedule one session at
    /// short notice without changing the course.
    pub reserved_release_days: Option<i32>,
}

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

fn parse_time(value: &str) -> Option<NaiveTime> {
    let bytes = value.as_bytes();
    (bytes.len() == 5 && bytes[2] == b':')
        .then(|| NaiveTime::parse_from_str(value, "%H:%M").ok())
        .flatten()
}

/// The instant of a London wall-clock time. A time skipped by the spring change is refused; a
/// time that occurs twice in the autumn is taken at its first occurrence.
fn london_instant(date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
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
                .one(db)
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

/// [`create`] inside the caller's write transaction.
pub(crate) async fn create_in(
    txn: &crate::db::WriteTxn,
    clock: &Clock,
    input: NewSession,
) -> ApiResult<Session> {
    let now = clock.now();
    let mut errors = FieldErrors::of(&input);
    let parsed = parse_sittings(&mut errors, &input.sittings, now);
    let course = courses::Entity::find_by_id(input.course_id)
        .one(txn)
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
        txn,
        &mut errors,
        input.venue.as_ref(),
        input.online_url.as_deref(),
    )
    .await?;
    check_people_and_groups(
        txn,
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

    let id = Uuid::now_v7();
    let venue = input.venue.as_ref();
    let release_days = input
        .reserved_release_days
        .unwrap_or(course.reserved_release_days);
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

/// Reads a session. Settles a reserved-place release that has come due first, so the waitlist is
/// offered the released places as soon as anyone looks.
pub async fn get_settled(db: &DatabaseConnection, clock: &Clock, id: Uuid) -> ApiResult<Session> {
    waitlist::settle_release_if_due(&Ctx::system(db, clock), id).await?;
    get(db, clock, id).await
}

pub async fn get(db: &impl ConnectionTrait, clock: &Clock, id: Uuid) -> ApiResult<Session> {
    let model = sessions::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Session"))?;
    Ok(views(db, clock, vec![model]).await?.remove(0))
}

/// Today's date in Europe/London.
pub fn london_today(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&London).date_naive()
}

fn local(t: DateTime<Utc>) -> (NaiveDate, String) {
    let l = t.with_timezone(&London);
    (l.date_naive(), l.format("%H:%M").to_string())
}

/// Builds session views for a page of rows with one query per related table.
pub(crate) async fn views(
    db: &impl ConnectionTrait,
    clock: &Clock,
    rows: Vec<sessions::Model>,
) -> ApiResult<Vec<Session>> {
    let ids: Vec<Uuid> = rows.iter().map(|s| s.id).collect();
    let mut sittings_by: HashMap<Uuid, Vec<Sitting>> = HashMap::new();
    for s in sittings::Entity::find()
        .filter(sittings::Column::SessionId.is_in(ids.clone()))
        .order_by_asc(sittings::Column::Position)
        .all(db)
        .await?
    {
        let (date, start) = local(s.starts_at);
        let (_, end) = local(s.ends_at);
        sittings_by.entry(s.session_id).or_default().push(Sitting {
            position: s.position,
            date,
            start,
            end,
            starts_at: s.starts_at,
            ends_at: s.ends_at,
        });
    }
    let mut facilitators: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for f in session_facilitators::Entity::find()
        .filter(session_facilitators::Column::SessionId.is_in(ids.clone()))
        .all(db)
        .await?
    {
        facilitators
            .entry(f.session_id)
            .or_default()
            .push(f.person_id);
    }
    let mut audiences: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for a in session_audiences::Entity::find()
        .filter(session_audiences::Column::SessionId.is_in(ids))
        .all(db)
        .await?
    {
        audiences
            .entry(a.session_id)
            .or_default()
            .push(a.staff_group_id);
    }
    let now = clock.now();
    Ok(rows
        .into_iter()
        .map(|m| {
            let mut facilitator_ids = facilitators.remove(&m.id).unwrap_or_default();
            facilitator_ids.sort();
            let mut audience = audiences.remove(&m.id).unwrap_or_default();
            audience.sort();
            let availability = Availability::of(&m, now);
            Session {
                id: m.id,
                course_id: m.course_id,
                programme_id: m.programme_id,
                status: m.status.into(),
                revision: m.revision,
                sittings: sittings_by.remove(&m.id).unwrap_or_default(),
                starts_at: m.starts_at,
                ends_at: m.ends_at,
                venue: m.venue_name.clone().map(|name| Venue {
                    name,
                    address: m.venue_address.clone(),
                    locality_id: m.locality_id,
                }),
                online_url: m.online_url.clone(),
                facilitator_ids,
                audience_staff_group_ids: audience,
                booking_opens_at: m.booking_opens_at,
                booking_closes_at: m.booking_closes_at,
                late_cancellation_days: m.late_cancellation_days,
                reserved_places: match (m.reserved_sector, m.reserved_release_at) {
                    (Some(sector), Some(release_at)) => Some(SessionReservedPlaces {
                        sector: sector.into(),
                        places: reserved_places_for(m.capacity, m.reserved_share_bp),
                        release_at,
                        released: now >= release_at,
                    }),
                    _ => None,
                },
                availability,
                cancel_reason: m.cancel_reason,
                cancelled_at: m.cancelled_at,
                created_at: m.created_at,
                updated_at: m.updated_at,
            }
        })
        .collect())
}

/// Filters of the session list.
#[derive(Debug, Default, Clone, Copy)]
pub struct SessionFilter {
    pub programme_id: Option<Uuid>,
    pub course_id: Option<Uuid>,
    pub locality_id: Option<Uuid>,
    pub status: Option<SessionStatus>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub has_free_places: Option<bool>,
}

/// The first instant of a London date.
pub(crate) fn london_midnight(date: NaiveDate) -> DateTime<Utc> {
    london_instant(date, NaiveTime::MIN)
        .or_else(|| {
            london_instant(
                date,
                NaiveTime::from_hms_opt(1, 0, 0).unwrap_or(NaiveTime::MIN),
            )
        })
        .unwrap_or_default()
}

pub async fn list(
    db: &impl ConnectionTrait,
    clock: &Clock,
    filter: SessionFilter,
    page: PageRequest,
) -> ApiResult<(Vec<Session>, Option<String>)> {
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && to < from
    {
        return Err(ApiError::invalid("to", "must not be before `from`"));
    }
    let mut select = sessions::Entity::find();
    if let Some(id) = filter.programme_id {
        select = select.filter(sessions::Column::ProgrammeId.eq(id));
    }
    if let Some(id) = filter.course_id {
        select = select.filter(sessions::Column::CourseId.eq(id));
    }
    if let Some(id) = filter.locality_id {
        select = select.filter(sessions::Column::LocalityId.eq(id));
    }
    if let Some(status) = filter.status {
        select = select.filter(sessions::Column::Status.eq(status));
    }
    if let Some(from) = filter.from {
        select = select.filter(sessions::Column::StartsAt.gte(london_midnight(from)));
    }
    if let Some(to) = filter.to.and_then(|d| d.succ_opt()) {
        select = select.filter(sessions::Column::StartsAt.lt(london_midnight(to)));
    }
    match filter.has_free_places {
        Some(true) => {
            select = select
                .filter(sessions::Column::Status.eq(SessionStatus::Scheduled))
                .filter(
                    Expr::col(sessions::Column::ConfirmedCount)
                        .lt(Expr::col(sessions::Column::Capacity)),
                )
        }
        Some(false) => {
            select = select.filter(
                sea_orm::Condition::any()
                    .add(sessions::Column::Status.ne(SessionStatus::Scheduled))
                    .add(
                        Expr::col(sessions::Column::ConfirmedCount)
                            .gte(Expr::col(sessions::Column::Capacity)),
                    ),
            )
        }
        None => {}
    }
    let (rows, next) = fetch_page(
        db,
        select,
        sessions::Column::Id,
        page,
        |m| m,
        |m: &sessions::Model| m.id,
    )
    .await?;
    Ok((views(db, clock, rows).await?, next))
}

/// Loads a session row for a write, holding it until the transaction ends: `FOR UPDATE` on
/// PostgreSQL; on SQLite the IMMEDIATE transaction already holds the write lock.
pub(crate) async fn lock(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<sessions::Model> {
    sessions::Entity::find_by_id(id)
        .lock_exclusive()
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Session"))
}
