"""The `stability` and `finite_difference` check kinds.

Judging is tested on answers made here; two gradings through the engine prove
the asking half (the function sent by source, the dotted probe, JAX and
autograd in the child). Problem set: tests/fixtures/stability_fd.
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

FOLDER = FIXTURES / "stability_fd"


@pytest.fixture(scope="module")
def spec():
    return load_assignment(FOLDER)


def check_of(spec, problem_id: str, index: int = 0):
    [(_, checks)] = plan(spec, GradeOptions(only=[problem_id])).problems
    return checks[index]


def judge(check, values, statuses=None, errors=None, autodiff_calls=()):
    statuses = statuses or ["ok"] * len(values)
    errors = errors or [None] * len(values)
    answers = [Answer(r.id, s, value=v, error=e, autodiff_calls=list(autodiff_calls))
               for r, v, s, e in zip(check.requests(), values, statuses, errors)]
    return check.judge(answers)


# -- stability ---------------------------------------------------------------------------

def naive_softplus(t):
    with np.errstate(over="ignore"):
        return np.log(1 + np.exp(t))


def test_stable_answer_passes(spec):
    check = check_of(spec, "softplus")
    values = [np.log1p(np.exp(-abs(t))) + max(t, 0.0) for (t,) in check.inputs()]
    result = judge(check, values)
    assert result.status == "passed", result.message
    assert isinstance(result.message, str)


def test_overflow_is_named_with_its_remedy(spec):
    check = check_of(spec, "softplus")
    result = judge(check, [naive_softplus(t) for (t,) in check.inputs()])
    assert result.status == "failed"
    text = result.message
    assert "gives NaN or inf at 1 of 3 extreme inputs" in text and "At 800" in text
    assert "exp of a large number" in text and "log(1 + exp(t))" in text
    assert "log1p(exp(−|t|)) + max(t, 0)" in text and "logsumexp" in text and "row max" in text


def test_nan_derivative_from_autodiff_gets_the_autodiff_note_and_hint(spec):
    check = check_of(spec, "softplus", 1)
    values = []
    for (t,) in check.inputs():
        with np.errstate(over="ignore", invalid="ignore"):
            values.append(np.exp(t) / (1 + np.exp(t)))
    result = judge(check, values, autodiff_calls=["autograd.grad"])
    assert result.status == "failed"
    assert "inf/inf" in result.message  # NaN: the NaN wording
    assert "Your code used automatic differentiation" in result.message
    assert "Hint: autograd differentiates your formula as written." in result.message


def test_finite_but_wrong_at_extreme_inputs(spec):
    check = check_of(spec, "softplus")
    values = [(t + 1e-3 if t > 700 else np.log1p(np.exp(t))) for (t,) in check.inputs()]
    result = judge(check, values)
    assert result.status == "failed"
    assert "800.001" in result.message and "stay finite and still lose the answer" in result.message


def test_logits_put_the_row_max_remedy_first():
    from adgrade.checks.stability import overflow_text

    rows = overflow_text(np.nan, (np.array([0, 1]), np.ones((2, 3))))
    scalars = overflow_text(np.inf, (np.float64(800.0),))
    assert rows.index("row max") < rows.index("log1p")
    assert scalars.index("log1p") < scalars.index("row max")
    assert "inf/inf" in rows and "log of a number that underflowed" in scalars


# -- finite differences --------------------------------------------------------------------

def f(p):
    return np.sum(np.cos(p)) + np.log(1.0 + np.sum(p ** 2))


def central(p, eps, dtype=np.float64):
    p = np.asarray(p, dtype=dtype)
    g = np.zeros(p.shape)
    for idx in np.ndindex(p.shape):
        step = np.zeros_like(p)
        step[idx] = eps
        g[idx] = (f(p + step) - f(p - step)) / (2 * eps)
    return g


def forward(p, eps):
    g = np.zeros_like(p)
    for idx in np.ndindex(p.shape):
        step = np.zeros_like(p)
        step[idx] = eps
        g[idx] = (f(p + step) - f(p)) / eps
    return g


def test_fd_request_uses_the_probe_and_the_function_source(spec):
    check = check_of(spec, "fd")
    [request, *_] = check.requests()
    assert request.probe == "adgrade.checks.finite_difference:probe"
    assert request.params["function"]["name"] == "fd_objective"
    assert "def fd_objective(xp, params)" in request.params["function"]["source"]
    assert "fd_objective_grad" not in request.params["function"]["source"]  # the function alone


def test_fd_right_answers_pass(spec):
    check = check_of(spec, "fd")
    assert judge(check, [central(*args) for args in check.inputs()]).status == "passed"


def test_fd_only_1d_params(spec):
    check = check_of(spec, "fd")
    inputs = check.inputs()
    values = [central(*inputs[0]), None, None]
    errors = [None, {"type": "ValueError", "message": "setting an array element with a sequence.", "line": 7,
                     "traceback": ""}] * 1 + [{"type": "ValueError", "message": "setting an array element",
                                               "line": 7, "traceback": ""}]
    result = judge(check, values, statuses=["ok", "error", "error"], errors=errors)
    assert result.status == "failed"
    text = result.message
    assert "wrong for params of shape (3, 4) (2-D)" in text and "ValueError" in text
    assert "Also wrong for params of shape (2, 3, 2) (3-D)" in text
    assert "It is right for params of shape (5,) (1-D)" in text
    assert "handles only 1-D params" in text and "np.ndindex(params.shape)" in text
    assert result.details["failed_shapes"] == [[3, 4], [2, 3, 2]]


def test_fd_flat_result(spec):
    check = check_of(spec, "fd")
    result = judge(check, [central(*args).reshape(-1) for args in check.inputs()])
    assert result.status == "failed"
    assert "right but have shape (12,)" in result.message and "reshape(params.shape)" in result.message


def test_fd_one_sided_differences(spec):
    check = check_of(spec, "fd")
    result = judge(check, [forward(*args) for args in check.inputs()])
    assert result.status == "failed"
    assert "params of shape (5,) (1-D)" in result.message  # the fewest dimensions first
    assert "one-sided (forward) differences" in result.message and "(2ε)" in result.message


def test_fd_all_elements_at_once(spec):
    check = check_of(spec, "fd")
    values = [np.full(p.shape, (f(p + eps) - f(p - eps)) / (2 * eps)) for p, eps in check.inputs()]
    result = judge(check, values)
    assert result.status == "failed" and "perturb all elements of params at once" in result.message


def test_fd_float32(spec):
    check = check_of(spec, "fd")
    as_f32 = judge(check, [central(*args).astype(np.float32) for args in check.inputs()])
    assert as_f32.status == "failed" and "computed in float32" in as_f32.message
    # computed in float32 inside, returned as float64: told by the size of the errors
    inside = judge(check, [central(p, eps, dtype=np.float32) for p, eps in check.inputs()])
    assert inside.status == "failed" and "float32 rounding" in inside.message


def test_fd_probe_hands_the_student_the_function(spec):
    """The child's half, run here: func = lambda p: function(xp, p), NumPy copies accepted."""
    from adgrade.checks.finite_difference import probe
    from adgrade.runner import protocol

    check = check_of(spec, "fd")
    params, eps = check.inputs()[1]
    seen = {}

    def numerical_gradient(func, p, epsilon):
        seen["value"] = func(np.asarray(p))
        seen["list"] = func(np.asarray(p).tolist())
        return central(p, epsilon)

    class FakeChild:
        def target(self, entry, wrapper, backend):
            assert entry == "numerical_gradient" and wrapper is None
            return numerical_gradient

    plain = check.requests()[1].params
    out = probe(FakeChild(), backend="jax", entry="numerical_gradient", function=plain["function"],
                args=protocol.encode([params, eps]))
    assert np.allclose(out, central(params, eps))
    assert float(seen["value"]) == pytest.approx(f(params)) == pytest.approx(float(seen["list"]))


