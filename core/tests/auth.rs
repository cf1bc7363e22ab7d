//! `serve::auth::Authenticated` driven by the engine: what goes on the wire
//! and into the log for allowed, refused and throttled requests.

mod support;

use std::time::{Duration, Instant};

use httpserver_core::serve::auth::{Authenticated, Authenticator, FailureLimiter, Verdict, CHALLENGE};
use httpserver_core::{BodyUse, Handler, Reply, Request, RequestHead, ServerProtocol};
use support::*;

/// Allows bob:secret; throttles (Retry-After 30) after `limit` failures.
struct OneUser {
    failures: u32,
    limit: u32,
}

impl Authenticator for OneUser {
    fn authenticate(&mut self, credentials: Option<(&str, &str)>) -> Verdict {
        if self.failures >= self.limit {
            return Verdict::Throttle { retry_after_secs: 30 };
        }
        match credentials {
            Some(("bob", "secret")) => Verdict::Allow { user: "bob".into() },
            Some((user, _)) => {
                self.failures += 1;
                Verdict::Deny { user: Some(user.into()) }
            }
            None => Verdict::Deny { user: None },
        }
    }
}

fn guarded<H: Handler<Body = Vec<u8>>>(inner: H) -> Authenticated<H, OneUser> {
    Authenticated::new(inner, OneUser { failures: 0, limit: 10 })
}

/// `Authorization: Basic` of bob:secret, and of bob:wrong.
const RIGHT: &str = "Authorization: Basic Ym9iOnNlY3JldA==\r\n";
const WRONG: &str = "Authorization: Basic Ym9iOndyb25n\r\n";

#[test]
fn refused_request_gets_cpythons_error_page_with_the_challenge() {
    let mut d = Driver::new(config(ServerProtocol::Http10), guarded(simple()));
    d.feed(b"GET /a.txt HTTP/1.0\r\n\r\n", 1000, true);
    let wire = d.wire_text();
    assert!(wire.starts_with("HTTP/1.0 401 Unauthorized\r\n"), "{wire}");
    assert!(wire.contains(&format!("\r\nWWW-Authenticate: {CHALLENGE}\r\n")), "{wire}");
    assert!(wire.contains("\r\nConnection: close\r\n"), "{wire}");
    assert!(wire.contains("<p>Error code: 401</p>"), "{wire}");
    assert!(!wire.contains("hello"), "the file was not sent: {wire}");
    assert_eq!(d.log.len(), 2, "no notice without credentials: {:?}", d.log);
    assert!(d.log[0].starts_with("code 401, message Unauthorized"), "{:?}", d.log);
    assert!(d.log[1].contains("\"GET /a.txt HTTP/1.0\" 401"), "{:?}", d.log);
}

#[test]
fn wrong_password_is_logged_as_a_notice() {
    let mut d = Driver::new(config(ServerProtocol::Http10), guarded(simple()));
    d.feed(format!("GET /a.txt HTTP/1.0\r\n{WRONG}\r\n").as_bytes(), 1000, true);
    assert_eq!(statuses(&d.wire_text()), [401]);
    assert_eq!(d.log[0], "authentication failed for user 'bob'", "{:?}", d.log);
}

#[test]
fn keep_alive_requests_are_each_checked() {
    let mut d = Driver::new(config(ServerProtocol::Http11), guarded(simple()));
    let ok = format!("GET /a.txt HTTP/1.1\r\nHost: x\r\n{RIGHT}\r\n");
    let bad = format!("GET /a.txt HTTP/1.1\r\nHost: x\r\n{WRONG}\r\n");
    d.feed(format!("{ok}{ok}{bad}{ok}").as_bytes(), 7, true);
    let wire = d.wire_text();
    // The refusal is CPython's send_error: it closes the connection, so the
    // request after it is not answered.
    assert_eq!(statuses(&wire), [200, 200, 401], "{wire}");
}

