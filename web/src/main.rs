use anyhow::Context;
use clap::Parser;
use web::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    common::telemetry::init(&config.log, "info");
    let listener = tokio::net::TcpListener::bind(config.listen_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen_addr))?;
    web::serve(listener, &config, common::shutdown::shutdown_signal()).await?;
    Ok(())
}
