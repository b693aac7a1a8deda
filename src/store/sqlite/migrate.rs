//! SQLite's schema: the files of migrations/sqlite (embedded by build.rs),
//! applied with rusqlite, recorded in the table sqlx's migrator keeps,
//! `_sqlx_migrations`, exactly as sqlx records them: the same columns, the
//! version and description from the file name, and the checksum sqlx
//! computes (SHA-384 of the file's text). So a database migrated by an
//! earlier Casebook (which ran these files through `sqlx::migrate!`) upgrades
//! unchanged, and one migrated here still opens with that release.
//!
//! Unlike sqlx's migrator, each migration is chosen and applied inside one
//! `BEGIN IMMEDIATE` transaction, so two processes starting at once on one
//! new file cannot both apply it: the second waits, then finds it done.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use sha2::{Digest, Sha384};

/// One file of migrations/sqlite.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    /// The file name's words: `0007_search.sql` is "search".
    pub description: &'static str,
    pub sql: &'static str,
}

impl Migration {
    /// What sqlx stores and compares: SHA-384 of the file's text.
    pub fn checksum(&self) -> Vec<u8> {
        Sha384::digest(self.sql.as_bytes()).to_vec()
    }
}

/// Every migration, in version order.
pub static MIGRATIONS: &[Migration] = include!(concat!(env!("OUT_DIR"), "/sqlite_migrations.rs"));

/// How long to wait for another connection's write lock (another process
/// migrating or serving) before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "migration {0} of this database was left partly applied (its bookkeeping row in \
         _sqlx_migrations says it failed); restore a backup, or repair it by hand"
    )]
    Dirty(i64),
    #[error(
        "migration {0} was applied to this database from a file that differs from this \
         build's migrations/sqlite (its checksum in _sqlx_migrations does not match)"
    )]
    Changed(i64),
    #[error(
        "migration {0} was applied to this database but this build does not know it; \
         is the database from a newer Casebook?"
    )]
    Unknown(i64),
    #[error("migration {version} ({description}) failed: {source}")]
    Failed {
        version: i64,
        description: &'static str,
        source: rusqlite::Error,
    },
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// Opens (creating it if need be) the SQLite file at `path`, turns WAL on
/// (the setting is kept in the file) and applies every migration it lacks.
/// Returns the versions applied now. Blocks.
pub fn open_and_migrate(path: &Path) -> Result<Vec<i64>, MigrateError> {
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(LOCK_WAIT)?;
    conn.pragma_update(None, "journal_mode", "wal")?;
    conn.execute_batch("pragma synchronous = normal; pragma foreign_keys = on;")?;
    let applied = migrate(&mut conn, MIGRATIONS)?;
    // The last connection to close checkpoints the WAL into the file.
    conn.close().map_err(|(_, e)| e)?;
    Ok(applied)
}

/// Applies those of `migrations` (in version order) that `conn`'s database
/// lacks, after checking that what it has is what they say. Returns the
/// versions applied now.
pub fn migrate(conn: &mut Connection, migrations: &[Migration]) -> Result<Vec<i64>, MigrateError> {
    // sqlx's own statement, so the table is the same whoever creates it.
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
);",
    )?;
    let mut applied_now = Vec::new();
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(next) = next_to_apply(&tx, migrations)? else {
            tx.commit()?;
            return Ok(applied_now);
        };
        let started = Instant::now();
        tx.execute_batch(next.sql)
            .map_err(|source| MigrateError::Failed {
                version: next.version,
                description: next.description,
                source,
            })?;
        let nanos = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO _sqlx_migrations ( version, description, success, checksum, execution_time ) \
             VALUES ( ?1, ?2, TRUE, ?3, ?4 )",
            rusqlite::params![next.version, next.description, next.checksum(), nanos],
        )?;
        tx.commit()?;
        applied_now.push(next.version);
    }
}

/// The first of `migrations` not yet applied, after the checks sqlx's
/// migrator makes: nothing half-applied, nothing unknown, nothing changed.
fn next_to_apply<'m>(
    conn: &Connection,
    migrations: &'m [Migration],
) -> Result<Option<&'m Migration>, MigrateError> {
    let dirty: Option<i64> = conn
        .prepare(
            "SELECT version FROM _sqlx_migrations WHERE success = false ORDER BY version LIMIT 1",
        )?
        .query_map([], |row| row.get(0))?
        .next()
        .transpose()?;
    if let Some(version) = dirty {
        return Err(MigrateError::Dirty(version));
    }
    let applied = conn
        .prepare("SELECT version, checksum FROM _sqlx_migrations ORDER BY version")?
        .query_map([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for (version, checksum) in &applied {
        let migration = migrations
            .iter()
            .find(|m| m.version == *version)
            .ok_or(MigrateError::Unknown(*version))?;
        if migration.checksum() != *checksum {
            return Err(MigrateError::Changed(*version));
        }
    }
    Ok(migrations
        .iter()
        .find(|m| !applied.iter().any(|(version, _)| *version == m.version)))
}

/// A database in memory with the whole schema, for unit tests.
#[cfg(test)]
pub(super) fn in_memory() -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    migrate(&mut conn, MIGRATIONS).unwrap();
    conn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_migrations_sqlite_is_embedded_in_version_order() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let embedded: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{:04}_{}.sql", m.version, m.description.replace(' ', "_")))
            .collect();
        assert_eq!(embedded, files);
        assert_eq!(MIGRATIONS[0].description, "sessions");
    }

    #[test]
    fn a_migration_applies_once_and_a_changed_or_unknown_one_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        let first = &MIGRATIONS[..2];
        assert_eq!(migrate(&mut conn, first).unwrap(), [1, 2]);
        assert!(
            migrate(&mut conn, first).unwrap().is_empty(),
            "nothing twice"
        );
        let rest = migrate(&mut conn, MIGRATIONS).unwrap();
        assert_eq!(rest.len(), MIGRATIONS.len() - 2);

        let mut changed = MIGRATIONS.to_vec();
        changed[1].sql = "-- edited after release\n";
        let refused = migrate(&mut conn, &changed).unwrap_err();
        assert!(matches!(refused, MigrateError::Changed(2)), "{refused}");
        let refused = migrate(&mut conn, &MIGRATIONS[..3]).unwrap_err();
        assert!(matches!(refused, MigrateError::Unknown(_)), "{refused}");

        conn.execute(
            "update _sqlx_migrations set success = false where version = 2",
            [],
        )
        .unwrap();
        let refused = migrate(&mut conn, MIGRATIONS).unwrap_err();
        assert!(matches!(refused, MigrateError::Dirty(2)), "{refused}");
    }

    #[test]
    fn a_failing_migration_leaves_no_trace() {
        let mut conn = Connection::open_in_memory().unwrap();
        let mut broken = MIGRATIONS[..2].to_vec();
        broken[1].sql = "create table half_done (id integer); select nonsense from nowhere;";
        let failed = migrate(&mut conn, &broken).unwrap_err();
        assert!(
            matches!(failed, MigrateError::Failed { version: 2, .. }),
            "{failed}"
        );
        let tables: i64 = conn
            .query_row(
                "select count(*) from sqlite_master where name = 'half_done'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0, "the failed migration was rolled back");
        let recorded: Vec<i64> = conn
            .prepare("select version from _sqlx_migrations")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(recorded, [1]);
    }
}
