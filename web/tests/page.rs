use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use clap::Parser;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use web::{Config, Results, app};

async fn get(config: &Config, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let results = Results::new(config).unwrap();
    let response = app(config, results)
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn page_has_a_name_field_and_one_button_per_palette_colour() {
    let config = Config::parse_from(["web"]);
    let (status, headers, html) = get(&config, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(html.contains(r#"<input id="user-name""#));
    for color in ["red", "orange", "yellow", "green", "blue", "purple"] {
        assert!(
            html.contains(&format!(r#"data-color="{color}">{color}</button>"#)),
            "no button for {color}"
        );
    }
    assert_eq!(html.matches(r#"class="color""#).count(), 6);
    assert!(html.contains(r#"data-api-base="http://127.0.0.1:8081""#));
}

#[tokio::test]
async fn page_follows_a_configured_palette() {
    let config = Config::parse_from(["web", "--color-palette", "teal,navy"]);
    let (_, _, html) = get(&config, "/").await;
    assert_eq!(html.matches(r#"class="color""#).count(), 2);
    assert!(html.contains(r#"data-color="navy""#));
    assert!(!html.contains(r#"data-color="red""#));
}

#[test]
fn template_values_are_escaped_in_markup() {
    use askama::Template;
    let colors = vec!["red".to_owned()];
    let html = web::IndexPage {
        api_base: r#""><script>alert(1)</script>"#,
        colors: &colors,
    }
    .render()
    .unwrap();
    assert!(
        !html.contains("<script>alert(1)</script>"),
        "unescaped value reached the page"
    );
    assert!(
        html.contains("&#34;&#62;&#60;script&#62;") || html.contains("&quot;&gt;&lt;script&gt;"),
        "{html}"
    );
}

#[tokio::test]
async fn page_forbids_inline_script_and_allows_only_the_api_origin() {
    let config = Config::parse_from(["web", "--api-base-url", "https://collector.example.org/v1"]);
    let (_, headers, html) = get(&config, "/").await;
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(
        csp.contains("connect-src 'self' https://collector.example.org;"),
        "{csp}"
    );
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(!html.contains("<script>"), "inline script on the page");
}

#[tokio::test]
async fn scripts_write_text_never_markup() {
    let config = Config::parse_from(["web"]);
    for path in ["/app.js", "/results.js"] {
        let (status, headers, js) = get(&config, path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/javascript")
        );
        assert!(js.contains("textContent"), "{path}");
        assert!(
            !js.contains("innerHTML")
                && !js.contains("insertAdjacentHTML")
                && !js.contains("document.write"),
            "{path} builds markup"
        );
    }
}

#[tokio::test]
async fn health_and_unknown_paths() {
    let config = Config::parse_from(["web"]);
    assert_eq!(get(&config, "/healthz").await.0, StatusCode::OK);
    assert_eq!(get(&config, "/nope").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&config, "/style.css").await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_colour_page_links_to_the_results() {
    let config = Config::parse_from(["web"]);
    let (_, _, html) = get(&config, "/").await;
    assert!(html.contains(r#"<a href="/results">"#));
}

#[tokio::test]
async fn the_results_page_and_its_script_are_served_under_the_same_policy() {
    let config = Config::parse_from(["web"]);
    let (status, headers, html) = get(&config, "/results").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"<script src="/results.js" defer></script>"#));
    assert!(html.contains(r#"id="colour-chart""#));
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(csp.contains("style-src 'self';"), "{csp}");
    let (_, _, script) = get(&config, "/results.js").await;
    assert!(script.contains("/results/data"));
}

#[tokio::test]
async fn results_data_refuses_anything_but_a_few_event_ids() {
    let config = Config::parse_from(["web"]);
    let too_many = (0..21)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect::<Vec<_>>()
        .join(",");
    for query in [
        "eventIds=not-a-uuid".to_owned(),
        "eventIds=%22%3E%3Cscript%3E".to_owned(),
        format!("eventIds={too_many}"),
    ] {
        let (status, headers, body) = get(&config, &format!("/results/data?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], "invalid_event_id", "{body}");
    }
}

#[tokio::test]
async fn results_say_why_when_nothing_answers_and_show_unreachable_stages_as_unknown() {
    // Nothing listens on these ports: the page must answer at once, saying so, not hang or 5xx.
    let closed = || {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        format!("http://127.0.0.1:{port}")
    };
    let (search, api, sink) = (closed(), closed(), closed());
    let config = Config::parse_from([
        "web",
        "--es-url",
        &search,
        "--collector-admin-url",
        &api,
        "--hdfs-consumer-admin-urls",
        &sink,
        "--es-sink-admin-urls",
        &sink,
    ]);
    let id = uuid::Uuid::now_v7();
    let started = std::time::Instant::now();
    let (status, _, body) = get(&config, &format!("/results/data?eventIds={id}")).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(status, StatusCode::OK);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    let why = body["overview"]["unavailable"]
        .as_str()
        .expect("unavailable, with a reason");
    assert!(why.contains("refuses connections"), "{why}");
    assert!(body["ownClicks"]["unavailable"].is_string(), "{body}");
    assert_eq!(body["headline"], "collector is down");
    for stage in body["stages"].as_array().unwrap() {
        assert_eq!(stage["condition"]["state"], "down", "{stage}");
        for count in stage["counts"].as_array().unwrap() {
            assert!(count["value"].is_null(), "unknown, not zero: {stage}");
        }
    }
}

/// A search cluster that counts the searches it answers: an overview with one green click, and
/// the asked-for ids as hits.
async fn counting_cluster() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use axum::Json;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let searches = Arc::new(AtomicUsize::new(0));
    let counter = searches.clone();
    let app = axum::Router::new().route(
        "/{index}/_search",
        axum::routing::post(move |Json(query): Json<serde_json::Value>| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                let hits: Vec<serde_json::Value> = query["query"]["ids"]["values"]
                    .as_array()
                    .map(|ids| {
                        ids.iter()
                            .map(|id| {
                                serde_json::json!({ "_id": id, "_source": {
                                "eventId": id, "userName": "a", "colorName": "green",
                                "timestamp": "2026-12-03T10:00:00Z",
                                "browser": { "name": "Chrome", "os": "Linux" } } })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Json(serde_json::json!({
                    "hits": { "total": { "value": 1 }, "hits": hits },
                    "aggregations": {
                        "colours": { "buckets": [{ "key": "green", "doc_count": 1 }] },
                        "recent": { "per_minute": { "buckets": [] } },
                        "browsers": { "buckets": [] }
                    }
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, searches)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_open_pages_cost_the_cluster_one_search_a_second() {
    let (cluster, searches) = counting_cluster().await;
    let config = Config::parse_from(["web", "--es-url", &cluster]);
    let router = app(&config, Results::new(&config).unwrap());
    let pages = (0..100).map(|_| {
        let router = router.clone();
        async move {
            let response = router
                .oneshot(Request::get("/results/data").body(Body::empty()).unwrap())
                .await
                .unwrap();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()
        }
    });
    let answers = futures::future::join_all(pages).await;
    for answer in &answers {
        assert_eq!(answer["overview"]["ok"]["total"], 1, "{answer}");
    }
    assert_eq!(searches.load(std::sync::atomic::Ordering::SeqCst), 1);

    // A person's clicks: asked for until found, then answered from memory.
    let id = uuid::Uuid::now_v7();
    let path = format!("/results/data?eventIds={id}");
    for _ in 0..3 {
        let response = router
            .clone()
            .oneshot(Request::get(&path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(answer["ownClicks"]["ok"][0]["eventId"], id.to_string());
    }
    assert_eq!(
        searches.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "one search for the overview, one for the click"
    );
}

/// `POST /results/forget` with `authorization` (if any) and `body`, to a page with `config`.
async fn forget(config: &Config, authorization: Option<&str>, body: String) -> (StatusCode, Value) {
    let mut request = Request::post("/results/forget").header("content-type", "application/json");
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    let response = app(config, Results::new(config).unwrap())
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn only_the_eraser_holding_the_token_makes_the_page_forget() {
    let token = "9f86d081884c7d659a2feaa0c55ad015";
    let request = r#"{"userNames":["Ada"],"eventIds":[]}"#.to_owned();
    // No token set: nobody may.
    let closed = Config::parse_from(["web"]);
    let (status, body) = forget(&closed, Some(&format!("Bearer {token}")), request.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "forget_not_enabled");

    let config = Config::parse_from(["web", "--forget-token", token]);
    for authorization in [None, Some("Bearer wrong-token-of-some-length"), Some(token)] {
        let (status, body) = forget(&config, authorization, request.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{authorization:?}: {body}"
        );
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let bearer = format!("Bearer {token}");
    let (status, body) = forget(&config, Some(&bearer), request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["forgotten"], 0);
    // The body is bounded, and refused with a JSON answer past it.
    let names: Vec<String> = (0..20_000).map(|n| format!("person {n:08}")).collect();
    let large = serde_json::json!({ "userNames": names }).to_string();
    assert!(large.len() > web::forget::MAX_BODY_BYTES);
    let (status, body) = forget(&config, Some(&bearer), large).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "invalid_body");
    // A short token is refused at start.
    let err = Config::try_parse_from(["web", "--forget-token", "short"]).unwrap_err();
    assert!(err.to_string().contains("too short"), "{err}");
}
