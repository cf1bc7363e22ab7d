//! HTTP Basic authentication (RFC 7617) in front of any handler.
//!
//! The core reads the credentials and decides what a request gets; the
//! shell says whether the credentials are right, because that needs
//! password hashes and a clock, which the core has neither of. So:
//!
//! - [`parse_basic`] reads an `Authorization: Basic ...` value;
//! - the shell implements [`Authenticator`] (one per connection, knowing
//!   the client's address) and answers with a [`Verdict`];
//! - [`Authenticated`] wraps any [`Handler`]: a refused request is answered
//!   with 401 (and the challenge) or 429 before the inner handler sees it,
//!   its body discarded unread, and no `100 Continue` invites it;
//! - [`FailureLimiter`] counts failed attempts per client within a time
//!   window, with time passed in, so a shell can throttle password guessing.
//!
//! ```
//! use httpserver_core::serve::auth::{Authenticated, Authenticator, Verdict};
//! use httpserver_core::{Handler, Reply, Request};
//!
//! struct Hello;
//! impl Handler for Hello {
//!     type Body = ();
//!     fn do_get(&mut self, _req: &Request) -> Reply<()> {
//!         Reply::bytes(200, "text/plain", b"hi\n".to_vec())
//!     }
//! }
//!
//! /// One user; a real shell compares digests in constant time.
//! struct OneUser;
//! impl Authenticator for OneUser {
//!     fn authenticate(&mut self, credentials: Option<(&str, &str)>) -> Verdict {
//!         match credentials {
//!             Some(("bob", "secret")) => Verdict::Allow { user: "bob".into() },
//!             Some((user, _)) => Verdict::Deny { user: Some(user.into()) },
//!             None => Verdict::Deny { user: None },
//!         }
//!     }
//! }
//!
//! let handler = Authenticated::new(Hello, OneUser);
//! # let _ = handler;
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::http::RequestHead;
use crate::serve::{Acceptance, BodyUse, Handler, Reply, Request};
use crate::text::{base64_value, py_repr, Base64Bytes};

/// The `WWW-Authenticate` value of a 401: the realm, and that credentials
/// are read as UTF-8 (RFC 7617 section 2.1), so browsers send them so.
pub const CHALLENGE: &str = "Basic realm=\"httpserver\", charset=\"UTF-8\"";

/// A user name and password from a `Basic` `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user-id: the text before the first `:`.
    pub user: String,
    /// The password: everything after it (it may hold `:`).
    pub password: String,
}

impl fmt::Debug for Credentials {
    /// Never prints the password (a debug log must not leak it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).field("password", &"<hidden>").finish()
    }
}

/// The credentials of an `Authorization` header value, when it is `Basic`
/// (the scheme case-insensitive) followed by one base64 token that decodes
/// to UTF-8 `user:password` with no control characters (RFC 7617 forbids
/// them; they would also forge log lines). `None` for anything else: another
/// scheme, a token that is not strict base64, no `:`.
pub fn parse_basic(value: &str) -> Option<Credentials> {
    // RFC 9110's optional white space (a slice: Rust 1.63 cannot trim both
    // ends by an array of chars).
    const OWS: &[char] = &[' ', '\t'];
    let value = value.trim_matches(OWS);
    let split = value.find(OWS)?;
    let (scheme, token) = (&value[..split], value[split..].trim_start_matches(OWS));
    if !scheme.eq_ignore_ascii_case("Basic") {
        return None;
    }
    let decoded = String::from_utf8(decode_base64(token)?).ok()?;
    if decoded.chars().any(char::is_control) {
        return None;
    }
    let colon = decoded.find(':')?;
    Some(Credentials { user: decoded[..colon].to_string(), password: decoded[colon + 1..].to_string() })
}

/// Strict base64 (RFC 4648 section 4): the standard alphabet only, padding
/// only at the end and then to a multiple of four; unpadded input is taken
/// when its length could be complete. `None` for anything else.
fn decode_base64(token: &str) -> Option<Vec<u8>> {
    let bytes = token.as_bytes();
    let data = bytes.strip_suffix(b"==").or_else(|| bytes.strip_suffix(b"=")).unwrap_or(bytes);
    let padded = data.len() != bytes.len();
    if data.is_empty() || (padded && bytes.len() % 4 != 0) || data.len() % 4 == 1 {
        return None;
    }
    let mut decoded = Base64Bytes::default();
    for &b in data {
        decoded.push(base64_value(b)?);
    }
    Some(decoded.out)
}

