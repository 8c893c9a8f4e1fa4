use sea_orm::entity::prelude::*;

/// The stored answer to a request sent with an `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// SHA-256 of the caller's credentials: keys are scoped to the API key that sent them.
    pub scope: String,
    pub key: String,
    /// SHA-256 of method, path and body: the same key with another request is refused.
    pub request_hash: String,
    /// None while the first request is still being answered.
    pub status: Option<i32>,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub body: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
