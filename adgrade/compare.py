"""One comparison that every check calls: a student's answer against the reference.

Modelled on the shape of JAX's test utilities (a tolerance table by dtype and
one routine everyone calls), with a grader's needs on top: the answer comes
from an untrusted process as decoded plain data, so anything may arrive, and a
failure must be explained to a student, not to a developer.

The order of the rules is the order in which a student should fix things:
structure (the pytree and its keys), what was returned (an array at all?),
shape (never broadcast silently), dtype, NaN/inf, and only then the values.
Across the whole answer the most basic failure is reported first, so a shape
error in item [2] is named before a value error in item [0].
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adgrade.diagnose import (
    FLOAT64_HINT,
    OVERFLOW_CAUSE,
    format_array,
    format_number,
    likely_cause,
    numeric_array,
)
from adgrade.runner.protocol import Opaque, origin_of

__all__ = ["KINDS", "TOLERANCES", "Comparison", "Tolerance", "compare", "tolerance_for"]


@dataclass(frozen=True)
class Tolerance:
    """|actual - expected| <= atol * scale + rtol * |expected|, scale = max(1, max|expected|)."""

    rtol: float
    atol: float


#: by the dtype of the *answer*: a float32 answer is judged at single precision
#: (unless the check requires float64); integers are judged as float64
TOLERANCES: dict[np.dtype, Tolerance] = {
    np.dtype(np.float16): Tolerance(rtol=2e-3, atol=1e-3),
    np.dtype(np.float32): Tolerance(rtol=2e-5, atol=1e-6),
    np.dtype(np.float64): Tolerance(rtol=1e-7, atol=1e-9),
    np.dtype(np.complex64): Tolerance(rtol=2e-5, atol=1e-6),
    np.dtype(np.complex128): Tolerance(rtol=1e-7, atol=1e-9),
}

#: failure kinds, most basic first; the first one found anywhere in the answer is reported
KINDS = ("structure", "opaque", "type", "shape", "dtype", "nonfinite", "value")
_RANK = {kind: i for i, kind in enumerate(KINDS)}

#: at most this many elements and a failing leaf is shown in full
_SMALL = 6


def tolerance_for(dtype: Any, rtol: float | None = None, atol: float | None = None) -> Tolerance:
    """The tolerance for an answer of `dtype`; `rtol`/`atol` given by a problem win."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = np.dtype(np.float64)
    base = TOLERANCES.get(dt, TOLERANCES[np.dtype(np.float64)])  # ints, bools: as float64
    return Tolerance(rtol=base.rtol if rtol is None else float(rtol), atol=base.atol if atol is None else float(atol))


@dataclass
class Comparison:
    """The verdict on one answer. `message` is complete and meant for the student."""

    ok: bool
    kind: str = ""
    path: str = ""
    message: str = ""
    cause: str = ""
    worst: dict | None = None
    #: the answer's numbers are right and only their shape differs (a reshape away): said as such, never
    #: "wrong at every point"
    values_right: bool = False
    #: conventions the comparison accepted on the way (a dict read as a tuple, a single number for a (1,)
    #: leaf, float32 tolerance because the computation ran in float32): said to the student, never scored
    notes: list[str] = field(default_factory=list)
    # the failing leaf, for heat maps; never serialised
    actual: np.ndarray | None = field(default=None, repr=False, compare=False)
    expected: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        """JSON-safe data (no arrays; non-finite numbers as the strings "nan", "inf", "-inf")."""
        worst = None
        if self.worst is not None:
            worst = {k: _json_value(v) for k, v in self.worst.items()}
        out = {"ok": self.ok, "kind": self.kind, "path": self.path, "message": self.message,
               "cause": self.cause, "worst": worst}
        if self.values_right:
            out["values_right"] = True
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [int(i) for i in value]
    if isinstance(value, complex):
        return {"real": _json_value(value.real), "imag": _json_value(value.imag)}
    if isinstance(value, float) and not math.isfinite(value):
        return format_number(value)
    return value


# -- the walk over the structure ----------------------------------------------

@dataclass
class _Leaf:
    path: str
    actual: Any
    expected: Any


