"""Checks on iterations: the iterates step by step, and where an iteration ends up.

`trajectory`   the entry returns the list of iterates (one per step), or, with
               `steps`, is called once per iteration count k and returns w_k;
               compared step by step with `expected`. A failure names the first
               step that differs and, where it fits, why: off by s iterations,
               the first step scaled by a factor (sum instead of mean: N), every
               item the same object, too many or too few iterates, divergence.
`convergence`  (a) `metric` + `threshold`: the entry (usually a wrapper) trains
               and returns predictions on held-out inputs; the parent computes
               the metric against `expected` (the truth, never sent to the child).
               (b) `limit` + `converges`: the entry's result must approach `limit`
               where `converges` says so and run away from it elsewhere; the
               message names the step size as a multiple of the largest step that
               converges (2/λmax for gradient descent on a quadratic).

The expected side runs here, in the trusted parent, with xp = numpy.
"""

from __future__ import annotations

import math
from typing import Any, Callable, ClassVar

import numpy as np

from adgrade.checks.base import Request
from adgrade.checks.calls import CallCheck, details_seconds, dims_of
from adgrade.compare import Comparison, compare
from adgrade.diagnose import format_number, likely_cause, matches, numeric_array
from adgrade.feedback import explain_error, show_args, show_value
from adgrade.runner.protocol import Opaque


def _spec_error(assignment, spec, fld: str, msg: str):
    from adgrade.spec import SpecError

    return SpecError(f"{assignment.source}: {spec.where}.{fld}: {msg}")


