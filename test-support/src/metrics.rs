//! Reading one value from a service's `/metrics`.
//!
//! A metric that is not there reads as nothing, never as zero, so a misspelt name or a dead
//! process fails the test that asked. The one exception is a labelled series of a family the
//! service declares: a counter family has no series for a label value until it first counts
//! one, and Prometheus reads that as zero too.

use std::net::SocketAddr;

/// The value of the series `name` (labels included, as exposed) on the admin server at
/// `admin`; `None` when the server does not answer, or does not expose it. A labelled series
/// not exposed reads as 0 when its family is declared.
pub async fn metric(admin: SocketAddr, name: &str) -> Option<f64> {
    let text = exposition(admin).await?;
    value(&text, name)
}

/// The value of series `name` on the admin server at `admin` (see [`metric`]), for a process
/// that must be up and expose it: the test fails, naming the series, when it does not.
pub async fn expect_metric(admin: SocketAddr, name: &str) -> f64 {
    metric(admin, name)
        .await
        .unwrap_or_else(|| panic!("{admin} does not answer with {name}"))
}

/// The value of series `name` in exposition `text` (see [`metric`]).
pub fn value(text: &str, name: &str) -> Option<f64> {
    let exposed = text
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.parse().ok());
    if exposed.is_some() {
        return exposed;
    }
    let (series, _labels) = name.split_once('{')?;
    let family = series.strip_suffix("_total").unwrap_or(series);
    let declared = text.lines().any(|l| {
        l.strip_prefix("# TYPE ")
            .and_then(|rest| rest.strip_prefix(family))
            .is_some_and(|rest| rest.starts_with(' '))
    });
    declared.then_some(0.0)
}

/// Every series of metric family `family` on the admin server at `admin`, as (labels, value);
/// `None` when the server does not answer.
pub async fn series(admin: SocketAddr, family: &str) -> Option<Vec<(String, f64)>> {
    let text = exposition(admin).await?;
    let found = text
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(family)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(labelled) => labelled.split_once("} ")?,
                None => ("", rest.strip_prefix(' ')?),
            };
            Some((labels.to_owned(), value.parse().ok()?))
        })
        .collect();
    Some(found)
}

/// The `/metrics` text, or `None` when the server does not answer within two seconds (a
/// process frozen with SIGSTOP still accepts connections, but never answers).
async fn exposition(admin: SocketAddr) -> Option<String> {
    let ask = async {
        let response = reqwest::get(format!("http://{admin}/metrics")).await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.text().await.ok()
    };
    tokio::time::timeout(std::time::Duration::from_secs(2), ask)
        .await
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::value;

    const TEXT: &str = "# HELP es_sink_indexed Documents indexed.\n\
        # TYPE es_sink_indexed counter\n\
        es_sink_indexed_total 60\n\
        # HELP es_sink_dead_lettered Records dead-lettered.\n\
        # TYPE es_sink_dead_lettered counter\n\
        es_sink_dead_lettered_total{reason=\"invalid_event\"} 1\n\
        # TYPE es_sink_paused gauge\n\
        es_sink_paused 0\n";

    #[test]
    fn a_metric_is_read_only_when_the_service_exposes_it() {
        assert_eq!(value(TEXT, "es_sink_indexed_total"), Some(60.0));
        assert_eq!(value(TEXT, "es_sink_paused"), Some(0.0));
        assert_eq!(value(TEXT, "es_sink_indexd_total"), None, "misspelt");
        assert_eq!(
            value(TEXT, "es_sink_indexed"),
            None,
            "a family, not a series"
        );
        assert_eq!(
            value(
                TEXT,
                "es_sink_dead_lettered_total{reason=\"invalid_event\"}"
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                TEXT,
                "es_sink_dead_lettered_total{reason=\"mapper_parsing_exception\"}"
            ),
            Some(0.0),
            "a label value not counted yet, in a declared family"
        );
        assert_eq!(
            value(TEXT, "es_sink_dead_letered_total{reason=\"invalid_event\"}"),
            None,
            "a family not declared"
        );
        assert_eq!(value("", "es_sink_paused"), None);
    }
}
