//! Who is calling, and what they may see or change. Every scope check in the API lives here.
//!
//! | role        | catalogue, partners, sessions | people                        | bookings                         | records¹            | register, steps, cascades          | reports             | API keys, sign-in roles | audit log | erasure |
//! |-------------|-------------------------------|-------------------------------|----------------------------------|---------------------|------------------------------------|---------------------|----------|-----------|---------|
//! | admin       | read, write                   | all: read, write              | all                              | all; import         | all                                | all                 | manage   | read      | erase   |
//! | coordinator | read, write                   | all: read, write              | all                              | all; import         | all                                | all                 | —        | read      | —       |
//! | partner     | read                          | own organisation: read; employees: write² | its organisation's places | produced for it³; import | —                       | own org + totals    | —        | —         | —       |
//! | trainer     | read                          | self: read                    | own; all on sessions it delivers | self                | sessions it delivers; sign-offs    | —                   | —        | —         | —       |
//! | learner     | read                          | self: read                    | own                              | self                | —                                  | —                   | —        | —         | —       |
//!
//! ¹ completions, champions, trainer progress and lineage.
//! ² a person's own details only while the partner employs them (primary, active membership:
//!   `domain::people::require_employer`); anyone else it names becomes a membership request.
//! ³ completions, certificates and champions produced for its organisation
//!   (`domain::people::produced_for`); trainer progress and lineage of its employees
//!   (`domain::people::records_scope`).
//!
//! People who sign in to the pages act as one of these roles (`domain::sign_in::principal_of`):
//! learner, trainer while in the trainer pipeline, or the coordinator, admin or partner (lead)
//! role an admin granted them.
//!
//! A person's data export (everything held about them) is for admins, coordinators and the
//! person themselves: a partner's export would show other organisations' records. `/metrics` is
//! for admin keys.
//!
//! A person outside the caller's scope is reported as not found (404), never as forbidden, so a
//! partner cannot learn who works elsewhere.

use std::sync::Arc;

use crate::db::{FirstRow as _, Reader};
use entities::enums::Role;
use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};
use uuid::Uuid;

use entities::{api_keys, organisations, people};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use subtle::ConstantTimeEq;

use crate::{
    error::{ApiError, ApiResult},
    scim_error::ErrorFormat,
    state::AppState,
};

/// How every key's secret begins (`cas_`), so a leaked key is recognisable to secret scanners.
pub const SECRET_PREFIX: &str = "cas_";

/// The authenticated caller: the key that was presented and what it is bound to.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key_id: Uuid,
    pub role: Role,
    /// For partner keys.
    pub organisation_id: Option<Uuid>,
    /// For trainer and learner keys.
    pub person_id: Option<Uuid>,
}

/// An API key sent as `Authorization: Bearer <key>`. Keys are created by an admin (`cascade keys
/// create` or `POST /api/v1/api-keys`), shown once, and carry one role: `admin`, `coordinator`,
/// `partner` (bound to one organisation), `trainer` or `learner` (bound to one person).
#[derive(SecurityScheme)]
#[oai(ty = "bearer", checker = "check_key")]
pub struct ApiKey(pub Principal);

async fn check_key(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("application state missing")))?;
    Ok(authenticate(state, req, &bearer.token).await?)
}

/// Marks a request to the pages people post forms to with their session cookie (sign-in,
/// "My training", unsubscribe): they carry no key, and each checks its session and CSRF token.
#[derive(Debug, Clone, Copy)]
pub struct PageForm;

/// The caller [`authenticate_first`] found, kept on the request for its handler.
#[derive(Clone)]
struct Authenticated {
    secret: String,
    principal: Principal,
}

/// The connection a read's key was checked on, kept for its handler (see [`reads`]).
#[derive(Clone)]
struct KeptReads(Arc<Reader>);

/// Where a handler reads: the connection its request's key was checked on, when
/// [`authenticate_first`] could keep it, or else one of its own (see [`Reader`]).
pub fn reads(req: &Request, state: &AppState) -> Arc<Reader> {
    req.extensions().get::<KeptReads>().map_or_else(
        || Arc::new(Reader::new(&state.db)),
        |kept| Arc::clone(&kept.0),
    )
}

