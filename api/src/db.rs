//! Connecting to SQLite or PostgreSQL, migrating, and starting write transactions that hold
//! their guard in the database (so several replicas on one PostgreSQL stay correct).

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, LazyLock, Mutex},
    time::Duration,
};

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::{self, Postgres, Sqlite, pool::PoolConnection};
use sea_orm::{
    ConnAcquireErr, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, EntityTrait, ExecResult, QueryResult, QuerySelect,
    QueryTrait, RuntimeErr, Select, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

use crate::clock::Clock;

/// Opens a pool for the URL. SQLite gets WAL, a busy timeout and foreign keys; an in-memory
/// SQLite database is one connection, since each connection would otherwise see its own database.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30));
    if url.starts_with("sqlite:") {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        // The pool's default pings every connection each time it is taken: on SQLite a whole
        // extra hand-off to the connection's thread per statement outside a transaction, and
        // a file held open by this process cannot have gone away.
        options
            .test_before_acquire(false)
            .max_connections(if in_memory { 1 } else { 8 })
            .min_connections(1)
            .map_sqlx_sqlite_opts(|opts| {
                opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
    } else {
        // Only a connection idle long enough for a proxy or firewall to have dropped it is
        // pinged before use; a busy one goes straight to its statement (the default pings
        // every time: one more round trip to PostgreSQL per statement or transaction).
        options
            .max_connections(16)
            .min_connections(1)
            .test_before_acquire_if_idle_for(Duration::from_secs(30));
    }
    Database::connect(options).await
}

/// The build setting that keeps SQLite from counting its memory under one process-wide mutex.
pub const SQLITE_MEMSTATUS_FLAGS: &str = "SQLITE_DEFAULT_MEMSTATUS=0";

/// Whether the SQLite library this binary was built with keeps no memory statistics
/// (`SQLITE_DEFAULT_MEMSTATUS=0`, set at build time through
/// `LIBSQLITE3_FLAGS=SQLITE_DEFAULT_MEMSTATUS=0`); `None` on PostgreSQL. With the statistics on,
/// every allocation SQLite makes — one per column of every row sqlx reads — takes one mutex
/// shared by all connections, which they queue for under load.
pub async fn sqlite_memstatus_off(db: &DatabaseConnection) -> Result<Option<bool>, DbErr> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return Ok(None);
    }
    let found = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT 1 AS found FROM pragma_compile_options \
             WHERE compile_options = 'DEFAULT_MEMSTATUS=0'",
        ))
        .await?;
    Ok(Some(found.is_some()))
}

/// The rows of `select`, at most `n` (`LIMIT` written into the statement on SQLite: see
/// [`sqlite_literal_limits`]).
pub async fn limited<E: EntityTrait>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    n: u64,
) -> Result<Vec<E::Model>, DbErr> {
    let backend = db.get_database_backend();
    if backend != DbBackend::Sqlite {
        return select.limit(n).all(db).await;
    }
    let stmt = sqlite_literal_limits(backend.build(QueryTrait::as_query(&select.limit(n))));
    E::find().from_raw_sql(stmt).all(db).await
}

/// `select.one(db)` — the first row — without a bound `LIMIT` on SQLite (see
/// [`sqlite_literal_limits`]). Use it instead of `one` for every query of an entity.
pub trait FirstRow<E: EntityTrait> {
    fn first<C: ConnectionTrait>(
        self,
        db: &C,
    ) -> impl std::future::Future<Output = Result<Option<E::Model>, DbErr>> + Send;
}

impl<E: EntityTrait> FirstRow<E> for Select<E> {
    async fn first<C: ConnectionTrait>(self, db: &C) -> Result<Option<E::Model>, DbErr> {
        Ok(limited(db, self, 1).await?.into_iter().next())
    }
}

/// The statement of `select.first(db)` (see [`FirstRow`]), for [`first_of_each`].
pub fn first_statement<E: EntityTrait>(backend: DbBackend, select: Select<E>) -> Statement {
    sqlite_literal_limits(backend.build(QueryTrait::as_query(&select.limit(1))))
}

