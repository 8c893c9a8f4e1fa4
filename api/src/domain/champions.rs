//! Champions: people who completed a champion course of a programme. Derived from completion
//! records whenever read, so the status is always correct.

use std::collections::HashMap;

use chrono::{Duration, Months, NaiveDate};
use entities::{
    completions, courses,
    enums::{CompletionSource, CourseKind, Sector},
    memberships, organisations, people,
};
use poem_openapi::{Enum, Object};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, sea_query::Query};
use uuid::Uuid;

use crate::domain::people::{members_of, produced_for};
use crate::{
    auth::Principal,
    clock::Clock,
    domain::sessions::london_today,
    error::ApiResult,
    pagination::{PageRequest, encode_cursor},
};

/// How long before the refresh date a champion shows as `refresh_due`.
pub const REFRESH_NOTICE_DAYS: i64 = 60;

/// Where a champion stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ChampionStatus {
    /// Trained, and any refresh is more than 60 days away.
    Active,
    /// The refresh date is within 60 days.
    RefreshDue,
    /// The refresh date has passed without a new completion.
    Lapsed,
}

/// A champion of a programme.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Champion {
    /// The person.
    pub person_id: Uuid,
    /// Their name.
    pub name: String,
    /// The programme they champion.
    pub programme_id: Uuid,
    /// The champion course they completed (the latest, if several).
    pub course_id: Uuid,
    /// Champion since (the date of that completion).
    pub since: NaiveDate,
    /// The session they trained in: their cohort. None for imported completions.
    pub cohort_session_id: Option<Uuid>,
    /// When a refresh is due, when the course's certificate has a validity.
    pub refresh_due_on: Option<NaiveDate>,
    pub status: ChampionStatus,
    /// Their employing organisation (primary membership).
    pub organisation_id: Option<Uuid>,
}

/// One page of champions, with counts over every match.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ChampionPage {
    /// The champions of this page.
    pub items: Vec<Champion>,
    /// The cursor of the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
    /// Champions matching the filters other than `status` (all pages).
    pub total: i32,
    /// Of those, active.
    pub active: i32,
    /// Of those, due a refresh.
    pub refresh_due: i32,
    /// Of those, lapsed.
    pub lapsed: i32,
}

/// Filters of the champion list.
#[derive(Debug, Default, Clone, Copy)]
pub struct ChampionFilter {
    pub programme_id: Option<Uuid>,
    pub organisation_id: Option<Uuid>,
    pub sector: Option<Sector>,
    pub locality_id: Option<Uuid>,
    pub staff_group_id: Option<Uuid>,
    pub status: Option<ChampionStatus>,
    /// Only champions who trained in this session (their cohort).
    pub cohort_session_id: Option<Uuid>,
    /// Only this person's records.
    pub person_id: Option<Uuid>,
}

pub fn status_on(refresh_due_on: Option<NaiveDate>, today: NaiveDate) -> ChampionStatus {
    match refresh_due_on {
        Some(due) if today > due => ChampionStatus::Lapsed,
        Some(due) if today >= due - Duration::days(REFRESH_NOTICE_DAYS) => {
            ChampionStatus::RefreshDue
        }
        _ => ChampionStatus::Active,
    }
}

/// The champion courses (of one programme, or of all), as a sub-query of course ids.
pub(crate) fn champion_courses(programme_id: Option<Uuid>) -> sea_orm::sea_query::SelectStatement {
    let mut q = Query::select();
    q.column(courses::Column::Id)
        .from(courses::Entity)
        .and_where(courses::Column::Kind.eq(CourseKind::Champion));
    if let Some(programme) = programme_id {
        q.and_where(courses::Column::ProgrammeId.eq(programme));
    }
    q.to_owned()
}

