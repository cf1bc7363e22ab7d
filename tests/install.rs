//! The install paths a user already knows, each run the way a user runs
//! it, from this checkout:
//!
//! - the Python wheel (maturin, `bindings = "bin"`, `python/`) installed
//!   with `pip install --no-index` into a fresh venv: `httpserver` is in the
//!   venv's `bin/`, and `python -m httpserver` runs the same binary (it
//!   replaces the Python process: same pid, signals and exit status);
//! - `cargo install --path native`, into a temporary root.
//!
//! Both build with the dev profile in the workspace's own target directory
//! (CARGO_TARGET_DIR), where `cargo test` has just built every dependency
//! with that profile: at most the two crates of this workspace are
//! compiled again (under `cargo test --workspace`, httpserver-core has its
//! `blocking` feature, which an install leaves off), a few seconds, where
//! the release profile (thin LTO, one codegen unit) would compile every
//! dependency again. What is tested is the packaging, which the profile
//! does not change. (Such a build links `<target>/debug/httpserver` anew,
//! from the same sources: suites run after this one run that binary.)
//! maturin and venv come from `tools/test-deps.sh` (`make test` runs it
//! first); missing, they fail the test, never skip it. Every process runs
//! under `timeout` or is killed by pid and reaped however the test ends.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::*;

const DEPS_HINT: &str = "run tools/test-deps.sh (make test runs it first)";

/// Longest a build (the wheel, `cargo install`) may take before `timeout`
/// stops it: far over the few seconds it takes after `cargo test` built
/// the dependencies, enough for a cold build on two cores.
const BUILD_SECONDS: u32 = 900;

/// Longest anything else (venv, pip, the installed binary) may run.
const STEP_SECONDS: u32 = 120;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The target directory `cargo test` built into: the binary under test is
/// `<target>/<profile>/httpserver`.
fn target_dir() -> PathBuf {
    our_binary().parent().and_then(Path::parent).expect("binary under <target>/<profile>/").to_path_buf()
}

