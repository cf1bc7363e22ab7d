//! The command line, parsed the way argparse parses CPython's: same
//! options, defaults, usage line, error messages and exit code 2.

use std::path::PathBuf;
use std::time::Duration;

use httpserver_core::ServerProtocol;

use crate::log::Format;

pub const USAGE: &str =
    "usage: httpserver [-h] [--version] [--cgi] [--follow-symlinks] [-b ADDRESS] [-d DIRECTORY] [-p VERSION]
                  [--tls-cert PATH] [--tls-key PATH] [--tls-password-file PATH]
                  [--header-timeout SECONDS] [--idle-timeout SECONDS] [--io-timeout SECONDS]
                  [--max-connections N] [--cgi-timeout SECONDS] [--cgi-max-body BYTES]
                  [--precompressed] [--compress] [--log-format {cpython,json}] [-q]
                  [-H HEADER VALUE] [--cors] [--charset {utf-8,none}] [--hide-dotfiles]
                  [--rich-listing] [--spa FILE] [--upload] [--upload-overwrite]
                  [--upload-max BYTES] [--auth USER:PASSWORD] [--auth-file FILE] [port]";

pub const HELP: &str = "
positional arguments:
  port                  bind to this port (default: 8000)

options:
  -h, --help            show this help message and exit
  --version             show program's version number and exit
  --cgi                 run as CGI server
  --follow-symlinks     serve symbolic links that point outside the directory
                        (CPython's behaviour; refused by default)
  -b ADDRESS, --bind ADDRESS
                        bind to this address (default: all interfaces)
  -d DIRECTORY, --directory DIRECTORY
                        serve this directory (default: current directory)
  -p VERSION, --protocol VERSION
                        conform to this HTTP version (default: HTTP/1.0)
  --tls-cert PATH       path to the TLS certificate chain file: serve HTTPS
                        (PEM, leaf first; it may also hold the key)
  --tls-key PATH        path to the TLS key file (PEM: PKCS#8, RSA or EC;
                        default: the key in the certificate file)
  --tls-password-file PATH
                        path to the password file for the TLS key (for an
                        encrypted PKCS#8 key)
  --header-timeout SECONDS
                        close a connection whose request head is not complete
                        this long after it opened, or after its first byte
                        following an idle spell (default: 60)
  --idle-timeout SECONDS
                        close an idle persistent connection (default: 75)
  --io-timeout SECONDS  close a connection whose request body or response
                        makes no progress this long (default: 60)
  --max-connections N   most connections open at once; more are answered
                        503 and closed (default: 10000, less if the open-file
                        limit is lower)
  --cgi-timeout SECONDS
                        kill a CGI script that runs longer (default: 60)
  --cgi-max-body BYTES  largest request body passed to a CGI script; larger
                        ones get 413 before the script starts (default: 33554432)
  --precompressed       serve x.br, x.zst or x.gz in place of x when the client
                        accepts that coding
  --compress            compress text, JSON, JavaScript, XML, SVG and wasm
                        files of 1 KiB or more with Brotli or gzip, as the
                        client accepts
  --log-format {cpython,json}
                        log lines as CPython writes them (default), or one
                        JSON object per line: per request when its response
                        is over (with the body bytes sent and the duration),
                        per error and per notice
  -q, --quiet           log no line per request (errors and notices still)
  -H HEADER VALUE, --header HEADER VALUE
                        add this header to successful file and listing
                        replies (repeatable)
  --cors                allow any origin to read replies
                        (Access-Control-Allow-Origin: *) and answer OPTIONS
                        preflights
  --charset {utf-8,none}
                        charset declared for text, JavaScript, JSON and XML
                        files (default: utf-8; none: CPython's headers)
  --hide-dotfiles       answer 404 for names beginning with '.' and leave them
                        out of listings
  --rich-listing        list directories with size and modification time,
                        sortable, in light and dark colours
  --spa FILE            answer paths that do not exist with FILE (relative to
                        the directory) instead of 404: single-page apps
  --upload              accept uploads: PUT /dir/name, and multipart POST to a
                        directory (the listing shows a form)
  --upload-overwrite    let an upload replace an existing file (else 409)
  --upload-max BYTES    largest upload accepted (default: 1073741824)
  --auth USER:PASSWORD  require HTTP Basic authentication with this user
                        (repeatable)
  --auth-file FILE      require HTTP Basic authentication with the users in
                        FILE: user:password or user:hash lines (bcrypt, SHA-512
                        or SHA-256 crypt)
";

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub cgi: bool,
    pub follow_symlinks: bool,
    pub bind: Option<String>,
    pub directory: PathBuf,
    pub protocol: ServerProtocol,
    pub port: u16,
    pub cgi_timeout: Duration,
    pub cgi_max_body: u64,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub io_timeout: Duration,
    /// `None`: the default, bounded by the open-file limit.
    pub max_connections: Option<usize>,
    pub precompressed: bool,
    pub compress: bool,
    pub log_format: Format,
    /// `--tls-cert`: serve HTTPS with this certificate chain. `None` also
    /// for an empty path, which CPython takes as not given.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key`: the private key, when not in the certificate file.
    pub tls_key: Option<PathBuf>,
    /// `--tls-password-file`: the encrypted key's password (`None` for an
    /// empty path, as in CPython).
    pub tls_password_file: Option<PathBuf>,
    /// `-q`: no request lines.
    pub quiet: bool,
    /// `-H NAME VALUE`, in order (checked: a token and a value without
    /// CR, LF or NUL).
    pub headers: Vec<(String, String)>,
    pub cors: bool,
    /// `--charset`: whether text types say `charset=utf-8`.
    pub charset_utf8: bool,
    pub hide_dotfiles: bool,
    pub rich_listing: bool,
    /// `--spa`: the fallback file, relative to the directory.
    pub spa: Option<String>,
    pub upload: bool,
    pub upload_overwrite: bool,
    pub upload_max: u64,
    /// `--auth USER:PASSWORD`, in order.
    pub auth: Vec<(String, String)>,
    /// `--auth-file`.
    pub auth_file: Option<PathBuf>,
}

/// Default upload cap: 1 GiB.
pub const DEFAULT_UPLOAD_MAX: u64 = 1 << 30;

/// Default CGI time limit: generous; a script past it is surely stuck.
pub const DEFAULT_CGI_TIMEOUT: Duration = Duration::from_secs(60);
/// Default CGI body cap: 32 MiB (uploads through a CGI form), far above
/// nginx's 1 MiB default, still bounded.
pub const DEFAULT_CGI_MAX_BODY: u64 = 32 << 20;

/// Why parsing stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum ArgsOutcome {
    Run(Box<Args>),
    /// `-h`: print the help and exit 0.
    Help,
    /// `--version`: print the version and exit 0 (argparse's `version`
    /// action).
    Version,
    /// A usage error: print usage and `httpserver: error: MSG`, exit 2.
    Error(String),
}

pub fn parse_args<I: IntoIterator<Item = String>>(argv: I, cwd: PathBuf) -> ArgsOutcome {
    let mut args = Args {
        cgi: false,
        follow_symlinks: false,
        bind: None,
        directory: cwd,
        protocol: ServerProtocol::Http10,
        port: 8000,
        cgi_timeout: DEFAULT_CGI_TIMEOUT,
        cgi_max_body: DEFAULT_CGI_MAX_BODY,
        header_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(75),
        io_timeout: Duration::from_secs(60),
        max_connections: None,
        precompressed: false,
        compress: false,
        log_format: Format::Cpython,
        tls_cert: None,
        tls_key: None,
        tls_password_file: None,
        quiet: false,
        headers: Vec::new(),
        cors: false,
        charset_utf8: true,
        hide_dotfiles: false,
        rich_listing: false,
        spa: None,
        upload: false,
        upload_overwrite: false,
        upload_max: DEFAULT_UPLOAD_MAX,
        auth: Vec::new(),
        auth_file: None,
    };
    let mut upload_options_given: Option<&'static str> = None;
    let mut port: Option<String> = None;
    let mut unrecognized: Vec<String> = Vec::new();
    let mut only_positional = false;
    let mut it = argv.into_iter();
    while let Some(arg) = it.next() {
        if only_positional || arg == "-" || !arg.starts_with('-') || is_negative_number(&arg) {
            if port.is_none() {
                port = Some(arg);
            } else {
                unrecognized.push(arg);
            }
            continue;
        }
        if arg == "--" {
            only_positional = true;
            continue;
        }
        // Split `--opt=value` and `-ovalue`.
        let (name, inline): (String, Option<String>) = if let Some(rest) = arg.strip_prefix("--") {
            match rest.split_once('=') {
                Some((n, v)) => (format!("--{n}"), Some(v.to_string())),
                None => (arg.clone(), None),
            }
        } else if arg.len() > 2 {
            (arg[..2].to_string(), Some(arg[2..].to_string()))
        } else {
            (arg.clone(), None)
        };
        let name = match expand_long(&name) {
            Ok(n) => n,
            Err(msg) => return ArgsOutcome::Error(msg),
        };
        let takes_value = matches!(
            name.as_str(),
            "-b" | "--bind"
                | "-d"
                | "--directory"
                | "-p"
                | "--protocol"
                | "--cgi-timeout"
                | "--cgi-max-body"
                | "--header-timeout"
                | "--idle-timeout"
                | "--io-timeout"
                | "--max-connections"
                | "--log-format"
                | "--tls-cert"
                | "--tls-key"
                | "--tls-password-file"
                | "--charset"
                | "--spa"
                | "--upload-max"
                | "--auth"
                | "--auth-file"
        );
        let label = match name.as_str() {
            "-b" | "--bind" => "-b/--bind",
            "-d" | "--directory" => "-d/--directory",
            "-p" | "--protocol" => "-p/--protocol",
            "-H" | "--header" => "-H/--header",
            other => other,
        };
        if name == "-H" || name == "--header" {
            // argparse's nargs=2: two values, neither looking like an option.
            let mut values: Vec<String> = inline.into_iter().collect();
            while values.len() < 2 {
                match it.next() {
                    Some(v) if !v.starts_with('-') || is_negative_number(&v) => values.push(v),
                    _ => return ArgsOutcome::Error(format!("argument {label}: expected 2 arguments")),
                }
            }
            let value = values.pop().unwrap_or_default();
            let header = values.pop().unwrap_or_default();
            if !is_token(&header) {
                return ArgsOutcome::Error(format!("argument {label}: invalid header name: '{header}'"));
            }
            if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
                return ArgsOutcome::Error(format!("argument {label}: invalid header value for '{header}'"));
            }
            args.headers.push((header, value));
            continue;
        }
        let value = if takes_value {
            match inline {
                Some(v) => Some(v),
                None => match it.next() {
                    Some(v) if !v.starts_with('-') || is_negative_number(&v) => Some(v),
                    _ => return ArgsOutcome::Error(format!("argument {label}: expected one argument")),
                },
            }
        } else {
            if let Some(v) = inline {
                if name.starts_with("--") {
                    return ArgsOutcome::Error(format!("argument {name}: ignored explicit argument '{v}'"));
                }
                // `-hx`-style bundles: not worth supporting; argparse would
                // read `x` as another short flag.
                unrecognized.push(arg.clone());
                continue;
            }
            None
        };
        match name.as_str() {
            "-h" | "--help" => return ArgsOutcome::Help,
            "--version" => return ArgsOutcome::Version,
            "--cgi" => args.cgi = true,
            "--follow-symlinks" => args.follow_symlinks = true,
            "--precompressed" => args.precompressed = true,
            "--compress" => args.compress = true,
            "-q" | "--quiet" => args.quiet = true,
            "--cors" => args.cors = true,
            "--hide-dotfiles" => args.hide_dotfiles = true,
            "--rich-listing" => args.rich_listing = true,
            "--upload" => args.upload = true,
            "--upload-overwrite" => {
                args.upload_overwrite = true;
                upload_options_given = Some("--upload-overwrite");
            }
            "--upload-max" => {
                let v = value.unwrap_or_default();
                match v.trim().parse::<u64>() {
                    Ok(n) => args.upload_max = n,
                    _ => {
                        return ArgsOutcome::Error(format!("argument --upload-max: invalid int value: '{v}'"))
                    }
                }
                upload_options_given = Some("--upload-max");
            }
            "--charset" => {
                let v = value.unwrap_or_default();
                args.charset_utf8 = match v.as_str() {
                    "utf-8" => true,
                    "none" => false,
                    _ => {
                        return ArgsOutcome::Error(format!(
                            "argument --charset: invalid choice: '{v}' (choose from 'utf-8', 'none')"
                        ))
                    }
                };
            }
            "--spa" => args.spa = value,
            "--auth" => {
                let v = value.unwrap_or_default();
                match v.split_once(':') {
                    Some((user, password)) if !user.is_empty() => {
                        args.auth.push((user.to_string(), password.to_string()))
                    }
                    _ => {
                        return ArgsOutcome::Error(format!(
                            "argument --auth: expected USER:PASSWORD, got '{v}'"
                        ))
                    }
                }
            }
            "--auth-file" => args.auth_file = value.map(PathBuf::from),
            "-b" | "--bind" => args.bind = value,
            "-d" | "--directory" => args.directory = PathBuf::from(value.unwrap_or_default()),
            "-p" | "--protocol" => {
                let v = value.unwrap_or_default();
                match ServerProtocol::parse(&v) {
                    Some(p) => args.protocol = p,
                    None => {
                        return ArgsOutcome::Error(format!(
                        "argument -p/--protocol: invalid choice: '{v}' (choose from 'HTTP/1.0', 'HTTP/1.1')"
                    ))
                    }
                }
            }
            "--cgi-timeout" | "--header-timeout" | "--idle-timeout" | "--io-timeout" => {
                let v = value.unwrap_or_default();
                let secs = match v.parse::<f64>() {
                    Ok(secs) if secs > 0.0 && secs.is_finite() && secs < 1e9 => Duration::from_secs_f64(secs),
                    _ => return ArgsOutcome::Error(format!("argument {name}: invalid value: '{v}'")),
                };
                match name.as_str() {
                    "--cgi-timeout" => args.cgi_timeout = secs,
                    "--header-timeout" => args.header_timeout = secs,
                    "--idle-timeout" => args.idle_timeout = secs,
                    _ => args.io_timeout = secs,
                }
            }
            "--max-connections" => {
                let v = value.unwrap_or_default();
                match v.parse::<usize>() {
                    Ok(n) if n > 0 => args.max_connections = Some(n),
                    _ => {
                        return ArgsOutcome::Error(format!(
                            "argument --max-connections: invalid int value: '{v}'"
                        ))
                    }
                }
            }
            "--log-format" => {
                let v = value.unwrap_or_default();
                args.log_format = match v.as_str() {
                    "cpython" => Format::Cpython,
                    "json" => Format::Json,
                    _ => {
                        return ArgsOutcome::Error(format!(
                            "argument --log-format: invalid choice: '{v}' (choose from 'cpython', 'json')"
                        ))
                    }
                };
            }
            // CPython tests these with `if args.tls_cert:`: an empty value
            // is as good as none (the key's is kept, and fails to open).
            "--tls-cert" => args.tls_cert = value.filter(|v| !v.is_empty()).map(PathBuf::from),
            "--tls-key" => args.tls_key = value.map(PathBuf::from),
            "--tls-password-file" => {
                args.tls_password_file = value.filter(|v| !v.is_empty()).map(PathBuf::from)
            }
            "--cgi-max-body" => {
                let v = value.unwrap_or_default();
                match v.parse::<u64>() {
                    Ok(n) => args.cgi_max_body = n,
                    _ => {
                        return ArgsOutcome::Error(format!(
                            "argument --cgi-max-body: invalid int value: '{v}'"
                        ))
                    }
                }
            }
            _ => unrecognized.push(arg.clone()),
        }
    }
    if !unrecognized.is_empty() {
        return ArgsOutcome::Error(format!("unrecognized arguments: {}", unrecognized.join(" ")));
    }
    if let Some(p) = port {
        match parse_port(&p) {
            Some(n) => args.port = n,
            None => return ArgsOutcome::Error(format!("argument port: invalid int value: '{p}'")),
        }
    }
    // After parse_args, as CPython 3.14's http.server checks them.
    let key_given = args.tls_key.as_ref().is_some_and(|k| !k.as_os_str().is_empty());
    if args.tls_cert.is_none() && key_given {
        return ArgsOutcome::Error("--tls-key requires --tls-cert to be set".into());
    }
    if args.tls_cert.is_none() && args.tls_password_file.is_some() {
        return ArgsOutcome::Error("--tls-password-file requires --tls-cert to be set".into());
    }
    if let (false, Some(option)) = (args.upload, upload_options_given) {
        return ArgsOutcome::Error(format!("{option} requires --upload"));
    }
    ArgsOutcome::Run(Box::new(args))
}

