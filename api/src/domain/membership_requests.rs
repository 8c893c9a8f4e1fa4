//! Membership requests: how a partner comes to share a person another organisation employs.
//!
//! A partner that adds someone already in Cascade (by REST create, staff sync or SCIM) never gains
//! them silently by email match: it gets a pending request and sees nothing of the person until
//! the person's employer (the organisation of their primary, active membership) or a coordinator
//! confirms it. Confirming creates the membership (not primary); declining, or the requester
//! withdrawing, closes the request. The requester learns the person's id only once confirmed.

use crate::ctx::Ctx;
use crate::db::FirstRow as _;
use crate::db::WriteTxn;
use crate::problem::ProblemKind;
use chrono::{DateTime, Utc};
use entities::{membership_requests, memberships, organisations, people};
use poem_openapi::{Enum, Object};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
};
use uuid::Uuid;

use super::people::{employed_now_by, employer_of};
use crate::{
    audit::{self, Change},
    auth::{PeopleScope, Principal},
    error::{ApiError, ApiResult},
    pagination::{PageRequest, fetch_page},
};

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Waiting for the person's employer or a coordinator.
    Pending,
    /// Confirmed: the organisation's membership exists.
    Confirmed,
    /// Declined by the employer or a coordinator, or withdrawn by the requester.
    Declined,
}

impl RequestStatus {
    fn code(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Declined => "declined",
        }
    }

    fn parse(code: &str) -> Self {
        match code {
            "confirmed" => Self::Confirmed,
            "declined" => Self::Declined,
            _ => Self::Pending,
        }
    }
}

/// Where a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum RequestSource {
    /// `POST /people`.
    Api,
    /// Staff sync.
    Sync,
    /// SCIM provisioning.
    Scim,
}

impl RequestSource {
    fn code(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Sync => "sync",
            Self::Scim => "scim",
        }
    }

    fn parse(code: &str) -> Self {
        match code {
            "sync" => Self::Sync,
            "scim" => Self::Scim,
            _ => Self::Api,
        }
    }
}

/// A partner's request to add a person employed by another organisation.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MembershipRequest {
    /// The request's id.
    pub id: Uuid,
    /// The organisation asking to add the person.
    pub organisation_id: Uuid,
    /// The person. Shown to the person's employer and coordinators; to the requesting partner
    /// only once the request is confirmed.
    pub person_id: Option<Uuid>,
    /// The requesting organisation's own key for the person (shown to the requester and
    /// coordinators); the membership gets it on confirmation.
    pub external_id: Option<String>,
    pub status: RequestStatus,
    pub source: RequestSource,
    /// When it was asked.
    pub created_at: DateTime<Utc>,
    /// When it was confirmed or declined.
    pub decided_at: Option<DateTime<Utc>>,
}

/// Filters of the request list.
#[derive(Debug, Default, Clone)]
pub struct RequestFilter {
    pub status: Option<RequestStatus>,
    /// Partners: `true` lists only the requests their organisation made, `false` only those
    /// waiting for them as employer.
    pub mine: Option<bool>,
}

/// A request as `who` may see it.
pub(crate) fn view(who: &Principal, m: membership_requests::Model) -> MembershipRequest {
    let status = RequestStatus::parse(&m.status);
    let (show_person, show_external) = match who.people_scope() {
        PeopleScope::All => (true, true),
        PeopleScope::Organisation(own) if own == m.organisation_id => {
            (status == RequestStatus::Confirmed, true)
        }
        _ => (true, false),
    };
    MembershipRequest {
        id: m.id,
        organisation_id: m.organisation_id,
        person_id: show_person.then_some(m.person_id),
        external_id: m.external_id.filter(|_| show_external),
        status,
        source: RequestSource::parse(&m.source),
        created_at: m.created_at,
        decided_at: m.decided_at,
    }
}

/// The requests a caller may see: coordinators all; a partner those it made and those waiting
/// for it as the person's employer.
fn visible(who: &Principal, mine: Option<bool>) -> sea_orm::Select<membership_requests::Entity> {
    let select = membership_requests::Entity::find();
    match who.people_scope() {
        PeopleScope::All => select,
        PeopleScope::Organisation(own) => {
            let made = membership_requests::Column::OrganisationId.eq(own);
            let for_me = membership_requests::Column::PersonId.in_subquery(employed_now_by(own));
            select.filter(match mine {
                Some(true) => sea_orm::Condition::all().add(made),
                Some(false) => sea_orm::Condition::all().add(for_me),
                None => sea_orm::Condition::any().add(made).add(for_me),
            })
        }
        PeopleScope::Person(_) => select.filter(membership_requests::Column::Id.eq(Uuid::nil())),
    }
}

