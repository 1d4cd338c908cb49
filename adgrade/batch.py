"""Grading a whole class: find the submissions, grade each with the engine, keep every report.

- `discovery.discover` turns what the instructor passed (folders, files, globs, an LMS .zip) into one
  `Submission` per student, with a stable student id derived from the file or folder name.
- `run_batch` grades them in parallel (a local process pool, or a Dask cluster): every task
  calls `adgrade.engine.grade_submission` exactly as `adgrade check` does, so every student's
  code still runs in its own (sandboxed) child process. Each report is written atomically to
  OUT/reports/<student>.json as soon as it is done; with `resume=True` only the students
  without a report are graded, so a killed batch loses at most the gradings in flight.
- `export` rebuilds the gradebook, Gradescope and JUnit files and the class summary from
  OUT/reports alone; `summarize` is the class summary as plain data.

No click or rich here: the CLI renders.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
import tempfile
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from adgrade import __version__
from adgrade.discovery import BatchError, Submission, current_umask
from adgrade.results import CheckResult, ProblemResult, Report

SANDBOX_MODES = ("auto", "bwrap", "none")

# =========================================================================== reports on disk

def write_atomic(path: Path, text: str) -> None:
    """Write TEXT to PATH so that PATH is either the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp's 0600 would hide the gradebook from TAs and web servers
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def report_from_dict(data: dict[str, Any]) -> Report:
    """A Report back from its JSON (the report contract), for the renderers."""
    report = Report(assignment=data.get("assignment", ""), submission=data.get("submission", ""))
    report.error = data.get("message", "") or ""
    report.notes = list(data.get("notes", []))
    report.output = data.get("output", "") or ""
    report.duration_s = float(data.get("duration_s", 0.0) or 0.0)
    report.hidden_not_run = int(data.get("hidden_not_run", 0) or 0)
    report.flags = [str(f) for f in data.get("flags", []) or []]
    report.review = [str(r) for r in data.get("review", []) or []]
    for p in data.get("problems", []):
        problem = ProblemResult(p["id"], p.get("title", ""), bool(p.get("bonus", False)), float(p["max_score"]))
        problem.notes = list(p.get("notes", []))
        for c in p.get("checks", []):
            problem.checks.append(CheckResult(
                name=c["name"], status=c["status"], score=float(c["score"]), max_score=float(c["max_score"]),
                message=c.get("message", ""), hidden=bool(c.get("hidden", False)), kind=c.get("kind", ""),
                details=dict(c.get("details", {}))))
        report.problems.append(problem)
    return report


def reports_dir(out: Path) -> Path:
    return out / "reports"


def load_reports(out: Path, complete_only: bool = False) -> dict[str, dict[str, Any]]:
    """Every report in OUT/reports, by student; with COMPLETE_ONLY, not the records of the grader's own
    failures (those are graded again on --resume)."""
    found: dict[str, dict[str, Any]] = {}
    folder = reports_dir(out)
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.json")):
        if path.name.startswith("."):
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # cannot happen with atomic writes; graded again on --resume
        if not isinstance(data, dict) or "problems" not in data:
            continue
        if complete_only and data.get("grader_error"):
            continue
        found[data.get("student") or path.stem] = data
    return found


# =========================================================================== the work of one submission

@dataclass
class BatchSettings:
    """What every task needs, in plain data (it crosses to worker processes and Dask workers)."""

    assignment: str  # the problem set's folder (absolute) or its name
    assignment_name: str
    only: list[str] | None = None
    time_limit: float | None = None
    memory_limit_mb: int | None = None
    sandbox: str = "auto"
    all_cells: bool = False  # run every statement, not only what the checks need

    def to_plain(self) -> dict[str, Any]:
        return {"assignment": self.assignment, "assignment_name": self.assignment_name, "only": self.only,
                "time_limit": self.time_limit, "memory_limit_mb": self.memory_limit_mb, "sandbox": self.sandbox,
                "all_cells": self.all_cells}

    def same_grading(self, other: dict[str, Any]) -> list[str]:
        """What differs from an earlier batch's settings in a way that changes grades."""
        mine = self.to_plain()
        return [k for k in ("assignment_name", "only", "time_limit", "memory_limit_mb")
                if other.get(k) != mine[k]]


