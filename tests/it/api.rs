//! Every route through `tower::ServiceExt::oneshot`: status, JSON and headers, and every error
//! code of SPEC §4.

use std::net::SocketAddr;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use geoavail::http::Api;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{copy_dir, demo_config, service};

const PEER: &str = "192.0.2.5:50000";
const AT: &str = "2026-11-23T12:00:00Z";

fn app() -> Api {
    let (router, _) = service(demo_config(), Some("s3cret"));
    router.with_peer(PEER.parse::<SocketAddr>().unwrap())
}

async fn send(router: &Api, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, headers, body)
}

async fn get(router: &Api, uri: &str) -> (StatusCode, HeaderMap, Value) {
    send(router, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post_json(router: &Api, uri: &str, body: &str) -> (StatusCode, HeaderMap, Value) {
    let request = Request::post(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    send(router, request).await
}

fn assert_error(answer: &(StatusCode, HeaderMap, Value), status: StatusCode, code: &str) {
    assert_eq!(answer.0, status, "{}", answer.2);
    assert_eq!(answer.2["error"]["code"], code, "{}", answer.2);
    assert!(
        answer.2["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

#[tokio::test]
async fn availability_answers_one_title_with_its_location() {
    let router = app();
    let (status, headers, body) = get(
        &router,
        &format!("/v1/availability?ip=192.0.2.100&title=maple-and-main&at={AT}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let version = headers["x-catalog-version"].to_str().unwrap();
    assert_eq!(
        body,
        json!({"title": "maple-and-main", "available": true, "reason": "licensed",
               "license": "acme-na-2026", "available_until": "2031-01-01T00:00:00Z",
               "available_from": null, "portability": false, "at": AT,
               "location": {"ip": "192.0.2.100", "country": "CA", "region": "CA-ON",
                            "source": "geoip", "anonymizer": false},
               "catalog_version": version})
    );
}

#[tokio::test]
async fn availability_denials_carry_their_reason() {
    let router = app();
    let (_, _, body) = get(
        &router,
        &format!("/v1/availability?ip=198.51.100.200&title=the-quiet-orchard&at={AT}"),
    )
    .await;
    assert_eq!(
        (body["reason"].as_str(), body["available_from"].as_str()),
        (Some("window_not_started"), Some("2027-03-01T00:00:00Z"))
    );
    let (_, _, body) = get(
        &router,
        "/v1/availability?ip=198.51.100.10&title=rue-des-lilas&home=FR",
    )
    .await;
    assert_eq!(
        (&body["available"], &body["portability"]),
        (&json!(true), &json!(true))
    );
    assert_eq!(
        body["location"]["country"], "DE",
        "the location is the real one under portability"
    );
    let (_, _, body) = get(
        &router,
        "/v1/availability?ip=198.51.100.10&title=summit-cup&platform=mobile",
    )
    .await;
    assert_eq!(body["reason"], "platform_not_licensed");
}

#[tokio::test]
async fn ip_defaults_to_the_peer() {
    let router = app();
    let (status, _, body) = get(&router, "/v1/locate").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"ip": "192.0.2.5", "country": "US", "region": "US-CA", "source": "geoip", "anonymizer": false})
    );
}

#[tokio::test]
async fn forwarded_addresses_count_only_through_trusted_proxies() {
    let request = |peer: &str| {
        let mut request = Request::get("/v1/locate")
            .header("x-forwarded-for", "198.51.100.7, 10.0.0.9")
            .body(Body::empty())
            .unwrap();
        request.extensions_mut().insert(axum::extract::ConnectInfo(
            peer.parse::<SocketAddr>().unwrap(),
        ));
        request
    };
    let mut config = demo_config();
    config.http.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
    let (router, _) = service(config, None);
    let (_, _, body) = send(&router, request("10.0.0.1:1")).await;
    assert_eq!(body["ip"], "198.51.100.7");
    let (_, _, body) = send(&router, request("203.0.113.9:1")).await;
    assert_eq!(body["ip"], "203.0.113.9");
    let mut bad = request("10.0.0.1:1");
    bad.headers_mut()
        .insert("x-forwarded-for", "not-an-address".parse().unwrap());
    assert_error(
        &send(&router, bad).await,
        StatusCode::BAD_REQUEST,
        "invalid_ip",
    );
}

#[tokio::test]
async fn a_batch_answers_in_request_order_with_errors_inline() {
    let router = app();
    let body =
        json!({"ip": "192.0.2.5", "titles": ["golden-hour", "nope", "the-glass-canal"], "at": AT})
            .to_string();
    let (status, headers, answer) = post_json(&router, "/v1/availability", &body).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.contains_key("x-catalog-version"));
    assert_eq!(answer["location"]["region"], "US-CA");
    assert_eq!(answer["at"], AT);
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results[0]["title"], "golden-hour");
    assert_eq!(results[0]["reason"], "licensed");
    assert_eq!(results[1]["error"]["code"], "unknown_title");
    assert_eq!(results[2]["reason"], "not_licensed_in_territory");
}

#[tokio::test]
async fn listing_pages_through_next_after() {
    let router = app();
    let (status, _, first) =
        get(&router, &format!("/v1/titles?ip=192.0.2.5&limit=4&at={AT}")).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = first["titles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "atlas-of-small-things",
            "golden-hour",
            "harbor-league-live",
            "ironwood"
        ]
    );
    assert_eq!(first["next_after"], "ironwood");
    let (_, _, second) = get(
        &router,
        &format!("/v1/titles?ip=192.0.2.5&limit=4&after=ironwood&at={AT}"),
    )
    .await;
    let ids: Vec<&str> = second["titles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["maple-and-main", "southern-lights"]);
    assert_eq!(second["next_after"], Value::Null);
    assert_eq!(
        second["titles"][0],
        json!({"id": "maple-and-main", "name": "Maple & Main", "license": "acme-na-2026", "available_until": "2031-01-01T00:00:00Z"})
    );
}

#[tokio::test]
async fn a_title_shows_its_rights_and_where_it_is_available() {
    let router = app();
    let (status, _, body) = get(&router, &format!("/v1/titles/maple-and-main?at={AT}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "Maple & Main");
    assert_eq!(body["licenses"][0]["id"], "acme-na-2026");
    assert_eq!(body["licenses"][0]["exclude"], json!(["CA-QC"]));
    assert_eq!(body["countries"], json!(["US"]));
    let regions: Vec<&str> = body["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        regions.contains(&"CA-ON") && !regions.contains(&"CA-QC"),
        "{regions:?}"
    );
    assert_error(
        &get(&router, "/v1/titles/nope").await,
        StatusCode::NOT_FOUND,
        "unknown_title",
    );
}

#[tokio::test]
async fn status_describes_every_source() {
    let router = app();
    let (status, headers, body) = get(&router, "/v1/status").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.contains_key("x-catalog-version"));
    assert_eq!(body["ready"], true);
    assert_eq!(body["catalog"]["titles"], 12);
    assert_eq!(body["geoip"]["type"], "GeoIP2-City");
    assert_eq!(body["geoip"]["has_regions"], true);
    assert_eq!(body["geoip"]["build_date"], "2026-11-01T00:00:00Z");
    assert_eq!(body["overrides"]["entries"], 4);
    assert_eq!(body["anonymizer"]["type"], "GeoIP2-Anonymous-IP");
    assert_eq!(body["catalog"]["last_error"], Value::Null);
    assert_eq!(body["last_reload"], Value::Null);
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let router = app();
    assert_eq!(get(&router, "/healthz").await.0, StatusCode::OK);
    assert_eq!(get(&router, "/readyz").await.2, json!({"ready": true}));
    get(&router, "/v1/locate?ip=192.0.2.1").await;
    let response = router
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    for metric in [
        "geoavail_requests_total{route=\"/v1/locate\",status=\"200\"}",
        "geoavail_request_duration_seconds_bucket",
        "geoavail_catalog_titles 12",
        "geoavail_geoip_networks",
        "geoavail_geoip_build_timestamp_seconds 1793491200",
        "geoavail_geoip_info{database_type=\"",
    ] {
        assert!(text.contains(metric), "{metric} missing from:\n{text}");
    }
    assert!(!text.contains("192.0.2"), "no address in metrics");
}

#[tokio::test]
async fn every_v1_answer_carries_the_catalog_version_errors_included() {
    let router = app();
    for uri in [
        "/v1/availability?title=nope",
        "/v1/titles/nope",
        "/v1/locate?ip=x",
        "/v1/nope",
    ] {
        let (_, headers, _) = get(&router, uri).await;
        assert!(headers.contains_key("x-catalog-version"), "{uri}");
    }
}

#[tokio::test]
async fn malformed_requests_get_the_spec_codes() {
    let router = app();
    let bad = StatusCode::BAD_REQUEST;
    assert_error(
        &get(&router, "/v1/availability?ip=192.0.2.1").await,
        bad,
        "missing_parameter",
    );
    assert_error(
        &get(&router, "/v1/availability?ip=nope&title=ironwood").await,
        bad,
        "invalid_ip",
    );
    assert_error(
        &get(&router, "/v1/availability?ip=&title=ironwood").await,
        bad,
        "invalid_ip",
    );
    assert_error(
        &get(&router, "/v1/availability?title=nope").await,
        StatusCode::NOT_FOUND,
        "unknown_title",
    );
    assert_error(
        &get(&router, "/v1/availability?title=ironwood&at=yesterday").await,
        bad,
        "invalid_time",
    );
    assert_error(
        &get(
            &router,
            "/v1/availability?title=ironwood&at=2026-11-23T10:00:00",
        )
        .await,
        bad,
        "invalid_time",
    );
    assert_error(
        &get(&router, "/v1/availability?title=ironwood&platform=toaster").await,
        bad,
        "unknown_platform",
    );
    assert_error(
        &get(&router, "/v1/availability?title=ironwood&home=XX").await,
        bad,
        "invalid_country",
    );
    assert_error(
        &get(&router, "/v1/availability?title=ironwood&titel=x").await,
        bad,
        "invalid_parameter",
    );
    assert_error(
        &get(&router, "/v1/titles?limit=0").await,
        bad,
        "invalid_parameter",
    );
    assert_error(
        &get(&router, "/v1/titles?limit=10001").await,
        bad,
        "invalid_parameter",
    );
    let long = format!("/v1/locate?ip={}", "1".repeat(9000));
    assert_error(&get(&router, &long).await, bad, "invalid_parameter");
    assert_error(
        &get(&router, "/v1/nope").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let delete = Request::builder()
        .method(Method::DELETE)
        .uri("/v1/locate")
        .body(Body::empty())
        .unwrap();
    assert_error(
        &send(&router, delete).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
}

#[tokio::test]
async fn malformed_batches_get_the_spec_codes() {
    let router = app();
    let bad = StatusCode::BAD_REQUEST;
    assert_error(
        &post_json(&router, "/v1/availability", "{not json").await,
        bad,
        "invalid_json",
    );
    assert_error(
        &post_json(&router, "/v1/availability", "{\"title\": \"x\"}").await,
        bad,
        "invalid_json",
    );
    assert_error(
        &post_json(&router, "/v1/availability", "{\"titles\": \"x\"}").await,
        bad,
        "invalid_json",
    );
    let too_many: Vec<String> = (0..1001).map(|n| format!("t{n}")).collect();
    let body = json!({"titles": too_many}).to_string();
    assert_error(
        &post_json(&router, "/v1/availability", &body).await,
        bad,
        "too_many_titles",
    );
    let huge = json!({"titles": ["x".repeat(300 * 1024)]}).to_string();
    assert_error(
        &post_json(&router, "/v1/availability", &huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
    );
    let body = json!({"titles": ["ironwood"], "platform": "toaster"}).to_string();
    assert_error(
        &post_json(&router, "/v1/availability", &body).await,
        bad,
        "unknown_platform",
    );
}

#[tokio::test]
async fn the_admin_route_needs_the_token_and_is_hidden_without_one() {
    let router = app();
    let reload = |token: Option<&str>| {
        let mut request = Request::post("/v1/admin/reload");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.body(Body::empty()).unwrap()
    };
    assert_error(
        &send(&router, reload(None)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_error(
        &send(&router, reload(Some("wrong"))).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    let (status, _, body) = send(&router, reload(Some("s3cret"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["last_reload"]["trigger"], "admin");
    assert_eq!(body["last_reload"]["result"], "ok");
    let (hidden, _) = service(demo_config(), None);
    assert_error(
        &send(&hidden, reload(Some("s3cret"))).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn a_failed_admin_reload_is_422_and_keeps_serving_the_last_good_catalog() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&crate::support::repo_file("catalogs"), dir.path());
    let mut config = demo_config();
    config.catalogs = dir.path().to_owned();
    let (router, _) = service(config, Some("t"));
    let (_, headers, _) = get(&router, "/v1/status").await;
    let before = headers["x-catalog-version"].clone();
    std::fs::write(
        dir.path().join("broken.toml"),
        "[[titles]]\nid = \"x\"\nname = \"X\"\n[[titles.licenses]]\nterritories = [\"XX\"]\n",
    )
    .unwrap();
    let request = Request::post("/v1/admin/reload")
        .header("authorization", "Bearer t")
        .body(Body::empty())
        .unwrap();
    let answer = send(&router, request).await;
    assert_error(&answer, StatusCode::UNPROCESSABLE_ENTITY, "reload_failed");
    assert_eq!(
        answer.2["error"]["details"],
        json!(["catalog: broken.toml:5:16: unknown ISO 3166-1 country code `XX`"])
    );
    let (_, headers, status) = get(&router, "/v1/status").await;
    assert_eq!(headers["x-catalog-version"], before);
    assert_eq!(
        status["catalog"]["last_error"]["messages"],
        json!(["broken.toml:5:16: unknown ISO 3166-1 country code `XX`"])
    );
    assert_eq!(status["last_reload"]["result"], "failed");
}

#[tokio::test]
async fn the_api_describes_itself_in_openapi_3() {
    let router = app();
    let (status, _, body) = get(&router, "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        body["openapi"]
    );
    assert!(body["paths"]["/v1/availability"]["post"].is_object());
    assert!(body["components"]["schemas"]["Availability"].is_object());
    let names: Vec<&str> = body["paths"]["/v1/availability"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["title", "ip", "at", "platform", "home"]);
}

#[tokio::test]
async fn guessing_the_admin_token_is_limited() {
    let router = app();
    let attempt = |token: &str| {
        Request::post("/v1/admin/reload")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    for n in 0..geoavail::http::state::ADMIN_FAILURES_PER_WINDOW {
        assert_error(
            &send(&router, attempt(&format!("guess-{n}"))).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        );
    }
    // Locked: even the right token waits for the window to end.
    assert_error(
        &send(&router, attempt("s3cret")).await,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    );
}

#[tokio::test]
async fn requests_beyond_the_in_flight_limit_are_refused_at_once_with_503() {
    let mut config = demo_config();
    config.http.max_in_flight = 2;
    let (router, state) = service(config, None);
    let router = router.with_peer(PEER.parse::<SocketAddr>().unwrap());
    // Two requests still being answered, as far as the limit can tell.
    let held = [
        state.in_flight().try_enter().unwrap(),
        state.in_flight().try_enter().unwrap(),
    ];
    let ask = "/v1/availability?ip=192.0.2.100&title=maple-and-main";
    for path in [ask, "/v1/titles?ip=192.0.2.5", "/v1/locate?ip=192.0.2.5"] {
        assert_error(
            &get(&router, path).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
        );
    }
    assert_error(
        &post_json(&router, "/v1/availability", r#"{"titles": ["ironwood"]}"#).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
    );
    drop(held);
    assert_eq!(get(&router, ask).await.0, StatusCode::OK);
}
