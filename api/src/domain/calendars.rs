//! Calendars: a session's sittings, a person's invitation (iTIP REQUEST, then CANCEL when the place
//! or session goes), and subscription feeds reached by a secret, revocable token.

use crate::ctx::Ctx;
use crate::db::FirstRow as _;
use crate::problem::ProblemKind;
use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use entities::{
    bookings, calendar_feeds, courses,
    enums::{BookingStatus, SessionStatus},
    people, programmes, session_facilitators, sessions, sittings,
};
use poem_openapi::Object;
use rand::Rng;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{
    bookings::find_reachable as find_booking,
    people::{find_records_visible, records_scope},
};
use crate::{
    audit::{self, Change},
    auth::Principal,
    clock::Clock,
    config::Config,
    error::{ApiError, ApiResult},
    pagination::{PageRequest, fetch_page},
    render::calendar_ics::{self, Calendar, Event, Method, Party},
};

/// Feeds show sessions that ended at most this long ago.
const FEED_HISTORY_DAYS: i64 = 90;

/// The stable UID of one sitting's event, the same in every calendar Cascade produces.
pub fn uid(session: Uuid, position: i32) -> String {
    format!("session-{session}-sitting-{position}@cascade")
}

/// Builds the events of sessions with three queries, whatever their number.
async fn events(
    db: &impl ConnectionTrait,
    rows: &[sessions::Model],
    sequence_and_cancelled: impl Fn(&sessions::Model) -> (i32, bool),
    attendee: Option<&Party>,
    organizer: Option<&Party>,
) -> ApiResult<Vec<Event>> {
    let ids: Vec<Uuid> = rows.iter().map(|s| s.id).collect();
    let course_ids: Vec<Uuid> = rows.iter().map(|s| s.course_id).collect();
    let courses: HashMap<Uuid, courses::Model> = courses::Entity::find()
        .filter(courses::Column::Id.is_in(course_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let mut sittings_of: HashMap<Uuid, Vec<sittings::Model>> = HashMap::new();
    for s in sittings::Entity::find()
        .filter(sittings::Column::SessionId.is_in(ids.clone()))
        .order_by_asc(sittings::Column::Position)
        .all(db)
        .await?
    {
        sittings_of.entry(s.session_id).or_default().push(s);
    }
    let facilitators = session_facilitators::Entity::find()
        .filter(session_facilitators::Column::SessionId.is_in(ids))
        .all(db)
        .await?;
    let names: HashMap<Uuid, String> = people::Entity::find()
        .filter(people::Column::Id.is_in(facilitators.iter().map(|f| f.person_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    let mut out = Vec::new();
    for session in rows {
        let (sequence, cancelled) = sequence_and_cancelled(session);
        let course_title = courses
            .get(&session.course_id)
            .map_or_else(String::new, |c| c.title.clone());
        let mut who: Vec<String> = facilitators
            .iter()
            .filter(|f| f.session_id == session.id)
            .filter_map(|f| names.get(&f.person_id).cloned())
            .collect();
        who.sort();
        let location = match (&session.venue_name, &session.venue_address) {
            (Some(name), Some(address)) => Some(format!("{name}, {address}")),
            (Some(name), None) => Some(name.clone()),
            (None, _) => session.online_url.clone(),
        };
        let parts = sittings_of.get(&session.id).map_or(&[][..], Vec::as_slice);
        for sitting in parts {
            let summary = if parts.len() > 1 {
                format!("{course_title} ({} of {})", sitting.position, parts.len())
            } else {
                course_title.clone()
            };
            let mut description = vec![course_title.clone()];
            if !who.is_empty() {
                description.push(format!("Facilitators: {}", who.join(", ")));
            }
            if let Some(url) = &session.online_url {
                description.push(format!("Join online: {url}"));
            }
            if cancelled && let Some(reason) = &session.cancel_reason {
                description.push(format!("Cancelled: {reason}"));
            }
            out.push(Event {
                uid: uid(session.id, sitting.position),
                sequence,
                start: sitting.starts_at,
                end: sitting.ends_at,
                summary,
                description: description.join("\n"),
                location: location.clone(),
                url: session.online_url.clone(),
                cancelled,
                organizer: organizer.cloned(),
                attendee: attendee.cloned(),
            });
        }
    }
    Ok(out)
}

fn organizer(config: &Config) -> Party {
    Party {
        name: config.organizer_name.clone(),
        email: config.organizer_email.clone(),
    }
}

/// A session's sittings to download (METHOD:PUBLISH); cancelled sessions show as cancelled.
pub async fn session_calendar(
    db: &impl ConnectionTrait,
    clock: &Clock,
    id: Uuid,
) -> ApiResult<String> {
    let session = sessions::Entity::find_by_id(id)
        .first(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Session"))?;
    let events = events(
        db,
        std::slice::from_ref(&session),
        |s| (s.revision, s.status == SessionStatus::Cancelled),
        None,
        None,
    )
    .await?;
    Ok(calendar_ics::render(&Calendar {
        method: Method::Publish,
        name: None,
        stamp: clock.now(),
        events,
    }))
}

/// The SEQUENCE of a person's copy of a session's events. It rises with every change a calendar
/// must see — each change to the session (its revision) and each time this person gives a place
/// up or takes one again — so a new invitation after a cancellation is never older than the
/// CANCEL the person already holds (RFC 5546 §2.1.5): booked `r`, cancelled `r + 1`, booked
/// again `r + 2`, … `own_cancellations` counts the places the person gave up on the session
/// before (or, for a place given up, up to and including) the one in question.
pub(crate) fn attendee_sequence(
    revision: i32,
    own_cancellations: i32,
    holds_place: bool,
    session_cancelled: bool,
) -> i32 {
    let base = revision + 2 * own_cancellations;
    if holds_place || session_cancelled {
        base
    } else {
        base - 1
    }
}

/// Whether a booking was given up by (or for) its holder, rather than cancelled with its session.
fn given_up(b: &bookings::Model) -> bool {
    b.status == BookingStatus::Cancelled && b.cancel_reason.as_deref() != Some("session_cancelled")
}

/// A person's invitation to the sittings of a booked session: REQUEST while they hold the place,
/// CANCEL (same UIDs, higher SEQUENCE) once the booking or the session is cancelled.
pub async fn invite(
    db: &impl ConnectionTrait,
    config: &Config,
    clock: &Clock,
    who: &Principal,
    booking_id: Uuid,
) -> ApiResult<String> {
    let booking = find_booking(db, who, booking_id).await?;
    if booking.status == BookingStatus::Waitlisted {
        return Err(ApiError::Rule {
            kind: ProblemKind::BookingWaitlisted,
            detail: "The booking is on the waitlist: an invitation comes with a place.".into(),
        });
    }
    Ok(invitation(db, config, clock, &booking).await?.0)
}

/// The invitation of a booking that holds or held a place (its holder's scope checked by the
/// caller), and its method: the same calendar the API, the pages and email send.
pub(crate) async fn invitation(
    db: &impl ConnectionTrait,
    config: &Config,
    clock: &Clock,
    booking: &bookings::Model,
) -> ApiResult<(String, Method)> {
    invitation_of(db, config, clock, booking, None, None).await
}

/// [`invitation`], for a caller that may already hold the booking's session and holder (the mail
/// worker composing a letter about them): a row given is used when it is the booking's, read
/// otherwise.
pub(crate) async fn invitation_of(
    db: &impl ConnectionTrait,
    config: &Config,
    clock: &Clock,
    booking: &bookings::Model,
    session: Option<&sessions::Model>,
    person: Option<&people::Model>,
) -> ApiResult<(String, Method)> {
    let session = match session.filter(|s| s.id == booking.session_id) {
        Some(session) => session.clone(),
        None => sessions::Entity::find_by_id(booking.session_id)
            .first(db)
            .await?
            .ok_or_else(|| ApiError::not_found("Session"))?,
    };
    let person = match person.filter(|p| p.id == booking.person_id) {
        Some(person) => person.clone(),
        None => people::Entity::find_by_id(booking.person_id)
            .first(db)
            .await?
            .ok_or_else(|| ApiError::not_found("Person"))?,
    };
    let session_cancelled = session.status == SessionStatus::Cancelled;
    let booking_cancelled = booking.status == BookingStatus::Cancelled;
    let earlier = bookings::Entity::find()
        .filter(bookings::Column::PersonId.eq(booking.person_id))
        .filter(bookings::Column::SessionId.eq(booking.session_id))
        .filter(bookings::Column::Id.lte(booking.id))
        .all(db)
        .await?;
    let own_cancellations = earlier.iter().filter(|b| given_up(b)).count() as i32;
    let sequence = attendee_sequence(
        session.revision,
        own_cancellations,
        !booking_cancelled,
        session_cancelled,
    );
    let cancelled = session_cancelled || booking_cancelled;
    let attendee = Party {
        name: person.name,
        email: person.email,
    };
    let events = events(
        db,
        std::slice::from_ref(&session),
        |_| (sequence, cancelled),
        Some(&attendee),
        Some(&organizer(config)),
    )
    .await?;
    let method = if cancelled {
        Method::Cancel
    } else {
        Method::Request
    };
    let ics = calendar_ics::render(&Calendar {
        method,
        name: None,
        stamp: clock.now(),
        events,
    });
    Ok((ics, method))
}

/// A subscription feed.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CalendarFeed {
    /// The feed's id.
    pub id: Uuid,
    /// For a person's feed: their confirmed places and the sessions they facilitate.
    pub person_id: Option<Uuid>,
    /// For a programme's feed: its sessions.
    pub programme_id: Option<Uuid>,
    /// The first characters of the token, to recognise the feed.
    pub prefix: String,
    /// The feed's address over HTTPS; present only when the token was just created or rotated.
    pub url: Option<String>,
    /// The same address as a `webcal://` link that calendar apps subscribe to; present only when
    /// the token was just created or rotated.
    pub webcal_url: Option<String>,
    /// When the feed was revoked (its address then answers 404).
    pub revoked_at: Option<DateTime<Utc>>,
    /// When the feed was created.
    pub created_at: DateTime<Utc>,
    /// When its token last changed.
    pub rotated_at: DateTime<Utc>,
}

/// A feed to create: for one person, or for one programme.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct NewCalendarFeed {
    /// A person within the key's scope (a learner or trainer: themselves).
    pub person_id: Option<Uuid>,
    /// A programme (any role).
    pub programme_id: Option<Uuid>,
}

fn token_hash(token: &str) -> String {
    crate::digest::sha256_hex(token.as_bytes())
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("cal_{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn feed_view(m: calendar_feeds::Model, config: &Config, token: Option<&str>) -> CalendarFeed {
    let url = token.map(|t| format!("{}/api/v1/feeds/{t}/calendar.ics", config.public_url));
    let webcal_url = url.as_ref().map(|u| {
        let rest = u.split_once("://").map_or(u.as_str(), |(_, r)| r);
        format!("webcal://{rest}")
    });
    CalendarFeed {
        id: m.id,
        person_id: m.person_id,
        programme_id: m.programme_id,
        prefix: m.prefix,
        url,
        webcal_url,
        revoked_at: m.revoked_at,
        created_at: m.created_at,
        rotated_at: m.rotated_at,
    }
}

pub async fn create_feed(
    ctx: &Ctx,
    config: &Config,
    input: NewCalendarFeed,
) -> ApiResult<CalendarFeed> {
    let db = &ctx.db;
    let clock = &ctx.clock;
    let who = &ctx.who;
    match (input.person_id, input.programme_id) {
        (Some(person), None) => {
            find_records_visible(db, who, person).await?;
        }
        (None, Some(programme)) => {
            programmes::Entity::find_by_id(programme)
                .first(db)
                .await?
                .ok_or_else(|| ApiError::invalid("programme_id", "no such programme"))?;
        }
        _ => {
            return Err(ApiError::invalid(
                "person_id",
                "give exactly one of person_id and programme_id",
            ));
        }
    }
    let now = clock.now();
    let token = new_token();
    let model = calendar_feeds::ActiveModel {
        id: Set(Uuid::now_v7()),
        token_hash: Set(token_hash(&token)),
        prefix: Set(token[..12].to_owned()),
        person_id: Set(input.person_id),
        programme_id: Set(input.programme_id),
        created_by_key_id: Set(Some(who.key_id)),
        revoked_at: Set(None),
        created_at: Set(now),
        rotated_at: Set(now),
    };
    let txn = ctx.begin().await?;
    let model = model.insert(&txn).await?;
    let mut change = Change::new("calendar_feed", model.id, "create");
    change = match model.person_id {
        Some(person) => change.summary("personal feed").person(person),
        None => change.summary("programme feed"),
    };
    audit::record(&txn, change).await?;
    txn.commit().await?;
    Ok(feed_view(model, config, Some(&token)))
}

/// Feeds the caller may manage: coordinators all; others the feeds they created and feeds of
/// people in their scope.
fn feeds_of(who: &Principal) -> sea_orm::Condition {
    if who.coordinates() {
        sea_orm::Condition::all()
    } else {
        sea_orm::Condition::any()
            .add(calendar_feeds::Column::CreatedByKeyId.eq(who.key_id))
            .add(records_scope(who, calendar_feeds::Column::PersonId))
    }
}

pub async fn list_feeds(
    db: &impl ConnectionTrait,
    config: &Config,
    who: &Principal,
    page: PageRequest,
) -> ApiResult<(Vec<CalendarFeed>, Option<String>)> {
    let select = calendar_feeds::Entity::find().filter(feeds_of(who));
    fetch_page(
        db,
        select,
        calendar_feeds::Column::Id,
        page,
        |m| feed_view(m, config, None),
        |f: &CalendarFeed| f.id,
    )
    .await
}

async fn find_feed(
    db: &impl ConnectionTrait,
    who: &Principal,
    id: Uuid,
) -> ApiResult<calendar_feeds::Model> {
    calendar_feeds::Entity::find_by_id(id)
        .filter(feeds_of(who))
        .first(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Calendar feed"))
}

/// Gives a feed a new token: the old address stops working at once.
pub async fn rotate_feed(ctx: &Ctx, config: &Config, id: Uuid) -> ApiResult<CalendarFeed> {
    let clock = &ctx.clock;
    let who = &ctx.who;
    let txn = ctx.begin().await?;
    let feed = find_feed(&txn, who, id).await?;
    if feed.revoked_at.is_some() {
        return Err(ApiError::Rule {
            kind: ProblemKind::FeedRevoked,
            detail: "The feed has been revoked.".into(),
        });
    }
    let token = new_token();
    let mut model: calendar_feeds::ActiveModel = feed.into();
    model.token_hash = Set(token_hash(&token));
    model.prefix = Set(token[..12].to_owned());
    model.rotated_at = Set(clock.now());
    let saved = model.update(&txn).await?;
    audit::record(&txn, feed_change(&saved, "rotate")).await?;
    txn.commit().await?;
    Ok(feed_view(saved, config, Some(&token)))
}

fn feed_change(feed: &calendar_feeds::Model, action: &'static str) -> Change {
    let change = Change::new("calendar_feed", feed.id, action);
    match feed.person_id {
        Some(person) => change.person(person),
        None => change,
    }
}

pub async fn revoke_feed(ctx: &Ctx, config: &Config, id: Uuid) -> ApiResult<CalendarFeed> {
    let clock = &ctx.clock;
    let who = &ctx.who;
    let txn = ctx.begin().await?;
    let feed = find_feed(&txn, who, id).await?;
    if feed.revoked_at.is_some() {
        audit::record(
            &txn,
            feed_change(&feed, "revoke").summary("already revoked"),
        )
        .await?;
        txn.commit().await?;
        return Ok(feed_view(feed, config, None));
    }
    let mut model: calendar_feeds::ActiveModel = feed.into();
    model.revoked_at = Set(Some(clock.now()));
    let saved = model.update(&txn).await?;
    audit::record(&txn, feed_change(&saved, "revoke")).await?;
    txn.commit().await?;
    Ok(feed_view(saved, config, None))
}

/// The calendar behind a feed token, or 404 for an unknown or revoked token.
pub async fn feed_calendar(
    db: &impl ConnectionTrait,
    clock: &Clock,
    token: &str,
) -> ApiResult<String> {
    let not_found = || ApiError::NotFound("No calendar feed has this address.".into());
    if !token.starts_with("cal_") || token.len() > 100 {
        return Err(not_found());
    }
    let presented = token_hash(token);
    let feed = calendar_feeds::Entity::find()
        .filter(calendar_feeds::Column::TokenHash.eq(presented.as_str()))
        .filter(calendar_feeds::Column::RevokedAt.is_null())
        .first(db)
        .await?
        .ok_or_else(not_found)?;
    // Found by index; granted only by a comparison whose time does not depend on the bytes.
    if !bool::from(feed.token_hash.as_bytes().ct_eq(presented.as_bytes())) {
        return Err(not_found());
    }
    // A person's feed ends with them: once deactivated (left, or erased) it answers as revoked.
    if let Some(person) = feed.person_id
        && !entities::people::Entity::find_by_id(person)
            .first(db)
            .await?
            .is_some_and(|p| p.active)
    {
        return Err(not_found());
    }
    let now = clock.now();
    let since = now - Duration::days(FEED_HISTORY_DAYS);
    let facilitated: Vec<Uuid> = match feed.person_id {
        Some(person) => session_facilitators::Entity::find()
            .filter(session_facilitators::Column::PersonId.eq(person))
            .all(db)
            .await?
            .into_iter()
            .map(|f| f.session_id)
            .collect(),
        None => Vec::new(),
    };
    let mut given_up_per_session: std::collections::HashMap<Uuid, i32> =
        std::collections::HashMap::new();
    let (name, rows, cancelled_places): (String, Vec<sessions::Model>, Vec<Uuid>) =
        match (feed.person_id, feed.programme_id) {
            (Some(person), _) => {
                let name = people::Entity::find_by_id(person)
                    .first(db)
                    .await?
                    .map_or_else(String::new, |p| p.name);
                let places = bookings::Entity::find()
                    .filter(bookings::Column::PersonId.eq(person))
                    .filter(bookings::Column::Status.is_in([
                        BookingStatus::Confirmed,
                        BookingStatus::Attended,
                        BookingStatus::Partial,
                        BookingStatus::NoShow,
                        BookingStatus::Cancelled,
                    ]))
                    .all(db)
                    .await?;
                let cancelled: Vec<Uuid> = places
                    .iter()
                    .filter(|b| b.status == BookingStatus::Cancelled)
                    .map(|b| b.session_id)
                    .collect();
                for b in places.iter().filter(|b| given_up(b)) {
                    *given_up_per_session.entry(b.session_id).or_default() += 1;
                }
                let held: Vec<Uuid> = places
                    .iter()
                    .filter(|b| b.status != BookingStatus::Cancelled)
                    .map(|b| b.session_id)
                    .collect();
                let facilitating = facilitated.iter().copied();
                let ids: Vec<Uuid> = places
                    .iter()
                    .map(|b| b.session_id)
                    .chain(facilitating)
                    .collect();
                let rows = sessions::Entity::find()
                    .filter(sessions::Column::Id.is_in(ids))
                    .filter(sessions::Column::EndsAt.gte(since))
                    .order_by_asc(sessions::Column::StartsAt)
                    .all(db)
                    .await?;
                // A place given up shows as cancelled unless another booking or a facilitation of the
                // same session still holds it.
                let cancelled: Vec<Uuid> = cancelled
                    .into_iter()
                    .filter(|s| !held.contains(s))
                    .collect();
                (format!("Training — {name}"), rows, cancelled)
            }
            (None, Some(programme)) => {
                let name = programmes::Entity::find_by_id(programme)
                    .first(db)
                    .await?
                    .map_or_else(String::new, |p| p.name);
                let rows = sessions::Entity::find()
                    .filter(sessions::Column::ProgrammeId.eq(programme))
                    .filter(sessions::Column::EndsAt.gte(since))
                    .order_by_asc(sessions::Column::StartsAt)
                    .all(db)
                    .await?;
                (name, rows, Vec::new())
            }
            (None, None) => return Err(not_found()),
        };
    let events = events(
        db,
        &rows,
        |s| {
            let place_cancelled = cancelled_places.contains(&s.id) && !facilitated.contains(&s.id);
            let session_cancelled = s.status == SessionStatus::Cancelled;
            let sequence = attendee_sequence(
                s.revision,
                given_up_per_session.get(&s.id).copied().unwrap_or(0),
                !place_cancelled,
                session_cancelled,
            );
            (sequence, session_cancelled || place_cancelled)
        },
        None,
        None,
    )
    .await?;
    Ok(calendar_ics::render(&Calendar {
        method: Method::Publish,
        name: Some(name),
        stamp: now,
        events,
    }))
}
