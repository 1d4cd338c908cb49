"""`convergence_rate`: how fast the student's iterates approach a limit (linear, superlinear, quadratic).

The entry returns its iterates (`newton(f, x0, n)` -> [x_1, ..., x_n], a list or an array of rows);
the grader computes the errors e_k = ||x_k - x*|| against `limit(xp, *args)` and estimates

- the order q from log-ratios of successive errors, q_k = log(e_{k+1}/e_k) / log(e_k/e_{k-1}), over the
  last steps before the errors reach the rounding floor (errors at or below it say nothing about q:
  Newton's 1e-16 after 1e-8 is rounding, not order 2), and
- the rate r = e_{k+1}/e_k over the same steps (for linear convergence: the constant).

It classifies: quadratic (q >= 1.7), superlinear (q >= 1.2, or r -> 0), linear (r < 1), not converging;
the check passes when the class is at least `at_least`. The advice fits `method`: for Newton,
a linear rate means the step is not the full Newton step at the current point (a Hessian reused from
x0, a step size below 1, a Hessian off by a factor); for gradient descent, the step size against the
curvature. Pure functions (`estimate`, `classify`) are tested on synthetic error sequences.
Fields: docs/check-kinds/convergence_rate.md.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from adgrade.checks.calls import CallCheck
from adgrade.feedback import show_args

ORDERS = ("linear", "superlinear", "quadratic")
METHODS = ("newton", "gradient_descent", "other")
# estimates of q approach the order from below as the errors shrink (e_{k+1} = C e_k^2 with C != 1): 1.7 still
# leaves the secant method's 1.618 superlinear
QUADRATIC_Q, SUPERLINEAR_Q = 1.7, 1.2
#: errors at or below floor × max(1, ||x*||) are rounding, not convergence (float64: about 1e3 eps)
DEFAULT_FLOOR = 1e-12


def errors_of(iterates: list, limit: np.ndarray) -> np.ndarray:
    return np.array([float(np.linalg.norm(np.asarray(x, dtype=float) - limit)) for x in iterates])


def estimate(errors: np.ndarray, floor: float) -> dict[str, Any]:
    """Order q and rate r from the errors above the floor (None where too few steps to tell)."""
    e = np.asarray(errors, dtype=float)
    usable = []
    for value in e:
        if not math.isfinite(value) or value <= floor:
            break
        usable.append(value)
    usable_arr = np.array(usable)
    reached = bool(len(e) and math.isfinite(e[-1]) and e[-1] <= floor)
    rates = usable_arr[1:] / usable_arr[:-1] if len(usable_arr) >= 2 else np.array([])
    qs = []
    for k in range(1, len(usable_arr) - 1):
        a, b = usable_arr[k] / usable_arr[k - 1], usable_arr[k + 1] / usable_arr[k]
        if 0 < a < 1 and b > 0:
            qs.append(math.log(b) / math.log(a))
    tail_q = qs[-2:]  # the steps closest to the limit: the least pre-asymptotic
    return {
        "q": float(np.median(tail_q)) if tail_q else None,
        "rate": float(np.median(rates[-3:])) if len(rates) else None,
        "rates": [float(r) for r in rates],
        "steps_used": len(usable_arr),
        "reached_floor": reached,
        "final_error": float(e[-1]) if len(e) else math.nan,
    }


def classify(est: dict[str, Any]) -> str:
    """quadratic | superlinear | linear | diverging | stalled | unknown (too few steps above the floor)."""
    q, rate, rates = est["q"], est["rate"], est["rates"]
    if not math.isfinite(est["final_error"]):
        return "diverging"
    if q is not None and q >= QUADRATIC_Q:
        return "quadratic"
    if q is not None and q >= SUPERLINEAR_Q:
        return "superlinear"
    if len(rates) >= 3 and rates[-1] < 0.05 and rates[-1] < rates[-2] < rates[-3]:
        return "superlinear"  # the ratio itself goes to 0
    if q is None and est["reached_floor"]:
        return "unknown"  # at the floor within two steps: too fast to measure, and converged
    if rate is not None and rate < 0.999:
        return "linear"
    if rate is None:
        return "stalled"
    return "diverging" if rate > 1.001 else "stalled"


def advice(method: str, found: str, rate: float | None) -> str:
    if method == "newton":
        if found == "linear":
            damped = f" (a step size α gives r ≈ 1 − α: here α ≈ {1 - rate:.2g})" if rate is not None else ""
            return ("For Newton's method this means the step is not the full Newton step at the current point: "
                    "solve ∇²f(x_k) d = −∇f(x_k) with the Hessian at x_k, every iteration, and take x_{k+1} = x_k + d. "
                    "A Hessian computed once at x_0 and reused, a step size below 1" + damped + ", or a Hessian "
                    "off by a constant factor all converge only linearly.")
        if found in ("diverging", "stalled"):
            return ("For Newton's method: check the sign of the step (x − H⁻¹∇f, not x + H⁻¹∇f), that the Hessian "
                    "is of f at the current x, and that each iteration starts from the previous one.")
        if found == "superlinear":
            return ("Faster than linear but not quadratic: an approximate Hessian (finite differences, a quasi-Newton "
                    "update) does this; use the exact Hessian from autodiff.")
    if method == "gradient_descent":
        if found in ("diverging", "stalled"):
            return ("For gradient descent: a step size above 2/L (L the largest curvature) diverges; one far too "
                    "small barely moves. Check the step size and the sign of the update (x − α∇f).")
        if found == "linear":
            return "Gradient descent converges linearly; a smaller rate needs a better-conditioned problem or step."
    return ""


class ConvergenceRateCheck(CallCheck):
    kind = "convergence_rate"
    uses_judge = False
    options: ClassVar[tuple[str, ...]] = ("limit", "at_least", "method", "floor", "expected_backend")

    @classmethod
    def validate_spec(cls, spec, problem, assignment) -> None:
        super(CallCheck, cls).validate_spec(spec, problem, assignment)  # unknown fields
        def fail(fld: str, msg: str) -> Exception:
            return cls.spec_error(spec, assignment, fld, msg)

        o = spec.options
        if not spec.entry and not spec.wrapper:
            raise fail("entry", "a 'convergence_rate' check needs `entry` (returns the iterates) or `wrapper`")
        if spec.judge or spec.expected:
            raise fail("judge" if spec.judge else "expected", "a 'convergence_rate' check judges the errors against "
                                                            "`limit`; it takes no `judge` or `expected`")
        if not isinstance(o.get("limit"), str) or not callable(getattr(assignment.functions, o["limit"], None)):
            raise fail("limit", "a 'convergence_rate' check needs `limit`: a functions.py function (xp, *args) -> "
                                "the point the iterates must approach (with test functions, f comes first)")
        if o.get("at_least") not in ORDERS:
            raise fail("at_least", f"the order required: one of {', '.join(ORDERS)}; got {o.get('at_least')!r}")
        if o.get("method", "other") not in METHODS:
            raise fail("method", f"must be one of {', '.join(METHODS)}; got {o.get('method')!r}")
        floor = o.get("floor", DEFAULT_FLOOR)
        if isinstance(floor, bool) or not isinstance(floor, (int, float)) or not 0 < floor < 1:
            raise fail("floor", f"expected a number between 0 and 1, got {floor!r}")

    @property
    def order(self) -> str:
        return self.spec.options["at_least"]

    @property
    def method(self) -> str:
        return self.spec.options.get("method", "other")

    def name(self) -> str:
        if self.spec.name:
            return self.spec.name
        n = len(self.inputs())
        adverb = {"linear": "at least linearly", "superlinear": "at least superlinearly", "quadratic": "quadratically"}
        return f"{self.subject} converges {adverb[self.order]} ({n} run{'s' if n != 1 else ''})"

    def expected_value(self, args: tuple) -> Any:
        return self._evaluate(self.spec.options["limit"], args, self.spec.options.get("expected_backend", "numpy"))

    def _iterates(self, value: Any) -> list | None:
        if isinstance(value, (list, tuple)) and value:
            return list(value)
        if isinstance(value, np.ndarray) and value.ndim >= 1 and len(value):
            return list(value)
        return None

    def judge(self, answers: list):
        early = self.precheck(answers)
        if early is not None:
            return early
        floor_scale = float(self.spec.options.get("floor", DEFAULT_FLOOR))
        rank = {"quadratic": 3, "superlinear": 2, "linear": 1}
        lines, worst_found, details = [], None, []
        for args, answer, limit in zip(self.inputs(), answers, self._expected):
            iterates = self._iterates(answer.value)
            at = show_args(tuple(args))
            if iterates is None:
                return self.result("failed", f"{self.subject} must return its iterates (a list [x_1, ..., x_n], or "
                                             f"an array with one row per iterate), but at {at} it returned "
                                             f"{type(answer.value).__name__}.")
            limit = np.asarray(limit, dtype=float)
            try:
                errors = errors_of(iterates, limit)
            except (TypeError, ValueError) as exc:
                return self.result("failed", f"{self.subject}'s iterates at {at} are not points of the shape "
                                             f"{limit.shape}: {exc}")
            floor = floor_scale * max(1.0, float(np.linalg.norm(limit)))
            est = estimate(errors, floor)
            found = classify(est)
            details.append({"errors": [float(e) for e in errors], "q": est["q"], "rate": est["rate"], "class": found})
            ok = rank.get(found, 0) >= rank[self.order] or (found == "unknown" and est["reached_floor"])
            if not ok:
                worst_found = found
                lines.append(self._message(at, errors, est, found, floor))
                break
        if not lines:
            return self.result("passed", runs=details)
        hint = advice(self.method, worst_found or "", details[-1]["rate"])
        return self.result("failed", "\n".join(lines) + (f"\n{hint}" if hint else ""), runs=details)

    def _message(self, at: str, errors: np.ndarray, est: dict, found: str, floor: float) -> str:
        shown = ", ".join(f"{e:.1e}" for e in errors[:12]) + (", ..." if len(errors) > 12 else "")
        measured = []
        if est["q"] is not None and found in ("linear", "superlinear", "quadratic"):
            measured.append(f"order q ≈ {est['q']:.2f}")
        if est["rate"] is not None:
            measured.append(f"each error about {est['rate']:.2g} × the one before")
        what = {"linear": "converges only linearly", "superlinear": "converges superlinearly, not quadratically",
                "diverging": "does not converge (the errors grow)", "stalled": "does not converge (the errors stall)",
                "unknown": "could not be judged"}[found]
        need = f"{self.order} convergence is required"
        return (f"{self.subject} {what} at {at}: errors ‖x_k − x*‖ = {shown}"
                + (f" ({'; '.join(measured)}, from the {est['steps_used']} errors above the rounding floor "
                   f"{floor:.0e})" if measured else "") + f"; {need}.")
