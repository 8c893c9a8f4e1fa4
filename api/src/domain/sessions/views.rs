//! Reading sessions: one, or a filtered page, each with its sittings, facilitators and
//! availability: two queries whatever the page's size (the rows, then what they hold), or on
//! SQLite one for a listed page ([`list`]).

use super::*;
use crate::pagination::page_cursor;
use sea_orm::{
    DbBackend, FromQueryResult, QueryTrait,
    sea_query::{DynIden, IntoIden, Query, UnionType},
};

/// Reads a session. Settles a reserved-place release that has come due first, so the waitlist is
/// offered the released places as soon as anyone looks.
/// A session as it stands once any reserved-place release that is due has been settled, with
/// the version it was read at.
pub async fn get_settled(
    db: &DatabaseConnection,
    clock: &Clock,
    id: Uuid,
) -> ApiResult<(Session, Option<i64>)> {
    waitlist::settle_release_if_due(&Ctx::system(db, clock), id).await?;
    let version = crate::versions::version(db, crate::versions::Resource::Session(id)).await?;
    Ok((get(db, clock, id).await?, version))
}

pub async fn get(db: &impl ConnectionTrait, clock: &Clock, id: Uuid) -> ApiResult<Session> {
    let model = sessions::Entity::find_by_id(id)
        .first(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Session"))?;
    Ok(views(db, clock, vec![model]).await?.remove(0))
}

/// Today's date in Europe/London.
pub fn london_today(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&London).date_naive()
}

pub(super) fn local(t: DateTime<Utc>) -> (NaiveDate, String) {
    let l = t.with_timezone(&London);
    (l.date_naive(), l.format("%H:%M").to_string())
}

/// What a session view holds beside the session's own row.
#[derive(Default)]
struct Related {
    sittings: HashMap<Uuid, Vec<Sitting>>,
    facilitators: HashMap<Uuid, Vec<Uuid>>,
    audiences: HashMap<Uuid, Vec<Uuid>>,
}

/// The sittings, facilitators and audiences of `ids` in one statement (`UNION ALL` of the three
/// tables, each row tagged with its kind), so a page costs two queries whatever its size.
async fn related(db: &impl ConnectionTrait, ids: Vec<Uuid>) -> ApiResult<Related> {
    const SITTING: i32 = 0;
    const FACILITATOR: i32 = 1;
    const AUDIENCE: i32 = 2;
    let none_id = || Expr::val(None::<Uuid>);
    let none_at = || Expr::val(None::<DateTime<Utc>>);
    let tagged = |kind: i32, table: DynIden, session: DynIden, other: DynIden| {
        Query::select()
            .expr_as(Expr::val(kind), "kind")
            .expr_as(Expr::col(session.clone()), "session_id")
            .expr_as(Expr::val(None::<i32>), "position")
            .expr_as(none_at(), "starts_at")
            .expr_as(none_at(), "ends_at")
            .expr_as(Expr::col(other), "other_id")
            .from(table)
            .and_where(Expr::col(session).is_in(ids.clone()))
            .to_owned()
    };
    let query = Query::select()
        .expr_as(Expr::val(SITTING), "kind")
        .column(sittings::Column::SessionId)
        .column(sittings::Column::Position)
        .column(sittings::Column::StartsAt)
        .column(sittings::Column::EndsAt)
        .expr_as(none_id(), "other_id")
        .from(sittings::Entity)
        .and_where(sittings::Column::SessionId.is_in(ids.clone()))
        .union(
            UnionType::All,
            tagged(
                FACILITATOR,
                session_facilitators::Entity.into_iden(),
                session_facilitators::Column::SessionId.into_iden(),
                session_facilitators::Column::PersonId.into_iden(),
            ),
        )
        .union(
            UnionType::All,
            tagged(
                AUDIENCE,
                session_audiences::Entity.into_iden(),
                session_audiences::Column::SessionId.into_iden(),
                session_audiences::Column::StaffGroupId.into_iden(),
            ),
        )
        .to_owned();
    let mut out = Related::default();
    for row in db.query_all(&query).await? {
        let session: Uuid = row.try_get("", "session_id")?;
        match row.try_get::<i32>("", "kind")? {
            SITTING => out.add_sitting(
                session,
                row.try_get("", "position")?,
                row.try_get("", "starts_at")?,
                row.try_get("", "ends_at")?,
            ),
            FACILITATOR => out
                .facilitators
                .entry(session)
                .or_default()
                .push(row.try_get("", "other_id")?),
            _ => out
                .audiences
                .entry(session)
                .or_default()
                .push(row.try_get("", "other_id")?),
        }
    }
    Ok(out.sorted())
}

impl Related {
    fn add_sitting(
        &mut self,
        session: Uuid,
        position: i32,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    ) {
        let (date, start) = local(starts_at);
        let (_, end) = local(ends_at);
        self.sittings.entry(session).or_default().push(Sitting {
            position,
            date,
            start,
            end,
            starts_at,
            ends_at,
        });
    }

