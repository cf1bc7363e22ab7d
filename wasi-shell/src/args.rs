//! The native command line, less what WASI cannot honour: each such flag
//! is refused with a message naming the WASI limit (exit 2).

use std::time::Duration;

use httpserver_core::ServerProtocol;

pub const USAGE: &str = "usage: httpserver-wasi [-h] [--stdio] [-d DIRECTORY] [-p VERSION]
                       [--header-timeout SECONDS] [--idle-timeout SECONDS] [--io-timeout SECONDS]";

pub const HELP: &str = "
options:
  -h, --help            show this help message and exit
  --stdio               serve one connection over stdin/stdout (without it,
                        serve the listening socket the host preopened)
  -d DIRECTORY, --directory DIRECTORY
                        serve this preopened directory (default: .)
  -p VERSION, --protocol VERSION
                        conform to this HTTP version (default: HTTP/1.0)
  --header-timeout SECONDS, --idle-timeout SECONDS, --io-timeout SECONDS
                        as natively (defaults 60, 75, 60), on the host's
                        socket only: reads of standard input cannot wait
                        with a time limit

On the host's socket, connections are served concurrently, at most 256 at
once (more are answered 503 and closed).

Not available on WASI (each exits 2 with the reason): port, -b/--bind,
--cgi, --follow-symlinks, --max-connections, --cgi-timeout, --cgi-max-body.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `--stdio`.
    Stdio,
    /// The host's socket if there is one (else an error).
    Auto,
}

#[derive(Debug, Clone)]
pub struct Args {
    pub mode: Mode,
    pub directory: String,
    pub protocol: ServerProtocol,
    /// Time limits (socket mode only; `None`: the native defaults).
    pub header_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub io_timeout: Option<Duration>,
}

pub enum Outcome {
    Run(Args),
    Help,
    Error(String),
}

/// Why a native option cannot work here.
fn unsupported(name: &str) -> Option<String> {
    Some(match name {
        "-b" | "--bind" => {
            "WASI preview 1 cannot bind a socket: the host binds it (e.g. wasmtime -S tcplisten=ADDR:PORT)"
        }
        "--cgi" => "CGI needs child processes, and WASI has no process spawning",
        "--follow-symlinks" => {
            "the preopened directory confines every path; WASI cannot follow links out of it"
        }
        "--max-connections" => {
            return Some(format!(
                "the cap is fixed at {} connections on the host's socket (503 past it)",
                crate::socket::MAX_CONNECTIONS
            ))
        }
        "--cgi-timeout" | "--cgi-max-body" => "CGI needs child processes, and WASI has no process spawning",
        _ => return None,
    }
    .to_string())
}

/// A time limit in seconds, as the native command line reads it.
fn seconds(name: &str, v: &str) -> Result<Duration, String> {
    match v.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs.is_finite() && secs < 1e9 => Ok(Duration::from_secs_f64(secs)),
        _ => Err(format!("argument {name}: invalid value: '{v}'")),
    }
}

pub fn parse_args(argv: &[String]) -> Outcome {
    let outcome = parse(argv);
    if let Outcome::Run(args) = &outcome {
        let given = [
            ("--header-timeout", args.header_timeout),
            ("--idle-timeout", args.idle_timeout),
            ("--io-timeout", args.io_timeout),
        ];
        if let (Mode::Stdio, Some((name, _))) = (args.mode, given.iter().find(|(_, t)| t.is_some())) {
            return Outcome::Error(format!(
                "argument {name}: not available on WASI with --stdio: reads of standard input have no time limit \
                 (a socket preopened by the host has)"
            ));
        }
    }
    outcome
}

fn parse(argv: &[String]) -> Outcome {
    let mut args = Args {
        mode: Mode::Auto,
        directory: ".".into(),
        protocol: ServerProtocol::Http10,
        header_timeout: None,
        idle_timeout: None,
        io_timeout: None,
    };
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if let Some(why) = unsupported(&name) {
            return Outcome::Error(format!("argument {name}: not available on WASI: {why}"));
        }
        let mut value = |label: &str| -> Result<String, String> {
            match inline.clone().or_else(|| it.next().cloned()) {
                Some(v) => Ok(v),
                None => Err(format!("argument {label}: expected one argument")),
            }
        };
        match name.as_str() {
            "-h" | "--help" => return Outcome::Help,
            "--stdio" => args.mode = Mode::Stdio,
            "-d" | "--directory" => match value("-d/--directory") {
                Ok(v) => args.directory = v,
                Err(e) => return Outcome::Error(e),
            },
            "-p" | "--protocol" => match value("-p/--protocol") {
                Ok(v) => match ServerProtocol::parse(&v) {
                    Some(p) => args.protocol = p,
                    None => {
                        return Outcome::Error(format!(
                            "argument -p/--protocol: invalid choice: '{v}' (choose from 'HTTP/1.0', 'HTTP/1.1')"
                        ))
                    }
                },
                Err(e) => return Outcome::Error(e),
            },
            "--header-timeout" | "--idle-timeout" | "--io-timeout" => {
                let limit = match value(&name).and_then(|v| seconds(&name, &v)) {
                    Ok(d) => Some(d),
                    Err(e) => return Outcome::Error(e),
                };
                match name.as_str() {
                    "--header-timeout" => args.header_timeout = limit,
                    "--idle-timeout" => args.idle_timeout = limit,
                    _ => args.io_timeout = limit,
                }
            }
            other if !other.starts_with('-') => {
                return Outcome::Error(format!(
                    "argument port: not available on WASI: WASI preview 1 cannot bind a socket: the host binds it \
                     (e.g. wasmtime -S tcplisten=ADDR:{other})"
                ))
            }
            other => return Outcome::Error(format!("unrecognized arguments: {other}")),
        }
    }
    Outcome::Run(args)
}
