//! A TLS front for the stand-in: real HTTPS on loopback.
//!
//! [`TlsFront::start`] makes a throw-away CA and a leaf certificate for
//! `localhost` and `127.0.0.1` (with `rcgen`), accepts TLS on `127.0.0.1:0`
//! with a `rustls` server (the same rustls, and the same `ring` provider, that
//! ureq's default `rustls` feature compiles) and forwards the decrypted bytes
//! to a plain backend, typically [`StandIn::addr`](super::stand_in::StandIn::addr),
//! in both directions. Each connection gets a thread pair: client to backend,
//! backend to client. An end-of-stream on either side is passed on (a
//! `close_notify` towards the client, a write shutdown towards the backend),
//! so connections close cleanly; dropping the front shuts every connection
//! down and joins all its threads.
//!
//! A client trusts the front only with its CA: [`agent_trusting`] or
//! [`tls_config_trusting`] with [`TlsFront::ca_der`]. ureq's default roots
//! (webpki-roots) do not include it, so a default agent fails the handshake.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rustls::{ServerConfig, ServerConnection};

use crate::conns::Conns;
pub use crate::pki::{agent_config_trusting, agent_trusting, tls_config_trusting, TestPki};

/// How long a client may take to complete its handshake, and the backend to accept.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Read size of both directions.
const CHUNK: usize = 16 * 1024;

/// A running TLS front. Dropping it stops the acceptor, shuts every open
/// connection down and joins all threads.
pub struct TlsFront {
    addr: SocketAddr,
    backend: SocketAddr,
    pki: TestPki,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<Vec<JoinHandle<()>>>>,
}

/// State shared between the front, its acceptor and its connection threads.
struct Shared {
    /// Open connections (client side, backend side), shut down on drop.
    conns: Conns,
    accepted: AtomicUsize,
    handshakes: AtomicUsize,
    failed_handshakes: AtomicUsize,
}

