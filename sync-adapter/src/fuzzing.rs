//! The blocking adapter's parsers of network bytes, opened for the fuzz targets in `fuzz/`.
//! Built only with the `fuzzing` feature; nothing here is API.

use http::StatusCode;

/// Parses the request head at the start of `buf`: its length in bytes, `None` while it is
/// incomplete, or the status it is refused with.
pub fn parse_head(buf: &[u8]) -> Result<Option<usize>, StatusCode> {
    crate::connection::http::head::parse(buf).map(|head| head.map(|(_, len)| len))
}

/// Decodes the chunked body at the start of `buf`, at most `limit` bytes: the body and how many
/// bytes of `buf` it took, or why it was refused (`TooLarge`, `Unreadable`).
pub fn decode_chunked(buf: &[u8], limit: usize) -> Result<(Vec<u8>, usize), String> {
    crate::connection::http::body::chunked_complete(buf, limit).map_err(|e| format!("{e:?}"))
}
