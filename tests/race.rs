//! Symbolic links swapped or retargeted inside the served tree while
//! requests run.
//!
//! The server's guarantee: every open is confined by the kernel
//! (`openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` from a descriptor of
//! the root) and CGI scripts run by `execveat` from a confined descriptor of
//! their directory, so no swap, however timed, makes a reply come from
//! outside the root: not a file's bytes, not a listing's names, not a
//! script's output. A check-then-open design would fail these tests (the
//! `--follow-symlinks` control shows the race is real and observable).
//!
//! Each scenario runs a swapper thread that flips a name between a real
//! directory (or file) inside the root and a link out of it, as fast as it
//! can, while client threads request through that name. Counts and time
//! are bounded; each scenario must see no leak, a good number of genuine
//! inside replies (links inside the root are still followed; a test that
//! never reached the target would prove nothing), and at least one refusal
//! (so the swapped-in link was really looked up).

mod support;
use support::*;

use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rustix::fs::{renameat_with, RenameFlags, CWD};

/// What a file outside the root holds; no reply may ever contain it.
const SECRET: &str = "SECRET-OUTSIDE";
/// What the same file inside the root holds.
const INSIDE: &str = "INSIDE";

/// Requests and time allowed to one scenario.
const MAX_REQUESTS: usize = 2000;
const MAX_TIME: Duration = Duration::from_millis(1500);
/// Genuine inside replies a scenario must see to count as having raced.
const MIN_INSIDE: usize = 20;

/// Exchange the names `a` and `b` atomically (`renameat2(RENAME_EXCHANGE)`):
/// a lookup of either name always finds something, the real entry or the
/// link, never a gap. Errors are ignored (the swapper just tries again).
fn swap_names(a: &Path, b: &Path) {
    let _ = renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE);
}

/// A directory readable and searchable by everyone: when the server runs as
/// root its CGI scripts run as `nobody`, and a script refused only for lack
/// of permission would make the CGI tests pass for the wrong reason.
fn mkdir(p: &Path) {
    fs::create_dir_all(p).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
}