def launcher_factory(mode: str = "auto", *, student_cache: bool = False):
    """The `GradeOptions.launcher_factory` for a sandbox mode (None: the engine's default launcher).

    `adgrade.runner.sandbox.launcher_factory(mode)` provides it where it exists; without it,
    `auto` and `none` use the plain rlimited process and `bwrap` is an error.
    """
    if mode not in SANDBOX_MODES:
        raise ValueError(f"unknown sandbox mode {mode!r} (one of: {', '.join(SANDBOX_MODES)})")
    try:
        from adgrade.runner.sandbox import launcher_factory as sandbox_factory
    except ImportError:
        if mode == "bwrap":
            raise RuntimeError("the bwrap sandbox is not available in this version of adgrade") from None
        return None
    return sandbox_factory(mode, student_cache=student_cache)



_worker_cache: dict[tuple, Any] = {}
_worker_lock = threading.Lock()


def _cached(key: tuple, make: Callable[[], Any]) -> Any:
    with _worker_lock:
        if key not in _worker_cache:
            _worker_cache[key] = make()
        return _worker_cache[key]


def _load_spec(settings: dict[str, Any]):
    from adgrade.spec import load_assignment

    ref = settings["assignment"]
    if not Path(ref).is_dir():  # a Dask worker elsewhere: its own installed copy, by name
        ref = settings["assignment_name"]
    return load_assignment(ref)


def grade_task(task: dict[str, Any]) -> dict[str, Any]:
    """Grade one submission; runs in a pool worker or on a Dask worker. Plain data in and out.

    task: {"student", "settings", and "path" (a file this machine can read) or "filename" +
    "content" (the file's bytes, for workers that do not share the disk)}. Returns the report
    as JSON data (the report contract, plus the student's output).
    """
    from adgrade.engine import GradeOptions, grade_submission

    settings = task["settings"]
    spec = _cached(("spec", settings["assignment"], settings["assignment_name"]), lambda: _load_spec(settings))
    factory = _cached(("launcher", settings["sandbox"]), lambda: launcher_factory(settings["sandbox"]))
    options = GradeOptions(only=settings["only"], include_hidden=True, time_limit=settings["time_limit"],
                           memory_limit_mb=settings["memory_limit_mb"], launcher_factory=factory,
                           slicing=not settings.get("all_cells", False))
    if task.get("content") is not None:
        with tempfile.TemporaryDirectory(prefix="adgrade-") as tmp:
            path = Path(tmp) / Path(task["filename"]).name
            path.write_bytes(task["content"])
            report = grade_submission(path, spec, options)
    else:
        report = grade_submission(task["path"], spec, options)
    data = report.to_dict()
    data["output"] = report.output
    return data


