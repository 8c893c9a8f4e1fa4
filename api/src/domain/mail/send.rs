//! The mail worker every replica runs: it leases due messages (one replica sends each), composes
//! and sends them by SMTP or into the mail folder, retries with backoff and logs each attempt.

use std::path::PathBuf;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use entities::{message_attempts, messages};
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{
        Attachment, Mailbox, MultiPart, SinglePart,
        header::{ContentType, HeaderName, HeaderValue},
    },
};
use rand::Rng;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QueryTrait, Set, Statement,
    sea_query::Value as SqlValue,
};
use uuid::Uuid;

use super::compose::{Composed, Skip, compose};
use crate::{
    config::Config,
    ctx::Ctx,
    db::Reader,
    error::{ApiError, ApiResult},
};

/// A message is leased to one replica for this long while it is sent.
const LEASE_SECONDS: i64 = 300;
/// Messages a replica takes at a time.
const BATCH: i64 = 20;
/// An outcome sent is written at the latest this long after, or with the rest of its batch.
const RECORD_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);
/// A message that could not be sent for this long is given up.
const RETRY_HOURS: i64 = 24;

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Sent,
    Failed,
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Sent => "sent",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// What one run of the worker did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub sent: u64,
    pub skipped: u64,
    pub failed_attempts: u64,
}

/// How messages leave: an SMTP server, or `.eml` files in a folder.
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Folder(PathBuf),
}

impl Transport {
    /// SMTP when `smtp_url` is set, else the mail folder.
    pub fn from_config(config: &Config) -> Result<Self, String> {
        match &config.smtp_url {
            Some(url) => AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                .map(|b| {
                    Transport::Smtp(b.timeout(Some(std::time::Duration::from_secs(30))).build())
                })
                .map_err(|e| format!("the SMTP URL is not usable: {e}")),
            None => Ok(Transport::Folder(config.mail_dir.clone())),
        }
    }

    async fn deliver(&self, email: Message, file_stem: &str) -> Result<(), String> {
        match self {
            Transport::Smtp(smtp) => smtp
                .send(email)
                .await
                .map(|_| ())
                .map_err(|e| format!("the SMTP server refused or could not be reached: {e}")),
            Transport::Folder(dir) => {
                let write = || -> std::io::Result<()> {
                    std::fs::create_dir_all(dir)?;
                    // Written whole, then renamed: a reader never sees half a message.
                    let tmp = dir.join(format!(".{file_stem}.tmp"));
                    std::fs::write(&tmp, email.formatted())?;
                    std::fs::rename(&tmp, dir.join(format!("{file_stem}.eml")))
                };
                write().map_err(|e| format!("writing to {}: {e}", dir.display()))
            }
        }
    }
}

/// Takes the lease of up to [`BATCH`] due messages. The conditions are repeated outside the
/// sub-select so that, on PostgreSQL, a replica whose update waited for another's re-checks
/// them against the committed row and skips a message the other has just taken.
async fn claim(db: &impl ConnectionTrait, now: DateTime<Utc>) -> ApiResult<Vec<Uuid>> {
    let backend = db.get_database_backend();
    // The batch size is written as a number: SQLite plans a bound LIMIT again on every run.
    let sql = format!(
        "UPDATE messages SET lease_until = $1 WHERE id IN (SELECT id FROM messages \
         WHERE status = 'pending' AND next_attempt_at <= $2 \
         AND (lease_until IS NULL OR lease_until <= $2) \
         ORDER BY next_attempt_at, id LIMIT {BATCH}) \
         AND status = 'pending' AND (lease_until IS NULL OR lease_until <= $2) \
         RETURNING id"
    );
    let sql = match backend {
        sea_orm::DbBackend::Postgres => sql,
        _ => sql.replace("$1", "?1").replace("$2", "?2"),
    };
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [
                SqlValue::from(now + Duration::seconds(LEASE_SECONDS)),
                SqlValue::from(now),
            ],
        ))
        .await?;
    let mut ids = Vec::with_capacity(rows.len());
    for row in rows {
        ids.push(row.try_get::<Uuid>("", "id")?);
    }
    ids.sort();
    Ok(ids)
}

