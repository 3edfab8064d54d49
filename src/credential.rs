//! Where long-lived credentials come from: the provider trait, API keys, and
//! the SDK's rules for choosing between a key and a credential command.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::command::CredentialCmdAuthProvider;
use crate::error::Error;
use crate::token::Token;

/// Environment variable holding the API key.
pub const API_KEY_ENV: &str = "TINKER_API_KEY";
/// Environment variable holding a shell command that prints a credential.
pub const CREDENTIAL_CMD_ENV: &str = "TINKER_CREDENTIAL_CMD";

/// Something that supplies the value for the `X-API-Key` header.
///
/// Implemented by [`ApiKeyAuthProvider`] and [`CredentialCmdAuthProvider`]
/// (long-lived credentials) and by [`JwtAuthProvider`](crate::JwtAuthProvider)
/// (a short-lived JWT kept fresh). Implementations must be cheap to call from
/// many threads at once.
pub trait AuthTokenProvider: Send + Sync {
    /// The token to send now, or `None` when the provider has none to offer.
    ///
    /// # Errors
    /// Whatever kept the provider from producing a usable token.
    fn get_token(&self) -> Result<Option<Token>, Error>;

    /// Reports that the server rejected `token` (a `401`), so that the next
    /// [`get_token`](Self::get_token) does not hand it out again.
    ///
    /// Returns `true` when the provider can supply a different token, making a
    /// retry worthwhile. The default, for providers that cannot refresh (a
    /// plain API key), returns `false`: the rejection is final.
    fn invalidate(&self, token: &Token) -> bool {
        let _ = token;
        false
    }

    /// Reports that the server accepted `token` (a 2xx), so that a provider
    /// backing off after rejected tokens (see
    /// [`Error::TokensRejected`]) knows the
    /// back-off is over. [`AuthenticatedAgent`](crate::AuthenticatedAgent)
    /// and [`AuthMiddleware`](crate::AuthMiddleware) call it on every 2xx, so
    /// it must be cheap. The default does nothing.
    fn accepted(&self, token: &Token) {
        let _ = token;
    }

    /// [`get_token`](Self::get_token), returning by `deadline` (or soon after
    /// it). [`AuthenticatedAgent`](crate::AuthenticatedAgent) calls this with
    /// its request deadline, so that waiting for a token counts against it.
    ///
    /// The default calls `get_token`, which suits providers that answer at
    /// once (an API key); a provider that may block (a refresh, a command)
    /// should override it. [`JwtAuthProvider`](crate::JwtAuthProvider) does.
    ///
    /// # Errors
    /// As `get_token`, and whatever the provider reports when the deadline
    /// comes first.
    fn get_token_until(&self, deadline: Instant) -> Result<Option<Token>, Error> {
        let _ = deadline;
        self.get_token()
    }

    /// The longest a [`get_token`](Self::get_token) call can take, when the
    /// provider bounds it (a credential command's timeout). A
    /// [`JwtAuthProvider`](crate::JwtAuthProvider) using this provider as its
    /// credential adds it to `fetch_timeout` for the deadline of a refresh.
    /// Defaults to `None`: answers at once, or states no bound.
    fn time_limit(&self) -> Option<Duration> {
        None
    }
}

impl<T: AuthTokenProvider + ?Sized> AuthTokenProvider for Arc<T> {
    fn get_token(&self) -> Result<Option<Token>, Error> {
        (**self).get_token()
    }
    fn invalidate(&self, token: &Token) -> bool {
        (**self).invalidate(token)
    }
    fn accepted(&self, token: &Token) {
        (**self).accepted(token)
    }
    fn get_token_until(&self, deadline: Instant) -> Result<Option<Token>, Error> {
        (**self).get_token_until(deadline)
    }
    fn time_limit(&self) -> Option<Duration> {
        (**self).time_limit()
    }
}