def _watch_parent() -> None:
    """Pool workers end when the grader dies (even by SIGKILL) instead of idling forever."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="adgrade-parent-watch").start()


# =========================================================================== the batch loop

@dataclass
class BatchResult:
    total: int  # students found
    graded: int = 0  # graded in this run
    skipped: int = 0  # already had a report (resume)
    grader_errors: list[str] = field(default_factory=list)  # students whose grading failed in the grader
    seconds: float = 0.0
    interrupted: bool = False


def _error_report(settings: BatchSettings, spec, submission: Submission, message: str) -> dict[str, Any]:
    from adgrade.engine import GradeOptions, _ungradable, plan

    options = GradeOptions(only=settings.only, include_hidden=True)
    report = Report(assignment=spec.name, submission=str(submission.path or submission.source))
    _ungradable(report, plan(spec, options), message, time.monotonic())
    data = report.to_dict()
    data["output"] = ""
    return data


def _finish(data: dict[str, Any], submission: Submission) -> dict[str, Any]:
    data["student"] = submission.student
    data["submission"] = str(submission.path or submission.source)
    data["batch"] = submission.to_plain()
    if submission.note:
        data.setdefault("notes", []).insert(0, submission.note)
    return data


def write_report(out: Path, data: dict[str, Any]) -> Path:
    path = reports_dir(out) / f"{data['student']}.json"
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False))
    return path


def run_batch(submissions: list[Submission], spec, settings: BatchSettings, out: Path, *, workers: int = 1,
              resume: bool = False, executor: str = "local", scheduler: str | None = None,
              on_start: Callable[[int, int], None] | None = None,
              on_result: Callable[[Submission, dict[str, Any]], None] | None = None) -> BatchResult:
    """Grade every submission that has no report yet; write each report as it finishes.

    on_start(to_grade, already_done) is called once; on_result(submission, report data) after
    each report is written. KeyboardInterrupt stops the batch (what is written stays).
    """
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    reports_dir(out).mkdir(exist_ok=True)
    for stale in reports_dir(out).glob(".*.tmp"):  # a write cut short by a kill
        stale.unlink(missing_ok=True)
    done = set(load_reports(out, complete_only=True)) if resume else set()
    todo = [s for s in submissions if s.student not in done]
    result = BatchResult(total=len(submissions), skipped=len(submissions) - len(todo))
    write_atomic(out / "batch.json", json.dumps({"adgrade": __version__, **settings.to_plain(),
                                                 "students": len(submissions)}, indent=2))
    if on_start:
        on_start(len(todo), result.skipped)

    def record(sub: Submission, data: dict[str, Any]) -> None:
        data = _finish(data, sub)
        write_report(out, data)
        result.graded += 1
        if data.get("grader_error"):
            result.grader_errors.append(sub.student)
        if on_result:
            on_result(sub, data)

    def failed(sub: Submission, exc: BaseException) -> dict[str, Any]:
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        data = _error_report(settings, spec, sub, "the grader failed on this submission (a grader bug or a "
                                                  f"lost worker, not the student's fault): {text}; grade it "
                                                  "again with --resume")
        data["grader_error"] = text
        return data

    ready = [s for s in todo if s.error or s.path is None]
    runnable = [s for s in todo if not (s.error or s.path is None)]
    for sub in ready:
        record(sub, _error_report(settings, spec, sub, sub.error))
    if not runnable:
        result.seconds = time.monotonic() - started
        return result
    plain = settings.to_plain()
    if executor != "dask" and len(runnable) > 1:
        warm_compilation_cache(spec)
    try:
        if executor == "dask":
            _run_dask(runnable, plain, scheduler, record, failed)
        else:
            _run_local(runnable, plain, workers, record, failed)
    except KeyboardInterrupt:
        result.interrupted = True
    result.seconds = time.monotonic() - started
    return result


def warm_compilation_cache(spec) -> None:
    """Grade the trusted reference once, outside the sandbox, so JAX's compilation cache holds the
    executables every submission needs (sandboxed children may read the cache, never write it)."""
    from adgrade.runner.limits import jax_cache_dir

    if spec.reference is None or "jax" not in spec.backends or not jax_cache_dir():
        return
    from adgrade.engine import GradeOptions, grade_submission

    try:
        grade_submission(spec.reference, spec, GradeOptions(include_hidden=True))
    except Exception:  # only a speed-up: a failure here changes no grade
        pass


def _run_local(subs: list[Submission], settings: dict[str, Any], workers: int,
               record: Callable, failed: Callable) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # spawn: the workers import JAX/torch themselves; forking a process with their threads is not safe
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=max(1, min(workers, len(subs))), mp_context=context,
                               initializer=_watch_parent)
    try:
        futures = {pool.submit(grade_task, {"student": s.student, "path": str(s.path), "settings": settings}): s
                   for s in subs}
        remaining = set(futures)
        while remaining:
            finished, remaining = wait(remaining, timeout=1.0, return_when=FIRST_COMPLETED)
            for future in finished:
                sub = futures[future]
                try:
                    data = future.result()
                except Exception as exc:  # a worker died (BrokenProcessPool) or the grader raised
                    data = failed(sub, exc)
                record(sub, data)
    except BaseException:
        # interrupted: stop now, not after the gradings in flight (their reports are simply not written)
        processes = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        raise
    pool.shutdown(wait=True)


def _run_dask(subs: list[Submission], settings: dict[str, Any], scheduler: str | None,
              record: Callable, failed: Callable) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise BatchError("--executor dask needs Dask distributed: pip install 'adgrade[dask]'") from None
    if not scheduler:
        raise BatchError("--executor dask needs --scheduler ADDRESS (e.g. tcp://10.0.0.5:8786)")
    try:
        client = Client(scheduler, timeout="30s")
    except Exception as exc:
        raise BatchError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        futures = {}
        for s in subs:
            # the file travels with the task: Dask workers need not share this machine's disk
            task = {"student": s.student, "filename": s.path.name, "content": s.path.read_bytes(),
                    "settings": settings}
            future = client.submit(grade_task, task, pure=False, key=f"adgrade-{s.student}-{os.urandom(4).hex()}")
            futures[future] = s
        try:
            for future in as_completed(list(futures)):
                sub = futures[future]
                try:
                    data = future.result()
                except Exception as exc:
                    data = failed(sub, exc)
                record(sub, data)
        except BaseException:
            client.cancel(list(futures))
            raise
    finally:
        client.close()


# =========================================================================== class summary

#: the most of a failure's first line the class summary keeps
MESSAGE_CHARS = 200
_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def normalise_message(message: str) -> str:
    """The first line of a failure message with numbers stripped, so that the same mistake groups together."""
    first = next((line.strip() for line in message.splitlines() if line.strip()), "")
    text = _NUMBER.sub("#", first)
    text = re.sub(r"\s+", " ", text)
    if len(text) <= MESSAGE_CHARS:
        return text
    cut = text[:MESSAGE_CHARS + 1].rsplit(" ", 1)[0]  # at a space, never inside a word
    return (cut if len(cut) >= MESSAGE_CHARS // 2 else text[:MESSAGE_CHARS]).rstrip(" ,;:") + "…"


def _nice_width(raw: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is at least RAW (histogram bins people read)."""
    exponent = math.floor(math.log10(raw))
    for step in (1, 2, 2.5, 5, 10):
        width = step * 10 ** exponent
        if width >= raw - 1e-12:
            return width
    return 10 ** (exponent + 1)


