//! A client that sends a request's headers and its body in two writes (as
//! Python's `http.client` and `requests` do) keeps a usable connection,
//! whatever the route does with the body: reads it, ignores it, or answers
//! before looking at it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::helpers::{Backend, TestApp};

/// Method, path, headers, the body sent late, and the status expected.
type Case<'a> = (
    &'static str,
    String,
    Vec<(&'a str, &'a str)>,
    &'static [u8],
    u16,
);

/// A response read off a raw socket.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one HTTP/1.1 response (headers, then a sized or chunked body).
fn read_answer(reader: &mut BufReader<TcpStream>) -> std::io::Result<Answer> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed.split_once(':').expect("a header line");
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let answer = Answer { status, headers };
    if let Some(length) = answer.header("content-length") {
        let mut body = vec![0; length.parse().unwrap()];
        reader.read_exact(&mut body)?;
    } else if answer.header("transfer-encoding") == Some("chunked") {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim(), 16).unwrap();
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
        }
    }
    Ok(answer)
}

/// Sends `method path` with `body` in a second write, after a pause long
/// enough for the server to have answered without it; then a second
/// request on the same connection. Returns both answers.
fn two_requests(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (Answer, std::io::Result<Answer>) {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    writer.write_all(head.as_bytes()).unwrap();
    writer.flush().unwrap();
    // The body in a segment of its own, well after the headers: the pause
    // is what is under test, not a wait for something.
    std::thread::sleep(Duration::from_millis(100));
    let sent = writer.write_all(body);
    let first = read_answer(&mut reader).expect("an answer to the first request");
    sent.unwrap_or_else(|e| panic!("{method} {path}: the body could not be sent: {e}"));
    let second = writer
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .and_then(|()| read_answer(&mut reader));
    (first, second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_after_the_headers_leaves_the_connection_usable_on_every_kind_of_answer() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let prepared = app.create("To start", &[]).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let completed = app.create_active("To reopen").await;
    assert_eq!(
        app.complete(&completed, "resolved", None).await.status(),
        200
    );
    let with_step = app.create("To uncheck", &["look"]).await;
    let (checked, step) = (
        with_step["id"].as_str().unwrap().to_string(),
        with_step["steps"][0]["id"].as_str().unwrap().to_string(),
    );
    app.start(&checked).await;
    let check = app
        .post_json(
            &format!("/api/sessions/{checked}/steps/{step}/check"),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(check.status(), 200);

    let bearer = format!("Bearer {}", app.token);
    let addr = app.addr;
    tokio::task::spawn_blocking(move || {
        let json = ("Content-Type", "application/json");
        let auth = ("Authorization", bearer.as_str());
        let form = ("Content-Type", "application/x-www-form-urlencoded");
        let cases: Vec<Case> = vec![
            // Routes that take no body and answer without reading one.
            (
                "POST",
                format!("/api/sessions/{prepared}/start"),
                vec![auth, json],
                b"{}",
                200,
            ),
            (
                "POST",
                format!("/api/sessions/{completed}/reopen"),
                vec![auth, json],
                b"{}",
                200,
            ),
            (
                "POST",
                format!("/api/sessions/{checked}/steps/{step}/uncheck"),
                vec![auth, json],
                b"{}",
                200,
            ),
            ("POST", "/logout".into(), vec![form], b"csrf=x", 303),
            // Early answers: not signed in, a foreign origin, nothing there.
            (
                "POST",
                format!("/api/sessions/{checked}/complete"),
                vec![json],
                br#"{"outcome":"resolved"}"#,
                401,
            ),
            (
                "POST",
                format!("/sessions/{checked}/complete"),
                vec![form, ("Origin", "http://elsewhere.example")],
                b"outcome=resolved",
                403,
            ),
            ("POST", "/api/nowhere".into(), vec![auth, json], b"{}", 404),
            (
                "GET",
                "/api/sessions".into(),
                vec![auth],
                b"unexpected",
                200,
            ),
        ];
        for (method, path, headers, body, status) in cases {
            let (first, second) = two_requests(addr, method, &path, &headers, body);
            assert_eq!(first.status, status, "{method} {path}: {first:?}");
            assert_ne!(first.header("connection"), Some("close"), "{method} {path}");
            let second = second
                .unwrap_or_else(|e| panic!("{method} {path}: the connection was dropped: {e}"));
            assert_eq!(second.status, 200, "the request after {method} {path}");
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_refused_with_413_and_the_client_is_told_the_connection_ends() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let bearer = format!("Bearer {}", app.token);
    let addr = app.addr;
    tokio::task::spawn_blocking(move || {
        let body = vec![b' '; 2 * 1024 * 1024];
        let headers = [
            ("Authorization", bearer.as_str()),
            ("Content-Type", "application/json"),
        ];
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = format!(
            "POST /api/sessions HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        writer.write_all(head.as_bytes()).unwrap();
        // The server may stop reading once it has refused: a broken pipe
        // here is allowed, an answer that does not say so is not.
        std::thread::sleep(Duration::from_millis(100));
        let _ = writer.write_all(&body[..64 * 1024]);
        let answer = read_answer(&mut reader).expect("an answer");
        assert_eq!(answer.status, 413);
        assert_eq!(answer.header("connection"), Some("close"));
        // And the server does close it.
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest);
    })
    .await
    .unwrap();
}
