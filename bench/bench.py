#!/usr/bin/env python3
"""`make bench`: httpserver side by side with nginx, the Rust peers
static-web-server and miniserve, and `python3 -m http.server`, on loopback,
with wrk (and callgrind for the instruction counts). Every figure is a
ratio measured in one run: the servers take turns, round after round, and
the median of the per-round ratios (ours / theirs) is reported. Prints a
table and writes target/bench/latest.json. A full run takes about 19
minutes on this 2-core machine (plus the peers' build, the first time).

Cases (see the performance issue):
  1 keepalive  1 KiB file, keep-alive, 64 connections (-p HTTP/1.1 for us and CPython).
               CPython and miniserve send a response's head and its body in two
               writes with Nagle's algorithm on, so the body waits for the
               client's delayed ACK (about 40 ms): a sequential client gets some
               23 responses a second from either, and 64 connections get miniserve's
               at roughly 64 per 40 ms (the same shows on rows 5, 6, 7 and 9)
  2 close      1 KiB file, a new connection per request (our default HTTP/1.0);
               wrk sends `Connection: close`. static-web-server (hyper) then closes
               without saying `Connection: close` in its response, which wrk counts
               as a socket read error per request though every response came whole:
               a probe (one raw request per server) notes this under the row
  2b close11  the same with -p HTTP/1.1 for us and CPython (both protocol modes):
               the response then says `Connection: close` itself
  3 large      256 MiB file, 4 connections, MiB/s; each round also measures what
               `iperf3 -P 4` moves over loopback in the same time (the copy limit),
               noted under the row with our ratio to it
  4 listing    a 2,000-entry directory listing
  5 idle       5,000 idle keep-alive connections held open while case 1 runs on 16 more;
               each held connection must still answer one GET afterwards (one error
               per connection that does not, also noted apart under the row:
               miniserve, as actix-web does, answers 408 and closes a connection
               that has sent nothing for 5 s). CPython is left out (a thread each)
  6 range      1 KiB Range requests (bytes=START-END at a pseudo-random 1 KiB-aligned
               offset, a wrk Lua script seeded per thread) into a 64 MiB file,
               keep-alive, 64 connections (-p HTTP/1.1). Before measuring, each
               server must answer a mid-file range and the last 1 KiB with 206,
               the right Content-Range and the file's bytes (else it is left out
               of the row, with one error); a run averaging over 4 KiB per
               response counts every response as an error (a 200 is 2xx to wrk).
               CPython has no Range support (200 with the whole 64 MiB), so it is
               skipped on this row and reported as n/a
  7 tls-keepalive  case 1 over HTTPS: 1 KiB file, keep-alive, 64 connections
               (-p HTTP/1.1 for us), req/s
  8 tls-large  case 3 over HTTPS: 256 MiB file, 4 connections, MiB/s
  9 conn10k    10,000 concurrent keep-alive connections, each sending one request
               a second on average (wrk -c 10000 -t 2, with a Lua delay() drawing
               500 to 1,500 ms, seeded per wrk thread, so that connections opened
               in the same instant drift apart rather than send 10,000 requests at
               once every second: about 10,000 req/s in all), and once all 10,000
               are established (counted in /proc/net/tcp; at most 30 s) and 2 s
               more, a second wrk loads the server on 16 keep-alive connections
               for BENCH_DURATION with --latency (1 KiB file). Two rows: that
               load's p50 and its p99 latency, in ms (lower is better, so a ratio
               under 1 is ours being faster). Errors are both wrks' socket errors
               (connect, read, write, timeout at 10 s) and non-2xx responses,
               broken down under the row with the connections established; the
               10,000-connection wrk is stopped with SIGINT once the load is over
               (it then prints its totals). The resident memory with the 10,000
               connections open (the most seen, sampled every 0.5 s during the
               load) is reported for every server as <name>_conn10k_rss_kib (ours:
               target under 64 MiB). The connections need more than the usual
               1,024 open files: the bench raises its soft RLIMIT_NOFILE to the
               hard one (20,000 here, `ulimit -Hn`) for itself and, in a
               preexec_fn, for every child; ours raises its own soft limit anyway,
               nginx sets worker_rlimit_nofile 65536 and worker_connections 16384
               per worker (nginx.conf.in). Ours caps open connections at 10,000 by
               default and answers 503 past that (which the 16 load connections,
               opened last, would all get), so on this row only it runs with
               `--max-connections 11000`, as a user expecting that many would.
               CPython is left out (n/a): a thread per connection and a listen
               backlog of 5 (socketserver's request_queue_size)
 10 instructions  CPU instructions per request on the 1 KiB keep-alive case:
               perf stat has no hardware counters on this VM, so each server runs
               under `valgrind --tool=callgrind` twice, serving N1 and then N2
               sequential GETs of /1k.bin over one keep-alive connection from
               Python's http.client (every response checked: 200, 1,024 bytes),
               and is stopped with SIGTERM; callgrind's `totals:` line gives
               Ir(N), and (Ir(N2) - Ir(N1)) / (N2 - N1) is the figure, start-up,
               the readiness probe and shutdown cancelling out. N1=500, N2=2500;
               CPython, whose replies wait for the client's delayed ACK (about
               40 ms each: the header and the body go out as two writes with Nagle
               on), gets N1=50, N2=250. nginx runs as one process (`master_process
               off; daemon off;`, its conf otherwise nginx.conf.in's). Measured
               once, not per round: run to run the figures agree within about 1%
               here (CPython's, from fewer requests, least; the multi-threaded
               peers' include some timer work, which grows with a run's length).
               About 1 minute in all
plus each server's peak and idle resident memory (idle: freshly started,
no connection, measured whatever the selection).

The servers and their command lines (P a free port, DIR the served tree;
each is started afresh for every row and round):
  httpserver  target/release/httpserver -b 127.0.0.1 -d DIR -p PROTOCOL P
              (built first with `cargo build --release -p httpserver`; PROTOCOL
              is HTTP/1.1 except on case 2; + --tls-cert/--tls-key on 7 and 8,
              + --max-connections 11000 on 9)
  nginx       nginx -c CONF, CONF from bench/nginx.conf.in: two workers,
              sendfile, keep-alive, autoindex, access_log to a file (Debian's
              nginx-light, installed with wrk when missing)
  sws         static-web-server --host 127.0.0.1 --port P --root DIR
              --directory-listing true --log-level info --log-remote-address true
              (listing on, as http.server lists directories; info level with the
              remote address is its per-request log line; keep-alive is its
              default; TLS: --http2 true --http2-tls-cert C --http2-tls-key K,
              its only way to HTTPS, which still answers ALPN http/1.1)
  miniserve   miniserve --verbose -i 127.0.0.1 -p P DIR (--verbose is what emits
              its access log; listing and keep-alive are its defaults; TLS:
              --tls-cert C --tls-key K)
  cpython     python3 -m http.server -b 127.0.0.1 -d DIR -p PROTOCOL P
              (the interpreter running the bench; logs each request to stderr)
Logging is on for every server, as a user runs them, and every log goes to
a file in the run's temp dir (<name>.log for stderr, nginx-access.log),
never to a terminal or /dev/null. Every child (server, wrk, valgrind) gets
the raised RLIMIT_NOFILE and SIGINT at its default action.

The peers are pinned and installed from crates.io when missing, built with
the stable Rust here: `cargo install --locked --force --version V --root
target/bench-peers CRATE` when the binary there is missing or reports
another version (a few minutes each, once); `make clean` (cargo
clean) removes them with the rest of target/. Versions as of this writing:
static-web-server 2.44.1 and miniserve 0.35.0 (both build with rustc 1.95);
nginx 1.22.1 (Debian 12); CPython as run. A peer that will not install is
left out of every row, with the reason. The versions found are printed at
the start and recorded in the JSON (`versions`).

The TLS rows (7, 8) use a throwaway certificate made once per run in the
temp dir with the openssl command line: ECDSA on P-256 (which rustls with
ring and nginx's OpenSSL both handle), subjectAltName IP:127.0.0.1. Each
server is started afresh with TLS for them, as for every row: ours with
--tls-cert/--tls-key, nginx from nginx.conf.in with its listen turned into
`ssl` (TLSv1.2 and TLSv1.3, ssl_session_cache shared:SSL:1m, sendfile on,
and `ssl_conf_command Options KTLS`, which an OpenSSL 3 built with kTLS, as
Debian's is, acts on only when the kernel's tls module is there: without it
setsockopt(TCP_ULP, "tls") fails with ENOENT and it encrypts in user space). Before measuring, each server must answer
one GET of the row's file through Python's ssl, verifying the certificate
as the CA, with 200, ALPN http/1.1 and the file's bytes (else it is left
out of the row, with one error); the protocol and cipher each negotiated
are printed. Whether kernel TLS was used is read off /proc/net/tls_stat
(TlsTxSw and TlsTxDevice counting up while a server runs) and noted under
the row; ours has no kTLS, and nginx only gets it with the module loaded
(`modprobe tls`; the file is absent without it). CPython before 3.14 has no
TLS in http.server, so it is skipped on these rows and reported as n/a
(3.14's --tls-cert/--tls-key are used when the interpreter has them); so
is a BENCH_BASELINE build without --tls-cert.

BENCH_CASES=range,keepalive (comma-separated names from the list above,
default all; e.g. tls-keepalive,tls-large or conn10k,instructions) runs
only those cases, in the order above; idle memory is measured whatever the
selection. BENCH_ROUNDS (default 3) and BENCH_DURATION (wrk's -d, default
5s) set the rounds and each measurement's length.

BENCH_BASELINE=/path/to/another/httpserver adds that binary to every round
as "baseline" (an earlier build, say), reported as a ratio like the others:
a before/after comparison under the same conditions.
"""
import http.client
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
DURATION = os.environ.get("BENCH_DURATION", "5s")
THREADS = "2"
RANGE_FILE, RANGE_SIZE, RANGE_LEN = "/64m.bin", 64 << 20, 1024


