//! The HTTP/1.1 plumbing: the acceptor, one thread per connection, response
//! writing. Requests are parsed in `request`, answered in `server`.

use std::io::{self, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use super::date::http_date;
use super::request::{read_request, RequestError};
use super::server::{lock, Action, Response, Shared};
use super::types::ACCEPT_POLL;

pub(super) fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) -> Vec<JoinHandle<()>> {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    let mut next_id = 0u64;
    while !shared.stopped() {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(_) => {
                // `WouldBlock` when idle; anything else is transient here.
                thread::sleep(ACCEPT_POLL);
                continue;
            }
        };
        workers.retain(|w| !w.is_finished());
        shared.counters.connections.fetch_add(1, Ordering::SeqCst);
        if stream.set_nonblocking(false).is_err() {
            continue;
        }
        let _ = stream.set_nodelay(true);
        let Ok(clone) = stream.try_clone() else {
            continue;
        };
        next_id += 1;
        let id = next_id;
        lock(&shared.conns).insert(id, clone);
        let worker = {
            let shared = Arc::clone(shared);
            thread::Builder::new()
                .name(format!("stand-in-conn-{id}"))
                .spawn(move || {
                    serve_connection(&shared, stream);
                    lock(&shared.conns).remove(&id);
                })
        };
        match worker {
            Ok(worker) => workers.push(worker),
            Err(_) => drop(lock(&shared.conns).remove(&id)),
        }
    }
    workers
}

/// Serves requests on one connection until the client closes it, asks to
/// close it, or the server stops.
fn serve_connection(shared: &Shared, stream: TcpStream) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while !shared.stopped() {
        let req = match read_request(&mut reader) {
            Ok(Some(req)) => req,
            Ok(None) | Err(RequestError::Io) => return,
            Err(RequestError::Reject(status, detail)) => {
                let resp = Response::detail(status, detail);
                let _ = write_response(&mut writer, shared, &resp, true);
                return;
            }
        };
        match shared.handle(&req) {
            Action::Close => {
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
            Action::Respond(resp) => {
                let close = req.wants_close();
                if write_response(&mut writer, shared, &resp, close).is_err() || close {
                    return;
                }
            }
        }
    }
}

fn write_response(
    w: &mut TcpStream,
    shared: &Shared,
    resp: &Response,
    close: bool,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nDate: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        resp.status,
        reason(resp.status),
        http_date(
            shared
                .now_secs()
                .saturating_add(shared.date_skew_secs.load(Ordering::SeqCst))
        ),
        resp.body.len(),
    );
    for (name, value) in &resp.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(&resp.body);
    w.write_all(&out)?;
    w.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}
