"""docs/instructor-guide.md works as written.

Every command of every ```bash block is run, in order, in a temporary copy of
docs/example-assignment (laid out as in the repository, so the guide's
`cd docs/example-assignment` works), with `adgrade` on PATH; each must exit
with the code its comment states (`# exit 1`), 0 when it states none. A ```text
block after a ```bash block shows output: each of its lines must appear in what
those commands printed. Every ```toml and ```python block must be a verbatim
piece of the example's files, so the guide cannot drift from the example.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

GUIDE = ROOT / "docs" / "instructor-guide.md"
EXAMPLE = ROOT / "docs" / "example-assignment"
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
EXIT = re.compile(r"#.*?\bexit\s+(\d+)\b")
ALLOWED_LANGUAGES = {"", "bash", "text", "toml", "python"}
# box-drawing characters of rich's tables and panels: output is compared without them and without line breaks
BOX = re.compile("[\u2500-\u257f]")


def blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(GUIDE.read_text(encoding="utf-8"))]


def commands(body: str) -> list[tuple[str, int]]:
    """(command, expected exit code) for every line of a bash block that is not blank or a comment."""
    out = []
    for line in body.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        assert not stripped.endswith("\\"), f"no continuation lines in the guide's commands: {line!r}"
        m = EXIT.search(stripped)
        out.append((stripped, int(m.group(1)) if m else 0))
    return out


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", BOX.sub(" ", text)).strip()


def test_the_guide_has_only_known_blocks_and_enough_commands():
    found = blocks()
    languages = {lang for lang, _ in found}
    assert languages <= ALLOWED_LANGUAGES, f"unexpected code block languages {languages - ALLOWED_LANGUAGES}"
    runnable = [c for lang, body in found if lang == "bash" for c in commands(body)]
    assert len(runnable) >= 12
    named = {shlex.split(cmd)[1] for cmd, _ in runnable if cmd.startswith("adgrade ")}
    assert {"list", "validate", "check", "init", "export-student", "grade", "export", "report"} <= named


def test_every_toml_and_python_block_is_part_of_the_example():
    files = {p: p.read_text(encoding="utf-8") for p in EXAMPLE.rglob("*") if p.suffix in (".toml", ".py")}
    checked = 0
    for lang, body in blocks():
        if lang not in ("toml", "python"):
            continue
        checked += 1
        assert any(body.rstrip("\n") in text for text in files.values()), \
            f"this {lang} block of the guide is not in docs/example-assignment:\n{body}"
    assert checked >= 8


def _adgrade_on_path(bin_dir: Path) -> None:
    bin_dir.mkdir()
    shim = bin_dir / "adgrade"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m adgrade.cli "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def test_every_command_of_the_guide_runs_as_stated(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE, root / "docs" / "example-assignment",
                    ignore=shutil.ignore_patterns("__pycache__", "grades", "handout", "*.html", "*_starter.py"))
    _adgrade_on_path(tmp_path / "bin")
    env = dict(os.environ)
    env["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "200"  # rich wraps at the terminal width; the comparison ignores line breaks anyway
    env.pop("ADGRADE_PROBLEMS", None)
    cwd = root
    last_output = ""
    ran = 0
    for lang, body in blocks():
        if lang == "bash":
            last_output = ""
            for command, expected in commands(body):
                if command.startswith("cd "):
                    target = (cwd / shlex.split(command)[1]).resolve()
                    assert target.is_dir(), f"{command}: no folder {target}"
                    cwd = target
                    ran += 1
                    continue
                proc = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True,
                                      timeout=300)
                ran += 1
                assert proc.returncode == expected, (
                    f"`{command}` exited {proc.returncode}, the guide says {expected}\n"
                    f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}")
                last_output += proc.stdout + "\n" + proc.stderr + "\n"
        elif lang == "text" and last_output:
            seen = normalise(last_output)
            for line in body.splitlines():
                if line.strip():
                    assert normalise(line) in seen, f"the guide shows {line.strip()!r}; the commands printed:\n" \
                                                     f"{last_output[-4000:]}"
    assert ran >= 12
    # what the guide says the commands wrote
    here = root / "docs" / "example-assignment"
    for path in ("ben.html", "softplus_starter.py", "handout/softplus.py", "handout/problems/softplus/assignment.toml",
                 "grades/gradebook.csv", "grades/reports/ada.json", "grades/reports/ben.json", "grades/class.html",
                 "ben-from-json.html"):
        assert (here / path).is_file(), path
    assert "σ(−x)" in (here / "ben.html").read_text(encoding="utf-8")
    assert (here / "grades" / "gradebook.csv").read_text().splitlines()[1:] == [
        "ada,ada.py,2,2,4,4,passed", "ben,ben.py,1,0,1,4,failed"]
    # the hand-out never contains the reference or the hidden check
    handout = (here / "handout" / "problems" / "softplus" / "assignment.toml").read_text()
    assert "hidden = true" not in handout and "reference/softplus.py" not in handout


@pytest.mark.parametrize("submission, status", [("ada.py", "passed"), ("ben.py", "failed")])
def test_example_submissions_get_the_verdicts_the_guide_describes(submission, status, tmp_path):
    """Graded as an instructor does (--all): ada full marks, ben the two mistakes with their messages."""
    import json

    proc = subprocess.run([sys.executable, "-m", "adgrade.cli", "check", f"submissions/{submission}", "-a", "softplus",
                           "--all", "--format", "json", "--sandbox", "none"], cwd=EXAMPLE, capture_output=True,
                          text=True, timeout=300)
    report = json.loads(proc.stdout)
    assert report["status"] == status, proc.stdout
    if status == "failed":
        q1, q2 = report["problems"]
        assert [c["status"] for c in q1["checks"]] == ["passed", "failed"]
        assert "NaN or inf" in q1["checks"][1]["message"] and q1["checks"][1]["hidden"]
        assert "σ(−x)" in q2["checks"][0]["message"]
    else:
        assert report["score"] == report["max_score"] == 4