def _need_function(assignment, spec, fld: str, name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise _spec_error(assignment, spec, fld, "expected the name of a function in functions.py")
    obj = getattr(assignment.functions, name, None)
    if obj is None:
        raise _spec_error(assignment, spec, fld, f"no function {name!r} in {assignment.functions_path.name}")
    if not callable(obj):
        raise _spec_error(assignment, spec, fld, f"{name!r} in {assignment.functions_path.name} is not a function")


def _nonfinite(value: Any) -> bool:
    arr = numeric_array(value)
    if arr is None:
        return False
    return bool(np.any(~np.isfinite(arr.astype(np.complex128 if arr.dtype.kind == "c" else np.float64))))


def _step_factor_cause(actual: Any, expected: Any, start: Any, dims: dict[str, int]) -> str:
    """The first step (iterate minus start) as a factor of the right one ("off by a factor of 4 = N ..."), or ""."""
    a, e, s = numeric_array(actual), numeric_array(expected), numeric_array(start)
    if a is None or e is None or s is None:
        return ""
    try:
        a = a.astype(np.float64).reshape(e.shape) if a.size == e.size else None
        da, de = (a - s, e - s) if a is not None else (None, None)
    except (ValueError, TypeError):
        return ""
    if da is None or not np.all(np.isfinite(da)) or not np.any(de):
        return ""
    cause = likely_cause(da, de, dims=dims)
    if cause.startswith("off by a factor") or cause.startswith("sign flipped"):
        return cause
    return ""


# =====================================================================================
# trajectory
# =====================================================================================

class TrajectoryCheck(CallCheck):
    kind = "trajectory"
    uses_judge = False
    options: ClassVar[tuple[str, ...]] = ("steps", "shift", "initial", "expected_backend")

    @classmethod
    def validate_spec(cls, spec, problem, assignment) -> None:
        if spec.judge:
            # a trajectory is compared iterate by iterate; a judge would be silently ignored
            raise _spec_error(assignment, spec, "judge", "a 'trajectory' check compares the iterates with "
                                                         "`expected` step by step and takes no `judge`; to judge "
                                                         "the whole list yourself use kind 'custom', and for how "
                                                         "fast it converges kind 'convergence_rate'")
        super(CallCheck, cls).validate_spec(spec, problem, assignment)  # unknown fields
        if not spec.entry and not spec.wrapper:
            raise _spec_error(assignment, spec, "entry", "a 'trajectory' check needs `entry` (the student's name) "
                                                         "or `wrapper`")
        if not spec.expected:
            raise _spec_error(assignment, spec, "expected", "a 'trajectory' check needs `expected`: functions.py "
                                                            "(xp, *args) -> the list of iterates (with `steps`: "
                                                            "(xp, *args, k) -> the iterate w_k)")
        steps = spec.options.get("steps")
        if steps is not None:
            if (not isinstance(steps, list) or not steps
                    or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 0 for k in steps)):
                raise _spec_error(assignment, spec, "steps", "expected a non-empty list of iteration counts "
                                                             "(integers >= 0), e.g. [0, 1, 2, 5, 10]")
            if len(set(steps)) != len(steps):
                raise _spec_error(assignment, spec, "steps", "iteration counts must not repeat")
        shift = spec.options.get("shift", 1)
        if not isinstance(shift, int) or isinstance(shift, bool) or shift < 0:
            raise _spec_error(assignment, spec, "shift", "expected an integer >= 0 (0 turns the detection off)")
        if "initial" in spec.options:
            _need_function(assignment, spec, "initial", spec.options["initial"])

    # -- identity -------------------------------------------------------------------------
    @property
    def steps(self) -> list[int] | None:
        return self.spec.options.get("steps")

    @property
    def shift(self) -> int:
        return int(self.spec.options.get("shift", 1))

    def name(self) -> str:
        if self.spec.name:
            return self.spec.name
        n = len(self.inputs())
        runs = f"{n} run{'s' if n != 1 else ''}"
        if self.steps:
            return f"{self.subject} gives the right iterate at k = {', '.join(map(str, self.steps))} ({runs})"
        return f"{self.subject} returns the right iterates, step by step ({runs})"

    # -- asking -------------------------------------------------------------------------------
    def calls(self) -> list[tuple[int, int | None, tuple]]:
        """(input index, k or None, the arguments of the call) for every request, in order."""
        out: list[tuple[int, int | None, tuple]] = []
        for i, args in enumerate(self.inputs()):
            if self.steps:
                out.extend((i, k, tuple(args) + (k,)) for k in self.steps)
            else:
                out.append((i, None, tuple(args)))
        return out

    def requests(self) -> list[Request]:
        base = {"backend": list(self.spec.backend_choices) or self.backend_name, "entry": self.spec.entry,
                "wrapper": self.wrapper_payload()}
        return [Request(f"{self.key}/{i}" + (f"/k{k}" if k is not None else ""), "call",
                        {**base, **self.call_params(tuple(call_args))}, self.time_limit)
                for i, k, call_args in self.calls()]

    # -- the expected side ------------------------------------------------------------------
    def _backend(self) -> str:
        return self.spec.options.get("expected_backend", "numpy")

    def expected_value(self, args: tuple) -> Any:
        """`expected` on the arguments as given (with `steps`: the arguments end with k)."""
        return self._evaluate(self.spec.expected, args, self._backend())  # type: ignore[arg-type]

    def _needed_ks(self) -> list[int]:
        ks = set(self.steps or ())
        ks.add(0)
        for k in list(ks):
            for s in range(1, self.shift + 1):
                ks.update((k + s, max(k - s, 0)))
        return sorted(ks)

    def prepare(self) -> None:
        if getattr(self, "_expected", None) is not None:
            return
        expected: list[Any] = []
        for args in self.inputs():
            if self.steps:
                expected.append({k: self.expected_value(tuple(args) + (k,)) for k in self._needed_ks()})
            else:
                expected.append(self.expected_value(tuple(args)))
        self._expected = expected

    def rehearse(self) -> None:
        """The student copy: expected iterates, starts and known mistakes at every input (and k)."""
        self.prepare()
        for args in self.inputs():
            if self.spec.options.get("initial"):
                self.start_of(tuple(args), None)
            for mistake in self.spec.mistakes:
                calls = [tuple(args) + (k,) for k in self.steps] if self.steps else [tuple(args)]
                for call_args in calls:
                    try:
                        self._evaluate(mistake.function, call_args, "numpy")
                    except Exception:
                        break  # one that does not apply to these arguments: never matched

    def start_of(self, args: tuple, first: Any) -> Any:
        """The point the iteration starts from: `initial(xp, *args)`, else 0 (list mode)."""
        name = self.spec.options.get("initial")
        if name:
            return self._evaluate(name, tuple(args), self._backend())
        arr = numeric_array(first)
        return np.zeros_like(arr, dtype=np.float64) if arr is not None else 0.0

    # -- judging ------------------------------------------------------------------------------
    def judge(self, answers: list):
        self.prepare()
        calls = self.calls()
        problem = self._process_failure(calls, answers)
        if problem is not None:
            return problem
        forbidden = self.forbidden_calls(answers)
        if forbidden:
            return self.result("failed", forbidden)
        inputs = self.inputs()
        by_input: dict[int, dict[int | None, Any]] = {}
        for (i, k, _), answer in zip(calls, answers):
            by_input.setdefault(i, {})[k] = answer.value
        # (input index, args, what went wrong, the check's likely cause, compare's likely cause inside `what`)
        failures: list[tuple[int, tuple, str, str, str]] = []
        for i, args in enumerate(inputs):
            dims = dims_of(tuple(args))
            if self.steps:
                found = self._judge_steps(tuple(args), by_input[i], self._expected[i], dims)
            else:
                found = self._judge_list(tuple(args), by_input[i][None], self._expected[i], dims)
            if found is not None:
                failures.append((i, tuple(args), *found))
        if not failures:
            return self.result("passed", **details_seconds(answers))
        return self.result("failed", self._message(failures, by_input, len(inputs)),
                           failed_runs=[f[0] for f in failures])

    def _process_failure(self, calls, answers):
        for (_, _, call_args), answer in zip(calls, answers):
            if answer.status == "ok":
                continue
            if answer.status == "missing":
                return self.missing_entry(answer)
            if answer.status == "timeout":
                return self.result("timeout", f"{self.subject} on {show_args(call_args)}: {answer.message}")
            if answer.status == "error":
                return self.result("error", f"{self.subject} raised an error on {show_args(call_args)}: "
                                   + explain_error(answer.error) + self.error_hint(answer.error))
            return self.result("error", f"{self.subject} on {show_args(call_args)}: {answer.message}")
        return None

    def _compare(self, actual: Any, expected: Any, dims: dict[str, int], name: str) -> Comparison:
        return compare(actual, expected, rtol=self.spec.rtol, atol=self.spec.atol,
                       require_float64=self.spec.dtype == "float64", dims=dims, name=name)

    # -- list mode ----------------------------------------------------------------------------------
    @staticmethod
    def _items(actual: Any) -> list | None:
        if isinstance(actual, (list, tuple)):
            return list(actual)
        if isinstance(actual, np.ndarray) and actual.ndim >= 1:
            return list(actual)
        return None

    def _judge_list(self, args: tuple, actual: Any, expected: Any, dims: dict[str, int]) -> tuple[str, str, str] | None:
        exp = list(expected)
        m = len(exp)
        items = self._items(actual)
        if items is None:
            if isinstance(actual, Opaque) or actual is None or isinstance(actual, (str, dict)):
                cmp = self._compare(actual, exp, dims, f"{self.subject}'s result")
                return cmp.message, "", ""
            text = (f"{self.subject} returned {show_value(actual)}, expected a list of {m} iterates "
                    f"(the value after each step).")
            if m and matches(actual, exp[-1]):
                text += " That is the final iterate: return the list of all of them, one per step."
            return text, "", ""
        n = len(items)
        if n != m:
            return self._length_message(items, exp, dims)
        first_bad, cmp = None, None
        for j, (a, e) in enumerate(zip(items, exp)):
            c = self._compare(a, e, dims, f"the iterate after step {j + 1}")
            if not c.ok:
                first_bad, cmp = j, c
                break
        if first_bad is None:
            return None
        assert cmp is not None
        before = (f"steps 1 to {first_bad} match" if first_bad > 1 else "step 1 matches") if first_bad else ""
        what = (f"the first step that differs is step {first_bad + 1} (item [{first_bad}] of your list"
                + (f"; {before}" if before else "") + "): ")
        if cmp.kind in ("structure", "type", "opaque", "shape", "dtype"):
            return what + cmp.message, "", ""
        return what + cmp.message, self._list_cause(items, exp, first_bad, args, dims), cmp.cause

    def _list_cause(self, items: list, exp: list, first_bad: int, args: tuple, dims: dict[str, int]) -> str:
        m = len(exp)
        bad = [j for j, a in enumerate(items) if _nonfinite(a) and not _nonfinite(exp[j])]
        if bad:
            return (f"your iterates diverge: the iterate after step {bad[0] + 1} is "
                    f"{show_value(items[bad[0]])} while the right one stays finite. The step is too large for "
                    f"your update: a gradient too large (a missing 1/N, a sum where a mean was meant), the "
                    f"wrong sign (w + lr·g climbs), or a wrong step size")
        if m > 1 and all(matches(a, items[0]) for a in items[1:]) and not all(matches(e, exp[0]) for e in exp[1:]):
            if matches(items[0], exp[-1]):
                return ("every item of your list is the final iterate: you appended the same object each step "
                        "and the in-place update changed it afterwards. Append a copy of the current value "
                        "(float(w), w.item(), w.copy() or w.detach().clone())")
            return "every item of your list is the same value: the iterate is never updated (or not the one you append)"
        for s in self._shifts():
            overlap = [j for j in range(m) if 0 <= j + s < m]
            if len(overlap) >= 2 and all(matches(items[j], exp[j + s]) for j in overlap):
                return self._shift_text(s, list_mode=True)
        if first_bad == 0:
            start = self.start_of(args, exp[0])
            factor = _step_factor_cause(items[0], exp[0], start, dims)
            if factor:
                origin = ("the start" if self.spec.options.get("initial")
                          else f"the start w₀ = {show_value(start)}")
                return (f"the first step (the first iterate minus {origin}) is {factor}: the update "
                        f"(step size × gradient) is scaled wrongly, so the gradient itself is likely off by "
                        f"this factor")
        return ""

    def _length_message(self, items: list, exp: list, dims: dict[str, int]) -> tuple[str, str, str]:
        n, m = len(items), len(exp)
        text = (f"{self.subject} returned {n} iterate{'s' if n != 1 else ''}, expected {m} "
                f"(one after each step).")

        def same(offset: int) -> bool:
            # items[j] == exp[j + offset] wherever both exist, and one list contains the other
            pairs = [(j, j + offset) for j in range(n) if 0 <= j + offset < m]
            return len(pairs) == min(n, m) and all(matches(items[a], exp[b]) for a, b in pairs)

        cause = ""
        if n == m + 1 and same(-1):
            cause = ("your list starts with the starting value, before the first step: return only the "
                     "iterates after each step (append after the update, not before it)")
        elif n > m and same(0):
            cause = (f"the first {m} items are right: your loop runs {n - m} step{'s' if n - m != 1 else ''} "
                     f"too many (use the number of iterations you are given)")
        elif n < m and same(0):
            cause = (f"your {n} items are the first {n} iterates: the loop stops {m - n} step"
                     f"{'s' if m - n != 1 else ''} early (use the number of iterations you are given, "
                     f"e.g. n_iters, not a fixed number)")
        elif n < m and same(m - n):
            cause = f"your items are the last {n} iterates: record the value after every step, from the first one"
        if cause:
            return text, cause, ""
        for j, (a, e) in enumerate(zip(items, exp)):
            c = self._compare(a, e, dims, f"the iterate after step {j + 1}")
            if not c.ok:
                return text + f" Also, the first step that differs is step {j + 1}: {c.message}", "", ""
        return text, "", ""

    # -- steps mode -------------------------------------------------------------------------------
    def _judge_steps(self, args: tuple, answers: dict, expected: dict, dims: dict[str, int]) -> tuple[str, str, str] | None:
        steps = list(self.steps or ())
        bad: list[tuple[int, Comparison]] = []
        for k in steps:
            c = self._compare(answers[k], expected[k], dims, f"your w_{k}")
            if not c.ok:
                bad.append((k, c))
        if not bad:
            return None
        k0, cmp = bad[0]
        right = [k for k in steps if k not in {b for b, _ in bad}]
        what = f"at k = {k0}: {cmp.message}"
        if right:
            what += f" (right at k = {', '.join(map(str, right))}; wrong at k = {', '.join(str(b) for b, _ in bad)})"
        else:
            what += f" (wrong at every k tested: {', '.join(map(str, steps))})"
        if cmp.kind in ("structure", "type", "opaque", "shape", "dtype"):
            return what, "", ""
        return what, self._steps_cause(answers, expected, k0, dims), cmp.cause

    def _steps_cause(self, answers: dict, expected: dict, k0: int, dims: dict[str, int]) -> str:
        steps = list(self.steps or ())
        diverged = [k for k in steps if _nonfinite(answers[k]) and not _nonfinite(expected[k])]
        if diverged:
            return (f"your iterates diverge: w_{diverged[0]} is {show_value(answers[diverged[0]])} while the "
                    f"right one is finite. Check the sign of the update (w − α·g, not w + α·g) and the "
                    f"size of the gradient g")
        if (len(steps) > 1 and all(matches(answers[k], answers[steps[0]]) for k in steps[1:])
                and not all(matches(expected[k], expected[steps[0]]) for k in steps[1:])):
            return ("your result is the same for every k: it does not iterate k times (does it ignore k, or "
                    "return the minimiser directly?)")
        for s in self._shifts():
            ks = [max(k + s, 0) for k in steps]
            if any(kk not in expected for kk in ks):
                continue
            nontrivial = any(not matches(expected[kk], expected[k]) for k, kk in zip(steps, ks))
            if nontrivial and all(matches(answers[k], expected[kk]) for k, kk in zip(steps, ks)):
                return self._shift_text(s, list_mode=False)
        if 1 in answers and k0 <= 1 and 0 in expected:
            factor = _step_factor_cause(answers[1], expected[1], expected[0], dims)
            if factor:
                return (f"the first step (w_1 − w_0) is {factor}: the update (step size × gradient) is "
                        f"scaled wrongly, so the gradient itself is likely off by this factor")
        return ""

    # -- shared ------------------------------------------------------------------------------------
    def _shifts(self) -> list[int]:
        out = []
        for s in range(1, self.shift + 1):
            out += [s, -s]
        return out

    @staticmethod
    def _shift_text(s: int, list_mode: bool) -> str:
        n = abs(s)
        its = f"{n} iteration{'s' if n != 1 else ''}"
        if list_mode:
            if s > 0:
                return (f"off by {its}: your list runs {its} ahead, item [j] is the right iterate after step "
                        f"j + {1 + n} instead of j + 1 ({its} before the first value is recorded?)")
            step = "j" if n == 1 else f"j + 1 − {n}"
            return (f"off by {its}: your list runs {its} behind, item [j] is the right iterate after step "
                    f"{step} instead of j + 1: you record the value before the update instead of after it")
        if s > 0:
            return (f"off by {its}: your w_k is the right w_(k+{n}) at every k tested: the loop runs {its} too "
                    f"many (range(k + {n}) instead of range(k)?)")
        return (f"off by {its}: your w_k is the right w_(k−{n}) at every k tested: the loop runs {its} too "
                f"few (range(k − {n}) instead of range(k), or the first step skipped?)")

    def _message(self, failures, by_input: dict, n_inputs: int) -> str:
        i, args, what, cause, cmp_cause = failures[0]
        k = len(failures)
        head = f"{self.subject} gives wrong iterates"
        if n_inputs > 1:
            head += f" in {k} of {n_inputs} runs" if k < n_inputs else " in every run"
        call = show_args(args)
        lines = [f"{head}.", f"On {call}: {what}"]
        mistake = self._known_mistake(failures, by_input)
        if (mistake or cause) and cmp_cause:  # one likely cause, the more specific one
            lines[-1] = lines[-1].replace(f" Likely cause: {cmp_cause}.", "")
        if mistake:
            lines.append(f"Likely cause: {mistake}")
        elif cause:
            lines.append(f"Likely cause: {cause}.")
        return "\n".join(lines)

    def _known_mistake(self, failures, by_input: dict) -> str:
        for mistake in self.spec.mistakes:
            try:
                ok = True
                for i, args, *_ in failures:
                    if self.steps:
                        ok = all(matches(by_input[i][k], self._evaluate(mistake.function, args + (k,), "numpy"))
                                 for k in self.steps)
                    else:
                        wrong = self._evaluate(mistake.function, args, "numpy")
                        actual = by_input[i][None]
                        ok = matches(self._items(actual) if self._items(actual) is not None else actual,
                                     list(wrong) if isinstance(wrong, (list, tuple)) else wrong)
                    if not ok:
                        break
                if ok:
                    return mistake.message
            except Exception:
                continue  # a mistake function that does not apply to these arguments
        return ""

    # -- adgrade validate -------------------------------------------------------------------------
    def validate(self) -> list[str]:
        label = f"{self.problem.id} / {self.name()}"
        try:
            self.prepare()
        except Exception as exc:
            return [f"{label}: `{self.spec.expected}` raised {type(exc).__name__} on the check's inputs: {exc}"]
        problems: list[str] = []
        for args, exp in zip(self.inputs(), self._expected):
            values = list(exp.values()) if isinstance(exp, dict) else [exp]
            if any(_nonfinite(v) for v in values):
                problems.append(f"{label}: `{self.spec.expected}` gives NaN/inf at {show_args(tuple(args))}")
                break
        for example in self.spec.examples:
            # integers stay integers: they are counts (n_iters, k), and range() needs an int
            args = tuple(a if isinstance(a, int) else np.float64(a) if isinstance(a, float)
                         else np.asarray(a, dtype=float) for a in example["args"])
            try:
                got = self.expected_value(args)
            except Exception as exc:
                problems.append(f"{label}: `{self.spec.expected}` raised {type(exc).__name__} on example "
                                f"{example['args']}: {exc}")
                continue
            want = example["value"]
            cmp = compare(got, np.asarray(want, dtype=float) if isinstance(want, list) else float(want),
                          rtol=1e-7, atol=1e-8, name="expected value")
            if not cmp.ok:
                problems.append(f"{label}: example {example['args']} should give {want}: {cmp.message}")
        return problems


