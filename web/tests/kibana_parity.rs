//! The results page and the Kibana dashboard the Docker stack imports show the same numbers for
//! the same data. One index, filled as es-sink fills it (its template, its documents); each
//! saved visualization's aggregations are turned into the request Kibana sends for them, and
//! their answers are compared with what the page shows: clicks per colour, per minute and
//! colour, per browser and OS.
//!
//! Kibana applies the dashboard's time range to every panel; the clicks here are all within the
//! last hour, which is the range the page's "over time" chart covers, so the ranges agree.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use clap::Parser;
use common::{BrowserInfo, ColorEvent};
use serde_json::{Value, json};
use test_support::osmem::Osmem;
use web::results::Answer;

const PREFIX: &str = "web-events";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs osmem-server: run scripts/test.sh"]
async fn the_page_and_the_kibana_dashboard_count_the_same_clicks() {
    let search = Osmem::start();
    search
        .put_template(PREFIX, &es_sink::template::index_template(PREFIX))
        .await;

    // Clicks over the last 50 minutes, in palette colours and one the palette does not have,
    // from several browsers, as es-sink indexes them (the event's JSON, its id the `_id`).
    let now = Utc::now();
    let browsers = [
        ("Chrome", "Linux"),
        ("Chrome", "Windows 10"),
        ("Firefox", "Linux"),
        ("Safari", "iPhone"),
    ];
    let colours = [
        "red", "red", "blue", "green", "purple", "teal", "red", "yellow",
    ];
    let mut docs = Vec::new();
    for n in 0..240_i64 {
        let at = now - TimeDelta::seconds(n * 12 + 5);
        let mut event = ColorEvent::sample("parity", colours[(n as usize * 7) % colours.len()], at);
        let (name, os) = browsers[(n as usize * 5) % browsers.len()];
        event.browser = BrowserInfo {
            name: name.into(),
            os: os.into(),
            ..BrowserInfo::unknown()
        }
        .into();
        let raw = event.to_json_bytes();
        docs.push(es_sink::bulk::BulkDoc::for_event(
            PREFIX, &event, &raw, 0, n,
        ));
    }
    let indexed = search.bulk(es_sink::bulk::encode(&docs)).await;
    assert_eq!(indexed["errors"], false, "{indexed}");

    // What the page shows.
    let config = web::Config::parse_from(["web", "--es-url", search.url().as_str()]);
    let results = web::Results::new(&config).unwrap();
    let data = results.page_data(&[]).await;
    let Answer::Ok(overview) = &data.snapshot.overview else {
        panic!("the page shows no results: {:?}", data.snapshot.overview);
    };
    let page_colours: BTreeMap<String, u64> = overview
        .colours
        .iter()
        .filter(|c| c.count > 0)
        .map(|c| (c.colour.clone(), c.count))
        .collect();
    let page_minutes: BTreeMap<(i64, String), u64> = overview
        .per_minute
        .iter()
        .flat_map(|m| {
            m.colours
                .iter()
                .filter(|(_, count)| *count > 0)
                .map(move |(colour, count)| ((m.minute.timestamp_millis(), colour.clone()), *count))
        })
        .collect();
    let page_browsers: BTreeMap<(String, String), u64> = overview
        .browsers
        .iter()
        .map(|b| ((b.browser.clone(), b.os.clone()), b.count))
        .collect();
    assert_eq!(overview.total, 240);

    // What Kibana shows, from the saved objects the stack imports.
    let visualizations = saved_visualizations();
    let since = now - TimeDelta::hours(1);
    let ask = async |aggs: Value| {
        let answer = search
            .search(
                &format!("{PREFIX}-*"),
                &json!({
                    "size": 0,
                    "query": { "range": { "timestamp": {
                        "gte": since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true) } } },
                    "aggs": aggs
                }),
            )
            .await;
        assert!(answer.get("error").is_none(), "{answer}");
        answer["aggregations"].clone()
    };

    let pie = ask(kibana_aggs(&visualizations["web-events-colour-counts"])).await;
    let kibana_colours: BTreeMap<String, u64> = leaves(&pie, 1)
        .into_iter()
        .map(|(keys, count)| (keys[0].clone(), count))
        .collect();
    assert_eq!(page_colours, kibana_colours, "clicks per colour");
    assert!(kibana_colours.contains_key("teal"));

    let histogram = ask(kibana_aggs(&visualizations["web-events-over-time"])).await;
    let kibana_minutes: BTreeMap<(i64, String), u64> = leaves(&histogram, 2)
        .into_iter()
        .map(|(keys, count)| ((keys[0].parse().unwrap(), keys[1].clone()), count))
        .collect();
    assert_eq!(page_minutes, kibana_minutes, "clicks per minute and colour");

    let table = ask(kibana_aggs(&visualizations["web-events-browsers"])).await;
    let kibana_browsers: BTreeMap<(String, String), u64> = leaves(&table, 2)
        .into_iter()
        .map(|(keys, count)| ((keys[0].clone(), keys[1].clone()), count))
        .collect();
    assert_eq!(page_browsers, kibana_browsers, "clicks per browser and OS");

    // The minute buckets are the page's whole minutes.
    for (minute, _) in page_minutes.keys() {
        let at = DateTime::<Utc>::from_timestamp_millis(*minute).unwrap();
        assert_eq!(at, at.duration_trunc(TimeDelta::minutes(1)).unwrap());
    }
}

