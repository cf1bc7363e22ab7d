//! The log sink. Every thread appends its lines to one buffer, so lines
//! come out in the order they were produced (the order requests finished,
//! as with CPython), whichever worker served them. The buffer reaches
//! stderr in batches: event-loop workers flush it at most `FLUSH_EVERY`
//! after its oldest line (or at once past `FLUSH_BYTES`); every other
//! thread flushes at once; a stop flushes everything. Batches are written
//! in the order they were taken, so no line ever overtakes another. A
//! failing stderr never stops serving: lines are dropped.

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use httpserver_core::log::format_log_line;
use httpserver_core::time::{unix_seconds, CivilTime};

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

/// Let this thread's lines wait for [`flush_if_due`], which its loop calls.
pub fn enable_batching() {
    BATCHING.with(|b| b.set(true));
}

/// Log one message for `client` in CPython's format (control characters
/// escaped), with the local time.
pub fn line(client: &str, message: &str) {
    let text = format_log_line(client, &local_time_text(), message);
    let full = {
        let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        pending.text.push_str(&text);
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

/// The local time for log lines, formatted once per second per thread.
fn local_time_text() -> String {
    thread_local! {
        static CACHE: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let secs = unix_seconds(SystemTime::now());
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            *c = (secs, local_civil(secs).log_format());
        }
        c.1.clone()
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