# -- through the engine ---------------------------------------------------------------------------

WRONG = """
import numpy as np

# %% softplus
import autograd
import autograd.numpy as anp

def softplus(t):
    return np.log(1 + np.exp(t))

softplus_grad = autograd.grad(lambda t: anp.log(1 + anp.exp(t)))

# %% fd
def numerical_gradient(func, params, epsilon=1e-5):
    grad = np.zeros_like(params)
    for i in range(len(params)):
        step = np.zeros_like(params)
        step[i] = epsilon
        grad[i] = (func(params + step) - func(params - step)) / (2 * epsilon)
    return grad

# %% fd-jax
import jax
jax.config.update("jax_enable_x64", True)

def numerical_gradient(func, params, epsilon=1e-5):
    params = np.asarray(params, dtype=np.float32)
    grad = np.zeros_like(params)
    for index in np.ndindex(params.shape):
        step = np.zeros_like(params)
        step[index] = epsilon
        grad[index] = (func(params + step) - func(params - step)) / (2 * epsilon)
    return grad
"""


def test_wrong_submission_through_the_engine(spec, tmp_path):
    path = tmp_path / "wrong.py"
    path.write_text(textwrap.dedent(WRONG))
    report = grade_submission(path, spec)
    by_id = {p.id: p for p in report.problems}
    assert {pid: p.status for pid, p in by_id.items()} == {"softplus": "failed", "fd": "failed", "fd-jax": "failed"}
    value, grad = by_id["softplus"].checks
    assert "exp of a large number" in value.message and "log1p" in value.message
    assert "automatic differentiation" in grad.message and "Hint:" in grad.message
    assert "handles only 1-D params" in by_id["fd"].checks[0].message
    assert "computed in float32" in by_id["fd-jax"].checks[0].message


