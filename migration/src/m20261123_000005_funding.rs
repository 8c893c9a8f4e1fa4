//! Funding: partners' contributions and costs per programme year, the charging tariff, and
//! coordinators' waivers of charges on bookings.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ProgrammeYears {
    Table,
    LateCancelHalfDayPence,
    LateCancelFullDayPence,
    NoShowHalfDayPence,
    NoShowFullDayPence,
    LicenceFeePerChampionPence,
}

#[derive(DeriveIden)]
enum Bookings {
    Table,
    ChargeWaivedReason,
    ChargeWaivedAt,
    ChargeWaivedByKeyId,
}

#[derive(DeriveIden)]
enum Contributions {
    Table,
    ProgrammeId,
    Year,
    OrganisationId,
    AmountPence,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Costs {
    Table,
    Id,
    ProgrammeId,
    Year,
    Category,
    SessionId,
    AmountPence,
    Description,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Programmes {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Organisations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        for col in [
            ProgrammeYears::LateCancelHalfDayPence,
            ProgrammeYears::LateCancelFullDayPence,
            ProgrammeYears::NoShowHalfDayPence,
            ProgrammeYears::NoShowFullDayPence,
            ProgrammeYears::LicenceFeePerChampionPence,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ProgrammeYears::Table)
                        .add_column(big_integer_null(col))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Bookings::Table)
                    .add_column(text_null(Bookings::ChargeWaivedReason))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Bookings::Table)
                    .add_column(timestamp_with_time_zone_null(Bookings::ChargeWaivedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Bookings::Table)
                    .add_column(uuid_null(Bookings::ChargeWaivedByKeyId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Contributions::Table)
                    .col(uuid(Contributions::ProgrammeId))
                    .col(integer(Contributions::Year))
                    .col(uuid(Contributions::OrganisationId))
                    .col(big_integer(Contributions::AmountPence))
                    .col(timestamp_with_time_zone(Contributions::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(Contributions::ProgrammeId)
                            .col(Contributions::Year)
                            .col(Contributions::OrganisationId),
                    )
                    .foreign_key(&mut fk(
                        "fk_contributions_programme",
                        (Contributions::Table, Contributions::ProgrammeId),
                        (Programmes::Table, Programmes::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_contributions_organisation",
                        (Contributions::Table, Contributions::OrganisationId),
                        (Organisations::Table, Organisations::Id),
                    ))
                    .check(Expr::col(Contributions::AmountPence).gte(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Costs::Table)
                    .col(pk_uuid(Costs::Id))
                    .col(uuid(Costs::ProgrammeId))
                    .col(integer(Costs::Year))
                    .col(string(Costs::Category))
                    .col(uuid_null(Costs::SessionId))
                    .col(big_integer(Costs::AmountPence))
                    .col(text(Costs::Description))
                    .col(timestamp_with_time_zone(Costs::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_costs_programme",
                        (Costs::Table, Costs::ProgrammeId),
                        (Programmes::Table, Programmes::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_costs_session",
                        (Costs::Table, Costs::SessionId),
                        (Sessions::Table, Sessions::Id),
                    ))
                    .check(Expr::col(Costs::AmountPence).gte(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_costs_programme_year",
                Costs::Table.into_iden(),
                &["programme_id", "year", "id"],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_costs_session",
                Costs::Table.into_iden(),
                &["session_id"],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Costs::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Contributions::Table).to_owned())
            .await?;
        for col in [
            Bookings::ChargeWaivedReason,
            Bookings::ChargeWaivedAt,
            Bookings::ChargeWaivedByKeyId,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Bookings::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        for col in [
            ProgrammeYears::LateCancelHalfDayPence,
            ProgrammeYears::LateCancelFullDayPence,
            ProgrammeYears::NoShowHalfDayPence,
            ProgrammeYears::NoShowFullDayPence,
            ProgrammeYears::LicenceFeePerChampionPence,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ProgrammeYears::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
