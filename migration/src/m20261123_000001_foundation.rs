//! The foundation schema: partners, people and their memberships, reference lists, the catalogue
//! (programmes and courses) and API keys.
//!
//! Every list the API filters has an index whose last column is `id`, because lists are ordered by
//! id (UUIDv7, so creation order) and paginated by it.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organisations {
    Table,
    Id,
    Name,
    Sector,
    FundingPartner,
    Active,
    CreatedAt,
    UpdatedAt,
}

/// The columns shared by the reference lists each partnership maintains.
#[derive(DeriveIden)]
enum Reference {
    Id,
    Name,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Localities {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum StaffGroups {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum People {
    Table,
    Id,
    Name,
    Email,
    EmailKey,
    StaffGroupId,
    LocalityId,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    Id,
    PersonId,
    OrganisationId,
    ExternalId,
    IsPrimary,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Programmes {
    Table,
    Id,
    Code,
    Name,
    Description,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Courses {
    Table,
    Id,
    ProgrammeId,
    Code,
    Title,
    Description,
    Kind,
    DurationMinutes,
    CpdHours,
    DefaultCapacity,
    CertificateValidityMonths,
    ReservedSector,
    ReservedShareBp,
    ReservedReleaseDays,
    MaxPlacesPerOrganisation,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CourseAudiences {
    Table,
    CourseId,
    StaffGroupId,
}

#[derive(DeriveIden)]
enum CoursePrerequisites {
    Table,
    CourseId,
    PrerequisiteId,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    Name,
    Role,
    OrganisationId,
    PersonId,
    TokenHash,
    Prefix,
    CreatedAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Organisations::Table)
                    .col(pk_uuid(Organisations::Id))
                    .col(string_uniq(Organisations::Name))
                    .col(string(Organisations::Sector))
                    .col(boolean(Organisations::FundingPartner))
                    .col(boolean(Organisations::Active))
                    .col(timestamp_with_time_zone(Organisations::CreatedAt))
                    .col(timestamp_with_time_zone(Organisations::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, table) in [
            ("localities", Localities::Table.into_iden()),
            ("staff_groups", StaffGroups::Table.into_iden()),
        ] {
            manager
                .create_table(
                    Table::create()
                        .table(table.clone())
                        .col(pk_uuid(Reference::Id))
                        .col(string_uniq(Reference::Name))
                        .col(boolean(Reference::Active))
                        .col(timestamp_with_time_zone(Reference::CreatedAt))
                        .col(timestamp_with_time_zone(Reference::UpdatedAt))
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(index(
                    &format!("ix_{name}_active"),
                    table,
                    &["active", "id"],
                ))
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(People::Table)
                    .col(pk_uuid(People::Id))
                    .col(string(People::Name))
                    .col(string(People::Email))
                    .col(string_uniq(People::EmailKey))
                    .col(uuid_null(People::StaffGroupId))
                    .col(uuid_null(People::LocalityId))
                    .col(boolean(People::Active))
                    .col(timestamp_with_time_zone(People::CreatedAt))
                    .col(timestamp_with_time_zone(People::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_people_staff_group",
                        (People::Table, People::StaffGroupId),
                        (StaffGroups::Table, StaffGroups::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_people_locality",
                        (People::Table, People::LocalityId),
                        (Localities::Table, Localities::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Memberships::Table)
                    .col(pk_uuid(Memberships::Id))
                    .col(uuid(Memberships::PersonId))
                    .col(uuid(Memberships::OrganisationId))
                    .col(string_null(Memberships::ExternalId))
                    .col(boolean(Memberships::IsPrimary))
                    .col(boolean(Memberships::Active))
                    .col(timestamp_with_time_zone(Memberships::CreatedAt))
                    .col(timestamp_with_time_zone(Memberships::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_memberships_person",
                        (Memberships::Table, Memberships::PersonId),
                        (People::Table, People::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_memberships_organisation",
                        (Memberships::Table, Memberships::OrganisationId),
                        (Organisations::Table, Organisations::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Programmes::Table)
                    .col(pk_uuid(Programmes::Id))
                    .col(string_uniq(Programmes::Code))
                    .col(string(Programmes::Name))
                    .col(text(Programmes::Description))
                    .col(boolean(Programmes::Active))
                    .col(timestamp_with_time_zone(Programmes::CreatedAt))
                    .col(timestamp_with_time_zone(Programmes::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Courses::Table)
                    .col(pk_uuid(Courses::Id))
                    .col(uuid(Courses::ProgrammeId))
                    .col(string_uniq(Courses::Code))
                    .col(string(Courses::Title))
                    .col(text(Courses::Description))
                    .col(string(Courses::Kind))
                    .col(integer(Courses::DurationMinutes))
                    .col(double(Courses::CpdHours))
                    .col(integer(Courses::DefaultCapacity))
                    .col(integer_null(Courses::CertificateValidityMonths))
                    .col(string_null(Courses::ReservedSector))
                    .col(integer(Courses::ReservedShareBp))
                    .col(integer(Courses::ReservedReleaseDays))
                    .col(integer_null(Courses::MaxPlacesPerOrganisation))
                    .col(boolean(Courses::Active))
                    .col(timestamp_with_time_zone(Courses::CreatedAt))
                    .col(timestamp_with_time_zone(Courses::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_courses_programme",
                        (Courses::Table, Courses::ProgrammeId),
                        (Programmes::Table, Programmes::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CourseAudiences::Table)
                    .col(uuid(CourseAudiences::CourseId))
                    .col(uuid(CourseAudiences::StaffGroupId))
                    .primary_key(
                        Index::create()
                            .col(CourseAudiences::CourseId)
                            .col(CourseAudiences::StaffGroupId),
                    )
                    .foreign_key(&mut fk(
                        "fk_course_audiences_course",
                        (CourseAudiences::Table, CourseAudiences::CourseId),
                        (Courses::Table, Courses::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_course_audiences_staff_group",
                        (CourseAudiences::Table, CourseAudiences::StaffGroupId),
                        (StaffGroups::Table, StaffGroups::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CoursePrerequisites::Table)
                    .col(uuid(CoursePrerequisites::CourseId))
                    .col(uuid(CoursePrerequisites::PrerequisiteId))
                    .primary_key(
                        Index::create()
                            .col(CoursePrerequisites::CourseId)
                            .col(CoursePrerequisites::PrerequisiteId),
                    )
                    .foreign_key(&mut fk(
                        "fk_course_prerequisites_course",
                        (CoursePrerequisites::Table, CoursePrerequisites::CourseId),
                        (Courses::Table, Courses::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_course_prerequisites_prerequisite",
                        (
                            CoursePrerequisites::Table,
                            CoursePrerequisites::PrerequisiteId,
                        ),
                        (Courses::Table, Courses::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(pk_uuid(ApiKeys::Id))
                    .col(string(ApiKeys::Name))
                    .col(string(ApiKeys::Role))
                    .col(uuid_null(ApiKeys::OrganisationId))
                    .col(uuid_null(ApiKeys::PersonId))
                    .col(string_uniq(ApiKeys::TokenHash))
                    .col(string(ApiKeys::Prefix))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .foreign_key(&mut fk(
                        "fk_api_keys_organisation",
                        (ApiKeys::Table, ApiKeys::OrganisationId),
                        (Organisations::Table, Organisations::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_api_keys_person",
                        (ApiKeys::Table, ApiKeys::PersonId),
                        (People::Table, People::Id),
                    ))
                    .to_owned(),
            )
            .await?;

        let indexes = [
            index(
                "ix_organisations_sector",
                Organisations::Table.into_iden(),
                &["sector", "id"],
            ),
            index(
                "ix_organisations_active",
                Organisations::Table.into_iden(),
                &["active", "id"],
            ),
            index(
                "ix_organisations_funding",
                Organisations::Table.into_iden(),
                &["funding_partner", "id"],
            ),
            index(
                "ix_people_staff_group",
                People::Table.into_iden(),
                &["staff_group_id", "id"],
            ),
            index(
                "ix_people_locality",
                People::Table.into_iden(),
                &["locality_id", "id"],
            ),
            index(
                "ix_people_active",
                People::Table.into_iden(),
                &["active", "id"],
            ),
            index(
                "ix_memberships_organisation",
                Memberships::Table.into_iden(),
                &["organisation_id", "person_id"],
            )
            .unique()
            .to_owned(),
            index(
                "ux_memberships_external_id",
                Memberships::Table.into_iden(),
                &["organisation_id", "external_id"],
            )
            .unique()
            .to_owned(),
            index(
                "ix_memberships_person",
                Memberships::Table.into_iden(),
                &["person_id"],
            ),
            index(
                "ix_programmes_active",
                Programmes::Table.into_iden(),
                &["active", "id"],
            ),
            index(
                "ix_courses_programme",
                Courses::Table.into_iden(),
                &["programme_id", "id"],
            ),
            index(
                "ix_courses_kind",
                Courses::Table.into_iden(),
                &["kind", "id"],
            ),
            index(
                "ix_courses_active",
                Courses::Table.into_iden(),
                &["active", "id"],
            ),
            index(
                "ix_course_audiences_staff_group",
                CourseAudiences::Table.into_iden(),
                &["staff_group_id"],
            ),
            index(
                "ix_course_prerequisites_prerequisite",
                CoursePrerequisites::Table.into_iden(),
                &["prerequisite_id"],
            ),
            index(
                "ix_api_keys_role",
                ApiKeys::Table.into_iden(),
                &["role", "id"],
            ),
        ];
        for stmt in indexes {
            manager.create_index(stmt).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ApiKeys::Table.into_iden(),
            CoursePrerequisites::Table.into_iden(),
            CourseAudiences::Table.into_iden(),
            Courses::Table.into_iden(),
            Programmes::Table.into_iden(),
            Memberships::Table.into_iden(),
            People::Table.into_iden(),
            StaffGroups::Table.into_iden(),
            Localities::Table.into_iden(),
            Organisations::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
