//! The results page's data: what the clicks became in the search index ([`search`]) and how
//! each stage of the pipeline is doing ([`health`]). One snapshot is taken at most about once a
//! second and shared by every open page, so a hundred pages cost the cluster what one does; a
//! person's own clicks are looked up by id only until each is found.

pub mod health;
pub mod search;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::Palette;
use elasticsearch::{Elasticsearch, SearchParts};
use serde::Serialize;
use serde_json::Value;
use url::Url;
use uuid::Uuid;

use crate::config::Config;
use health::{Probe, Stage, StageView};
use search::{Overview, OwnClick};

/// How long a snapshot is shared before the next request takes a new one.
const SNAPSHOT_KEPT: Duration = Duration::from_secs(1);
/// Own clicks asked for at once.
pub const MAX_OWN_CLICKS: usize = 20;
/// Own clicks remembered once found; past this the memory starts again.
const OWN_CLICKS_REMEMBERED: usize = 10_000;

/// An answer the page shows, or why it cannot.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Answer<T> {
    Ok(T),
    Unavailable(String),
}

/// What every open page shows alike.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub taken_at: DateTime<Utc>,
    pub overview: Answer<Overview>,
    pub headline: String,
    pub stages: Vec<StageView>,
}

/// One page's answer: the shared snapshot and the person's own clicks.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageData {
    #[serde(flatten)]
    pub snapshot: Arc<Snapshot>,
    /// The clicks asked for that are indexed, in the order asked.
    pub own_clicks: Answer<Vec<OwnClick>>,
}

#[derive(Clone)]
pub struct Results {
    inner: Arc<Inner>,
}

struct Inner {
    client: Elasticsearch,
    index_pattern: String,
    palette: Palette,
    timeout: Duration,
    http: reqwest::Client,
    /// Each service's admin URLs, and the stages its answers show: the collector's show the
    /// topic too, so it is asked once for both.
    services: Vec<(&'static [Stage], Vec<Url>)>,
    /// Held while a snapshot is taken, so requests meanwhile wait for it rather than ask too.
    snapshot: tokio::sync::Mutex<Option<(Instant, Arc<Snapshot>)>>,
    own: Mutex<OwnClicks>,
}

#[derive(Default)]
struct OwnClicks {
    found: HashMap<Uuid, OwnClick>,
    /// When each id not found yet was last asked for.
    asked: HashMap<Uuid, Instant>,
}

impl Results {
    /// The results source for `config`; `Err` names a search setting that is wrong (a CA file
    /// that cannot be read). Nothing is asked of the cluster yet.
    pub fn new(config: &Config) -> Result<Results, String> {
        let services: Vec<(&'static [Stage], Vec<Url>)> = vec![
            (
                &[Stage::Collector, Stage::Topic],
                vec![config.collector_admin_url.clone()],
            ),
            (
                &[Stage::HdfsConsumer],
                config.hdfs_consumer_admin_urls.clone(),
            ),
            (&[Stage::EsSink], config.es_sink_admin_urls.clone()),
        ];
        Ok(Results {
            inner: Arc::new(Inner {
                client: config.search.client()?,
                index_pattern: config.search.index_pattern(),
                palette: config.color_palette.clone(),
                timeout: config.results_timeout,
                // Each probe is bounded by the page's timeout (`health::probe`).
                http: reqwest::Client::new(),
                services,
                snapshot: tokio::sync::Mutex::new(None),
                own: Mutex::new(OwnClicks::default()),
            }),
        })
    }

    /// The page's data: the snapshot (taken now if the last is older than a second) and the own
    /// clicks among `ids` that are indexed.
    pub async fn page_data(&self, ids: &[Uuid]) -> PageData {
        let (snapshot, own_clicks) = tokio::join!(self.snapshot(), self.own_clicks(ids));
        PageData {
            snapshot,
            own_clicks,
        }
    }

    async fn snapshot(&self) -> Arc<Snapshot> {
        let mut kept = self.inner.snapshot.lock().await;
        if let Some((taken, snapshot)) = kept.as_ref()
            && taken.elapsed() < SNAPSHOT_KEPT
        {
            return snapshot.clone();
        }
        let now = Utc::now();
        let (overview, stages) = tokio::join!(self.overview(now), self.stages());
        let snapshot = Arc::new(Snapshot {
            taken_at: now,
            overview,
            headline: health::headline(&stages),
            stages,
        });
        *kept = Some((Instant::now(), snapshot.clone()));
        snapshot
    }

