//! Reading cascade sessions: one, or a filtered page, with attendees and headcounts built in
//! one query per kind for the whole page; trainer keys reach only their own.

use super::*;

pub(super) async fn views(
    db: &impl ConnectionTrait,
    rows: Vec<cascade_sessions::Model>,
) -> ApiResult<Vec<CascadeSession>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut attendees: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for a in cascade_attendees::Entity::find()
        .filter(cascade_attendees::Column::CascadeSessionId.is_in(ids.clone()))
        .all(db)
        .await?
    {
        attendees
            .entry(a.cascade_session_id)
            .or_default()
            .push(a.person_id);
    }
    let mut counts: HashMap<Uuid, Vec<Headcount>> = HashMap::new();
    for h in cascade_headcounts::Entity::find()
        .filter(cascade_headcounts::Column::CascadeSessionId.is_in(ids))
        .all(db)
        .await?
    {
        counts
            .entry(h.cascade_session_id)
            .or_default()
            .push(Headcount {
                organisation_id: h.organisation_id,
                staff_group_id: h.staff_group_id,
                count: h.count,
            });
    }
    Ok(rows
        .into_iter()
        .map(|m| {
            let mut attendee_ids = attendees.remove(&m.id).unwrap_or_default();
            attendee_ids.sort();
            let headcounts = counts.remove(&m.id).unwrap_or_default();
            let people_reached =
                attendee_ids.len() as i32 + headcounts.iter().map(|h| h.count).sum::<i32>();
            CascadeSession {
                id: m.id,
                course_id: m.course_id,
                programme_id: m.programme_id,
                lead_trainer_id: m.lead_trainer_id,
                co_trainer_id: m.co_trainer_id,
                delivered_on: m.delivered_on,
                start: m.start_time,
                duration_minutes: m.duration_minutes,
                locality_id: m.locality_id,
                mode: m.mode.into(),
                notes: m.notes,
                attendee_ids,
                headcounts,
                people_reached,
                correctable_until: m.created_at + Duration::days(CORRECTION_DAYS),
                created_at: m.created_at,
                updated_at: m.updated_at,
            }
        })
        .collect())
}

pub(super) async fn get_in(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<CascadeSession> {
    let row = cascade_sessions::Entity::find_by_id(id)
        .first(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Cascade session"))?;
    Ok(views(db, vec![row]).await?.remove(0))
}

/// A trainer key reaches only the sessions it delivered (404 for others).
pub async fn get(
    db: &impl ConnectionTrait,
    who: &Principal,
    id: Uuid,
) -> ApiResult<CascadeSession> {
    let view = get_in(db, id).await?;
    if !who.reaches_cascade(view.lead_trainer_id, view.co_trainer_id) {
        return Err(ApiError::not_found("Cascade session"));
    }
    Ok(view)
}

/// Filters of the cascade session list.
#[derive(Debug, Default, Clone, Copy)]
pub struct CascadeFilter {
    pub programme_id: Option<Uuid>,
    pub trainer_id: Option<Uuid>,
    pub locality_id: Option<Uuid>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

pub async fn list(
    db: &impl ConnectionTrait,
    who: &Principal,
    filter: CascadeFilter,
    page: PageRequest,
) -> ApiResult<(Vec<CascadeSession>, Option<String>)> {
    let mut select = cascade_sessions::Entity::find();
    let trainer = match who.delivery_scope() {
        DeliveryScope::DeliveredBy(me) => Some(me),
        DeliveryScope::All | DeliveryScope::Nothing => None,
    };
    for person in [trainer, filter.trainer_id].into_iter().flatten() {
        select = select.filter(
            sea_orm::Condition::any()
                .add(cascade_sessions::Column::LeadTrainerId.eq(person))
                .add(cascade_sessions::Column::CoTrainerId.eq(person)),
        );
    }
    if let Some(programme) = filter.programme_id {
        select = select.filter(cascade_sessions::Column::ProgrammeId.eq(programme));
    }
    if let Some(locality) = filter.locality_id {
        select = select.filter(cascade_sessions::Column::LocalityId.eq(locality));
    }
    if let Some(from) = filter.from {
        select = select.filter(cascade_sessions::Column::DeliveredOn.gte(from));
    }
    if let Some(to) = filter.to {
        select = select.filter(cascade_sessions::Column::DeliveredOn.lte(to));
    }
    let (rows, next) = fetch_page(
        db,
        select,
        cascade_sessions::Column::Id,
        page,
        |m| m,
        |m: &cascade_sessions::Model| m.id,
    )
    .await?;
    Ok((views(db, rows).await?, next))
}
