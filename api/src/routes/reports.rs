use chrono::NaiveDate;
use poem_openapi::{
    OpenApi,
    param::{Header, Query},
    payload::{Binary, Json},
};
use uuid::Uuid;

use super::{ApiTags, ReportResponse, certificates::PdfResponse, wants_csv};
use crate::{
    auth::{Action, ApiKey},
    domain::{
        progress_report::{self, CountLine, ProgressReport, ReservedLine, ReservedReport},
        reach::{self, ReachReport},
    },
    error::ApiResult,
    render::{board_pdf, csv},
    state::AppState,
};

pub struct ReportsApi;

pub(crate) fn progress_csv(r: &ProgressReport) -> String {
    let mut rows: Vec<Vec<String>> = r
        .targets
        .iter()
        .map(|t| {
            vec![
                t.target.clone(),
                t.name.clone(),
                t.target_value.map(|v| v.to_string()).unwrap_or_default(),
                t.actual.to_string(),
                t.forecast.to_string(),
            ]
        })
        .collect();
    let extra = |key: &str, name: &str, v: Option<i64>| {
        vec![
            key.to_owned(),
            name.to_owned(),
            String::new(),
            v.map(|v| v.to_string()).unwrap_or_default(),
            String::new(),
        ]
    };
    rows.push(extra(
        "sessions_delivered",
        "Sessions delivered",
        Some(r.sessions_delivered),
    ));
    rows.push(extra(
        "sessions_planned",
        "Sessions planned",
        Some(r.sessions_planned),
    ));
    rows.push(extra(
        "total_costs_pence",
        "Total costs (pence)",
        Some(r.total_costs_pence),
    ));
    rows.push(extra(
        "cost_per_champion_pence",
        "Cost per champion trained (pence)",
        r.cost_per_champion_pence,
    ));
    rows.push(extra(
        "cost_per_person_reached_pence",
        "Cost per person reached (pence)",
        r.cost_per_person_reached_pence,
    ));
    let breakdown = |rows: &mut Vec<Vec<String>>, dimension: &str, lines: &[CountLine]| {
        for l in lines {
            rows.push(vec![
                format!("champions_by_{dimension}:{}", l.key),
                l.name.clone(),
                String::new(),
                l.count.to_string(),
                String::new(),
            ]);
        }
    };
    breakdown(&mut rows, "sector", &r.champions_by_sector);
    breakdown(&mut rows, "locality", &r.champions_by_locality);
    breakdown(&mut rows, "staff_group", &r.champions_by_staff_group);
    csv::render(&["measure", "name", "target", "actual", "forecast"], &rows)
}

pub(crate) fn reserved_csv(r: &ReservedReport) -> String {
    let row = |l: &ReservedLine| {
        vec![
            l.session_id
                .map_or_else(|| "total".to_owned(), |id| id.to_string()),
            l.starts_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            l.capacity.to_string(),
            l.reserved_offered.to_string(),
            l.taken_by_sector.to_string(),
            l.released_to_general.to_string(),
            l.sector_places.to_string(),
            l.places_held.to_string(),
            l.share_received_bp.to_string(),
            l.sector_attended.to_string(),
            l.places_attended.to_string(),
            l.share_attended_bp.to_string(),
        ]
    };
    let mut rows: Vec<Vec<String>> = r.sessions.iter().map(row).collect();
    rows.push(row(&r.totals));
    csv::render(
        &[
            "session_id",
            "starts_at",
            "capacity",
            "reserved_offered",
            "taken_by_sector",
            "released_to_general",
            "sector_places",
            "places_held",
            "share_received_bp",
            "sector_attended",
            "places_attended",
            "share_attended_bp",
        ],
        &rows,
    )
}

