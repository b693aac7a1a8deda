//! Shared fixtures: fresh databases, servers on random ports, HTTP helpers.

mod app;
mod db;

pub use app::{PASSWORD, TestApp, problem, user};
pub use db::{Backend, TestDb, open_sqlite};

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
