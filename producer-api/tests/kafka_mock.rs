//! The collector against librdkafka's mock cluster: 3 brokers, a 3-partition topic with
//! replication factor 2.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use common::ColorEvent;
use common::kafka::ProducerTuning;
use producer_api::Config;
use producer_api::metrics::ApiMetrics;
use producer_api::publisher::{EnqueueError, EventPublisher, KafkaPublisher};
use rdkafka::mocking::MockCluster;
use support::{RunningApi, partition_counts, post_click, read_topic_async, topic_size, wait_until};

const TOPIC: &str = "select-color";

fn cluster() -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
    let cluster = MockCluster::new(3).unwrap();
    cluster.create_topic(TOPIC, 3, 2).unwrap();
    cluster
}

fn click(n: usize) -> ColorEvent {
    ColorEvent::sample(&format!("user-{n}"), "red", chrono::Utc::now())
}

fn publisher(bootstrap: &str, tuning: &ProducerTuning) -> KafkaPublisher {
    let mut kafka = common::kafka::KafkaArgs::for_brokers(bootstrap);
    kafka.topic = TOPIC.to_owned();
    let publisher = KafkaPublisher::new(
        &kafka,
        tuning,
        ApiMetrics::default(),
        Duration::from_secs(1),
    )
    .unwrap();
    // Until the producer has learnt the topic's partitions, records wait unassigned and are
    // spread when they are assigned; in the service that affects only the first records after
    // start-up. One delivered record puts the producer in its steady state.
    publisher.enqueue(&click(usize::MAX)).unwrap();
    assert_eq!(publisher.flush(Duration::from_secs(10)), 0);
    publisher
}

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`), written from its
/// definition here: the partition a Java producer picks for a key is
/// `(murmur2(key) & 0x7fffffff) % partitions`.
fn kafka_murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

#[test]
fn murmur2_gives_kafkas_known_values() {
    // Values from Kafka's own tests of Utils.murmur2.
    assert_eq!(kafka_murmur2(b"21"), -973_932_308);
    assert_eq!(kafka_murmur2(b"foobar"), -790_332_482);
    assert_eq!(kafka_murmur2(b"a-little-bit-long-string"), -985_981_536);
    assert_eq!(kafka_murmur2(b"a-little-bit-longer-string"), -1_486_304_829);
    assert_eq!(
        kafka_murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
        -58_897_971
    );
    assert_eq!(kafka_murmur2(b"abc"), 479_470_107);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_click_goes_to_the_partition_its_event_id_names_from_any_collector() {
    let cluster = cluster();
    let bootstrap = cluster.bootstrap_servers();
    // Two collectors' producers, as two replicas behind a load balancer.
    let replicas = [
        publisher(&bootstrap, &ProducerTuning::default()),
        publisher(&bootstrap, &ProducerTuning::default()),
    ];
    let clicks: Vec<ColorEvent> = (0..60).map(click).collect();
    // Each click through both, as a retry after a lost answer reaches the other replica.
    for event in &clicks {
        for replica in &replicas {
            replica.enqueue(event).unwrap();
        }
    }
    for replica in &replicas {
        assert_eq!(replica.flush(Duration::from_secs(10)), 0);
    }
    let landed = read_topic_async(&bootstrap, TOPIC, 3, 122, Duration::from_secs(20)).await;
    assert_eq!(landed.len(), 122, "the two warm-up clicks and every copy");
    let ids: HashSet<_> = clicks.iter().map(|e| e.event_id).collect();
    let mut partitions: std::collections::HashMap<uuid::Uuid, HashSet<i32>> = Default::default();
    for record in landed.iter().filter(|r| ids.contains(&r.event.event_id)) {
        let key = record.key.as_deref().expect("every click has a key");
        assert_eq!(
            key,
            record.event.event_id.to_string(),
            "the key is the eventId"
        );
        let named = (kafka_murmur2(key.as_bytes()) & 0x7fff_ffff) % 3;
        assert_eq!(record.partition, named, "{key}");
        partitions
            .entry(record.event.event_id)
            .or_default()
            .insert(record.partition);
    }
    assert_eq!(partitions.len(), 60);
    assert!(
        partitions.values().all(|p| p.len() == 1),
        "both copies of a click share a partition"
    );
    let counts = partition_counts(&landed);
    assert_eq!(
        counts.len(),
        3,
        "random ids reach every partition: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keeps_answering_while_a_broker_is_down_and_nothing_is_lost() {
    let cluster = cluster();
    let bootstrap = cluster.bootstrap_servers();
    let api = RunningApi::start(Config::for_brokers(&bootstrap)).await;
    let client = reqwest::Client::new();
    let mut accepted = HashSet::new();

    for n in 0..10 {
        let (status, body) = post_click(&client, &api, &format!("before-{n}"), "blue").await;
        assert_eq!(status, 202, "{body}");
        accepted.insert(body["eventId"].as_str().unwrap().to_owned());
    }

    cluster.broker_down(1).unwrap();
    for n in 0..30 {
        // The deadline only guards against a hang: enqueueing never waits for a broker.
        let (status, body) = tokio::time::timeout(
            Duration::from_secs(5),
            post_click(&client, &api, &format!("during-{n}"), "green"),
        )
        .await
        .expect("a request hung while a broker was down");
        assert_eq!(status, 202, "{body}");
        accepted.insert(body["eventId"].as_str().unwrap().to_owned());
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    cluster.broker_up(1).unwrap();

    let landed = read_topic_async(
        &bootstrap,
        TOPIC,
        3,
        accepted.len(),
        Duration::from_secs(30),
    )
    .await;
    let ids: HashSet<String> = landed
        .iter()
        .map(|r| r.event.event_id.to_string())
        .collect();
    assert_eq!(
        ids, accepted,
        "events answered 202 are missing from the topic"
    );

    let metrics = reqwest::get(api.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("producer_api_events_delivered_total 40"),
        "{metrics}"
    );
    assert!(
        metrics.contains("producer_api_delivery_failures_total 0"),
        "{metrics}"
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_answered_before_a_clean_shutdown_are_in_the_topic() {
    let cluster = cluster();
    let bootstrap = cluster.bootstrap_servers();
    let api = RunningApi::start(Config::for_brokers(&bootstrap)).await;
    let client = reqwest::Client::new();
    let mut accepted = HashSet::new();
    for n in 0..25 {
        let (status, body) = post_click(&client, &api, &format!("user-{n}"), "purple").await;
        assert_eq!(status, 202);
        accepted.insert(body["eventId"].as_str().unwrap().to_owned());
    }
    api.stop().await;

    let landed = read_topic_async(
        &bootstrap,
        TOPIC,
        3,
        accepted.len(),
        Duration::from_secs(20),
    )
    .await;
    let ids: HashSet<String> = landed
        .iter()
        .map(|r| r.event.event_id.to_string())
        .collect();
    assert_eq!(ids, accepted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_producer_queue_is_reported_not_waited_on() {
    let cluster = cluster();
    for broker in 1..=3 {
        cluster.broker_down(broker).unwrap();
    }
    let tuning = ProducerTuning {
        queue_max_messages: 5,
        ..ProducerTuning::default()
    };
    let mut kafka = common::kafka::KafkaArgs::for_brokers(&cluster.bootstrap_servers());
    kafka.topic = TOPIC.to_owned();
    let publisher = KafkaPublisher::new(
        &kafka,
        &tuning,
        ApiMetrics::default(),
        Duration::from_secs(1),
    )
    .unwrap();
    for n in 0..5 {
        publisher.enqueue(&click(n)).unwrap();
    }
    assert!(matches!(
        publisher.enqueue(&click(5)),
        Err(EnqueueError::QueueFull)
    ));
    // The depth counts queued records plus librdkafka's own pending requests.
    assert!(publisher.queue_depth() >= 5, "{}", publisher.queue_depth());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_broker_reachability() {
    let cluster = cluster();
    let mut config = Config::for_brokers(&cluster.bootstrap_servers());
    config.readiness_probe_interval = Duration::from_millis(200);
    let api = RunningApi::start(config).await;
    let readyz = api.url("/readyz");
    let ready_is = |want: u16| {
        let url = readyz.clone();
        move || {
            let url = url.clone();
            async move { reqwest::get(url).await.unwrap().status().as_u16() == want }
        }
    };

    assert!(
        wait_until(Duration::from_secs(10), ready_is(200)).await,
        "never ready"
    );
    for broker in 1..=3 {
        cluster.broker_down(broker).unwrap();
    }
    assert!(
        wait_until(Duration::from_secs(20), ready_is(503)).await,
        "still ready with every broker down"
    );
    let health = reqwest::get(api.url("/healthz")).await.unwrap().status();
    assert_eq!(health, 200, "liveness must not follow the brokers");
    for broker in 1..=3 {
        cluster.broker_up(broker).unwrap();
    }
    assert!(
        wait_until(Duration::from_secs(20), ready_is(200)).await,
        "not ready again after brokers returned"
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_batch_reaches_the_topic_once_and_gzip_bodies_alike() {
    let cluster = cluster();
    let bootstrap = cluster.bootstrap_servers();
    let api = RunningApi::start(Config::for_brokers(&bootstrap)).await;
    let client = reqwest::Client::new();
    // What the page sends after an answer was lost: the same 50 clicks, same ids, three times,
    // the last time compressed.
    let clicks: Vec<serde_json::Value> = (0..50)
        .map(|n| {
            let color = ["red", "green", "blue"][n % 3];
            serde_json::json!({
                "userName": format!("user-{n}"),
                "colorName": color,
                "eventId": uuid::Uuid::now_v7().to_string(),
                "clientTimestamp": chrono::Utc::now().to_rfc3339(),
            })
        })
        .collect();
    let body = serde_json::to_vec(&clicks).unwrap();
    let gzipped = {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&body).unwrap();
        encoder.finish().unwrap()
    };
    let mut answers = Vec::new();
    for (payload, encoding) in [(body.clone(), None), (body, None), (gzipped, Some("gzip"))] {
        let mut request = client
            .post(api.url("/api/events"))
            .header("content-type", "application/json")
            .header("origin", support::PAGE_ORIGIN)
            .body(payload);
        if let Some(encoding) = encoding {
            request = request.header("content-encoding", encoding);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 202);
        answers.push(response.json::<serde_json::Value>().await.unwrap());
    }
    for (n, click) in clicks.iter().enumerate() {
        assert_eq!(answers[0]["results"][n]["eventId"], click["eventId"]);
        assert!(answers[0]["results"][n].get("duplicate").is_none());
        assert_eq!(answers[1]["results"][n]["duplicate"], true);
        assert_eq!(answers[2]["results"][n]["duplicate"], true);
    }
    api.stop().await;

    // Everything in the topic (its partitions' ends, after the stop flushed the producer):
    // each click once, under its own id.
    let in_topic = topic_size(&bootstrap, TOPIC, 3);
    assert_eq!(in_topic, 50, "replays reached the topic");
    let landed = read_topic_async(&bootstrap, TOPIC, 3, 50, Duration::from_secs(20)).await;
    let mut ids: Vec<String> = landed
        .iter()
        .map(|r| r.event.event_id.to_string())
        .collect();
    ids.sort();
    let mut sent: Vec<String> = clicks
        .iter()
        .map(|c| c["eventId"].as_str().unwrap().to_owned())
        .collect();
    sent.sort();
    assert_eq!(ids, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_names_a_topic_the_brokers_do_not_have() {
    let cluster = cluster();
    let mut config = Config::for_brokers(&cluster.bootstrap_servers());
    config.kafka.topic = "select-colour".into();
    // As production clusters are set up: a mistyped topic is not created by asking for it.
    config
        .kafka
        .properties
        .push(("allow.auto.create.topics".into(), "false".into()));
    config.readiness_probe_interval = Duration::from_millis(200);
    let api = RunningApi::start(config).await;
    let readyz = api.url("/readyz");
    let names_the_topic = || {
        let url = readyz.clone();
        async move {
            let response = reqwest::get(url).await.unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            status == 503
                && body["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("\"select-colour\" does not exist"))
        }
    };
    assert!(
        wait_until(Duration::from_secs(10), names_the_topic).await,
        "readiness never named the missing topic"
    );
    api.stop().await;
}
