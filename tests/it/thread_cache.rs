//! The per-thread token copies of the fast path never outlive a change of the
//! current token: not an invalidation from another thread, not the on-demand
//! window, and never across providers.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

use testkit::stand_in::{StandIn, StandInConfig};
use tinker_auth::{AuthTokenProvider, JwtAuthProvider, ManualClock, Token};

fn server() -> StandIn {
    StandIn::start_with(StandInConfig {
        lifetime: Duration::from_secs(60),
        ..StandInConfig::default()
    })
}

fn get(p: &JwtAuthProvider) -> Token {
    p.get_token().unwrap().unwrap()
}

#[test]
fn an_invalidation_on_one_thread_reaches_the_copy_of_another() {
    let server = server();
    let p = Arc::new(
        JwtAuthProvider::builder(server.url())
            .api_key(server.api_key())
            .background_refresh(false)
            .build()
            .unwrap(),
    );
    let (to_reader, go) = mpsc::channel::<()>();
    let (to_main, seen) = mpsc::channel::<Token>();
    let reader = {
        let p = Arc::clone(&p);
        thread::spawn(move || {
            // Fill this thread's copy, twice to be sure it is served.
            let first = get(&p);
            assert!(get(&p).same_as(&first));
            to_main.send(first).unwrap();
            go.recv().unwrap();
            to_main.send(get(&p)).unwrap();
        })
    };
    let first = seen.recv().unwrap();
    assert!(p.invalidate(&first));
    to_reader.send(()).unwrap();
    let second = seen.recv().unwrap();
    reader.join().unwrap();
    assert!(
        !second.same_as(&first),
        "the invalidated token was served from a thread's copy"
    );
    assert_eq!(server.exchanges(), 2);
    assert!(get(&p).same_as(&second));
}

#[test]
fn a_copy_is_not_served_inside_the_on_demand_window() {
    let server = server();
    let clock = ManualClock::new(SystemTime::now());
    let p = JwtAuthProvider::builder(server.url())
        .api_key(server.api_key())
        .clock(Arc::new(clock.clone()))
        .refresh_on_demand_within(Duration::from_secs(10))
        .background_refresh(false)
        .build()
        .unwrap();
    let first = get(&p);
    assert!(get(&p).same_as(&first));
    // 60 s tokens, 10 s window: 55 s on, the copy is due. (Real time must
    // pass the one-second pacing gap too: within it, a still usable token is
    // served rather than refreshed.)
    std::thread::sleep(Duration::from_millis(1100));
    clock.advance(Duration::from_secs(55));
    server.set_skew_secs(55);
    let second = get(&p);
    assert!(!second.same_as(&first));
    assert_eq!(server.exchanges(), 2);
    assert!(get(&p).same_as(&second));
}

#[test]
fn a_thread_using_many_providers_gets_each_its_own_token() {
    let server = server();
    // More providers than a thread keeps copies for.
    let providers: Vec<JwtAuthProvider> = (0..7)
        .map(|_| {
            JwtAuthProvider::builder(server.url())
                .api_key(server.api_key())
                .background_refresh(false)
                .build()
                .unwrap()
        })
        .collect();
    let firsts: Vec<Token> = providers.iter().map(get).collect();
    for round in 0..3 {
        for (p, first) in providers.iter().zip(&firsts) {
            assert!(get(p).same_as(first), "round {round}");
        }
    }
    for (i, a) in firsts.iter().enumerate() {
        for b in &firsts[i + 1..] {
            assert!(!a.same_as(b));
        }
    }
    assert_eq!(server.exchanges(), 7);
    // A provider built after others were dropped never sees their copies.
    drop(providers);
    let p = JwtAuthProvider::builder(server.url())
        .api_key(server.api_key())
        .background_refresh(false)
        .build()
        .unwrap();
    let t = get(&p);
    assert!(firsts.iter().all(|f| !f.same_as(&t)));
}
