//! Showing a URL without the secrets it may carry.

/// What stands in for a hidden part.
const HIDDEN: &str = "<redacted>";

/// `url` with its user info (`user:password@`), query string and fragment
/// replaced, for `Debug` output and messages: scheme, host, port and path
/// stay. Works on anything URL-shaped, a bare path included, without parsing
/// it strictly, so a malformed URL is redacted too.
pub(crate) fn redact_url(url: &str) -> String {
    let (rest, fragment) = match url.split_once('#') {
        Some((rest, _)) => (rest, true),
        None => (url, false),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, _)) => (rest, true),
        None => (rest, false),
    };
    let mut out = String::with_capacity(url.len());
    let after_scheme = match rest.find("://") {
        Some(i) => {
            out.push_str(&rest[..i + 3]);
            &rest[i + 3..]
        }
        None => rest,
    };
    let authority_end = after_scheme.find('/').unwrap_or(after_scheme.len());
    let (authority, path) = after_scheme.split_at(authority_end);
    match authority.rfind('@') {
        Some(at) => {
            out.push_str(HIDDEN);
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    out.push_str(path);
    if query {
        out.push('?');
        out.push_str(HIDDEN);
    }
    if fragment {
        out.push('#');
        out.push_str(HIDDEN);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_user_info_query_and_fragment_only() {
        for (url, shown) in [
            ("https://api.example.com", "https://api.example.com"),
            (
                "https://api.example.com:8443/prefix/",
                "https://api.example.com:8443/prefix/",
            ),
            (
                "http://user:pw@127.0.0.1:9/p?k=v#f",
                "http://<redacted>@127.0.0.1:9/p?<redacted>#<redacted>",
            ),
            ("https://a:b@c@host/x", "https://<redacted>@host/x"),
            ("https://host?sig=s", "https://host?<redacted>"),
            ("/api/v1/auth/token?k=v", "/api/v1/auth/token?<redacted>"),
            ("user:pw@host/x", "<redacted>@host/x"),
            ("", ""),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }
}