def summarize(reports: dict[str, dict[str, Any]], bins: int = 10, top: int = 10) -> dict[str, Any]:
    """The class summary as plain data: statuses, score distribution, pass rate per problem, common failures."""
    datas = [reports[s] for s in sorted(reports)]
    statuses = Counter("error" if d.get("grader_error") else d.get("status", "error") for d in datas)
    scores = [float(d.get("score", 0.0)) for d in datas]
    max_score = max((float(d.get("max_score", 0.0)) for d in datas), default=0.0)
    summary: dict[str, Any] = {
        "submissions": len(datas),
        "status": {k: statuses.get(k, 0) for k in ("passed", "failed", "error")},
        "max_score": max_score,
        "score": {},
        "histogram": [],
        "problems": [],
        "failures": [],
        "flagged": [],
    }
    if scores:
        summary["score"] = {"mean": round(statistics.fmean(scores), 4), "median": statistics.median(scores),
                            "min": min(scores), "max": max(scores)}
    top_edge = max([max_score] + scores) if scores else max_score
    if top_edge > 0:
        width = _nice_width(top_edge / bins)
        n_bins = max(1, math.ceil(top_edge / width - 1e-9))
        counts = [0] * n_bins
        for s in scores:
            counts[max(0, min(n_bins - 1, int(s / width + 1e-9)))] += 1
        summary["histogram"] = [{"low": round(i * width, 6), "high": round((i + 1) * width, 6), "count": c}
                                for i, c in enumerate(counts)]
    order: list[str] = []
    per: dict[str, dict[str, Any]] = {}
    failures: dict[str, dict[str, Any]] = {}
    for student, d in zip(sorted(reports), datas):
        for p in d.get("problems", []):
            if p["id"] not in per:
                order.append(p["id"])
                per[p["id"]] = {"id": p["id"], "title": p.get("title", ""), "bonus": p.get("bonus", False),
                                "max_score": p.get("max_score", 0.0), "graded": 0, "passed": 0, "scores": []}
            entry = per[p["id"]]
            entry["graded"] += 1
            entry["passed"] += p.get("status") == "passed"
            entry["scores"].append(float(p.get("score", 0.0)))
            for c in p.get("checks", []):
                if c.get("status") not in ("failed", "error", "timeout"):
                    continue
                key = normalise_message(c.get("message", "")) or f"({c.get('status')}, no message)"
                f = failures.setdefault(key, {"message": key, "count": 0, "checks": 0, "problems": [],
                                              "students": []})
                f["checks"] += 1
                if p["id"] not in f["problems"]:
                    f["problems"].append(p["id"])
                if student not in f["students"]:
                    f["students"].append(student)
                    f["count"] += 1  # students: one who fails three checks the same way is one
    for pid in order:
        e = per[pid]
        scores_p = e.pop("scores")
        e["pass_rate"] = round(e["passed"] / e["graded"], 4) if e["graded"] else 0.0
        e["mean_score"] = round(statistics.fmean(scores_p), 4) if scores_p else 0.0
        summary["problems"].append(e)
    ranked = sorted(failures.values(), key=lambda f: (-f["count"], f["message"]))[:top]
    for f in ranked:
        f["students"] = f["students"][:5]
    summary["failures"] = ranked
    # the reports an instructor must look at (results.Report.flags), gravest flag first, then by name
    flagged = [{"student": student, "flags": [str(f) for f in d.get("flags") or []],
                "review": [str(r) for r in d.get("review") or []]}
               for student, d in zip(sorted(reports), datas) if d.get("flags")]
    summary["flagged"] = sorted(flagged, key=lambda f: (min(_flag_rank(x) for x in f["flags"]), f["student"]))
    return summary