/// Records (or finds) the pending request of `organisation_id` to add `person_id`, inside the
/// caller's transaction. A second request while one is pending returns the first.
pub(crate) async fn ask(
    db: &WriteTxn,
    who: &Principal,
    person_id: Uuid,
    organisation_id: Uuid,
    external_id: Option<String>,
    source: RequestSource,
    now: DateTime<Utc>,
) -> ApiResult<membership_requests::Model> {
    if let Some(open) = membership_requests::Entity::find()
        .filter(membership_requests::Column::PersonId.eq(person_id))
        .filter(membership_requests::Column::OrganisationId.eq(organisation_id))
        .filter(membership_requests::Column::Status.eq(RequestStatus::Pending.code()))
        .first(db)
        .await?
    {
        audit::record(
            db,
            Change::new("membership_request", open.id, "ask_again")
                .summary(format!(
                    "organisation {organisation_id} ({})",
                    source.code()
                ))
                .person(person_id),
        )
        .await?;
        return Ok(open);
    }
    let row = membership_requests::ActiveModel {
        id: Set(Uuid::now_v7()),
        person_id: Set(person_id),
        organisation_id: Set(organisation_id),
        external_id: Set(external_id),
        status: Set(RequestStatus::Pending.code().to_owned()),
        source: Set(source.code().to_owned()),
        requested_by_key_id: Set(Some(who.key_id)),
        decided_by_key_id: Set(None),
        decided_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    audit::record(
        db,
        Change::new("membership_request", row.id, "create")
            .summary(format!(
                "organisation {organisation_id} asks to add a person ({})",
                source.code()
            ))
            .person(person_id),
    )
    .await?;
    Ok(row)
}

pub async fn list(
    db: &impl ConnectionTrait,
    who: &Principal,
    filter: RequestFilter,
    page: PageRequest,
) -> ApiResult<(Vec<MembershipRequest>, Option<String>)> {
    let mut select = visible(who, filter.mine);
    if let Some(status) = filter.status {
        select = select.filter(membership_requests::Column::Status.eq(status.code()));
    }
    fetch_page(
        db,
        select,
        membership_requests::Column::Id,
        page,
        |m| view(who, m),
        |m: &MembershipRequest| m.id,
    )
    .await
}

pub async fn get(
    db: &impl ConnectionTrait,
    who: &Principal,
    id: Uuid,
) -> ApiResult<MembershipRequest> {
    let row = visible(who, None)
        .filter(membership_requests::Column::Id.eq(id))
        .first(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Membership request"))?;
    Ok(view(who, row))
}

/// How a request is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Confirm,
    Decline,
}

/// Confirms or declines a pending request. The person's employer or a coordinator decides; the
/// requesting partner may only withdraw (decline) its own request.
pub async fn decide(ctx: &Ctx, id: Uuid, decision: Decision) -> ApiResult<MembershipRequest> {
    let who = &ctx.who;
    let now = ctx.now();
    let txn = ctx.begin().await?;
    let row = visible(who, None)
        .filter(membership_requests::Column::Id.eq(id))
        .lock_exclusive()
        .first(&txn)
        .await?
        .ok_or_else(|| ApiError::not_found("Membership request"))?;
    if let PeopleScope::Organisation(own) = who.people_scope() {
        let employer = employer_of(&txn, row.person_id).await? == Some(own);
        let requester = own == row.organisation_id;
        if !(employer || (requester && decision == Decision::Decline)) {
            return Err(ApiError::Rule {
                kind: ProblemKind::NotEmployer,
                detail: "Only the person's employing organisation or a coordinator may confirm \
                         this request; the requesting partner may only withdraw it."
                    .into(),
            });
        }
    }
    if row.status != RequestStatus::Pending.code() {
        return Err(ApiError::Rule {
            kind: ProblemKind::RequestDecided,
            detail: format!("This request was already {}.", row.status),
        });
    }
    if decision == Decision::Confirm {
        let organisation = organisations::Entity::find_by_id(row.organisation_id)
            .first(&txn)
            .await?;
        let person = people::Entity::find_by_id(row.person_id)
            .first(&txn)
            .await?;
        let live =
            organisation.is_some_and(|o| o.active) && person.is_some_and(|p| p.erased_at.is_none());
        if !live {
            return Err(ApiError::Rule {
                kind: ProblemKind::RequestStale,
                detail: "The requesting organisation is inactive or the person was erased; \
                         decline the request instead."
                    .into(),
            });
        }
        let existing = memberships::Entity::find()
            .filter(memberships::Column::PersonId.eq(row.person_id))
            .filter(memberships::Column::OrganisationId.eq(row.organisation_id))
            .first(&txn)
            .await?;
        if existing.is_none() {
            // A unique violation on the external id (taken meanwhile) answers 409.
            memberships::ActiveModel {
                id: Set(Uuid::now_v7()),
                person_id: Set(row.person_id),
                organisation_id: Set(row.organisation_id),
                external_id: Set(row.external_id.clone()),
                employee_number: Set(None),
                department: Set(None),
                scim_deleted_at: Set(None),
                scim_user_name_key: Set(None),
                scim_attributes: Set(None),
                is_primary: Set(false),
                active: Set(true),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?;
            people::Entity::update_many()
                .col_expr(
                    people::Column::UpdatedAt,
                    sea_orm::sea_query::Expr::value(now),
                )
                .filter(people::Column::Id.eq(row.person_id))
                .exec(&txn)
                .await?;
        }
    }
    let status = match decision {
        Decision::Confirm => RequestStatus::Confirmed,
        Decision::Decline => RequestStatus::Declined,
    };
    let mut model: membership_requests::ActiveModel = row.clone().into();
    model.status = Set(status.code().to_owned());
    model.decided_by_key_id = Set(Some(who.key_id));
    model.decided_at = Set(Some(now));
    model.updated_at = Set(now);
    let row = model.update(&txn).await?;
    audit::record(
        &txn,
        Change::new("membership_request", row.id, status.code())
            .summary(format!("organisation {}", row.organisation_id))
            .person(row.person_id),
    )
    .await?;
    txn.commit().await?;
    Ok(view(who, row))
}
