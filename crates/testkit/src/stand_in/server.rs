//! What the endpoints answer: the state shared by the handle and the server
//! threads, token minting, the token exchange per [`Mode`] and the protected
//! endpoints. No socket I/O here (that is `http`).

use std::collections::HashMap;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::jwt::{sign_hs256, verify_hs256};
use super::request::Request;
use super::types::{
    ClaimShape, Mode, SeenRequest, CAPABILITIES_PATH, ECHO_PATH, MAX_SEEN, OVERSIZED_BODY_LEN,
    POLL, SUBJECT, SUPPORTED_MODELS, TOKEN_PATH,
};

/// Rounds a lifetime up to whole seconds.
fn whole_secs(d: Duration) -> i64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// Locks a mutex, ignoring poisoning: the guarded data stay consistent.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// State shared by the handle and the server threads.
pub(super) struct Shared {
    pub(super) api_key: String,
    pub(super) secret: Vec<u8>,
    pub(super) mode: Mutex<Mode>,
    pub(super) lifetime: Mutex<Duration>,
    pub(super) skew_secs: AtomicI64,
    /// Offset of the `Date` header from the server's clock (a proxy's own clock).
    pub(super) date_skew_secs: AtomicI64,
    pub(super) fail_every: AtomicU64,
    /// Every token is rejected on the protected endpoints (see
    /// [`StandIn::set_reject_tokens`](super::StandIn::set_reject_tokens)).
    pub(super) reject_tokens: AtomicBool,
    /// Token of the last healthy exchange, for [`Mode::SameToken`].
    pub(super) last_token: Mutex<Option<String>>,
    pub(super) next_jti: AtomicU64,
    pub(super) stop: AtomicBool,
    /// Clones of open connections, so that drop can shut them down.
    pub(super) conns: Mutex<HashMap<u64, TcpStream>>,
    pub(super) counters: Counters,
    /// Heads of the most recent requests.
    pub(super) seen: Mutex<Vec<SeenRequest>>,
}

#[derive(Default)]
pub(super) struct Counters {
    /// When each request to the token endpoint arrived (for fleet figures).
    pub(super) exchange_times: Mutex<Vec<Instant>>,
    pub(super) exchanges: AtomicU64,
    pub(super) exchanges_ok: AtomicU64,
    pub(super) protected_ok: AtomicU64,
    pub(super) protected_401: AtomicU64,
    pub(super) protected_total: AtomicU64,
    pub(super) connections: AtomicU64,
}

/// What a connection does with a request.
pub(super) enum Action {
    Respond(Response),
    Close,
}

pub(super) struct Response {
    pub(super) status: u16,
    pub(super) headers: Vec<(&'static str, String)>,
    pub(super) body: Vec<u8>,
}

impl Response {
    fn json(status: u16, body: &Value) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        }
    }

    pub(super) fn detail(status: u16, detail: &str) -> Response {
        Response::json(status, &json!({ "detail": detail }))
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }
}

impl Shared {
    pub(super) fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    pub(super) fn mode(&self) -> Mode {
        lock(&self.mode).clone()
    }

    pub(super) fn now_secs(&self) -> i64 {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        unix.saturating_add(self.skew_secs.load(Ordering::SeqCst))
    }

    /// Sleeps for `d` in small steps; `false` if the server stopped meanwhile.
    fn pause(&self, d: Duration) -> bool {
        let mut left = d;
        while !left.is_zero() {
            if self.stopped() {
                return false;
            }
            let step = left.min(POLL);
            thread::sleep(step);
            left -= step;
        }
        !self.stopped()
    }

    pub(super) fn mint(&self, lifetime: Duration) -> String {
        let now = self.now_secs();
        self.mint_at(now, Some(now.saturating_add(whole_secs(lifetime))))
    }

    pub(super) fn mint_at(&self, iat: i64, exp: Option<i64>) -> String {
        let jti = self.next_jti.fetch_add(1, Ordering::SeqCst);
        let mut claims = json!({ "sub": SUBJECT, "iat": iat, "jti": jti.to_string() });
        if let Some(exp) = exp {
            claims["exp"] = json!(exp);
        }
        sign_hs256(&claims, &self.secret)
    }

    fn mint_shape(&self, shape: ClaimShape) -> String {
        let now = self.now_secs();
        let jti = self.next_jti.fetch_add(1, Ordering::SeqCst).to_string();
        let claims = match shape {
            ClaimShape::NoIat(s) => json!({ "sub": SUBJECT, "exp": now + s, "jti": jti }),
            ClaimShape::IatAfterExp(s) => {
                json!({ "sub": SUBJECT, "iat": now + s + 100, "exp": now + s, "jti": jti })
            }
            ClaimShape::OldIat(s) => {
                json!({ "sub": SUBJECT, "iat": now - 86_400, "exp": now + s, "jti": jti })
            }
            ClaimShape::ExpPast => {
                json!({ "sub": SUBJECT, "iat": now - 90, "exp": now - 30, "jti": jti })
            }
            ClaimShape::Lifetime(s) => {
                json!({ "sub": SUBJECT, "iat": now, "exp": now + s, "jti": jti })
            }
            ClaimShape::Year30000 => {
                json!({ "sub": SUBJECT, "iat": now, "exp": 884_541_340_800_i64, "jti": jti })
            }
            ClaimShape::Float(s) => json!({
                "sub": SUBJECT,
                "iat": now as f64 + 0.25,
                "exp": (now + s) as f64 + 0.75,
                "jti": jti,
            }),
        };
        sign_hs256(&claims, &self.secret)
    }

