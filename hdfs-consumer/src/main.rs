use clap::Parser;
use hdfs_consumer::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    common::telemetry::init_tracing();
    hdfs_consumer::run(config, common::shutdown::shutdown_signal()).await?;
    Ok(())
}
