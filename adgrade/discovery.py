"""Which file is whose: a class's submissions found in what the instructor passed to `adgrade grade`.

`discover` turns folders, files, globs and LMS .zip files into one `Submission` per student, with a stable
student id from the file or folder name (Canvas, Moodle and Gradescope names are read for the student).
Where a student handed in several files, `pick_submission` chooses the one that defines the assignment's
entries. A .zip is unpacked under caps (members, sizes) and never outside its folder; symbolic links are
reported, never followed. batch.py grades what this finds.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterable

from adgrade.cells import MAX_SUBMISSION_BYTES, too_large_message

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
