use clap::Parser;
use hdfs_consumer::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    // hdfs-native warns on every landing (OpenDAL's rename makes an empty target first and
    // drops its writer) and on every retry against a namenode or datanode that is away, naming
    // neither; the consumer's own logs say which storage and which operation failed.
    common::telemetry::init(&config.log, "info,hdfs_native=error");
    common::allocator::return_large_blocks_to_the_system();
    let admin = common::host::bind(config.sink.admin_addr).await?;
    hdfs_consumer::serve(admin, config, common::shutdown::shutdown_signal()).await?;
    Ok(())
}