/// The caller of a request whose key [`authenticate_first`] has checked.
pub fn caller(req: &Request) -> Option<Principal> {
    req.extensions()
        .get::<Authenticated>()
        .map(|a| a.principal.clone())
}

/// The key of an `Authorization: Bearer <key>` header.
pub fn bearer_token(req: &Request) -> Option<&str> {
    let value = req.headers().get(poem::http::header::AUTHORIZATION)?;
    let (scheme, token) = value.to_str().ok()?.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Middleware: checks the key of every request that sends one before anything else is done
/// with it (its body read, an idempotency claim written), and refuses a write that sends none;
/// a refused request costs the server no body and writes nothing. The handler then finds the
/// caller here instead of checking the key again.
pub async fn authenticate_first<E: poem::Endpoint>(
    next: E,
    mut req: Request,
) -> poem::Result<poem::Response> {
    use poem::{IntoResponse, http::Method};
    let Some(state) = req.data::<AppState>().cloned() else {
        return Ok(Box::pin(next.call(req)).await?.into_response());
    };
    let refuse = |req: &Request, err: ApiError| ErrorFormat::of(req).answer(err);
    match bearer_token(&req).map(str::to_owned) {
        Some(secret) => {
            // A read's key is checked on the connection its handler's reads will use, when a
            // permit to keep one is free (see `Reader`); a change takes its own connection.
            let kept = matches!(*req.method(), Method::GET | Method::HEAD)
                .then(|| Arc::clone(&state.kept_reads).try_acquire_owned().ok())
                .flatten()
                .map(|share| Arc::new(Reader::kept(&state.db, share)));
            let checked = match &kept {
                Some(reads) => authenticate_on(&**reads, &state, &req, &secret).await,
                None => authenticate_on(&state.db, &state, &req, &secret).await,
            };
            match checked {
                Ok(principal) => {
                    req.extensions_mut()
                        .insert(Authenticated { secret, principal });
                    if let Some(reads) = kept {
                        req.extensions_mut().insert(KeptReads(reads));
                    }
                }
                Err(err) => return Ok(refuse(&req, err)),
            }
        }
        None if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
            && req.extensions().get::<PageForm>().is_none() =>
        {
            return Ok(refuse(
                &req,
                ApiError::Unauthorized(
                    "Send an API key: Authorization: Bearer <key>. Every change needs one."
                        .to_owned(),
                ),
            ));
        }
        None => {}
    }
    Ok(Box::pin(next.call(req)).await?.into_response())
}

/// Every key check goes through here (the API, SCIM and `/metrics`). A failure counts against
/// its client address; past the limit that address's failures are answered 429 instead of 401,
/// while valid keys from the same address (partners behind one proxy or NAT) carry on. A good
/// key then counts against its own per-key limit. The caller is remembered for the audit log.
pub async fn authenticate(state: &AppState, req: &Request, secret: &str) -> ApiResult<Principal> {
    authenticate_on(&state.db, state, req, secret).await
}

/// [`authenticate`], reading the key through `db`.
async fn authenticate_on(
    db: &impl ConnectionTrait,
    state: &AppState,
    req: &Request,
    secret: &str,
) -> ApiResult<Principal> {
    let secret = secret.trim();
    if let Some(done) = req.extensions().get::<Authenticated>()
        && done.secret == secret
    {
        return Ok(done.principal.clone());
    }
    let principal = match find_key(db, secret).await {
        Ok(principal) => principal,
        Err(ApiError::Unauthorized(detail)) => {
            let client = crate::ratelimit::client_address(req, &state.config.trusted_proxies);
            return Err(match state.auth_failures.check(&client) {
                Ok(()) => ApiError::Unauthorized(detail),
                Err(wait) => ApiError::TooManyRequests(wait),
            });
        }
        Err(err) => return Err(err),
    };
    state
        .key_limiter
        .check(&principal.key_id.to_string())
        .map_err(ApiError::TooManyRequests)?;
    Ok(principal)
}

/// The kinds of thing a caller may ask to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read partners, reference lists, programmes and courses.
    ReadCatalogue,
    /// Create or change partners, reference lists, programmes and courses.
    ManageCatalogue,
    /// Read people (within [`PeopleScope`]).
    ReadPeople,
    /// Create or change people and their memberships (within [`PeopleScope`]).
    WritePeople,
    /// Create, list and revoke API keys.
    ManageKeys,
    /// Grant people the coordinator, admin or partner-lead role they sign in with.
    GrantRoles,
    /// Schedule, change and cancel sessions.
    ManageSessions,
    /// Book and cancel places (for people within [`PeopleScope`]).
    Book,
    /// Read completions, champions, trainers and lineage (within [`PeopleScope`]).
    ReadRecords,
    /// Import completions done elsewhere (for people within [`PeopleScope`]).
    ImportCompletions,
    /// Keep a session's register and close it (trainers: only sessions they facilitate).
    KeepRegister,
    /// Record trainer progression steps (trainers: only sign-offs, as themselves).
    RecordSteps,
    /// Record, correct and read cascade sessions (trainers: only their own).
    Cascades,
    /// Read programme reports (partners: their organisation's breakdowns and programme totals).
    ReadReports,
    /// Revoke and reissue certificates, and print a session's certificates.
    ManageCertificates,
    /// Read the change feed (partners: their organisation's events and session changes).
    ReadEvents,
    /// Register webhooks and read their deliveries (partners: their organisation's).
    ManageWebhooks,
    /// Read the audit log.
    ReadAudit,
    /// Erase a person's identifying details (UK GDPR erasure).
    ErasePeople,
    /// Read the service's Prometheus metrics.
    ReadMetrics,
}

