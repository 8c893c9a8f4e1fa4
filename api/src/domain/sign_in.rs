//! Sign-in for people: a single-use link sent by email opens a server-side session whose cookie
//! the browser keeps. The role a signed-in person acts with comes from who they are: staff
//! (learner) by default, trainer while in the trainer pipeline, and coordinator, admin or partner
//! lead only where an admin granted it ([`grant`]). API keys stay for systems.

use crate::db::FirstRow as _;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use entities::{enums::Role, people, role_grants, sign_in_links, trainer_steps, web_sessions};
use poem_openapi::{Enum, Object};
use rand::Rng;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
    sea_query::OnConflict,
};
use uuid::Uuid;

use super::{
    mail::{self, Kind, Outgoing},
    validation::Email,
};
use crate::{
    audit::{self, Change},
    auth::Principal,
    clock::Clock,
    ctx::Ctx,
    error::{ApiError, ApiResult},
};

/// How long a sign-in link works.
pub const LINK_MINUTES: i64 = 15;
/// A session ends after this long without a request…
pub const IDLE_MINUTES: i64 = 60;
/// …and in any case this long after sign-in.
pub const SESSION_HOURS: i64 = 12;

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hash(token: &str) -> String {
    crate::digest::sha256_hex(token.as_bytes())
}

