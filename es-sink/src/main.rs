use clap::Parser;
use es_sink::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let admin = common::host::start_sink(&config.log, "info", config.sink.admin_addr).await?;
    es_sink::serve(admin, config, common::shutdown::shutdown_signal()).await?;
    Ok(())
}
