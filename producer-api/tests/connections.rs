//! What one client can hold of the collector, over real sockets: slow headers, idle
//! connections, more connections than allowed, and a stop with a client half-way through.

mod support;

use std::time::{Duration, Instant};

use producer_api::Config;
use rdkafka::mocking::MockCluster;
use support::{RunningApi, post_click, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn cluster() -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
    let cluster = MockCluster::new(1).unwrap();
    cluster
        .create_topic(common::kafka::DEFAULT_TOPIC, 1, 1)
        .unwrap();
    cluster
}

fn config(cluster: &MockCluster<'static, rdkafka::producer::DefaultProducerContext>) -> Config {
    Config::for_brokers(&cluster.bootstrap_servers())
}

/// Whether the server closes `stream` within `within` (a read sees the end, or an error).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // An answer (408, say) may come first; the close follows.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_headers_is_disconnected() {
    let cluster = cluster();
    let mut config = config(&cluster);
    config.http_header_read_timeout = Duration::from_secs(1);
    let api = RunningApi::start(config).await;

    let stream = TcpStream::connect(api.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    writer
        .write_all(b"POST /api/events HTTP/1.1\r\n")
        .await
        .unwrap();
    // One byte every 100 ms: always active, never done.
    let trickle = tokio::spawn(async move {
        while writer.write_all(b"X").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while !matches!(reader.read(&mut buffer).await, Ok(0) | Err(_)) {}
    })
    .await;
    trickle.abort();
    assert!(
        closed.is_ok(),
        "a trickling client held its connection for {:?}",
        started.elapsed()
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed_and_a_busy_one_kept() {
    let cluster = cluster();
    let mut config = config(&cluster);
    config.http_idle_timeout = Duration::from_secs(1);
    let api = RunningApi::start(config).await;

    let mut idle = TcpStream::connect(api.addr).await.unwrap();
    assert!(
        closed_within(&mut idle, Duration::from_secs(5)).await,
        "an idle connection stayed open"
    );
    // A keep-alive client that keeps clicking keeps its connection.
    let client = reqwest::Client::new();
    for n in 0..8 {
        let (status, _) = post_click(&client, &api, &format!("user-{n}"), "red").await;
        assert_eq!(status, 202);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_are_closed_at_once_and_clients_get_in_when_they_go() {
    let cluster = cluster();
    let mut config = config(&cluster);
    config.http_max_connections = 4;
    let api = RunningApi::start(config).await;

    let mut held = Vec::new();
    let mut closed = 0;
    for _ in 0..6 {
        let mut stream = TcpStream::connect(api.addr).await.unwrap();
        if closed_within(&mut stream, Duration::from_millis(500)).await {
            closed += 1;
        } else {
            held.push(stream);
        }
    }
    assert_eq!((held.len(), closed), (4, 2));
    drop(held);
    let client = reqwest::Client::new();
    let clicked = || {
        let client = client.clone();
        let url = api.url("/api/events");
        async move {
            client
                .post(url)
                .header("Origin", support::PAGE_ORIGIN)
                .json(&serde_json::json!({ "userName": "a", "colorName": "red" }))
                .send()
                .await
                .is_ok_and(|r| r.status() == 202)
        }
    };
    assert!(
        wait_until(Duration::from_secs(10), clicked).await,
        "no client got in after the held connections went"
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_does_not_wait_for_a_client_half_way_through_its_headers() {
    let cluster = cluster();
    let mut config = config(&cluster);
    config.http_header_read_timeout = Duration::from_secs(60);
    config.http_idle_timeout = Duration::from_secs(60);
    let api = RunningApi::start(config).await;

    let mut half = TcpStream::connect(api.addr).await.unwrap();
    half.write_all(b"POST /api/events HTTP/1.1\r\nHost: x\r\nContent-")
        .await
        .unwrap();
    // A keep-alive client answered once: connections are taken in turn, so the half-way one
    // was taken before it.
    let client = reqwest::Client::new();
    assert_eq!(post_click(&client, &api, "a", "red").await.0, 202);
    let started = Instant::now();
    api.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the stop waited {:?}",
        started.elapsed()
    );
    assert!(closed_within(&mut half, Duration::from_secs(1)).await);
}

/// A client that sends its whole body (4 MiB, more than loopback buffers hold) before it reads,
/// as Python's `urllib` does, still reads the 413 the collector sent before reading the body:
/// the connection is closed only once the rest of the body was taken and dropped (a close with
/// it unread resets the connection, and the client's send fails before it reads the answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_a_body_past_the_limit_whole_reads_the_413() {
    let cluster = cluster();
    let api = RunningApi::start(config(&cluster)).await;
    let addr = api.addr;
    let answers = tokio::task::spawn_blocking(move || {
        (0..20)
            .map(|_| send_whole_then_read(addr, &vec![b'x'; 4 * 1024 * 1024]))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let read: Vec<&String> = answers
        .iter()
        .filter_map(|answer| answer.as_ref().ok())
        .collect();
    assert_eq!(read.len(), 20, "{answers:?}");
    for answer in read {
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        let body: serde_json::Value =
            serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
    }
    api.stop().await;
}

/// Writes a POST of `body` whole, then reads the answer to its end.
fn send_whole_then_read(addr: std::net::SocketAddr, body: &[u8]) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let head = format!(
        "POST /api/events HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Origin: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        support::PAGE_ORIGIN,
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// A client whose connections leave from `address`: Linux routes all of 127.0.0.0/8 to
/// loopback, so 127.0.0.2 and 127.0.0.3 are two clients of one machine.
fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(address.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_client_is_held_to_its_share_while_a_person_clicks_untouched() {
    let cluster = cluster();
    // The defaults: the share a real site gets.
    let api = RunningApi::start(config(&cluster)).await;
    let share = Config::for_brokers("unused");
    let (rate, burst) = (
        f64::from(share.client_clicks_per_second),
        f64::from(share.client_burst),
    );
    let url = api.url("/api/events");
    const FLOOD_BATCH: usize = 10;
    let started = Instant::now();
    let flood_until = started + Duration::from_secs(6);
    // The flood: four connections from 127.0.0.2 posting batches back to back.
    let flooders: Vec<_> = (0..4)
        .map(|_| {
            let (client, url) = (client_from("127.0.0.2"), url.clone());
            tokio::spawn(async move {
                let (mut admitted, mut refused) = (0usize, 0usize);
                let click = serde_json::json!({ "userName": "script", "colorName": "red" });
                let batch = serde_json::Value::Array(vec![click; FLOOD_BATCH]);
                while Instant::now() < flood_until {
                    let response = client
                        .post(&url)
                        .header("Origin", support::PAGE_ORIGIN)
                        .json(&batch)
                        .send()
                        .await
                        .unwrap();
                    match response.status().as_u16() {
                        202 => admitted += 1,
                        429 => {
                            assert!(response.headers().contains_key("retry-after"));
                            let body: serde_json::Value = response.json().await.unwrap();
                            assert_eq!(body["error"]["code"], "past_fair_share");
                            refused += 1;
                        }
                        other => panic!("the flood got {other}"),
                    }
                }
                (admitted, refused)
            })
        })
        .collect();
    // A person on 127.0.0.3 clicking as fast as a person can: ten a second, each alone.
    let person = client_from("127.0.0.3");
    let mut clicks = 0;
    let mut next = tokio::time::Instant::now();
    while Instant::now() < flood_until - Duration::from_millis(500) {
        let response = person
            .post(&url)
            .header("Origin", support::PAGE_ORIGIN)
            .json(&serde_json::json!({ "userName": "민지", "colorName": "blue" }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            202,
            "the person was refused during the flood"
        );
        clicks += 1;
        next += Duration::from_millis(100);
        tokio::time::sleep_until(next).await;
    }
    let (mut admitted, mut refused) = (0, 0);
    for flooder in flooders {
        let (a, r) = flooder.await.unwrap();
        admitted += a;
        refused += r;
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert!(clicks >= 40, "the person clicked only {clicks} times");
    // The flood got its burst and its rate, no more; most of it was refused.
    let admitted_clicks = (admitted * FLOOD_BATCH) as f64;
    assert!(
        admitted_clicks <= burst + rate * elapsed + FLOOD_BATCH as f64,
        "{admitted_clicks} clicks admitted in {elapsed:.1} s"
    );
    assert!(
        refused > admitted,
        "the flood had {admitted} requests admitted and {refused} refused"
    );
    api.stop().await;
}