PEER_ROOT = os.path.join(ROOT, "target", "bench-peers")
# The Rust peers: column name, crate, pinned version, binary.
PEERS = [("sws", "static-web-server", "2.44.1", "static-web-server"),
         ("miniserve", "miniserve", "0.35.0", "miniserve")]
# Ours on the 10,000-connection row: its default cap of 10,000 open
# connections is below the 10,016 the row opens (see the docstring).
MANY_CONNECTIONS = ["--max-connections", "11000"]


def child_setup():
    """preexec_fn for every child: the hard limit on open files as its soft
    one (10,000 connections need it), and SIGINT at its default action (a
    shell starting the bench in the background leaves it ignored, which
    Python servers inherit and then never stop on it)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def sh(*args, **kw):
    return subprocess.run(args, check=True, preexec_fn=child_setup, **kw)


def ensure_tools():
    missing = [p for p, b in (("wrk", "wrk"), ("nginx-light", "nginx")) if not shutil.which(b)]
    if any(c["key"] == "instructions" for c in selected_cases()) and not shutil.which("valgrind"):
        missing.append("valgrind")
    if any(c["key"] == "large" for c in selected_cases()) and not shutil.which("iperf3"):
        missing.append("iperf3")
    if missing:
        print("installing", " ".join(missing), flush=True)
        sh("apt-get", "update", "-qq")
        sh("apt-get", "install", "-y", "-qq", *missing, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
           stdout=subprocess.DEVNULL)


def version_of(argv):
    """The first line of argv's output that names a version, or why not."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "? (%s)" % e
    text = out.stdout + out.stderr
    line = next((l for l in text.splitlines() if re.search(r"\d+\.\d+", l)), text.strip()[:80])
    return re.sub(r"\s+", " ", line).strip()


def ensure_peers():
    """The pinned peers' binaries, built into target/bench-peers when
    missing or of another version: {name: path or None}, and {name: why}
    for those that could not be installed."""
    paths, why = {}, {}
    for name, crate, version, binary in PEERS:
        path = os.path.join(PEER_ROOT, "bin", binary)
        if not (os.access(path, os.X_OK) and version in version_of([path, "--version"])):
            print("installing %s %s into %s (once; a few minutes)" % (crate, version, PEER_ROOT), flush=True)
            log = os.path.join(PEER_ROOT, crate + "-install.log")
            os.makedirs(PEER_ROOT, exist_ok=True)
            with open(log, "w") as f:
                done = subprocess.run(["cargo", "install", "--locked", "--force", "--version", version, "--root",
                                       PEER_ROOT, crate], stdout=f, stderr=subprocess.STDOUT, cwd=PEER_ROOT)
            if done.returncode != 0 or not os.access(path, os.X_OK):
                why[name] = "n/a — `cargo install %s --version %s` failed (see %s)" % (crate, version, log)
                print("  " + why[name], flush=True)
                paths[name] = None
                continue
        paths[name] = path
    print("peers: %s" % ", ".join("%s %s" % (n, p) for n, p in paths.items() if p), flush=True)
    return paths, why


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_tree(root):
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "1k.bin"), "wb") as f:
        f.write(os.urandom(1024))
    with open(os.path.join(root, "64k.bin"), "wb") as f:
        f.write(os.urandom(64 * 1024))
    big = os.path.join(root, "256m.bin")
    with open(big, "wb") as f:
        chunk = os.urandom(1 << 20)
        for _ in range(256):
            f.write(chunk)
    # Fresh random bytes for every MiB, so that a range served from the
    # wrong offset cannot pass the correctness check by repetition.
    with open(os.path.join(root, RANGE_FILE.lstrip("/")), "wb") as f:
        for _ in range(RANGE_SIZE >> 20):
            f.write(os.urandom(1 << 20))
    listing = os.path.join(root, "listing")
    os.makedirs(listing, exist_ok=True)
    for i in range(2000):
        open(os.path.join(listing, "entry-%04d.txt" % i), "w").close()


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d never opened" % port)


