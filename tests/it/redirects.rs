//! No redirect is followed by a request that carries the token, the
//! credential or a configured header: the exchange, `AuthenticatedAgent`
//! (the crate's agent and a caller's that follows redirects) and
//! `AuthMiddleware`. Each redirect status, to the same origin and to another
//! (two loopback listeners on different ports are different origins).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tinker_auth::{AuthMiddleware, AuthTokenProvider, AuthenticatedAgent, JwtAuthProvider};

const STATUSES: [u16; 5] = [301, 302, 303, 307, 308];
const EXTRA: &str = "extra-header-secret-value";

/// A loopback HTTP server that records each request's head and answers every
/// one with `status` (and `location`, if any), closing the connection.
struct Recorder {
    addr: String,
    seen: Arc<Mutex<Vec<String>>>,
    location: Arc<Mutex<Option<String>>>,
    status: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Recorder {
    fn start(status: u16) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let location = Arc::new(Mutex::new(None::<String>));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, l, st) = (seen.clone(), location.clone(), stop.clone());
        let thread = thread::spawn(move || {
            for stream in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let location = l.lock().unwrap().clone();
                serve(stream, status, location.as_deref(), &s);
            }
        });
        Recorder {
            addr,
            seen,
            location,
            status,
            stop,
            thread: Some(thread),
        }
    }

    fn redirect_to(&self, url: &str) {
        *self.location.lock().unwrap() = Some(url.to_owned());
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr.trim_start_matches("http://"));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request (head and `Content-Length` body), records its head
/// (lowercased), answers.
fn serve(
    stream: TcpStream,
    status: u16,
    location: Option<&str>,
    seen: &Mutex<Vec<String>>,
) -> Option<()> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            break;
        }
        head.push_str(&line);
        if line == "\r\n" || line == "\n" {
            break;
        }
    }
    if head.is_empty() {
        return None;
    }
    let head = head.to_ascii_lowercase();
    seen.lock().unwrap().push(head.clone());
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    let location = location.map_or(String::new(), |l| format!("location: {l}\r\n"));
    let answer = if (300..400).contains(&status) {
        format!("HTTP/1.1 {status} Redirect\r\n{location}content-length: 0\r\nconnection: close\r\n\r\n")
    } else {
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}".to_owned()
    };
    let mut stream = stream;
    let _ = stream.write_all(answer.as_bytes());
    let _ = stream.flush();
    Some(())
}

/// A redirecting server and where it sends requests: its own `/elsewhere`
/// (same origin) or another listener's (other origin).
fn redirect_pair(status: u16, same_origin: bool) -> (Recorder, Option<Recorder>) {
    let from = Recorder::start(status);
    if same_origin {
        from.redirect_to(&format!("{}/elsewhere", from.addr));
        (from, None)
    } else {
        let to = Recorder::start(200);
        from.redirect_to(&format!("{}/elsewhere", to.addr));
        (from, Some(to))
    }
}

/// The redirect was not followed: one request, to the first server, and the
/// target (if another) saw nothing; no request anywhere carries a secret
/// but the first.
fn assert_not_followed(from: &Recorder, to: Option<&Recorder>, secrets: &[&str], what: &str) {
    let first = from.seen();
    assert_eq!(first.len(), 1, "{what} ({}): {first:#?}", from.status);
    assert!(!first[0].contains("/elsewhere"), "{what}: {first:#?}");
    if let Some(to) = to {
        let seen = to.seen();
        for head in &seen {
            for s in secrets {
                assert!(!head.contains(&s.to_ascii_lowercase()), "{what}: {head}");
            }
        }
        assert!(seen.is_empty(), "{what}: the other origin saw {seen:#?}");
    }
}

fn jwt_provider() -> (Arc<dyn AuthTokenProvider>, String) {
    let jwt = testkit::jwt_expiring_in(600.0, 600.0);
    let p: Arc<dyn AuthTokenProvider> =
        testkit::seeded_provider("http://127.0.0.1:9", "tml-redirect-key", &jwt);
    (p, jwt)
}

fn following_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(10)
        .http_status_as_error(false)
        .build()
        .into()
}

#[test]
fn authenticated_agent_follows_no_redirect_with_either_agent() {
    for callers in [false, true] {
        for status in STATUSES {
            for same in [true, false] {
                for post in [false, true] {
                    let (from, to) = redirect_pair(status, same);
                    let (provider, jwt) = jwt_provider();
                    let mut b = AuthenticatedAgent::builder(from.addr.clone(), provider)
                        .header("X-Extra", EXTRA)
                        .max_attempts(1);
                    if callers {
                        b = b.agent(following_agent());
                    }
                    let api = b.build().unwrap();
                    let r = if post {
                        api.post("/api/v1/x", &serde_json::json!({}))
                    } else {
                        api.get("/api/v1/x")
                    };
                    let what = format!("callers {callers} same {same} post {post}: {r:?}");
                    assert!(r.is_err(), "{what}");
                    assert!(from.seen()[0].contains(&jwt.to_ascii_lowercase()), "{what}");
                    assert_not_followed(&from, to.as_ref(), &[&jwt, EXTRA], &what);
                }
            }
        }
    }
}

#[test]
fn auth_middleware_refuses_every_redirect() {
    for status in STATUSES {
        for same in [true, false] {
            let (from, to) = redirect_pair(status, same);
            let (provider, jwt) = jwt_provider();
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .max_redirects(10)
                .http_status_as_error(false)
                .middleware(AuthMiddleware::new(provider))
                .build()
                .into();
            let r = agent
                .get(format!("{}/api/v1/x", from.addr))
                .header("X-Extra", EXTRA)
                .call();
            let what = format!("same {same}: {:?}", r.as_ref().map(|r| r.status()));
            assert_eq!(r.unwrap().status().as_u16(), status, "{what}");
            assert_not_followed(&from, to.as_ref(), &[&jwt, EXTRA], &what);
        }
    }
}

#[test]
fn the_exchange_follows_no_redirect_with_either_agent() {
    for callers in [false, true] {
        for status in STATUSES {
            for same in [true, false] {
                let (from, to) = redirect_pair(status, same);
                let key = "tml-redirected-credential";
                let mut b = JwtAuthProvider::builder(from.addr.clone())
                    .api_key(key)
                    .header("X-Extra", EXTRA)
                    .background_refresh(false)
                    .fetch_timeout(Duration::from_secs(10));
                if callers {
                    b = b.agent(following_agent());
                }
                // The first token is fetched at build().
                let r = b.build().and_then(|p| p.get_token());
                let what = format!("callers {callers} same {same}: {r:?}");
                assert!(r.is_err(), "{what}");
                assert_not_followed(&from, to.as_ref(), &[key, EXTRA], &what);
            }
        }
    }
}
