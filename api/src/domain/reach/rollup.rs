//! The reach rollup (`reach_rollup`): per programme, delivery day, scope and breakdown line, the
//! cascade sessions and the people they reached. It changes in the transaction that records,
//! corrects or deletes a cascade session — what the session reached before is taken away and
//! what it reaches now is added — so the reach report reads sums over a bounded range of days
//! and lines instead of every attendance row.
//!
//! A named attendee counts against the organisation (their primary membership) and staff group
//! they had when the session was recorded or last corrected, and the organisation's sector then.
//! The whole-programme scope is the nil UUID; an organisation's scope holds only its own staff,
//! which is what a partner key's breakdowns show.

use crate::db::FirstRow as _;
use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Months, NaiveDate};
use entities::{
    cascade_attendees, cascade_headcounts, cascade_sessions, memberships, organisations, people,
    reach_rollup,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
    sea_query::{Alias, Expr, ExprTrait, Func, OnConflict, Query, SelectStatement},
};
use uuid::Uuid;

use super::sector_code;
use crate::error::ApiResult;

/// The scope of whole-programme lines.
pub const PROGRAMME: Uuid = Uuid::nil();

/// The key of a line without an organisation, staff group or locality.
pub const UNKNOWN: &str = "unknown";

/// The breakdowns kept; `total` has the one line `all`.
pub const TOTAL: &str = "total";
pub const TRAINER: &str = "trainer";
pub const PARTNER: &str = "partner";
pub const SECTOR: &str = "sector";
pub const LOCALITY: &str = "locality";
pub const STAFF_GROUP: &str = "staff_group";
/// Sessions a trainer led or co-delivered (whole programme only): what a trainer's standing
/// counts.
pub const DELIVERER: &str = "deliverer";

const DAY: &str = "day";
const MONTH: &str = "month";

/// People reached, counted in the database, by cascade session, organisation and staff group.
#[derive(Debug, FromQueryResult)]
struct Group {
    cascade_session_id: Uuid,
    organisation_id: Option<Uuid>,
    staff_group_id: Option<Uuid>,
    people: i64,
}

/// Named attendees grouped by session and the organisation and staff group they had when it
/// was recorded: one row per session, organisation and staff group, not one per attendee.
fn attendee_groups(ids: &[Uuid]) -> SelectStatement {
    use cascade_attendees::Column as A;
    Query::select()
        .column(A::CascadeSessionId)
        .column(A::OrganisationId)
        .column(A::StaffGroupId)
        .expr_as(Expr::col(A::PersonId).count(), "people")
        .from(cascade_attendees::Entity)
        .and_where(Expr::col(A::CascadeSessionId).is_in(ids.iter().copied()))
        .group_by_columns([A::CascadeSessionId, A::OrganisationId, A::StaffGroupId])
        .to_owned()
}

