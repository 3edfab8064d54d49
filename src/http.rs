//! HTTP helpers shared by the token exchange and the request agent: checking
//! and joining URLs, the proxy rule, reading a bounded body, the base URL
//! from the environment, the headers sent with every request, the TLS
//! settings of the crate's own agents.

use std::fmt;
use std::net::IpAddr;

use ureq::http::{HeaderName, HeaderValue};

use crate::error::Error;

/// The Tinker API's base URL when none is given and `TINKER_BASE_URL` is
/// unset: the Python SDK's default.
pub const DEFAULT_BASE_URL: &str = "https://tinker.thinkingmachines.dev/services/tinker-prod";

/// The environment variable naming the base URL (read by
/// [`base_url_from_env`], the CLI and the C ABI).
pub const BASE_URL_ENV: &str = "TINKER_BASE_URL";

/// The environment variable whose value is sent as `CF-Access-Client-Id`.
pub const CF_ACCESS_CLIENT_ID_ENV: &str = "CLOUDFLARE_ACCESS_CLIENT_ID";

/// The environment variable whose value is sent as `CF-Access-Client-Secret`.
pub const CF_ACCESS_CLIENT_SECRET_ENV: &str = "CLOUDFLARE_ACCESS_CLIENT_SECRET";

/// The base URL from the environment: `TINKER_BASE_URL` if it is set and not
/// blank, else [`DEFAULT_BASE_URL`], as the Python SDK does.
///
/// # Errors
/// [`Error::Config`] when `TINKER_BASE_URL` is not valid UTF-8: falling back
/// to the default would send the credential somewhere the user did not ask.
pub fn base_url_from_env() -> Result<String, Error> {
    Ok(crate::credential::env_text(BASE_URL_ENV)?
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()))
}

/// `User-Agent` of every request: `tinker-auth/VERSION`.
pub(crate) const USER_AGENT: &str = concat!("tinker-auth/", env!("CARGO_PKG_VERSION"));

/// Headers added to every request of a builder's product, the caller's and
/// those read from the environment (`CF-Access-Client-Id`/`-Secret`), plus
/// the `User-Agent`. Every value is marked sensitive and none is ever shown:
/// `Debug` prints the names only.
///
/// The `User-Agent` sent is, in this order: a caller's `.header("User-Agent",
/// ..)`; a caller's agent's own; else the crate's (`tinker-auth/VERSION`).
/// The `user_agent_suffix` is appended to whichever it is. A caller's agent
/// configured to send none sends none, unless a suffix was asked for (then
/// the crate's, suffixed).
#[derive(Clone)]
pub(crate) struct ExtraHeaders {
    list: Vec<(HeaderName, HeaderValue)>,
    /// The crate's User-Agent, or the caller's `.header()` one, with the
    /// suffix.
    user_agent: HeaderValue,
    /// The suffix asked for (trimmed, not empty, a valid header value).
    suffix: Option<String>,
    /// The caller set the User-Agent with `.header()`: it beats an agent's.
    explicit: bool,
}

/// What a builder collects: caller headers and a User-Agent suffix, checked
/// at `build()`.
#[derive(Clone, Default)]
pub(crate) struct HeaderOptions {
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) user_agent_suffix: Option<String>,
}

impl HeaderOptions {
    /// The environment's Cloudflare Access headers, then the caller's (a
    /// caller's header replaces one of the same name), and the User-Agent.
    /// A caller's header named `token_header` (the one that carries the
    /// credential or the token, compared case-insensitively) is refused: it
    /// would be sent beside the real one, first.
    pub(crate) fn resolve(&self, token_header: &HeaderName) -> Result<ExtraHeaders, Error> {
        let mut out = ExtraHeaders {
            list: Vec::new(),
            user_agent: HeaderValue::from_static(USER_AGENT),
            suffix: None,
            explicit: false,
        };
        for (env, name) in [
            (CF_ACCESS_CLIENT_ID_ENV, "cf-access-client-id"),
            (CF_ACCESS_CLIENT_SECRET_ENV, "cf-access-client-secret"),
        ] {
            // Not UTF-8 is an error naming the variable, never "unset": the
            // header would vanish and Cloudflare refuse with no hint.
            if let Some(v) = crate::credential::env_text(env)?.filter(|v| !v.trim().is_empty()) {
                let value = HeaderValue::from_str(v.trim()).map_err(|_| {
                    Error::config(format!("{env} holds characters not allowed in a header"))
                })?;
                out.set(HeaderName::from_static(name), value);
            }
        }
        for (name, value) in &self.headers {
            let n = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| Error::config("header: not a valid header name"))?;
            if n == *token_header {
                return Err(Error::config(format!(
                    "header {n}: carries the token, which the crate sets itself; \
                     not allowed through .header()"
                )));
            }
            let v = HeaderValue::from_str(value.trim()).map_err(|_| {
                Error::config(format!(
                    "header {n}: the value holds characters not allowed in a header"
                ))
            })?;
            out.set(n, v);
        }
        // A User-Agent among the caller's headers is the one sent (once).
        let ua = ureq::http::header::USER_AGENT;
        if let Some(i) = out.list.iter().position(|(n, _)| *n == ua) {
            out.user_agent = out.list.remove(i).1;
            out.explicit = true;
        }
        if let Some(suffix) = self
            .user_agent_suffix
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let bad =
                || Error::config("user_agent_suffix holds characters not allowed in a header");
            HeaderValue::from_str(suffix).map_err(|_| bad())?;
            out.user_agent = suffixed(out.user_agent.as_bytes(), suffix).ok_or_else(bad)?;
            out.suffix = Some(suffix.to_owned());
        }
        Ok(out)
    }
}

