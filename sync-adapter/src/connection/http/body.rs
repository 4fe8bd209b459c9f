//! Request bodies: `Content-Length` and chunked (decoded by [`Decoder`]), read within the
//! API's size limit and the body deadline; and bodies nobody needed, skipped when that is
//! cheap so the connection can carry the next request.

use std::time::Instant;

use super::chunked::Decoder;
use super::head::BodyLength;
use crate::connection::transport::{Gone, Io};

/// How much one wait for more chunked bytes may add to the buffer.
const CHUNK_READ: usize = 16 * 1024;

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
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

/// What the chunked decoder reads from: bytes already buffered, and a way to drop those it
/// used. The socket's [`Io`] in the server; a plain buffer in the tests and fuzz targets.
pub(crate) trait Buffered {
    /// The bytes read and not consumed yet.
    fn bytes(&self) -> &[u8];
    /// Drops the first `n` of them.
    fn consume(&mut self, n: usize);
}

impl Buffered for Io<'_> {
    fn bytes(&self) -> &[u8] {
        &self.buf
    }

    fn consume(&mut self, n: usize) {
        Io::consume(self, n);
    }
}

/// Decodes a chunked body from the buffer, calling `more` whenever it needs more bytes.
pub(crate) fn chunked<B: Buffered>(
    io: &mut B,
    limit: usize,
    mut more: impl FnMut(&mut B) -> Result<(), BodyError>,
) -> Result<Vec<u8>, BodyError> {
    let mut decoder = Decoder::new();
    let mut body = Vec::new();
    loop {
        if io.bytes().is_empty() {
            more(io)?;
            continue;
        }
        let (used, done) = decoder.feed(io.bytes(), &mut body, limit)?;
        io.consume(used);
        if done {
            return Ok(body);
        }
    }
}

/// A buffer that holds all the bytes there will ever be, as a test or fuzz target has them.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) struct Complete {
    /// The bytes not consumed yet.
    pub(crate) bytes: Vec<u8>,
}

#[cfg(any(test, feature = "fuzzing"))]
impl Buffered for Complete {
    fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn consume(&mut self, n: usize) {
        self.bytes.drain(..n.min(self.bytes.len()));
    }
}

/// Decodes the chunked body at the start of `bytes`: the body and how many bytes it took.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn chunked_complete(bytes: &[u8], limit: usize) -> Result<(Vec<u8>, usize), BodyError> {
    let mut buf = Complete {
        bytes: bytes.to_vec(),
    };
    // Every byte is here already: needing more means the body ended early.
    let body = chunked(&mut buf, limit, |_| Err(BodyError::Unreadable))?;
    Ok((body, bytes.len() - buf.bytes.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn chunks_trailers_and_bad_framing() {
        let raw = b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        assert_eq!(
            chunked_complete(raw, 10),
            Ok((b"abcde".to_vec(), raw.len() - 4))
        );
        assert_eq!(
            chunked_complete(b"3\r\nabc\r\n0\r\n\r\n", 2),
            Err(BodyError::TooLarge)
        );
        for bad in [
            &b"\r\n0\r\n\r\n"[..],
            b"3\r\nabcX\r\n0\r\n\r\n",
            b"zz\r\n",
            b"3\r\nab",
        ] {
            assert_eq!(
                chunked_complete(bad, 10),
                Err(BodyError::Unreadable),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_size_with_no_room_for_its_crlf_is_an_error_not_a_panic() {
        // The size is only announced: what arrives is read as it comes, so a body that stops
        // short is unreadable, and one that passes the limit is too large, whatever the size.
        let raw = format!("{:x}\r\n", usize::MAX);
        assert_eq!(
            chunked_complete(raw.as_bytes(), usize::MAX),
            Err(BodyError::Unreadable)
        );
        let raw = format!("{:x}\r\nabcdef", usize::MAX);
        assert_eq!(
            chunked_complete(raw.as_bytes(), 3),
            Err(BodyError::TooLarge)
        );
    }

    /// A body cut into chunks of any sizes.
    fn encode(body: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = body;
        for &cut in cuts {
            let (chunk, tail) = rest.split_at(cut.min(rest.len()));
            if !chunk.is_empty() {
                out.extend_from_slice(format!("{:X}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            rest = tail;
        }
        if !rest.is_empty() {
            out.extend_from_slice(format!("{:x}\r\n", rest.len()).as_bytes());
            out.extend_from_slice(rest);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    proptest! {
        /// Any bytes, under any limit, decode or are refused.
        #[test]
        fn any_bytes_decode_or_are_refused(bytes: Vec<u8>, limit: usize) {
            if let Ok((body, used)) = chunked_complete(&bytes, limit) {
                prop_assert!(body.len() <= limit && used <= bytes.len());
            }
        }

        /// Hex sizes of any length, even past `u64`, are refused, not a panic.
        #[test]
        fn any_size_line_is_handled(size in "[0-9a-fA-F]{1,40}", rest: Vec<u8>) {
            let mut raw = format!("{size}\r\n").into_bytes();
            raw.extend_from_slice(&rest);
            let _ = chunked_complete(&raw, 1 << 20);
        }

        /// A body chunked any way decodes to itself, and stops at its end.
        #[test]
        fn encoded_bodies_round_trip(
            body in proptest::collection::vec(any::<u8>(), 0..512),
            cuts in proptest::collection::vec(0usize..64, 0..16),
            next: Vec<u8>,
        ) {
            let mut raw = encode(&body, &cuts);
            let len = raw.len();
            raw.extend_from_slice(&next);
            prop_assert_eq!(chunked_complete(&raw, body.len()), Ok((body.clone(), len)));
            if !body.is_empty() {
                prop_assert_eq!(chunked_complete(&raw, body.len() - 1), Err(BodyError::TooLarge));
            }
        }
    }
}
