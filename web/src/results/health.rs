//! The pipeline at a glance: each stage's counts, lag, dead letters and readiness, read from its
//! processes' own `/metrics` and `/readyz`. Probing is here; what the answers mean is decided by
//! pure functions over the texts, tested on literal answers. A number is known only when every
//! process of the stage answered: a process that does not answer makes it unknown, never zero.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use url::Url;

/// A stage of the pipeline, in the order a click passes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Collector,
    Topic,
    HdfsConsumer,
    EsSink,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Collector => "collector",
            Stage::Topic => "topic",
            Stage::HdfsConsumer => "hdfs-consumer",
            Stage::EsSink => "es-sink",
        }
    }

    /// The counts shown for the stage: (label, metric family summed over its processes).
    fn counts(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Stage::Collector => &[
                ("accepted", "producer_api_events_accepted_total"),
                ("rejected", "producer_api_events_rejected_total"),
            ],
            Stage::Topic => &[
                ("delivered", "producer_api_events_delivered_total"),
                ("delivery failures", "producer_api_delivery_failures_total"),
                ("waiting to be sent", "producer_api_producer_queue_depth"),
            ],
            Stage::HdfsConsumer => &[("landed", "hdfs_consumer_records_landed_total")],
            Stage::EsSink => &[("indexed", "es_sink_indexed_total")],
        }
    }

    fn lag_family(self) -> Option<&'static str> {
        match self {
            Stage::HdfsConsumer => Some("hdfs_consumer_lag"),
            Stage::EsSink => Some("es_sink_lag"),
            Stage::Collector | Stage::Topic => None,
        }
    }

    /// What the stage has yet to make known beyond its own writes: (gauge family, what it
    /// counts). The consumer's hours not yet registered in the Hive Metastore.
    fn waiting_family(self) -> Option<(&'static str, &'static str)> {
        match self {
            Stage::HdfsConsumer => Some((
                "hdfs_consumer_hive_hours_waiting",
                "not registered in the Hive Metastore yet",
            )),
            Stage::Collector | Stage::Topic | Stage::EsSink => None,
        }
    }

    fn dead_letter_family(self) -> Option<&'static str> {
        match self {
            // Records that are not events land under _invalid/, beside the table's files.
            Stage::HdfsConsumer => Some("hdfs_consumer_invalid_records_total"),
            Stage::EsSink => Some("es_sink_dead_lettered_total"),
            Stage::Collector | Stage::Topic => None,
        }
    }
}

/// What one process's admin server answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub url: String,
    /// The `/metrics` text, or why there is none.
    pub metrics: Result<String, String>,
    /// The `/readyz` status code and body, or why there is none.
    pub readyz: Result<(u16, String), String>,
}