/// `base`, a space and `suffix`, as a header value.
fn suffixed(base: &[u8], suffix: &str) -> Option<HeaderValue> {
    let mut bytes = base.trim_ascii().to_vec();
    if !bytes.is_empty() {
        bytes.push(b' ');
    }
    bytes.extend_from_slice(suffix.as_bytes());
    HeaderValue::from_bytes(&bytes).ok()
}

impl ExtraHeaders {
    /// No extra header, the plain `User-Agent`.
    #[cfg(test)]
    pub(crate) fn plain() -> Self {
        ExtraHeaders {
            list: Vec::new(),
            user_agent: HeaderValue::from_static(USER_AGENT),
            suffix: None,
            explicit: false,
        }
    }

    fn set(&mut self, name: HeaderName, mut value: HeaderValue) {
        value.set_sensitive(true);
        self.list.retain(|(n, _)| *n != name);
        self.list.push((name, value));
    }

    /// The values of the headers sent (the Cloudflare Access ones, the
    /// caller's), to scrub from a server's text quoted in an error.
    pub(crate) fn secrets(&self) -> Vec<&str> {
        self.list
            .iter()
            .filter_map(|(_, v)| std::str::from_utf8(v.as_bytes()).ok())
            .collect()
    }

    /// The `User-Agent` the crate's own agents are configured with: the
    /// crate's (or the caller's `.header()` one), suffixed.
    pub(crate) fn user_agent(&self) -> &HeaderValue {
        &self.user_agent
    }

    /// The `User-Agent` to set on a request through `agent`, if the agent's
    /// configuration does not already send the right one: never for the
    /// crate's own agent (`own`, configured with [`Self::user_agent`]); for a
    /// caller's, its own User-Agent with the suffix, or the crate's (see the
    /// type's docs for the order).
    fn user_agent_for(&self, agent: &ureq::Agent, own: bool) -> Option<HeaderValue> {
        use ureq::config::AutoHeaderValue;
        if own {
            return None;
        }
        if self.explicit {
            return Some(self.user_agent.clone());
        }
        match (agent.config().user_agent(), self.suffix.as_deref()) {
            // The caller's agent sends its own (or, asked to, none).
            (AutoHeaderValue::Provided(_) | AutoHeaderValue::None, None) => None,
            (AutoHeaderValue::Provided(theirs), Some(suffix)) => {
                Some(suffixed(theirs.as_bytes(), suffix).unwrap_or_else(|| self.user_agent.clone()))
            }
            // ureq's default, or none with a suffix asked for: the crate's.
            _ => Some(self.user_agent.clone()),
        }
    }

    /// Adds the headers to a request sent through `agent`, and the
    /// `User-Agent` (see [`Self::user_agent_for`]).
    pub(crate) fn apply(
        &self,
        mut req: ureq::http::request::Builder,
        agent: &ureq::Agent,
        own: bool,
    ) -> ureq::http::request::Builder {
        if let Some(ua) = self.user_agent_for(agent, own) {
            req = req.header(ureq::http::header::USER_AGENT, ua);
        }
        for (n, v) in &self.list {
            req = req.header(n.clone(), v.clone());
        }
        req
    }
}

impl fmt::Debug for ExtraHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.list.iter().map(|(n, _)| format!("{n}: <redacted>")))
            .finish()
    }
}

impl fmt::Debug for HeaderOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeaderOptions")
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(n, _)| format!("{n}: <redacted>"))
                    .collect::<Vec<_>>(),
            )
            .field("user_agent_suffix", &self.user_agent_suffix)
            .finish()
    }
}

/// TLS settings of the agents this crate makes itself (a caller's agent keeps
/// its own): ureq's defaults, except that the `platform-verifier` feature
/// trusts the operating system's store, and `native-tls` without `rustls`
/// selects native-tls (which ureq never picks on its own) with the roots it
/// loads from the system.
pub(crate) fn default_tls_config() -> ureq::tls::TlsConfig {
    #[allow(unused_mut)]
    let mut tls = ureq::tls::TlsConfig::builder();
    #[cfg(all(feature = "native-tls", not(feature = "rustls")))]
    {
        tls = tls
            .provider(ureq::tls::TlsProvider::NativeTls)
            .root_certs(ureq::tls::RootCerts::PlatformVerifier);
    }
    #[cfg(all(feature = "platform-verifier", feature = "rustls"))]
    {
        tls = tls.root_certs(ureq::tls::RootCerts::PlatformVerifier);
    }
    tls.build()
}

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

/// A request through `agent` that follows no redirect (it carries the
/// credential or the token and the configured headers, which a redirect
/// would take wherever the server points: the `3xx` response is returned as
/// is), with each of the agent's phase timeouts (per call, resolve, connect,
/// send, receive) clamped to [`NO_LIMIT`](crate::clock::NO_LIMIT). A
/// caller's agent may say "no limit" with `Duration::MAX`, which ureq adds to
/// an `Instant`, and panics.
pub(crate) fn configure_bounded<S: ureq::AsSendBody>(
    agent: &ureq::Agent,
    req: ureq::http::Request<S>,
) -> ureq::config::ConfigBuilder<ureq::typestate::HttpCrateScope<S>> {
    let t = agent.config().timeouts();
    let c = |d: Option<std::time::Duration>| d.map(crate::clock::clamp_timeout);
    agent
        .configure_request(req)
        .max_redirects(0)
        .timeout_per_call(c(t.per_call))
        .timeout_resolve(c(t.resolve))
        .timeout_connect(c(t.connect))
        .timeout_send_request(c(t.send_request))
        .timeout_await_100(c(t.await_100))
        .timeout_send_body(c(t.send_body))
        .timeout_recv_response(c(t.recv_response))
        .timeout_recv_body(c(t.recv_body))
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