def _flag_rank(flag: str) -> int:
    from adgrade.results import FLAG_ORDER

    return FLAG_ORDER.index(flag) if flag in FLAG_ORDER else len(FLAG_ORDER)


# =========================================================================== exports

EXPORT_FORMATS = ("csv", "gradescope", "junit")


def export(out: Path, formats: Iterable[str] = EXPORT_FORMATS, hidden_visibility: str = "after_published"
           ) -> dict[str, list[Path]]:
    """(Re)write the gradebook, Gradescope and JUnit files and the class summary from OUT/reports alone."""
    from adgrade.report.csv_report import render_gradebook
    from adgrade.report.gradescope import render_gradescope
    from adgrade.report.junit import render_junit
    from adgrade.report.summary import render_summary_text

    reports = load_reports(out)
    if not reports:
        raise BatchError(f"{reports_dir(out)}: no reports to export (grade first: adgrade grade ... --out {out})")
    written: dict[str, list[Path]] = {}
    formats = list(dict.fromkeys(formats))
    if "csv" in formats:
        path = out / "gradebook.csv"
        write_atomic(path, render_gradebook(reports))
        written["csv"] = [path]
    if "gradescope" in formats:
        written["gradescope"] = []
        for student, data in reports.items():
            path = out / "gradescope" / student / "results.json"
            write_atomic(path, render_gradescope(report_from_dict(data), hidden_visibility=hidden_visibility) + "\n")
            written["gradescope"].append(path)
    if "junit" in formats:
        written["junit"] = []
        for student, data in reports.items():
            path = out / "junit" / f"{student}.xml"
            write_atomic(path, render_junit(report_from_dict(data), name=student) + "\n")
            written["junit"].append(path)
    summary = summarize(reports)
    write_atomic(out / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False))
    write_atomic(out / "summary.txt", render_summary_text(summary))
    written["summary"] = [out / "summary.json", out / "summary.txt"]
    return written
