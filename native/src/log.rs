//! The log sink. Every thread appends its lines to one buffer, so lines
//! come out in the order they were produced (the order requests finished,
//! as with CPython), whichever worker served them. The buffer reaches
//! stderr in batches: event-loop workers flush it at most `FLUSH_EVERY`
//! after its oldest line (or at once past `FLUSH_BYTES`); every other
//! thread flushes at once; a stop flushes everything. Batches are written
//! in the order they were taken, so no line ever overtakes another. A
//! failing stderr never stops serving: lines are dropped.
//!
//! Two formats (`--log-format`): CPython's lines, byte for byte, or one
//! JSON object per line. In JSON, a request is logged when its response
//! is over (the engine's `Completed` entry, asked for with
//! `Config::with_log_completions`), with the body bytes sent and the
//! duration; errors and notices are objects too:
//!
//! ```text
//! {"time":"2026-12-01T18:41:40.123Z","kind":"request","client":"127.0.0.1","request":"GET /a.txt HTTP/1.1","method":"GET","path":"/a.txt","status":200,"bytes":6,"duration_ms":0.183,"complete":true}
//! {"time":"2026-12-01T18:41:40.125Z","kind":"error","client":"127.0.0.1","status":404,"message":"File not found"}
//! {"time":"2026-12-01T18:42:40.125Z","kind":"notice","client":"127.0.0.1","message":"request head not received in time; connection closed"}
//! ```

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use httpserver_core::log::{format_log_line, push_log_line};
use httpserver_core::time::{unix_seconds, CivilTime};
use httpserver_core::LogEntry;

/// Longest a line waits in the buffer (event-loop workers).
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Write at once past this many buffered bytes.
const FLUSH_BYTES: usize = 32 * 1024;

struct Pending {
    text: String,
    oldest: Option<Instant>,
}

/// The lines not yet written, in order.
static PENDING: Mutex<Pending> = Mutex::new(Pending { text: String::new(), oldest: None });
/// Held from taking a batch until it is written, so batches keep their order.
static WRITER: Mutex<()> = Mutex::new(());

thread_local! {
    /// Whether this thread flushes from a loop (an event-loop worker).
    static BATCHING: Cell<bool> = const { Cell::new(false) };
}

/// The format of log lines (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CPython's: `127.0.0.1 - - [01/Dec/2026 18:41:40] "GET / HTTP/1.1" 200 -`.
    Cpython,
    /// One JSON object per line (see the module's documentation).
    Json,
}

/// Whether lines are JSON (set once at start-up, before any is logged).
static JSON: AtomicBool = AtomicBool::new(false);

/// Whether request lines are left out (`-q`; set once at start-up).
static QUIET: AtomicBool = AtomicBool::new(false);

/// Leave out the line of each request (`-q`): errors and notices stay.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Write lines in `format` from now on.
pub fn set_format(format: Format) {
    JSON.store(format == Format::Json, Ordering::Relaxed);
}

/// Let this thread's lines wait for [`flush_if_due`], which its loop calls.
pub fn enable_batching() {
    BATCHING.with(|b| b.set(true));
}

/// Log what the engine asked to log. CPython's format: its line (a
/// `Completed` entry, which CPython has no line for, is left out). JSON:
/// an object for a request when its `Completed` entry comes (the `Request`
/// entry logged as the response starts is left out), for an error, for a
/// notice.
pub fn entry(client: &str, entry: &LogEntry) {
    if QUIET.load(Ordering::Relaxed) && matches!(entry, LogEntry::Request { .. } | LogEntry::Completed { .. })
    {
        return;
    }
    if JSON.load(Ordering::Relaxed) {
        if let Some(text) = json_entry(SystemTime::now(), client, entry) {
            push(text);
        }
    } else if !matches!(entry, LogEntry::Completed { .. }) {
        // Straight into the buffer: no line is built on its own.
        with_local_time(|time| push_with(|text| push_log_line(text, client, time, entry)));
    }
}

