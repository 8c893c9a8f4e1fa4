//! Optimistic concurrency (RFC 9110 §13.1.1, `If-Match`): each resource a `PATCH` or `PUT`
//! changes has a `version`, raised by the database on every change to it or its parts (see the
//! migration `m20261130_000012_versions`). Its `ETag` is `"<version>-<digest>"`: the version,
//! then a digest of the representation (so `If-None-Match` still sees changes that come from the
//! clock, such as reserved places released). An update sent with `If-Match` claims the version
//! it names inside its own transaction — `UPDATE … SET version = version + 1 WHERE … AND
//! version IN (…)` — after the caller's scope has been checked; no row claimed is `412`, with
//! the current version's tag. No lock is held between requests, and replicas need nothing more
//! than the database.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use poem::{FromRequest, Request, RequestBody, http::header};
use sea_orm::{
    ConnectionTrait, Value,
    sea_query::{Alias, Expr, ExprTrait, Query, SimpleExpr},
};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// The response header a handler names its resource's version in; the conditional middleware
/// turns it into the `ETag` and removes it.
pub const VERSION_HEADER: &str = "x-cascade-version";

/// A resource with a version, by its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Organisation(Uuid),
    Person(Uuid),
    Locality(Uuid),
    StaffGroup(Uuid),
    Programme(Uuid),
    ProgrammeYear(Uuid, i32),
    Course(Uuid),
    Session(Uuid),
    CascadeSession(Uuid),
    Webhook(Uuid),
}

impl Resource {
    fn table(self) -> &'static str {
        match self {
            Self::Organisation(_) => "organisations",
            Self::Person(_) => "people",
            Self::Locality(_) => "localities",
            Self::StaffGroup(_) => "staff_groups",
            Self::Programme(_) => "programmes",
            Self::ProgrammeYear(..) => "programme_years",
            Self::Course(_) => "courses",
            Self::Session(_) => "sessions",
            Self::CascadeSession(_) => "cascade_sessions",
            Self::Webhook(_) => "webhooks",
        }
    }

    /// What a missing one is called in a 404.
    fn name(self) -> &'static str {
        match self {
            Self::Organisation(_) => "Organisation",
            Self::Person(_) => "Person",
            Self::Locality(_) | Self::StaffGroup(_) => "Item",
            Self::Programme(_) => "Programme",
            Self::ProgrammeYear(..) => "Programme year",
            Self::Course(_) => "Course",
            Self::Session(_) => "Session",
            Self::CascadeSession(_) => "Cascade session",
            Self::Webhook(_) => "Webhook",
        }
    }

    fn key(self) -> SimpleExpr {
        match self {
            Self::ProgrammeYear(programme, year) => Expr::col(Alias::new("programme_id"))
                .eq(programme)
                .and(Expr::col(Alias::new("year")).eq(year)),
            Self::Organisation(id)
            | Self::Person(id)
            | Self::Locality(id)
            | Self::StaffGroup(id)
            | Self::Programme(id)
            | Self::Course(id)
            | Self::Session(id)
            | Self::CascadeSession(id)
            | Self::Webhook(id) => Expr::col(Alias::new("id")).eq(id),
        }
    }
}

/// What a request's `If-Match` asks for. Taken by every `PATCH` and `PUT` handler (a poem
/// extractor, so it adds nothing to the OpenAPI document); the conditional middleware checks in
/// debug builds that none forgot.
#[derive(Debug, Clone, Default)]
pub struct Precondition {
    /// The entity tags listed, if the header was sent.
    tags: Option<Vec<String>>,
}

/// Set by the conditional middleware on a request that sent `If-Match`; the extractor marks it
/// taken.
#[derive(Clone, Default)]
pub struct PreconditionTaken(pub Arc<AtomicBool>);

impl<'a> FromRequest<'a> for Precondition {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        if let Some(taken) = req.extensions().get::<PreconditionTaken>() {
            taken.0.store(true, Ordering::Relaxed);
        }
        let tags = req.headers().get(header::IF_MATCH).map(|value| {
            value
                .to_str()
                .unwrap_or_default()
                .split(',')
                .map(|tag| tag.trim().to_owned())
                .filter(|tag| !tag.is_empty())
                .collect()
        });
        Ok(Self { tags })
    }
}

impl Precondition {
    /// None: an unconditional update.
    pub fn none() -> Self {
        Self::default()
    }

