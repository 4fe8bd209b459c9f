//! Request bodies: `Content-Length` and chunked (decoded with httparse's chunk-size and trailer
//! parsers), read within the API's size limit and the body deadline; and bodies nobody
//! needed, skipped when that is cheap so the connection can carry the next request.

use std::time::Instant;

use super::head::{BodyLength, MAX_HEADERS};
use crate::connection::transport::{Gone, Io};

/// How much of a partial chunk-size line or trailer section is buffered before it is refused:
/// far more than any honest client sends.
const MAX_FRAMING_BYTES: usize = 8 * 1024;

/// How much one wait for more chunked bytes may add to the buffer.
const CHUNK_READ: usize = 16 * 1024;

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyError {
    /// Longer than the limit: 413.
    TooLarge,
    /// It did not arrive by the deadline: 408.
    TimedOut,
    /// The client went away, or the chunked framing is broken: 400.
    Unreadable,
}

impl From<Gone> for BodyError {
    fn from(gone: Gone) -> Self {
        match gone {
            Gone::TimedOut => BodyError::TimedOut,
            Gone::Closed | Gone::Stopping => BodyError::Unreadable,
        }
    }
}

/// Reads the whole body, at most `limit` bytes, by `deadline`. A request in flight finishes
/// even when the server is stopping, so the stop is not watched here.
pub(super) fn read(
    io: &mut Io<'_>,
    length: BodyLength,
    limit: usize,
    deadline: Instant,
) -> Result<Vec<u8>, BodyError> {
    match length {
        BodyLength::Empty => Ok(Vec::new()),
        BodyLength::Length(len) => {
            let len = usize::try_from(len)
                .ok()
                .filter(|&len| len <= limit)
                .ok_or(BodyError::TooLarge)?;
            while io.buf.len() < len {
                // Up to the body's end only: a pipelined request after it stays in the socket.
                io.fill(len, deadline, false)?;
            }
            let body = io.buf[..len].to_vec();
            io.consume(len);
            Ok(body)
        }
        BodyLength::Chunked => chunked(io, limit, |io| {
            let max = io.buf.len() + CHUNK_READ;
            io.fill(max, deadline, false).map_err(BodyError::from)
        }),
    }
}

/// Skips a body the request did not need, if it is already here or arrives at once, and not
/// over `limit`: `false` when the connection must close instead, since what follows it could
/// not be told from the next request. hyper does the same ("drain or close").
pub(super) fn skip(io: &mut Io<'_>, length: BodyLength, limit: usize) -> bool {
    match length {
        BodyLength::Empty => true,
        BodyLength::Length(len) => {
            let Some(len) = usize::try_from(len).ok().filter(|&len| len <= limit) else {
                return false;
            };
            while io.buf.len() < len {
                if arrived(io, len).is_err() {
                    return false;
                }
            }
            io.consume(len);
            true
        }
        BodyLength::Chunked => chunked(io, limit, |io| {
            let max = io.buf.len() + CHUNK_READ;
            arrived(io, max)
        })
        .is_ok(),
    }
}

/// Reads what the socket has at once; an error when nothing came.
fn arrived(io: &mut Io<'_>, max: usize) -> Result<(), BodyError> {
    match io.read_now(max) {
        Ok(true) => Ok(()),
        Ok(false) | Err(_) => Err(BodyError::Unreadable),
    }
}

/// Decodes a chunked body from the buffer, calling `more` whenever it needs more bytes.
fn chunked(
    io: &mut Io<'_>,
    limit: usize,
    mut more: impl FnMut(&mut Io<'_>) -> Result<(), BodyError>,
) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    loop {
        let size = loop {
            // httparse reads an empty size line as zero; hyper, like RFC 9112, wants a digit.
            if io.buf.first().is_some_and(|b| !b.is_ascii_hexdigit()) {
                return Err(BodyError::Unreadable);
            }
            match httparse::parse_chunk_size(&io.buf) {
                Ok(httparse::Status::Complete((used, size))) => {
                    io.consume(used);
                    break size;
                }
                Ok(httparse::Status::Partial) if io.buf.len() < MAX_FRAMING_BYTES => more(io)?,
                _ => return Err(BodyError::Unreadable),
            }
        };
        if size == 0 {
            break;
        }
        // The chunk is taken as it arrives, and refused once the body passes the limit: a
        // size announced is not a size sent, and hyper, under the async adapter, cannot tell
        // them apart either (a client that announces more than it sends times out on both).
        let mut left = size;
        while left > 0 {
            if io.buf.is_empty() {
                more(io)?;
            }
            let take = usize::try_from(left).map_or(io.buf.len(), |left| left.min(io.buf.len()));
            if take > limit - body.len() {
                return Err(BodyError::TooLarge);
            }
            body.extend_from_slice(&io.buf[..take]);
            io.consume(take);
            left -= take as u64;
        }
        while io.buf.len() < 2 {
            more(io)?;
        }
        if &io.buf[..2] != b"\r\n" {
            return Err(BodyError::Unreadable);
        }
        io.consume(2);
    }
    // The trailer section, ignored, up to its empty line.
    loop {
        let mut trailers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        match httparse::parse_headers(&io.buf, &mut trailers) {
            Ok(httparse::Status::Complete((used, _))) => {
                io.consume(used);
                return Ok(body);
            }
            Ok(httparse::Status::Partial) if io.buf.len() < MAX_FRAMING_BYTES => more(io)?,
            _ => return Err(BodyError::Unreadable),
        }
    }
}
