//! The indexer against a small local HTTP server that answers `_bulk` like Elasticsearch does
//! when it is overloaded (429), unavailable (503), handed too large a request (413) or given
//! bad credentials (401): answers the search server used elsewhere never gives.

use test_support::ports;
use test_support::wait::wait_until;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{post, put};
use es_sink::batch::{Entry, PendingDoc, classify_record};
use es_sink::elastic::Elastic;
use es_sink::indexer::{Indexer, Refused};
use es_sink::metrics::{ReasonLabel, SinkMetrics};
use es_sink::offsets::RecordRef;
use serde_json::{Value, json};

type Answer = (StatusCode, Value);
type Answerer = Box<dyn Fn(&[String]) -> Answer + Send + Sync>;

/// Bodies received, and how to answer the next `_bulk` request from the document ids in it.
#[derive(Clone)]
struct Stub {
    received: Arc<Mutex<Vec<Vec<String>>>>,
    answer: Arc<Answerer>,
}

/// Ids of the documents of a bulk body, in order.
fn ids_in(body: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(body).unwrap();
    text.lines()
        .step_by(2)
        .map(|action| {
            let action: Value = serde_json::from_str(action).unwrap();
            action["index"]["_id"].as_str().unwrap().to_owned()
        })
        .collect()
}

async fn bulk(State(stub): State<Stub>, body: Bytes) -> (StatusCode, axum::Json<Value>) {
    let ids = ids_in(&body);
    let (status, answer) = (stub.answer)(&ids);
    stub.received.lock().unwrap().push(ids);
    (status, axum::Json(answer))
}

async fn start(answer: Answerer) -> (Indexer, Stub, SinkMetrics) {
    let stub = Stub {
        received: Arc::default(),
        answer: Arc::new(answer),
    };
    let app = Router::new()
        .route("/_bulk", post(bulk))
        .route(
            "/_index_template/{name}",
            put(|| async { axum::Json(json!({ "acknowledged": true })) }),
        )
        .route(
            "/{indices}/_mapping",
            put(|| async { axum::Json(json!({ "acknowledged": true })) }),
        )
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let config =
        es_sink::Config::for_brokers("unused:9092", format!("http://{addr}").parse().unwrap());
    let metrics = SinkMetrics::default();
    let indexer = Indexer::new(
        Arc::new(Elastic::connect(&config.search, true).unwrap()),
        Duration::from_millis(20),
        metrics.clone(),
    );
    (indexer, stub, metrics)
}

/// Answers each request with the next of `answers`, in order.
fn scripted(answers: Vec<Answer>) -> Answerer {
    let script = Mutex::new(VecDeque::from(answers));
    Box::new(move |_| {
        script
            .lock()
            .unwrap()
            .pop_front()
            .expect("no more requests expected")
    })
}

fn docs(count: usize) -> Vec<PendingDoc> {
    (0..count)
        .map(|n| {
            let event = common::ColorEvent::sample(&format!("user {n}"), "red", chrono::Utc::now());
            let record = RecordRef {
                partition: 0,
                offset: n as i64,
                generation: 1,
            };
            let value = event.to_json_bytes();
            match classify_record("web-events", record, None, Some(&value), |_| false) {
                Entry::Doc(doc) => doc,
                other => panic!("{other:?}"),
            }
        })
        .collect()
}

fn items(statuses: &[u16]) -> Value {
    let items: Vec<Value> = statuses
        .iter()
        .map(|&status| {
            if status < 300 {
                json!({ "index": { "_index": "web-events-x", "status": status, "result": "created" } })
            } else {
                json!({ "index": { "_index": "web-events-x", "status": status,
                    "error": { "type": "es_rejected_execution_exception", "reason": "queue full" } } })
            }
        })
        .collect();
    json!({ "took": 1, "errors": statuses.iter().any(|s| *s >= 300), "items": items })
}

fn retried(metrics: &SinkMetrics, reason: &str) -> u64 {
    metrics
        .retried
        .get_or_create(&ReasonLabel::new(reason))
        .get()
}

