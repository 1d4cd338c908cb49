"""`convergence`: where an iteration ends up.

(a) `metric` + `threshold`: the entry (usually a wrapper) trains and returns predictions on held-out
    inputs; the parent computes the metric against `expected` (the truth, never sent to the child).
(b) `limit` + `converges`: the entry's result must approach `limit` where `converges` says so and run
    away from it elsewhere; the message names the step size as a multiple of the largest step that
    converges (2/λmax for gradient descent on a quadratic).

The expected side runs here, in the trusted parent, with xp = numpy. The iterates step by step are
the `trajectory` kind (checks/iterates.py).
"""

from __future__ import annotations

import math
from typing import Any, Callable, ClassVar

import numpy as np

from adgrade.checks.base import Check
from adgrade.checks.calls import CallCheck, details_seconds
from adgrade.diagnose import format_number, numeric_array
from adgrade.feedback import show_args, show_value


#: name -> (function of (predictions, truth), lower is better, words)
METRICS: dict[str, tuple[Callable[[np.ndarray, np.ndarray], float], bool, str]] = {
    "mse": (lambda p, t: float(np.mean((p - t) ** 2)), True, "mean squared error"),
    "rmse": (lambda p, t: float(np.sqrt(np.mean((p - t) ** 2))), True, "root mean squared error"),
    "mae": (lambda p, t: float(np.mean(np.abs(p - t))), True, "mean absolute error"),
    "accuracy": (lambda p, t: float(np.mean(p == t)), False, "accuracy"),
}


