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
plus each server's peak and idle resident memory.

BENCH_BASELINE=/path/to/another/httpserver adds that binary to every round
as "baseline" (an earlier build, say), reported as a ratio like the others:
a before/after comparison under the same conditions.
"""
import json
import os
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
    return {"rps": rps, "mib_s": float(tr.group(1)) * scale, "errors": errs,
            "non2xx": int(non2xx.group(1)) if non2xx else 0}


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
    # name, unit, protocol for us and CPython, runner
    ("1 keepalive 1 KiB, 64 conns", "req/s", "HTTP/1.1", lambda p: wrk(p, "/1k.bin", 64)),
    ("2 new connection per request", "req/s", "HTTP/1.0",
     lambda p: wrk(p, "/1k.bin", 64, ("-H", "Connection: close"))),
    ("3 256 MiB file, 4 conns", "MiB/s", "HTTP/1.1", lambda p: wrk(p, "/256m.bin", 4)),
    ("4 listing of 2,000 entries", "req/s", "HTTP/1.1", lambda p: wrk(p, "/listing/", 16)),
]


def main():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ensure_tools()
    print("building the release binary", flush=True)
    sh("cargo", "build", "--release", "--quiet", "-p", "httpserver", cwd=ROOT)
    binary = os.path.join(ROOT, "target", "release", "httpserver")
    work = tempfile.mkdtemp(prefix="httpserver-bench-")
    os.chmod(work, 0o755)  # nginx's workers run as another user
    www, state = os.path.join(work, "www"), os.path.join(work, "state")
    os.makedirs(state)
    make_tree(www)
    srvs = servers(state, www, binary, os.environ.get("BENCH_BASELINE"))
    results = {"cases": [], "memory": {}}
    started = time.time()
    try:
        for name, unit, protocol, run in CASES:
            per = {s.name: [] for s in srvs}
            errors = {s.name: 0 for s in srvs}
            for rnd in range(ROUNDS):
                for s in srvs:
                    s.start(state, protocol)
                    if name.startswith("3") and s.name == "httpserver":
                        base = s.rss_kib()
                    r = run(s.port)
                    if name.startswith("3") and s.name == "httpserver":
                        results["memory"]["httpserver_large_file_rss_growth_kib"] = max(
                            results["memory"].get("httpserver_large_file_rss_growth_kib", 0), s.rss_kib("VmHWM") - base)
                    if rnd == 0:
                        results["memory"].setdefault(s.name + "_idle_rss_kib", None)
                    results["memory"][s.name + "_peak_rss_kib"] = max(
                        results["memory"].get(s.name + "_peak_rss_kib", 0), s.rss_kib("VmHWM"))
                    s.stop()
                    per[s.name].append(r["mib_s"] if unit == "MiB/s" else r["rps"])
                    errors[s.name] += r["errors"] + r["non2xx"]
            results["cases"].append(case_result(name, unit, per, errors))
            print_case(results["cases"][-1], started)
        # Idle memory: freshly started, nothing served.
        for s in srvs:
            s.start(state, "HTTP/1.1")
            time.sleep(0.5)
            results["memory"][s.name + "_idle_rss_kib"] = s.rss_kib()
            s.stop()
        results["cases"].append(idle_case(srvs, state))
        print_case(results["cases"][-1], started)
    finally:
        for s in srvs:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)
    results["seconds"] = round(time.time() - started)
    report(results)


def idle_case(srvs, state):
    name = "5 5,000 idle + keepalive on 16"
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


def case_result(name, unit, per, errors):
    ours = per["httpserver"]
    ratios = {}
    for other in per:
        if other != "httpserver" and per[other]:
            ratios[other] = statistics.median(o / t for o, t in zip(ours, per[other]) if t > 0)
    return {"case": name, "unit": unit, "median": {k: statistics.median(v) for k, v in per.items() if v},
            "rounds": per, "ratio_median": ratios, "errors": errors}


def print_case(c, started):
    med = c["median"]
    cols = "  ".join("%s %.0f" % (k, v) for k, v in med.items())
    ratios = "  ".join("x%.2f vs %s" % (v, k) for k, v in c["ratio_median"].items())
    print("[%4ds] %-34s %s (%s)  %s  errors %s" % (time.time() - started, c["case"], cols, c["unit"], ratios,
                                                  c["errors"]), flush=True)


def report(results):
    print()
    base = any("baseline" in c["median"] for c in results["cases"])
    extra = ("%12s %12s" % ("baseline", "vs baseline")) if base else ""
    print("%-34s %12s %12s %12s %10s %10s %s  %s" % ("case", "httpserver", "nginx", "cpython", "vs nginx",
                                                     "vs cpython", extra, "errors (ours)"))
    for c in results["cases"]:
        m, r = c["median"], c["ratio_median"]
        fmt = lambda k: ("%12.0f" % m[k]) if k in m else "%12s" % "-"
        rat = lambda k: ("%9.2fx" % r[k]) if k in r else "%10s" % "-"
        more = ("%s %12s" % (fmt("baseline"), rat("baseline"))) if base else ""
        print("%-34s %s %s %s %s %s %s  %d  (%s)" % (c["case"], fmt("httpserver"), fmt("nginx"), fmt("cpython"),
                                                    rat("nginx"), rat("cpython"), more, c["errors"]["httpserver"],
                                                    c["unit"]))
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
