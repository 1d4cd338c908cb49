"""`adgrade check` against the student's own `python submission.py`, side by side in one run.

    python bench/check_vs_python.py                      # jax-nn correct.py, sandbox bwrap, 3 rounds
    python bench/check_vs_python.py --sandbox none --rounds 5

Each round runs, in an order that rotates from round to round (a load change hits every side alike):

* python: `python correct.py` in a fresh process: the student's own run (every cell, no grader);
* warm:   `adgrade check correct.py -a jax-nn` with a JAX compilation cache the previous checks filled;
* cold:   the same with an empty compilation cache (a fresh folder in ADGRADE_JAX_CACHE).

It prints each run's wall and CPU time (the process and its children, from wait4), the medians, and
the ratios warm/python and cold/python (targets: at most 0.8 and 1.5). A benchmark, not a test: the
figures depend on the machine and its load, printed with them.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "submissions_example" / "jax-nn" / "correct.py"


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the process tree, exit code)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode


def adgrade_command() -> list[str]:
    exe = Path(sys.executable).with_name("adgrade")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "adgrade.cli"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submission", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("-a", "--assignment", default="jax-nn")
    parser.add_argument("--sandbox", default="bwrap", choices=["auto", "bwrap", "none"])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    submission = args.submission.resolve()

    with tempfile.TemporaryDirectory(prefix="adgrade-bench-cache-") as tmp:
        warm_cache = Path(tmp) / "warm"
        warm_cache.mkdir()
        base = dict(os.environ)
        sides = {
            "python": ([sys.executable, str(submission)], base),
            "warm": (adgrade_command() + ["check", str(submission), "-a", args.assignment, "--sandbox", args.sandbox,
                                         "--format", "json"], {**base, "ADGRADE_JAX_CACHE": str(warm_cache)}),
            "cold": (adgrade_command() + ["check", str(submission), "-a", args.assignment, "--sandbox", args.sandbox,
                                         "--format", "json"], base),
        }
        print(f"{submission.name} ({args.assignment}), sandbox {args.sandbox}, {os.cpu_count()} CPUs, "
              f"load {os.getloadavg()[0]:.1f} at the start", flush=True)
        # fill the warm cache (and the OS's file cache for every side) once, untimed
        timed(sides["warm"][0], sides["warm"][1], ROOT)
        timed(sides["python"][0], sides["python"][1], submission.parent)
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
        names = list(sides)
        for r in range(args.rounds):
            order = names[r % len(names):] + names[: r % len(names)]
            for name in order:
                command, env = sides[name]
                if name == "cold":
                    env = {**env, "ADGRADE_JAX_CACHE": tempfile.mkdtemp(prefix="cold-", dir=tmp)}
                wall, cpu, code = timed(command, env, submission.parent if name == "python" else ROOT)
                results[name].append((wall, cpu))
                print(f"round {r + 1} {name:6s} wall {wall:6.2f} s  cpu {cpu:6.2f} s  exit {code}  "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)
        med = {name: statistics.median(w for w, _ in runs) for name, runs in results.items()}
        cpu = {name: statistics.median(c for _, c in runs) for name, runs in results.items()}
        print()
        for name in names:
            print(f"{name:6s} median wall {med[name]:6.2f} s, median cpu {cpu[name]:6.2f} s")
        print(f"warm/python {med['warm'] / med['python']:.2f}x (target <= 0.8), "
              f"cold/python {med['cold'] / med['python']:.2f}x (target <= 1.5); load at the end "
              f"{os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
