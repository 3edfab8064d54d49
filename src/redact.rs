//! Showing a URL without the secrets it may carry, and a server's text
//! without the secrets it may echo or the control characters it may hold.

/// What stands in for a hidden part.
const HIDDEN: &str = "<redacted>";

/// Most characters of a server's text quoted in an error (then `…`).
pub(crate) const MAX_SERVER_TEXT: usize = 200;

/// A server's text (an error's `detail`) as an error may quote it: every
/// one of `secrets` (the credential, the token, the configured header values)
/// replaced, on one line of printable characters (each control or invisible
/// formatting character, line breaks, ESC and BEL included, becomes a
/// space; runs of spaces become one), at most [`MAX_SERVER_TEXT`] characters
/// and an ellipsis. The secrets are replaced before and after the clean-up,
/// and before the cut, so that no part of one is ever left.
pub(crate) fn server_text(raw: &str, secrets: &[&str]) -> String {
    let hide = |text: String| {
        secrets
            .iter()
            .filter(|s| !s.is_empty())
            .fold(text, |t, s| t.replace(s, HIDDEN))
    };
    let mut line = String::with_capacity(raw.len().min(4 * MAX_SERVER_TEXT));
    for c in hide(raw.to_owned()).chars() {
        let c = if shown(c) { c } else { ' ' };
        if c == ' ' && (line.is_empty() || line.ends_with(' ')) {
            continue;
        }
        line.push(c);
    }
    let line = hide(line.trim_end().to_owned());
    if line.chars().count() > MAX_SERVER_TEXT {
        line.chars().take(MAX_SERVER_TEXT).collect::<String>() + "…"
    } else {
        line
    }
}

/// Whether `c` may appear in a one-line message: not a control character
/// (C0, DEL, C1), not a line or paragraph separator, not an invisible format
/// character that reorders or hides text (bidi controls, zero-width ones,
/// the byte order mark), and not whitespace other than the plain space.
fn shown(c: char) -> bool {
    !(c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(c,
            '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'))
}

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
    fn server_text_is_one_bounded_printable_line_without_secrets() {
        let t = |raw: &str| server_text(raw, &["s3cret", "eyJ.abc.def"]);
        assert_eq!(t("bad\r\nX-Evil: 1\n\n"), "bad X-Evil: 1");
        assert_eq!(t("\u{1b}[31mred\u{7}\u{0}\u{7f}\u{85}!"), "[31mred !");
        assert_eq!(t("a\u{202e}b\u{200b}c\u{2028}d\te"), "a b c d e");
        assert_eq!(
            t("key s3cret and eyJ.abc.def"),
            "key <redacted> and <redacted>"
        );
        // A secret is hidden whole even where the text is cut.
        let long = format!("{}s3cret", "x".repeat(MAX_SERVER_TEXT - 3));
        let shown = t(&long);
        assert!(!shown.contains("s3c"), "{shown}");
        assert_eq!(shown.chars().count(), MAX_SERVER_TEXT + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(t(&"y".repeat(MAX_SERVER_TEXT)), "y".repeat(MAX_SERVER_TEXT));
        assert_eq!(server_text("a  b", &[""]), "a b");
    }

    proptest::proptest! {
        #[test]
        fn server_text_is_always_one_bounded_line_without_the_secret(
            raw in "(?s).{0,400}",
            secret in "[!-~]{4,24}",
            at in 0usize..400,
        ) {
            let mut raw = raw;
            let at = (0..=at.min(raw.len())).rev().find(|i| raw.is_char_boundary(*i)).unwrap_or(0);
            raw.insert_str(at, &secret);
            let shown = server_text(&raw, &[&secret]);
            proptest::prop_assert!(!shown.contains(&secret), "{}", shown);
            proptest::prop_assert!(shown.chars().all(shown_char), "{:?}", shown);
            proptest::prop_assert!(shown.chars().count() <= MAX_SERVER_TEXT + 1);
        }
    }

    fn shown_char(c: char) -> bool {
        shown(c) || c == '…'
    }

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