    /// Sittings in order of position.
    fn sorted(mut self) -> Self {
        for sittings in self.sittings.values_mut() {
            sittings.sort_by_key(|s| s.position);
        }
        self
    }
}

/// Builds session views for a page of rows: the rows, and one query for what they hold.
pub(crate) async fn views(
    db: &impl ConnectionTrait,
    clock: &Clock,
    rows: Vec<sessions::Model>,
) -> ApiResult<Vec<Session>> {
    let related = related(db, rows.iter().map(|s| s.id).collect()).await?;
    Ok(assemble(clock, rows, related))
}

/// Session views of `rows` with what they hold.
fn assemble(clock: &Clock, rows: Vec<sessions::Model>, related: Related) -> Vec<Session> {
    let Related {
        sittings: mut sittings_by,
        mut facilitators,
        mut audiences,
    } = related;
    let now = clock.now();
    rows.into_iter()
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
        .collect()
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
    /// Only sessions this person facilitates.
    pub facilitator_id: Option<Uuid>,
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
    if let Some(person) = filter.facilitator_id {
        select = select.filter(
            sessions::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(session_facilitators::Column::SessionId)
                    .from(session_facilitators::Entity)
                    .and_where(session_facilitators::Column::PersonId.eq(person))
                    .to_owned(),
            ),
        );
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
    if db.get_database_backend() == DbBackend::Sqlite {
        return list_sqlite(db, clock, select, page).await;
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

/// [`list`] on SQLite: one statement instead of two. Each session row carries its sittings,
/// facilitators and audience as text (`group_concat` in correlated sub-queries, each a search
/// of its table's index on the session), read back into what [`related`] would have read: a
/// statement fewer is a hand-off to the connection's thread and back fewer on every page.
async fn list_sqlite(
    db: &impl ConnectionTrait,
    clock: &Clock,
    select: sea_orm::Select<sessions::Entity>,
    page: PageRequest,
) -> ApiResult<(Vec<Session>, Option<String>)> {
    let mut select = select
        .order_by_asc(sessions::Column::Id)
        .expr_as(
            Expr::cust(
                "(SELECT group_concat(position || ' ' || starts_at || ' ' || ends_at, ',') \
                 FROM sittings WHERE sittings.session_id = sessions.id)",
            ),
            "sittings#",
        )
        .expr_as(
            Expr::cust(
                "(SELECT group_concat(hex(person_id), ',') FROM session_facilitators \
                 WHERE session_facilitators.session_id = sessions.id)",
            ),
            "facilitators#",
        )
        .expr_as(
            Expr::cust(
                "(SELECT group_concat(hex(staff_group_id), ',') FROM session_audiences \
                 WHERE session_audiences.session_id = sessions.id)",
            ),
            "audiences#",
        );
    if let Some(after) = page.after {
        select = select.filter(sessions::Column::Id.gt(after));
    }
    let stmt = crate::db::sqlite_literal_limits(
        DbBackend::Sqlite.build(QueryTrait::as_query(&select.limit(page.limit + 1))),
    );
    let (mut rows, mut related) = (Vec::new(), Related::default());
    for row in db.query_all_raw(stmt).await? {
        let model = sessions::Model::from_query_result(&row, "")?;
        let text = |column: &str| -> ApiResult<String> {
            Ok(row
                .try_get::<Option<String>>("", column)?
                .unwrap_or_default())
        };
        let bad =
            |what: &str| ApiError::Internal(anyhow::anyhow!("unreadable {what} of a session row"));
        let ids = |list: String| -> ApiResult<Vec<Uuid>> {
            list.split(',')
                .filter(|s| !s.is_empty())
                .map(|hex| Uuid::parse_str(hex).map_err(|_| bad("id")))
                .collect()
        };
        for sitting in text("sittings#")?.split(',').filter(|s| !s.is_empty()) {
            let mut parts = sitting.split(' ');
            let mut next = || parts.next().ok_or_else(|| bad("sitting"));
            let position: i32 = next()?.parse().map_err(|_| bad("sitting"))?;
            let instant = |s: &str| {
                DateTime::parse_from_rfc3339(s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| bad("sitting"))
            };
            let (starts_at, ends_at) = (instant(next()?)?, instant(next()?)?);
            related.add_sitting(model.id, position, starts_at, ends_at);
        }
        related
            .facilitators
            .insert(model.id, ids(text("facilitators#")?)?);
        related
            .audiences
            .insert(model.id, ids(text("audiences#")?)?);
        rows.push(model);
    }
    let next = page_cursor(&mut rows, page.limit, |m| m.id);
    Ok((assemble(clock, rows, related.sorted()), next))
}

/// Sessions by id, with one query per related table whatever their number.
pub async fn by_ids(
    db: &impl ConnectionTrait,
    clock: &Clock,
    ids: Vec<Uuid>,
) -> ApiResult<Vec<Session>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sessions::Entity::find()
        .filter(sessions::Column::Id.is_in(ids))
        .all(db)
        .await?;
    views(db, clock, rows).await
}