impl TlsFront {
    /// Starts a front on `127.0.0.1:0` forwarding to `backend`, with a new CA.
    pub fn start(backend: SocketAddr) -> TlsFront {
        let pki = TestPki::generate();
        let config = pki.server_config();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the TLS front");
        let addr = listener.local_addr().expect("front address");
        let shared = Arc::new(Shared {
            conns: Conns::default(),
            accepted: AtomicUsize::new(0),
            handshakes: AtomicUsize::new(0),
            failed_handshakes: AtomicUsize::new(0),
        });
        let sh = shared.clone();
        let acceptor = thread::Builder::new()
            .name("tls-front-accept".into())
            .spawn(move || accept_loop(&listener, backend, &config, &sh))
            .expect("spawn the TLS front's acceptor");
        TlsFront {
            addr,
            backend,
            pki,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// `https://localhost:PORT` (no trailing slash): the name the leaf is for.
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// `https://127.0.0.1:PORT`: the leaf also carries this IP address.
    pub fn ip_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The front's listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The plain backend it forwards to.
    pub fn backend(&self) -> SocketAddr {
        self.backend
    }

    /// The CA that signed the front's certificate, PEM.
    pub fn ca_pem(&self) -> String {
        self.pki.ca_pem().to_owned()
    }

    /// The CA that signed the front's certificate, DER.
    pub fn ca_der(&self) -> Vec<u8> {
        self.pki.ca_der().to_vec()
    }

    /// TCP connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// TLS handshakes completed so far (one per connection that got that far).
    pub fn handshakes(&self) -> usize {
        self.shared.handshakes.load(Ordering::SeqCst)
    }

    /// Connections whose handshake failed (a client that rejected the
    /// certificate, spoke plain HTTP, or went away).
    pub fn failed_handshakes(&self) -> usize {
        self.shared.failed_handshakes.load(Ordering::SeqCst)
    }

    /// Connections currently open (accepted, not yet closed both ways).
    pub fn open_connections(&self) -> usize {
        self.shared.conns.open()
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        let conns = &self.shared.conns;
        conns.stop();
        // Wake the blocking accept; it sees the flag and returns.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        conns.shut_all();
        if let Some(acceptor) = self.acceptor.take() {
            if let Ok(threads) = acceptor.join() {
                // Connections registered after the sweep above see `stop` and end.
                conns.shut_all();
                for t in threads {
                    let _ = t.join();
                }
            }
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    backend: SocketAddr,
    config: &Arc<ServerConfig>,
    shared: &Arc<Shared>,
) -> Vec<JoinHandle<()>> {
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    for stream in listener.incoming() {
        if shared.conns.stopping() {
            break;
        }
        let Ok(stream) = stream else { continue };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        conns.retain(|h| !h.is_finished());
        let (config, sh) = (config.clone(), shared.clone());
        match thread::Builder::new()
            .name("tls-front-conn".into())
            .spawn(move || serve(stream, backend, config, &sh))
        {
            Ok(h) => conns.push(h),
            Err(_) => continue,
        }
    }
    conns
}

/// One connection: handshake, connect to the backend, then pump both ways.
fn serve(client: TcpStream, backend: SocketAddr, config: Arc<ServerConfig>, shared: &Shared) {
    let id = shared.conns.next_id();
    // Registered before the handshake, so that drop can cut a stalled one short.
    if !shared.conns.register(id, &client) {
        return;
    }
    serve_registered(id, client, backend, config, shared);
    shared.conns.close(id);
}

fn serve_registered(
    id: u64,
    client: TcpStream,
    backend: SocketAddr,
    config: Arc<ServerConfig>,
    shared: &Shared,
) {
    let Ok(mut conn) = ServerConnection::new(config) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = client.set_read_timeout(Some(HANDSHAKE_TIMEOUT));
    let _ = client.set_write_timeout(Some(HANDSHAKE_TIMEOUT));
    if handshake(&mut conn, &client).is_err() {
        shared.failed_handshakes.fetch_add(1, Ordering::SeqCst);
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    shared.handshakes.fetch_add(1, Ordering::SeqCst);
    let _ = client.set_read_timeout(None);
    let _ = client.set_write_timeout(None);
    let Ok(upstream) = TcpStream::connect_timeout(&backend, HANDSHAKE_TIMEOUT) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = upstream.set_nodelay(true);
    if !shared.conns.register(id, &upstream) {
        return;
    }
    let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let conn = Arc::new(Mutex::new(conn));
    let conn2 = conn.clone();
    let down = thread::Builder::new()
        .name("tls-front-down".into())
        .spawn(move || backend_to_client(&conn2, u2, c2));
    client_to_backend(&conn, &client, &upstream);
    if let Ok(down) = down {
        let _ = down.join();
    }
}

/// Runs the handshake to completion; an EOF or a TLS error ends it.
fn handshake(conn: &mut ServerConnection, mut client: &TcpStream) -> io::Result<()> {
    while conn.is_handshaking() {
        let (read, written) = conn.complete_io(&mut client)?;
        if read == 0 && written == 0 && conn.is_handshaking() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    // Session tickets and the like, queued as the handshake ended.
    flush_tls(conn, client)
}

/// Writes whatever TLS records the connection has queued.
fn flush_tls(conn: &mut ServerConnection, mut client: &TcpStream) -> io::Result<()> {
    while conn.wants_write() {
        conn.write_tls(&mut client)?;
    }
    client.flush()
}

/// Takes the plaintext rustls has decrypted; `true` once the client has
/// finished (a `close_notify`, or an EOF without one).
fn take_plaintext(conn: &mut ServerConnection, out: &mut Vec<u8>) -> bool {
    match conn.reader().read_to_end(out) {
        Ok(_) => true,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
        Err(_) => true,
    }
}

/// Decrypts what the client sends and passes it to the backend; on the
/// client's end of stream, shuts the backend's write side.
fn client_to_backend(
    conn: &Mutex<ServerConnection>,
    mut client: &TcpStream,
    mut upstream: &TcpStream,
) {
    let mut buf = vec![0u8; CHUNK];
    let mut plain = Vec::new();
    loop {
        // Plaintext that came with the handshake's last flight, or with the last read.
        let done = {
            let mut c = conn.lock().unwrap();
            let done = take_plaintext(&mut c, &mut plain);
            let _ = flush_tls(&mut c, client);
            done
        };
        if !plain.is_empty() && upstream.write_all(&plain).is_err() {
            break;
        }
        plain.clear();
        if done {
            break;
        }
        let n = match client.read(&mut buf) {
            Ok(0) | Err(_) => {
                // EOF without close_notify: let rustls know, then stop.
                let mut c = conn.lock().unwrap();
                let _ = c.read_tls(&mut io::empty());
                break;
            }
            Ok(n) => n,
        };
        let mut rest = &buf[..n];
        let mut c = conn.lock().unwrap();
        let mut failed = false;
        while !rest.is_empty() {
            if c.read_tls(&mut rest).is_err() || c.process_new_packets().is_err() {
                // An alert may be queued; send it and give up.
                let _ = flush_tls(&mut c, client);
                failed = true;
                break;
            }
            take_plaintext(&mut c, &mut plain);
        }
        drop(c);
        if failed {
            break;
        }
    }
    let _ = upstream.shutdown(Shutdown::Write);
}

/// Encrypts what the backend sends and passes it to the client; on the
/// backend's end of stream, sends `close_notify` and shuts the client's write side.
fn backend_to_client(conn: &Mutex<ServerConnection>, mut upstream: TcpStream, client: TcpStream) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match upstream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut c = conn.lock().unwrap();
        let mut rest = &buf[..n];
        let mut failed = false;
        while !rest.is_empty() {
            match c.writer().write(rest) {
                Ok(k) => rest = &rest[k..],
                Err(_) => {
                    failed = true;
                    break;
                }
            }
            if flush_tls(&mut c, &client).is_err() {
                failed = true;
                break;
            }
        }
        if failed {
            break;
        }
    }
    let mut c = conn.lock().unwrap();
    c.send_close_notify();
    let _ = flush_tls(&mut c, &client);
    drop(c);
    let _ = client.shutdown(Shutdown::Write);
}
