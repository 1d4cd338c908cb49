"""Grading a whole class: find the submissions, grade each with the engine, keep every report.

- `discover` turns what the instructor passed (folders, files, globs, an LMS .zip) into one
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

import glob
import hashlib
import json
import math
import os
import re
import shutil
import statistics
import tempfile
import threading
import time
import traceback
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable

from adgrade import __version__
from adgrade.cells import MAX_SUBMISSION_BYTES, too_large_message
from adgrade.results import CheckResult, ProblemResult, Report

GRADABLE = (".py", ".ipynb")
#: names never taken for a student's work
JUNK_PARTS = {"__MACOSX", ".ipynb_checkpoints", "__pycache__", ".git", ".DS_Store", "site-packages",
              "node_modules", "__pypackages__"}
#: at most this many of one student's candidate files are read to choose between them (a project handed in
#: with its libraries has thousands); the rest are taken for the largest-file rule only
MAX_CANDIDATES_READ = 100

# Caps on what a .zip may unpack to (a zip bomb, or a student's 2 GB data set, stops here).
MAX_ZIP_MEMBERS = 20_000
# above the submission limit, so that a student's oversized notebook in a zip is still found and
# gets the message `check` gives (cells.too_large_message), not "no file was handed in"
MAX_MEMBER_BYTES = 4 * MAX_SUBMISSION_BYTES
MAX_TOTAL_BYTES = 2 * 2**30

SANDBOX_MODES = ("auto", "bwrap", "none")

#: what the instructor is told about a symbolic link in a class folder: it is never followed (it could
#: name the reference solution, another student's file, or /etc/shadow)
LINK_NOT_GRADED = "a link, not a file: not graded"


class BatchError(Exception):
    """Bad input to a batch (nothing to grade, an unreadable zip, a results folder of another batch)."""


# =========================================================================== student ids

# Canvas: lastnamefirstname_[LATE_]userid_submissionid_original-name.ext (Canvas adds -1, -2 to resubmissions)
CANVAS = re.compile(r"^(?P<name>[^_]+?)_(?:late_)?(?P<uid>\d+)_(?P<sub>\d+)_(?P<file>.+)$", re.IGNORECASE)
# Moodle: Full Name_123456_assignsubmission_file_[original-name.ext] (a file or a folder)
MOODLE = re.compile(r"^(?P<name>.+?)_(?P<uid>\d+)_assignsubmission_[a-z]+_?(?P<file>.*)$", re.IGNORECASE)
# Blackboard: Assignment Name_username_attempt_2024-01-31-23-59-59[_original-name.ext]
BLACKBOARD = re.compile(r"^(?P<assignment>.+?)_(?P<user>[^_]+)_attempt_(?P<when>[\d-]+)(?:_(?P<file>.+))?$",
                        re.IGNORECASE)


def slug(text: str) -> str:
    out = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")
    return out[:120] or "student"


def lms_student(name: str) -> str | None:
    """The student id of an LMS-exported file or folder name, or None when the name has no LMS pattern."""
    m = MOODLE.match(name)
    if m:
        return slug(f"{m['name']}_{m['uid']}")
    m = CANVAS.match(name)
    if m:
        return slug(f"{m['name']}_{m['uid']}")
    m = BLACKBOARD.match(name)
    if m:
        return slug(m["user"])
    return None


def student_id(name: str, is_dir: bool = False) -> str:
    """A stable, filesystem-safe id from a file or folder name (the same name always gives the same id)."""
    found = lms_student(name)
    if found:
        return found
    return slug(name if is_dir else Path(name).stem)


# =========================================================================== discovery

@dataclass
class Submission:
    student: str
    path: Path | None  # the file graded; None when the student handed in nothing gradable
    source: str  # the file or folder it came from, as found
    candidates: list[str] = field(default_factory=list)  # every .py/.ipynb found for this student
    note: str = ""  # which file was picked and why, when there was a choice
    error: str = ""  # why nothing can be graded

    def to_plain(self) -> dict[str, Any]:
        return {"student": self.student, "source": self.source, "file": str(self.path) if self.path else None,
                "candidates": list(self.candidates), "note": self.note}


@dataclass
class Discovery:
    submissions: list[Submission] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _junk(path: Path | PurePosixPath) -> bool:
    return any(p in JUNK_PARTS or p.startswith(".") for p in path.parts) or path.name.endswith("-checkpoint.ipynb")


def _gradable(path: Path) -> bool:
    return path.suffix.lower() in GRADABLE


def _has_magic(text: str) -> bool:
    return any(c in text for c in "*?[")


def discover(sources: Iterable[str | Path], workdir: Path, entries: set[str] | None = None) -> Discovery:
    """One Submission per student from folders, files, glob patterns and .zip exports.

    A folder holds one file per student, or one folder per student (its .py/.ipynb files,
    at any depth, are the candidates). Files of one student (same id) are grouped. A .zip
    is extracted safely under WORKDIR/extracted first. `entries` (the assignment's entry
    names) helps pick the submission among several candidates.
    """
    found = Discovery()
    groups: dict[str, dict[str, Any]] = {}
    zipped_links: dict[Path, str] = {}  # links skipped in extracted zips: where they were -> their target

    def add(student: str, source: Path, files: list[Path], others: list[str], links: list[str] = ()) -> None:
        g = groups.setdefault(student, {"sources": [], "files": [], "others": [], "links": []})
        g["sources"].append(source)
        g["files"].extend(files)
        g["others"].extend(others)
        g["links"].extend(links)

    def link(path: Path, shown: str) -> str:
        try:
            target = zipped_links[path] if path in zipped_links else os.readlink(path)
        except OSError:
            target = "?"
        return f"{shown} -> {target}: {LINK_NOT_GRADED}"

    def extracted(path: Path) -> Path:
        target, warnings = extract_zip(path, workdir / "extracted")
        found.warnings.extend(warnings)
        for rel, to in zip_links(target).items():
            zipped_links[target.joinpath(*PurePosixPath(rel).parts)] = to
        return target

    def is_link(path: Path) -> bool:
        return path.is_symlink() or path in zipped_links

    def scan_folder(folder: Path, unwrap: bool = False) -> None:
        # a zip whose members sit in one top folder: go down to where the students are
        while unwrap:
            entries_here = [c for c in folder.iterdir() if not _junk(Path(c.name))]
            if len(entries_here) == 1 and entries_here[0].is_dir() and not lms_student(entries_here[0].name):
                inner = [c for c in entries_here[0].iterdir() if not _junk(Path(c.name))]
                if any(c.is_dir() or _gradable(c) for c in inner) and len(inner) > 1:
                    folder = entries_here[0]
                    continue
            break
        children = set(folder.iterdir()) | {p for p in zipped_links if p.parent == folder}
        for child in sorted(children):
            if _junk(Path(child.name)):
                continue
            if is_link(child):  # never followed: a student's name for someone else's file or folder
                suffix = child.suffix.lower()
                name = child.name[: -len(suffix)] if suffix in GRADABLE + (".zip",) else child.name
                add(student_id(name, is_dir=True), child, [], [], [link(child, child.name)])
            elif child.is_dir():
                student_folder(student_id(child.name, is_dir=True), child, child)
            elif _gradable(child) and not child.is_file():  # a pipe named hw.py would hang whoever reads it
                add(student_id(child.name), child, [], [], [f"{child.name}: not a plain file: not graded"])
            elif _gradable(child):
                add(student_id(child.name), child, [child], [])
            elif child.suffix.lower() == ".zip" and lms_student(child.name):  # one student's upload, zipped
                student_folder(student_id(child.name), child, extracted(child))
            elif lms_student(child.name):  # an LMS-named upload that cannot be graded (a PDF, a .txt)
                add(student_id(child.name), child, [], [child.name])
            else:
                found.warnings.append(f"ignored {child}: not a .py or .ipynb file")

    def student_folder(student: str, source: Path, folder: Path) -> None:
        files, others, links = [], [], []
        # os.walk without following links: a linked file or folder is listed, never read
        for root, dirs, names in os.walk(folder, followlinks=False):
            here = Path(root)
            for name in sorted(dirs + names):
                p = here / name
                rel = p.relative_to(folder)
                if _junk(rel):
                    continue
                if p.is_symlink():
                    links.append(link(p, str(rel)))
                elif p.is_file():
                    (files if _gradable(p) else others).append(p)
            dirs[:] = sorted(d for d in dirs if not _junk(Path(d)) and not (here / d).is_symlink())
        links += [link(p, str(p.relative_to(folder))) for p in sorted(zipped_links)
                  if folder in p.parents and not _junk(p.relative_to(folder))]
        add(student, source, sorted(files), [str(p.relative_to(folder)) for p in sorted(others)], links)

    def scan_zip(path: Path) -> None:
        scan_folder(extracted(path), unwrap=True)

    any_source = False
    for source in sources:
        text = str(source)
        paths: list[Path]
        if Path(text).exists():
            paths = [Path(text)]
        elif _has_magic(text):
            paths = [Path(p) for p in sorted(glob.glob(text, recursive=True))]
            if not paths:
                raise BatchError(f"{text}: the pattern matches no file")
        else:
            raise BatchError(f"{text}: no such file or folder")
        for path in paths:
            any_source = True
            if path.is_symlink() and not path.is_dir():
                # a file named on the command line or matched by a pattern: a student may have made it a link
                add(student_id(path.name), path, [], [], [link(path, path.name)])
            elif path.is_dir():
                scan_folder(path)
            elif path.suffix.lower() == ".zip":
                scan_zip(path)
            elif _gradable(path):
                add(student_id(path.name), path, [path], [])
            else:
                found.warnings.append(f"ignored {path}: not a .py, .ipynb or .zip file, nor a folder")
    if not any_source:
        raise BatchError("no submissions given")

    for student in sorted(groups):
        g = groups[student]
        source = ", ".join(str(s) for s in g["sources"])
        files = sorted(set(g["files"]))
        sub = Submission(student, None, source, [str(f) for f in files])
        links = "; ".join(g["links"][:8]) + (f"; and {len(g['links']) - 8} more" if len(g["links"]) > 8 else "")
        if not files and g["links"]:
            sub.error = f"{links}. Hand in the file itself (a plain .py or .ipynb file), not a link to one."
        elif not files:
            listed = ", ".join(g["others"][:8]) or "nothing"
            sub.error = (f"no .py or .ipynb file was handed in (found: {listed}); submit the notebook or "
                         "Python file itself")
        else:
            sub.path, sub.note = pick_submission(files, entries or set())
            if links:
                sub.note = "; ".join(n for n in (sub.note, links) if n)
            if sub.path.stat().st_size > MAX_SUBMISSION_BYTES:  # the limit and message `check` has
                sub.error = too_large_message(sub.path.name, sub.path.stat().st_size)
        found.submissions.append(sub)
    if not found.submissions:
        raise BatchError("no submissions found (no .py, .ipynb or student folder in "
                         + ", ".join(str(s) for s in sources) + ")")
    return found


def pick_submission(files: list[Path], entries: set[str]) -> tuple[Path, str]:
    """The obvious submission among a student's files, and a note saying which and why when there was a choice.

    The file defining most of the assignment's entry names wins; then the larger one; then the
    shorter path and the name.
    """
    if len(files) == 1:
        return files[0], ""
    from adgrade.engine import defined_names

    readable = set(sorted(files, key=lambda f: (len(f.parts), str(f)))[:MAX_CANDIDATES_READ])

    def match(path: Path) -> float:
        # never parse a file over the size a submission may have (it is not graded anyway), nor more files
        # than MAX_CANDIDATES_READ (the shallowest are read)
        if not entries or _size(path) > MAX_SUBMISSION_BYTES or path not in readable:
            return 0.0
        try:
            return len(defined_names(path) & entries) / len(entries)
        except Exception:  # a candidate that cannot be read is no one's choice, and never crashes the batch
            return 0.0

    scored = [(match(f), _size(f), f) for f in files]
    scored.sort(key=lambda t: (-t[0], -t[1], len(t[2].parts), str(t[2])))
    best = scored[0]
    names = ", ".join(f.name for _, _, f in scored)
    if entries and best[0] > scored[1][0]:
        why = f"it defines {best[0]:.0%} of the assignment's entry names, the others at most {scored[1][0]:.0%}"
        return best[2], f"picked {best[2].name} among {names} ({why})"
    why = "they define the assignment's names equally; the largest was taken" if entries else "the largest"
    return best[2], f"ambiguous: picked {best[2].name} among {names} ({why}); check this student by hand"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# =========================================================================== zip extraction

def zip_links(target: Path) -> dict[str, str]:
    """The link members `extract_zip` skipped in the zip extracted at TARGET: path -> link target."""
    try:
        data = json.loads((target / ".adgrade-links").read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def safe_member_path(name: str) -> PurePosixPath | None:
    """The relative path a zip member may be written to, or None when it would escape the folder."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts) or any("\x00" in p for p in parts):
        return None
    return PurePosixPath(*parts)


