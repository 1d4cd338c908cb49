"""Starters and the student copy of a problem set (adgrade init / export-student)."""

from __future__ import annotations

import json
import tomllib

import nbformat
import numpy as np
import pytest

from adgrade.engine import GradeOptions, grade_submission
from adgrade.export import dump_toml, export_student
from adgrade.spec import load_assignment
from adgrade.starter import write_starter

from conftest import FIXTURES, ROOT, run_cli, run_json


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


# -- per-check seeds, practice inputs ----------------------------------------------------------

def _inputs_by_check(spec, stream="grading"):
    from adgrade.engine import plan

    out = {}
    for _, checks in plan(spec, GradeOptions(include_hidden=True)).problems:
        for check in checks:
            check.stream = stream
            out[(check.problem.id, check.spec.name or check.spec.wrapper or check.spec.entry)] = check.inputs()
    return out


def _same_inputs(a, b):
    from adgrade.runner import protocol

    return protocol.encode([list(x) for x in a]) == protocol.encode([list(x) for x in b])


def test_adding_a_check_leaves_the_other_checks_inputs_alone(tmp_path):
    import shutil

    src = tmp_path / "jax-nn"
    shutil.copytree(ROOT / "problems" / "jax-nn", src)
    spec_file = src / "assignment.toml"
    spec_file.write_text(spec_file.read_text().replace('reference = "../../reference/jax_nn.py"\n', ""))
    before = _inputs_by_check(load_assignment(src))
    text = spec_file.read_text().replace('reference = "../../reference/jax_nn.py"\n', "")
    # a new first check in q1b-hessian (and q1a): every other check keeps its position-independent seed
    new_check = ('[[problems.checks]]\nkind = "hessian"\nname = "a new check"\nwrapper = "wrap_hessian_unseen"\n'
                 'function = "f_unseen"\nanalytic = "hessian_unseen"\ninputs = "inputs_hessian_q1b"\npoints = 0\n\n')
    marker = '[[problems.checks]]\nkind = "hessian"\nname = "hessian_manual(f, x) for f(x) = ‖x‖³"'
    assert marker in text
    spec_file.write_text(text.replace(marker, new_check + marker))
    after = _inputs_by_check(load_assignment(src))
    assert set(after) == set(before) | {("q1b-hessian", "a new check")}
    for key, inputs in before.items():
        assert _same_inputs(after[key], inputs), key


def test_practice_inputs_are_not_the_graded_ones_but_course_examples_stay():
    spec = load_assignment("jax-nn")
    graded = _inputs_by_check(spec)
    practice = _inputs_by_check(load_assignment("jax-nn"), stream="practice")
    key = ("q1a", "manual_grad(x) is f'(x) for f(x) = cos(x³ − 2x² + 5), written by hand")
    g = [float(a[0]) for a in graded[key]]
    p = [float(a[0]) for a in practice[key]]
    assert g[-1] == p[-1] == 3.5  # the course's printed f'(3.5) = 22.35... is an example both see
    assert not set(g[:-1]) & set(p[:-1])


def test_a_frozen_function_answers_the_recorded_calls_only():
    import types

    from adgrade.frozen import FrozenFunction, FrozenMiss, Recorder, call_key
    from adgrade.runner import protocol

    module = types.ModuleType("fns")
    module.grad = lambda xp, x: 3 * x ** 2
    recorder = Recorder(module)
    x = np.array([1.0, 2.0])
    assert np.array_equal(recorder.grad(np, x), [3.0, 12.0])
    recorder.grad(np, np.float64(3.5))
    frozen = FrozenFunction("grad", recorder.calls["grad"])
    # what the copy is handed back (decoded from JSON) looks the call up like the original arguments
    decoded = protocol.decode(protocol.encode(x))
    assert np.array_equal(frozen(np, decoded), [3.0, 12.0])
    assert call_key((3.5,)) == call_key((np.float64(3.5),)) == call_key((np.asarray(3.5),))
    assert float(frozen(np, 3.5)) == 36.75
    with pytest.raises(FrozenMiss, match="practice inputs"):
        frozen(np, np.array([1.0, 2.5]))  # any other input: the copy cannot compute the answer
    # a call that raised when recorded raises in the copy too (a mistake that does not apply there)
    from adgrade.frozen import FrozenRaised

    with pytest.raises(TypeError):
        recorder.grad(np, "text")
    with pytest.raises(FrozenRaised, match="TypeError"):
        FrozenFunction("grad", recorder.calls["grad"])(np, "text")


