//! Opening the database: a typed URL, pool options, SQLite pragmas, migrations.

use std::{fmt, path::PathBuf, str::FromStr, time::Duration};

use migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, SqlxPostgresConnector,
    SqlxSqliteConnector, TransactionTrait,
};
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    ConnectOptions,
};
use types::DatabaseBackend;

pub use sea_orm::DbErr;

/// A database URL that has been checked: an SQLite file or a PostgreSQL server.
///
/// Holding one means the URL parses; it may still point at a server that is down.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    raw: String,
    backend: DatabaseBackend,
}

impl DatabaseUrl {
    /// Parses `sqlite://path/to/file.db[?…]` or `postgres[ql]://user:pass@host/db[?…]`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("must not be empty".into());
        }
        if let Some(rest) = raw.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            if path.starts_with(":memory:") || path.contains("mode=memory") {
                return Err("in-memory SQLite loses everything at exit; give a file path".into());
            }
            if path.split('?').next().unwrap_or_default().is_empty() {
                return Err("an SQLite URL needs a file path, e.g. sqlite://data/mcpo.db".into());
            }
            SqliteConnectOptions::from_str(raw).map_err(|e| e.to_string())?;
            return Ok(Self {
                raw: raw.to_owned(),
                backend: DatabaseBackend::Sqlite,
            });
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            // sqlx's message may quote the URL; never echo it.
            PgConnectOptions::from_str(raw).map_err(|_| "not a valid PostgreSQL URL".to_owned())?;
            return Ok(Self {
                raw: raw.to_owned(),
                backend: DatabaseBackend::Postgresql,
            });
        }
        Err("must start with sqlite:// or postgres://".into())
    }

    /// Which engine this URL selects.
    pub fn backend(&self) -> DatabaseBackend {
        self.backend
    }

    /// The URL with any password replaced by `***`, for logs and the API.
    pub fn redacted(&self) -> String {
        redact_url(&self.raw)
    }

    /// The full URL, password included. Only the connector should read it.
    pub fn expose(&self) -> &str {
        &self.raw
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Replaces the password of `scheme://user:password@host…` and any `password=` query value.
fn redact_url(raw: &str) -> String {
    let mut out = raw.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let after = scheme_end + 3;
        let authority_end = out[after..].find('/').map_or(out.len(), |i| after + i);
        if let Some(at) = out[after..authority_end].rfind('@') {
            let userinfo = &out[after..after + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(after + colon + 1..after + at, "***");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (base, query) = out.split_at(q + 1);
        let redacted: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{base}{}", redacted.join("&"));
    }
    out
}

/// Pool settings (from configuration).
#[derive(Clone, Debug)]
pub struct DbOptions {
    /// Largest number of pooled connections.
    pub max_connections: u32,
    /// How long SQLite waits on a locked database before giving up.
    pub busy_timeout: Duration,
    /// How long to wait for a connection from the pool (and to connect).
    pub acquire_timeout: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            busy_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// A connection pool and the engine behind it.
#[derive(Clone, Debug)]
pub struct Database {
    /// The sea-orm connection (a pool).
    pub conn: DatabaseConnection,
    /// SQLite or PostgreSQL.
    pub backend: DatabaseBackend,
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The directory for the SQLite file could not be created.
    #[error("cannot create directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The engine refused or could not be reached.
    #[error("cannot open {url}: {source}")]
    Open { url: String, source: sqlx::Error },
}

impl Database {
    /// Opens a pool. SQLite gets WAL, foreign keys, a busy timeout and `synchronous=NORMAL`
    /// (safe with WAL); the file and its directory are created when missing.
    pub async fn connect(url: &DatabaseUrl, opts: &DbOptions) -> Result<Self, ConnectError> {
        let open_err = |source| ConnectError::Open {
            url: url.redacted(),
            source,
        };
        let slow = Duration::from_millis(500);
        let conn = match url.backend {
            DatabaseBackend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url.expose())
                    .map_err(open_err)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(opts.busy_timeout)
                    // Each pooled connection keeps its prepared statements (sqlx: up to 100,
                    // several KiB each, for the life of the connection).
                    .statement_cache_capacity(24)
                    .log_slow_statements(log::LevelFilter::Warn, slow);
                if let Some(dir) = options.get_filename().parent() {
                    if !dir.as_os_str().is_empty() {
                        std::fs::create_dir_all(dir).map_err(|source| ConnectError::CreateDir {
                            path: dir.to_owned(),
                            source,
                        })?;
                    }
                }
                let pool = SqlitePoolOptions::new()
                    .max_connections(opts.max_connections)
                    .acquire_timeout(opts.acquire_timeout)
                    // A connection that comes back "in a transaction" is out of step with
                    // SQLite: a COMMIT that failed with SQLITE_FULL (disk full) or an I/O
                    // error rolled back by itself, and sqlx never counted the transaction as
                    // ended. Reused, its next transaction would be a savepoint whose rollback
                    // leaves the transaction, and maybe the write lock, open. Close it.
                    .after_release(|conn, _| {
                        Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) })
                    })
                    .connect_with(options)
                    .await
                    .map_err(open_err)?;
                SqlxSqliteConnector::from_sqlx_sqlite_pool(pool)
            }
            DatabaseBackend::Postgresql => {
                let options = PgConnectOptions::from_str(url.expose())
                    .map_err(open_err)?
                    .log_slow_statements(log::LevelFilter::Warn, slow);
                let pool = PgPoolOptions::new()
                    .max_connections(opts.max_connections)
                    .acquire_timeout(opts.acquire_timeout)
                    .connect_with(options)
                    .await
                    .map_err(open_err)?;
                SqlxPostgresConnector::from_sqlx_postgres_pool(pool)
            }
        };
        Ok(Self {
            conn,
            backend: url.backend,
        })
    }

    /// Begins a transaction that writes. On SQLite its first statement takes the write lock
    /// (waiting up to the busy timeout while another connection holds it). A transaction that
    /// read first and wrote later would instead fail at once with `SQLITE_BUSY_SNAPSHOT`
    /// whenever any other connection committed in between (in WAL mode the busy timeout does
    /// not apply to that upgrade): a spurious 503 under concurrent writes, such as an API key's
    /// `last_used_at`, a health check or a pipeline step landing during a request. sqlx has no
    /// `BEGIN IMMEDIATE` for sea-orm's transactions; an `UPDATE` that matches no row takes the
    /// same lock. PostgreSQL: a plain `BEGIN`.
    pub async fn begin_write(&self) -> Result<DatabaseTransaction, DbErr> {
        let txn = self.conn.begin().await?;
        if self.backend == DatabaseBackend::Sqlite {
            txn.execute_unprepared("UPDATE seaql_migrations SET version = version WHERE 0")
                .await?;
        }
        Ok(txn)
    }

    /// Runs a trivial statement: is the database reachable right now?
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.conn.execute_unprepared("SELECT 1").await.map(|_| ())
    }

    /// Whether a write could begin now. SQLite: takes the write lock (`BEGIN IMMEDIATE`) and
    /// gives it back at once, waiting at most `wait` (reads go on while another process holds
    /// that lock; writes cannot). PostgreSQL has no such lock: always `Ok`. `Err` says why not.
    pub async fn probe_writes(&self, wait: Duration) -> Result<(), crate::DbFault> {
        if !matches!(self.conn, DatabaseConnection::SqlxSqlitePoolConnection(_)) {
            return Ok(());
        }
        let pool = self.conn.get_sqlite_connection_pool();
        let attempt = async {
            let mut c = pool.acquire().await?;
            // A BEGIN that completes after this future is dropped is rolled back by sqlx.
            let tx = sqlx::Connection::begin_with(&mut *c, "BEGIN IMMEDIATE").await?;
            tx.rollback().await
        };
        match tokio::time::timeout(wait, attempt).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the database write probe failed");
                Err(crate::DbFault::of_sqlx(&e))
            }
            Err(_) => Err(crate::DbFault::Busy),
        }
    }

    /// Applies every pending migration.
    pub async fn migrate_up(&self) -> Result<(), DbErr> {
        Migrator::up(&self.conn, None).await
    }

    /// Rolls back the newest `steps` applied migrations (all of them with `None`).
    pub async fn migrate_down(&self, steps: Option<u32>) -> Result<(), DbErr> {
        Migrator::down(&self.conn, steps).await
    }

    /// Every migration this build knows, in order, with whether it is applied.
    pub async fn migrations(&self) -> Result<Vec<(String, bool)>, DbErr> {
        use migrations::MigrationStatus;
        Ok(Migrator::get_migration_with_status(&self.conn)
            .await?
            .into_iter()
            .map(|m| {
                (
                    m.name().to_owned(),
                    matches!(m.status(), MigrationStatus::Applied),
                )
            })
            .collect())
    }

    /// Closes the pool, waiting for connections in use to come back.
    pub async fn close(self) {
        if let Err(e) = self.conn.close().await {
            tracing::warn!(error = %e, "closing the database pool failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sqlite_and_postgres() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/x.db").unwrap().backend(),
            DatabaseBackend::Sqlite
        );
        assert_eq!(
            DatabaseUrl::parse("postgres://u:p@127.0.0.1:5432/db")
                .unwrap()
                .backend(),
            DatabaseBackend::Postgresql
        );
    }

    #[test]
    fn rejects_what_cannot_work() {
        for bad in [
            "",
            "  ",
            "mysql://x/y",
            "sqlite::memory:",
            "sqlite://",
            "http://x",
        ] {
            assert!(
                DatabaseUrl::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn redacts_passwords_everywhere() {
        let url = DatabaseUrl::parse(
            "postgres://mcpo:s3cret@db:5432/mcpo?password=s3cret&sslmode=disable",
        )
        .unwrap();
        let shown = url.redacted();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(
            shown,
            "postgres://mcpo:***@db:5432/mcpo?password=***&sslmode=disable"
        );
        assert!(!format!("{url:?}").contains("s3cret"));
        // No password: unchanged.
        assert_eq!(
            redact_url("postgres://mcpo@db/mcpo"),
            "postgres://mcpo@db/mcpo"
        );
    }

    #[test]
    fn invalid_postgres_url_error_does_not_echo_it() {
        let err = DatabaseUrl::parse("postgres://u:topsecret@host:notaport/db").unwrap_err();
        assert!(!err.contains("topsecret"), "{err}");
    }

    #[tokio::test]
    async fn a_write_transaction_that_read_first_survives_a_concurrent_commit() {
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::parse(&format!("sqlite://{}/t.db", dir.path().display())).unwrap();
        let db = Database::connect(&url, &DbOptions::default())
            .await
            .unwrap();
        db.migrate_up().await.unwrap();
        db.conn
            .execute_unprepared("CREATE TABLE t (x INTEGER)")
            .await
            .unwrap();
        let count = |db: &Database| {
            let conn = db.conn.clone();
            async move {
                let row = conn
                    .query_one(sea_orm::Statement::from_string(
                        sea_orm::DbBackend::Sqlite,
                        "SELECT count(*) AS n FROM t",
                    ))
                    .await
                    .unwrap()
                    .unwrap();
                row.try_get::<i64>("", "n").unwrap()
            }
        };

        // What `begin_write` prevents: a plain transaction reads, another connection commits,
        // and the plain one's first write fails at once (SQLITE_BUSY_SNAPSHOT).
        let plain = db.conn.begin().await.unwrap();
        plain
            .execute_unprepared("SELECT count(*) FROM t")
            .await
            .unwrap();
        db.conn
            .execute_unprepared("INSERT INTO t VALUES (1)")
            .await
            .unwrap();
        let err = plain
            .execute_unprepared("INSERT INTO t VALUES (2)")
            .await
            .unwrap_err();
        assert_eq!(crate::DbFault::of(&err), crate::DbFault::Busy, "{err}");
        plain.rollback().await.unwrap();

        // With `begin_write` the other writer waits for this transaction instead.
        let txn = db.begin_write().await.unwrap();
        txn.execute_unprepared("SELECT count(*) FROM t")
            .await
            .unwrap();
        let conn = db.conn.clone();
        let other =
            tokio::spawn(async move { conn.execute_unprepared("INSERT INTO t VALUES (3)").await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!other.is_finished(), "the other writer waits for the lock");
        txn.execute_unprepared("INSERT INTO t VALUES (4)")
            .await
            .unwrap();
        txn.commit().await.unwrap();
        other.await.unwrap().unwrap();
        assert_eq!(count(&db).await, 3);
        db.close().await;
    }
}
