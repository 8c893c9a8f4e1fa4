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
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    sea_query::{Alias, Expr, ExprTrait, Query},
};
use uuid::Uuid;

use crate::domain::people::{members_of, produced_for};
use crate::{
    auth::{PeopleScope, Principal},
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

/// The first completion date whose refresh date (`validity` months on) falls after `day`: the
/// refresh date only grows with the completion date, so "refresh after `day`" is a range of
/// completion dates, and a status becomes a range an index can read.
fn first_completed_refreshing_after(validity: Months, day: NaiveDate) -> NaiveDate {
    let refresh = |d: NaiveDate| d.checked_add_months(validity);
    let mut d = day
        .checked_sub_months(validity)
        .unwrap_or(NaiveDate::MIN)
        .checked_sub_days(chrono::Days::new(5))
        .unwrap_or(NaiveDate::MIN);
    while refresh(d).is_some_and(|r| r <= day) {
        d = d.succ_opt().unwrap_or(NaiveDate::MAX);
    }
    d
}

/// The completions a status covers on `today`, as a condition on completions: by course (its
/// validity) and completion date.
fn status_condition(
    status: ChampionStatus,
    courses: &[courses::Model],
    today: NaiveDate,
) -> sea_orm::Condition {
    use completions::Column as C;
    let mut any = sea_orm::Condition::any();
    for course in courses {
        let Some(months) = course.certificate_validity_months else {
            if status == ChampionStatus::Active {
                any = any.add(C::CourseId.eq(course.id));
            }
            continue;
        };
        let validity = Months::new(u32::try_from(months).unwrap_or(0));
        // Lapsed: refreshed before today. Due: not lapsed, refresh within the notice period.
        let lapsed_before =
            first_completed_refreshing_after(validity, today.pred_opt().unwrap_or(today));
        let due_before =
            first_completed_refreshing_after(validity, today + Duration::days(REFRESH_NOTICE_DAYS));
        let of_course = C::CourseId.eq(course.id);
        any = any.add(match status {
            ChampionStatus::Lapsed => of_course.and(C::CompletedOn.lt(lapsed_before)),
            ChampionStatus::RefreshDue => of_course
                .and(C::CompletedOn.gte(lapsed_before))
                .and(C::CompletedOn.lt(due_before)),
            ChampionStatus::Active => of_course.and(C::CompletedOn.gte(due_before)),
        });
    }
    any
}

/// A person's latest champion completion in each programme: no later one (by date, then id)
/// for another champion course of the same programme, among those the caller may see.
fn latest_only(who: &Principal) -> sea_orm::sea_query::SimpleExpr {
    use completions::Column as C;
    let newer = Alias::new("newer");
    let newer_course = Alias::new("newer_course");
    let mut q = Query::select();
    q.expr(Expr::val(1))
        .from_as(completions::Entity, newer.clone())
        .join_as(
            sea_orm::JoinType::InnerJoin,
            courses::Entity,
            newer_course.clone(),
            Expr::col((newer_course.clone(), courses::Column::Id))
                .equals((newer.clone(), C::CourseId)),
        )
        .and_where(
            Expr::col((newer_course.clone(), courses::Column::Kind)).eq(CourseKind::Champion),
        )
        .and_where(
            Expr::col((newer_course.clone(), courses::Column::ProgrammeId)).in_subquery(
                Query::select()
                    .column(courses::Column::ProgrammeId)
                    .from(courses::Entity)
                    .and_where(
                        Expr::col((courses::Entity, courses::Column::Id))
                            .equals((completions::Entity, C::CourseId)),
                    )
                    .to_owned(),
            ),
        )
        .and_where(
            Expr::col((newer.clone(), C::PersonId)).equals((completions::Entity, C::PersonId)),
        )
        .and_where(Expr::col((newer.clone(), C::Id)).ne(Expr::col((completions::Entity, C::Id))))
        .and_where(
            Expr::col((newer.clone(), C::CompletedOn))
                .gt(Expr::col((completions::Entity, C::CompletedOn)))
                .or(Expr::col((newer.clone(), C::CompletedOn))
                    .eq(Expr::col((completions::Entity, C::CompletedOn)))
                    .and(
                        Expr::col((newer.clone(), C::Id))
                            .gt(Expr::col((completions::Entity, C::Id))),
                    )),
        );
    match who.people_scope() {
        PeopleScope::All => {}
        PeopleScope::Organisation(org) => {
            q.and_where(Expr::col((newer.clone(), C::OrganisationId)).eq(org));
        }
        PeopleScope::Person(me) => {
            q.and_where(Expr::col((newer.clone(), C::PersonId)).eq(me));
        }
    }
    Expr::exists(q.to_owned()).not()
}

/// Champions, filtered, counted by status and paged in the database: one champion per person
/// and programme (their latest champion completion), ordered by that completion's id.
pub async fn list(
    db: &impl ConnectionTrait,
    clock: &Clock,
    who: &Principal,
    filter: ChampionFilter,
    page: PageRequest,
) -> ApiResult<ChampionPage> {
    let champion_course_list = courses::Entity::find()
        .filter(courses::Column::Id.in_subquery(champion_courses(filter.programme_id)))
        .all(db)
        .await?;
    let mut select = completions::Entity::find()
        .filter(completions::Column::CourseId.in_subquery(champion_courses(filter.programme_id)));
    select = select.filter(produced_for(
        who,
        completions::Column::OrganisationId,
        completions::Column::PersonId,
    ));
    select = select.filter(latest_only(who));
    if let Some(person) = filter.person_id {
        select = select.filter(completions::Column::PersonId.eq(person));
    }
    if let Some(org) = filter.organisation_id {
        who.require_organisation(org)?;
        select = select.filter(completions::Column::PersonId.in_subquery(members_of(org, None)));
    }
    if let Some(cohort) = filter.cohort_session_id {
        select = select
            .filter(completions::Column::Source.eq(CompletionSource::Session))
            .filter(completions::Column::SourceId.eq(cohort));
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

    let today = london_today(clock.now());
    let mut counts = [0i32; 3];
    for (n, status) in [
        ChampionStatus::Active,
        ChampionStatus::RefreshDue,
        ChampionStatus::Lapsed,
    ]
    .into_iter()
    .enumerate()
    {
        counts[n] = select
            .clone()
            .filter(status_condition(status, &champion_course_list, today))
            .count(db)
            .await? as i32;
    }
    let [active, refresh_due, lapsed] = counts;
    let mut paged = select.order_by_asc(completions::Column::Id);
    if let Some(status) = filter.status {
        paged = paged.filter(status_condition(status, &champion_course_list, today));
    }
    if let Some(after) = page.after {
        paged = paged.filter(completions::Column::Id.gt(after));
    }
    let mut rows = crate::db::limited(db, paged, page.limit + 1).await?;
    let next_cursor = if rows.len() as u64 > page.limit {
        rows.truncate(page.limit as usize);
        rows.last().map(|c| encode_cursor(c.id))
    } else {
        None
    };

    let person_ids: Vec<Uuid> = rows.iter().map(|c| c.person_id).collect();
    let course_map: HashMap<Uuid, &courses::Model> =
        champion_course_list.iter().map(|c| (c.id, c)).collect();
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
    let items = rows
        .into_iter()
        .filter_map(|c| {
            let course = course_map.get(&c.course_id)?;
            let refresh_due_on = course
                .certificate_validity_months
                .and_then(|m| c.completed_on.checked_add_months(Months::new(m as u32)));
            Some(Champion {
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
            })
        })
        .collect();
    Ok(ChampionPage {
        items,
        next_cursor,
        total: active + refresh_due + lapsed,
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
    fn a_status_is_a_range_of_completion_dates() {
        // Every completion date over two years, six-month validity, against `status_on`.
        let today = NaiveDate::from_ymd_opt(2027, 3, 31).unwrap_or_default();
        let validity = Months::new(6);
        let lapsed_before =
            first_completed_refreshing_after(validity, today.pred_opt().unwrap_or(today));
        let due_before =
            first_completed_refreshing_after(validity, today + Duration::days(REFRESH_NOTICE_DAYS));
        for back in 0..730 {
            let completed = today - Duration::days(back);
            let by_range = if completed < lapsed_before {
                ChampionStatus::Lapsed
            } else if completed < due_before {
                ChampionStatus::RefreshDue
            } else {
                ChampionStatus::Active
            };
            let due = completed.checked_add_months(validity);
            assert_eq!(by_range, status_on(due, today), "completed {completed}");
        }
    }

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
