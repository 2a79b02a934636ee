//! Erasure benchmark: how long the holders take to erase one person from a day of landed,
//! merged clicks, and what it costs the landing meanwhile.
//!
//! cargo run --release -p hdfs-consumer --example bench_erasure -- <folder> [events]
//!
//! A day of clicks (default one million, made over the 24 whole hours before the current one,
//! as `scripts/bench-lake.sh` makes them) is landed into `<folder>` in 3 partitions, in
//! batches of a 5-second flush, and each hour merged to one file per partition, as hdfs-
//! consumer leaves it. One person clicked 24 times over the day. Then, for each partition:
//! - the erasure of that person (what the partition's holder does between landings, so the
//!   partition's next landing waits for it);
//! - the time to land a batch of 100 clicks on another partition, alone (the baseline) and
//!   while the erasure runs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use lake::commit_log::Erased;
use lake::{ErasureRequest, Held, Lake, LandingFormat, Outcome, Storage, TopicRecord};

const TOPIC: &str = "select-color";
const PARTITIONS: i32 = 3;
const HOURS: u32 = 24;
const PERSON: &str = "Erased Person";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (folder, events) = match args.as_slice() {
        [folder] => (folder, 1_000_000),
        [folder, events] => (folder, events.parse()?),
        _ => anyhow::bail!("usage: bench_erasure <folder> [events]"),
    };
    std::fs::create_dir_all(folder)?;
    tokio::runtime::Runtime::new()?.block_on(run(std::path::Path::new(folder), events))
}

