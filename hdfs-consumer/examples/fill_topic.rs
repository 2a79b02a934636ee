//! Fills a topic with click events as fast as the broker takes them, for benchmarks, with the
//! collector's producer settings (so records sent together share multi-record batches, as in
//! real traffic). With `ids-file`, writes every event id to it, one per line.
//!
//! cargo run --release -p hdfs-consumer --example fill_topic -- <bootstrap> <topic> <count> [ids-file]

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
    let started = Instant::now();
    for n in 0..count {
        let event = ColorEvent::new(
            format!("user-{}", n % 1000),
            colours[n % 6].into(),
            agent.into(),
            browser.clone(),
            chrono::Utc::now(),
            None,
        );
        let payload = event.to_json_bytes();
        let mut record = BaseRecord::<(), [u8]>::to(topic).payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
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
