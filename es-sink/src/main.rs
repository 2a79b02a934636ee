use clap::Parser;
use es_sink::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    common::telemetry::init(&config.log, "info");
    common::allocator::return_large_blocks_to_the_system();
    let admin = common::host::bind(config.sink.admin_addr).await?;
    es_sink::serve(admin, config, common::shutdown::shutdown_signal()).await?;
    Ok(())
}
