//! `casebook backup <file>`: an online, consistent copy of the SQLite
//! database, taken with SQLite's backup API (`sqlite3_backup_*`) while the
//! server keeps serving. The copy is checked (`pragma integrity_check`) and
//! only then moved into place, so the named file is whole or absent.

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr::{self, NonNull};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use libsqlite3_sys as ffi;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{Connection, SqliteConnection};

use crate::config::DatabaseArgs;

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write the copy: a new file (an existing one is never overwritten).
    pub file: PathBuf,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// How long to keep retrying while another connection holds a lock the
/// copy needs (a checkpoint, for instance).
const BUSY_DEADLINE: Duration = Duration::from_secs(30);

pub async fn run(args: BackupArgs) -> anyhow::Result<()> {
    let url = args.database.resolve_url()?;
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        anyhow::bail!(
            "this is a PostgreSQL database, which casebook backup does not copy: use pg_dump, \
             e.g. pg_dump --format=custom --file casebook.dump \"$CASEBOOK_DATABASE_URL\" \
             (see docs/DEPLOY.md)"
        );
    }
    anyhow::ensure!(
        url.starts_with("sqlite:"),
        "unsupported database URL {url:?}: use sqlite:PATH or postgres://…"
    );
    let target = args.file;
    anyhow::ensure!(
        !target.exists(),
        "{} already exists; casebook backup never overwrites a file, so name a new one",
        target.display()
    );
    let name = target
        .file_name()
        .context("the backup file needs a file name")?;
    let partial = target.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    let _ = std::fs::remove_file(&partial);
    // Created here, new and readable by its owner only, before SQLite
    // writes a byte: the copy holds password hashes and every login session.
    create_private(&partial)?;

    let options = SqliteConnectOptions::from_str(&url)?
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(5));
    let mut source = SqliteConnection::connect_with(&options)
        .await
        .with_context(|| format!("cannot open the database {url}"))?;
    let copied = {
        let mut handle = source.lock_handle().await?;
        let raw = handle.as_raw_handle();
        // The copy runs synchronously on this thread; nothing else runs here.
        tokio::task::block_in_place(|| copy_online(raw, &partial))
    };
    source.close().await?;
    let verified = match copied {
        Ok(()) => verify(&partial).await,
        Err(e) => Err(e),
    };
    let sessions = match verified {
        Ok(sessions) => sessions,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    let placed = place_without_overwriting(&partial, &target);
    let _ = std::fs::remove_file(&partial);
    placed?;
    let noun = if sessions == 1 { "session" } else { "sessions" };
    println!(
        "Backed up {sessions} {noun} to {} (integrity check: ok).",
        target.display()
    );
    Ok(())
}

/// A new, empty file with mode 0600; fails if anything is at `path`.
fn create_private(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    Ok(())
}

/// Gives the finished copy its name, unless a file appeared there while the
/// copy ran: a hard link is created atomically and never replaces anything
/// (unlike a rename), and the caller then removes the partial name.
fn place_without_overwriting(partial: &Path, target: &Path) -> anyhow::Result<()> {
    match std::fs::hard_link(partial, target) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => anyhow::bail!(
            "{} appeared while the backup ran; casebook backup never overwrites a file, \
             so name a new one",
            target.display()
        ),
        Err(e) => Err(e).with_context(|| format!("cannot move the backup to {}", target.display())),
    }
}

/// A destination database handle, closed however the copy ends.
struct Destination(*mut ffi::sqlite3);

impl Drop for Destination {
    fn drop(&mut self) {
        // SAFETY: the handle came from sqlite3_open_v2 (possibly null, which
        // sqlite3_close accepts) and its backup object is finished by now.
        unsafe {
            ffi::sqlite3_close(self.0);
        }
    }
}

