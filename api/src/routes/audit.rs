use chrono::{DateTime, Utc};
use poem_openapi::{OpenApi, param::Query, payload::Json};
use uuid::Uuid;

use super::{ApiTags, Page};
use crate::{
    auth::{Action, ApiKey},
    domain::audit_log::{self, AuditEntry, AuditFilter},
    error::ApiResult,
    pagination::PageRequest,
    state::AppState,
};

pub struct AuditApi;

#[OpenApi(prefix_path = "/audit", tag = "ApiTags::Audit")]
impl AuditApi {
    /// Read the audit log (admins and coordinators)
    ///
    /// Every write through the API, SCIM, the command line and scheduled work, recorded in the
    /// same transaction as the write: who (the key and its role), what (resource, id, action),
    /// when, and a summary of the change without personal details (field names, statuses,
    /// counts). Oldest first. Every filter is indexed.
    #[oai(path = "/", method = "get", operation_id = "list_audit")]
    async fn list(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// Only changes to this kind of resource, e.g. `person`, `booking`, `session`.
        resource: Query<Option<String>>,
        /// Only changes to this resource.
        resource_id: Query<Option<Uuid>>,
        /// Only this action, e.g. `create`, `cancel`, `erase`.
        action: Query<Option<String>>,
        /// Only changes made with this API key.
        key_id: Query<Option<Uuid>>,
        /// Only changes concerning this person.
        person_id: Query<Option<Uuid>>,
        /// Only changes made at or after this instant (RFC 3339).
        from: Query<Option<DateTime<Utc>>>,
        /// Only changes made before this instant (RFC 3339).
        to: Query<Option<DateTime<Utc>>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<Page<AuditEntry>>> {
        auth.0.require(Action::ReadAudit)?;
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let filter = AuditFilter {
            resource: resource.0,
            resource_id: resource_id.0,
            action: action.0,
            key_id: key_id.0,
            person_id: person_id.0,
            from: from.0,
            to: to.0,
        };
        Ok(Page::json(
            audit_log::list(&*crate::auth::reads(req, &state), filter, page).await?,
        ))
    }
}
