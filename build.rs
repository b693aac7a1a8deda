//! Embeds SQLite's migrations (migrations/sqlite/*.sql) in the binary, for
//! the migration runner in src/store/sqlite/migrate.rs. A file's version and
//! description come from its name exactly as sqlx's migrator reads them
//! (`0007_search.sql` is version 7, "search"), because the database records
//! them in sqlx's bookkeeping table. PostgreSQL's migrations are embedded by
//! `sqlx::migrate!` instead.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let dir = Path::new(&root).join("migrations/sqlite");
    // A directory: cargo reruns this when any file in it is added, removed or changed.
    println!("cargo:rerun-if-changed={}", dir.display());
    // sqlx::migrate! embeds these when the crate compiles, and cargo does
    // not see a new file there by itself: without this line, a build after
    // adding a PostgreSQL migration alone kept the old set.
    println!("cargo:rerun-if-changed={root}/migrations/postgres");
    let mut migrations = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("migrations/sqlite is readable") {
        let path = entry.expect("migrations/sqlite is readable").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // sqlx ignores what is not `<version>_<description>.sql`; so does this.
        let Some((version, rest)) = name.split_once('_') else {
            continue;
        };
        let Some(description) = rest.strip_suffix(".sql") else {
            continue;
        };
        let version: i64 = version.parse().unwrap_or_else(|_| {
            panic!("migrations/sqlite/{name}: the name must start with a number, e.g. 0011_…")
        });
        assert!(
            !description.ends_with(".up") && !description.ends_with(".down"),
            "migrations/sqlite/{name}: reversible migrations are not supported"
        );
        let sql = std::fs::read_to_string(&path).expect("a migration is UTF-8 text");
        assert!(
            !sql.starts_with("-- no-transaction"),
            "migrations/sqlite/{name}: every SQLite migration runs in a transaction"
        );
        migrations.push((version, description.replace('_', " "), path));
    }
    migrations.sort_by_key(|m| m.0);
    for pair in migrations.windows(2) {
        assert!(
            pair[0].0 != pair[1].0,
            "two SQLite migrations have version {}",
            pair[0].0
        );
    }
    let mut code = String::from("&[\n");
    for (version, description, path) in &migrations {
        writeln!(
            code,
            "    Migration {{ version: {version}, description: {description:?}, \
             sql: include_str!({:?}) }},",
            path.display().to_string()
        )
        .unwrap();
    }
    code.push(']');
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("sqlite_migrations.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
