use sea_orm::entity::prelude::*;

use crate::enums::CompletionSource;

/// A person's completion of a course: one per person and course.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "completions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub person_id: Uuid,
    pub course_id: Uuid,
    pub completed_on: Date,
    pub source: CompletionSource,
    /// The session or cascade session it came from, when there is one.
    pub source_id: Option<Uuid>,
    pub recorded_by_key_id: Option<Uuid>,
    /// The organisation the record was produced for: the booking's organisation, or the
    /// person's employer when it was recorded.
    pub organisation_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