/// The shell's judgement of a request's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Right credentials: the request goes to the inner handler.
    Allow {
        /// Who it is.
        user: String,
    },
    /// No credentials, or wrong ones: 401 with the challenge.
    Deny {
        /// The user the wrong credentials named, for the log; `None` when
        /// none were sent (browsers always try once without, so that is
        /// not worth a log line).
        user: Option<String>,
    },
    /// Too many failures from this client lately: 429, whatever the
    /// credentials, so guessing cannot go on.
    Throttle {
        /// Seconds until the client may try again (`Retry-After`).
        retry_after_secs: u64,
    },
}

/// What checks credentials: the shell's side (password hashes, the clock,
/// the client's address).
pub trait Authenticator {
    /// Judge a request's credentials: `Some((user, password))` when it
    /// sent readable `Basic` ones, `None` otherwise.
    fn authenticate(&mut self, credentials: Option<(&str, &str)>) -> Verdict;
}

impl<A: Authenticator + ?Sized> Authenticator for &mut A {
    fn authenticate(&mut self, credentials: Option<(&str, &str)>) -> Verdict {
        (**self).authenticate(credentials)
    }
}

impl<A: Authenticator + ?Sized> Authenticator for Box<A> {
    fn authenticate(&mut self, credentials: Option<(&str, &str)>) -> Verdict {
        (**self).authenticate(credentials)
    }
}

/// A [`Handler`] behind Basic authentication: every request head is judged
/// first (in [`Handler::body_use`], which the engine calls before anything
/// else); a refused one gets its 401 or 429 without reaching `inner`, and
/// an allowed one is `inner`'s, every method delegated.
///
/// A refused request's body is discarded ([`BodyUse::Discard`]), and a
/// request that expects `100 Continue` is refused before it is invited to
/// send one. The refusal is answered in the same engine step as the head
/// (that is what `Discard` means), so one wrapper may serve several
/// connections in turn, as an event loop's shared handler does.
pub struct Authenticated<H: Handler, A> {
    inner: H,
    auth: Option<A>,
    /// The answer to the current request when it was refused.
    refusal: Option<Reply<H::Body>>,
    /// Whether CORS preflights pass unchecked.
    open_preflights: bool,
}

impl<H: Handler, A: Authenticator> Authenticated<H, A> {
    /// `inner`, answering only requests `auth` allows.
    pub fn new(inner: H, auth: A) -> Authenticated<H, A> {
        Authenticated { inner, auth: Some(auth), refusal: None, open_preflights: false }
    }

    /// `inner` with no check at all (authentication off), so that a shell
    /// has one handler type either way.
    pub fn open(inner: H) -> Authenticated<H, A> {
        Authenticated { inner, auth: None, refusal: None, open_preflights: false }
    }

    /// Whether CORS preflights (`OPTIONS` with
    /// `Access-Control-Request-Method`) reach the inner handler without
    /// credentials: browsers never send credentials on a preflight, so a
    /// server that answers them (`--cors`) must let them through for the
    /// real, authenticated request to follow. Off by default.
    #[must_use]
    pub fn with_open_preflights(mut self, on: bool) -> Authenticated<H, A> {
        self.open_preflights = on;
        self
    }

    /// The wrapped handler.
    pub fn inner(&self) -> &H {
        &self.inner
    }

    /// The wrapped handler, to change.
    pub fn inner_mut(&mut self) -> &mut H {
        &mut self.inner
    }

    /// The authenticator (`None` when [`Authenticated::open`]), e.g. to
    /// tell it which client the next request comes from.
    pub fn authenticator_mut(&mut self) -> Option<&mut A> {
        self.auth.as_mut()
    }

    /// The wrapped handler, unwrapped.
    pub fn into_inner(self) -> H {
        self.inner
    }

