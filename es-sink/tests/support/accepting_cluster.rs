//! A stand-in cluster that indexes every document it is sent, after a delay, and remembers
//! how often each id arrived: enough to watch the sink's offsets and rebalances on the mock
//! Kafka cluster without a search server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post, put};
use serde_json::{Value, json};

#[derive(Clone)]
pub struct AcceptingCluster {
    pub url: url::Url,
    indexed: Arc<Mutex<HashMap<String, usize>>>,
}

#[derive(Clone)]
struct Shared {
    indexed: Arc<Mutex<HashMap<String, usize>>>,
    delay: Duration,
}

async fn bulk(State(shared): State<Shared>, body: Bytes) -> axum::Json<Value> {
    tokio::time::sleep(shared.delay).await;
    let text = String::from_utf8_lossy(&body).into_owned();
    let mut items = Vec::new();
    let mut indexed = shared.indexed.lock().unwrap();
    for action in text.lines().step_by(2) {
        let action: Value = serde_json::from_str(action).unwrap();
        let id = action["index"]["_id"].as_str().unwrap().to_owned();
        *indexed.entry(id).or_default() += 1;
        items.push(json!({ "index": { "status": 201, "result": "created" } }));
    }
    axum::Json(json!({ "took": 1, "errors": false, "items": items }))
}

impl AcceptingCluster {
    /// Starts the stand-in; each bulk request is answered after `delay`.
    pub async fn start(delay: Duration) -> AcceptingCluster {
        let indexed: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let app = Router::new()
            .route(
                "/",
                get(|| async { axum::Json(json!({ "version": { "number": "9.1.0" } })) }),
            )
            .route("/_bulk", post(bulk))
            .route(
                "/_index_template/{name}",
                put(|| async { axum::Json(json!({ "acknowledged": true })) }),
            )
            .route(
                "/{indices}/_mapping",
                put(|| async { axum::Json(json!({ "acknowledged": true })) }),
            )
            .with_state(Shared {
                indexed: Arc::clone(&indexed),
                delay,
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        AcceptingCluster { url, indexed }
    }

    /// How often each document id was indexed.
    pub fn indexed(&self) -> HashMap<String, usize> {
        self.indexed.lock().unwrap().clone()
    }

    /// Waits until every id in `ids` was indexed at least once; false at the deadline.
    pub async fn wait_for(&self, ids: &[uuid::Uuid], deadline: Duration) -> bool {
        super::wait_until(deadline, || {
            let indexed = self.indexed();
            let all = ids.iter().all(|id| indexed.contains_key(&id.to_string()));
            async move { all }
        })
        .await
    }
}
