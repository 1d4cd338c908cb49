"""Problem-set code sent to the student's process by source (adgrade/sent_code.py): wrappers and test functions.

A function that needs more than its own source is refused when the problem set loads (exit 2), an error
raised in the problem set's own code is worded as the problem set's, and test functions reach the expected
side as callables with derivatives. The end-to-end case (hvp(f, x, v) on functions the student never saw)
is the example assignment's P2 (tests/test_example_custom_gradients.py).
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from adgrade.backends import get_backend
from adgrade.feedback import explain_error
from adgrade.sent_code import ParentFunction, TestFunctionRef, child_function, free_names
from adgrade.spec import SpecError, load_assignment


def test_free_names_finds_globals_the_source_does_not_define():
    source = textwrap.dedent('''
        def wrap(xp, sub, x):
            import math
            y = helper(x) + math.pi + len([q for q in range(3)]) + SCALE
            g = ad.grad(lambda z: xp.sum(z))
            return sub.predict(y)
        ''')
    assert free_names(source) == ["helper", "SCALE"]


def _problem_set(tmp_path, functions: str, check: str):
    root = tmp_path / "sent"
    root.mkdir()
    (root / "functions.py").write_text(textwrap.dedent(functions))
    (root / "assignment.toml").write_text(textwrap.dedent('''
        [assignment]
        name = "sent"
        backend = "jax"
        [[problems]]
        id = "p"
          [[problems.checks]]
        ''') + textwrap.dedent(check))
    return root


def test_a_test_function_that_needs_a_helper_is_refused_when_the_set_loads(tmp_path):
    root = _problem_set(tmp_path, '''
        def _scale(x):
            return 2 * x
        def f_scaled(xp, x):
            return xp.sum(_scale(x) ** 2)
        def inputs(rng):
            return [(rng.normal(size=3),)]
        ''', '''
        kind = "hessian"
        entry = "hessian_manual"
        test_functions = ["f_scaled"]
        inputs = "inputs"
        ''')
    with pytest.raises(SpecError, match=r"test_functions\[0\]: 'f_scaled' uses `_scale`.*by its source alone"):
        load_assignment(root)


def test_an_error_in_the_problem_sets_code_is_the_problem_sets():
    bug = {"type": "NameError", "message": "name 'helper' is not defined", "line": None,
           "problem_set": {"function": "wrap_loss", "line": 3, "called_by_student": False}}
    text = explain_error(bug)
    assert text.startswith("the problem set's own code raised NameError") and "not in your work" in text
    assert "is used but never defined" not in text  # not the student's NameError
    misuse = {"type": "TypeError", "message": "f takes 1 argument(s) (x) but 2 were given", "line": 7,
              "problem_set": {"function": "f", "line": 4, "called_by_student": True}}
    assert "(line 7; inside the problem set's `f`, which your code called: check what you pass to it)" \
        in explain_error(misuse)


@pytest.mark.parametrize("backend_name", ["numpy", "jax", "torch"])
def test_parent_functions_have_derivatives_on_every_backend(backend_name):
    def f_cubic(xp, x):
        return xp.sum(x ** 3) + xp.sum(x[:-1] * x[1:])

    backend = get_backend(backend_name)
    f = ParentFunction(f_cubic, backend, "f_cubic")
    x, v = np.array([1.0, -2.0, 0.5]), np.array([0.5, 1.0, -1.0])
    hessian = np.diag(6 * x) + np.diag([1.0, 1.0], 1) + np.diag([1.0, 1.0], -1)
    got = f.hvp(backend.convert_inputs(x), backend.convert_inputs(v))
    np.testing.assert_allclose(np.asarray(backend.to_numpy(got) if backend.is_array(got) else got), hessian @ v)
    assert float(np.asarray(f(backend.convert_inputs(x)))) == pytest.approx(-9.875)


def test_the_student_gets_a_plain_function_of_the_backends_arrays():
    backend = get_backend("torch")
    payload = {"name": "f_sq", "source": "def f_sq(xp, x):\n    return xp.sum(x ** 2)\n"}
    f = child_function(payload, backend)
    assert float(f(np.array([1.0, 2.0]))) == 5.0  # NumPy copies become tensors
    assert float(f([1, 2])) == 5.0
    with pytest.raises(TypeError, match=r"f takes 1 argument\(s\) \(x\) but 2 were given"):
        f(1.0, 2.0)
    assert TestFunctionRef("f_sq", "a sum of squares").describe() == "f = `f_sq` (a sum of squares)"
