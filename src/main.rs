use clap::Parser;

use casebook::config::{Cli, Command};
use casebook::startup::{Application, shutdown_signal};
use casebook::{admin, backup, cli, client, demo, store, telemetry};

/// jemalloc instead of glibc's allocator: glibc's arenas take a lock when
/// memory allocated on one thread is freed on another, which a web server
/// does on every request (a body built on a blocking thread, sent from a
/// runtime thread). With wrk at 32 connections, jemalloc cut the server's
/// CPU per history page from about 400 to 260 µs and per list from 190 to
/// 140 µs (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    match cli.command {
        Command::Serve(args) => {
            let app = Application::build(&args.settings()?).await?;
            app.run_until(shutdown_signal()).await
        }
        Command::Migrate(args) => {
            let store = store::connect(&args.resolve_url()?).await?;
            store.close().await;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Seed(args) => {
            let stores = store::connect_all(&args.database.resolve_url()?).await?;
            let seeded = demo::seed(&stores).await;
            stores.sessions.close().await;
            match seeded {
                Ok(count) => println!("Added {count} demo sessions."),
                // A refusal is an answer, not a crash: no backtrace.
                Err(e) => {
                    eprintln!("casebook seed: {e:#}");
                    std::process::exit(1);
                }
            }
            Ok(())
        }
        Command::User(args) => admin::exit_on_error("user", admin::user(args).await),
        Command::Token(args) => admin::exit_on_error("token", admin::token(args).await),
        Command::Backup(args) => admin::exit_on_error("backup", backup::run(args).await),
        Command::Login(args) => client::exit_on_error(client::login(args).await),
        Command::Sessions(args) => client::exit_on_error(client::sessions(args).await),
        Command::Webhook(args) => admin::exit_on_error("webhook", cli::webhooks::run(args).await),
    }
}
