"""NumPy backend: plain arrays, no differentiation.

For "any framework" problems: inputs reach the student as NumPy arrays and
expected values are computed with `xp = numpy`.  Asking it to differentiate is
a problem-spec error, reported as `NotDifferentiableError`.
"""

from __future__ import annotations

from typing import Any, Callable, NoReturn, Sequence

import numpy as np

from .base import Backend, Recorder


class NotDifferentiableError(TypeError):
    """A transformation was asked of a backend that cannot differentiate."""


class NumpyBackend(Backend):
    name = "numpy"
    modules = ("numpy",)
    autodiff_calls = ()
    differentiable = False

    def __init__(self, x64: bool = True) -> None:
        #: accepted for a uniform `get_backend(name, x64=...)`; arrays keep their dtype
        self.x64 = bool(x64)

    def __repr__(self) -> str:
        return "NumpyBackend()"

    def load(self) -> None:
        pass

    @property
    def xp(self) -> Any:
        return np

    # -- conversion -------------------------------------------------------
    def asarray(self, value: Any) -> Any:
        if isinstance(value, np.generic):
            return value
        return np.array(value)

    def is_array(self, value: Any) -> bool:
        return isinstance(value, (np.ndarray, np.generic))

    def to_numpy(self, value: Any) -> np.ndarray:
        return np.array(value)

    # -- transformations --------------------------------------------------
    def _refuse(self, what: str) -> NoReturn:
        raise NotDifferentiableError(
            f"the 'numpy' backend cannot differentiate ({what}): give this problem or check "
            "backend = 'autograd', 'jax' or 'torch', or an `analytic` function"
        )

    def grad(self, f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
        self._refuse("grad")

    def jacfwd(self, f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
        self._refuse("jacfwd")

    def jacrev(self, f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
        self._refuse("jacrev")

    def hessian(self, f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
        self._refuse("hessian")

    def derivative(self, f: Callable, order: int) -> Callable:
        if order == 0:
            return f
        self._refuse(f"derivative of order {order}")

    def jvp(self, f: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
        self._refuse("jvp")

    def vjp(self, f: Callable, primals: Sequence[Any], cotangent: Any) -> tuple[Any, ...]:
        self._refuse("vjp")

    def install_autodiff_probes(self, record: Recorder) -> None:
        """NumPy has no autodiff, but a student of an "any framework" problem may
        import one: this installs the probes of every framework, now or on import."""
        from . import install_all_probes

        install_all_probes(record)
