use clap::Parser;
use dev_broker::{CLIENT_PROPERTIES, Config, DevBroker};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    if config.print_client_properties {
        println!("{CLIENT_PROPERTIES}");
        return Ok(());
    }
    common::telemetry::init_on_stderr(&config.log);
    let broker = DevBroker::from_config(&config)?;
    // The first line of standard output is the contract with whoever started us.
    println!("{}", broker.bootstrap_servers());
    let topics: Vec<String> = config.topics.iter().map(ToString::to_string).collect();
    tracing::info!(
        bootstrap = broker.bootstrap_servers(),
        brokers = config.brokers,
        topics = topics.join(","),
        "in-memory Kafka cluster up (librdkafka's mock cluster; not for production)"
    );
    let (stdin_closed_tx, stdin_closed) = tokio::sync::oneshot::channel::<()>();
    if !config.ignore_stdin {
        // A detached thread: a blocking read would keep a runtime from shutting down.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            let _ = stdin_closed_tx.send(());
        });
    }
    tokio::select! {
        () = common::shutdown::shutdown_signal() => {}
        Ok(()) = stdin_closed => tracing::info!("standard input closed; stopping"),
    }
    drop(broker);
    tracing::info!("in-memory Kafka cluster stopped; its records are gone");
    Ok(())
}