def compare(actual: Any, expected: Any, *, rtol: float | None = None, atol: float | None = None,
            require_float64: bool = False, dims: dict[str, int] | None = None,
            name: str = "your answer", labels: Mapping[str, str] | None = None,
            vectors: bool = False, items: tuple[str, ...] | list[str] = (),
            path_precision: Any = None) -> Comparison:
    """Judge `actual` (decoded from the student's process) against `expected` (the reference).

    rtol/atol override the dtype's defaults. require_float64 fails float32 and
    float16 answers instead of judging them at their own precision. dims names
    sizes of the problem ({"N": 4}) so that a factor can be explained. name is
    how the answer is called in messages ("manual_grad(x)"); labels optionally
    give a leaf's path a student-facing meaning ({"[1]": "W1 gradient"}).

    Conventions a task may leave open (docs/spec-format.md, `conventions`):
    a size-1 leaf always equals any other size-1 leaf of the same value (a
    single number for a (1,) bias and the reverse); `vectors` accepts a leaf
    whose shape differs only by axes of length 1 (a row, a column or a flat
    vector); `items` names the items of a tuple/list answer, so a dict with
    those keys (or dW, grad_W ...) is read in that order, and a list or tuple
    where a dict with those keys was expected is read in that order too.
    `path_precision` is the least precise float dtype the student's
    computation ran in, as their process reported it: a float32 path is judged
    at float32 tolerance even when the answer came back as float64 (unless
    float64 is required).
    """
    ctx = _Context(rtol=rtol, atol=atol, require_float64=require_float64, dims=dims, name=name,
                   labels=dict(labels or {}), vectors=vectors, items=tuple(items),
                   path_precision=_low_precision(path_precision))
    failures: list[Comparison] = []
    leaves: list[_Leaf] = []
    _walk(actual, expected, "", leaves, failures, ctx, depth=0)
    for leaf in leaves:
        result = _compare_leaf(leaf, ctx)
        if not result.ok:
            failures.append(result)
    notes = list(dict.fromkeys(ctx.notes))
    if not failures:
        return Comparison(ok=True, notes=notes)
    # most basic kind first; among equals, the first in the answer's order (sort is stable)
    failures.sort(key=lambda f: _RANK[f.kind])
    first = failures[0]
    others = [f.path for f in failures[1:] if f.path != first.path]
    if others:
        shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
        first.message += f" Also wrong: {shown}."
    # "the values are right" only when every failure is a shape whose numbers are right
    first.values_right = all(f.values_right for f in failures)
    first.notes = notes
    return first


@dataclass
class _Context:
    rtol: float | None
    atol: float | None
    require_float64: bool
    dims: dict[str, int] | None
    name: str
    labels: dict[str, str]
    vectors: bool = False
    items: tuple[str, ...] = ()
    path_precision: np.dtype | None = None
    notes: list[str] = field(default_factory=list)

    def where(self, path: str) -> str:
        """How a leaf is named in a message: `grad(x)['W1']`, or `your answer, item [1] (W1 gradient)`."""
        if not path:
            text = self.name
        elif re.fullmatch(r"[\w.]+(\(.*\))?", self.name):  # code-like: index it as code
            text = f"{self.name}{path}"
        else:
            text = f"{self.name}, item {path}"
        label = self.labels.get(path)
        return f"{text} ({label})" if label else text


