//! Connecting to SQLite or PostgreSQL, migrating, and starting write transactions that hold
//! their guard in the database (so several replicas on one PostgreSQL stay correct).

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, LazyLock, Mutex},
    time::Duration,
};

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, EntityTrait, ExecResult, QueryResult, QuerySelect, QueryTrait, Select,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
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
        options
            .max_connections(if in_memory { 1 } else { 8 })
            .min_connections(1)
            .map_sqlx_sqlite_opts(|opts| {
                opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
    } else {
        options.max_connections(16).min_connections(1);
    }
    Database::connect(options).await
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
    let mut sql = String::with_capacity(stmt.sql.len());
    let mut kept = Vec::with_capacity(values.0.len());
    let (mut index, mut quote) = (0, None::<char>);
    let mut chars = stmt.sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '?') if chars.peek().is_some_and(char::is_ascii_digit) => {
                // Numbered placeholders (`?3`) are written by hand, never by sea-query.
                return stmt;
            }
            (None, '?') => {
                let value = values.0.get(index).cloned();
                index += 1;
                let number = match &value {
                    Some(sea_orm::Value::BigUnsigned(Some(n))) => Some(n.to_string()),
                    Some(sea_orm::Value::BigInt(Some(n))) => Some(n.to_string()),
                    Some(sea_orm::Value::Unsigned(Some(n))) => Some(n.to_string()),
                    Some(sea_orm::Value::Int(Some(n))) => Some(n.to_string()),
                    _ => None,
                };
                let tail = sql.trim_end().as_bytes();
                let after_limit =
                    tail.len() >= 6 && tail[tail.len() - 6..].eq_ignore_ascii_case(b" LIMIT");
                match number {
                    Some(number) if after_limit => {
                        sql.push_str(&number);
                        continue;
                    }
                    _ => kept.extend(value),
                }
            }
            (None, _) => {}
        }
        sql.push(c);
    }
    if index != values.0.len() {
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
pub struct WriteTxn {
    // Declared first so it ends (commits or rolls back) before the turn is given up.
    txn: DatabaseTransaction,
    _turn: Option<OwnedMutexGuard<()>>,
    author: Author,
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
        self.txn.commit().await
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
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
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
