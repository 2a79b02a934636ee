//! The HTTP contract, driven in-process with `oneshot` and a recording publisher.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{ColorEvent, Palette};
use http_body_util::BodyExt;
use producer_api::clients::ClientSettings;
use producer_api::dedup::EventIdSettings;
use producer_api::intake::MAX_BODY_BYTES;
use producer_api::metrics::ApiMetrics;
use producer_api::routes::{HttpSettings, app};
use producer_api::state::AppState;
use support::RecordingPublisher;
use tower::ServiceExt;

const FIREFOX: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0";

fn router(publisher: Arc<RecordingPublisher>) -> Router {
    router_for_clients(publisher, ClientSettings::unlimited())
}

fn router_for_clients(publisher: Arc<RecordingPublisher>, clients: ClientSettings) -> Router {
    let state = AppState::new(
        publisher,
        Palette::default(),
        ApiMetrics::default(),
        &EventIdSettings::default(),
    )
    .with_clients(clients);
    let settings = HttpSettings {
        cors_allowed_origins: vec![PAGE.parse().unwrap()],
        allow_no_origin: false,
        request_timeout: std::time::Duration::from_secs(5),
        serve_metrics: true,
    };
    app(state, &settings)
}

async fn call(
    router: &Router,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, headers, body)
}

/// A click posted as the page's `fetch` posts it: JSON, from the page's origin.
fn post_json(body: impl Into<Body>) -> Request<Body> {
    Request::post("/api/events")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ORIGIN, PAGE)
        .header(header::USER_AGENT, FIREFOX)
        .body(body.into())
        .unwrap()
}