class Server:
    """One server of the comparison. command(port, state, protocol, tls,
    many, single) -> (argv, log path): the command line that serves on
    port (tls: {"cert", "key"} for HTTPS, or None; many: the
    10,000-connection row; single: one foreground process, for callgrind).
    daemon: the command forks the server and exits (nginx); pids(server)
    then finds it. no_tls: why this server cannot serve the TLS rows, or
    None; missing: why it is left out of every row, or None."""

    def __init__(self, name, command, pids=None, no_tls=None, daemon=False, missing=None):
        self.name, self._command, self._pids, self.no_tls = name, command, pids, no_tls
        self.daemon, self.missing = daemon, missing
        self.proc = None
        self.port = None

    def command(self, port, state, protocol, tls=None, many=False, single=False):
        return self._command(port, state, protocol, tls, many, single)

    def start(self, state, protocol, tls=None, many=False):
        """tls: {"cert": path, "key": path} to serve HTTPS, else None."""
        self.port = free_port()
        argv, log = self.command(self.port, state, protocol, tls, many)
        with open(log, "ab") as f:
            self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=f, preexec_fn=child_setup)
        if self.daemon:
            if self.proc.wait(timeout=30) != 0:
                raise RuntimeError("%s failed to start: %s" % (self.name, " ".join(argv)))
        wait_port(self.port)
        time.sleep(0.2)

    def pids(self):
        if self._pids:
            return self._pids(self)
        return [self.proc.pid] if self.proc and self.proc.poll() is None else []

    def rss_kib(self, field="VmRSS"):
        total = 0
        for pid in self.pids():
            try:
                with open("/proc/%d/status" % pid) as f:
                    for line in f:
                        if line.startswith(field + ":"):
                            total += int(line.split()[1])
            except OSError:
                pass
        return total

    def stop(self):
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        time.sleep(0.2)


def tls_args(tls):
    return ["--tls-cert", tls["cert"], "--tls-key", tls["key"]] if tls else []


# What the TLS rows add to nginx.conf.in's server block, its listen made `ssl`.
NGINX_TLS = """
    ssl_certificate @CERT@;
    ssl_certificate_key @KEY@;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:1m;
    sendfile on;
    # Kernel TLS: acted on by OpenSSL 3 only when the kernel has the tls
    # module (then with SSL_sendfile); else plain SSL_write, silently.
    ssl_conf_command Options KTLS;
"""


def nginx_tls_conf(conf, tls):
    listen = re.search(r"^(\s*listen 127\.0\.0\.1:\d+)( reuseport;)$", conf, re.M)
    if not listen:
        raise RuntimeError("nginx.conf.in: no `listen 127.0.0.1:@PORT@ reuseport;` line to make ssl")
    extra = NGINX_TLS.replace("@CERT@", tls["cert"]).replace("@KEY@", tls["key"])
    return conf[:listen.start()] + listen.group(1) + " ssl" + listen.group(2) + extra + conf[listen.end() + 1:]


def nginx_single_conf(conf):
    """nginx.conf.in as one foreground process, for callgrind (and its own
    pid file, so that a stale one cannot point the other rows' stop at a
    reused pid)."""
    for old, new in (("worker_processes 2;", "worker_processes 1;\nmaster_process off;"),
                     ("daemon on;", "daemon off;"), ("/nginx.pid;", "/nginx-single.pid;")):
        if old not in conf:
            raise RuntimeError("nginx.conf.in: no %r to change for one process" % old)
        conf = conf.replace(old, new)
    return conf


def servers(state, www, binary, baseline=None, peers=None, peer_missing=None):
    peers, peer_missing = peers or {}, peer_missing or {}

    def log(name):
        return os.path.join(state, name + ".log")

    def build(path, name, many_ok=True):
        def command(port, state, protocol, tls, many, single):
            many_args = MANY_CONNECTIONS if many and many_ok else []
            return [path, "-b", "127.0.0.1", "-d", www, "-p", protocol, *tls_args(tls), *many_args,
                    str(port)], log(name)
        return command

    def cpython(port, state, protocol, tls, many, single):
        return [sys.executable, "-m", "http.server", "-b", "127.0.0.1", "-d", www, "-p", protocol,
                *tls_args(tls), str(port)], log("cpython")

    def nginx(port, state, protocol, tls, many, single):
        with open(os.path.join(ROOT, "bench", "nginx.conf.in")) as f:
            conf = f.read().replace("@ROOT@", www).replace("@PORT@", str(port)).replace("@STATE@", state)
        if tls:
            conf = nginx_tls_conf(conf, tls)
        if single:
            conf = nginx_single_conf(conf)
        path = os.path.join(state, "nginx%s%s.conf" % ("-tls" if tls else "", "-single" if single else ""))
        with open(path, "w") as f:
            f.write(conf)
        return ["nginx", "-c", path, "-e", os.path.join(state, "nginx-error.log")], log("nginx")

    def sws(port, state, protocol, tls, many, single):
        https = ["--http2", "true", "--http2-tls-cert", tls["cert"], "--http2-tls-key", tls["key"]] if tls else []
        return [peers["sws"], "--host", "127.0.0.1", "--port", str(port), "--root", www,
                "--directory-listing", "true", "--log-level", "info", "--log-remote-address", "true",
                *https], log("sws")

    def miniserve(port, state, protocol, tls, many, single):
        return [peers["miniserve"], "--verbose", "-i", "127.0.0.1", "-p", str(port), *tls_args(tls), www], \
            log("miniserve")

    def nginx_pids(s):
        try:
            with open(os.path.join(state, "nginx.pid")) as f:
                master = int(f.read().strip())
        except (OSError, ValueError):
            return []
        out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
        return [master] + [int(p) for p in out]

    def has_flag(path, flag):
        out = subprocess.run([path, "--help"], capture_output=True, text=True)
        return flag in out.stdout + out.stderr

    cpython_tls = None if sys.version_info >= (3, 14) else \
        "n/a — no TLS in CPython %d.%d's http.server (--tls-cert came in 3.14)" % sys.version_info[:2]
    srvs = [Server("httpserver", build(binary, "httpserver"))]
    srvs.append(Server("nginx", nginx, nginx_pids, daemon=True))
    for name, command in (("sws", sws), ("miniserve", miniserve)):
        srvs.append(Server(name, command, missing=None if peers.get(name) else
                           peer_missing.get(name, "n/a — not installed")))
    srvs.append(Server("cpython", cpython, no_tls=cpython_tls))
    if baseline:
        srvs.append(Server("baseline", build(baseline, "baseline", has_flag(baseline, "--max-connections")),
                           no_tls=None if has_flag(baseline, "--tls-cert") else "n/a — this build has no --tls-cert"))
    return srvs


