"""Problem-set code that runs in the student's process, sent there by its source alone.

Wrappers (`wrapper`, timing candidates) and test functions (`test_functions`: the functions handed to
entries that take a function, such as `hvp(f, x, v)`) are defined in the child from their own source,
never from the whole functions.py, so the student's process holds nothing else of the problem set.
Two consequences this module deals with:

- a function sent alone may use only its arguments, builtins, modules it imports itself and the names
  the child provides (`xp`, `sub`, `ad`): `free_names` finds any other global *before* anything runs,
  so a wrapper that calls a helper of functions.py is a broken problem set (exit 2), not a NameError
  a student is blamed for;
- test functions are referred to in a check's inputs by `TestFunctionRef`; in the grader they become
  `ParentFunction`s (callable, with `.grad`, `.hessian`, `.hvp` by a backend's autodiff) for the
  expected side, and in the child plain callables (`child_function`).
"""

from __future__ import annotations

import builtins
import inspect
import symtable
import textwrap
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

#: names the child defines for code sent by source: `xp` and `sub` are arguments, `ad` a global
CHILD_GLOBALS = frozenset({"ad"})


def source_of(fn: Callable) -> str:
    return textwrap.dedent(inspect.getsource(fn))


def free_names(source: str) -> list[str]:
    """Globals the code refers to that are neither builtins, nor defined or imported in the source itself."""
    table = symtable.symtable(source, "<sent>", "exec")
    defined = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    found: list[str] = []

    def walk(t: symtable.SymbolTable) -> None:
        for sym in t.get_symbols():
            name = sym.get_name()
            if (sym.is_global() and sym.is_referenced() and name not in defined
                    and not hasattr(builtins, name) and name not in CHILD_GLOBALS and name not in found):
                found.append(name)
        for child in t.get_children():
            walk(child)

    for child in table.get_children():
        walk(child)
    return found


def sendable_problem(fn: Callable, name: str) -> str:
    """'' when fn can run from its own source in the child; else what is wrong, for a SpecError."""
    try:
        source = source_of(fn)
    except (OSError, TypeError):
        return f"the source of {name!r} cannot be read (it is sent to the student's process by its source)"
    missing = free_names(source)
    if missing:
        return (f"{name!r} uses {', '.join(f'`{m}`' for m in missing)}, which the student's process does not have: "
                f"it receives {name!r} by its source alone. Use only its arguments, builtins, modules it imports "
                f"itself and `ad`; move a helper inside the function")
    return ""


# -- test functions ------------------------------------------------------------------------------

@dataclass(frozen=True)
class TestFunctionRef:
    """A test function in a check's inputs, by its name in functions.py."""

    __test__ = False  # not a pytest test class
    name: str
    doc: str = ""

    def describe(self) -> str:
        return f"f = `{self.name}`" + (f" ({self.doc})" if self.doc else "")

    __repr__ = describe


def first_doc_line(fn: Callable) -> str:
    doc = (inspect.getdoc(fn) or "").strip().splitlines()
    return doc[0].rstrip(".") if doc else ""


class ParentFunction:
    """A test function on the grader's side: f(x) with the backend's xp, and its derivatives by autodiff.

    `backend` evaluates; derivatives use it too when it can differentiate, else autograd (NumPy arrays
    either way), so `expected(xp, f, x, v)` can be written as `f.hessian(x) @ v` or `f.hvp(x, v)`."""

    def __init__(self, fn: Callable, backend: Any, name: str):
        from adgrade.backends import get_backend

        self.fn = fn
        self.backend = backend
        self.ad = backend if backend.differentiable else get_backend("autograd")
        self.__name__ = name

    def __call__(self, *args: Any) -> Any:
        return self.fn(self.backend.xp, *args)

    def _ad_fn(self) -> Callable:
        return lambda *a: self.fn(self.ad.xp, *a)

    def _numpy(self, value: Any) -> Any:
        return self.ad.to_numpy(value) if self.ad.is_array(value) else value

    def _run(self, transform: Callable, x: Any) -> Any:
        out = transform(self.ad.convert_inputs(self._plain(x)))
        return self._numpy(out) if not self.backend.differentiable else out

    def _plain(self, x: Any) -> Any:
        return self.backend.to_numpy(x) if self.backend.is_array(x) and self.ad is not self.backend else x

    def grad(self, x: Any) -> Any:
        return self._run(self.ad.grad(self._ad_fn()), x)

    def hessian(self, x: Any) -> Any:
        return self._run(self.ad.hessian(self._ad_fn()), x)

    def hvp(self, x: Any, v: Any) -> Any:
        return self.hessian(x) @ v


_CHILD_F = """
def f(*args):
    if len(args) != _arity:
        raise TypeError(f"f takes {_arity} argument(s) ({_params}) but {len(args)} were given")
    return _fn(_xp, *[_convert(a) for a in args])
"""


def child_function(payload: dict, backend: Any) -> Callable:
    """In the student's process: the test function as a plain callable `f(x)` of the backend's arrays.

    `f` itself is compiled as problem-set code ("<adgrade f>"), so an error in it, such as calling it with
    the wrong number of arguments, is reported in the problem set's terms, never with adgrade's frames."""
    from adgrade.runner.child import load_wrapper

    fn = load_wrapper(payload, backend)
    params = list(inspect.signature(fn).parameters)[1:]  # without xp

    def convert(a: Any) -> Any:
        # a student may call f on NumPy copies or lists: give the function its own arrays
        if isinstance(a, (list, tuple)):
            a = np.asarray(a, dtype=np.float64)
        if isinstance(a, (np.ndarray, np.generic)) and not backend.is_array(a):
            a = backend.asarray(a.astype(np.float64) if a.dtype.kind in "iub" else a)
        return a

    namespace = {"_fn": fn, "_xp": backend.xp, "_convert": convert, "_arity": len(params),
                 "_params": ", ".join(params), "__builtins__": builtins}
    exec(compile(_CHILD_F, "<adgrade f>", "exec"), namespace)
    return namespace["f"]
