//! A seeded PostgreSQL database kept for later runs, as `--reuse` keeps a
//! SQLite file: each run works on a copy (`CREATE DATABASE … TEMPLATE`),
//! since the complete case consumes active sessions.

use std::str::FromStr;

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};

/// Copies the database of `seeded_url` to a fresh `<name>_run` and returns
/// the copy's URL (any earlier copy is dropped first).
pub async fn fresh_copy(seeded_url: &str) -> anyhow::Result<String> {
    let options = PgConnectOptions::from_str(seeded_url).context("reading the database URL")?;
    let seeded = options
        .get_database()
        .context("the database URL names no database")?
        .to_string();
    let copy = format!("{seeded}_run");
    let mut admin = options
        .database("postgres")
        .connect()
        .await
        .context("connecting to the server's postgres database")?;
    admin
        .execute(format!("drop database if exists {} with (force)", quoted(&copy)).as_str())
        .await?;
    admin
        .execute(
            format!(
                "create database {} template {}",
                quoted(&copy),
                quoted(&seeded)
            )
            .as_str(),
        )
        .await
        .context("copying the seeded database (is another client connected to it?)")?;
    admin.close().await?;
    Ok(url_with_database(seeded_url, &copy))
}

/// Creates the database `url` names when the server has none by that name,
/// so that a first run needs no `createdb`.
pub async fn ensure_exists(url: &str) -> anyhow::Result<()> {
    let options = PgConnectOptions::from_str(url).context("reading the database URL")?;
    let name = options
        .get_database()
        .context("the database URL names no database")?
        .to_string();
    let mut admin = options
        .database("postgres")
        .connect()
        .await
        .context("connecting to the server's postgres database")?;
    let exists: Option<i32> = sqlx::query_scalar("select 1 from pg_database where datname = $1")
        .bind(&name)
        .fetch_optional(&mut admin)
        .await?;
    if exists.is_none() {
        eprintln!("creating the database {name}");
        admin
            .execute(format!("create database {}", quoted(&name)).as_str())
            .await
            .with_context(|| format!("creating the database {name}"))?;
    }
    admin.close().await?;
    Ok(())
}

/// What a sustained run leaves behind on PostgreSQL: the write-ahead log's
/// position (bytes written since the server began) and the database's size.
pub async fn wal_position_and_size(url: &str) -> anyhow::Result<(i64, i64)> {
    let options = PgConnectOptions::from_str(url).context("reading the database URL")?;
    let mut conn = options
        .connect()
        .await
        .context("connecting to read the WAL")?;
    let read = sqlx::query_as(
        "select pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint, \
                pg_database_size(current_database())",
    )
    .fetch_one(&mut conn)
    .await
    .context("reading the WAL position and the database size")?;
    conn.close().await?;
    Ok(read)
}

/// Gathers the planner's statistics of every table of the database.
pub async fn analyze(url: &str) -> anyhow::Result<()> {
    let options = PgConnectOptions::from_str(url).context("reading the database URL")?;
    let mut conn = options.connect().await.context("connecting to analyze")?;
    conn.execute("analyze")
        .await
        .context("analyzing the seeded database")?;
    conn.close().await?;
    Ok(())
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `url` with its path (the database name) replaced, its query kept.
fn url_with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let host_part = base.rsplit_once('/').map_or(base, |(head, _)| head);
    match query {
        Some(query) => format!("{host_part}/{database}?{query}"),
        None => format!("{host_part}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::url_with_database;

    #[test]
    fn only_the_database_name_changes() {
        assert_eq!(
            url_with_database("postgres://u@h:5432/seed?sslmode=disable", "seed_run"),
            "postgres://u@h:5432/seed_run?sslmode=disable"
        );
        assert_eq!(
            url_with_database("postgres://u@h/seed", "seed_run"),
            "postgres://u@h/seed_run"
        );
    }
}