# -- refusals: before anything is written ------------------------------------------------------

def test_a_judge_that_may_compute_the_answer_is_refused_naming_the_check(tmp_path):
    import shutil

    from adgrade.export import CopyError

    src = tmp_path / "src" / "toy"
    shutil.copytree(FIXTURES / "toy", src)
    (src / "functions.py").write_text((src / "functions.py").read_text()
                                      + "\n\ndef judge_square(answer, expected, args):\n"
                                        "    return None if abs(answer - args[0] ** 2) < 1e-9 else 'wrong'\n")
    spec_file = src / "assignment.toml"
    spec_file.write_text(spec_file.read_text().replace('expected = "square_ref"',
                                                       'expected = "square_ref"\n  judge = "judge_square"'))
    dest = tmp_path / "out"
    with pytest.raises(CopyError) as err:
        export_student(load_assignment(src), dest)
    message = str(err.value)
    assert "problems[0].checks[0]" in message and "judge_square" in message
    assert "rtol" in message and "judge_in_copy" in message
    assert not dest.exists() and [p.name for p in (tmp_path).iterdir()] == ["src"]  # nothing half-written
    # with the judge's tolerance the copy compares with the frozen values instead; the judge stays out
    spec_file.write_text(spec_file.read_text().replace('judge = "judge_square"', 'judge = "judge_square"\n  atol = 1e-9'))
    export_student(load_assignment(src), dest)
    assert "judge_square" not in (dest / "problems" / "toy" / "functions.py").read_text()
    assert "judge" not in tomllib.loads((dest / "problems" / "toy" / "assignment.toml").read_text())["problems"][0]["checks"][0]


# -- every bundled assignment, through the real CLI ----------------------------------------------

BUNDLED = ["autograd-intro", "jax-nn", "autodiff-exercises", "jax-objectives", "torch-backprop"]
#: docs/example-assignment's instructor-written set: the newer check kinds (autograd_function,
#: convergence_rate, test functions, require) go through the copy too
EXAMPLE = ROOT / "docs" / "example-assignment"
ALL = BUNDLED + ["custom-gradients"]


def _source(name):
    return str(EXAMPLE / "problems" / name) if name == "custom-gradients" else name


def _reference(name):
    stem = name.replace("-", "_")
    return EXAMPLE / "reference" / f"{stem}.py" if name == "custom-gradients" else ROOT / "reference" / f"{stem}.py"


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    """Every bundled assignment's student copy, as `adgrade export-student` writes it (made once)."""
    root = tmp_path_factory.mktemp("copies")
    for name in ALL:
        proc = run_cli("export-student", _source(name), str(root / name))
        assert proc.returncode == 0, proc.stderr
    return root


