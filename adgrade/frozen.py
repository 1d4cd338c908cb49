"""Trusted functions of a problem set, frozen into tables for a student copy.

`adgrade export-student` runs each visible check's trusted side (expected values,
known mistakes, limits, layer shapes ...) on the copy's practice inputs with every
call to functions.py recorded. The copy ships the recorded results, never the code:
in the copy each such name is a `FrozenFunction`, which answers exactly the calls the
grader makes on those practice inputs and raises `FrozenMiss` on any other.

A call is looked up by its arguments as plain data: numbers and arrays by dtype, shape
and bytes, the array namespace as "xp", a random generator as "rng".
"""

from __future__ import annotations

import hashlib
import json
import types
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np

from adgrade.runner import protocol


class FrozenMiss(LookupError):
    """A frozen function called on arguments the copy was not made with."""


class FrozenRaised(Exception):
    """A frozen function raising where the original raised on the same arguments."""


#: how a recorded call that raised is stored
RAISED = "__raised__"


class Unkeyable(Exception):
    """Arguments that cannot be looked up (traced values, tensors that need grad ...)."""


def _part(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    own = getattr(type(value), "__dict__", {}).get("frozen_key") or getattr(value, "__dict__", {}).get("frozen_key")
    if isinstance(own, str):  # an object that says how it is looked up (an instrumented namespace)
        return own
    if type(value).__name__ in ("TestFunctionRef", "ParentFunction"):  # a test function: by its name
        return "fn:" + str(getattr(value, "name", None) or getattr(value, "__name__", ""))
    if isinstance(value, types.ModuleType):  # the array namespace a trusted function is handed
        return "xp"
    if isinstance(value, np.random.Generator):
        return "rng"
    if isinstance(value, (list, tuple)):
        return [_part(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _part(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (int, float, complex, np.generic, np.ndarray)):
        arr = np.asarray(value)
    elif hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        if getattr(value, "requires_grad", False):
            raise Unkeyable("a tensor that requires grad")
        arr = np.asarray(value.detach().cpu().numpy())
    elif hasattr(value, "__array__") and type(value).__module__.startswith(("jax", "jaxlib")):
        try:
            arr = np.asarray(value)
        except Exception as exc:  # a tracer: the call is being differentiated, not looked up
            raise Unkeyable(str(exc)[:80]) from None
    else:
        raise Unkeyable(type(value).__name__)
    if arr.dtype.kind not in "biufc":
        raise Unkeyable(f"array of dtype {arr.dtype}")
    # Python floats and float64 scalars are the same number: keyed alike
    arr = np.ascontiguousarray(arr.astype(np.float64) if arr.dtype.kind in "iu" and arr.ndim == 0 else arr)
    return f"{arr.dtype.str}{list(arr.shape)}:{hashlib.sha1(arr.tobytes()).hexdigest()[:20]}"


def call_key(args: tuple, kwargs: dict | None = None) -> str:
    """The lookup key of a call (raises Unkeyable when its arguments are not plain data)."""
    return json.dumps([_part(list(args)), _part(kwargs or {})], sort_keys=True)


_MISSES: list[list[str]] = []


@contextmanager
def collect_misses() -> Iterator[list[str]]:
    """Every FrozenMiss raised inside (caught or not), for export-student's own check of a copy."""
    found: list[str] = []
    _MISSES.append(found)
    try:
        yield found
    finally:
        _MISSES.remove(found)


def _miss(message: str) -> FrozenMiss:
    for found in _MISSES:
        found.append(message)
    return FrozenMiss(message)


class FrozenFunction:
    """A function of functions.py replaced by the results of the calls the grader made."""

    def __init__(self, name: str, table: dict[str, Any]):
        self.__name__ = name
        self.name = name
        self.table = table  # key -> encoded result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            key = call_key(args, kwargs)
        except Unkeyable as exc:
            raise _miss(f"`{self.name}` is frozen in this student copy and cannot be called on {exc}") from None
        if key not in self.table:
            raise _miss(f"`{self.name}` is frozen in this student copy: it answers only the calls made "
                             f"on the copy's practice inputs")
        found = self.table[key]
        if isinstance(found, dict) and RAISED in found:
            raise FrozenRaised(f"`{self.name}` raised {found[RAISED]}")
        return protocol.decode(found)

    def __repr__(self) -> str:
        return f"<frozen {self.name}: {len(self.table)} call(s)>"


class Recorder:
    """Wraps a functions.py module: every keyable call of a function is recorded as (name, key) -> result."""

    def __init__(self, module: types.ModuleType):
        self._module = module
        self.calls: dict[str, dict[str, Any]] = {}
        self.touched: set[str] = set()  # names looked up, recorded or not

    def __getattr__(self, name: str) -> Any:
        obj = getattr(self._module, name)
        if not callable(obj) or isinstance(obj, type) or name.startswith("__"):
            return obj
        self.touched.add(name)
        return _recording(obj, name, self.calls)


def _recording(fn: Callable, name: str, calls: dict[str, dict[str, Any]]) -> Callable:
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # the copy raises too (a mistake that does not apply to these arguments)
            try:
                calls.setdefault(name, {})[call_key(args, kwargs)] = {RAISED: f"{type(exc).__name__}: {exc}"[:300]}
            except Unkeyable:
                pass
            raise
        try:
            key = call_key(args, kwargs)
        except Unkeyable:
            return result
        encoded = protocol.encode(result)
        if not _has_opaque(encoded):
            calls.setdefault(name, {})[key] = encoded
        return result

    return wrapper


def _has_opaque(data: Any) -> bool:
    if isinstance(data, dict):
        return "__opaque__" in data or any(_has_opaque(v) for v in data.values())
    if isinstance(data, list):
        return any(_has_opaque(v) for v in data)
    return False


def merged_tables(frozen: dict[str, dict]) -> dict[str, dict[str, Any]]:
    """name -> every call recorded for it, over all checks of a copy (a check looks in its own first)."""
    out: dict[str, dict[str, Any]] = {}
    for data in frozen.values():
        for name, table in (data.get("calls") or {}).items():
            out.setdefault(name, {}).update(table)
    return out