    /// Mints a token with the current lifetime and remembers it.
    fn mint_current(&self) -> String {
        let lifetime = *lock(&self.lifetime);
        let token = self.mint(lifetime);
        *lock(&self.last_token) = Some(token.clone());
        token
    }

    fn jwt_ok(&self, token: String) -> Response {
        self.counters.exchanges_ok.fetch_add(1, Ordering::SeqCst);
        Response::json(200, &json!({ "jwt": token }))
    }

    pub(super) fn handle(&self, req: &Request) -> Action {
        {
            let mut seen = lock(&self.seen);
            if seen.len() >= MAX_SEEN {
                seen.remove(0);
            }
            seen.push(SeenRequest {
                method: req.method.clone(),
                path: req.path().to_owned(),
                headers: req.headers.clone(),
            });
        }
        if req.path() == TOKEN_PATH {
            self.token_exchange(req)
        } else {
            Action::Respond(self.protected(req))
        }
    }

    fn token_exchange(&self, req: &Request) -> Action {
        self.counters.exchanges.fetch_add(1, Ordering::SeqCst);
        lock(&self.counters.exchange_times).push(Instant::now());
        if req.method != "POST" {
            let resp = Response::detail(405, "Method Not Allowed").header("Allow", "POST");
            return Action::Respond(resp);
        }
        if req.header("x-api-key") != Some(self.api_key.as_str()) {
            return Action::Respond(Response::detail(401, "Invalid API key"));
        }
        let resp = loop {
            break match self.mode() {
                Mode::Healthy => self.jwt_ok(self.mint_current()),
                Mode::Status500 => Response::detail(500, "internal error"),
                Mode::Status503 { retry_after_secs } => {
                    Response::detail(503, "service unavailable")
                        .header("Retry-After", retry_after_secs.to_string())
                }
                Mode::Hang => {
                    if !self.pause(POLL) {
                        return Action::Close;
                    }
                    continue;
                }
                Mode::Slow(delay) => {
                    if !self.pause(delay) {
                        return Action::Close;
                    }
                    self.jwt_ok(self.mint_current())
                }
                Mode::Garbage => Response {
                    status: 200,
                    headers: Vec::new(),
                    body: b"<html>definitely not json</html>".to_vec(),
                },
                Mode::MissingJwt => Response::json(200, &json!({ "token": "x" })),
                Mode::NoExp => {
                    let token = self.mint_at(self.now_secs(), None);
                    Response::json(200, &json!({ "jwt": token }))
                }
                Mode::SameToken => {
                    let token = lock(&self.last_token)
                        .get_or_insert_with(|| self.mint(*lock(&self.lifetime)))
                        .clone();
                    self.jwt_ok(token)
                }
                Mode::Rejected => Response::detail(401, "API key revoked"),
                Mode::Reset => return Action::Close,
                Mode::Claims(shape) => {
                    let token = self.mint_shape(shape);
                    self.jwt_ok(token)
                }
                Mode::Oversized => {
                    let token = self.mint(*lock(&self.lifetime));
                    let mut body = format!(r#"{{"jwt":"{token}","pad":""#).into_bytes();
                    body.resize(OVERSIZED_BODY_LEN - 2, b'x');
                    body.extend_from_slice(b"\"}");
                    Response {
                        status: 200,
                        headers: Vec::new(),
                        body,
                    }
                }
            };
        };
        Action::Respond(resp)
    }

    fn protected(&self, req: &Request) -> Response {
        let n = self.counters.protected_total.fetch_add(1, Ordering::SeqCst) + 1;
        let every = self.fail_every.load(Ordering::SeqCst);
        if every > 0 && n.is_multiple_of(every) {
            return Response::detail(503, "service unavailable").header("Retry-After", "0");
        }
        let rejecting = self.reject_tokens.load(Ordering::SeqCst);
        let claims = req
            .header("x-api-key")
            .filter(|_| !rejecting)
            .and_then(|jwt| verify_hs256(jwt, &self.secret))
            .filter(|claims| match claims.get("exp") {
                // A JWT without `exp` does not expire (RFC 7519).
                None => true,
                Some(exp) => exp.as_i64().is_some_and(|exp| self.now_secs() < exp),
            });
        let Some(claims) = claims else {
            self.counters.protected_401.fetch_add(1, Ordering::SeqCst);
            return Response::detail(401, "Invalid JWT")
                .header("WWW-Authenticate", r#"Bearer error="invalid_token""#);
        };
        self.counters.protected_ok.fetch_add(1, Ordering::SeqCst);
        if req.path() == ECHO_PATH {
            return Response {
                status: 200,
                headers: Vec::new(),
                body: req.body.clone(),
            };
        }
        if req.path() == CAPABILITIES_PATH {
            let models: Vec<Value> = SUPPORTED_MODELS
                .iter()
                .map(|m| json!({ "model_name": m }))
                .collect();
            return Response::json(200, &json!({ "supported_models": models }));
        }
        let sub = claims.get("sub").cloned().unwrap_or(Value::Null);
        Response::json(200, &json!({ "ok": true, "sub": sub, "path": req.path() }))
    }
}
