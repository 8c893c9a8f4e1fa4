use sea_orm::entity::prelude::*;

/// A person's employment by (or affiliation with) one partner organisation.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "memberships")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub person_id: Uuid,
    pub organisation_id: Uuid,
    /// The organisation's own key for this person (unique per organisation).
    pub external_id: Option<String>,
    /// An identity provider's `employeeNumber`, kept as sent (SCIM); informational.
    pub employee_number: Option<String>,
    /// An identity provider's `department`, kept as sent (SCIM); it sets the person's staff
    /// group when it names one.
    pub department: Option<String>,
    /// When an identity provider deleted the User (SCIM `DELETE`): the membership stays as a
    /// leaver's, and SCIM shows it no more until the User is created again.
    pub scim_deleted_at: Option<DateTimeUtc>,
    /// The SCIM `userName` in lower case (unique per organisation; `userName eq` filters use it).
    pub scim_user_name_key: Option<String>,
    /// What the identity provider last sent as JSON: `userName`, `name`, `displayName`, `emails`
    /// and `active` (absent when unassigned). Shown only while it agrees with the person.
    #[sea_orm(column_type = "Text", nullable)]
    pub scim_attributes: Option<String>,
    /// The employing organisation that charges and reports count against.
    pub is_primary: bool,
    pub active: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::people::Entity",
        from = "Column::PersonId",
        to = "super::people::Column::Id"
    )]
    Person,
}

impl Related<super::people::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Person.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
