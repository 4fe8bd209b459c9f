//! What each mix sends, and how the load tool reads what comes back.

use std::borrow::Cow;
use std::ops::RangeInclusive;

use clap::ValueEnum;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::de::IgnoredAny;
use serde::Deserialize;

/// The users the demo seeds: `admin` is 1, `user001` to `user100` are 2 to 101.
const USER_IDS: RangeInclusive<u32> = 1..=101;
/// 102 users at the default page size of 25 make five pages.
const SEARCH_PAGES: RangeInclusive<u32> = 1..=5;
/// The echo mix's frame: a retrieve request of typical size, so the echo servers carry the
/// same bytes per request as the retrieve mix (the reply is larger, which is the adapter's
/// own cost to pay).
const ECHO_FRAME: &str = r#"{"event":"auth.User.retrieve","data":{"id":42,"subscribe":false}}"#;
/// update-fanout's subscribers watch the first seeded task, and its updaters write it.
pub const SUBSCRIBE_FRAME: &str = r#"{"event":"todo.Task.retrieve","data":{"id":1}}"#;
/// The event of the subscription's reply and of every push it brings.
pub const SUBSCRIBE_EVENT: &str = "todo.Task.retrieve";

/// What the connections do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mix {
    /// In-memory `auth.User.retrieve` of a random id, `"subscribe": false`.
    Retrieve,
    /// `auth.User.search` of a random page, `"subscribe": false`.
    Search,
    /// Some connections subscribe to `todo.Task` 1; the others update it in a loop.
    UpdateFanout,
    /// A fixed frame, answered by any one frame: for the raw echo servers.
    Echo,
}

impl Mix {
    /// The name on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Mix::Retrieve => "retrieve",
            Mix::Search => "search",
            Mix::UpdateFanout => "update-fanout",
            Mix::Echo => "echo",
        }
    }

    /// Whether the server greets first: every chanbind server does, the echo servers do not.
    pub fn expects_hello(self) -> bool {
        self != Mix::Echo
    }
}

/// Builds one connection's requests and knows which event answers them.
pub struct Requester {
    mix: Mix,
    rng: SmallRng,
    conn: usize,
    sent: u64,
}

impl Requester {
    /// The requester of connection number `conn`; seeded by it, so runs repeat.
    pub fn new(mix: Mix, conn: usize) -> Requester {
        Requester {
            mix,
            rng: SmallRng::seed_from_u64(conn as u64),
            conn,
            sent: 0,
        }
    }

    /// The next request's text.
    pub fn next_request(&mut self) -> String {
        self.sent += 1;
        match self.mix {
            Mix::Retrieve => {
                let id = self.rng.random_range(USER_IDS);
                format!(
                    r#"{{"event":"auth.User.retrieve","data":{{"id":{id},"subscribe":false}}}}"#
                )
            }
            Mix::Search => {
                let page = self.rng.random_range(SEARCH_PAGES);
                format!(
                    r#"{{"event":"auth.User.search","data":{{"page":{page},"subscribe":false}}}}"#
                )
            }
            // A title no other write used, so every update is a real change and fans out.
            Mix::UpdateFanout => format!(
                r#"{{"event":"todo.Task.update","data":{{"id":1,"title":"load {} {}"}}}}"#,
                self.conn, self.sent
            ),
            Mix::Echo => ECHO_FRAME.to_owned(),
        }
    }

    /// The event of the reply; `None` when any frame is the reply (the echo mix).
    pub fn reply_event(&self) -> Option<&'static str> {
        match self.mix {
            Mix::Retrieve => Some("auth.User.retrieve"),
            Mix::Search => Some("auth.User.search"),
            Mix::UpdateFanout => Some("todo.Task.update"),
            Mix::Echo => None,
        }
    }
}

/// A text frame from the server, as far as the load tool cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incoming {
    /// The answer to the request in flight.
    Reply,
    /// An error frame answering the request in flight (docs/protocol.md section 1).
    ErrorReply,
    /// Anything else: a push, a broadcast.
    Push,
    /// An error frame that answers nothing we sent.
    StrayError,
    /// Not a JSON object with a string `event`.
    Garbage,
}

/// Only the envelope: `data` is skipped without being built, to keep the client's share of
/// the two cores small.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(default)]
    error: Option<IgnoredAny>,
}

/// Reads `text` as a reply to a request whose reply carries `reply_event`.
pub fn classify(text: &str, reply_event: Option<&str>) -> Incoming {
    let Some(expected) = reply_event else {
        return Incoming::Reply;
    };
    let Ok(envelope) = serde_json::from_str::<Envelope<'_>>(text) else {
        return Incoming::Garbage;
    };
    // A frame that is not understood at all is answered under the event `error`.
    let answers = envelope.event == expected || envelope.event == "error";
    match (answers, envelope.error.is_some()) {
        (true, false) => Incoming::Reply,
        (true, true) => Incoming::ErrorReply,
        (false, false) => Incoming::Push,
        (false, true) => Incoming::StrayError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_replies_errors_and_pushes() {
        let row = r#"{"event":"auth.User.retrieve","data":{"id":3,"username":"user002"}}"#;
        assert_eq!(classify(row, Some("auth.User.retrieve")), Incoming::Reply);
        let err = r#"{"event":"auth.User.retrieve","error":{"code":"not_found","message":"no"}}"#;
        assert_eq!(
            classify(err, Some("auth.User.retrieve")),
            Incoming::ErrorReply
        );
        let bad = r#"{"event":"error","error":{"code":"bad_request","message":"no"}}"#;
        assert_eq!(
            classify(bad, Some("auth.User.retrieve")),
            Incoming::ErrorReply
        );
        assert_eq!(classify(row, Some("todo.Task.update")), Incoming::Push);
        assert_eq!(
            classify(err, Some("todo.Task.update")),
            Incoming::StrayError
        );
        assert_eq!(
            classify("nope", Some("todo.Task.update")),
            Incoming::Garbage
        );
        assert_eq!(classify("nope", None), Incoming::Reply);
    }

    #[test]
    fn requests_are_valid_json_of_the_expected_event() {
        for mix in [Mix::Retrieve, Mix::Search, Mix::UpdateFanout, Mix::Echo] {
            let mut requester = Requester::new(mix, 7);
            for _ in 0..50 {
                let text = requester.next_request();
                let value: serde_json::Value = serde_json::from_str(&text).expect("json");
                let event = value["event"].as_str().expect("event");
                assert_eq!(
                    Some(event),
                    requester.reply_event().or(Some("auth.User.retrieve"))
                );
            }
        }
    }
}
