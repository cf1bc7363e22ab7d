//! Headless Chromium, driven by playwright-core (tests/browser/video.js),
//! plays a WebM video served by our binary and seeks to its middle. The
//! video is several MiB with its cues (the seek index) at the end: Chromium
//! asks for the end of the file by range before it can seek, and for the
//! middle when it has not buffered that far yet.
//!
//! Needs node, Debian's chromium, ffmpeg and tests/browser/node_modules:
//! `tools/test-deps.sh` installs them (`make test` runs it first). Missing,
//! they fail the test, never skip it.

mod support;
use support::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const DEPS_HINT: &str = "run tools/test-deps.sh (make test runs it first)";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Run `program args...` under `timeout` (TERM after `secs`, KILL 10 s
/// later), so that it and what it started end even if this test does not.
fn bounded(secs: u32, program: &str, args: &[&str], cwd: &Path) -> Output {
    Command::new("timeout")
        .args(["-k", "10", &secs.to_string(), program])
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running timeout {program}: {e}; {DEPS_HINT}"))
}

/// Fail (not skip) when something the test drives is missing.
fn check_dependencies() {
    let root = repo_root();
    let runs = |program: &str, arg: &str| {
        Command::new(program)
            .arg(arg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(runs("node", "--version"), "node is missing: {DEPS_HINT}");
    assert!(runs("ffmpeg", "-version"), "ffmpeg is missing: {DEPS_HINT}");
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: {DEPS_HINT}");
    assert!(
        root.join("tests/browser/node_modules/playwright-core/package.json").exists(),
        "tests/browser/node_modules/playwright-core is missing: {DEPS_HINT}"
    );
}

/// A 30 s, 320x240, 15 fps VP8 WebM of the test pattern with noise (so
/// that it does not compress to nothing: ~7 MiB at 2 Mbit/s), a keyframe
/// every second, and the page that shows it.
fn video_site(dir: &Path) {
    let out = bounded(
        120,
        "ffmpeg",
        &[
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=30:size=320x240:rate=15,noise=alls=30:allf=t+u",
            "-c:v",
            "libvpx",
            "-b:v",
            "2M",
            "-g",
            "15",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "video.webm",
        ],
        dir,
    );
    assert!(out.status.success(), "ffmpeg failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    let size = std::fs::metadata(dir.join("video.webm")).unwrap().len();
    assert!(size >= 4 << 20, "the test video is only {size} bytes: too small to need range requests");
    std::fs::write(
        dir.join("index.html"),
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>video</title>\
         <link rel=\"icon\" href=\"data:,\"></head>\n<body style=\"margin:0\">\
         <video src=\"video.webm\" preload=\"auto\" muted width=\"320\" height=\"240\"></video>\
         </body></html>\n",
    )
    .unwrap();
}

/// The raw value of `key` in the flat JSON object `line`: a number,
/// `null`, or a string (unescaped enough for messages).
fn json_field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &line[start..];
    if let Some(s) = rest.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(out),
                '\\' => out.push(chars.next()?),
                c => out.push(c),
            }
        }
        None
    } else {
        let end = rest.find([',', '}', ']']).unwrap_or(rest.len());
        Some(rest[..end].trim().to_string())
    }
}

fn json_number(line: &str, key: &str) -> f64 {
    json_field(line, key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number {key:?} in video.js output {line:?}"))
}

/// Serve `site` with our binary and `flags`, have Chromium play the video
/// and seek to the middle, and check what it reports and what the server
/// saw.
fn seek_to_the_middle(site: &Path, flags: &[&str], screenshot_name: &str) {
    let mode = if flags.is_empty() { "default (HTTP/1.0)".to_string() } else { flags.join(" ") };
    let server = ServerProcess::ours(site, flags);
    let artifacts = repo_root().join("target/browser-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot = artifacts.join(screenshot_name);
    let _ = std::fs::remove_file(&screenshot);

    let base = format!("http://{}/", server.addr);
    let script = repo_root().join("tests/browser/video.js");
    let started = Instant::now();
    let out = bounded(
        90,
        "node",
        &[script.to_str().unwrap(), &base, "/index.html", screenshot.to_str().unwrap()],
        &repo_root().join("tests/browser"),
    );
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut log = server.take_log_until("\"GET /video.webm HTTP/1.1\" 206", Duration::from_secs(5));
    log.extend(server.take_log());
    // Shown with --nocapture or when an assertion below fails.
    eprintln!("--- {mode}: video.js took {took:?}, exit {}", out.status);
    eprintln!("--- video.js stdout:\n{stdout}--- video.js stderr:\n{stderr}--- server log:");
    for line in &log {
        eprintln!("{line}");
    }

    assert!(out.status.success(), "{mode}: video.js failed ({}): {stderr}", out.status);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("{mode}: no JSON line from video.js: {stdout:?}"));
    let duration = json_number(line, "duration");
    let seeked = json_number(line, "seekedTime");
    let current = json_number(line, "currentTime");
    assert!((29.0..=31.0).contains(&duration), "{mode}: duration {duration}, not the 30 s encoded: {line}");
    for (what, t) in [("at `seeked`", seeked), ("after playing on", current)] {
        assert!(
            t > 0.0 && (t - duration / 2.0).abs() <= 2.0,
            "{mode}: currentTime {what} is {t}, not within 2 s of {}: {line}",
            duration / 2.0
        );
    }
    assert_eq!(json_field(line, "error").as_deref(), Some("null"), "{mode}: video error: {line}");
    assert!(json_number(line, "readyState") >= 2.0, "{mode}: no current frame after the seek: {line}");
    assert!(screenshot.exists(), "{mode}: no screenshot at {}", screenshot.display());

    // The cues are at the end of the file: Chromium asks for a range that
    // does not start at 0 to find where the middle is.
    let ranges = line.split("\"ranges\":[").nth(1).and_then(|r| r.split(']').next()).unwrap_or("");
    assert!(
        ranges.split(',').any(|r| r.starts_with("\"bytes=") && !r.starts_with("\"bytes=0-")),
        "{mode}: Chromium asked for no range past the start of the video: {line}"
    );
    let ranged = log.iter().filter(|l| l.contains("\"GET /video.webm HTTP/1.1\" 206")).count();
    assert!(ranged >= 1, "{mode}: no 206 reply to a GET of the video in the server log: {log:#?}");
    let failed: Vec<&String> = log
        .iter()
        .filter(|l| {
            let status = l.split("\" ").nth(1).and_then(|s| s.split(' ').next());
            l.contains("/video.webm") && status.and_then(|s| s.parse::<u16>().ok()).is_none_or(|s| s >= 400)
        })
        .collect();
    assert!(failed.is_empty(), "{mode}: video requests that failed: {failed:#?}");
}

/// One video (encoding it is the slow part), served in turn with
/// persistent connections and in the default HTTP/1.0 mode.
#[test]
fn chromium_seeks_to_the_middle_of_a_video() {
    check_dependencies();
    let site = TempDir::new("browser");
    video_site(site.path());
    seek_to_the_middle(site.path(), &["-p", "HTTP/1.1"], "video-seek.png");
    seek_to_the_middle(site.path(), &[], "video-seek-http10.png");
}
