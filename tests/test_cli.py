"""The command line as a user meets it: help, list, bad input, spec errors, validate."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, run_cli, run_json

HEAVY = ("jax", "torch", "autograd")


@pytest.mark.parametrize("args", [["--help"], ["list"], ["check", "--help"]])
def test_help_and_list_import_no_framework(args):
    code = (
        "import sys\n"
        "from adgrade.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit as e:\n    code = e.code\n"
        f"loaded = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "assert code in (0, None), code\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_list_shows_assignments():
    proc = run_cli("list")
    assert proc.returncode == 0, proc.stderr
    assert "jax-nn" in proc.stdout


def test_missing_submission_is_bad_usage(tmp_path):
    proc = run_cli("check", str(tmp_path / "nope.py"), "-a", "jax-nn")
    assert proc.returncode == 2
    assert "nope.py" in proc.stderr and "does not exist" in proc.stderr


def test_unknown_assignment_is_bad_usage(tmp_path):
    sub = tmp_path / "s.py"
    sub.write_text("x = 1\n")
    proc = run_cli("check", str(sub), "-a", "no-such-assignment")
    assert proc.returncode == 2
    assert "no-such-assignment" in proc.stderr and "adgrade list" in proc.stderr
    assert proc.stdout == ""


def _copy_toy(tmp_path: Path) -> Path:
    dest = tmp_path / "toy"
    shutil.copytree(FIXTURES / "toy", dest)
    return dest


@pytest.mark.parametrize("edit,words", [
    (lambda t: t.replace('points = 2', 'points = "two"'), ["problems[0].points", "expected a number"]),
    (lambda t: t.replace('expected = "square_ref"', 'expected = "nope"'),
     ["problems[0].checks[0].expected", "no function 'nope'"]),
    (lambda t: t.replace('kind = "jacobian"', 'kind = "jacobean"'), ["problems[2].checks[0].kind", "unknown check kind"]),
    (lambda t: t.replace('name = "toy"', 'name = "other"'), ["assignment.name", "folder name"]),
    (lambda t: t + "\n[[problems]\n", ["not valid TOML"]),
    (lambda t: t.replace('manual = true', 'manual = true\n  wobble = 3'), ["problems[1].checks[0].wobble", "unknown field"]),
])
def test_broken_spec_exits_2_naming_file_and_field(tmp_path, edit, words):
    toy = _copy_toy(tmp_path)
    spec = toy / "assignment.toml"
    spec.write_text(edit(spec.read_text()))
    sub = tmp_path / "s.py"
    sub.write_text("def square(x):\n    return x * x\n")
    proc = run_cli("check", str(sub), "-a", str(toy), "--format", "json")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""  # no report on stdout for a broken spec
    assert "assignment.toml" in proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr


def test_json_report_follows_the_contract(tmp_path):
    sub = tmp_path / "s.py"
    sub.write_text("# %% p1\ndef square(x):\n    return 2 * x * x\n")
    report, proc = run_json("check", str(sub), "-a", str(FIXTURES / "toy"), "--only", "p1")
    assert proc.returncode == 1
    assert set(report) >= {"adgrade", "assignment", "submission", "score", "max_score", "status", "problems"}
    assert report["submission"] == str(sub) and report["status"] == "failed"
    (problem,) = report["problems"]
    assert set(problem) >= {"id", "bonus", "title", "score", "max_score", "status", "checks"}
    (check,) = problem["checks"]
    assert set(check) >= {"name", "status", "score", "max_score", "message", "hidden"}
    assert check["status"] == "failed" and "factor of 2" in check["message"]


def test_assignment_is_guessed_from_entry_names(tmp_path):
    sub = tmp_path / "s.py"
    sub.write_text("def square(x):\n    return x * x\ndef cube_grad(x):\n    return 3 * x**2\ndef jac(x):\n    pass\n")
    proc = run_cli("check", str(sub), "--only", "p1", env={"ADGRADE_PROBLEMS": str(FIXTURES)})
    assert "Grading as assignment toy" in proc.stderr
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_validate_catches_a_wrong_analytic_solution(tmp_path):
    toy = _copy_toy(tmp_path)
    functions = toy / "functions.py"
    functions.write_text(functions.read_text().replace("return 3 * x ** 2", "return 2 * x ** 2"))
    proc = run_cli("validate", str(toy), "--no-reference")
    assert proc.returncode == 2  # a broken problem set (README: exit codes)
    out = " ".join(proc.stdout.split())
    assert "p2" in out and "sum_cubes_grad" in out and "disagrees" in out
    for backend in ("autograd", "jax", "torch"):
        assert backend in out


def test_validate_passes_on_a_sound_problem_set():
    proc = run_cli("validate", str(FIXTURES / "toy"), "--no-reference")
    assert proc.returncode == 0, proc.stdout