/// The first row of each read, in the order given. On SQLite they go in one call (one hand-off
/// to the connection's thread instead of one each — inside a write transaction, while its write
/// turn is held), each read wrapped as `SELECT i AS "read#", * FROM (read)` to tell its row
/// apart; elsewhere one by one, in order, so the row locks they take are taken in that order.
pub async fn first_of_each(
    db: &impl ConnectionTrait,
    reads: Vec<Statement>,
) -> Result<Vec<Option<QueryResult>>, DbErr> {
    let wrapped: Option<Vec<Statement>> =
        (db.get_database_backend() == DbBackend::Sqlite && reads.len() > 1).then(|| {
            reads
                .iter()
                .enumerate()
                .map(|(i, read)| Statement {
                    sql: format!(
                        "SELECT {i} AS \"read#\", * FROM ({})",
                        read.sql.trim_end().trim_end_matches(';')
                    ),
                    ..read.clone()
                })
                .collect()
        });
    if let Some(stmt) = wrapped.as_deref().and_then(sqlite_joined) {
        let mut firsts: Vec<Option<QueryResult>> = reads.iter().map(|_| None).collect();
        for row in db.query_all_raw(stmt).await? {
            let i: i64 = row.try_get("", "read#")?;
            let slot = usize::try_from(i)
                .ok()
                .and_then(|i| firsts.get_mut(i))
                .ok_or_else(|| DbErr::Custom(format!("a row of read {i}, which was not sent")))?;
            if slot.is_none() {
                *slot = Some(row);
            }
        }
        return Ok(firsts);
    }
    let mut firsts = Vec::with_capacity(reads.len());
    for read in reads {
        firsts.push(db.query_one_raw(read).await?);
    }
    Ok(firsts)
}

/// Writes every `LIMIT ?` of a SQLite statement as a number. SQLite's planner reads a bound
/// `LIMIT` (sub-queries' too), so a prepared statement with one is parsed and planned again
/// every time it runs (sea-query binds every limit, and `one` adds `LIMIT 1`): a third of the
/// server's time on a session list page, before this.
pub fn sqlite_literal_limits(stmt: Statement) -> Statement {
    let Some(values) = stmt.values.as_ref() else {
        return stmt;
    };
    if stmt.db_backend != DbBackend::Sqlite {
        return stmt;
    }
    let mut kept = Vec::with_capacity(values.0.len());
    let (mut index, mut numbered) = (0, false);
    let sql = placeholders(&stmt.sql, |rest, out| {
        if !rest.starts_with('?') {
            out.push_str(&rest[..1]);
            return 1;
        }
        // Numbered placeholders (`?3`) are written by hand, never by sea-query.
        numbered |= rest[1..].starts_with(|c: char| c.is_ascii_digit());
        let value = values.0.get(index).cloned();
        index += 1;
        let number = match &value {
            Some(sea_orm::Value::BigUnsigned(Some(n))) => Some(n.to_string()),
            Some(sea_orm::Value::BigInt(Some(n))) => Some(n.to_string()),
            Some(sea_orm::Value::Unsigned(Some(n))) => Some(n.to_string()),
            Some(sea_orm::Value::Int(Some(n))) => Some(n.to_string()),
            _ => None,
        };
        let tail = out.trim_end().as_bytes();
        let after_limit = tail.len() >= 6 && tail[tail.len() - 6..].eq_ignore_ascii_case(b" LIMIT");
        match number {
            Some(number) if after_limit => out.push_str(&number),
            _ => {
                kept.extend(value);
                out.push('?');
            }
        }
        1
    });
    if numbered || index != values.0.len() {
        // Placeholders this scan could not count (never written by sea-query): leave it be.
        return stmt;
    }
    Statement::from_sql_and_values(DbBackend::Sqlite, sql, kept)
}

/// Applies every pending migration, then fills the name-search keys of people who have none
/// yet (rows older than the keys: the folding rule lives in `entities::people::fold`). Start
/// through `domain::migrate`, which also fills what the domain derives.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await?;
    use entities::people;
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
    let unkeyed = people::Entity::find()
        .filter(people::Column::NameKey.eq(""))
        .all(db)
        .await?;
    for person in unkeyed {
        let (name_key, surname_key) = people::name_keys(&person.name);
        if name_key.is_empty() {
            continue;
        }
        let mut row: people::ActiveModel = person.into();
        row.name_key = Set(name_key);
        row.surname_key = Set(surname_key);
        row.update(db).await?;
    }
    Ok(())
}

/// A write transaction. On SQLite it also holds this process's turn to write the database file:
/// writers queue here, in order, instead of polling SQLite's lock with the busy handler's sleeps
/// (which made the slowest bookings wait for hundreds of milliseconds under load). Another
/// process on the same file still waits through SQLite's busy timeout.
///
/// Statements whose outcome nobody reads — append-only records (audit, events, queued mail) and
/// rows whose content the caller already holds — can be queued with [`WriteTxn::later`]: they
/// are sent before the transaction's next statement or its commit, on SQLite all in one call
/// (one hand-off to the connection's thread instead of one each, while the write turn is held).
/// Anything the transaction runs afterwards sees them, and an error in one fails the commit.
pub struct WriteTxn {
    // Declared first so it ends (commits or rolls back) before the turn is given up.
    txn: DatabaseTransaction,
    _turn: Option<OwnedMutexGuard<()>>,
    author: Author,
    later: Mutex<Vec<Statement>>,
}

