"""How stable are timing verdicts? Run one timing check N times on the same correct submission,
first on a quiet machine, then with a busy process spinning on another core, and print the verdicts.

    python bench/timing_stability.py                       # torch-backprop p2c on the reference
    python bench/timing_stability.py -a jax-objectives -s reference/jax_objectives.py -p t3
    python bench/timing_stability.py --clock wall          # elapsed time instead of CPU time

The release note's figure is the last line: "same verdict every time: yes/no".
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adgrade.checks.timing import TimingCheck  # noqa: E402
from adgrade.engine import GradeOptions, grade_submission  # noqa: E402
from adgrade.spec import load_assignment  # noqa: E402

SPIN = "import time\nt = time.time()\nwhile time.time() - t < {seconds}: pass\n"


def start_spinner(seconds: float) -> subprocess.Popen:
    """A process that keeps one core busy; pinned to the last CPU where the OS allows it."""
    proc = subprocess.Popen([sys.executable, "-c", SPIN.format(seconds=seconds)])
    try:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) > 1:
            os.sched_setaffinity(proc.pid, {cpus[-1]})
    except (AttributeError, OSError):
        pass
    return proc


def run_once(path: Path, spec, problem: str) -> list[tuple[str, str, dict]]:
    report = grade_submission(path, spec, GradeOptions(only=[problem]))
    out = []
    for p in report.problems:
        for c in p.checks:
            if c.kind == "timing":
                out.append((c.name, c.status, c.details))
    return out


def describe(details: dict) -> str:
    est, ci = details.get("estimate"), details.get("ci")
    ci_text = f"[{ci[0]:.3g}, {ci[1]:.3g}]" if ci else "[no interval]"
    return (f"{details.get('statistic', '?')} {est:.3g} {ci_text}, {details.get('rounds')} rounds, "
            f"{details.get('measure_seconds') or 0:.2f} s in the child")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-a", "--assignment", default="torch-backprop")
    parser.add_argument("-s", "--submission", default="reference/torch_backprop.py")
    parser.add_argument("-p", "--problem", default="p2c", help="the problem whose timing checks run")
    parser.add_argument("-n", "--runs", type=int, default=10)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu", help="what the child measures")
    args = parser.parse_args(argv)

    TimingCheck.clock = args.clock
    spec = load_assignment(args.assignment)
    path = (ROOT / args.submission) if not Path(args.submission).is_absolute() else Path(args.submission)
    print(f"{args.assignment} {args.problem} on {path.name}, {args.runs} runs each, clock = {args.clock}, "
          f"{os.cpu_count()} CPUs")
    all_verdicts: dict[str, list[str]] = {}
    for busy in (False, True):
        label = "busy core" if busy else "quiet"
        spinner = start_spinner(seconds=args.runs * 120) if busy else None
        try:
            for i in range(args.runs):
                started = time.monotonic()
                for name, status, details in run_once(path, spec, args.problem):
                    all_verdicts.setdefault(name, []).append(status)
                    print(f"  {label:9s} run {i + 1:2d}: {status:12s} {describe(details)}  "
                          f"({time.monotonic() - started:.1f} s)  {name}")
        finally:
            if spinner is not None:
                spinner.kill()
                spinner.wait()
    same = True
    for name, verdicts in all_verdicts.items():
        counts = {v: verdicts.count(v) for v in dict.fromkeys(verdicts)}
        print(f"{name}: " + ", ".join(f"{v} x{n}" for v, n in counts.items()))
        same = same and len(counts) == 1
    print(f"same verdict every time: {'yes' if same else 'no'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