impl<T: AuthTokenProvider + ?Sized> AuthTokenProvider for Box<T> {
    fn get_token(&self) -> Result<Option<Token>, Error> {
        (**self).get_token()
    }
    fn invalidate(&self, token: &Token) -> bool {
        (**self).invalidate(token)
    }
    fn accepted(&self, token: &Token) {
        (**self).accepted(token)
    }
    fn get_token_until(&self, deadline: Instant) -> Result<Option<Token>, Error> {
        (**self).get_token_until(deadline)
    }
    fn time_limit(&self) -> Option<Duration> {
        (**self).time_limit()
    }
}

/// Whether `s` looks like a JWT rather than an API key.
pub(crate) fn looks_like_jwt(s: &str) -> bool {
    s.starts_with("eyJ")
}

/// A fixed credential: a `tml-...` API key, or a JWT used as is.
///
/// ```
/// use tinker_auth::{ApiKeyAuthProvider, AuthTokenProvider};
/// let p = ApiKeyAuthProvider::new("tml-0123456789").unwrap();
/// assert_eq!(p.get_token().unwrap().unwrap().as_str(), "tml-0123456789");
/// assert!(ApiKeyAuthProvider::new("sk-not-a-tinker-key").is_err());
/// ```
#[derive(Clone)]
pub struct ApiKeyAuthProvider {
    token: Token,
}

impl ApiKeyAuthProvider {
    /// Accepts a Tinker key (`tml-` followed by the key) or a JWT (`eyJ...`).
    /// Surrounding white space is trimmed.
    ///
    /// # Errors
    /// [`Error::InvalidApiKey`], stating the rule without echoing the key.
    pub fn new(key: impl AsRef<str>) -> Result<Self, Error> {
        let key = key.as_ref().trim();
        let token = if looks_like_jwt(key) {
            // A JWT whose claims cannot be read is still passed through: the
            // server is the judge of it, we just cannot schedule around it.
            Token::from_jwt(key).unwrap_or_else(|_| Token::new(key))
        } else if key.len() > "tml-".len() && key.starts_with("tml-") {
            Token::new(key)
        } else {
            return Err(Error::InvalidApiKey);
        };
        Ok(ApiKeyAuthProvider { token })
    }

    /// Reads the key from `TINKER_API_KEY`.
    ///
    /// # Errors
    /// [`Error::MissingCredential`] when the variable is unset or empty, else
    /// as [`ApiKeyAuthProvider::new`].
    pub fn from_env() -> Result<Self, Error> {
        Self::from_env_value(env_text(API_KEY_ENV)?)
    }

    fn from_env_value(value: Option<String>) -> Result<Self, Error> {
        match value {
            Some(v) if !v.trim().is_empty() => Self::new(v),
            _ => Err(Error::MissingCredential),
        }
    }
}

impl AuthTokenProvider for ApiKeyAuthProvider {
    fn get_token(&self) -> Result<Option<Token>, Error> {
        Ok(Some(self.token.clone()))
    }
}

impl fmt::Debug for ApiKeyAuthProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyAuthProvider")
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Chooses a credential provider by the Tinker SDK's rules.
///
/// 1. A JWT given as the key (`api_key`, else `TINKER_API_KEY`) is used
///    directly, even when the command is enforced.
/// 2. With `enforce_cmd`, `TINKER_CREDENTIAL_CMD` must be set and is used.
/// 3. Otherwise the key, falling back to the command when the key is missing or
///    malformed and a command is set; else the key's error.
///
/// # Errors
/// [`Error::MissingCredential`], [`Error::InvalidApiKey`] or
/// [`Error::EmptyCommand`], as the rules above decide.
pub fn resolve_auth_provider(
    api_key: Option<&str>,
    enforce_cmd: bool,
) -> Result<Box<dyn AuthTokenProvider>, Error> {
    let env_key = env_text(API_KEY_ENV)?;
    let env_cmd = env_text(CREDENTIAL_CMD_ENV)?;
    resolve_with(api_key, enforce_cmd, env_key, env_cmd)
}