def _walk(actual: Any, expected: Any, path: str, leaves: list[_Leaf], failures: list[Comparison],
          ctx: _Context, depth: int) -> None:
    if depth > 64:  # the reference is ours and never this deep; stop rather than recurse forever
        failures.append(_fail("structure", path, f"{ctx.where(path)}: nested too deeply to compare."))
        return
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            if isinstance(actual, (list, tuple)) and ctx.items and list(ctx.items) == [str(k) for k in expected] \
                    and len(actual) == len(expected):
                # the task left open how the gradients come back: a list in the declared order is as good
                ctx.notes.append(f"{ctx.where(path)}: a {type(actual).__name__} of {len(actual)} items, read in the "
                                 f"order {', '.join(ctx.items)}")
                actual = dict(zip(expected, actual))
            else:
                failures.append(_wrong_container(actual, expected, path, ctx))
                return
        missing = [k for k in expected if k not in actual]
        extra = [k for k in actual if k not in expected]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing key{'s' if len(missing) > 1 else ''} {_keys(missing)}")
            if extra:
                parts.append(f"unexpected key{'s' if len(extra) > 1 else ''} {_keys(extra)}")
            failures.append(_fail("structure", path,
                                  f"{ctx.where(path)}: {' and '.join(parts)} (expected a dict with keys "
                                  f"{_keys(list(expected))})."))
            return
        for key in expected:
            _walk(actual[key], expected[key], f"{path}[{key!r}]", leaves, failures, ctx, depth + 1)
        return
    if isinstance(expected, (list, tuple)):
        if isinstance(actual, Mapping) and ctx.items and len(ctx.items) == len(expected):
            keyed = _items_by_name(actual, ctx.items)
            if keyed is not None:
                ctx.notes.append(f"{ctx.where(path)}: a dict with keys {_keys(list(actual))}, read as "
                                 f"({', '.join(ctx.items)})")
                actual = keyed
        if isinstance(actual, (list, tuple)):
            items = list(actual)
        elif isinstance(actual, np.ndarray) and actual.ndim >= 1 and actual.shape[0] == len(expected):
            # a stacked array where a list was expected carries the same numbers: judge its rows
            items = list(actual)
        else:
            failures.append(_wrong_container(actual, expected, path, ctx))
            return
        if len(items) != len(expected):
            failures.append(_fail("structure", path,
                                  f"{ctx.where(path)}: has {len(items)} item{'s' if len(items) != 1 else ''}, "
                                  f"expected {len(expected)} ({_describe_expected(expected)})."))
            return
        for i, (a, e) in enumerate(zip(items, expected)):
            _walk(a, e, f"{path}[{i}]", leaves, failures, ctx, depth + 1)
        return
    leaves.append(_Leaf(path, actual, expected))


def _name_key(name: Any) -> str:
    """A gradient's key reduced to the parameter it is about: dW, grad_W, W_grad, dL_dW, dLdW -> w."""
    text = re.sub(r"[^0-9a-z]", "", str(name).lower())
    for prefix in ("dloss", "dl", "gradient", "grad", "d"):
        if text.startswith(prefix) and len(text) > len(prefix):
            rest = text[len(prefix):]
            text = rest[1:] if prefix in ("dloss", "dl") and rest.startswith("d") and len(rest) > 1 else rest
            break
    for suffix in ("grad", "gradient"):
        if text.endswith(suffix) and len(text) > len(suffix):
            text = text[: -len(suffix)]
    return text


def _items_by_name(actual: Mapping, names: tuple[str, ...]) -> list | None:
    """actual's values in the order of `names`, matched by key (exactly, or as dW / grad_W ...); None
    unless every name finds exactly one key and no key is left over."""
    keys = list(actual)
    if len(keys) != len(names):
        return None
    out = []
    for name in names:
        exact = [k for k in keys if str(k) == name]
        found = exact or [k for k in keys if _name_key(k) == _name_key(name)]
        if len(found) != 1:
            return None
        out.append(actual[found[0]])
    return out


def _low_precision(dtype: Any) -> np.dtype | None:
    """float16/float32 (or their complex kin) as a dtype; None for anything else or nothing."""
    if dtype is None:
        return None
    try:
        dt = np.dtype(dtype)
    except TypeError:
        return None
    return dt if dt in (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.complex64)) else None


def _wrong_container(actual: Any, expected: Any, path: str, ctx: _Context) -> Comparison:
    kind = "opaque" if isinstance(actual, Opaque) else "type" if actual is None or isinstance(actual, str) else "structure"
    return _fail(kind, path, f"{ctx.where(path)}: got {_describe_actual(actual)}, expected "
                             f"{_describe_expected(expected)}.{_opaque_hint(actual)}")


def _keys(keys: list) -> str:
    return ", ".join(repr(k) for k in keys)