/// Which people a caller can reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeopleScope {
    All,
    /// People with a membership (current or past) of this organisation.
    Organisation(Uuid),
    /// Only this person.
    Person(Uuid),
}

impl Principal {
    /// Refuses with 403 when the role may not do `action` at all.
    pub fn require(&self, action: Action) -> ApiResult<()> {
        use Action::*;
        let allowed = match self.role {
            Role::Admin => true,
            Role::Coordinator => {
                !matches!(action, ManageKeys | GrantRoles | ErasePeople | ReadMetrics)
            }
            Role::Partner => matches!(
                action,
                ReadCatalogue
                    | ReadPeople
                    | WritePeople
                    | Book
                    | ReadRecords
                    | ImportCompletions
                    | ReadReports
                    | ReadEvents
                    | ManageWebhooks
            ),
            Role::Trainer => matches!(
                action,
                ReadCatalogue
                    | ReadPeople
                    | Book
                    | ReadRecords
                    | KeepRegister
                    | RecordSteps
                    | Cascades
            ),
            Role::Learner => matches!(action, ReadCatalogue | ReadPeople | Book | ReadRecords),
        };
        if allowed {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "A {} key may not do this.",
                role_name(self.role)
            )))
        }
    }

    /// The people this caller can see (and, where it may write people, change).
    pub fn people_scope(&self) -> PeopleScope {
        match (self.role, self.organisation_id, self.person_id) {
            (Role::Admin | Role::Coordinator, _, _) => PeopleScope::All,
            (Role::Partner, Some(org), _) => PeopleScope::Organisation(org),
            (_, _, Some(person)) => PeopleScope::Person(person),
            // A key without its binding reaches no one; creation refuses such keys anyway.
            _ => PeopleScope::Person(Uuid::nil()),
        }
    }

    /// The organisation whose staff a SCIM client manages: SCIM is for partner keys only, each
    /// partner's identity provider managing its own organisation's staff.
    pub fn scim_organisation(&self) -> ApiResult<Uuid> {
        match (self.role, self.organisation_id) {
            (Role::Partner, Some(org)) => Ok(org),
            _ => Err(ApiError::Forbidden(
                "SCIM is for partner keys: each partner's identity provider manages its own \
                 organisation's staff."
                    .to_owned(),
            )),
        }
    }

    /// Whether the caller may look people up (the console's people search): coordinators and
    /// admins everyone, partners their own staff; a trainer or learner sees only themselves, so
    /// there is nobody to search for.
    pub fn require_people_search(&self) -> ApiResult<()> {
        self.require(Action::ReadPeople)?;
        match self.people_scope() {
            PeopleScope::Person(_) => Err(ApiError::Forbidden(format!(
                "A {} may see only their own record.",
                role_name(self.role)
            ))),
            _ => Ok(()),
        }
    }

    /// Refuses with 403 when the caller may not act for `organisation_id`'s memberships.
    pub fn require_organisation(&self, organisation_id: Uuid) -> ApiResult<()> {
        match self.people_scope() {
            PeopleScope::All => Ok(()),
            PeopleScope::Organisation(own) if own == organisation_id => Ok(()),
            _ => Err(ApiError::Forbidden(
                "A partner key may act only for its own organisation.".to_owned(),
            )),
        }
    }
}

