//! HTTP helpers shared by the token exchange and the request agent: checking
//! and joining URLs, the proxy rule, reading a bounded body.

use std::net::IpAddr;

use crate::error::Error;

/// The token endpoint's URL, refusing to send a credential in clear to
/// anything but loopback unless allowed.
pub(crate) fn token_url(
    base: &str,
    path: &str,
    allow_insecure_http: bool,
) -> Result<String, Error> {
    let uri: ureq::http::Uri = base
        .trim()
        .parse()
        .map_err(|_| Error::config("base url is not a valid url"))?;
    let host = uri
        .host()
        .ok_or_else(|| Error::config("base url has no host"))?;
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if allow_insecure_http || is_loopback(host) => {}
        Some("http") => {
            return Err(Error::config(
                "base url: plain http:// to a non-loopback host would send the credential in \
                 clear; use https:// or allow_insecure_http(true)",
            ))
        }
        _ => return Err(Error::config("base url must start with https://")),
    }
    Ok(join_url(base, path.trim()))
}

/// `base` (trimmed, without trailing slashes) and `path`, one `/` between
/// them. The one URL joiner: the token endpoint's and every request's.
pub(crate) fn join_url(base: &str, path: &str) -> String {
    let sep = if path.starts_with('/') { "" } else { "/" };
    format!("{}{sep}{path}", base.trim().trim_end_matches('/'))
}

/// Why a bounded body read failed.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// The body is longer than the limit.
    TooLarge,
    /// The read failed (timeout, reset, ...).
    Failed(ureq::Error),
}

/// Reads a response body of at most `limit` bytes: the one body reader of
/// the token exchange and of API requests.
pub(crate) fn read_bounded(body: &mut ureq::Body, limit: u64) -> Result<Vec<u8>, BodyError> {
    body.with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => BodyError::TooLarge,
            e => BodyError::Failed(e),
        })
}

/// Whether requests to `url` must not go through a proxy: plain `http://` to
/// loopback, which a proxy (`ALL_PROXY`, `HTTP_PROXY`, read by `ureq`) would
/// otherwise see in clear, credential and token included.
pub(crate) fn bypasses_proxy(url: &str) -> bool {
    url.trim()
        .parse::<ureq::http::Uri>()
        .is_ok_and(|u| u.scheme_str() == Some("http") && u.host().is_some_and(is_loopback))
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_TOKEN_PATH;

    #[test]
    fn joins_urls_with_one_slash() {
        assert_eq!(join_url(" https://h/ ", "/a?b=c"), "https://h/a?b=c");
        assert_eq!(join_url("https://h//", "a"), "https://h/a");
        assert_eq!(join_url("https://h", ""), "https://h/");
    }

    #[test]
    fn builds_the_token_url() {
        let u = |b| token_url(b, DEFAULT_TOKEN_PATH, false);
        assert_eq!(
            u("https://api.example.com").unwrap(),
            "https://api.example.com/api/v1/auth/token"
        );
        assert_eq!(
            u("https://api.example.com/prefix/").unwrap(),
            "https://api.example.com/prefix/api/v1/auth/token"
        );
        assert_eq!(
            token_url("http://127.0.0.1:8080", "custom", false).unwrap(),
            "http://127.0.0.1:8080/custom"
        );
    }

    #[test]
    fn refuses_clear_text_credentials_off_loopback() {
        for ok in [
            "http://127.0.0.1:1",
            "http://localhost",
            "http://[::1]:9",
            "http://127.9.9.9",
        ] {
            assert!(token_url(ok, "/t", false).is_ok(), "{ok}");
        }
        let e = token_url("http://10.0.0.5", "/t", false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("allow_insecure_http"), "{e}");
        assert!(token_url("http://tinker.example.com", "/t", false).is_err());
        assert!(token_url("http://tinker.example.com", "/t", true).is_ok());
        assert!(token_url("ftp://x", "/t", true).is_err());
        assert!(token_url("not a url", "/t", true).is_err());
        assert!(token_url("/relative", "/t", true).is_err());
    }
}
