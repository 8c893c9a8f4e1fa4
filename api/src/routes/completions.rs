use crate::ctx::Ctx;
use poem_openapi::{
    OpenApi,
    param::{Header, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{ApiTags, Created, Page};
use crate::{
    auth::{Action, ApiKey},
    domain::completions::{
        self, Completion, CompletionFilter, CompletionSourceCode, NewCompletion,
    },
    error::ApiResult,
    pagination::PageRequest,
    state::AppState,
};

pub struct CompletionsApi;

#[OpenApi(prefix_path = "/completions", tag = "ApiTags::Completions")]
impl CompletionsApi {
    /// List completion records
    ///
    /// Coordinators see all; a partner its own staff's; a learner or trainer their own.
    #[oai(path = "/", method = "get", operation_id = "list_completions")]
    async fn list(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// Only this person's.
        person_id: Query<Option<Uuid>>,
        /// Only completions of this course.
        course_id: Query<Option<Uuid>>,
        /// Only completions of this programme's courses.
        programme_id: Query<Option<Uuid>>,
        /// Only completions from this source.
        source: Query<Option<CompletionSourceCode>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<Page<Completion>>> {
        auth.0.require(Action::ReadRecords)?;
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let filter = CompletionFilter {
            person_id: person_id.0,
            course_id: course_id.0,
            programme_id: programme_id.0,
            source: source.0.map(Into::into),
        };
        Ok(Page::json(
            completions::list(&*crate::auth::reads(req, &state), &auth.0, filter, page).await?,
        ))
    }

    /// Import a completion done elsewhere
    ///
    /// Coordinators for anyone, partners for their own staff: for example MECC e-learning taken
    /// on another system. It satisfies prerequisites like any completion. Importing a course the
    /// person already completed keeps the later date.
    #[oai(path = "/", method = "post", operation_id = "import_completion")]
    async fn import(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// Any unique string: a retry with the same key and body returns the first answer.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
        body: Json<NewCompletion>,
    ) -> ApiResult<Created<Completion>> {
        auth.0.require(Action::ImportCompletions)?;
        let completion =
            completions::import(&Ctx::request(&state, &auth.0), &state.config, body.0).await?;
        let location = format!("/api/v1/completions?person_id={}", completion.person_id);
        Ok(Created::Created(Json(completion), location))
    }
}
