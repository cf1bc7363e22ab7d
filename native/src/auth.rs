//! The users of `--auth` and `--auth-file`, and the check of their
//! passwords: the shell's side of the core's `serve::auth` (which reads
//! the `Authorization` header and answers 401 or 429).
//!
//! What a guesser can learn from the time a check takes is nothing the
//! guess does not already hold: plain passwords are compared as SHA-256
//! digests in constant time (neither a matching prefix nor the stored
//! length shows), every user entry is looked at for every check, and an
//! unknown user costs a verification against another entry's secret of
//! the most common kind (the result thrown away), so that a name's
//! existence does not show either. Hashes cost what they are meant to
//! (bcrypt at cost 10: ~50-100 ms): successful verifications are
//! remembered, so a keep-alive client is not slowed on every request.

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, Ipv6Addr};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use httpserver_core::serve::auth::{Authenticated, Authenticator, FailureLimiter, Verdict};
use httpserver_core::Handler;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

/// Successful verifications of hashed passwords remembered at most (then
/// forgotten all at once: a keep-alive client pays one more hash).
const VERIFIED_MAX: usize = 1024;

/// A handler behind `--auth`'s check (open when auth is off).
pub type Guarded<H> = Authenticated<H, ClientAuth>;

/// `inner` behind the check of `users` (none: no check), for requests
/// from `client`.
pub fn guard<H: Handler>(users: Option<&Arc<Users>>, client: IpAddr, inner: H) -> Guarded<H> {
    match users {
        Some(users) => Authenticated::new(inner, users.authenticator(client)),
        None => Authenticated::open(inner),
    }
}

/// The users a request may authenticate as, with what the check shares
/// across connections: remembered verifications and failure counts.
pub struct Users {
    entries: Vec<Entry>,
    /// The entry an unknown user's password is verified against.
    stand_in: usize,
    /// Keys the remembered verifications, so that what is held in memory
    /// is no plain SHA-256 of a password.
    pepper: [u8; 32],
    verified: Mutex<HashSet<[u8; 32]>>,
    limiter: Mutex<FailureLimiter<IpAddr>>,
}

struct Entry {
    name: String,
    name_digest: [u8; 32],
    secret: Secret,
}

/// A password as it is stored (no `Debug`: it is not for printing).
enum Secret {
    /// A plain password's SHA-256.
    Plain([u8; 32]),
    /// `$2a$`, `$2b$`, `$2y$`.
    Bcrypt(String),
    /// `$6$`.
    Sha512Crypt(String),
    /// `$5$`.
    Sha256Crypt(String),
}

impl Secret {
    fn kind(&self) -> usize {
        match self {
            Secret::Plain(_) => 0,
            Secret::Bcrypt(_) => 1,
            Secret::Sha512Crypt(_) => 2,
            Secret::Sha256Crypt(_) => 3,
        }
    }

    fn is_hashed(&self) -> bool {
        !matches!(self, Secret::Plain(_))
    }

    /// Whether `password` is this one (plain digests in constant time;
    /// the hash crates compare their outputs in constant time too).
    fn verify(&self, password: &str) -> bool {
        match self {
            Secret::Plain(digest) => sha256(password.as_bytes()).ct_eq(digest).into(),
            Secret::Bcrypt(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            Secret::Sha512Crypt(hash) => sha_crypt::sha512_check(password, hash).is_ok(),
            Secret::Sha256Crypt(hash) => sha_crypt::sha256_check(password, hash).is_ok(),
        }
    }

    /// The secret of an `--auth-file` password field: a supported hash,
    /// or a plain password. Anything else that looks like a hash is an
    /// error, so that e.g. an htpasswd MD5 line is not taken as a plain
    /// password that happens to be its own hash.
    fn from_file_field(field: &str) -> Result<Secret, String> {
        let id = field
            .strip_prefix('$')
            .and_then(|rest| rest.split_once('$'))
            .map(|(id, _)| id)
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()));
        match id {
            Some("2a" | "2b" | "2y") => check_bcrypt(field).map(|()| Secret::Bcrypt(field.to_string())),
            Some("6") => check_sha_crypt(field, 86).map(|()| Secret::Sha512Crypt(field.to_string())),
            Some("5") => check_sha_crypt(field, 43).map(|()| Secret::Sha256Crypt(field.to_string())),
            Some(id) => Err(format!(
                "unsupported password hash '${id}$' (use bcrypt, as `htpasswd -B` makes, or SHA-512 crypt)"
            )),
            None if field.starts_with("{SHA}") => {
                Err("unsupported password hash '{SHA}' (use bcrypt, as `htpasswd -B` makes)".into())
            }
            None => Ok(Secret::Plain(sha256(field.as_bytes()))),
        }
    }
}

