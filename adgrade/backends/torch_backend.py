"""PyTorch backend: `xp` is `torch` (NumPy's spelling of the shared functions: torch_xp.py), float64,
transforms from `torch.func`."""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable, Sequence

import numpy as np

from . import _argnums, install_probe_targets, unwrap_probe
from .base import Backend, Recorder

_FUNC = ("grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "linearize")

#: (module, attribute path) of every public PyTorch autodiff entry point
PROBE_TARGETS: tuple[tuple[str, str], ...] = (
    ("torch.autograd", "grad"),
    ("torch.autograd", "backward"),
    ("torch", "Tensor.backward"),
    *(("torch.autograd.functional", n) for n in ("jacobian", "hessian", "vjp", "jvp", "hvp", "vhp")),
    ("torch.autograd.forward_ad", "make_dual"),
    *(("torch.func", n) for n in _FUNC),
    # the deprecated functorch package: wrapped if and when the student imports it
    *(("functorch", n) for n in _FUNC),
)


class TorchBackend(Backend):
    name = "torch"
    modules = ("torch",)
    autodiff_calls = tuple(f"{m}.{a}" for m, a in PROBE_TARGETS)
    differentiable = True

    def __init__(self, x64: bool = True) -> None:
        #: float64 as torch's default dtype (the counterpart of JAX's x64)
        self.x64 = bool(x64)
        self._torch: Any = None
        self._xp: Any = None

    def __repr__(self) -> str:
        return f"TorchBackend(x64={self.x64})"

    def load(self) -> None:
        if self._torch is not None:
            return
        import torch
        import torch.autograd.functional  # noqa: F401
        import torch.func  # noqa: F401

        if self.x64:
            # `xp.zeros(n)`, `xp.eye(n)` in reference and student code are float64
            torch.set_default_dtype(torch.float64)
        # threads are left alone: the runner pins them
        self._torch = torch

    @property
    def torch(self) -> Any:
        self.load()
        return self._torch

    @property
    def xp(self) -> Any:
        if self._xp is None:
            from .torch_xp import make_torch_xp

            self._xp = make_torch_xp(self.torch)
        return self._xp

    def _orig(self, name: str) -> Callable:
        return unwrap_probe(getattr(self.torch.func, name))

    # -- conversion -------------------------------------------------------
    def asarray(self, value: Any) -> Any:
        """A tensor with the NumPy dtype kept (a Python float becomes float64, an int int64)."""
        torch = self.torch
        if isinstance(value, torch.Tensor):
            return value
        if isinstance(value, bool):
            return torch.tensor(value)
        if isinstance(value, float):
            return torch.tensor(value, dtype=torch.float64)
        if isinstance(value, int):
            return torch.tensor(value, dtype=torch.int64)
        arr = np.ascontiguousarray(value)  # torch refuses negative strides
        return torch.tensor(arr)  # a copy, never shared with the caller's array

    def is_array(self, value: Any) -> bool:
        torch = sys.modules.get("torch")
        return torch is not None and isinstance(value, torch.Tensor)

    def to_numpy(self, value: Any) -> np.ndarray:
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(value, torch.Tensor):
            return np.array(value.detach().cpu().resolve_conj().resolve_neg().numpy())
        return np.array(value)

    # -- transformations --------------------------------------------------
    def _tensorize(self, g: Callable, argnums: int | tuple[int, ...]) -> Callable:
        """Arguments differentiated with respect to become tensors (NumPy arrays, floats)."""
        idx = (argnums,) if isinstance(argnums, int) else argnums
        torch = self.torch

        @functools.wraps(g)
        def call(*args: Any, **kwargs: Any) -> Any:
            args_l = list(args)
            for i in idx:
                if -len(args_l) <= i < len(args_l):
                    a = args_l[i]
                    if isinstance(a, (np.ndarray, np.generic, float)) and not isinstance(a, (bool, torch.Tensor)):
                        args_l[i] = self.asarray(a)
            return g(*args_l, **kwargs)

        return call

    def _transform(self, name: str, f: Callable, argnums: int | Sequence[int]) -> Callable:
        a = _argnums(argnums)
        return self._tensorize(self._orig(name)(f, argnums=a), a)

    def grad(self, f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
        return self._transform("grad", f, argnums)

    def jacfwd(self, f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
        return self._transform("jacfwd", f, argnums)

    def jacrev(self, f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
        return self._transform("jacrev", f, argnums)

    def hessian(self, f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
        return self._transform("hessian", f, argnums)

    def _tensors(self, values: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(self.asarray(v) if isinstance(v, (np.ndarray, np.generic, float)) else v for v in values)

    def jvp(self, f: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
        """`(f(*primals), J·tangents)`."""
        return self._orig("jvp")(f, self._tensors(primals), self._tensors(tangents))

    def vjp(self, f: Callable, primals: Sequence[Any], cotangent: Any) -> tuple[Any, ...]:
        """The cotangent pulled back to each primal: a tuple, one per primal."""
        _, pullback = self._orig("vjp")(f, *self._tensors(primals))
        (ct,) = self._tensors((cotangent,))
        return tuple(pullback(ct))

    def block(self, value: Any) -> Any:
        return value  # CPU tensors are computed synchronously

    # -- probes -----------------------------------------------------------
    def install_autodiff_probes(self, record: Recorder) -> None:
        if "torch" not in sys.modules:
            self.load()
        else:
            import torch.autograd.forward_ad  # noqa: F401  (cheap once torch is imported)
            import torch.autograd.functional  # noqa: F401
            import torch.func  # noqa: F401
        install_probe_targets(PROBE_TARGETS, record, internal=("torch", "functorch"))
