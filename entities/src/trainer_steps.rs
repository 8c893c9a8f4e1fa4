use sea_orm::entity::prelude::*;

/// A step a person reached in a programme's trainer pipeline, with its evidence.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "trainer_steps")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub person_id: Uuid,
    pub programme_id: Uuid,
    /// The pipeline step's code, or `renewed` for a licence renewal.
    pub code: String,
    pub effective_on: Date,
    pub evidence: Option<String>,
    pub evidence_url: Option<String>,
    pub signed_off_by_person_id: Option<Uuid>,
    pub recorded_by_key_id: Option<Uuid>,
    /// Recorded by Cascade from its own data (completions, cascade sessions).
    pub automatic: bool,
    /// Why a coordinator accredited beyond the programme's trainer target.
    pub override_reason: Option<String>,
    pub licence_expires_on: Option<Date>,
    pub recorded_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
