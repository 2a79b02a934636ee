//! End to end on a Kafka cluster and an OpenSearch-compatible search server (osmem-server):
//! clicks POSTed to the collector become searchable documents, once each even when the topic
//! is replayed; a record the mapping refuses goes to the dead-letter topic while its
//! neighbours are indexed; the search server going away and coming back loses nothing.
//!
//! The cluster is `dev-broker`, librdkafka's mock cluster; the first test also runs on tansu,
//! an independent implementation of the Kafka protocol.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use support::collector::{RunningApi, post_clicks};
use support::osmem::Osmem;
use support::tansu::Tansu;
use support::{broker, config, produce_in_background, produce_raw, read_dead_letters, spawn_sink};

fn ids_of(ids: &[uuid::Uuid]) -> HashSet<String> {
    ids.iter().map(ToString::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs osmem-server: run scripts/test.sh"]
async fn clicks_posted_to_the_collector_become_searchable_once_even_when_replayed() {
    let topic = "select-color";
    let kafka = broker(topic, 3);
    clicks_become_searchable_once_even_when_replayed(
        &kafka.bootstrap_servers(),
        topic,
        dev_broker::client_properties(),
    )
    .await;
}

/// The smoke test on an independent implementation of the protocol. tansu 0.6.0 has known
/// defects that this test stays clear of, and that nothing here relies on:
/// - a fetch that starts inside a record batch is answered with the next batch, so a consumer
///   resuming mid-batch (after a restart, a rebalance, a pause) silently misses records; here
///   one sink per group reads each partition from its start, once;
/// - after a member dies, its groups can leave partitions unassigned for minutes; nothing dies
///   here.
///
/// The sink runs on its shipped consumer settings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu and osmem-server: run scripts/test.sh"]
async fn on_tansu_clicks_posted_to_the_collector_become_searchable() {
    let tansu = Tansu::start();
    let topic = format!("select-color-{}", uuid::Uuid::now_v7());
    tansu.create_topic(&topic, 3).await;
    tansu.create_topic(&format!("{topic}-dlq"), 1).await;
    clicks_become_searchable_once_even_when_replayed(&tansu.bootstrap, &topic, Vec::new()).await;
}

/// Clicks POSTed to the collector on `bootstrap`, indexed by a sink with `kafka_properties`,
/// are searchable documents field by field; a second group replaying the topic adds none.
async fn clicks_become_searchable_once_even_when_replayed(
    bootstrap: &str,
    topic: &str,
    kafka_properties: Vec<(String, String)>,
) {
    let osmem = Osmem::start();
    let mut api_config = producer_api::Config::for_brokers(bootstrap);
    api_config.kafka.topic = topic.to_owned();
    let api = RunningApi::start(api_config).await;

    let mut sink_config = config(bootstrap, topic, osmem.url());
    sink_config.kafka.properties = kafka_properties;
    let prefix = sink_config.search.es_index_prefix.clone();
    let sink = spawn_sink(sink_config.clone()).await;

    let client = reqwest::Client::builder()
        .user_agent("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
        .build()
        .unwrap();
    let sent = post_clicks(&client, &api, 60, |n| format!("사용자 <b>{n}</b>")).await;
    assert_eq!(
        osmem
            .wait_for_count(&prefix, 60, Duration::from_secs(60))
            .await,
        60
    );
    assert_eq!(
        osmem.ids(&prefix).await,
        ids_of(&sent),
        "document _id is the eventId"
    );

    // The documents are the events, in daily indices, mapped by the template.
    let search = |body: serde_json::Value| {
        let request = client
            .post(format!("{}{prefix}-*/_search", osmem.url()))
            .json(&body);
        async move {
            request
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let found = search(serde_json::json!({
        "query": { "term": { "eventId": sent[0].to_string() } }
    }))
    .await;
    let hit = &found["hits"]["hits"][0];
    let today = chrono::Utc::now().format("%Y.%m.%d").to_string();
    assert_eq!(hit["_index"], format!("{prefix}-{today}"));
    assert_eq!(hit["_source"]["userName"], "사용자 <b>0</b>");
    assert_eq!(hit["_source"]["colorName"], "red");
    assert_eq!(hit["_source"]["browser"]["name"], "Firefox");
    let counts = search(serde_json::json!({
        "size": 0,
        "aggs": { "colours": { "terms": { "field": "colorName" } },
                  "browsers": { "terms": { "field": "browser.name" } } }
    }))
    .await;
    let buckets = counts["aggregations"]["colours"]["buckets"]
        .as_array()
        .unwrap();
    assert_eq!(buckets.len(), 3);
    assert!(buckets.iter().all(|b| b["doc_count"] == 20), "{buckets:?}");
    assert_eq!(
        counts["aggregations"]["browsers"]["buckets"][0]["key"],
        "Firefox"
    );
    let mapping = osmem.mapping(&format!("{prefix}-{today}")).await;
    let properties = &mapping[format!("{prefix}-{today}")]["mappings"]["properties"];
    assert_eq!(properties["colorName"]["type"], "keyword");
    assert_eq!(properties["timestamp"]["type"], "date");
    assert_eq!(
        properties["userName"]["fields"]["keyword"]["type"],
        "keyword"
    );
    assert_eq!(sink.metric("es_sink_indexed_total").await, Some(60.0));
    sink.stop().await;
    api.stop().await;

    // A new group replays the whole topic: every document is overwritten, none added.
    let mut replay_config = sink_config;
    replay_config.sink.group_id = format!("es-sink-replay-{}", uuid::Uuid::now_v7());
    let replay = spawn_sink(replay_config).await;
    support::wait_until(Duration::from_secs(60), || {
        let replay = &replay;
        async move { replay.metric("es_sink_indexed_total").await >= Some(60.0) }
    })
    .await;
    assert_eq!(
        replay.metric("es_sink_indexed_total").await,
        Some(60.0),
        "the replay indexed every record again"
    );
    assert_eq!(osmem.count(&prefix).await, 60, "and the count did not move");
    replay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs osmem-server: run scripts/test.sh"]
async fn a_record_the_mapping_refuses_is_dead_lettered_while_its_neighbours_are_indexed() {
    let topic = "select-color";
    let kafka = broker(topic, 1);
    let bootstrap = kafka.bootstrap_servers();
    let osmem = Osmem::start();
    let dead_letter_topic = format!("{topic}-dlq");

    let event = |name: &str| common::ColorEvent::sample(name, "blue", chrono::Utc::now());
    let first = event("first");
    let last = event("last");
    // A newer producer added a field the index template does not know: the event itself is
    // fine for this sink, the strict mapping refuses it.
    let mut newer: serde_json::Value = serde_json::to_value(event("newer")).unwrap();
    newer["mood"] = "happy".into();
    let newer = serde_json::to_vec(&newer).unwrap();
    let not_json = b"{\"userName\": oops".to_vec();
    produce_raw(
        &bootstrap,
        topic,
        0,
        &[
            &first.to_json_bytes(),
            &newer,
            &not_json,
            &last.to_json_bytes(),
        ],
    );

    let sink_config = config(&bootstrap, topic, osmem.url());
    let prefix = sink_config.search.es_index_prefix.clone();
    let sink = spawn_sink(sink_config.clone()).await;
    assert_eq!(
        osmem
            .wait_for_count(&prefix, 2, Duration::from_secs(30))
            .await,
        2
    );
    let dlq = dead_letter_topic.clone();
    let reader_bootstrap = bootstrap.clone();
    let letters = tokio::task::spawn_blocking(move || {
        read_dead_letters(&reader_bootstrap, &dlq, 2, Duration::from_secs(30))
    })
    .await
    .unwrap();
    assert_eq!(letters.len(), 2);
    let at_offset = |offset: &str| {
        letters
            .iter()
            .find(|l| l.headers.get("source.offset").map(String::as_str) == Some(offset))
            .unwrap_or_else(|| panic!("no dead letter for offset {offset}: {letters:?}"))
    };
    assert_eq!(
        osmem.ids(&prefix).await,
        ids_of(&[first.event_id, last.event_id]),
        "the neighbours are indexed"
    );

    let refused = at_offset("1");
    assert_eq!(
        refused.payload.as_deref(),
        Some(newer.as_slice()),
        "the original record"
    );
    assert_eq!(refused.headers["source.topic"], topic);
    assert_eq!(refused.headers["source.partition"], "0");
    assert_eq!(refused.headers["source.offset"], "1");
    assert_eq!(
        refused.headers["error.kind"],
        "strict_dynamic_mapping_exception"
    );
    assert_eq!(refused.headers["error.status"], "400");
    assert!(
        refused.headers["error.reason"].contains("mood"),
        "{:?}",
        refused.headers
    );

    let invalid = at_offset("2");
    assert_eq!(invalid.payload.as_deref(), Some(not_json.as_slice()));
    assert_eq!(invalid.headers["source.offset"], "2");
    assert_eq!(invalid.headers["error.kind"], "invalid_event");
    assert!(!invalid.headers.contains_key("error.status"));

    assert_eq!(
        sink.metric("es_sink_dead_lettered_total{reason=\"strict_dynamic_mapping_exception\"}")
            .await,
        Some(1.0)
    );
    assert_eq!(
        sink.metric("es_sink_dead_lettered_total{reason=\"invalid_event\"}")
            .await,
        Some(1.0)
    );
    sink.stop().await;

    // Offsets moved past all four records: the group reads nothing again.
    let again = spawn_sink(sink_config).await;
    support::wait_until(Duration::from_secs(30), || {
        let again = &again;
        async move { again.metric("es_sink_assigned_partitions").await == Some(1.0) }
    })
    .await;
    // Its statistics report the partition at zero lag: the group's committed offset is the
    // end of the topic, and the fetch from there brought nothing.
    assert!(
        support::wait_until(Duration::from_secs(30), || {
            let again = &again;
            async move {
                again
                    .series("es_sink_lag")
                    .await
                    .is_some_and(|lags| lags.iter().any(|(_, lag)| *lag == 0.0))
            }
        })
        .await,
        "the partition's lag never read zero: {:?}",
        again.series("es_sink_lag").await
    );
    assert_eq!(again.metric("es_sink_consumed_total").await, Some(0.0));
    again.stop().await;
}

/// A pause and resume: while the server is gone the sink pauses its partitions, and resumes
/// them where it stopped, inside the multi-record batches the events were produced in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs osmem-server: run scripts/test.sh"]
async fn the_search_server_stopped_and_restarted_mid_stream_loses_nothing() {
    let topic = "select-color";
    let kafka = broker(topic, 3);
    let bootstrap = kafka.bootstrap_servers();
    let mut osmem = Osmem::start();
    let port = osmem.port;
    let produce_async = |count: usize| produce_in_background(&bootstrap, topic, 3, count);

    let sink_config = config(&bootstrap, topic, osmem.url());
    let prefix = sink_config.search.es_index_prefix.clone();
    let sink = spawn_sink(sink_config).await;
    let before = produce_async(200).await.unwrap();
    assert_eq!(
        osmem
            .wait_for_count(&prefix, 200, Duration::from_secs(60))
            .await,
        200
    );
    // The server holding them is not enough: the sink must have had every answer, or a bulk
    // answered after the stop below is retried, and its records count as lag too.
    assert!(
        support::wait_until(Duration::from_secs(30), || async {
            sink.metric("es_sink_indexed_total").await >= Some(200.0)
        })
        .await,
        "the sink never heard that the first 200 were indexed"
    );

    osmem.stop();
    let during = produce_async(300).await.unwrap();
    let noticed = support::wait_until(Duration::from_secs(30), || {
        let sink = &sink;
        async move {
            sink.metric("es_sink_retried_total{reason=\"unreachable\"}")
                .await
                > Some(0.0)
                && sink.metric("es_sink_paused").await == Some(1.0)
        }
    })
    .await;
    assert!(
        noticed,
        "the sink retried and paused consumption while the server was gone"
    );
    assert!(
        sink.becomes_unready(Duration::from_secs(10)).await,
        "not ready without a cluster"
    );
    // Lag keeps counting while nothing is indexed: the 300 records of the outage.
    let lag_total = || async {
        let lags = sink.series("es_sink_lag").await;
        lags.map(|lags| lags.iter().map(|(_, lag)| lag).sum::<f64>())
    };
    assert!(
        support::wait_until(Duration::from_secs(30), || async {
            lag_total().await == Some(300.0)
        })
        .await,
        "lag did not count the records waiting for the server: {:?}",
        lag_total().await
    );

    // An in-memory server comes back empty; every event produced while it was gone must
    // arrive, under the template's mappings.
    let osmem = Osmem::start_on(port);
    let after = produce_async(100).await.unwrap();
    let expected: HashSet<String> = ids_of(&during).union(&ids_of(&after)).cloned().collect();
    // Whether it all arrived in time, the checks below say, counting what is missing.
    let indexed = support::wait::poll_until(
        Duration::from_secs(90),
        || osmem.ids(&prefix),
        |indexed| expected.is_subset(indexed),
    )
    .await;
    let missing = expected.difference(&indexed).count();
    assert_eq!(
        missing, 0,
        "{missing} events produced during or after the outage were lost"
    );
    let all: HashSet<String> = expected.union(&ids_of(&before)).cloned().collect();
    assert!(
        indexed.is_subset(&all),
        "nothing but produced events is indexed"
    );
    let mapping = osmem.mapping(&format!("{prefix}-*")).await;
    let index = mapping.as_object().unwrap().values().next().unwrap();
    assert_eq!(
        index["mappings"]["dynamic"], "strict",
        "the template was put again before the first index was created"
    );
    sink.stop().await;
}

/// Whether the search server holds index template `name`.
async fn has_template(osmem: &Osmem, name: &str) -> bool {
    let url = format!("{}_index_template/{name}", osmem.url());
    let response = reqwest::get(url).await.unwrap();
    match response.status().as_u16() {
        200 => true,
        404 => false,
        other => panic!("the template lookup answered {other}"),
    }
}

/// The Docker stack's split: a setup job, holding the template privilege, puts the template and
/// stops (`ES_TEMPLATE=install-and-exit`); the running sink (`installed`) never puts one, so its
/// user needs no privilege beyond its own indices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs osmem-server: run scripts/test.sh"]
async fn a_setup_job_puts_the_template_and_the_sink_that_trusts_it_puts_none() {
    let topic = "select-color";
    let kafka = broker(topic, 3);
    let osmem = Osmem::start();
    let mut job = config(&kafka.bootstrap_servers(), topic, osmem.url());
    job.template = es_sink::config::TemplateSetup::InstallAndExit;
    let prefix = job.search.es_index_prefix.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ran = tokio::time::timeout(
        Duration::from_secs(60),
        es_sink::serve(listener, job, std::future::pending()),
    )
    .await
    .expect("the setup job stops once the template is in place");
    ran.unwrap();
    assert!(has_template(&osmem, &prefix).await);

    // A sink told the template is installed, on a prefix that has none: it indexes, and puts
    // no template.
    let mut sink_config = config(&kafka.bootstrap_servers(), topic, osmem.url());
    sink_config.template = es_sink::config::TemplateSetup::Installed;
    let bare_prefix = sink_config.search.es_index_prefix.clone();
    let sink = spawn_sink(sink_config).await;
    support::produce(&kafka.bootstrap_servers(), topic, 3, 5);
    assert_eq!(
        osmem
            .wait_for_count(&bare_prefix, 5, Duration::from_secs(60))
            .await,
        5
    );
    sink.stop().await;
    assert!(!has_template(&osmem, &bare_prefix).await);
}
