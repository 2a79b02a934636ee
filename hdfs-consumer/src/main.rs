//! Lands click events from Kafka in HDFS as Hive-ready JSON-lines files. Not built yet: this
//! binary only says so, so that nothing mistakes it for a working consumer.

fn main() -> std::process::ExitCode {
    eprintln!("hdfs-consumer is not implemented yet; events stay in the Kafka topic until it is");
    std::process::ExitCode::from(2)
}
