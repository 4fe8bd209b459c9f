//! A program's settings from flags, environment variables and a TOML file, with one
//! definition: the program's clap `Parser` struct.
//!
//! The file's values become the defaults of the clap command before it parses, so the
//! precedence is clap's own: a flag beats its environment variable, which beats the file,
//! which beats the built-in default. Nothing here names a setting: each key of the file is
//! the id of an argument (the field's name, `max_connections`), so a field added to the struct
//! is a file key and an environment variable at once, with no code of its own.
//!
//! - The file is named by the argument whose id is `config` (`--config FILE`, or its
//!   environment variable); without one, no file is read.
//! - An argument without an environment variable of its own gets `PREFIX` + its id in
//!   capitals (`CHANBIND_MAX_CONNECTIONS`). The values of environment variables are never
//!   shown in `--help` (they may be secrets).
//! - A key that is no argument, a value of the wrong shape, or one the argument's parser
//!   refuses is an error naming the file and the key (never the value, which may be a
//!   secret).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, ArgAction, Command, Parser};

/// The id of the argument that names the file.
const CONFIG_ID: &str = "config";

/// The exit status of a program whose settings are wrong (clap's own for a bad command line).
pub const EXIT_USAGE: i32 = 2;

/// Why the settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read.
    #[error("cannot read the config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Where, counted from 1.
        line: usize,
        /// Where in the line, counted from 1.
        column: usize,
        /// The TOML parser's reason.
        message: String,
    },
    /// A key no setting has.
    #[error("{}: unknown key `{key}` (the keys are {known})", path.display())]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// Every key the file may have, comma-separated.
        known: String,
    },
    /// A value the setting does not take.
    #[error("{}: `{key}`: {reason}", path.display())]
    Value {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What is wrong with the value.
        reason: String,
    },
    /// The command line or an environment variable (clap's error, which renders itself).
    #[error(transparent)]
    Cli(#[from] clap::Error),
}

/// The settings of this process's command line, environment and file; exits with a one-line
/// error (status [`EXIT_USAGE`]) when they are wrong, and with clap's output for `--help`,
/// `--version` and command-line errors.
pub fn parse<P: Parser>(env_prefix: &str) -> P {
    match try_parse_from(std::env::args_os(), env_prefix) {
        Ok(settings) => settings,
        Err(SettingsError::Cli(e)) => e.exit(),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(EXIT_USAGE)
        }
    }
}

/// The settings of `args` (the program's name first), the environment and the file the
/// `config` argument names.
pub fn try_parse_from<P, I, T>(args: I, env_prefix: &str) -> Result<P, SettingsError>
where
    P: Parser,
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut command = with_env(P::command(), env_prefix);
    if let Some(path) = config_path(&command, &args) {
        let text = std::fs::read_to_string(&path).map_err(|source| SettingsError::Read {
            path: path.clone(),
            source,
        })?;
        command = with_file_defaults(command, &path, &text)?;
    }
    let mut matches = command.try_get_matches_from(args)?;
    Ok(P::from_arg_matches_mut(&mut matches)?)
}

/// Every named argument gets an environment variable, and none shows its value; `--help`
/// names each setting's file key.
fn with_env(command: Command, env_prefix: &str) -> Command {
    command.mut_args(|arg| {
        let mut arg = arg.hide_env_values(true);
        if is_file_key(&arg) {
            let help = arg
                .get_long_help()
                .or(arg.get_help())
                .map(ToString::to_string);
            if let Some(help) = help {
                let key = arg.get_id().as_str().to_owned();
                arg = arg.long_help(format!("{help}\n[file: {key}]"));
            }
        }
        if arg.get_env().is_some() || !takes_settings(&arg) {
            return arg;
        }
        let name = format!("{env_prefix}{}", arg.get_id().as_str().to_uppercase());
        arg.env(name)
    })
}

/// Whether the argument is a setting (not clap's `--help` or `--version`, nor a positional).
fn takes_settings(arg: &Arg) -> bool {
    !arg.is_positional()
        && !matches!(
            arg.get_action(),
            ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
        )
        && !matches!(arg.get_id().as_str(), "help" | "version")
}