/// An environment variable's value; one that is not UTF-8 is an error naming
/// the variable (never its value), not "unset": a mangled key is not "no
/// credential".
pub(crate) fn env_text(name: &str) -> Result<Option<String>, Error> {
    match std::env::var(name) {
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Error::config(format!("{name} is not valid UTF-8")))
        }
    }
}

/// [`resolve_auth_provider`] with the environment passed in, for tests.
fn resolve_with(
    api_key: Option<&str>,
    enforce_cmd: bool,
    env_key: Option<String>,
    env_cmd: Option<String>,
) -> Result<Box<dyn AuthTokenProvider>, Error> {
    let key = api_key
        .map(str::to_owned)
        .or(env_key)
        .filter(|k| !k.trim().is_empty());
    let cmd = env_cmd.filter(|c| !c.trim().is_empty());
    if let Some(k) = key.as_deref().filter(|k| looks_like_jwt(k.trim())) {
        return Ok(Box::new(ApiKeyAuthProvider::new(k)?));
    }
    if enforce_cmd {
        return match cmd {
            Some(c) => Ok(Box::new(CredentialCmdAuthProvider::new(c)?)),
            None => Err(Error::config(format!(
                "a credential command is required: set {CREDENTIAL_CMD_ENV}"
            ))),
        };
    }
    match (ApiKeyAuthProvider::from_env_value(key), cmd) {
        (Ok(p), _) => Ok(Box::new(p)),
        (Err(_), Some(c)) => Ok(Box::new(CredentialCmdAuthProvider::new(c)?)),
        (Err(e), None) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // {"alg":"none"} . {"exp":2000000000}
    const JWT: &str = "eyJhbGciOiJub25lIn0.eyJleHAiOjIwMDAwMDAwMDB9.c2ln";

    fn resolved(
        key: Option<&str>,
        enforce: bool,
        env_key: Option<&str>,
        env_cmd: Option<&str>,
    ) -> Result<String, String> {
        resolve_with(
            key,
            enforce,
            env_key.map(Into::into),
            env_cmd.map(Into::into),
        )
        .map(|p| match p.get_token() {
            Ok(Some(t)) => t.as_str().to_owned(),
            other => format!("{other:?}"),
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn api_key_rules() {
        assert!(ApiKeyAuthProvider::new("tml-abc").is_ok());
        assert!(ApiKeyAuthProvider::new("  tml-abc\n").is_ok());
        assert!(ApiKeyAuthProvider::new(JWT).is_ok());
        for bad in ["", "tml-", "sk-123", "TML-abc", "abc"] {
            let e = ApiKeyAuthProvider::new(bad).unwrap_err().to_string();
            assert!(e.contains("`tml-`"), "{e}");
        }
        let e = ApiKeyAuthProvider::new("sk-very-secret")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("very-secret"));
    }

    #[test]
    fn jwt_key_keeps_its_expiry() {
        let p = ApiKeyAuthProvider::new(JWT).unwrap();
        assert!(p.get_token().unwrap().unwrap().expires_at().is_some());
    }

    #[test]
    fn from_env_value_explains_what_to_do() {
        let e = ApiKeyAuthProvider::from_env_value(None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("TINKER_API_KEY") && e.contains("pass an api key"),
            "{e}"
        );
        assert!(ApiKeyAuthProvider::from_env_value(Some("  ".into())).is_err());
    }

    #[test]
    fn debug_hides_the_key() {
        let p = ApiKeyAuthProvider::new("tml-hush").unwrap();
        assert!(!format!("{p:?}").contains("hush"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Values an environment variable or caller might hold: anything,
        /// keys and JWTs with odd tails, surrounding white space.
        fn value() -> impl Strategy<Value = String> {
            let core = prop_oneof![
                ".{0,40}",
                "tml-.{0,40}",
                "eyJ.{0,60}",
                "eyJ[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_=-]{0,40}\\.[A-Za-z0-9_-]{0,10}",
                Just(String::new()),
                Just("tml-".to_owned()),
            ];
            (core, "[ \t\r\n]{0,2}", "[ \t\r\n]{0,2}").prop_map(|(c, a, b)| format!("{a}{c}{b}"))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn api_keys_are_accepted_by_the_rule_or_refused_without_echo(key in value()) {
                let t = key.trim();
                let valid = looks_like_jwt(t) || (t.len() > 4 && t.starts_with("tml-"));
                match ApiKeyAuthProvider::new(&key) {
                    Ok(p) => {
                        prop_assert!(valid, "{:?}", key);
                        let token = p.get_token().unwrap().unwrap();
                        prop_assert_eq!(token.as_str(), t);
                        let shown = format!("{p:?}");
                        prop_assert!(!shown.contains(t), "{}", shown);
                    }
                    Err(e) => {
                        prop_assert!(!valid, "{:?}: {}", key, e);
                        prop_assert!(matches!(e, Error::InvalidApiKey));
                    }
                }
                match ApiKeyAuthProvider::from_env_value(Some(key.clone())) {
                    Ok(_) => prop_assert!(valid),
                    Err(Error::MissingCredential) => prop_assert!(t.is_empty()),
                    Err(e) => prop_assert!(!valid && matches!(e, Error::InvalidApiKey)),
                }
            }

            /// Never runs the command (`CredentialCmdAuthProvider::new` only
            /// checks it is not blank), never panics, and follows the rules.
            #[test]
            fn resolution_never_panics(
                api_key in prop::option::of(value()),
                enforce in any::<bool>(),
                env_key in prop::option::of(value()),
                env_cmd in prop::option::of(value()),
            ) {
                let key = api_key.clone().or(env_key.clone()).filter(|k| !k.trim().is_empty());
                let jwt_key = key.as_deref().is_some_and(|k| looks_like_jwt(k.trim()));
                let has_cmd = env_cmd.as_deref().is_some_and(|c| !c.trim().is_empty());
                let r = resolve_with(api_key.as_deref(), enforce, env_key, env_cmd);
                if jwt_key {
                    prop_assert!(r.is_ok());
                } else if enforce {
                    prop_assert_eq!(r.is_ok(), has_cmd);
                } else if has_cmd {
                    prop_assert!(r.is_ok());
                }
                if let Err(e) = r {
                    let text = e.to_string();
                    if let Some(k) = key.as_deref().map(str::trim).filter(|k| k.len() > 8) {
                        prop_assert!(!text.contains(k), "{}", text);
                    }
                }
            }
        }
    }

    #[test]
    fn resolution_follows_the_sdk_rules() {
        // Explicit key beats the environment.
        assert_eq!(
            resolved(Some("tml-a"), false, Some("tml-b"), None),
            Ok("tml-a".into())
        );
        assert_eq!(
            resolved(None, false, Some("tml-b"), None),
            Ok("tml-b".into())
        );
        // A JWT key is used directly even when the command is enforced.
        assert_eq!(
            resolved(Some(JWT), true, None, Some("echo tml-c")),
            Ok(JWT.into())
        );
        assert_eq!(
            resolved(None, true, Some(JWT), Some("echo tml-c")),
            Ok(JWT.into())
        );
        // Enforced command wins over a key.
        assert_eq!(
            resolved(Some("tml-a"), true, None, Some("echo tml-c")),
            Ok("tml-c".into())
        );
        let e = resolved(Some("tml-a"), true, None, None).unwrap_err();
        assert!(e.contains("TINKER_CREDENTIAL_CMD"), "{e}");
        // Missing or bad key falls back to the command when one is set.
        assert_eq!(
            resolved(None, false, None, Some("echo tml-c")),
            Ok("tml-c".into())
        );
        assert_eq!(
            resolved(Some("bad"), false, None, Some("echo tml-c")),
            Ok("tml-c".into())
        );
        // Else the key's own error.
        assert!(resolved(None, false, None, None)
            .unwrap_err()
            .contains("no credential"));
        assert!(resolved(Some("bad"), false, None, None)
            .unwrap_err()
            .contains("invalid api key"));
    }
}
