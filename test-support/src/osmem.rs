//! An OpenSearch-compatible search server for end-to-end tests: the `osmem-server` binary that
//! `scripts/test.sh` installs from PyPI and names in `OSMEM_BIN`. It keeps everything in
//! memory, so a restart starts empty.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Osmem {
    child: Option<Child>,
    pub port: u16,
}

impl Osmem {
    /// A server on a port it picks itself: a port chosen here and bound later could be taken
    /// meanwhile, by another test's server among others, which this test would then talk to.
    pub fn start() -> Osmem {
        Osmem::spawn("127.0.0.1:0")
    }

    /// A server on `port` again, after [`Osmem::stop`]; fails if the port was taken meanwhile.
    pub fn start_on(port: u16) -> Osmem {
        let osmem = Osmem::spawn(&format!("127.0.0.1:{port}"));
        assert_eq!(osmem.port, port, "osmem-server listens elsewhere");
        osmem
    }

    /// Starts the server on `addr` and waits for the line it prints once it listens:
    /// `{"url":"http://127.0.0.1:PORT",...}`.
    fn spawn(addr: &str) -> Osmem {
        let bin = std::env::var("OSMEM_BIN").expect(
            "OSMEM_BIN names the osmem-server binary; scripts/test.sh installs it and sets it",
        );
        let mut child = Command::new(bin)
            .args(["-addr", addr, "-no-stdin-watch"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("osmem-server starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = String::new();
            let _ = stdout.read_line(&mut line);
            let _ = tx.send(line);
            // Whatever else it prints is read, so that it never writes to a closed pipe.
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let url = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|ready| {
                ready["url"]
                    .as_str()
                    .and_then(|u| u.parse::<url::Url>().ok())
            });
        let Some(port) = url.and_then(|url| url.port()) else {
            let _ = child.kill();
            let status = child.wait();
            panic!("osmem-server on {addr} never said it listens ({line:?}, {status:?})");
        };
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
        crate::wait::poll_until(deadline, || self.count(prefix), |seen| *seen >= want).await
    }
}

impl Drop for Osmem {
    fn drop(&mut self) {
        self.stop();
    }
}
