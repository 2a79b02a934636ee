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
    /// Starts a broker with in-memory storage on a free loopback port.
    pub fn start() -> Tansu {
        let bin = std::env::var("TANSU_BIN").expect(
            "TANSU_BIN names the tansu broker binary; scripts/test.sh installs it and sets it",
        );
        let port = crate::ports::free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(bin)
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
        let listening = crate::wait::wait_until_blocking(Duration::from_secs(30), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(listening, "tansu did not listen on {port}");
        Tansu {
            child,
            bootstrap: format!("127.0.0.1:{port}"),
        }
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