#[test]
fn refused_upload_gets_no_100_continue() {
    let mut d = Driver::new(config(ServerProtocol::Http11), guarded(Echo));
    let req =
        format!("POST /x HTTP/1.1\r\nHost: x\r\n{WRONG}Content-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    d.feed(req.as_bytes(), 1000, false);
    let wire = d.wire_text();
    assert!(!wire.contains("100 Continue"), "{wire}");
    assert_eq!(statuses(&wire), [401], "{wire}");
}

#[test]
fn allowed_upload_is_invited_and_its_body_reaches_the_handler() {
    let mut d = Driver::new(config(ServerProtocol::Http11), guarded(Echo));
    let req =
        format!("POST /x HTTP/1.1\r\nHost: x\r\n{RIGHT}Content-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    d.feed(req.as_bytes(), 1000, false);
    assert!(d.wire_text().starts_with("HTTP/1.1 100 Continue\r\n\r\n"), "{}", d.wire_text());
    d.feed(b"hello", 1000, false);
    let wire = d.wire_text();
    assert_eq!(statuses(&wire), [100, 200], "{wire}");
    assert!(wire.ends_with("\r\n\r\nhello"), "{wire}");
}

#[test]
fn throttled_client_gets_429_with_retry_after() {
    let mut d = Driver::new(
        config(ServerProtocol::Http11),
        Authenticated::new(simple(), OneUser { failures: 0, limit: 2 }),
    );
    for _ in 0..2 {
        d.feed(format!("GET /a.txt HTTP/1.1\r\nHost: x\r\n{WRONG}\r\n").as_bytes(), 1000, false);
        d.engine = httpserver_core::Engine::new(std::sync::Arc::new(config(ServerProtocol::Http11)), d.now);
    }
    d.wire.clear();
    d.feed(format!("GET /a.txt HTTP/1.1\r\nHost: x\r\n{RIGHT}\r\n").as_bytes(), 1000, false);
    let wire = d.wire_text();
    assert!(wire.starts_with("HTTP/1.1 429 Too Many Requests\r\n"), "{wire}");
    assert!(wire.contains("\r\nRetry-After: 30\r\n"), "{wire}");
    assert!(!wire.contains("WWW-Authenticate"), "{wire}");
}

/// Buffers bodies and answers them back.
struct Echo;

impl Handler for Echo {
    type Body = Vec<u8>;
    fn body_use(&mut self, _head: &RequestHead) -> BodyUse {
        BodyUse::Buffer { limit: 100 }
    }
    fn do_post(&mut self, req: &Request) -> Reply<Vec<u8>> {
        Reply::bytes(200, "text/plain", req.body.clone())
    }
}

fn at(base: Instant, secs: u64) -> Instant {
    base + Duration::from_secs(secs)
}

#[test]
fn limiter_throttles_after_the_limit_for_the_rest_of_the_window() {
    let t0 = Instant::now();
    let mut l = FailureLimiter::new(10, Duration::from_secs(60), 100);
    for i in 0..9 {
        l.record_failure("a", at(t0, i));
        assert_eq!(l.retry_after(&"a", at(t0, i)), None, "after {} failures", i + 1);
    }
    l.record_failure("a", at(t0, 9));
    assert_eq!(l.retry_after(&"a", at(t0, 9)), Some(51), "the window started at the first failure");
    assert_eq!(l.retry_after(&"a", at(t0, 59)), Some(1));
    assert_eq!(l.retry_after(&"a", t0 + Duration::from_millis(59_500)), Some(1), "rounded up");
    assert_eq!(l.retry_after(&"b", at(t0, 10)), None, "per client");
    assert_eq!(l.retry_after(&"a", at(t0, 60)), None, "the window ended");
    // A new window starts with the next failure.
    l.record_failure("a", at(t0, 61));
    assert_eq!(l.retry_after(&"a", at(t0, 61)), None);
    assert_eq!(l.len(), 1);
}

#[test]
fn limiter_forgets_ended_windows() {
    let t0 = Instant::now();
    let mut l = FailureLimiter::new(3, Duration::from_secs(60), 100);
    for i in 0..50u64 {
        l.record_failure(i, at(t0, i));
    }
    assert_eq!(l.len(), 50);
    l.record_failure(1000, at(t0, 100));
    // Windows started at t0+40 or before ended by t0+100.
    assert_eq!(l.len(), 9 + 1);
}

#[test]
fn limiter_memory_is_bounded() {
    let t0 = Instant::now();
    let mut l = FailureLimiter::new(2, Duration::from_secs(60), 10);
    for i in 0..10u32 {
        l.record_failure(i, t0);
        l.record_failure(i, t0);
    }
    assert_eq!(l.retry_after(&0, t0), Some(60));
    for i in 10..1000u32 {
        l.record_failure(i, at(t0, 1));
    }
    assert_eq!(l.len(), 10);
    // The oldest were forgotten first; the newest are still counted.
    assert_eq!(l.retry_after(&0, at(t0, 1)), None);
    l.record_failure(999, at(t0, 1));
    assert_eq!(l.retry_after(&999, at(t0, 1)), Some(60));
}

#[test]
fn limiter_survives_time_going_backwards() {
    let t0 = Instant::now() + Duration::from_secs(1000);
    let mut l = FailureLimiter::new(2, Duration::from_secs(60), 4);
    for round in 0..100u64 {
        let now = if round % 2 == 0 { at(t0, round * 70) } else { t0 };
        for key in 0..8u8 {
            l.record_failure(key, now);
        }
        assert!(l.len() <= 4);
    }
}
