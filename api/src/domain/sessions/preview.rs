//! What scheduling (or moving) a session would do, before it is done: its capacity, the places
//! held for the reserved sector and when they are released, when booking closes, and the
//! facilitators or venue already taken by another scheduled session at an overlapping time.

use super::create::check_new;
use super::*;

/// Why a session clashes with another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ConflictKind {
    /// A facilitator is facilitating the other session.
    Facilitator,
    /// The other session is at the same venue (by name, ignoring case).
    Venue,
}

/// One clash with another scheduled session.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Conflict {
    /// What is double-booked.
    pub kind: ConflictKind,
    /// The other session.
    pub session_id: Uuid,
    /// For `facilitator`: who is double-booked.
    pub person_id: Option<Uuid>,
    /// For `venue`: the venue's name.
    pub venue_name: Option<String>,
    /// When the other session's overlapping sitting starts.
    pub starts_at: DateTime<Utc>,
    /// When it ends.
    pub ends_at: DateTime<Utc>,
}

/// Places held for the reserved sector, as they would be.
#[derive(Debug, Clone, Object)]
pub struct ReservedPreview {
    /// The sector the places are held for.
    pub sector: SectorCode,
    /// How many places: the course's share of the capacity, rounded up.
    pub places: i32,
    /// When unused reserved places become general.
    pub release_at: DateTime<Utc>,
}

/// What scheduling would do. Conflicts do not stop scheduling: a coordinator may know better
/// (two rooms in one building); they are shown so nobody is double-booked by accident.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SessionPreview {
    /// Places (the course's default when none was given).
    pub capacity: i32,
    /// Places held for the course's reserved sector, if any.
    pub reserved_places: Option<ReservedPreview>,
    /// When booking would close.
    pub booking_closes_at: DateTime<Utc>,
    /// When the first sitting starts.
    pub starts_at: DateTime<Utc>,
    /// When the last sitting ends.
    pub ends_at: DateTime<Utc>,
    /// Other scheduled sessions that would clash (none is a refusal).
    pub conflicts: Vec<Conflict>,
}

/// Checks a new session as [`create`] would (the same refusals) and previews it.
pub async fn preview(
    db: &impl ConnectionTrait,
    clock: &Clock,
    input: &NewSession,
) -> ApiResult<SessionPreview> {
    let checked = check_new(db, clock, input).await?;
    let capacity = input.capacity.unwrap_or(checked.course.default_capacity);
    let starts_at = checked.parsed.starts_at();
    let reserved_places = checked.course.reserved_sector.and_then(|sector| {
        let places = reserved_places_for(capacity, checked.course.reserved_share_bp);
        (places > 0).then(|| ReservedPreview {
            sector: sector.into(),
            places,
            release_at: starts_at - Duration::days(i64::from(checked.release_days)),
        })
    });
    let conflicts = conflicts(
        db,
        &checked.parsed.0,
        &input.facilitator_ids,
        input.venue.as_ref().map(|v| v.name.as_str()),
        None,
    )
    .await?;
    Ok(SessionPreview {
        capacity,
        reserved_places,
        booking_closes_at: checked.closes,
        starts_at,
        ends_at: checked.parsed.ends_at(),
        conflicts,
    })
}

/// Scheduled sessions (other than `except`) with a sitting overlapping one of `times` that share
/// a facilitator or the venue. Two queries: candidate sessions by time (indexed by start), then
/// their sittings.
pub async fn conflicts(
    db: &impl ConnectionTrait,
    times: &[(DateTime<Utc>, DateTime<Utc>)],
    facilitators: &[Uuid],
    venue: Option<&str>,
    except: Option<Uuid>,
) -> ApiResult<Vec<Conflict>> {
    let (Some(first), Some(last)) = (
        times.iter().map(|t| t.0).min(),
        times.iter().map(|t| t.1).max(),
    ) else {
        return Ok(Vec::new());
    };
    let venue = venue
        .map(|v| clean_text(v).to_lowercase())
        .filter(|v| !v.is_empty());
    if facilitators.is_empty() && venue.is_none() {
        return Ok(Vec::new());
    }
    let mut select = sessions::Entity::find()
        .filter(sessions::Column::Status.eq(SessionStatus::Scheduled))
        .filter(sessions::Column::StartsAt.lt(last))
        .filter(sessions::Column::EndsAt.gt(first));
    if let Some(id) = except {
        select = select.filter(sessions::Column::Id.ne(id));
    }
    let candidates = select.all(db).await?;
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = candidates.iter().map(|s| s.id).collect();
    let shared: Vec<(Uuid, Uuid)> = if facilitators.is_empty() {
        Vec::new()
    } else {
        session_facilitators::Entity::find()
            .filter(session_facilitators::Column::SessionId.is_in(ids.clone()))
            .filter(session_facilitators::Column::PersonId.is_in(facilitators.iter().copied()))
            .all(db)
            .await?
            .into_iter()
            .map(|f| (f.session_id, f.person_id))
            .collect()
    };
    let same_venue: HashMap<Uuid, String> = candidates
        .iter()
        .filter_map(|s| {
            let name = s.venue_name.as_ref()?;
            (Some(name.to_lowercase()) == venue).then(|| (s.id, name.clone()))
        })
        .collect();
    if shared.is_empty() && same_venue.is_empty() {
        return Ok(Vec::new());
    }
    let their_sittings = sittings::Entity::find()
        .filter(
            sittings::Column::SessionId.is_in(
                shared
                    .iter()
                    .map(|s| s.0)
                    .chain(same_venue.keys().copied())
                    .collect::<Vec<_>>(),
            ),
        )
        .order_by_asc(sittings::Column::StartsAt)
        .all(db)
        .await?;
    let mut out = Vec::new();
    for sitting in their_sittings {
        if !times
            .iter()
            .any(|(s, e)| sitting.starts_at < *e && *s < sitting.ends_at)
        {
            continue;
        }
        for (session_id, person_id) in shared.iter().filter(|s| s.0 == sitting.session_id) {
            out.push(Conflict {
                kind: ConflictKind::Facilitator,
                session_id: *session_id,
                person_id: Some(*person_id),
                venue_name: None,
                starts_at: sitting.starts_at,
                ends_at: sitting.ends_at,
            });
        }
        if let Some(name) = same_venue.get(&sitting.session_id) {
            out.push(Conflict {
                kind: ConflictKind::Venue,
                session_id: sitting.session_id,
                person_id: None,
                venue_name: Some(name.clone()),
                starts_at: sitting.starts_at,
                ends_at: sitting.ends_at,
            });
        }
    }
    Ok(out)
}
