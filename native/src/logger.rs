//! The log sink. Event-loop workers batch their lines in a buffer of
//! their own and write it to stderr from their loop at most `FLUSH_EVERY`
//! after the oldest line (or sooner, when it fills): no thread ever waits
//! on another's write, and a line still reaches stderr within about 50 ms
//! of its request. Other threads (CGI, the threaded server) write each
//! line at once. A failing stderr never stops serving: lines are dropped.

use std::cell::RefCell;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest a line waits in a worker's batch.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Write at once past this many buffered bytes.
const FLUSH_BYTES: usize = 32 * 1024;

/// Whole batches only: two workers' writes never interleave mid-line.
static STDERR: Mutex<()> = Mutex::new(());

struct Batch {
    buf: String,
    oldest: Option<Instant>,
}

thread_local! {
    static BATCH: RefCell<Option<Batch>> = const { RefCell::new(None) };
}

/// Make this thread batch its log lines; it must call [`flush_if_due`]
/// from its loop.
pub fn enable_batching() {
    BATCH.with(|b| *b.borrow_mut() = Some(Batch { buf: String::with_capacity(FLUSH_BYTES), oldest: None }));
}

/// Log one finished line (newline included).
pub fn write_line(line: String) {
    let queued = BATCH.with(|b| match b.borrow_mut().as_mut() {
        Some(batch) => {
            batch.buf.push_str(&line);
            batch.oldest.get_or_insert_with(Instant::now);
            if batch.buf.len() >= FLUSH_BYTES {
                write_out(&batch.buf);
                batch.buf.clear();
                batch.oldest = None;
            }
            true
        }
        None => false,
    });
    if !queued {
        write_out(&line);
    }
}

/// Write this thread's batch if its oldest line has waited long enough;
/// returns how long until the next flush is due (for the loop's timeout).
pub fn flush_if_due() -> Option<Duration> {
    BATCH.with(|b| {
        let mut b = b.borrow_mut();
        let batch = b.as_mut()?;
        let oldest = batch.oldest?;
        let waited = oldest.elapsed();
        if waited >= FLUSH_EVERY {
            write_out(&batch.buf);
            batch.buf.clear();
            batch.oldest = None;
            None
        } else {
            Some(FLUSH_EVERY - waited)
        }
    })
}

fn write_out(text: &str) {
    let _guard = STDERR.lock().unwrap_or_else(|e| e.into_inner());
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}