def wrk_argv(port, path, conns, extra=(), scheme="http", duration=None):
    return ["wrk", "-t", THREADS, "-c", str(conns), "-d", duration or DURATION, "--timeout", "10s", *extra,
            "%s://127.0.0.1:%d%s" % (scheme, port, path)]


def wrk(port, path, conns, extra=(), scheme="http"):
    out = subprocess.run(wrk_argv(port, path, conns, extra, scheme), capture_output=True, text=True,
                         preexec_fn=child_setup).stdout
    return parse_wrk(out)


def parse_wrk(out):
    """wrk's report as numbers: req/s, MiB/s, socket errors (connect, read,
    write and timeout, and each on its own), non-2xx/3xx responses,
    requests, bytes per request, and with --latency the percentiles in ms."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not rps:
        raise RuntimeError("wrk printed no Requests/sec:\n" + out)
    tr = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    scale = {"B": 1 / 2**20, "KB": 1 / 1024, "MB": 1, "GB": 1024}[tr.group(2)]
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = dict(zip(("connect", "read", "write", "timeout"), map(int, errors.groups()))) if errors else {}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = re.search(r"(\d+) requests in [\d.]+\w+, ([\d.]+)(\w+) read", out)
    reqs = int(total.group(1)) if total else 0
    read = float(total.group(2)) * {"B": 1, "KB": 1024, "MB": 2**20, "GB": 2**30, "TB": 2**40}[total.group(3)] \
        if total else 0
    latency = {}
    for pct, value, unit in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        latency["p" + pct] = float(value) * {"us": 1e-3, "ms": 1, "s": 1e3}[unit]
    return {"rps": float(rps.group(1)), "mib_s": float(tr.group(1)) * scale,
            "errors": sum(socket_errors.values()), "socket_errors": socket_errors,
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "requests": reqs,
            "bytes_per_request": read / reqs if reqs else 0, "latency_ms": latency}


# wrk's Lua: every request asks for RANGE_LEN bytes at a 1 KiB-aligned offset
# drawn from math.random, seeded with a fixed number per thread (threads get
# ids 1, 2, ... in setup(), run in the main Lua state).
RANGE_LUA = """
local blocks = %(size)d / %(len)d
local n = 0
function setup(thread)
  n = n + 1
  thread:set("id", n)
end
function init(args)
  math.randomseed(20240 + id)
end
function request()
  local start = math.random(0, blocks - 1) * %(len)d
  return wrk.format("GET", wrk.path, {["Range"] = "bytes=" .. start .. "-" .. (start + %(len)d - 1)})
