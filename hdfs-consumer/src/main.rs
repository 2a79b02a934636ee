use clap::Parser;
use hdfs_consumer::Config;

/// hdfs-native warns on every landing (OpenDAL's rename makes an empty target first and drops
/// its writer) and on every retry against a namenode or datanode that is away, naming neither;
/// the consumer's own logs say which storage and which operation failed.
const LOG_FILTER: &str = "info,hdfs_native=error";

fn main() -> anyhow::Result<()> {
    common::allocator::configure_for_a_sink();
    tokio::runtime::Runtime::new()?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let config = Config::parse();
    let admin = common::host::start_sink(&config.log, LOG_FILTER, config.sink.admin_addr).await?;
    hdfs_consumer::serve(admin, config, common::shutdown::shutdown_signal()).await?;
    Ok(())
}
