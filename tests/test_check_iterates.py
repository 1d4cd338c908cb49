"""The `trajectory` and `convergence` check kinds (adgrade/checks/iterates.py, adgrade/checks/convergence.py).

Most behaviours are judged on answers made here (the judging half of a check
is pure: answers in, a result out); a few gradings through the engine prove the
asking half (steps appended as k, wrappers, the reference in `validate`).
Problem set: tests/fixtures/iterates.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest

from adgrade.engine import GradeOptions, grade_submission, plan
from adgrade.runner.parent import Answer
from adgrade.spec import SpecError, load_assignment
from adgrade.validate import validate_assignment

from conftest import FIXTURES

FOLDER = FIXTURES / "iterates"


@pytest.fixture(scope="module")
def spec():
    return load_assignment(FOLDER)


def check_of(spec, problem_id: str, index: int = 0):
    [(_, checks)] = plan(spec, GradeOptions(only=[problem_id])).problems
    return checks[index]


def judge(check, values, **answer_fields):
    """Judge answers given as values, one per request (in request order)."""
    answers = [Answer(r.id, answer_fields.get("status", "ok"), value=v,
                      error=answer_fields.get("error"), message=answer_fields.get("message", ""),
                      autodiff_calls=answer_fields.get("autodiff_calls", []))
               for r, v in zip(check.requests(), values)]
    return check.judge(answers)


# -- the student's side, made here ------------------------------------------------------

def path(X, Y, lr=0.05, n_iters=8, factor=1.0, record_before=False):
    w, out = 0.0, []
    for _ in range(n_iters):
        if record_before:
            out.append(w)
        w = w - lr * factor * float(np.mean(2 * X * (w * X - Y)))
        if not record_before:
            out.append(w)
    return out


def vec_path(A, b, lr, n_iters):
    w, out = np.zeros(A.shape[1]), []
    for _ in range(n_iters):
        w = w - lr * A.T @ (A @ w - b)
        out.append(w.copy())
    return out


def gd(A, b, w0, alpha, k, factor=1.0):
    w = np.array(w0, dtype=float)
    for _ in range(k):
        w = w - factor * alpha * A.T @ (A @ w - b)
    return w


def steps_values(check, fn):
    return [fn(*args) for _, _, args in check.calls()]


# -- trajectory: a list of iterates ------------------------------------------------------

def test_right_iterates_pass(spec):
    check = check_of(spec, "path")
    result = judge(check, [path(*args) for args in check.inputs()])
    assert result.status == "passed", result.message
    assert result.score == result.max_score == 1.0


def test_sum_instead_of_mean_is_named_as_factor_N(spec):
    check = check_of(spec, "path")
    values = [path(*args, factor=len(args[0])) for args in check.inputs()]
    result = judge(check, values)
    assert result.status == "failed"
    assert "first step that differs is step 1" in result.message
    assert "off by a factor of 5 = N (sum instead of mean?)" in result.message  # the first run has N = 5
    assert "in every run" in result.message


def test_record_before_the_update_is_off_by_one_iteration(spec):
    check = check_of(spec, "path")
    result = judge(check, [path(*args, record_before=True) for args in check.inputs()])
    assert result.status == "failed"
    assert "off by 1 iteration" in result.message and "before the update" in result.message


def test_float32_iterates_fail_with_float64_dtype(spec):
    check = check_of(spec, "path")
    values = [[np.float32(w) for w in path(*args)] for args in check.inputs()]
    result = judge(check, values)
    assert result.status == "failed" and "float32" in result.message and "step 1" in result.message


def test_final_value_only(spec):
    check = check_of(spec, "path")
    result = judge(check, [path(*args)[-1] for args in check.inputs()])
    assert result.status == "failed"
    assert "expected a list of 8 iterates" in result.message and "final iterate" in result.message


def test_divergence_names_the_first_nonfinite_step(spec):
    check = check_of(spec, "path")
    values = []
    for args in check.inputs():
        ws = path(*args)
        values.append(ws[:3] + [float("inf")] * (len(ws) - 3))
    result = judge(check, values)
    assert result.status == "failed"
    assert "first step that differs is step 4" in result.message and "steps 1 to 3 match" in result.message
    assert "diverge" in result.message and "after step 4" in result.message


def test_length_mismatches_are_explained(spec):
    check = check_of(spec, "vecpath")
    [args] = check.inputs()
    right = vec_path(*args)
    start = [np.zeros(3)]
    cases = {
        "starts with the starting value": start + right,
        "stops 3 steps early": right[:3],
        "2 steps too many": right + [right[-1], right[-1]],
        "last 4 iterates": right[2:],
    }
    for words, value in cases.items():
        result = judge(check, [value])
        assert result.status == "failed", words
        assert words in result.message, (words, result.message)
        assert f"returned {len(value)} iterates, expected 6" in result.message


def test_same_object_appended_every_step(spec):
    check = check_of(spec, "vecpath")
    [args] = check.inputs()
    final = vec_path(*args)[-1]
    result = judge(check, [[final] * 6])
    assert result.status == "failed"
    assert "every item of your list is the final iterate" in result.message and "copy" in result.message


def test_a_stacked_array_of_iterates_is_accepted(spec):
    check = check_of(spec, "vecpath")
    [args] = check.inputs()
    assert judge(check, [np.stack(vec_path(*args))]).status == "passed"


# -- trajectory with `steps`: one call per k ---------------------------------------------

def test_steps_are_appended_as_k(spec):
    check = check_of(spec, "gd")
    calls = check.calls()
    assert [k for _, k, _ in calls] == [0, 1, 2, 5, 20] * 2
    assert all(args[-1] == k for _, k, args in calls)
    assert judge(check, steps_values(check, gd)).status == "passed"


@pytest.mark.parametrize("s,words", [(1, "right w_(k+1)"), (2, "right w_(k+2)"), (-1, "right w_(k−1)")])
def test_steps_shift(spec, s, words):
    check = check_of(spec, "gd")
    result = judge(check, steps_values(check, lambda A, b, w0, a, k: gd(A, b, w0, a, max(k + s, 0))))
    assert result.status == "failed"
    assert f"off by {abs(s)} iteration" in result.message and words in result.message


def test_steps_first_step_scaled(spec):
    check = check_of(spec, "gd")
    result = judge(check, steps_values(check, lambda *a: gd(*a, factor=3.0)))
    assert result.status == "failed"
    assert "at k = 1" in result.message and "right at k = 0" in result.message
    assert "first step (w_1 − w_0) is off by a factor of 3" in result.message


def test_steps_result_that_ignores_k(spec):
    check = check_of(spec, "gd")
    result = judge(check, steps_values(check, lambda A, b, w0, a, k: np.linalg.lstsq(A, b, rcond=None)[0]))
    assert result.status == "failed" and "the same for every k" in result.message


def test_steps_known_mistake(spec):
    check = check_of(spec, "gd")
    result = judge(check, steps_values(check, lambda *a: gd(*a, factor=-1.0)))
    assert result.status == "failed"
    assert "Likely cause: You add the gradient" in result.message


def test_process_failures_become_results(spec):
    check = check_of(spec, "gd")
    n = len(check.requests())
    missing = judge(check, [None] * n, status="missing", error={"type": "MissingEntry", "message": "gd_iter"})
    assert missing.status == "error" and "`gd_iter` is not defined" in missing.message
    raised = judge(check, [None] * n, status="error",
                   error={"type": "ValueError", "message": "bad k", "line": 3, "traceback": ""})
    assert raised.status == "error" and "ValueError: bad k" in raised.message
    assert ", 0" in raised.message.split(":")[0] or "0.15, 0" in raised.message  # the call shows k = 0
    slow = judge(check, [None] * n, status="timeout", message="did not finish within 10 s")
    assert slow.status == "timeout"


# -- convergence (b): converge below 2/λmax, diverge above -----------------------------------

def test_step_size_is_named_as_a_multiple_of_the_bound(spec):
    check = check_of(spec, "gd", 1)
    check.prepare()
    steps = [e["step"] for e in check._expected]
    assert [s.split(" = ")[-1] for s in steps] == ["0.5 × 2/λmax", "0.9 × 2/λmax", "1.1 × 2/λmax", "1.5 × 2/λmax"]
    assert [e["converges"] for e in check._expected] == [True, True, False, False]


def test_convergence_iteration(spec):
    check = check_of(spec, "gd", 1)
    right = [gd(*args) for args in check.inputs()]
    assert judge(check, right).status == "passed"

    minimiser = [np.linalg.lstsq(A, b, rcond=None)[0] for A, b, *_ in check.inputs()]
    result = judge(check, minimiser)
    assert result.status == "failed"
    assert "= 1.1 × 2/λmax the iteration must diverge" in result.message
    assert "Right for: 0.5 × 2/λmax; 0.9 × 2/λmax. Wrong for: 1.1 × 2/λmax; 1.5 × 2/λmax." in result.message

    ascent = [gd(*args, factor=-1.0) for args in check.inputs()]
    result = judge(check, ascent)
    assert result.status == "failed"
    assert "= 0.5 × 2/λmax the iteration must converge" in result.message and "diverged" in result.message

    nan = [np.full(3, np.nan) for _ in check.inputs()]
    result = judge(check, nan)
    assert result.status == "failed" and "NaN/inf" in result.message

    result = judge(check, [np.zeros(2) for _ in check.inputs()])
    assert result.status == "failed" and "shape (2,)" in result.message


# -- convergence (a): trained, judged on held-out data ------------------------------------------

def test_trained_model_on_held_out_data(spec):
    check = check_of(spec, "train")
    [(X, y, X_test)] = check.inputs()
    w = np.linalg.lstsq(X, y, rcond=None)[0]
    result = judge(check, [X_test @ w])
    assert result.status == "passed", result.message
    assert result.details["metric"] < 0.05 and "held-out mse" in result.message

    result = judge(check, [np.zeros(len(X_test))])
    assert result.status == "failed"
    assert "mse" in result.message and "at most 0.05" in result.message
    assert "Predicting the mean of the targets everywhere gives" in result.message
    assert "Your model predicts one number for every input." in result.message  # the `constant` hint

    result = judge(check, [X_test @ (w + 0.5)])
    assert result.status == "failed" and "hardly vary" not in result.message

    result = judge(check, [np.full(len(X_test), np.nan)])
    assert result.status == "failed" and "Your weights are NaN" in result.message

    result = judge(check, [np.zeros((len(X_test), len(X_test)))])
    assert result.status == "failed" and "one prediction per input" in result.message


# -- through the engine ------------------------------------------------------------------------------

WRONG = """
import numpy as np

