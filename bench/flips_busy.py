"""Every example submission and rebuilt seed, graded N times with a CPU burner on every core: do grades flip?

    python bench/flips_busy.py                    # 5 runs of everything, sandbox bwrap, 2 workers
    python bench/flips_busy.py --runs 2 --assignments jax-nn

For each assignment it builds a class folder holding N copies of every example submission
(`submissions_example/<assignment>/`) and of the rebuilt seed notebook of that assignment
(`../shared/seeds/as-submissions/`), then grades the class with the real command, `adgrade grade`,
while one busy-looping process per core runs beside it (the grader's own workers make the machine
busier still). A flip is an example whose N grades are not all the same, or (for the examples) differ
from the verdict its `expected.toml` gives, which the tests assert on a quiet run. It prints each
example's scores and the total number of flips (issue 9's target: 0). A benchmark, not a test.
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
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seeds_busy import SEEDS, Burner  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "submissions_example"


def build_class(assignment: str, folder: Path, runs: int) -> dict[str, tuple[str, int]]:
    """Copies of every example and seed of `assignment` in `folder`: copy name -> (example, run)."""
    sources = [p for p in sorted((EXAMPLES / assignment).iterdir())
               if p.suffix in (".py", ".ipynb") and p.name != "make_notebook.py"]
    sources += sorted(SEEDS.glob(f"*_{assignment}.ipynb"))
    out = {}
    for source in sources:
        label = source.name if source.parent.name == assignment else f"seed {source.name}"
        for run in range(runs):
            name = f"r{run}-{source.stem.replace('_', '-')}-{source.suffix[1:]}{source.suffix}"
            shutil.copyfile(source, folder / name)
            out[name] = (label, run)
    return out


def grade(folder: Path, out: Path, assignment: str, sandbox: str, workers: int) -> float:
    exe = Path(sys.executable).with_name("adgrade")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "adgrade.cli"]
    started = time.perf_counter()
    subprocess.run(command + ["grade", str(folder), "-a", assignment, "--out", str(out), "--sandbox", sandbox,
                              "--workers", str(workers), "-q"], cwd=ROOT, capture_output=True)
    return time.perf_counter() - started


def verdicts(out: Path) -> dict[str, tuple]:
    """copy name -> (score, {problem: (status, score)}), from the reports `grade` wrote."""
    found = {}
    for report in (out / "reports").glob("*.json"):
        data = json.loads(report.read_text())
        name = Path(str(data.get("submission", ""))).name
        found[name] = (data.get("score"), {p["id"]: (p["status"], p["score"]) for p in data.get("problems", [])})
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--assignments", nargs="*", help="default: every folder of submissions_example")
    parser.add_argument("--sandbox", default="bwrap", choices=["auto", "bwrap", "none"])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    assignments = args.assignments or sorted(p.name for p in EXAMPLES.iterdir() if (p / "expected.toml").is_file())
    cores = os.cpu_count() or 1
    print(f"{', '.join(assignments)}: {args.runs} runs each, sandbox {args.sandbox}, {args.workers} workers, "
          f"a burner on each of {cores} CPUs; load {os.getloadavg()[0]:.1f} at the start", flush=True)
    flips = examples = 0
    for assignment in assignments:
        expected = tomllib.loads((EXAMPLES / assignment / "expected.toml").read_text())
        with tempfile.TemporaryDirectory(prefix="adgrade-flips-") as tmp:
            folder, out = Path(tmp) / "class", Path(tmp) / "out"
            folder.mkdir()
            copies = build_class(assignment, folder, args.runs)
            with Burner(cores):
                wall = grade(folder, out, assignment, args.sandbox, args.workers)
            got = verdicts(out)
        by_example: dict[str, list] = {}
        for name, (label, run) in sorted(copies.items(), key=lambda item: item[1]):
            by_example.setdefault(label, []).append(got.get(name))
        print(f"\n{assignment}: {len(copies)} submissions graded in {wall:.0f} s", flush=True)
        for label, runs in by_example.items():
            examples += 1
            scores = [r[0] if r else None for r in runs]
            problems = [r[1] if r else None for r in runs]
            same = len({json.dumps(p, sort_keys=True) for p in problems}) == 1 and None not in problems
            want = expected.get(label)
            agrees = True
            if want is not None and same:
                statuses = {pid: status for pid, (status, _) in problems[0].items()}
                agrees = scores[0] == want.get("score", scores[0]) and all(
                    statuses.get(pid) == status for pid, status in (want.get("problems") or {}).items())
            flip = not (same and agrees)
            flips += flip
            print(f"  {'FLIP ' if flip else 'ok   '}{label:44s} scores {scores}"
                  + ("" if agrees else f"  (expected.toml: {want.get('score')})"), flush=True)
    print(f"\nflips: {flips} of {examples} examples and seeds; load at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
