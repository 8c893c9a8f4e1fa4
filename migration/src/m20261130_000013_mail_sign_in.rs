//! People's doors: email and sign-in.
//!
//! - `messages`: the mail outbox. A row is written in the transaction of the change that causes
//!   it (`domain::mail::enqueue`), at most one per person and event (`dedup_key`), and sent by
//!   the mail worker under a lease (`lease_until`), so one replica sends each message once.
//!   `message_attempts` is the delivery log.
//! - `sign_in_links`: single-use sign-in links (the token only as its hash), 15 minutes.
//! - `web_sessions`: signed-in browsers (the cookie only as its hash), with their CSRF token.
//! - `role_grants`: the coordinator, admin or partner-lead role an admin granted to a person.
//! - `people.mail_opt_out`: the person asked for no non-essential messages.
//! - indexes for the notice scans (champion refreshes, trainer licences).

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    PersonId,
    Kind,
    DedupKey,
    Essential,
    BookingId,
    SessionId,
    CertificateId,
    Data,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    SentAt,
    LastError,
    UnsubscribeHash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum MessageAttempts {
    Table,
    Id,
    MessageId,
    AttemptedAt,
    Outcome,
    Error,
}

#[derive(DeriveIden)]
enum SignInLinks {
    Table,
    TokenHash,
    PersonId,
    ExpiresAt,
    UsedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebSessions {
    Table,
    Id,
    TokenHash,
    PersonId,
    CsrfToken,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
    EndedAt,
}

#[derive(DeriveIden)]
enum RoleGrants {
    Table,
    PersonId,
    Role,
    OrganisationId,
    GrantedAt,
}

#[derive(DeriveIden)]
enum People {
    Table,
    Id,
    MailOptOut,
}

#[derive(DeriveIden)]
enum Organisations {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .col(uuid(Messages::Id).primary_key())
                    .col(uuid(Messages::PersonId))
                    .col(string(Messages::Kind))
                    .col(string(Messages::DedupKey))
                    .col(boolean(Messages::Essential))
                    .col(uuid_null(Messages::BookingId))
                    .col(uuid_null(Messages::SessionId))
                    .col(uuid_null(Messages::CertificateId))
                    .col(text(Messages::Data))
                    .col(string(Messages::Status))
                    .col(integer(Messages::Attempts))
                    .col(timestamp_with_time_zone(Messages::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(Messages::LeaseUntil))
                    .col(timestamp_with_time_zone_null(Messages::SentAt))
                    .col(text_null(Messages::LastError))
                    .col(string_null(Messages::UnsubscribeHash))
                    .col(timestamp_with_time_zone(Messages::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_messages_person",
                        (Messages::Table, Messages::PersonId),
                        (People::Table, People::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        // At most one message per person and event: a retry or a second replica adds nothing.
        manager
            .create_index(
                index(
                    "ux_messages_person_event",
                    Messages::Table.into_iden(),
                    &["person_id", "dedup_key"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_messages_due",
                Messages::Table.into_iden(),
                &["status", "next_attempt_at"],
            ))
            .await?;
        // The unsubscribe link of a sent non-essential message names its message by this.
        manager
            .create_index(
                index(
                    "ux_messages_unsubscribe",
                    Messages::Table.into_iden(),
                    &["unsubscribe_hash"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MessageAttempts::Table)
                    .col(uuid(MessageAttempts::Id).primary_key())
                    .col(uuid(MessageAttempts::MessageId))
                    .col(timestamp_with_time_zone(MessageAttempts::AttemptedAt))
                    .col(string(MessageAttempts::Outcome))
                    .col(text_null(MessageAttempts::Error))
                    .foreign_key(&mut fk(
                        "fk_message_attempts_message",
                        (MessageAttempts::Table, MessageAttempts::MessageId),
                        (Messages::Table, Messages::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_message_attempts_message",
                MessageAttempts::Table.into_iden(),
                &["message_id", "attempted_at"],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SignInLinks::Table)
                    .col(string(SignInLinks::TokenHash).primary_key())
                    .col(uuid(SignInLinks::PersonId))
                    .col(timestamp_with_time_zone(SignInLinks::ExpiresAt))
                    .col(timestamp_with_time_zone_null(SignInLinks::UsedAt))
                    .col(timestamp_with_time_zone(SignInLinks::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_sign_in_links_person",
                        (SignInLinks::Table, SignInLinks::PersonId),
                        (People::Table, People::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_sign_in_links_person",
                SignInLinks::Table.into_iden(),
                &["person_id", "expires_at"],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebSessions::Table)
                    .col(uuid(WebSessions::Id).primary_key())
                    .col(string_uniq(WebSessions::TokenHash))
                    .col(uuid(WebSessions::PersonId))
                    .col(string(WebSessions::CsrfToken))
                    .col(timestamp_with_time_zone(WebSessions::CreatedAt))
                    .col(timestamp_with_time_zone(WebSessions::LastSeenAt))
                    .col(timestamp_with_time_zone(WebSessions::ExpiresAt))
                    .col(timestamp_with_time_zone_null(WebSessions::EndedAt))
                    .foreign_key(&mut fk(
                        "fk_web_sessions_person",
                        (WebSessions::Table, WebSessions::PersonId),
                        (People::Table, People::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_web_sessions_person",
                WebSessions::Table.into_iden(),
                &["person_id"],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RoleGrants::Table)
                    .col(uuid(RoleGrants::PersonId).primary_key())
                    .col(string(RoleGrants::Role))
                    .col(uuid_null(RoleGrants::OrganisationId))
                    .col(timestamp_with_time_zone(RoleGrants::GrantedAt))
                    .foreign_key(&mut fk(
                        "fk_role_grants_person",
                        (RoleGrants::Table, RoleGrants::PersonId),
                        (People::Table, People::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_role_grants_organisation",
                        (RoleGrants::Table, RoleGrants::OrganisationId),
                        (Organisations::Table, Organisations::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_role_grants_role",
                RoleGrants::Table.into_iden(),
                &["role", "person_id"],
            ))
            .await?;
        // The notice scans: champions whose refresh comes due, licences that end soon.
        manager
            .create_index(index(
                "ix_completions_course_completed",
                Alias::new("completions"),
                &["course_id", "completed_on"],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_trainer_steps_licence",
                Alias::new("trainer_steps"),
                &["licence_expires_on"],
            ))
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(People::Table)
                    .add_column(boolean(People::MailOptOut).default(false))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
