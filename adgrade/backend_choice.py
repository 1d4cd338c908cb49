"""Which of several frameworks a student's entry is written in (`backend = ["autograd", "jax"]` on a check).

Runs in the submission's process, before the entry is called: it looks at what the entry's code refers
to (module-level names such as `np` bound to `autograd.numpy`, `jnp`, `grad` imported from jax, and the
student's own helper functions it calls, a few levels deep) and counts, per framework, the names that
belong to it. The framework with most wins (ties: the order the problem set gave); code that refers to
none of them gets the first. Nothing is called or imported here.
"""

from __future__ import annotations

import types
from typing import Any, Callable

#: top-level package -> backend name
PACKAGES = {"jax": "jax", "jaxlib": "jax", "autograd": "autograd", "torch": "torch", "functorch": "torch",
            "numpy": "numpy"}


def _package_of(value: Any) -> str | None:
    if isinstance(value, types.ModuleType):
        name = value.__name__
    else:
        name = getattr(value, "__module__", None) or getattr(type(value), "__module__", None)
        # a probe around jax.grad keeps jax's __module__ (functools.wraps), so it counts as jax
    if not isinstance(name, str):
        return None
    return PACKAGES.get(name.partition(".")[0])


def _codes(code: types.CodeType) -> list[types.CodeType]:
    out = [code]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            out.extend(_codes(const))
    return out


def votes(fn: Callable, depth: int = 3, seen: set[int] | None = None) -> dict[str, int]:
    """Per backend, how many of the names fn's code uses belong to it (helpers followed `depth` levels)."""
    seen = seen if seen is not None else set()
    out: dict[str, int] = {}
    fn = getattr(fn, "__wrapped__", fn)
    code = getattr(fn, "__code__", None)
    if code is None or id(code) in seen:
        return out
    seen.add(id(code))
    namespace = getattr(fn, "__globals__", {}) or {}
    values = [namespace[n] for c in _codes(code) for n in c.co_names if n in namespace]
    values += [cell.cell_contents for cell in (getattr(fn, "__closure__", None) or ()) if _filled(cell)]
    for value in values:
        backend = _package_of(value)
        if backend:
            out[backend] = out.get(backend, 0) + 1
        elif depth > 0 and isinstance(value, types.FunctionType):  # the student's helper: look inside
            for name, n in votes(value, depth - 1, seen).items():
                out[name] = out.get(name, 0) + n
    return out


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def choose(fn: Callable, names: list[str]) -> str:
    """The backend among `names` that fn is written in (the first when nothing tells)."""
    counted = votes(fn)
    best = max(names, key=lambda n: (counted.get(n, 0), -names.index(n)))
    return best if counted.get(best, 0) else names[0]
