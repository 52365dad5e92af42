//! `--name value` flags of the harness binaries (`cargo bench ... -- --streams 1000`): few
//! enough that a parser crate would weigh more than it saves. Cargo's own `--bench` flag,
//! which it passes to every bench target, is ignored.

use std::collections::HashMap;
use std::str::FromStr;

/// The flags given on the command line.
#[derive(Debug, Default)]
pub struct Args(HashMap<String, String>);

impl Args {
    /// This process's arguments.
    pub fn from_env() -> Self {
        Self::parse(std::env::args().skip(1))
    }

    /// `--name value` pairs; a flag without a value (`--bench`) is skipped.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Self {
        let mut map = HashMap::new();
        let mut args = args.into_iter().peekable();
        while let Some(arg) = args.next() {
            let Some(name) = arg.strip_prefix("--") else {
                continue;
            };
            if let Some((name, value)) = name.split_once('=') {
                map.insert(name.to_string(), value.to_string());
            } else if args.peek().is_some_and(|next| !next.starts_with("--")) {
                let value = args.next().unwrap_or_default();
                map.insert(name.to_string(), value);
            }
        }
        Self(map)
    }

    /// The value of `--name`, or `default` when absent; exits with a message naming the flag
    /// when it is given but does not parse.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> T {
        match self.0.get(name) {
            None => default,
            Some(text) => text.parse().unwrap_or_else(|_| {
                eprintln!("--{name} {text:?}: not a valid value for this flag");
                std::process::exit(2)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pairs_and_skips_bare_flags() {
        let a =
            Args::parse(["--bench", "--streams", "1000", "--seconds=20", "--x"].map(String::from));
        assert_eq!(a.get("streams", 0u32), 1000);
        assert_eq!(a.get("seconds", 0u32), 20);
        assert_eq!(a.get("sse-clients", 7u32), 7);
        assert_eq!(a.get("bench", "none".to_string()), "none");
    }
}
