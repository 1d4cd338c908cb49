"""The interface every backend plugin implements.

A backend is constructed cheaply (no framework import); `load()` imports the
framework on first use. The same class serves the trusted parent (expected
values, `adgrade validate`) and the untrusted child (converting inputs,
differentiating the student's function, spotting autodiff calls).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

Recorder = Callable[[str], None]


class Backend:
    #: registry name (`autograd`, `jax`, `torch`, `numpy`, or a plugin's)
    name: str = ""
    #: top-level modules `load()` imports; a fork server may preload them
    modules: tuple[str, ...] = ()
    #: dotted names of the calls that count as automatic differentiation
    autodiff_calls: tuple[str, ...] = ()
    #: whether this backend can differentiate (numpy cannot)
    differentiable: bool = True

    def load(self) -> None:
        """Import and configure the framework (idempotent)."""

    @property
    def xp(self) -> Any:
        """The array namespace reference functions are written against."""
        raise NotImplementedError

    # -- conversion -------------------------------------------------------
    def asarray(self, value: np.ndarray | np.generic) -> Any:
        """A NumPy array or scalar as this backend's array, dtype kept."""
        raise NotImplementedError

    def is_array(self, value: Any) -> bool:
        raise NotImplementedError

    def to_numpy(self, value: Any) -> np.ndarray:
        """One of this backend's arrays as a NumPy array (detached, on the CPU)."""
        raise NotImplementedError

    def convert_inputs(self, tree: Any) -> Any:
        """NumPy arrays/scalars in a tree of lists, tuples and dicts become backend arrays."""
        if isinstance(tree, (np.ndarray, np.generic)):
            return self.asarray(tree)
        if isinstance(tree, list):
            return [self.convert_inputs(v) for v in tree]
        if isinstance(tree, tuple):
            return tuple(self.convert_inputs(v) for v in tree)
        if isinstance(tree, dict):
            return {k: self.convert_inputs(v) for k, v in tree.items()}
        return tree

    # -- transformations --------------------------------------------------
    def grad(self, f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
        raise NotImplementedError

    def jacfwd(self, f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
        raise NotImplementedError

    def jacrev(self, f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
        raise NotImplementedError

    def hessian(self, f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
        raise NotImplementedError

    def derivative(self, f: Callable, order: int) -> Callable:
        """The n-th derivative of a scalar function of one scalar."""
        g = f
        for _ in range(order):
            g = self.grad(g)
        return g

    def jvp(self, f: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
        raise NotImplementedError

    def vjp(self, f: Callable, primals: Sequence[Any], cotangent: Any) -> tuple[Any, ...]:
        raise NotImplementedError

    def transform(self, name: str, f: Callable, argnums: int | Sequence[int] = 0, order: int = 1) -> Callable:
        """Look a transformation up by the name problem specs use."""
        if name == "derivative":
            return self.derivative(f, order)
        if name not in ("grad", "jacfwd", "jacrev", "hessian"):
            raise ValueError(f"unknown transform {name!r}")
        return getattr(self, name)(f, argnums)

    def block(self, value: Any) -> Any:
        """Wait until an asynchronously computed result is ready (for timing)."""
        return value

    # -- spotting autodiff in "manual" entries ------------------------------
    def install_autodiff_probes(self, record: Recorder) -> None:
        """Wrap every call in `autodiff_calls` so that calling it also calls `record(name)`.

        Called in the child right after the framework is imported and before
        any student code runs, so `from jax import grad` binds the wrapper.
        """
