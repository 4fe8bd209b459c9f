//! `<stream>.<action>[#hash]` event names.

use std::fmt;

/// The event that runs several writes in one transaction (docs/protocol.md section 2,
/// "Batches"); it names no stream.
pub const BATCH: &str = "batch";

/// The longest hash a client may send (docs/protocol.md section 1).
pub const MAX_HASH_LEN: usize = 128;

/// A parsed event name: the stream, the action and the optional client hash.
///
/// The action is the part after the last dot before `#`, so streams may contain dots
/// (`auth.User.search#left` is stream `auth.User`, action `search`, hash `left`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventName {
    stream: String,
    action: String,
    hash: Option<String>,
}

/// Why an event name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventNameError {
    /// There is no dot, so no action can be told from the stream.
    #[error("event must be <stream>.<action>[#hash]")]
    Shape,
    /// The hash is empty, too long or has a character outside `[A-Za-z0-9_.:-]`.
    #[error("hash must be 1 to 128 characters of [A-Za-z0-9_.:-]")]
    Hash,
}

impl EventName {
    /// Parses `<stream>.<action>[#hash]`.
    pub fn parse(text: &str) -> Result<Self, EventNameError> {
        let (head, hash) = match text.split_once('#') {
            Some((head, hash)) => {
                if !valid_hash(hash) {
                    return Err(EventNameError::Hash);
                }
                (head, Some(hash.to_owned()))
            }
            None => (text, None),
        };
        if head == BATCH {
            return Ok(EventName {
                stream: String::new(),
                action: BATCH.to_owned(),
                hash,
            });
        }
        let (stream, action) = head.rsplit_once('.').ok_or(EventNameError::Shape)?;
        if stream.is_empty() || action.is_empty() {
            return Err(EventNameError::Shape);
        }
        Ok(EventName {
            stream: stream.to_owned(),
            action: action.to_owned(),
            hash,
        })
    }

    /// Builds an event name from its parts; `hash` must already be valid.
    pub fn new(stream: &str, action: &str, hash: Option<&str>) -> Self {
        EventName {
            stream: stream.to_owned(),
            action: action.to_owned(),
            hash: hash.map(str::to_owned),
        }
    }

    /// Whether this is a `batch` (docs/protocol.md section 2, "Batches"): the one event
    /// without a stream, whose stream is empty.
    pub fn is_batch(&self) -> bool {
        self.stream.is_empty() && self.action == BATCH
    }

    /// The stream (binding) name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The action.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The client's hash, if any.
    pub fn hash(&self) -> Option<&str> {
        self.hash.as_deref()
    }

    /// The same stream and hash with another action: how pushes are named
    /// (`auth.User.retrieve#a` begets `auth.User.delete#a`).
    pub fn with_action(&self, action: &str) -> Self {
        EventName {
            stream: self.stream.clone(),
            action: action.to_owned(),
            hash: self.hash.clone(),
        }
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.stream.is_empty() {
            true => f.write_str(&self.action)?,
            false => write!(f, "{}.{}", self.stream, self.action)?,
        }
        if let Some(hash) = &self.hash {
            write!(f, "#{hash}")?;
        }
        Ok(())
    }
}

fn valid_hash(hash: &str) -> bool {
    !hash.is_empty()
        && hash.len() <= MAX_HASH_LEN
        && hash
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_streams_split_at_the_last_dot() {
        let e = EventName::parse("auth.User.search#left-list").unwrap();
        assert_eq!(e.stream(), "auth.User");
        assert_eq!(e.action(), "search");
        assert_eq!(e.hash(), Some("left-list"));
        assert_eq!(e.to_string(), "auth.User.search#left-list");
    }

    #[test]
    fn hash_is_optional_and_round_trips() {
        let e = EventName::parse("custom_stream.custom_event").unwrap();
        assert_eq!(e.hash(), None);
        assert_eq!(e.to_string(), "custom_stream.custom_event");
        assert_eq!(e.with_action("delete").to_string(), "custom_stream.delete");
    }

    #[test]
    fn bad_names_are_refused() {
        assert_eq!(EventName::parse("nodot"), Err(EventNameError::Shape));
        assert_eq!(EventName::parse(".search"), Err(EventNameError::Shape));
        assert_eq!(EventName::parse("a."), Err(EventNameError::Shape));
        assert_eq!(EventName::parse("a.b#"), Err(EventNameError::Hash));
        assert_eq!(EventName::parse("a.b#x y"), Err(EventNameError::Hash));
        assert_eq!(EventName::parse("a.b#a#b"), Err(EventNameError::Hash));
        let long = format!("a.b#{}", "x".repeat(129));
        assert_eq!(EventName::parse(&long), Err(EventNameError::Hash));
        assert!(EventName::parse(&format!("a.b#{}", "x".repeat(128))).is_ok());
    }
}