/// argparse accepts unambiguous prefixes of long options.
fn expand_long(name: &str) -> Result<String, String> {
    const LONG: &[&str] = &[
        "--help",
        "--version",
        "--cgi",
        "--follow-symlinks",
        "--bind",
        "--directory",
        "--protocol",
        "--cgi-timeout",
        "--cgi-max-body",
        "--header-timeout",
        "--idle-timeout",
        "--io-timeout",
        "--max-connections",
        "--precompressed",
        "--compress",
        "--log-format",
        "--tls-cert",
        "--tls-key",
        "--tls-password-file",
        "--quiet",
        "--header",
        "--cors",
        "--charset",
        "--hide-dotfiles",
        "--rich-listing",
        "--spa",
        "--upload",
        "--upload-overwrite",
        "--upload-max",
        "--auth",
        "--auth-file",
    ];
    if !name.starts_with("--") || LONG.contains(&name) {
        return Ok(name.to_string());
    }
    let matches: Vec<&&str> = LONG.iter().filter(|l| l.starts_with(name)).collect();
    match matches.len() {
        0 => Ok(name.to_string()),
        1 => Ok(matches[0].to_string()),
        _ => Err(format!(
            "ambiguous option: {name} could match {}",
            matches.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// An RFC 9110 token: what a header name must be.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn is_negative_number(s: &str) -> bool {
    s.len() > 1 && s.starts_with('-') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

/// Python's `int()` accepts surrounding spaces, a sign and underscores
/// between digits; the port must then fit 0..=65535.
fn parse_port(s: &str) -> Option<u16> {
    let t = s.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    if t.is_empty() || t.starts_with('_') || t.ends_with('_') || t.contains("__") {
        return None;
    }
    let digits: String = t.chars().filter(|&c| c != '_').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u16>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &[&str]) -> ArgsOutcome {
        parse_args(v.iter().map(|s| s.to_string()), PathBuf::from("/cwd"))
    }

    #[test]
    fn defaults_match_cpython() {
        let ArgsOutcome::Run(a) = parse(&[]) else { panic!() };
        assert_eq!((a.port, a.bind, a.protocol, a.cgi), (8000, None, ServerProtocol::Http10, false));
        assert_eq!(a.directory, PathBuf::from("/cwd"));
    }

    #[test]
    fn options_in_every_spelling() {
        let ArgsOutcome::Run(a) = parse(&["-b", "127.0.0.1", "--directory=/srv", "-pHTTP/1.1", "9000"])
        else {
            panic!()
        };
        assert_eq!(a.bind.as_deref(), Some("127.0.0.1"));
        assert_eq!(a.directory, PathBuf::from("/srv"));
        assert_eq!(a.protocol, ServerProtocol::Http11);
        assert_eq!(a.port, 9000);
        let ArgsOutcome::Run(a) = parse(&["--dir", "/x", "--bi", "::1"]) else { panic!() };
        assert_eq!((a.directory, a.bind.as_deref()), (PathBuf::from("/x"), Some("::1")));
    }

    #[test]
    fn errors_like_argparse() {
        assert_eq!(parse(&["abc"]), ArgsOutcome::Error("argument port: invalid int value: 'abc'".into()));
        assert_eq!(parse(&["70000"]), ArgsOutcome::Error("argument port: invalid int value: '70000'".into()));
        assert_eq!(parse(&["-b"]), ArgsOutcome::Error("argument -b/--bind: expected one argument".into()));
        assert_eq!(parse(&["--nope"]), ArgsOutcome::Error("unrecognized arguments: --nope".into()));
        assert_eq!(parse(&["1", "2"]), ArgsOutcome::Error("unrecognized arguments: 2".into()));
        assert!(matches!(parse(&["-p", "HTTP/2"]), ArgsOutcome::Error(_)));
        assert_eq!(parse(&["--help"]), ArgsOutcome::Help);
        assert_eq!(parse(&["--version"]), ArgsOutcome::Version);
        assert_eq!(parse(&["--vers"]), ArgsOutcome::Version);
    }

    #[test]
    fn log_format_is_a_choice() {
        let ArgsOutcome::Run(a) = parse(&[]) else { panic!() };
        assert_eq!(a.log_format, Format::Cpython);
        for argv in
            [&["--log-format", "json"][..], &["--log-format=json"], &["--log", "json"], &["--log-f=json"]]
        {
            let ArgsOutcome::Run(a) = parse(argv) else { panic!("{argv:?}") };
            assert_eq!(a.log_format, Format::Json, "{argv:?}");
        }
        let ArgsOutcome::Run(a) = parse(&["--log-format", "json", "--log-format=cpython", "8080"]) else {
            panic!()
        };
        assert_eq!((a.log_format, a.port), (Format::Cpython, 8080), "the last one wins, as argparse");
        let invalid = |v: &str| {
            ArgsOutcome::Error(format!(
                "argument --log-format: invalid choice: '{v}' (choose from 'cpython', 'json')"
            ))
        };
        assert_eq!(parse(&["--log-format", "x"]), invalid("x"));
        assert_eq!(parse(&["--log-format", "JSON"]), invalid("JSON"));
        assert_eq!(parse(&["--log-format="]), invalid(""));
        let missing = ArgsOutcome::Error("argument --log-format: expected one argument".into());
        assert_eq!(parse(&["--log-format"]), missing);
        assert_eq!(parse(&["--log-format", "--cgi"]), missing);
        assert!(USAGE.contains("[--log-format {cpython,json}]"));
        assert!(HELP.contains("\n  --log-format {cpython,json}\n"));
    }

    #[test]
    fn tls_options() {
        let ArgsOutcome::Run(a) = parse(&[]) else { panic!() };
        assert_eq!((a.tls_cert, a.tls_key, a.tls_password_file), (None, None, None));
        let ArgsOutcome::Run(a) =
            parse(&["--tls-cert", "c.pem", "--tls-key=k.pem", "--tls-password-file", "pw", "8443"])
        else {
            panic!()
        };
        assert_eq!(a.tls_cert, Some(PathBuf::from("c.pem")));
        assert_eq!(a.tls_key, Some(PathBuf::from("k.pem")));
        assert_eq!(a.tls_password_file, Some(PathBuf::from("pw")));
        assert_eq!(a.port, 8443);
        // Unambiguous prefixes, the last one wins.
        let ArgsOutcome::Run(a) = parse(&["--tls-c=a", "--tls-k", "b", "--tls-p=c", "--tls-cert", "d"])
        else {
            panic!()
        };
        assert_eq!(a.tls_cert, Some(PathBuf::from("d")));
        assert_eq!(a.tls_key, Some(PathBuf::from("b")));
        assert_eq!(a.tls_password_file, Some(PathBuf::from("c")));
        assert_eq!(
            parse(&["--tls", "x"]),
            ArgsOutcome::Error(
                "ambiguous option: --tls could match --tls-cert, --tls-key, --tls-password-file".into()
            )
        );
        for opt in ["--tls-cert", "--tls-key", "--tls-password-file"] {
            let missing = ArgsOutcome::Error(format!("argument {opt}: expected one argument"));
            assert_eq!(parse(&[opt]), missing);
            assert_eq!(parse(&[opt, "--cgi"]), missing);
            assert!(USAGE.contains(&format!("[{opt} PATH]")), "{opt}");
            assert!(HELP.contains(&format!("\n  {opt} PATH")), "{opt}");
        }
    }

    #[test]
    fn tls_key_and_password_need_a_cert() {
        let key = ArgsOutcome::Error("--tls-key requires --tls-cert to be set".into());
        let password = ArgsOutcome::Error("--tls-password-file requires --tls-cert to be set".into());
        assert_eq!(parse(&["--tls-key", "k.pem"]), key);
        assert_eq!(
            parse(&["--tls-key", "k.pem", "--tls-password-file", "pw"]),
            key,
            "the key is checked first"
        );
        assert_eq!(parse(&["--tls-password-file", "pw"]), password);
        // An empty --tls-cert is none, as CPython's `if not args.tls_cert`.
        assert_eq!(parse(&["--tls-cert=", "--tls-key", "k.pem"]), key);
        // Other usage errors come first: argparse reports them while parsing.
        assert_eq!(
            parse(&["--tls-key", "k.pem", "--nope"]),
            ArgsOutcome::Error("unrecognized arguments: --nope".into())
        );
        // Empty values are not given: CPython serves plain HTTP, and ignores
        // an empty password file or key without a certificate.
        let ArgsOutcome::Run(a) = parse(&["--tls-cert=", "--tls-password-file=", "--tls-key="]) else {
            panic!()
        };
        assert_eq!((a.tls_cert, a.tls_password_file), (None, None));
        // An empty key with a certificate is kept: opening it fails.
        let ArgsOutcome::Run(a) = parse(&["--tls-cert=c", "--tls-key="]) else { panic!() };
        assert_eq!((a.tls_cert, a.tls_key), (Some(PathBuf::from("c")), Some(PathBuf::from(""))));
    }

    #[test]
    fn header_option_takes_two_values() {
        let ArgsOutcome::Run(a) =
            parse(&["-H", "Cache-Control", "no-store", "--header", "X-A", "b c", "--header=X-B", "", "9"])
        else {
            panic!()
        };
        assert_eq!(
            a.headers,
            [("Cache-Control", "no-store"), ("X-A", "b c"), ("X-B", "")]
                .map(|(n, v)| (n.to_string(), v.to_string()))
        );
        assert_eq!(a.port, 9);
        let two = ArgsOutcome::Error("argument -H/--header: expected 2 arguments".into());
        assert_eq!(parse(&["-H"]), two);
        assert_eq!(parse(&["-H", "X-A"]), two);
        assert_eq!(parse(&["--header", "X-A", "--cors"]), two);
        assert_eq!(
            parse(&["-H", "X A", "v"]),
            ArgsOutcome::Error("argument -H/--header: invalid header name: 'X A'".into())
        );
        assert_eq!(
            parse(&["-H", "", "v"]),
            ArgsOutcome::Error("argument -H/--header: invalid header name: ''".into())
        );
        for bad in ["a\r\nX-Evil: 1", "a\nb", "a\0b"] {
            assert_eq!(
                parse(&["-H", "X-A", bad]),
                ArgsOutcome::Error("argument -H/--header: invalid header value for 'X-A'".into()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn feature_flags() {
        let ArgsOutcome::Run(a) = parse(&[]) else { panic!() };
        assert!(!a.quiet && !a.cors && a.charset_utf8 && !a.hide_dotfiles && !a.rich_listing && !a.upload);
        assert_eq!((a.spa, a.upload_max, a.auth.len(), a.auth_file), (None, 1 << 30, 0, None));
        let ArgsOutcome::Run(a) = parse(&[
            "-q",
            "--cors",
            "--charset",
            "none",
            "--hide-dotfiles",
            "--rich-listing",
            "--spa",
            "index.html",
            "--upload",
            "--upload-overwrite",
            "--upload-max",
            "1000",
            "--auth",
            "ann:pw:with:colons",
            "--auth=bob:",
            "--auth-file",
            "users.txt",
        ]) else {
            panic!()
        };
        assert!(a.quiet && a.cors && !a.charset_utf8 && a.hide_dotfiles && a.rich_listing);
        assert!(a.upload && a.upload_overwrite);
        assert_eq!((a.spa.as_deref(), a.upload_max), (Some("index.html"), 1000));
        assert_eq!(
            a.auth,
            [("ann", "pw:with:colons"), ("bob", "")].map(|(u, p)| (u.to_string(), p.to_string()))
        );
        assert_eq!(a.auth_file, Some(PathBuf::from("users.txt")));
        assert_eq!(
            parse(&["--charset", "latin-1"]),
            ArgsOutcome::Error(
                "argument --charset: invalid choice: 'latin-1' (choose from 'utf-8', 'none')".into()
            )
        );
        assert_eq!(
            parse(&["--auth", "nocolon"]),
            ArgsOutcome::Error("argument --auth: expected USER:PASSWORD, got 'nocolon'".into())
        );
        assert_eq!(
            parse(&["--upload-max", "x", "--upload"]),
            ArgsOutcome::Error("argument --upload-max: invalid int value: 'x'".into())
        );
        assert_eq!(
            parse(&["--upload-overwrite"]),
            ArgsOutcome::Error("--upload-overwrite requires --upload".into())
        );
        assert_eq!(
            parse(&["--upload-max", "5"]),
            ArgsOutcome::Error("--upload-max requires --upload".into())
        );
        assert!(matches!(parse(&["--up"]), ArgsOutcome::Error(e) if e.starts_with("ambiguous option: --up")));
        let ArgsOutcome::Run(a) = parse(&["--upload-o", "--upload"]) else { panic!() };
        assert!(a.upload_overwrite);
        for option in ["-q, --quiet", "--cors", "--upload-max BYTES", "--spa FILE", "--auth-file FILE"] {
            assert!(HELP.contains(&format!("\n  {option}")), "{option}");
        }
    }
}
