use crate::ctx::Ctx;
use crate::versions::Precondition;
use poem_openapi::{
    OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{ApiTags, Created, Page, ReportResponse, cascades::Deleted, wants_csv};
use crate::{
    auth::{Action, ApiKey, PeopleScope},
    domain::{
        funding::{
            self, Charge, ChargeKind, Contribution, ContributionInput, Cost, NewCost, Waiver,
        },
        partners_report::{self, PartnerLine, PartnerReport},
    },
    error::ApiResult,
    pagination::PageRequest,
    render::csv,
    state::AppState,
};

fn partner_csv(report: &PartnerReport) -> String {
    let header = [
        "organisation_id",
        "name",
        "sector",
        "contribution_pence",
        "share_bp",
        "fair_share_places",
        "booked",
        "attended",
        "no_show",
        "late_cancelled",
        "used",
        "over_under",
        "charges_pence",
        "cost_consumed_pence",
        "balance_pence",
    ];
    let row = |l: &PartnerLine| {
        vec![
            l.organisation_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            l.name.clone(),
            l.sector
                .map(|s| format!("{s:?}").to_lowercase())
                .unwrap_or_default(),
            l.contribution_pence.to_string(),
            l.share_bp.to_string(),
            l.fair_share_places.to_string(),
            l.booked.to_string(),
            l.attended.to_string(),
            l.no_show.to_string(),
            l.late_cancelled.to_string(),
            l.used.to_string(),
            l.over_under.to_string(),
            l.charges_pence.to_string(),
            l.cost_consumed_pence.to_string(),
            l.balance_pence.to_string(),
        ]
    };
    let mut rows: Vec<Vec<String>> = report.partners.iter().map(row).collect();
    rows.push(row(&report.totals));
    csv::render(&header, &rows)
}

pub struct FundingApi;

#[OpenApi(tag = "ApiTags::Funding")]
impl FundingApi {
    /// List a programme year's contributions and shares
    ///
    /// Shares are in basis points by largest remainder, so they sum to 10,000. A partner key sees
    /// its own line.
    #[oai(
        path = "/programmes/:id/years/:year/contributions",
        method = "get",
        operation_id = "list_contributions"
    )]
    async fn contributions(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        /// The programme year (2026 = April 2026 to March 2027).
        year: Path<i32>,
    ) -> ApiResult<Json<Vec<Contribution>>> {
        auth.0.require(Action::ReadReports)?;
        let mut all =
            funding::list_contributions(&*crate::auth::reads(req, &state), id.0, year.0).await?;
        if let PeopleScope::Organisation(org) = auth.0.people_scope() {
            all.retain(|c| c.organisation_id == org);
        }
        Ok(Json(all))
    }

    /// Set a partner's contribution (coordinators and admins)
    ///
    /// Returns every contribution of the year with the shares recomputed.
    #[oai(
        path = "/programmes/:id/years/:year/contributions/:organisation_id",
        method = "put",
        operation_id = "put_contribution"
    )]
    async fn put_contribution(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        /// The programme year.
        year: Path<i32>,
        organisation_id: Path<Uuid>,
        body: Json<ContributionInput>,
        precondition: Precondition,
    ) -> ApiResult<Json<Vec<Contribution>>> {
        auth.0.require(Action::ManageCatalogue)?;
        precondition.refuse_unreadable()?;
        Ok(Json(
            funding::put_contribution(
                &Ctx::request(&state, &auth.0),
                id.0,
                year.0,
                organisation_id.0,
                body.0,
            )
            .await?,
        ))
    }

    /// List a programme year's costs (coordinators and admins)
    ///
    /// The year's costs (sessions, licences, venues, other) in pence, oldest first. The licence
    /// cost per champion trained is derived from the year's licence fee and reported with the
    /// funding report.
    #[oai(
        path = "/programmes/:id/years/:year/costs",
        method = "get",
        operation_id = "list_costs"
    )]
    async fn costs(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        year: Path<i32>,
    ) -> ApiResult<Json<Vec<Cost>>> {
        auth.0.require(Action::ManageCatalogue)?;
        Ok(Json(
            funding::list_costs(&*crate::auth::reads(req, &state), id.0, year.0).await?,
        ))
    }

    /// Record a cost (coordinators and admins)
    ///
    /// Trainer, venue and materials costs belong to a session of the year; other costs need a
    /// description. The licence fee per champion is set on the programme year.
    #[oai(
        path = "/programmes/:id/years/:year/costs",
        method = "post",
        operation_id = "create_cost"
    )]
    async fn create_cost(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        year: Path<i32>,
        /// Any unique string: a retry with the same key and body returns the first answer.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
        body: Json<NewCost>,
    ) -> ApiResult<Created<Cost>> {
        auth.0.require(Action::ManageCatalogue)?;
        let cost =
            funding::create_cost(&Ctx::request(&state, &auth.0), id.0, year.0, body.0).await?;
        let location = format!("/api/v1/programmes/{}/years/{}/costs", id.0, year.0);
        Ok(Created::Created(Json(cost), location))
    }

    /// Delete a cost (coordinators and admins)
    ///
    /// Removes a cost entered by mistake; the year's reports change accordingly. Recorded in the
    /// audit log.
    #[oai(
        path = "/programmes/:id/years/:year/costs/:cost_id",
        method = "delete",
        operation_id = "delete_cost"
    )]
    async fn delete_cost(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        year: Path<i32>,
        cost_id: Path<Uuid>,
    ) -> ApiResult<Deleted> {
        auth.0.require(Action::ManageCatalogue)?;
        funding::delete_cost(&Ctx::request(&state, &auth.0), id.0, year.0, cost_id.0).await?;
        Ok(Deleted::Deleted)
    }

    /// List a programme year's charges
    ///
    /// Computed from bookings, never typed in: each late cancellation and no-show of a session
    /// starting in the year, at the year's tariff for the course's length (up to 240 minutes is
    /// half a day), charged to the organisation the place was booked for; 0 when waived. A
    /// partner key sees its own.
    #[oai(
        path = "/programmes/:id/years/:year/charges",
        method = "get",
        operation_id = "list_charges"
    )]
    async fn charges(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        year: Path<i32>,
        /// Only this organisation's charges (a partner key sees only its own anyway).
        organisation_id: Query<Option<Uuid>>,
        /// Only late cancellations or only no-shows.
        kind: Query<Option<ChargeKind>>,
        /// `true`: only waived charges; `false`: only those owed.
        waived: Query<Option<bool>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<Page<Charge>>> {
        auth.0.require(Action::ReadReports)?;
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let filter = funding::ChargeFilter {
            organisation_id: organisation_id.0,
            kind: kind.0,
            waived: waived.0,
        };
        Ok(Page::json(
            funding::list_charges(
                &*crate::auth::reads(req, &state),
                &auth.0,
                id.0,
                year.0,
                filter,
                page,
            )
            .await?,
        ))
    }

    /// Waive a booking's charge (coordinators and admins)
    ///
    /// For a late cancellation or a no-show, with a recorded reason.
    #[oai(
        path = "/bookings/:id/waive-charge",
        method = "post",
        operation_id = "waive_charge"
    )]
    async fn waive(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        body: Json<Waiver>,
    ) -> ApiResult<Json<Charge>> {
        auth.0.require(Action::ManageCatalogue)?;
        Ok(Json(
            funding::waive(&Ctx::request(&state, &auth.0), id.0, body.0).await?,
        ))
    }

    /// Partner report
    ///
    /// Per partner: contribution and share; places offered, booked, attended, no-show and
    /// late-cancelled; fair share of places (share × places offered) and over- or under-use;
    /// charges; cost consumed (the year's costs apportioned by places used); balance
    /// (contribution − cost consumed − charges). Apportionments use largest remainder, so parts
    /// sum to the totals. Send `Accept: text/csv` for CSV. A partner key gets its own line and
    /// the programme totals.
    #[oai(
        path = "/reports/partners",
        method = "get",
        operation_id = "get_partner_report"
    )]
    async fn partners(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// The programme.
        programme_id: Query<Uuid>,
        /// The programme year (2026 = April 2026 to March 2027).
        year: Query<i32>,
        /// `text/csv` for CSV; JSON otherwise.
        #[oai(name = "Accept")]
        accept: Header<Option<String>>,
    ) -> ApiResult<ReportResponse<PartnerReport>> {
        auth.0.require(Action::ReadReports)?;
        let report = partners_report::report(
            &*crate::auth::reads(req, &state),
            &auth.0,
            programme_id.0,
            year.0,
        )
        .await?;
        Ok(if wants_csv(accept.0.as_deref()) {
            ReportResponse::Csv(partner_csv(&report))
        } else {
            ReportResponse::Json(report)
        })
    }
}