def _fail(kind: str, path: str, message: str, **extra: Any) -> Comparison:
    return Comparison(ok=False, kind=kind, path=path, message=message, **extra)


# -- describing things in words -------------------------------------------------

def _describe_expected(expected: Any) -> str:
    if isinstance(expected, Mapping):
        return f"a dict with keys {_keys(list(expected))}"
    if isinstance(expected, (list, tuple)):
        return f"a {'tuple' if isinstance(expected, tuple) else 'list'} of {len(expected)} item{'s' if len(expected) != 1 else ''}"
    if expected is None:
        return "None"
    if isinstance(expected, (str, bool, np.bool_)):
        return repr(expected if not isinstance(expected, np.bool_) else bool(expected))
    arr = numeric_array(expected)
    if arr is None:
        return f"a {type(expected).__name__}"
    if arr.ndim == 0:
        return "a single number"
    return f"an array of shape {_shape(arr.shape)}"


def _describe_opaque(opaque: Opaque) -> str:
    """Like Opaque.describe, with the right article ("an array of dtype object")."""
    article = "an" if opaque.type_name[:1].lower() in "aeiou" else "a"
    return f"{article} {opaque.type_name}" + (f" ({opaque.reason})" if opaque.reason else "")


def _describe_actual(actual: Any) -> str:
    if isinstance(actual, Opaque):
        return _describe_opaque(actual)
    if actual is None:
        return "None (did the function forget to `return` its result?)"
    if isinstance(actual, str):
        text = actual if len(actual) <= 40 else actual[:37] + "..."
        return f"the string {text!r}"
    if isinstance(actual, (bool, np.bool_)):
        return f"the bool {bool(actual)}"
    if isinstance(actual, Mapping):
        keys = list(actual)
        return f"a dict with keys {_keys(keys[:8])}{', ...' if len(keys) > 8 else ''}" if keys else "an empty dict"
    if isinstance(actual, (list, tuple)):
        kind = "tuple" if isinstance(actual, tuple) else "list"
        return f"a {kind} of {len(actual)} item{'s' if len(actual) != 1 else ''}"
    if isinstance(actual, np.ndarray):
        if actual.dtype.kind not in "iufcb":
            return f"an array of dtype {actual.dtype}"
        if actual.ndim == 0:
            return f"the number {format_number(actual[()])}" if actual.dtype.kind in "iufc" else f"a {actual.dtype} value"
        return f"an array of shape {_shape(actual.shape)}"
    if isinstance(actual, (int, float, complex, np.number)):
        return f"the number {format_number(actual)}"
    return f"a {type(actual).__name__}"


def _opaque_hint(actual: Any) -> str:
    """One line on the usual reason for an odd return value."""
    if not isinstance(actual, Opaque):
        return ""
    name = actual.type_name.rsplit(".", 1)[-1]
    if name == "generator":
        return " A generator expression `(... for ...)` or a `yield` makes one; build a list `[... for ...]` or an array."
    if name in ("map", "filter", "zip", "range", "dict_values", "dict_keys", "dict_items"):
        return " Wrap it in list(...) or np.array(...)."
    if name in ("function", "builtin_function_or_method", "method", "PjitFunction", "partial"):
        return " Did you return the function instead of calling it?"
    return ""


def _shape(shape: tuple[int, ...]) -> str:
    return str(tuple(int(n) for n in shape))


def _index(index: tuple[int, ...]) -> str:
    return str(index[0]) if len(index) == 1 else str(index)


def _tolerance_text(tol: Tolerance, scale: float, single: bool) -> str:
    text = f"tolerance rtol {tol.rtol:g}, atol {tol.atol:g}"
    if scale > 1:  # say so, or a student checking the arithmetic finds a different atol
        text += f" × {format_number(scale)} ({'|expected|' if single else 'the largest |expected|'})"
    return text


def _with_cause(message: str, cause: str) -> str:
    return f"{message} Likely cause: {cause}." if cause else message


# -- one leaf ---------------------------------------------------------------------

