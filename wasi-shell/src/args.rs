//! The native command line, less what WASI cannot honour: each such flag
//! is refused with a message naming the WASI limit (exit 2).

use httpserver_core::ServerProtocol;

pub const USAGE: &str = "usage: httpserver-wasi [-h] [--stdio] [-d DIRECTORY] [-p VERSION]";

pub const HELP: &str = "
options:
  -h, --help            show this help message and exit
  --stdio               serve one connection over stdin/stdout (without it,
                        serve the listening socket the host preopened)
  -d DIRECTORY, --directory DIRECTORY
                        serve this preopened directory (default: .)
  -p VERSION, --protocol VERSION
                        conform to this HTTP version (default: HTTP/1.0)

Not available on WASI (each exits 2 with the reason): port, -b/--bind,
--cgi, --follow-symlinks, --header-timeout, --idle-timeout, --io-timeout,
--max-connections, --cgi-timeout, --cgi-max-body.";

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
}

pub enum Outcome {
    Run(Args),
    Help,
    Error(String),
}

/// Why a native option cannot work here.
fn unsupported(name: &str) -> Option<&'static str> {
    Some(match name {
        "-b" | "--bind" => {
            "WASI preview 1 cannot bind a socket: the host binds it (e.g. wasmtime -S tcplisten=ADDR:PORT)"
        }
        "--cgi" => "CGI needs child processes, and WASI has no process spawning",
        "--follow-symlinks" => {
            "the preopened directory confines every path; WASI cannot follow links out of it"
        }
        "--header-timeout" | "--idle-timeout" | "--io-timeout" => {
            "connections are served one at a time with blocking WASI reads, which have no time limit"
        }
        "--max-connections" => "WASI has no threads: connections are served one at a time",
        "--cgi-timeout" | "--cgi-max-body" => "CGI needs child processes, and WASI has no process spawning",
        _ => return None,
    })
}

pub fn parse_args(argv: &[String]) -> Outcome {
    let mut args = Args { mode: Mode::Auto, directory: ".".into(), protocol: ServerProtocol::Http10 };
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