impl Principal {
    /// Refuses unless the caller may export everything held about `person_id`: admins and
    /// coordinators, or the person's own key. Another person is not found (404), as everywhere.
    pub fn require_export(&self, person_id: Uuid) -> ApiResult<()> {
        match self.people_scope() {
            PeopleScope::All => Ok(()),
            PeopleScope::Person(me) if me == person_id => Ok(()),
            PeopleScope::Person(_) => Err(ApiError::not_found("Person")),
            PeopleScope::Organisation(_) => Err(ApiError::Forbidden(
                "A partner key may not export a person's whole record: it holds other \
                 organisations' data. Ask a coordinator."
                    .to_owned(),
            )),
        }
    }

    /// Whether the caller may see or cancel a booking of `person_id` held for `organisation_id`:
    /// a partner reaches the places booked for its own organisation, a learner or trainer their
    /// own.
    pub fn reaches_booking(&self, person_id: Uuid, organisation_id: Uuid) -> bool {
        match self.people_scope() {
            PeopleScope::All => true,
            PeopleScope::Organisation(own) => own == organisation_id,
            PeopleScope::Person(me) => me == person_id,
        }
    }
}

/// Which sessions a caller reaches among those people deliver (registers, cascade sessions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryScope {
    /// Every session: admins and coordinators run the programme.
    All,
    /// Only sessions this person delivers (facilitates, leads or co-delivers): trainer keys.
    DeliveredBy(Uuid),
    /// None: partner and learner keys deliver nothing.
    Nothing,
}

impl Principal {
    /// Whether the caller runs the programme (admin and coordinator keys): it may sign off any
    /// step, override a rule with a reason and manage every calendar feed.
    pub fn coordinates(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Coordinator)
    }

    /// The sessions this caller delivers. A trainer key without its person reaches none.
    pub fn delivery_scope(&self) -> DeliveryScope {
        match self.role {
            Role::Admin | Role::Coordinator => DeliveryScope::All,
            Role::Trainer => DeliveryScope::DeliveredBy(self.person_id.unwrap_or(Uuid::nil())),
            Role::Partner | Role::Learner => DeliveryScope::Nothing,
        }
    }

    /// Refuses unless the caller may keep the register of a session facilitated by
    /// `facilitates` (whether the caller's person is one of its facilitators): coordinators,
    /// and trainer keys of its facilitators.
    pub fn require_register_keeper(&self, facilitates: bool) -> ApiResult<()> {
        match self.delivery_scope() {
            DeliveryScope::All => Ok(()),
            DeliveryScope::DeliveredBy(_) if facilitates => Ok(()),
            _ => Err(ApiError::Forbidden(
                "Only the session's facilitators and coordinators keep its register.".into(),
            )),
        }
    }

    /// Whether the caller reaches a cascade session led by `lead` (with `co`): trainer keys
    /// only those they delivered; every other key that may read cascades, all.
    pub fn reaches_cascade(&self, lead: Uuid, co: Option<Uuid>) -> bool {
        match self.delivery_scope() {
            DeliveryScope::DeliveredBy(me) => me == lead || co == Some(me),
            DeliveryScope::All | DeliveryScope::Nothing => true,
        }
    }

    /// Refuses unless the caller may record or correct a cascade session led by `lead`.
    pub fn require_cascade_deliverer(&self, lead: Uuid, co: Option<Uuid>) -> ApiResult<()> {
        if self.reaches_cascade(lead, co) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "A trainer may record only the cascade sessions they delivered.".into(),
            ))
        }
    }

    /// Whether the caller signs off trainer steps as an observing trainer (anyone they
    /// observed) rather than within its people scope.
    pub fn signs_off_as_trainer(&self) -> bool {
        self.role == Role::Trainer
    }
}

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Coordinator => "coordinator",
        Role::Partner => "partner",
        Role::Trainer => "trainer",
        Role::Learner => "learner",
    }
}

