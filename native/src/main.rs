//! `httpserver`: a drop-in for `python -m http.server`.

mod args;
mod cgi;
mod event_loop;
mod fs;
mod handler;
mod localtime;
mod logger;
mod server;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use httpserver_core::Config;

use crate::args::{parse_args, ArgsOutcome, HELP, USAGE};

fn main() -> ExitCode {
    let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let args = match parse_args(std::env::args().skip(1), cwd) {
        ArgsOutcome::Run(a) => a,
        ArgsOutcome::Help => {
            println!("{USAGE}\n{HELP}");
            return ExitCode::SUCCESS;
        }
        ArgsOutcome::Error(msg) => return usage_error(&msg),
    };
    if !args.directory.is_dir() {
        return usage_error(&format!(
            "argument -d/--directory: not a directory: '{}'",
            args.directory.display()
        ));
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
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

fn run(args: args::Args) -> Result<()> {
    let listener = match &args.bind {
        Some(host) => {
            let addr = (host.as_str(), args.port)
                .to_socket_addrs()
                .with_context(|| format!("cannot resolve bind address {host:?}"))?
                .next()
                .with_context(|| format!("no address for {host:?}"))?;
            server::bind(addr).with_context(|| format!("cannot bind to {addr}"))?
        }
        // All interfaces, dual-stack as CPython: `::` (IPv4 clients arrive
        // as ::ffff:a.b.c.d), falling back to 0.0.0.0 without IPv6.
        None => {
            let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), args.port);
            match server::bind(v6) {
                Ok(l) => l,
                Err(_) => {
                    let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), args.port);
                    server::bind(v4).with_context(|| format!("cannot bind to port {}", args.port))?
                }
            }
        }
    };
    let local = listener.local_addr()?;
    let host = local.ip().to_string();
    let url_host = if host.contains(':') { format!("[{host}]") } else { host.clone() };
    let files = fs::NativeFiles::new(args.directory.clone(), args.follow_symlinks)
        .with_context(|| format!("cannot serve {}", args.directory.display()))?;
    let config = Config { protocol: args.protocol, ..Config::default() };
    let cgi = args.cgi.then(|| {
        Arc::new(cgi::CgiConfig {
            directories: httpserver_core::DEFAULT_CGI_DIRECTORIES.iter().map(|d| d.to_string()).collect(),
            max_body: args.cgi_max_body,
            time_limit: args.cgi_timeout,
            server_name: cgi::server_fqdn(local.ip()),
            server_port: local.port(),
            software: config.server_version.clone(),
            protocol: config.protocol.as_str().to_string(),
            root_display: args.directory.to_string_lossy().into_owned(),
        })
    });
    let fd_budget = raise_fd_limit();
    let limits = server::Limits {
        header_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
        io_timeout: args.io_timeout,
        // By default, leave room under the open-file limit for files,
        // listings and the listener; an explicit value is taken as given
        // (accept then backs off if descriptors run out).
        max_connections: args
            .max_connections
            .unwrap_or_else(|| 10_000.min(fd_budget.saturating_sub(64).max(16))),
    };
    let srv = server::Server { config, files, mime: server::system_mime_types(), cgi, limits };
    block_interrupts();
    let mut out = std::io::stdout().lock();
    writeln!(out, "Serving HTTP on {host} port {} (http://{url_host}:{}/) ...", local.port(), local.port())?;
    out.flush()?;
    drop(out);
    std::thread::Builder::new().name("serve".into()).spawn(move || {
        let result = if srv.cgi.is_some() {
            // CGI handlers block on their scripts: a thread per connection.
            server::run(listener, srv)
        } else {
            event_loop::run(listener, srv)
        };
        if let Err(e) = result {
            eprintln!("httpserver: error: {e:#}");
            std::process::exit(1);
        }
    })?;
    wait_for_interrupt();
    // Workers write their batched log lines at most 50 ms after the first.
    std::thread::sleep(logger::FLUSH_EVERY + Duration::from_millis(20));
    println!("\nKeyboard interrupt received, exiting.");
    Ok(())
}

/// Block SIGINT in every thread (they inherit the mask), so that only
/// `wait_for_interrupt` sees it. Child processes get a clean mask (std
/// resets it when spawning).
fn block_interrupts() {
    // SAFETY: sigset manipulation on a local set; pthread_sigmask on this thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Ctrl-C: CPython prints `Keyboard interrupt received, exiting.` and
/// exits 0.
fn wait_for_interrupt() {
    // SAFETY: sigwait on a set holding the signal blocked above.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        let mut sig: libc::c_int = 0;
        while libc::sigwait(&set, &mut sig) != 0 || sig != libc::SIGINT {}
    }
}

/// Raise the soft limit on open files to the hard limit (as nginx's
/// `worker_rlimit_nofile`), so thousands of connections fit; returns it.
fn raise_fd_limit() -> usize {
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit { rlim_cur: lim.rlim_max.min(1 << 20), rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                lim.rlim_cur = want.rlim_cur;
            }
        }
        lim.rlim_cur as usize
    }
}