/// Where people are placed now: their employing (primary) organisation and staff group, in one
/// query. A named attendee's cascade row keeps these as they were when it was written.
pub async fn placed(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> ApiResult<HashMap<Uuid, (Option<Uuid>, Option<Uuid>)>> {
    let statement = Query::select()
        .column((people::Entity, people::Column::Id))
        .column((memberships::Entity, memberships::Column::OrganisationId))
        .column((people::Entity, people::Column::StaffGroupId))
        .from(people::Entity)
        .left_join(
            memberships::Entity,
            Expr::col((memberships::Entity, memberships::Column::PersonId))
                .equals((people::Entity, people::Column::Id))
                .and(Expr::col((memberships::Entity, memberships::Column::IsPrimary)).eq(true)),
        )
        .and_where(Expr::col((people::Entity, people::Column::Id)).is_in(ids.iter().copied()))
        .to_owned();
    #[derive(FromQueryResult)]
    struct Placed {
        id: Uuid,
        organisation_id: Option<Uuid>,
        staff_group_id: Option<Uuid>,
    }
    Ok(
        Placed::find_by_statement(db.get_database_backend().build(&statement))
            .all(db)
            .await?
            .into_iter()
            .map(|p| (p.id, (p.organisation_id, p.staff_group_id)))
            .collect(),
    )
}

/// Headcount rows summed by session, organisation and staff group.
fn headcount_groups(ids: &[Uuid]) -> SelectStatement {
    use cascade_headcounts::Column as H;
    Query::select()
        .column(H::CascadeSessionId)
        .column(H::OrganisationId)
        .column(H::StaffGroupId)
        .expr_as(
            Func::cast_as(Func::sum(Expr::col(H::Count)), "BIGINT"),
            "people",
        )
        .from(cascade_headcounts::Entity)
        .and_where(Expr::col(H::CascadeSessionId).is_in(ids.iter().copied()))
        .group_by_columns([H::CascadeSessionId, H::OrganisationId, H::StaffGroupId])
        .to_owned()
}

/// People reached on one set of lines: named attendees or a headcount.
struct Unit {
    organisation: Option<Uuid>,
    staff_group: Option<Uuid>,
    named: i64,
    headcount: i64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    sessions: i64,
    named: i64,
    headcount: i64,
}

/// (programme, scope, period, dimension, day, line): the primary key's order.
type Key = (Uuid, Uuid, &'static str, &'static str, NaiveDate, String);

fn month_of(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

/// What each session adds to the rollup, by row key. Keys come out sorted, so two
/// transactions touching the same rows lock them in the same order.
async fn contributions(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> ApiResult<BTreeMap<Key, Counts>> {
    let sessions = cascade_sessions::Entity::find()
        .filter(cascade_sessions::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    let backend = db.get_database_backend();
    let mut units: HashMap<Uuid, Vec<Unit>> = HashMap::new();
    for (statement, named) in [(attendee_groups(ids), true), (headcount_groups(ids), false)] {
        for g in Group::find_by_statement(backend.build(&statement))
            .all(db)
            .await?
        {
            units.entry(g.cascade_session_id).or_default().push(Unit {
                organisation: g.organisation_id,
                staff_group: g.staff_group_id,
                named: if named { g.people } else { 0 },
                headcount: if named { 0 } else { g.people },
            });
        }
    }
    let mut orgs: Vec<Uuid> = units
        .values()
        .flatten()
        .filter_map(|u| u.organisation)
        .collect();
    orgs.sort();
    orgs.dedup();
    let sectors: HashMap<Uuid, &'static str> = organisations::Entity::find()
        .select_only()
        .column(organisations::Column::Id)
        .column(organisations::Column::Sector)
        .filter(organisations::Column::Id.is_in(orgs))
        .into_tuple::<(Uuid, entities::enums::Sector)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(id, sector)| (id, sector_code(sector)))
        .collect();

    let mut out: BTreeMap<Key, Counts> = BTreeMap::new();
    let none = Vec::new();
    for s in &sessions {
        let units = units.get(&s.id).unwrap_or(&none);
        // This session's lines; it counts once on each line it reached someone on.
        let mut lines: BTreeMap<(Uuid, &'static str, String), (i64, i64)> = BTreeMap::new();
        lines.insert(
            (PROGRAMME, TOTAL, "all".to_owned()),
            (
                units.iter().map(|u| u.named).sum(),
                units.iter().map(|u| u.headcount).sum(),
            ),
        );
        let key = |id: Option<Uuid>| id.map_or_else(|| UNKNOWN.to_owned(), |id| id.to_string());
        for u in units {
            let sector = u
                .organisation
                .and_then(|o| sectors.get(&o))
                .map_or(UNKNOWN, |s| *s);
            for scope in [Some(PROGRAMME), u.organisation].into_iter().flatten() {
                for (dimension, line) in [
                    (TRAINER, s.lead_trainer_id.to_string()),
                    (PARTNER, key(u.organisation)),
                    (SECTOR, sector.to_owned()),
                    (LOCALITY, key(s.locality_id)),
                    (STAFF_GROUP, key(u.staff_group)),
                ] {
                    let l = lines.entry((scope, dimension, line)).or_default();
                    l.0 += u.named;
                    l.1 += u.headcount;
                }
            }
        }
        for trainer in [Some(s.lead_trainer_id), s.co_trainer_id]
            .into_iter()
            .flatten()
        {
            lines.insert((PROGRAMME, DELIVERER, trainer.to_string()), (0, 0));
        }
        for ((scope, dimension, line), (named, headcount)) in lines {
            for (period, on) in [(DAY, s.delivered_on), (MONTH, month_of(s.delivered_on))] {
                let c = out
                    .entry((s.programme_id, scope, period, dimension, on, line.clone()))
                    .or_default();
                c.sessions += 1;
                c.named += named;
                c.headcount += headcount;
            }
        }
    }
    Ok(out)
}

/// Adds (`sign` 1) or takes away (`sign` -1) what the given cascade sessions reach, as their
/// rows stand now. Called before a correction or deletion changes the rows (-1) and after a
/// recording or correction has written them (+1), in the same transaction.
pub async fn apply(db: &impl ConnectionTrait, ids: &[Uuid], sign: i64) -> ApiResult<()> {
    for chunk in ids.chunks(500) {
        let rows = contributions(db, chunk).await?;
        write(db, rows, sign).await?;
    }
    Ok(())
}

async fn write(db: &impl ConnectionTrait, rows: BTreeMap<Key, Counts>, sign: i64) -> ApiResult<()> {
    use reach_rollup::Column as C;
    let rows: Vec<(Key, Counts)> = rows.into_iter().collect();
    for chunk in rows.chunks(400) {
        let models = chunk
            .iter()
            .map(|((programme, scope, period, dimension, on, line), c)| {
                reach_rollup::ActiveModel {
                    programme_id: Set(*programme),
                    scope: Set(*scope),
                    period: Set((*period).to_owned()),
                    delivered_on: Set(*on),
                    dimension: Set((*dimension).to_owned()),
                    line: Set(line.clone()),
                    cascade_sessions: Set(sign * c.sessions),
                    named: Set(sign * c.named),
                    headcount: Set(sign * c.headcount),
                }
            });
        let mut conflict = OnConflict::columns([
            C::ProgrammeId,
            C::Scope,
            C::Period,
            C::Dimension,
            C::DeliveredOn,
            C::Line,
        ]);
        for col in [C::CascadeSessions, C::Named, C::Headcount] {
            conflict.value(
                col,
                Expr::col((reach_rollup::Entity, col))
                    .add(Expr::col((Alias::new("excluded"), col))),
            );
        }
        reach_rollup::Entity::insert_many(models)
            .on_conflict(conflict)
            .exec(db)
            .await?;
    }
    Ok(())
}

/// One line of the rollup summed over a range of days.
#[derive(Debug, FromQueryResult)]
pub struct Line {
    pub dimension: String,
    pub line: String,
    pub cascade_sessions: i64,
    pub named: i64,
    pub headcount: i64,
}

/// The periods that cover the days `from..=to`: month rows for the whole months, day rows for
/// a part-month at either end.
fn spans(from: NaiveDate, to: NaiveDate) -> Vec<(&'static str, NaiveDate, NaiveDate)> {
    let first_whole = if from.day() == 1 {
        from
    } else {
        month_of(from)
            .checked_add_months(Months::new(1))
            .unwrap_or(from)
    };
    let after_last_whole = if to.succ_opt().is_some_and(|next| next.day() == 1) {
        to.succ_opt().unwrap_or(to)
    } else {
        month_of(to)
    };
    if first_whole >= after_last_whole {
        return vec![(DAY, from, to)];
    }
    let mut out = Vec::new();
    if from < first_whole {
        out.push((DAY, from, first_whole.pred_opt().unwrap_or(first_whole)));
    }
    out.push((
        MONTH,
        first_whole,
        after_last_whole
            .pred_opt()
            .map_or(after_last_whole, month_of),
    ));
    if after_last_whole <= to {
        out.push((DAY, after_last_whole, to));
    }
    out
}

/// The lines of a scope over the days `from..=to`, summed in the database over at most three
/// ranges of the primary key per dimension.
pub async fn lines(
    db: &impl ConnectionTrait,
    programme_id: Uuid,
    scope: Uuid,
    from: NaiveDate,
    to: NaiveDate,
    dimensions: &[&str],
) -> ApiResult<Vec<Line>> {
    use reach_rollup::Column as C;
    let sum = |c: C| Func::cast_as(Func::sum(Expr::col(c)), "BIGINT");
    let mut merged: BTreeMap<(String, String), Line> = BTreeMap::new();
    for (period, first, last) in spans(from, to) {
        let statement = Query::select()
            .column(C::Dimension)
            .column(C::Line)
            .expr_as(sum(C::CascadeSessions), "cascade_sessions")
            .expr_as(sum(C::Named), "named")
            .expr_as(sum(C::Headcount), "headcount")
            .from(reach_rollup::Entity)
            .and_where(Expr::col(C::ProgrammeId).eq(programme_id))
            .and_where(Expr::col(C::Scope).eq(scope))
            .and_where(Expr::col(C::Period).eq(period))
            .and_where(Expr::col(C::Dimension).is_in(dimensions.iter().copied()))
            .and_where(Expr::col(C::DeliveredOn).gte(first))
            .and_where(Expr::col(C::DeliveredOn).lte(last))
            .group_by_columns([C::Dimension, C::Line])
            .to_owned();
        for l in Line::find_by_statement(db.get_database_backend().build(&statement))
            .all(db)
            .await?
        {
            let m = merged
                .entry((l.dimension.clone(), l.line.clone()))
                .or_insert(Line {
                    cascade_sessions: 0,
                    named: 0,
                    headcount: 0,
                    ..l
                });
            m.cascade_sessions += l.cascade_sessions;
            m.named += l.named;
            m.headcount += l.headcount;
        }
    }
    Ok(merged
        .into_values()
        .filter(|l| l.cascade_sessions > 0)
        .collect())
}

/// Fills an empty rollup from the attendance tables (a database that had cascade sessions before
/// the rollup existed). On PostgreSQL the table is locked first, so two replicas starting
/// together fill it once.
pub async fn fill_if_empty(db: &sea_orm::DatabaseConnection) -> ApiResult<()> {
    use sea_orm::TransactionTrait;
    let txn = db.begin().await?;
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "LOCK TABLE reach_rollup IN EXCLUSIVE MODE",
        ))
        .await?;
    }
    let filled = reach_rollup::Entity::find().first(&txn).await?.is_some();
    if !filled {
        let mut after: Option<Uuid> = None;
        loop {
            let mut page = cascade_sessions::Entity::find()
                .select_only()
                .column(cascade_sessions::Column::Id)
                .order_by_asc(cascade_sessions::Column::Id)
                .limit(500);
            if let Some(after) = after {
                page = page.filter(cascade_sessions::Column::Id.gt(after));
            }
            let ids: Vec<Uuid> = page.into_tuple().all(&txn).await?;
            let Some(last) = ids.last() else { break };
            after = Some(*last);
            apply(&txn, &ids, 1).await?;
        }
    }
    txn.commit().await?;
    Ok(())
}

/// The cascade sessions that reached an organisation's staff (named or by headcount).
pub async fn reaching(db: &impl ConnectionTrait, organisation_id: Uuid) -> ApiResult<Vec<Uuid>> {
    let mut ids: Vec<Uuid> = cascade_attendees::Entity::find()
        .select_only()
        .column(cascade_attendees::Column::CascadeSessionId)
        .filter(cascade_attendees::Column::OrganisationId.eq(organisation_id))
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    ids.extend(
        cascade_headcounts::Entity::find()
            .select_only()
            .column(cascade_headcounts::Column::CascadeSessionId)
            .filter(cascade_headcounts::Column::OrganisationId.eq(organisation_id))
            .distinct()
            .into_tuple::<Uuid>()
            .all(db)
            .await?,
    );
    ids.sort();
    ids.dedup();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn a_range_reads_whole_months_from_month_rows_and_the_ends_from_day_rows() {
        // The programme year: twelve whole months.
        assert_eq!(
            spans(day("2026-04-01"), day("2027-03-31")),
            vec![(MONTH, day("2026-04-01"), day("2027-03-01"))]
        );
        // Part-months at both ends.
        assert_eq!(
            spans(day("2026-04-15"), day("2026-07-10")),
            vec![
                (DAY, day("2026-04-15"), day("2026-04-30")),
                (MONTH, day("2026-05-01"), day("2026-06-01")),
                (DAY, day("2026-07-01"), day("2026-07-10")),
            ]
        );
        // Inside one month, or across two part-months: days only.
        assert_eq!(
            spans(day("2026-02-03"), day("2026-02-20")),
            vec![(DAY, day("2026-02-03"), day("2026-02-20"))]
        );
        assert_eq!(
            spans(day("2026-01-20"), day("2026-02-10")),
            vec![(DAY, day("2026-01-20"), day("2026-02-10"))]
        );
        // A whole month ending on the 28th of February.
        assert_eq!(
            spans(day("2026-02-01"), day("2026-02-28")),
            vec![(MONTH, day("2026-02-01"), day("2026-02-01"))]
        );
    }
}