fn error_message(db: *mut ffi::sqlite3) -> String {
    // SAFETY: sqlite3_errmsg accepts any handle sqlite3_open_v2 returned and
    // gives a string that lives until the next call on that handle.
    unsafe {
        let message = ffi::sqlite3_errmsg(db);
        if message.is_null() {
            "out of memory".into()
        } else {
            CStr::from_ptr(message).to_string_lossy().into_owned()
        }
    }
}

/// Copies the whole `main` database of `source` into a new file at `path`.
/// One `sqlite3_backup_step(-1)` reads every page inside one read
/// transaction: in WAL mode that sees one consistent moment and does not
/// block the server's writer, and a write elsewhere cannot restart it.
fn copy_online(source: NonNull<ffi::sqlite3>, path: &Path) -> anyhow::Result<()> {
    let c_path =
        CString::new(path.as_os_str().as_bytes()).context("the backup path contains a NUL byte")?;
    let mut raw = ptr::null_mut();
    // SAFETY: a valid C string and an out-pointer; the handle is owned by
    // `Destination` from here on.
    let opened = unsafe {
        ffi::sqlite3_open_v2(
            c_path.as_ptr(),
            &mut raw,
            ffi::SQLITE_OPEN_READWRITE,
            ptr::null(),
        )
    };
    let destination = Destination(raw);
    if opened != ffi::SQLITE_OK {
        anyhow::bail!(
            "cannot create {}: {}",
            path.display(),
            error_message(destination.0)
        );
    }
    // SAFETY: both handles are open; the caller holds sqlx's lock on the
    // source, so no other call uses it until this function returns, and
    // the backup object is finished before either handle is released.
    unsafe {
        let backup = ffi::sqlite3_backup_init(
            destination.0,
            c"main".as_ptr(),
            source.as_ptr(),
            c"main".as_ptr(),
        );
        if backup.is_null() {
            anyhow::bail!("cannot start the backup: {}", error_message(destination.0));
        }
        let deadline = Instant::now() + BUSY_DEADLINE;
        let stepped = loop {
            match ffi::sqlite3_backup_step(backup, -1) {
                ffi::SQLITE_DONE => break ffi::SQLITE_OK,
                ffi::SQLITE_OK => continue,
                ffi::SQLITE_BUSY | ffi::SQLITE_LOCKED if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                other => break other,
            }
        };
        let finished = ffi::sqlite3_backup_finish(backup);
        if stepped != ffi::SQLITE_OK || finished != ffi::SQLITE_OK {
            anyhow::bail!("the backup failed: {}", error_message(destination.0));
        }
    }
    Ok(())
}

/// Makes the copy one self-contained file (rollback journal, no `-wal`
/// beside it), checks it, and counts its sessions.
async fn verify(path: &Path) -> anyhow::Result<i64> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Delete);
    let mut copy = SqliteConnection::connect_with(&options)
        .await
        .context("cannot open the copy")?;
    let integrity: String = sqlx::query_scalar("pragma integrity_check")
        .fetch_one(&mut copy)
        .await
        .context("cannot check the copy")?;
    anyhow::ensure!(
        integrity == "ok",
        "the copy failed its integrity check: {integrity}"
    );
    let sessions: i64 = sqlx::query_scalar("select count(*) from sessions")
        .fetch_one(&mut copy)
        .await
        .context("the database has no sessions table; is it a Casebook database?")?;
    copy.close().await?;
    Ok(sessions)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_copy_is_created_private_and_never_replaces_a_file_that_appeared() {
        let dir = tempfile::tempdir().unwrap();
        let partial = dir.path().join(".copy.db.partial");
        create_private(&partial).unwrap();
        let mode = std::fs::metadata(&partial).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(create_private(&partial).is_err(), "only a new file");

        let target = dir.path().join("copy.db");
        std::fs::write(&target, "someone else's file").unwrap();
        let refused = place_without_overwriting(&partial, &target).unwrap_err();
        assert!(
            refused.to_string().contains("never overwrites"),
            "{refused}"
        );
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "someone else's file"
        );
        std::fs::remove_file(&target).unwrap();
        place_without_overwriting(&partial, &target).unwrap();
        let mode = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
