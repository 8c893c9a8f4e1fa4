//! API keys: random secrets shown once, stored as SHA-256 hashes, each carrying one role.

use crate::db::FirstRow as _;
use crate::db::WriteTxn;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use entities::{api_keys, enums::Role, organisations, people};
use poem_openapi::{Enum, Object};
use rand::Rng;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;
use validator::Validate;

use super::validation::{FieldErrors, check_text, clean_text};
use crate::{
    audit::{self, Change},
    error::{ApiError, ApiResult},
    pagination::{PageRequest, fetch_page},
};

/// The role a key carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(remote = "entities::enums::Role", rename_all = "snake_case")]
pub enum KeyRole {
    /// Everything, including managing API keys.
    Admin,
    /// Runs the catalogue, partners, people and the programme.
    Coordinator,
    /// A partner organisation's HR system: acts only for its own staff.
    Partner,
    /// A trainer: acts as one person.
    Trainer,
    /// A member of staff: acts as one person.
    Learner,
}

/// An API key as listed: never the secret.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ApiKeyView {
    /// The key's id (not its secret).
    pub id: Uuid,
    /// A label saying who holds the key and why.
    pub name: String,
    pub role: KeyRole,
    /// The organisation a partner key acts for.
    pub organisation_id: Option<Uuid>,
    /// The person a trainer or learner key acts as.
    pub person_id: Option<Uuid>,
    /// The first characters of the secret, to recognise the key.
    pub prefix: String,
    /// When the key was created.
    pub created_at: DateTime<Utc>,
    /// When the key was revoked; a revoked key is refused with 401.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A newly created key with its secret. The secret is shown only in this response.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CreatedApiKey {
    #[oai(flatten)]
    pub key: ApiKeyView,
    /// The secret to send as `Authorization: Bearer <secret>`. Store it now: it cannot be shown
    /// again.
    pub secret: String,
}

/// A key to create.
#[derive(Debug, Clone, Object, Validate)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct NewApiKey {
    /// A label saying who holds the key and why (1–100 characters).
    pub name: String,
    pub role: KeyRole,
    /// Required for `partner` keys, refused otherwise.
    pub organisation_id: Option<Uuid>,
    /// Required for `trainer` and `learner` keys, refused otherwise.
    pub person_id: Option<Uuid>,
}

impl From<api_keys::Model> for ApiKeyView {
    fn from(m: api_keys::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            role: m.role.into(),
            organisation_id: m.organisation_id,
            person_id: m.person_id,
            prefix: m.prefix,
            created_at: m.created_at,
            revoked_at: m.revoked_at,
        }
    }
}

/// Creates a key after checking that its binding suits its role.
pub async fn create(
    db: &WriteTxn,
    input: NewApiKey,
    now: DateTime<Utc>,
) -> ApiResult<CreatedApiKey> {
    let name = clean_text(&input.name);
    let mut errors = FieldErrors::of(&input);
    check_text(&mut errors, "name", &name, 100);
    let role: Role = input.role.into();
    match role {
        Role::Partner => {
            errors.check(
                input.organisation_id.is_some(),
                "organisation_id",
                "is required for a partner key",
            );
            errors.check(
                input.person_id.is_none(),
                "person_id",
                "is not used by a partner key",
            );
        }
        Role::Trainer | Role::Learner => {
            errors.check(
                input.person_id.is_some(),
                "person_id",
                "is required for a trainer or learner key",
            );
            errors.check(
                input.organisation_id.is_none(),
                "organisation_id",
                "is not used by a trainer or learner key",
            );
        }
        Role::Admin | Role::Coordinator => {
            errors.check(
                input.organisation_id.is_none(),
                "organisation_id",
                "is not used by this role",
            );
            errors.check(
                input.person_id.is_none(),
                "person_id",
                "is not used by this role",
            );
        }
    }
    if let Some(org) = input.organisation_id
        && organisations::Entity::find_by_id(org)
            .first(db)
            .await?
            .is_none()
    {
        errors.add("organisation_id", "no such organisation");
    }
    if let Some(person) = input.person_id
        && people::Entity::find_by_id(person)
            .first(db)
            .await?
            .is_none()
    {
        errors.add("person_id", "no such person");
    }
    errors.finish()?;

    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!(
        "{}{}",
        crate::auth::SECRET_PREFIX,
        URL_SAFE_NO_PAD.encode(bytes)
    );
    let model = api_keys::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name),
        role: Set(role),
        organisation_id: Set(input.organisation_id),
        person_id: Set(input.person_id),
        token_hash: Set(crate::auth::hash_secret(&secret)),
        prefix: Set(secret[..12].to_owned()),
        created_at: Set(now),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    audit::record(
        db,
        Change::new("api_key", model.id, "create").summary(format!(
            "{} key {}",
            crate::auth::role_name(model.role),
            model.prefix
        )),
    )
    .await?;
    Ok(CreatedApiKey {
        key: model.into(),
        secret,
    })
}

/// Filters of the key list.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyFilter {
    pub role: Option<Role>,
    pub revoked: Option<bool>,
}

pub async fn list(
    db: &impl ConnectionTrait,
    filter: KeyFilter,
    page: PageRequest,
) -> ApiResult<(Vec<ApiKeyView>, Option<String>)> {
    let mut select = api_keys::Entity::find();
    if let Some(role) = filter.role {
        select = select.filter(api_keys::Column::Role.eq(role));
    }
    match filter.revoked {
        Some(true) => select = select.filter(api_keys::Column::RevokedAt.is_not_null()),
        Some(false) => select = select.filter(api_keys::Column::RevokedAt.is_null()),
        None => {}
    }
    fetch_page(
        db,
        select,
        api_keys::Column::Id,
        page,
        Into::into,
        |k: &ApiKeyView| k.id,
    )
    .await
}

pub async fn get(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<ApiKeyView> {
    api_keys::Entity::find_by_id(id)
        .first(db)
        .await?
        .map(Into::into)
        .ok_or_else(|| ApiError::not_found("API key"))
}

/// Revokes a key; revoking a revoked key keeps its first revocation time.
pub async fn revoke(db: &WriteTxn, id: Uuid, now: DateTime<Utc>) -> ApiResult<ApiKeyView> {
    let key = api_keys::Entity::find_by_id(id)
        .first(db)
        .await?
        .ok_or_else(|| ApiError::not_found("API key"))?;
    if key.revoked_at.is_some() {
        audit::record(
            db,
            Change::new("api_key", id, "revoke").summary("already revoked"),
        )
        .await?;
        return Ok(key.into());
    }
    api_keys::Entity::update_many()
        .col_expr(
            api_keys::Column::RevokedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(api_keys::Column::Id.eq(id))
        .filter(api_keys::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    audit::record(
        db,
        Change::new("api_key", id, "revoke").summary(format!("key {} revoked", key.prefix)),
    )
    .await?;
    get(db, id).await
}
