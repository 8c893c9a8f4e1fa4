//! The context every piece of work runs in: who is acting, the clock, and the database — and
//! the one way a write begins ([`Ctx::begin`]), whose transaction carries its audit author.
//!
//! A request's context is built from its caller ([`Ctx::request`]); scheduled work
//! (housekeeping, webhook delivery) builds a `system` context on purpose ([`Ctx::system`]), and
//! the command line a `cli` one ([`Ctx::cli`]). Domain functions take `&Ctx` and read the caller
//! from it, so the caller a scope check sees and the one the audit log names are the same.

use chrono::{DateTime, Utc};
use entities::enums::Role;
use sea_orm::{DatabaseConnection, DbErr};
use uuid::Uuid;

use crate::{
    auth::{Principal, role_name},
    clock::Clock,
    db::{self, Author, WriteTxn},
    state::AppState,
    versions::Precondition,
};

/// Who the audit log names for a context's writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Actor {
    /// The API key of a request.
    Caller,
    /// Scheduled work inside the service.
    System,
    /// An administrator at the server's command line.
    Cli,
}

#[derive(Clone)]
pub struct Ctx {
    pub db: DatabaseConnection,
    pub clock: Clock,
    /// The caller. Scheduled work and the command line act with an admin's reach and no key.
    pub who: Principal,
    /// The request's `If-Match`, for the update to claim (see [`crate::versions`]).
    pub precondition: Precondition,
    actor: Actor,
    after_the_fact: bool,
}

impl Ctx {
    /// The context of a request made with `who`'s key.
    pub fn request(state: &AppState, who: &Principal) -> Self {
        Self {
            db: state.db.clone(),
            clock: state.clock.clone(),
            who: who.clone(),
            precondition: Precondition::none(),
            actor: Actor::Caller,
            after_the_fact: false,
        }
    }

    /// The context of scheduled work: its writes are recorded as `system`.
    pub fn system(db: &DatabaseConnection, clock: &Clock) -> Self {
        Self::unkeyed(db, clock, Actor::System)
    }

    /// The context of the command line: its writes are recorded as `cli`.
    pub fn cli(db: &DatabaseConnection) -> Self {
        Self::unkeyed(db, &Clock::system(), Actor::Cli)
    }

    fn unkeyed(db: &DatabaseConnection, clock: &Clock, actor: Actor) -> Self {
        Self {
            db: db.clone(),
            clock: clock.clone(),
            who: Principal {
                key_id: Uuid::nil(),
                role: Role::Admin,
                organisation_id: None,
                person_id: None,
            },
            precondition: Precondition::none(),
            actor,
            after_the_fact: false,
        }
    }

    /// The same context, with the request's `If-Match` for its update to claim.
    pub fn expecting(mut self, precondition: Precondition) -> Self {
        self.precondition = precondition;
        self
    }

    /// The same context, recording what already happened (a past session): every audit record
    /// of its writes says so.
    pub fn after_the_fact(&self) -> Self {
        Self {
            after_the_fact: true,
            ..self.clone()
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Begins a write transaction whose audit records name this context's actor.
    pub async fn begin(&self) -> Result<WriteTxn, DbErr> {
        db::begin_write(&self.db, self.author()).await
    }

    fn author(&self) -> Author {
        let (key_id, role) = match self.actor {
            Actor::Caller => (Some(self.who.key_id), role_name(self.who.role)),
            Actor::System => (None, "system"),
            Actor::Cli => (None, "cli"),
        };
        Author {
            key_id,
            role,
            clock: self.clock.clone(),
            after_the_fact: self.after_the_fact,
        }
    }
}
