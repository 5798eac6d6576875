//! A real server on 127.0.0.1: reloads under continuous load, a damaged database while
//! serving, graceful shutdown, and logs that never hold a full client address.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use geoavail::catalog::{Catalog, LoadOptions};
use geoavail::reload::{Source, Trigger};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::support::{copy_dir, demo_config, repo, repo_file, service};

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

pub(crate) fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// GET `path` from the server; (status, `X-Catalog-Version`, JSON body).
pub(crate) async fn fetch(
    client: &HttpClient,
    addr: SocketAddr,
    path: &str,
) -> Result<(u16, String, Value), String> {
    let uri = format!("http://{addr}{path}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let response = client.get(uri).await.map_err(|e| format!("{e}"))?;
    let status = response.status().as_u16();
    let version = response
        .headers()
        .get("x-catalog-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{e}"))?
        .to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok((status, version, body))
}

/// A server on an ephemeral port, with the file watcher running; stopped when dropped.
pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    pub(crate) state: geoavail::http::state::AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub(crate) async fn start(config: geoavail::config::Config) -> Running {
    let limits = geoavail::http::ConnectionLimits::new(&config.http);
    let (router, state) = service(config, Some("t"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (watch_stop, watch_stopped) = tokio::sync::oneshot::channel::<()>();
    // Watching is set up before the test writes anything, so no write can be missed.
    let watching = geoavail::reload::Watching::start(Arc::clone(state.reloader())).unwrap();
    tokio::spawn(watching.run(async move {
        let _ = watch_stopped.await;
    }));
    let served = tokio::spawn(geoavail::http::serve(
        listener,
        router,
        limits,
        async move {
            let _ = stopped.await;
            let _ = watch_stop.send(());
        },
    ));
    Running {
        addr,
        state,
        stop: Some(stop),
        served,
    }
}

impl Running {
    pub(crate) async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.served).await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn http2_streams_get_the_answers_http1_requests_get() {
    let server = start(demo_config()).await;
    let addr = server.addr;
    let paths = [
        "/v1/availability?ip=192.0.2.100&title=maple-and-main&at=2026-06-01T00:00:00Z",
        "/v1/availability?ip=192.0.2.100&title=no-such-title",
        "/v1/titles?ip=192.0.2.5&at=2026-06-01T00:00:00Z",
        "/v1/titles?ip=192.0.2.5&limit=0",
        "/v1/locate?ip=2001:db8:3::1",
        "/v1/nope",
    ];
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, connection) = hyper::client::conn::http2::handshake(
        TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    // Every stream at once on the one connection, each path a few times.
    let mut streams = tokio::task::JoinSet::new();
    for round in 0..4 {
        for (n, path) in paths.iter().enumerate() {
            let mut sender = sender.clone();
            let request = hyper::Request::get(format!("http://{addr}{path}"))
                .body(Empty::<Bytes>::new())
                .unwrap();
            streams.spawn(async move {
                let response = sender.send_request(request).await.unwrap();
                assert_eq!(response.version(), hyper::Version::HTTP_2);
                let status = response.status().as_u16();
                let version = response.headers()["x-catalog-version"]
                    .to_str()
                    .unwrap()
                    .to_owned();
                let bytes = response.into_body().collect().await.unwrap().to_bytes();
                (
                    round,
                    n,
                    status,
                    version,
                    serde_json::from_slice::<Value>(&bytes).unwrap(),
                )
            });
        }
    }
    let http1 = client();
    let mut answered = 0;
    while let Some(answer) = streams.join_next().await {
        let (_, n, status, version, body) = answer.unwrap();
        assert_eq!(
            (status, version, body),
            fetch(&http1, addr, paths[n]).await.unwrap(),
            "{}",
            paths[n]
        );
        answered += 1;
    }
    assert_eq!(answered, 4 * paths.len());
    server.shutdown().await;
}

/// A server on a copy of the demo catalog in a temporary folder, with `adjust` applied to the
/// configuration; the folder lives as long as the returned guard.
pub(crate) async fn start_on_catalog_copy(
    adjust: impl FnOnce(&mut geoavail::config::Config),
) -> (tempfile::TempDir, Running) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo_file("catalogs"), dir.path());
    let mut config = demo_config();
    config.catalogs = dir.path().to_owned();
    adjust(&mut config);
    let server = start(config).await;
    (dir, server)
}

