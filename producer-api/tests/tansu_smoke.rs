//! The smoke test on an independent implementation of the Kafka protocol (tansu): HTTP in,
//! records read back with rdkafka, every field checked.
//!
//! tansu 0.6.0 answers a fetch that starts inside a record batch with the next batch; the
//! reader here starts every partition at its beginning and never resumes, so it stays clear of
//! that defect, and nothing here relies on it. Everything else about Kafka is tested on
//! librdkafka's mock cluster (`kafka_mock.rs`).

mod support;

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use producer_api::Config;
use support::tansu::Tansu;
use support::{RunningApi, read_topic_async};

const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
const CHROME_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the tansu broker: run scripts/test.sh"]
async fn on_tansu_posted_events_arrive_in_the_topic_with_every_field() {
    let tansu = Tansu::start();
    let topic = format!("select-color-{}", uuid::Uuid::now_v7());
    tansu.create_topic(&topic, 3).await;
    let mut config = Config::for_brokers(&tansu.bootstrap);
    config.kafka.topic = topic.clone();
    let api = RunningApi::start(config).await;
    let client = reqwest::Client::new();

    let names = [
        "김민수",
        "Zoë 🎨",
        "<img src=x onerror=alert(1)>",
        "O'Brien \"quoted\"",
        "a",
    ];
    let colours = ["red", "orange", "yellow", "green", "blue", "purple"];
    let started = Utc::now();
    let mut sent = HashMap::new();
    for n in 0..30 {
        let (name, colour) = (names[n % names.len()], colours[n % colours.len()]);
        let agent = if n % 2 == 0 {
            SAFARI_IPHONE
        } else {
            CHROME_LINUX
        };
        // A second apart, a minute before the click was sent.
        let client_time = common::event::format_timestamp(
            &(started - chrono::Duration::minutes(1) + chrono::Duration::seconds(n as i64)),
        );
        let response = client
            .post(api.url("/api/events"))
            .header("User-Agent", agent)
            .header("Origin", support::PAGE_ORIGIN)
            .json(&serde_json::json!({ "userName": name, "colorName": colour, "clientTimestamp": client_time }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let body: serde_json::Value = response.json().await.unwrap();
        sent.insert(
            body["eventId"].as_str().unwrap().to_owned(),
            (name, colour, agent, client_time),
        );
    }
    // The reference GET endpoint produces to the same topic.
    let response = client
        .get(api.url("/api/select?color=blue&user=reference"))
        .header("User-Agent", CHROME_LINUX)
        .header("Referer", format!("{}/", support::PAGE_ORIGIN))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: serde_json::Value = response.json().await.unwrap();
    let select_id = body["eventId"].as_str().unwrap().to_owned();
    let finished = Utc::now();

    let landed = read_topic_async(&tansu.bootstrap, &topic, 3, 31, Duration::from_secs(60)).await;
    assert_eq!(
        landed.len(),
        31,
        "not every accepted event reached the topic"
    );
    for record in &landed {
        assert!((0..3).contains(&record.partition));
        let event = &record.event;
        let id = event.event_id.to_string();
        assert_eq!(event.schema_version, common::SCHEMA_VERSION);
        assert_eq!(event.event_id.get_version_num(), 7);
        assert!(
            event.timestamp >= started - chrono::Duration::milliseconds(1)
                && event.timestamp <= finished
        );
        if id == select_id {
            assert_eq!(
                (event.user_name.as_str(), event.color_name.as_str()),
                ("reference", "blue")
            );
            assert!(event.client_timestamp.is_none());
            continue;
        }
        let (name, colour, agent, client_time) = sent.get(&id).expect("an event nobody sent");
        assert_eq!(event.user_name, *name);
        assert_eq!(event.color_name, *colour);
        assert_eq!(event.user_agent, *agent);
        assert_eq!(
            common::event::format_timestamp(&event.client_timestamp.unwrap()),
            *client_time
        );
        if *agent == SAFARI_IPHONE {
            assert_eq!(
                (
                    event.browser.name.as_str(),
                    event.browser.category.as_str(),
                    event.browser.os.as_str()
                ),
                ("Safari", "smartphone", "iPhone")
            );
            assert_eq!(event.browser.vendor, "Apple");
        } else {
            assert_eq!(
                (
                    event.browser.name.as_str(),
                    event.browser.version.as_str(),
                    event.browser.os.as_str()
                ),
                ("Chrome", "120.0.0.0", "Linux")
            );
        }
    }
    api.stop().await;
}