    /// Refuses any `If-Match` on an update whose address has no representation to read (a
    /// membership, a contribution): there is no tag it could match.
    pub fn refuse_unreadable(&self) -> ApiResult<()> {
        match self.tags {
            None => Ok(()),
            Some(_) => Err(ApiError::Stale {
                detail: "This resource cannot be read at this address, so there is no entity \
                         tag to match; send the update without If-Match."
                    .to_owned(),
                current: None,
            }),
        }
    }

    /// The versions named by strong tags of this service (`"<version>-…"` or `"<version>"`),
    /// and whether `*` was sent. Weak tags never match.
    fn versions(&self) -> (bool, Vec<i64>) {
        let tags = self.tags.as_deref().unwrap_or_default();
        let any = tags.iter().any(|t| t == "*");
        let versions = tags
            .iter()
            .filter_map(|t| t.strip_prefix('"')?.strip_suffix('"'))
            .filter_map(|t| t.split('-').next()?.parse::<i64>().ok())
            .collect();
        (any, versions)
    }

    /// Claims `resource` at a version the request read, inside the update's transaction: call
    /// it after the caller's scope is checked and before anything is written. Without
    /// `If-Match` it does nothing.
    pub async fn claim(&self, db: &impl ConnectionTrait, resource: Resource) -> ApiResult<()> {
        if self.tags.is_none() {
            return Ok(());
        }
        let (any, versions) = self.versions();
        if !versions.is_empty() {
            let claim = Query::update()
                .table(Alias::new(resource.table()))
                .value(
                    Alias::new("version"),
                    Expr::col(Alias::new("version")).add(1),
                )
                .and_where(resource.key())
                .and_where(
                    Expr::col(Alias::new("version"))
                        .is_in(versions.iter().copied().map(Value::from)),
                )
                .to_owned();
            if db.execute(&claim).await?.rows_affected() > 0 {
                return Ok(());
            }
        }
        let current = version(db, resource).await?;
        match current {
            Some(_) if any => Ok(()),
            // Nothing to match: not found, as a read of the address would answer.
            None => Err(ApiError::not_found(resource.name())),
            Some(current) => Err(ApiError::Stale {
                detail: "The resource has changed since you read it: read it again (its \
                         current ETag is in this answer's ETag header) and reapply your change."
                    .to_owned(),
                current: Some(tag(current)),
            }),
        }
    }
}

/// The current version of `resource`, if it exists. Read it before the representation, so a
/// tag never names a version newer than the body it comes with.
pub async fn version(db: &impl ConnectionTrait, resource: Resource) -> ApiResult<Option<i64>> {
    let select = Query::select()
        .column(Alias::new("version"))
        .from(Alias::new(resource.table()))
        .and_where(resource.key())
        .to_owned();
    Ok(match db.query_one(&select).await? {
        Some(row) => Some(row.try_get::<i64>("", "version")?),
        None => None,
    })
}

/// The tag of a version alone (what a 412 gives back): good for `If-Match`.
pub fn tag(version: i64) -> String {
    format!("\"{version}\"")
}

/// The `ETag` of a representation of a version: the version, then the representation's digest.
pub fn etag(version: &str, body: &[u8]) -> String {
    let digest = crate::digest::etag(body);
    format!("\"{version}-{}", &digest[1..])
}

/// A representation with the version it was read at: the handler's answer, with the version
/// named for the conditional middleware.
pub fn versioned<T: poem_openapi::types::ToJSON + Send + Sync>(
    body: T,
    version: Option<i64>,
) -> poem_openapi::payload::Response<poem_openapi::payload::Json<T>> {
    let resp = poem_openapi::payload::Response::new(poem_openapi::payload::Json(body));
    match version {
        Some(version) => resp.header(VERSION_HEADER, version.to_string()),
        None => resp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pre(header: &str) -> Precondition {
        Precondition {
            tags: Some(header.split(',').map(|t| t.trim().to_owned()).collect()),
        }
    }

    #[test]
    fn if_match_names_versions_by_strong_tags_only() {
        assert_eq!(pre("\"7-3f1c\", \"9\"").versions(), (false, vec![7, 9]));
        assert_eq!(pre("W/\"7-3f1c\"").versions(), (false, vec![]));
        assert_eq!(pre("*").versions(), (true, vec![]));
        assert_eq!(pre("\"not-a-version\"").versions(), (false, vec![]));
    }

    #[test]
    fn an_etag_is_the_version_then_the_digest() {
        let tag = etag("12", b"{}");
        assert!(tag.starts_with("\"12-") && tag.ends_with('"'), "{tag}");
        assert_eq!(tag.len(), "\"12-".len() + 32 + 1);
    }
}
