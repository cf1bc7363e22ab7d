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
plus each server's peak and idle resident memory.

BENCH_CASES=range,keepalive (comma-separated names from the list above,
default all) runs only those cases, in the order above; idle memory is
measured whatever the selection.

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
    def __init__(self, name, start, pids):
        self.name, self._start, self._pids = name, start, pids
        self.proc = None
        self.port = None

    def start(self, state, protocol):
        self.port = free_port()
        self.proc = self._start(self.port, state, protocol)
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


def servers(state, www, binary, baseline=None):
    def build(path, name):
        def start(port, state, protocol):
            log = open(os.path.join(state, name + ".log"), "ab")
            return subprocess.Popen([path, "-b", "127.0.0.1", "-d", www, "-p", protocol, str(port)],
                                    stdout=subprocess.DEVNULL, stderr=log)
        return start

    def cpython(port, state, protocol):
        log = open(os.path.join(state, "cpython.log"), "ab")
        return subprocess.Popen([sys.executable, "-m", "http.server", "-b", "127.0.0.1", "-d", www,
                                 "-p", protocol, str(port)], stdout=subprocess.DEVNULL, stderr=log)

    def nginx(port, state, protocol):
        with open(os.path.join(ROOT, "bench", "nginx.conf.in")) as f:
            conf = f.read().replace("@ROOT@", www).replace("@PORT@", str(port)).replace("@STATE@", state)
        path = os.path.join(state, "nginx.conf")
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

    srvs = [Server("httpserver", build(binary, "httpserver"), proc_pids), Server("nginx", nginx, nginx_pids),
            Server("cpython", cpython, proc_pids)]
    if baseline:
        srvs.append(Server("baseline", build(baseline, "baseline"), proc_pids))
    return srvs


def wrk(port, path, conns, extra=()):
    out = subprocess.run(["wrk", "-t", THREADS, "-c", str(conns), "-d", DURATION, "--timeout", "10s", *extra,
                          "http://127.0.0.1:%d%s" % (port, path)], capture_output=True, text=True).stdout
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
]


def selected_cases():
    want = [w.strip() for w in os.environ.get("BENCH_CASES", "").split(",") if w.strip()]
    keys = [c["key"] for c in CASES]
    unknown = [w for w in want if w not in keys]
    if unknown:
        sys.exit("BENCH_CASES: unknown case %s (known: %s)" % (", ".join(unknown), ",".join(keys)))
    return [c for c in CASES if not want or c["key"] in want]


def run_case(case, srvs, state, www, results):
    skipped = {n: why for n, why in case.get("skip", {}).items() if any(s.name == n for s in srvs)}
    per = {s.name: [] for s in srvs if s.name not in skipped}
    errors = {name: 0 for name in per}
    for rnd in range(ROUNDS):
        for s in srvs:
            if s.name in skipped:
                continue
            s.start(state, case["protocol"])
            if rnd == 0 and case.get("check"):
                wrong = case["check"](s.port, www)
                if wrong:
                    # Left out of the case rather than measured doing something else.
                    print("  %s: %s fails its check: %s" % (case["key"], s.name, wrong), flush=True)
                    skipped[s.name] = "check failed: " + wrong
                    del per[s.name]
                    errors[s.name] += 1
                    s.stop()
                    continue
            if case["key"] == "large" and s.name == "httpserver":
                base = s.rss_kib()
            r = case["run"](s.port, state)
            if case["key"] == "large" and s.name == "httpserver":
                results["memory"]["httpserver_large_file_rss_growth_kib"] = max(
                    results["memory"].get("httpserver_large_file_rss_growth_kib", 0), s.rss_kib("VmHWM") - base)
            if rnd == 0:
                results["memory"].setdefault(s.name + "_idle_rss_kib", None)
            results["memory"][s.name + "_peak_rss_kib"] = max(
                results["memory"].get(s.name + "_peak_rss_kib", 0), s.rss_kib("VmHWM"))
            s.stop()
            per[s.name].append(r["mib_s"] if case["unit"] == "MiB/s" else r["rps"])
            errors[s.name] += r["errors"] + r["non2xx"]
    return case_result(case["name"], case["unit"], per, errors, skipped)


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
                results["cases"].append(run_case(case, srvs, state, www, results))
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
