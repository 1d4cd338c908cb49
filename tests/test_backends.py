"""The four built-in backends, their registry, and the autodiff probes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import adgrade.backends as backends
from adgrade.backends import get_backend
from adgrade.backends.base import Backend
from adgrade.backends.numpy_backend import NotDifferentiableError

ROOT = Path(__file__).resolve().parents[1]
DIFFERENTIABLE = ["autograd", "jax", "torch"]


def run_python(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )


def to_np(backend: Backend, value):
    """Backend results (arrays, nested tuples of them) as NumPy."""
    if isinstance(value, tuple):
        return tuple(to_np(backend, v) for v in value)
    return backend.to_numpy(value)


@pytest.fixture(params=DIFFERENTIABLE)
def backend(request) -> Backend:
    b = get_backend(request.param)
    b.load()
    return b


@pytest.fixture
def recorded():
    """A fresh recorder; every probe is taken out again afterwards."""
    calls: list[str] = []
    yield calls
    backends.uninstall_probes()


# ---------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------


def test_registry_lists_builtins_and_caches_instances():
    names = backends.available_backends()
    assert {"numpy", "autograd", "jax", "torch"} <= set(names)
    assert names == sorted(names)
    for name in ("numpy", "autograd", "jax", "torch"):
        b = get_backend(name)
        assert isinstance(b, Backend)
        assert b.name == name
        assert get_backend(name) is b
    assert get_backend("jax", x64=False) is not get_backend("jax")
    assert get_backend("jax", x64=False).x64 is False
    assert get_backend("numpy").differentiable is False
    assert all(get_backend(n).differentiable for n in DIFFERENTIABLE)


def test_unknown_backend_is_a_key_error_naming_the_known_ones():
    with pytest.raises(KeyError) as info:
        get_backend("tensorflow")
    message = str(info.value)
    assert "tensorflow" in message
    for name in ("autograd", "jax", "numpy", "torch"):
        assert name in message


def test_builtin_table_used_without_entry_points(monkeypatch):
    monkeypatch.setattr(backends.metadata, "entry_points", lambda **kw: ())
    backends.refresh_registry()
    try:
        assert backends.available_backends() == ["autograd", "jax", "numpy", "torch"]
        assert type(get_backend("torch")).__name__ == "TorchBackend"
    finally:
        monkeypatch.undo()
        backends.refresh_registry()


def test_importing_backends_imports_no_framework():
    proc = run_python(
        """
        import sys
        import adgrade.backends as b
        import adgrade.backends.numpy_backend, adgrade.backends.autograd_backend
        import adgrade.backends.jax_backend, adgrade.backends.torch_backend
        got = [b.get_backend(n) for n in b.available_backends()]
        assert len(got) >= 4
        for n in ("autograd", "jax", "torch"):
            got = b.get_backend(n)
            assert got.autodiff_calls and got.differentiable
            got.is_array(1.0)
        b.install_all_probes(lambda name: None)   # only watches for imports
        loaded = [m for m in ("jax", "jaxlib", "torch", "autograd") if m in sys.modules]
        assert not loaded, loaded
        print("LAZY-OK")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "LAZY-OK" in proc.stdout


# ---------------------------------------------------------------------------
# transformations against analytic results
# ---------------------------------------------------------------------------

X = np.array([0.3, -1.2, 2.0])
A = np.array([0.5, -0.7, 1.3])


