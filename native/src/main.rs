//! `httpserver`: a drop-in for `python -m http.server`.
//!
//! Layers, bottom to top (no module imports one above it): `log` and
//! `wait`; `upload`, `file_cache`, `fs` and `cgi` (upload files, the
//! small-file cache, the file system, CGI scripts); `auth` (users and password checks); `app` (what the pumps
//! share); `net` (transport, body writer, admission, the
//! connection driver, the two pumps); this file (command line, signals).
#![deny(clippy::undocumented_unsafe_blocks, clippy::multiple_unsafe_ops_per_block)]

mod app;
mod auth;
mod cgi;
mod cli;
mod compress;
mod file_cache;
mod fs;
mod listen;
mod log;
mod net;
mod tls_config;
mod upload;
mod wait;

use std::io::Write;
use std::net::{IpAddr, ToSocketAddrs};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use httpserver_core::cgi::{CgiServerInfo, DEFAULT_CGI_DIRECTORIES};
use httpserver_core::{Config, Timeouts};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use rustix::event::{PollFd, PollFlags};

use crate::app::App;
use crate::cgi::CgiConfig;
use crate::cli::{parse_args, ArgsOutcome, HELP, USAGE};
use crate::net::admission::Stop;
use crate::tls_config::{Named, Role, TlsConfigError};