class ConvergenceCheck(CallCheck):
    uses_judge = False
    kind = "convergence"
    options: ClassVar[tuple[str, ...]] = ("metric", "threshold", "limit", "converges", "diverge_factor",
                                          "step_arg", "bound_name", "expected_backend")
    #: a custom metric reads only the student's predictions and the frozen truth: kept in a student copy
    student_side: ClassVar[tuple[str, ...]] = ("wrapper", "test_functions", "metric")

    @classmethod
    def validate_spec(cls, spec, problem, assignment) -> None:
        super(CallCheck, cls).validate_spec(spec, problem, assignment)
        o = spec.options
        if not spec.entry and not spec.wrapper:
            raise Check.spec_error(spec, assignment, "entry", "a 'convergence' check needs `entry` or `wrapper`")
        trained = "metric" in o or "threshold" in o
        iterated = "limit" in o or "converges" in o
        if trained == iterated:
            raise Check.spec_error(spec, assignment, "metric" if trained else "limit",
                              "a 'convergence' check is either (a) trained and judged on held-out data "
                              "(`metric`, `threshold`, `expected`) or (b) an iteration judged against its limit "
                              "(`limit`, `converges`); give the fields of exactly one form")
        if trained:
            metric = o.get("metric")
            if metric is None:
                raise Check.spec_error(spec, assignment, "metric", f"this field is required ({', '.join(METRICS)}, or a "
                                                              f"functions.py (predictions, truth) -> number, lower is better)")
            if metric not in METRICS:
                Check.need_function(spec, assignment, "metric", metric)
            threshold = o.get("threshold")
            if not isinstance(threshold, (int, float)) or isinstance(threshold, bool):
                raise Check.spec_error(spec, assignment, "threshold", "expected a number (the metric's bound)")
            if not spec.expected:
                raise Check.spec_error(spec, assignment, "expected", "form (a) needs `expected`: functions.py (xp, *args) "
                                                                "-> the held-out truth (computed in the grader only)")
        else:
            if "limit" not in o:
                raise Check.spec_error(spec, assignment, "limit", "form (b) needs `limit`: functions.py (xp, *args) -> "
                                                             "the point the iteration must approach")
            Check.need_function(spec, assignment, "limit", o["limit"])
            if "converges" in o:
                Check.need_function(spec, assignment, "converges", o["converges"])
            factor = o.get("diverge_factor", 1e3)
            if not isinstance(factor, (int, float)) or isinstance(factor, bool) or factor <= 1:
                raise Check.spec_error(spec, assignment, "diverge_factor", "expected a number > 1")
            step = o.get("step_arg")
            if step is not None and (not isinstance(step, int) or isinstance(step, bool)):
                raise Check.spec_error(spec, assignment, "step_arg", "expected the index of the step-size argument")
            if "bound_name" in o and not isinstance(o["bound_name"], str):
                raise Check.spec_error(spec, assignment, "bound_name", "expected a string, e.g. \"2/λmax\"")

    # -- identity -------------------------------------------------------------------------
    @property
    def trained(self) -> bool:
        return "metric" in self.spec.options

    def name(self) -> str:
        if self.spec.name:
            return self.spec.name
        if self.trained:
            return (f"{self.subject}: held-out {self.spec.options['metric']} "
                    f"{'≤' if self._lower_better() else '≥'} {self.spec.options['threshold']:g}")
        n = len(self.inputs())
        return f"{self.subject} converges or diverges as it must ({n} case{'s' if n != 1 else ''})"

    def _lower_better(self) -> bool:
        metric = self.spec.options.get("metric")
        return METRICS[metric][1] if metric in METRICS else True

    # -- the expected side ------------------------------------------------------------------
    def _backend(self) -> str:
        return self.spec.options.get("expected_backend", "numpy")

    def expected_value(self, args: tuple) -> Any:
        if self.trained:
            return self._evaluate(self.spec.expected, args, self._backend())  # type: ignore[arg-type]
        o = self.spec.options
        limit = self._evaluate(o["limit"], args, self._backend())
        converges = True
        if o.get("converges"):
            converges = bool(self._evaluate(o["converges"], args, self._backend()))
        return {"limit": limit, "converges": converges, "step": self._step_text(args)}

    def _step_index(self, args: tuple) -> int | None:
        given = self.spec.options.get("step_arg")
        if given is not None:
            return given if -len(args) <= given < len(args) else None
        floats = [j for j, a in enumerate(args)
                  if (isinstance(a, float) or (isinstance(a, (np.floating, np.ndarray)) and np.ndim(a) == 0
                                               and np.asarray(a).dtype.kind == "f"))]
        return floats[0] if len(floats) == 1 else None

    def _step_text(self, args: tuple) -> str:
        """'step size 0.2346 = 1.05 × 2/λmax': the critical step found by bisecting `converges`."""
        idx = self._step_index(args)
        name = self.spec.options.get("converges")
        if idx is None:
            return ""
        alpha = float(args[idx])
        if not name or not math.isfinite(alpha) or alpha <= 0:
            return f"step size {format_number(alpha)}"
        fn = self.fn(name)

        def conv(a: float) -> bool:
            trial = list(args)
            trial[idx] = a
            return bool(fn(np, *trial))

        try:
            lo, hi = (alpha, 2 * alpha) if conv(alpha) else (alpha / 2, alpha)
            for _ in range(60):
                if conv(lo) and not conv(hi):
                    break
                if conv(hi):
                    lo, hi = hi, 2 * hi
                else:
                    lo, hi = lo / 2, lo
            else:
                return f"step size {format_number(alpha)}"
            for _ in range(60):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if conv(mid) else (lo, mid)
        except Exception:
            return f"step size {format_number(alpha)}"
        bound = (lo + hi) / 2
        ratio = alpha / bound
        return (f"step size {format_number(alpha)} = {ratio:.3g} × {self.spec.options.get('bound_name', '2/λmax')}")

    def prepare(self) -> None:
        if getattr(self, "_expected", None) is None:
            self._expected = [self.expected_value(tuple(args)) for args in self.inputs()]

    # -- judging ------------------------------------------------------------------------------
    def judge(self, answers: list):
        early = self.precheck(answers)
        if early is not None:
            return early
        if self.trained:
            return self._judge_trained(answers)
        return self._judge_iterated(answers)

    # (a) trained, judged on held-out data
    def _judge_trained(self, answers: list):
        o = self.spec.options
        metric_name = o["metric"]
        fn, lower, words = METRICS.get(metric_name) or (self._custom_metric(metric_name), True, metric_name)
        threshold = float(o["threshold"])
        values: list[float] = []
        for args, answer, truth in zip(self.inputs(), answers, self._expected):
            t = numeric_array(truth)
            assert t is not None, "the held-out truth must be numbers"
            t = t.astype(np.float64).reshape(-1)
            p = numeric_array(answer.value)
            what = "the predictions on the held-out inputs"
            if p is None:
                return self.result("failed", f"{what} are {show_value(answer.value)}, expected an array of "
                                             f"{t.size} numbers (one per held-out input).")
            if p.size != t.size:
                return self.result("failed", f"{what} have shape {tuple(p.shape)} ({p.size} numbers) for "
                                             f"{t.size} held-out inputs: expected one prediction per input. "
                                             f"Check the shape your model returns for a batch.")
            p = p.astype(np.float64).reshape(-1)
            if not np.all(np.isfinite(p)):
                bad = int(np.sum(~np.isfinite(p)))
                hint = self.when_hint("nonfinite") or ("training diverged: the loss grew until it overflowed "
                                                       "(a learning rate too large, or a gradient of the wrong sign)")
                return self.result("failed", f"{bad} of your {p.size} held-out predictions are NaN or inf.\n"
                                             f"Likely cause: {hint}", metric=None, threshold=threshold)
            value = fn(p, t)
            values.append(value)
            ok = value <= threshold if lower else value >= threshold
            if not ok:
                lines = [f"The held-out {words} ({metric_name}) of your trained model is {format_number(value)}; "
                         f"it must be {'at most' if lower else 'at least'} {format_number(threshold)}."]
                if metric_name in ("mse", "rmse", "mae"):
                    base = fn(np.full_like(t, t.mean()), t)
                    lines.append(f"(Predicting the mean of the targets everywhere gives {format_number(base)}.)")
                t_std, p_std = float(np.std(t)), float(np.std(p))
                if t_std > 0 and p_std < 0.1 * t_std:
                    hint = self.when_hint("constant") or (
                        "the model learned only the mean of the targets: the loss may compare arrays of different "
                        "shapes ((B, 1) against (B,) broadcasts to (B, B)), or training stopped before it learned")
                    lines.append(f"Your predictions hardly vary (std {format_number(p_std)}, the truth's "
                                 f"{format_number(t_std)}).\nLikely cause: {hint}")
                return self.result("failed", "\n".join(lines), metric=value, threshold=threshold)
        shown = ", ".join(format_number(v) for v in values)
        return self.result("passed", f"held-out {metric_name} {shown} ({'≤' if lower else '≥'} "
                                     f"{format_number(threshold)})", metric=values[0] if len(values) == 1 else values,
                           threshold=threshold, **details_seconds(answers))

    def _custom_metric(self, name: str) -> Callable[[np.ndarray, np.ndarray], float]:
        f = self.fn(name)
        return lambda p, t: float(f(p, t))

    # (b) an iteration that must converge below the bound and diverge above it
    def _judge_iterated(self, answers: list):
        rtol = self.spec.rtol if self.spec.rtol is not None else 1e-6
        factor = float(self.spec.options.get("diverge_factor", 1e3))
        right, wrong = [], []
        first: str | None = None
        for args, answer, exp in zip(self.inputs(), answers, self._expected):
            limit = numeric_array(exp["limit"])
            assert limit is not None, "`limit` must give numbers"
            limit = limit.astype(np.float64)
            step = exp["step"] or f"the inputs {show_args(tuple(args))}"
            a = numeric_array(answer.value)
            if a is None or (a.size != limit.size):
                got = show_value(answer.value) if a is None else f"shape {tuple(a.shape)}"
                return self.result("failed", f"{self.subject} returned {got} for {step}; expected "
                                             f"{'a number' if limit.ndim == 0 else f'an array of shape {tuple(limit.shape)}'}"
                                             f" (the last iterate).")
            a = a.astype(np.float64).reshape(limit.shape)
            scale = float(np.linalg.norm(limit)) or 1.0
            finite = bool(np.all(np.isfinite(a)))
            with np.errstate(over="ignore", invalid="ignore"):
                dist = float(np.linalg.norm(a - limit)) if finite else math.inf
            finite = finite and math.isfinite(dist)
            rel = dist / scale
            label = exp["step"].split(" = ")[-1] if exp["step"] else show_args(tuple(args))
            if exp["converges"]:
                ok = finite and rel <= rtol
                if not ok and first is None:
                    if not finite or rel > 1e6:
                        got = "NaN/inf" if not finite else f"{format_number(dist)} away from the limit"
                        first = (f"For {step} the iteration must converge, but your result is {got}: it "
                                 f"diverged. Check the update w ← w − α·∇f(w) (its sign, and the size of the "
                                 f"gradient).")
                    else:
                        first = (f"For {step} the iteration must converge to the limit, but your result is "
                                 f"{format_number(dist)} away from it (relative {format_number(rel)}, allowed "
                                 f"{format_number(rtol)}). Check the update w ← w − α·∇f(w) and that all "
                                 f"the iterations run.")
            else:
                ok = (not finite) or rel >= factor
                if not ok and first is None:
                    first = (f"For {step} the iteration must diverge (the step is too large to converge), but your "
                             f"result stays {format_number(rel)} × ‖limit‖ from the limit (at least "
                             f"{format_number(factor)} × expected). Does your code return the minimiser directly, "
                             f"stop early, or change the step size instead of iterating w ← w − α·∇f(w) k times?")
            (right if ok else wrong).append(label)
        if not wrong:
            return self.result("passed", **details_seconds(answers))
        lines = [first or ""]
        if right:
            lines.append(f"Right for: {'; '.join(right)}. Wrong for: {'; '.join(wrong)}.")
        return self.result("failed", "\n".join(lines))

    # -- adgrade validate -------------------------------------------------------------------------
    def validate(self) -> list[str]:
        label = f"{self.problem.id} / {self.name()}"
        try:
            self._expected = None
            self.prepare()
        except Exception as exc:
            return [f"{label}: the expected side raised {type(exc).__name__} on the check's inputs: {exc}"]
        problems: list[str] = []
        if self.trained:
            for args, truth in zip(self.inputs(), self._expected):
                t = numeric_array(truth)
                if t is None or not np.all(np.isfinite(t)):
                    problems.append(f"{label}: `{self.spec.expected}` must give finite numbers (the held-out truth)")
            if not problems and self.assignment.reference is not None and self._lower_better():
                problems += self._validate_margin(label)
        return problems

    def _validate_margin(self, label: str) -> list[str]:
        """The reference solution must meet the threshold with a margin (metric ≤ threshold / 2)."""
        from adgrade.engine import GradeOptions, grade_submission

        report = grade_submission(self.assignment.reference, self.assignment,
                                  GradeOptions(only=[self.problem.id], include_hidden=True))
        threshold = float(self.spec.options["threshold"])
        for p in report.problems:
            if p.id != self.problem.id or self.index >= len(p.checks):
                continue
            result = p.checks[self.index]
            metric = (result.details or {}).get("metric")
            if metric is None:
                return [f"{label}: the reference solution could not be judged: {result.message}"]
            values = metric if isinstance(metric, list) else [metric]
            worst = max(values)
            if worst > threshold / 2:
                return [f"{label}: the reference solution's held-out {self.spec.options['metric']} is "
                        f"{format_number(worst)}, not below threshold / 2 = {format_number(threshold / 2)}: "
                        f"raise the threshold or make the task easier, so a correct solution passes with a margin"]
        return []


__all__ = ["ConvergenceCheck", "METRICS"]