/// Whom the audit records written in a transaction name, and the clock that dates them: given
/// when the transaction begins (by [`crate::ctx::Ctx::begin`]), never looked up afterwards.
#[derive(Clone)]
pub struct Author {
    /// The API key of the caller; none for scheduled work and the command line.
    pub key_id: Option<Uuid>,
    /// `admin`, `coordinator`, … or `system`, `cli`.
    pub role: &'static str,
    pub clock: Clock,
    /// The write records what already happened (a past session): its records say so.
    pub after_the_fact: bool,
}

impl WriteTxn {
    /// Who this transaction's audit records name.
    pub fn author(&self) -> &Author {
        &self.author
    }

    /// Commits — unless the request runs under [`deferring`] (an `Idempotency-Key`), in which
    /// case the transaction is handed to the idempotency middleware, which stores the answer in
    /// it and then commits: the change and its stored answer commit together or not at all.
    pub async fn commit(self) -> Result<(), DbErr> {
        // What is queued is written now, so its errors are the handler's to answer.
        self.flush().await?;
        match DEFERRED.try_with(Arc::clone) {
            Ok(slot) => {
                let earlier = slot
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .replace(self);
                match earlier {
                    Some(earlier) => earlier.commit_now().await,
                    None => Ok(()),
                }
            }
            Err(_) => self.commit_now().await,
        }
    }

    /// Commits now, whatever the request.
    pub async fn commit_now(self) -> Result<(), DbErr> {
        self.flush().await?;
        self.txn.commit().await
    }

    /// Queues `stmt` to be sent with the transaction's next statement or its commit (see
    /// [`WriteTxn`]): for statements whose result the caller does not read.
    pub fn later(&self, stmt: Statement) {
        self.later
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(stmt);
    }

    /// Queues the insert of a row whose every column the caller has set (see [`WriteTxn::later`]).
    pub fn insert_later<A>(&self, row: A)
    where
        A: sea_orm::ActiveModelTrait + sea_orm::ActiveModelBehavior + Send,
    {
        let backend = self.txn.get_database_backend();
        self.later(A::Entity::insert(row).build(backend));
    }

