//! Reading one value from a service's `/metrics`.

use std::net::SocketAddr;

/// The value of the first metric line that starts with `name` (labels included) on the admin
/// server at `admin`; 0 when absent or unreachable.
pub async fn metric(admin: SocketAddr, name: &str) -> f64 {
    exposition(admin)
        .await
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Every series of metric family `family` on the admin server at `admin`, as (labels, value);
/// empty when absent or unreachable.
pub async fn series(admin: SocketAddr, family: &str) -> Vec<(String, f64)> {
    exposition(admin)
        .await
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(family)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(labelled) => labelled.split_once("} ")?,
                None => ("", rest.strip_prefix(' ')?),
            };
            Some((labels.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The `/metrics` text, or nothing when the server does not answer within two seconds (a
/// process frozen with SIGSTOP still accepts connections, but never answers).
async fn exposition(admin: SocketAddr) -> String {
    let ask = async {
        match reqwest::get(format!("http://{admin}/metrics")).await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(2), ask)
        .await
        .unwrap_or_default()
}
