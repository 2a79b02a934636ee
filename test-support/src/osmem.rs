//! An OpenSearch-compatible search server for end-to-end tests: the `osmem-server` binary that
//! `scripts/test.sh` installs from PyPI and names in `OSMEM_BIN`. It keeps everything in
//! memory, so a restart starts empty.

use std::collections::HashSet;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Osmem {
    child: Option<Child>,
    pub port: u16,
}

impl Osmem {
    pub fn start() -> Osmem {
        Osmem::start_on(crate::ports::free_port())
    }

    pub fn start_on(port: u16) -> Osmem {
        let bin = std::env::var("OSMEM_BIN").expect(
            "OSMEM_BIN names the osmem-server binary; scripts/test.sh installs it and sets it",
        );
        let child = Command::new(bin)
            .args(["-addr", &format!("127.0.0.1:{port}"), "-no-stdin-watch"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("osmem-server starts");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "osmem-server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Osmem {
            child: Some(child),
            port,
        }
    }

    pub fn url(&self) -> url::Url {
        format!("http://127.0.0.1:{}", self.port).parse().unwrap()
    }

    /// Stalls the server (SIGSTOP): it takes connections and answers nothing, as a cluster in
    /// a long pause does.
    pub fn freeze(&self) {
        if let Some(child) = &self.child {
            crate::crash::freeze(child);
        }
    }

    /// Lets a stalled server answer again (SIGCONT).
    pub fn thaw(&self) {
        if let Some(child) = &self.child {
            crate::crash::thaw(child);
        }
    }

    /// Kills the server; everything it held is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Documents in `<prefix>-*`, after a refresh.
    pub async fn count(&self, prefix: &str) -> u64 {
        let client = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{}/{prefix}-*", self.port);
        if client
            .post(format!("{base}/_refresh"))
            .send()
            .await
            .is_err()
        {
            return 0;
        }
        let Ok(response) = client.get(format!("{base}/_count")).send().await else {
            return 0;
        };
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        body["count"].as_u64().unwrap_or(0)
    }

    /// Puts index template `name`.
    pub async fn put_template(&self, name: &str, template: &serde_json::Value) {
        reqwest::Client::new()
            .put(format!(
                "http://127.0.0.1:{}/_index_template/{name}",
                self.port
            ))
            .json(template)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    }

    /// Sends a `_bulk` body, refreshing after it; its answer.
    pub async fn bulk(&self, body: Vec<u8>) -> serde_json::Value {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/_bulk?refresh=true", self.port))
            .header("Content-Type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A search of the indices `pattern` names; its answer, an error answer included.
    pub async fn search(&self, pattern: &str, search: &serde_json::Value) -> serde_json::Value {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/{pattern}/_search", self.port))
            .json(search)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The mappings of the indices `pattern` names, keyed by index.
    pub async fn mapping(&self, pattern: &str) -> serde_json::Value {
        reqwest::get(format!("http://127.0.0.1:{}/{pattern}/_mapping", self.port))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Document ids in `<prefix>-*` (at most 10 000).
    pub async fn ids(&self, prefix: &str) -> HashSet<String> {
        self.search_ids(
            prefix,
            serde_json::json!({ "size": 10000, "_source": false }),
        )
        .await
    }

    /// Those of `ids` that have a document in `<prefix>-*`, asked a thousand at a time.
    pub async fn ids_of(&self, prefix: &str, ids: &[uuid::Uuid]) -> HashSet<String> {
        let mut found = HashSet::new();
        for chunk in ids.chunks(1000) {
            let values: Vec<String> = chunk.iter().map(ToString::to_string).collect();
            let query = serde_json::json!({
                "size": chunk.len(),
                "_source": false,
                "query": { "ids": { "values": values } }
            });
            found.extend(self.search_ids(prefix, query).await);
        }
        found
    }

    /// The ids of the documents a search of `<prefix>-*` finds, after a refresh.
    async fn search_ids(&self, prefix: &str, search: serde_json::Value) -> HashSet<String> {
        reqwest::Client::new()
            .post(format!(
                "http://127.0.0.1:{}/{prefix}-*/_refresh",
                self.port
            ))
            .send()
            .await
            .unwrap();
        let body = self.search(&format!("{prefix}-*"), &search).await;
        body["hits"]["hits"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| h["_id"].as_str().map(str::to_owned))
            .collect()
    }

    /// Waits until `<prefix>-*` holds at least `want` documents; returns the last count.
    pub async fn wait_for_count(&self, prefix: &str, want: u64, deadline: Duration) -> u64 {
        let started = Instant::now();
        loop {
            let seen = self.count(prefix).await;
            if seen >= want || started.elapsed() > deadline {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Osmem {
    fn drop(&mut self) {
        self.stop();
    }
}