def _compare_leaf(leaf: _Leaf, ctx: _Context) -> Comparison:
    path, actual, expected = leaf.path, leaf.actual, leaf.expected
    where = ctx.where(path)

    # references that are not numbers (a flag, a label) must simply be equal
    if expected is None or isinstance(expected, (str, bool, np.bool_)):
        if type(actual) is type(expected) or (isinstance(expected, (bool, np.bool_)) and isinstance(actual, (bool, np.bool_))):
            if actual == expected:
                return Comparison(ok=True)
            return _fail("value", path, f"{where} is {_describe_actual(actual)} but should be {_describe_expected(expected)}.")
        kind = "opaque" if isinstance(actual, Opaque) else "type"
        return _fail(kind, path, f"{where}: got {_describe_actual(actual)}, expected {_describe_expected(expected)}.")

    exp = numeric_array(expected)
    if exp is None:
        raise TypeError(f"reference at {path or 'the top'} is not numeric: {type(expected).__name__}")

    if isinstance(actual, Opaque):
        return _fail("opaque", path, f"{where}: got {_describe_opaque(actual)}, expected {_describe_expected(expected)}."
                                     f"{_opaque_hint(actual)}")
    if isinstance(actual, np.ndarray) and actual.dtype.kind == "b":
        return _fail("dtype", path, f"{where} is an array of bools (dtype bool), expected numbers: "
                                    f"a comparison such as `x > 0` where a value was meant?")
    if isinstance(actual, (Mapping, list, tuple)) and numeric_array(actual) is None:
        detail = (" (a list whose items are not numbers of one common shape)"
                  if isinstance(actual, (list, tuple)) else "")
        kind = "structure" if isinstance(actual, Mapping) else "type"
        return _fail(kind, path, f"{where}: got {_describe_actual(actual)}{detail}, expected {_describe_expected(expected)}.")
    act = numeric_array(actual)
    if act is None:
        return _fail("type", path, f"{where}: got {_describe_actual(actual)}, expected {_describe_expected(expected)}.")

    # shape: exact, except that size-1 leaves compare by value both ways (a single number for a (1,) bias,
    # a (1,) array for a scalar), and that a declared `vectors` convention accepts a row, a column or a
    # flat vector alike (the shapes differ only by axes of length 1)
    if act.shape != exp.shape:
        if act.size == 1 and exp.size == 1:
            if exp.ndim > 0:
                ctx.notes.append(f"{where}: {'a single number' if act.ndim == 0 else f'shape {_shape(act.shape)}'} "
                                 f"where the task has shape {_shape(exp.shape)}; compared by value")
            act = act.reshape(exp.shape)
        elif ctx.vectors and _squeezed(act.shape) == _squeezed(exp.shape):
            ctx.notes.append(f"{where}: {_orientation(act.shape)} of shape {_shape(act.shape)} where the task's is "
                             f"{_shape(exp.shape)}; the orientation was left open, so it is compared by value")
            act = act.reshape(exp.shape)
        else:
            return _shape_failure(path, where, act, exp, ctx)

    # dtype
    if act.dtype.kind == "c" and exp.dtype.kind != "c":
        hint = " Its imaginary parts are all zero: take .real." if not np.any(act.imag) else ""
        return _fail("dtype", path, f"{where} is complex ({act.dtype}), expected real numbers.{hint}",
                     actual=act, expected=exp)
    if ctx.require_float64 and act.dtype in (np.float16, np.float32, np.complex64):
        precision = "float16" if act.dtype == np.float16 else "float32"
        return _fail("dtype", path, f"{where} was computed in {precision}, but this question needs float64: "
                                    f"{_float64_hint(actual)}.",
                     cause=f"computed in {precision}", actual=act, expected=exp)

    return _compare_values(path, where, act, exp, ctx)


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(n) for n in shape if n != 1)


def _orientation(shape: tuple[int, ...]) -> str:
    if len(shape) == 2 and shape[1] == 1:
        return "a column"
    if len(shape) == 2 and shape[0] == 1:
        return "a row"
    if len(shape) == 1:
        return "a flat vector"
    return "an array"


