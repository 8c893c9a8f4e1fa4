use poem_openapi::{OpenApi, param::Query, payload::Json};
use uuid::Uuid;

use super::ApiTags;
use crate::{
    auth::{Action, ApiKey},
    domain::{
        champions::{self, ChampionFilter, ChampionPage, ChampionStatus},
        organisations::SectorCode,
    },
    error::ApiResult,
    pagination::PageRequest,
    state::AppState,
};

pub struct ChampionsApi;

#[OpenApi(prefix_path = "/champions", tag = "ApiTags::Champions")]
impl ChampionsApi {
    /// List champions
    ///
    /// People who completed a champion course, one per person and programme, with their cohort,
    /// refresh date and status (`active`; `refresh_due` within 60 days of the refresh date;
    /// `lapsed` after it). The response counts every match by status. A partner sees its own
    /// staff; a learner or trainer only themselves.
    #[oai(path = "/", method = "get", operation_id = "list_champions")]
    async fn list(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// Only champions of this programme.
        programme_id: Query<Option<Uuid>>,
        /// Only people with a membership of this organisation.
        organisation_id: Query<Option<Uuid>>,
        /// Only people whose employing organisation is of this sector.
        sector: Query<Option<SectorCode>>,
        /// Only people of this locality.
        locality_id: Query<Option<Uuid>>,
        /// Only people of this staff group.
        staff_group_id: Query<Option<Uuid>>,
        /// Only champions with this status (the counts still cover every status).
        status: Query<Option<ChampionStatus>>,
        /// Only champions who trained in this session: a cohort.
        cohort_session_id: Query<Option<Uuid>>,
        /// Only this person's champion records (one per programme).
        person_id: Query<Option<Uuid>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<ChampionPage>> {
        auth.0.require(Action::ReadRecords)?;
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let filter = ChampionFilter {
            programme_id: programme_id.0,
            organisation_id: organisation_id.0,
            sector: sector.0.map(Into::into),
            locality_id: locality_id.0,
            staff_group_id: staff_group_id.0,
            status: status.0,
            cohort_session_id: cohort_session_id.0,
            person_id: person_id.0,
        };
        Ok(Json(
            champions::list(
                &*crate::auth::reads(req, &state),
                &state.clock,
                &auth.0,
                filter,
                page,
            )
            .await?,
        ))
    }
}
