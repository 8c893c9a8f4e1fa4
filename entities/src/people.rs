use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "people")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    /// The work email as given.
    pub email: String,
    /// The email lower-cased: unique, so one person is one row however an HR system spells it.
    pub email_key: String,
    pub staff_group_id: Option<Uuid>,
    pub locality_id: Option<Uuid>,
    pub active: bool,
    /// When the person's identifying fields were replaced at their request (UK GDPR erasure).
    pub erased_at: Option<DateTimeUtc>,
    /// Asked for no non-essential email (reminders, refresh and licence notices).
    pub mail_opt_out: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::memberships::Entity")]
    Memberships,
}

impl Related<super::memberships::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Memberships.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