/// The stored form of a key's secret.
pub fn hash_secret(secret: &str) -> String {
    crate::digest::sha256_hex(secret.as_bytes())
}

/// Finds the live key for a presented secret. Secrets carry 256 random bits, so a fast hash
/// looked up by index is safe: there is nothing to guess byte by byte.
async fn find_key(db: &impl ConnectionTrait, secret: &str) -> ApiResult<Principal> {
    let refused = || ApiError::Unauthorized("The API key is not valid or has been revoked.".into());
    if !secret.starts_with(SECRET_PREFIX) || secret.len() > 100 {
        return Err(refused());
    }
    let presented = hash_secret(secret);
    let key = api_keys::Entity::find()
        .filter(api_keys::Column::TokenHash.eq(presented.as_str()))
        .filter(api_keys::Column::RevokedAt.is_null())
        .first(db)
        .await?
        .ok_or_else(refused)?;
    // The index finds the row; the comparison that grants access takes the same time whatever
    // the bytes, so response timing says nothing about how close a guess was.
    if !bool::from(key.token_hash.as_bytes().ct_eq(presented.as_bytes())) {
        return Err(refused());
    }
    // A key acts for its organisation or person only while they are active: a partner that has
    // left the partnership, or a member of staff who has left, loses access with them.
    if let Some(org) = key.organisation_id {
        let active = organisations::Entity::find_by_id(org)
            .first(db)
            .await?
            .is_some_and(|o| o.active);
        if !active {
            return Err(ApiError::Unauthorized(
                "The organisation of this API key is inactive.".into(),
            ));
        }
    }
    if let Some(person) = key.person_id {
        let active = people::Entity::find_by_id(person)
            .first(db)
            .await?
            .is_some_and(|p| p.active);
        if !active {
            return Err(ApiError::Unauthorized(
                "The person of this API key is inactive.".into(),
            ));
        }
    }
    Ok(Principal {
        key_id: key.id,
        role: key.role,
        organisation_id: key.organisation_id,
        person_id: key.person_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(role: Role, person_id: Option<Uuid>) -> Principal {
        Principal {
            key_id: Uuid::nil(),
            role,
            organisation_id: None,
            person_id,
        }
    }

    #[test]
    fn delivery_policies_are_named_here() {
        let me = Uuid::now_v7();
        let other = Uuid::now_v7();
        let trainer = key(Role::Trainer, Some(me));
        assert_eq!(trainer.delivery_scope(), DeliveryScope::DeliveredBy(me));
        assert!(trainer.require_register_keeper(true).is_ok());
        assert!(trainer.require_register_keeper(false).is_err());
        assert!(trainer.reaches_cascade(other, Some(me)));
        assert!(!trainer.reaches_cascade(other, None));
        assert!(trainer.signs_off_as_trainer() && !trainer.coordinates());

        let coordinator = key(Role::Coordinator, None);
        assert_eq!(coordinator.delivery_scope(), DeliveryScope::All);
        assert!(coordinator.require_register_keeper(false).is_ok());
        assert!(coordinator.coordinates());

        let learner = key(Role::Learner, Some(me));
        assert_eq!(learner.delivery_scope(), DeliveryScope::Nothing);
        assert!(learner.require_register_keeper(true).is_err());
        // A trainer key without its person reaches no one's sessions.
        assert_eq!(
            key(Role::Trainer, None).delivery_scope(),
            DeliveryScope::DeliveredBy(Uuid::nil())
        );
    }
}
