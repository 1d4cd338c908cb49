"""A class of 60: `adgrade grade` against one fresh process per submission with no cache, in one run.

    python bench/class_throughput.py                    # 60 jax-nn submissions, sandbox bwrap, 2 workers
    python bench/class_throughput.py -n 20 --sandbox none

The class is the jax-nn example submissions and the rebuilt seed 000 notebook (a real student's),
cycled to N files in a class folder. Two ways grade it, one after the other, with the same number of
workers:

* adgrade: the real command, `adgrade grade CLASS -a jax-nn --out OUT` (warm fork servers, only the
  statements the checks need, JAX calls traced as one program where safe, JAX's compilation cache
  as `grade` keeps it);
* fresh:   the way a notebook-executing grader works: per submission one fresh `python` that imports
  the frameworks, runs every cell of the notebook or script, then the checks, with no compilation
  cache (adgrade's engine with a plain process launcher, `slicing=False`, `stage=False`: every call
  op by op, as in a notebook's kernel; ADGRADE_JAX_CACHE=off; XLA's default flags, as a kernel has
  them, not the compile-speed ones adgrade gives the student's process: bench/xla_flags.py).

It prints each way's wall time and submissions per minute, the ratio (target: adgrade at least 3x
the fresh harness's throughput) and whether any submission's score differs between the two. A
benchmark, not a test: figures depend on the machine and its load, printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "submissions_example" / "jax-nn"
SEED = next((p for p in (ROOT.parent / "shared" / "seeds" / "as-submissions" / "000_jax-nn.ipynb",
                         ROOT.parent.parent / "shared" / "seeds" / "as-submissions" / "000_jax-nn.ipynb")
             if p.is_file()), None)
#: stopped at its time limit every time: a cost of the limit, not of the harness
SLOW = {"timeout_q1b.py"}


def make_class(folder: Path, n: int) -> list[Path]:
    sources = sorted(p for p in EXAMPLES.glob("*.py") if p.name not in SLOW and p.name != "make_notebook.py")
    sources += [p for p in EXAMPLES.glob("*.ipynb")]
    if SEED is not None:
        sources.append(SEED)
    out = []
    for i in range(n):
        src = sources[i % len(sources)]
        dst = folder / f"student{i:03d}{src.suffix}"
        shutil.copyfile(src, dst)
        out.append(dst)
    return out


def adgrade_way(folder: Path, out: Path, sandbox: str, workers: int) -> tuple[float, dict[str, float]]:
    exe = Path(sys.executable).with_name("adgrade")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "adgrade.cli"]
    t0 = time.perf_counter()
    subprocess.run(command + ["grade", str(folder), "-a", "jax-nn", "--out", str(out), "--sandbox", sandbox,
                              "--workers", str(workers), "-q"], cwd=ROOT, capture_output=True)
    wall = time.perf_counter() - t0
    scores = {}
    for report in (out / "reports").glob("*.json"):
        data = json.loads(report.read_text())
        scores[report.stem] = data.get("score")
    return wall, scores


def fresh_way(paths: list[Path], sandbox: str, workers: int) -> tuple[float, dict[str, float]]:
    os.environ["ADGRADE_JAX_CACHE"] = "off"
    from adgrade.engine import GradeOptions, grade_submission
    from adgrade.runner import limits

    limits.child_xla_flags = lambda: ""  # a notebook kernel's JAX runs with XLA's defaults
    from adgrade.runner.sandbox import launcher_factory
    from adgrade.spec import load_assignment

    spec = load_assignment("jax-nn")
    factory = launcher_factory(sandbox, fork_server=False)
    scores: dict[str, float] = {}

    def one(path: Path) -> None:
        report = grade_submission(path, spec, GradeOptions(launcher_factory=factory, slicing=False, stage=False))
        scores[path.stem] = report.score

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, paths))
    return time.perf_counter() - t0, scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=60)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--sandbox", default="bwrap", choices=["auto", "bwrap", "none"])
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="adgrade-class-") as tmp:
        folder = Path(tmp) / "class"
        folder.mkdir()
        paths = make_class(folder, args.n)
        print(f"class of {args.n} ({len({p.read_bytes() for p in paths})} different files), sandbox {args.sandbox}, "
              f"{args.workers} worker(s), {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f} at the start",
              flush=True)
        wall_a, scores_a = adgrade_way(folder, Path(tmp) / "out", args.sandbox, args.workers)
        print(f"adgrade grade: {wall_a:7.1f} s = {args.n / wall_a * 60:5.1f} submissions/min "
              f"(load {os.getloadavg()[0]:.1f})", flush=True)
        wall_b, scores_b = fresh_way(paths, args.sandbox, args.workers)
        print(f"fresh process: {wall_b:7.1f} s = {args.n / wall_b * 60:5.1f} submissions/min "
              f"(load {os.getloadavg()[0]:.1f})", flush=True)
        differ = sorted(k for k in scores_b if scores_a.get(k) != scores_b[k])
        print(f"\nthroughput adgrade/fresh: {wall_b / wall_a:.2f}x (target >= 3); scores that differ: "
              f"{differ or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
