//! The HTTP contract, driven in-process with `oneshot` and a recording publisher.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{ColorEvent, Palette};
use http_body_util::BodyExt;
use producer_api::metrics::ApiMetrics;
use producer_api::routes::{AppState, HttpSettings, app};
use support::RecordingPublisher;
use tower::ServiceExt;

const FIREFOX: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0";

fn router(publisher: Arc<RecordingPublisher>) -> Router {
    let state = AppState::new(publisher, Palette::default(), ApiMetrics::default());
    let settings = HttpSettings {
        cors_allowed_origins: vec!["http://127.0.0.1:8080".parse().unwrap()],
        request_timeout: std::time::Duration::from_secs(5),
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

fn post_json(body: impl Into<Body>) -> Request<Body> {
    Request::post("/api/events")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, FIREFOX)
        .body(body.into())
        .unwrap()
}

#[tokio::test]
async fn post_event_answers_202_and_queues_a_complete_event() {
    let publisher = Arc::new(RecordingPublisher::default());
    let router = router(publisher.clone());
    let body = r#"{"userName":"  김민수 🎨 ","colorName":"Blue","clientTimestamp":"2026-11-22T09:00:00.5+09:00"}"#;
    let (status, _, answer) = call(&router, post_json(body)).await;
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
    assert_eq!(
        common::event::format_timestamp(&event.client_timestamp.unwrap()),
        "2026-11-22T00:00:00.500Z"
    );
    let age = chrono::Utc::now() - event.timestamp;
    assert!(age >= chrono::Duration::zero() && age < chrono::Duration::seconds(10));
}

#[tokio::test]
async fn reference_select_endpoint_makes_the_same_event() {
    let publisher = Arc::new(RecordingPublisher::default());
    let router = router(publisher.clone());
    let request = Request::get("/api/select?color=green&user=%ED%95%9C%20%EA%B8%80")
        .header(header::USER_AGENT, FIREFOX)
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
        "a".repeat(17 * 1024)
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
            "body over 16 KiB",
            post_json(big),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "form content type",
            Request::post("/api/events")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("userName=a&colorName=red"))
                .unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "no content type",
            Request::post("/api/events")
                .body(Body::from(r#"{"userName":"a","colorName":"red"}"#))
                .unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "select without user",
            Request::get("/api/select?color=red")
                .body(Body::empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "select with unknown colour",
            Request::get("/api/select?color=pink&user=a")
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
