//! `casebook backup <file>`: an online, consistent copy of the SQLite
//! database, taken with SQLite's backup API (through rusqlite) while the
//! server keeps serving. The copy is checked (`pragma integrity_check`) and
//! only then moved into place, so the named file is whole or absent.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

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
    let source = crate::store::sqlite_file_of(&url)?;
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

    let copied = tokio::task::spawn_blocking({
        let partial = partial.clone();
        move || {
            copy_online(&source, &url, &partial)?;
            verify(&partial)
        }
    })
    .await
    .context("the backup stopped unexpectedly")
    .and_then(|copied| copied);
    let sessions = match copied {
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

/// Copies the whole `main` database of the file at `source` into the new,
/// empty file at `path`. One backup step of every page (`-1`) reads them all
/// inside one read transaction: in WAL mode that sees one consistent moment
/// and does not block the server's writer, and a write elsewhere cannot
/// restart it.
fn copy_online(source: &Path, url: &str, path: &Path) -> anyhow::Result<()> {
    let from = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open the database {url}"))?;
    from.busy_timeout(Duration::from_secs(5))?;
    let mut to = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot create {}", path.display()))?;
    {
        let backup = Backup::new(&from, &mut to).context("cannot start the backup")?;
        let deadline = Instant::now() + BUSY_DEADLINE;
        loop {
            match backup.step(-1).context("the backup failed")? {
                StepResult::Done => break,
                StepResult::More => {}
                StepResult::Busy | StepResult::Locked if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                StepResult::Busy | StepResult::Locked => {
                    anyhow::bail!(
                        "the backup failed: the database stayed locked for {}s",
                        BUSY_DEADLINE.as_secs()
                    )
                }
                other => anyhow::bail!("the backup failed: {other:?}"),
            }
        }
    }
    to.close()
        .map_err(|(_, e)| e)
        .context("cannot finish the copy")?;
    Ok(())
}

/// Makes the copy one self-contained file (rollback journal, no `-wal`
/// beside it), checks it, and counts its sessions.
fn verify(path: &Path) -> anyhow::Result<i64> {
    let copy = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .context("cannot open the copy")?;
    copy.pragma_update(None, "journal_mode", "delete")
        .context("cannot open the copy")?;
    let integrity: String = copy
        .query_row("pragma integrity_check", [], |row| row.get(0))
        .context("cannot check the copy")?;
    anyhow::ensure!(
        integrity == "ok",
        "the copy failed its integrity check: {integrity}"
    );
    let sessions: i64 = copy
        .query_row("select count(*) from sessions", [], |row| row.get(0))
        .context("the database has no sessions table; is it a Casebook database?")?;
    copy.close()
        .map_err(|(_, e)| e)
        .context("cannot close the copy")?;
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