end
""" % {"size": RANGE_SIZE, "len": RANGE_LEN}


def write_range_script(state):
    path = os.path.join(state, "range.lua")
    with open(path, "w") as f:
        f.write(RANGE_LUA)
    return path


def wrk_range(port, state):
    r = wrk(port, RANGE_FILE, 64, ("-s", os.path.join(state, "range.lua")))
    # A 206 of 1 KiB is about 1.3 KiB on the wire. A server that ignored
    # Range would answer 200 (2xx, so wrk counts nothing) with the whole
    # file: count all its responses as wrong rather than report its rate.
    if r["bytes_per_request"] > 4 * RANGE_LEN:
        print("  range: %.0f bytes per response on port %d, not 1 KiB ranges" % (r["bytes_per_request"], port),
              flush=True)
        r["non2xx"] += max(r["requests"], 1)
    return r


def check_range(port, www):
    """One request for a 1 KiB range mid-file and one for the last 1 KiB:
    None when both come back 206 with the right Content-Range and the
    file's bytes, else what went wrong. Never reads a 200's body."""
    with open(os.path.join(www, RANGE_FILE.lstrip("/")), "rb") as f:
        for start in (random.Random(7).randrange(RANGE_SIZE // RANGE_LEN) * RANGE_LEN, RANGE_SIZE - RANGE_LEN):
            end = start + RANGE_LEN - 1
            f.seek(start)
            want = f.read(RANGE_LEN)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                conn.request("GET", RANGE_FILE, headers={"Range": "bytes=%d-%d" % (start, end)})
                resp = conn.getresponse()
                if resp.status != 206:
                    return "bytes=%d-%d answered %d, not 206" % (start, end, resp.status)
                cr = resp.getheader("Content-Range")
                if cr != "bytes %d-%d/%d" % (start, end, RANGE_SIZE):
                    return "bytes=%d-%d answered Content-Range %r" % (start, end, cr)
                got = resp.read()
                if got != want:
                    return "bytes=%d-%d answered %d bytes, not the file's %d there" % (
                        start, end, len(got), RANGE_LEN)
            except (OSError, http.client.HTTPException) as e:
                return "bytes=%d-%d: %s" % (start, end, e)
            finally:
                conn.close()
    return None


def probe_close(port):
    """Row 2's note: a server that closes after a response to `Connection:
    close` without saying so in the response (hyper's way, so
    static-web-server's) makes wrk count every request as a read error,
    though each response came whole. None when the response says it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /1k.bin HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        got = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
    head, _, body = got.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if lines[0].startswith("HTTP/1.0") or any(
            l.lower().startswith("connection:") and "close" in l.lower() for l in lines[1:]):
        return None
    return ("answers %s without `Connection: close`, then closes (the %d-byte body whole): wrk counts each such "
            "close as a socket read error" % (lines[0].split(" ")[0], len(body)))


def make_cert(state):
    """A throwaway self-signed certificate for the TLS rows: ECDSA P-256,
    for IP 127.0.0.1. Returns {"cert": path, "key": path}."""
    tls = {"cert": os.path.join(state, "tls-cert.pem"), "key": os.path.join(state, "tls-key.pem")}
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
       "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
       "-keyout", tls["key"], "-out", tls["cert"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return tls


def check_tls(path):
    """A check for a TLS row: one GET of path through Python's ssl, the
    throwaway certificate as the only CA (so its name, IP 127.0.0.1, is
    verified), must answer 200 with ALPN http/1.1 and the file's bytes."""
    def check(port, www, tls, label):
        ctx = ssl.create_default_context(cafile=tls["cert"])
        ctx.set_alpn_protocols(["http/1.1"])
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=ctx)
        try:
            conn.request("GET", path)
            sock = conn.sock  # gone from conn once a response that closes is read
            resp = conn.getresponse()
            print("  %s: %s %s" % (label, sock.version(), sock.cipher()[0]), flush=True)
            if resp.status != 200:
                return "GET %s over TLS answered %d, not 200" % (path, resp.status)
            if sock.selected_alpn_protocol() != "http/1.1":
                return "ALPN chose %r, not http/1.1" % sock.selected_alpn_protocol()
            got = 0
            with open(os.path.join(www, path.lstrip("/")), "rb") as f:
                while True:
                    want = f.read(1 << 20)
                    part = resp.read(len(want)) if want else resp.read(1)
                    if part != want:
                        return "GET %s over TLS: bytes from %d differ from the file's" % (path, got)
                    if not want:
                        break
                    got += len(want)
        except (OSError, ssl.SSLError, http.client.HTTPException) as e:
            return "GET %s over TLS: %s" % (path, e)
        finally:
            conn.close()
        return None
    return check


TLS_STAT = "/proc/net/tls_stat"


def tls_stat():
    """The kernel's TLS counters (TlsTxSw, TlsTxDevice, ...), or None when
    the kernel has no TLS (CONFIG_TLS off, or the tls module not loaded)."""
    try:
        with open(TLS_STAT) as f:
            return {k: int(v) for k, v in (line.split() for line in f if line.strip())}
    except OSError:
        return None


def hold_idle(port, n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(True)
        s.connect(("127.0.0.1", port))
        socks.append(s)
    return socks


def check_idle(socks):
    """Every held connection must still answer: none refused or reset."""
    bad = 0
    for s in socks:
        try:
            s.settimeout(10)
            s.sendall(b"GET /1k.bin HTTP/1.1\r\nHost: bench\r\n\r\n")
            got = b""
            while b"\r\n\r\n" not in got or len(got) < got.index(b"\r\n\r\n") + 4 + 1024:
                d = s.recv(65536)
                if not d:
                    break
                got += d
            if not got.startswith(b"HTTP/1.1 200"):
                bad += 1
        except OSError:
            bad += 1
        finally:
            s.close()
    return bad


# The 10,000-connection row (9): every connection of the first wrk sends
# its next request a second after its last response, on average: delay()
# draws 500 to 1,500 ms (seeded per thread, as RANGE_LUA), so that the
# connections, all opened at once, drift apart rather than fire 10,000
# requests in the same instant every second.
CONN10K, CONN10K_LOAD, CONN10K_RAMP = 10000, 16, 30
DELAY_LUA = """
local n = 0
function setup(thread)
  n = n + 1
  thread:set("id", n)
end
function init(args)
  math.randomseed(10000 + id)
end
function delay()
  return math.random(500, 1500)
end
"""


def established(port):
    """TCP connections to 127.0.0.1:port established on the server's side
    (from /proc/net/tcp: local address ...:PORT, state 01)."""
    want, n = ":%04X" % port, 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split(None, 4)
            if fields[1].endswith(want) and fields[3] == "01":
                n += 1
    return n


def conn10k_round(s, state):
    """One round of row 9 against a started server: the 10,000 slow
    connections, then the 16-connection load with --latency. Returns the
    two wrks' parsed reports, the connections seen established and how long
    that took, and the most resident memory seen during the load."""
    duration = int(re.match(r"(\d+)", DURATION).group(1)) * {"s": 1, "m": 60, "h": 3600}.get(DURATION[-1], 1)
    hold = "%ds" % (CONN10K_RAMP + 2 + duration + 60)  # stopped with SIGINT well before
    many = subprocess.Popen(wrk_argv(s.port, "/1k.bin", CONN10K, ("-s", os.path.join(state, "delay.lua")),
                                     duration=hold), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=child_setup)
    try:
        began, opened = time.time(), 0
        while time.time() < began + CONN10K_RAMP and many.poll() is None:
            opened = established(s.port)
            if opened >= CONN10K:
                break
            time.sleep(0.25)
        ramp = time.time() - began
        time.sleep(2)  # the first 10,000 requests, sent as the connections opened, spread out
        load = subprocess.Popen(wrk_argv(s.port, "/1k.bin", CONN10K_LOAD, ("--latency",)), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, preexec_fn=child_setup)
        rss = 0
        while load.poll() is None:
            rss = max(rss, s.rss_kib())
            time.sleep(0.5)
        load_out = load.communicate()[0]
        held = established(s.port)
    finally:
        if many.poll() is None:
            many.send_signal(signal.SIGINT)  # wrk stops and prints its totals
        try:
            many_out = many.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            many.kill()
            many_out = many.communicate()[0]
    return {"many": parse_wrk(many_out), "load": parse_wrk(load_out), "opened": opened, "ramp_s": round(ramp, 1),
            "held_after_load": held, "rss_kib": rss}


def conn10k_case(case, srvs, state, results):
    with open(os.path.join(state, "delay.lua"), "w") as f:
        f.write(DELAY_LUA)
    skipped = {s.name: s.missing for s in srvs if s.missing}
    skipped.update({n: why for n, why in case["skip"].items() if any(s.name == n for s in srvs)})
    names = [s.name for s in srvs if s.name not in skipped]
    p50, p99 = {n: [] for n in names}, {n: [] for n in names}
    errors = {n: 0 for n in names}
    detail = {n: [] for n in names}
    for _ in range(ROUNDS):
        for s in srvs:
            if s.name not in p50:
                continue
            s.start(state, "HTTP/1.1", many=True)
            try:
                r = conn10k_round(s, state)
            except RuntimeError as e:  # a wrk that printed nothing: the server died, say
                s.stop()
                print("  conn10k: %s: %s" % (s.name, e), flush=True)
                skipped[s.name] = "failed: %s" % str(e).splitlines()[0]
                errors[s.name] += 1
                del p50[s.name], p99[s.name]
                continue
            s.stop()
            lat = r["load"]["latency_ms"]
            p50[s.name].append(lat.get("p50", float("inf")))
            p99[s.name].append(lat.get("p99", float("inf")))
            errors[s.name] += sum(w["errors"] + w["non2xx"] for w in (r["many"], r["load"]))
            detail[s.name].append(r)
            key = s.name + "_conn10k_rss_kib"
            results["memory"][key] = max(results["memory"].get(key, 0), r["rss_kib"])
    notes = []
    for n, rs in detail.items():
        if not rs:
            continue
        errs = lambda w: "socket errors %d %s, non-2xx %d" % (
            sum(r[w]["errors"] for r in rs), "/".join("%s %d" % (k, sum(r[w]["socket_errors"].get(k, 0) for r in rs))
                                                   for k in ("connect", "read", "write", "timeout")),
            sum(r[w]["non2xx"] for r in rs))
        notes.append("%s: %s of %d connections established (%s s), %d still at the end; 10k wrk: %d requests, %s; "
                     "load: %s req/s, %s; RSS %.1f MiB" % (
                         n, "/".join(str(r["opened"]) for r in rs), CONN10K, "/".join(str(r["ramp_s"]) for r in rs),
                         min(r["held_after_load"] for r in rs), sum(r["many"]["requests"] for r in rs), errs("many"),
                         "/".join("%.0f" % r["load"]["rps"] for r in rs), errs("load"),
                         max(r["rss_kib"] for r in rs) / 1024))
    if "httpserver" in p50:
        notes.append("httpserver ran with %s (its default cap of %d is below the %d connections here)" % (
            " ".join(MANY_CONNECTIONS), CONN10K, CONN10K + CONN10K_LOAD))
    out = []
    for label, per in (("p50", p50), ("p99", p99)):
        r = case_result("%s, load %s" % (case["name"], label), "ms " + label, per, errors, skipped)
        r["lower_is_better"] = True
        r["notes"] = notes if label == "p99" else []
        if label == "p50":
            r["detail"] = {n: [dict(rr, many={k: v for k, v in rr["many"].items() if k != "latency_ms"})
                               for rr in rs] for n, rs in detail.items()}
        out.append(r)
    return out


# Row 10: requests per callgrind run, and CPython's (its replies wait ~40 ms
# each for the client's delayed ACK; see the docstring).
INSTR_N = {"cpython": (50, 250)}
INSTR_N_DEFAULT = (500, 2500)


def callgrind_ir(s, state, n):
    """Instructions (callgrind's Ir total) for one run of server s from its
    start to its exit on SIGTERM, serving n GETs of /1k.bin over one
    keep-alive connection."""
    port = free_port()
    argv, log = s.command(port, state, "HTTP/1.1", single=True)
    out = os.path.join(state, "callgrind.%s.%d.out" % (s.name, n))
    with open(log, "ab") as f:
        proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, *argv],
                                stdout=subprocess.DEVNULL, stderr=f, preexec_fn=child_setup)
    try:
        wait_port(port, timeout=120)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            for i in range(n):
                conn.request("GET", "/1k.bin")
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200 or len(body) != 1024:
                    raise RuntimeError("request %d answered %d with %d bytes" % (i + 1, resp.status, len(body)))
        finally:
            conn.close()
        time.sleep(0.5)  # the server sees the close before its stop, in every run alike
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    try:
        with open(out) as f:
            totals = re.search(r"^(?:totals|summary): (\d+)", f.read(), re.M)
    except OSError:
        totals = None
    if not totals:
        raise RuntimeError("no callgrind totals in %s" % out)
    return int(totals.group(1))


def instructions_case(case, srvs, state):
    skipped = {s.name: s.missing for s in srvs if s.missing}
    per = {s.name: [] for s in srvs if s.name not in skipped}
    errors = {n: 0 for n in per}
    runs = {}
    for s in srvs:
        if s.name not in per:
            continue
        n1, n2 = INSTR_N.get(s.name, INSTR_N_DEFAULT)
        try:
            ir1, ir2 = callgrind_ir(s, state, n1), callgrind_ir(s, state, n2)
        except (RuntimeError, OSError, http.client.HTTPException) as e:
            print("  instructions: %s: %s" % (s.name, e), flush=True)
            skipped[s.name] = "failed: %s" % e
            errors[s.name] += 1
            del per[s.name]
            continue
        per[s.name].append((ir2 - ir1) / (n2 - n1))
        runs[s.name] = {"requests": [n1, n2], "ir": [ir1, ir2]}
    r = case_result(case["name"], "instr/req", per, errors, skipped)
    r["lower_is_better"] = True
    r["callgrind"] = runs
    r["notes"] = ["callgrind Ir: " + "  ".join("%s %d at %d, %d at %d" % (n, v["ir"][0], v["requests"][0], v["ir"][1],
                                                                        v["requests"][1]) for n, v in runs.items())]
    return r


CASES = [
    # key (for BENCH_CASES), name, unit, protocol for us and CPython, runner(port, state dir), and optionally
    # check(port, www dir) -> None or what is wrong, run once per server before measuring it, probe(port) ->
    # None or a note on the row (once per server), and skip: {server: why} for servers left out of the case. The idle, conn10k and instructions cases have their own
    # runners (idle_case, conn10k_case, instructions_case).
    dict(key="keepalive", name="1 keepalive 1 KiB, 64 conns", unit="req/s", protocol="HTTP/1.1",
         run=lambda p, st: wrk(p, "/1k.bin", 64)),
    dict(key="close", name="2 new connection per request", unit="req/s", protocol="HTTP/1.0",
         run=lambda p, st: wrk(p, "/1k.bin", 64, ("-H", "Connection: close")), probe=probe_close),
    dict(key="close11", name="2b the same, -p HTTP/1.1", unit="req/s", protocol="HTTP/1.1",
         run=lambda p, st: wrk(p, "/1k.bin", 64, ("-H", "Connection: close"))),
    dict(key="large", name="3 256 MiB file, 4 conns", unit="MiB/s", protocol="HTTP/1.1",
         run=lambda p, st: wrk(p, "/256m.bin", 4)),
    dict(key="listing", name="4 listing of 2,000 entries", unit="req/s", protocol="HTTP/1.1",
         run=lambda p, st: wrk(p, "/listing/", 16)),
    dict(key="idle", name="5 5,000 idle + keepalive on 16",
         skip={"cpython": "n/a — a thread per connection: 5,000 idle ones are left out"}),
    dict(key="range", name="6 1 KiB ranges of 64 MiB, 64 conns", unit="req/s", protocol="HTTP/1.1",
         run=wrk_range, check=check_range,
         skip={"cpython": "n/a — no Range support (answers 200 with the whole 64 MiB)"}),
    # The TLS rows (tls=True): servers start with the run's certificate, and those whose no_tls says why are
    # skipped; check(port, www, tls, label) as for check_tls.
    dict(key="tls-keepalive", name="7 TLS keepalive 1 KiB, 64 conns", unit="req/s", protocol="HTTP/1.1", tls=True,
         run=lambda p, st: wrk(p, "/1k.bin", 64, scheme="https"), check=check_tls("/1k.bin")),
    dict(key="tls-large", name="8 TLS 256 MiB file, 4 conns", unit="MiB/s", protocol="HTTP/1.1", tls=True,
         run=lambda p, st: wrk(p, "/256m.bin", 4, scheme="https"), check=check_tls("/256m.bin")),
    dict(key="conn10k", name="9 10k conns at 1 req/s",
         skip={"cpython": "n/a — a thread per connection and a listen backlog of 5 "
                          "(socketserver's request_queue_size)"}),
    dict(key="instructions", name="10 instructions per request, 1 KiB"),
]


def selected_cases():
    want = [w.strip() for w in os.environ.get("BENCH_CASES", "").split(",") if w.strip()]
    keys = [c["key"] for c in CASES]
    unknown = [w for w in want if w not in keys]
    if unknown:
        sys.exit("BENCH_CASES: unknown case %s (known: %s)" % (", ".join(unknown), ",".join(keys)))
    return [c for c in CASES if not want or c["key"] in want]


def run_case(case, srvs, state, www, results, tls=None):
    skipped = {n: why for n, why in case.get("skip", {}).items() if any(s.name == n for s in srvs)}
    skipped.update({s.name: s.missing for s in srvs if s.missing})
    if case.get("tls"):
        skipped.update({s.name: s.no_tls for s in srvs if s.no_tls})
    else:
        tls = None
    per = {s.name: [] for s in srvs if s.name not in skipped}
    errors = {name: 0 for name in per}
    # Kernel TLS sessions set up while each server ran: TlsTxSw + TlsTxDevice.
    ktls = {name: 0 for name in per}
    probed = []
    # Memory keys: the TLS rows' own, so that the plain figures keep their meaning.
    mem = "_tls" if tls else ""
    # The 256 MiB row's reference: loopback's own rate, once a round.
    iperf = []
    for rnd in range(ROUNDS):
        if case["key"] == "large" and shutil.which("iperf3"):
            try:
                iperf.append(iperf3_mib_s())
            except (RuntimeError, OSError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
                print("  iperf3: %s" % e, flush=True)
        for s in srvs:
            if s.name in skipped:
                continue
            s.start(state, case["protocol"], tls)
            before = tls_stat() if tls else None
            if rnd == 0 and case.get("check"):
                wrong = case["check"](s.port, www, tls, "%s: %s" % (case["key"], s.name)) if tls else \
                    case["check"](s.port, www)
                if wrong:
                    # Left out of the case rather than measured doing something else.
                    print("  %s: %s fails its check: %s" % (case["key"], s.name, wrong), flush=True)
                    skipped[s.name] = "check failed: " + wrong
                    del per[s.name]
                    errors[s.name] += 1
                    s.stop()
                    continue
            if rnd == 0 and case.get("probe"):
                note = case["probe"](s.port)
                if note:
                    probed.append("%s %s" % (s.name, note))
            large = case["key"] in ("large", "tls-large") and s.name == "httpserver"
            if large:
                base = s.rss_kib()
            r = case["run"](s.port, state)
            if large:
                key = "httpserver%s_large_file_rss_growth_kib" % mem
                results["memory"][key] = max(results["memory"].get(key, 0), s.rss_kib("VmHWM") - base)
            if rnd == 0:
                results["memory"].setdefault(s.name + "_idle_rss_kib", None)
            results["memory"][s.name + mem + "_peak_rss_kib"] = max(
                results["memory"].get(s.name + mem + "_peak_rss_kib", 0), s.rss_kib("VmHWM"))
            s.stop()
            after = tls_stat() if tls else None
            if before is not None and after is not None:
                ktls[s.name] += sum(after.get(k, 0) - before.get(k, 0) for k in ("TlsTxSw", "TlsTxDevice"))
            per[s.name].append(r["mib_s"] if case["unit"] == "MiB/s" else r["rps"])
            errors[s.name] += r["errors"] + r["non2xx"]
    result = case_result(case["name"], case["unit"], per, errors, skipped)
    result["notes"] = probed
    if iperf:
        ours = per.get("httpserver", [])
        result["iperf3_mib_s"] = iperf
        result["ratio_to_iperf3"] = statistics.median(o / i for o, i in zip(ours, iperf)) if ours else None
        result["notes"] += ["iperf3 -P 4 on loopback, once a round: %s MiB/s; httpserver at %s of it "
                            "(median of per-round ratios; target: within 10%%)" % (
                                "/".join("%.0f" % i for i in iperf),
                                "%.2f" % result["ratio_to_iperf3"] if ours else "n/a")]
    if tls:
        result["key_type"] = "ECDSA P-256 (self-signed, openssl req)"
        if tls_stat() is None:
            result["ktls"] = None
            result["notes"] += ["kTLS: none — %s is absent (kernel without TLS, or the tls module not loaded: "
                               "`modprobe tls`), so nginx encrypts in user space like us" % TLS_STAT]
        else:
            result["ktls"] = ktls
            result["notes"] += ["kTLS: %s" % "  ".join(
                "%s %s" % (k, ("used (TlsTxSw+TlsTxDevice +%d)" % v) if v else "not used") for k, v in ktls.items())]
    return result


def iperf3_mib_s():
    """What `iperf3 -P 4` moves over loopback in BENCH_DURATION (MiB/s
    received): the copy limit the 256 MiB row is measured against. Its
    server takes one test (-1) and is not probed first (a probe would be
    taken as that test): the client retries until the server listens."""
    port = free_port()
    secs = max(1, int(re.sub(r"\D", "", DURATION) or "5"))
    srv = subprocess.Popen(["iperf3", "-s", "-1", "-p", str(port)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, preexec_fn=child_setup)
    try:
        for _ in range(40):
            out = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-P", "4", "-t", str(secs), "-J"],
                                 capture_output=True, text=True, timeout=secs + 60)
            if out.returncode == 0:
                return json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"] / 8 / 2 ** 20
            time.sleep(0.25)
        raise RuntimeError("iperf3 never connected: %s" % out.stderr.strip()[:200])
    finally:
        srv.kill()
        srv.wait()


def idle_rss(srvs, state, results):
    """Idle memory: each server freshly started, nothing served."""
    for s in srvs:
        if s.missing:
            continue
        s.start(state, "HTTP/1.1")
        time.sleep(0.5)
        results["memory"][s.name + "_idle_rss_kib"] = s.rss_kib()
        s.stop()


def versions(srvs):
    out = {"python": sys.version.split()[0], "wrk": version_of(["wrk", "-v"])}
    for s in srvs:
        if s.missing:
            continue
        argv = s.command(0, "/nonexistent", "HTTP/1.1")[0] if s.name != "nginx" else ["nginx"]
        out[s.name] = sys.version.split()[0] if s.name == "cpython" else version_of([argv[0], "-v" if s.name ==
                                                                                      "nginx" else "--version"])
    if shutil.which("valgrind"):
        out["valgrind"] = version_of(["valgrind", "--version"])
    return out


def main():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    cases = selected_cases()
    ensure_tools()
    print("building the release binary", flush=True)
    sh("cargo", "build", "--release", "--quiet", "-p", "httpserver", cwd=ROOT)
    binary = os.path.join(ROOT, "target", "release", "httpserver")
    peers, peer_missing = ensure_peers()
    work = tempfile.mkdtemp(prefix="httpserver-bench-")
    os.chmod(work, 0o755)  # nginx's workers run as another user
    www, state = os.path.join(work, "www"), os.path.join(work, "state")
    os.makedirs(state)
    make_tree(www)
    write_range_script(state)
    tls = make_cert(state) if any(c.get("tls") for c in cases) else None
    srvs = servers(state, www, binary, os.environ.get("BENCH_BASELINE"), peers, peer_missing)
    results = {"cases": [], "memory": {}, "versions": versions(srvs), "rounds": ROUNDS, "duration": DURATION,
               "open_files_limit": hard}
    print("versions: %s" % "; ".join("%s: %s" % kv for kv in results["versions"].items()), flush=True)
    print("open-file limit (soft = hard) for the bench and its children: %d" % hard, flush=True)
    started = time.time()
    try:
        for case in cases:
            if case["key"] == "idle":
                idle_rss(srvs, state, results)
                rows = [idle_case(case, srvs, state)]
            elif case["key"] == "conn10k":
                rows = conn10k_case(case, srvs, state, results)
            elif case["key"] == "instructions":
                rows = [instructions_case(case, srvs, state)]
            else:
                rows = [run_case(case, srvs, state, www, results, tls)]
            for row in rows:
                row["key"] = case["key"]
                results["cases"].append(row)
                print_case(row, started)
        if not any(c["key"] == "idle" for c in cases):
            idle_rss(srvs, state, results)
    finally:
        for s in srvs:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)
    results["seconds"] = round(time.time() - started)
    report(results, [s.name for s in srvs])


def idle_case(case, srvs, state):
    skipped = {s.name: s.missing for s in srvs if s.missing}
    skipped.update({n: why for n, why in case["skip"].items() if any(s.name == n for s in srvs)})
    per = {s.name: [] for s in srvs if s.name not in skipped}
    errors = {name: 0 for name in per}
    dropped = {name: 0 for name in per}
    for _ in range(ROUNDS):
        for s in srvs:
            if s.name not in per:
                continue
            s.start(state, "HTTP/1.1")
            socks = hold_idle(s.port, 5000)
            r = wrk(s.port, "/1k.bin", 16)
            bad = check_idle(socks)
            s.stop()
            per[s.name].append(r["rps"])
            errors[s.name] += r["errors"] + r["non2xx"] + bad
            dropped[s.name] += bad
    result = case_result(case["name"], "req/s", per, errors, skipped)
    result["notes"] = ["%s: %d held connections no longer answered afterwards (of %d)%s" % (
        n, v, 5000 * ROUNDS, "; miniserve (actix-web) answers 408 and closes a connection that has sent no "
        "request for 5 s" if n == "miniserve" else "") for n, v in dropped.items() if v]
    return result


def case_result(name, unit, per, errors, skipped=None):
    """ratio_median: the median over rounds of ours / theirs (for req/s and
    MiB/s above 1 is ours ahead; for ms and instr/req, below 1 is)."""
    ours = per.get("httpserver", [])
    ratios = {}
    for other in per:
        if other != "httpserver" and per[other] and ours:
            ratios[other] = statistics.median(o / t for o, t in zip(ours, per[other]) if t > 0)
    return {"case": name, "unit": unit, "median": {k: statistics.median(v) for k, v in per.items() if v},
            "rounds": per, "ratio_median": ratios, "errors": errors, "skipped": skipped or {}}


def figure(v, unit):
    return ("%.2f" % v) if unit.startswith("ms") else ("%.0f" % v)


def print_case(c, started):
    med = c["median"]
    cols = "  ".join("%s %s" % (k, figure(v, c["unit"])) for k, v in med.items())
    ratios = "  ".join("x%.2f vs %s" % (v, k) for k, v in c["ratio_median"].items())
    print("[%4ds] %-34s %s (%s%s)  %s  errors %s" % (
        time.time() - started, c["case"], cols, c["unit"], ", lower is better" if c.get("lower_is_better") else "",
        ratios, c["errors"]), flush=True)
    if len(next(iter(c["rounds"].values()), [])) > 1:
        print("        rounds: %s" % "  ".join("%s %s" % (k, "/".join(figure(x, c["unit"]) for x in v))
                                               for k, v in c["rounds"].items()), flush=True)
    for k, why in c["skipped"].items():
        print("        %s: %s" % (k, why), flush=True)
    for note in c.get("notes", []):
        print("        %s" % note, flush=True)


def report(results, names):
    """The table: a column per server (median), then ours / theirs for each
    other server, then our errors and the unit."""
    print()
    others = [n for n in names if n != "httpserver"]
    width = {n: max(9, len("vs " + n)) for n in others}
    print("%-38s %s %s  %s" % ("case", " ".join("%11s" % n for n in names),
                               " ".join("%*s" % (width[n], "vs " + n) for n in others), "errors (ours)"))
    notes = []
    for c in results["cases"]:
        m, r, skip = c["median"], c["ratio_median"], c.get("skipped", {})
        fmt = lambda k: ("%11s" % figure(m[k], c["unit"])) if k in m else "%11s" % ("n/a" if k in skip else "-")
        rat = lambda k: ("%*.2fx" % (width[k] - 1, r[k])) if k in r else "%*s" % (
            width[k], "n/a" if k in skip else "-")
        print("%-38s %s %s  %d  (%s%s)" % (c["case"], " ".join(fmt(n) for n in names),
                                          " ".join(rat(n) for n in others), c["errors"].get("httpserver", 0),
                                          c["unit"], ", lower is better" if c.get("lower_is_better") else ""))
        notes += ["  %s, %s: %s" % (c["case"], k, why) for k, why in skip.items()]
        theirs = ["%s %d" % (k, v) for k, v in c["errors"].items() if k != "httpserver" and v]
        if theirs:
            notes.append("  %s: errors of the others: %s" % (c["case"], ", ".join(theirs)))
        notes += ["  %s: %s" % (c["case"], note) for note in c.get("notes", [])]
    if notes:
        print("\n".join(notes))
    mem = results["memory"]
    print()
    for k in sorted(mem):
        print("%-44s %8s KiB" % (k, mem[k]))
    print("run took %d s" % results["seconds"])
    out = os.path.join(ROOT, "target", "bench")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "latest.json"), "w") as f:
        json.dump(results, f, indent=2)
    print("wrote target/bench/latest.json")


if __name__ == "__main__":
    main()
