use clap::Parser;
use es_sink::Config;

fn main() -> anyhow::Result<()> {
    common::allocator::configure_for_a_sink();
    tokio::runtime::Runtime::new()?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let config = Config::parse();
    let admin = common::host::start_sink(&config.log, "info", config.sink.admin_addr).await?;
    es_sink::serve(admin, config, common::shutdown::shutdown_signal()).await?;
    Ok(())
}