def test_validate_grades_the_reference(spec):
    result = validate_assignment(spec)
    assert result.ok, result.problems


# -- specs ---------------------------------------------------------------------------------------------

def _copy(tmp_path: Path, edit_toml=None, edit_functions=None) -> Path:
    folder = tmp_path / "stability_fd"
    shutil.copytree(FOLDER, folder)
    for name, edit in (("assignment.toml", edit_toml), ("functions.py", edit_functions)):
        if edit:
            file = folder / name
            file.write_text(edit(file.read_text()))
    return folder


@pytest.mark.parametrize("edit,words", [
    (lambda s: s.replace('  expected = "softplus_ref"\n', ''), "needs `expected`"),
    (lambda s: s.replace('  function = "fd_objective"\n  analytic', '  analytic'), "needs `function`"),
    (lambda s: s.replace('  entry = "numerical_gradient"\n  function = "fd_objective"\n  analytic',
                         '  wrapper = "fd_objective"\n  function = "fd_objective"\n  analytic'), "needs `entry`"),
    (lambda s: s.replace('inputs = "inputs_fd"', 'inputs = "inputs_fd"\n  steps = [1]'), "unknown field"),
])
def test_broken_specs_are_refused(tmp_path, edit, words):
    with pytest.raises(SpecError) as info:
        load_assignment(_copy(tmp_path, edit_toml=edit))
    assert words in str(info.value)


def test_validate_finds_a_function_that_needs_more_than_its_source(tmp_path):
    folder = _copy(tmp_path, edit_functions=lambda s: s.replace(
        '    return xp.sum(xp.cos(params)) + xp.log(1.0 + xp.sum(params ** 2))',
        '    return xp.sum(xp.cos(params)) + _log_term(xp, params)\n\n\n'
        'def _log_term(xp, params):\n    return xp.log(1.0 + xp.sum(params ** 2))'))
    check = check_of(load_assignment(folder), "fd")
    problems = check.validate()
    assert problems and "does not run from its source alone" in problems[0] and "_log_term" in problems[0]


def test_validate_finds_a_wrong_analytic_gradient(tmp_path):
    folder = _copy(tmp_path, edit_functions=lambda s: s.replace(
        "    return -xp.sin(params) + 2.0 * params / (1.0 + xp.sum(params ** 2))",
        "    return -xp.sin(params) + params / (1.0 + xp.sum(params ** 2))"))
    check = check_of(load_assignment(folder), "fd")
    problems = check.validate()
    assert problems and "disagrees with autograd autodiff" in problems[0]
