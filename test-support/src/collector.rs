//! The collector, run in-process on a free port, and a click posted to it.

use std::net::SocketAddr;
use std::time::Duration;

use producer_api::Config;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// The page the helpers' clicks come from: the collector's default allowed origin. Browsers
/// name it with every POST, and the collector refuses a POST that names no page.
pub const PAGE_ORIGIN: &str = "http://127.0.0.1:8080";

/// People in a crowd: each posts from an address of its own, as people on their own machines
/// do, so each has its own share of the collector (Linux routes all of 127.0.0.0/8 to
/// loopback).
const CROWD_PEOPLE: usize = 64;

/// One HTTP client per person of a crowd, person `n` connecting from 127.0.1.`n + 1`.
fn crowd_clients() -> Vec<reqwest::Client> {
    (0..CROWD_PEOPLE)
        .map(|n| {
            reqwest::Client::builder()
                .local_address(std::net::IpAddr::from([127, 0, 1, n as u8 + 1]))
                .user_agent(BROWSER_USER_AGENT)
                .build()
                .expect("an HTTP client")
        })
        .collect()
}

/// A collector running on a free loopback port, with its own shutdown trigger.
pub struct RunningApi {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), producer_api::server::ServerError>>,
}

impl RunningApi {
    pub async fn start(config: Config) -> RunningApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener, config)
    }

    pub fn start_on(listener: tokio::net::TcpListener, config: Config) -> RunningApi {
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(producer_api::serve(listener, config, async {
            let _ = rx.await;
        }));
        RunningApi {
            addr,
            shutdown: Some(tx),
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Triggers a graceful shutdown and waits for it (flush included).
    pub async fn stop(mut self) {
        let _ = self.shutdown.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("shutdown finished within its deadline")
            .unwrap()
            .unwrap();
    }
}

/// Posts one click and returns the status and JSON body.
pub async fn post_click(
    client: &reqwest::Client,
    api: &RunningApi,
    user: &str,
    color: &str,
) -> (u16, serde_json::Value) {
    let response = client
        .post(api.url("/api/events"))
        .header("Origin", PAGE_ORIGIN)
        .json(&serde_json::json!({ "userName": user, "colorName": color }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Click `n` of a crowd, posted to `url` by person `n % CROWD_PEOPLE` as `<crowd> <n>` with a
/// colour in turn, and with its own `eventId` when the page made one; resolves to its event id
/// once accepted (asserted).
fn crowd_click(
    people: &[reqwest::Client],
    url: &str,
    crowd: &str,
    n: usize,
    event_id: Option<uuid::Uuid>,
) -> impl std::future::Future<Output = uuid::Uuid> + Send + 'static {
    let colour = ["red", "orange", "yellow", "green", "blue", "purple"][n % 6];
    let client = &people[n % people.len()];
    let mut click = serde_json::json!({
        "userName": format!("{crowd} {n}"),
        "colorName": colour,
    });
    if let Some(id) = event_id {
        click["eventId"] = id.to_string().into();
    }
    let request = client.post(url).header("Origin", PAGE_ORIGIN).json(&click);
    async move {
        let response = request.send().await.expect("the collector answers");
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(status, 202, "{body}");
        body["eventId"]
            .as_str()
            .unwrap()
            .parse::<uuid::Uuid>()
            .unwrap()
    }
}

/// Posts `count` clicks in bursts of `burst` requests sent at once, `pause` apart, as a crowd
/// clicking together does: the collector's producer then puts several records in one batch.
/// Asserts each click is accepted; returns the event ids.
pub async fn post_bursts(
    api: &RunningApi,
    count: usize,
    burst: usize,
    pause: Duration,
) -> Vec<uuid::Uuid> {
    let people = crowd_clients();
    let url = api.url("/api/events");
    let mut ids = Vec::with_capacity(count);
    let mut sent = 0;
    while sent < count {
        let mut requests = tokio::task::JoinSet::new();
        for n in sent..count.min(sent + burst) {
            requests.spawn(crowd_click(&people, &url, "crowd", n, None));
        }
        sent = count.min(sent + burst);
        ids.extend(requests.join_all().await);
        tokio::time::sleep(pause).await;
    }
    ids
}

/// A browser's `User-Agent`, for requests that stand for a person.
pub const BROWSER_USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// Sends the page's clicks `ids` to `api`, `burst` at a time, each as the page sends it: with
/// its own `eventId` (made when the click happened), the name `page <n>` and a colour in turn,
/// from person `n % CROWD_PEOPLE`. Sending the same ids again, to this collector or another,
/// is the page's retry of clicks whose answers were lost. Asserts each is accepted.
pub async fn post_page_clicks(api: &RunningApi, ids: &[uuid::Uuid], burst: usize) {
    let people = crowd_clients();
    let url = api.url("/api/events");
    let burst = burst.max(1);
    for (chunk, batch) in ids.chunks(burst).enumerate() {
        let mut requests = tokio::task::JoinSet::new();
        for (i, id) in batch.iter().enumerate() {
            let n = chunk * burst + i;
            requests.spawn(crowd_click(&people, &url, "page", n, Some(*id)));
        }
        let answered = requests.join_all().await;
        assert!(
            answered.iter().all(|id| batch.contains(id)),
            "an id other than the page's"
        );
    }
}

/// Posts `count` clicks, cycling through red, blue and green, with the names `name(n)`; asserts
/// each is accepted and returns the event ids in order.
pub async fn post_clicks(
    client: &reqwest::Client,
    api: &RunningApi,
    count: usize,
    name: impl Fn(usize) -> String,
) -> Vec<uuid::Uuid> {
    let mut ids = Vec::with_capacity(count);
    for n in 0..count {
        let colour = ["red", "blue", "green"][n % 3];
        let (status, body) = post_click(client, api, &name(n), colour).await;
        assert_eq!(status, 202, "{body}");
        ids.push(body["eventId"].as_str().unwrap().parse().unwrap());
    }
    ids
}

/// Clicks posted to the collector in the background, `burst` requests at once every `pause`,
/// until [`SteadyClicks::finish`]: traffic that keeps arriving while a test breaks things.
pub struct SteadyClicks {
    stop: watch::Sender<bool>,
    task: JoinHandle<Vec<uuid::Uuid>>,
}

impl SteadyClicks {
    pub fn start(api: &RunningApi, burst: usize, pause: Duration) -> SteadyClicks {
        let (stop, mut stopped) = watch::channel(false);
        let url = api.url("/api/events");
        let task = tokio::spawn(async move {
            let people = crowd_clients();
            let mut ids = Vec::new();
            while !*stopped.borrow() {
                let mut requests = tokio::task::JoinSet::new();
                for _ in 0..burst {
                    let n = ids.len() + requests.len();
                    requests.spawn(crowd_click(&people, &url, "steady", n, None));
                }
                ids.extend(requests.join_all().await);
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    _ = stopped.changed() => {}
                }
            }
            ids
        });
        SteadyClicks { stop, task }
    }

    /// Stops posting; the ids of every click accepted.
    pub async fn finish(self) -> Vec<uuid::Uuid> {
        let _ = self.stop.send(true);
        self.task.await.expect("posting clicks did not panic")
    }
}
