//! Reference lists each partnership maintains: localities (community areas) and staff groups.
//! Both tables have the same columns, so one set of generic functions serves them.

use crate::db::FirstRow as _;
use crate::db::WriteTxn;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait,
    IntoActiveModel, QueryFilter, Value,
};
use uuid::Uuid;
use validator::Validate;

use super::validation::{FieldErrors, check_text, clean_text, ensure_free};
use crate::{
    audit::{self, Change},
    error::{ApiError, ApiResult},
    pagination::{PageRequest, fetch_page},
};

/// An entry of a reference list (a locality or a staff group).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReferenceItem {
    /// The entry's id.
    pub id: Uuid,
    /// The name, unique within its list.
    pub name: String,
    /// Inactive entries stay on existing records but are not offered for new ones.
    pub active: bool,
    /// When the entry was added.
    pub created_at: DateTime<Utc>,
    /// When the entry last changed.
    pub updated_at: DateTime<Utc>,
}

/// An entry to add to a reference list.
#[derive(Debug, Clone, Object, Validate)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct NewReferenceItem {
    /// Unique name, 1–100 characters.
    pub name: String,
}

/// Changes to a reference-list entry; omitted fields stay as they are.
#[derive(Debug, Clone, Object, Validate)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct ReferenceItemChanges {
    /// New unique name, 1–100 characters.
    pub name: Option<String>,
    /// Set false to retire the entry, true to bring it back.
    pub active: Option<bool>,
}

macro_rules! reference_model {
    ($module:ident) => {
        impl From<entities::$module::Model> for ReferenceItem {
            fn from(m: entities::$module::Model) -> Self {
                Self {
                    id: m.id,
                    name: m.name,
                    active: m.active,
                    created_at: m.created_at,
                    updated_at: m.updated_at,
                }
            }
        }
    };
}
reference_model!(localities);
reference_model!(staff_groups);

/// Which list, and how to name its entries in messages.
pub trait ReferenceList: EntityTrait
where
    Self::Model: Into<ReferenceItem> + IntoActiveModel<Self::ActiveModel>,
    Self::ActiveModel: ActiveModelTrait<Entity = Self> + ActiveModelBehavior + Send,
{
    const LABEL: &'static str;
    /// The resource name in the audit log.
    const RESOURCE: &'static str;
}

impl ReferenceList for entities::localities::Entity {
    const LABEL: &'static str = "locality";
    const RESOURCE: &'static str = "locality";
}

impl ReferenceList for entities::staff_groups::Entity {
    const LABEL: &'static str = "staff group";
    const RESOURCE: &'static str = "staff_group";
}

fn col<E: EntityTrait>(name: &str) -> E::Column {
    E::Column::from_str(name)
        .unwrap_or_else(|_| unreachable!("reference tables all have the column {name}"))
}

fn cleaned_name(name: Option<&str>, input: &impl Validate) -> ApiResult<Option<String>> {
    let name = name.map(clean_text);
    let mut errors = FieldErrors::of(input);
    if let Some(name) = &name {
        check_text(&mut errors, "name", name, 100);
    }
    errors.finish()?;
    Ok(name)
}

async fn ensure_name_free<E: ReferenceList>(
    db: &impl ConnectionTrait,
    name: &str,
    except: Option<Uuid>,
) -> ApiResult<()>
where
    E::Model: Into<ReferenceItem> + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
{
    let except = except.map(|id| (col::<E>("id"), id));
    ensure_free::<E>(db, col::<E>("name"), name, except, || {
        format!("A {} named “{name}” already exists.", E::LABEL)
    })
    .await
}

pub async fn create<E: ReferenceList>(
    db: &WriteTxn,
    input: NewReferenceItem,
    now: DateTime<Utc>,
) -> ApiResult<ReferenceItem>
where
    E::Model: Into<ReferenceItem> + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
{
    let name = cleaned_name(Some(&input.name), &input)?.unwrap_or_default();
    ensure_name_free::<E>(db, &name, None).await?;
    let mut model = E::ActiveModel::default();
    model.set(col::<E>("id"), Value::from(Uuid::now_v7()));
    model.set(col::<E>("name"), Value::from(name));
    model.set(col::<E>("active"), Value::from(true));
    model.set(col::<E>("created_at"), Value::from(now));
    model.set(col::<E>("updated_at"), Value::from(now));
    let item: ReferenceItem = model.insert(db).await?.into();
    audit::record(
        db,
        Change::new(E::RESOURCE, item.id, "create").summary(item.name.clone()),
    )
    .await?;
    Ok(item)
}

pub async fn get<E: ReferenceList>(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<ReferenceItem>
where
    E::Model: Into<ReferenceItem> + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
{
    E::find()
        .filter(col::<E>("id").eq(id))
        .first(db)
        .await?
        .map(Into::into)
        .ok_or_else(|| ApiError::NotFound(format!("No such {}.", E::LABEL)))
}

pub async fn update<E: ReferenceList>(
    db: &WriteTxn,
    id: Uuid,
    changes: ReferenceItemChanges,
    now: DateTime<Utc>,
) -> ApiResult<ReferenceItem>
where
    E::Model: Into<ReferenceItem> + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
{
    let current = E::find()
        .filter(col::<E>("id").eq(id))
        .first(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("No such {}.", E::LABEL)))?;
    let name = cleaned_name(changes.name.as_deref(), &changes)?;
    if let Some(name) = &name {
        ensure_name_free::<E>(db, name, Some(id)).await?;
    }
    let mut model = current.into_active_model();
    if let Some(name) = name {
        model.set(col::<E>("name"), Value::from(name));
    }
    if let Some(active) = changes.active {
        model.set(col::<E>("active"), Value::from(active));
    }
    model.set(col::<E>("updated_at"), Value::from(now));
    let item: ReferenceItem = model.update(db).await?.into();
    audit::record(
        db,
        Change::new(E::RESOURCE, id, "update").summary(audit::changed(&changes)),
    )
    .await?;
    Ok(item)
}

pub async fn list<E: ReferenceList>(
    db: &impl ConnectionTrait,
    active: Option<bool>,
    page: PageRequest,
) -> ApiResult<(Vec<ReferenceItem>, Option<String>)>
where
    E::Model: Into<ReferenceItem> + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
{
    let mut select = E::find();
    if let Some(active) = active {
        select = select.filter(col::<E>("active").eq(active));
    }
    fetch_page(
        db,
        select,
        col::<E>("id"),
        page,
        Into::into,
        |i: &ReferenceItem| i.id,
    )
    .await
}

/// Localities as (id, name), by name: the choices of a session search.
pub async fn locality_names(db: &impl ConnectionTrait) -> ApiResult<Vec<(Uuid, String)>> {
    use sea_orm::{EntityTrait, QueryOrder, QuerySelect};
    Ok(entities::localities::Entity::find()
        .select_only()
        .columns([
            entities::localities::Column::Id,
            entities::localities::Column::Name,
        ])
        .order_by_asc(entities::localities::Column::Name)
        .limit(500)
        .into_tuple()
        .all(db)
        .await?)
}