/// The crypt alphabet (`./0-9A-Za-z`), which bcrypt uses too.
fn is_crypt_b64(s: &str) -> bool {
    s.bytes().all(|b| b == b'.' || b == b'/' || b.is_ascii_alphanumeric())
}

/// `$2b$NN$` and 53 characters of salt and hash, cost 4 to 31.
fn check_bcrypt(hash: &str) -> Result<(), String> {
    let bad = || "not a valid bcrypt hash (expected $2b$NN$ and 53 characters)".to_string();
    let parts: Vec<&str> = hash.split('$').collect();
    match parts[..] {
        ["", _, cost, rest] if cost.len() == 2 && rest.len() == 53 && is_crypt_b64(rest) => {
            match cost.parse::<u32>() {
                Ok(4..=31) => Ok(()),
                _ => Err(format!("bcrypt cost '{cost}' is not between 04 and 31")),
            }
        }
        _ => Err(bad()),
    }
}

/// `$6$[rounds=N$]salt$hash` (`$5$` likewise) as glibc writes it: at most
/// 16 salt characters, a hash of `hash_len` characters, rounds within
/// 1000 to 999999999.
fn check_sha_crypt(hash: &str, hash_len: usize) -> Result<(), String> {
    let parts: Vec<&str> = hash.split('$').collect();
    let (rounds, salt, digest) = match parts[..] {
        ["", _, rounds, salt, digest] if rounds.starts_with("rounds=") => (Some(&rounds[7..]), salt, digest),
        ["", _, salt, digest] => (None, salt, digest),
        _ => return Err("not a valid SHA crypt hash (expected $6$salt$hash)".into()),
    };
    if let Some(rounds) = rounds {
        match rounds.parse::<u64>() {
            Ok(1000..=999_999_999) if rounds.bytes().all(|b| b.is_ascii_digit()) => {}
            _ => return Err(format!("SHA crypt rounds '{rounds}' not between 1000 and 999999999")),
        }
    }
    if salt.len() > 16 || salt.contains(':') {
        return Err("SHA crypt salt longer than 16 characters".into());
    }
    if digest.len() != hash_len || !is_crypt_b64(digest) {
        return Err(format!("not a valid SHA crypt hash (expected {hash_len} hash characters)"));
    }
    Ok(())
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Where a user was given, for errors.
enum Origin<'a> {
    Arg,
    Line(&'a Path, usize),
}

impl std::fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Arg => f.write_str("argument --auth"),
            Origin::Line(path, n) => write!(f, "{}:{n}", path.display()),
        }
    }
}

impl Users {
    /// The users of `--auth USER:PASSWORD` (`plain`) and `--auth-file`;
    /// `None` when neither was given. Errors name the file and line.
    pub fn from_args(plain: &[(String, String)], file: Option<&Path>) -> Result<Option<Users>> {
        if plain.is_empty() && file.is_none() {
            return Ok(None);
        }
        let mut users = Vec::new();
        for (user, password) in plain {
            users.push((user.clone(), Secret::Plain(sha256(password.as_bytes())), Origin::Arg));
        }
        if let Some(path) = file {
            let text =
                std::fs::read(path).with_context(|| format!("cannot read --auth-file {}", path.display()))?;
            for (i, line) in text.split(|&b| b == b'\n').enumerate() {
                let origin = Origin::Line(path, i + 1);
                let line = std::str::from_utf8(line).map_err(|_| anyhow!("{origin}: not UTF-8 text"))?;
                let line = line.strip_suffix('\r').unwrap_or(line);
                if line.trim().is_empty() || line.trim_start().starts_with('#') {
                    continue;
                }
                let (user, field) =
                    line.split_once(':').ok_or_else(|| anyhow!("{origin}: expected user:password"))?;
                if user.is_empty() {
                    bail!("{origin}: empty user name");
                }
                let secret = Secret::from_file_field(field).map_err(|e| anyhow!("{origin}: {e}"))?;
                users.push((user.to_string(), secret, origin));
            }
            if users.is_empty() {
                bail!("{}: no users in the file", path.display());
            }
        }
        let mut names = HashSet::new();
        for (user, _, origin) in &users {
            if !names.insert(user.as_str()) {
                bail!("{origin}: user '{user}' given twice");
            }
        }
        Ok(Some(Users::new(users.into_iter().map(|(user, secret, _)| (user, secret)).collect())))
    }

