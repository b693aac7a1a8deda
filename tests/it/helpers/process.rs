//! The `casebook` binary, run as an operator runs it: one-shot commands
//! (`casebook`), a server (`ServerProcess`), two servers on one PostgreSQL
//! (`TwoProcesses`). Every run starts with no inherited `CASEBOOK_*`
//! setting, so only what a test passes counts.

use std::io::{BufRead, BufReader};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::{Backend, PASSWORD, TestDb, bearer_client};

const BINARY: &str = env!("CARGO_BIN_EXE_casebook");

/// The variables a test's environment may have set for Casebook.
fn inherited_settings() -> impl Iterator<Item = String> {
    std::env::vars()
        .map(|(name, _)| name)
        .filter(|name| name.starts_with("CASEBOOK_"))
}

/// What one run of the binary left behind.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Its output, after checking it exited 0.
    pub fn succeeded(&self) -> &str {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        &self.stdout
    }

    /// A refusal: exit code 1, nothing on stdout, one line on stderr.
    pub fn refused(&self) -> &str {
        assert_eq!(
            self.code, 1,
            "stdout: {} stderr: {}",
            self.stdout, self.stderr
        );
        assert_eq!(self.stdout, "");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {:?}", self.stderr);
        lines[0]
    }
}

/// Runs `casebook ARGS` and waits for it to exit.
pub async fn casebook(args: &[&str]) -> Run {
    casebook_with(args, &[], "").await
}

/// Runs `casebook ARGS` with `env` set and `stdin` as its input.
pub async fn casebook_with(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Run {
    let mut command = tokio::process::Command::new(BINARY);
    for name in inherited_settings() {
        command.env_remove(name);
    }
    let mut child = command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("casebook runs");
    let mut input = child.stdin.take().unwrap();
    // A command that reads nothing may exit before the input is written.
    let _ = input.write_all(stdin.as_bytes()).await;
    drop(input);
    let output = child.wait_with_output().await.unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// Makes the engineer `dana` (password [`PASSWORD`]) with `casebook user
/// add` and a personal token for her with `casebook token create`, on the
/// database `database` names (`--data-dir …` or `--database-url …`).
pub async fn cli_token(database: &[&str]) -> String {
    let args = |command: &[&'static str]| [command, database].concat();
    casebook_with(
        &args(&["user", "add", "dana", "--password-stdin"]),
        &[],
        PASSWORD,
    )
    .await
    .succeeded();
    casebook(&args(&["token", "create", "--user", "dana"]))
        .await
        .succeeded()
        .trim()
        .to_string()
}

/// A `casebook serve` child process and the log lines it wrote.
pub struct ServerProcess {
    child: Child,
    pub base_url: String,
    pub logs: Arc<Mutex<Vec<String>>>,
    /// The threads copying stderr and stdout into `logs`; joined on exit so
    /// no line written just before exiting is missed.
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl ServerProcess {
    /// Starts `casebook serve` on a free port with `args` and `env`, once it
    /// has logged the address it bound.
    pub async fn start(args: &[&str], env: &[(&str, &str)]) -> ServerProcess {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        tokio::task::spawn_blocking(move || Self::spawn(&args, &env))
            .await
            .unwrap()
    }

    fn spawn(args: &[String], env: &[(String, String)]) -> ServerProcess {
        let mut command = std::process::Command::new(BINARY);
        for name in inherited_settings() {
            command.env_remove(name);
        }
        let mut child = command
            .args(["serve", "--addr", "127.0.0.1:0", "--log-format", "json"])
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("casebook starts");
        // Logs (stderr) and what it prints for the operator (stdout), together.
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let readers = [
            Box::new(stderr) as Box<dyn std::io::Read + Send>,
            Box::new(stdout),
        ]
        .into_iter()
        .map(|stream| {
            let sink = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            })
        })
        .collect();
        let addr = find_line(&logs, Duration::from_secs(60), |line| {
            let entry: Value = serde_json::from_str(line).ok()?;
            entry["addr"].as_str().map(str::to_string)
        })
        .expect("the server logs the address it bound");
        assert!(!addr.ends_with(":0"), "the real port is logged, not 0");
        ServerProcess {
            child,
            base_url: format!("http://{addr}"),
            logs,
            readers,
        }
    }

    /// The process id, to read its figures from /proc.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The first log line `find` recognizes, waiting up to `timeout` for it.
    pub async fn log_line<T: Send + 'static>(
        &self,
        timeout: Duration,
        find: impl Fn(&str) -> Option<T> + Send + 'static,
    ) -> Option<T> {
        let logs = self.logs.clone();
        tokio::task::spawn_blocking(move || find_line(&logs, timeout, find))
            .await
            .unwrap()
    }

    pub fn send_sigterm(&self) {
        // SAFETY: kill(2) with the pid of a child this process has not reaped.
        let sent = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(sent, 0, "SIGTERM");
    }

    /// Waits for the exit and for the last log lines to be read.
    pub async fn wait(self) -> ExitStatus {
        tokio::task::spawn_blocking(move || self.wait_blocking())
            .await
            .unwrap()
    }

    fn wait_blocking(mut self) -> ExitStatus {
        let status = self.child.wait().unwrap();
        for reader in std::mem::take(&mut self.readers) {
            reader.join().expect("the log reader ends with the process");
        }
        status
    }

    /// Kills the process with SIGKILL: no shutdown, no flushing, as in a
    /// crash or an out-of-memory kill.
    pub async fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.wait().await;
    }

    /// SIGTERM, then the exit status once it has stopped.
    pub async fn terminate(self) -> ExitStatus {
        self.send_sigterm();
        self.wait().await
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls the log lines until `find` recognizes one.
fn find_line<T>(
    logs: &Mutex<Vec<String>>,
    timeout: Duration,
    find: impl Fn(&str) -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(found) = logs.lock().unwrap().iter().find_map(|l| find(l)) {
            return Some(found);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Two servers on one fresh PostgreSQL database, and a client for both
/// (dana's token, made with the CLI).
pub struct TwoProcesses {
    pub servers: [ServerProcess; 2],
    pub client: reqwest::Client,
    /// Dropped last: the database outlives the servers.
    pub db: TestDb,
}

impl TwoProcesses {
    pub async fn start() -> TwoProcesses {
        let db = TestDb::new(Backend::Postgres).await;
        let database = ["--database-url", db.url.as_str()];
        let token = cli_token(&database).await;
        let a = ServerProcess::start(&database, &[]).await;
        let b = ServerProcess::start(&database, &[]).await;
        TwoProcesses {
            servers: [a, b],
            client: bearer_client(&token),
            db,
        }
    }
}