    /// The reply refusing `head`, or `None` when it may go on.
    fn judge(&mut self, head: &RequestHead) -> Option<Reply<H::Body>> {
        let auth = self.auth.as_mut()?;
        if self.open_preflights
            && head.method == "OPTIONS"
            && head.headers.contains("Access-Control-Request-Method")
        {
            return None;
        }
        let mut values = head.headers.get_all("Authorization");
        let (first, second) = (values.next(), values.next());
        // Two Authorization fields are ambiguous (which one would a CGI
        // script or a proxy read?): neither is taken.
        let credentials = match (first, second) {
            (Some(value), None) => Some(parse_basic(value)),
            (Some(_), Some(_)) => Some(None),
            (None, _) => None,
        };
        let pair = match &credentials {
            Some(Some(c)) => Some((c.user.as_str(), c.password.as_str())),
            _ => None,
        };
        match auth.authenticate(pair) {
            Verdict::Allow { .. } => None,
            Verdict::Throttle { retry_after_secs } => Some(
                Reply::error(429, None, None)
                    .with_header("Retry-After", &retry_after_secs.max(1).to_string()),
            ),
            Verdict::Deny { user } => {
                let reply = Reply::error(401, None, None).with_header("WWW-Authenticate", CHALLENGE);
                Some(match (user, credentials) {
                    (Some(user), _) => {
                        reply.with_notice(format!("authentication failed for user {}", py_repr(&user)))
                    }
                    (None, Some(None)) => reply.with_notice("authentication failed: unreadable credentials"),
                    (None, _) => reply,
                })
            }
        }
    }

    /// The current request's refusal, or what `inner` answers.
    fn reply_or(&mut self, req: &Request, f: fn(&mut H, &Request) -> Reply<H::Body>) -> Reply<H::Body> {
        match self.refusal.take() {
            Some(reply) => reply,
            None => f(&mut self.inner, req),
        }
    }
}

impl<H: Handler, A: Authenticator> Handler for Authenticated<H, A> {
    type Body = H::Body;

    fn body_use(&mut self, head: &RequestHead) -> BodyUse {
        self.refusal = self.judge(head);
        match self.refusal {
            Some(_) => BodyUse::Discard,
            None => self.inner.body_use(head),
        }
    }

    fn handle_expect_100(&mut self, head: &RequestHead) -> Acceptance<H::Body> {
        match self.refusal.take() {
            Some(reply) => Acceptance::Refuse(reply),
            None => self.inner.handle_expect_100(head),
        }
    }

    fn start_body(&mut self, head: &RequestHead) -> Acceptance<H::Body> {
        match self.refusal.take() {
            Some(reply) => Acceptance::Refuse(reply),
            None => self.inner.start_body(head),
        }
    }

    fn receive_body(&mut self, chunk: &[u8]) {
        self.inner.receive_body(chunk);
    }

    fn abort_body(&mut self) {
        self.inner.abort_body();
    }

    fn do_get(&mut self, req: &Request) -> Reply<H::Body> {
        self.reply_or(req, H::do_get)
    }

    fn do_head(&mut self, req: &Request) -> Reply<H::Body> {
        self.reply_or(req, H::do_head)
    }

    fn do_post(&mut self, req: &Request) -> Reply<H::Body> {
        self.reply_or(req, H::do_post)
    }

    fn do_other(&mut self, req: &Request) -> Reply<H::Body> {
        self.reply_or(req, H::do_other)
    }
}

/// Failed attempts per client (an address, say) within a fixed window that
/// starts at the client's first failure: after `limit` of them, the client
/// is throttled until the window ends. Pure: the time is passed in.
///
/// Memory is bounded: at most `capacity` clients are tracked; past that
/// the one whose window started first is forgotten. (A guesser with more
/// addresses than that can cycle through them; one with fewer cannot.)
#[derive(Debug, Clone)]
pub struct FailureLimiter<K> {
    limit: u32,
    window: Duration,
    capacity: usize,
    windows: HashMap<K, Window>,
    /// Window starts in the order they began (so oldest first while time
    /// only goes forward); an entry whose start no longer matches its
    /// client's window is stale and skipped.
    order: VecDeque<(K, Instant)>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    failures: u32,
}

impl<K: Eq + Hash + Clone> Default for FailureLimiter<K> {
    /// 10 failures within 60 s, 10,000 clients tracked.
    fn default() -> FailureLimiter<K> {
        FailureLimiter::new(10, Duration::from_secs(60), 10_000)
    }
}

