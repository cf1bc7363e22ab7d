#!/usr/bin/env python3
"""`make bench`: httpserver side by side with `python3 -m http.server` and
nginx, on loopback, with wrk. Every figure is a ratio measured in one run:
the servers take turns, round after round, and the median of the per-round
ratios is reported. Prints a table and writes target/bench/latest.json.

Cases (see the performance issue):
  1 keepalive  1 KiB file, keep-alive, 64 connections (-p HTTP/1.1 for us and CPython)
  2 close      1 KiB file, a new connection per request (our default HTTP/1.0)
  3 large      256 MiB file, 4 connections, MiB/s
  4 listing    a 2,000-entry directory listing
  5 idle       5,000 idle keep-alive connections held open while case 1 runs on 16 more
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
plus each server's peak and idle resident memory.

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
default all; e.g. tls-keepalive,tls-large) runs only those cases, in the
order above; idle memory is measured whatever the selection.

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


def sh(*args, **kw):
    return subprocess.run(args, check=True, **kw)


def ensure_tools():
    missing = [p for p, b in (("wrk", "wrk"), ("nginx-light", "nginx")) if not shutil.which(b)]
    if missing:
        print("installing", " ".join(missing), flush=True)
        sh("apt-get", "update", "-qq")
        sh("apt-get", "install", "-y", "-qq", *missing, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
           stdout=subprocess.DEVNULL)


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
    def __init__(self, name, start, pids, no_tls=None):
        # no_tls: why this server cannot serve the TLS rows, or None.
        self.name, self._start, self._pids, self.no_tls = name, start, pids, no_tls
        self.proc = None
        self.port = None

    def start(self, state, protocol, tls=None):
        """tls: {"cert": path, "key": path} to serve HTTPS, else None."""
        self.port = free_port()
        self.proc = self._start(self.port, state, protocol, tls)
        wait_port(self.port)
        time.sleep(0.2)

    def pids(self):
        return self._pids(self)

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


def servers(state, www, binary, baseline=None):
    def build(path, name):
        def start(port, state, protocol, tls):
            log = open(os.path.join(state, name + ".log"), "ab")
            return subprocess.Popen([path, "-b", "127.0.0.1", "-d", www, "-p", protocol, *tls_args(tls), str(port)],
                                    stdout=subprocess.DEVNULL, stderr=log)
        return start

    def cpython(port, state, protocol, tls):
        log = open(os.path.join(state, "cpython.log"), "ab")
        return subprocess.Popen([sys.executable, "-m", "http.server", "-b", "127.0.0.1", "-d", www,
                                 "-p", protocol, *tls_args(tls), str(port)], stdout=subprocess.DEVNULL, stderr=log)

    def nginx(port, state, protocol, tls):
        with open(os.path.join(ROOT, "bench", "nginx.conf.in")) as f:
            conf = f.read().replace("@ROOT@", www).replace("@PORT@", str(port)).replace("@STATE@", state)
        if tls:
            conf = nginx_tls_conf(conf, tls)
        path = os.path.join(state, "nginx-tls.conf" if tls else "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        sh("nginx", "-c", path, "-e", os.path.join(state, "nginx-error.log"))
        return None

    def proc_pids(s):
        return [s.proc.pid] if s.proc and s.proc.poll() is None else []

    def nginx_pids(s):
        try:
            with open(os.path.join(state, "nginx.pid")) as f:
                master = int(f.read().strip())
        except (OSError, ValueError):
            return []
        out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
        return [master] + [int(p) for p in out]

    def no_tls(path):
        out = subprocess.run([path, "--help"], capture_output=True, text=True)
        return None if "--tls-cert" in out.stdout + out.stderr else "n/a — this build has no --tls-cert"

    cpython_tls = None if sys.version_info >= (3, 14) else \
        "n/a — no TLS in CPython %d.%d's http.server (--tls-cert came in 3.14)" % sys.version_info[:2]
    srvs = [Server("httpserver", build(binary, "httpserver"), proc_pids), Server("nginx", nginx, nginx_pids),
            Server("cpython", cpython, proc_pids, cpython_tls)]
    if baseline:
        srvs.append(Server("baseline", build(baseline, "baseline"), proc_pids, no_tls(baseline)))
    return srvs


def wrk(port, path, conns, extra=(), scheme="http"):
    out = subprocess.run(["wrk", "-t", THREADS, "-c", str(conns), "-d", DURATION, "--timeout", "10s", *extra,
                          "%s://127.0.0.1:%d%s" % (scheme, port, path)], capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    tr = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    scale = {"B": 1 / 2**20, "KB": 1 / 1024, "MB": 1, "GB": 1024}[tr.group(2)]
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errs = sum(map(int, errors.groups())) if errors else 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = re.search(r"(\d+) requests in [\d.]+\w+, ([\d.]+)(\w+) read", out)
    reqs = int(total.group(1)) if total else 0
    read = float(total.group(2)) * {"B": 1, "KB": 1024, "MB": 2**20, "GB": 2**30, "TB": 2**40}[total.group(3)] \
        if total else 0
    return {"rps": rps, "mib_s": float(tr.group(1)) * scale, "errors": errs,
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "requests": reqs,
            "bytes_per_request": read / reqs if reqs else 0}


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


CASES = [
    # key (for BENCH_CASES), name, unit, protocol for us and CPython, runner(port, state dir), and optionally
    # check(port, www dir) -> None or what is wrong, run once per server before measuring it, and skip:
    # {server: why} for servers left out of the case. The idle case has its own runner, idle_case().
    dict(key="keepalive", name="1 keepalive 1 KiB, 64 conns", unit="req/s", protocol="HTTP/1.1",
         run=lambda p, st: wrk(p, "/1k.bin", 64)),
    dict(key="close", name="2 new connection per request", unit="req/s", protocol="HTTP/1.0",
         run=lambda p, st: wrk(p, "/1k.bin", 64, ("-H", "Connection: close"))),
    dict(key="large", name="3 256 MiB file, 4 conns", unit="MiB/s", protocol="HTTP/1.1",
         run=lambda p, st: wrk(p, "/256m.bin", 4)),
    dict(key="listing", name="4 listing of 2,000 entries", unit="req/s", protocol="HTTP/1.1",
         run=lambda p, st: wrk(p, "/listing/", 16)),
    dict(key="idle", name="5 5,000 idle + keepalive on 16"),
    dict(key="range", name="6 1 KiB ranges of 64 MiB, 64 conns", unit="req/s", protocol="HTTP/1.1",
         run=wrk_range, check=check_range,
         skip={"cpython": "n/a — no Range support (answers 200 with the whole 64 MiB)"}),
    # The TLS rows (tls=True): servers start with the run's certificate, and those whose no_tls says why are
    # skipped; check(port, www, tls, label) as for check_tls.
    dict(key="tls-keepalive", name="7 TLS keepalive 1 KiB, 64 conns", unit="req/s", protocol="HTTP/1.1", tls=True,
         run=lambda p, st: wrk(p, "/1k.bin", 64, scheme="https"), check=check_tls("/1k.bin")),
    dict(key="tls-large", name="8 TLS 256 MiB file, 4 conns", unit="MiB/s", protocol="HTTP/1.1", tls=True,
         run=lambda p, st: wrk(p, "/256m.bin", 4, scheme="https"), check=check_tls("/256m.bin")),
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
    if case.get("tls"):
        skipped.update({s.name: s.no_tls for s in srvs if s.no_tls})
    else:
        tls = None
    per = {s.name: [] for s in srvs if s.name not in skipped}
    errors = {name: 0 for name in per}
    # Kernel TLS sessions set up while each server ran: TlsTxSw + TlsTxDevice.
    ktls = {name: 0 for name in per}
    # Memory keys: the TLS rows' own, so that the plain figures keep their meaning.
    mem = "_tls" if tls else ""
    for rnd in range(ROUNDS):
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
    if tls:
        result["key_type"] = "ECDSA P-256 (self-signed, openssl req)"
        if tls_stat() is None:
            result["ktls"] = None
            result["notes"] = ["kTLS: none — %s is absent (kernel without TLS, or the tls module not loaded: "
                               "`modprobe tls`), so nginx encrypts in user space like us" % TLS_STAT]
        else:
            result["ktls"] = ktls
            result["notes"] = ["kTLS: %s" % "  ".join(
                "%s %s" % (k, ("used (TlsTxSw+TlsTxDevice +%d)" % v) if v else "not used") for k, v in ktls.items())]
    return result


def main():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    cases = selected_cases()
    ensure_tools()
    print("building the release binary", flush=True)
    sh("cargo", "build", "--release", "--quiet", "-p", "httpserver", cwd=ROOT)
    binary = os.path.join(ROOT, "target", "release", "httpserver")
    work = tempfile.mkdtemp(prefix="httpserver-bench-")
    os.chmod(work, 0o755)  # nginx's workers run as another user
    www, state = os.path.join(work, "www"), os.path.join(work, "state")
    os.makedirs(state)
    make_tree(www)
    write_range_script(state)
    tls = make_cert(state) if any(c.get("tls") for c in cases) else None
    srvs = servers(state, www, binary, os.environ.get("BENCH_BASELINE"))
    results = {"cases": [], "memory": {}}
    started = time.time()
    try:
        for case in cases:
            if case["key"] == "idle":
                # Idle memory: freshly started, nothing served.
                for s in srvs:
                    s.start(state, "HTTP/1.1")
                    time.sleep(0.5)
                    results["memory"][s.name + "_idle_rss_kib"] = s.rss_kib()
                    s.stop()
                results["cases"].append(idle_case(case["name"], srvs, state))
            else:
                results["cases"].append(run_case(case, srvs, state, www, results, tls))
            print_case(results["cases"][-1], started)
        if not any(c["key"] == "idle" for c in cases):
            for s in srvs:
                s.start(state, "HTTP/1.1")
                time.sleep(0.5)
                results["memory"][s.name + "_idle_rss_kib"] = s.rss_kib()
                s.stop()
    finally:
        for s in srvs:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)
    results["seconds"] = round(time.time() - started)
    report(results)


def idle_case(name, srvs, state):
    per = {s.name: [] for s in srvs if s.name != "cpython"}
    errors = {name: 0 for name in per}
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
    return case_result(name, "req/s", per, errors)


def case_result(name, unit, per, errors, skipped=None):
    ours = per.get("httpserver", [])
    ratios = {}
    for other in per:
        if other != "httpserver" and per[other] and ours:
            ratios[other] = statistics.median(o / t for o, t in zip(ours, per[other]) if t > 0)
    return {"case": name, "unit": unit, "median": {k: statistics.median(v) for k, v in per.items() if v},
            "rounds": per, "ratio_median": ratios, "errors": errors, "skipped": skipped or {}}


def print_case(c, started):
    med = c["median"]
    cols = "  ".join("%s %.0f" % (k, v) for k, v in med.items())
    ratios = "  ".join("x%.2f vs %s" % (v, k) for k, v in c["ratio_median"].items())
    print("[%4ds] %-34s %s (%s)  %s  errors %s" % (time.time() - started, c["case"], cols, c["unit"], ratios,
                                                  c["errors"]), flush=True)
    if len(next(iter(c["rounds"].values()), [])) > 1:
        print("        rounds: %s" % "  ".join("%s %s" % (k, "/".join("%.0f" % x for x in v))
                                               for k, v in c["rounds"].items()), flush=True)
    for k, why in c["skipped"].items():
        print("        %s: %s" % (k, why), flush=True)
    for note in c.get("notes", []):
        print("        %s" % note, flush=True)


def report(results):
    print()
    base = any("baseline" in c["median"] or "baseline" in c.get("skipped", {}) for c in results["cases"])
    extra = ("%12s %12s" % ("baseline", "vs baseline")) if base else ""
    print("%-34s %12s %12s %12s %10s %10s %s  %s" % ("case", "httpserver", "nginx", "cpython", "vs nginx",
                                                     "vs cpython", extra, "errors (ours)"))
    notes = []
    for c in results["cases"]:
        m, r, skip = c["median"], c["ratio_median"], c.get("skipped", {})
        fmt = lambda k: ("%12.0f" % m[k]) if k in m else "%12s" % ("n/a" if k in skip else "-")
        rat = lambda k: ("%9.2fx" % r[k]) if k in r else "%10s" % ("n/a" if k in skip else "-")
        more = ("%s %12s" % (fmt("baseline"), rat("baseline"))) if base else ""
        print("%-34s %s %s %s %s %s %s  %d  (%s)" % (c["case"], fmt("httpserver"), fmt("nginx"), fmt("cpython"),
                                                    rat("nginx"), rat("cpython"), more,
                                                    c["errors"].get("httpserver", 0), c["unit"]))
        notes += ["  %s, %s: %s" % (c["case"], k, why) for k, why in skip.items()]
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