/// The cargo running this test (the same toolchain), else `cargo`.
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// Run `program args...` in `cwd` under `timeout` (TERM after `secs`, KILL
/// 10 s later), so that it and what it started end even if this test does
/// not; it must exit 0.
fn bounded(secs: u32, program: &str, args: &[&str], cwd: &Path, env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "10", &secs.to_string(), program]).args(args).current_dir(cwd).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("running timeout {program}: {e}"));
    match out.status.code() {
        Some(0) => out,
        Some(124) | Some(137) => panic!("{program} {args:?} still running after {secs} s"),
        Some(126) | Some(127) => panic!("{program} could not be run: {DEPS_HINT}"),
        _ => panic!(
            "{program} {args:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What `--version` prints: argparse's version action, as CPython's.
fn version_line() -> String {
    format!("httpserver {}\n", env!("CARGO_PKG_VERSION"))
}

/// maturin as a command, or as the module of the wheel `pip` installs.
fn maturin() -> Vec<&'static str> {
    let runs = Command::new("timeout")
        .args(["-k", "5", "60", "maturin", "--version"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if runs {
        vec!["maturin"]
    } else {
        vec!["python3", "-m", "maturin"]
    }
}

/// `maturin build` of `python/` into `out`; the wheel's path.
fn build_wheel(out: &Path) -> PathBuf {
    let maturin = maturin();
    let mut args = maturin[1..].to_vec();
    args.extend(["build", "--profile", "dev", "--locked", "--out", path_str(out)]);
    bounded(
        BUILD_SECONDS,
        maturin[0],
        &args,
        &repo_root().join("python"),
        &[("CARGO_TARGET_DIR", &target_dir())],
    );
    let wheels: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    assert_eq!(wheels.len(), 1, "{wheels:?}");
    let name = wheels[0].file_name().unwrap().to_str().unwrap();
    // A binary wheel for any Python 3: no extension module, no ABI tag.
    assert!(name.starts_with(&format!("httpserver_rs-{}-py3-none-", env!("CARGO_PKG_VERSION"))), "{name}");
    wheels[0].clone()
}

/// A process the test started, killed by pid and reaped however the test
/// ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

#[test]
fn wheel_in_a_fresh_venv_puts_httpserver_on_path_and_python_m_runs_it() {
    let tmp = TempDir::new("install-wheel");
    let wheel = build_wheel(&tmp.path().join("wheels"));

    let venv = tmp.path().join("venv");
    bounded(STEP_SECONDS, "python3", &["-m", "venv", path_str(&venv)], tmp.path(), &[]);
    let python = venv.join("bin/python");
    bounded(
        STEP_SECONDS,
        path_str(&python),
        &["-m", "pip", "install", "--no-index", "--disable-pip-version-check", "--quiet", path_str(&wheel)],
        tmp.path(),
        &[],
    );

    // The console command, where the venv's (or pipx's) bin/ puts it.
    let command = venv.join("bin/httpserver");
    let out = bounded(STEP_SECONDS, path_str(&command), &["--version"], tmp.path(), &[]);
    assert_eq!(stdout(&out), version_line());

    // python -m httpserver, with the venv's bin/ not on PATH: the package
    // finds the binary in its interpreter's scripts directory.
    let out = bounded(STEP_SECONDS, path_str(&python), &["-m", "httpserver", "--help"], tmp.path(), &[]);
    let usage = stdout(&out);
    assert!(usage.starts_with("usage: httpserver "), "{usage}");
    for opt in ["--bind ADDRESS", "--directory DIRECTORY", "port"] {
        assert!(usage.contains(opt), "{usage}");
    }

    // A real request. Port 0: the server announces the port the kernel
    // chose on its first line, so no other process can take it in between.
    let site = tmp.path().join("site");
    std::fs::create_dir(&site).unwrap();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(site.join("data.bin"), &data).unwrap();
    let child = Command::new(&python)
        .args(["-m", "httpserver", "--bind", "127.0.0.1", "-d", path_str(&site), "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = KillOnDrop(child);
    let pid = server.0.id();
    let mut first = String::new();
    BufReader::new(server.0.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let port: u16 = first
        .split(" port ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port announced: {first:?}"));
    assert_eq!(first, format!("Serving HTTP on 127.0.0.1 port {port} (http://127.0.0.1:{port}/) ...\n"));
    // Python exec'd the binary: the pid we started is the server itself.
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert_eq!(exe, command.canonicalize().unwrap());

    let raw = get(([127, 0, 0, 1], port).into(), "GET /data.bin HTTP/1.0\r\n\r\n");
    let resp = parse_response(&raw);
    assert_eq!(resp.status(), 200, "{}", show(&raw));
    assert_eq!(resp.header("Content-Length"), Some("100000"));
    assert!(resp.body == data, "body differs from the file");

    // SIGTERM by pid reaches the server, which stops gracefully with 0.
    let ok = Command::new("kill").args(["-15", &pid.to_string()]).status().unwrap();
    assert!(ok.success());
    let limit = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < limit, "still running 30 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(0));
    let mut log = String::new();
    server.0.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(log.contains("\"GET /data.bin HTTP/1.0\" 200 -"), "{log}");
}

#[test]
fn cargo_install_path_native_gives_a_working_httpserver() {
    let root = TempDir::new("install-cargo");
    let native = repo_root().join("native");
    // The README's command, plus: into a temporary root, with the dev
    // profile, from the crates this checkout already has.
    let readme = ["install", "--locked", "--path", path_str(&native)];
    let args = [&readme[..], &["--root", path_str(root.path()), "--debug", "--offline"]].concat();
    bounded(BUILD_SECONDS, &cargo(), &args, &repo_root(), &[("CARGO_TARGET_DIR", &target_dir())]);
    let installed = root.path().join("bin/httpserver");
    let out = bounded(STEP_SECONDS, path_str(&installed), &["--version"], root.path(), &[]);
    assert_eq!(stdout(&out), version_line());
    let out = bounded(STEP_SECONDS, path_str(&installed), &["-h"], root.path(), &[]);
    assert!(stdout(&out).starts_with("usage: httpserver "));
}
