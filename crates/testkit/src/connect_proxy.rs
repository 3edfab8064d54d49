//! A local HTTP CONNECT proxy that watches what passes through it.
//!
//! [`ConnectProxy::start`] listens on `127.0.0.1:0`. A `CONNECT host:port`
//! request to a loopback target (`localhost`, `127.0.0.0/8`, `[::1]`; no name
//! is ever resolved) is answered `200` and tunnelled both ways, one thread per
//! direction; any other target is answered `403` and recorded as refused. A
//! plain (non-CONNECT) request is counted, recorded, answered `405` and not
//! forwarded. Every byte the proxy receives or relays is kept (up to
//! [`MAX_RECORDED`] per stream), so that a test can assert that a secret
//! never crossed it in clear: [`ConnectProxy::saw`].
//!
//! Point ureq at it per agent, not through the process-global environment:
//! `.proxy(Some(ureq::Proxy::new(&proxy.url())?))` on the agent's config.
//! (ureq sends `CONNECT` for `http://` targets too, so a plain-http request
//! through the proxy is tunnelled in clear, and [`ConnectProxy::saw`] sees it.)

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::conns::Conns;

/// Bytes kept of each stream (one per direction and connection).
pub const MAX_RECORDED: usize = 4 * 1024 * 1024;
/// Largest request head read.
const MAX_HEAD: usize = 16 * 1024;
/// How long a client may take to send its request head, and a target to accept.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// A running proxy. Dropping it stops the acceptor, shuts every connection
/// down and joins all threads.
pub struct ConnectProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<Vec<JoinHandle<()>>>>,
}

#[derive(Default)]
struct Shared {
    /// Open connections, shut down on drop.
    conns: Conns,
    accepted: AtomicUsize,
    plain: AtomicUsize,
    /// Targets tunnelled, in order of arrival (`host:port` as requested).
    targets: Mutex<Vec<String>>,
    /// Targets refused (not loopback, or malformed).
    refused: Mutex<Vec<String>>,
    /// Request lines of plain requests.
    plain_lines: Mutex<Vec<String>>,
    /// Bytes seen, one entry per stream: what a client sent (its request
    /// head included) and what a target answered.
    streams: Mutex<Vec<Vec<u8>>>,
}

impl Shared {
    fn new_stream(&self) -> usize {
        let mut s = self.streams.lock().unwrap();
        s.push(Vec::new());
        s.len() - 1
    }

