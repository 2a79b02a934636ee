//! The `dev-broker` binary as a script or a person uses it: the bootstrap list on the first
//! line, the topics there with their partitions and replicas, records produced and read back
//! by separate clients, and a stop when standard input closes or a signal arrives.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use common::kafka::{ProducerTuning, consumer_config, producer_config};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use test_support::crash::{exit_within, stop_within};
use test_support::wait::wait_until_blocking;

fn start(args: &[&str]) -> (Child, String, BufReader<ChildStdout>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dev-broker"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dev-broker starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    (child, first.trim().to_owned(), stdout)
}

#[test]
fn the_first_line_is_a_bootstrap_list_that_serves_the_default_topics() {
    let (mut child, bootstrap, mut stdout) = start(&[]);
    let brokers: Vec<&str> = bootstrap.split(',').collect();
    assert_eq!(brokers.len(), 3, "{bootstrap}");
    assert!(
        brokers.iter().all(|b| b.starts_with("127.0.0.1:")),
        "{bootstrap}"
    );

    let consumer: BaseConsumer = consumer_config(&bootstrap, "metadata", "metadata")
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap();
    assert_eq!(metadata.brokers().len(), 3);
    let topic = |name: &str| {
        metadata
            .topics()
            .iter()
            .find(|t| t.name() == name)
            .unwrap_or_else(|| panic!("no topic {name}"))
    };
    let clicks = topic("select-color");
    assert_eq!(clicks.partitions().len(), 3);
    assert!(clicks.partitions().iter().all(|p| p.replicas().len() == 2));
    assert_eq!(topic("select-color-dlq").partitions().len(), 1);

    drop(child.stdin.take());
    let status = exit_within(&mut child, Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "not stopped cleanly when standard input closed: {status:?}"
    );
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert_eq!(rest, "", "standard output holds only the bootstrap list");
}

#[test]
fn records_produced_by_one_client_are_read_by_another() {
    let (mut child, bootstrap, _stdout) = start(&["--brokers", "2", "--topic", "clicks:2:2"]);
    let producer: ThreadedProducer<DefaultProducerContext> =
        producer_config(&bootstrap, "cli-test", &ProducerTuning::default())
            .create()
            .unwrap();
    let values: Vec<String> = (0..50).map(|n| format!("click {n}")).collect();
    for value in &values {
        producer
            .send(BaseRecord::<(), str>::to("clicks").payload(value))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();

    let consumer: BaseConsumer = consumer_config(&bootstrap, "reader", "reader")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..2 {
        assignment
            .add_partition_offset("clicks", partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut read = Vec::new();
    wait_until_blocking(Duration::from_secs(30), || {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            read.push(String::from_utf8(message.payload().unwrap().to_vec()).unwrap());
        }
        read.len() >= values.len()
    });
    read.sort();
    let mut expected = values.clone();
    expected.sort();
    assert_eq!(read, expected);

    let (status, _) = stop_within(&mut child, "TERM", Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "not stopped cleanly on SIGTERM: {status:?}"
    );
}

#[test]
fn client_properties_are_printed_for_scripts() {
    let output = Command::new(env!("CARGO_BIN_EXE_dev-broker"))
        .arg("--print-client-properties")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap().trim(),
        dev_broker::CLIENT_PROPERTIES
    );
}

#[test]
fn a_malformed_topic_is_refused_with_the_option_named() {
    let output = Command::new(env!("CARGO_BIN_EXE_dev-broker"))
        .args(["--topic", "clicks:three:2"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("--topic"), "{stderr}");
    assert!(output.stdout.is_empty(), "printed a bootstrap list anyway");
}