    /// Sends what [`WriteTxn::later`] queued: on SQLite as one call of several statements
    /// (its placeholders are positional, so the values simply follow each other), elsewhere one
    /// by one.
    async fn flush(&self) -> Result<(), DbErr> {
        let queued = std::mem::take(
            &mut *self
                .later
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if queued.is_empty() {
            return Ok(());
        }
        let together = match self.txn.get_database_backend() {
            _ if queued.len() == 1 => None,
            DbBackend::Sqlite => sqlite_joined(&queued),
            DbBackend::Postgres => postgres_chained(&queued),
            _ => None,
        };
        match together {
            Some(stmt) => {
                self.txn.execute_raw(stmt).await?;
            }
            None => {
                for stmt in queued {
                    self.txn.execute_raw(stmt).await?;
                }
            }
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

/// Where a request's last write transaction waits for its answer (see [`WriteTxn::commit`]).
pub type Deferred = Arc<Mutex<Option<WriteTxn>>>;

tokio::task_local! {
    static DEFERRED: Deferred;
}

/// Runs `work` with its write transactions' final commit deferred into `slot`. A request that
/// writes in several transactions commits all but the last as it goes (when the next begins).
pub async fn deferring<F: std::future::Future>(slot: Deferred, work: F) -> F::Output {
    DEFERRED.scope(slot, work).await
}

/// Takes the transaction a deferred request left to commit, if any.
pub fn take_deferred(slot: &Deferred) -> Option<WriteTxn> {
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.flush().await?;
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.flush().await?;
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.flush().await?;
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.flush().await?;
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}

/// Reads on one connection of the pool, taken at the first statement and given back when the
/// `Reader` is dropped — for a request that reads in several statements (its key, a page, the
/// page's related rows). Through the pool each statement takes a connection and gives it back,
/// and sqlx pings every connection given back (a hand-off to the SQLite connection's thread, a
/// round trip to PostgreSQL) in a task of its own; here that happens once. Not a transaction:
/// each statement sees what is committed when it runs, as through the pool.
///
/// A request that holds a `Reader` and also uses the pool (a write transaction, a read not
/// converted) needs a second connection while holding the first; so a `Reader` kept across a
/// handler ([`crate::auth::reads`]) holds one of [`Reader::share_limit`] permits, leaving at
/// least half the pool to everything else, and no request can wait on a pool that holders fill.
pub struct Reader {
    db: DatabaseConnection,
    held: tokio::sync::Mutex<Option<Held>>,
    _share: Option<tokio::sync::OwnedSemaphorePermit>,
}

enum Held {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

impl Reader {
    /// Reads held until this `Reader` is dropped (a handler's own statements).
    pub fn new(db: &DatabaseConnection) -> Self {
        Self {
            db: db.clone(),
            held: tokio::sync::Mutex::default(),
            _share: None,
        }
    }

    /// Reads that may be kept across a request, holding `share` (see [`Reader::share_limit`]).
    pub fn kept(db: &DatabaseConnection, share: tokio::sync::OwnedSemaphorePermit) -> Self {
        Self {
            _share: Some(share),
            ..Self::new(db)
        }
    }

    /// How many `Reader`s may be kept across requests at once: half the pool's connections
    /// (none for a pool of one, such as an in-memory SQLite database).
    pub fn share_limit(db: &DatabaseConnection) -> usize {
        let max = match db.get_database_backend() {
            DbBackend::Sqlite => db
                .get_sqlite_connection_pool()
                .options()
                .get_max_connections(),
            DbBackend::Postgres => db
                .get_postgres_connection_pool()
                .options()
                .get_max_connections(),
            _ => 0,
        };
        usize::try_from(max / 2).unwrap_or(0)
    }

    /// The held connection, taken from the pool the first time.
    async fn connection<'g>(&self, held: &'g mut Option<Held>) -> Result<&'g mut Held, DbErr> {
        if let Some(conn) = held {
            return Ok(conn);
        }
        let conn = match self.db.get_database_backend() {
            DbBackend::Sqlite => Held::Sqlite(
                self.db
                    .get_sqlite_connection_pool()
                    .acquire()
                    .await
                    .map_err(acquire_error)?,
            ),
            DbBackend::Postgres => Held::Postgres(
                self.db
                    .get_postgres_connection_pool()
                    .acquire()
                    .await
                    .map_err(acquire_error)?,
            ),
            other => {
                return Err(DbErr::BackendNotSupported {
                    db: other.as_str(),
                    ctx: "Reader",
                });
            }
        };
        Ok(held.insert(conn))
    }
}

/// A failure to take a connection, as sea-orm reports one from its pool.
fn acquire_error(err: sqlx::Error) -> DbErr {
    match err {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        err => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(err))),
    }
}

/// Runs `$body` with `$conn` bound to the held connection, whichever the backend (the body is
/// the same text; its types differ).
macro_rules! on_held {
    ($held:expr, |$conn:ident| $body:expr) => {
        match $held {
            Held::Sqlite($conn) => $body,
            Held::Postgres($conn) => $body,
        }
    };
}

/// A statement's values, as sqlx binds them for sea-orm.
fn bound(stmt: &Statement) -> SqlxValues {
    SqlxValues(
        stmt.values
            .clone()
            .unwrap_or(sea_orm::sea_query::Values(Vec::new())),
    )
}

fn exec_error(err: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(err)))
}

fn query_error(err: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(err)))
}

#[async_trait::async_trait]
impl ConnectionTrait for Reader {
    fn get_database_backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let mut held = self.held.lock().await;
        let sql = sqlx::AssertSqlSafe(stmt.sql.as_str());
        on_held!(self.connection(&mut held).await?, |conn| {
            sqlx::query_with(sql, bound(&stmt))
                .execute(&mut **conn)
                .await
                .map(Into::into)
        })
        .map_err(exec_error)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let mut held = self.held.lock().await;
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        on_held!(self.connection(&mut held).await?, |conn| {
            sqlx::Executor::execute(&mut **conn, sql)
                .await
                .map(Into::into)
        })
        .map_err(exec_error)
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let mut held = self.held.lock().await;
        let sql = sqlx::AssertSqlSafe(stmt.sql.as_str());
        on_held!(self.connection(&mut held).await?, |conn| {
            sqlx::query_with(sql, bound(&stmt))
                .fetch_optional(&mut **conn)
                .await
                .map(|row| row.map(Into::into))
        })
        .map_err(query_error)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut held = self.held.lock().await;
        let sql = sqlx::AssertSqlSafe(stmt.sql.as_str());
        on_held!(self.connection(&mut held).await?, |conn| {
            sqlx::query_with(sql, bound(&stmt))
                .fetch_all(&mut **conn)
                .await
                .map(|rows| rows.into_iter().map(Into::into).collect())
        })
        .map_err(query_error)
    }

    fn support_returning(&self) -> bool {
        self.db.support_returning()
    }
}

/// An instant as the databases keep it (microseconds: PostgreSQL's precision), for a row that
/// is written with [`WriteTxn::insert_later`] and answered without being read back.
pub fn as_stored(at: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound as _;
    at.trunc_subsecs(6)
}

