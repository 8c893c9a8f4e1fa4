use sea_orm::entity::prelude::*;

/// A partner's request to add a person employed elsewhere to its organisation, waiting for the
/// person's employer or a coordinator (`status`: `pending`, `confirmed`, `declined`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "membership_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub person_id: Uuid,
    /// The organisation asking to add the person.
    pub organisation_id: Uuid,
    /// The asking organisation's own key for the person, given to the membership on confirmation.
    pub external_id: Option<String>,
    pub status: String,
    /// Where the request came from: `api`, `sync` or `scim`.
    pub source: String,
    pub requested_by_key_id: Option<Uuid>,
    pub decided_by_key_id: Option<Uuid>,
    pub decided_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
