//! CORS for the collector's allowed origins, answered inside the one request middleware: a
//! preflight from an allowed page gets the methods, headers and cache time it may use; any
//! other answer to such a page names it in `Access-Control-Allow-Origin`. Which origins are
//! allowed is [`crate::origins::OriginGuard`]'s to say; refusing the others is too.

use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};

const ALLOWED_METHODS: HeaderValue = HeaderValue::from_static("GET,POST");
const ALLOWED_HEADERS: HeaderValue = HeaderValue::from_static("content-type,content-encoding");
/// How long a browser may reuse a preflight's answer, in seconds.
const MAX_AGE: HeaderValue = HeaderValue::from_static("3600");
/// Answers differ by these request headers, so caches keep them apart.
const VARY: HeaderValue = HeaderValue::from_static(
    "origin, access-control-request-method, access-control-request-headers",
);

/// Whether `request` is a CORS preflight: an OPTIONS naming the method it asks about.
pub fn is_preflight<B>(request: &Request<B>) -> bool {
    request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The answer to a preflight: what the page may do when its origin is `allowed`, nothing
/// otherwise (the browser then refuses the request it asked about).
pub fn preflight_answer(allowed: Option<&HeaderValue>) -> Response {
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    headers.insert(header::VARY, VARY);
    if let Some(origin) = allowed {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, ALLOWED_METHODS);
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS);
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, MAX_AGE);
    }
    response
}

/// Lets the page at `allowed` read an answer.
pub fn expose(headers: &mut HeaderMap, allowed: Option<&HeaderValue>) {
    headers.append(header::VARY, VARY);
    if let Some(origin) = allowed {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, asks: bool) -> Request<()> {
        let mut builder = Request::builder().method(method).uri("/api/events");
        if asks {
            builder = builder.header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST");
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn a_preflight_is_an_options_request_that_names_a_method() {
        assert!(is_preflight(&request(Method::OPTIONS, true)));
        assert!(!is_preflight(&request(Method::OPTIONS, false)));
        assert!(!is_preflight(&request(Method::POST, true)));
    }

    #[test]
    fn only_an_allowed_page_is_told_what_it_may_do() {
        let page = HeaderValue::from_static("http://127.0.0.1:8080");
        let allowed = preflight_answer(Some(&page));
        assert_eq!(allowed.status(), StatusCode::OK);
        let headers = allowed.headers();
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], page);
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_METHODS], "GET,POST");
        assert_eq!(headers[header::ACCESS_CONTROL_MAX_AGE], "3600");
        assert!(headers[header::VARY].to_str().unwrap().contains("origin"));
        let refused = preflight_answer(None);
        assert!(
            refused
                .headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none()
        );
        assert!(
            refused
                .headers()
                .get(header::ACCESS_CONTROL_ALLOW_METHODS)
                .is_none()
        );

        let mut answer = HeaderMap::new();
        expose(&mut answer, Some(&page));
        assert_eq!(answer[header::ACCESS_CONTROL_ALLOW_ORIGIN], page);
        let mut other = HeaderMap::new();
        expose(&mut other, None);
        assert!(other.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert_eq!(other[header::VARY], VARY);
    }
}