@pytest.mark.parametrize("name", ALL)
def test_the_copy_grades_the_reference_full_and_the_starter_zero(copies, name, tmp_path):
    """`adgrade grade` with the student copy: the reference earns every visible point, the starter none."""
    import shutil

    stem = name.replace("-", "_")
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(_reference(name), subs / "reference.py")
    shutil.copy(copies / name / f"{stem}.py", subs / "starter.py")
    copy_dir = copies / name / "problems" / name
    proc = run_cli("grade", str(subs), "-a", str(copy_dir), "--out", str(tmp_path / "out"), "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    reports = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "out" / "reports").glob("*.json")}
    reference, starter = reports["reference"], reports["starter"]
    failed = [(p["id"], c["name"], c["message"][:300]) for p in reference["problems"] for c in p["checks"]
              if c["status"] not in ("passed", "skipped")]
    assert not failed and reference["score"] >= reference["max_score"] > 0, failed  # bonus points on top
    assert starter["score"] == 0
    for problem in starter["problems"]:
        for check in problem["checks"]:
            if check["status"] != "skipped":  # optional checks of the course's own helper code
                assert "not implemented" in check["message"].lower(), (problem["id"], check["message"])


def _graded_pairs(check):
    """(call arguments, expected value) of a trusted check on its graded inputs, as a leak would give them."""
    from adgrade.checks.calls import CallCheck
    from adgrade.checks.convergence import ConvergenceCheck
    from adgrade.checks.iterates import TrajectoryCheck

    if not isinstance(check, CallCheck):
        return []
    check.prepare()
    pairs = []
    for args, expected in zip(check.inputs(), check._expected):
        args = tuple(args)
        if isinstance(check, TrajectoryCheck) and check.steps:
            pairs += [(args + (k,), expected[k]) for k in check.steps]
        elif isinstance(check, ConvergenceCheck) and isinstance(expected, dict):
            pairs.append((args, expected["limit"]))
        elif expected is not None:
            pairs.append((args, expected))
    return pairs


@pytest.mark.parametrize("name", ALL)
def test_no_function_in_a_copy_reproduces_a_graded_answer(copies, name):
    """Every function a copy holds (code, or frozen results), called on the graded inputs, misses every
    expected value there; only the inputs both sides share on purpose (the course's examples) are left out."""
    import types

    from adgrade.diagnose import matches
    from adgrade.engine import plan
    from adgrade.frozen import call_key

    copy = load_assignment(copies / name / "problems" / name)
    shown = {call_key(tuple(args)) for _, checks in plan(copy, GradeOptions()).problems
             for check in checks for args in check.inputs()}
    module = copy.functions
    functions = {n: f for n, f in vars(module).items()
                 if callable(f) and not isinstance(f, type) and not n.startswith("__")
                 and getattr(f, "__module__", module.__name__) in (module.__name__, "adgrade.frozen")}
    assert functions
    student = types.SimpleNamespace()  # the student's definitions: none (a wrapper cannot call the answer)
    original = load_assignment(_source(name))
    checked = 0
    for _, checks in plan(original, GradeOptions()).problems:
        for check in checks:
            for args, expected in _graded_pairs(check):
                if call_key(args) in shown:
                    continue
                checked += 1
                for fname, fn in functions.items():
                    for call in ((np, *args), args, (np, student, *args)):
                        try:
                            out = fn(*call)
                        except Exception:
                            continue
                        assert not matches(out, expected), f"{fname}{call[:1]} gives {check.key}'s answer"
    assert checked > 5


def test_the_copy_holds_no_reference_mistake_or_judge_code(copies):
    jax_nn = (copies / "jax-nn" / "problems" / "jax-nn" / "functions.py").read_text()
    for name in ("f_q1a_grad", "f_q1a_grad_missing_chain", "f_q1a_is_q1b_grad", "f_q1b_grad", "_softmax",
                 "predict_q1c", "predict_q1c_no_softmax", "loss_q1c_grad", "hessian_unseen"):
        assert f"def {name}(" not in jax_nn
    assert "def wrap_loss_q1c(" in jax_nn and "def judge_q1d_params(" in jax_nn  # sent to the student / shapes only
    exercises = (copies / "autodiff-exercises" / "problems" / "autodiff-exercises" / "functions.py").read_text()
    assert "def judge_taylor_cosine" not in exercises and "_taylor_cos_partial_sums" not in exercises
    backprop = (copies / "torch-backprop" / "problems" / "torch-backprop" / "functions.py").read_text()
    assert "def p4_forward" not in backprop and "def p5_minimizer" not in backprop


def test_a_lookup_table_of_the_copy_earns_nothing_when_graded(copies, tmp_path):
    """manual_grad answering from the copy's expected.json passes the copy and scores 0 under `grade`."""
    from adgrade.runner import protocol

    copy_dir = copies / "jax-nn" / "problems" / "jax-nn"
    frozen = json.loads((copy_dir / "expected.json").read_text())
    cells = []
    for problem in ("q1a", "q1b"):
        data = frozen[f"{problem}/0"]
        table = {}
        for args, value in zip(data["inputs"], data["expected"]):
            x = np.ravel(np.asarray(protocol.decode(args)[0], dtype=float))
            table[",".join(repr(float(v)) for v in x)] = np.asarray(protocol.decode(value), dtype=float).tolist()
        cells.append(f"# %% {problem}\nimport numpy as np\nTABLE_{problem} = {table!r}\n\n"
                     f"def manual_grad(x):\n"
                     f"    key = ','.join(repr(float(v)) for v in np.ravel(np.asarray(x, dtype=float)))\n"
                     f"    return np.asarray(TABLE_{problem}.get(key, 0.0))\n")
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "table.py").write_text("\n".join(cells))
    report, proc = run_json("check", str(subs / "table.py"), "-a", str(copy_dir), "--only", "q1a", "--only", "q1b")
    assert [p["status"] for p in report["problems"]] == ["passed", "passed"], proc.stderr  # the table is right
    proc = run_cli("grade", str(subs), "-a", "jax-nn", "--out", str(tmp_path / "out"), "--only", "q1a",
                   "--only", "q1b")
    assert proc.returncode == 0, proc.stderr
    graded = json.loads((tmp_path / "out" / "reports" / "table.json").read_text())
    assert graded["score"] == 0 and graded["max_score"] == 10
