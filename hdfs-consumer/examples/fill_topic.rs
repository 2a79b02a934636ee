//! Fills a topic with click events as fast as the broker takes them, for benchmarks, with the
//! collector's producer settings (so records sent together share multi-record batches, as in
//! real traffic). With `ids-file`, writes every event id to it, one per line.
//!
//! cargo run --release -p hdfs-consumer --example fill_topic -- <bootstrap> <topic> <count> [ids-file]
//!
//! With FILL_HOURS=n, the events are made in time order over the n whole hours before the
//! current one by several real browsers (a backlog, `test_support::produce::backlog`); without
//! it, now, by one browser.

use std::io::Write;
use std::time::{Duration, Instant};

use common::ColorEvent;
use common::kafka::{ProducerTuning, producer_config};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (bootstrap, topic, count, ids_file) = match args.as_slice() {
        [bootstrap, topic, count] => (bootstrap, topic, count, None),
        [bootstrap, topic, count, ids] => (bootstrap, topic, count, Some(ids)),
        _ => anyhow::bail!("usage: fill_topic <bootstrap> <topic> <count> [ids-file]"),
    };
    let count: usize = count.parse()?;
    let tuning = ProducerTuning {
        queue_max_messages: 500_000,
        ..ProducerTuning::default()
    };
    let producer: ThreadedProducer<DefaultProducerContext> =
        producer_config(bootstrap, "fill-topic", &tuning).create()?;
    let mut ids = match ids_file {
        Some(path) => Some(std::io::BufWriter::new(std::fs::File::create(path)?)),
        None => None,
    };
    let colours = ["red", "orange", "yellow", "green", "blue", "purple"];
    let agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    let browser = std::sync::Arc::new(producer_api::user_agents::parse(agent));
    let hours: Option<u32> = std::env::var("FILL_HOURS")
        .ok()
        .map(|h| h.parse())
        .transpose()?;
    let backlog_start = hours.map(test_support::produce::hours_before_this_one);
    let started = Instant::now();
    for n in 0..count {
        if let (Some(hours), Some(start)) = (hours, backlog_start) {
            let event = test_support::produce::backlog_click(n, count, start, hours);
            send(&producer, topic, &event)?;
            if let Some(ids) = ids.as_mut() {
                writeln!(ids, "{}", event.event_id)?;
            }
            continue;
        }
        let event = ColorEvent::new(
            format!("user-{}", n % 1000),
            colours[n % 6].into(),
            agent.into(),
            browser.clone(),
            chrono::Utc::now(),
            None,
        );
        send(&producer, topic, &event)?;
        if let Some(ids) = ids.as_mut() {
            writeln!(ids, "{}", event.event_id)?;
        }
    }
    producer.flush(Duration::from_secs(300))?;
    if let Some(mut ids) = ids {
        ids.flush()?;
    }
    eprintln!(
        "produced {count} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Queues `event`, waiting while the producer's queue is full.
fn send(
    producer: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    event: &ColorEvent,
) -> anyhow::Result<()> {
    let payload = event.to_json_bytes();
    let key = common::kafka::event_key(&event.event_id);
    let mut record = BaseRecord::<[u8], [u8]>::to(topic)
        .key(&key)
        .payload(&payload);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((_, back)) => {
                record = back;
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}