/// Log one message for `client` (`-`: none): in CPython's format (control
/// characters escaped) with the local time, or as a JSON notice.
pub fn line(client: &str, message: &str) {
    let text = if JSON.load(Ordering::Relaxed) {
        json_notice(SystemTime::now(), client, message)
    } else {
        with_local_time(|time| format_log_line(client, time, message))
    };
    push(text);
}

/// Append a line (newline included) to the buffer; flush it unless this
/// thread batches and the buffer is small.
fn push(text: String) {
    push_with(|pending| pending.push_str(&text));
}

/// [`push`] for a line that `write` appends to the buffer itself.
fn push_with(write: impl FnOnce(&mut String)) {
    let full = {
        let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        write(&mut pending.text);
        pending.oldest.get_or_insert_with(Instant::now);
        pending.text.len() >= FLUSH_BYTES
    };
    if full || !BATCHING.with(Cell::get) {
        flush();
    }
}

/// Write the buffer if its oldest line has waited long enough; how long
/// until the next flush is due otherwise (for the caller's wait).
pub fn flush_if_due() -> Option<Duration> {
    let oldest = PENDING.lock().unwrap_or_else(|e| e.into_inner()).oldest?;
    let waited = oldest.elapsed();
    if waited >= FLUSH_EVERY {
        flush();
        None
    } else {
        Some(FLUSH_EVERY - waited)
    }
}

/// Write every buffered line now.
pub fn flush() {
    let _writer = WRITER.lock().unwrap_or_else(|e| e.into_inner());
    let text = {
        let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        pending.oldest = None;
        std::mem::take(&mut pending.text)
    };
    if !text.is_empty() {
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

/// `f` of the local time for log lines, which is formatted once per
/// second per thread.
fn with_local_time<R>(f: impl FnOnce(&str) -> R) -> R {
    thread_local! {
        static CACHE: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let secs = unix_seconds(SystemTime::now());
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            *c = (secs, local_civil(secs).log_format());
        }
        f(&c.1)
    })
}

/// The local time of `secs` as CPython's `time.localtime` gives it: from
/// the C library, which honours `TZ` and `/etc/localtime` as Python does
/// (no crate reads the system zone the same way).
fn local_civil(secs: i64) -> CivilTime {
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: `tm` is a plain C struct for which all-zero bytes are a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r (the thread-safe variant) writes only into `tm`,
    // which we own, and reads `t`; both outlive the call.
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return CivilTime::from_unix(secs);
    }
    CivilTime {
        year: i64::from(tm.tm_year) + 1900,
        month: (tm.tm_mon + 1) as u32,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        minute: tm.tm_min as u32,
        second: tm.tm_sec as u32,
        weekday: ((tm.tm_wday + 6) % 7) as u32,
    }
}

/// The JSON object for `entry`, newline included; `None` for an entry the
/// JSON log leaves out (the `Request` entry: the request is logged from
/// its `Completed` entry).
fn json_entry(time: SystemTime, client: &str, entry: &LogEntry) -> Option<String> {
    Some(match entry {
        LogEntry::Request { .. } => return None,
        LogEntry::Completed { request_line, status, body_bytes, duration, complete, .. } => {
            json_request(time, client, request_line, *status, *body_bytes, *duration, *complete)
        }
        LogEntry::Error { status, message } => {
            let mut out = json_head(time, "error", client);
            let _ = write!(out, ",\"status\":{status},\"message\":");
            push_json_string(&mut out, message);
            out.push_str("}\n");
            out
        }
        LogEntry::Notice(message) => json_notice(time, client, message),
        other => json_notice(time, client, &other.message()),
    })
}

