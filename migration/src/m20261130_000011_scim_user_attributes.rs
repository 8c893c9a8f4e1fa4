//! What an identity provider last sent for a SCIM User, kept on the membership so PATCH and GET
//! answer as RFC 7643 expects: `userName` as sent (it need not be an email; its lower-case key is
//! unique per organisation and indexed for `userName eq` filters), and the `name` parts,
//! `displayName`, `emails` (with their `type` and `primary`) and whether `active` is assigned.
//! The person's own name and email stay in `people`: these are only the provider's view of them.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Memberships {
    Table,
    ScimUserNameKey,
    ScimAttributes,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column a statement: SQLite alters one thing at a time.
        for mut column in [
            string_null(Memberships::ScimUserNameKey),
            text_null(Memberships::ScimAttributes),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Memberships::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                index(
                    "ux_memberships_scim_user_name",
                    Memberships::Table.into_iden(),
                    &["organisation_id", "scim_user_name_key"],
                )
                .unique()
                .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ux_memberships_scim_user_name")
                    .table(Memberships::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Memberships::ScimUserNameKey, Memberships::ScimAttributes] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Memberships::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
