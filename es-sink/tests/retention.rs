//! Forgetting on time in the search cluster: with `RETENTION`, clicks older than it are deleted
//! and younger ones kept, by every sink process at once, which is harmless.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use common::ColorEvent;
use support::osmem::Osmem;
use support::{broker, config, spawn_sink};

const RETENTION: Duration = Duration::from_secs(2 * 86_400);

/// `count` clicks `age` before now, a minute apart going back.
fn clicks_aged(age: TimeDelta, count: i64, name: &str) -> Vec<ColorEvent> {
    let now = Utc::now();
    (0..count)
        .map(|n| ColorEvent::sample(name, "red", now - age - TimeDelta::minutes(n)))
        .collect()
}

fn ids(events: &[ColorEvent]) -> HashSet<String> {
    events.iter().map(|e| e.event_id.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs osmem-server: run scripts/test.sh"]
async fn two_sinks_delete_clicks_older_than_the_retention_and_keep_the_rest() {
    let topic = "select-color";
    let kafka = broker(topic, 3);
    let osmem = Osmem::start();
    let mut sink_config = config(&kafka.bootstrap_servers(), topic, osmem.url());
    sink_config.retention = Some(RETENTION);
    let prefix = sink_config.search.es_index_prefix.clone();
    // Two processes of one group, each sweeping on its own.
    let first = spawn_sink(sink_config.clone()).await;
    let second = spawn_sink(sink_config).await;

    // Clicks of four and three days ago (whole days past the limit), an hour past the limit
    // (the day it falls in, in part, or a whole day), and young ones: an hour inside the
    // limit, and now.
    let old: Vec<ColorEvent> = [
        clicks_aged(TimeDelta::days(4), 40, "old"),
        clicks_aged(TimeDelta::days(3), 40, "old"),
        clicks_aged(TimeDelta::days(2) + TimeDelta::hours(1), 40, "old"),
    ]
    .concat();
    let young: Vec<ColorEvent> = [
        clicks_aged(TimeDelta::days(2) - TimeDelta::hours(1), 40, "young"),
        clicks_aged(TimeDelta::zero(), 40, "young"),
    ]
    .concat();
    let all: Vec<ColorEvent> = old.iter().chain(&young).cloned().collect();
    let bootstrap = kafka.bootstrap_servers();
    tokio::task::spawn_blocking(move || {
        test_support::produce::produce_events(&bootstrap, topic, 3, &all)
    })
    .await
    .unwrap();

    // Within a sweep of being indexed, only the young ones are left.
    let (old_ids, young_ids) = (ids(&old), ids(&young));
    let settled = test_support::wait_until(Duration::from_secs(90), || async {
        let found = osmem.ids(&prefix).await;
        found == young_ids
    })
    .await;
    let found = osmem.ids(&prefix).await;
    assert!(
        settled,
        "{} old clicks still there, {} of {} young ones found",
        found.intersection(&old_ids).count(),
        found.intersection(&young_ids).count(),
        young_ids.len()
    );

    // Both swept, neither failed: deleting what the other deleted is no error.
    let mut deleted = 0.0;
    for sink in [&first, &second] {
        let failures =
            test_support::metrics::series(sink.admin, "es_sink_expiry_failures_total").await;
        let failures = failures.expect("the sink answers");
        assert_eq!(failures, [(String::new(), 0.0)]);
        for family in [
            "es_sink_expired_indices_total",
            "es_sink_expired_documents_total",
        ] {
            let series = test_support::metrics::series(sink.admin, family)
                .await
                .expect("the sink answers");
            assert_eq!(series.len(), 1, "{family}: {series:?}");
            deleted += series[0].1;
        }
    }
    assert!(deleted > 0.0);
    first.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs osmem-server: run scripts/test.sh"]
async fn two_sweeps_at_once_delete_each_click_once_and_a_third_finds_nothing() {
    let osmem = Osmem::start();
    let config = config("127.0.0.1:9", "unused", osmem.url());
    let prefix = config.search.es_index_prefix.clone();
    osmem
        .put_template(&prefix, &es_sink::template::index_template(&prefix))
        .await;
    let now = Utc::now();
    let limit: DateTime<Utc> = now - TimeDelta::from_std(RETENTION).unwrap();
    // Four whole days past the limit, ten clicks each; the limit's own day, a click every
    // hour of it; two younger days.
    let mut events = Vec::new();
    for days in 3..7 {
        events.extend(clicks_aged(TimeDelta::days(days), 10, "old"));
    }
    let limit_day = limit.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
    for hour in 0..24 {
        events.push(ColorEvent::sample(
            "that day",
            "blue",
            limit_day + TimeDelta::hours(hour),
        ));
    }
    events.extend(clicks_aged(TimeDelta::days(1), 10, "young"));
    events.extend(clicks_aged(TimeDelta::zero(), 10, "young"));
    let docs: Vec<_> = events
        .iter()
        .zip(0..)
        .map(|(e, offset)| {
            es_sink::bulk::BulkDoc::for_event(&prefix, e, &e.to_json_bytes(), 0, offset)
        })
        .collect();
    let answer = osmem.bulk(es_sink::bulk::encode(&docs)).await;
    assert_eq!(answer["errors"], false, "{answer}");
    let whole_days: HashSet<&str> = docs
        .iter()
        .zip(&events)
        .filter(|(_, e)| e.timestamp < limit_day)
        .map(|(d, _)| d.index.as_str())
        .collect();
    let older_that_day = events
        .iter()
        .filter(|e| e.timestamp >= limit_day && e.timestamp < limit)
        .count() as u64;

    let (a, b) = (
        es_sink::elastic::Elastic::connect(&config.search, true).unwrap(),
        es_sink::elastic::Elastic::connect(&config.search, true).unwrap(),
    );
    let (first, second) = tokio::join!(
        es_sink::retention::sweep(&a, RETENTION, now),
        es_sink::retention::sweep(&b, RETENTION, now)
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(
        first.0 + second.0,
        whole_days.len() as u64,
        "{first:?} {second:?}"
    );
    assert_eq!(first.1 + second.1, older_that_day, "{first:?} {second:?}");
    assert_eq!(
        es_sink::retention::sweep(&a, RETENTION, now).await.unwrap(),
        (0, 0)
    );
    let kept = osmem.ids(&prefix).await;
    let want: HashSet<String> = events
        .iter()
        .filter(|e| e.timestamp >= limit)
        .map(|e| e.event_id.to_string())
        .collect();
    assert_eq!(kept, want);
}