/// A request's object: `request` is the request line as received,
/// `method` and `path` its first two words when it has two or three (as
/// CPython's `parse_request` splits it; else null), `bytes` the body bytes
/// sent, `duration_ms` the milliseconds from the request head to the last
/// byte written (microsecond resolution), `complete` whether the whole
/// response went out.
fn json_request(
    time: SystemTime,
    client: &str,
    request_line: &str,
    status: u16,
    body_bytes: u64,
    duration: Duration,
    complete: bool,
) -> String {
    let mut out = json_head(time, "request", client);
    out.push_str(",\"request\":");
    push_json_string(&mut out, request_line);
    let words: Vec<&str> = request_line.split(is_py_space).filter(|w| !w.is_empty()).collect();
    if (2..=3).contains(&words.len()) {
        out.push_str(",\"method\":");
        push_json_string(&mut out, words[0]);
        out.push_str(",\"path\":");
        push_json_string(&mut out, words[1]);
    } else {
        out.push_str(",\"method\":null,\"path\":null");
    }
    let micros = duration.as_micros();
    let _ = writeln!(
        out,
        ",\"status\":{status},\"bytes\":{body_bytes},\"duration_ms\":{}.{:03},\"complete\":{complete}}}",
        micros / 1000,
        micros % 1000
    );
    out
}

/// A notice's object (what the server noticed, a CGI script's stderr...).
fn json_notice(time: SystemTime, client: &str, message: &str) -> String {
    let mut out = json_head(time, "notice", client);
    out.push_str(",\"message\":");
    push_json_string(&mut out, message);
    out.push_str("}\n");
    out
}

/// `{"time":...,"kind":...,"client":...` (the client null for `-`, lines
/// about the server rather than a connection).
fn json_head(time: SystemTime, kind: &str, client: &str) -> String {
    let mut out = String::with_capacity(256);
    let _ = write!(out, "{{\"time\":\"{}\",\"kind\":\"{kind}\",\"client\":", rfc3339_millis(time));
    if client == "-" {
        out.push_str("null");
    } else {
        push_json_string(&mut out, client);
    }
    out
}

/// `s` as a JSON string, quotes included: `"` and `\` escaped, every C0
/// control, DEL and C1 control as `\u00XX` (so that nothing raw reaches a
/// terminal; request lines are Latin-1 decoded, so a byte 0x85 is U+0085),
/// U+2028 and U+2029 too (line ends to JavaScript); the rest as UTF-8.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0'..='\x1f' | '\x7f'..='\u{9f}' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `str.isspace` within Latin-1 (how `parse_request` splits the
/// request line).
fn is_py_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0b' | '\x0c' | '\r' | '\x1c'..='\x1f' | ' ' | '\u{85}' | '\u{a0}')
}

