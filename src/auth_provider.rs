//! The provider trait: what the request layer and the JWT provider ask of
//! anything that supplies a token. It depends on nothing but the token and
//! error types, so every provider (a key, a command, the JWT provider) can
//! implement it without importing the others.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::token::Token;

/// Something that supplies the value for the `X-API-Key` header.
///
/// Implemented by [`ApiKeyAuthProvider`](crate::ApiKeyAuthProvider) and
/// [`CredentialCmdAuthProvider`](crate::CredentialCmdAuthProvider)
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

/// Forwards every method of [`AuthTokenProvider`] through a smart pointer.
macro_rules! forward_through {
    ($($pointer:ident),*) => {$(
        impl<T: AuthTokenProvider + ?Sized> AuthTokenProvider for $pointer<T> {
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
    )*};
}

forward_through!(Arc, Box);

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::AuthTokenProvider;
    use crate::error::Error;
    use crate::token::Token;

    /// Counts the calls that reach it; none of its answers is a default's.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl Counting {
        fn hit(&self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    impl AuthTokenProvider for Counting {
        fn get_token(&self) -> Result<Option<Token>, Error> {
            self.hit();
            Ok(Some(Token::new("tml-inner")))
        }
        fn invalidate(&self, _: &Token) -> bool {
            self.hit();
            true
        }
        fn accepted(&self, _: &Token) {
            self.hit();
        }
        fn get_token_until(&self, _: Instant) -> Result<Option<Token>, Error> {
            self.hit();
            Err(Error::MissingCredential)
        }
        fn time_limit(&self) -> Option<Duration> {
            self.hit();
            Some(Duration::from_secs(7))
        }
    }

    /// Every method through `p` reaches the inner provider, none falls back
    /// to the trait's default.
    fn assert_forwards(p: &dyn AuthTokenProvider, inner: &Counting) {
        let token = Token::new("tml-x");
        assert!(p.get_token().unwrap().is_some());
        assert!(p.invalidate(&token));
        p.accepted(&token);
        assert!(matches!(
            p.get_token_until(Instant::now()),
            Err(Error::MissingCredential)
        ));
        assert_eq!(p.time_limit(), Some(Duration::from_secs(7)));
        assert_eq!(inner.0.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn arc_and_box_forward_every_method() {
        let inner = Arc::new(Counting::default());
        assert_forwards(&Arc::clone(&inner), &inner);

        let inner = Arc::new(Counting::default());
        let dynamic: Arc<dyn AuthTokenProvider> = Arc::clone(&inner) as _;
        assert_forwards(&dynamic, &inner);

        let inner = Arc::new(Counting::default());
        let boxed: Box<Arc<Counting>> = Box::new(Arc::clone(&inner));
        assert_forwards(&boxed, &inner);

        let inner = Arc::new(Counting::default());
        let boxed: Box<dyn AuthTokenProvider> = Box::new(Arc::clone(&inner));
        assert_forwards(&boxed, &inner);
    }
}