/// How long a stop waits for responses under way before it exits anyway
/// (below the 10 s a container runtime waits before it kills).
const STOP_GRACE: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let mut args = match parse_args(std::env::args().skip(1), cwd) {
        ArgsOutcome::Run(a) => *a,
        ArgsOutcome::Help => {
            println!("{USAGE}\n{HELP}");
            return ExitCode::SUCCESS;
        }
        ArgsOutcome::Version => {
            println!("httpserver {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        ArgsOutcome::Error(msg) => return usage_error(&msg),
    };
    // `-d FILE` serves that one file: its directory is the root, and
    // nothing else in it is reachable.
    let mut single_file = None;
    if !args.directory.is_dir() {
        let name = args.directory.file_name().map(|n| n.as_bytes().to_vec());
        match (args.directory.is_file(), name) {
            (true, Some(name)) => {
                single_file = Some(name);
                let parent = args.directory.parent().filter(|p| !p.as_os_str().is_empty());
                args.directory = parent.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
            }
            _ => {
                return usage_error(&format!(
                    "argument -d/--directory: not a directory: '{}'",
                    args.directory.display()
                ))
            }
        }
    }
    if single_file.is_some() && args.upload {
        // One file is served; nothing may be added beside it.
        return usage_error("argument --upload: not allowed when -d names a file");
    }
    if let Some(spa) = &args.spa {
        // A file below the directory, named without `..`: the fallback is
        // served through the same confined lookups as any request.
        let relative = Path::new(spa.trim_start_matches('/'));
        let plain = relative.components().all(|c| matches!(c, std::path::Component::Normal(_)));
        if !plain || relative.as_os_str().is_empty() || !args.directory.join(relative).is_file() {
            return usage_error(&format!("argument --spa: not a file in the directory: '{spa}'"));
        }
    }
    // CPython 3.14 reads the certificate when it starts serving; a file
    // that will not do is one line and exit 1 (2 for an unreadable
    // password file, a usage error there as CPython's argument parsing
    // reads it).
    let tls = match args.tls_cert.as_deref() {
        Some(cert) => {
            match tls_config::server_config(cert, args.tls_key.as_deref(), args.tls_password_file.as_deref())
            {
                Ok(config) => Some(config),
                Err(e @ TlsConfigError::Read { file: Named { role: Role::Password, .. }, .. }) => {
                    return usage_error(&e.to_string())
                }
                Err(e) => {
                    eprintln!("httpserver: error: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        None => None,
    };
    match run(args, tls, single_file) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("httpserver: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("{USAGE}\nhttpserver: error: {msg}");
    ExitCode::from(2)
}

fn run(
    args: cli::Args,
    tls: Option<Arc<rustls::ServerConfig>>,
    single_file: Option<Vec<u8>>,
) -> Result<ExitCode> {
    let listen::Listener { socket: listener, activated } = listen::listener(&args)?;
    if !activated {
        // (A passed socket keeps the backlog its unit set.)
        rustix::net::listen(&listener, listen::BACKLOG).context("listen")?;
    }
    let local = listener.local_addr()?;
    let host = local.ip().to_string();
    let url_host = if host.contains(':') { format!("[{host}]") } else { host.clone() };
    let files = fs::NativeFiles::new(args.directory.clone(), args.follow_symlinks)
        .with_context(|| format!("cannot serve {}", args.directory.display()))?;
    if files.confinement() == fs::Confinement::Walk {
        eprintln!(
            "httpserver: warning: this kernel refuses openat2; links out of the directory are refused by a \
             path check that a link swapped in at the same moment could race"
        );
    }
    let timeouts = Timeouts::default()
        .with_head(Some(args.header_timeout))
        .with_idle(Some(args.idle_timeout))
        .with_io(Some(args.io_timeout));
    // JSON lines log each request when its response is over, with the body
    // bytes sent and the duration: the engine reports the end of each one.
    log::set_format(args.log_format);
    log::set_quiet(args.quiet);
    if !args.hide_dotfiles && single_file.is_none() {
        warn_about_dotfiles(&args.directory);
    }
    let completions = args.log_format == log::Format::Json;
    let config = Arc::new(
        Config::default()
            .with_protocol(args.protocol)
            .with_timeouts(timeouts)
            .with_log_completions(completions),
    );
    let cgi = args.cgi.then(|| {
        Arc::new(CgiConfig {
            directories: DEFAULT_CGI_DIRECTORIES.iter().map(|d| d.to_string()).collect(),
            max_body: args.cgi_max_body,
            time_limit: args.cgi_timeout,
            server: CgiServerInfo::new(
                config.version_string(),
                &server_fqdn(local.ip()),
                local.port(),
                config.protocol().as_str(),
                &args.directory.to_string_lossy(),
            )
            .with_https(tls.is_some()),
            run_as: CgiConfig::nobody_if_root(),
            base_env: std::env::vars_os().collect(),
        })
    });
    let fd_budget = raise_fd_limit();
    // By default, leave room under the open-file limit for files, listings
    // and the listener; an explicit value is taken as given (accept then
    // backs off if descriptors run out).
    let max_connections =
        args.max_connections.unwrap_or_else(|| 10_000.min(fd_budget.saturating_sub(64).max(16)));
    let app = Arc::new(App {
        config,
        files,
        mime: app::system_mime_types(),
        cgi,
        max_connections,
        precompressed: args.precompressed,
        compress: args.compress,
        tls,
        serving: serving(&args, single_file),
        auth: auth::Users::from_args(&args.auth, args.auth_file.as_deref())?.map(Arc::new),
    });
    if app.auth.is_some() && app.tls.is_none() {
        eprintln!("httpserver: warning: --auth without --tls-cert sends passwords in clear text");
    }

    // SIGINT and SIGTERM are taken by this thread alone, as events: block
    // them before any other thread starts (threads inherit the mask).
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block().context("blocking signals")?;
    let signal_fd = SignalFd::with_flags(&signals, SfdFlags::SFD_CLOEXEC).context("signalfd")?;

    // As CPython 3.14 says it for HTTPS; then the addresses to open. One
    // write, and a stdout no one reads (`httpserver | head -1`, a closed
    // pipe) does not stop the server.
    let (protocol, scheme) = if app.tls.is_some() { ("HTTPS", "https") } else { ("HTTP", "http") };
    let port = local.port();
    let mut start = format!("Serving {protocol} on {host} port {port} ({scheme}://{url_host}:{port}/) ...\n");
    for (label, ip) in reachable_addresses(local.ip()) {
        let host = if ip.is_ipv6() { format!("[{ip}]") } else { ip.to_string() };
        start.push_str(&format!("  {label:<8} {scheme}://{host}:{port}/\n"));
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(start.as_bytes()).and_then(|()| out.flush());
    drop(out);

    let stop = Stop::new().context("eventfd")?;
    let pump_stop = Arc::clone(&stop);
    let pump = std::thread::Builder::new().name("serve".into()).spawn(move || {
        let result = if app.cgi.is_some() {
            // CGI handlers block on their scripts: a thread per connection.
            net::threaded::run(listener, app, pump_stop)
        } else {
            net::epoll::run(listener, app, pump_stop)
        };
        if let Err(e) = result {
            cgi::kill_running_scripts();
            log::flush();
            eprintln!("httpserver: error: {e:#}");
            std::process::exit(1);
        }
    })?;

    let signal = next_signal(&signal_fd, None)?.unwrap_or(Signal::SIGTERM);
    // Stop: no new connections; responses under way finish, within the
    // grace period; a second signal ends the wait at once.
    stop.request(STOP_GRACE);
    let deadline = Instant::now() + STOP_GRACE;
    while !pump.is_finished() && Instant::now() < deadline {
        if next_signal(&signal_fd, Some(Duration::from_millis(20)))?.is_some() {
            break;
        }
    }
    // Scripts still running (past the grace period, or left to finish
    // after their replies) do not outlive the server.
    cgi::kill_running_scripts();
    log::flush();
    if signal == Signal::SIGINT {
        // As CPython on Ctrl-C.
        println!("\nKeyboard interrupt received, exiting.");
    }
    Ok(ExitCode::SUCCESS)
}

/// What the static handler does beyond CPython's, from the options.
fn serving(args: &cli::Args, single_file: Option<Vec<u8>>) -> app::Serving {
    let mut extra_headers = Vec::new();
    if args.cors {
        extra_headers.push(("Access-Control-Allow-Origin".to_string(), "*".to_string()));
    }
    extra_headers.extend(args.headers.iter().cloned());
    app::Serving {
        extra_headers: extra_headers.into(),
        cors: args.cors,
        charset_utf8: args.charset_utf8,
        hide_dotfiles: args.hide_dotfiles,
        rich_listing: args.rich_listing,
        spa: args.spa.clone(),
        single_file,
        upload: args.upload.then_some(args.upload_overwrite),
        upload_max: args.upload_max,
    }
}

/// Names that are usually secrets, served (as by CPython) unless
/// `--hide-dotfiles`: say so at start-up.
fn warn_about_dotfiles(root: &Path) {
    for name in [".git", ".env", ".ssh"] {
        if root.join(name).symlink_metadata().is_ok() {
            eprintln!("httpserver: warning: serving {name} (a dotfile); --hide-dotfiles hides it");
        }
    }
}

/// The addresses a person can open, for the start-up lines: loopback
/// ones, and the machine's others when bound to every interface.
fn reachable_addresses(bound: IpAddr) -> Vec<(&'static str, IpAddr)> {
    use std::net::{Ipv4Addr, Ipv6Addr};
    if bound.is_loopback() {
        return vec![("Local:", bound)];
    }
    if !bound.is_unspecified() {
        return Vec::new();
    }
    let v6 = bound.is_ipv6();
    let mut local = vec![("Local:", IpAddr::V4(Ipv4Addr::LOCALHOST))];
    if v6 {
        local.push(("Local:", IpAddr::V6(Ipv6Addr::LOCALHOST)));
    }
    let mut network: Vec<IpAddr> = Vec::new();
    if let Ok(interfaces) = nix::ifaddrs::getifaddrs() {
        for interface in interfaces {
            let address = match interface.address {
                Some(address) => address,
                None => continue,
            };
            let ip = if let Some(v4) = address.as_sockaddr_in() {
                IpAddr::V4(v4.ip())
            } else if let Some(v6_addr) = address.as_sockaddr_in6().filter(|_| v6) {
                IpAddr::V6(v6_addr.ip())
            } else {
                continue;
            };
            // Link-local addresses: IPv6 ones need a zone a browser cannot
            // be given, IPv4 ones are what an interface without DHCP got.
            let link_local = match ip {
                IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
                IpAddr::V4(a) => a.is_link_local(),
            };
            if !ip.is_loopback() && !ip.is_unspecified() && !link_local && !network.contains(&ip) {
                network.push(ip);
            }
        }
    }
    network.sort_by_key(|ip| ip.is_ipv6());
    local.extend(network.into_iter().map(|ip| ("Network:", ip)));
    local
}

/// The next SIGINT or SIGTERM, waiting at most `limit` (`None`: forever).
fn next_signal(fd: &SignalFd, limit: Option<Duration>) -> Result<Option<Signal>> {
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    if wait::poll_until(&mut fds, limit.map(|l| Instant::now() + l))? == 0 {
        return Ok(None);
    }
    Ok(match fd.read_signal()? {
        Some(info) => Signal::try_from(info.ssi_signo as i32).ok(),
        None => None,
    })
}

/// Raise the soft limit on open files to the hard limit (as nginx's
/// `worker_rlimit_nofile`), so thousands of connections fit; returns it.
fn raise_fd_limit() -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let (current, max) = (limit.current.unwrap_or(u64::MAX), limit.maximum.unwrap_or(u64::MAX));
    if current < max {
        let want = Rlimit { current: Some(max.min(1 << 20)), maximum: limit.maximum };
        if setrlimit(Resource::Nofile, want).is_ok() {
            return max.min(1 << 20) as usize;
        }
    }
    current.min(usize::MAX as u64) as usize
}

/// CPython's `SERVER_NAME`: `socket.getfqdn` of the bound address.
fn server_fqdn(ip: IpAddr) -> String {
    let host = if ip.is_unspecified() {
        rustix::system::uname().nodename().to_string_lossy().into_owned()
    } else {
        ip.to_string()
    };
    let reverse = (host.as_str(), 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .and_then(|addr| dns_lookup::lookup_addr(&addr.ip()).ok());
    reverse.unwrap_or(host)
}
