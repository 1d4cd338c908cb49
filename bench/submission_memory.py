"""How much memory one submission's processes reach together before the sandbox stops them.

    python bench/submission_memory.py                      # 4 processes of 400 MB against a 1024 MB limit
    python bench/submission_memory.py --procs 6 --mb 700 --limit 2048

A submission (the numpy `adversarial` test problem set, memory_limit_mb from --limit) starts PROCS
exec'd Python processes that each fill MB of memory (each within the per-process RLIMIT_AS, together
over the limit) and sleeps. The grader is sampled from outside every 5 ms: the summed resident memory
(VmRSS, anonymous part) of every host process running as the sandbox's user id (root only: as a normal
user the sandbox's processes are the user's own and cannot be told apart). It prints the peak, the
limit and the verdict's message. Before issue 12, nothing bounded the sum (5.3 GiB against 4096 MB).
This is a measurement, not a test: the overshoot depends on how fast the pages are filled and on the
watch interval (runner/forkserver.py WATCH_INTERVAL).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SUBMISSION = """
import subprocess, sys, time
# %% p1
def square(x):
    hog = "b = bytearray(b'x') * ({mb} << 20); import time; time.sleep(60)"
    kids = [subprocess.Popen([sys.executable, "-c", hog]) for _ in range({procs})]
    time.sleep(60)
    return x * x


# %% p2
def double(x):
    return 2 * x


# %% p3
def negate(x):
    return -x


# %% p4
def halve(x):
    return x / 2
"""


def anon_rss(uid: int) -> int:
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if str(uid) not in fields.get("Uid", "").split():
            continue
        total += int(fields.get("RssAnon", "0 kB").split()[0]) * 1024
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--procs", type=int, default=4)
    parser.add_argument("--mb", type=int, default=400)
    parser.add_argument("--limit", type=int, default=1024)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root: the sandbox's processes are then told apart by their user id", file=sys.stderr)
        return 2
    from dataclasses import replace

    from adgrade.engine import GradeOptions, grade_submission
    from adgrade.runner.sandbox import launcher_factory
    from adgrade.spec import load_assignment

    spec = load_assignment(ROOT / "tests" / "fixtures" / "adversarial")
    spec = replace(spec, memory_limit_mb=args.limit)
    factory = launcher_factory("bwrap")
    folder = Path(tempfile.mkdtemp(prefix="adgrade-bench-"))
    path = folder / "hog.py"
    path.write_text(SUBMISSION.format(mb=args.mb, procs=args.procs))
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], anon_rss(factory.sandbox.uid))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    try:
        report = grade_submission(path, spec, GradeOptions(launcher_factory=factory, time_limit=30))
    finally:
        stop.set()
        sampler.join()
        factory.close()
        shutil.rmtree(folder, ignore_errors=True)
    p1 = next(p for p in report.problems if p.id == "p1")
    message = " ".join([c.message for c in p1.checks] + p1.notes)
    print(f"{args.procs} processes x {args.mb} MB (attempted {args.procs * args.mb} MB), limit {args.limit} MB "
          f"for the whole submission")
    print(f"peak resident anonymous memory of the submission's processes: {peak[0] / 2**20:.0f} MB "
          f"({peak[0] / 2**20 / args.limit:.2f} x the limit)")
    print(f"graded in {time.monotonic() - started:.1f} s; p1: {p1.status}: {message[:200]}")
    print(f"score {report.score:g} / {report.max_score:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