    fn new(users: Vec<(String, Secret)>) -> Users {
        let entries: Vec<Entry> = users
            .into_iter()
            .map(|(name, secret)| Entry { name_digest: sha256(name.as_bytes()), name, secret })
            .collect();
        let mut counts = [0usize; 4];
        for e in &entries {
            counts[e.secret.kind()] += 1;
        }
        let common = (0..4).max_by_key(|&k| counts[k]).unwrap_or(0);
        let stand_in = entries.iter().position(|e| e.secret.kind() == common).unwrap_or(0);
        Users {
            entries,
            stand_in,
            pepper: random_key(),
            verified: Mutex::new(HashSet::new()),
            limiter: Mutex::new(FailureLimiter::default()),
        }
    }

    /// Whether `password` is `user`'s, taking as long whether or not the
    /// user exists, and whatever part of the password is right.
    pub fn check(&self, user: &str, password: &str) -> bool {
        // Remembered successes: found only with the right password.
        let key = self.verified_key(user, password);
        if lock(&self.verified).contains(&key) {
            return true;
        }
        // Every entry is compared, with no early exit, so the position of
        // the user in the list does not show.
        let wanted = sha256(user.as_bytes());
        let (mut index, mut found) = (self.stand_in as u64, Choice::from(0));
        for (i, entry) in self.entries.iter().enumerate() {
            let same = entry.name_digest.ct_eq(&wanted);
            index = u64::conditional_select(&index, &(i as u64), same);
            found |= same;
        }
        let Some(entry) = self.entries.get(index as usize) else { return false };
        let right = bool::from(found & Choice::from(u8::from(entry.secret.verify(password))));
        if right && entry.secret.is_hashed() {
            let mut verified = lock(&self.verified);
            if verified.len() >= VERIFIED_MAX {
                verified.clear();
            }
            verified.insert(key);
        }
        right
    }

    /// A check for one connection's requests, from `client`.
    pub fn authenticator(self: &Arc<Users>, client: IpAddr) -> ClientAuth {
        ClientAuth { users: Arc::clone(self), client }
    }

    /// The user names, in order (for tests and diagnostics).
    #[cfg(test)]
    fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }

    fn verified_key(&self, user: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.pepper);
        h.update((user.len() as u64).to_be_bytes());
        h.update(user.as_bytes());
        h.update(password.as_bytes());
        h.finalize().into()
    }
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.entries.iter().map(|e| e.name.as_str()).collect();
        f.debug_struct("Users").field("names", &names).finish_non_exhaustive()
    }
}