#[tokio::test]
async fn post_event_answers_202_and_queues_a_complete_event() {
    let publisher = Arc::new(RecordingPublisher::default());
    let router = router(publisher.clone());
    // An hour ago, written in Seoul's offset.
    let seen = chrono::Utc::now() - chrono::Duration::hours(1);
    let seen =
        chrono::DateTime::<chrono::Utc>::from_timestamp_millis(seen.timestamp_millis()).unwrap();
    let seoul = chrono::FixedOffset::east_opt(9 * 3600).unwrap();
    let body = serde_json::json!({
        "userName": "  김민수 🎨 ",
        "colorName": "Blue",
        "clientTimestamp": seen.with_timezone(&seoul).to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
    });
    let (status, _, answer) = call(&router, post_json(body.to_string())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");

    let events = publisher.events.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    let event: &ColorEvent = &events[0];
    assert_eq!(answer["eventId"], event.event_id.to_string());
    assert_eq!(event.event_id.get_version_num(), 7);
    assert_eq!(event.user_name, "김민수 🎨");
    assert_eq!(event.color_name, "blue");
    assert_eq!(event.user_agent, FIREFOX);
    assert_eq!(event.browser.name, "Firefox");
    assert_eq!(event.browser.version, "121.0");
    assert_eq!(event.browser.os, "Windows 10");
    assert_eq!(event.client_timestamp, Some(seen));
    let age = chrono::Utc::now() - event.timestamp;
    assert!(age >= chrono::Duration::zero() && age < chrono::Duration::seconds(10));
}

#[tokio::test]
async fn a_name_in_another_unicode_form_is_stored_composed() {
    let publisher = Arc::new(RecordingPublisher::default());
    let router = router(publisher.clone());
    // "Renée" as a macOS form sends it: e and a combining acute accent, and Hangul as jamo.
    let body =
        serde_json::json!({ "userName": " Rene\u{301}e \u{1100}\u{1161} ", "colorName": "red" });
    let (status, _, answer) = call(&router, post_json(body.to_string())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let events = publisher.events.lock().unwrap().clone();
    assert_eq!(events[0].user_name, "Ren\u{e9}e \u{ac00}");
}

#[tokio::test]
async fn reference_select_endpoint_makes_the_same_event() {
    let publisher = Arc::new(RecordingPublisher::default());
    let router = router(publisher.clone());
    let request = Request::get("/api/select?color=green&user=%ED%95%9C%20%EA%B8%80")
        .header(header::USER_AGENT, FIREFOX)
        .header(header::REFERER, format!("{PAGE}/"))
        .body(Body::empty())
        .unwrap();
    let (status, _, answer) = call(&router, request).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let events = publisher.events.lock().unwrap().clone();
    assert_eq!(events[0].user_name, "한 글");
    assert_eq!(events[0].color_name, "green");
    assert_eq!(events[0].browser.name, "Firefox");
    assert_eq!(answer["eventId"], events[0].event_id.to_string());
    assert!(events[0].client_timestamp.is_none());
}

#[tokio::test]
async fn names_that_look_like_markup_are_kept_as_text() {
    let publisher = Arc::new(RecordingPublisher::default());
    let router = router(publisher.clone());
    let body =
        serde_json::json!({ "userName": "<img src=x onerror=alert(1)>", "colorName": "red" })
            .to_string();
    assert_eq!(call(&router, post_json(body)).await.0, StatusCode::ACCEPTED);
    assert_eq!(
        publisher.events.lock().unwrap()[0].user_name,
        "<img src=x onerror=alert(1)>"
    );
}

#[tokio::test]
async fn every_client_mistake_is_a_4xx_with_a_json_error() {
    let publisher = Arc::new(RecordingPublisher::default());
    let router = router(publisher.clone());
    let too_long = "가".repeat(65);
    let big = format!(
        r#"{{"userName":"{}","colorName":"red"}}"#,
        "a".repeat(MAX_BODY_BYTES)
    );
    let cases: Vec<(&str, Request<Body>, StatusCode, &str)> = vec![
        (
            "not json",
            post_json("{oops"),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "missing field",
            post_json(r#"{"userName":"a"}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "wrong type",
            post_json(r#"{"userName":1,"colorName":"red"}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "unknown colour",
            post_json(r#"{"userName":"a","colorName":"magenta"}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_color",
        ),
        (
            "blank name",
            post_json(r#"{"userName":"   ","colorName":"red"}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_user_name",
        ),
        (
            "65 characters",
            post_json(format!(r#"{{"userName":"{too_long}","colorName":"red"}}"#)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "user_name_too_long",
        ),
        (
            "control character",
            post_json(r#"{"userName":"a\u0000b","colorName":"red"}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "user_name_control_character",
        ),
        (
            "bad client time",
            post_json(r#"{"userName":"a","colorName":"red","clientTimestamp":"yesterday"}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_client_timestamp",
        ),
        (
            "body over 64 KiB",
            post_json(big),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "form content type",
            Request::post("/api/events")
                .header(header::ORIGIN, PAGE)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("userName=a&colorName=red"))
                .unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "no content type",
            Request::post("/api/events")
                .header(header::ORIGIN, PAGE)
                .body(Body::from(r#"{"userName":"a","colorName":"red"}"#))
                .unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "brotli body",
            Request::post("/api/events")
                .header(header::ORIGIN, PAGE)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::CONTENT_ENCODING, "br")
                .body(Body::from("x"))
                .unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
        ),
        (
            "gzip header on a plain body",
            Request::post("/api/events")
                .header(header::ORIGIN, PAGE)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::CONTENT_ENCODING, "gzip")
                .body(Body::from(r#"{"userName":"a","colorName":"red"}"#))
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "malformed_gzip",
        ),
        (
            "empty batch",
            post_json("[]"),
            StatusCode::BAD_REQUEST,
            "empty_batch",
        ),
        (
            "101 clicks",
            post_json(format!(
                "[{}]",
                vec![r#"{"userName":"a","colorName":"red"}"#; 101].join(",")
            )),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_clicks",
        ),
        (
            "eventId not a UUID v7",
            post_json(
                r#"{"userName":"a","colorName":"red","eventId":"936da01f-9abd-4d9d-80c7-02af85c822a8"}"#,
            ),
            StatusCode::BAD_REQUEST,
            "invalid_event_id",
        ),
        (
            "beacon without an origin",
            Request::post("/api/events")
                .header(header::REFERER, format!("{PAGE}/"))
                .header(header::CONTENT_TYPE, "text/plain;charset=UTF-8")
                .body(Body::from(r#"{"userName":"a","colorName":"red"}"#))
                .unwrap(),
            StatusCode::FORBIDDEN,
            "origin_required",
        ),
        (
            "beacon from another site",
            Request::post("/api/events")
                .header(header::CONTENT_TYPE, "text/plain;charset=UTF-8")
                .header(header::ORIGIN, "http://evil.example")
                .body(Body::from(r#"{"userName":"a","colorName":"red"}"#))
                .unwrap(),
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
        ),
        (
            "select without user",
            Request::get("/api/select?color=red")
                .header(header::REFERER, format!("{PAGE}/"))
                .body(Body::empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "select with unknown colour",
            Request::get("/api/select?color=pink&user=a")
                .header(header::REFERER, format!("{PAGE}/"))
                .body(Body::empty())
                .unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_color",
        ),
        (
            "unknown path",
            Request::get("/api/nope").body(Body::empty()).unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "wrong method",
            Request::delete("/api/events").body(Body::empty()).unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];
    for (name, request, want_status, want_code) in cases {
        let (status, headers, body) = call(&router, request).await;
        assert_eq!(status, want_status, "{name}: {body}");
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{name}: not JSON"
        );
        assert_eq!(body["error"]["code"], want_code, "{name}: {body}");
        assert!(
            !body["error"]["message"].as_str().unwrap().is_empty(),
            "{name}"
        );
    }
    assert!(
        publisher.events.lock().unwrap().is_empty(),
        "a rejected click was queued"
    );
}

#[tokio::test]
async fn full_queue_answers_503_with_retry_after() {
    let publisher = Arc::new(RecordingPublisher::default());
    publisher.full.store(true, Ordering::SeqCst);
    let router = router(publisher.clone());
    let (status, headers, body) =
        call(&router, post_json(r#"{"userName":"a","colorName":"red"}"#)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers[header::RETRY_AFTER], "1");
    assert_eq!(body["error"]["code"], "queue_full");
}

#[tokio::test]
async fn cors_preflight_is_answered_for_allowed_origins_only() {
    let router = router(Arc::new(RecordingPublisher::default()));
    let preflight = |origin: &str| {
        Request::builder()
            .method("OPTIONS")
            .uri("/api/events")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
            .body(Body::empty())
            .unwrap()
    };
    let (status, headers, _) = call(&router, preflight("http://127.0.0.1:8080")).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(
        headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://127.0.0.1:8080"
    );
    assert!(
        headers[header::ACCESS_CONTROL_ALLOW_METHODS]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert!(
        headers[header::ACCESS_CONTROL_ALLOW_HEADERS]
            .to_str()
            .unwrap()
            .contains("content-type")
    );

    let (_, headers, _) = call(&router, preflight("http://evil.example")).await;
    assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}

#[tokio::test]
async fn health_and_readiness() {
    let publisher = Arc::new(RecordingPublisher::default());
    let router = router(publisher.clone());
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    assert_eq!(call(&router, get("/healthz")).await.0, StatusCode::OK);
    let (status, _, body) = call(&router, get("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "not ready");
    publisher.ready.store(true, Ordering::SeqCst);
    assert_eq!(call(&router, get("/readyz")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_accepted_and_rejected_by_reason() {
    let publisher = Arc::new(RecordingPublisher::default());
    let router = router(publisher.clone());
    for _ in 0..3 {
        call(&router, post_json(r#"{"userName":"a","colorName":"red"}"#)).await;
    }
    call(&router, post_json(r#"{"userName":"a","colorName":"pink"}"#)).await;
    call(&router, post_json("{")).await;
    call(&router, post_json("{")).await;

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
    for line in [
        "producer_api_events_accepted_total 3",
        r#"producer_api_events_rejected_total{reason="unknown_color"} 1"#,
        r#"producer_api_events_rejected_total{reason="malformed_json"} 2"#,
        "producer_api_producer_queue_depth 3",
        "producer_api_events_delivered_total 0",
        "producer_api_delivery_failures_total 0",
        r#"producer_api_request_duration_seconds_count{route="/api/events",status="202"} 3"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

const PAGE: &str = "http://127.0.0.1:8080";

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

async fn metrics_text(router: &Router) -> String {
    let (_, _, body) = call(
        router,
        Request::get("/metrics").body(Body::empty()).unwrap(),
    )
    .await;
    body.as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_batch_answers_each_click_in_order_and_produces_the_good_ones() {
    let publisher = Arc::new(RecordingPublisher::default());
    let router = router(publisher.clone());
    let body = r#"[
        {"userName":"a","colorName":"red"},
        {"userName":"b","colorName":"magenta"},
        {"userName":"c"},
        {"userName":"d","colorName":"Blue","clientTimestamp":"CLIENT_TIME"}
    ]"#
    .replace(
        "CLIENT_TIME",
        &common::event::format_timestamp(&chrono::Utc::now()),
    );
    let (status, _, answer) = call(&router, post_json(body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "{answer}");
    let events = publisher.events.lock().unwrap().clone();
    assert_eq!(events.len(), 2);
    assert_eq!(results[0]["eventId"], events[0].event_id.to_string());
    assert_eq!(results[1]["error"]["code"], "unknown_color");
    assert_eq!(results[2]["error"]["code"], "invalid_body");
    assert_eq!(results[3]["eventId"], events[1].event_id.to_string());
    assert_eq!(
        (events[0].user_name.as_str(), events[1].color_name.as_str()),
        ("a", "blue")
    );
    assert!(events.iter().all(|e| e.browser.name == "Firefox"));

    let text = metrics_text(&router).await;
    for line in [
        "producer_api_events_accepted_total 2",
        r#"producer_api_events_rejected_total{reason="unknown_color"} 1"#,
        r#"producer_api_events_rejected_total{reason="invalid_body"} 1"#,
        "producer_api_clicks_per_request_sum 4.0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[tokio::test]
async fn a_batch_with_nothing_accepted_takes_its_first_refusals_status() {
    let publisher = Arc::new(RecordingPublisher::default());
    let router = router(publisher.clone());
    let (status, _, answer) = call(
        &router,
        post_json(r#"[{"userName":"","colorName":"red"},{"userName":"a","colorName":"pink"}]"#),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["results"][0]["error"]["code"], "empty_user_name");
    assert_eq!(answer["results"][1]["error"]["code"], "unknown_color");

    publisher.full.store(true, Ordering::SeqCst);
    let (status, headers, answer) = call(
        &router,
        post_json(r#"[{"userName":"a","colorName":"red"},{"userName":"b","colorName":"red"}]"#),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(headers[header::RETRY_AFTER], "1");
    assert_eq!(answer["results"][1]["error"]["code"], "queue_full");
    assert!(publisher.events.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_beacon_from_the_page_is_taken_as_json_is() {
    let publisher = Arc::new(RecordingPublisher::default());
    let router = router(publisher.clone());
    let request = Request::post("/api/events")
        .header(header::CONTENT_TYPE, "text/plain;charset=UTF-8")
        .header(header::ORIGIN, PAGE)
        .header(header::USER_AGENT, FIREFOX)
        .body(Body::from(r#"[{"userName":"a","colorName":"red"}]"#))
        .unwrap();
    let (status, _, answer) = call(&router, request).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let events = publisher.events.lock().unwrap().clone();
    assert_eq!(
        answer["results"][0]["eventId"],
        events[0].event_id.to_string()
    );
}

#[tokio::test]
async fn requests_from_origins_not_allowed_are_refused_counted_and_not_produced() {
    let publisher = Arc::new(RecordingPublisher::default());
    let router = router(publisher.clone());
    let json_from = |origin: &str| {
        Request::post("/api/events")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ORIGIN, origin)
            .body(Body::from(r#"{"userName":"a","colorName":"red"}"#))
            .unwrap()
    };
    let (status, _, answer) = call(&router, json_from("http://evil.example")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["error"]["code"], "origin_not_allowed");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("http://evil.example")
    );
    assert!(publisher.events.lock().unwrap().is_empty());
    // The page's own origin still gets through.
    assert_eq!(call(&router, json_from(PAGE)).await.0, StatusCode::ACCEPTED);
    let preflight = Request::builder()
        .method("OPTIONS")
        .uri("/api/events")
        .header(header::ORIGIN, "http://evil.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .body(Body::empty())
        .unwrap();
    call(&router, preflight).await;
    let text = metrics_text(&router).await;
    for line in [
        "producer_api_origins_refused_total 2",
        r#"producer_api_events_rejected_total{reason="origin_not_allowed"} 1"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[tokio::test]
async fn gzip_bodies_are_taken_and_bombs_refused_unread() {
    let publisher = Arc::new(RecordingPublisher::default());
    let router = router(publisher.clone());
    let gzipped = |body: Vec<u8>| {
        Request::post("/api/events")
            .header(header::ORIGIN, PAGE)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_ENCODING, "gzip")
            .body(Body::from(body))
            .unwrap()
    };
    let batch = format!(
        "[{}]",
        vec![r#"{"userName":"같은 이름","colorName":"green"}"#; 100].join(",")
    );
    let (status, _, answer) = call(&router, gzipped(gzip(batch.as_bytes()))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["results"].as_array().unwrap().len(), 100);
    assert_eq!(publisher.events.lock().unwrap().len(), 100);

    // 16 MiB of spaces: a small body that would inflate far past both caps.
    let bomb = gzip(&vec![b' '; 16 * 1024 * 1024]);
    assert!(bomb.len() < MAX_BODY_BYTES);
    let (status, _, answer) = call(&router, gzipped(bomb)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["error"]["code"], "inflates_too_far");
    assert_eq!(publisher.events.lock().unwrap().len(), 100);
}

#[tokio::test]
async fn a_click_sent_again_with_its_own_id_is_answered_but_produced_once() {
    let publisher = Arc::new(RecordingPublisher::default());
    let router = router(publisher.clone());
    let id = uuid::Uuid::now_v7();
    let click = format!(r#"{{"userName":"a","colorName":"red","eventId":"{id}"}}"#);

    let (status, _, first) = call(&router, post_json(click.clone())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    assert_eq!(first["eventId"], id.to_string());
    assert!(first.get("duplicate").is_none(), "{first}");
    // Again alone, and again inside a batch: accepted, flagged, not produced.
    let (status, _, again) = call(&router, post_json(click.clone())).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        (again["eventId"].clone(), again["duplicate"].clone()),
        (id.to_string().into(), true.into())
    );
    let (_, _, batch) = call(&router, post_json(format!("[{click}]"))).await;
    assert_eq!(batch["results"][0]["duplicate"], true);

    let events = publisher.events.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_id, id);
    let text = metrics_text(&router).await;
    assert!(
        text.lines()
            .any(|l| l == "producer_api_events_duplicate_total 2"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == "producer_api_events_accepted_total 1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_click_refused_for_a_full_queue_is_produced_when_sent_again() {
    let publisher = Arc::new(RecordingPublisher::default());
    let router = router(publisher.clone());
    let id = uuid::Uuid::now_v7();
    let click = format!(r#"{{"userName":"a","colorName":"red","eventId":"{id}"}}"#);
    publisher.full.store(true, Ordering::SeqCst);
    assert_eq!(
        call(&router, post_json(click.clone())).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    publisher.full.store(false, Ordering::SeqCst);
    let (status, _, answer) = call(&router, post_json(click)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(answer.get("duplicate").is_none(), "{answer}");
    assert_eq!(publisher.events.lock().unwrap()[0].event_id, id);
}

#[tokio::test]
async fn an_event_id_far_from_the_clock_is_refused_naming_the_field() {
    let router = router(Arc::new(RecordingPublisher::default()));
    let two_days_ago = chrono::Utc::now() - chrono::Duration::days(2);
    let old = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        two_days_ago.timestamp() as u64,
        0,
    ));
    for id in [old.to_string(), "12345".into()] {
        let (status, _, answer) = call(
            &router,
            post_json(format!(
                r#"{{"userName":"a","colorName":"red","eventId":"{id}"}}"#
            )),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["error"]["code"], "invalid_event_id");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("eventId")
        );
    }
}

#[tokio::test]
async fn a_client_timestamp_far_from_the_clock_is_refused_naming_the_field() {
    let publisher = Arc::new(RecordingPublisher::default());
    let router = router(publisher.clone());
    let now = chrono::Utc::now();
    for far in [
        "0001-01-01T00:00:00Z".to_owned(),
        "9999-12-31T23:59:59Z".to_owned(),
        common::event::format_timestamp(&(now - chrono::Duration::hours(25))),
        common::event::format_timestamp(&(now + chrono::Duration::hours(25))),
    ] {
        let body = format!(r#"{{"userName":"a","colorName":"red","clientTimestamp":"{far}"}}"#);
        let (status, _, answer) = call(&router, post_json(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{far}: {answer}");
        assert_eq!(answer["error"]["code"], "client_timestamp_too_far");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("clientTimestamp") && message.contains("1day"),
            "{message}"
        );
    }
    assert!(publisher.events.lock().unwrap().is_empty());
    // A click kept offline for most of a day still counts.
    let kept = common::event::format_timestamp(&(now - chrono::Duration::hours(23)));
    let body = format!(r#"{{"userName":"a","colorName":"red","clientTimestamp":"{kept}"}}"#);
    let (status, _, answer) = call(&router, post_json(body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
}

#[tokio::test]
async fn malformed_requests_of_every_kind_get_a_4xx_never_a_5xx() {
    let publisher = Arc::new(RecordingPublisher::default());
    let router = router(publisher.clone());
    let mut rng = fastrand::Rng::with_seed(7);
    let click = r#"{"userName":"a","colorName":"red"}"#;
    let mut bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"[null]".to_vec(),
        b"[[]]".to_vec(),
        b"\"text\"".to_vec(),
        b"{\"userName\":\"a\",\"colorName\":\"red\",\"eventId\":7}".to_vec(),
        b"{\"userName\":\"a\",\"colorName\":\"red\",\"clientTimestamp\":[]}".to_vec(),
        "[".repeat(10_000).into_bytes(),
        format!("[{}", click).into_bytes(),
        format!("[{click},]").into_bytes(),
        vec![0xff, 0xfe, 0x00],
        gzip(b"{oops"),
        gzip(&gzip(click.as_bytes())),
    ];
    // Valid clicks cut at every length, and random bytes.
    let batch = format!("[{click},{click}]");
    bodies.extend((1..batch.len()).map(|n| batch.as_bytes()[..n].to_vec()));
    bodies.extend((0..40).map(|_| {
        let len = rng.usize(1..400);
        (0..len).map(|_| rng.u8(..)).collect()
    }));
    let mut requests = 0;
    for body in &bodies {
        for (content_type, encoding) in [
            ("application/json", None),
            ("text/plain;charset=UTF-8", None),
            ("application/json", Some("gzip")),
            ("application/json; charset=latin1", None),
        ] {
            let mut request = Request::post("/api/events")
                .header(header::CONTENT_TYPE, content_type)
                .header(header::ORIGIN, PAGE);
            if let Some(encoding) = encoding {
                request = request.header(header::CONTENT_ENCODING, encoding);
            }
            let (status, _, answer) =
                call(&router, request.body(Body::from(body.clone())).unwrap()).await;
            requests += 1;
            assert!(
                status.is_client_error()
                    && (answer["error"]["code"].is_string() || answer["results"].is_array()),
                "{status} for {:?} as {content_type} {encoding:?}: {answer}",
                String::from_utf8_lossy(body)
            );
        }
    }
    assert!(publisher.events.lock().unwrap().is_empty());
    assert!(requests > 300, "{requests}");
}

#[tokio::test]
async fn probing_finds_no_way_to_make_an_event_it_should_not() {
    let publisher = Arc::new(RecordingPublisher::default());
    let router = router(publisher.clone());
    let select = |query: &str| Request::get(format!("/api/select?{query}"));
    let cases: Vec<(&str, Request<Body>, StatusCode, &str)> = vec![
        (
            "HEAD of the click endpoint",
            Request::head("/api/select?color=red&user=a")
                .body(Body::empty())
                .unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "",
        ),
        (
            "a name that is not UTF-8",
            select("color=red&user=%FF")
                .header(header::REFERER, format!("{PAGE}/"))
                .body(Body::empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "an <img> on a foreign page",
            select("color=red&user=a")
                .header(header::REFERER, "http://evil.example/page.html")
                .body(Body::empty())
                .unwrap(),
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
        ),
        (
            "an <img> on a foreign page that hides its address",
            select("color=red&user=a")
                .header("sec-fetch-site", "cross-site")
                .body(Body::empty())
                .unwrap(),
            StatusCode::FORBIDDEN,
            "origin_required",
        ),
        (
            "fields in order, as an array",
            post_json(r#"["arr","red"]"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "",
        ),
        (
            "a name of zero-width spaces",
            post_json(r#"{"userName":"\u200b\u200b","colorName":"red"}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "user_name_invisible",
        ),
        (
            "a name that turns text around",
            post_json(r#"{"userName":"abc\u202egpj.exe","colorName":"red"}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "user_name_bidi_control",
        ),
        (
            "a declared length past the limit",
            Request::post("/api/events")
                .header(header::ORIGIN, PAGE)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::CONTENT_LENGTH, "1000000000")
                .body(Body::from(r#"{"userName":"a","colorName":"red"}"#))
                .unwrap(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ];
    for (name, request, want_status, want_code) in cases {
        let (status, _, body) = call(&router, request).await;
        assert_eq!(status, want_status, "{name}: {body}");
        if !want_code.is_empty() {
            assert_eq!(body["error"]["code"], want_code, "{name}: {body}");
        }
    }
    assert!(
        publisher.events.lock().unwrap().is_empty(),
        "a probe made an event"
    );

    // The page itself still clicks by GET.
    for request in [
        select("color=red&user=%ED%95%9C").header(header::REFERER, format!("{PAGE}/")),
        select("color=red&user=a")
            .header(header::REFERER, format!("{PAGE}/results"))
            .header("sec-fetch-site", "same-site"),
        select("color=red&user=a+b").header(header::ORIGIN, PAGE),
    ] {
        let (status, _, body) = call(&router, request.body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let names: Vec<String> = publisher
        .events
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.user_name.clone())
        .collect();
    assert_eq!(names, ["한", "a", "a b"]);
}

#[tokio::test]
async fn metrics_can_leave_the_public_listener_for_an_address_of_their_own() {
    let publisher = Arc::new(RecordingPublisher::default());
    let state = AppState::new(
        publisher,
        Palette::default(),
        ApiMetrics::default(),
        &EventIdSettings::default(),
    );
    let settings = HttpSettings {
        cors_allowed_origins: vec![PAGE.parse().unwrap()],
        allow_no_origin: false,
        request_timeout: std::time::Duration::from_secs(5),
        serve_metrics: false,
    };
    let public = app(state.clone(), &settings);
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    assert_eq!(
        call(&public, get("/metrics")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&public, post_json(r#"{"userName":"a","colorName":"red"}"#))
            .await
            .0,
        StatusCode::ACCEPTED
    );
    let private = producer_api::routes::metrics_app(state);
    let (status, _, text) = call(&private, get("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.as_str()
            .unwrap()
            .lines()
            .any(|l| l == "producer_api_events_accepted_total 1"),
        "{text}"
    );
    // The same readiness as the public listener's, for a monitor that reads only this address.
    let (public_ready, _, public_body) = call(&public, get("/readyz")).await;
    let (private_ready, _, private_body) = call(&private, get("/readyz")).await;
    assert_eq!((private_ready, private_body), (public_ready, public_body));
    assert_eq!(
        call(&private, get("/api/events")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_body_that_never_ends_is_answered_408_with_a_json_error_and_counted() {
    let publisher = Arc::new(RecordingPublisher::default());
    let metrics = ApiMetrics::default();
    let state = AppState::new(
        publisher.clone(),
        Palette::default(),
        metrics.clone(),
        &EventIdSettings::default(),
    );
    let settings = HttpSettings {
        cors_allowed_origins: vec![PAGE.parse().unwrap()],
        allow_no_origin: false,
        request_timeout: std::time::Duration::from_millis(200),
        serve_metrics: true,
    };
    let router = app(state, &settings);
    // Half a click, then nothing more, ever.
    let first: Result<_, std::io::Error> = Ok(axum::body::Bytes::from_static(b"{\"userName\""));
    let never_ends =
        futures::StreamExt::chain(futures::stream::iter([first]), futures::stream::pending());
    let request = Request::post("/api/events")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ORIGIN, PAGE)
        .body(Body::from_stream(never_ends))
        .unwrap();
    let (status, _, body) =
        tokio::time::timeout(std::time::Duration::from_secs(5), call(&router, request))
            .await
            .expect("no answer within 5 s");
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(body["error"]["code"], "request_timeout", "{body}");
    assert!(publisher.events.lock().unwrap().is_empty());
    let (_, _, text) = call(
        &router,
        Request::get("/metrics").body(Body::empty()).unwrap(),
    )
    .await;
    assert!(
        text.as_str()
            .unwrap()
            .lines()
            .any(|l| l == "producer_api_events_rejected_total{reason=\"request_timeout\"} 1"),
        "{text}"
    );
}

/// `request` as the listener hands it on when `peer` connected.
fn from_peer(mut request: Request<Body>, peer: &str) -> Request<Body> {
    let peer: std::net::IpAddr = peer.parse().unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::new(
            peer, 50_000,
        )));
    request
}

fn batch_of(clicks: usize) -> String {
    let click = r#"{"userName":"a","colorName":"red"}"#;
    format!("[{}]", vec![click; clicks].join(","))
}

#[tokio::test]
async fn each_client_has_a_share_of_clicks_and_past_it_gets_429_with_retry_after() {
    let publisher = Arc::new(RecordingPublisher::default());
    let share = producer_api::fair_share::ShareSettings {
        clicks_per_second: 1,
        burst: 150,
    };
    let router = router_for_clients(
        publisher.clone(),
        ClientSettings {
            share,
            ..ClientSettings::unlimited()
        },
    );
    let (status, _, _) = call(&router, from_peer(post_json(batch_of(100)), "198.51.100.1")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // 50 clicks left: a batch of 100 is refused whole, and told when 100 are back.
    let (status, headers, answer) =
        call(&router, from_peer(post_json(batch_of(100)), "198.51.100.1")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    assert_eq!(answer["error"]["code"], "past_fair_share");
    let retry_after: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((50..=51).contains(&retry_after), "{retry_after}");
    assert_eq!(publisher.events.lock().unwrap().len(), 100);
    // What is left still passes, one click by POST and one by the reference GET.
    let (status, _, _) = call(
        &router,
        from_peer(
            post_json(r#"{"userName":"a","colorName":"red"}"#),
            "198.51.100.1",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let select = Request::get("/api/select?color=red&user=a")
        .header(header::REFERER, format!("{PAGE}/"))
        .body(Body::empty())
        .unwrap();
    let (status, _, _) = call(&router, from_peer(select, "198.51.100.1")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // Another client is untouched.
    let (status, _, _) = call(&router, from_peer(post_json(batch_of(100)), "198.51.100.2")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(publisher.events.lock().unwrap().len(), 202);

    let text = metrics_text(&router).await;
    for line in [
        "producer_api_clients_limited_total 1",
        r#"producer_api_events_rejected_total{reason="past_fair_share"} 1"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(
        !text.contains("198.51.100"),
        "a client address in a metric:\n{text}"
    );
}

#[tokio::test]
async fn forwarded_headers_name_the_client_only_behind_a_trusted_proxy() {
    let clients = ClientSettings {
        share: producer_api::fair_share::ShareSettings {
            clicks_per_second: 1,
            burst: 1,
        },
        // The default header: X-Forwarded-For, as nginx writes it.
        trusted_proxies: producer_api::client_address::TrustedProxies::new(
            vec!["10.0.0.0/8".parse().unwrap()],
            Default::default(),
        ),
        ..ClientSettings::unlimited()
    };
    let router = router_for_clients(Arc::new(RecordingPublisher::default()), clients);
    let click = |forwarded_for: &str, peer: &str| {
        let mut request = post_json(r#"{"userName":"a","colorName":"red"}"#);
        request
            .headers_mut()
            .insert("x-forwarded-for", forwarded_for.parse().unwrap());
        // Each client also forges a Forwarded header naming one other address, which the
        // proxy passes on untouched: were it read, all would share that address's share.
        request
            .headers_mut()
            .insert("forwarded", "for=203.0.113.77".parse().unwrap());
        from_peer(request, peer)
    };
    // Through the proxy, two clients have a share each, and the first has used its own.
    for (forwarded_for, want) in [
        ("198.51.100.1", StatusCode::ACCEPTED),
        ("203.0.113.50, 198.51.100.2", StatusCode::ACCEPTED),
        ("198.51.100.1", StatusCode::TOO_MANY_REQUESTS),
    ] {
        let (status, _, answer) = call(&router, click(forwarded_for, "10.0.0.2")).await;
        assert_eq!(status, want, "{forwarded_for}: {answer}");
    }
    // A peer that is no trusted proxy is the client, whatever it says it forwards.
    let (status, _, _) = call(&router, click("198.51.100.3", "192.0.2.9")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _, _) = call(&router, click("198.51.100.4", "192.0.2.9")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_post_naming_no_page_is_refused_unless_allowed() {
    let publisher = Arc::new(RecordingPublisher::default());
    let router = router(publisher.clone());
    let click = r#"{"userName":"a","colorName":"red"}"#;
    // A browser's agent: what is checked here is the page it names.
    let bare = || {
        Request::post("/api/events")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, FIREFOX)
    };
    // A script: neither Origin nor Referer.
    let (status, _, answer) = call(&router, bare().body(Body::from(click)).unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["error"]["code"], "origin_required");
    // A Referer names the page as well as an Origin does, and is held to the same list.
    let referred = |page: &str| {
        bare()
            .header(header::REFERER, page)
            .body(Body::from(click))
            .unwrap()
    };
    let (status, _, _) = call(&router, referred("http://127.0.0.1:8080/colors?x=1")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _, answer) = call(&router, referred("https://elsewhere.example/")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(answer["error"]["code"], "origin_not_allowed");
    assert_eq!(publisher.events.lock().unwrap().len(), 1);
    // The reference design's GET follows the same rule: naming no page, it is refused.
    let select = || {
        Request::get("/api/select?color=red&user=a")
            .header(header::USER_AGENT, "curl/8.11.1")
            .body(Body::empty())
            .unwrap()
    };
    let (status, _, answer) = call(&router, select()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["error"]["code"], "origin_required");
    assert!(
        metrics_text(&router)
            .await
            .lines()
            .any(|l| l == "producer_api_origins_refused_total 3")
    );

    // With ALLOW_NO_ORIGIN, scripts are taken.
    let state = AppState::new(
        publisher.clone(),
        Palette::default(),
        ApiMetrics::default(),
        &EventIdSettings::default(),
    );
    let settings = HttpSettings {
        cors_allowed_origins: vec![PAGE.parse().unwrap()],
        allow_no_origin: true,
        request_timeout: std::time::Duration::from_secs(5),
        serve_metrics: true,
    };
    let open = app(state, &settings);
    let (status, _, _) = call(&open, bare().body(Body::from(click)).unwrap()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(call(&open, select()).await.0, StatusCode::ACCEPTED);
}

const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

#[tokio::test]
async fn a_crawlers_clicks_are_answered_but_not_recorded_unless_kept() {
    let publisher = Arc::new(RecordingPublisher::default());
    let router = router(publisher.clone());
    let crawl = |body: &str| {
        let mut request = post_json(body.to_owned());
        request
            .headers_mut()
            .insert(header::USER_AGENT, GOOGLEBOT.parse().unwrap());
        request
    };
    let (status, _, answer) = call(&router, crawl(r#"{"userName":"a","colorName":"red"}"#)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["notRecorded"], "crawler");
    let (status, _, answer) = call(
        &router,
        crawl(r#"[{"userName":"a","colorName":"red"},{"userName":"b","colorName":"blue"}]"#),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(answer["results"][1]["notRecorded"], "crawler");
    assert!(publisher.events.lock().unwrap().is_empty());
    let text = metrics_text(&router).await;
    assert!(
        text.lines()
            .any(|l| l == r#"producer_api_events_not_recorded_total{reason="crawler"} 3"#),
        "{text}"
    );
    // A program's clicks, from the page's origin: tools are not people.
    for tool in [
        "curl/8.11.1",
        "python-requests/2.32.3",
        "Go-http-client/1.1",
        "okhttp/4.12.0",
    ] {
        let mut request = post_json(r#"{"userName":"a","colorName":"red"}"#);
        request
            .headers_mut()
            .insert(header::USER_AGENT, tool.parse().unwrap());
        let (status, _, answer) = call(&router, request).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{tool}: {answer}");
        assert_eq!(answer["notRecorded"], "crawler", "{tool}");
    }
    assert!(publisher.events.lock().unwrap().is_empty());
    // A person's click is recorded as ever.
    let (status, _, answer) =
        call(&router, post_json(r#"{"userName":"a","colorName":"red"}"#)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(answer.get("notRecorded").is_none(), "{answer}");
    assert_eq!(publisher.events.lock().unwrap().len(), 1);

    // CRAWLERS=keep: produced, their category saying what they are.
    let kept = Arc::new(RecordingPublisher::default());
    let router = router_for_clients(
        kept.clone(),
        ClientSettings {
            crawlers: producer_api::clients::Crawlers::Keep,
            ..ClientSettings::unlimited()
        },
    );
    let (status, _, _) = call(&router, crawl(r#"{"userName":"a","colorName":"red"}"#)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let events = kept.events.lock().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].browser.category, "crawler");
}

#[tokio::test]
async fn a_long_user_agent_is_kept_cut_once_for_a_whole_batch() {
    let publisher = Arc::new(RecordingPublisher::default());
    let router = router(publisher.clone());
    // 60 KiB: Firefox's header, then Korean text (three bytes a character) to the end.
    let long = format!("{FIREFOX} {}", "한".repeat(20 * 1024));
    let mut request = post_json(batch_of(100));
    request.headers_mut().insert(
        header::USER_AGENT,
        axum::http::HeaderValue::from_bytes(long.as_bytes()).unwrap(),
    );
    let (status, _, _) = call(&router, request).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let events = publisher.events.lock().unwrap();
    assert_eq!(events.len(), 100);
    for event in events.iter() {
        assert!(event.user_agent.len() <= producer_api::user_agents::MAX_KEPT_BYTES);
        assert!(
            long.starts_with(&event.user_agent),
            "not cut at a character boundary"
        );
        assert!(event.user_agent.len() > producer_api::user_agents::MAX_KEPT_BYTES - 3);
        assert_eq!(event.browser.name, "Firefox");
    }
    // One parse for the request: every click shares it.
    assert!(
        events
            .iter()
            .all(|e| Arc::ptr_eq(&e.browser, &events[0].browser))
    );
}

#[tokio::test]
async fn a_click_asking_not_to_be_tracked_counts_without_its_user_agent() {
    let publisher = Arc::new(RecordingPublisher::default());
    let router = router(publisher.clone());
    let click = r#"{"userName":"a","colorName":"red"}"#;
    let asking = |header_name: &'static str, value: &'static str| {
        let mut request = post_json(click);
        request
            .headers_mut()
            .insert(header_name, value.parse().unwrap());
        request
    };
    for (name, value) in [("dnt", "1"), ("sec-gpc", "1")] {
        let (status, _, answer) = call(&router, asking(name, value)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    }
    // `DNT: 0` says the person agrees.
    call(&router, asking("dnt", "0")).await;
    let events = publisher.events.lock().unwrap().clone();
    assert_eq!(events.len(), 3);
    for event in &events[..2] {
        assert!(event.do_not_track);
        assert_eq!(event.user_agent, "");
        // The parse, which names no one, still counts browsers.
        assert_eq!(event.browser.name, "Firefox");
        assert_eq!(event.schema_version, common::SCHEMA_VERSION);
        let json: serde_json::Value = serde_json::from_slice(&event.to_json_bytes()).unwrap();
        assert_eq!(json["doNotTrack"], true);
    }
    assert!(!events[2].do_not_track);
    assert_eq!(events[2].user_agent, FIREFOX);

    // PRIVACY_SIGNALS=ignore.
    let ignoring = Arc::new(RecordingPublisher::default());
    let router = router_for_clients(
        ignoring.clone(),
        ClientSettings {
            privacy_signals: producer_api::clients::PrivacySignals::Ignore,
            ..ClientSettings::unlimited()
        },
    );
    call(&router, asking("sec-gpc", "1")).await;
    let events = ignoring.events.lock().unwrap();
    assert!(!events[0].do_not_track);
    assert_eq!(events[0].user_agent, FIREFOX);
}
