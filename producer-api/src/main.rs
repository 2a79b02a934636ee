use clap::Parser;
use producer_api::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    common::telemetry::init(&config.log, "info");
    producer_api::run(config, common::shutdown::shutdown_signal()).await?;
    Ok(())
}
