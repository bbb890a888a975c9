#!/usr/bin/env python3
"""peerwire benchmark driver (Python 3.11, stdlib only).

Runs peerwire beside reference transports on 127.0.0.1, as ../shared/BENCH.md describes:
two processes per run (the receiver listens on port 0 and prints "PORT <n>"; the sender
connects), transports interleaved (A B C A B C ...), medians of the repetitions, every ratio
taken against a reference measured in the same run.

    python3 bench/run.py            full run (several minutes): table, bench/RESULTS.md, chart
    python3 bench/run.py --smoke    seconds: tiny N, one repetition, nothing in bench/ rewritten

Exit status: 1 if a row that was built failed to run (peerwire rows included), or if a peerwire
row could not be built; reference rows that cannot be built are skipped with the reason.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import queue
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
BUILD = os.path.join(BENCH, "build")

KiB, MiB = 1024, 1024 * 1024
SIZES = [64, 1 * KiB, 16 * KiB, 1 * MiB]
SIZE_LABEL = {64: "64 B", KiB: "1 KiB", 16 * KiB: "16 KiB", MiB: "1 MiB"}
PLACEMENTS = ["unpinned", "same-core", "split-cores"]
PIN = {"unpinned": (None, None), "same-core": ("0", "0"), "split-cores": ("0", "1")}

RTT_SIZE = 64
RTT_WARMUP, RTT_COUNT = 2000, 20000
SMOKE_RTT_WARMUP, SMOKE_RTT_COUNT = 100, 1000
SMOKE_N = {64: 5000, KiB: 2000, 16 * KiB: 500, MiB: 20}
PROBE_N = {64: 20000, KiB: 20000, 16 * KiB: 5000, MiB: 100}
TARGET_SECONDS = 1.5  # a timed run lasts 1-3 s
MAX_N = 300_000_000

# Targets from BENCH.md: (peerwire family, case predicate, reference row, op, bound)
#   op ">=": peerwire msgs/s  >= bound x reference;  "<=": peerwire p50 <= bound x reference
TARGETS = [
    ("c", lambda c: c in ("tp-64", "tp-1024"), "libzmq", ">=", 2.0),
    ("c", lambda c: c == "tp-16384", "raw-c-batch", ">=", 0.8),
    ("c", lambda c: c == "tp-1048576", "raw-c", ">=", 0.9),
    ("c", lambda c: c.startswith("rtt-"), "raw-c", "<=", 1.2),
    ("py", lambda c: c == "tp-64", "pyzmq", ">=", 1.0),
    ("py", lambda c: c.startswith("rtt-"), "pyzmq", "<=", 1.0),
    ("go", lambda c: c == "tp-64", "go-origin", ">=", 10.0),
]
# Reference for peerwire cells that have no target (ratio shown, no verdict).
DEFAULT_REF = {
    "c": lambda c: {"tp-64": "libzmq", "tp-1024": "libzmq", "tp-16384": "raw-c-batch"}.get(c, "raw-c"),
    "py": lambda c: "pyzmq",
    "go": lambda c: "go-origin",
}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- rows


@dataclass
class Row:
    name: str
    family: str  # "c", "py", "go": which peerwire targets compare against it
    peerwire: bool
    prefix: list  # argv before ROLE MODE SIZE COUNT PORT WARMUP
    mode: str
    what: str
    tp: bool = True
    rtt: bool = True
    env: dict = field(default_factory=dict)
    skip: str | None = None  # why it cannot run (set by the build step)

    def argv(self, role, size, count, port, warmup):
        return self.prefix + [role, self.mode, str(size), str(count), str(port), str(warmup)]


class RunError(Exception):
    pass


class Proc:
    """A child process whose stdout lines are collected by a thread."""

    def __init__(self, argv, env):
        self.argv = argv
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.lines: queue.Queue = queue.Queue()
        self.out: list[str] = []
        self.err: list[str] = []
        self.threads = [threading.Thread(target=self._pump, args=(self.p.stdout, True), daemon=True),
                        threading.Thread(target=self._pump, args=(self.p.stderr, False), daemon=True)]
        for t in self.threads:
            t.start()

    def _pump(self, f, is_out):
        for raw in f:
            line = raw.decode(errors="replace").rstrip("\n")
            (self.out if is_out else self.err).append(line)
            if is_out:
                self.lines.put(line)
        if is_out:
            self.lines.put(None)

    def first_line(self, timeout):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def wait(self, timeout):
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = None
        for t in self.threads:
            t.join(timeout=2)
        return rc

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def result(self):
        for line in reversed(self.out):
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except json.JSONDecodeError:
                    break
        return None

    def describe(self):
        name = os.path.basename(self.argv[0]) if not self.argv[0].endswith("taskset") else " ".join(self.argv[:3])
        tail = " | ".join((self.out + self.err)[-3:])
        return f"{name} {' '.join(self.argv[1:])[:80]}: {tail[:300]}"


class Runner:
    def __init__(self, timeout_s):
        self.timeout_s = timeout_s

    def env(self, row):
        e = dict(os.environ)
        e["BENCH_TIMEOUT_S"] = str(self.timeout_s)
        e.update(row.env)
        return e

    def pair(self, row, server_role, client_role, size, count, warmup, placement):
        """Runs one server/client pair; returns (server result, client result)."""
        pin_s, pin_c = PIN[placement]
        ts = lambda cpu: ["taskset", "-c", cpu] if cpu is not None else []
        env = self.env(row)
        limit = self.timeout_s + 15
        srv = Proc(ts(pin_s) + row.argv(server_role, size, count, 0, warmup), env)
        cli = None
        try:
            line = srv.first_line(limit)
            m = re.fullmatch(r"PORT (\d+)", line or "")
            if not m:
                srv.wait(5)
                raise RunError(f"no port from the {server_role} side: {srv.describe()}")
            cli = Proc(ts(pin_c) + row.argv(client_role, size, count, int(m.group(1)), warmup), env)
            rc_c = cli.wait(limit)
            rc_s = srv.wait(limit if rc_c == 0 else 10)
            rs, rcl = srv.result(), cli.result()
            for proc, rc, r, role in ((cli, rc_c, rcl, client_role), (srv, rc_s, rs, server_role)):
                if rc is None:
                    raise RunError(f"{role} side timed out: {proc.describe()}")
                if r is None or not r.get("ok") or rc != 0:
                    why = r.get("error") if r else None
                    raise RunError(f"{role} side failed (exit {rc}): {why or proc.describe()}")
            return rs, rcl
        finally:
            srv.kill()
            if cli:
                cli.kill()

    def throughput(self, row, size, count):
        rs, rc = self.pair(row, "recv", "send", size, count, 0, "unpinned")
        secs = rs["seconds"]
        if rs["msgs"] != count:
            raise RunError(f"received {rs['msgs']} of {count} messages")
        ok = secs > 0
        return {"n": count, "seconds": secs,
                "msgs_s": rs["msgs"] / secs if ok else math.nan,
                "mb_s": rs["bytes"] / secs / 1e6 if ok else math.nan,
                "cpu_send": rc["cpu_user"] + rc["cpu_sys"],
                "cpu_recv": rs["cpu_user"] + rs["cpu_sys"]}

    def round_trip(self, row, placement, count, warmup):
        rs, rc = self.pair(row, "pong", "ping", RTT_SIZE, count, warmup, placement)
        return {"n": rc["rtts"], "seconds": rc["seconds"], "p50": rc["p50_us"], "p99": rc["p99_us"],
                "mean": rc["mean_us"],
                "cpu_send": rc["cpu_user"] + rc["cpu_sys"],
                "cpu_recv": rs["cpu_user"] + rs["cpu_sys"]}


# ---------------------------------------------------------------- building


def sh(argv, cwd=None, env=None, timeout=600):
    """Runs a build command; returns (ok, output tail)."""
    try:
        p = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    out = p.stdout.decode(errors="replace").strip()
    return p.returncode == 0, one_line(out.splitlines()[-6:])


def one_line(lines, limit=400):
    """Build output condensed for a table cell / a skip reason."""
    text = " / ".join(x.strip() for x in lines if x.strip())
    return text if len(text) <= limit else text[:limit] + " …"


class Builder:
    def __init__(self, args):
        self.args = args
        self.apt_updated = False
        os.makedirs(BUILD, exist_ok=True)

    def gcc(self, out, srcs, extra=()):
        if not shutil.which("gcc"):
            return "gcc not found (apt-get install gcc)"
        ok, msg = sh(["gcc", "-O2", "-Wall", "-Wextra", "-o", os.path.join(BUILD, out), *srcs, *extra])
        return None if ok else f"gcc {out} failed: {msg}"

    def apt_install(self, pkg):
        if self.args.no_install:
            return f"{pkg} missing (--no-install)"
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            return f"{pkg} missing: run apt-get install {pkg} as root"
        log(f"[build] apt-get install {pkg} ...")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        if not self.apt_updated:
            ok, msg = sh(["apt-get", "update", "-q"], env=env)
            self.apt_updated = True
            if not ok:
                return f"apt-get update failed: {msg}"
        ok, msg = sh(["apt-get", "install", "-y", "-q", pkg], env=env)
        return None if ok else f"apt-get install {pkg} failed: {msg}"

    def pip_install(self, pkg, module):
        ok, _ = sh([sys.executable, "-c", f"import {module}"])
        if ok:
            return None
        if self.args.no_install:
            return f"Python module {module} missing (--no-install): pip install {pkg}"
        log(f"[build] pip install {pkg} ...")
        ok, msg = sh([sys.executable, "-m", "pip", "install", "-q", pkg])
        if not ok:
            return f"pip install {pkg} failed: {msg}"
        ok, msg = sh([sys.executable, "-c", f"import {module}"])
        return None if ok else f"{module} still not importable: {msg}"

    def zmq(self):
        if not os.path.exists("/usr/include/zmq.h"):
            err = self.apt_install("libzmq3-dev")
            if err:
                return err
        return self.gcc("zmq_bench", [os.path.join(BENCH, "ref", "zmq_bench.c")], ["-lzmq"])

    def go_ref(self):
        if not shutil.which("go"):
            return "go not found (install Go >= 1.21)"
        ok, msg = sh(["go", "build", "-o", os.path.join(BUILD, "goref"), "."],
                     cwd=os.path.join(BENCH, "go", "ref"))
        return None if ok else f"go build failed: {msg}"

    def peerwire_c(self, out, src):
        inc, lib = self.args.incdir, self.args.libdir
        if not os.path.exists(os.path.join(inc, "peerwire.h")):
            return f"{inc}/peerwire.h missing: run `make lib`"
        if not os.path.exists(os.path.join(lib, "libpeerwire.so")):
            return f"{lib}/libpeerwire.so missing: run `make lib`"
        return self.gcc(out, [os.path.join(BENCH, src)],
                        [f"-I{inc}", f"-L{lib}", "-lpeerwire", f"-Wl,-rpath,{lib}", "-lpthread"])

    def peerwire_py(self):
        pkg = os.path.join(ROOT, "bindings", "python")
        if not os.path.isdir(os.path.join(pkg, "peerwire")):
            return "TODO: the Python binding (bindings/python/peerwire) does not exist yet"
        env = dict(os.environ, PYTHONPATH=pkg,
                   PEERWIRE_LIBRARY=os.path.join(self.args.libdir, "libpeerwire.so"))
        ok, msg = sh([sys.executable, os.path.join(BENCH, "peerwire_py.py"), "--check"], env=env)
        return None if ok else f"Python binding not usable: {msg}"

    def peerwire_go(self):
        if not os.path.exists(os.path.join(ROOT, "bindings", "go", "go.mod")):
            return "TODO: the Go binding (bindings/go) does not exist yet"
        if not shutil.which("go"):
            return "go not found"
        d = os.path.join(BENCH, "go", "pw")
        env = dict(os.environ, CGO_ENABLED="1",
                   CGO_CFLAGS=f"-I{self.args.incdir}",
                   CGO_LDFLAGS=f"-L{self.args.libdir} -lpeerwire -Wl,-rpath,{self.args.libdir}")
        ok, msg = sh(["go", "build", "-o", os.path.join(BUILD, "pwgo"), "."], cwd=d, env=env)
        return None if ok else f"go build of the Go binding row failed: {msg}"


def make_rows(args):
    b = os.path.join
    py = sys.executable
    pyenv = {"PYTHONPATH": b(ROOT, "bindings", "python"),
             "PEERWIRE_LIBRARY": b(args.libdir, "libpeerwire.so")}
    rows = [
        Row("raw-c", "c", False, [b(BUILD, "raw_c")], "plain", "C, blocking, TCP_NODELAY, one writev per message"),
        Row("raw-c-batch", "c", False, [b(BUILD, "raw_c")], "batch", "C, frames packed into 64 KiB writes", rtt=False),
        Row("libzmq", "c", False, [b(BUILD, "zmq_bench")], "-", "libzmq PUSH/PULL, PAIR round trip"),
        Row("go-origin", "go", False, [b(BUILD, "goref")], "origin", "Go, goroutine per conn, bufio, flush per message"),
        Row("go-batched", "go", False, [b(BUILD, "goref")], "batched", "Go, flush when the 64 KiB buffer fills", rtt=False),
        Row("pyzmq", "py", False, [py, b(BENCH, "ref", "py_bench.py")], "pyzmq", "pyzmq PUSH/PULL, PAIR round trip"),
        Row("asyncio", "py", False, [py, b(BENCH, "ref", "py_bench.py")], "asyncio", "Python asyncio streams"),
        Row("peerwire-c", "c", True, [b(BUILD, "peerwire_bench")], "pull", "peerwire C API, recv_batch pull"),
        Row("peerwire-c-cb", "c", True, [b(BUILD, "peerwire_bench")], "cb", "peerwire C API, message callback"),
        Row("peerwire-py", "py", True, [py, b(BENCH, "peerwire_py.py")], "one",
            "peerwire Python binding, send() per message, recv_many()", env=pyenv),
        Row("peerwire-py-many", "py", True, [py, b(BENCH, "peerwire_py.py")], "many",
            "peerwire Python binding, send_many(), recv_many()", rtt=False, env=pyenv),
        Row("peerwire-go", "go", True, [b(BUILD, "pwgo")], "chan", "peerwire Go binding, Send, Consume() channel"),
        Row("peerwire-go-many", "go", True, [b(BUILD, "pwgo")], "many",
            "peerwire Go binding, SendMany, Consume() channel", rtt=False),
    ]
    return rows


def build(args, rows):
    bd = Builder(args)
    byname = {r.name: r for r in rows}
    wanted = {r.name for r in rows if selected(args, r)}
    steps = [
        (["raw-c", "raw-c-batch"], lambda: bd.gcc("raw_c", [os.path.join(BENCH, "ref", "raw_c.c")])),
        (["libzmq"], bd.zmq),
        (["go-origin", "go-batched"], bd.go_ref),
        (["pyzmq"], lambda: bd.pip_install("pyzmq", "zmq")),
        (["asyncio"], lambda: None),
        (["peerwire-c", "peerwire-c-cb"], lambda: bd.peerwire_c("peerwire_bench", "peerwire_bench.c")),
        (["peerwire-py", "peerwire-py-many"], bd.peerwire_py),
        (["peerwire-go", "peerwire-go-many"], bd.peerwire_go),
    ]
    for names, fn in steps:
        names = [n for n in names if n in wanted]
        if not names:
            continue
        if args.no_peerwire and byname[names[0]].peerwire:
            err = "skipped (--no-peerwire)"
        else:
            log(f"[build] {', '.join(names)}")
            err = fn()
        for n in names:
            byname[n].skip = err
        if err:
            log(f"[build]   skipped: {err}")
    if not args.smoke:  # the chart: matplotlib if it can be had, else run.py draws an SVG itself
        err = bd.pip_install("matplotlib", "matplotlib")
        if err:
            log(f"[build] chart will be SVG: {err}")
    extra = {}
    if not args.no_scale:
        extra["scale_clients"] = bd.gcc("scale_clients", [os.path.join(BENCH, "ref", "scale_clients.c")])
        extra["scale_peerwire"] = ("skipped (--no-peerwire)" if args.no_peerwire
                                   else bd.peerwire_c("scale", "scale.c"))
        extra["scale_go"] = byname["go-origin"].skip if "go-origin" in wanted else bd.go_ref()
    return extra


def selected(args, row):
    return not args.only or any(re.fullmatch(p, row.name) for p in args.only.split(","))


# ---------------------------------------------------------------- measuring


def calibrate(runner, row, size, log_prefix):
    """Finds N so that one run lasts about TARGET_SECONDS."""
    n = PROBE_N[size]
    for _ in range(8):
        r = runner.throughput(row, size, n)
        if r["seconds"] >= 0.25 or n >= MAX_N:
            break
        grow = 0.4 / max(r["seconds"], 1e-4)
        n = min(MAX_N, int(n * min(20.0, max(2.0, grow))))
    rate = r["msgs_s"] if r["msgs_s"] == r["msgs_s"] else n / 0.25
    n = max(10, min(MAX_N, int(rate * TARGET_SECONDS)))
    log(f"{log_prefix} {row.name}: N = {n}")
    return n


def measure(args, rows, runner):
    """Returns {(row, case): [result dicts]} and {(row, case): error}."""
    results: dict = {}
    errors: dict = {}
    runnable = [r for r in rows if r.skip is None and selected(args, r)]
    cases = []
    if not args.no_throughput:
        cases += [("tp", s, None) for s in args.sizes]
    if not args.no_rtt:
        cases += [("rtt", RTT_SIZE, p) for p in args.placements]
    ncpu = os.cpu_count() or 1
    for kind, size, placement in cases:
        case = f"tp-{size}" if kind == "tp" else f"rtt-{placement}"
        part = [r for r in runnable if (r.tp if kind == "tp" else r.rtt)]
        if kind == "rtt" and placement == "split-cores" and ncpu < 2:
            for r in part:
                errors[(r.name, case)] = "skipped: one CPU only"
            continue
        if kind == "rtt" and placement != "unpinned" and not shutil.which("taskset"):
            for r in part:
                errors[(r.name, case)] = "skipped: taskset not found (util-linux)"
            continue
        label = SIZE_LABEL[size] + " one-way" if kind == "tp" else f"64 B round trip, {placement}"
        log(f"[run] {label}")
        counts = {}
        for r in part:
            if kind == "tp":
                if args.smoke:
                    counts[r.name] = SMOKE_N[size]
                else:
                    try:
                        counts[r.name] = calibrate(runner, r, size, "[calibrate]")
                    except RunError as e:
                        errors[(r.name, case)] = str(e)
        for rep in range(args.reps):
            for r in part:  # interleaved: A B C A B C ...
                if (r.name, case) in errors:
                    continue
                try:
                    if kind == "tp":
                        res = runner.throughput(r, size, counts[r.name])
                    else:
                        w, c = ((SMOKE_RTT_WARMUP, SMOKE_RTT_COUNT) if args.smoke else (RTT_WARMUP, RTT_COUNT))
                        res = runner.round_trip(r, placement, c, w)
                except RunError as e:
                    errors[(r.name, case)] = str(e)
                    log(f"[run]   {r.name}: FAILED {e}")
                    continue
                results.setdefault((r.name, case), []).append(res)
                brief = (f"{fmt_rate(res['msgs_s'])} msg/s {res['mb_s']:.0f} MB/s" if kind == "tp"
                         else f"p50 {res['p50']:.1f} us p99 {res['p99']:.1f} us")
                log(f"[run]   rep {rep + 1} {r.name}: {brief}")
    return cases, results, errors


def median_of(results, key):
    vals = [r[key] for r in results if r.get(key) == r.get(key)]
    return statistics.median(vals) if vals else math.nan


# ---------------------------------------------------------------- scale


def measure_scale(args, rows, runner, extra):
    """Scale benchmark: PEERS raw-socket clients against one peerwire transport / a Go server."""
    out = {}
    if args.no_scale:
        return out
    peers = args.scale_peers
    servers = [("peerwire", [os.path.join(BUILD, "scale")], extra.get("scale_peerwire")),
               ("go-origin", [os.path.join(BUILD, "goref"), "scale-server"], extra.get("scale_go"))]
    reps = 1 if args.smoke else args.reps
    env = dict(os.environ, BENCH_TIMEOUT_S=str(runner.timeout_s))
    log(f"[run] scale: {peers} peers")
    for rep in range(reps):
        for name, argv, err in servers:
            err = err or extra.get("scale_clients")
            if err:
                out.setdefault(name, {"error": f"skipped: {err}"})
                continue
            if "error" in out.get(name, {}):
                continue
            srv = Proc(argv + [str(peers), "1024"], env)
            cli = None
            try:
                line = srv.first_line(runner.timeout_s + 15)
                m = re.fullmatch(r"PORT (\d+)", line or "")
                if not m:
                    srv.wait(5)
                    raise RunError(f"no port: {srv.describe()}")
                cli = Proc([os.path.join(BUILD, "scale_clients"), m.group(1), str(peers), "1024"], env)
                rc_c = cli.wait(runner.timeout_s + 15)
                rc_s = srv.wait(runner.timeout_s + 15)
                rs, rc = srv.result(), cli.result()
                if rs is None or not rs.get("ok") or rc_s != 0:
                    raise RunError(f"server failed (exit {rc_s}): {(rs or {}).get('error') or srv.describe()}")
                if rc is None or not rc.get("ok") or rc_c != 0:
                    raise RunError(f"clients failed (exit {rc_c}): {(rc or {}).get('error') or cli.describe()}")
                res = {"peers": rs["peers"], "bytes_per_peer": rs["bytes_per_peer"],
                       "accept_per_s": rs["accept_per_s"], "bcast_call_ms": rs["bcast_call_s"] * 1e3,
                       "bcast_all_ms": (rc["t_all_received"] - rs["bcast_t0"]) * 1e3,
                       "rss_peers_mb": rs["rss_peers_kb"] / 1024}
                out.setdefault(name, {"runs": []})["runs"].append(res)
                log(f"[run]   rep {rep + 1} {name}: {res['bytes_per_peer'] / 1024:.1f} KiB/peer, "
                    f"{res['accept_per_s']:.0f} accepts/s, broadcast {res['bcast_all_ms']:.1f} ms")
            except RunError as e:
                out[name] = {"error": str(e)}
                log(f"[run]   {name}: FAILED {e}")
            finally:
                srv.kill()
                if cli:
                    cli.kill()
    return out


# ---------------------------------------------------------------- reporting


def fmt_rate(v):
    if v != v:
        return "-"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M"
    if v >= 1e3:
        return f"{v / 1e3:.1f} k"
    return f"{v:.0f}"


def fmt_num(v, digits=3):
    if v != v:
        return "-"
    if v >= 100:
        return f"{v:.0f}"
    return f"{v:.{digits}g}"


def case_label(case):
    kind, rest = case.split("-", 1)
    if kind == "tp":
        return SIZE_LABEL[int(rest)] + " one-way"
    return "64 B RTT " + rest


def target_for(row, case):
    # The Python one-way target is judged on send_many (the binding's batch API, like pyzmq's
    # batching inside libzmq); one ctypes call per message is shown beside it, unjudged.
    if row.name == "peerwire-py" and case == "tp-64":
        return None
    for fam, pred, ref, op, bound in TARGETS:
        if row.family == fam and pred(case):
            return ref, op, bound
    return None


def build_table(rows, cases, results, errors):
    """Returns (markdown lines, verdict list)."""
    hdr = ["case", "transport", "N", "msgs/s", "MB/s", "CPU s send", "CPU s recv", "CPU µs/msg",
           "p50 µs", "p99 µs", "ratio", "target"]
    lines = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    verdicts = []
    for kind, size, placement in cases:
        case = f"tp-{size}" if kind == "tp" else f"rtt-{placement}"
        for r in rows:
            if r.skip is not None or not (r.tp if kind == "tp" else r.rtt):
                continue
            key = (r.name, case)
            if key not in results and key not in errors:
                continue
            label = case_label(case)
            if key not in results:
                cells = [label, r.name, "", "FAILED: " + errors[key][:120]] + [""] * 8
                lines.append("| " + " | ".join(cells) + " |")
                continue
            res = results[key]
            n = int(statistics.median(x["n"] for x in res))
            cs, cr = median_of(res, "cpu_send"), median_of(res, "cpu_recv")
            cpu_per = (cs + cr) / n * 1e6 if n else math.nan
            if kind == "tp":
                main = median_of(res, "msgs_s")
                vals = [fmt_rate(main), fmt_num(median_of(res, "mb_s")), fmt_num(cs), fmt_num(cr),
                        fmt_num(cpu_per), "", ""]
            else:
                main = median_of(res, "p50")
                vals = ["", "", fmt_num(cs), fmt_num(cr), fmt_num(cpu_per), fmt_num(main),
                        fmt_num(median_of(res, "p99"))]
            ratio_s = target_s = ""
            if r.peerwire:
                t = target_for(r, case)
                ref = t[0] if t else DEFAULT_REF[r.family](case)
                metric = "msgs_s" if kind == "tp" else "p50"
                refres = results.get((ref, case))
                if refres:
                    ratio = main / median_of(refres, metric)
                    ratio_s = f"{ratio:.2f}× {ref}"
                    if t:
                        _, op, bound = t
                        met = ratio >= bound if op == ">=" else ratio <= bound
                        target_s = f"{op} {bound:g}: {'MET' if met else 'missed'}"
                        verdicts.append((r.name, label, ratio, ref, op, bound, met))
                else:
                    ratio_s = f"({ref} not measured)"
                    if t:
                        target_s = f"{t[1]} {t[2]:g}: no reference"
            lines.append("| " + " | ".join([label, r.name, str(n)] + vals + [ratio_s, target_s]) + " |")
    return lines, verdicts


def scale_table(scale):
    if not scale:
        return []
    lines = ["| server | peers | memory per idle peer | RSS with peers | accepts+handshakes /s | "
             "broadcast call | broadcast delivered to all | target |",
             "|---|---|---|---|---|---|---|---|"]
    for name, d in scale.items():
        if "runs" not in d:
            lines.append(f"| {name} | {d['error'][:150]} | | | | | | |")
            continue
        runs = d["runs"]
        bpp = median_of(runs, "bytes_per_peer")
        target = ""
        if name == "peerwire":
            target = f"≤ 8 KiB/peer: {'MET' if bpp <= 8192 else 'missed'}"
        lines.append(f"| {name} | {runs[0]['peers']} | {bpp / 1024:.2f} KiB | {median_of(runs, 'rss_peers_mb'):.0f} MB"
                     f" | {median_of(runs, 'accept_per_s'):.0f} | {median_of(runs, 'bcast_call_ms'):.1f} ms"
                     f" | {median_of(runs, 'bcast_all_ms'):.1f} ms | {target} |")
    return lines


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def ver(argv):
        ok, msg = sh(argv, timeout=20)
        return msg.splitlines()[0] if ok and msg else "n/a"

    zmqv = "n/a"
    if os.path.exists("/usr/include/zmq.h"):
        ok, msg = sh(["dpkg-query", "-W", "-f=${Version}", "libzmq3-dev"], timeout=20)
        zmqv = msg if ok else "installed"
    return {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "gcc": ver(["gcc", "-dumpfullversion"]),
        "go": ver(["go", "version"]),
        "python": platform.python_version(),
        "libzmq": zmqv,
    }


def chart(path, rows, results, sizes):
    """Throughput comparison chart: matplotlib PNG if available, else a hand-written SVG."""
    data = []  # (size, [(row, value, is_peerwire)])
    for size in sizes:
        case = f"tp-{size}"
        vals = []
        for r in rows:
            res = results.get((r.name, case))
            if res:
                v = median_of(res, "msgs_s" if size == 64 else "mb_s")
                vals.append((r.name, v, r.peerwire))
        if vals:
            data.append((size, vals))
    if not data:
        return None
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        path = os.path.splitext(path)[0] + ".svg"
        return svg_chart(path, data)
    fig, axes = plt.subplots(1, len(data), figsize=(4.2 * len(data), 4.6), squeeze=False)
    for ax, (size, vals) in zip(axes[0], data):
        names = [v[0] for v in vals][::-1]
        nums = [v[1] for v in vals][::-1]
        colors = ["#d9480f" if v[2] else "#4c6ef5" for v in vals][::-1]
        ax.barh(names, nums, color=colors)
        ax.set_title(f"{SIZE_LABEL[size]}: " + ("msgs/s" if size == 64 else "MB/s"))
        if size == 64:  # msgs/s spans decades: log scale from the decade below the smallest
            ax.set_xscale("log")
            lo = min(n for n in nums if n == n and n > 0)
            ax.set_xlim(left=10 ** math.floor(math.log10(lo / 2)), right=max(nums) * 4)
        else:
            ax.set_xlim(left=0, right=max(nums) * 1.25)
        ax.grid(axis="x", alpha=0.3)
        for i, n in enumerate(nums):
            ax.text(n, i, " " + (fmt_rate(n) if size == 64 else fmt_num(n)), va="center", fontsize=8)
    fig.suptitle("peerwire vs references: one-way throughput on 127.0.0.1, median (64 B panel: log scale)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def svg_chart(path, data):
    w_panel, bar_h, gap = 330, 18, 4
    nmax = max(len(v) for _, v in data)
    h = 60 + nmax * (bar_h + gap)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w_panel * len(data)}" height="{h}" '
             'font-family="sans-serif" font-size="11">',
             '<rect width="100%" height="100%" fill="white"/>']
    for p, (size, vals) in enumerate(data):
        x0 = p * w_panel + 95
        top = max(v for _, v, _ in vals if v == v) or 1
        parts.append(f'<text x="{p * w_panel + 10}" y="20" font-weight="bold">{SIZE_LABEL[size]}: '
                     f'{"msgs/s" if size == 64 else "MB/s"} (log)</text>')
        for i, (name, v, pw) in enumerate(vals):
            y = 35 + i * (bar_h + gap)
            frac = max(0.02, math.log10(max(v, 1)) / math.log10(max(top, 10))) if v == v else 0
            wbar = frac * (w_panel - 170)
            parts.append(f'<text x="{x0 - 5}" y="{y + 13}" text-anchor="end">{name}</text>')
            parts.append(f'<rect x="{x0}" y="{y}" width="{wbar:.1f}" height="{bar_h}" '
                         f'fill="{"#d9480f" if pw else "#4c6ef5"}"/>')
            parts.append(f'<text x="{x0 + wbar + 4:.1f}" y="{y + 13}">'
                         f'{fmt_rate(v) if size == 64 else fmt_num(v)}</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")
    return path


def write_results(path, args, mach, rows, table, verdicts, scale_lines, chart_path, started, elapsed):
    skipped = [r for r in rows if r.skip is not None and selected(args, r)]
    md = ["# peerwire benchmark results", "",
          f"Produced by `{'make bench-smoke' if args.smoke else 'make bench'}` (`bench/run.py"
          f"{' --smoke' if args.smoke else ''}`); protocol, references and targets: `../shared/BENCH.md`.",
          "Every ratio is against a reference measured in the same run: transports interleaved "
          f"(A B C A B C …), {args.reps} repetition(s), medians. 1 MB = 10^6 B (payload only).",
          "", "## Machine", "",
          f"- date: {mach['date']} (run started {started}, took {elapsed:.0f} s)",
          f"- CPUs (nproc): {mach['nproc']}; model: {mach['cpu']}",
          f"- kernel: {mach['kernel']}; load average at start: {mach['load']}, at the end: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
          f"- gcc {mach['gcc']}; {mach['go']}; Python {mach['python']}; libzmq3-dev {mach['libzmq']}",
          "", "## Results", "",
          "Throughput: the receiver's messages between its first and last message; N chosen per "
          "transport so that a run lasts about 1–3 s. CPU s: user+sys of each process (getrusage), "
          "whole run; CPU µs/msg: both sides together per message (per round trip for RTT rows). "
          "RTT: 64 B ping-pong, "
          f"{SMOKE_RTT_WARMUP if args.smoke else RTT_WARMUP} warm-up + "
          f"{SMOKE_RTT_COUNT if args.smoke else RTT_COUNT} timed round trips; same-core = both processes "
          "`taskset -c 0`, split-cores = `-c 0` / `-c 1`.", ""] + table
    if skipped:
        md += ["", "Rows not run:", ""] + [f"- {r.name}: {r.skip}" for r in skipped]
    if verdicts:
        met = sum(1 for v in verdicts if v[6])
        md += ["", f"## Targets: {met} of {len(verdicts)} met", ""]
        for name, label, ratio, ref, op, bound, ok in verdicts:
            md.append(f"- {name}, {label}: {ratio:.2f}× {ref} (target {op} {bound:g}×) — "
                      f"{'met' if ok else 'missed'}")
    if scale_lines:
        md += ["", f"## Scale: {args.scale_peers} peers on one transport", "",
               "Raw-socket clients in a second process; memory per idle peer = VmRSS delta / peers; "
               "accept rate between the first and the last PEER_CONNECTED; broadcast of one 1 KiB "
               "message, call duration and time until every client had it (CLOCK_MONOTONIC, both "
               "processes).", ""] + scale_lines
    if chart_path:
        md += ["", "## Chart", "", f"![throughput]({os.path.relpath(chart_path, os.path.dirname(path))})"]
    with open(path, "w") as f:
        f.write("\n".join(md) + "\n")


# ---------------------------------------------------------------- main


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="tiny N, one repetition, seconds in total")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 3, smoke 1)")
    ap.add_argument("--only", default="", help="comma-separated row names / regexes to run")
    ap.add_argument("--sizes", default="", help="comma-separated message sizes (default 64,1024,16384,1048576)")
    ap.add_argument("--placements", default="", help="round-trip placements (unpinned,same-core,split-cores)")
    ap.add_argument("--no-throughput", action="store_true")
    ap.add_argument("--no-rtt", action="store_true")
    ap.add_argument("--no-scale", action="store_true")
    ap.add_argument("--no-peerwire", action="store_true", help="reference rows only")
    ap.add_argument("--no-install", action="store_true", help="never apt-get / pip install")
    ap.add_argument("--scale-peers", type=int, default=None, help="default 10000 (smoke 200)")
    ap.add_argument("--timeout", type=int, default=None, help="per-process bound in seconds")
    ap.add_argument("--libdir", default=os.environ.get("LIBDIR") or os.path.join(ROOT, "target", "release"))
    ap.add_argument("--incdir", default=os.environ.get("INCDIR") or os.path.join(ROOT, "include"))
    ap.add_argument("--out", default=None, help="results markdown (default bench/RESULTS.md; smoke: bench/build/)")
    ap.add_argument("--chart", default=None, help="chart image (default bench/throughput.png; smoke: bench/build/)")
    a = ap.parse_args()
    a.reps = a.reps or (1 if a.smoke else 3)
    a.sizes = [int(s) for s in a.sizes.split(",")] if a.sizes else list(SIZES)
    for s in a.sizes:
        if s not in SIZE_LABEL:
            ap.error(f"size {s} not one of {SIZES}")
    a.placements = a.placements.split(",") if a.placements else (["unpinned"] if a.smoke else list(PLACEMENTS))
    for p in a.placements:
        if p not in PLACEMENTS:
            ap.error(f"placement {p} not one of {PLACEMENTS}")
    a.scale_peers = a.scale_peers or (200 if a.smoke else 10000)
    a.timeout = a.timeout or (20 if a.smoke else 60)
    # only a complete full run replaces bench/RESULTS.md and bench/throughput.png
    partial = bool(a.only or a.sizes != SIZES or a.placements != PLACEMENTS or a.no_throughput
                   or a.no_rtt or a.no_scale or a.no_peerwire or a.reps < 3 or a.scale_peers != 10000)
    tag = "smoke" if a.smoke else ("partial" if partial else "")
    outdir = BUILD if tag else BENCH
    a.out = a.out or os.path.join(outdir, f"RESULTS-{tag}.md" if tag else "RESULTS.md")
    a.chart = a.chart or os.path.join(outdir, f"throughput-{tag}.png" if tag else "throughput.png")
    a.libdir, a.incdir = os.path.abspath(a.libdir), os.path.abspath(a.incdir)
    return a


def main():
    args = parse_args()
    t0 = time.monotonic()
    started = datetime.datetime.now().strftime("%H:%M:%S")
    mach = machine()
    log(f"[bench] {'smoke' if args.smoke else 'full'} run on {mach['nproc']} CPUs ({mach['cpu']}), "
        f"load {mach['load']}")
    rows = make_rows(args)
    extra = build(args, rows)
    runner = Runner(args.timeout)
    cases, results, errors = measure(args, rows, runner)
    scale = measure_scale(args, rows, runner, extra)
    sel = [r for r in rows if selected(args, r)]
    table, verdicts = build_table(sel, cases, results, errors)
    scale_lines = scale_table(scale)
    chart_path = None
    try:
        chart_path = chart(args.chart, sel, results, [s for k, s, _ in cases if k == "tp"])
    except Exception as e:  # the chart is a by-product: report, keep the table
        log(f"[chart] failed: {e!r}")
    elapsed = time.monotonic() - t0
    raw = os.path.join(BUILD, os.path.splitext(os.path.basename(args.out))[0] + ".json")
    with open(raw, "w") as f:  # every repetition, for re-plotting / later analysis
        json.dump({"machine": mach, "results": {f"{n} {c}": v for (n, c), v in results.items()},
                   "errors": {f"{n} {c}": e for (n, c), e in errors.items()}, "scale": scale}, f, indent=1)
    write_results(args.out, args, mach, sel, table, verdicts, scale_lines, chart_path, started, elapsed)

    print()
    print("\n".join(table))
    skipped = [r for r in sel if r.skip is not None]
    for r in skipped:
        print(f"  not run: {r.name}: {r.skip}")
    if scale_lines:
        print()
        print("\n".join(scale_lines))
    if verdicts:
        print(f"\ntargets met: {sum(1 for v in verdicts if v[6])} of {len(verdicts)}")
    print(f"\nwritten: {os.path.relpath(args.out, ROOT)}" +
          (f", {os.path.relpath(chart_path, ROOT)}" if chart_path else "") + f" ({elapsed:.0f} s)")

    # exit status: something that was built failed, or a peerwire row could not be built
    failed = [f"{n} {c}: {e}" for (n, c), e in errors.items() if not e.startswith("skipped")]
    failed += [f"scale {n}: {d['error']}" for n, d in scale.items()
               if "error" in d and not d["error"].startswith("skipped")]
    if not args.no_peerwire:
        failed += [f"{r.name}: not built: {r.skip}" for r in sel
                   if r.peerwire and r.skip and not r.skip.startswith("TODO")]
        if not args.no_scale and extra.get("scale_peerwire"):
            failed.append(f"scale peerwire: not built: {extra['scale_peerwire']}")
    if failed:
        print("\nFAILED:\n  " + "\n  ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
