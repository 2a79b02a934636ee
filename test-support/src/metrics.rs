//! Reading one value from a service's `/metrics`.

use std::net::SocketAddr;

/// The value of the first metric line that starts with `name` (labels included) on the admin
/// server at `admin`; 0 when absent or unreachable.
pub async fn metric(admin: SocketAddr, name: &str) -> f64 {
    let text = match reqwest::get(format!("http://{admin}/metrics")).await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => return 0.0,
    };
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}
