"""How much grading a batch costs beyond the students' own code: adgrade's fork-server pool against one
fresh `python` per submission, in one run, on the same submissions.

    python bench/grade_speed.py                 # 24 copies of the jax-nn examples, sandbox "auto"
    python bench/grade_speed.py -n 60 --workers 2 --sandbox none --cli

Ways (each grades the same N copies, in the same order, with the same engine and judge):

* pool:  `launcher_factory(sandbox)`: every worker thread keeps one warm fork server that imported
         JAX once; each submission is forked from it (a fresh process, sandboxed as configured).
* fresh: one fresh `python -I -m adgrade.runner.child` per submission (the same sandbox, no fork
         server): it imports JAX and starts its backend each time, as a naive harness would.
* cli:   (with --cli) one `python -m adgrade.cli check` per submission: a naive shell loop, paying
         the grader's own start-up too.

For each way it prints the wall time per submission, the student code's own time (cells from
start to end, plus each check call, as measured around the student code) and the overhead: wall
minus the student's time. The pool's start-up (its fork servers importing JAX) is counted in its
total. This is a benchmark, not a test: numbers depend on the machine and on its load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import adgrade.engine as engine  # noqa: E402
from adgrade.engine import GradeOptions, grade_submission  # noqa: E402
from adgrade.runner.parent import ProcessRunner  # noqa: E402
from adgrade.runner.sandbox import launcher_factory  # noqa: E402
from adgrade.spec import load_assignment  # noqa: E402

EXAMPLES = ROOT / "submissions_example" / "jax-nn"
#: stopped at its time limit every time: a cost of the limit, not of the harness (--all includes it)
SLOW = {"timeout_q1b.py"}


class _Recorder:
    """Keeps the runner's outcome of every submission (student time is in it)."""

    def __init__(self) -> None:
        self.outcomes: dict[str, object] = {}
        self.lock = threading.Lock()
        recorder = self

        class RecordingRunner(ProcessRunner):
            def run(self, job):
                outcome = super().run(job)
                with recorder.lock:
                    recorder.outcomes[job.submission] = outcome
                return outcome

        self.runner_class = RecordingRunner


def student_seconds(outcome) -> float:
    cells = sum(getattr(c, "seconds", 0.0) for c in outcome.cells.values())
    calls = sum(a.seconds for a in outcome.answers.values())
    return cells + calls


def copies(n: int, include_slow: bool, folder: Path) -> list[Path]:
    sources = sorted(p for p in EXAMPLES.glob("*.py") if include_slow or p.name not in SLOW)
    out = []
    for i in range(n):
        src = sources[i % len(sources)]
        dst = folder / f"s{i:04d}_{src.name}"
        shutil.copyfile(src, dst)
        out.append(dst)
    return out


def grade_all(paths: list[Path], spec, factory, workers: int, recorder: _Recorder) -> tuple[float, dict]:
    walls: dict[str, float] = {}

    def one(path: Path) -> None:
        t0 = time.perf_counter()
        grade_submission(path, spec, GradeOptions(launcher_factory=factory))
        walls[path.name] = time.perf_counter() - t0

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, paths))
    return time.perf_counter() - started, walls


def summarize(name: str, total: float, walls: dict[str, float], outcomes: dict, n: int, workers: int) -> dict:
    student = [student_seconds(outcomes[k]) for k in walls]
    overhead = [walls[k] - s for k, s in zip(walls, student)]
    row = {
        "way": name, "total": total, "per_sub": total / n,
        "wall_median": statistics.median(walls.values()), "student_median": statistics.median(student),
        "overhead_median": statistics.median(overhead), "overhead_mean": statistics.fmean(overhead),
        "student_mean": statistics.fmean(student),
    }
    print(f"{name:6s} total {total:7.1f} s  = {total / n:6.2f} s/submission ({workers} worker(s)); per submission: "
          f"wall median {row['wall_median']:.2f} s, student code {row['student_median']:.2f} s, "
          f"overhead median {row['overhead_median']:.2f} s (mean {row['overhead_mean']:.2f} s)", flush=True)
    return row


