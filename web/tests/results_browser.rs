//! On one machine, as the README says: `scripts/demo.sh`, a few clicks in headless Chromium,
//! and the results page shows them by itself: counts per colour (bars in each colour's own
//! pixels, light and dark), clicks per minute and per browser, the person's own clicks found in
//! the index, each stage's health. The search server is then frozen (SIGSTOP): the page says
//! the results are unavailable and why, while the colour page still records clicks; woken
//! (SIGCONT), the page recovers on its own. Screenshots are kept as test artifacts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use test_support::crash::send_signal as signal;
use test_support::demo::{DemoRun, Landing, target_dir};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs osmem-server, Chromium and playwright-core: run scripts/test.sh"]
async fn the_results_page_shows_the_clicks_and_says_when_search_is_down() {
    let run_dir = std::env::temp_dir().join(format!("results-page-{}", uuid::Uuid::now_v7()));
    let demo = DemoRun::start(&run_dir, Landing::Folder);
    let search_pid = demo.description.pids["osmem-server"];
    let shots = artifact_dir();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/see-the-results.mjs");
    let mut browser = tokio::process::Command::new("node")
        .arg(&script)
        .args([&demo.description.page, &demo.description.results])
        .arg(&shots)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut steps = BufReader::new(browser.stdout.take().unwrap()).lines();
    let mut go_on = browser.stdin.take().unwrap();
    let mut next_step = async || -> Value {
        let line = tokio::time::timeout(Duration::from_secs(180), steps.next_line())
            .await
            .expect("the browser reports each step within its deadline")
            .unwrap()
            .expect("the browser script reports a step");
        let step: Value = serde_json::from_str(&line).unwrap();
        if step["step"] == "failed" {
            demo.show_logs();
            panic!("the browser run failed: {step}");
        }
        step
    };

    let shown = next_step().await;
    assert_eq!(shown["step"], "shown", "{shown}");
    let counts: BTreeMap<String, u64> = serde_json::from_value(shown["counts"].clone()).unwrap();
    let expected: BTreeMap<String, u64> = [
        ("red", 3),
        ("orange", 0),
        ("yellow", 0),
        ("green", 2),
        ("blue", 2),
        ("purple", 0),
    ]
    .into_iter()
    .map(|(colour, count)| (colour.to_owned(), count))
    .collect();
    assert_eq!(counts, expected, "the page counts the clicks: {shown}");
    let minutes: Vec<u64> = serde_json::from_value(shown["minutes"].clone()).unwrap();
    assert_eq!(minutes.iter().sum::<u64>(), 7, "{shown}");
    let browsers = shown["browsers"].as_array().unwrap();
    let clicks: u64 = browsers
        .iter()
        .map(|row| row[2].as_str().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(clicks, 7, "{shown}");
    assert!(browsers.iter().all(|row| row[1] == "Linux"), "{browsers:?}");
    let own = shown["own"].as_array().unwrap();
    assert_eq!(own.len(), 7, "the person's clicks, each found: {own:?}");
    assert!(
        own.iter()
            .all(|line| line.as_str().unwrap().contains("by 민수: indexed")),
        "{own:?}"
    );
    let stages: BTreeMap<String, Value> = shown["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["stage"].as_str().unwrap().to_owned(), s.clone()))
        .collect();
    assert_eq!(stages["collector"]["facts"]["accepted"], "7", "{stages:?}");
    assert_eq!(stages["es-sink"]["facts"]["indexed"], "7", "{stages:?}");
    for stage in ["collector", "topic", "hdfs-consumer", "es-sink"] {
        let condition = stages[stage]["condition"].as_str().unwrap();
        assert!(
            condition == "ok" || condition == "behind",
            "{stage}: {condition}"
        );
    }
    assert!(
        shown["overflow"].as_i64().unwrap() <= 0,
        "wider than a phone's screen"
    );
    eprintln!(
        "a click made with the results page open appeared on it after {} ms",
        shown["appearedMs"]
    );

    // The bars are drawn in the clicked colours, and no bar in a colour nobody clicked.
    for scheme in ["light", "dark"] {
        let chart = shots.join(format!("colour-chart-{scheme}.png"));
        for (colour, rgb) in [
            ("red", [255, 0, 0]),
            ("blue", [0, 0, 255]),
            ("green", [0, 128, 0]),
        ] {
            let pixels = pixels_of(&chart, rgb);
            assert!(
                pixels > 200,
                "{scheme}: {pixels} {colour} pixels in the colour chart"
            );
        }
        assert_eq!(
            pixels_of(&chart, [128, 0, 128]),
            0,
            "{scheme}: purple was not clicked"
        );
        let over_time = shots.join(format!("time-chart-{scheme}.png"));
        assert!(pixels_of(&over_time, [255, 0, 0]) > 20, "{scheme}");
    }

    // The search server stops answering.
    signal(search_pid, "STOP").expect("SIGSTOP delivered");
    go_on.write_all(b"search stopped\n").await.unwrap();
    let unavailable = next_step().await;
    signal(search_pid, "CONT").expect("SIGCONT delivered");
    assert_eq!(unavailable["step"], "unavailable", "{unavailable}");
    let message = unavailable["message"].as_str().unwrap();
    assert!(
        message.starts_with("Results unavailable: the search cluster did not answer within"),
        "{message}"
    );
    assert_eq!(unavailable["purpleRecorded"], true);

    go_on.write_all(b"search started\n").await.unwrap();
    let recovered = next_step().await;
    assert_eq!(recovered["step"], "recovered", "{recovered}");
    assert_eq!(recovered["counts"]["purple"], 1, "{recovered}");
    assert_eq!(recovered["failures"], serde_json::json!([]), "{recovered}");

    drop(go_on);
    let status = tokio::time::timeout(Duration::from_secs(30), browser.wait())
        .await
        .expect("the browser closes")
        .unwrap();
    assert!(status.success());
    demo.stop();
    let _ = std::fs::remove_dir_all(&run_dir);
    eprintln!("screenshots in {}", shots.display());
}

/// Where the screenshots are kept after the run: `target/test-artifacts/results-page`.
fn artifact_dir() -> PathBuf {
    let dir = target_dir().join("test-artifacts/results-page");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Pixels of a PNG screenshot with exactly this colour.
fn pixels_of(path: &Path, rgb: [u8; 3]) -> usize {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut buffer).unwrap();
    let channels = frame.color_type.samples();
    assert!(
        frame.bit_depth == png::BitDepth::Eight && channels >= 3,
        "an 8-bit RGB(A) screenshot: {:?} {:?}",
        frame.color_type,
        frame.bit_depth
    );
    buffer[..frame.buffer_size()]
        .chunks_exact(channels)
        .filter(|pixel| pixel[..3] == rgb)
        .count()
}
