//! One fresh database per test.

use sqlx::{Connection, Executor, PgConnection};
use tempfile::TempDir;

/// A database engine under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file in a temp directory.
    Sqlite,
    /// A new database on the PostgreSQL server of `MCPO_TEST_POSTGRES_URL`.
    Postgres,
}

/// A fresh, empty database. The SQLite file is deleted on drop; PostgreSQL databases live in
/// the throw-away cluster `make test` starts.
pub struct TestDb {
    /// URL to hand to the server (`DATABASE_URL`).
    pub url: String,
    /// Which engine.
    pub backend: Backend,
    _dir: Option<TempDir>,
}

impl TestDb {
    /// Creates a fresh database on `backend`.
    ///
    /// # Panics
    /// When PostgreSQL is asked for and `MCPO_TEST_POSTGRES_URL` is not set or the server is
    /// down: these tests must not pass by skipping.
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/mcpo.db", dir.path().display());
                Self {
                    url,
                    backend,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("mcpo_t_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL server: {e}"));
                conn.execute(format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("create test database");
                let (base, _) = admin
                    .rsplit_once('/')
                    .expect("admin URL has a database path");
                Self {
                    url: format!("{base}/{name}"),
                    backend,
                    _dir: None,
                }
            }
        }
    }
}

impl TestDb {
    /// Another handle on an existing database (the first handle keeps the files alive).
    pub fn existing(url: &str, backend: Backend) -> Self {
        Self {
            url: url.to_owned(),
            backend,
            _dir: None,
        }
    }
}

/// The admin URL of the test PostgreSQL server.
pub fn postgres_admin_url() -> String {
    std::env::var("MCPO_TEST_POSTGRES_URL").expect(
        "MCPO_TEST_POSTGRES_URL is not set: run the tests with `make test`, which starts \
         PostgreSQL on loopback (or point it at a server you run)",
    )
}
