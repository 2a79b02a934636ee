//! Fills a topic with click events as fast as the broker takes them, for benchmarks.
//!
//! cargo run --release -p hdfs-consumer --example fill_topic -- <bootstrap> <topic> <count>

use std::time::{Duration, Instant};

use common::ColorEvent;
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bootstrap, topic, count] = args.as_slice() else {
        anyhow::bail!("usage: fill_topic <bootstrap> <topic> <count>");
    };
    let count: usize = count.parse()?;
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "500000")
        .create()?;
    let colours = ["red", "orange", "yellow", "green", "blue", "purple"];
    let agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    let started = Instant::now();
    for n in 0..count {
        let event = ColorEvent::new(
            format!("user-{}", n % 1000),
            colours[n % 6].into(),
            agent.into(),
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
    }
    producer.flush(Duration::from_secs(300))?;
    eprintln!(
        "produced {count} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
