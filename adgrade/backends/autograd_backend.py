"""HIPS autograd backend: `xp` is `autograd.numpy`, arrays are NumPy arrays."""

from __future__ import annotations

import sys
from typing import Any, Callable, Sequence

import numpy as np

from . import _argnums, install_probe_targets, unwrap_probe
from .base import Backend, Recorder

_OPERATORS = (
    "grad",
    "elementwise_grad",
    "deriv",
    "value_and_grad",
    "grad_and_aux",
    "grad_named",
    "jacobian",
    "hessian",
    "hessian_tensor_product",
    "hessian_vector_product",
    "tensor_jacobian_product",
    "vector_jacobian_product",
    "make_vjp",
    "make_jvp",
    "make_hvp",
    "make_ggnvp",
    "holomorphic_grad",
    "multigrad_dict",
)

#: (module, attribute) of every public autograd autodiff entry point
PROBE_TARGETS: tuple[tuple[str, str], ...] = (
    *(("autograd", n) for n in _OPERATORS),
    *(("autograd.differential_operators", n) for n in _OPERATORS + ("make_jvp_reversemode",)),
    ("autograd.core", "make_vjp"),
    ("autograd.core", "make_jvp"),
)


class AutogradBackend(Backend):
    name = "autograd"
    modules = ("autograd",)
    autodiff_calls = tuple(f"{m}.{a}" for m, a in PROBE_TARGETS)
    differentiable = True

    def __init__(self, x64: bool = True) -> None:
        #: accepted for a uniform `get_backend(name, x64=...)`; NumPy is always float64 here
        self.x64 = bool(x64)
        self._ops: Any = None
        self._anp: Any = None

    def __repr__(self) -> str:
        return "AutogradBackend()"

    def load(self) -> None:
        if self._ops is not None:
            return
        import autograd.differential_operators as ops
        import autograd.numpy as anp

        self._anp = anp
        self._ops = ops

    @property
    def xp(self) -> Any:
        self.load()
        return self._anp

    def _orig(self, name: str) -> Callable:
        self.load()
        return unwrap_probe(getattr(self._ops, name))

    # -- conversion -------------------------------------------------------
    def asarray(self, value: Any) -> Any:
        """NumPy arrays are autograd's arrays: a copy, dtype kept; NumPy scalars stay scalars."""
        if isinstance(value, np.generic):
            return value
        return np.array(value)

    def is_array(self, value: Any) -> bool:
        if isinstance(value, (np.ndarray, np.generic)):
            return True
        tracer = sys.modules.get("autograd.tracer")
        return tracer is not None and isinstance(value, tracer.Box)

    def to_numpy(self, value: Any) -> np.ndarray:
        tracer = sys.modules.get("autograd.tracer")
        if tracer is not None:
            value = tracer.getval(value)
        return np.array(value)

    # -- transformations --------------------------------------------------
    @staticmethod
    def _each(make: Callable[[int], Callable], argnums: tuple[int, ...]) -> Callable:
        """A tuple of results, one per argnum, like JAX's tuple argnums."""
        fs = [make(i) for i in argnums]

        def each(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
            return tuple(g(*args, **kwargs) for g in fs)

        return each

    def grad(self, f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
        # autograd's own tuple argnum gives a tuple of gradients
        return self._orig("grad")(f, _argnums(argnums))

    def jacrev(self, f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
        a = _argnums(argnums)
        jacobian = self._orig("jacobian")
        if isinstance(a, int):
            return jacobian(f, a)
        return self._each(lambda i: jacobian(f, i), a)

    def jacfwd(self, f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
        """Forward mode (one JVP per input element); reverse mode where forward mode fails."""
        a = _argnums(argnums)
        if isinstance(a, int):
            return self._jacfwd_one(f, a)
        return self._each(lambda i: self._jacfwd_one(f, i), a)

    def _jacfwd_one(self, f: Callable, argnum: int) -> Callable:
        make_jvp = self._orig("make_jvp")
        jacobian = self._orig("jacobian")
        tracer = sys.modules.get("autograd.tracer")

        def jac(*args: Any, **kwargs: Any) -> Any:
            x = args[argnum]
            if tracer is not None and isinstance(x, tracer.Box):
                return jacobian(f, argnum)(*args, **kwargs)  # nested under another transform
            try:
                return _forward_jacobian(make_jvp(f, argnum)(*args, **kwargs), x)
            except NotImplementedError:
                # autograd has no forward rule for some primitives (linalg.inv,
                # det, eigh, fft, ...): the reverse-mode Jacobian is the same
                # matrix.  Only this error: a student's exception, or a time
                # limit raised as one, must not run their code a second time.
                return jacobian(f, argnum)(*args, **kwargs)

        return jac

    def hessian(self, f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
        a = _argnums(argnums)
        if isinstance(a, int):
            return self._orig("hessian")(f, a)
        grad, jacobian = self._orig("grad"), self._orig("jacobian")
        rows = [[jacobian(grad(f, i), j) for j in a] for i in a]

        def hess(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], ...]:
            return tuple(tuple(h(*args, **kwargs) for h in row) for row in rows)

        return hess

    def jvp(self, f: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
        """`(f(*primals), J·tangents)` in forward mode."""
        primals, tangents = tuple(primals), tuple(tangents)
        if len(primals) != len(tangents):
            raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
        if not primals:
            out = f()
            return out, np.zeros_like(out)
        argnum = tuple(range(len(primals)))
        return self._orig("make_jvp")(f, argnum)(*primals)(tangents)

    def vjp(self, f: Callable, primals: Sequence[Any], cotangent: Any) -> tuple[Any, ...]:
        """The cotangent pulled back to each primal: a tuple, one per primal."""
        primals = tuple(primals)
        pullback, _ = self._orig("make_vjp")(f, tuple(range(len(primals))))(*primals)
        return tuple(pullback(cotangent))

    # -- probes -----------------------------------------------------------
    def install_autodiff_probes(self, record: Recorder) -> None:
        if "autograd" not in sys.modules:
            self.load()
        else:
            import autograd.differential_operators  # noqa: F401
        install_probe_targets(PROBE_TARGETS, record, internal=("autograd",))


def _forward_jacobian(jvp_at: Callable[[Any], tuple[Any, Any]], x: Any) -> np.ndarray:
    """The Jacobian at x from `jvp_at(tangent) -> (f(x), J·tangent)`, one column per element of x."""
    x_arr = np.asarray(x)
    shape = x_arr.shape
    dtype = x_arr.dtype if np.issubdtype(x_arr.dtype, np.inexact) else np.dtype(np.float64)
    size = int(np.prod(shape, dtype=np.int64))
    if size == 0:
        raise NotImplementedError("forward-mode Jacobian of an empty input")  # reverse mode copes
    columns = []
    out = None
    for k in range(size):
        basis = np.zeros(size, dtype=dtype)
        basis[k] = 1
        tangent = basis.reshape(shape)
        if shape == ():
            tangent = tangent[()]  # a NumPy scalar, like x
        out, column = jvp_at(tangent)
        columns.append(np.asarray(column))
    out_shape = np.shape(out)
    return np.stack(columns, axis=-1).reshape(out_shape + shape)