/// SQLite statements as one call: their SQL one after another, their values in the same order
/// (SQLite numbers `?` placeholders across the statements of a call). None if one numbers its
/// placeholders itself (`?3`).
fn sqlite_joined(statements: &[Statement]) -> Option<Statement> {
    let mut sql = String::new();
    let mut values = Vec::new();
    for stmt in statements {
        let mut numbered = false;
        let body = placeholders(&stmt.sql, |rest, out| {
            // `?3` or `$name`: placeholders that do not simply follow each other.
            numbered |=
                rest.starts_with('$') || rest[1..].starts_with(|c: char| c.is_ascii_digit());
            out.push_str(&rest[..1]);
            1
        });
        if numbered {
            return None;
        }
        sql.push_str(body.trim_end().trim_end_matches(';'));
        sql.push_str(";\n");
        values.extend(stmt.values.iter().flat_map(|v| v.0.iter().cloned()));
    }
    Some(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        sql,
        values,
    ))
}

/// PostgreSQL statements as one: all but the last as data-modifying `WITH` clauses of the last,
/// their `$n` placeholders renumbered to follow each other. Only inserts, and at most one other
/// statement: PostgreSQL runs the parts on one snapshot, so two parts changing one row would
/// not both take effect. None otherwise (they are then sent one by one).
fn postgres_chained(statements: &[Statement]) -> Option<Statement> {
    let not_inserts = statements
        .iter()
        .filter(|s| {
            let sql = s.sql.trim_start().to_ascii_uppercase();
            // An upsert may change an existing row too.
            !sql.starts_with("INSERT") || sql.contains(" DO UPDATE ")
        })
        .count();
    if not_inserts > 1 {
        return None;
    }
    let mut sql = String::new();
    let mut values: Vec<sea_orm::Value> = Vec::new();
    let last = statements.len() - 1;
    for (i, stmt) in statements.iter().enumerate() {
        let offset = values.len();
        let (mut taken, mut unknown) = (0, false);
        let body = placeholders(&stmt.sql, |rest, out| {
            let digits = rest[1..].bytes().take_while(u8::is_ascii_digit).count();
            match rest[1..=digits].parse::<usize>() {
                Ok(n) if rest.starts_with('$') => {
                    taken = taken.max(n);
                    out.push_str(&format!("${}", n + offset));
                    1 + digits
                }
                _ => {
                    // A `?` operator or a dollar quote: not written by sea-query.
                    unknown = true;
                    out.push_str(&rest[..1]);
                    1
                }
            }
        });
        let own = stmt.values.as_ref().map_or(0, |v| v.0.len());
        if unknown || taken != own {
            return None;
        }
        values.extend(stmt.values.iter().flat_map(|v| v.0.iter().cloned()));
        let body = body.trim_end().trim_end_matches(';');
        match i {
            0 if last > 0 => sql.push_str(&format!("WITH w0 AS ({body})")),
            _ if i == last => sql.push_str(&format!(" {body}")),
            _ => sql.push_str(&format!(", w{i} AS ({body})")),
        }
    }
    Some(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
}

/// The statements one call carried: SQLite's are separated by `;`, PostgreSQL's are the `WITH`
/// clauses of the last: the parts [`sqlite_joined`] and [`postgres_chained`] put together
/// (for the booking bench's count).
pub fn statements_of(sql: &str) -> Vec<&str> {
    if !sql.starts_with("WITH w0 AS (") {
        return sql.split(";\n").filter(|s| !s.trim().is_empty()).collect();
    }
    let mut out = Vec::new();
    let mut rest = sql;
    while let Some(open) = rest.find(" AS (") {
        let body = &rest[open + 5..];
        let mut depth = 1;
        let end = body
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map_or(body.len(), |(i, _)| i);
        out.push(&body[..end]);
        rest = &body[(end + 1).min(body.len())..];
        if !rest.starts_with(", w") {
            break;
        }
    }
    out.push(rest.trim());
    out
}

/// Copies `sql`, letting `at` write each placeholder (`?` or `$`) found outside quotes: it is
/// given the text from the placeholder on, writes its replacement and says how many bytes it
/// used.
fn placeholders(sql: &str, mut at: impl FnMut(&str, &mut String) -> usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut quote = None::<char>;
    let mut i = 0;
    while let Some(c) = sql[i..].chars().next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '?' | '$') => {
                i += at(&sql[i..], &mut out);
                continue;
            }
            (None, _) => {}
        }
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// The write turn of each SQLite file this process has open.
static SQLITE_WRITERS: LazyLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Mutex::default);

async fn sqlite_turn(db: &DatabaseConnection) -> Option<OwnedMutexGuard<()>> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return None;
    }
    let file = db
        .get_sqlite_connection_pool()
        .connect_options()
        .get_filename()
        .to_owned();
    if file.as_os_str() == ":memory:" {
        // One connection: it serialises its writers itself.
        return None;
    }
    let turn = SQLITE_WRITERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(file)
        .or_default()
        .clone();
    Some(turn.lock_owned().await)
}

