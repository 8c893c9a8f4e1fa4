//! Optimistic concurrency: a `version` on every resource a `PATCH` or `PUT` changes, raised by
//! every change to the row or to the rows its representation is built from, so an update can
//! claim "the version I read" with `UPDATE … WHERE version = ?` instead of a lock.
//!
//! Triggers raise it, so no write path can forget: a row's own updates (PostgreSQL: `BEFORE
//! UPDATE` sets `version = OLD.version + 1`; SQLite: `AFTER UPDATE` writes it when the
//! statement did not), and inserts, updates and deletes of its parts (a person's memberships, a
//! session's sittings, facilitators, audiences, bookings' changes and attendance marks, …).
//! Bookings' inserts raise nothing themselves: each booking also rewrites the session's counts.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tables with a version.
const VERSIONED: [&str; 10] = [
    "organisations",
    "people",
    "localities",
    "staff_groups",
    "programmes",
    "programme_years",
    "courses",
    "sessions",
    "cascade_sessions",
    "webhooks",
];

/// (part table, column naming the owner, owner table, which changes): a change to a part raises
/// its owner's version.
const PARTS: [(&str, &str, &str, &[&str]); 10] = [
    (
        "memberships",
        "person_id",
        "people",
        &["INSERT", "UPDATE", "DELETE"],
    ),
    (
        "pipeline_steps",
        "programme_id",
        "programmes",
        &["INSERT", "UPDATE", "DELETE"],
    ),
    (
        "course_audiences",
        "course_id",
        "courses",
        &["INSERT", "UPDATE", "DELETE"],
    ),
    (
        "course_prerequisites",
        "course_id",
        "courses",
        &["INSERT", "UPDATE", "DELETE"],
    ),
    (
        "sittings",
        "session_id",
        "sessions",
        &["INSERT", "UPDATE", "DELETE"],
    ),
    (
        "session_audiences",
        "session_id",
        "sessions",
        &["INSERT", "UPDATE", "DELETE"],
    ),
    (
        "session_facilitators",
        "session_id",
        "sessions",
        &["INSERT", "UPDATE", "DELETE"],
    ),
    ("bookings", "session_id", "sessions", &["UPDATE"]),
    (
        "cascade_attendees",
        "cascade_session_id",
        "cascade_sessions",
        &["INSERT", "UPDATE", "DELETE"],
    ),
    (
        "cascade_headcounts",
        "cascade_session_id",
        "cascade_sessions",
        &["INSERT", "UPDATE", "DELETE"],
    ),
];

/// The owner of an attendance mark is its booking's session.
const ATTENDANCE_OWNER: &str = "(SELECT session_id FROM bookings WHERE id = {row}.booking_id)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in VERSIONED {
            db.execute_unprepared(&format!(
                "ALTER TABLE {table} ADD COLUMN version BIGINT NOT NULL DEFAULT 1"
            ))
            .await?;
        }
        match db.get_database_backend() {
            DbBackend::Postgres => postgres_up(db).await,
            _ => sqlite_up(db).await,
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let postgres = db.get_database_backend() == DbBackend::Postgres;
        for (part, _, owner, events) in PARTS {
            for event in events {
                let name = trigger_name(part, owner, event);
                db.execute_unprepared(&if postgres {
                    format!("DROP TRIGGER IF EXISTS {name} ON {part}")
                } else {
                    format!("DROP TRIGGER IF EXISTS {name}")
                })
                .await?;
            }
        }
        for event in ["INSERT", "UPDATE", "DELETE"] {
            let name = trigger_name("attendance", "sessions", event);
            db.execute_unprepared(&if postgres {
                format!("DROP TRIGGER IF EXISTS {name} ON attendance")
            } else {
                format!("DROP TRIGGER IF EXISTS {name}")
            })
            .await?;
        }
        for table in VERSIONED {
            db.execute_unprepared(&if postgres {
                format!("DROP TRIGGER IF EXISTS {table}_version ON {table}")
            } else {
                format!("DROP TRIGGER IF EXISTS {table}_version")
            })
            .await?;
            db.execute_unprepared(&format!("ALTER TABLE {table} DROP COLUMN version"))
                .await?;
        }
        if postgres {
            db.execute_unprepared(
                "DROP FUNCTION IF EXISTS cascade_raise_version(); \
                 DROP FUNCTION IF EXISTS cascade_raise_owner_version();",
            )
            .await?;
        }
        Ok(())
    }
}