def test_grad_jac_hessian_of_scalar_function(backend):
    xp = backend.xp

    def f(x):
        return xp.sum(xp.sin(x) * x**2)

    x = backend.asarray(X)
    g = np.cos(X) * X**2 + 2 * X * np.sin(X)
    h = np.diag(-(X**2) * np.sin(X) + 4 * X * np.cos(X) + 2 * np.sin(X))
    np.testing.assert_allclose(backend.to_numpy(backend.grad(f)(x)), g, rtol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(backend.jacrev(f)(x)), g, rtol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(backend.jacfwd(f)(x)), g, rtol=1e-12)
    H = backend.to_numpy(backend.hessian(f)(x))
    assert H.shape == (3, 3) and H.dtype == np.float64
    np.testing.assert_allclose(H, h, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(backend.to_numpy(backend.transform("hessian", f)(x)), h, rtol=1e-12, atol=1e-14)


def test_jacobians_of_vector_and_matrix_valued_functions(backend):
    xp = backend.xp

    def v(x):
        return xp.tanh(x) * x[0]

    def m(x):
        return xp.outer(x, x)

    x = backend.asarray(X)
    t = np.tanh(X)
    jv = np.diag((1 - t**2) * X[0])
    jv[:, 0] += t
    eye = np.eye(3)
    jm = np.einsum("ik,j->ijk", eye, X) + np.einsum("i,jk->ijk", X, eye)
    for jac in (backend.jacfwd, backend.jacrev):
        np.testing.assert_allclose(backend.to_numpy(jac(v)(x)), jv, rtol=1e-12, atol=1e-15)
        got = backend.to_numpy(jac(m)(x))
        assert got.shape == (3, 3, 3)
        np.testing.assert_allclose(got, jm, rtol=1e-12, atol=1e-15)


def test_tuple_argnums_give_tuples_like_jax(backend):
    xp = backend.xp

    def g(a, b):
        return xp.sum(a * b**2)

    def q(a, b):
        return a * b

    a, b = backend.asarray(A), backend.asarray(X)
    ga, gb = to_np(backend, backend.grad(g, argnums=(0, 1))(a, b))
    np.testing.assert_allclose(ga, X**2, rtol=1e-12)
    np.testing.assert_allclose(gb, 2 * A * X, rtol=1e-12)
    (gb_only,) = to_np(backend, backend.grad(g, argnums=[1])(a, b))  # a list works too
    np.testing.assert_allclose(gb_only, 2 * A * X, rtol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(backend.grad(g, argnums=1)(a, b)), 2 * A * X, rtol=1e-12)
    for jac in (backend.jacfwd, backend.jacrev):
        ja, jb = to_np(backend, jac(q, argnums=(0, 1))(a, b))
        np.testing.assert_allclose(ja, np.diag(X), atol=1e-15)
        np.testing.assert_allclose(jb, np.diag(A), atol=1e-15)
    (haa, hab), (hba, hbb) = to_np(backend, backend.hessian(g, argnums=(0, 1))(a, b))
    np.testing.assert_allclose(haa, np.zeros((3, 3)), atol=1e-15)
    np.testing.assert_allclose(hab, np.diag(2 * X), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(hba, np.diag(2 * X), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(hbb, np.diag(2 * A), rtol=1e-12, atol=1e-15)


def test_nth_derivative_of_scalar_function(backend):
    xp = backend.xp

    def f(t):
        return xp.sin(t) * t

    t = 0.7
    x = backend.asarray(np.float64(t))
    expected = {
        0: np.sin(t) * t,
        1: np.cos(t) * t + np.sin(t),
        2: -np.sin(t) * t + 2 * np.cos(t),
        3: -np.cos(t) * t - 3 * np.sin(t),
    }
    for order, value in expected.items():
        got = backend.to_numpy(backend.derivative(f, order)(x))
        np.testing.assert_allclose(got, value, rtol=1e-12)
    got = backend.to_numpy(backend.transform("derivative", f, order=2)(x))
    np.testing.assert_allclose(got, expected[2], rtol=1e-12)


def test_jvp_and_vjp(backend):
    xp = backend.xp

    def q(a, b):
        return xp.sin(a) * b

    a, b = backend.asarray(A), backend.asarray(X)
    ta, tb = backend.asarray(np.array([1.0, 2.0, -1.0])), backend.asarray(np.array([0.5, 0.0, 3.0]))
    out, tangent = backend.jvp(q, (a, b), (ta, tb))
    np.testing.assert_allclose(backend.to_numpy(out), np.sin(A) * X, rtol=1e-12)
    expected = np.cos(A) * X * np.array([1.0, 2.0, -1.0]) + np.sin(A) * np.array([0.5, 0.0, 3.0])
    np.testing.assert_allclose(backend.to_numpy(tangent), expected, rtol=1e-12)
    ct = np.array([1.0, -2.0, 0.5])
    ca, cb = to_np(backend, backend.vjp(q, (a, b), backend.asarray(ct)))
    np.testing.assert_allclose(ca, ct * np.cos(A) * X, rtol=1e-12)
    np.testing.assert_allclose(cb, ct * np.sin(A), rtol=1e-12)


def test_conversions_round_trip_float64(backend):
    arrays = [X, np.arange(6.0).reshape(2, 3), np.float64(2.5), np.arange(4.0)[::-1]]
    for arr in arrays:
        native = backend.asarray(arr)
        assert backend.is_array(native) or isinstance(native, np.generic)
        back = backend.to_numpy(native)
        assert isinstance(back, np.ndarray)
        assert back.dtype == np.float64
        assert back.shape == np.shape(arr)
        np.testing.assert_array_equal(back, arr)
    ints = backend.to_numpy(backend.asarray(np.arange(3, dtype=np.int64)))
    assert ints.dtype == np.int64
    tree = backend.convert_inputs([{"w": X}, (np.float64(1.0), 3, "s")])
    assert backend.is_array(tree[0]["w"]) and tree[1][1:] == (3, "s")
    assert not backend.is_array("x") and not backend.is_array([1.0])
    assert backend.block(backend.asarray(X)) is not None


def test_autograd_jacfwd_is_forward_mode_with_reverse_fallback():
    from adgrade.backends.autograd_backend import _forward_jacobian

    b = get_backend("autograd")
    xp = b.xp
    make_jvp = backends.unwrap_probe(b._ops.make_jvp)

    def f(x):
        return xp.sin(x) * x[1]

    jac = _forward_jacobian(make_jvp(f)(X), X)
    expected = np.diag(np.cos(X) * X[1])
    expected[:, 1] += np.sin(X)
    np.testing.assert_allclose(jac, expected, rtol=1e-12)
    # autograd has no forward rule for inv: jacfwd falls back to reverse mode
    M = np.array([[2.0, 0.5], [0.3, 1.0]])
    Minv = np.linalg.inv(M)
    got = b.jacfwd(lambda m: xp.linalg.inv(m))(M)
    np.testing.assert_allclose(got, -np.einsum("ik,lj->ijkl", Minv, Minv), rtol=1e-12)


def test_jax_runs_with_x64():
    b = get_backend("jax")
    b.load()
    import jax

    assert jax.config.jax_enable_x64 is True
    # what the backend guarantees, whoever imported jax first in this worker (the order of tests)
    assert jax.default_backend() == "cpu"
    assert b.xp.ones(2).dtype == np.float64
    assert b.asarray(X).dtype == np.float64
    assert b.block({"a": b.asarray(X), "b": 3})["b"] == 3


def test_torch_tensors_are_float64_and_detached():
    b = get_backend("torch")
    torch = b.torch
    assert torch is sys.modules["torch"]
    assert b.xp.Tensor is torch.Tensor  # xp is torch, with NumPy's spelling of a few functions (torch_xp.py)
    assert torch.zeros(2).dtype == torch.float64
    assert b.asarray(1.5).dtype == torch.float64
    assert b.asarray(np.float64(1.5)).dtype == torch.float64
    assert b.asarray(np.array([1, 2])).dtype == torch.int64
    assert b.asarray(7).dtype == torch.int64
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    np.testing.assert_array_equal(b.to_numpy(x * 2), [2.0, 4.0])
    # NumPy inputs and floats at differentiated positions become tensors
    np.testing.assert_allclose(b.grad(lambda t: torch.sum(t**2))(X).numpy(), 2 * X)
    np.testing.assert_allclose(float(b.derivative(lambda t: t**3, 2)(2.0)), 12.0)


def test_numpy_backend_refuses_to_differentiate():
    b = get_backend("numpy")
    assert b.xp is np and b.differentiable is False and b.autodiff_calls == ()
    for name in ("grad", "jacfwd", "jacrev", "hessian"):
        with pytest.raises(NotDifferentiableError, match="cannot differentiate"):
            b.transform(name, np.sin)
    with pytest.raises(NotDifferentiableError):
        b.derivative(np.sin, 1)
    with pytest.raises(NotDifferentiableError):
        b.vjp(np.sin, (X,), X)
    arr = b.asarray(X)
    assert arr is not X and b.is_array(arr)
    np.testing.assert_array_equal(b.to_numpy(arr), X)
    assert b.asarray(np.float64(2.0)) == 2.0


# ---------------------------------------------------------------------------
# probes
# ---------------------------------------------------------------------------


def test_jax_probes_spot_student_calls_not_the_graders(recorded):
    b = get_backend("jax")
    b.install_autodiff_probes(recorded.append)
    b.install_autodiff_probes(recorded.append)  # twice: no double wrap
    import jax
    import jax.numpy as jnp
    from jax import grad  # bound after the install: the probe

    assert grad is jax.grad
    assert getattr(backends.unwrap_probe(jax.grad), "__adgrade_probe__", None) is None
    assert set(b.autodiff_calls) >= {"jax.grad", "jax.hessian", "jax.linear_transpose"}

    df = grad(lambda t: t**3)  # made "in an earlier cell"
    assert recorded == ["jax.grad"]
    recorded.clear()
    assert float(df(2.0)) == 12.0  # calling it later is spotted too
    assert recorded == ["jax.grad"]

    recorded.clear()
    H = b.hessian(lambda x: jnp.sum(x**3))(jnp.arange(3.0))
    np.testing.assert_allclose(np.asarray(H), np.diag(6 * np.arange(3.0)))
    b.grad(lambda x: jnp.sin(x))(1.0)
    b.jacfwd(jnp.sin)(1.0)
    b.vjp(jnp.sin, (1.0,), 1.0)
    assert recorded == []  # the grader's own transforms

    def manual_grad(x):  # a "manual" entry that cheats
        return jax.jacrev(lambda t: jnp.sum(t**2))(x)

    b.jacfwd(manual_grad)(jnp.arange(3.0))
    assert "jax.jacrev" in recorded

    backends.uninstall_probes()
    assert getattr(jax.grad, "__adgrade_probe__", None) is None


def test_torch_probes_spot_backward_and_autograd_grad(recorded):
    b = get_backend("torch")
    b.install_autodiff_probes(recorded.append)
    import torch
    from torch.autograd import grad as autograd_grad

    x = torch.tensor([1.0, 2.0], requires_grad=True)
    loss = torch.sum(x**2)
    loss.backward()
    assert recorded == ["torch.Tensor.backward"]  # not torch.autograd.backward inside it
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])

    recorded.clear()
    (g,) = autograd_grad(torch.sum(x**3), x)
    assert recorded == ["torch.autograd.grad"]
    torch.autograd.functional.jacobian(torch.sin, x.detach())
    assert recorded[-1] == "torch.autograd.functional.jacobian"

    recorded.clear()
    t = torch.tensor([0.5, 1.5])
    b.grad(lambda v: torch.sum(torch.sin(v)))(t)
    b.hessian(lambda v: torch.sum(v**3))(t)
    b.jacfwd(torch.sin)(t)
    b.jacrev(torch.sin)(t)
    b.jvp(torch.sin, (t,), (t,))
    b.vjp(torch.sin, (t,), t)
    assert recorded == []  # torch.func calling torch.autograd.grad internally is not the student

    def student(v):
        return torch.func.grad(lambda z: torch.sum(z**3))(v).sum()

    b.grad(student)(t)
    assert "torch.func.grad" in recorded

    backends.uninstall_probes()
    assert getattr(torch.Tensor.backward, "__adgrade_probe__", None) is None
    assert getattr(torch.autograd.grad, "__adgrade_probe__", None) is None


def test_autograd_probes(recorded):
    b = get_backend("autograd")
    b.install_autodiff_probes(recorded.append)
    import autograd
    import autograd.numpy as anp
    from autograd import grad
    from autograd.differential_operators import jacobian

    assert float(grad(lambda t: t**2)(3.0)) == 6.0
    assert recorded == ["autograd.grad", "autograd.grad"]  # made, then called
    recorded.clear()
    jacobian(anp.sin)(np.ones(2))
    assert set(recorded) == {"autograd.differential_operators.jacobian"}

    recorded.clear()
    b.hessian(lambda x: anp.sum(x**3))(np.ones(2))  # calls jacobian internally
    b.jacfwd(anp.sin)(np.ones(2))
    b.jacrev(anp.sin)(np.ones(2))
    b.grad(lambda x, y: anp.sum(x * y), (0, 1))(np.ones(2), np.ones(2))
    b.jvp(anp.sin, (np.ones(2),), (np.ones(2),))
    b.vjp(anp.sin, (np.ones(2),), np.ones(2))
    assert recorded == []

    def manual(x):
        return autograd.elementwise_grad(anp.tanh)(x)

    b.jacrev(manual)(np.ones(2))
    assert "autograd.elementwise_grad" in recorded


def test_install_all_probes_covers_imported_frameworks(recorded):
    import jax
    import torch

    backends.install_all_probes(recorded.append)
    backends.install_all_probes(recorded.append)
    for fn in (jax.grad, torch.autograd.grad, torch.func.jacrev, torch.Tensor.backward):
        assert getattr(fn, "__adgrade_probe__", None)
        assert getattr(backends.unwrap_probe(fn), "__adgrade_probe__", None) is None
    jax.jvp(lambda t: t * 2.0, (1.0,), (1.0,))
    assert recorded == ["jax.jvp"]


def test_frameworks_imported_later_get_probes():
    proc = run_python(
        """
        import sys
        import adgrade.backends as b
        calls = []
        b.get_backend("numpy").install_autodiff_probes(calls.append)  # "any framework" problem
        assert "torch" not in sys.modules and "jax" not in sys.modules

        import torch                                # the student's own import
        x = torch.tensor(2.0, requires_grad=True)
        (g,) = torch.autograd.grad(x**3, x)
        assert float(g) == 12.0
        assert calls == ["torch.autograd.grad"], calls
        assert torch.__spec__.loader.__class__.__name__ != "_PostImportLoader"

        from jax import grad                        # imports jax first
        assert float(grad(lambda t: t * t)(3.0)) == 6.0
        assert calls[1:] == ["jax.grad", "jax.grad"], calls

        from jax.experimental.jet import jet        # a watched submodule
        assert jet.__adgrade_probe__ == "jax.experimental.jet.jet"
        print("LATE-OK")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "LATE-OK" in proc.stdout
