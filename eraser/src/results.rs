//! The results page's part: each web process drops the clicks it remembers.

use lake::ErasureRequest;
use serde_json::{Value, json};
use url::Url;

use crate::outcome::Outcome;

/// Asks each results page (`.../results`) to forget the named clicks, showing the pages'
/// `token`; answers how many they forgot in all.
pub async fn forget(pages: &[Url], token: &str, request: &ErasureRequest) -> Outcome<usize> {
    let client = reqwest::Client::new();
    let mut forgotten = 0;
    for page in pages {
        let url = format!("{}/forget", page.as_str().trim_end_matches('/'));
        let answer = client
            .post(&url)
            .bearer_auth(token)
            .json(&json!({ "userNames": request.user_names, "eventIds": request.event_ids }))
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await;
        let body = match answer {
            Ok(answer) if answer.status().is_success() => answer.json::<Value>().await.ok(),
            Ok(answer) => {
                return Outcome::Unfinished(format!("{url} answered {}", answer.status()));
            }
            Err(err) => return Outcome::Unfinished(format!("{url}: {err}")),
        };
        match body.and_then(|b| b["forgotten"].as_u64()) {
            Some(n) => forgotten += n as usize,
            None => return Outcome::Unfinished(format!("{url} did not say how many it forgot")),
        }
    }
    Outcome::Erased(forgotten)
}
