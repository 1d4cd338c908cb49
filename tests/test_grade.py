"""`adgrade grade`: finding the submissions (folders, globs, LMS zips), the batch, resume after a kill, Dask.

The batch machinery is exercised on a small numpy problem set (a grading takes about half a
second); the kill/resume and Dask tests grade real jax-nn examples, one problem each.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, run_cli

from adgrade import batch
from adgrade import discovery
from adgrade.discovery import discover, extract_zip, student_id

JAX_NN = ROOT / "submissions_example" / "jax-nn"

GOOD = "# %% p1\ndef square(x):\n    return x * x\n"
TWICE = "# %% p1\ndef square(x):\n    return 2 * x * x\n"
BROKEN = "# %% p1\ndef square(x) return x\n"
HIDDEN_CHECK = """
  [[problems.checks]]
  kind = "value"
  entry = "square"
  expected = "square_ref"
  inputs = [[4.0], [0.25]]
  hidden = true
"""


@pytest.fixture
def toy_hidden(tmp_path: Path) -> Path:
    """The toy problem set with a hidden check added to p1."""
    dest = tmp_path / "problems" / "toy"
    shutil.copytree(FIXTURES / "toy", dest)
    toml = dest / "assignment.toml"
    text = toml.read_text()
    anchor = 'inputs = [[1.5], [-2.0], [[1.0, 2.0, 3.0]]]\n'
    assert anchor in text
    toml.write_text(text.replace(anchor, anchor + HIDDEN_CHECK, 1))
    return dest


def _gradebook(out: Path) -> list[dict]:
    with open(out / "gradebook.csv", newline="") as f:
        return list(csv.DictReader(f))


def _verdicts(out: Path) -> dict:
    """Everything graded, without timings: what must not depend on how the batch ran."""
    found = {}
    for path in sorted((out / "reports").glob("*.json")):
        data = json.loads(path.read_text())
        found[path.stem] = (data["score"], data["status"],
                            [(p["id"], [(c["name"], c["status"], c["score"], c["message"]) for c in p["checks"]])
                             for p in data["problems"]])
    return found


# ----------------------------------------------------------------------------- student ids and discovery

@pytest.mark.parametrize("name,is_dir,expected", [
    ("smith_12345_67890_homework.ipynb", False, "smith_12345"),
    ("smith_12345_67899_homework-1.ipynb", False, "smith_12345"),  # Canvas resubmission: same student
    ("smith_LATE_12345_67890_homework.ipynb", False, "smith_12345"),
    ("o-brien_777_888_hw3.py", False, "o-brien_777"),
    ("Jane Roe_123456_assignsubmission_file_", True, "Jane_Roe_123456"),
    ("Jane Roe_123456_assignsubmission_file_hw.ipynb", False, "Jane_Roe_123456"),
    ("Homework 1_jdoe3_attempt_2024-01-31-23-59-59_hw1.py", False, "jdoe3"),
    ("alice.py", False, "alice"),
    ("Bob Smith (late!)", True, "Bob_Smith_late"),
    ("../..", True, "student"),
])
def test_student_ids_are_stable_and_safe(name, is_dir, expected):
    assert student_id(name, is_dir) == expected


def _zip(path: Path, members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, target)
    return path


def test_zip_extraction_is_safe(tmp_path, monkeypatch):
    monkeypatch.setattr(discovery, "MAX_MEMBER_BYTES", 1000)
    archive = _zip(tmp_path / "export.zip", {
        "smith_1_2_hw.py": GOOD.encode(),
        "../evil.py": b"print('escaped')",
        "/abs/evil2.py": b"print('escaped')",
        "C:/win/evil3.py": b"print('escaped')",
        "sub/../../evil4.py": b"print('escaped')",
        "big_3_4_hw.py": b"#" * 5000,
        "__MACOSX/._smith_1_2_hw.py": b"junk",
    }, symlinks={"link_5_6_hw.py": "/etc/passwd"})
    target, warnings = extract_zip(archive, tmp_path / "x" / "extracted")
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if not p.name.startswith("."))
    assert files == ["smith_1_2_hw.py"]
    assert not list((tmp_path / "x").glob("evil*")) and not (tmp_path / "evil.py").exists()
    text = "\n".join(warnings)
    for name in ("../evil.py", "/abs/evil2.py", "C:/win/evil3.py", "sub/../../evil4.py"):
        assert f"{name!r}: its path leaves the folder" in text
    assert "'big_3_4_hw.py'" in text and "'link_5_6_hw.py': a link, not a file: not graded" in text
    # the same zip again: not extracted twice, same warnings
    before = (target / "smith_1_2_hw.py").stat().st_mtime_ns
    again, warnings2 = extract_zip(archive, tmp_path / "x" / "extracted")
    assert again == target and warnings2 == warnings and (target / "smith_1_2_hw.py").stat().st_mtime_ns == before


def test_discovery_picks_the_obvious_file(tmp_path):
    root = tmp_path / "class"
    (root / "alice").mkdir(parents=True)
    (root / "alice" / "scratch.py").write_text("x = 1\n" * 50)
    (root / "alice" / "solution.py").write_text(GOOD)
    (root / "bob" / "nested").mkdir(parents=True)
    (root / "bob" / "nested" / "hw.py").write_text(GOOD)
    (root / "bob" / ".ipynb_checkpoints").mkdir()
    (root / "bob" / ".ipynb_checkpoints" / "hw-checkpoint.ipynb").write_text("{}")
    (root / "carol").mkdir()
    (root / "carol" / "a.py").write_text(GOOD)
    (root / "carol" / "b.py").write_text(GOOD + "\n")
    (root / "dave").mkdir()
    (root / "dave" / "report.pdf").write_bytes(b"%PDF")
    (root / "erin.py").write_text(GOOD)
    (root / "erin.ipynb").write_text("{}")
    (root / "notes.txt").write_text("not a student")
    found = discover([root], tmp_path / "out", {"square"})
    subs = {s.student: s for s in found.submissions}
    assert sorted(subs) == ["alice", "bob", "carol", "dave", "erin"]
    assert subs["alice"].path.name == "solution.py" and "picked solution.py" in subs["alice"].note
    assert "100%" in subs["alice"].note
    assert subs["bob"].path.name == "hw.py" and not subs["bob"].note
    assert subs["carol"].path.name == "b.py" and subs["carol"].note.startswith("ambiguous")
    assert subs["dave"].path is None and "report.pdf" in subs["dave"].error
    assert subs["erin"].path.name == "erin.py"  # the notebook defines nothing
    assert any("notes.txt" in w for w in found.warnings)
    # a glob, and files named directly
    found = discover([str(root / "*.py"), root / "alice" / "solution.py"], tmp_path / "out", {"square"})
    assert [s.student for s in found.submissions] == ["erin", "solution"]
    with pytest.raises(batch.BatchError):
        discover([str(root / "*.java")], tmp_path / "out")


# ----------------------------------------------------------------------------- the batch through the CLI

def test_grade_an_lms_export(tmp_path, toy_hidden):
    canvas = _zip(tmp_path / "canvas.zip", {
        "export/smith_12345_67890_hw.py": GOOD.encode(),
        "export/jones_LATE_22222_33333_hw.py": TWICE.encode(),
        "export/lee_44444_55555_report.pdf": b"%PDF",
        "export/doe_66666_77777_hw.py": GOOD.encode(),
        "export/doe_66666_77777_scratch.py": b"y = 2\n" * 40,
        "export/kim_88888_99999_hw.py": BROKEN.encode(),
        "../evil.py": b"print('escaped')",
    })
    moodle = tmp_path / "moodle"
    (moodle / "Jane Roe_123456_assignsubmission_file_").mkdir(parents=True)
    (moodle / "Jane Roe_123456_assignsubmission_file_" / "hw.py").write_text(GOOD)
    out = tmp_path / "out"
    proc = run_cli("grade", str(canvas), str(moodle), "-a", str(toy_hidden), "--only", "p1", "--out", str(out),
                   "--workers", "2", "--sandbox", "none")
    assert proc.returncode == 0, proc.stderr
    assert "its path leaves the folder" in proc.stderr
    assert "doe_66666: picked doe_66666_77777_hw.py" in proc.stderr
    assert "Grading 6 submission(s) of toy with 2 worker(s)" in proc.stderr
    assert "[6/6]" in proc.stderr and "lee_44444: 0 / 2 error" in proc.stderr
    assert "score distribution" in proc.stdout and "pass rate per problem" in proc.stdout
    assert "most common failures" in proc.stdout
    assert not (tmp_path / "evil.py").exists()

    book = {r["student"]: r for r in _gradebook(out)}
    assert list(book) == ["Jane_Roe_123456", "doe_66666", "jones_22222", "kim_88888", "lee_44444", "smith_12345"]
    assert list(book["smith_12345"]) == ["student", "submission", "p1", "total", "max", "status"]
    assert (book["smith_12345"]["p1"], book["smith_12345"]["status"]) == ("2", "passed")
    assert (book["Jane_Roe_123456"]["total"], book["doe_66666"]["total"]) == ("2", "2")
    assert (book["jones_22222"]["total"], book["jones_22222"]["status"]) == ("0", "failed")
    assert book["kim_88888"]["status"] == "failed"
    assert (book["lee_44444"]["total"], book["lee_44444"]["status"]) == ("0", "error")

    smith = json.loads((out / "reports" / "smith_12345.json").read_text())
    assert smith["student"] == "smith_12345" and smith["batch"]["source"].endswith("smith_12345_67890_hw.py")
    checks = smith["problems"][0]["checks"]
    assert [c["hidden"] for c in checks] == [False, True]  # hidden checks run in a batch
    assert all(c["status"] == "passed" for c in checks)
    lee = json.loads((out / "reports" / "lee_44444.json").read_text())
    assert "report.pdf" in lee["message"]
    doe = json.loads((out / "reports" / "doe_66666.json").read_text())
    assert "picked doe_66666_77777_hw.py" in doe["notes"][0]

    gs = json.loads((out / "gradescope" / "jones_22222" / "results.json").read_text())
    assert {"score", "execution_time", "output", "tests"} <= set(gs)
    assert [(t["visibility"], t["status"]) for t in gs["tests"]] == [("visible", "failed"),
                                                                   ("after_published", "failed")]
    for t in gs["tests"]:
        assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(t)
    junit = ET.fromstring((out / "junit" / "kim_88888.xml").read_bytes())
    assert junit.get("name") == "kim_88888" and junit.find("testsuite").get("name") == "p1: Square"
    assert len(junit.findall("testsuite/testcase")) == 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["submissions"] == 6 and summary["status"] == {"passed": 3, "failed": 2, "error": 1}
    assert summary["problems"][0]["id"] == "p1" and summary["problems"][0]["passed"] == 3

    # the folder is taken: say so instead of mixing two batches
    proc = run_cli("grade", str(canvas), "-a", str(toy_hidden), "--only", "p1", "--out", str(out))
    assert proc.returncode == 2 and "--resume" in proc.stderr
    # resuming with other settings would mix two gradings
    proc = run_cli("grade", str(canvas), "-a", str(toy_hidden), "--out", str(out), "--resume")
    assert proc.returncode == 2 and "only" in proc.stderr
    # nothing left to grade
    proc = run_cli("grade", str(canvas), str(moodle), "-a", str(toy_hidden), "--only", "p1", "--out", str(out),
                   "--resume")
    assert proc.returncode == 0, proc.stderr
    assert "Grading 0 submission(s)" in proc.stderr and "6 already graded" in proc.stderr
    assert {r["student"]: r for r in _gradebook(out)} == book


def test_grade_usage_errors(tmp_path, toy_hidden):
    sub = tmp_path / "a.py"
    sub.write_text(GOOD)
    for args, words in [
        (["grade", str(sub), "-a", str(toy_hidden), "--out", str(tmp_path / "o"), "--only", "p9"], "no problem p9"),
        (["grade", str(tmp_path / "*.java"), "-a", str(toy_hidden), "--out", str(tmp_path / "o")], "matches no file"),
        (["grade", str(sub), "-a", str(toy_hidden), "--out", str(tmp_path / "o"), "--executor", "dask"], "--scheduler"),
        (["grade", str(sub), "-a", str(toy_hidden), "--out", str(tmp_path / "o"), "--resume", "--force"], "contradict"),
    ]:
        proc = run_cli(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert words in proc.stderr


def test_grader_failures_are_recorded_and_graded_again_on_resume(tmp_path, toy_hidden):
    """A grading that fails in the grader (here: the problem set cannot load in the worker) is not a grade."""
    functions = toy_hidden / "functions.py"
    functions.write_text("import multiprocessing, os\n"
                         "if multiprocessing.parent_process() is not None and not os.environ.get('TOY_FIXED'):\n"
                         "    raise RuntimeError('the worker cannot load this')\n" + functions.read_text())
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "ann.py").write_text(GOOD)
    (subs / "ben.py").write_text(TWICE)
    out = tmp_path / "out"
    args = ["grade", str(subs), "-a", str(toy_hidden), "--only", "p1", "--out", str(out), "--workers", "1"]
    proc = run_cli(*args)
    assert proc.returncode == 1, proc.stderr
    assert "The grader failed on 2 submission(s): ann, ben" in proc.stderr
    ann = json.loads((out / "reports" / "ann.json").read_text())
    assert "the worker cannot load this" in ann["grader_error"] and ann["status"] == "error"
    assert [r["status"] for r in _gradebook(out)] == ["error", "error"]  # in the gradebook, not lost

    proc = run_cli(*args, "--resume", env={"TOY_FIXED": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "Grading 2 submission(s)" in proc.stderr
    assert [(r["student"], r["status"]) for r in _gradebook(out)] == [("ann", "passed"), ("ben", "failed")]


def _jax_nn_class(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True)
    for i, name in enumerate(names):
        shutil.copy(JAX_NN / name, folder / f"student{i:02d}_{Path(name).stem}.py")
    return folder


KILL_CLASS = ["correct.py", "wrong_sign.py", "missing_chain.py", "grad_in_manual.py", "syntax_error_q1a.py",
              "no_markers.py"]


def test_sigkill_then_resume_gives_the_same_results(tmp_path):
    subs = _jax_nn_class(tmp_path / "subs", KILL_CLASS)
    common = ["-a", "jax-nn", "--only", "q1a", "--workers", "2"]
    whole = tmp_path / "whole"
    started = time.monotonic()
    proc = run_cli("grade", str(subs), *common, "--out", str(whole))
    uninterrupted = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert len(list((whole / "reports").glob("*.json"))) == len(KILL_CLASS)

    cut = tmp_path / "cut"
    killed = subprocess.Popen([sys.executable, "-m", "adgrade.cli", "grade", str(subs), *common, "--out", str(cut)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + max(120.0, 3 * uninterrupted)
    reports = cut / "reports"
    while time.monotonic() < deadline and killed.poll() is None:
        if reports.is_dir() and list(reports.glob("*.json")):
            break
        time.sleep(0.02)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(timeout=30)
    killed.stderr.close()
    assert killed.returncode == -signal.SIGKILL
    done = list(reports.glob("*.json"))
    assert 1 <= len(done) < len(KILL_CLASS), "the batch was not cut in the middle"
    for path in done:  # every report on disk is whole
        json.loads(path.read_text())

    proc = run_cli("grade", str(subs), *common, "--out", str(cut), "--resume")
    assert proc.returncode == 0, proc.stderr
    assert f"Grading {len(KILL_CLASS) - len(done)} submission(s)" in proc.stderr
    assert f"{len(done)} already graded" in proc.stderr
    assert (cut / "gradebook.csv").read_text() == (whole / "gradebook.csv").read_text()
    assert _verdicts(cut) == _verdicts(whole)
    scores = {r["student"]: r["q1a"] for r in _gradebook(whole)}
    assert scores["student00_correct"] == "5" and scores["student01_wrong_sign"] == "0"
    assert not list(reports.glob(".*.tmp"))


def test_dask_executor(tmp_path):
    distributed = pytest.importorskip("distributed")
    subs = _jax_nn_class(tmp_path / "subs", ["correct.py", "wrong_sign.py", "factor_two.py"])
    out = tmp_path / "out"
    with distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=2, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        proc = run_cli("grade", str(subs), "-a", "jax-nn", "--only", "q1a", "--only", "q1b", "--out", str(out),
                       "--scheduler", cluster.scheduler_address)
    assert proc.returncode == 0, proc.stderr
    assert f"with Dask at {cluster.scheduler_address}" in proc.stderr
    book = {r["student"]: (r["q1a"], r["q1b"], r["status"]) for r in _gradebook(out)}
    assert book == {"student00_correct": ("5", "5", "passed"), "student01_wrong_sign": ("0", "5", "failed"),
                    "student02_factor_two": ("5", "0", "failed")}
    report = json.loads((out / "reports" / "student01_wrong_sign.json").read_text())
    assert report["submission"] == str(subs / "student01_wrong_sign.py")  # not the worker's temporary copy
    assert "sign" in report["problems"][0]["checks"][0]["message"]