/// Whether a stage can do its work.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", content = "reason", rename_all = "kebab-case")]
pub enum Condition {
    /// Ready, and nothing waiting.
    Ok,
    /// Ready, with records not yet written.
    Behind(String),
    /// Some process is not ready or does not answer.
    NotReady(String),
    /// No process answers.
    Down(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Count {
    pub label: &'static str,
    /// `None` when some process of the stage did not answer.
    pub value: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageView {
    pub stage: Stage,
    pub name: &'static str,
    pub condition: Condition,
    /// What the stage did, then its lag and dead letters where it has them.
    pub counts: Vec<Count>,
    /// Records in the topic the stage has not written yet, over its processes (`None` for a
    /// stage without lag; `Some(None)` when unknown).
    #[serde(skip)]
    pub lag: Option<Option<u64>>,
    #[serde(skip)]
    pub dead_letters: Option<Option<u64>>,
    pub processes: usize,
    pub answering: usize,
}

/// The sum of every series of metric family `family` in an exposition text (0 when absent:
/// a counter nothing has incremented yet is not exported by every library).
pub fn metric_sum(exposition: &str, family: &str) -> u64 {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(family)?;
            let value = match rest.strip_prefix('{') {
                Some(labelled) => labelled.split_once("} ")?.1,
                None => rest.strip_prefix(' ')?,
            };
            value.split_whitespace().next()?.parse::<f64>().ok()
        })
        .map(|value| value.max(0.0) as u64)
        .sum()
}

/// A `/readyz` answer: `Ok` when ready, else the checks that failed ("storage: ...").
pub fn readiness(status: u16, body: &str) -> Result<(), String> {
    if status == 200 {
        return Ok(());
    }
    let reasons: Vec<String> = match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(fields)) => fields
            .iter()
            .filter(|(name, _)| name.as_str() != "status")
            .filter_map(|(name, value)| {
                let text = value
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or(value.to_string());
                (text != "ok").then(|| match name.as_str() {
                    "reason" => text,
                    _ => format!("{name}: {text}"),
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    Err(if reasons.is_empty() {
        format!("/readyz answered {status}")
    } else {
        reasons.join("; ")
    })
}

/// A stage's view from its processes' answers. The topic stage is seen through the collector,
/// whose readiness follows the brokers.
pub fn stage_view(stage: Stage, probes: &[Probe]) -> StageView {
    let answering = probes.iter().filter(|p| p.metrics.is_ok()).count();
    let sum = |family: &str| -> Option<u64> {
        if probes.is_empty() || answering < probes.len() {
            return None;
        }
        Some(
            probes
                .iter()
                .filter_map(|p| p.metrics.as_ref().ok())
                .map(|text| metric_sum(text, family))
                .sum(),
        )
    };
    let mut counts: Vec<Count> = stage
        .counts()
        .iter()
        .map(|(label, family)| Count {
            label,
            value: sum(family),
        })
        .collect();
    let lag = stage.lag_family().map(sum);
    let dead_letters = stage.dead_letter_family().map(sum);
    if let Some(value) = lag {
        counts.push(Count {
            label: "lag",
            value,
        });
    }
    if let Some(value) = dead_letters {
        counts.push(Count {
            label: "dead letters",
            value,
        });
    }

    let mut problems = Vec::new();
    for probe in probes {
        let answer = match &probe.readyz {
            Ok((status, body)) => readiness(*status, body),
            Err(why) => Err(format!("no answer ({why})")),
        };
        if let Err(why) = answer {
            problems.push(format!("{}: {why}", probe.url));
        }
    }
    let condition = if probes.is_empty() {
        Condition::Down("no process is configured".to_owned())
    } else if probes
        .iter()
        .all(|p| p.metrics.is_err() && p.readyz.is_err())
    {
        let urls: Vec<&str> = probes.iter().map(|p| p.url.as_str()).collect();
        Condition::Down(format!("no answer from {}", urls.join(", ")))
    } else if !problems.is_empty() {
        Condition::NotReady(problems.join("; "))
    } else {
        let waiting = stage
            .waiting_family()
            .and_then(|(family, what)| Some((sum(family)?, what)));
        match (lag.flatten(), waiting) {
            (Some(behind), _) if behind > 0 => Condition::Behind(format!(
                "{behind} record{} in the topic not written yet",
                if behind == 1 { "" } else { "s" }
            )),
            (_, Some((hours, what))) if hours > 0 => Condition::Behind(format!(
                "{hours} landed hour{} {what}",
                if hours == 1 { "" } else { "s" }
            )),
            _ => Condition::Ok,
        }
    };
    StageView {
        stage,
        name: stage.name(),
        condition,
        counts,
        lag,
        dead_letters,
        processes: probes.len(),
        answering,
    }
}

/// The one line the page shows above the stages: which stage is down, not ready or behind,
/// first in the order a click passes through them.
pub fn headline(stages: &[StageView]) -> String {
    let worst = |wanted: fn(&Condition) -> bool| stages.iter().find(|s| wanted(&s.condition));
    if let Some(stage) = worst(|c| matches!(c, Condition::Down(_))) {
        return format!("{} is down", stage.name);
    }
    if let Some(stage) = worst(|c| matches!(c, Condition::NotReady(_))) {
        return format!("{} is not ready", stage.name);
    }
    if let Some(stage) = worst(|c| matches!(c, Condition::Behind(_))) {
        return format!("{} is behind", stage.name);
    }
    "every stage is ready and caught up".to_owned()
}

/// The processes behind an admin URL: one per IPv4 address its host name resolves to (IPv6
/// when it has none), so a service name that stands for several replicas (Docker Compose's
/// `hdfs-consumer`) is probed replica by replica. A URL with one address, or whose name does not
/// resolve, is kept as it is (the probe then says why it gets no answer).
pub async fn processes(url: &Url) -> Vec<Url> {
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return vec![url.clone()];
    };
    let Ok(resolved) = tokio::net::lookup_host((host, port)).await else {
        return vec![url.clone()];
    };
    let mut addresses: Vec<std::net::SocketAddr> = resolved.collect();
    if addresses.iter().any(|a| a.is_ipv4()) {
        addresses.retain(|a| a.is_ipv4());
    }
    addresses.sort();
    addresses.dedup();
    if addresses.len() <= 1 {
        return vec![url.clone()];
    }
    addresses
        .into_iter()
        .filter_map(|address| {
            let mut each = url.clone();
            each.set_ip_host(address.ip()).ok()?;
            Some(each)
        })
        .collect()
}

/// Asks one process's admin server for `/metrics` and `/readyz`, each within `timeout`.
pub async fn probe(http: &reqwest::Client, base: &Url, timeout: Duration) -> Probe {
    let get = |path: &'static str| {
        let url = base.join(path);
        async move {
            let url = url.map_err(|e| e.to_string())?;
            let ask = async {
                let response = http.get(url).send().await.map_err(|e| describe(&e))?;
                let status = response.status().as_u16();
                let body = response.text().await.map_err(|e| describe(&e))?;
                Ok::<_, String>((status, body))
            };
            tokio::time::timeout(timeout, ask)
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
        }
    };
    let (metrics, readyz) = tokio::join!(get("metrics"), get("readyz"));
    let metrics = metrics.and_then(|(status, body)| {
        if status == 200 {
            Ok(body)
        } else {
            Err(format!("/metrics answered {status}"))
        }
    });
    Probe {
        url: base.as_str().trim_end_matches('/').to_owned(),
        metrics,
        readyz,
    }
}

fn describe(err: &reqwest::Error) -> String {
    if err.is_connect() {
        "connection refused".to_owned()
    } else if err.is_timeout() {
        "timed out".to_owned()
    } else {
        err.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ES_SINK_METRICS: &str = "\
# HELP es_sink_indexed Documents indexed.
# TYPE es_sink_indexed counter
es_sink_indexed_total 41
es_sink_indexed_total_extra 1000
es_sink_dead_lettered_total{reason=\"not_json\"} 2
es_sink_dead_lettered_total{reason=\"invalid_event\"} 1
es_sink_lag{partition=\"0\"} 3
es_sink_lag{partition=\"2\"} 4
";

    fn answering(url: &str, metrics: &str, status: u16, body: &str) -> Probe {
        Probe {
            url: url.to_owned(),
            metrics: Ok(metrics.to_owned()),
            readyz: Ok((status, body.to_owned())),
        }
    }

    fn silent(url: &str) -> Probe {
        Probe {
            url: url.to_owned(),
            metrics: Err("connection refused".into()),
            readyz: Err("connection refused".into()),
        }
    }

    #[tokio::test]
    async fn a_name_stands_for_each_of_its_addresses_and_localhost_for_one() {
        let one = Url::parse("http://localhost:9101/").unwrap();
        assert_eq!(processes(&one).await, vec![one]);
        let literal = Url::parse("http://127.0.0.1:9102/").unwrap();
        assert_eq!(processes(&literal).await, vec![literal]);
        let unknown = Url::parse("http://no-such-host.invalid:9101/").unwrap();
        assert_eq!(processes(&unknown).await, vec![unknown]);
    }

    #[test]
    fn families_are_summed_over_their_labels_and_no_other_family() {
        assert_eq!(metric_sum(ES_SINK_METRICS, "es_sink_indexed_total"), 41);
        assert_eq!(
            metric_sum(ES_SINK_METRICS, "es_sink_dead_lettered_total"),
            3
        );
        assert_eq!(metric_sum(ES_SINK_METRICS, "es_sink_lag"), 7);
        assert_eq!(metric_sum(ES_SINK_METRICS, "es_sink_paused"), 0);
    }

    #[test]
    fn a_ready_stage_with_lag_is_behind_and_its_numbers_add_up_over_processes() {
        let ready = r#"{"status":"ready","loops":"ok"}"#;
        let view = stage_view(
            Stage::EsSink,
            &[
                answering("http://a:9102", ES_SINK_METRICS, 200, ready),
                answering("http://b:9102", "es_sink_indexed_total 9\n", 200, ready),
            ],
        );
        assert_eq!(view.counts[0].value, Some(50));
        assert_eq!(view.lag, Some(Some(7)));
        assert_eq!(view.dead_letters, Some(Some(3)));
        assert_eq!(
            view.condition,
            Condition::Behind("7 records in the topic not written yet".into())
        );
        assert_eq!((view.processes, view.answering), (2, 2));
    }

    #[test]
    fn hours_the_metastore_has_not_registered_put_a_caught_up_consumer_behind() {
        let ready = r#"{"status":"ready","loops":"ok"}"#;
        let metrics = "hdfs_consumer_records_landed_total 12\nhdfs_consumer_lag 0\n\
                       hdfs_consumer_hive_hours_waiting 2\n";
        let caught_up = "hdfs_consumer_lag 0\nhdfs_consumer_hive_hours_waiting 0\n";
        let view = stage_view(
            Stage::HdfsConsumer,
            &[
                answering("http://a:9101", metrics, 200, ready),
                answering("http://b:9101", caught_up, 200, ready),
            ],
        );
        assert_eq!(
            view.condition,
            Condition::Behind("2 landed hours not registered in the Hive Metastore yet".into())
        );
        let view = stage_view(
            Stage::HdfsConsumer,
            &[answering("http://b:9101", caught_up, 200, ready)],
        );
        assert_eq!(view.condition, Condition::Ok);
    }

    #[test]
    fn a_process_that_does_not_answer_makes_the_numbers_unknown_not_zero() {
        let view = stage_view(
            Stage::EsSink,
            &[
                answering("http://a:9102", ES_SINK_METRICS, 200, "{}"),
                silent("http://b:9102"),
            ],
        );
        assert_eq!(view.counts[0].value, None);
        assert_eq!(view.lag, Some(None));
        assert_eq!(
            view.condition,
            Condition::NotReady("http://b:9102: no answer (connection refused)".into())
        );
    }

    #[test]
    fn a_stage_no_process_answers_is_down() {
        let view = stage_view(Stage::HdfsConsumer, &[silent("http://127.0.0.1:9101")]);
        assert_eq!(
            view.condition,
            Condition::Down("no answer from http://127.0.0.1:9101".into())
        );
        assert_eq!(view.counts[0].value, None);
        assert_eq!(headline(&[view]), "hdfs-consumer is down");
    }

    #[test]
    fn a_not_ready_answer_gives_the_failing_checks() {
        let body = r#"{"status":"not ready","loops":"ok","storage":"no answer from the NameNode"}"#;
        assert_eq!(
            readiness(503, body),
            Err("storage: no answer from the NameNode".into())
        );
        assert_eq!(
            readiness(
                503,
                r#"{"status":"not ready","reason":"no broker reachable"}"#
            ),
            Err("no broker reachable".into())
        );
        assert_eq!(
            readiness(502, "bad gateway"),
            Err("/readyz answered 502".into())
        );
        assert_eq!(readiness(200, ""), Ok(()));
    }

    #[test]
    fn the_topic_is_seen_through_the_collector() {
        let metrics = "producer_api_events_accepted_total 5\nproducer_api_events_delivered_total 4\nproducer_api_producer_queue_depth 1\n";
        let ready = answering("http://api", metrics, 200, r#"{"status":"ready"}"#);
        let topic = stage_view(Stage::Topic, std::slice::from_ref(&ready));
        assert_eq!(
            topic
                .counts
                .iter()
                .map(|c| (c.label, c.value))
                .collect::<Vec<_>>(),
            [
                ("delivered", Some(4)),
                ("delivery failures", Some(0)),
                ("waiting to be sent", Some(1))
            ]
        );
        assert_eq!(topic.condition, Condition::Ok);
        assert_eq!(topic.lag, None, "the topic has no lag of its own");
        let collector = stage_view(Stage::Collector, &[ready]);
        assert_eq!(collector.counts[0].value, Some(5));
        assert_eq!(
            headline(&[collector, topic]),
            "every stage is ready and caught up"
        );
    }

    #[test]
    fn the_headline_names_the_first_stage_in_the_worst_condition() {
        let ok = stage_view(Stage::Collector, &[answering("http://api", "", 200, "{}")]);
        let behind = stage_view(
            Stage::HdfsConsumer,
            &[answering(
                "http://h",
                "hdfs_consumer_lag{partition=\"1\"} 2\n",
                200,
                "{}",
            )],
        );
        let unready = stage_view(
            Stage::EsSink,
            &[answering(
                "http://e",
                "",
                503,
                r#"{"status":"not ready","search":"timed out"}"#,
            )],
        );
        assert_eq!(
            headline(&[ok.clone(), behind.clone()]),
            "hdfs-consumer is behind"
        );
        assert_eq!(headline(&[ok, behind, unready]), "es-sink is not ready");
    }
}
