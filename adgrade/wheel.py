"""A wheel of the adgrade that is running, for `adgrade ci init` to commit into an assignment repo.

CI must install exactly the adgrade the instructor graded with, from a source that exists and
cannot change under the course: not `pip install adgrade` (no such package is published, and
whoever registered the name would run code in every course's CI). So `ci init` packs the
modules this process imported adgrade from, with the installed distribution's metadata
(dependencies, entry points), into a py3-none-any wheel, and the workflow checks its sha256
before installing it.

The wheel is reproducible: the same code and metadata give the same bytes (fixed timestamps and
order), so running `ci init --force` again with the same adgrade changes nothing in the repo.
This works for a regular and an editable install alike; it needs no build tool or network.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import adgrade

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold: no build time in the bytes
_SKIP_DIRS = {"__pycache__"}
_SKIP_SUFFIXES = (".pyc", ".pyo")


class WheelError(RuntimeError):
    """The running adgrade cannot be packed (not installed as a distribution)."""


@dataclass
class BuiltWheel:
    path: Path
    sha256: str


def wheel_name(version: str) -> str:
    return f"adgrade-{_escape(version)}-py3-none-any.whl"


def _escape(version: str) -> str:
    return re.sub(r"[^\w\d.]+", "_", version)


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")


def _package_files() -> list[tuple[str, bytes]]:
    """(path in the wheel, bytes) of every file of the imported adgrade package, sorted."""
    root = Path(adgrade.__file__).resolve().parent
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or _SKIP_DIRS & set(rel.parts) or path.suffix in _SKIP_SUFFIXES:
            continue
        out.append(("adgrade/" + rel.as_posix(), path.read_bytes()))
    return out


def _metadata() -> tuple[str, str, str]:
    """(version, METADATA text, entry_points.txt text) of the installed distribution."""
    # an installed dist-info first; a source folder's adgrade.egg-info (on sys.path as the current
    # folder) says the same in PKG-INFO
    found = [d for d in importlib.metadata.distributions(name="adgrade") if d.version == adgrade.__version__]
    for dist in sorted(found, key=lambda d: not d.read_text("METADATA")):
        metadata = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
        if metadata.strip():
            return dist.version, metadata, dist.read_text("entry_points.txt") or ""
    raise WheelError(f"the metadata of adgrade {adgrade.__version__} (its dependencies and commands) is not "
                     "installed here; install adgrade with `pip install -e .` from its source folder (or "
                     "`pip install` its wheel), then run this again")


def build_wheel(dest_dir: Path) -> BuiltWheel:
    """Write the running adgrade as DEST_DIR/adgrade-<version>-py3-none-any.whl."""
    version, metadata, entry_points = _metadata()
    info = f"adgrade-{_escape(version)}.dist-info"
    wheel_text = ("Wheel-Version: 1.0\nGenerator: adgrade ci init\nRoot-Is-Purelib: true\n"
                  "Tag: py3-none-any\n")
    files = _package_files()
    files += [(f"{info}/METADATA", metadata.encode("utf-8")), (f"{info}/WHEEL", wheel_text.encode("ascii"))]
    if entry_points:
        files.append((f"{info}/entry_points.txt", entry_points.encode("utf-8")))
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files)
    files.append((f"{info}/RECORD", (record + f"{info}/RECORD,,\n").encode("utf-8")))

    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / wheel_name(version)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            entry = zipfile.ZipInfo(name, date_time=_EPOCH)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, data)
    tmp.replace(path)
    return BuiltWheel(path, hashlib.sha256(path.read_bytes()).hexdigest())