/// The file `--config FILE` (or `--config=FILE`) names on the command line, else its
/// environment variable's. Read before clap parses, since the file's values are the
/// defaults clap parses with.
fn config_path(command: &Command, args: &[OsString]) -> Option<PathBuf> {
    let arg = command
        .get_arguments()
        .find(|a| a.get_id().as_str() == CONFIG_ID)?;
    if let Some(long) = arg.get_long() {
        let flag = format!("--{long}");
        let with_value = format!("--{long}=");
        let mut rest = args.iter().skip(1);
        while let Some(a) = rest.next() {
            let Some(a) = a.to_str() else { continue };
            if a == "--" {
                break;
            }
            if a == flag {
                return rest.next().map(PathBuf::from);
            }
            if let Some(path) = a.strip_prefix(&with_value) {
                return Some(PathBuf::from(path));
            }
        }
    }
    arg.get_env()
        .and_then(std::env::var_os)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The command with the file's values as its arguments' defaults.
fn with_file_defaults(
    mut command: Command,
    path: &Path,
    text: &str,
) -> Result<Command, SettingsError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let at = e.span().map_or(0, |span| span.start);
        let before = &text[..at.min(text.len())];
        SettingsError::Syntax {
            path: path.to_owned(),
            line: before.matches('\n').count() + 1,
            column: before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1,
            message: e.message().to_owned(),
        }
    })?;
    for (key, value) in &table {
        let arg = command
            .get_arguments()
            .find(|a| a.get_id().as_str() == key && is_file_key(a))
            .cloned()
            .ok_or_else(|| SettingsError::UnknownKey {
                path: path.to_owned(),
                key: key.clone(),
                known: file_keys(&command).join(", "),
            })?;
        let wrong = |reason: String| SettingsError::Value {
            path: path.to_owned(),
            key: key.clone(),
            reason,
        };
        let values = values_for(&arg, value).map_err(|r| wrong(r.to_owned()))?;
        check(&arg, &values).map_err(wrong)?;
        // Shown by `--help` as the default otherwise, and the file may hold secrets (a flag
        // shows no default).
        let takes_value = !matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse);
        command = command.mut_arg(arg.get_id(), |a| {
            a.default_values(values).hide_default_value(takes_value)
        });
    }
    Ok(command)
}

/// Whether the file may set the argument (every setting but the file itself).
fn is_file_key(arg: &Arg) -> bool {
    takes_settings(arg) && arg.get_id().as_str() != CONFIG_ID
}

/// The keys the file may have, for the unknown key's error.
fn file_keys(command: &Command) -> Vec<String> {
    command
        .get_arguments()
        .filter(|a| is_file_key(a))
        .map(|a| a.get_id().as_str().to_owned())
        .collect()
}

/// The command-line values a TOML value stands for: a flag takes `true` or `false`, a
/// repeatable setting an array (or one value), any other a single string, number or boolean.
fn values_for(arg: &Arg, value: &toml::Value) -> Result<Vec<String>, &'static str> {
    match arg.get_action() {
        ArgAction::SetTrue | ArgAction::SetFalse => match value {
            toml::Value::Boolean(b) => Ok(vec![b.to_string()]),
            _ => Err("expected true or false"),
        },
        ArgAction::Append => match value {
            toml::Value::Array(items) => items
                .iter()
                .map(|v| scalar(v).ok_or("expected an array of strings or numbers"))
                .collect(),
            single => scalar(single)
                .map(|v| vec![v])
                .ok_or("expected a value or an array of values"),
        },
        _ => scalar(value)
            .map(|v| vec![v])
            .ok_or("expected a single string, number or boolean"),
    }
}

fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Datetime(d) => Some(d.to_string()),
        toml::Value::Array(_) | toml::Value::Table(_) => None,
    }
}

/// Runs the argument's own parser on the values, so a bad one is reported against the file
/// and its key rather than as the command line's default.
fn check(arg: &Arg, values: &[String]) -> Result<(), String> {
    if matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse) {
        return Ok(());
    }
    let probe = Command::new("file").no_binary_name(true).arg(
        Arg::new("value")
            .long("value")
            .action(ArgAction::Append)
            .value_parser(arg.get_value_parser().clone()),
    );
    match probe.try_get_matches_from(values.iter().map(|v| format!("--value={v}"))) {
        Ok(_) => Ok(()),
        Err(e) => Err(reason(&e)),
    }
}

