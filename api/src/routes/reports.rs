use chrono::NaiveDate;
use poem_openapi::{OpenApi, param::Query, payload::Json};
use uuid::Uuid;

use super::ApiTags;
use crate::{
    auth::{Action, ApiKey},
    domain::reach::{self, ReachReport},
    error::ApiResult,
    state::AppState,
};

pub struct ReportsApi;

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
                &state.db,
                &state.clock,
                &auth.0,
                programme_id.0,
                from.0,
                to.0,
            )
            .await?,
        ))
    }
}
