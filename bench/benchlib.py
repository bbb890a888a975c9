"""Shared helpers for the Python benchmark programs (peerwire_py.py, ref/py_bench.py), in the
benchmark protocol of common.h: arguments ROLE MODE SIZE COUNT PORT WARMUP, one JSON result
line per role.  The programs put this file's directory on sys.path before importing it.
"""
import json
import os
import resource
import sys


def timeout_s():
    try:
        v = int(os.environ.get("BENCH_TIMEOUT_S", "60"))
        return v if v > 0 else 60
    except ValueError:
        return 60


def emit(d):
    ru = resource.getrusage(resource.RUSAGE_SELF)
    d["cpu_user"], d["cpu_sys"] = ru.ru_utime, ru.ru_stime
    print(json.dumps(d), flush=True)


def fail(role, err):
    print(json.dumps({"ok": False, "role": role, "error": str(err)}), flush=True)
    sys.exit(1)


def emit_rtt(rtt, total):
    """Sorts rtt (seconds) and prints the ping result line."""
    rtt.sort()
    n = len(rtt)
    emit({"ok": True, "role": "ping", "rtts": n, "p50_us": rtt[(n - 1) * 50 // 100] * 1e6,
          "p99_us": rtt[(n - 1) * 99 // 100] * 1e6, "mean_us": sum(rtt) / n * 1e6,
          "min_us": rtt[0] * 1e6, "max_us": rtt[-1] * 1e6, "seconds": total})


def parse_args(usage):
    """Returns (role, mode, size, count, port, warmup) from sys.argv; prints usage and exits 2
    when the count of arguments is wrong."""
    if len(sys.argv) != 7:
        print(usage, file=sys.stderr)
        sys.exit(2)
    role, mode = sys.argv[1], sys.argv[2]
    size, count, port, warmup = (int(x) for x in sys.argv[3:7])
    return role, mode, size, count, port, warmup
