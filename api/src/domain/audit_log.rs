//! Reading the audit log (written by [`crate::audit::record`]).

use chrono::{DateTime, Utc};
use entities::audit_log;
use poem_openapi::Object;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::{
    error::{ApiError, ApiResult},
    pagination::{PageRequest, fetch_page},
};

/// One write, as the audit log recorded it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AuditEntry {
    /// The entry's id (time-ordered).
    pub id: Uuid,
    /// When the write was made.
    pub at: DateTime<Utc>,
    /// The API key that made it; absent for scheduled work and the command line.
    pub key_id: Option<Uuid>,
    /// The role that made it: `admin`, `coordinator`, `partner`, `trainer`, `learner`, `system`
    /// (scheduled work) or `cli` (the `cascade` command).
    pub role: String,
    /// What was changed, e.g. `person`, `booking`, `session`, `api_key`.
    pub resource: String,
    /// The id of what was changed.
    pub resource_id: Option<Uuid>,
    /// E.g. `create`, `update`, `cancel`, `revoke`, `erase`.
    pub action: String,
    /// What changed, without personal details (field names, statuses, counts).
    pub summary: String,
    /// The person the change concerns, when there is one.
    pub person_id: Option<Uuid>,
}

impl From<audit_log::Model> for AuditEntry {
    fn from(m: audit_log::Model) -> Self {
        Self {
            id: m.id,
            at: m.at,
            key_id: m.key_id,
            role: m.role,
            resource: m.resource,
            resource_id: m.resource_id,
            action: m.action,
            summary: m.summary,
            person_id: m.person_id,
        }
    }
}

/// Filters of the audit log; each is served by an index.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub resource: Option<String>,
    pub resource_id: Option<Uuid>,
    pub action: Option<String>,
    pub key_id: Option<Uuid>,
    pub person_id: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// The log in the order it was written, oldest first.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: AuditFilter,
    page: PageRequest,
) -> ApiResult<(Vec<AuditEntry>, Option<String>)> {
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from > to
    {
        return Err(ApiError::invalid("from", "must not be after `to`"));
    }
    let mut select = audit_log::Entity::find();
    if let Some(resource) = filter.resource {
        select = select.filter(audit_log::Column::Resource.eq(resource));
    }
    if let Some(id) = filter.resource_id {
        select = select.filter(audit_log::Column::ResourceId.eq(id));
    }
    if let Some(action) = filter.action {
        select = select.filter(audit_log::Column::Action.eq(action));
    }
    if let Some(key) = filter.key_id {
        select = select.filter(audit_log::Column::KeyId.eq(key));
    }
    if let Some(person) = filter.person_id {
        select = select.filter(audit_log::Column::PersonId.eq(person));
    }
    if let Some(from) = filter.from {
        select = select.filter(audit_log::Column::At.gte(from));
    }
    if let Some(to) = filter.to {
        select = select.filter(audit_log::Column::At.lt(to));
    }
    fetch_page(
        db,
        select,
        audit_log::Column::Id,
        page,
        Into::into,
        |e: &AuditEntry| e.id,
    )
    .await
}

/// Everything the log holds about one person (for their export).
pub async fn of_person(db: &impl ConnectionTrait, person_id: Uuid) -> ApiResult<Vec<AuditEntry>> {
    Ok(audit_log::Entity::find()
        .filter(audit_log::Column::PersonId.eq(person_id))
        .all(db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}
