//! A person's path, in a real browser: headless Chromium opens the page, types a name, clicks
//! every colour, then clicks offline, during a 503, across a reload and just before leaving;
//! the events are read back from an in-memory Kafka cluster (`dev-broker`), each exactly once.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use producer_api::Config;
use support::{RunningApi, read_topic_async, topic_size};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and playwright-core: run scripts/test.sh"]
async fn a_person_clicks_every_colour_and_each_click_reaches_the_topic() {
    let kafka = dev_broker::DevBroker::start(3, &[dev_broker::TopicSpec::clicks()]).unwrap();
    let bootstrap = kafka.bootstrap_servers();
    let topic = common::kafka::DEFAULT_TOPIC;

    let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (api_addr, web_addr) = (
        api_listener.local_addr().unwrap(),
        web_listener.local_addr().unwrap(),
    );

    let mut api_config = Config::for_brokers(&bootstrap);
    api_config.kafka.topic = topic.to_owned();
    api_config.cors_allowed_origins = vec![format!("http://{web_addr}").parse().unwrap()];
    let api = RunningApi::start_on(api_listener, api_config);

    let web_config =
        web::Config::parse_from(["web", "--api-base-url", &format!("http://{api_addr}")]);
    let (stop_web, web_stopped) = tokio::sync::oneshot::channel::<()>();
    let web_task = tokio::spawn(async move {
        web::serve(web_listener, &web_config, async {
            let _ = web_stopped.await;
        })
        .await
    });

    // Markup in a name must show as text; Korean and emoji must survive the whole path.
    let user_name = "민수 🎨 <img src=x onerror=alert(1)>";
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../web/tests/browser/click-every-colour.mjs");
    let run = tokio::process::Command::new("node")
        .arg(&script)
        .arg(format!("http://{web_addr}/"))
        .arg(user_name)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the browser run finished within its deadline")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "browser run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(stdout.trim()).expect("the script prints one JSON line");
    let colours: Vec<String> = serde_json::from_value(report["colours"].clone()).unwrap();
    assert_eq!(
        colours,
        ["red", "orange", "yellow", "green", "blue", "purple"]
    );

    // Every click the person made, the lost-connection ones included, reaches the topic
    // exactly once: no more records than clicks, and every click's colour among them.
    let sent: Vec<String> = serde_json::from_value(report["sent"].clone()).unwrap();
    assert!(sent.len() > colours.len(), "{report}");
    let landed = read_topic_async(&bootstrap, topic, 3, sent.len(), Duration::from_secs(60)).await;
    let mut landed_colours: Vec<String> =
        landed.iter().map(|r| r.event.color_name.clone()).collect();
    landed_colours.sort();
    let mut expected = sent.clone();
    expected.sort();
    assert_eq!(
        landed_colours, expected,
        "one event per click, no more, no less"
    );
    let ids: std::collections::HashSet<_> = landed.iter().map(|r| r.event.event_id).collect();
    assert_eq!(ids.len(), sent.len(), "an event id landed twice");
    assert_eq!(
        topic_size(&bootstrap, topic, common::kafka::DEMO_PARTITIONS),
        sent.len(),
        "more records in the topic than clicks"
    );
    for record in &landed {
        let event = &record.event;
        assert_eq!(event.user_name, user_name);
        assert!(event.user_agent.contains("Chrome"), "{}", event.user_agent);
        assert_eq!(event.browser.os, "Linux");
        let client_time = event
            .client_timestamp
            .expect("the page sends its click time");
        assert!((event.timestamp - client_time).num_seconds().abs() < 60);
        assert_eq!(
            event.event_id.get_version_num(),
            7,
            "the page makes a UUID v7"
        );
    }

    let _ = stop_web.send(());
    web_task.await.unwrap().unwrap();
    api.stop().await;
}