/// RFC 3339 in UTC with milliseconds: `2026-12-01T18:41:40.123Z`.
fn rfc3339_millis(time: SystemTime) -> String {
    let secs = unix_seconds(time);
    let millis = match time.duration_since(UNIX_EPOCH) {
        Ok(d) => d.subsec_millis(),
        // Before 1970, `secs` is rounded down: the fraction counts up from it.
        Err(e) => match e.duration().subsec_nanos() {
            0 => 0,
            n => (1_000_000_000 - n) / 1_000_000,
        },
    };
    let t = CivilTime::from_unix(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(s: &str) -> String {
        let mut out = String::new();
        push_json_string(&mut out, s);
        out
    }

    #[test]
    fn json_strings_escape_quotes_backslashes_and_every_control() {
        assert_eq!(json(""), "\"\"");
        assert_eq!(json("a\"b\\c/d"), "\"a\\\"b\\\\c/d\"");
        assert_eq!(
            json("\0\x01\t\n\r\x1b[31m\x1f"),
            "\"\\u0000\\u0001\\u0009\\u000a\\u000d\\u001b[31m\\u001f\""
        );
        assert_eq!(json("\x7f\u{80}\u{85}\u{9f}"), "\"\\u007f\\u0080\\u0085\\u009f\"");
        assert_eq!(json("\u{2028}\u{2029}"), "\"\\u2028\\u2029\"");
        // Latin-1 decoded bytes past the C1 block stay, written as UTF-8.
        assert_eq!(json("\u{a0}\u{e9}\u{ff} \u{20ac}\u{1f600}"), "\"\u{a0}\u{e9}\u{ff} \u{20ac}\u{1f600}\"");
        // Every char below U+00A0 but the printable ASCII is escaped.
        for n in 0..0xa0u32 {
            let c = char::from_u32(n).unwrap();
            let out = json(&c.to_string());
            let raw = (0x20..0x7f).contains(&n) && c != '"' && c != '\\';
            assert_eq!(out == format!("\"{c}\""), raw, "{n:#x}: {out}");
            assert!(out.bytes().all(|b| (0x20..0x7f).contains(&b)), "{n:#x}: {out}");
        }
    }

    #[test]
    fn times_are_rfc_3339_utc_with_milliseconds() {
        let t = UNIX_EPOCH + Duration::from_millis(1_796_150_500_123);
        assert_eq!(rfc3339_millis(t), "2026-12-01T18:41:40.123Z");
        assert_eq!(rfc3339_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(UNIX_EPOCH + Duration::from_nanos(999_999_999)),
            "1970-01-01T00:00:00.999Z"
        );
        assert_eq!(rfc3339_millis(UNIX_EPOCH - Duration::from_millis(1)), "1969-12-31T23:59:59.999Z");
        assert_eq!(rfc3339_millis(UNIX_EPOCH - Duration::from_millis(1500)), "1969-12-31T23:59:58.500Z");
    }

    #[test]
    fn request_objects() {
        let t = UNIX_EPOCH + Duration::from_millis(1_796_150_500_123);
        let line =
            json_request(t, "127.0.0.1", "GET /a.txt HTTP/1.1", 200, 6, Duration::from_micros(183), true);
        assert_eq!(
            line,
            "{\"time\":\"2026-12-01T18:41:40.123Z\",\"kind\":\"request\",\"client\":\"127.0.0.1\",\
             \"request\":\"GET /a.txt HTTP/1.1\",\"method\":\"GET\",\"path\":\"/a.txt\",\"status\":200,\
             \"bytes\":6,\"duration_ms\":0.183,\"complete\":true}\n"
        );
        let line =
            json_request(t, "::1", "GET /x\u{1b}\u{e9}\"", 200, 0, Duration::from_micros(12_345_678), false);
        assert!(
            line.contains(
                "\"request\":\"GET /x\\u001b\u{e9}\\\"\",\"method\":\"GET\",\"path\":\"/x\\u001b\u{e9}\\\"\""
            ),
            "{line}"
        );
        assert!(line.ends_with(",\"duration_ms\":12345.678,\"complete\":false}\n"), "{line}");
        // Not two or three words: no method or path (CPython's 400).
        for bad in ["", "GARBAGE", "A B C D"] {
            let line = json_request(t, "::1", bad, 400, 0, Duration::ZERO, true);
            assert!(line.contains(",\"method\":null,\"path\":null,"), "{line}");
        }
        // CPython's white space splits words (\x1c here), Rust's alone would not.
        let line = json_request(t, "::1", "GET\x1c/ HTTP/1.0", 200, 0, Duration::ZERO, true);
        assert!(line.contains(",\"method\":\"GET\",\"path\":\"/\","), "{line}");
    }

    #[test]
    fn entries_as_json() {
        let t = UNIX_EPOCH + Duration::from_millis(1_796_150_500_123);
        let request = LogEntry::Request { request_line: "GET / HTTP/1.0".into(), status: 200 };
        assert_eq!(json_entry(t, "::1", &request), None, "logged from its Completed entry");
        let error = LogEntry::Error { status: 404, message: "File not found".into() };
        assert_eq!(
            json_entry(t, "::1", &error).unwrap(),
            "{\"time\":\"2026-12-01T18:41:40.123Z\",\"kind\":\"error\",\"client\":\"::1\",\"status\":404,\
             \"message\":\"File not found\"}\n"
        );
        let notice = LogEntry::Notice("request head not received in time; connection closed".into());
        assert_eq!(
            json_entry(t, "::1", &notice).unwrap(),
            "{\"time\":\"2026-12-01T18:41:40.123Z\",\"kind\":\"notice\",\"client\":\"::1\",\
             \"message\":\"request head not received in time; connection closed\"}\n"
        );
        assert_eq!(
            json_notice(t, "-", "CGI script stderr: \x1b]0;x\x07"),
            "{\"time\":\"2026-12-01T18:41:40.123Z\",\"kind\":\"notice\",\"client\":null,\
             \"message\":\"CGI script stderr: \\u001b]0;x\\u0007\"}\n"
        );
    }
}
