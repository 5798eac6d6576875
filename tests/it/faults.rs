//! Faults and abuse against a real server on 127.0.0.1: catalog files that turn into folders,
//! vanish, are not text or are not files at all; a database deleted while serving; clients
//! that send slowly, hold connections idle or send oversized headers. In every case the last
//! good snapshot keeps serving, the problem shows in `/v1/status`, and the service recovers by
//! itself once the files are fixed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use geoavail::reload::Source;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::server::{
    EXTRA, catalog_error, catalog_version, client, eventually, fetch, good_version, start,
    start_on_catalog_copy,
};
use crate::support::{demo_config, repo_file};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_file_replaced_by_a_folder_is_refused_and_recovers() {
    let (dir, server) = start_on_catalog_copy(|_| {}).await;
    let state = server.state.clone();
    let good = state.snapshot().version().to_owned();
    let file = dir.path().join("licensed/studio-acme.toml");
    let kept = std::fs::read_to_string(&file).unwrap();

    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    eventually("the folder to be refused", || {
        catalog_error(&state).is_some_and(|message| {
            message.contains("studio-acme.toml") && message.contains("is a folder")
        })
    })
    .await;
    assert_eq!(
        state.snapshot().version(),
        good,
        "the last good catalog serves"
    );

    std::fs::remove_dir(&file).unwrap();
    std::fs::write(&file, kept).unwrap();
    eventually("the file's return to clear the error", || {
        catalog_error(&state).is_none()
    })
    .await;
    assert_eq!(state.snapshot().version(), good);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_file_that_vanished_is_refused_until_it_is_gone_for_good() {
    let (dir, server) = start_on_catalog_copy(|_| {}).await;
    let state = server.state.clone();
    let good = state.snapshot().version().to_owned();

    // Listed but unreadable: what a file deleted between listing and reading looks like.
    let ghost = dir.path().join("ghost.toml");
    std::os::unix::fs::symlink(dir.path().join("deleted.toml"), &ghost).unwrap();
    eventually("the vanished file to be refused", || {
        catalog_error(&state).is_some_and(|message| message.contains("ghost.toml"))
    })
    .await;
    assert_eq!(state.snapshot().version(), good);

    std::fs::remove_file(&ghost).unwrap();
    eventually("its removal to clear the error", || {
        catalog_error(&state).is_none()
    })
    .await;
    assert_eq!(state.snapshot().version(), good);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_appearing_and_vanishing_under_load_never_fail_a_request() {
    let (dir, server) = start_on_catalog_copy(|_| {}).await;
    let state = server.state.clone();
    let base = state.snapshot().version().to_owned();
    let addr = server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let (stop, answered) = (Arc::clone(&stop), Arc::clone(&answered));
            tokio::spawn(async move {
                let client = client();
                let ask = "/v1/availability?ip=192.0.2.100&title=maple-and-main";
                while !stop.load(Ordering::Relaxed) {
                    let (status, _, _) = fetch(&client, addr, ask).await.expect("answered");
                    assert_eq!(status, 200);
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    // Files come and go faster than the debounce: reloads land between any two steps.
    for n in 0..150 {
        let name = format!("churn-{}.toml", n % 7);
        let path = dir.path().join(&name);
        if path.exists() {
            std::fs::remove_file(&path).unwrap();
        } else {
            std::fs::write(&path, good_version(n % 7)).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    for n in 0..7 {
        let _ = std::fs::remove_file(dir.path().join(format!("churn-{n}.toml")));
    }
    eventually("the folder's final state to be served", || {
        state.snapshot().version() == base && catalog_error(&state).is_none()
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    assert!(answered.load(Ordering::Relaxed) > 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_file_that_is_not_text_is_refused_naming_it() {
    let (dir, server) = start_on_catalog_copy(|_| {}).await;
    let state = server.state.clone();
    let good = state.snapshot().version().to_owned();

    std::fs::write(dir.path().join(EXTRA), [0x5b, 0xff, 0xfe, 0x00, 0x5d]).unwrap();
    eventually("the binary file to be refused", || {
        catalog_error(&state)
            .is_some_and(|message| message.contains(EXTRA) && message.contains("not UTF-8"))
    })
    .await;
    assert_eq!(state.snapshot().version(), good);

    std::fs::write(dir.path().join(EXTRA), good_version(1)).unwrap();
    let expected = catalog_version(dir.path());
    eventually("the fixed file to be served", || {
        state.snapshot().version() == expected && catalog_error(&state).is_none()
    })
    .await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipe_in_the_catalog_folder_is_skipped_not_waited_on() {
    let (dir, server) = start_on_catalog_copy(|_| {}).await;
    let state = server.state.clone();
    let pipe = dir.path().join("pipe.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&pipe)
        .status()
        .unwrap();
    assert!(made.success());
    // A write next to it shows that reloads go on: reading the pipe would block forever.
    std::fs::write(dir.path().join(EXTRA), good_version(2)).unwrap();
    let expected = catalog_version(dir.path());
    eventually("the new file to be served", || {
        state.snapshot().version() == expected
    })
    .await;
    assert!(catalog_error(&state).is_none());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_database_keeps_the_old_answers_until_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("country.mmdb");
    let good = std::fs::read(repo_file("geoip/demo.mmdb")).unwrap();
    std::fs::write(&database, &good).unwrap();
    let mut config = demo_config();
    config.geoip.database = database.clone();
    let server = start(config).await;
    let state = server.state.clone();
    let client = client();
    let ask = "/v1/locate?ip=198.51.100.7";
    let (_, _, before) = fetch(&client, server.addr, ask).await.unwrap();

    std::fs::remove_file(&database).unwrap();
    let geoip_error = |state: &geoavail::http::state::AppState| {
        state
            .reloader()
            .status()
            .errors
            .get(&Source::Geoip)
            .map(|error| error.messages.join("\n"))
    };
    eventually("the deletion to be reported", || {
        geoip_error(&state).is_some_and(|message| message.contains("country.mmdb"))
    })
    .await;
    let (status, _, after) = fetch(&client, server.addr, ask).await.unwrap();
    assert_eq!(
        (status, &after),
        (200, &before),
        "the old index still answers"
    );

    let staged = dir.path().join("country.mmdb.tmp");
    std::fs::write(&staged, &good).unwrap();
    std::fs::rename(&staged, &database).unwrap();
    eventually("the database's return to clear the error", || {
        geoip_error(&state).is_none()
    })
    .await;
    server.shutdown().await;
}

/// Reads from `stream` until the server closes it or `within` passes; what was read.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut read = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&read).into_owned()),
            Ok(Ok(n)) => read.extend_from_slice(&buffer[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let (_dir, server) = start_on_catalog_copy(|config| {
        config.http.header_timeout_ms = 300;
    })
    .await;
    let started = Instant::now();
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: geoavail\r\n")
        .await
        .unwrap();
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let mut kept_alive = TcpStream::connect(server.addr).await.unwrap();
    kept_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: geoavail\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 1024];
    let n = kept_alive.read(&mut answer).await.unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    // Others are answered meanwhile.
    let (status, _, _) = fetch(&client(), server.addr, "/healthz").await.unwrap();
    assert_eq!(status, 200);
    for (what, stream) in [
        ("slow", &mut slow),
        ("idle", &mut idle),
        ("kept-alive", &mut kept_alive),
    ] {
        let answer = read_until_closed(stream, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("the {what} connection is closed within 5 s"));
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer}"
        );
    }
    assert!(started.elapsed() >= Duration::from_millis(250));
    server.shutdown().await;
}

/// Each request on a kept-alive connection has the whole header timeout, counted from when
/// the connection starts waiting for it, however the connection's timer was armed before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_on_a_kept_alive_connection_has_the_whole_header_timeout() {
    let (_dir, server) = start_on_catalog_copy(|config| {
        config.http.header_timeout_ms = 600;
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut answer = [0u8; 1024];
    let request = b"GET /healthz HTTP/1.1\r\nHost: geoavail\r\n\r\n";
    stream.write_all(request).await.unwrap();
    let n = stream.read(&mut answer).await.unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    // Half the timeout later, a second request: the wait for it began with the first answer.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream.write_all(request).await.unwrap();
    let n = stream.read(&mut answer).await.unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    let second_answered = Instant::now();
    // Past the first wait's deadline, the third request starts and never finishes.
    tokio::time::sleep(Duration::from_millis(400)).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    let rest = read_until_closed(&mut stream, Duration::from_secs(5))
        .await
        .expect("the connection is closed within 5 s");
    assert!(
        rest.is_empty() || rest.starts_with("HTTP/1.1 408"),
        "{rest}"
    );
    let waited = second_answered.elapsed();
    assert!(
        waited >= Duration::from_millis(550),
        "cut off {waited:?} after the second answer, before its timeout"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_arrives_too_slowly_is_answered_408() {
    let (_dir, server) = start_on_catalog_copy(|config| {
        config.http.body_timeout_ms = 300;
    })
    .await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(
        b"POST /v1/availability HTTP/1.1\r\nHost: geoavail\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"titles\": [",
    )
    .await
    .unwrap();
    let answer = read_until_closed(&mut slow, Duration::from_secs(5))
        .await
        .expect("answered within 5 s");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"timeout\""), "{answer}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let (_dir, server) = start_on_catalog_copy(|config| {
        config.http.max_connections = 3;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // Give the accept loop time to hand out every slot.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let client = client();
    let waiting = tokio::time::timeout(
        Duration::from_millis(300),
        fetch(&client, server.addr, "/healthz"),
    )
    .await;
    assert!(waiting.is_err(), "a fourth connection waits for a slot");
    drop(held.pop());
    let (status, _, _) = tokio::time::timeout(
        Duration::from_secs(5),
        fetch(&client, server.addr, "/healthz"),
    )
    .await
    .expect("served once a slot is free")
    .unwrap();
    assert_eq!(status, 200);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_are_refused_and_the_service_goes_on() {
    let (_dir, server) = start_on_catalog_copy(|_| {}).await;
    let mut big = TcpStream::connect(server.addr).await.unwrap();
    let header = format!(
        "GET /healthz HTTP/1.1\r\nHost: geoavail\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(256 * 1024)
    );
    // The server may stop reading before the whole header is written.
    let _ = big.write_all(header.as_bytes()).await;
    let answer = read_until_closed(&mut big, Duration::from_secs(5))
        .await
        .expect("closed within 5 s");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    let (status, _, _) = fetch(&client(), server.addr, "/healthz").await.unwrap();
    assert_eq!(status, 200);
    server.shutdown().await;
}