fn trigger_name(part: &str, owner: &str, event: &str) -> String {
    format!("{part}_raises_{owner}_{}", event.to_lowercase())
}

async fn postgres_up(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    db.execute_unprepared(
        "CREATE OR REPLACE FUNCTION cascade_raise_version() RETURNS trigger AS $$
         BEGIN
             NEW.version := OLD.version + 1;
             RETURN NEW;
         END $$ LANGUAGE plpgsql",
    )
    .await?;
    // TG_ARGV: the owner table, then an expression giving the owner's id from the row.
    db.execute_unprepared(
        "CREATE OR REPLACE FUNCTION cascade_raise_owner_version() RETURNS trigger AS $$
         DECLARE
             row_data jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
             owner uuid;
         BEGIN
             IF TG_ARGV[1] = 'attendance' THEN
                 SELECT session_id INTO owner FROM bookings
                  WHERE id = (row_data ->> 'booking_id')::uuid;
             ELSE
                 owner := (row_data ->> TG_ARGV[1])::uuid;
             END IF;
             EXECUTE format('UPDATE %I SET version = version + 1 WHERE id = $1', TG_ARGV[0])
                 USING owner;
             RETURN NULL;
         END $$ LANGUAGE plpgsql",
    )
    .await?;
    for table in VERSIONED {
        db.execute_unprepared(&format!(
            "CREATE TRIGGER {table}_version BEFORE UPDATE ON {table} \
             FOR EACH ROW EXECUTE FUNCTION cascade_raise_version()"
        ))
        .await?;
    }
    for (part, column, owner, events) in PARTS {
        for event in events {
            let name = trigger_name(part, owner, event);
            db.execute_unprepared(&format!(
                "CREATE TRIGGER {name} AFTER {event} ON {part} FOR EACH ROW \
                 EXECUTE FUNCTION cascade_raise_owner_version('{owner}', '{column}')"
            ))
            .await?;
        }
    }
    for event in ["INSERT", "UPDATE", "DELETE"] {
        let name = trigger_name("attendance", "sessions", event);
        db.execute_unprepared(&format!(
            "CREATE TRIGGER {name} AFTER {event} ON attendance FOR EACH ROW \
             EXECUTE FUNCTION cascade_raise_owner_version('sessions', 'attendance')"
        ))
        .await?;
    }
    Ok(())
}

async fn sqlite_up(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    for table in VERSIONED {
        db.execute_unprepared(&format!(
            "CREATE TRIGGER {table}_version AFTER UPDATE ON {table} FOR EACH ROW \
             WHEN NEW.version = OLD.version \
             BEGIN UPDATE {table} SET version = OLD.version + 1 WHERE rowid = NEW.rowid; END"
        ))
        .await?;
    }
    let owner_update = |owner: &str, id: String| {
        format!("UPDATE {owner} SET version = version + 1 WHERE id = {id};")
    };
    for (part, column, owner, events) in PARTS {
        for event in events {
            let row = if *event == "DELETE" { "OLD" } else { "NEW" };
            let name = trigger_name(part, owner, event);
            let body = owner_update(owner, format!("{row}.{column}"));
            db.execute_unprepared(&format!(
                "CREATE TRIGGER {name} AFTER {event} ON {part} FOR EACH ROW BEGIN {body} END"
            ))
            .await?;
        }
    }
    for event in ["INSERT", "UPDATE", "DELETE"] {
        let row = if event == "DELETE" { "OLD" } else { "NEW" };
        let name = trigger_name("attendance", "sessions", event);
        let body = owner_update("sessions", ATTENDANCE_OWNER.replace("{row}", row));
        db.execute_unprepared(&format!(
            "CREATE TRIGGER {name} AFTER {event} ON attendance FOR EACH ROW BEGIN {body} END"
        ))
        .await?;
    }
    Ok(())
}
