//! Writing test records into a topic.

use std::time::Duration;

use common::ColorEvent;
use common::kafka::{ProducerTuning, producer_config};
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use uuid::Uuid;

/// Real browsers' user agents: desktop Chrome, Safari on an iPhone, Firefox on Windows, Samsung
/// Internet on Android.
pub const USER_AGENTS: [&str; 4] = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
];

/// `count` clicks such as a consumer that was down finds waiting: made in time order over the
/// `hours` whole hours before the current one, by real browsers (parsed as the collector
/// parses them), on the palette's colours in uneven shares, a third carrying the page's own
/// time.
pub fn backlog(count: usize, hours: u32) -> Vec<ColorEvent> {
    let start = hours_before_this_one(hours);
    (0..count)
        .map(|n| backlog_click(n, count, start, hours))
        .collect()
}

/// The start of the whole hour `hours` hours before the current one.
pub fn hours_before_this_one(hours: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::{DurationRound, TimeDelta};
    chrono::Utc::now()
        .duration_trunc(TimeDelta::hours(1))
        .unwrap()
        - TimeDelta::hours(hours.into())
}

/// Click `n` of the `count` of a [`backlog`] over `hours` hours from `start`, made one at a
/// time, for backlogs too large to hold.
pub fn backlog_click(
    n: usize,
    count: usize,
    start: chrono::DateTime<chrono::Utc>,
    hours: u32,
) -> ColorEvent {
    use chrono::TimeDelta;
    static BROWSERS: std::sync::LazyLock<Vec<std::sync::Arc<common::event::BrowserInfo>>> =
        std::sync::LazyLock::new(|| {
            USER_AGENTS
                .iter()
                .map(|agent| std::sync::Arc::new(producer_api::user_agents::parse(agent)))
                .collect()
        });
    let span = TimeDelta::hours(hours.into()).num_milliseconds();
    let at = start + TimeDelta::milliseconds(span * n as i64 / count as i64);
    let colours = common::palette::DEFAULT_COLORS;
    let browser = (n / 3 + n / 11) % USER_AGENTS.len();
    let mut event = ColorEvent::new(
        format!("사용자 {}", n % 97),
        colours[(n * n + n / 5) % colours.len()].to_owned(),
        USER_AGENTS[browser].to_owned(),
        std::sync::Arc::clone(&BROWSERS[browser]),
        at,
        None,
    );
    if n.is_multiple_of(3) {
        event.client_timestamp = Some(event.timestamp - TimeDelta::milliseconds(1500));
    }
    event
}

/// Produces `count` events spread over `partitions` partitions the way the collector produces
/// them (its producer settings, so records sent together share multi-record batches); returns
/// their ids.
pub fn produce(bootstrap: &str, topic: &str, partitions: i32, count: usize) -> Vec<Uuid> {
    let events: Vec<ColorEvent> = (0..count)
        .map(|n| ColorEvent::sample(&format!("user-{n}"), "green", chrono::Utc::now()))
        .collect();
    produce_events(bootstrap, topic, partitions, &events)
}

/// Produces `events` in order, spread over `partitions` partitions as [`produce`] does; returns
/// their ids.
pub fn produce_events(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    events: &[ColorEvent],
) -> Vec<Uuid> {
    let producer: ThreadedProducer<DefaultProducerContext> =
        producer_config(bootstrap, "test-producer", &ProducerTuning::default())
            .create()
            .unwrap();
    let mut ids = Vec::with_capacity(events.len());
    for (n, event) in events.iter().enumerate() {
        let payload = event.to_json_bytes();
        let record = BaseRecord::<(), [u8]>::to(topic)
            .payload(&payload)
            .partition(n as i32 % partitions);
        let mut pending = Some(record);
        while let Some(record) = pending.take() {
            if let Err((_, back)) = producer.send(record) {
                std::thread::sleep(Duration::from_millis(10));
                pending = Some(back);
            }
        }
        ids.push(event.event_id);
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("every test record delivered");
    ids
}

/// [`produce`] on a blocking thread, so a test can do something else meanwhile.
pub fn produce_in_background(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    count: usize,
) -> tokio::task::JoinHandle<Vec<Uuid>> {
    let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || produce(&bootstrap, &topic, partitions, count))
}

/// Produces raw record values to one partition.
pub fn produce_raw(bootstrap: &str, topic: &str, partition: i32, values: &[&[u8]]) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for value in values {
        producer
            .send(
                BaseRecord::<(), [u8]>::to(topic)
                    .payload(*value)
                    .partition(partition),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}