# =====================================================================================
# convergence
# =====================================================================================

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
            raise _spec_error(assignment, spec, "entry", "a 'convergence' check needs `entry` or `wrapper`")
        trained = "metric" in o or "threshold" in o
        iterated = "limit" in o or "converges" in o
        if trained == iterated:
            raise _spec_error(assignment, spec, "metric" if trained else "limit",
                              "a 'convergence' check is either (a) trained and judged on held-out data "
                              "(`metric`, `threshold`, `expected`) or (b) an iteration judged against its limit "
                              "(`limit`, `converges`); give the fields of exactly one form")
        if trained:
            metric = o.get("metric")
            if metric is None:
                raise _spec_error(assignment, spec, "metric", f"this field is required ({', '.join(METRICS)}, or a "
                                                              f"functions.py (predictions, truth) -> number, lower is better)")
            if metric not in METRICS:
                _need_function(assignment, spec, "metric", metric)
            threshold = o.get("threshold")
            if not isinstance(threshold, (int, float)) or isinstance(threshold, bool):
                raise _spec_error(assignment, spec, "threshold", "expected a number (the metric's bound)")
            if not spec.expected:
                raise _spec_error(assignment, spec, "expected", "form (a) needs `expected`: functions.py (xp, *args) "
                                                                "-> the held-out truth (computed in the grader only)")
        else:
            if "limit" not in o:
                raise _spec_error(assignment, spec, "limit", "form (b) needs `limit`: functions.py (xp, *args) -> "
                                                             "the point the iteration must approach")
            _need_function(assignment, spec, "limit", o["limit"])
            if "converges" in o:
                _need_function(assignment, spec, "converges", o["converges"])
            factor = o.get("diverge_factor", 1e3)
            if not isinstance(factor, (int, float)) or isinstance(factor, bool) or factor <= 1:
                raise _spec_error(assignment, spec, "diverge_factor", "expected a number > 1")
            step = o.get("step_arg")
            if step is not None and (not isinstance(step, int) or isinstance(step, bool)):
                raise _spec_error(assignment, spec, "step_arg", "expected the index of the step-size argument")
            if "bound_name" in o and not isinstance(o["bound_name"], str):
                raise _spec_error(assignment, spec, "bound_name", "expected a string, e.g. \"2/λmax\"")

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


__all__ = ["TrajectoryCheck", "ConvergenceCheck", "METRICS"]
