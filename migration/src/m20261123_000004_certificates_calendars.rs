//! Certificates (numbered, verifiable, revocable, reissued never edited) and calendar
//! subscription feeds (secret, revocable tokens).

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Certificates {
    Table,
    Id,
    Number,
    Year,
    Seq,
    CodeHash,
    Code,
    OriginKey,
    Kind,
    PersonId,
    ProgrammeId,
    CourseId,
    SessionId,
    PersonName,
    Title,
    ProgrammeName,
    CompletedOn,
    IssuedOn,
    ExpiresOn,
    CpdHours,
    Issuer,
    RevokedAt,
    RevokeReason,
    SupersededById,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CertificateSequences {
    Table,
    Year,
    Last,
}

#[derive(DeriveIden)]
enum CalendarFeeds {
    Table,
    Id,
    TokenHash,
    Prefix,
    PersonId,
    ProgrammeId,
    CreatedByKeyId,
    RevokedAt,
    CreatedAt,
    RotatedAt,
}

#[derive(DeriveIden)]
enum People {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Programmes {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Certificates::Table)
                    .col(pk_uuid(Certificates::Id))
                    .col(string_uniq(Certificates::Number))
                    .col(integer(Certificates::Year))
                    .col(integer(Certificates::Seq))
                    .col(string_uniq(Certificates::CodeHash))
                    .col(string(Certificates::Code))
                    .col(string_uniq(Certificates::OriginKey))
                    .col(string(Certificates::Kind))
                    .col(uuid(Certificates::PersonId))
                    .col(uuid(Certificates::ProgrammeId))
                    .col(uuid_null(Certificates::CourseId))
                    .col(uuid_null(Certificates::SessionId))
                    .col(string(Certificates::PersonName))
                    .col(string(Certificates::Title))
                    .col(string(Certificates::ProgrammeName))
                    .col(date(Certificates::CompletedOn))
                    .col(date(Certificates::IssuedOn))
                    .col(date_null(Certificates::ExpiresOn))
                    .col(double(Certificates::CpdHours))
                    .col(string(Certificates::Issuer))
                    .col(timestamp_with_time_zone_null(Certificates::RevokedAt))
                    .col(text_null(Certificates::RevokeReason))
                    .col(uuid_null(Certificates::SupersededById))
                    .col(timestamp_with_time_zone(Certificates::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_certificates_person",
                        (Certificates::Table, Certificates::PersonId),
                        (People::Table, People::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_certificates_programme",
                        (Certificates::Table, Certificates::ProgrammeId),
                        (Programmes::Table, Programmes::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CertificateSequences::Table)
                    .col(integer(CertificateSequences::Year).primary_key())
                    .col(integer(CertificateSequences::Last))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CalendarFeeds::Table)
                    .col(pk_uuid(CalendarFeeds::Id))
                    .col(string_uniq(CalendarFeeds::TokenHash))
                    .col(string(CalendarFeeds::Prefix))
                    .col(uuid_null(CalendarFeeds::PersonId))
                    .col(uuid_null(CalendarFeeds::ProgrammeId))
                    .col(uuid_null(CalendarFeeds::CreatedByKeyId))
                    .col(timestamp_with_time_zone_null(CalendarFeeds::RevokedAt))
                    .col(timestamp_with_time_zone(CalendarFeeds::CreatedAt))
                    .col(timestamp_with_time_zone(CalendarFeeds::RotatedAt))
                    .foreign_key(&mut fk(
                        "fk_calendar_feeds_person",
                        (CalendarFeeds::Table, CalendarFeeds::PersonId),
                        (People::Table, People::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_calendar_feeds_programme",
                        (CalendarFeeds::Table, CalendarFeeds::ProgrammeId),
                        (Programmes::Table, Programmes::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        for stmt in [
            index(
                "ix_certificates_person",
                Certificates::Table.into_iden(),
                &["person_id", "id"],
            ),
            index(
                "ix_certificates_course",
                Certificates::Table.into_iden(),
                &["course_id", "id"],
            ),
            index(
                "ix_certificates_programme",
                Certificates::Table.into_iden(),
                &["programme_id", "id"],
            ),
            index(
                "ix_certificates_session",
                Certificates::Table.into_iden(),
                &["session_id", "id"],
            ),
            index(
                "ix_certificates_kind",
                Certificates::Table.into_iden(),
                &["kind", "id"],
            ),
            index(
                "ix_calendar_feeds_person",
                CalendarFeeds::Table.into_iden(),
                &["person_id", "id"],
            ),
            index(
                "ix_calendar_feeds_programme",
                CalendarFeeds::Table.into_iden(),
                &["programme_id", "id"],
            ),
            index(
                "ix_calendar_feeds_creator",
                CalendarFeeds::Table.into_iden(),
                &["created_by_key_id", "id"],
            ),
        ] {
            manager.create_index(stmt).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            CalendarFeeds::Table.into_iden(),
            CertificateSequences::Table.into_iden(),
            Certificates::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
