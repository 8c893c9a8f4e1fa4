//! Partner organisations of the partnership.

use crate::db::FirstRow as _;
use crate::db::WriteTxn;
use chrono::{DateTime, Utc};
use entities::{enums::Sector, organisations};
use poem_openapi::{Enum, Object};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;
use validator::Validate;

use super::{
    programmes,
    reach::rollup,
    validation::{FieldErrors, check_text, clean_text, ensure_free},
};
use crate::{
    audit::{self, Change},
    error::{ApiError, ApiResult},
    pagination::{PageRequest, fetch_page},
};

/// The sector a partner belongs to. Reserved places and reports are expressed per sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(remote = "entities::enums::Sector", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum SectorCode {
    Council,
    Health,
    Police,
    School,
    Voluntary,
    Other,
}

/// A partner organisation.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Organisation {
    /// The organisation's id.
    pub id: Uuid,
    /// The organisation's name, unique in the partnership.
    pub name: String,
    pub sector: SectorCode,
    /// Whether the organisation contributes funding to the training programmes.
    pub funding_partner: bool,
    /// Inactive organisations stay in records and reports but take no new bookings.
    pub active: bool,
    /// When the organisation was added.
    pub created_at: DateTime<Utc>,
    /// When the organisation last changed.
    pub updated_at: DateTime<Utc>,
}

/// A partner organisation to add.
#[derive(Debug, Clone, Object, Validate)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct NewOrganisation {
    /// Unique name, 1–200 characters.
    pub name: String,
    pub sector: SectorCode,
    /// Whether it contributes funding (default false).
    #[oai(default)]
    pub funding_partner: bool,
}

/// Changes to an organisation; omitted fields stay as they are.
#[derive(Debug, Clone, Object, Validate)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct OrganisationChanges {
    /// New unique name, 1–200 characters.
    pub name: Option<String>,
    /// New sector.
    pub sector: Option<SectorCode>,
    /// Whether it contributes funding.
    pub funding_partner: Option<bool>,
    /// Set false to deactivate (organisations are never deleted), true to reactivate.
    pub active: Option<bool>,
}

impl From<organisations::Model> for Organisation {
    fn from(m: organisations::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            sector: m.sector.into(),
            funding_partner: m.funding_partner,
            active: m.active,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

async fn ensure_name_free(
    db: &impl ConnectionTrait,
    name: &str,
    except: Option<Uuid>,
) -> ApiResult<()> {
    let except = except.map(|id| (organisations::Column::Id, id));
    ensure_free::<organisations::Entity>(db, organisations::Column::Name, name, except, || {
        format!("An organisation named “{name}” already exists.")
    })
    .await
}

pub async fn create(
    db: &WriteTxn,
    input: NewOrganisation,
    now: DateTime<Utc>,
) -> ApiResult<Organisation> {
    let name = clean_text(&input.name);
    let mut errors = FieldErrors::of(&input);
    check_text(&mut errors, "name", &name, 200);
    errors.finish()?;
    ensure_name_free(db, &name, None).await?;
    let model = organisations::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name),
        sector: Set(input.sector.into()),
        funding_partner: Set(input.funding_partner),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    audit::record(
        db,
        Change::new("organisation", model.id, "create")
            .summary(format!("{} ({:?})", model.name, model.sector).to_lowercase()),
    )
    .await?;
    Ok(model.into())
}

pub async fn get(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<Organisation> {
    find(db, id).await.map(Into::into)
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<organisations::Model> {
    organisations::Entity::find_by_id(id)
        .first(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Organisation"))
}

pub async fn update(
    db: &WriteTxn,
    id: Uuid,
    changes: OrganisationChanges,
    now: DateTime<Utc>,
) -> ApiResult<Organisation> {
    let current = find(db, id).await?;
    let summary = audit::changed(&changes);
    let name = changes.name.as_deref().map(clean_text);
    let mut errors = FieldErrors::of(&changes);
    if let Some(name) = &name {
        check_text(&mut errors, "name", name, 200);
    }
    errors.finish()?;
    if let Some(name) = &name {
        ensure_name_free(db, name, Some(id)).await?;
    }
    // The reach rollup counts sessions by sector: a new sector moves what reached this
    // organisation's staff from the old sector's lines to the new one's, under the programme
    // locks every cascade session write takes (in id order).
    let resector = match changes.sector {
        Some(sector) if current.sector != Sector::from(sector) => {
            for programme in programmes::all_ids(db).await? {
                programmes::lock(db, programme).await?;
            }
            let reached = rollup::reaching(db, id).await?;
            rollup::apply(db, &reached, -1).await?;
            Some(reached)
        }
        _ => None,
    };
    let mut model: organisations::ActiveModel = current.into();
    if let Some(name) = name {
        model.name = Set(name);
    }
    if let Some(sector) = changes.sector {
        model.sector = Set(sector.into());
    }
    if let Some(funding) = changes.funding_partner {
        model.funding_partner = Set(funding);
    }
    if let Some(active) = changes.active {
        model.active = Set(active);
    }
    model.updated_at = Set(now);
    let saved = model.update(db).await?;
    if let Some(reached) = resector {
        rollup::apply(db, &reached, 1).await?;
    }
    audit::record(
        db,
        Change::new("organisation", id, "update").summary(summary),
    )
    .await?;
    Ok(saved.into())
}

/// Filters of the organisation list.
#[derive(Debug, Default, Clone, Copy)]
pub struct OrganisationFilter {
    pub sector: Option<Sector>,
    pub funding_partner: Option<bool>,
    pub active: Option<bool>,
}

pub async fn list(
    db: &impl ConnectionTrait,
    filter: OrganisationFilter,
    page: PageRequest,
) -> ApiResult<(Vec<Organisation>, Option<String>)> {
    let mut select = organisations::Entity::find();
    if let Some(sector) = filter.sector {
        select = select.filter(organisations::Column::Sector.eq(sector));
    }
    if let Some(funding) = filter.funding_partner {
        select = select.filter(organisations::Column::FundingPartner.eq(funding));
    }
    if let Some(active) = filter.active {
        select = select.filter(organisations::Column::Active.eq(active));
    }
    fetch_page(
        db,
        select,
        organisations::Column::Id,
        page,
        Into::into,
        |o: &Organisation| o.id,
    )
    .await
}

/// Organisations' names and sectors, by id, in one query.
pub async fn names_and_sectors(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = Uuid>,
) -> ApiResult<std::collections::HashMap<Uuid, (String, SectorCode)>> {
    Ok(organisations::Entity::find()
        .filter(organisations::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, (o.name, o.sector.into())))
        .collect())
}
