//! HS256 JWTs and the strict base64url they are spelled in.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Encodes bytes as unpadded base64url.
pub fn b64url_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity((data.len() * 4).div_ceil(3));
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
        }
    }
    out
}

/// Decodes unpadded (or padded) base64url; `None` if malformed or not
/// canonical: the unused low bits of the last character must be zero, so each
/// byte string has exactly one accepted spelling (a JWT whose signature is
/// spelled another way is not the signed token).
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        Some(u32::from(v))
    }
    let s = s.trim_end_matches('=').as_bytes();
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= sextet(c)? << (18 - 6 * i);
        }
        let bytes = chunk.len() - 1;
        // Bits below the last whole byte: set only in a non-canonical spelling.
        if n & (0x00ff_ffff >> (8 * bytes)) != 0 {
            return None;
        }
        for i in 0..bytes {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

/// Signs `claims` as an HS256 JWT with header `{"alg":"HS256","typ":"JWT"}`.
pub fn sign_hs256(claims: &Value, secret: &[u8]) -> String {
    let header = b64url_encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = b64url_encode(claims.to_string().as_bytes());
    let signing_input = format!("{header}.{payload}");
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(signing_input.as_bytes());
    let signature = b64url_encode(&mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Returns the claims of `jwt` if it is a well-formed HS256 JWT whose
/// signature verifies with `secret`. Expiry is not checked.
pub fn verify_hs256(jwt: &str, secret: &[u8]) -> Option<Value> {
    let (signing_input, signature) = jwt.rsplit_once('.')?;
    let (header, payload) = signing_input.split_once('.')?;
    let header: Value = serde_json::from_slice(&b64url_decode(header)?).ok()?;
    if header.get("alg")? != "HS256" {
        return None;
    }
    let mut mac = HmacSha256::new_from_slice(secret).ok()?;
    mac.update(signing_input.as_bytes());
    mac.verify_slice(&b64url_decode(signature)?).ok()?;
    let claims: Value = serde_json::from_slice(&b64url_decode(payload)?).ok()?;
    claims.is_object().then_some(claims)
}

/// Returns the claims of `jwt` without verifying anything.
pub fn decode_claims(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    serde_json::from_slice(&b64url_decode(payload)?).ok()
}
