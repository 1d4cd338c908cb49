"""`adgrade check` on each rebuilt seed notebook, on a quiet machine and with a CPU burner on every core.

    python bench/seeds_busy.py                    # every seed, sandbox bwrap, 1 run per condition
    python bench/seeds_busy.py --runs 5 --seeds 003 004

For each seed (`../shared/seeds/as-submissions/NNN_<assignment>.ipynb`; the assignment is in the file
name) and each run, the two conditions alternate (quiet, busy / busy, quiet): "busy" starts one
busy-looping process per core for the duration of the check. It prints the wall time of each check,
its CPU time (the check and every process it waited for: the grader, the sandbox, the student's
process; what the check would take on an idle machine, roughly), its score per problem, and whether any problem's score differed between any two runs ("flips").
Targets (issue 9): seeds 003 and 004 under 25 s even when busy; 0 flips. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: ../shared/seeds/as-submissions beside the repository (or beside the worktrees' folder)
SEEDS = next((p for p in (ROOT.parent / "shared" / "seeds" / "as-submissions",
                          ROOT.parent.parent / "shared" / "seeds" / "as-submissions") if p.is_dir()),
             ROOT.parent / "shared" / "seeds" / "as-submissions")


def _burn(stop) -> None:  # pragma: no cover - a benchmark's load
    while not stop.is_set():
        for _ in range(100_000):
            pass


class Burner:
    """One busy-looping process per core while active."""

    def __init__(self, cores: int):
        self.cores = cores
        self.stop = multiprocessing.Event()
        self.procs: list[multiprocessing.Process] = []

    def __enter__(self) -> "Burner":
        self.procs = [multiprocessing.Process(target=_burn, args=(self.stop,), daemon=True) for _ in range(self.cores)]
        for p in self.procs:
            p.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for p in self.procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()


def check(seed: Path, assignment: str, sandbox: str) -> tuple[float, float, dict[str, float], str]:
    """(wall seconds, CPU seconds of the check and every process it waited for, scores, total)."""
    exe = Path(sys.executable).with_name("adgrade")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "adgrade.cli"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(command + ["check", str(seed), "-a", assignment, "--sandbox", sandbox, "--format", "json"],
                          capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        return wall, cpu, {}, (proc.stderr or proc.stdout)[-300:]
    scores = {p["id"]: p["score"] for p in report.get("problems", [])}
    return wall, cpu, scores, f"{report.get('score')}/{report.get('max_score')}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs="*", help="seed numbers (default: every rebuilt seed)")
    parser.add_argument("--runs", type=int, default=1, help="runs per condition")
    parser.add_argument("--sandbox", default="bwrap", choices=["auto", "bwrap", "none"])
    parser.add_argument("--folder", type=Path, default=SEEDS)
    args = parser.parse_args(argv)
    seeds = sorted(args.folder.glob("*.ipynb"))
    if args.seeds:
        seeds = [s for s in seeds if s.name.split("_", 1)[0] in args.seeds]
    cores = os.cpu_count() or 1
    print(f"{len(seeds)} seed(s), sandbox {args.sandbox}, {cores} CPUs, {args.runs} run(s) per condition, "
          f"load {os.getloadavg()[0]:.1f} at the start", flush=True)
    flips = 0
    for seed in seeds:
        assignment = seed.stem.split("_", 1)[1]
        walls: dict[str, list[float]] = {"quiet": [], "busy": []}
        seen: list[dict[str, float]] = []
        for r in range(args.runs):
            order = ["quiet", "busy"] if r % 2 == 0 else ["busy", "quiet"]
            for condition in order:
                load = os.getloadavg()[0]
                if condition == "busy":
                    with Burner(cores):
                        wall, cpu, scores, total = check(seed, assignment, args.sandbox)
                else:
                    wall, cpu, scores, total = check(seed, assignment, args.sandbox)
                walls[condition].append(wall)
                seen.append(scores)
                print(f"{seed.name:32s} {condition:5s} run {r + 1}: {wall:6.1f} s wall, {cpu:5.1f} s CPU  score "
                      f"{total}  (load {load:.1f} before)  {scores}", flush=True)
        changed = sorted({pid for s in seen for pid in s if len({t.get(pid) for t in seen}) > 1})
        flips += len(changed)
        print(f"{seed.name:32s} median quiet {statistics.median(walls['quiet']):.1f} s, busy "
              f"{statistics.median(walls['busy']):.1f} s, max {max(walls['quiet'] + walls['busy']):.1f} s; "
              f"problems whose score changed: {changed or 'none'}", flush=True)
    print(f"\nflips: {flips}; load at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