/// Waits (polling, up to 10 s) for `condition`; the watcher's debounce makes changes visible
/// a little after the write.
pub(crate) async fn eventually<F: FnMut() -> bool>(what: &str, mut condition: F) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn catalog_version(dir: &Path) -> String {
    let options = LoadOptions {
        now: geoavail::reload::now(),
        geoip_has_regions: None,
    };
    Catalog::load(dir, &options)
        .expect("a good version")
        .version()
        .to_owned()
}

pub(crate) const EXTRA: &str = "extra.toml";

pub(crate) fn good_version(n: usize) -> String {
    format!(
        "[[titles]]\nid = \"extra-{n}\"\nname = \"Extra {n}\"\n[[titles.licenses]]\nterritories = [\"US\"]\n"
    )
}

pub(crate) fn broken_version(n: usize) -> String {
    format!(
        "[[titles]]\nid = \"extra-{n}\"\nname = \"Broken\"\n[[titles.licenses]]\nterritories = [\"XX\"]\n"
    )
}

/// An editor's save: write a hidden temporary file, then rename it over the real one.
fn save_by_rename(dir: &Path, name: &str, text: &str) {
    let temporary = dir.join(format!(".{name}.swp"));
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, dir.join(name)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_under_load_never_fail_a_request_or_serve_a_broken_catalog() {
    let (dir, server) = start_on_catalog_copy(|_| {}).await;
    let good = Arc::new(Mutex::new(BTreeSet::from([catalog_version(dir.path())])));

    // Clients ask continuously and record every version they are answered from.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for n in 0..4 {
        let (stop, answered, seen) = (Arc::clone(&stop), Arc::clone(&answered), Arc::clone(&seen));
        let addr = server.addr;
        clients.push(tokio::spawn(async move {
            let client = client();
            let paths = [
                "/v1/availability?ip=192.0.2.100&title=maple-and-main",
                "/v1/titles?ip=192.0.2.5",
                "/v1/locate?ip=2001:db8:1::1",
            ];
            let mut failures = Vec::new();
            let mut i = n;
            while !stop.load(Ordering::Relaxed) {
                let path = paths[i % paths.len()];
                i += 1;
                match fetch(&client, addr, path).await {
                    Ok((200, version, body)) => {
                        if let Some(in_body) = body["catalog_version"].as_str() {
                            assert_eq!(in_body, version, "header and body come from one snapshot");
                        }
                        seen.lock().unwrap().push(version);
                    }
                    other => failures.push(format!("{path}: {other:?}")),
                }
                answered.fetch_add(1, Ordering::Relaxed);
            }
            failures
        }));
    }

    for n in 0..12 {
        let failed_before = catalog_reloads(&server.state, "failed");
        if n % 3 == 2 {
            // A broken version: refused, and the last good one keeps serving.
            save_by_rename(dir.path(), EXTRA, &broken_version(n));
            eventually("the broken version to be refused", || {
                catalog_reloads(&server.state, "failed") > failed_before
            })
            .await;
        } else {
            if n % 2 == 0 {
                std::fs::write(dir.path().join(EXTRA), good_version(n)).unwrap();
            } else {
                save_by_rename(dir.path(), EXTRA, &good_version(n));
            }
            let expected = catalog_version(dir.path());
            good.lock().unwrap().insert(expected.clone());
            eventually("the good version to be served", || {
                server.state.snapshot().version() == expected
            })
            .await;
        }
    }

    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for client in clients {
        failures.extend(client.await.unwrap());
    }
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    let good = good.lock().unwrap().clone();
    let seen = seen.lock().unwrap().clone();
    assert!(
        answered.load(Ordering::Relaxed) > 100,
        "the clients kept asking"
    );
    for version in seen.iter() {
        assert!(
            good.contains(version),
            "served {version}, which was never a good version"
        );
    }
    let distinct: BTreeSet<&String> = seen.iter().collect();
    assert!(distinct.len() > 1, "the clients saw the catalog change");
    let status = server.state.reloader().status();
    assert!(
        status.errors.contains_key(&Source::Catalog),
        "the last write was broken and is shown"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_database_swapped_in_while_serving_keeps_the_old_answers() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("city.mmdb");
    let good = std::fs::read(repo_file("geoip/demo.mmdb")).unwrap();
    std::fs::write(&database, &good).unwrap();
    let mut config = demo_config();
    config.geoip.database = database.clone();
    let server = start(config).await;
    let client = client();
    let ask = "/v1/locate?ip=198.51.100.7";
    let (_, _, before) = fetch(&client, server.addr, ask).await.unwrap();
    assert_eq!(before["country"], "DE");

    for damaged in [
        good[..good.len() / 2].to_vec(),
        b"garbage".to_vec(),
        Vec::new(),
    ] {
        std::fs::write(&database, &damaged).unwrap();
        let reloader = Arc::clone(server.state.reloader());
        let outcome = tokio::task::spawn_blocking(move || {
            reloader.reload(
                &BTreeSet::from([Source::Geoip]),
                Trigger::Admin,
                geoavail::reload::now(),
            )
        })
        .await
        .unwrap();
        assert!(!outcome.is_ok());
        let (status, _, after) = fetch(&client, server.addr, ask).await.unwrap();
        assert_eq!(
            (status, &after),
            (200, &before),
            "the old database still answers"
        );
        let (_, _, report) = fetch(&client, server.addr, "/v1/status").await.unwrap();
        let message = report["geoip"]["last_error"]["messages"][0]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains("city.mmdb"), "{message}");
    }

    // Fixed by the watcher alone, as geoipupdate would do it: a rename into place.
    let staged = dir.path().join("city.mmdb.new");
    std::fs::write(&staged, &good).unwrap();
    std::fs::rename(&staged, &database).unwrap();
    let state = server.state.clone();
    eventually("the repaired database to clear the error", || {
        !state
            .reloader()
            .status()
            .errors
            .contains_key(&Source::Geoip)
    })
    .await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_requests_in_flight() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut server = start(demo_config()).await;
    let body = br#"{"ip": "192.0.2.5", "titles": ["golden-hour"]}"#;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /v1/availability HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..10]).await.unwrap();
    // The request is in progress once the middleware has counted it; then shutdown begins.
    let state = server.state.clone();
    eventually("the request to be in progress", || {
        state.metrics().requests_in_progress() > 0
    })
    .await;
    let _ = server.stop.take().unwrap().send(());
    stream.write_all(&body[10..]).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"reason\":\"licensed\""), "{answer}");
    (&mut server.served).await.unwrap().unwrap();
    // New connections are refused once the server has stopped.
    assert!(tokio::net::TcpStream::connect(server.addr).await.is_err());
}

