//! `POST /results/forget`, the eraser's call: drops the remembered clicks of people or ids
//! once they are erased from the search index. Only the eraser may call it, by the token both
//! are given (`FORGET_TOKEN` here, `RESULTS_TOKEN` in the eraser), compared in constant time:
//! a token rather than a listener of its own, because the eraser reaches every web process
//! through the address it already knows, and a proxy in front of the page passes the header
//! through unchanged. Without a token set, the endpoint is off.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::results::Results;

/// The largest request body taken: an erasure names a few people and ids; 256 KiB holds
/// thousands of them.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What `POST /results/forget` names.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ForgetRequest {
    #[serde(default)]
    user_names: Vec<String>,
    #[serde(default)]
    event_ids: Vec<Uuid>,
}

#[derive(Clone)]
struct Forgetting {
    results: Results,
    token: Option<std::sync::Arc<str>>,
}

/// The route, answering only a caller holding `token` (none: the route is off).
pub fn route(results: Results, token: Option<&str>) -> Router {
    let state = Forgetting {
        results,
        token: token.map(Into::into),
    };
    Router::new()
        .route("/results/forget", axum::routing::post(forget))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Whether `headers` carry `Authorization: Bearer <token>`, compared in constant time.
pub fn authorized(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "))
        .is_some_and(|given| bool::from(given.ct_eq(token.as_bytes())))
}

/// `POST /results/forget {"userNames": [..], "eventIds": [..]}` with the eraser's token:
/// answers how many remembered clicks it dropped.
async fn forget(
    State(forgetting): State<Forgetting>,
    headers: HeaderMap,
    body: Result<Json<ForgetRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Some(token) = forgetting.token.as_deref() else {
        return refusal(
            StatusCode::FORBIDDEN,
            "forget_not_enabled",
            "this page takes no forget requests: FORGET_TOKEN is not set",
        );
    };
    if !authorized(&headers, token) {
        return (
            [(header::WWW_AUTHENTICATE, "Bearer")],
            refusal(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "only the eraser may ask this page to forget, with its token",
            ),
        )
            .into_response();
    }
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => {
            return refusal(rejection.status(), "invalid_body", &rejection.body_text());
        }
    };
    let forgotten = forgetting
        .results
        .forget(&request.user_names, &request.event_ids);
    Json(serde_json::json!({ "forgotten": forgotten })).into_response()
}

fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_is_authorized() {
        let token = "0123456789abcdef0123456789abcdef";
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            headers
        };
        assert!(authorized(&with(&format!("Bearer {token}")), token));
        for wrong in [
            format!("Bearer {token}x"),
            format!("Bearer {}", &token[1..]),
            format!("bearer {token}"),
            token.to_owned(),
            "Bearer ".to_owned(),
        ] {
            assert!(!authorized(&with(&wrong), token), "{wrong}");
        }
        assert!(!authorized(&HeaderMap::new(), token));
    }
}
