//! Headless Chromium, driven by playwright-core (tests/browser/video.js),
//! plays a WebM video served by our binary and seeks to its middle. The
//! video is several MiB with its cues (the seek index) at the end: Chromium
//! asks for the end of the file by range before it can seek, and for the
//! middle when it has not buffered that far yet.
//!
//! Then (tests/browser/listing.js) the directory listings as a user meets
//! them: the rich listing's links and sorting, the upload form, light and
//! dark colour schemes, and UTF-8 text as Chromium decodes it.
//!
//! Needs node, Debian's chromium, ffmpeg and tests/browser/node_modules:
//! `tools/test-deps.sh` installs them (`make test` runs it first). Missing,
//! they fail the test, never skip it. Screenshots are kept under
//! target/browser-artifacts/, named after the test.

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

/// Whether `program arg` runs and succeeds.
fn runs(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Fail (not skip) when something the video test drives is missing.
fn check_dependencies() {
    assert!(runs("node", "--version"), "node is missing: {DEPS_HINT}");
    assert!(runs("ffmpeg", "-version"), "ffmpeg is missing: {DEPS_HINT}");
    check_chromium_and_playwright();
}

/// Fail (not skip) when something the listing tests drive is missing.
fn check_browser_dependencies() {
    assert!(runs("node", "--version"), "node is missing: {DEPS_HINT}");
    check_chromium_and_playwright();
}

fn check_chromium_and_playwright() {
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: {DEPS_HINT}");
    assert!(
        repo_root().join("tests/browser/node_modules/playwright-core/package.json").exists(),
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

// ---- Listings, uploads and text in Chromium (tests/browser/listing.js) ----

/// `s` as a JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `items` as a JSON array of strings.
fn json_strs<S: AsRef<str>>(items: &[S]) -> String {
    let items: Vec<String> = items.iter().map(|s| json_str(s.as_ref())).collect();
    format!("[{}]", items.join(","))
}

fn write_file(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

/// Run `listing.js scenario` with `config` (a JSON object without its
/// braces; `shots`, the screenshot prefix named after `test`, is added)
/// and check that it passed and that every screenshot it announced is a
/// PNG; `servers` are the servers it talked to, whose logs are shown when
/// it fails. Returns the screenshots' paths and each server's log.
fn run_listing_js(
    test: &str,
    scenario: &str,
    config: &str,
    servers: &[&ServerProcess],
) -> (Vec<PathBuf>, Vec<Vec<String>>) {
    check_browser_dependencies();
    let artifacts = repo_root().join("target/browser-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    for entry in std::fs::read_dir(&artifacts).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with(&format!("{test}-")) && name.ends_with(".png") {
            let _ = std::fs::remove_file(path);
        }
    }
    let prefix = artifacts.join(test);
    let config = format!("{{\"shots\":{},{config}}}", json_str(prefix.to_str().unwrap()));
    let script = repo_root().join("tests/browser/listing.js");
    let started = Instant::now();
    let out = bounded(
        60,
        "node",
        &[script.to_str().unwrap(), scenario, &config],
        &repo_root().join("tests/browser"),
    );
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Shown with --nocapture or when an assertion below fails.
    eprintln!("--- {test}: listing.js {scenario} took {took:?}, exit {}", out.status);
    eprintln!("--- listing.js stdout:\n{stdout}--- listing.js stderr:\n{stderr}");
    let logs: Vec<Vec<String>> = servers.iter().map(|s| s.take_log()).collect();
    for (server, log) in servers.iter().zip(&logs) {
        eprintln!("--- server log ({}):", server.addr);
        for line in log {
            eprintln!("{line}");
        }
    }
    let failure = stderr.lines().find(|l| l.contains("FAIL")).unwrap_or("");
    assert!(out.status.success(), "{test}: listing.js {scenario} failed ({}): {failure}", out.status);
    assert_eq!(
        stdout.lines().last(),
        Some(format!("ok {scenario}").as_str()),
        "{test}: listing.js did not finish"
    );
    let shots: Vec<PathBuf> =
        stdout.lines().filter_map(|l| l.strip_prefix("screenshot ")).map(PathBuf::from).collect();
    for shot in &shots {
        assert!(
            shot.starts_with(prefix.parent().unwrap()),
            "{test}: screenshot outside the artefacts: {shot:?}"
        );
        let bytes = std::fs::read(shot).unwrap_or_else(|e| panic!("{test}: screenshot {shot:?}: {e}"));
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{test}: {shot:?} is not a PNG");
    }
    (shots, logs)
}

/// The rich listing's links: into a subdirectory, a file there, history
/// back, the `../` row back to `/`, and a file with a UTF-8 name.
#[test]
fn chromium_navigates_the_rich_listing() {
    let site = TempDir::new("browser-nav");
    let root = site.path();
    write_file(&root.join("a.txt"), b"hello\n");
    write_file(&root.join("big.bin"), &[7u8; 3000]);
    write_file(&root.join("tiny"), b"x");
    write_file(&root.join("sub/inner.txt"), b"in the subdirectory\n");
    write_file(&root.join("caf\u{e9}.txt"), "caf\u{e9} \u{2713}\n".as_bytes());
    let server = ServerProcess::ours(root, &["--rich-listing"]);
    let config = format!(
        "\"base\":{},\"sub\":\"sub\",\"subFile\":\"inner.txt\",\"subFileText\":{},\
         \"utf8Name\":{},\"utf8Href\":\"caf%C3%A9.txt\",\"utf8Text\":{}",
        json_str(&format!("http://{}/", server.addr)),
        json_str("in the subdirectory\n"),
        json_str("caf\u{e9}.txt"),
        json_str("caf\u{e9} \u{2713}\n"),
    );
    let (shots, _) = run_listing_js("chromium_navigates_the_rich_listing", "navigate", &config, &[&server]);
    assert_eq!(shots.len(), 5, "{shots:?}");
}

/// The rich listing's Size header: ascending, then descending on a second
/// click, directories first both times.
#[test]
fn chromium_sorts_the_rich_listing_by_size() {
    let site = TempDir::new("browser-sort");
    let root = site.path();
    // Name order is not size order, and no two sizes are equal.
    let files: &[(&str, usize)] = &[
        ("a-large.bin", 5000),
        ("b-tiny.txt", 1),
        ("c-medium.txt", 700),
        ("d-empty", 0),
        ("e-big.dat", 20000),
    ];
    for (name, size) in files {
        write_file(&root.join(name), &vec![b'.'; *size]);
    }
    write_file(&root.join("alpha/inside.txt"), &[b'.'; 9000]);
    std::fs::create_dir(root.join("zeta")).unwrap();
    let mut ascending = files.to_vec();
    ascending.sort_by_key(|f| f.1);
    let ascending: Vec<&str> = ascending.iter().map(|f| f.0).collect();
    let server = ServerProcess::ours(root, &["--rich-listing"]);
    let config = format!(
        "\"base\":{},\"ascending\":{},\"dirs\":{}",
        json_str(&format!("http://{}/", server.addr)),
        json_strs(&ascending),
        json_strs(&["alpha/", "zeta/"]),
    );
    let (shots, _) = run_listing_js("chromium_sorts_the_rich_listing_by_size", "sort", &config, &[&server]);
    assert_eq!(shots.len(), 2, "{shots:?}");
}

/// The listing's upload form, in the default and the rich listing: two
/// files chosen and submitted land back on the listing (303), listed, and
/// on disk byte for byte.
#[test]
fn chromium_uploads_through_the_listing_form() {
    let sources = TempDir::new("browser-upload-src");
    // UTF-8 in the name, CRLF and a boundary-like line in the text, every
    // byte value in the binary.
    let text_name = "r\u{e9}sum\u{e9} notes.txt";
    let text = "first line\r\n--boundary-like\r\nna\u{ef}ve \u{2713}\r\n".as_bytes().to_vec();
    let blob: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    write_file(&sources.path().join(text_name), &text);
    write_file(&sources.path().join("blob.bin"), &blob);

    let plain = TempDir::new("browser-upload-plain");
    write_file(&plain.path().join("existing.txt"), b"was here\n");
    let rich = TempDir::new("browser-upload-rich");
    std::fs::create_dir(rich.path().join("incoming")).unwrap();
    let plain_server = ServerProcess::ours(plain.path(), &["--upload"]);
    let rich_server = ServerProcess::ours(rich.path(), &["--upload", "--rich-listing"]);
    let files = [sources.path().join(text_name), sources.path().join("blob.bin")];
    let files: Vec<&str> = files.iter().map(|p| p.to_str().unwrap()).collect();
    let config = format!(
        "\"files\":{},\"names\":{},\"targets\":[\
         {{\"name\":\"default\",\"url\":{},\"path\":\"/\"}},\
         {{\"name\":\"rich\",\"url\":{},\"path\":\"/incoming/\"}}]",
        json_strs(&files),
        json_strs(&[text_name, "blob.bin"]),
        json_str(&format!("http://{}/", plain_server.addr)),
        json_str(&format!("http://{}/incoming/", rich_server.addr)),
    );
    let (shots, logs) = run_listing_js(
        "chromium_uploads_through_the_listing_form",
        "upload",
        &config,
        &[&plain_server, &rich_server],
    );
    assert_eq!(shots.len(), 4, "{shots:?}");
    // The form's POST, answered 303, then the GET it led to.
    for (log, path) in logs.iter().zip(["/", "/incoming/"]) {
        let post = format!("\"POST {path} HTTP/1.1\" 303 ");
        let at = log.iter().position(|l| l.contains(&post));
        let at = at.unwrap_or_else(|| panic!("no {post:?} in the server log: {log:#?}"));
        let get = format!("\"GET {path} HTTP/1.1\" 200 ");
        assert!(log[at..].iter().any(|l| l.contains(&get)), "no {get:?} after the POST: {log:#?}");
    }

    for (dir, others) in
        [(plain.path().to_path_buf(), &["existing.txt"][..]), (rich.path().join("incoming"), &[][..])]
    {
        let mut listed: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        listed.sort();
        let mut expected: Vec<String> =
            [text_name, "blob.bin"].iter().chain(others).map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(
            listed,
            expected,
            "{}: the files there after the upload (no temporary file left)",
            dir.display()
        );
        assert!(
            std::fs::read(dir.join(text_name)).unwrap() == text,
            "{}: {text_name} differs",
            dir.display()
        );
        assert!(std::fs::read(dir.join("blob.bin")).unwrap() == blob, "{}: blob.bin differs", dir.display());
    }
    assert_eq!(std::fs::read(plain.path().join("existing.txt")).unwrap(), b"was here\n");
}

/// The default listing, an error page and the rich listing in light and
/// dark colour schemes: readable text either way; the rich listing (which
/// declares `color-scheme: light dark`) follows the scheme, CPython's pages
/// stay black on white.
#[test]
fn chromium_shows_listings_readably_in_light_and_dark() {
    let site = TempDir::new("browser-schemes");
    let root = site.path();
    write_file(&root.join("notes.txt"), b"some notes\n");
    write_file(&root.join("photo.jpg"), &[0u8; 40_000]);
    write_file(&root.join("docs/readme.md"), b"# docs\n");
    let plain = ServerProcess::ours(root, &[]);
    let rich = ServerProcess::ours(root, &["--rich-listing"]);
    let config = format!(
        "\"pages\":[\
         {{\"name\":\"listing\",\"url\":{},\"status\":200,\"followsScheme\":false}},\
         {{\"name\":\"error-404\",\"url\":{},\"status\":404,\"followsScheme\":false}},\
         {{\"name\":\"rich-listing\",\"url\":{},\"status\":200,\"followsScheme\":true}}]",
        json_str(&format!("http://{}/", plain.addr)),
        json_str(&format!("http://{}/missing", plain.addr)),
        json_str(&format!("http://{}/", rich.addr)),
    );
    let (shots, _) = run_listing_js(
        "chromium_shows_listings_readably_in_light_and_dark",
        "schemes",
        &config,
        &[&plain, &rich],
    );
    assert_eq!(shots.len(), 6, "{shots:?}");
}

/// A UTF-8 text file reads right in Chromium with the default
/// `charset=utf-8`; with `--charset none`, as from CPython, Chromium
/// guesses another encoding and shows mojibake (the control that this
/// test can fail).
#[test]
fn chromium_shows_utf8_text_without_mojibake() {
    let site = TempDir::new("browser-charset");
    let text = "na\u{ef}ve caf\u{e9} \u{2014} \u{65e5}\u{672c}\u{8a9e} \u{2713}\n";
    write_file(&site.path().join("utf8.txt"), text.as_bytes());
    let ours = ServerProcess::ours(site.path(), &[]);
    let none = ServerProcess::ours(site.path(), &["--charset", "none"]);
    let cpython = ServerProcess::cpython(site.path(), &[]);
    let config = format!(
        "\"text\":{},\"servers\":[\
         {{\"name\":\"default\",\"url\":{},\"contentType\":\"text/plain; charset=utf-8\",\"same\":true}},\
         {{\"name\":\"charset-none\",\"url\":{},\"contentType\":\"text/plain\",\"same\":false}},\
         {{\"name\":\"cpython\",\"url\":{},\"contentType\":\"text/plain\",\"same\":false,\"sameAs\":\"charset-none\"}}]",
        json_str(text),
        json_str(&format!("http://{}/utf8.txt", ours.addr)),
        json_str(&format!("http://{}/utf8.txt", none.addr)),
        json_str(&format!("http://{}/utf8.txt", cpython.addr)),
    );
    let (shots, _) = run_listing_js(
        "chromium_shows_utf8_text_without_mojibake",
        "charset",
        &config,
        &[&ours, &none, &cpython],
    );
    assert_eq!(shots.len(), 3, "{shots:?}");
}
