//! The audit log: every write records who made it, what it changed and when, in the write's own
//! transaction, so the log and the data can never disagree.
//!
//! Who comes from the write transaction, which carries the author its context gave it
//! ([`crate::ctx::Ctx::begin`]): a request's key, `system` for scheduled work, `cli` for the
//! command line. What is given by the code that writes, through [`record`]; when is the
//! context's clock. Summaries never hold names,
//! email addresses or free text: the log outlives an erasure.
//!
//! In debug builds (tests, and the schemathesis run in CI) a successful write request that
//! recorded nothing is answered 500, so a write path without an audit record cannot land.

use std::{cell::RefCell, future::Future};

use chrono::{DateTime, Utc};
use entities::audit_log;
use poem_openapi::types::ToJSON;
use sea_orm::Set;
use uuid::Uuid;

use crate::{db::WriteTxn, error::ApiResult};

#[derive(Clone, Default)]
struct Context {
    records: u32,
    replayed: bool,
}

tokio::task_local! {
    static CONTEXT: RefCell<Context>;
}

/// Runs `fut` (one request) counting the audit records it makes, so a write that recorded
/// nothing can be caught (see [`unrecorded`]).
pub async fn scope<F: Future>(fut: F) -> F::Output {
    CONTEXT.scope(RefCell::new(Context::default()), fut).await
}

/// Marks the current request as answered from a stored response (an idempotent replay), which
/// writes nothing and so records nothing.
pub fn mark_replayed() {
    let _ = CONTEXT.try_with(|c| c.borrow_mut().replayed = true);
}

/// Marks the current request as a read sent with a writing method (a SCIM `.search` POST),
/// which records nothing.
pub fn mark_read_only() {
    mark_replayed();
}

/// Whether the current request wrote and recorded nothing although it should have: how many
/// records it made, and whether it was a replay.
pub fn unrecorded() -> bool {
    CONTEXT
        .try_with(|c| {
            let c = c.borrow();
            c.records == 0 && !c.replayed
        })
        .unwrap_or(false)
}

/// One change, as the audit log records it.
pub struct Change {
    /// E.g. `person`, `booking`.
    pub resource: &'static str,
    pub id: Option<Uuid>,
    /// E.g. `create`, `update`, `cancel`.
    pub action: &'static str,
    /// What changed, without personal details: field names, statuses, counts.
    pub summary: String,
    /// The person it concerns, if any.
    pub person_id: Option<Uuid>,
}

impl Change {
    pub fn new(resource: &'static str, id: Uuid, action: &'static str) -> Self {
        Self {
            resource,
            id: Some(id),
            action,
            summary: String::new(),
            person_id: None,
        }
    }

    pub fn summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = summary.into();
        self
    }

    pub fn person(mut self, person_id: Uuid) -> Self {
        self.person_id = Some(person_id);
        self
    }
}

/// The names of the fields an update sets, as a summary (`changed name, capacity`): the keys
/// of the input as sent, never their values.
pub fn changed(input: &impl ToJSON) -> String {
    match input.to_json() {
        Some(serde_json::Value::Object(fields)) if !fields.is_empty() => {
            let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
            names.sort_unstable();
            format!("changed {}", names.join(", "))
        }
        _ => "no fields changed".to_owned(),
    }
}

/// Records `change` in the write's own transaction, naming the transaction's author.
pub async fn record(txn: &WriteTxn, change: Change) -> ApiResult<()> {
    let _ = CONTEXT.try_with(|c| c.borrow_mut().records += 1);
    let author = txn.author();
    let summary = if author.after_the_fact {
        format!("recorded after the fact: {}", change.summary)
    } else {
        change.summary
    };
    let at: DateTime<Utc> = author.clock.now();
    let (key_id, role) = (author.key_id, author.role);
    // Nothing reads the record back: it is written with the transaction's next statement.
    txn.insert_later(audit_log::ActiveModel {
        id: Set(Uuid::now_v7()),
        at: Set(at),
        key_id: Set(key_id),
        role: Set(role.to_owned()),
        resource: Set(change.resource.to_owned()),
        resource_id: Set(change.id),
        action: Set(change.action.to_owned()),
        summary: Set(summary),
        person_id: Set(change.person_id),
    });
    Ok(())
}
