//! Indexes click events from Kafka into Elasticsearch. Not built yet: this binary only says
//! so, so that nothing mistakes it for a working sink.

fn main() -> std::process::ExitCode {
    eprintln!("es-sink is not implemented yet; events stay in the Kafka topic until it is");
    std::process::ExitCode::from(2)
}