/// The shipped binary on the demo data, with the access log at debug level: requests from and
/// about distinctive addresses leave only truncated ones in the log.
#[test]
fn the_log_never_holds_a_full_client_address() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_geoavail"))
        .arg("serve")
        .current_dir(repo())
        .env("GEOAVAIL_LISTEN", "127.0.0.1:0")
        .env("GEOAVAIL_HTTP_TRUSTED_PROXIES", "127.0.0.0/8")
        .env("GEOAVAIL_LOG_FORMAT", "json")
        .env("GEOAVAIL_HTTP_DRAIN_SECONDS", "2")
        .env("RUST_LOG", "debug")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                lines.lock().unwrap().push(line.unwrap_or_default());
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let addr: SocketAddr = loop {
        let found = lines.lock().unwrap().iter().find_map(|line| {
            let json: Value = serde_json::from_str(line).ok()?;
            json["fields"]["address"].as_str()?.parse().ok()
        });
        if let Some(addr) = found {
            break addr;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not start: {:?}",
            lines.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    };

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let secrets = [
        "203.0.113.77",
        "198.51.100.199",
        "2001:db8:ab:cd::99",
        "192.0.2.201",
    ];
    runtime.block_on(async {
        let client: Client<HttpConnector, Empty<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        for (forwarded, asked) in [
            ("203.0.113.77", "198.51.100.199"),
            ("2001:db8:ab:cd::99", "192.0.2.201"),
        ] {
            for path in [
                format!("/v1/locate?ip={asked}"),
                "/v1/locate".to_owned(),
                "/v1/nope".to_owned(),
                "/v1/availability?title=maple-and-main".to_owned(),
                format!("/v1/availability?title=maple-and-main&ip={asked}"),
                "/v1/titles?limit=1".to_owned(),
                "/v1/availability?title=no-such-title".to_owned(),
            ] {
                let request = hyper::Request::get(format!("http://{addr}{path}"))
                    .header("x-forwarded-for", forwarded)
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                let response = client.request(request).await.unwrap();
                assert!(response.status().as_u16() < 500);
            }
        }
    });

    // SIGHUP re-reads every source; the status says so.
    let status = Command::new("kill")
        .arg("-HUP")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    runtime.block_on(async {
        let client = client();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, _, status) = fetch(&client, addr, "/v1/status").await.unwrap();
            if status["last_reload"]["trigger"] == "sighup" {
                assert_eq!(status["last_reload"]["result"], "ok");
                break;
            }
            assert!(Instant::now() < deadline, "SIGHUP did not reload: {status}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    // Draining: still answering, but no longer ready.
    runtime.block_on(async {
        let client = client();
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let (code, _, _) = fetch(&client, addr, "/readyz")
                .await
                .unwrap_or_else(|error| {
                    panic!(
                        "not serving while draining: {error}\n{:?}",
                        lines.lock().unwrap()
                    )
                });
            if code == 503 {
                break;
            }
            assert!(Instant::now() < deadline, "/readyz never turned 503");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let exit = child.wait().unwrap();
    reader.join().unwrap();
    assert!(exit.success(), "graceful shutdown exits 0: {exit:?}");
    let log = lines.lock().unwrap().join("\n");
    for secret in secrets {
        assert!(!log.contains(secret), "{secret} is in the log:\n{log}");
    }
    assert!(
        log.contains("203.0.113.0/24"),
        "requests are logged, truncated:\n{log}"
    );
    assert!(
        log.contains("2001:db8:ab::/48"),
        "requests are logged, truncated:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_folder_deleted_and_recreated_is_watched_again() {
    let root = tempfile::tempdir().unwrap();
    let catalogs = root.path().join("catalogs");
    copy_dir(&repo_file("catalogs"), &catalogs);
    let mut config = demo_config();
    config.catalogs = catalogs.clone();
    let server = start(config).await;
    let before = server.state.snapshot().version().to_owned();

    std::fs::rename(&catalogs, root.path().join("old-catalogs")).unwrap();
    let state = server.state.clone();
    eventually("the missing folder to show as an error", || {
        state
            .reloader()
            .status()
            .errors
            .contains_key(&Source::Catalog)
    })
    .await;
    assert_eq!(
        server.state.snapshot().version(),
        before,
        "the last good catalog still serves"
    );

    // A new folder, renamed into place as deployment tools do.
    let staged = root.path().join("staged");
    copy_dir(&repo_file("catalogs"), &staged);
    std::fs::write(staged.join(EXTRA), good_version(1)).unwrap();
    std::fs::rename(&staged, &catalogs).unwrap();
    let expected = catalog_version(&catalogs);
    eventually("the new folder to be served", || {
        state.snapshot().version() == expected
    })
    .await;

    // And edits inside it are seen.
    std::fs::write(catalogs.join(EXTRA), good_version(2)).unwrap();
    let expected = catalog_version(&catalogs);
    eventually("an edit in the new folder to be served", || {
        state.snapshot().version() == expected
    })
    .await;
    assert!(
        !state
            .reloader()
            .status()
            .errors
            .contains_key(&Source::Catalog)
    );
    server.shutdown().await;
}

pub(crate) fn catalog_reloads(state: &geoavail::http::state::AppState, result: &str) -> u64 {
    let prefix = format!("geoavail_reloads_total{{source=\"catalog\",result=\"{result}\"}}");
    state
        .metrics()
        .encode()
        .lines()
        .find(|line| line.starts_with(&prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

pub(crate) fn catalog_error(state: &geoavail::http::state::AppState) -> Option<String> {
    state
        .reloader()
        .status()
        .errors
        .get(&Source::Catalog)
        .map(|error| error.messages.join("\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_folder_replaced_by_a_file_keeps_serving_and_recovers() {
    let root = tempfile::tempdir().unwrap();
    let catalogs = root.path().join("catalogs");
    copy_dir(&repo_file("catalogs"), &catalogs);
    let mut config = demo_config();
    config.catalogs = catalogs.clone();
    let server = start(config).await;
    let state = server.state.clone();
    let good = state.snapshot().version().to_owned();

    std::fs::rename(&catalogs, root.path().join("kept")).unwrap();
    std::fs::write(&catalogs, "not a folder").unwrap();
    eventually("the file to be refused", || {
        catalog_error(&state).is_some_and(|message| message.contains("is not a folder"))
    })
    .await;
    assert_eq!(state.snapshot().version(), good);

    std::fs::remove_file(&catalogs).unwrap();
    std::fs::rename(root.path().join("kept"), &catalogs).unwrap();
    eventually("the folder to be back", || catalog_error(&state).is_none()).await;
    assert_eq!(state.snapshot().version(), good);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_loop_in_the_catalog_is_an_error_not_a_hang() {
    let (dir, server) = start_on_catalog_copy(|_| {}).await;
    let state = server.state.clone();
    let good = state.snapshot().version().to_owned();

    let looped = dir.path().join("licensed/again");
    std::os::unix::fs::symlink(dir.path(), &looped).unwrap();
    eventually("the loop to be refused", || {
        catalog_error(&state).is_some_and(|message| message.contains("loop"))
    })
    .await;
    assert_eq!(state.snapshot().version(), good);

    std::fs::remove_file(&looped).unwrap();
    eventually("the loop's removal to clear the error", || {
        catalog_error(&state).is_none()
    })
    .await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_writes_is_a_few_reloads() {
    let (dir, server) = start_on_catalog_copy(|_| {}).await;
    let state = server.state.clone();
    let before = catalog_reloads(&state, "ok") + catalog_reloads(&state, "failed");

    const WRITES: usize = 300;
    for n in 0..WRITES {
        std::fs::write(dir.path().join(EXTRA), good_version(n)).unwrap();
    }
    let expected = catalog_version(dir.path());
    eventually("the last write to be served", || {
        state.snapshot().version() == expected
    })
    .await;
    let reloads = catalog_reloads(&state, "ok") + catalog_reloads(&state, "failed") - before;
    assert!(
        (1..=10).contains(&reloads),
        "{WRITES} writes became {reloads} reloads"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_file_over_the_size_limit_is_refused_while_serving() {
    let (dir, server) = start_on_catalog_copy(|config| {
        config.limits.catalog_file_bytes = 64 * 1024;
    })
    .await;
    let state = server.state.clone();
    let good = state.snapshot().version().to_owned();

    let huge = format!("{}\n{}", "# padding ".repeat(10_000), good_version(1));
    std::fs::write(dir.path().join(EXTRA), huge).unwrap();
    eventually("the huge file to be refused", || {
        catalog_error(&state).is_some_and(|message| message.contains("is larger than 65536 bytes"))
    })
    .await;
    assert_eq!(state.snapshot().version(), good);

    std::fs::remove_file(dir.path().join(EXTRA)).unwrap();
    eventually("the removal to clear the error", || {
        catalog_error(&state).is_none()
    })
    .await;
    server.shutdown().await;
}
