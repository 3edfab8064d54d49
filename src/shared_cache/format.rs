//! The entry's format: one JSON object, version 2.

use serde_json::{json, Value};

/// Version of the entry format; entries of any other version are ignored.
pub(super) const FORMAT_VERSION: u64 = 2;

/// The text of an entry (the JWT and the keyed fingerprint, never the credential).
pub(crate) fn entry_body(
    base_url: &str,
    fingerprint: &str,
    jwt: &str,
    clock_offset_secs: f64,
    written_at: u64,
) -> String {
    json!({
        "version": FORMAT_VERSION,
        "base_url": base_url,
        "credential_fingerprint": fingerprint,
        "jwt": jwt,
        "clock_offset_secs": if clock_offset_secs.is_finite() { clock_offset_secs } else { 0.0 },
        "written_at": written_at,
    })
    .to_string()
}

/// The JWT and clock offset of an entry's text, if it is a version-2 entry
/// for this base URL and fingerprint.
pub(crate) fn parse_entry(text: &str, base_url: &str, fingerprint: &str) -> Option<(String, f64)> {
    let v: Value = serde_json::from_str(text).ok()?;
    if v["version"].as_u64() != Some(FORMAT_VERSION)
        || v["base_url"].as_str() != Some(base_url)
        || v["credential_fingerprint"].as_str() != Some(fingerprint)
    {
        return None;
    }
    let jwt = v["jwt"].as_str().filter(|j| !j.is_empty())?.to_owned();
    let offset = v["clock_offset_secs"]
        .as_f64()
        .filter(|o| o.is_finite())
        .unwrap_or(0.0);
    Some((jwt, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clock offset reads back bit for bit: serde_json's default float
    /// parser may be one unit in the last place off (found by fuzzing).
    #[test]
    fn clock_offset_round_trips_exactly() {
        for offset in [264.0 / 7.0 - 1000.0, -1.25, 0.1, 1e-300, -7.0 / 3.0] {
            let text = entry_body("u", "f", "j", offset, 0);
            assert_eq!(parse_entry(&text, "u", "f"), Some(("j".into(), offset)));
        }
    }
}
