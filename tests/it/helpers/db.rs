use std::path::PathBuf;

use sqlx::Connection;
use tempfile::TempDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("CASEBOOK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh, empty database, removed when dropped.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    _dir: Option<TempDir>,
    postgres_name: Option<String>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("casebook.db").display());
                TestDb {
                    backend,
                    url,
                    _dir: Some(dir),
                    postgres_name: None,
                }
            }
            Backend::Postgres => {
                let name = format!("casebook_test_{}", uuid::Uuid::now_v7().simple());
                let admin = postgres_admin_url();
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is required for these tests and is not reachable at {admin}: {e}. \
                         Run scripts/test, which starts it."
                    )
                });
                sqlx::query(&format!("create database {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let base = admin.rsplit_once('/').expect("a database URL").0;
                TestDb {
                    backend,
                    url: format!("{base}/{name}"),
                    _dir: None,
                    postgres_name: Some(name),
                }
            }
        }
    }

    /// The SQLite file of a SQLite database.
    pub fn sqlite_file(&self) -> PathBuf {
        assert_eq!(self.backend, Backend::Sqlite, "{} is not SQLite", self.url);
        casebook::store::sqlite_file_of(&self.url).unwrap()
    }

    /// A connection of its own to this SQLite database's existing file.
    pub fn sqlite(&self) -> rusqlite::Connection {
        open_sqlite(&self.sqlite_file())
    }

    /// Applies the migrations numbered below `version` and no others: the
    /// schema as a release before that migration left it, so a test can
    /// write rows the old way and then watch the upgrade.
    pub async fn migrate_before(&self, version: i64) {
        match self.backend {
            Backend::Sqlite => {
                use casebook::store::sqlite_migrate::{MIGRATIONS, migrate};
                let older: Vec<_> = MIGRATIONS
                    .iter()
                    .filter(|m| m.version < version)
                    .copied()
                    .collect();
                let mut conn = rusqlite::Connection::open(self.sqlite_file()).unwrap();
                migrate(&mut conn, &older).unwrap();
            }
            Backend::Postgres => {
                let dir = std::path::Path::new("migrations/postgres");
                let mut migrator = sqlx::migrate::Migrator::new(dir).await.unwrap();
                let older: Vec<_> = migrator
                    .migrations
                    .iter()
                    .filter(|m| m.version < version)
                    .cloned()
                    .collect();
                migrator.migrations = older.into();
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                migrator.run(&mut conn).await.unwrap();
            }
        }
    }

    /// Runs one statement on a connection of its own, for writing (or
    /// reading) straight to the tables; the rows a write changed.
    pub async fn raw_execute(&self, sql: &str) -> anyhow::Result<u64> {
        match self.backend {
            Backend::Sqlite => {
                let (file, sql) = (self.sqlite_file(), sql.to_string());
                tokio::task::spawn_blocking(move || {
                    let conn = open_sqlite(&file);
                    let mut statement = conn.prepare(&sql)?;
                    if statement.column_count() > 0 {
                        let mut rows = statement.raw_query();
                        while rows.next()?.is_some() {}
                        return Ok(0);
                    }
                    Ok(statement.raw_execute()? as u64)
                })
                .await
                .unwrap()
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await?;
                Ok(sqlx::query(sql).execute(&mut conn).await?.rows_affected())
            }
        }
    }

    /// The first column of every row `sql` returns, as text.
    pub async fn strings(&self, sql: &str) -> Vec<String> {
        match self.backend {
            Backend::Sqlite => self
                .sqlite()
                .prepare(sql)
                .unwrap()
                .query_map([], |row| row.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap(),
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
            }
        }
    }

    /// The values the `outcome` CHECK constraint allows, read from the schema.
    pub async fn outcome_check_values(&self) -> Vec<String> {
        let definition: String = match self.backend {
            Backend::Sqlite => self
                .sqlite()
                .query_row(
                    "select sql from sqlite_master where name = 'sessions'",
                    [],
                    |row| row.get(0),
                )
                .unwrap(),
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar(
                    "select pg_get_constraintdef(oid) from pg_constraint \
                     where conrelid = 'sessions'::regclass and contype = 'c' \
                     and pg_get_constraintdef(oid) like '%outcome%resolved%'",
                )
                .fetch_one(&mut conn)
                .await
                .unwrap()
            }
        };
        let start = definition.find("resolved").expect("an outcome list") - 1;
        let list = &definition[start..];
        let end = list.find(')').unwrap();
        list[..end]
            .split(',')
            .map(|v| v.split('\'').nth(1).expect("a quoted value").to_string())
            .collect()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop runs inside a test's runtime; use a thread with its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                    let _ = sqlx::query(&format!("drop database if exists {name} with (force)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// A connection to the existing SQLite file at `path`, waiting up to five
/// seconds for another connection's lock.
pub fn open_sqlite(path: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn
}