# %% path
def fit_path(X, Y, lr=0.05, n_iters=8):
    w, out = 0.0, []
    for _ in range(n_iters):
        w = w - lr * np.dot(2 * X, w * X - Y).mean()
        out.append(float(w))
    return out

# %% vecpath
def vec_path(A, b, lr, n_iters):
    w = np.zeros(A.shape[1])
    out = []
    for _ in range(n_iters):
        w -= lr * A.T @ (A @ w - b)
        out.append(w)
    return out

# %% gd
def gd_iter(A, b, w0, alpha, k):
    w = np.array(w0, dtype=np.float64)
    for _ in range(k + 1):
        w = w - alpha * A.T @ (A @ w - b)
    return w

# %% train
def fit_linear(X, y):
    return np.zeros(X.shape[1])
"""


def test_wrong_submission_through_the_engine(spec, tmp_path):
    path_ = tmp_path / "wrong.py"
    path_.write_text(textwrap.dedent(WRONG))
    report = grade_submission(path_, spec)
    by_id = {p.id: p for p in report.problems}
    assert {pid: p.status for pid, p in by_id.items()} == {
        "path": "failed", "vecpath": "failed", "gd": "failed", "train": "failed"}
    assert "off by a factor of 5 = N" in by_id["path"].checks[0].message
    assert "final iterate" in by_id["vecpath"].checks[0].message
    gd_traj, gd_conv = by_id["gd"].checks
    assert "off by 1 iteration" in gd_traj.message
    assert gd_conv.status == "passed"  # one step more still converges and diverges where it must
    assert by_id["gd"].score == 1.0
    assert "one number for every input" in by_id["train"].checks[0].message


def test_validate_grades_the_reference_with_a_margin(spec):
    result = validate_assignment(spec)
    assert result.ok, result.problems


def _copy(tmp_path: Path, edit) -> Path:
    folder = tmp_path / "iterates"
    shutil.copytree(FOLDER, folder)
    toml = folder / "assignment.toml"
    toml.write_text(edit(toml.read_text()))
    return folder


def test_validate_checks_the_examples(tmp_path):
    folder = _copy(tmp_path, lambda s: s.replace("value = [0.1, 0.4]", "value = [0.1, 0.5]")
                   .replace("1.799774169921875]", "1.8]"))
    spec = load_assignment(folder)
    path_problems = check_of(spec, "path").validate()
    gd_problems = check_of(spec, "gd").validate()
    assert len(path_problems) == 1 and "should give" in path_problems[0] and "step" not in path_problems[0][:8]
    assert len(gd_problems) == 1 and "[0.1, 0.5]" in gd_problems[0]


def test_validate_refuses_a_threshold_without_margin(tmp_path):
    # the reference's held-out MSE is 6.8e-5 on this fixture's (seeded) data: a threshold of 1e-4 leaves no margin
    folder = _copy(tmp_path, lambda s: s.replace("threshold = 0.05", "threshold = 0.0001"))
    spec = load_assignment(folder)
    check = check_of(spec, "train")
    problems = check.validate()
    assert problems and "threshold / 2" in problems[0]


@pytest.mark.parametrize("edit,words", [
    (lambda s: s.replace('  expected = "gd_path"\n', ''), "needs `expected`"),
    (lambda s: s.replace("steps = [0, 1, 2, 5, 20]", "steps = [0, 1.5]"), "steps"),
    (lambda s: s.replace("shift = 2", "shift = -1"), "shift"),
    (lambda s: s.replace('  metric = "mse"\n', ''), "metric"),
    (lambda s: s.replace('metric = "mse"', 'metric = "no_such_metric"'), "no function 'no_such_metric'"),
    (lambda s: s.replace('threshold = 0.05', 'threshold = "low"'), "threshold"),
    (lambda s: s.replace('limit = "gd_limit"', 'limit = "gd_limit"\n  metric = "mse"\n  threshold = 1'), "exactly one"),
    (lambda s: s.replace('converges = "gd_converges"', 'converges = "nope"'), "no function 'nope'"),
    (lambda s: s.replace('diverge_factor = 1e3', 'diverge_factor = 0.5'), "diverge_factor"),
    (lambda s: s.replace('diverge_factor = 1e3', 'diverge_factr = 1e3'), "unknown field"),
])
def test_broken_specs_are_refused_naming_the_field(tmp_path, edit, words):
    folder = _copy(tmp_path, edit)
    with pytest.raises(SpecError) as info:
        load_assignment(folder)
    assert words in str(info.value) and "assignment.toml: problems[" in str(info.value)
