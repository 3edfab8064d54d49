//! The secret a provider hands out, with a redacting `Debug`.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::error::Error;
use crate::jwt::{jwt_times, JwtTimes};

/// A credential or JWT to send in the `X-API-Key` header.
///
/// Cloning a `Token` bumps a reference count and allocates nothing. Its
/// `Debug` output never shows the secret, and it has no `Display`, so it cannot
/// end up in a log line by accident: call [`Token::as_str`] to use it.
#[derive(Clone)]
pub struct Token(Arc<Inner>);

struct Inner {
    secret: Box<str>,
    expires_at: Option<SystemTime>,
    issued_at: Option<SystemTime>,
}

impl Token {
    /// Wraps an opaque credential (such as a `tml-...` API key) with no known expiry.
    pub fn new(secret: impl Into<String>) -> Self {
        Token(Arc::new(Inner {
            secret: secret.into().into_boxed_str(),
            expires_at: None,
            issued_at: None,
        }))
    }

    /// Wraps a JWT, reading its `exp` (required) and `iat` (optional) once.
    ///
    /// # Errors
    /// [`Error::InvalidJwt`] when the JWT cannot be decoded or has no `exp`.
    pub fn from_jwt(jwt: impl Into<String>) -> Result<Self, Error> {
        let jwt = jwt.into();
        let times = jwt_times(&jwt)?;
        Ok(Token::from_parts(jwt, times))
    }

    /// A JWT whose times were already read (no second decode).
    pub(crate) fn from_parts(jwt: String, times: JwtTimes) -> Self {
        Token(Arc::new(Inner {
            secret: jwt.into_boxed_str(),
            expires_at: Some(times.exp),
            issued_at: times.iat,
        }))
    }

    /// A copy in its own allocation (same secret and times), so that its
    /// clones share no reference count with this token's.
    pub(crate) fn detached(&self) -> Self {
        Token(Arc::new(Inner {
            secret: self.0.secret.clone(),
            expires_at: self.0.expires_at,
            issued_at: self.0.issued_at,
        }))
    }

    /// The header value to send.
    pub fn as_str(&self) -> &str {
        &self.0.secret
    }

    /// When the token expires by its issuer's clock (the JWT's `exp`), if known.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.0.expires_at
    }

    /// When the token was issued by its issuer's clock (the JWT's `iat`), if known.
    pub fn issued_at(&self) -> Option<SystemTime> {
        self.0.issued_at
    }

    /// Whether two tokens carry the same secret. Cheap for clones of one token.
    pub fn same_as(&self, other: &Token) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.secret == other.0.secret
    }
}

impl PartialEq for Token {
    fn eq(&self, other: &Self) -> bool {
        self.same_as(other)
    }
}

impl Eq for Token {}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("secret", &"<redacted>")
            .field("expires_at", &self.0.expires_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_secret() {
        let t = Token::new("tml-very-secret-key");
        let shown = format!("{t:?} {t:#?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn clones_share_one_allocation() {
        let t = Token::new("tml-abc");
        let c = t.clone();
        assert!(std::ptr::eq(t.as_str(), c.as_str()));
        assert!(t.same_as(&c));
        assert!(t.same_as(&Token::new("tml-abc")));
        assert!(!t.same_as(&Token::new("tml-abd")));
    }

    #[test]
    fn from_jwt_requires_exp() {
        // {"alg":"none"} . {"sub":"x"}
        let err = Token::from_jwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln").unwrap_err();
        assert!(err.to_string().contains("missing `exp`"));
    }
}