/// The saved visualizations, by id, with their `visState` parsed.
fn saved_visualizations() -> BTreeMap<String, Value> {
    test_support::kibana::saved_objects()
        .into_iter()
        .filter(|object| object["type"] == "visualization")
        .map(|object| {
            let state: Value =
                serde_json::from_str(object["attributes"]["visState"].as_str().unwrap()).unwrap();
            (object["id"].as_str().unwrap().to_owned(), state)
        })
        .collect()
}

/// The request body Kibana's classic visualizations send for a `visState`: its bucket
/// aggregations nested in the order they are listed, the count metric being each bucket's
/// `doc_count`. `interval: auto` over a one-hour range is one minute in Kibana.
fn kibana_aggs(state: &Value) -> Value {
    let buckets: Vec<&Value> = state["aggs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|agg| agg["enabled"] == true && agg["type"] != "count")
        .collect();
    let mut nested = Value::Null;
    for agg in buckets.iter().rev() {
        let params = &agg["params"];
        let mut body = match agg["type"].as_str().unwrap() {
            "terms" => {
                assert_eq!(params["orderBy"], "1", "ordered by the count metric");
                json!({ "terms": {
                    "field": params["field"],
                    "size": params["size"],
                    "order": { "_count": params["order"] }
                } })
            }
            "date_histogram" => {
                assert_eq!(params["interval"], "auto");
                json!({ "date_histogram": {
                    "field": params["field"],
                    "fixed_interval": "1m",
                    "min_doc_count": params["min_doc_count"]
                } })
            }
            other => {
                panic!("an aggregation Kibana's panel uses that this test cannot send: {other}")
            }
        };
        if !nested.is_null() {
            body["aggs"] = nested;
        }
        nested = json!({ agg["id"].as_str().unwrap(): body });
    }
    nested
}

/// The deepest buckets of a nested answer, `depth` levels down, as (keys, doc_count).
fn leaves(aggregations: &Value, depth: usize) -> Vec<(Vec<String>, u64)> {
    let (_, aggregation) = aggregations
        .as_object()
        .unwrap()
        .iter()
        .next()
        .expect("one aggregation per level");
    let mut out = Vec::new();
    for bucket in aggregation["buckets"].as_array().unwrap() {
        let key = match &bucket["key"] {
            Value::String(key) => key.clone(),
            other => other.to_string(),
        };
        if depth == 1 {
            out.push((vec![key], bucket["doc_count"].as_u64().unwrap()));
        } else {
            let below = bucket
                .as_object()
                .unwrap()
                .iter()
                .filter(|(name, value)| value.get("buckets").is_some() && !name.is_empty())
                .map(|(name, value)| json!({ name.clone(): value.clone() }))
                .next()
                .expect("a nested aggregation");
            for (mut keys, count) in leaves(&below, depth - 1) {
                keys.insert(0, key.clone());
                out.push((keys, count));
            }
        }
    }
    out
}