fn write(p: &Path, data: &str, mode: u32) {
    fs::write(p, data).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// `base/root` (served) and `base/outside` (its sibling, never served),
/// removed with `base`.
struct Tree {
    _base: TempDir,
    root: PathBuf,
    outside: PathBuf,
}

fn tree(tag: &str) -> Tree {
    let base = TempDir::new(tag);
    mkdir(base.path());
    let root = base.path().join("root");
    let outside = base.path().join("outside");
    mkdir(&root);
    mkdir(&outside);
    Tree { _base: base, root, outside }
}

/// What the clients of one scenario saw.
#[derive(Debug, Default)]
struct Tally {
    requests: usize,
    /// 200 with the inside content.
    inside: usize,
    not_found: usize,
    /// Anything else (a 500, a 301, a cut connection...).
    other: usize,
    /// Replies holding the secret, shown.
    leaks: Vec<String>,
    /// A few of the `other` replies, shown.
    other_samples: Vec<String>,
    swaps: usize,
    elapsed: Duration,
}

impl Tally {
    fn merge(&mut self, t: Tally) {
        self.requests += t.requests;
        self.inside += t.inside;
        self.not_found += t.not_found;
        self.other += t.other;
        self.leaks.extend(t.leaks);
        for s in t.other_samples {
            if self.other_samples.len() < 3 {
                self.other_samples.push(s);
            }
        }
    }

    fn report(&self, name: &str) {
        eprintln!(
            "{name}: {} requests in {:?} ({} swaps): {} inside, {} not found, {} other, {} leaks",
            self.requests,
            self.elapsed,
            self.swaps,
            self.inside,
            self.not_found,
            self.other,
            self.leaks.len()
        );
        for s in &self.other_samples {
            eprintln!("  other: {s}");
        }
    }

    /// The guarantee, and evidence that the race really ran.
    fn assert_confined(&self, name: &str) {
        self.report(name);
        assert!(
            self.leaks.is_empty(),
            "{name}: {} of {} replies came from outside the root; first:\n{}",
            self.leaks.len(),
            self.requests,
            self.leaks[0]
        );
        assert!(self.swaps > 0, "{name}: the swapper never swapped");
        assert!(
            self.inside >= MIN_INSIDE,
            "{name}: only {} genuine inside replies of {}: the race proves nothing ({self:?})",
            self.inside,
            self.requests
        );
        assert!(self.not_found >= 1, "{name}: no request ever met the swapped-in link ({self:?})");
    }
}

/// How a scenario ends: after `max_requests` or `max_time`, or at the first
/// leak (for the control, which only needs to see one).
struct Limits {
    max_requests: usize,
    max_time: Duration,
    stop_at_first_leak: bool,
}

const BOUNDED: Limits = Limits { max_requests: MAX_REQUESTS, max_time: MAX_TIME, stop_at_first_leak: false };

/// CGI requests fork a script each and pass more lookups (each must find
/// the inside state for the script to run), so they get more time to
/// gather [`MIN_INSIDE`] inside replies on a busy machine.
const CGI_BOUNDED: Limits =
    Limits { max_requests: MAX_REQUESTS, max_time: Duration::from_secs(3), stop_at_first_leak: false };

/// Run `swap` in a loop on one thread while two client threads `GET
/// target` (HTTP/1.0, a connection each) until `limits` say stop; classify
/// every reply. A reply is inside when it is a 200 whose body holds
/// `inside`, and a leak when any of its bytes hold `secret`. Every thread
/// is joined before this returns.
fn race(
    addr: SocketAddr,
    target: &str,
    inside: &str,
    secret: &str,
    limits: &Limits,
    swap: impl FnMut() + Send,
) -> Tally {
    let request = format!("GET {target} HTTP/1.0\r\n\r\n");
    let stop = AtomicBool::new(false);
    let leaked = AtomicBool::new(false);
    let issued = AtomicUsize::new(0);
    let start = Instant::now();
    let deadline = start + limits.max_time;
    let mut swap = swap;
    std::thread::scope(|scope| {
        let swapper = scope.spawn(|| {
            let mut swaps = 0;
            while !stop.load(Ordering::Relaxed) {
                swap();
                swaps += 1;
            }
            swaps
        });
        let client = || {
            let mut t = Tally::default();
            while Instant::now() < deadline
                && issued.fetch_add(1, Ordering::Relaxed) < limits.max_requests
                && !(limits.stop_at_first_leak && leaked.load(Ordering::Relaxed))
            {
                let raw = get(addr, &request);
                t.requests += 1;
                if raw.windows(secret.len()).any(|w| w == secret.as_bytes()) {
                    leaked.store(true, Ordering::Relaxed);
                    t.leaks.push(show(&raw));
                    continue;
                }
                let parsed = raw.windows(4).any(|w| w == b"\r\n\r\n").then(|| parse_response(&raw));
                match parsed {
                    Some(r)
                        if r.status() == 200
                            && r.body.windows(inside.len()).any(|w| w == inside.as_bytes()) =>
                    {
                        t.inside += 1
                    }
                    Some(r) if r.status() == 404 => t.not_found += 1,
                    _ => {
                        t.other += 1;
                        if t.other_samples.len() < 3 {
                            t.other_samples.push(show(&raw));
                        }
                    }
                }
            }
            t
        };
        let clients = [scope.spawn(client), scope.spawn(client)];
        let results: Vec<_> = clients.into_iter().map(|c| c.join()).collect();
        stop.store(true, Ordering::Relaxed);
        let swaps = swapper.join().expect("swapper panicked");
        let mut tally = Tally { swaps, elapsed: start.elapsed(), ..Tally::default() };
        for r in results {
            tally.merge(r.expect("client panicked"));
        }
        tally
    })
}

/// Files: a directory exchanged with a link out of the root (absolute and
/// relative targets), a link retargeted between inside and outside, and the
/// file itself exchanged with a link to an outside file. `GET` through the
/// swapped name must give the inside file or a 404, never the outside one.
#[test]
fn swapped_links_never_serve_an_outside_file() {
    let t = tree("race-files");
    write(&t.outside.join("f.txt"), "SECRET-OUTSIDE\n", 0o644);
    let (root, outside) = (&t.root, &t.outside);

    // root/abs (real) <-> root/abs.link -> /.../outside
    mkdir(&root.join("abs"));
    write(&root.join("abs/f.txt"), "INSIDE\n", 0o644);
    symlink(outside, root.join("abs.link")).unwrap();
    // root/rel (real) <-> root/rel.link -> ../outside
    mkdir(&root.join("rel"));
    write(&root.join("rel/f.txt"), "INSIDE\n", 0o644);
    symlink("../outside", root.join("rel.link")).unwrap();
    // root/re -> re.real (inside) retargeted to -> /.../outside and back,
    // each time by a new link renamed over it.
    mkdir(&root.join("re.real"));
    write(&root.join("re.real/f.txt"), "INSIDE\n", 0o644);
    symlink("re.real", root.join("re")).unwrap();
    // root/file/f.txt (real) <-> root/file/f.link -> /.../outside/f.txt
    mkdir(&root.join("file"));
    write(&root.join("file/f.txt"), "INSIDE\n", 0o644);
    symlink(outside.join("f.txt"), root.join("file/f.link")).unwrap();

    let server = ServerProcess::ours(root, &[]);
    // Unswapped, each inside form is served and each outside form refused.
    for (path, status) in [
        ("/abs/f.txt", 200),
        ("/abs.link/f.txt", 404),
        ("/rel.link/f.txt", 404),
        ("/re/f.txt", 200),
        ("/file/f.link", 404),
    ] {
        let r = parse_response(&get(server.addr, &format!("GET {path} HTTP/1.0\r\n\r\n")));
        assert_eq!(r.status(), status, "{path}");
    }

    let (a, b) = (root.join("abs"), root.join("abs.link"));
    race(server.addr, "/abs/f.txt", INSIDE, SECRET, &BOUNDED, || swap_names(&a, &b))
        .assert_confined("directory <-> absolute link");

    let (a, b) = (root.join("rel"), root.join("rel.link"));
    race(server.addr, "/rel/f.txt", INSIDE, SECRET, &BOUNDED, || swap_names(&a, &b))
        .assert_confined("directory <-> relative link");

    let (link, tmp) = (root.join("re"), root.join("re.tmp"));
    let mut out = false;
    race(server.addr, "/re/f.txt", INSIDE, SECRET, &BOUNDED, || {
        out = !out;
        let _ = fs::remove_file(&tmp);
        let target = if out { outside.clone() } else { PathBuf::from("re.real") };
        if symlink(&target, &tmp).is_ok() {
            let _ = fs::rename(&tmp, &link);
        }
    })
    .assert_confined("link retargeted inside <-> outside");

    let (a, b) = (root.join("file/f.txt"), root.join("file/f.link"));
    race(server.addr, "/file/f.txt", INSIDE, SECRET, &BOUNDED, || swap_names(&a, &b))
        .assert_confined("file <-> link to an outside file");
}

/// Listings: a directory exchanged with a link out of the root (absolute
/// and relative). `GET /d/` must list the inside directory or give a 404,
/// never show a name from outside.
#[test]
fn swapped_links_never_list_an_outside_directory() {
    let t = tree("race-listing");
    write(&t.outside.join("secret-name.txt"), "x\n", 0o644);
    let root = &t.root;
    mkdir(&root.join("abs"));
    write(&root.join("abs/inside-name.txt"), "x\n", 0o644);
    symlink(&t.outside, root.join("abs.link")).unwrap();
    mkdir(&root.join("rel"));
    write(&root.join("rel/inside-name.txt"), "x\n", 0o644);
    symlink("../outside", root.join("rel.link")).unwrap();

    let server = ServerProcess::ours(root, &[]);
    let r = parse_response(&get(server.addr, "GET /abs.link/ HTTP/1.0\r\n\r\n"));
    assert_eq!(r.status(), 404, "the outside directory is not listed");

    for (name, d) in
        [("listing: directory <-> absolute link", "abs"), ("listing: directory <-> relative link", "rel")]
    {
        let (a, b) = (root.join(d), root.join(format!("{d}.link")));
        race(server.addr, &format!("/{d}/"), "inside-name.txt", "secret-name", &BOUNDED, || {
            swap_names(&a, &b)
        })
        .assert_confined(name);
    }
}

/// The script both sides hold: `INSIDE` or `SECRET-OUTSIDE` as plain text.
fn cgi_script(word: &str) -> String {
    format!("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n{word}\\n'\n")
}

/// `root/cgi-bin/sub/x.sh` prints INSIDE; `outside/sub/x.sh` prints
/// SECRET-OUTSIDE; `root/cgi-bin/evil -> outside/sub` is a standing link
/// out. Everything world-readable and executable.
fn cgi_tree(tag: &str) -> Tree {
    let t = tree(tag);
    mkdir(&t.root.join("cgi-bin/sub"));
    write(&t.root.join("cgi-bin/sub/x.sh"), &cgi_script(INSIDE), 0o755);
    mkdir(&t.outside.join("sub"));
    write(&t.outside.join("sub/x.sh"), &cgi_script(SECRET), 0o755);
    symlink(t.outside.join("sub"), t.root.join("cgi-bin/evil")).unwrap();
    t
}

/// The outside script is refused, not merely broken: with
/// `--follow-symlinks` the server runs it through the standing link (so it
/// is executable by whoever the server runs scripts as), without the flag
/// the same request is a 404.
#[test]
fn cgi_outside_script_is_refused_not_broken() {
    let t = cgi_tree("race-cgi-control");
    let follow = ServerProcess::ours(&t.root, &["--cgi", "--follow-symlinks"]);
    let raw = get(follow.addr, "GET /cgi-bin/evil/x.sh HTTP/1.0\r\n\r\n");
    assert!(show(&raw).contains(SECRET), "the outside script runs when links are followed: {}", show(&raw));
    drop(follow);

    let server = ServerProcess::ours(&t.root, &["--cgi"]);
    let raw = get(server.addr, "GET /cgi-bin/evil/x.sh HTTP/1.0\r\n\r\n");
    assert_eq!(parse_response(&raw).status(), 404, "{}", show(&raw));
    let raw = get(server.addr, "GET /cgi-bin/sub/x.sh HTTP/1.0\r\n\r\n");
    let r = parse_response(&raw);
    assert_eq!((r.status(), String::from_utf8_lossy(&r.body).as_ref()), (200, "INSIDE\n"), "{}", show(&raw));
}

/// CGI: the script's directory `cgi-bin/sub` exchanged with a link to an
/// outside directory holding a script of the same name. The script that
/// runs is always the inside one (or the request is refused).
#[test]
fn cgi_directory_swapped_for_a_link_never_runs_an_outside_script() {
    let t = cgi_tree("race-cgi-dir");
    let root = &t.root;
    symlink(t.outside.join("sub"), root.join("cgi-bin/sub.link")).unwrap();
    let server = ServerProcess::ours(root, &["--cgi"]);
    let (a, b) = (root.join("cgi-bin/sub"), root.join("cgi-bin/sub.link"));
    race(server.addr, "/cgi-bin/sub/x.sh", INSIDE, SECRET, &CGI_BOUNDED, || swap_names(&a, &b))
        .assert_confined("cgi: directory <-> link to an outside directory");
}

/// CGI: the script itself exchanged with a link to an outside script. The
/// server execs it with `AT_SYMLINK_NOFOLLOW`, but a `#!` script is then
/// opened again by its interpreter (as `/dev/fd/N/x.sh`): what that open
/// finds must be the inside script too.
#[test]
fn cgi_script_swapped_for_a_link_never_runs_an_outside_script() {
    let t = cgi_tree("race-cgi-file");
    let root = &t.root;
    symlink(t.outside.join("sub/x.sh"), root.join("cgi-bin/sub/x.link")).unwrap();
    let server = ServerProcess::ours(root, &["--cgi"]);
    let (a, b) = (root.join("cgi-bin/sub/x.sh"), root.join("cgi-bin/sub/x.link"));
    race(server.addr, "/cgi-bin/sub/x.sh", INSIDE, SECRET, &CGI_BOUNDED, || swap_names(&a, &b))
        .assert_confined("cgi: script <-> link to an outside script");
}

/// The control: with `--follow-symlinks` the same directory swap does
/// serve the outside file, so the race above is one the clients can see
/// and their zero-leak result is not vacuous. Ends at the first leak.
#[test]
fn control_with_follow_symlinks_the_swap_is_seen() {
    let t = tree("race-control");
    write(&t.outside.join("f.txt"), "SECRET-OUTSIDE\n", 0o644);
    mkdir(&t.root.join("d"));
    write(&t.root.join("d/f.txt"), "INSIDE\n", 0o644);
    symlink(&t.outside, t.root.join("d.link")).unwrap();
    let server = ServerProcess::ours(&t.root, &["--follow-symlinks"]);
    let (a, b) = (t.root.join("d"), t.root.join("d.link"));
    let limits = Limits { max_requests: 5000, max_time: Duration::from_secs(3), stop_at_first_leak: true };
    let tally = race(server.addr, "/d/f.txt", INSIDE, SECRET, &limits, || swap_names(&a, &b));
    tally.report("control (--follow-symlinks)");
    assert!(!tally.leaks.is_empty(), "the swap was never seen even with --follow-symlinks: {tally:?}");
}
