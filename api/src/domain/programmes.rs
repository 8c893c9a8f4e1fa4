//! Programmes: Five to Thrive, Contextual Safeguarding, MECC, Systems Leadership, and any other
//! the partnership runs.

use crate::db::FirstRow as _;
use crate::db::WriteTxn;
use chrono::{DateTime, Utc};
use entities::programmes;
use poem_openapi::Object;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;
use validator::Validate;

use super::validation::{FieldErrors, check_code, check_text, clean_text, ensure_free};
use crate::{
    audit::{self, Change},
    error::{ApiError, ApiResult},
    pagination::{PageRequest, fetch_page},
};

/// A training programme.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Programme {
    /// The programme's id.
    pub id: Uuid,
    /// Short unique code, e.g. `five-to-thrive`.
    pub code: String,
    /// The programme's full name.
    pub name: String,
    /// What the programme is for.
    pub description: String,
    /// Inactive programmes keep their history but are not offered for new courses.
    pub active: bool,
    /// When the programme was added.
    pub created_at: DateTime<Utc>,
    /// When the programme last changed.
    pub updated_at: DateTime<Utc>,
}

/// A programme to add.
#[derive(Debug, Clone, Object, Validate)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct NewProgramme {
    /// Unique code: 2–40 lower-case letters, digits or hyphens.
    pub code: String,
    /// 1–200 characters.
    pub name: String,
    /// Up to 5,000 characters.
    #[oai(default)]
    #[validate(length(max = 5000, message = "must be at most 5000 characters"))]
    pub description: String,
}

/// Changes to a programme; omitted fields stay as they are.
#[derive(Debug, Clone, Object, Validate)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct ProgrammeChanges {
    /// New unique code: 2–40 lower-case letters, digits or hyphens.
    pub code: Option<String>,
    /// New name, 1–200 characters.
    pub name: Option<String>,
    /// New description, up to 5,000 characters.
    #[validate(length(max = 5000, message = "must be at most 5000 characters"))]
    pub description: Option<String>,
    /// Set false to retire the programme, true to bring it back.
    pub active: Option<bool>,
}

impl From<programmes::Model> for Programme {
    fn from(m: programmes::Model) -> Self {
        Self {
            id: m.id,
            code: m.code,
            name: m.name,
            description: m.description,
            active: m.active,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

async fn ensure_code_free(
    db: &impl ConnectionTrait,
    code: &str,
    except: Option<Uuid>,
) -> ApiResult<()> {
    let except = except.map(|id| (programmes::Column::Id, id));
    ensure_free::<programmes::Entity>(db, programmes::Column::Code, code, except, || {
        format!("A programme with code `{code}` already exists.")
    })
    .await
}

pub async fn create(
    db: &WriteTxn,
    input: NewProgramme,
    now: DateTime<Utc>,
) -> ApiResult<Programme> {
    let name = clean_text(&input.name);
    let mut errors = FieldErrors::of(&input);
    check_code(&mut errors, "code", &input.code);
    check_text(&mut errors, "name", &name, 200);
    errors.finish()?;
    ensure_code_free(db, &input.code, None).await?;
    let model = programmes::ActiveModel {
        id: Set(Uuid::now_v7()),
        code: Set(input.code),
        name: Set(name),
        description: Set(input.description.trim().to_owned()),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    audit::record(
        db,
        Change::new("programme", model.id, "create").summary(model.code.clone()),
    )
    .await?;
    Ok(model.into())
}

/// Loads a programme and holds its row until the transaction ends (`FOR UPDATE` on PostgreSQL;
/// SQLite's write transaction already serialises): writes that derive trainer steps for a
/// programme take this lock, so replicas never derive them twice.
pub async fn lock(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<programmes::Model> {
    programmes::Entity::find_by_id(id)
        .lock_exclusive()
        .first(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Programme"))
}

/// Every programme's id, in id order (the order their locks are taken in).
pub async fn all_ids(db: &impl ConnectionTrait) -> ApiResult<Vec<Uuid>> {
    Ok(programmes::Entity::find()
        .select_only()
        .column(programmes::Column::Id)
        .order_by_asc(programmes::Column::Id)
        .into_tuple()
        .all(db)
        .await?)
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<programmes::Model> {
    programmes::Entity::find_by_id(id)
        .first(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Programme"))
}

pub async fn update(
    db: &WriteTxn,
    id: Uuid,
    changes: ProgrammeChanges,
    now: DateTime<Utc>,
) -> ApiResult<Programme> {
    let current = find(db, id).await?;
    let summary = audit::changed(&changes);
    let name = changes.name.as_deref().map(clean_text);
    let mut errors = FieldErrors::of(&changes);
    if let Some(code) = &changes.code {
        check_code(&mut errors, "code", code);
    }
    if let Some(name) = &name {
        check_text(&mut errors, "name", name, 200);
    }
    errors.finish()?;
    if let Some(code) = &changes.code {
        ensure_code_free(db, code, Some(id)).await?;
    }
    let mut model: programmes::ActiveModel = current.into();
    if let Some(code) = changes.code {
        model.code = Set(code);
    }
    if let Some(name) = name {
        model.name = Set(name);
    }
    if let Some(description) = changes.description {
        model.description = Set(description.trim().to_owned());
    }
    if let Some(active) = changes.active {
        model.active = Set(active);
    }
    model.updated_at = Set(now);
    let saved = model.update(db).await?;
    audit::record(db, Change::new("programme", id, "update").summary(summary)).await?;
    Ok(saved.into())
}

pub async fn list(
    db: &impl ConnectionTrait,
    active: Option<bool>,
    page: PageRequest,
) -> ApiResult<(Vec<Programme>, Option<String>)> {
    let mut select = programmes::Entity::find();
    if let Some(active) = active {
        select = select.filter(programmes::Column::Active.eq(active));
    }
    fetch_page(
        db,
        select,
        programmes::Column::Id,
        page,
        Into::into,
        |p: &Programme| p.id,
    )
    .await
}

/// Programmes' names, by id, in one query (for pages that show a person's records).
pub async fn names(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = Uuid>,
) -> ApiResult<std::collections::HashMap<Uuid, String>> {
    Ok(programmes::Entity::find()
        .filter(programmes::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect())
}

/// The programme with the most sessions (the dashboards' default), in one grouped query.
pub async fn busiest(db: &impl ConnectionTrait) -> ApiResult<Option<Uuid>> {
    use sea_orm::{
        QueryOrder, QuerySelect,
        sea_query::{Expr, ExprTrait},
    };
    let row: Option<(Uuid, i64)> = entities::sessions::Entity::find()
        .select_only()
        .column(entities::sessions::Column::ProgrammeId)
        .column_as(Expr::col(entities::sessions::Column::Id).count(), "n")
        .group_by(entities::sessions::Column::ProgrammeId)
        .order_by_desc(Expr::col(sea_orm::sea_query::Alias::new("n")))
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    Ok(row.map(|r| r.0))
}
