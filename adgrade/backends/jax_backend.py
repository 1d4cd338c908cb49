"""JAX backend: `xp` is `jax.numpy`, float64 on by default (x64)."""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Sequence

import numpy as np

from . import _argnums, install_probe_targets, unwrap_probe
from .base import Backend, Recorder

#: (module, attribute) of every public JAX autodiff entry point
PROBE_TARGETS: tuple[tuple[str, str], ...] = tuple(
    ("jax", name)
    for name in (
        "grad",
        "value_and_grad",
        "vjp",
        "jvp",
        "jacfwd",
        "jacrev",
        "jacobian",
        "hessian",
        "linearize",
        "linear_transpose",
    )
) + (
    # wrapped if and when the student imports it (never imported by us)
    ("jax.experimental.jet", "jet"),
)


def enable_compilation_cache(jax: Any) -> None:
    """Reuse XLA executables across processes when ADGRADE_JAX_CACHE names a folder.

    Eager JAX compiles every primitive for every new shape (tens of ms each on
    a small CPU); with the cache a second grading of similar code skips that.
    The grader decides who may write the folder (see runner/limits.py).
    """
    from adgrade.runner.limits import jax_cache_dir

    folder = jax_cache_dir()
    if not folder:
        return
    try:
        jax.config.update("jax_compilation_cache_dir", folder)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    except Exception:  # an older or newer JAX without these options: just slower
        pass


class JaxBackend(Backend):
    name = "jax"
    modules = ("jax",)
    autodiff_calls = tuple(f"{m}.{a}" for m, a in PROBE_TARGETS)
    differentiable = True

    def __init__(self, x64: bool = True) -> None:
        self.x64 = bool(x64)
        self._jax: Any = None
        self._jnp: Any = None

    def __repr__(self) -> str:
        return f"JaxBackend(x64={self.x64})"

    def load(self) -> None:
        if self._jax is not None:
            return
        if "jax" not in sys.modules:
            if self.x64:
                os.environ["JAX_ENABLE_X64"] = "1"
            os.environ.setdefault("JAX_PLATFORMS", "cpu")
        import jax
        import jax.numpy as jnp

        # in any case: jax may have been imported before (by a student, a test)
        jax.config.update("jax_enable_x64", self.x64)
        enable_compilation_cache(jax)
        self._jnp = jnp
        self._jax = jax

    @property
    def jax(self) -> Any:
        self.load()
        return self._jax

    @property
    def xp(self) -> Any:
        self.load()
        return self._jnp

    def _orig(self, name: str) -> Callable:
        return unwrap_probe(getattr(self.jax, name))

    # -- conversion -------------------------------------------------------
    def asarray(self, value: Any) -> Any:
        return self.xp.asarray(value)

    def is_array(self, value: Any) -> bool:
        jax = sys.modules.get("jax")
        return jax is not None and isinstance(value, jax.Array)

    def to_numpy(self, value: Any) -> np.ndarray:
        return np.array(value)

    # -- transformations --------------------------------------------------
    def grad(self, f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
        return self._orig("grad")(f, argnums=_argnums(argnums))

    def jacfwd(self, f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
        return self._orig("jacfwd")(f, argnums=_argnums(argnums))

    def jacrev(self, f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
        return self._orig("jacrev")(f, argnums=_argnums(argnums))

    def hessian(self, f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
        return self._orig("hessian")(f, argnums=_argnums(argnums))

    def jvp(self, f: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
        """`(f(*primals), J·tangents)`."""
        return self._orig("jvp")(f, tuple(primals), tuple(tangents))

    def vjp(self, f: Callable, primals: Sequence[Any], cotangent: Any) -> tuple[Any, ...]:
        """The cotangent pulled back to each primal: a tuple, one per primal."""
        _, pullback = self._orig("vjp")(f, *primals)
        return tuple(pullback(cotangent))

    def block(self, value: Any) -> Any:
        jax = sys.modules.get("jax")
        if jax is None:
            return value
        return jax.block_until_ready(value)

    # -- probes -----------------------------------------------------------
    def install_autodiff_probes(self, record: Recorder) -> None:
        if "jax" not in sys.modules:
            self.load()
        install_probe_targets(PROBE_TARGETS, record, internal=("jax", "jaxlib"))
