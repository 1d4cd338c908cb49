"""Starters and the student copy of a problem set (adgrade init / export-student)."""

from __future__ import annotations

import json
import tomllib

import nbformat
import pytest

from adgrade.engine import GradeOptions, grade_submission
from adgrade.export import dump_toml, export_student
from adgrade.spec import load_assignment
from adgrade.starter import write_starter

from conftest import FIXTURES, ROOT


@pytest.fixture(scope="module")
def jax_nn():
    return load_assignment("jax-nn")


def test_untouched_starter_scores_zero_with_not_implemented(jax_nn, tmp_path):
    starter = write_starter(jax_nn, tmp_path / "hw.py")
    text = starter.read_text()
    assert "# %% q1a" in text and "def manual_grad(x):" in text and "raise NotImplementedError" in text
    assert text.count("def manual_grad(x):") == 2  # redefined in q1b, as the course does
    report = grade_submission(starter, jax_nn, GradeOptions(only=["q1a", "q1c", "q1d"]))
    assert report.score == 0
    for problem in report.problems:
        for check in problem.checks:
            if check.status != "skipped":  # the starter's own helper code is optional and not the student's
                assert "not implemented yet" in check.message.lower(), check.message
            assert "Traceback" not in check.message


def test_notebook_starter_is_a_valid_notebook_with_the_course_markers(jax_nn, tmp_path):
    nb = nbformat.read(write_starter(jax_nn, tmp_path / "hw.ipynb"), as_version=4)
    nbformat.validate(nb)
    markdown = " ".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "(a) Univariate Function Gradient" in markdown
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert any(src.startswith("# Q1a") for src in code)


def test_student_copy_has_no_hidden_checks_no_reference_no_analytic(tmp_path):
    toy = load_assignment(FIXTURES / "toy")
    files = export_student(toy, tmp_path)
    copy_dir = tmp_path / "problems" / "toy"
    raw = tomllib.loads((copy_dir / "assignment.toml").read_text())
    assert "reference" not in raw["assignment"]
    functions = (copy_dir / "functions.py").read_text()
    assert "def sum_cubes_grad" not in functions and "def square_ref" not in functions
    frozen = json.loads((copy_dir / "expected.json").read_text())
    assert set(frozen) == {"p1/0", "p2/0", "p3/0"}
    assert all(p.exists() for p in files)
    # the copy grades a correct answer correctly and a wrong one as wrong, from frozen values alone
    copy = load_assignment(copy_dir)
    good = tmp_path / "good.py"
    good.write_text("# %% p1\ndef square(x):\n    return x * x\n# %% p2\ndef cube_grad(x):\n    return 3 * x**2\n")
    report = grade_submission(good, copy, GradeOptions(only=["p1", "p2"]))
    assert [p.status for p in report.problems] == ["passed", "passed"]
    bad = tmp_path / "bad.py"
    bad.write_text("# %% p2\ndef cube_grad(x):\n    return 6 * x**2\n")
    report = grade_submission(bad, copy, GradeOptions(only=["p2"]))
    assert report.problems[0].status == "failed" and "factor of 2" in report.problems[0].checks[0].message


def test_hidden_checks_are_left_out_and_announced(tmp_path):
    import shutil

    src = tmp_path / "src" / "toy"
    shutil.copytree(FIXTURES / "toy", src)
    spec_file = src / "assignment.toml"
    spec_file.write_text(spec_file.read_text().replace('inputs = "matvec_inputs"', 'inputs = "matvec_inputs"\n  hidden = true'))
    export_student(load_assignment(src), tmp_path / "out")
    copy = load_assignment(tmp_path / "out" / "problems" / "toy")
    assert [p.id for p in copy.problems] == ["p1", "p2"]  # p3's only check was hidden
    assert copy.hidden_checks == 1
    sub = tmp_path / "s.py"
    sub.write_text("def square(x):\n    return x * x\n")
    report = grade_submission(sub, copy, GradeOptions(only=["p1"]))
    assert report.hidden_not_run == 1
    # the instructor's own check of the original skips the hidden check unless asked
    report = grade_submission(sub, load_assignment(src), GradeOptions(only=["p3"], include_hidden=False))
    assert report.hidden_not_run == 1 and report.problems[0].checks == []
    assert report.problems[0].max_score == 0 and report.problems[0].status == "passed"  # not failed for what did not run


def test_toml_writer_round_trips():
    data = {"assignment": {"name": "x", "seed": 3, "x64": True},
            "problems": [{"id": "p-1", "points": 1.5, "cells": {"markers": ["p1"]},
                          "checks": [{"kind": "value", "mistakes": [{"function": "f", "message": 'say "hi"'}],
                                      "examples": [{"args": [1.0], "value": [2.0, 3.0]}]}]}]}
    assert tomllib.loads(dump_toml(data)) == data
