"""The shared function list of docs/spec-format.md works, with NumPy's meaning, on every backend's `xp`.

A reference function written against `xp` runs with numpy, autograd.numpy, jax.numpy and torch; each
function of the list is called here the way the docs show it and compared with NumPy's answer.
"""

from __future__ import annotations

import numpy as np
import pytest

from adgrade.backends import get_backend
from adgrade.backends.torch_xp import SHARED_FUNCTIONS
from adgrade.checks.calls import to_numpy_tree

A = np.array([[1.5, -2.0, 0.25], [3.0, 0.5, -1.0]])
V = np.array([0.5, -1.5, 2.0])
SQ = np.array([[2.0, 1.0], [0.5, 3.0]])

#: one call per shared function: name -> (xp, A, V, SQ) -> value
CALLS = {
    "sum": lambda xp, a, v, s: [xp.sum(a), xp.sum(a, axis=0), xp.sum(a, axis=1, keepdims=True)],
    "mean": lambda xp, a, v, s: [xp.mean(a), xp.mean(a, axis=1), xp.mean(a, axis=0, keepdims=True)],
    "prod": lambda xp, a, v, s: xp.prod(v),
    "exp": lambda xp, a, v, s: xp.exp(a),
    "log": lambda xp, a, v, s: xp.log(xp.abs(a)),
    "log1p": lambda xp, a, v, s: xp.log1p(xp.abs(a)),
    "expm1": lambda xp, a, v, s: xp.expm1(a),
    "sin": lambda xp, a, v, s: xp.sin(a),
    "cos": lambda xp, a, v, s: xp.cos(a),
    "tanh": lambda xp, a, v, s: xp.tanh(a),
    "sqrt": lambda xp, a, v, s: xp.sqrt(xp.abs(a)),
    "abs": lambda xp, a, v, s: xp.abs(a),
    "maximum": lambda xp, a, v, s: [xp.maximum(a, 0.0), xp.maximum(a, a * 2)],
    "minimum": lambda xp, a, v, s: [xp.minimum(a, 0.0), xp.minimum(0.5, a)],
    "max": lambda xp, a, v, s: [xp.max(a), xp.max(a, axis=0), xp.max(a, axis=1, keepdims=True)],
    "min": lambda xp, a, v, s: [xp.min(a), xp.min(a, axis=1)],
    "where": lambda xp, a, v, s: xp.where(a > 0, a, 0.0),
    "outer": lambda xp, a, v, s: xp.outer(v, v),
    "eye": lambda xp, a, v, s: xp.eye(3) * 2.0,
    "zeros": lambda xp, a, v, s: xp.zeros(3) + 1.0,
    "ones": lambda xp, a, v, s: xp.ones((2, 3)),
    "matmul": lambda xp, a, v, s: [xp.matmul(a, v), a @ v, a.T @ a],
    "dot": lambda xp, a, v, s: [xp.dot(v, v), xp.dot(s, s)],
    "trace": lambda xp, a, v, s: xp.trace(s),
    "stack": lambda xp, a, v, s: [xp.stack([v, v * 2]), xp.stack([v, v * 2], axis=1)],
    "concatenate": lambda xp, a, v, s: xp.concatenate([v, v * 2]),
    "linalg.norm": lambda xp, a, v, s: [xp.linalg.norm(v), xp.linalg.norm(a)],
    "linalg.solve": lambda xp, a, v, s: xp.linalg.solve(s, v[:2]),
}


def test_every_shared_function_has_a_call():
    assert set(CALLS) == set(SHARED_FUNCTIONS)


@pytest.mark.parametrize("backend_name", ["autograd", "jax", "torch"])
def test_shared_functions_agree_with_numpy(backend_name):
    backend = get_backend(backend_name)
    args = backend.convert_inputs((A, V, SQ))
    wrong = []
    for name, call in CALLS.items():
        want = call(np, A, V, SQ)
        try:
            got = to_numpy_tree(backend, call(backend.xp, *args))
            if isinstance(want, list):
                ok = all(np.allclose(np.asarray(g), w) and np.shape(g) == np.shape(w) for g, w in zip(got, want))
            else:
                ok = np.allclose(np.asarray(got), want) and np.shape(got) == np.shape(want)
        except Exception as exc:  # noqa: BLE001 - the message lists every failing name
            wrong.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        if not ok:
            wrong.append(f"{name}: {got} != {want}")
    assert not wrong, f"{backend_name}: " + "; ".join(wrong)


@pytest.mark.parametrize("backend_name", ["autograd", "jax", "torch"])
def test_stable_softplus_with_maximum_differentiates_on_every_backend(backend_name):
    """The guide's first draft, `xp.maximum(x, 0.0)`, now differentiates on torch too."""
    backend = get_backend(backend_name)
    xp = backend.xp

    def softplus_sum(x):
        return xp.sum(xp.maximum(x, 0.0) + xp.log1p(xp.exp(-xp.abs(x))))

    x = np.array([-1000.0, -1.0, 0.5, 1000.0])
    got = to_numpy_tree(backend, backend.grad(softplus_sum)(backend.convert_inputs(x)))
    np.testing.assert_allclose(got, [0.0, 0.2689414213699951, 0.6224593312018546, 1.0], rtol=1e-12, atol=1e-300)
