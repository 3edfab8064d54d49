//! Parsing one HTTP/1.x request from a connection, within
//! [`MAX_HEAD_BYTES`] and [`MAX_BODY_BYTES`].

use std::io::{self, BufRead, Read};

use super::types::{MAX_BODY_BYTES, MAX_HEAD_BYTES};

/// A parsed HTTP/1.x request.
pub(super) struct Request {
    pub(super) method: String,
    pub(super) target: String,
    pub(super) version: String,
    /// Header names lower-cased.
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl Request {
    /// The target without its query string.
    pub(super) fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// First value of a header; `name` must be lower-case.
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn wants_close(&self) -> bool {
        let has = |token: &str| {
            self.header("connection")
                .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        };
        if self.version == "HTTP/1.0" {
            !has("keep-alive")
        } else {
            has("close")
        }
    }
}

pub(super) enum RequestError {
    /// The connection failed or closed mid-request: drop it silently.
    Io,
    /// Answer with this status and detail, then close.
    Reject(u16, &'static str),
}

impl From<io::Error> for RequestError {
    fn from(_: io::Error) -> Self {
        RequestError::Io
    }
}

/// Reads one request; `Ok(None)` if the client closed the connection
/// cleanly before sending one.
pub(super) fn read_request(r: &mut impl BufRead) -> Result<Option<Request>, RequestError> {
    const BAD: RequestError = RequestError::Reject(400, "Bad Request");
    let mut budget = MAX_HEAD_BYTES;
    let mut line = String::new();
    // Tolerate empty lines before the request line (RFC 9112, 2.2).
    loop {
        match read_line(r, &mut budget, &mut line)? {
            None => return Ok(None),
            Some(()) if line.is_empty() => continue,
            Some(()) => break,
        }
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BAD);
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || target.is_empty() {
        return Err(BAD);
    }
    let (method, target, version) = (method.to_owned(), target.to_owned(), version.to_owned());
    let mut headers = Vec::new();
    loop {
        read_line(r, &mut budget, &mut line)?.ok_or(RequestError::Io)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').ok_or(BAD)?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut req = Request {
        method,
        target,
        version,
        headers,
        body: Vec::new(),
    };
    if req.header("transfer-encoding").is_some() {
        return Err(RequestError::Reject(501, "Transfer-Encoding not supported"));
    }
    let len = match req.header("content-length") {
        None => 0,
        Some(v) => v.parse::<usize>().map_err(|_| BAD)?,
    };
    if len > MAX_BODY_BYTES {
        return Err(RequestError::Reject(413, "Content Too Large"));
    }
    req.body.resize(len, 0);
    r.read_exact(&mut req.body)?;
    Ok(Some(req))
}

/// Reads one CRLF- (or LF-) terminated line into `line`, without the line
/// ending, charging its length to `budget`. `None` on a clean EOF.
fn read_line(
    r: &mut impl BufRead,
    budget: &mut usize,
    line: &mut String,
) -> Result<Option<()>, RequestError> {
    let mut buf = Vec::new();
    let n = r
        .by_ref()
        .take(*budget as u64 + 1)
        .read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if n > *budget {
        return Err(RequestError::Reject(431, "Request Header Fields Too Large"));
    }
    *budget -= n;
    if buf.pop() != Some(b'\n') {
        return Err(RequestError::Io);
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    *line = String::from_utf8(buf).map_err(|_| RequestError::Reject(400, "Bad Request"))?;
    Ok(Some(()))
}