/// A poisoned lock still holds a usable set (every update is one step).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// 32 bytes no one outside this process knows: std's hash keys are
/// random per process (from the OS), so hashing counters with them will do.
fn random_key() -> [u8; 32] {
    let state = RandomState::new();
    let mut key = [0u8; 32];
    for (i, chunk) in key.chunks_mut(8).enumerate() {
        let mut h = state.build_hasher();
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    key
}

/// Failures are counted per IPv4 address, and per /64 for IPv6: one
/// subscriber commonly holds a whole /64, so single addresses would give
/// a guesser 2^64 fresh starts.
fn limiter_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// The check for one client's requests: [`Users`], the client's failure
/// count (10 within 60 s, then 429 until the minute is over), the clock.
pub struct ClientAuth {
    users: Arc<Users>,
    client: IpAddr,
}

impl Authenticator for ClientAuth {
    fn authenticate(&mut self, credentials: Option<(&str, &str)>) -> Verdict {
        let key = limiter_key(self.client);
        if let Some(secs) = lock(&self.users.limiter).retry_after(&key, Instant::now()) {
            return Verdict::Throttle { retry_after_secs: secs };
        }
        let Some((user, password)) = credentials else { return Verdict::Deny { user: None } };
        if self.users.check(user, password) {
            Verdict::Allow { user: user.to_string() }
        } else {
            lock(&self.users.limiter).record_failure(key, Instant::now());
            Verdict::Deny { user: Some(user.to_string()) }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// bcrypt of "secret" at cost 4 (made with the bcrypt crate; glibc's crypt agrees).
    const BCRYPT_SECRET: &str = "$2b$04$5Elup7ffHaKJKFv45CX6TefNA1EwfJ.l6n4Eg6gnLIeF5NLyg9yL2";
    /// SHA-512 crypt of "pw6" with 1000 rounds, made by glibc's crypt
    /// (Python's `crypt`), to check the crate against another implementation.
    const GLIBC_SHA512_PW6: &str =
        "$6$rounds=1000$saltsalt$NTEhvgGayDoG2v7Og8tbN8hevsSrIOqmeEUoHNgzFloeJkagL/2dlWvb01wNqz5vXd7K4rK3.xwvf1zudkUbg1";

    struct TempFile(PathBuf);

    impl TempFile {
        fn new(text: &str) -> TempFile {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "httpserver-auth-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::write(&path, text).unwrap();
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn plain(pairs: &[(&str, &str)]) -> Users {
        let pairs: Vec<(String, String)> =
            pairs.iter().map(|(u, p)| (u.to_string(), p.to_string())).collect();
        Users::from_args(&pairs, None).unwrap().unwrap()
    }

    fn from_file(text: &str) -> Result<Users> {
        let f = TempFile::new(text);
        Users::from_args(&[], Some(&f.0)).map(|u| u.unwrap())
    }

    fn file_error(text: &str) -> String {
        let f = TempFile::new(text);
        let err = Users::from_args(&[], Some(&f.0)).unwrap_err().to_string();
        err.replace(&f.0.display().to_string(), "FILE")
    }

    #[test]
    fn no_options_no_users() {
        assert!(Users::from_args(&[], None).unwrap().is_none());
    }

    #[test]
    fn plain_passwords() {
        let users = plain(&[("bob", "secret"), ("alice", "a:b"), ("eve", "")]);
        assert!(users.check("bob", "secret"));
        assert!(users.check("alice", "a:b"));
        assert!(users.check("eve", ""));
        assert!(!users.check("bob", "secre"));
        assert!(!users.check("bob", "secret "));
        assert!(!users.check("bob", ""));
        assert!(!users.check("alice", "secret"), "another user's password");
        assert!(!users.check("mallory", "secret"), "unknown user with a known password");
        assert!(!users.check("", ""));
    }

    #[test]
    fn file_lines_of_every_kind() {
        let sha512 = sha_crypt::sha512_simple("pw6", &sha_crypt::Sha512Params::new(1000).unwrap()).unwrap();
        let sha256 = sha_crypt::sha256_simple("pw5", &sha_crypt::Sha256Params::new(1000).unwrap()).unwrap();
        let text = format!(
            "# users\n\nbob:{BCRYPT_SECRET}\r\n  # indented comment\ncarol:{sha512}\ndave:{sha256}\nerin:plain pw\n"
        );
        let users = from_file(&text).unwrap();
        assert_eq!(users.names(), ["bob", "carol", "dave", "erin"]);
        assert!(users.check("bob", "secret") && !users.check("bob", "Secret"));
        assert!(users.check("carol", "pw6") && !users.check("carol", "pw5"));
        assert!(users.check("dave", "pw5") && !users.check("dave", "pw6"));
        assert!(users.check("erin", "plain pw") && !users.check("erin", "plain"));
        let glibc = from_file(&format!("frank:{GLIBC_SHA512_PW6}\n")).unwrap();
        assert!(glibc.check("frank", "pw6") && !glibc.check("frank", "pw5"));
        // Every bcrypt prefix htpasswd and PHP write.
        for prefix in ["$2a$", "$2y$"] {
            let hash = BCRYPT_SECRET.replacen("$2b$", prefix, 1);
            assert!(from_file(&format!("bob:{hash}\n")).unwrap().check("bob", "secret"), "{prefix}");
        }
    }

    #[test]
    fn args_and_file_together() {
        let f = TempFile::new("carol:c\n");
        let users = Users::from_args(&[("bob".into(), "b".into())], Some(&f.0)).unwrap().unwrap();
        assert!(users.check("bob", "b") && users.check("carol", "c"));
    }

    #[test]
    fn bad_files_name_the_line() {
        assert_eq!(file_error("bob:x\n\nnocolon\n"), "FILE:3: expected user:password");
        assert_eq!(file_error(":x\n"), "FILE:1: empty user name");
        assert_eq!(file_error("bob:x\nbob:y\n"), "FILE:2: user 'bob' given twice");
        assert_eq!(file_error("# nobody\n\n"), "FILE: no users in the file");
        assert!(
            from_file("bob:x\nal\u{e9}:p\u{e4}ss\n").unwrap().check("al\u{e9}", "p\u{e4}ss"),
            "UTF-8 is fine"
        );
        let f = TempFile::new("");
        std::fs::write(&f.0, b"bob:x\nal\xe9:y\n").unwrap();
        let err = Users::from_args(&[], Some(&f.0)).unwrap_err().to_string();
        assert!(err.ends_with(":2: not UTF-8 text"), "{err}");
        let apr1 = file_error("bob:$apr1$abc$defghijklmnopqrstuvwxy\n");
        assert!(apr1.starts_with("FILE:1: unsupported password hash '$apr1$'"), "{apr1}");
        assert!(file_error("bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n").starts_with("FILE:1: unsupported"));
        assert!(file_error("bob:$2b$04$short\n").starts_with("FILE:1: not a valid bcrypt hash"));
        let cost = BCRYPT_SECRET.replacen("$04$", "$32$", 1);
        assert!(file_error(&format!("bob:{cost}\n")).starts_with("FILE:1: bcrypt cost '32'"));
        assert!(file_error("bob:$6$salt$tooshort\n").starts_with("FILE:1: not a valid SHA crypt hash"));
        let missing = Users::from_args(&[], Some(Path::new("/nonexistent/users"))).unwrap_err();
        assert_eq!(
            format!("{missing:#}"),
            "cannot read --auth-file /nonexistent/users: No such file or directory (os error 2)"
        );
        let twice =
            Users::from_args(&[("bob".into(), "x".into()), ("bob".into(), "y".into())], None).unwrap_err();
        assert_eq!(twice.to_string(), "argument --auth: user 'bob' given twice");
    }

    #[test]
    fn verified_hashes_are_remembered_and_bounded() {
        let users = from_file(&format!("bob:{BCRYPT_SECRET}\n")).unwrap();
        assert!(users.check("bob", "secret"));
        assert_eq!(lock(&users.verified).len(), 1);
        assert!(users.check("bob", "secret"));
        assert!(!users.check("bob", "secret2"));
        assert_eq!(lock(&users.verified).len(), 1, "failures are not remembered");
        // Full: the next success starts over rather than growing the set.
        lock(&users.verified).clear();
        for i in 0..VERIFIED_MAX {
            lock(&users.verified).insert(sha256(&i.to_le_bytes()));
        }
        assert!(users.check("bob", "secret"));
        assert_eq!(lock(&users.verified).len(), 1);
        assert!(users.check("bob", "secret"));
        // Plain passwords are cheap: not remembered.
        let users = plain(&[("bob", "secret")]);
        assert!(users.check("bob", "secret"));
        assert!(lock(&users.verified).is_empty());
    }

    #[test]
    fn throttles_after_ten_failures_per_client() {
        let users = Arc::new(plain(&[("bob", "secret")]));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let mut auth = users.authenticator(a);
        for _ in 0..10 {
            assert_eq!(auth.authenticate(Some(("bob", "guess"))), Verdict::Deny { user: Some("bob".into()) });
        }
        match auth.authenticate(Some(("bob", "secret"))) {
            Verdict::Throttle { retry_after_secs } => assert!((1..=60).contains(&retry_after_secs)),
            other => panic!("{other:?}"),
        }
        // No credentials do not count; another client is not throttled.
        let mut other = users.authenticator("192.0.2.2".parse().unwrap());
        for _ in 0..20 {
            assert_eq!(other.authenticate(None), Verdict::Deny { user: None });
        }
        assert_eq!(other.authenticate(Some(("bob", "secret"))), Verdict::Allow { user: "bob".into() });
        // The same client on another connection: the counts are shared.
        let mut again = users.authenticator(a);
        assert!(matches!(again.authenticate(Some(("bob", "secret"))), Verdict::Throttle { .. }));
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let k = |s: &str| limiter_key(s.parse().unwrap());
        assert_eq!(k("2001:db8:1:2:aaaa::1"), k("2001:db8:1:2:bbbb::2"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
        assert_eq!(k("::ffff:192.0.2.1"), k("192.0.2.1"));
        assert_ne!(k("192.0.2.1"), k("192.0.2.2"));
    }

    /// How much longer `f` takes than `g`: the ratio of the quickest of
    /// `samples` timings of `batch` calls of each, taken in turn. Noise
    /// only adds time, so the quickest is nearest the cost itself.
    fn ratio(batch: usize, samples: usize, f: impl Fn() -> bool, g: impl Fn() -> bool) -> f64 {
        let time = |h: &dyn Fn() -> bool| {
            let start = Instant::now();
            for _ in 0..batch {
                assert!(!std::hint::black_box(h()));
            }
            start.elapsed().as_secs_f64().max(1e-9)
        };
        let (mut a, mut b) = (f64::MAX, f64::MAX);
        for _ in 0..samples {
            a = a.min(time(&f));
            b = b.min(time(&g));
        }
        a / b
    }

    /// Whether `f` and `g` take alike within a generous factor: this checks
    /// for a dependence (a gap of several times, as an early exit makes),
    /// not for nanoseconds, which a loaded test machine would blur.
    fn alike(ratio: f64, factor: f64, what: &str) {
        assert!((1.0 / factor..factor).contains(&ratio), "{what}: x{ratio:.2}");
    }

    /// One test, so that its parts do not run at once and slow each other.
    #[test]
    fn timing_shows_neither_prefix_nor_length_nor_existence() {
        let long = "correct horse battery staple ".repeat(20);
        let users = plain(&[("bob", &long), ("al", "x"), ("carol", "y")]);
        let near = format!("{}!", &long[..long.len() - 1]);
        let far = format!("!{}", &long[1..]);
        let r = ratio(20, 201, || users.check("bob", &near), || users.check("bob", &far));
        alike(r, 1.4, "matching prefix");
        let r = ratio(20, 201, || users.check("bob", "guess"), || users.check("al", "guess"));
        alike(r, 1.4, "stored password length");
        let r = ratio(20, 201, || users.check("bob", "guess"), || users.check("zed", "guess"));
        alike(r, 1.4, "unknown user");
        // With hashes, an unknown user still costs a verification: an
        // early exit would be a thousand times faster, so a wide bound
        // (these take milliseconds each, and a busy machine shows) will do.
        let users = from_file(&format!("bob:{BCRYPT_SECRET}\ncarol:{BCRYPT_SECRET}\n")).unwrap();
        let r = ratio(1, 25, || users.check("bob", "guess"), || users.check("mallory", "guess"));
        alike(r, 4.0, "unknown user (bcrypt)");
        let sha512 = sha_crypt::sha512_simple("pw", &sha_crypt::Sha512Params::new(1000).unwrap()).unwrap();
        let users = from_file(&format!("carol:{sha512}\n")).unwrap();
        let r = ratio(1, 25, || users.check("carol", "guess"), || users.check("mallory", "guess"));
        alike(r, 4.0, "unknown user (SHA-512 crypt)");
    }
}
