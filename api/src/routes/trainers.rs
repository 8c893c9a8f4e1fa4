use crate::ctx::Ctx;
use poem_openapi::{
    OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{ApiTags, Created};
use crate::{
    auth::{Action, ApiKey},
    domain::{
        reach::{self, Lineage},
        trainers::{
            TrainerState,
            steps::{self, BatchSteps, NewStep, NewSteps},
            views::{self, TrainerPage, TrainerProgress, TrainerStep},
        },
    },
    error::ApiResult,
    pagination::PageRequest,
    state::AppState,
};

pub struct TrainersApi;

#[OpenApi(prefix_path = "/trainers", tag = "ApiTags::Trainers")]
impl TrainersApi {
    /// List a programme's trainer pipeline
    ///
    /// Everyone with a step in the programme's pipeline, with the furthest step reached, their
    /// state (`in_progress`, `accredited`, `lapsed`) computed now, and counts by state.
    #[oai(path = "/", method = "get", operation_id = "list_trainers")]
    async fn list(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// The programme.
        programme_id: Query<Uuid>,
        /// Only trainers in this state (the counts still cover every state).
        #[oai(name = "state")]
        trainer_state: Query<Option<TrainerState>>,
        /// Only people whose furthest step reached is this one (a step code of the programme's
        /// pipeline, e.g. `observed`).
        step: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<TrainerPage>> {
        auth.0.require(Action::ReadRecords)?;
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        Ok(Json(
            views::list(
                &*crate::auth::reads(req, &state),
                &state.clock,
                &auth.0,
                programme_id.0,
                trainer_state.0,
                step.0.as_deref(),
                page,
            )
            .await?,
        ))
    }

    /// Get a person's trainer progress
    ///
    /// For each programme where they have a step: where they stand and the full history.
    #[oai(path = "/:person_id", method = "get", operation_id = "get_trainer")]
    async fn get(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        person_id: Path<Uuid>,
    ) -> ApiResult<Json<Vec<TrainerProgress>>> {
        auth.0.require(Action::ReadRecords)?;
        Ok(Json(
            views::get(
                &*crate::auth::reads(req, &state),
                &state.clock,
                &auth.0,
                person_id.0,
            )
            .await?,
        ))
    }

    /// Record a progression step
    ///
    /// Steps go in pipeline order with evidence. Steps the data proves (champion, trainer course,
    /// co-delivery) are recorded automatically and refused here (`step-automatic`) unless a
    /// coordinator gives an `override_reason` (evidence from outside Cascade). Out of order:
    /// `step-out-of-order`; twice: `step-already-recorded`. A sign-off comes from a coordinator
    /// or an accredited trainer (a trainer key signs off as itself). Accreditation beyond the
    /// programme year's trainer target needs `override_reason` (`trainer-target-reached`).
    /// `renewed` renews a licence and needs 2 cascade sessions in the last 12 months, or an
    /// override reason (`renewal-needs-deliveries`).
    #[oai(
        path = "/:person_id/steps",
        method = "post",
        operation_id = "record_trainer_step"
    )]
    async fn record(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        person_id: Path<Uuid>,
        body: Json<NewStep>,
    ) -> ApiResult<Created<TrainerStep>> {
        auth.0.require(Action::RecordSteps)?;
        let step = steps::record(
            &Ctx::request(&state, &auth.0),
            &state.config,
            person_id.0,
            body.0,
        )
        .await?;
        let location = format!("/api/v1/trainers/{}", person_id.0);
        Ok(Created::Created(Json(step), location))
    }

    /// Record the same step for several people
    ///
    /// For example everyone observed at one session. Each person in turn, in the order sent,
    /// under exactly the rules (and refusals) of recording one step, each in a transaction of its
    /// own: the answer reports every person's outcome — `201` with the step, or the refusal's
    /// status with its problem (`step-out-of-order`, `trainer-target-reached`, …). 1–100 people,
    /// each once (`422 validation` otherwise).
    #[oai(
        path = "/steps",
        method = "post",
        operation_id = "record_trainer_steps"
    )]
    async fn record_many(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        body: Json<NewSteps>,
    ) -> ApiResult<Json<BatchSteps>> {
        auth.0.require(Action::RecordSteps)?;
        Ok(Json(
            steps::record_many(&Ctx::request(&state, &auth.0), &state.config, body.0).await?,
        ))
    }

    /// Trace a trainer's lineage
    ///
    /// Champion course → progression steps → cascade sessions delivered → people reached.
    #[oai(
        path = "/:person_id/lineage",
        method = "get",
        operation_id = "get_trainer_lineage"
    )]
    async fn lineage(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        person_id: Path<Uuid>,
        /// The programme.
        programme_id: Query<Uuid>,
    ) -> ApiResult<Json<Lineage>> {
        auth.0.require(Action::ReadRecords)?;
        Ok(Json(
            reach::lineage(&state.db, &auth.0, person_id.0, programme_id.0).await?,
        ))
    }
}
