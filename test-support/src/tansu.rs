//! A real Kafka-protocol broker for end-to-end tests: the `tansu` binary that
//! `scripts/test.sh` installs and names in `TANSU_BIN`.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

pub struct Tansu {
    child: Child,
    pub bootstrap: String,
}

impl Tansu {
    /// Starts a broker with in-memory storage on a loopback port of [`crate::ports`]. tansu
    /// must be told its port; if something took it before tansu bound it, tansu exits, and it
    /// is started again on another port (said on stderr).
    pub fn start() -> Tansu {
        let bin = std::env::var("TANSU_BIN").expect(
            "TANSU_BIN names the tansu broker binary; scripts/test.sh installs it and sets it",
        );
        for _ in 0..3 {
            let port = crate::ports::free_port();
            let url = format!("tcp://127.0.0.1:{port}");
            let mut child = Command::new(&bin)
                .args([
                    "broker",
                    "--listener-url",
                    &url,
                    "--advertised-listener-url",
                    &url,
                ])
                .args(["--storage-engine", "memory://tansu/"])
                .env_remove("CLUSTER_ID")
                .env_remove("LISTENER_URL")
                .env_remove("ADVERTISED_LISTENER_URL")
                .env_remove("STORAGE_ENGINE")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("tansu starts");
            let mut exited = false;
            let listening = crate::wait::wait_until_blocking(Duration::from_secs(30), || {
                exited = matches!(child.try_wait(), Ok(Some(_)));
                exited || TcpStream::connect(("127.0.0.1", port)).is_ok()
            });
            if listening && !exited {
                return Tansu {
                    child,
                    bootstrap: format!("127.0.0.1:{port}"),
                };
            }
            assert!(exited, "tansu did not listen on {port} within 30 s");
            eprintln!("tansu exited at start on port {port} (taken?); starting it on another port");
        }
        panic!("tansu exited at start three times");
    }

    /// Creates a topic (tansu does not create topics on first use).
    pub async fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .unwrap();
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let results = admin
            .create_topics(
                [&topic],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            )
            .await
            .expect("create_topics answered");
        for result in results {
            result.unwrap_or_else(|(topic, code)| panic!("cannot create {topic}: {code}"));
        }
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
