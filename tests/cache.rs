//! The small-file cache is never stale: files edited, truncated, replaced
//! by a rename, renamed away, deleted, reached through a renamed directory
//! or a retargeted link, between requests on one keep-alive connection and
//! on fresh ones, always come back as they are on disk. And with the watch
//! budget filled, everything is still served right (uncached).

mod support;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// Our server on `dir` (`-p HTTP/1.1`), with `env` set; killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(our_binary());
        cmd.args(["-p", "HTTP/1.1", "-d", dir.to_str().unwrap(), "-b", "127.0.0.1", "0"]);
        cmd.envs(env.iter().copied());
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        let port: u16 = first.split(" port ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
        Server { child, addr: SocketAddr::from(([127, 0, 0, 1], port)) }
    }

    /// The contents of the server's `/proc/PID/fdinfo` files.
    fn fdinfo(&self) -> Vec<String> {
        let dir = format!("/proc/{}/fdinfo", self.child.id());
        fs::read_dir(dir).unwrap().filter_map(|e| fs::read_to_string(e.unwrap().path()).ok()).collect()
    }

    /// The number of inotify watches the server holds: the cache is at
    /// work when there are some.
    fn inotify_watches(&self) -> usize {
        self.fdinfo().iter().map(|info| info.lines().filter(|l| l.starts_with("inotify wd:")).count()).sum()
    }

    /// How many of the server's inotify descriptors watch something.
    fn watching_descriptors(&self) -> usize {
        self.fdinfo().iter().filter(|info| info.lines().any(|l| l.starts_with("inotify wd:"))).count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One keep-alive connection (a new one after an error reply, which
/// closes it, as CPython's `send_error` does).
struct Client {
    addr: SocketAddr,
    stream: TcpStream,
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

impl Client {
    fn new(addr: SocketAddr) -> Client {
        Client { addr, stream: connect(addr) }
    }

    /// GET `path`: the status and body.
    fn get(&mut self, path: &str) -> (u16, Vec<u8>) {
        // One write: a request in pieces would wait on Nagle's algorithm.
        self.stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(self.stream.read(&mut byte).unwrap(), 1, "closed mid-head: {}", show(&head));
            head.push(byte[0]);
        }
        let r = parse_response(&head);
        let len: usize = r.header("Content-Length").map_or(0, |v| v.parse().unwrap());
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body).unwrap();
        if r.header("Connection") == Some("close") {
            self.stream = connect(self.addr);
        }
        (r.status(), body)
    }
}

/// What a GET of `path` must give now: the file's bytes, or 404.
fn expected(root: &Path, path: &str) -> (u16, Vec<u8>) {
    match fs::read(root.join(path.trim_start_matches('/'))) {
        Ok(bytes) => (200, bytes),
        Err(_) => (404, Vec::new()),
    }
}

fn check(client: &mut Client, addr: SocketAddr, root: &Path, path: &str, step: &str) {
    let (want_status, want) = expected(root, path);
    let (status, body) = client.get(path);
    assert_eq!(status, want_status, "{step}: {path} on the kept connection");
    if want_status == 200 {
        assert_eq!(body, want, "{step}: {path} stale on the kept connection");
    }
    let fresh =
        parse_response(&get(addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")));
    assert_eq!(fresh.status(), want_status, "{step}: {path} on a new connection");
    if want_status == 200 {
        assert_eq!(fresh.body, want, "{step}: {path} stale on a new connection");
    }
}

#[test]
fn changes_are_seen_on_the_very_next_request() {
    let dir = TempDir::new("cache");
    let root = dir.path();
    fs::create_dir_all(root.join("d/e")).unwrap();
    fs::write(root.join("a.txt"), b"first\n").unwrap();
    fs::write(root.join("d/e/deep.txt"), b"deep\n").unwrap();
    fs::write(root.join("target1.txt"), b"target one\n").unwrap();
    fs::write(root.join("target2.txt"), b"target two, longer\n").unwrap();
    std::os::unix::fs::symlink("target1.txt", root.join("link.txt")).unwrap();
    let server = Server::start(root, &[]);
    let addr = server.addr;
    let mut c = Client::new(addr);
    let paths = ["/a.txt", "/d/e/deep.txt", "/link.txt", "/b.txt", "/d2/e/deep.txt"];
    let all = |c: &mut Client, step: &str| {
        for path in paths {
            // Twice: the second is a cache hit when the first filled it.
            check(c, addr, root, path, step);
            check(c, addr, root, path, step);
        }
    };
    all(&mut c, "start");
    assert!(server.inotify_watches() > 0, "the cache is at work (it watches directories)");

    for round in 0..20u32 {
        let text = format!("round {round} {}\n", "x".repeat(round as usize));
        // Edited in place, shorter and longer.
        fs::write(root.join("a.txt"), text.as_bytes()).unwrap();
        all(&mut c, &format!("{round}: edited"));
        // Truncated.
        fs::OpenOptions::new().write(true).open(root.join("a.txt")).unwrap().set_len(3).unwrap();
        all(&mut c, &format!("{round}: truncated"));
        // Replaced by a rename over it (what editors do).
        fs::write(root.join(".a.txt.swp"), format!("replaced {round}\n")).unwrap();
        fs::rename(root.join(".a.txt.swp"), root.join("a.txt")).unwrap();
        all(&mut c, &format!("{round}: replaced"));
        // Renamed away, then another file renamed in.
        fs::rename(root.join("a.txt"), root.join("b.txt")).unwrap();
        all(&mut c, &format!("{round}: renamed away"));
        fs::rename(root.join("b.txt"), root.join("a.txt")).unwrap();
        // Deleted, then created again.
        fs::remove_file(root.join("a.txt")).unwrap();
        all(&mut c, &format!("{round}: deleted"));
        fs::write(root.join("a.txt"), format!("again {round}\n")).unwrap();
        all(&mut c, &format!("{round}: created"));
        // A directory on the way renamed, and back.
        fs::rename(root.join("d"), root.join("d2")).unwrap();
        all(&mut c, &format!("{round}: directory renamed"));
        fs::write(root.join("d2/e/deep.txt"), format!("deep {round}\n")).unwrap();
        all(&mut c, &format!("{round}: deep file edited"));
        fs::rename(root.join("d2"), root.join("d")).unwrap();
        all(&mut c, &format!("{round}: directory renamed back"));
        // A link retargeted.
        fs::remove_file(root.join("link.txt")).unwrap();
        let target = if round % 2 == 0 { "target2.txt" } else { "target1.txt" };
        std::os::unix::fs::symlink(target, root.join("link.txt")).unwrap();
        all(&mut c, &format!("{round}: link retargeted"));
        // The link's target edited.
        fs::write(root.join(target), format!("target edited {round}\n")).unwrap();
        all(&mut c, &format!("{round}: link target edited"));
    }
}

/// A file reached through a link (to another directory, or through a
/// linked directory) is still seen changed: its own directory may be
/// watched by no one.
#[test]
fn files_reached_through_links_are_never_stale() {
    let dir = TempDir::new("cache-symlinks");
    let root = dir.path();
    fs::create_dir_all(root.join("a")).unwrap();
    fs::create_dir_all(root.join("b")).unwrap();
    fs::write(root.join("a/real.txt"), b"one\n").unwrap();
    std::os::unix::fs::symlink("../a/real.txt", root.join("b/link.txt")).unwrap();
    std::os::unix::fs::symlink("a", root.join("c")).unwrap();
    // One server per path: a watch taken for one must not cover the other.
    for path in ["/b/link.txt", "/c/real.txt"] {
        let server = Server::start(root, &[]);
        let addr = server.addr;
        let mut c = Client::new(addr);
        for round in 0..10 {
            check(&mut c, addr, root, path, &format!("{round}"));
            check(&mut c, addr, root, path, &format!("{round}"));
            fs::write(root.join("a/real.txt"), format!("{path} round {round}\n")).unwrap();
        }
        check(&mut c, addr, root, path, "last");
    }
}

/// Files over the in-memory limit are kept open instead: edited in
/// place (same size and not), truncated, replaced or deleted, they too
/// come back as they are on disk, whole and by range.
#[test]
fn large_files_kept_open_are_never_stale() {
    let dir = TempDir::new("cache-large");
    let root = dir.path();
    let big = |round: u32, len: usize| -> Vec<u8> {
        (0..len).map(|i| b'a' + ((i as u32 + round) % 26) as u8).collect()
    };
    fs::write(root.join("big.bin"), big(0, 100_000)).unwrap();
    let server = Server::start(root, &[]);
    let addr = server.addr;
    let mut c = Client::new(addr);
    let range = |round: &str| {
        let reply = parse_response(&get(
            addr,
            "GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=70000-70009\r\nConnection: close\r\n\r\n",
        ));
        match fs::read(root.join("big.bin")) {
            Ok(disk) if disk.len() > 70_000 => {
                assert_eq!(reply.status(), 206, "{round}");
                assert_eq!(reply.body, disk[70_000..disk.len().min(70_010)], "{round}: stale range");
            }
            Ok(_) => assert_eq!(reply.status(), 416, "{round}"),
            Err(_) => assert_eq!(reply.status(), 404, "{round}"),
        }
    };
    // (A deleted file's link reads `.../big.bin (deleted)`.)
    let held_open = || {
        fs::read_dir(format!("/proc/{}/fd", server.child.id()))
            .unwrap()
            .filter_map(|e| fs::read_link(e.unwrap().path()).ok())
            .any(|target| target.to_string_lossy().contains("big.bin"))
    };
    for round in 1..8u32 {
        check(&mut c, addr, root, "/big.bin", &format!("{round}: before"));
        range(&format!("{round}: before"));
        assert!(held_open(), "{round}: the cache keeps the large file open");
        match round % 4 {
            // In place, the same size: only the bytes (and the time) change.
            0 => fs::write(root.join("big.bin"), big(round, 100_000)).unwrap(),
            1 => fs::write(root.join("big.bin"), big(round, 150_000 + round as usize)).unwrap(),
            2 => {
                fs::write(root.join(".big.tmp"), big(round, 90_000)).unwrap();
                fs::rename(root.join(".big.tmp"), root.join("big.bin")).unwrap();
            }
            _ => fs::OpenOptions::new()
                .write(true)
                .open(root.join("big.bin"))
                .unwrap()
                .set_len(70_005)
                .unwrap(),
        }
        check(&mut c, addr, root, "/big.bin", &format!("{round}: after"));
        range(&format!("{round}: after"));
    }
    // Deleted with no request after: let go of within the worker's sweep
    // (250 ms), so that the disk space comes back.
    assert!(held_open(), "held before the delete");
    fs::remove_file(root.join("big.bin")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while held_open() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!held_open(), "a deleted file is not held open");
    check(&mut c, addr, root, "/big.bin", "deleted");
}

/// With the watch budget (lowered for the test) filled, files under
/// directories beyond it are served uncached, and right.
#[test]
fn a_full_watch_budget_still_serves_fresh_bytes() {
    let dir = TempDir::new("cache-watches");
    let root = dir.path();
    let names: Vec<String> = (0..12).map(|i| format!("/dir{i}/f.txt")).collect();
    for (i, name) in names.iter().enumerate() {
        let path = root.join(name.trim_start_matches('/'));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, format!("file {i}\n")).unwrap();
    }
    let server = Server::start(root, &[("HTTPSERVER_TEST_CACHE_WATCHES", "4")]);
    let addr = server.addr;
    let mut c = Client::new(addr);
    for round in 0..5 {
        for name in &names {
            check(&mut c, addr, root, name, &format!("round {round}"));
        }
        let watches = server.inotify_watches();
        assert!((1..=4).contains(&watches), "within the budget: {watches}");
        for (i, name) in names.iter().enumerate() {
            fs::write(root.join(name.trim_start_matches('/')), format!("file {i} round {round}\n")).unwrap();
        }
    }
}

/// Every worker serves from one cache: however many workers (one per
/// core) answered the connections, the server holds one inotify
/// descriptor watching each directory once, where a cache per worker
/// would hold one per worker, each watching the same directories.
#[test]
fn one_cache_serves_every_worker() {
    let dir = TempDir::new("cache-shared");
    let root = dir.path();
    fs::create_dir_all(root.join("a/b")).unwrap();
    fs::write(root.join("a/b/f.txt"), b"shared\n").unwrap();
    let server = Server::start(root, &[]);
    // Fresh connections: each worker has its own accept queue, and the
    // kernel spreads connections across them.
    let fetch_each_time = |want: &[u8]| {
        for _ in 0..32 {
            let r = parse_response(&get(
                server.addr,
                "GET /a/b/f.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            ));
            assert_eq!((r.status(), r.body.as_slice()), (200, want));
        }
    };
    fetch_each_time(b"shared\n");
    assert_eq!(server.watching_descriptors(), 1);
    assert_eq!(server.inotify_watches(), 3, "the root, a and a/b, once each");
    // A change retires what was kept; what is read next is kept anew,
    // still in one place.
    fs::write(root.join("a/b/f.txt"), b"changed\n").unwrap();
    fetch_each_time(b"changed\n");
    assert_eq!(server.watching_descriptors(), 1);
    assert_eq!(server.inotify_watches(), 3);
}

/// Under concurrency: a writer replaces a file (write a new version,
/// rename it over the old) as fast as it can while clients on several
/// connections (spread over the workers, some kept alive, some fresh)
/// fetch it. A reply never shows a version older than the last one whose
/// rename completed before the request was sent, and is always one whole
/// version.
#[test]
fn replaced_under_load_never_older_than_the_last_completed_write() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let dir = TempDir::new("cache-concurrent");
    let root = dir.path().to_path_buf();
    let version = |n: u64| format!("version {n:06} {}\n", "x".repeat((n % 7) as usize * 100));
    fs::write(root.join("v.txt"), version(0)).unwrap();
    let server = Server::start(&root, &[]);
    let addr = server.addr;
    let published = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let checked = std::thread::scope(|s| {
        let clients: Vec<_> = (0..4)
            .map(|c| {
                let (published, done) = (&published, &done);
                s.spawn(move || {
                    let mut kept = Client::new(addr);
                    let mut n = 0u32;
                    while !done.load(Ordering::SeqCst) && n < 5_000 {
                        let floor = published.load(Ordering::SeqCst);
                        let body = if (n + c).is_multiple_of(4) {
                            let r = parse_response(&get(
                                addr,
                                "GET /v.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                            ));
                            assert_eq!(r.status(), 200);
                            r.body
                        } else {
                            let (status, body) = kept.get("/v.txt");
                            assert_eq!(status, 200);
                            body
                        };
                        let text = String::from_utf8(body).unwrap();
                        let seen: u64 = text[8..14].parse().unwrap_or_else(|_| panic!("torn: {text:?}"));
                        assert_eq!(text, version(seen), "one whole version");
                        assert!(seen >= floor, "stale: version {seen} after {floor} was in place");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        for v in 1..=300 {
            let tmp = root.join(".v.tmp");
            fs::write(&tmp, version(v)).unwrap();
            fs::rename(&tmp, root.join("v.txt")).unwrap();
            published.store(v, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(2));
        }
        done.store(true, Ordering::SeqCst);
        clients.into_iter().map(|c| c.join().unwrap()).collect::<Vec<u32>>()
    });
    assert!(checked.iter().all(|&n| n >= 20), "every client fetched while the writer ran: {checked:?}");
    // And the cache was in use (not a test of the uncached path): the
    // last version, kept again, is watched.
    let r = parse_response(&get(addr, "GET /v.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    assert_eq!(r.body, version(300).as_bytes());
    assert!(server.inotify_watches() >= 1);
}

/// A file with a second hard link is never cached: a write through the
/// other name, in a directory nobody watches, must still be seen.
#[test]
fn hard_linked_files_are_not_cached() {
    let base = TempDir::new("cache-links");
    let (root, elsewhere) = (base.path().join("root"), base.path().join("elsewhere"));
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(&elsewhere).unwrap();
    fs::write(root.join("h.txt"), b"one\n").unwrap();
    fs::hard_link(root.join("h.txt"), elsewhere.join("h.txt")).unwrap();
    let server = Server::start(&root, &[]);
    let mut c = Client::new(server.addr);
    for i in 0..5 {
        assert_eq!(c.get("/h.txt").1, fs::read(root.join("h.txt")).unwrap());
        // In place, through the other name (same inode).
        let mut f = fs::OpenOptions::new().write(true).truncate(true).open(elsewhere.join("h.txt")).unwrap();
        f.write_all(format!("written elsewhere {i}\n").as_bytes()).unwrap();
        drop(f);
        assert_eq!(c.get("/h.txt").1, format!("written elsewhere {i}\n").as_bytes());
    }
}

/// The names a listing page links to, in its order.
fn listed(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .split("<li><a href=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_string())
        .collect()
}

/// What the listing of `dir` must show now: its names sorted as CPython
/// sorts them (lower-cased), a directory (or a link to one) with `/`.
fn expected_listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            if e.path().is_dir() {
                name + "/"
            } else {
                name
            }
        })
        .collect();
    names.sort_by_key(|n| n.trim_end_matches('/').to_lowercase());
    names
}

#[test]
fn listings_are_never_stale() {
    let dir = TempDir::new("cache-listing");
    let root = dir.path();
    let listed_dir = root.join("d");
    fs::create_dir(&listed_dir).unwrap();
    for i in 0..50 {
        fs::write(listed_dir.join(format!("f{i:02}.txt")), b"x").unwrap();
    }
    fs::create_dir(root.join("elsewhere")).unwrap();
    let server = Server::start(root, &[]);
    let mut c = Client::new(server.addr);
    let step = |what: &str, c: &mut Client| {
        for _ in 0..3 {
            let (status, body) = c.get("/d/");
            assert_eq!(status, 200, "{what}");
            assert_eq!(listed(&body), expected_listing(&listed_dir), "{what}: stale listing");
        }
    };
    step("at first", &mut c);
    assert!(server.inotify_watches() > 0, "the listing is cached (directories watched)");
    fs::write(listed_dir.join("new.txt"), b"y").unwrap();
    step("a file created", &mut c);
    fs::rename(listed_dir.join("new.txt"), listed_dir.join("Renamed.txt")).unwrap();
    step("a file renamed", &mut c);
    fs::remove_file(listed_dir.join("f07.txt")).unwrap();
    step("a file deleted", &mut c);
    fs::create_dir(listed_dir.join("sub")).unwrap();
    step("a directory made", &mut c);
    fs::remove_dir(listed_dir.join("sub")).unwrap();
    fs::write(listed_dir.join("sub"), b"now a file").unwrap();
    step("a directory replaced by a file", &mut c);
    fs::rename(root.join("elsewhere"), listed_dir.join("moved-in")).unwrap();
    step("a directory moved in", &mut c);
    // A link among the entries: whether it leads to a directory can change
    // with no event in the listed directory, so such a listing is not kept.
    // (Its target is in a directory no listing or file made us watch.)
    let far = root.join("far");
    fs::create_dir(&far).unwrap();
    fs::write(far.join("target"), b"a file").unwrap();
    std::os::unix::fs::symlink(far.join("target"), listed_dir.join("link")).unwrap();
    step("a link to a file", &mut c);
    fs::remove_file(far.join("target")).unwrap();
    fs::create_dir(far.join("target")).unwrap();
    step("the link now leads to a directory", &mut c);
}