def extract_zip(path: Path, into: Path) -> tuple[Path, list[str]]:
    """Extract an LMS export under INTO/<zip name>/ safely; the same zip is extracted once.

    No absolute paths, no `..`, no links, no more than MAX_ZIP_MEMBERS members, no member over
    MAX_MEMBER_BYTES and no more than MAX_TOTAL_BYTES in all (counted while decompressing, not
    trusted from the zip's header).
    """
    warnings: list[str] = []
    links: dict[str, str] = {}  # a link member's path -> its target (never created: listed for its student)
    digest = _sha256(path)
    target = into / slug(path.stem)
    marker = target / ".adgrade-extracted"
    if marker.is_file() and marker.read_text().strip() == digest:
        warnings.extend(json.loads((target / ".adgrade-warnings").read_text() or "[]")
                        if (target / ".adgrade-warnings").is_file() else [])
        return target, warnings
    into.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=into))
    try:
        os.chmod(staging, 0o777 & ~current_umask())  # a folder like any other once renamed (mkdtemp makes 0700)
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise BatchError(f"{path}: not a readable .zip file ({exc})") from None
        total = 0
        with archive:
            members = archive.infolist()
            if len(members) > MAX_ZIP_MEMBERS:
                raise BatchError(f"{path}: {len(members)} files in the zip, more than the {MAX_ZIP_MEMBERS} allowed")
            for info in members:
                if info.is_dir():
                    continue
                rel = safe_member_path(info.filename)
                if rel is None:
                    warnings.append(f"{path.name}: skipped {info.filename!r}: its path leaves the folder")
                    continue
                if _junk(rel):
                    continue
                mode = (info.external_attr >> 16) & 0o170000
                if mode == 0o120000:  # a symlink: never created; its student's report says so
                    # its folder is, so that a student whose only file is a link is still found
                    staging.joinpath(*rel.parts).parent.mkdir(parents=True, exist_ok=True)
                    if info.file_size <= 4096:
                        links[str(rel)] = archive.read(info).decode("utf-8", "replace")
                    warnings.append(f"{path.name}: skipped {info.filename!r}: {LINK_NOT_GRADED}")
                    continue
                if mode and mode != 0o100000:  # a device, a pipe: only plain files are extracted
                    warnings.append(f"{path.name}: skipped {info.filename!r}: not a plain file")
                    continue
                if info.flag_bits & 0x1:
                    warnings.append(f"{path.name}: skipped {info.filename!r}: encrypted")
                    continue
                if info.file_size > MAX_MEMBER_BYTES:
                    warnings.append(f"{path.name}: skipped {info.filename!r}: {info.file_size / 2**20:.0f} MB, over "
                                    f"the {MAX_MEMBER_BYTES // 2**20} MB a file may have")
                    continue
                dest = staging.joinpath(*rel.parts)
                if not dest.resolve().is_relative_to(staging.resolve()):
                    warnings.append(f"{path.name}: skipped {info.filename!r}: its path leaves the folder")
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                written = 0
                too_big = False
                with archive.open(info) as src, open(dest, "wb") as out:
                    while True:
                        block = src.read(1 << 16)
                        if not block:
                            break
                        written += len(block)
                        total += len(block)
                        if written > MAX_MEMBER_BYTES:
                            too_big = True
                            break
                        if total > MAX_TOTAL_BYTES:
                            raise BatchError(f"{path}: unpacks to more than {MAX_TOTAL_BYTES // 2**30} GB; "
                                             "not extracted")
                        out.write(block)
                if too_big:
                    dest.unlink()
                    warnings.append(f"{path.name}: skipped {info.filename!r}: it unpacks to more than "
                                    f"{MAX_MEMBER_BYTES // 2**20} MB")
        (staging / ".adgrade-warnings").write_text(json.dumps(warnings))
        (staging / ".adgrade-links").write_text(json.dumps(links))
        (staging / ".adgrade-extracted").write_text(digest)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target, warnings


# =========================================================================== reports on disk

def current_umask() -> int:
    """The process's umask, read without changing it where Linux tells it (os.umask alone would
    set it for a moment, racing with files other threads create)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
