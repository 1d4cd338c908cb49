"""`xp` for PyTorch: `torch` itself, with the few shared functions that differ from NumPy made to agree.

Reference functions are written once against `xp` and run with NumPy, autograd.numpy, jax.numpy and this
namespace (docs/spec-format.md lists the shared functions; tests/test_shared_functions.py runs every one
on every backend). Where torch spells a NumPy function differently, the NumPy spelling is provided here;
every other attribute is torch's own, so `xp.tensor`, `xp.float64` and `isinstance(t, xp.Tensor)` work.
"""

from __future__ import annotations

import types
from typing import Any

#: the functions every backend's `xp` provides with NumPy's meaning (documented in docs/spec-format.md)
SHARED_FUNCTIONS = (
    "sum", "mean", "prod", "exp", "log", "log1p", "expm1", "sin", "cos", "tanh", "sqrt", "abs",
    "maximum", "minimum", "max", "min", "where", "outer", "eye", "zeros", "ones", "matmul", "dot",
    "trace", "stack", "concatenate", "linalg.norm", "linalg.solve",
)


def make_torch_xp(torch: Any) -> types.ModuleType:
    """A module-like namespace: torch's attributes, NumPy's signatures where they differ."""
    xp = types.ModuleType("adgrade_torch_xp", "torch with NumPy's spelling of the shared functions")

    def _like(value: Any, other: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return value
        ref = other if isinstance(other, torch.Tensor) else None
        return torch.as_tensor(value, dtype=ref.dtype if ref is not None else None,
                               device=ref.device if ref is not None else None)

    def maximum(a: Any, b: Any) -> Any:
        # torch.maximum takes no Python number (`xp.maximum(x, 0.0)` raises TypeError on torch)
        return torch.maximum(_like(a, b), _like(b, a))

    def minimum(a: Any, b: Any) -> Any:
        return torch.minimum(_like(a, b), _like(b, a))

    def _reduce(fn: Any, whole: Any) -> Any:
        def reduce(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
            # torch.max(x, dim) returns (values, indices): NumPy's max returns the values
            if axis is None:
                out = whole(a)
                return out.reshape((1,) * a.dim()) if keepdims else out
            return fn(a, dim=axis, keepdim=keepdims)
        return reduce

    def stack(arrays: Any, axis: int = 0) -> Any:
        return torch.stack(list(arrays), dim=axis)

    def concatenate(arrays: Any, axis: int = 0) -> Any:
        return torch.cat(list(arrays), dim=axis)

    def dot(a: Any, b: Any) -> Any:
        # NumPy's dot: matrix product for 2-D, inner product for 1-D
        return torch.matmul(a, b)

    overrides = {
        "maximum": maximum, "minimum": minimum, "max": _reduce(torch.amax, torch.max),
        "min": _reduce(torch.amin, torch.min), "stack": stack, "concatenate": concatenate, "dot": dot,
    }

    def __getattr__(name: str) -> Any:
        return getattr(torch, name)

    xp.__getattr__ = __getattr__  # type: ignore[attr-defined]  (PEP 562 on a module object)
    for name, fn in overrides.items():
        setattr(xp, name, fn)
    xp.linalg = torch.linalg
    return xp
