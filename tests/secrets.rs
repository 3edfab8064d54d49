//! Secrets: across a mini-suite of scenarios (healthy, every fault mode,
//! skew, invalidation, shutdown, drop during a hang), every log line and every
//! error text is captured, and none holds the API key or any JWT.
//!
//! One test in this binary, since it installs the process's logger.

use std::error::Error as _;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use log::{Level, LevelFilter, Log, Metadata, Record};
use testkit::probe;
use testkit::stand_in::{Mode, StandIn, StandInConfig};
use tinker_auth::{AuthTokenProvider, Error, JwtAuthProvider, Token};

struct Line {
    target: String,
    level: Level,
    text: String,
}

#[derive(Default)]
struct Capture(Mutex<Vec<Line>>);

impl Log for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &Record<'_>) {
        let line = Line {
            target: r.target().to_owned(),
            level: r.level(),
            text: r.args().to_string(),
        };
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }
    fn flush(&self) {}
}

/// Everything said about a run, and every secret that must not be in it.
#[derive(Default)]
struct Evidence {
    texts: Vec<String>,
    secrets: Vec<String>,
}

impl Evidence {
    fn token(&mut self, t: &Token) {
        self.secrets.push(t.as_str().to_owned());
        self.texts.push(format!("{t:?} {t:#?}"));
    }
    fn jwt(&mut self, jwt: String) {
        self.secrets.push(jwt);
    }
    fn error(&mut self, e: &Error) {
        self.texts.push(format!("{e} | {e:?} | {e:#?}"));
        let mut source = e.source();
        while let Some(s) = source {
            self.texts.push(format!("{s} | {s:?}"));
            source = s.source();
        }
    }
    fn result(&mut self, r: Result<Option<Token>, Error>) {
        match r {
            Ok(Some(t)) => self.token(&t),
            Ok(None) => {}
            Err(e) => self.error(&e),
        }
    }
    fn provider(&mut self, p: &JwtAuthProvider) {
        self.texts.push(format!("{p:?} {p:#?} {:?}", p.stats()));
    }
}

/// Where a secret could hide in a text: the whole of it, or any of its parts
/// (a JWT's payload and signature are as telling as the token).
fn leaks(text: &str, secret: &str) -> bool {
    text.contains(secret)
        || secret
            .split('.')
            .filter(|part| part.len() >= 16)
            .any(|part| text.contains(part))
}

fn stand_in() -> StandIn {
    StandIn::start_with(StandInConfig {
        lifetime: Duration::from_secs(2),
        api_key: "tml-secret-key-0123456789abcdef".into(),
        ..StandInConfig::default()
    })
}

fn scenarios(ev: &mut Evidence) -> String {
    let s = stand_in();
    let key = s.api_key();

    // Healthy, across a background refresh.
    let b = probe::builder(&s).seed_token(s.mint(Duration::from_secs(2)));
    ev.texts.push(format!("{b:?}"));
    let p = b.build().unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(2500) {
        ev.result(p.get_token());
        thread::sleep(Duration::from_millis(50));
    }
    let t = p.get_token().unwrap().unwrap();
    assert!(p.invalidate(&t));
    ev.result(p.get_token());
    ev.provider(&p);
    p.shutdown();
    ev.result(p.get_token());
    drop(p);

    // Every fault mode, met by a provider holding an expired seed.
    for mode in [
        Mode::Status500,
        Mode::Status503 {
            retry_after_secs: 1,
        },
        Mode::Garbage,
        Mode::MissingJwt,
        Mode::NoExp,
        Mode::SameToken,
        Mode::Rejected,
        Mode::Reset,
        Mode::Oversized,
        Mode::Hang,
    ] {
        s.set_mode(Mode::Healthy);
        let seed = s.mint_expired();
        ev.jwt(seed.clone());
        let p = probe::builder(&s).seed_token(seed).build().unwrap();
        s.set_mode(mode);
        for _ in 0..3 {
            ev.result(p.get_token());
            thread::sleep(Duration::from_millis(20));
        }
        ev.provider(&p);
        if let Err(e) = probe::builder(&s).build() {
            ev.error(&e);
        }
        drop(p); // during Hang, with an exchange possibly stranded
    }
    s.set_mode(Mode::Healthy);

    // A garbled seed, and a seed that is a tampered token.
    let good = s.mint(Duration::from_secs(60));
    ev.jwt(good.clone());
    let garbled = format!("{}x.y", &good[..good.len() - 5]);
    for seed in [garbled, good.replace('.', "")] {
        let p = probe::builder(&s).seed_token(seed.clone()).build().unwrap();
        ev.jwt(seed);
        ev.result(p.get_token());
    }

    // Skewed server.
    s.set_skew_secs(-880);
    let p = probe::builder(&s).build().unwrap();
    ev.result(p.get_token());
    ev.provider(&p);
    key
}

#[test]
fn no_api_key_and_no_jwt_in_any_log_line_or_error() {
    let capture: &'static Capture = Box::leak(Box::default());
    log::set_logger(capture).expect("the only logger in this binary");
    log::set_max_level(LevelFilter::Trace);

    let mut ev = Evidence::default();
    let key = scenarios(&mut ev);
    thread::sleep(Duration::from_millis(1200)); // stranded exchanges end and log
    ev.secrets.push(key.clone());

    let lines = capture.0.lock().unwrap();
    let ours = lines.iter().filter(|l| l.target.starts_with("tinker_auth"));
    let warnings = ours.clone().filter(|l| l.level <= Level::Warn).count();
    assert!(
        ours.count() >= 5,
        "the capture saw too little of the provider's logging"
    );
    assert!(
        warnings >= 3,
        "expected failed-refresh warnings: {warnings}"
    );
    assert!(ev.secrets.len() > 10 && ev.texts.len() > 50);

    // Every line of ours is under a pinned target, and the failed-refresh
    // warnings under `tinker_auth::refresh`.
    for l in lines.iter().filter(|l| l.target.starts_with("tinker_auth")) {
        assert!(
            tinker_auth::LOG_TARGETS.contains(&l.target.as_str()),
            "a log line under an unpinned target ({} {}): {}",
            l.level,
            l.target,
            l.text
        );
    }
    assert!(lines
        .iter()
        .any(|l| l.level == Level::Warn && l.target == tinker_auth::LOG_TARGET_REFRESH));

    // The detector itself: a planted secret is found.
    assert!(leaks(&format!("x {} y", ev.secrets[0]), &ev.secrets[0]));

    let mut wire_lines = 0;
    for l in lines.iter() {
        let text = format!("{} {}", l.target, l.text);
        let leaked = text.contains("eyJ") || ev.secrets.iter().any(|s| leaks(&text, s));
        // ureq documents its TRACE level as unredacted wire logging; it is
        // the HTTP client's, and off unless asked for. Everything else counts.
        if l.level == Level::Trace && !l.target.starts_with("tinker_auth") {
            wire_lines += usize::from(leaked);
            continue;
        }
        assert!(
            !leaked,
            "secret in a log line ({} {}): {}",
            l.level, l.target, l.text
        );
    }
    for text in &ev.texts {
        assert!(!text.contains("eyJ"), "JWT in: {text}");
        for s in &ev.secrets {
            assert!(!leaks(text, s), "secret in: {text}");
        }
    }
    eprintln!(
        "secrets: {} log lines ({} from tinker_auth), {} error/debug texts, {} secrets checked; \
         {wire_lines} dependency TRACE lines carry wire data",
        lines.len(),
        lines
            .iter()
            .filter(|l| l.target.starts_with("tinker_auth"))
            .count(),
        ev.texts.len(),
        ev.secrets.len(),
    );
}