/// Begins a write transaction for `author` — through [`crate::ctx::Ctx::begin`], the one way
/// a write begins. On SQLite it takes the write lock at `BEGIN` (IMMEDIATE), so two
/// writers never read the same state and then both write; PostgreSQL ignores the mode and relies
/// on row locks and constraints inside the transaction.
pub(crate) async fn begin_write(
    db: &DatabaseConnection,
    author: Author,
) -> Result<WriteTxn, DbErr> {
    // A transaction this request left for its answer commits before the next begins (and gives
    // up SQLite's write turn, which the next one needs).
    if let Ok(Some(parked)) = DEFERRED.try_with(take_deferred) {
        parked.commit_now().await?;
    }
    let turn = sqlite_turn(db).await;
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    Ok(WriteTxn {
        txn,
        _turn: turn,
        author,
        later: Mutex::default(),
    })
}

/// Writes a consistent copy of a SQLite database to `file` while the service keeps running
/// (`VACUUM INTO`: one read transaction, so the copy is a snapshot of committed data, compacted).
/// PostgreSQL has its own tool for this: `pg_dump`.
pub async fn backup(db: &DatabaseConnection, file: &std::path::Path) -> anyhow::Result<()> {
    if db.get_database_backend() != DbBackend::Sqlite {
        anyhow::bail!(
            "`cascade backup` copies SQLite databases; back up PostgreSQL with pg_dump \
             (pg_dump --format=custom --file=cascade.dump <database>)"
        );
    }
    if file.exists() {
        anyhow::bail!("{} already exists; choose a new file", file.display());
    }
    let path = file
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("the backup path is not valid UTF-8"))?;
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "VACUUM INTO ?",
        [path.into()],
    ))
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Value;

    fn insert(id: i64, v: Option<&str>) -> Statement {
        Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "INSERT INTO t (id, v) VALUES (?, ?)",
            [Value::from(id), Value::from(v.map(str::to_owned))],
        )
    }

    async fn values(db: &impl ConnectionTrait) -> Vec<String> {
        let rows = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT v FROM t ORDER BY id",
            ))
            .await
            .expect("read");
        rows.iter()
            .map(|r| r.try_get::<String>("", "v").expect("v"))
            .collect()
    }

    #[test]
    fn postgres_statements_chain_with_placeholders_renumbered() {
        let pg = |sql: &str, values: Vec<Value>| {
            Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
        };
        let chained = postgres_chained(&[
            pg(
                "INSERT INTO \"a\" (\"x\", \"y\") VALUES ($1, $2)",
                vec![Value::from(1), Value::from("$1 '")],
            ),
            pg(
                "UPDATE \"b\" SET \"n\" = $1 WHERE \"note\" = '$2' AND \"id\" = $2",
                vec![Value::from(3), Value::from(4)],
            ),
            pg(
                "INSERT INTO e (t) VALUES (pg_current_xact_id()::text::bigint + $1)",
                vec![Value::from(5)],
            ),
        ])
        .expect("chained");
        assert_eq!(
            chained.sql,
            "WITH w0 AS (INSERT INTO \"a\" (\"x\", \"y\") VALUES ($1, $2)), \
             w1 AS (UPDATE \"b\" SET \"n\" = $3 WHERE \"note\" = '$2' AND \"id\" = $4) \
             INSERT INTO e (t) VALUES (pg_current_xact_id()::text::bigint + $5)"
        );
        assert_eq!(chained.values.map(|v| v.0.len()), Some(5));
        // Two statements that are not inserts might change one row: sent one by one.
        let update = pg("UPDATE \"b\" SET \"n\" = $1", vec![Value::from(1)]);
        assert!(postgres_chained(&[update.clone(), update.clone()]).is_none());
        let upsert = pg(
            "INSERT INTO b (n) VALUES ($1) ON CONFLICT (n) DO UPDATE SET n = 0",
            vec![Value::from(1)],
        );
        assert!(postgres_chained(&[upsert, update]).is_none());
        // Placeholders that do not match the values: left alone.
        let unbound = pg("INSERT INTO a VALUES ($1)", vec![]);
        assert!(postgres_chained(&[unbound.clone(), unbound]).is_none());
    }

    #[test]
    fn sqlite_statements_join_unless_they_number_their_placeholders() {
        let lite =
            |sql: &str| Statement::from_sql_and_values(DbBackend::Sqlite, sql, [Value::from(1)]);
        let joined = sqlite_joined(&[
            lite("INSERT INTO a VALUES (?);"),
            lite("UPDATE b SET c = ?"),
        ])
        .expect("joined");
        assert_eq!(
            joined.sql,
            "INSERT INTO a VALUES (?);\nUPDATE b SET c = ?;\n"
        );
        assert_eq!(joined.values.map(|v| v.0.len()), Some(2));
        assert!(sqlite_joined(&[lite("INSERT INTO a VALUES (?1)"), lite("SELECT ?")]).is_none());
    }

    #[test]
    fn a_call_is_counted_as_the_statements_it_carries() {
        assert_eq!(
            statements_of("INSERT INTO a VALUES (?);\nUPDATE b SET c = (1);\n"),
            ["INSERT INTO a VALUES (?)", "UPDATE b SET c = (1)"]
        );
        assert_eq!(
            statements_of(
                "WITH w0 AS (INSERT INTO a (x) VALUES ($1)), w1 AS (UPDATE b SET n = (($2))) \
                 INSERT INTO e (t) VALUES ($3)"
            ),
            [
                "INSERT INTO a (x) VALUES ($1)",
                "UPDATE b SET n = (($2))",
                "INSERT INTO e (t) VALUES ($3)"
            ]
        );
        assert_eq!(statements_of("SELECT 1"), ["SELECT 1"]);
    }

    #[tokio::test]
    async fn queued_statements_go_before_the_next_and_their_errors_fail_the_commit() {
        let db = connect("sqlite::memory:").await.expect("connect");
        db.execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
            .await
            .expect("create");
        let author = || Author {
            key_id: None,
            role: "system",
            clock: Clock::system(),
            after_the_fact: false,
        };
        // Queued statements are written, in order and with their own values, before a read.
        let txn = begin_write(&db, author()).await.expect("begin");
        txn.later(insert(2, Some("b")));
        txn.later(insert(1, Some("a?")));
        assert_eq!(values(&txn).await, ["a?", "b"]);
        txn.later(insert(3, Some("c")));
        txn.commit_now().await.expect("commit");
        assert_eq!(values(&db).await, ["a?", "b", "c"]);
        // One that fails (v may not be null) fails the commit, and nothing of it is kept.
        let txn = begin_write(&db, author()).await.expect("begin");
        txn.later(insert(4, Some("d")));
        txn.later(insert(5, None));
        assert!(txn.commit_now().await.is_err());
        assert_eq!(values(&db).await, ["a?", "b", "c"]);
    }

    #[tokio::test]
    async fn reads_sent_together_give_each_its_own_first_row() {
        let db = connect("sqlite::memory:").await.expect("connect");
        db.execute_unprepared(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);
             INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')",
        )
        .await
        .expect("create");
        let read = |sql: &str, values: Vec<Value>| {
            Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)
        };
        let firsts = first_of_each(
            &db,
            vec![
                read("SELECT v FROM t WHERE id = ?", vec![Value::from(3)]),
                // Finds nothing: its place stays empty and the next keeps its own.
                read("SELECT v FROM t WHERE id = ?", vec![Value::from(9)]),
                read(
                    "SELECT v, ? AS n FROM t WHERE id > ? ORDER BY id DESC LIMIT 2",
                    vec![Value::from("x"), Value::from(0)],
                ),
            ],
        )
        .await
        .expect("reads");
        let v = |row: &Option<QueryResult>| {
            row.as_ref()
                .map(|r| r.try_get::<String>("", "v").expect("v"))
        };
        assert_eq!(firsts.len(), 3);
        assert_eq!(v(&firsts[0]).as_deref(), Some("c"));
        assert_eq!(v(&firsts[1]), None);
        assert_eq!(v(&firsts[2]).as_deref(), Some("c"));
        let n = firsts[2].as_ref().map(|r| r.try_get::<String>("", "n"));
        assert_eq!(n.and_then(Result::ok).as_deref(), Some("x"));
    }

    #[tokio::test]
    async fn connections_are_not_pinged_each_time_they_are_taken() {
        let db = connect("sqlite::memory:").await.expect("connect");
        let options = db.get_sqlite_connection_pool().options();
        assert!(!options.get_test_before_acquire());
        assert_eq!(options.get_max_connections(), 1);
        // PostgreSQL (when the suite runs on it): pinged only after an idle spell, through the
        // pool's `before_acquire`, never on every checkout.
        if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
            let pg = connect(&url).await.expect("connect to PostgreSQL");
            assert!(
                !pg.get_postgres_connection_pool()
                    .options()
                    .get_test_before_acquire()
            );
            pg.close().await.expect("close");
        }
    }

    #[tokio::test]
    async fn a_reader_holds_one_connection_until_dropped() {
        let dir = std::env::temp_dir().join(format!("cascade-reader-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let url = format!("sqlite://{}?mode=rwc", dir.join("r.db").display());
        let db = connect(&url).await.expect("connect");
        assert_eq!(Reader::share_limit(&db), 4, "half of the pool's eight");
        let pool = db.get_sqlite_connection_pool();
        let sql = |s: &str| Statement::from_string(DbBackend::Sqlite, s);
        {
            let reader = Reader::new(&db);
            // A temporary table lives on one connection: the second statement finds it only
            // if it runs on the same one, whatever else took connections in between.
            reader
                .execute_unprepared("CREATE TEMP TABLE mine (x INTEGER)")
                .await
                .expect("create");
            let mut others = Vec::new();
            for _ in 0..3 {
                others.push(pool.acquire().await.expect("another connection"));
            }
            reader
                .execute_raw(sql("INSERT INTO mine VALUES (1)"))
                .await
                .expect("same connection");
            drop(others);
            let row = reader
                .query_one_raw(sql("SELECT count(*) AS n FROM mine"))
                .await
                .expect("read")
                .expect("a row");
            assert_eq!(row.try_get::<i64>("", "n").expect("n"), 1);
            assert_eq!(
                reader
                    .query_all_raw(sql("SELECT x FROM mine"))
                    .await
                    .expect("all")
                    .len(),
                1
            );
            // Errors come back as the pool's do.
            assert!(matches!(
                reader
                    .query_one_raw(sql("SELECT nothing FROM nowhere"))
                    .await,
                Err(DbErr::Query(RuntimeErr::SqlxError(_)))
            ));
            assert!(matches!(
                reader
                    .execute_raw(sql("INSERT INTO nowhere VALUES (1)"))
                    .await,
                Err(DbErr::Exec(RuntimeErr::SqlxError(_)))
            ));
            // The others go back after the pool's ping, in tasks of their own; the reader's
            // stays out.
            let in_use = || pool.size() - u32::try_from(pool.num_idle()).expect("idle");
            for _ in 0..100 {
                if in_use() <= 1 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(
                in_use(),
                1,
                "the reader's connection stays out while it is held"
            );
        }
        // Given back (after the pool's ping, in a task of its own).
        for _ in 0..100 {
            if u32::try_from(pool.num_idle()).expect("idle") == pool.size() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(u32::try_from(pool.num_idle()).expect("idle"), pool.size());
        let memory = connect("sqlite::memory:").await.expect("connect");
        assert_eq!(
            Reader::share_limit(&memory),
            0,
            "a pool of one keeps none across requests"
        );
        db.close().await.expect("close");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[tokio::test]
    async fn says_whether_sqlite_was_built_without_memory_statistics() {
        let db = connect("sqlite::memory:").await.expect("connect");
        // The same cargo run built SQLite and this crate, with the same environment.
        let asked =
            option_env!("LIBSQLITE3_FLAGS").is_some_and(|f| f.contains(SQLITE_MEMSTATUS_FLAGS));
        assert_eq!(sqlite_memstatus_off(&db).await.expect("read"), Some(asked));
    }

    fn limits(sql: &str, values: Vec<Value>) -> (String, Vec<Value>) {
        let stmt = sqlite_literal_limits(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            sql,
            values,
        ));
        (stmt.sql, stmt.values.map(|v| v.0).unwrap_or_default())
    }

    #[test]
    fn limits_are_written_as_numbers_and_other_values_stay_bound() {
        let (sql, values) = limits(
            "SELECT \"id\" FROM \"t\" WHERE \"a\" = ? AND \"b\" IN (SELECT \"c\" FROM \"u\" \
             WHERE \"d\" = ? LIMIT ?) AND \"e\" = 'x?' LIMIT ?",
            vec![
                Value::from("a"),
                Value::from(7i64),
                Value::from(1u64),
                Value::from(51u64),
            ],
        );
        assert_eq!(
            sql,
            "SELECT \"id\" FROM \"t\" WHERE \"a\" = ? AND \"b\" IN (SELECT \"c\" FROM \"u\" \
             WHERE \"d\" = ? LIMIT 1) AND \"e\" = 'x?' LIMIT 51"
        );
        assert_eq!(values, vec![Value::from("a"), Value::from(7i64)]);
    }

    #[test]
    fn a_statement_it_cannot_count_is_left_as_it_was() {
        let (sql, values) = limits("SELECT ? LIMIT ?", vec![Value::from(1u64)]);
        assert_eq!(sql, "SELECT ? LIMIT ?");
        assert_eq!(values, vec![Value::from(1u64)]);
        let (sql, values) = limits("SELECT 1 LIMIT ?", vec![Value::from("x")]);
        assert_eq!(sql, "SELECT 1 LIMIT ?");
        assert_eq!(values, vec![Value::from("x")]);
        let (sql, _) = limits("SELECT 1 LIMIT ?1", vec![Value::from(5u64)]);
        assert_eq!(sql, "SELECT 1 LIMIT ?1");
    }
}
