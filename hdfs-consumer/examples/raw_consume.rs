//! The landing benchmark's baseline: a plain rdkafka consumer that reads a topic from the
//! beginning and discards every record. It writes `assigned` to standard error once the group
//! gave it every partition, and when `count` records were read prints the records seen, the
//! seconds from the first record to the last, the bytes read, its peak RSS in MiB, and the
//! time of the last record (Unix seconds).
//!
//! cargo run --release -p hdfs-consumer --example raw_consume -- <bootstrap> <topic> <count>

use std::time::{Duration, Instant};

use common::kafka::consumer_config;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bootstrap, topic, count] = args.as_slice() else {
        anyhow::bail!("usage: raw_consume <bootstrap> <topic> <count>");
    };
    let count: usize = count.parse()?;
    let group = format!("raw-consume-{}", std::process::id());
    let consumer: BaseConsumer = consumer_config(bootstrap, &group, "raw-consume").create()?;
    consumer.subscribe(&[topic])?;
    let partitions = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))?
        .topics()
        .first()
        .map_or(0, |t| t.partitions().len());
    let mut announced = false;
    let mut seen = 0usize;
    let mut bytes = 0usize;
    let mut first: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    while seen < count && Instant::now() < deadline {
        if !announced && consumer.assignment()?.count() == partitions {
            eprintln!("assigned");
            announced = true;
        }
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            first.get_or_insert_with(Instant::now);
            bytes += message.payload().map_or(0, <[u8]>::len);
            seen += 1;
        }
    }
    let seconds = first.map_or(0.0, |t| t.elapsed().as_secs_f64());
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|kb| kb.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0;
    let last = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs_f64();
    println!("{seen} {seconds:.3} {bytes} {rss:.1} {last:.3}");
    Ok(())
}
