//! Behaviour 10: a panic in the credential provider or in the exchange leaves
//! the provider usable and no waiter stuck.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use testkit::*;
use tinker_auth::{AuthTokenProvider, Clock, Error, Token};

/// Panics on its first `n` calls (after a pause, so others pile up), then
/// hands out the test key.
struct Flaky {
    panics_left: AtomicUsize,
}

impl AuthTokenProvider for Flaky {
    fn get_token(&self) -> Result<Option<Token>, Error> {
        if self
            .panics_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            std::thread::sleep(Duration::from_millis(200));
            panic!("credential backend exploded");
        }
        Ok(Some(Token::new(KEY)))
    }
}

/// The messages of the panics these tests cause on purpose.
const INTENDED: [&str; 2] = ["credential backend exploded", "clock trap"];

/// Keeps the intended panics out of the test output. The hook is global to
/// the test binary, so every other panic (another test's failing assertion)
/// still goes to the hook that was there before.
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            if !message.is_some_and(|m| INTENDED.contains(&m)) {
                previous(info);
            }
        }));
    });
}

#[test]
fn a_panicking_credential_provider_fails_the_flight_not_the_provider() {
    quiet_panics();
    let server = TokenServer::fresh(900.0);
    let provider = Arc::new(
        server
            .builder()
            .credential(Flaky {
                panics_left: AtomicUsize::new(1),
            })
            .seed_token(jwt_expiring_in(-1.0, 900.0))
            .build()
            .unwrap(),
    );
    let handles = together(8, &provider, |p| p.get_token());
    for h in handles {
        let err = h.join().expect("the panic reached a caller").unwrap_err();
        assert!(
            err.to_string().contains("credential provider: panicked"),
            "{err}"
        );
    }
    assert_eq!(provider.stats().fetches_failed, 1);
    // Usable again once the cooldown passes.
    assert!(wait_until(Duration::from_secs(3), || provider
        .get_token()
        .is_ok()));
    assert_eq!(server.hits(), 1);
}

/// The system clock, but panicking on one chosen future call.
#[derive(Debug)]
struct TrapClock {
    calls: AtomicUsize,
    trap_at: AtomicUsize,
}

impl Clock for TrapClock {
    fn now(&self) -> SystemTime {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.trap_at.load(Ordering::SeqCst) {
            panic!("clock trap");
        }
        SystemTime::now()
    }
}

#[test]
fn a_panic_inside_the_exchange_is_contained() {
    quiet_panics();
    let server = TokenServer::fresh(900.0);
    let clock = Arc::new(TrapClock {
        calls: AtomicUsize::new(0),
        trap_at: AtomicUsize::new(0),
    });
    let provider = server
        .builder()
        .clock(clock.clone())
        .seed_token(jwt_expiring_in(-1.0, 900.0))
        .build()
        .unwrap();
    // get_token reads the clock in the fast path, again before fetching, and
    // the exchange reads it when it sends: trap that third read.
    let base = clock.calls.load(Ordering::SeqCst);
    clock.trap_at.store(base + 3, Ordering::SeqCst);
    let err = provider.get_token().unwrap_err();
    assert!(
        err.to_string().contains("token exchange: panicked"),
        "{err}"
    );
    assert!(wait_until(Duration::from_secs(3), || provider
        .get_token()
        .is_ok()));
}