async fn run(folder: &std::path::Path, events: usize) -> anyhow::Result<()> {
    let storage = Storage::folder(folder)?;
    let landing = Lake::new(storage, TOPIC, LandingFormat::Parquet);
    let start = test_support::produce::hours_before_this_one(HOURS);
    // A flush every 5 s of a day spread over the partitions.
    let per_batch = (events / (PARTITIONS as usize * HOURS as usize * 720)).max(1);
    let mut holds = BTreeMap::new();
    let mut next = BTreeMap::new();
    for partition in 0..PARTITIONS {
        holds.insert(partition, landing.claim(partition, "bench").await?.held);
        next.insert(partition, 0i64);
    }
    let started = Instant::now();
    let mut batches: BTreeMap<i32, Vec<TopicRecord>> = BTreeMap::new();
    let person_every = events / 24;
    for n in 0..events {
        let partition = (n % PARTITIONS as usize) as i32;
        let mut event = test_support::produce::backlog_click(n, events, start, HOURS);
        if n % person_every == person_every / 2 {
            event.user_name = PERSON.to_owned();
        }
        let offset = next[&partition];
        *next.get_mut(&partition).unwrap() += 1;
        let batch = batches.entry(partition).or_default();
        batch.push(TopicRecord::classify(
            TOPIC,
            partition,
            offset,
            Some(&event.to_json_bytes()),
        ));
        if batch.len() == per_batch {
            let held = land(&landing, partition, &holds[&partition], batch).await?;
            holds.insert(partition, held);
            batch.clear();
        }
    }
    for (partition, batch) in &batches {
        if !batch.is_empty() {
            let held = land(&landing, *partition, &holds[partition], batch).await?;
            holds.insert(*partition, held);
        }
    }
    eprintln!(
        "landed {events} clicks in batches of {per_batch} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for partition in 0..PARTITIONS {
        let hours: Vec<_> = holds[&partition].uncompacted.keys().copied().collect();
        for hour in hours {
            let held = holds[&partition].clone();
            let done = landing.compact(partition, &held, hour, 128 << 20).await?;
            let held = match done {
                Outcome::Done { held, .. } | Outcome::Unchanged { held, .. } => held,
                other => anyhow::bail!("compaction did not finish: {other:?}"),
            };
            holds.insert(partition, held);
        }
    }
    let files = walk(folder)
        .iter()
        .filter(|p| p.to_string_lossy().contains("/dt="))
        .count();
    eprintln!("merged: {files} files");

    // The landing's baseline: a batch of 100 clicks on partition 0, alone.
    let mut alone = Vec::new();
    for _ in 0..20 {
        let (took, held) = timed_landing(&landing, 0, &holds[&0], &mut next).await?;
        holds.insert(0, held);
        alone.push(took);
    }
    let request = ErasureRequest::new(
        (0..PARTITIONS).map(|p| (p, next[&p])).collect(),
        vec![PERSON.to_owned()],
        Vec::new(),
    );
    let (mut erase_times, mut during) = (Vec::new(), Vec::new());
    let mut removed = 0;
    for partition in 1..PARTITIONS {
        let held = holds[&partition].clone();
        let erased = std::sync::atomic::AtomicBool::new(false);
        let erasing = async {
            let started = Instant::now();
            let done = landing.erase(partition, &held, &request).await;
            erased.store(true, std::sync::atomic::Ordering::SeqCst);
            (started.elapsed(), done)
        };
        // Landings on another partition meanwhile.
        let landing_meanwhile = async {
            let mut held = holds[&0].clone();
            while !erased.load(std::sync::atomic::Ordering::SeqCst) {
                let (took, now_held) = timed_landing(&landing, 0, &held, &mut next).await?;
                held = now_held;
                during.push(took);
            }
            anyhow::Ok(held)
        };
        let ((took, done), held0) = tokio::join!(erasing, landing_meanwhile);
        holds.insert(0, held0?);
        match done? {
            Outcome::Done {
                held,
                report: Erased { rows, .. },
            } => {
                removed += rows;
                holds.insert(partition, held);
            }
            other => anyhow::bail!("erasure did not finish: {other:?}"),
        }
        erase_times.push(took);
    }
    let started = Instant::now();
    let Outcome::Done {
        report: Erased { rows, .. },
        ..
    } = landing.erase(0, &holds[&0], &request).await?
    else {
        anyhow::bail!("erasure did not finish on partition 0");
    };
    erase_times.push(started.elapsed());
    removed += rows;
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        ms(&v[v.len() / 2])
    };
    println!("events           {events} over {HOURS} h, {files} merged files");
    println!("person's clicks  {removed} removed");
    println!(
        "erasure          {:.0} ms per partition (partitions: {})",
        median(&mut erase_times.clone()),
        erase_times
            .iter()
            .map(|d| format!("{:.0}", ms(d)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "erasure, all     {:.0} ms (one partition after another, as one process's holders do)",
        erase_times.iter().map(ms).sum::<f64>()
    );
    let (alone_ms, during_ms) = (median(&mut alone), median(&mut during));
    println!(
        "landing 100      {alone_ms:.1} ms alone, {during_ms:.1} ms during an erasure of another partition ({:.2}x, {} landings)",
        during_ms / alone_ms,
        during.len()
    );
    println!("erased partition's next landing waits for its erasure");
    Ok(())
}

async fn land(
    landing: &Lake,
    partition: i32,
    held: &Held,
    batch: &[TopicRecord],
) -> anyhow::Result<Held> {
    match landing.land(partition, held, batch, Utc::now()).await? {
        Outcome::Done { held, .. } => Ok(held),
        other => anyhow::bail!("not landed: {other:?}"),
    }
}

/// Lands 100 new clicks of now on `partition`; how long it took.
async fn timed_landing(
    landing: &Lake,
    partition: i32,
    held: &Held,
    next: &mut BTreeMap<i32, i64>,
) -> anyhow::Result<(Duration, Held)> {
    let first = next[&partition];
    let batch: Vec<TopicRecord> = (0..100)
        .map(|n| {
            let event = common::ColorEvent::sample("now", "red", Utc::now());
            TopicRecord::classify(TOPIC, partition, first + n, Some(&event.to_json_bytes()))
        })
        .collect();
    *next.get_mut(&partition).unwrap() += 100;
    let started = Instant::now();
    let held = land(landing, partition, held, &batch).await?;
    Ok((started.elapsed(), held))
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
