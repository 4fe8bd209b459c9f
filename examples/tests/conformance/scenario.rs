//! Reading a scenario file into steps. Unknown keys are refused so a typo in a data file
//! fails loudly instead of silently testing less.

use std::path::Path;

use serde_json::{Map, Value};

/// One scenario file.
#[derive(Debug)]
pub struct Scenario {
    /// What the scenario proves (shown when it fails).
    pub description: String,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// One step on one named connection.
#[derive(Debug)]
pub struct Step {
    /// The connection's name; it is opened on first use.
    pub conn: String,
    /// What to do.
    pub action: Action,
    /// A free-text note shown when the step fails.
    pub note: Option<String>,
}

/// What a step does.
#[derive(Debug)]
pub enum Action {
    /// Send this JSON value as a text frame (after substitution).
    Send(Value),
    /// Send this text as a text frame, as is.
    SendRaw(String),
    /// Send this text's bytes as a binary frame.
    SendBinary(String),
    /// Send a text frame of exactly `bytes` bytes: `frame` (or a filler object) padded with
    /// trailing spaces, which keeps it valid JSON.
    SendLarge {
        /// The frame's size in bytes.
        bytes: usize,
        /// The JSON to pad; `{"pad": "xxx..."}` when absent.
        frame: Option<Value>,
    },
    /// The next frame must match.
    Expect(Value),
    /// The next `n` frames must match these `n` patterns, in any order.
    ExpectUnordered(Vec<Value>),
    /// The next frame must be a close frame with this code.
    ExpectClose(u16),
    /// No frame may arrive for this many milliseconds.
    ExpectSilence(u64),
    /// Close the connection (a normal close).
    Close,
}

const ACTIONS: [&str; 9] = [
    "send",
    "send_raw",
    "send_binary",
    "send_large",
    "expect",
    "expect_unordered",
    "expect_close",
    "expect_silence_ms",
    "close",
];

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
        Scenario::parse(&value).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Checks a scenario's JSON.
    pub fn parse(value: &Value) -> Result<Scenario, String> {
        let obj = value.as_object().ok_or("a scenario is a JSON object")?;
        only_keys(obj, &["description", "steps"], "the scenario")?;
        let description = obj
            .get("description")
            .and_then(Value::as_str)
            .ok_or("\"description\" (a string) is required")?
            .to_owned();
        let steps = obj
            .get("steps")
            .and_then(Value::as_array)
            .ok_or("\"steps\" (a list) is required")?
            .iter()
            .enumerate()
            .map(|(i, step)| parse_step(step).map_err(|e| format!("step {}: {e}", i + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        if steps.is_empty() {
            return Err("a scenario needs at least one step".into());
        }
        Ok(Scenario { description, steps })
    }
}

fn parse_step(value: &Value) -> Result<Step, String> {
    let obj = value.as_object().ok_or("a step is a JSON object")?;
    let conn = obj
        .get("conn")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .ok_or("\"conn\" (a connection name) is required")?
        .to_owned();
    let note = match obj.get("note") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("\"note\" must be a string".into()),
    };
    let present: Vec<&str> = ACTIONS
        .iter()
        .copied()
        .filter(|a| obj.contains_key(*a))
        .collect();
    let [name] = present[..] else {
        let keys: Vec<&String> = obj.keys().collect();
        return Err(format!(
            "a step needs exactly one of {ACTIONS:?}; its keys are {keys:?}"
        ));
    };
    let mut allowed = vec!["conn", "note", name];
    if name == "send_large" {
        allowed.push("frame");
    }
    only_keys(obj, &allowed, "a step")?;
    let arg = &obj[name];
    let action = match name {
        "send" => match arg {
            Value::Object(_) => Action::Send(arg.clone()),
            _ => return Err("send takes a JSON object (use send_raw for anything else)".into()),
        },
        "send_raw" => Action::SendRaw(string(arg, name)?),
        "send_binary" => Action::SendBinary(string(arg, name)?),
        "send_large" => Action::SendLarge {
            bytes: arg.as_u64().ok_or("send_large takes a byte count")? as usize,
            frame: obj.get("frame").cloned(),
        },
        "expect" => Action::Expect(arg.clone()),
        "expect_unordered" => match arg {
            Value::Array(items) if !items.is_empty() => Action::ExpectUnordered(items.clone()),
            _ => return Err("expect_unordered takes a non-empty list of patterns".into()),
        },
        "expect_close" => Action::ExpectClose(
            arg.as_u64()
                .and_then(|c| u16::try_from(c).ok())
                .ok_or("expect_close takes a close code")?,
        ),
        "expect_silence_ms" => {
            Action::ExpectSilence(arg.as_u64().ok_or("expect_silence_ms takes milliseconds")?)
        }
        "close" => match arg {
            Value::Bool(true) => Action::Close,
            _ => return Err("close takes true".into()),
        },
        _ => unreachable!("every action is handled"),
    };
    Ok(Step { conn, action, note })
}

fn string(value: &Value, name: &str) -> Result<String, String> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{name} takes a string"))
}

fn only_keys(obj: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(format!(
            "unknown key {key:?} in {what} (allowed: {allowed:?})"
        )),
        None => Ok(()),
    }
}

/// The frame `send_large` sends: `frame` padded with spaces to exactly `bytes` bytes.
pub fn large_frame(bytes: usize, frame: Option<&Value>) -> Result<String, String> {
    let mut text = match frame {
        Some(frame) => frame.to_string(),
        None => {
            let skeleton = r#"{"pad":""}"#;
            let fill = bytes.saturating_sub(skeleton.len());
            format!(r#"{{"pad":"{}"}}"#, "x".repeat(fill))
        }
    };
    if text.len() > bytes {
        return Err(format!(
            "send_large: the frame is already {} bytes, more than {bytes}",
            text.len()
        ));
    }
    text.extend(std::iter::repeat_n(' ', bytes - text.len()));
    Ok(text)
}