    fn record(&self, stream: usize, bytes: &[u8]) {
        let mut s = self.streams.lock().unwrap();
        let buf = &mut s[stream];
        let room = MAX_RECORDED.saturating_sub(buf.len());
        buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

impl ConnectProxy {
    /// Starts a proxy on `127.0.0.1:0`.
    pub fn start() -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared::default());
        let sh = shared.clone();
        let acceptor = thread::Builder::new()
            .name("proxy-accept".into())
            .spawn(move || accept_loop(&listener, &sh))
            .expect("spawn the proxy's acceptor");
        ConnectProxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:PORT`, for `ureq::Proxy::new`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// TCP connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// The `host:port` of every CONNECT tunnelled so far, in order.
    pub fn connect_targets(&self) -> Vec<String> {
        self.shared.targets.lock().unwrap().clone()
    }

    /// The `host:port` of every CONNECT refused (not loopback, or malformed).
    pub fn refused_targets(&self) -> Vec<String> {
        self.shared.refused.lock().unwrap().clone()
    }

    /// Plain (non-CONNECT) requests received, e.g. `GET http://host/path`.
    pub fn plain_requests(&self) -> usize {
        self.shared.plain.load(Ordering::SeqCst)
    }

    /// The request lines of those plain requests.
    pub fn plain_request_lines(&self) -> Vec<String> {
        self.shared.plain_lines.lock().unwrap().clone()
    }

    /// Whether `needle` (compared ignoring ASCII case, so `x-api-key`
    /// matches `X-API-Key`) occurs in any stream the proxy has seen: request
    /// heads, tunnelled bytes either way, plain requests. An empty needle is
    /// always seen.
    pub fn saw(&self, needle: impl AsRef<[u8]>) -> bool {
        let needle = needle.as_ref();
        if needle.is_empty() {
            return true;
        }
        self.shared.streams.lock().unwrap().iter().any(|s| {
            s.windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle))
        })
    }

    /// Total bytes recorded across all streams.
    pub fn bytes_seen(&self) -> usize {
        self.shared
            .streams
            .lock()
            .unwrap()
            .iter()
            .map(Vec::len)
            .sum()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        let conns = &self.shared.conns;
        conns.stop();
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        conns.shut_all();
        if let Some(acceptor) = self.acceptor.take() {
            if let Ok(threads) = acceptor.join() {
                conns.shut_all();
                for t in threads {
                    let _ = t.join();
                }
            }
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) -> Vec<JoinHandle<()>> {
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    for stream in listener.incoming() {
        if shared.conns.stopping() {
            break;
        }
        let Ok(stream) = stream else { continue };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        conns.retain(|h| !h.is_finished());
        let sh = shared.clone();
        if let Ok(h) = thread::Builder::new()
            .name("proxy-conn".into())
            .spawn(move || {
                let id = sh.conns.next_id();
                if sh.conns.register(id, &stream) {
                    serve(id, stream, &sh);
                }
                sh.conns.close(id);
            })
        {
            conns.push(h);
        }
    }
    conns
}

/// Reads a request head (up to the blank line); returns it and any bytes
/// read past it. `None` on EOF, timeout or an oversized head.
fn read_head(mut s: &TcpStream) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Some((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A loopback address for `host:port`, without resolving any name other
/// than `localhost`; `None` for anything else.
fn loopback_target(target: &str) -> Option<SocketAddr> {
    let (host, port) = target.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.parse().ok()?
    };
    ip.is_loopback().then_some(SocketAddr::new(ip, port))
}

fn respond(mut s: &TcpStream, status: &str) {
    let _ = write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let _ = s.flush();
}

fn serve(id: u64, client: TcpStream, shared: &Shared) {
    let _ = client.set_read_timeout(Some(HEAD_TIMEOUT));
    let up_stream = shared.new_stream();
    let Some((head, rest)) = read_head(&client) else {
        return;
    };
    shared.record(up_stream, &head);
    shared.record(up_stream, &rest);
    let line = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "CONNECT" {
        shared.plain.fetch_add(1, Ordering::SeqCst);
        shared.plain_lines.lock().unwrap().push(line.clone());
        respond(&client, "405 Method Not Allowed");
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    let Some(addr) = loopback_target(target) else {
        shared.refused.lock().unwrap().push(target.to_owned());
        respond(&client, "403 Forbidden");
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let Ok(upstream) = TcpStream::connect_timeout(&addr, HEAD_TIMEOUT) else {
        shared.refused.lock().unwrap().push(target.to_owned());
        respond(&client, "502 Bad Gateway");
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    shared.targets.lock().unwrap().push(target.to_owned());
    if !shared.conns.register(id, &upstream) {
        return;
    }
    let _ = client.set_read_timeout(None);
    let _ = upstream.set_nodelay(true);
    let _ = client.set_nodelay(true);
    if (&client)
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .is_err()
        || (&upstream).write_all(&rest).is_err()
    {
        return;
    }
    let down_stream = shared.new_stream();
    let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    thread::scope(|scope| {
        scope.spawn(|| pump(&u2, &c2, down_stream, shared));
        pump(&client, &upstream, up_stream, shared);
    });
}

/// Copies `from` to `to`, recording the bytes; on EOF or an error, shuts
/// `to`'s write side so that the other end sees the end too.
fn pump(mut from: &TcpStream, mut to: &TcpStream, stream: usize, shared: &Shared) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                shared.record(stream, &buf[..n]);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