impl<K: Eq + Hash + Clone> FailureLimiter<K> {
    /// Throttle a client after `limit` failures (at least 1) within
    /// `window`, tracking at most `capacity` clients (at least 1).
    pub fn new(limit: u32, window: Duration, capacity: usize) -> FailureLimiter<K> {
        FailureLimiter {
            limit: limit.max(1),
            window,
            capacity: capacity.max(1),
            windows: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// `Some(seconds until the window ends, at least 1)` when `key` is
    /// throttled at `now`; `None` when it may try.
    pub fn retry_after(&self, key: &K, now: Instant) -> Option<u64> {
        let w = self.windows.get(key)?;
        let elapsed = now.saturating_duration_since(w.start);
        if w.failures < self.limit || elapsed >= self.window {
            return None;
        }
        let left = self.window - elapsed;
        Some((left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1))
    }

    /// Count a failed attempt by `key` at `now`.
    pub fn record_failure(&mut self, key: K, now: Instant) {
        self.expire(now);
        let window = self.window;
        if let Some(w) = self.windows.get_mut(&key) {
            if now.saturating_duration_since(w.start) < window {
                w.failures = w.failures.saturating_add(1);
                return;
            }
            // Expired but still here: only when time went backwards
            // between calls. Start over.
            *w = Window { start: now, failures: 1 };
        } else {
            if self.windows.len() >= self.capacity {
                self.evict_oldest();
            }
            self.windows.insert(key.clone(), Window { start: now, failures: 1 });
        }
        self.order.push_back((key, now));
        if self.order.len() > 2 * self.capacity {
            self.compact();
        }
    }

    /// How many clients are tracked.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    /// Whether no client is tracked.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// Forget windows that ended by `now` (they are at the front).
    fn expire(&mut self, now: Instant) {
        while let Some((key, start)) = self.order.front() {
            if now.saturating_duration_since(*start) < self.window {
                break;
            }
            if self.windows.get(key).map(|w| w.start) == Some(*start) {
                self.windows.remove(key);
            }
            self.order.pop_front();
        }
    }

    /// Forget the client whose window started first.
    fn evict_oldest(&mut self) {
        while let Some((key, start)) = self.order.pop_front() {
            if self.windows.get(&key).map(|w| w.start) == Some(start) {
                self.windows.remove(&key);
                return;
            }
        }
    }

    /// Rebuild `order` from the live windows (drops stale entries, which
    /// pile up only if time goes backwards).
    fn compact(&mut self) {
        let mut live: Vec<(K, Instant)> = self.windows.iter().map(|(k, w)| (k.clone(), w.start)).collect();
        live.sort_by_key(|(_, start)| *start);
        self.order = live.into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Connection, Event};
    use crate::Config;

    fn b64(s: &str) -> String {
        // Test-only encoder, to build headers from readable text.
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in s.as_bytes().chunks(3) {
            let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    fn creds(user: &str, password: &str) -> Option<Credentials> {
        Some(Credentials { user: user.into(), password: password.into() })
    }

    #[test]
    fn base64_strict() {
        assert_eq!(decode_base64("Ym9iOnNlY3JldA==").unwrap(), b"bob:secret");
        assert_eq!(decode_base64("Ym9iOnNlY3JldA").unwrap(), b"bob:secret"); // unpadded
        assert_eq!(decode_base64("YWJj").unwrap(), b"abc");
        assert_eq!(decode_base64("YWI=").unwrap(), b"ab");
        assert_eq!(decode_base64("+/+/").unwrap(), [0xfb, 0xff, 0xbf]);
        assert_eq!(decode_base64("YWI").unwrap(), b"ab", "unpadded");
        for bad in
            ["", "=", "==", "Y", "YWJjZ", "Ym9i=OnNl", "YW==x", "Ym9i\nOnNlY3JldA==", "Ym9i-_", "YWI==="]
        {
            assert_eq!(decode_base64(bad), None, "{bad:?}");
        }
        assert_eq!(decode_base64("YQ="), None, "padding must make a multiple of four");
    }

    #[test]
    fn parse_basic_reads_what_browsers_and_curl_send() {
        assert_eq!(parse_basic(&format!("Basic {}", b64("bob:secret"))), creds("bob", "secret"));
        assert_eq!(parse_basic(&format!("basic {}", b64("bob:secret"))), creds("bob", "secret"));
        assert_eq!(parse_basic(&format!("BASIC  \t{} ", b64("bob:secret"))), creds("bob", "secret"));
        // The split is at the first colon: passwords may hold colons.
        assert_eq!(parse_basic(&format!("Basic {}", b64("bob:a:b"))), creds("bob", "a:b"));
        assert_eq!(parse_basic(&format!("Basic {}", b64(":"))), creds("", ""));
        assert_eq!(
            parse_basic(&format!("Basic {}", b64("jos\u{e9}:p\u{e4}ss"))),
            creds("jos\u{e9}", "p\u{e4}ss")
        );
    }

    #[test]
    fn parse_basic_rejects_garbage() {
        let token = b64("bob:secret");
        for bad in [
            String::new(),
            "Basic".into(),
            "Basic ".into(),
            token.clone(),
            format!("Bearer {token}"),
            format!("Basics {token}"),
            format!("Basic {token} extra"),
            format!("Basic {token}!"),
            format!("Basic {}", b64("no colon")),
            format!("Basic {}", b64("bob\n:secret")),
            format!("Basic {}", b64("bob:sec\u{7f}ret")),
            "Basic /w==".into(), // 0xff: not UTF-8
        ] {
            assert_eq!(parse_basic(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        let shown = format!("{:?}", creds("bob", "hunter2").unwrap());
        assert!(shown.contains("bob") && !shown.contains("hunter2"), "{shown}");
    }

    /// Answers 200 to GET, records what it was asked.
    #[derive(Default)]
    struct Recorder {
        calls: Vec<&'static str>,
    }

    impl Handler for Recorder {
        type Body = ();
        fn body_use(&mut self, _head: &RequestHead) -> BodyUse {
            self.calls.push("body_use");
            BodyUse::Buffer { limit: 100 }
        }
        fn handle_expect_100(&mut self, _head: &RequestHead) -> Acceptance<()> {
            self.calls.push("expect_100");
            Acceptance::Accept
        }
        fn do_get(&mut self, _req: &Request) -> Reply<()> {
            self.calls.push("get");
            Reply::bytes(200, "text/plain", b"ok".to_vec())
        }
    }

    /// Allows bob:secret, throttles after `limit` failures, and records
    /// what it saw.
    struct Checker {
        seen: Vec<Option<(String, String)>>,
        failures: u32,
        limit: u32,
    }

    impl Checker {
        fn new() -> Checker {
            Checker { seen: Vec::new(), failures: 0, limit: u32::MAX }
        }
    }

    impl Authenticator for Checker {
        fn authenticate(&mut self, credentials: Option<(&str, &str)>) -> Verdict {
            self.seen.push(credentials.map(|(u, p)| (u.to_string(), p.to_string())));
            if self.failures >= self.limit {
                return Verdict::Throttle { retry_after_secs: 42 };
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

    fn head(text: &str) -> RequestHead {
        let mut conn = Connection::new(Config::default());
        conn.receive(text.as_bytes());
        match conn.next_event() {
            Some(Event::RequestHead(head)) => head,
            other => panic!("no head: {other:?}"),
        }
    }

    fn get(h: &mut Authenticated<Recorder, Checker>, extra: &str) -> Reply<()> {
        let head = head(&format!("GET / HTTP/1.1\r\nHost: x\r\n{extra}\r\n"));
        h.body_use(&head);
        crate::dispatch(h, &Request::new(head, Vec::new()))
    }

    fn header<'a>(reply: &'a Reply<()>, name: &str) -> Option<&'a str> {
        reply.head().headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    #[test]
    fn right_credentials_reach_the_inner_handler() {
        let mut h = Authenticated::new(Recorder::default(), Checker::new());
        let head =
            head(&format!("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\n\r\n", b64("bob:secret")));
        assert_eq!(h.body_use(&head), BodyUse::Buffer { limit: 100 }, "the inner handler's choice");
        assert!(matches!(h.handle_expect_100(&head), Acceptance::Accept));
        let reply = crate::dispatch(&mut h, &Request::new(head, Vec::new()));
        assert_eq!((reply.status(), reply.notice()), (200, None));
        assert_eq!(h.inner().calls, ["body_use", "expect_100", "get"]);
        assert_eq!(h.auth.as_ref().unwrap().seen, [Some(("bob".into(), "secret".into()))]);
    }

    #[test]
    fn no_credentials_get_the_challenge_without_a_notice() {
        let mut h = Authenticated::new(Recorder::default(), Checker::new());
        let reply = get(&mut h, "");
        assert_eq!(reply.status(), 401);
        assert!(reply.is_error());
        assert_eq!(header(&reply, "WWW-Authenticate"), Some(CHALLENGE));
        assert_eq!(reply.notice(), None);
        assert!(h.inner().calls.is_empty(), "the inner handler never saw it: {:?}", h.inner().calls);
    }

    #[test]
    fn wrong_credentials_are_refused_and_logged() {
        let mut h = Authenticated::new(Recorder::default(), Checker::new());
        let reply = get(&mut h, &format!("Authorization: Basic {}\r\n", b64("bob:guess")));
        assert_eq!(reply.status(), 401);
        assert_eq!(header(&reply, "WWW-Authenticate"), Some(CHALLENGE));
        assert_eq!(reply.notice(), Some("authentication failed for user 'bob'"));
        // Control characters (a forged log line) make credentials
        // unreadable; quotes are shown as Python's repr shows them.
        let reply = get(&mut h, &format!("Authorization: Basic {}\r\n", b64("bob\u{1b}[31m:x")));
        assert_eq!(reply.notice(), Some("authentication failed: unreadable credentials"));
        let reply = get(&mut h, &format!("Authorization: Basic {}\r\n", b64("it's:x")));
        assert_eq!(reply.notice(), Some("authentication failed for user \"it's\""));
        assert!(h.inner().calls.is_empty());
    }

    #[test]
    fn unreadable_or_doubled_credentials_are_refused() {
        let mut h = Authenticated::new(Recorder::default(), Checker::new());
        let good = format!("Authorization: Basic {}\r\n", b64("bob:secret"));
        for extra in [
            "Authorization: Bearer abc\r\n".to_string(),
            "Authorization: Basic !!!\r\n".into(),
            good.repeat(2),
        ] {
            let reply = get(&mut h, &extra);
            assert_eq!(reply.status(), 401, "{extra}");
            assert_eq!(reply.notice(), Some("authentication failed: unreadable credentials"));
        }
        // The authenticator was still asked (it may throttle), with nothing.
        assert_eq!(h.auth.as_ref().unwrap().seen, [None, None, None]);
        assert_eq!(get(&mut h, &good).status(), 200);
    }

    #[test]
    fn a_refused_upload_is_not_invited() {
        let mut h = Authenticated::new(Recorder::default(), Checker::new());
        let head = head("PUT /f HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
        assert_eq!(h.body_use(&head), BodyUse::Discard);
        match h.handle_expect_100(&head) {
            Acceptance::Refuse(reply) => assert_eq!(reply.status(), 401),
            Acceptance::Accept => panic!("100 Continue would invite the body"),
        }
        // start_body refuses too (for a streaming inner handler).
        h.body_use(&head);
        assert!(matches!(h.start_body(&head), Acceptance::Refuse(r) if r.status() == 401));
        assert!(h.inner().calls.is_empty());
    }

    #[test]
    fn throttled_clients_get_429_even_with_right_credentials() {
        let mut checker = Checker::new();
        checker.limit = 1;
        let mut h = Authenticated::new(Recorder::default(), checker);
        assert_eq!(get(&mut h, &format!("Authorization: Basic {}\r\n", b64("bob:x"))).status(), 401);
        let reply = get(&mut h, &format!("Authorization: Basic {}\r\n", b64("bob:secret")));
        assert_eq!(reply.status(), 429);
        assert!(reply.is_error());
        assert_eq!(header(&reply, "Retry-After"), Some("42"));
        assert_eq!(header(&reply, "WWW-Authenticate"), None);
        assert!(h.inner().calls.is_empty());
    }

    #[test]
    fn open_checks_nothing() {
        let mut h: Authenticated<Recorder, Checker> = Authenticated::open(Recorder::default());
        assert_eq!(get(&mut h, "").status(), 200);
        assert!(h.authenticator_mut().is_none());
    }

    #[test]
    fn each_request_is_judged_afresh() {
        let mut h = Authenticated::new(Recorder::default(), Checker::new());
        let good = format!("Authorization: Basic {}\r\n", b64("bob:secret"));
        let bad = format!("Authorization: Basic {}\r\n", b64("bob:nope"));
        let statuses: Vec<u16> =
            [&good, &bad, &good, "", &good].iter().map(|e| get(&mut h, e).status()).collect();
        assert_eq!(statuses, [200, 401, 200, 401, 200]);
    }
}