/// Sends what is due. Safe on every replica at once: each message is leased to one.
///
/// Outcomes are written together — those of a claimed batch in one transaction, or sooner when
/// [`RECORD_WITHIN`] has passed since the first unwritten one was sent — so the worker takes a
/// write transaction (on SQLite, the process's write turn, which bookings wait for) once a batch
/// instead of once a message. A replica that stops between sending and writing sends those
/// messages again when their lease ends, as it would a message sent just before it stopped.
pub async fn deliver_due(ctx: &Ctx, config: &Config, transport: &Transport) -> ApiResult<Run> {
    let mut run = Run::default();
    loop {
        let now = ctx.now();
        // Through a write transaction, so on SQLite the lease waits for the write turn as every
        // write does instead of for SQLite's lock.
        let txn = ctx.begin().await?;
        let ids = claim(&txn, now).await?;
        txn.commit().await?;
        if ids.is_empty() {
            break;
        }
        // Composing reads about ten rows a message: on one connection for the batch (see
        // `Reader`), given back before each write so the write never waits for it.
        let mut reads = Reader::new(&ctx.db);
        // The claimed messages in one query, in the order they were claimed.
        let claimed = messages::Entity::find()
            .filter(messages::Column::Id.is_in(ids))
            .order_by_asc(messages::Column::Id)
            .all(&reads)
            .await?;
        let mut unwritten = Vec::with_capacity(claimed.len());
        let mut first_sent = None;
        for m in claimed {
            match send_one(ctx, &reads, config, transport, m, &mut run).await {
                Ok(done) => unwritten.push(done),
                Err(err) => {
                    drop(reads);
                    record(ctx, unwritten).await?;
                    return Err(err);
                }
            }
            let since = *first_sent.get_or_insert_with(std::time::Instant::now);
            if since.elapsed() >= RECORD_WITHIN {
                drop(reads);
                record(ctx, std::mem::take(&mut unwritten)).await?;
                reads = Reader::new(&ctx.db);
                first_sent = None;
            }
        }
        drop(reads);
        record(ctx, unwritten).await?;
    }
    Ok(run)
}

fn new_token() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The hash an unsubscribe link's token is kept as.
pub fn token_hash(token: &str) -> String {
    crate::digest::sha256_hex(token.as_bytes())
}

/// Composes and sends one message; its outcome is written later, with others (see
/// [`deliver_due`]).
async fn send_one(
    ctx: &Ctx,
    db: &impl ConnectionTrait,
    config: &Config,
    transport: &Transport,
    m: messages::Model,
    run: &mut Run,
) -> ApiResult<Attempted> {
    let now = ctx.now();
    let token = new_token();
    let outcome = match compose(db, config, &ctx.clock, &m, &token).await? {
        Err(Skip::Because(why)) => Outcome::Skipped(why),
        Ok(c) => match build(config, &m, &c) {
            Err(why) => Outcome::Failed(why),
            Ok(email) => {
                let stem = format!(
                    "{}-{}-{}",
                    m.created_at.format("%Y%m%dT%H%M%S"),
                    m.kind,
                    m.id
                );
                match transport.deliver(email, &stem).await {
                    Ok(()) => Outcome::Sent(c.unsubscribe_url.is_some()),
                    Err(why) => Outcome::Failed(why),
                }
            }
        },
    };
    Ok(outcome_of(m, outcome, &token, now, run))
}

enum Outcome {
    /// Sent; whether it carries an unsubscribe link.
    Sent(bool),
    Skipped(String),
    Failed(String),
}

/// The wait before attempt `attempts + 1`: a minute, doubling, at most 6 hours.
fn backoff(attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    Duration::seconds((60_i64 << doublings).min(6 * 3600))
}

/// A message sent (or given up) whose outcome is still to be written: its changed row and the
/// attempt to log.
struct Attempted {
    message: messages::ActiveModel,
    attempt: message_attempts::ActiveModel,
}