def run_cli(paths: list[Path], sandbox: str) -> tuple[float, dict[str, float]]:
    walls = {}
    started = time.perf_counter()
    for path in paths:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "adgrade.cli", "check", str(path), "-a", "jax-nn", "--format", "json"],
                       capture_output=True, cwd=ROOT)
        walls[path.name] = time.perf_counter() - t0
    return time.perf_counter() - started, walls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=24, help="submissions (copies of the examples, cycled)")
    parser.add_argument("--workers", type=int, default=1, help="worker threads, the same for every way")
    parser.add_argument("--sandbox", default="auto", choices=["auto", "bwrap", "none"])
    parser.add_argument("--all", action="store_true", help="include the example that hits its time limit")
    parser.add_argument("--cli", action="store_true", help="also time one `adgrade check` process per submission")
    args = parser.parse_args(argv)

    spec = load_assignment("jax-nn")
    recorder = _Recorder()
    engine.ProcessRunner = recorder.runner_class  # the engine builds its runner by this name
    with tempfile.TemporaryDirectory(prefix="adgrade-bench-") as tmp:
        paths = copies(args.n, args.all, Path(tmp))
        print(f"{args.n} copies of {len({p.name.split('_', 1)[1] for p in paths})} jax-nn examples, "
              f"sandbox {args.sandbox}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", flush=True)
        # the grader's own side (importing JAX, the problem set's expected values) is warmed once first, so
        # that neither way pays it for the other
        grade_submission(paths[0], spec, GradeOptions(launcher_factory=launcher_factory("none", fork_server=False)))

        pool = launcher_factory(args.sandbox)
        fresh = launcher_factory(args.sandbox, fork_server=False)
        print(f"sandboxed: {pool.sandboxed}", flush=True)
        if args.workers == 1:
            # one submission at a time, the two ways interleaved (A B, B A, ...): a busy machine slows both alike
            t0 = time.perf_counter()
            pool.warm(spec.backends)  # the pool's start-up, counted in its total
            startup = time.perf_counter() - t0
            walls_a: dict[str, float] = {}
            walls_b: dict[str, float] = {}
            runs_a: dict[str, object] = {}
            runs_b: dict[str, object] = {}
            for i, path in enumerate(paths):
                order = [(pool, walls_a, runs_a), (fresh, walls_b, runs_b)]
                for factory, walls, runs in (order if i % 2 == 0 else order[::-1]):
                    t1 = time.perf_counter()
                    grade_submission(path, spec, GradeOptions(launcher_factory=factory))
                    walls[path.name] = time.perf_counter() - t1
                    runs[path.name] = recorder.outcomes[path.name]
            a = summarize("pool", startup + sum(walls_a.values()), walls_a, runs_a, args.n, 1)
            print(f"       (of which {startup:.1f} s the fork server's start-up)")
            b = summarize("fresh", sum(walls_b.values()), walls_b, runs_b, args.n, 1)
        else:
            total, walls = grade_all(paths, spec, pool, args.workers, recorder)
            a = summarize("pool", total, walls, dict(recorder.outcomes), args.n, args.workers)
            total, walls = grade_all(paths, spec, fresh, args.workers, recorder)
            b = summarize("fresh", total, walls, dict(recorder.outcomes), args.n, args.workers)
        pool.close()

        print(f"\nratio fresh/pool (total wall): {b['total'] / a['total']:.2f}x")
        print(f"overhead per submission beyond the student's code (median): pool {a['overhead_median']:.2f} s, "
              f"fresh {b['overhead_median']:.2f} s; the student's code itself: "
              f"{a['student_median']:.2f} s (pool) / {b['student_median']:.2f} s (fresh)")
        if args.cli:
            total, walls = run_cli(paths, args.sandbox)
            print(f"cli    total {total:7.1f} s  = {total / args.n:6.2f} s/submission (one `adgrade check` each); "
                  f"ratio cli/pool {total / a['total']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
