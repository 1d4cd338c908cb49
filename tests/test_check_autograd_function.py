"""`autograd_function`: the parent's judgement of what the child measured (synthetic answers, no child).

Through the real CLI, both API styles and a wrong backward are graded by tests/test_example_custom_gradients.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from adgrade.checks.autograd_function import AutogradFunctionCheck
from adgrade.runner.parent import Answer
from adgrade.spec import SpecError, load_assignment

from conftest import ROOT

PROBLEM_SET = ROOT / "docs" / "example-assignment" / "problems" / "custom-gradients"


@pytest.fixture(scope="module")
def extreme():
    spec = load_assignment(PROBLEM_SET)
    problem = spec.problem("p1")
    check = AutogradFunctionCheck(problem.checks[1], problem, spec, 1)  # inputs at ±1000
    check.prepare()
    return check


def answers(check, **changes):
    out = []
    for expected in check._expected:
        value = {"style": "ctx", "value": expected["value"], "grads": list(expected["grads"]), "gradcheck": {"ok": True}}
        for key, change in changes.items():
            value[key] = change(expected) if callable(change) else change
        out.append(Answer("x", "ok", value=value))
    return out


def test_right_forward_backward_and_gradcheck_pass(extreme):
    assert extreme.judge(answers(extreme)).status == "passed"


def test_an_overflowing_forward_is_told_why(extreme):
    result = extreme.judge(answers(extreme, value=lambda e: np.where(e["value"] > 500, np.inf, e["value"])))
    assert result.status == "failed"
    assert "`SoftplusFn.forward` (forward(ctx, ...) style) gives NaN or inf" in result.message
    assert "log1p(exp(−|t|)) + max(t, 0)" in result.message


def test_gradcheck_failure_and_a_raising_backward(extreme):
    failed = extreme.judge(answers(extreme, gradcheck={"ok": False, "type": "GradcheckError",
                                                       "message": "Jacobian mismatch for output 0"}))
    assert failed.status == "failed" and "gradcheck (float64) fails for `SoftplusFn`" in failed.message
    raised = extreme.judge(answers(extreme, backward_error={"type": "RuntimeError", "message": "boom", "line": 9}))
    assert raised.status == "failed" and "`SoftplusFn.backward` (forward(ctx, ...) style) raised" in raised.message


def test_not_a_function_class(extreme):
    result = extreme.judge([Answer("x", "ok", value={"not_function": "class SoftplusNet"})] * 2)
    assert result.status == "failed" and "subclass of torch.autograd.Function" in result.message


def test_it_needs_torch_and_a_reference(tmp_path):
    root = tmp_path / "fn"
    root.mkdir()
    (root / "functions.py").write_text("def softplus(xp, x):\n    return xp.log1p(xp.exp(x))\n")
    (root / "assignment.toml").write_text('[assignment]\nname = "fn"\nbackend = "jax"\n[[problems]]\nid = "p"\n'
                                          '  [[problems.checks]]\n  kind = "autograd_function"\n'
                                          '  entry = "SoftplusFn"\n  function = "softplus"\n')
    with pytest.raises(SpecError, match='backend = "torch"'):
        load_assignment(root)
