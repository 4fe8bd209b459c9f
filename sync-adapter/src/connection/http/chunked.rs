//! The chunked transfer coding (RFC 9112 section 7.1), decoded a byte at a time by the same
//! state machine as hyper's, with its limits, so both adapters accept and refuse the same
//! bodies: a size needs a hex digit and may be followed by spaces and tabs, extensions (at most
//! 16 KiB in a body, no bare LF) are skipped, every line ends with CRLF, and the trailer
//! section (at most 100 lines and 16 KiB) must parse as headers.
//!
//! The decoder keeps its state between calls, so bytes may arrive in any pieces.

use http::{HeaderName, HeaderValue};

use super::body::BodyError;
use super::head::MAX_HEADERS;

/// The most chunk-extension bytes in one body, as in hyper.
const MAX_EXTENSION_BYTES: u64 = 16 * 1024;

/// The trailer section's limit in bytes, as in hyper: it must stay below it.
const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// Where the decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The first digit of a chunk size.
    Start,
    /// More digits of the size.
    Size,
    /// Spaces or tabs after the size.
    SizeLws,
    /// A chunk extension, up to its CR.
    Extension,
    /// The LF that ends the size line.
    SizeLf,
    /// Chunk data.
    Data,
    /// The CR after the data.
    DataCr,
    /// The LF after the data.
    DataLf,
    /// A trailer line, up to its CR.
    Trailer,
    /// The LF that ends a trailer line.
    TrailerLf,
    /// The CR of the empty line that ends the body, or the start of a trailer line.
    EndCr,
    /// The LF of the empty line that ends the body.
    EndLf,
}

/// A chunked body being decoded.
#[derive(Debug)]
pub(crate) struct Decoder {
    state: State,
    /// The chunk size being read, then what is left of the chunk's data.
    size: u64,
    /// Extension bytes seen in this body.
    extensions: u64,
    /// The trailer section as read, if there is one.
    trailers: Option<Vec<u8>>,
    /// Trailer lines read.
    trailer_lines: usize,
}

impl Decoder {
    /// A decoder at the start of a body.
    pub(crate) fn new() -> Decoder {
        Decoder {
            state: State::Start,
            size: 0,
            extensions: 0,
            trailers: None,
            trailer_lines: 0,
        }
    }

    /// Decodes from `bytes`, appending the data to `body`, which may not grow past `limit`:
    /// how many bytes were used, and whether the body ended (then what follows is the next
    /// request's).
    pub(crate) fn feed(
        &mut self,
        bytes: &[u8],
        body: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(usize, bool), BodyError> {
        let mut used = 0;
        while used < bytes.len() {
            if self.state == State::Data {
                let available = bytes.len() - used;
                let take = usize::try_from(self.size).map_or(available, |s| s.min(available));
                // A size announced is not a size sent: the data is refused once it passes
                // the limit, as it arrives.
                if take > limit - body.len() {
                    return Err(BodyError::TooLarge);
                }
                body.extend_from_slice(&bytes[used..used + take]);
                used += take;
                self.size -= take as u64;
                if self.size == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            let byte = bytes[used];
            used += 1;
            if self.step(byte)? {
                self.check_trailers()?;
                return Ok((used, true));
            }
        }
        Ok((used, false))
    }

    /// Takes one framing byte: `true` once the body has ended.
    fn step(&mut self, byte: u8) -> Result<bool, BodyError> {
        use State::*;
        self.state = match (self.state, byte) {
            (Start | Size, _) if byte.is_ascii_hexdigit() => {
                let digit = u64::from(hex(byte));
                self.size = self
                    .size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(digit))
                    .ok_or(BodyError::Unreadable)?;
                Size
            }
            (Size | SizeLws, b'\t' | b' ') => SizeLws,
            (Size | SizeLws, b';') => Extension,
            (Size | SizeLws | Extension, b'\r') => SizeLf,
            (Extension, b'\n') => return Err(BodyError::Unreadable),
            (Extension, _) => {
                self.extensions += 1;
                if self.extensions >= MAX_EXTENSION_BYTES {
                    return Err(BodyError::Unreadable);
                }
                Extension
            }
            (SizeLf, b'\n') if self.size == 0 => EndCr,
            (SizeLf, b'\n') => Data,
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => Start,
            (Trailer, _) => {
                self.keep_trailer(byte)?;
                if byte == b'\r' {
                    TrailerLf
                } else {
                    Trailer
                }
            }
            (TrailerLf, b'\n') => {
                if self.trailer_lines >= MAX_HEADERS {
                    return Err(BodyError::Unreadable);
                }
                self.trailer_lines += 1;
                self.keep_trailer(byte)?;
                EndCr
            }
            (EndCr, b'\r') => {
                if self.trailers.is_some() {
                    self.keep_trailer(byte)?;
                }
                EndLf
            }
            (EndCr, _) => {
                self.trailers.get_or_insert_with(Vec::new);
                self.keep_trailer(byte)?;
                Trailer
            }
            (EndLf, b'\n') => {
                if self.trailers.is_some() {
                    self.keep_trailer(byte)?;
                }
                return Ok(true);
            }
            _ => return Err(BodyError::Unreadable),
        };
        Ok(false)
    }

    fn keep_trailer(&mut self, byte: u8) -> Result<(), BodyError> {
        let trailers = self.trailers.get_or_insert_with(Vec::new);
        trailers.push(byte);
        if trailers.len() >= MAX_TRAILER_BYTES {
            return Err(BodyError::Unreadable);
        }
        Ok(())
    }

    /// The trailer section must read as headers; the fields themselves are not used.
    fn check_trailers(&self) -> Result<(), BodyError> {
        let Some(raw) = &self.trailers else {
            return Ok(());
        };
        let mut fields = vec![httparse::EMPTY_HEADER; self.trailer_lines];
        match httparse::parse_headers(raw, &mut fields) {
            Ok(httparse::Status::Complete((_, fields))) => {
                let valid = fields.iter().all(|field| {
                    HeaderName::from_bytes(field.name.as_bytes()).is_ok()
                        && HeaderValue::from_bytes(field.value).is_ok()
                });
                valid.then_some(()).ok_or(BodyError::Unreadable)
            }
            _ => Err(BodyError::Unreadable),
        }
    }
}

/// The value of a hex digit.
fn hex(byte: u8) -> u8 {
    match byte {
        b'0'..=b'9' => byte - b'0',
        b'a'..=b'f' => byte - b'a' + 10,
        _ => byte - b'A' + 10,
    }
}