/// Sends a sign-in link to a known, active person with this work email. Says nothing either
/// way: the caller answers the same whether or not the address is known.
pub async fn request_link(ctx: &Ctx, email: &str) -> ApiResult<()> {
    let now = ctx.now();
    let key = Email::key_of(email);
    let Some(person) = people::Entity::find()
        .filter(people::Column::EmailKey.eq(key))
        .filter(people::Column::Active.eq(true))
        .filter(people::Column::ErasedAt.is_null())
        .first(&ctx.db)
        .await?
    else {
        // Nothing is written for an unknown address (nor is the address kept anywhere).
        audit::mark_read_only();
        return Ok(());
    };
    let token = random_token();
    let txn = ctx.begin().await?;
    let token_hash = store_link(&txn, person.id, &token, now).await?;
    mail::enqueue(
        &txn,
        vec![Outgoing {
            person_id: person.id,
            kind: Kind::SignInLink,
            dedup_key: format!("sign_in:{token_hash}"),
            booking_id: None,
            session_id: None,
            certificate_id: None,
            data: serde_json::json!({ "token": token }),
        }],
        now,
    )
    .await?;
    audit::record(
        &txn,
        Change::new("person", person.id, "sign_in_link").summary("sign-in link emailed"),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

async fn store_link(
    db: &impl ConnectionTrait,
    person_id: Uuid,
    token: &str,
    now: DateTime<Utc>,
) -> ApiResult<String> {
    let token_hash = hash(token);
    sign_in_links::ActiveModel {
        token_hash: Set(token_hash.clone()),
        person_id: Set(person_id),
        expires_at: Set(now + Duration::minutes(LINK_MINUTES)),
        used_at: Set(None),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(token_hash)
}

/// A sign-in link's token for a person, handed to the command line (a first admin, the demo)
/// rather than emailed. Same rules: once, within 15 minutes.
pub async fn issue_link(ctx: &Ctx, person_id: Uuid) -> ApiResult<String> {
    let now = ctx.now();
    people::Entity::find_by_id(person_id)
        .filter(people::Column::Active.eq(true))
        .filter(people::Column::ErasedAt.is_null())
        .first(&ctx.db)
        .await?
        .ok_or_else(|| ApiError::not_found("Person"))?;
    let token = random_token();
    let txn = ctx.begin().await?;
    store_link(&txn, person_id, &token, now).await?;
    audit::record(
        &txn,
        Change::new("person", person_id, "sign_in_link").summary("sign-in link issued"),
    )
    .await?;
    txn.commit().await?;
    Ok(token)
}

/// A session just opened: the cookie's value (shown once) and its CSRF token.
pub struct Opened {
    pub cookie: String,
    pub csrf_token: String,
}

/// Uses a sign-in link: once, within its 15 minutes, for a person still active. The link is
/// spent by one conditional update, so two replicas (or two clicks) cannot both use it.
pub async fn redeem(ctx: &Ctx, token: &str) -> ApiResult<Option<Opened>> {
    let now = ctx.now();
    let token_hash = hash(token.trim());
    let txn = ctx.begin().await?;
    let spent = sign_in_links::Entity::update_many()
        .col_expr(
            sign_in_links::Column::UsedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(sign_in_links::Column::TokenHash.eq(token_hash.clone()))
        .filter(sign_in_links::Column::UsedAt.is_null())
        .filter(sign_in_links::Column::ExpiresAt.gt(now))
        .exec(&txn)
        .await?;
    if spent.rows_affected != 1 {
        return Ok(None);
    }
    let Some(link) = sign_in_links::Entity::find_by_id(token_hash)
        .first(&txn)
        .await?
    else {
        return Ok(None);
    };
    let active = people::Entity::find_by_id(link.person_id)
        .filter(people::Column::Active.eq(true))
        .filter(people::Column::ErasedAt.is_null())
        .count(&txn)
        .await?;
    if active == 0 {
        txn.commit().await?;
        return Ok(None);
    }
    let cookie = random_token();
    let csrf_token = random_token();
    let id = Uuid::now_v7();
    web_sessions::ActiveModel {
        id: Set(id),
        token_hash: Set(hash(&cookie)),
        person_id: Set(link.person_id),
        csrf_token: Set(csrf_token.clone()),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(now + Duration::hours(SESSION_HOURS)),
        ended_at: Set(None),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        Change::new("person", link.person_id, "sign_in").summary("signed in by emailed link"),
    )
    .await?;
    txn.commit().await?;
    Ok(Some(Opened { cookie, csrf_token }))
}

/// A signed-in browser: its session and the caller it acts as.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session: web_sessions::Model,
    pub principal: Principal,
    pub person: people::Model,
}

/// The session a cookie names, if it is still open (neither ended, expired nor idle for too
/// long) and its person still active. Marks it seen (at most once a minute).
pub async fn session_of(
    db: &impl ConnectionTrait,
    clock: &Clock,
    cookie: &str,
) -> ApiResult<Option<SignedIn>> {
    let now = clock.now();
    let Some(session) = web_sessions::Entity::find()
        .filter(web_sessions::Column::TokenHash.eq(hash(cookie.trim())))
        .filter(web_sessions::Column::EndedAt.is_null())
        .filter(web_sessions::Column::ExpiresAt.gt(now))
        .filter(web_sessions::Column::LastSeenAt.gt(now - Duration::minutes(IDLE_MINUTES)))
        .first(db)
        .await?
    else {
        return Ok(None);
    };
    let Some(person) = people::Entity::find_by_id(session.person_id)
        .filter(people::Column::Active.eq(true))
        .filter(people::Column::ErasedAt.is_null())
        .first(db)
        .await?
    else {
        return Ok(None);
    };
    if now - session.last_seen_at > Duration::minutes(1) {
        web_sessions::Entity::update_many()
            .col_expr(
                web_sessions::Column::LastSeenAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(web_sessions::Column::Id.eq(session.id))
            .exec(db)
            .await?;
    }
    let principal = principal_of(db, session.id, person.id).await?;
    Ok(Some(SignedIn {
        session,
        principal,
        person,
    }))
}

/// The caller a signed-in person acts as. Its `key_id` is the browser session's id, so the
/// audit log and per-caller limits tell sessions apart.
pub async fn principal_of(
    db: &impl ConnectionTrait,
    session_id: Uuid,
    person_id: Uuid,
) -> ApiResult<Principal> {
    let grant = role_grants::Entity::find_by_id(person_id).first(db).await?;
    let (role, organisation_id) = match grant.as_ref().map(|g| (g.role.as_str(), g.organisation_id))
    {
        Some(("admin", _)) => (Role::Admin, None),
        Some(("coordinator", _)) => (Role::Coordinator, None),
        Some(("partner", Some(org))) => (Role::Partner, Some(org)),
        _ => {
            let in_pipeline = trainer_steps::Entity::find()
                .filter(trainer_steps::Column::PersonId.eq(person_id))
                .count(db)
                .await?
                > 0;
            (
                if in_pipeline {
                    Role::Trainer
                } else {
                    Role::Learner
                },
                None,
            )
        }
    };
    Ok(Principal {
        key_id: session_id,
        role,
        organisation_id,
        person_id: Some(person_id),
    })
}

/// Ends a session server-side (sign-out): its cookie opens nothing from now on.
pub async fn end(ctx: &Ctx, session_id: Uuid) -> ApiResult<()> {
    let txn = ctx.begin().await?;
    web_sessions::Entity::update_many()
        .col_expr(
            web_sessions::Column::EndedAt,
            sea_orm::sea_query::Expr::value(ctx.now()),
        )
        .filter(web_sessions::Column::Id.eq(session_id))
        .filter(web_sessions::Column::EndedAt.is_null())
        .exec(&txn)
        .await?;
    if let Some(person) = ctx.who.person_id {
        audit::record(
            &txn,
            Change::new("person", person, "sign_out").summary("signed out"),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// A role a person signs in with, beyond what their record gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum GrantedRole {
    /// No grant: staff, or trainer while in the trainer pipeline.
    None,
    /// Runs the programme: everything but API keys, grants and erasure.
    Coordinator,
    /// Everything.
    Admin,
    /// A partner lead: the partner role for the person's employing organisation.
    PartnerLead,
}

/// The role granted to a person for signing in.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RoleGrant {
    /// The person.
    pub person_id: Uuid,
    /// The role granted (`none`: staff, or trainer while in the trainer pipeline).
    pub role: GrantedRole,
    /// For a partner lead: the organisation they lead for.
    pub organisation_id: Option<Uuid>,
    /// When it was granted (absent without a grant).
    pub granted_at: Option<DateTime<Utc>>,
}

/// A role to grant.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct RoleGrantInput {
    /// `coordinator`, `admin`, `partner_lead` (for the person's employing organisation), or
    /// `none` to withdraw a grant.
    pub role: GrantedRole,
}

fn grant_view(person_id: Uuid, g: Option<role_grants::Model>) -> RoleGrant {
    match g {
        None => RoleGrant {
            person_id,
            role: GrantedRole::None,
            organisation_id: None,
            granted_at: None,
        },
        Some(g) => RoleGrant {
            person_id,
            role: match g.role.as_str() {
                "admin" => GrantedRole::Admin,
                "coordinator" => GrantedRole::Coordinator,
                "partner" => GrantedRole::PartnerLead,
                _ => GrantedRole::None,
            },
            organisation_id: g.organisation_id,
            granted_at: Some(g.granted_at),
        },
    }
}

/// The role a person signs in with, as granted.
pub async fn get_grant(ctx: &Ctx, person_id: Uuid) -> ApiResult<RoleGrant> {
    ctx.who.require(crate::auth::Action::GrantRoles)?;
    super::people::find_visible(&ctx.db, &ctx.who, person_id).await?;
    let g = role_grants::Entity::find_by_id(person_id)
        .first(&ctx.db)
        .await?;
    Ok(grant_view(person_id, g))
}

/// Grants (or withdraws) the role a person signs in with. Their open sessions pick it up on the
/// next request.
pub async fn grant(ctx: &Ctx, person_id: Uuid, input: RoleGrantInput) -> ApiResult<RoleGrant> {
    ctx.who.require(crate::auth::Action::GrantRoles)?;
    let now = ctx.now();
    let txn = ctx.begin().await?;
    super::people::find_visible(&txn, &ctx.who, person_id).await?;
    let (role, organisation_id) = match input.role {
        GrantedRole::None => {
            role_grants::Entity::delete_by_id(person_id)
                .exec(&txn)
                .await?;
            audit::record(
                &txn,
                Change::new("person", person_id, "role_withdrawn")
                    .summary("sign-in role withdrawn"),
            )
            .await?;
            txn.commit().await?;
            return Ok(grant_view(person_id, None));
        }
        GrantedRole::Admin => ("admin", None),
        GrantedRole::Coordinator => ("coordinator", None),
        GrantedRole::PartnerLead => {
            let Some(m) = super::people::primary_membership(&txn, person_id).await? else {
                return Err(ApiError::invalid(
                    "role",
                    "a partner lead needs an employing organisation (a primary membership)",
                ));
            };
            ("partner", Some(m.organisation_id))
        }
    };
    role_grants::Entity::insert(role_grants::ActiveModel {
        person_id: Set(person_id),
        role: Set(role.to_owned()),
        organisation_id: Set(organisation_id),
        granted_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(role_grants::Column::PersonId)
            .update_columns([
                role_grants::Column::Role,
                role_grants::Column::OrganisationId,
                role_grants::Column::GrantedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    audit::record(
        &txn,
        Change::new("person", person_id, "role_granted").summary(format!("sign-in role {role}")),
    )
    .await?;
    let g = role_grants::Entity::find_by_id(person_id)
        .first(&txn)
        .await?;
    txn.commit().await?;
    Ok(grant_view(person_id, g))
}