#[tokio::test]
async fn documents_refused_for_now_are_sent_again_until_indexed() {
    let (indexer, stub, metrics) = start(scripted(vec![
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "error": { "type": "cluster_block_exception", "reason": "no master" }, "status": 503 }),
        ),
        (StatusCode::OK, items(&[201, 429, 201])),
        (StatusCode::OK, items(&[201])),
    ]))
    .await;
    let docs = docs(3);
    let report = indexer.index(&docs).await;
    assert_eq!(report.indexed, 3);
    assert!(report.refused.is_empty());
    assert_eq!(report.requests, 3);
    let received = stub.received.lock().unwrap().clone();
    assert_eq!(received[0].len(), 3);
    assert_eq!(received[1].len(), 3, "the whole request again after a 503");
    assert_eq!(
        received[2],
        vec![docs[1].doc.id.clone()],
        "only the document refused with 429"
    );
    assert_eq!(retried(&metrics, "http_503"), 3);
    assert_eq!(retried(&metrics, "http_429"), 1);
    assert_eq!(metrics.indexed.get(), 3);
    assert_eq!(metrics.retrying_documents.get(), 0);
}

#[tokio::test]
async fn a_request_too_large_is_halved_until_only_the_guilty_document_is_refused() {
    let docs = docs(5);
    let poison = docs[3].doc.id.clone();
    let (indexer, stub, _) = start(Box::new(move |ids| {
        if ids.len() > 1 || ids[0] == poison {
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({ "error": { "type": "content_too_long_exception", "reason": "too large" }, "status": 413 }),
            )
        } else {
            (StatusCode::OK, items(&[201]))
        }
    }))
    .await;
    let report = indexer.index(&docs).await;
    assert_eq!(report.indexed, 4);
    assert_eq!(
        report.refused,
        vec![Refused {
            doc: 3,
            status: 413,
            reason: "content_too_long_exception: too large".into()
        }]
    );
    let sent: usize = stub
        .received
        .lock()
        .unwrap()
        .iter()
        .filter(|ids| ids.len() == 1)
        .count();
    assert_eq!(sent, 5, "every document was finally sent alone");
}

#[tokio::test]
async fn bad_credentials_are_waited_out_not_dead_lettered() {
    let (indexer, _, metrics) = start(scripted(vec![
        (
            StatusCode::UNAUTHORIZED,
            json!({ "error": { "type": "security_exception", "reason": "unable to authenticate" }, "status": 401 }),
        ),
        (
            StatusCode::UNAUTHORIZED,
            json!({ "error": { "type": "security_exception", "reason": "unable to authenticate" }, "status": 401 }),
        ),
        (StatusCode::OK, items(&[201, 201])),
    ]))
    .await;
    let report = indexer.index(&docs(2)).await;
    assert_eq!(report.indexed, 2);
    assert!(report.refused.is_empty());
    assert_eq!(retried(&metrics, "http_401"), 4);
}

#[tokio::test]
async fn an_unreachable_cluster_is_retried_and_the_template_put_again_first() {
    // Nothing listens on this port until the stub below takes it over.
    let port = ports::free_port();
    let config = es_sink::Config::for_brokers(
        "unused:9092",
        format!("http://127.0.0.1:{port}").parse().unwrap(),
    );
    let metrics = SinkMetrics::default();
    let indexer = Arc::new(Indexer::new(
        Arc::new(Elastic::connect(&config.search, true).unwrap()),
        Duration::from_millis(50),
        metrics.clone(),
    ));
    let docs = docs(2);
    let indexing = tokio::spawn({
        let (indexer, docs) = (Arc::clone(&indexer), docs.clone());
        async move { indexer.index(&docs).await }
    });
    assert!(
        wait_until(Duration::from_secs(30), || async {
            retried(&metrics, "unreachable") > 0
        })
        .await,
        "the indexer never retried the unreachable cluster"
    );
    let order: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let app = Router::new()
        .route(
            "/_bulk",
            post({
                let order = Arc::clone(&order);
                move || async move {
                    order.lock().unwrap().push("bulk");
                    axum::Json(items(&[201, 201]))
                }
            }),
        )
        .route(
            "/_index_template/{name}",
            put({
                let order = Arc::clone(&order);
                move || async move {
                    order.lock().unwrap().push("template");
                    axum::Json(json!({ "acknowledged": true }))
                }
            }),
        )
        .route(
            "/{indices}/_mapping",
            put(|| async { axum::Json(json!({ "acknowledged": true })) }),
        );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let report = tokio::time::timeout(Duration::from_secs(10), indexing)
        .await
        .expect("indexed once the cluster answered")
        .unwrap();
    assert_eq!(report.indexed, 2);
    assert_eq!(order.lock().unwrap()[..2], ["template", "bulk"]);
}