    async fn overview(&self, now: DateTime<Utc>) -> Answer<Overview> {
        let query = search::overview_query(search::chart_start(now));
        match self.search(query).await {
            Ok(answer) => match search::overview_view(&answer, &self.inner.palette, now) {
                Ok(overview) => Answer::Ok(overview),
                Err(why) => Answer::Unavailable(why),
            },
            Err(why) => Answer::Unavailable(why),
        }
    }

    /// Every stage's view, in the order a click passes through them, each service's processes
    /// probed once.
    async fn stages(&self) -> Vec<StageView> {
        let probes =
            futures::future::join_all(self.inner.services.iter().map(|(_, urls)| async move {
                let mut processes = Vec::new();
                for url in urls {
                    processes.extend(health::processes(url).await);
                }
                futures::future::join_all(
                    processes
                        .iter()
                        .map(|url| health::probe(&self.inner.http, url, self.inner.timeout)),
                )
                .await
            }))
            .await;
        self.inner
            .services
            .iter()
            .zip(probes)
            .flat_map(
                |((stages, _), probes): (&(&[Stage], Vec<Url>), Vec<Probe>)| {
                    stages
                        .iter()
                        .map(move |stage| health::stage_view(*stage, &probes))
                },
            )
            .collect()
    }

    /// The indexed clicks among `ids`. Ids found before are answered from memory; the others
    /// are asked for at most once a second.
    async fn own_clicks(&self, ids: &[Uuid]) -> Answer<Vec<OwnClick>> {
        let wanted: Vec<Uuid> = {
            let own = self.inner.own.lock().expect("not poisoned");
            ids.iter()
                .filter(|id| !own.found.contains_key(id))
                .filter(|id| {
                    own.asked
                        .get(id)
                        .is_none_or(|asked| asked.elapsed() >= SNAPSHOT_KEPT)
                })
                .copied()
                .collect()
        };
        if !wanted.is_empty() {
            let answer = self.search(search::own_clicks_query(&wanted)).await;
            let found = match answer.and_then(|a| search::own_clicks_view(&a, &wanted)) {
                Ok(found) => found,
                Err(why) => return Answer::Unavailable(why),
            };
            let mut own = self.inner.own.lock().expect("not poisoned");
            if own.found.len() + found.len() > OWN_CLICKS_REMEMBERED {
                own.found.clear();
            }
            if own.asked.len() + wanted.len() > OWN_CLICKS_REMEMBERED {
                own.asked.clear();
            }
            let now = Instant::now();
            for id in &wanted {
                own.asked.insert(*id, now);
            }
            for click in found {
                own.asked.remove(&click.event_id);
                own.found.insert(click.event_id, click);
            }
        }
        let own = self.inner.own.lock().expect("not poisoned");
        Answer::Ok(
            ids.iter()
                .filter_map(|id| own.found.get(id).cloned())
                .collect(),
        )
    }

    /// Drops the remembered clicks of these people or ids; answers how many. Linear in the
    /// request and what is remembered: the names and ids are looked up in sets.
    pub fn forget(&self, user_names: &[String], event_ids: &[Uuid]) -> usize {
        let names: std::collections::HashSet<&str> =
            user_names.iter().map(String::as_str).collect();
        let ids: std::collections::HashSet<&Uuid> = event_ids.iter().collect();
        let mut own = self.inner.own.lock().expect("not poisoned");
        let before = own.found.len();
        own.found
            .retain(|id, click| !ids.contains(id) && !names.contains(click.user_name.as_str()));
        for id in event_ids {
            own.asked.remove(id);
        }
        before - own.found.len()
    }

    /// One search over the daily indices, within the page's timeout: the answer's JSON (an
    /// error answer included, which the view functions explain), or why there is none.
    async fn search(&self, query: Value) -> Result<Value, String> {
        let pattern = [self.inner.index_pattern.as_str()];
        let ask = async {
            let response = self
                .inner
                .client
                .search(SearchParts::Index(&pattern))
                .body(query)
                .send()
                .await
                .map_err(|e| describe(&e))?;
            let status = response.status_code().as_u16();
            response
                .json::<Value>()
                .await
                .map_err(|_| format!("the search cluster answered {status} without JSON"))
        };
        tokio::time::timeout(self.inner.timeout, ask)
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "the search cluster did not answer within {}",
                    humantime::format_duration(self.inner.timeout)
                ))
            })
    }
}

/// A failed request in words for the page, from the whole chain of causes (the client's own
/// message only says a request failed).
fn describe(err: &elasticsearch::Error) -> String {
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(err);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    if text.contains("onnection refused") {
        "the search cluster refuses connections (is it running?)".to_owned()
    } else if text.contains("timed out") {
        "the search cluster did not answer in time".to_owned()
    } else {
        format!("cannot reach the search cluster: {text}")
    }
}