def _shape_failure(path: str, where: str, act: np.ndarray, exp: np.ndarray, ctx: _Context) -> Comparison:
    cause = likely_cause(act, exp, dims=ctx.dims)
    expected_text = "a single number" if exp.ndim == 0 else f"shape {_shape(exp.shape)}"
    got = f"shape {_shape(act.shape)}" if act.ndim else "a single number"
    # right numbers in a wrong shape (a reshape away, nothing transposed): say exactly that
    values_right = act.size == exp.size and _same_numbers(act.reshape(exp.shape), exp, ctx)
    if values_right:
        text = (f"{where} has {got}, expected {expected_text}. Its values are right: only the shape differs "
                f"(shapes must match exactly; nothing is broadcast).")
    else:
        text = f"{where} has {got}, expected {expected_text} (shapes must match exactly; nothing is broadcast)."
    return _fail("shape", path, _with_cause(text, cause), cause=cause, actual=act, expected=exp,
                 values_right=values_right)


def _same_numbers(act: np.ndarray, exp: np.ndarray, ctx: _Context) -> bool:
    """The values agree within the tolerance the leaf would be judged at."""
    if act.dtype.kind not in "iufc":
        return False
    notes = list(ctx.notes)
    with np.errstate(all="ignore"):
        ok = bool(_compare_values("", "", act, exp, ctx).ok)
    ctx.notes[:] = notes  # a trial, not a verdict: it says nothing to the student
    return ok


def _float64_hint(actual: Any) -> str:
    """The float64 switch for the framework that made the answer, or for all of them."""
    origin = origin_of(actual)
    framework = origin.framework if origin is not None else ""
    if framework == "jax":
        return "enable float64 (jax: JAX_ENABLE_X64=1 or jax.config.update('jax_enable_x64', True))"
    if framework == "torch":
        return "enable float64 (torch: dtype=torch.float64, or torch.set_default_dtype(torch.float64))"
    return FLOAT64_HINT