/// What an attempt changes in its message's row, and the attempt's own row.
fn outcome_of(
    m: messages::Model,
    outcome: Outcome,
    token: &str,
    now: DateTime<Utc>,
    run: &mut Run,
) -> Attempted {
    let attempts = m.attempts + 1;
    let (id, created_at, kind) = (m.id, m.created_at, m.kind.clone());
    let mut model: messages::ActiveModel = m.into();
    model.attempts = Set(attempts);
    model.lease_until = Set(None);
    let (label, error) = match &outcome {
        Outcome::Sent(with_link) => {
            model.status = Set(Status::Sent.as_str().to_owned());
            model.sent_at = Set(Some(now));
            model.last_error = Set(None);
            if *with_link {
                model.unsubscribe_hash = Set(Some(token_hash(token)));
            }
            if kind == super::Kind::SignInLink.as_str() {
                // The link's token is not kept once it has gone.
                model.data = Set("{}".to_owned());
            }
            run.sent += 1;
            ("sent", None)
        }
        Outcome::Skipped(why) => {
            model.status = Set(Status::Skipped.as_str().to_owned());
            model.last_error = Set(Some(why.clone()));
            model.data = Set("{}".to_owned());
            run.skipped += 1;
            ("skipped", Some(why.clone()))
        }
        Outcome::Failed(why) => {
            run.failed_attempts += 1;
            model.last_error = Set(Some(why.clone()));
            if now - created_at >= Duration::hours(RETRY_HOURS) {
                model.status = Set(Status::Failed.as_str().to_owned());
                model.data = Set("{}".to_owned());
            } else {
                model.next_attempt_at = Set(now + backoff(attempts));
            }
            ("failed", Some(why.clone()))
        }
    };
    match (&outcome, &error) {
        (Outcome::Failed(_), Some(why)) => {
            tracing::warn!(message = %id, kind, reason = %why, "mail could not be sent");
        }
        (_, Some(why)) => {
            tracing::info!(message = %id, kind, reason = %why, "mail skipped");
        }
        _ => {}
    }
    Attempted {
        message: model,
        attempt: message_attempts::ActiveModel {
            id: Set(Uuid::now_v7()),
            message_id: Set(id),
            attempted_at: Set(now),
            outcome: Set(label.to_owned()),
            error: Set(error),
        },
    }
}

/// Writes the outcomes of attempts in one transaction (on SQLite, one call: see
/// `WriteTxn::later`).
async fn record(ctx: &Ctx, attempted: Vec<Attempted>) -> ApiResult<()> {
    if attempted.is_empty() {
        return Ok(());
    }
    let txn = ctx.begin().await?;
    for done in attempted {
        txn.later(
            messages::Entity::update(done.message)
                .validate()?
                .build(txn.get_database_backend()),
        );
        txn.insert_later(done.attempt);
    }
    txn.commit().await?;
    Ok(())
}

/// The MIME message: text and HTML alternatives (and the iMIP calendar part, RFC 6047), then
/// the attachments.
fn build(config: &Config, m: &messages::Model, c: &Composed) -> Result<Message, String> {
    let from: Mailbox = config
        .mail_from
        .parse()
        .map_err(|e| format!("the From address {:?} is not usable: {e}", config.mail_from))?;
    let address = c
        .to_email
        .parse()
        .map_err(|e| format!("the person's email address is not usable: {e}"))?;
    let to = Mailbox::new(Some(c.to_name.clone()), address);
    let mut alternative = MultiPart::alternative()
        .singlepart(SinglePart::plain(c.text.clone()))
        .singlepart(SinglePart::html(c.html.clone()));
    if let Some((ics, method)) = &c.calendar {
        let kind = ContentType::parse(&format!(
            "text/calendar; charset=utf-8; method={}",
            method.as_str()
        ))
        .map_err(|e| e.to_string())?;
        alternative = alternative.singlepart(SinglePart::builder().header(kind).body(ics.clone()));
    }
    let mut mixed = MultiPart::mixed().multipart(alternative);
    for a in &c.attachments {
        let kind = ContentType::parse(a.content_type).map_err(|e| e.to_string())?;
        mixed = mixed.singlepart(Attachment::new(a.filename.clone()).body(a.body.clone(), kind));
    }
    let host = url::Url::parse(&config.public_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "cascade.invalid".to_owned());
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(c.subject.clone())
        .message_id(Some(format!("<{}@{host}>", m.id)))
        // What the message is, for mail filters and the tests that read it.
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Cascade-Message"),
            m.kind.clone(),
        ));
    if let Some(url) = &c.unsubscribe_url {
        builder = builder
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{url}>"),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_owned(),
            ));
    }
    builder.multipart(mixed).map_err(|e| e.to_string())
}

/// One run of the mail worker for a running service, counted in its metrics.
pub async fn run_worker(state: &crate::state::AppState) -> ApiResult<Run> {
    let transport = Transport::from_config(&state.config)
        .map_err(|why| ApiError::Internal(anyhow::anyhow!(why)))?;
    let ctx = Ctx::system(&state.db, &state.clock);
    let run = deliver_due(&ctx, &state.config, &transport).await?;
    state.metrics.mail("sent", run.sent);
    state.metrics.mail("skipped", run.skipped);
    state.metrics.mail("failed", run.failed_attempts);
    Ok(run)
}