/// What a value parser's error says, without the value.
fn reason(e: &clap::Error) -> String {
    if let Some(source) = std::error::Error::source(e) {
        return source.to_string();
    }
    if let Some(ContextValue::Strings(valid)) = e.get(ContextKind::ValidValue) {
        return format!("expected one of {}", valid.join(", "));
    }
    match e.kind() {
        ErrorKind::InvalidUtf8 => "not valid UTF-8".to_owned(),
        kind => kind.as_str().unwrap_or("invalid value").to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// A program's settings, as a program declares them.
    #[derive(Debug, Parser)]
    struct Settings {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, default_value = "127.0.0.1:8000")]
        listen: std::net::SocketAddr,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long = "origin")]
        origins: Vec<String>,
        #[arg(long)]
        quiet: bool,
    }

    fn parse(text: &str, args: &[&str]) -> Result<Settings, SettingsError> {
        let dir = std::env::temp_dir().join(format!("config_file_{}", uuid::Uuid::new_v4()));
        std::fs::write(&dir, text).unwrap();
        let path = dir.to_str().unwrap().to_owned();
        let mut full = vec!["program", "--config", &path];
        full.extend_from_slice(args);
        let parsed = try_parse_from(full, "CONFIG_FILE_TEST_");
        std::fs::remove_file(&dir).unwrap();
        parsed
    }

    #[test]
    fn the_file_sets_what_the_flags_leave_and_the_flags_win() {
        let text = "listen = \"127.0.0.1:9000\"\nlimit = 7\norigins = [\"https://a.test\", \"https://b.test\"]\nquiet = true\n";
        let settings = parse(text, &[]).unwrap();
        assert_eq!(settings.listen.port(), 9000);
        assert_eq!(settings.limit, Some(7));
        assert_eq!(settings.origins, ["https://a.test", "https://b.test"]);
        assert!(settings.quiet);

        let settings = parse(text, &["--limit", "8", "--origin", "https://c.test"]).unwrap();
        assert_eq!(settings.limit, Some(8));
        assert_eq!(
            settings.origins,
            ["https://c.test"],
            "a flag replaces the list"
        );
        assert_eq!(settings.listen.port(), 9000);
    }

    #[test]
    fn without_a_file_the_defaults_hold() {
        let settings: Settings = try_parse_from(["program"], "CONFIG_FILE_TEST_").unwrap();
        assert_eq!(settings.listen.port(), 8000);
        assert_eq!(settings.limit, None);
        assert!(!settings.quiet);
    }

    #[test]
    fn an_unknown_key_is_named_with_the_known_ones() {
        let e = parse("limt = 3\n", &[]).unwrap_err().to_string();
        assert!(e.contains("unknown key `limt`"), "{e}");
        assert!(e.contains("listen, limit, origins, quiet"), "{e}");
        let e = parse("config = \"other.toml\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown key `config`"), "{e}");
    }

    #[test]
    fn a_bad_value_names_the_key_not_the_value() {
        let e = parse("listen = \"s3cret-host\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`listen`: invalid socket address"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
        let e = parse("quiet = \"yes\"\n", &[]).unwrap_err().to_string();
        assert!(e.contains("`quiet`: expected true or false"), "{e}");
        let e = parse("limit = [1, 2]\n", &[]).unwrap_err().to_string();
        assert!(e.contains("`limit`: expected a single"), "{e}");
        let e = parse("limit = -1\n", &[]).unwrap_err().to_string();
        assert!(e.contains("`limit`:"), "{e}");
    }

    #[test]
    fn a_syntax_error_says_where() {
        let e = parse("limit = 3\nlisten = \n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2:"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let e = try_parse_from::<Settings, _, _>(
            ["program", "--config=/nonexistent/settings.toml"],
            "CONFIG_FILE_TEST_",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("cannot read the config file /nonexistent/settings.toml"),
            "{e}"
        );
    }

    #[test]
    fn every_setting_gets_an_environment_variable() {
        let command = with_env(Settings::command(), "APP_");
        let env: Vec<_> = command
            .get_arguments()
            .filter_map(|a| a.get_env())
            .map(|e| e.to_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            env,
            [
                "APP_CONFIG",
                "APP_LISTEN",
                "APP_LIMIT",
                "APP_ORIGINS",
                "APP_QUIET"
            ]
        );
    }
}