def _compare_values(path: str, where: str, act: np.ndarray, exp: np.ndarray, ctx: _Context) -> Comparison:
    tol = tolerance_for(act.dtype, ctx.rtol, ctx.atol)
    if exp.dtype in TOLERANCES:  # never stricter than the reference's own precision
        ref_tol = tolerance_for(exp.dtype, ctx.rtol, ctx.atol)
        tol = Tolerance(max(tol.rtol, ref_tol.rtol), max(tol.atol, ref_tol.atol))
    path_note = precision = ""
    if ctx.path_precision is not None and not ctx.require_float64:
        # the computation ran in float32 (a cast inside, float32 parameters): a float64 answer carries only
        # float32 accuracy, so it is judged as what it is; a wrong formula is still far outside this
        path_tol = tolerance_for(ctx.path_precision, ctx.rtol, ctx.atol)
        if path_tol.rtol > tol.rtol or path_tol.atol > tol.atol:
            tol = Tolerance(max(tol.rtol, path_tol.rtol), max(tol.atol, path_tol.atol))
            precision = "float16" if ctx.path_precision == np.float16 else "float32"
            # one note for the whole answer, not one per leaf
            path_note = (f"{ctx.name} was computed in {precision} (your code's values along the way are "
                         f"{precision}), so it is judged at {precision} tolerance (rtol {tol.rtol:g}, "
                         f"atol {tol.atol:g}) rather than float64's")
            ctx.notes.append(path_note)
    work = np.complex128 if (act.dtype.kind == "c" or exp.dtype.kind == "c") else np.float64
    a, e = act.astype(work), exp.astype(work)
    if a.size == 0:
        return Comparison(ok=True)

    finite_e = np.isfinite(e)
    scale = max(1.0, float(np.max(np.abs(e[finite_e])))) if finite_e.any() else 1.0

    # NaN/inf where the reference is finite
    nonfinite = finite_e & ~np.isfinite(a)
    if nonfinite.any():
        return _nonfinite_failure(path, where, act, exp, a, e, nonfinite, tol, ctx)

    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(finite_e, np.abs(a - e), 0.0).astype(np.float64)
        allowed = tol.atol * scale + tol.rtol * np.abs(np.where(finite_e, e, 0.0))
    # where the reference itself is NaN/inf, only the same NaN/inf is right
    same_special = (a == e) | (np.isnan(a) & np.isnan(e))
    special_wrong = ~finite_e & ~same_special
    bad = (finite_e & (err > allowed)) | special_wrong
    if not bad.any():
        return Comparison(ok=True)

    # the worst element is the one furthest outside its own allowance
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(allowed > 0, err / np.where(allowed > 0, allowed, 1.0), np.inf)
    ratio = np.where(special_wrong, np.inf, np.where(bad, ratio, -1.0))
    flat = int(np.argmax(ratio))
    index = tuple(int(i) for i in np.unravel_index(flat, a.shape)) if a.ndim else ()
    aw, ew = a[index], e[index]
    abs_err = float(abs(aw - ew)) if np.isfinite(ew) else math.inf
    rel_err = abs_err / float(abs(ew)) if np.isfinite(ew) and ew != 0 else math.inf
    worst = {"index": index, "actual": _py(aw), "expected": _py(ew), "abs_err": abs_err, "rel_err": rel_err,
             "rtol": tol.rtol, "atol": tol.atol}
    cause = likely_cause(act, exp, dims=ctx.dims)

    errors = (f"abs error {format_number(abs_err)}, rel error "
              f"{format_number(rel_err) if math.isfinite(rel_err) else 'undefined (expected 0)'}; "
              f"{_tolerance_text(tol, scale, a.size == 1)}"
              f"{f', {precision} tolerance because your computation runs in {precision}' if path_note else ''}")
    if a.ndim == 0:
        text = f"{where} is {format_number(aw)} but should be {format_number(ew)} ({errors})."
    elif a.size <= _SMALL:
        text = (f"{where} is {format_array(act)} but should be {format_array(exp)}; worst at element "
                f"{_index(index)}: {format_number(aw)} instead of {format_number(ew)} ({errors}).")
    else:
        n_bad = int(bad.sum())
        text = (f"{where}: element {_index(index)} is {format_number(aw)} but should be {format_number(ew)} "
                f"({errors}); {n_bad} of {a.size} elements are outside the tolerance.")
    return _fail("value", path, _with_cause(text, cause), cause=cause, worst=worst, actual=act, expected=exp)


def _nonfinite_failure(path: str, where: str, act: np.ndarray, exp: np.ndarray, a: np.ndarray, e: np.ndarray,
                       nonfinite: np.ndarray, tol: Tolerance, ctx: _Context) -> Comparison:
    index = tuple(int(i) for i in np.argwhere(nonfinite)[0]) if a.ndim else ()
    aw, ew = a[index], e[index]
    n_nan = int(np.sum(nonfinite & np.isnan(a)))
    n_inf = int(np.sum(nonfinite)) - n_nan
    what = " and ".join(p for p in (f"{n_nan} NaN" if n_nan else "", f"{n_inf} inf" if n_inf else "") if p)
    if a.ndim == 0:
        text = f"{where} is {format_number(aw)} but should be {format_number(ew)}."
    elif a.size <= _SMALL:
        text = (f"{where} is {format_array(act)} but should be {format_array(exp)}: {what} where the right values "
                f"are finite (first at element {_index(index)}).")
    else:
        text = (f"{where} has {what} among its {a.size} elements where the right values are finite; the first is at "
                f"element {_index(index)}, which should be {format_number(ew)}.")
    cause = likely_cause(act, exp, dims=ctx.dims) or OVERFLOW_CAUSE
    worst = {"index": index, "actual": _py(aw), "expected": _py(ew), "abs_err": math.inf if not np.isnan(aw) else math.nan,
             "rel_err": math.inf if not np.isnan(aw) else math.nan, "rtol": tol.rtol, "atol": tol.atol}
    return _fail("nonfinite", path, _with_cause(text, cause), cause=cause, worst=worst, actual=act, expected=exp)


def _py(x: Any) -> float | complex:
    """A NumPy scalar as a Python float (complex only when it has an imaginary part)."""
    c = complex(x)
    return c.real if c.imag == 0 else c