#[OpenApi(prefix_path = "/reports", tag = "ApiTags::Reports")]
impl ReportsApi {
    /// Cascade reach
    ///
    /// People reached by a programme's cascade sessions (named + headcount), sessions delivered,
    /// active trainers and the reach per trainer, broken down by trainer, champion cohort,
    /// partner, sector, locality and staff group. Defaults to the current programme year
    /// (April–March). A partner key gets breakdowns for its own organisation and the programme
    /// totals.
    #[oai(path = "/reach", method = "get", operation_id = "get_reach_report")]
    async fn reach(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// The programme.
        programme_id: Query<Uuid>,
        /// First day counted (default 1 April of the current programme year).
        from: Query<Option<NaiveDate>>,
        /// Last day counted (default 31 March that ends it).
        to: Query<Option<NaiveDate>>,
    ) -> ApiResult<Json<ReachReport>> {
        auth.0.require(Action::ReadReports)?;
        Ok(Json(
            reach::report(
                &*crate::auth::reads(req, &state),
                &state.clock,
                &auth.0,
                programme_id.0,
                from.0,
                to.0,
            )
            .await?,
        ))
    }

    /// Progress against the year's targets
    ///
    /// Each target (champion sessions, champions trained, active trainers, reserved-sector
    /// share, cascade reach) with the actual to date and a forecast that adds confirmed bookings
    /// in scheduled sessions; sessions delivered and planned; champions trained by sector,
    /// locality and staff group; cost per champion trained and per person reached. Send
    /// `Accept: text/csv` for CSV.
    #[oai(
        path = "/progress",
        method = "get",
        operation_id = "get_progress_report"
    )]
    async fn progress(
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
    ) -> ApiResult<ReportResponse<ProgressReport>> {
        auth.0.require(Action::ReadReports)?;
        let report = progress_report::progress(
            &*crate::auth::reads(req, &state),
            &state.clock,
            programme_id.0,
            year.0,
        )
        .await?;
        Ok(if wants_csv(accept.0.as_deref()) {
            ReportResponse::Csv(progress_csv(&report))
        } else {
            ReportResponse::Json(report)
        })
    }

    /// The board summary as a one-page PDF
    ///
    /// Progress bars against each target, the partner table and the reserved-share figure.
    #[oai(
        path = "/progress/pdf",
        method = "get",
        operation_id = "get_progress_pdf"
    )]
    async fn progress_pdf(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// The programme.
        programme_id: Query<Uuid>,
        /// The programme year.
        year: Query<i32>,
    ) -> ApiResult<PdfResponse> {
        auth.0.require(Action::ReadReports)?;
        let board = progress_report::board(
            &*crate::auth::reads(req, &state),
            &state.clock,
            &auth.0,
            programme_id.0,
            year.0,
        )
        .await?;
        Ok(PdfResponse::Pdf(
            Binary(board_pdf::render(&board)?),
            format!("inline; filename=\"board-summary-{}.pdf\"", year.0),
        ))
    }

    /// Reserved places
    ///
    /// Per session with a ring-fence and for the year: reserved places offered, taken by the
    /// reserved sector, released to general use; the share of places the sector actually
    /// received against the target. Send `Accept: text/csv` for CSV.
    #[oai(
        path = "/reserved-places",
        method = "get",
        operation_id = "get_reserved_places_report"
    )]
    async fn reserved(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// The programme.
        programme_id: Query<Uuid>,
        /// The programme year.
        year: Query<i32>,
        /// `text/csv` for CSV; JSON otherwise.
        #[oai(name = "Accept")]
        accept: Header<Option<String>>,
    ) -> ApiResult<ReportResponse<ReservedReport>> {
        auth.0.require(Action::ReadReports)?;
        let report = progress_report::reserved_places(
            &*crate::auth::reads(req, &state),
            programme_id.0,
            year.0,
            state.clock.now(),
        )
        .await?;
        Ok(if wants_csv(accept.0.as_deref()) {
            ReportResponse::Csv(reserved_csv(&report))
        } else {
            ReportResponse::Json(report)
        })
    }
}
