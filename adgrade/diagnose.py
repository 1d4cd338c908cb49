"""Likely causes of a wrong answer, in words a student understands.

`compare` decides *whether* an answer is right; this module guesses *why* it
is wrong. Every guess is a claim made to a student, so each one is tested
against the numbers before it is made: a factor is named only when the answer
is that factor times the reference to within rounding, a transpose only when
the transpose is right, and so on. When nothing fits, the answer is "" and the
student sees the plain comparison.

This module imports nothing from the rest of adgrade (compare imports it), so
the few helpers both need (`numeric_array`, `format_number`, `FLOAT64_HINT`)
live here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = [
    "FLOAT64_HINT",
    "OVERFLOW_CAUSE",
    "describe_factor",
    "format_array",
    "format_number",
    "likely_cause",
    "likely_cause_across_points",
    "matches",
    "numeric_array",
]

Dims = Mapping[str, int]

#: how to turn on double precision, for every framework the course uses
FLOAT64_HINT = (
    "enable float64 (jax: JAX_ENABLE_X64=1 or jax.config.update('jax_enable_x64', True); "
    "torch: dtype=torch.float64; numpy: dtype=np.float64)"
)

#: NaN/inf where the reference is finite almost always means an unstable formula
OVERFLOW_CAUSE = (
    "overflow or an unstable formula (e.g. exp of a large number); "
    "use a stable form (logsumexp, or log1p(exp(-|t|)) + max(t, 0) for log(1 + exp(t)))"
)

_LOW_PRECISION = {np.dtype(np.float16): "float16", np.dtype(np.float32): "float32",
                  np.dtype(np.complex64): "float32"}


# -- small shared helpers --------------------------------------------------------

def numeric_array(value: Any) -> np.ndarray | None:
    """`value` as a plain (non-subclass) numeric ndarray, or None if it is not numbers.

    Accepts arrays, NumPy scalars, Python numbers and (nested) lists/tuples of
    these that form a regular array: the course allows "a list of these" where
    an array is expected. bool, str, None, dicts, ragged lists and object
    arrays are not numbers here.
    """
    if value is None or isinstance(value, (str, bytes, bool, np.bool_, Mapping)):
        return None
    if isinstance(value, np.ndarray):
        arr = np.asarray(value)  # drops DecodedArray so reprs and arithmetic stay plain
    elif isinstance(value, (int, float, complex, np.number)):
        arr = np.asarray(value)
    elif isinstance(value, (list, tuple)):
        if not _all_numeric_leaves(value, depth=0):
            return None
        try:
            arr = np.asarray([np.asarray(v) for v in value])
        except (ValueError, TypeError):  # ragged: items of different shapes
            return None
    else:
        return None
    if arr.dtype.kind not in "iufc":
        return None
    return arr


def _all_numeric_leaves(value: Any, depth: int) -> bool:
    if depth > 32:
        return False
    if isinstance(value, (list, tuple)):
        return all(_all_numeric_leaves(v, depth + 1) for v in value)
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "iufc"
    return isinstance(value, (int, float, complex, np.number)) and not isinstance(value, (bool, np.bool_))


def format_number(x: Any) -> str:
    """A number the way a student writes it: %.6g, nan/inf spelled out."""
    if isinstance(x, (complex, np.complexfloating)):
        c = complex(x)
        if c.imag == 0:
            return format_number(c.real)
        return f"{format_number(c.real)}{'+' if c.imag >= 0 or math.isnan(c.imag) else '-'}{format_number(abs(c.imag))}j"
    f = float(x)
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    if f == 0:
        return "0"  # no "-0": it confuses more than it tells
    return f"{f:.6g}"


def format_array(arr: np.ndarray) -> str:
    """Nested-list text of an array, without any `array(...)` wrapper."""
    arr = np.asarray(arr)
    if arr.ndim == 0:
        return format_number(arr[()])
    return "[" + ", ".join(format_array(sub) for sub in arr) + "]"


def _work(arr: np.ndarray) -> np.ndarray:
    """float64 (or complex128) copy for arithmetic, so ints and float32 do not round further."""
    return arr.astype(np.complex128 if arr.dtype.kind == "c" else np.float64)


def _fit_tol(dtype: np.dtype) -> float:
    """How close counts as "the same" when testing a hypothesis.

    Looser than grading tolerances on purpose: a float32 answer that is exactly
    twice the reference still differs from 2·e by float32 rounding, and the
    student should hear "factor 2" rather than nothing.
    """
    if dtype == np.float16:
        return 1e-2
    if dtype in (np.float32, np.complex64):
        return 1e-4
    return 1e-6


def _close(a: np.ndarray, b: np.ndarray, tol: float) -> bool:
    """max|a - b| small relative to the size of b (b's largest element)."""
    if a.shape != b.shape:
        return False
    if a.size == 0:
        return True
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return False
    ref = float(np.max(np.abs(b)))
    return float(np.max(np.abs(a - b))) <= tol * max(ref, np.finfo(np.float64).tiny)


def _shape_text(shape: tuple[int, ...]) -> str:
    return str(tuple(int(n) for n in shape))


# -- naming a factor ---------------------------------------------------------------

def _near(x: float, target: float, tol: float) -> bool:
    return abs(x - target) <= tol * max(abs(target), 1e-300)


def _fraction_text(fr: Fraction) -> str:
    if fr.denominator == 1:
        return str(fr.numerator)
    if fr == Fraction(1, 2):
        return "½"
    if fr == Fraction(-1, 2):
        return "-½"
    return f"{fr.numerator}/{fr.denominator}"


def _dims_candidates(dims: Dims | None) -> list[tuple[float, str]]:
    """(value, name) for each size in `dims` and each product of two of them."""
    if not dims:
        return []
    items = [(int(v), str(k)) for k, v in dims.items() if isinstance(v, (int, np.integer)) and abs(int(v)) > 1]
    out = list(items)
    for i, (v1, k1) in enumerate(items):
        for v2, k2 in items[i:]:
            out.append((v1 * v2, f"{k1}·{k2}" if k1 != k2 else f"{k1}²"))
    return out


#: the only plain factors claimed for a single number: for one value, any
#: other "nice" ratio (3 where 4 was right is "3/4") is more likely chance than a cause
_SCALAR_FACTORS = (Fraction(2), Fraction(3), Fraction(1, 2), Fraction(1, 3))


def describe_factor(c: float, dims: Dims | None = None, *, tol: float = 1e-6, generic: bool = True,
                    where: str = "") -> str:
    """Words for "your answer is c times the right one", or "" when c is not worth naming.

    -1 is a sign error; sizes from `dims` (number of samples N ...) point to a
    sum where a mean was meant or the reverse; small fractions (2, ½, 3, 1/3,
    3/2 ...) are named exactly. `generic` says the caller has evidence that a
    constant factor is real (many elements, or many points, all scaled the
    same way): only then are other fractions and any other c ("about 1.37")
    named. `where` (" everywhere", " at every point") goes after the number.
    """
    if not math.isfinite(c) or c == 0 or _near(c, 1.0, tol):
        return ""
    if _near(c, -1.0, tol):
        return f"sign flipped: your answer is the negative of the right one{where}"
    sign = "-" if c < 0 else ""
    flipped = "sign flipped, and " if c < 0 else ""
    mag = abs(c)
    for value, name in _dims_candidates(dims):
        for fr, text, why in ((Fraction(value), name, "sum instead of mean?"),
                              (Fraction(1, value), f"1/{name}", "mean instead of sum?")):
            if _near(mag, float(fr), tol):
                if fr == 2 and not flipped:  # 2 is also the factor of d(x²)/dx: say both
                    return f"off by a factor of 2{where} (= {name}: {why} or a stray 2?)"
                return f"off by a factor of {sign}{_fraction_text(fr)} = {sign}{text}{where} ({flipped}{why})"
    fr = Fraction(mag).limit_denominator(12)
    nice = fr.numerator <= 12 and _near(mag, float(fr), tol)
    if nice and (generic or fr in _SCALAR_FACTORS):
        extra = f" (sign flipped, and a factor of {_fraction_text(fr)})" if flipped else ""
        return f"off by a factor of {sign}{_fraction_text(fr)}{where}{extra}"
    if generic:
        shown = f"{c:.6g}" if abs(c - 1) < 0.01 else f"{c:.4g}"  # enough digits not to print "about 1"
        return f"off by a constant factor of about {shown}{where}"
    return ""


def _fit_factor(a: np.ndarray, e: np.ndarray, tol: float) -> float | None:
    """c with a ≈ c·e (least squares), if the fit is good; None otherwise."""
    if a.size == 0 or not (np.all(np.isfinite(a)) and np.all(np.isfinite(e))):
        return None
    ee = float(np.vdot(e, e).real)
    if ee == 0.0:
        return None
    cz = complex(np.vdot(e, a)) / ee
    if abs(cz.imag) > tol * abs(cz):
        return None
    c = cz.real
    if c == 0.0:
        return None
    if float(np.max(np.abs(a - c * e))) > tol * float(np.max(np.abs(a))):
        return None
    return c


# -- one pair of leaves --------------------------------------------------------

def likely_cause(actual: Any, expected: Any, *, dims: Dims | None = None) -> str:
    """The likely cause of `actual` differing from `expected`, or "" if none fits.

    The two may have different shapes (then the shape is what is explained).
    `dims` names sizes of the problem ({"N": 4}) so a factor can be named.
    """
    a_raw = numeric_array(actual)
    e_raw = numeric_array(expected)
    if a_raw is None or e_raw is None:
        return ""
    tol = _fit_tol(a_raw.dtype)
    a, e = _work(a_raw), _work(e_raw)
    if a.shape != e.shape:
        if a.size == 1 and e.size == 1:  # a (1,) answer for a scalar: compare treats these as equal shapes
            a, e = a.reshape(()), e.reshape(())
        else:
            return _shape_cause(a, e, a_raw.dtype, tol, dims)
    return _same_shape_cause(a, e, a_raw.dtype, tol, dims)


def _shape_cause(a: np.ndarray, e: np.ndarray, a_dtype: np.dtype, tol: float, dims: Dims | None) -> str:
    sa, se = a.shape, e.shape
    if a.ndim == 2 and e.ndim == 2 and sa == se[::-1]:
        if _close(a.T, e, tol):
            return (f"transposed: your answer has shape {_shape_text(sa)} and is the transpose of the right "
                    f"{_shape_text(se)} one (use .T, or check the order of the factors in a matrix product)")
        if _close(a.reshape(se), e, tol):
            return (f"the values are right but arranged in shape {_shape_text(sa)} instead of {_shape_text(se)} "
                    f"(a reshape where the other shape was meant from the start?)")
        return f"your shape {_shape_text(sa)} is the transpose of the expected {_shape_text(se)} (rows and columns swapped)"
    squeezed_a = tuple(n for n in sa if n != 1)
    squeezed_e = tuple(n for n in se if n != 1)
    if squeezed_a == squeezed_e:
        text = _unit_axes_text(sa, se)
        if _close(a.reshape(se), e, tol):
            return text + "; the values are right, only the shape is wrong"
        inner = _same_shape_cause(a.reshape(se), e, a_dtype, tol, dims)
        return text + (f"; also, {inner}" if inner else "")
    # (n, 1) combined with (n,) broadcasts to (n, n): n² numbers where n were meant
    if len(squeezed_e) == 1 and squeezed_a == (squeezed_e[0], squeezed_e[0]) and squeezed_e[0] > 1:
        n = squeezed_e[0]
        text = (f"(n,1) broadcast against (n,) somewhere: your answer has shape {_shape_text(sa)} where "
                f"{_shape_text(se)} was expected; a ({n}, 1) column combined with a ({n},) vector gives a "
                f"({n}, {n}) matrix, so keep one convention (reshape(-1) or [:, None])")
        if _close(np.diagonal(a.reshape(n, n)).copy(), e.reshape(n), tol):
            text += "; its diagonal is the right answer"
        return text
    if a.size == e.size and _close(a.reshape(se), e, tol):
        return (f"the values are right but arranged in shape {_shape_text(sa)} instead of {_shape_text(se)} "
                f"(a reshape where a transpose or a different axis order was meant?)")
    return ""


def _unit_axes_text(sa: tuple[int, ...], se: tuple[int, ...]) -> str:
    if len(sa) == 2 and len(se) == 1 and sa == (se[0], 1):
        return (f"shape {_shape_text(sa)} where {_shape_text(se)} was expected: a column instead of a flat vector. "
                f"Mixing (n, 1) and (n,) broadcasts to (n, n) in arithmetic; use .reshape(-1) or .ravel()")
    if len(sa) == 1 and len(se) == 2 and se == (sa[0], 1):
        return (f"shape {_shape_text(sa)} where {_shape_text(se)} was expected: a flat vector instead of a column. "
                f"Mixing (n,) and (n, 1) broadcasts to (n, n) in arithmetic; use .reshape(-1, 1) or [:, None]")
    if len(sa) > len(se):
        return f"shape {_shape_text(sa)} where {_shape_text(se)} was expected: extra axes of length 1 (squeeze them)"
    return f"shape {_shape_text(sa)} where {_shape_text(se)} was expected: axes of length 1 are missing"


def _same_shape_cause(a: np.ndarray, e: np.ndarray, a_dtype: np.dtype, tol: float, dims: Dims | None) -> str:
    if a.size == 0:
        return ""
    finite_e = np.isfinite(e)
    if np.any(~np.isfinite(a) & finite_e):
        return OVERFLOW_CAUSE
    if not np.all(finite_e):
        return ""  # a non-finite reference: nothing sensible to fit
    precision = _precision_cause(a, e, a_dtype)
    if precision:
        return precision
    if _close(a, e, tol):
        return ""
    if not np.any(a):
        return "your answer is all zeros (a value never updated, or a gradient that was lost or never computed?)"
    c = _fit_factor(a, e, tol)
    if c is not None:
        text = describe_factor(c, dims, tol=tol, generic=e.size >= 2, where=" everywhere" if e.size >= 2 else "")
        if text:
            return text
    if a.ndim == 2 and a.shape[0] == a.shape[1] and a.shape[0] > 1:
        e_symmetric = _close(e, e.T, tol)
        if not e_symmetric and _close(a, e.T, tol):
            return "transposed: your matrix is the transpose of the right one (use .T, or check the order of a matrix product)"
        if e_symmetric and not _close(a, a.T, tol) and _close((a + a.T) / 2, e, tol):
            return ("your matrix is not symmetric; its symmetric part ½(A+Aᵀ) is right "
                    "(e.g. the Hessian of ½xᵀAx is ½(A + Aᵀ), not A)")
    return _some_elements_cause(a, e, tol, dims)


def _precision_cause(a: np.ndarray, e: np.ndarray, dtype: np.dtype) -> str:
    """Right to single precision, but not to double."""
    ref = float(np.max(np.abs(e)))
    if ref == 0.0:
        return ""
    rel = float(np.max(np.abs(a - e))) / ref
    if rel == 0.0:
        return ""
    name = _LOW_PRECISION.get(np.dtype(dtype))
    if name is not None:
        limit = 2e-2 if name == "float16" else 1e-4
        if rel <= limit:
            return (f"computed in {name}: your errors (about {rel:.1g} relative) are the size of {name} rounding; "
                    + FLOAT64_HINT)
        return ""
    # float64 numbers that are all exactly float32 numbers were computed in float32 and converted afterwards
    # (below 1e-9 the difference is too small to be float32 rounding of these values)
    if dtype == np.float64 and 1e-9 <= rel <= 1e-4 and a.size >= 2:
        a32 = a.astype(np.float32).astype(np.float64)
        e32 = e.astype(np.float32).astype(np.float64)
        integral = np.all(a == np.round(a))
        if np.array_equal(a32, a) and not np.array_equal(e32, e) and not integral:
            return (f"computed in float32 and converted to float64 afterwards (errors about {rel:.1g} relative, "
                    f"the size of float32 rounding); " + FLOAT64_HINT)
    return ""


def _some_elements_cause(a: np.ndarray, e: np.ndarray, tol: float, dims: Dims | None) -> str:
    ref = max(float(np.max(np.abs(e))), np.finfo(np.float64).tiny)
    right = np.abs(a - e) <= tol * ref
    wrong = ~right
    # a right element counts as evidence only where the reference is not zero:
    # getting the structural zeros of a Jacobian right says little
    if not wrong.any() or not np.any(right & (np.abs(e) > tol * ref)):
        return ""
    n_wrong, n = int(wrong.sum()), wrong.size
    where = _pattern_text(wrong)
    if not where:
        idx = [_index_text(tuple(int(i) for i in ix)) for ix in np.argwhere(wrong)[:5]]
        more = ", ..." if n_wrong > 5 else ""
        where = f"at {n_wrong} of {n} elements: {', '.join(idx)}{more}"
    text = f"wrong only {where}"
    aw, ew = a[wrong], e[wrong]
    c = _fit_factor(aw, ew, tol)
    if c is not None:
        factor = describe_factor(c, dims, tol=tol, generic=aw.size >= 2)
        if factor:
            text += f"; there, {factor}"
    return text


def _pattern_text(wrong: np.ndarray) -> str:
    """A simple description of where the wrong elements are, or ""."""
    if wrong.ndim == 2:
        rows, cols = wrong.shape
        if rows == cols and rows > 1:
            diag = np.eye(rows, dtype=bool)
            if np.array_equal(wrong, diag):
                return "on the diagonal"
            if np.array_equal(wrong, ~diag):
                return "off the diagonal (the diagonal is right)"
        bad_rows = np.flatnonzero(wrong.any(axis=1))
        bad_cols = np.flatnonzero(wrong.any(axis=0))
        if len(bad_rows) == 1 and rows > 1 and wrong[bad_rows[0]].sum() > 1:
            return f"in row {bad_rows[0]}"
        if len(bad_cols) == 1 and cols > 1 and wrong[:, bad_cols[0]].sum() > 1:
            return f"in column {bad_cols[0]}"
    if wrong.ndim == 1 and wrong.size > 2 and wrong.sum() == 1:
        if wrong[0]:
            return "at the first element (index 0)"
        if wrong[-1]:
            return f"at the last element (index {wrong.size - 1})"
    return ""


def _index_text(index: tuple[int, ...]) -> str:
    return str(index[0]) if len(index) == 1 else str(index)


# -- the same answer at several points --------------------------------------

def _flatten(tree: Any) -> tuple[np.ndarray, np.dtype] | None:
    """All numbers of a tree as one 1-D float64/complex128 array (dicts in sorted
    key order), with the least precise dtype among its leaves; None if not numbers."""
    leaves: list[np.ndarray] = []

    def walk(node: Any, depth: int) -> bool:
        if depth > 32:
            return False
        arr = numeric_array(node)
        if arr is not None:
            leaves.append(arr.reshape(-1))
            return True
        if isinstance(node, Mapping):
            return all(walk(node[k], depth + 1) for k in sorted(node, key=str))
        if isinstance(node, (list, tuple)):
            return all(walk(v, depth + 1) for v in node)
        return False

    if not walk(tree, 0):
        return None
    if not leaves:
        return np.zeros(0), np.dtype(np.float64)
    # the least precise leaf decides how close "the same" must be
    dtype = max((x.dtype for x in leaves), key=lambda d: _fit_tol(d))
    return np.concatenate([_work(x) for x in leaves]), dtype


def _first_argument(point_inputs: Any) -> np.ndarray | None:
    """The first positional argument of one call, flattened.

    `inputs[i]` is a tuple of the positional arguments at point i, or (any
    other type) the first argument itself.
    """
    first = point_inputs[0] if isinstance(point_inputs, tuple) and point_inputs else point_inputs
    found = _flatten(first)
    if found is None or found[0].size == 0 or found[0].dtype.kind == "c":
        return None
    return found[0]


def _input_factor(cs: np.ndarray, inputs: Sequence[Any] | None) -> str:
    """Which simple function of the first argument the per-point factors equal, or ""."""
    if inputs is None or len(inputs) != len(cs):
        return ""
    xs = [_first_argument(p) for p in inputs]
    if any(x is None for x in xs):
        return ""
    candidates: list[tuple[str, np.ndarray]] = []
    if all(x.size == 1 for x in xs):
        v = np.array([float(x[0]) for x in xs])
        with np.errstate(divide="ignore", invalid="ignore"):
            candidates = [("x", v), ("1/x", 1 / v), ("x²", v**2), ("1/x²", 1 / v**2), ("|x|", np.abs(v)), ("1/|x|", 1 / np.abs(v))]
    else:
        r = np.array([float(np.linalg.norm(x)) for x in xs])
        with np.errstate(divide="ignore", invalid="ignore"):
            candidates = [("‖x‖", r), ("1/‖x‖", 1 / r), ("‖x‖²", r**2), ("1/‖x‖²", 1 / r**2)]
    for name, g in candidates:
        if not np.all(np.isfinite(g)) or np.allclose(g, g[0], rtol=1e-6, atol=0):
            continue  # a function that does not vary cannot explain a varying factor
        for sign, prefix in ((1, ""), (-1, "-")):
            if np.allclose(cs, sign * g, rtol=1e-4, atol=0):
                return prefix + name
    return ""


def _threshold_text(xs: np.ndarray, right: np.ndarray) -> str:
    """'right for x < 0, wrong for x > 0' when one threshold separates right from wrong points."""
    rx, wx = xs[right], xs[~right]
    if rx.size == 0 or wx.size == 0:
        return ""
    if np.all(wx == 0):
        return "wrong only at x = 0"
    if rx.max() < wx.min():
        cut = "0" if rx.max() < 0 < wx.min() else None
        return (f"right for x < {cut}, wrong for x > {cut}" if cut
                else f"right for x ≤ {format_number(rx.max())}, wrong for x ≥ {format_number(wx.min())}")
    if wx.max() < rx.min():
        cut = "0" if wx.max() < 0 < rx.min() else None
        return (f"wrong for x < {cut}, right for x > {cut}" if cut
                else f"wrong for x ≤ {format_number(wx.max())}, right for x ≥ {format_number(rx.min())}")
    return ""


def likely_cause_across_points(actuals: Sequence[Any], expecteds: Sequence[Any], inputs: Sequence[Any] | None = None,
                               *, dims: Dims | None = None, passed: Sequence[bool] | None = None) -> str:
    """The likely cause when the same entry was called at several points, or "".

    `actuals[i]`, `expecteds[i]`: the answer and reference at point i (arrays,
    numbers or trees of them). `inputs[i]`: the positional arguments at point i
    as a tuple, or the first argument alone (anything that is not a tuple).
    `passed[i]`: whether `compare` accepted point i; when omitted it is judged
    here with a loose tolerance. Finds a constant factor shared by all points,
    a factor that changes from point to point while the direction is right
    (named when it is ‖x‖, 1/‖x‖, x or 1/x of the first argument), right at
    some points and wrong at others (with the threshold for scalar inputs), or
    wrong everywhere.
    """
    n = len(actuals)
    if n == 0 or len(expecteds) != n or (passed is not None and len(passed) != n):
        return ""
    found_a = [_flatten(a) for a in actuals]
    found_e = [_flatten(e) for e in expecteds]
    if any(x is None for x in found_a + found_e):
        return ""
    a_work = [fa[0] for fa in found_a]
    e_work = [fe[0] for fe in found_e]
    if any(a.size != e.size for a, e in zip(a_work, e_work)):
        return ""  # the shapes differ: compare explains that
    tol = max(_fit_tol(fa[1]) for fa in found_a)
    nonfinite = np.array([bool(np.any(~np.isfinite(a) & np.isfinite(e))) for a, e in zip(a_work, e_work)])
    if passed is not None:
        right = np.array([bool(p) for p in passed])
    else:
        right = np.array([not nf and _close(a, e, tol) for a, e, nf in zip(a_work, e_work, nonfinite)])
    if right.all():
        return ""
    # per-point causes on the leaves as given (shapes matter for transposes), on
    # the flattened numbers where the answer is a tree
    per_point = [
        likely_cause(a, e, dims=dims) if numeric_array(a) is not None and numeric_array(e) is not None
        else likely_cause(fa, fe, dims=dims)
        for a, e, fa, fe in zip(actuals, expecteds, a_work, e_work)
    ]
    if n == 1:
        return per_point[0]

    # a right point has factor 1, which may be just where the varying factor passes through 1 (x = 1)
    factors = [_fit_factor(a, e, tol) for a, e in zip(a_work, e_work)]
    if all(c is not None for c in factors):
        cs = np.array(factors, dtype=float)
        named = "" if np.allclose(cs, cs[0], rtol=10 * tol, atol=0) else _input_factor(cs, inputs)
        if named:
            bare = named.lstrip("-")
            guess = (f"a missing {bare[2:]} or an extra division by it?" if bare.startswith("1/")
                     else f"an extra {bare}?")
            return (f"off by a factor that changes from point to point: it equals {named} at each point, "
                    f"where x is the first argument ({guess})")
    if right.any():
        return _mixed_points_text(right, nonfinite, per_point, inputs)

    if all(c is not None for c in factors):
        cs = np.array(factors, dtype=float)
        if np.allclose(cs, cs[0], rtol=10 * tol, atol=0):
            # one factor at every point: evidence enough to name even an odd factor of a scalar answer
            text = describe_factor(float(np.mean(cs)), dims, tol=10 * tol, generic=True, where=" at every point")
            if text:
                return text
        else:
            # for a scalar answer every wrong value is "some factor" of the right one:
            # a varying factor is a claim worth making only for vectors, where the direction can be right
            if all(a.size >= 2 for a in a_work):
                if np.all(cs > 0):
                    direction = "the direction is right but the length is not"
                elif np.all(cs < 0):
                    direction = "your answer points the opposite way, and its length is wrong too"
                else:
                    direction = "the direction is right up to sign, but the length is not"
                return f"off by a factor that changes from point to point (e.g. an extra ‖x‖): {direction}"
    if per_point[0] and all(p == per_point[0] for p in per_point):
        return f"{per_point[0]}, at every point"
    if np.any(nonfinite):
        return OVERFLOW_CAUSE
    return f"wrong at all {n} points tested (not a constant factor, a sign or a transpose)"


def _mixed_points_text(right: np.ndarray, nonfinite: np.ndarray, per_point: list[str], inputs: Sequence[Any] | None) -> str:
    n, k = right.size, int(right.sum())
    text = f"right at {k} of {n} points, wrong at the others"
    xs = [_first_argument(p) for p in inputs] if inputs is not None and len(inputs) == n else None
    if xs is not None and all(x is not None for x in xs):
        if all(x.size == 1 for x in xs):
            where = _threshold_text(np.array([float(x[0]) for x in xs]), right)
            if where:
                text = where
        else:
            norms = np.array([float(np.linalg.norm(x)) for x in xs])
            if norms[~right].min() > norms[right].max():
                text = (f"right at {k} of {n} points; wrong where the first argument is largest "
                        f"(‖x‖ ≥ {format_number(norms[~right].min())})")
    wrong_causes = {per_point[i] for i in np.flatnonzero(~right)}
    if np.any(nonfinite[~right]):
        text += f"; there: {OVERFLOW_CAUSE}"
    elif len(wrong_causes) == 1 and "" not in wrong_causes:
        text += f"; there: {wrong_causes.pop()}"
    return text


# -- known wrong answers ------------------------------------------------------

def matches(actual: Any, expected_wrong: Any, *, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    """True when `actual` equals a known wrong answer (same structure, shapes and values).

    Used to recognise a specific mistake (the course's starter bug, a
    forgotten term) and tell the student exactly that. Lists and tuples are
    interchangeable; a size-1 array equals a scalar; atol is scaled by the
    largest magnitude of the wrong answer's leaf, as in `compare`.
    """
    return _matches(actual, expected_wrong, rtol, atol, depth=0)


def _matches(a: Any, e: Any, rtol: float, atol: float, depth: int) -> bool:
    if depth > 32:
        return False
    if isinstance(e, Mapping):
        return (isinstance(a, Mapping) and set(a) == set(e)
                and all(_matches(a[k], e[k], rtol, atol, depth + 1) for k in e))
    if isinstance(e, (list, tuple)) and isinstance(a, (list, tuple)):
        return len(a) == len(e) and all(_matches(x, y, rtol, atol, depth + 1) for x, y in zip(a, e))
    e_arr = numeric_array(e)
    if e_arr is None:
        # a flag or label: equal only to the same kind of value
        return (type(a) is type(e) and a == e) if isinstance(e, (str, bool)) or e is None else False
    a_arr = numeric_array(a)
    if a_arr is None:
        return False
    if a_arr.shape != e_arr.shape:
        if a_arr.size == 1 and e_arr.size == 1:
            a_arr, e_arr = a_arr.reshape(()), e_arr.reshape(())
        else:
            return False
    aw, ew = _work(a_arr), _work(e_arr)
    finite = np.isfinite(ew)
    same_nonfinite = (aw == ew) | (np.isnan(aw) & np.isnan(ew))
    if not np.all(same_nonfinite[~finite]):
        return False
    if not finite.any():
        return True
    scale = max(1.0, float(np.max(np.abs(ew[finite]))))
    with np.errstate(invalid="ignore"):
        ok = np.abs(aw[finite] - ew[finite]) <= atol * scale + rtol * np.abs(ew[finite])
    return bool(np.all(ok))
