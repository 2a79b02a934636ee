//! Prints the click events landed under a landing root as JSON lines, one event per line,
//! whatever format they landed in (Parquet files are read by column and printed as the event's
//! JSON): how a person sees a click arrive in the lake as text.
//!
//! cargo run -q -p lake --example cat_landed -- LANDING_URL [topic]
//!
//! LANDING_URL is what hdfs-consumer was given: file:///dir, /dir or hdfs://namenode:port/dir.
//! Files are read in name order, so an hour's events come together.

use std::io::Write;

use common::kafka::DEFAULT_TOPIC;
use lake::LandingFormat;
use lake::storage::{operator_for, parse_landing_url};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: cat_landed LANDING_URL [topic]"))?;
    let topic = args.next().unwrap_or_else(|| DEFAULT_TOPIC.to_owned());
    let url = parse_landing_url(&url).map_err(anyhow::Error::msg)?;
    let op = operator_for(&url)?;
    let mut files: Vec<String> = op
        .list_with(&format!("{topic}/"))
        .recursive(true)
        .await?
        .into_iter()
        .map(|entry| entry.path().to_owned())
        .filter(|path| path.contains("/dt=") && LandingFormat::of_path(path).is_some())
        .collect();
    files.sort();
    let mut out = std::io::stdout().lock();
    for file in files {
        let format = LandingFormat::of_path(&file).expect("kept for its format");
        for event in format.read_events(&op, &file).await? {
            out.write_all(&event.to_json_bytes())?;
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}
