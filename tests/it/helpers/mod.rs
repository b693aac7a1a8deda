//! Shared fixtures: fresh databases, servers in this process (`TestApp`) and
//! as child processes (`ServerProcess`), the command line (`casebook`), the
//! sign-in form, a fake language model, races, and waiting for a condition.

mod app;
mod db;
mod llm;
mod process;
mod races;
mod sign_in;

use std::future::Future;
use std::time::{Duration, Instant};

pub use app::{PASSWORD, TestApp, bearer_client, get_json, problem, user};
pub use db::{Backend, TestDb, open_sqlite};
pub use llm::{Behaviour, fake_llm};
pub use process::{Run, ServerProcess, TwoProcesses, casebook, casebook_with, cli_token};
pub use races::{OUTCOMES, assert_one_winner, race_to_complete};
pub use sign_in::{cookie_of, csrf_of, page, sign_in, sign_in_with};

/// Runs each named test body once per backend, each in its own fresh database:
/// `backend_tests!(a_test, another_test);` expects `async fn a_test(backend: Backend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

/// How long [`eventually`] waits: generous, since several servers, browsers
/// and databases share two cores while the suite runs.
pub const EVENTUALLY: Duration = Duration::from_secs(30);

/// Polls `probe` until it returns a value, and returns that value; fails
/// the test after [`EVENTUALLY`], naming `what` it waited for.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