pub async fn list(
    db: &impl ConnectionTrait,
    clock: &Clock,
    who: &Principal,
    filter: ChampionFilter,
    page: PageRequest,
) -> ApiResult<ChampionPage> {
    let mut select = completions::Entity::find()
        .filter(completions::Column::CourseId.in_subquery(champion_courses(filter.programme_id)));
    select = select.filter(produced_for(
        who,
        completions::Column::OrganisationId,
        completions::Column::PersonId,
    ));
    if let Some(person) = filter.person_id {
        select = select.filter(completions::Column::PersonId.eq(person));
    }
    if let Some(org) = filter.organisation_id {
        who.require_organisation(org)?;
        select = select.filter(completions::Column::PersonId.in_subquery(members_of(org, None)));
    }
    if let Some(sector) = filter.sector {
        select = select.filter(
            completions::Column::PersonId.in_subquery(
                Query::select()
                    .column(memberships::Column::PersonId)
                    .from(memberships::Entity)
                    .and_where(memberships::Column::IsPrimary.eq(true))
                    .and_where(
                        memberships::Column::OrganisationId.in_subquery(
                            Query::select()
                                .column(organisations::Column::Id)
                                .from(organisations::Entity)
                                .and_where(organisations::Column::Sector.eq(sector))
                                .to_owned(),
                        ),
                    )
                    .to_owned(),
            ),
        );
    }
    let mut person_filter = Query::select();
    person_filter
        .column(people::Column::Id)
        .from(people::Entity);
    let mut by_person = false;
    if let Some(locality) = filter.locality_id {
        person_filter.and_where(people::Column::LocalityId.eq(locality));
        by_person = true;
    }
    if let Some(group) = filter.staff_group_id {
        person_filter.and_where(people::Column::StaffGroupId.eq(group));
        by_person = true;
    }
    if by_person {
        select = select.filter(completions::Column::PersonId.in_subquery(person_filter.to_owned()));
    }
    let rows = select.all(db).await?;

    let course_ids: Vec<Uuid> = rows.iter().map(|c| c.course_id).collect();
    let person_ids: Vec<Uuid> = rows.iter().map(|c| c.person_id).collect();
    let course_map: HashMap<Uuid, courses::Model> = courses::Entity::find()
        .filter(courses::Column::Id.is_in(course_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let names: HashMap<Uuid, String> = people::Entity::find()
        .filter(people::Column::Id.is_in(person_ids.clone()))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    let employers: HashMap<Uuid, Uuid> = memberships::Entity::find()
        .filter(memberships::Column::PersonId.is_in(person_ids))
        .filter(memberships::Column::IsPrimary.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.person_id, m.organisation_id))
        .collect();

    // One champion per person and programme: their latest champion completion.
    let mut latest: HashMap<(Uuid, Uuid), (completions::Model, &courses::Model)> = HashMap::new();
    for row in rows {
        let Some(course) = course_map.get(&row.course_id) else {
            continue;
        };
        let key = (row.person_id, course.programme_id);
        let newer = latest
            .get(&key)
            .is_none_or(|(current, _)| row.completed_on > current.completed_on);
        if newer {
            latest.insert(key, (row, course));
        }
    }
    let today = london_today(clock.now());
    let mut all: Vec<(Uuid, Champion)> = latest
        .into_values()
        .map(|(c, course)| {
            let refresh_due_on = course
                .certificate_validity_months
                .and_then(|m| c.completed_on.checked_add_months(Months::new(m as u32)));
            (
                c.id,
                Champion {
                    person_id: c.person_id,
                    name: names.get(&c.person_id).cloned().unwrap_or_default(),
                    programme_id: course.programme_id,
                    course_id: course.id,
                    since: c.completed_on,
                    cohort_session_id: c
                        .source_id
                        .filter(|_| c.source == CompletionSource::Session),
                    refresh_due_on,
                    status: status_on(refresh_due_on, today),
                    organisation_id: employers.get(&c.person_id).copied(),
                },
            )
        })
        .filter(|(_, c)| {
            filter
                .cohort_session_id
                .is_none_or(|s| c.cohort_session_id == Some(s))
        })
        .collect();
    all.sort_by_key(|(id, _)| *id);
    let count = |s: ChampionStatus| all.iter().filter(|(_, c)| c.status == s).count() as i32;
    let (active, refresh_due, lapsed) = (
        count(ChampionStatus::Active),
        count(ChampionStatus::RefreshDue),
        count(ChampionStatus::Lapsed),
    );
    let total = all.len() as i32;
    let mut page_items: Vec<(Uuid, Champion)> = all
        .into_iter()
        .filter(|(_, c)| filter.status.is_none_or(|s| c.status == s))
        .filter(|(id, _)| page.after.is_none_or(|after| *id > after))
        .take(page.limit as usize + 1)
        .collect();
    let next_cursor = if page_items.len() as u64 > page.limit {
        page_items.truncate(page.limit as usize);
        page_items.last().map(|(id, _)| encode_cursor(*id))
    } else {
        None
    };
    Ok(ChampionPage {
        items: page_items.into_iter().map(|(_, c)| c).collect(),
        next_cursor,
        total,
        active,
        refresh_due,
        lapsed,
    })
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    #[test]
    fn a_champion_is_due_for_refresh_before_the_validity_ends_then_lapses() {
        let due = NaiveDate::from_ymd_opt(2027, 6, 12).unwrap_or_default();
        let on = |d: i64| status_on(Some(due), due + Duration::days(d));
        assert_eq!(on(-REFRESH_NOTICE_DAYS - 1), ChampionStatus::Active);
        assert_eq!(on(-REFRESH_NOTICE_DAYS), ChampionStatus::RefreshDue);
        assert_eq!(on(0), ChampionStatus::RefreshDue);
        assert_eq!(on(1), ChampionStatus::Lapsed);
        assert_eq!(status_on(None, due), ChampionStatus::Active);
    }
}
