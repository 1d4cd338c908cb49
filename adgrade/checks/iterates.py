"""`trajectory`: the iterates of an iteration, step by step.

The entry returns the list of iterates (one per step), or, with `steps`, is called once per iteration
count k and returns w_k; compared step by step with `expected`. A failure names the first step that
differs and, where it fits, why: off by s iterations, the first step scaled by a factor (sum instead
of mean: N), every item the same object, too many or too few iterates, divergence. Where an
iteration ends up is the `convergence` kind (checks/convergence.py).

The expected side runs here, in the trusted parent, with xp = numpy.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from adgrade.checks.base import Check, Request
from adgrade.checks.calls import CallCheck, details_seconds, dims_of
from adgrade.compare import Comparison, compare
from adgrade.diagnose import likely_cause, matches, numeric_array
from adgrade.feedback import explain_error, show_args, show_value
from adgrade.runner.protocol import Opaque


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
            raise Check.spec_error(spec, assignment, "judge", "a 'trajectory' check compares the iterates with "
                                                         "`expected` step by step and takes no `judge`; to judge "
                                                         "the whole list yourself use kind 'custom', and for how "
                                                         "fast it converges kind 'convergence_rate'")
        super(CallCheck, cls).validate_spec(spec, problem, assignment)  # unknown fields
        if not spec.entry and not spec.wrapper:
            raise Check.spec_error(spec, assignment, "entry", "a 'trajectory' check needs `entry` (the student's name) "
                                                         "or `wrapper`")
        if not spec.expected:
            raise Check.spec_error(spec, assignment, "expected", "a 'trajectory' check needs `expected`: functions.py "
                                                            "(xp, *args) -> the list of iterates (with `steps`: "
                                                            "(xp, *args, k) -> the iterate w_k)")
        steps = spec.options.get("steps")
        if steps is not None:
            if (not isinstance(steps, list) or not steps
                    or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 0 for k in steps)):
                raise Check.spec_error(spec, assignment, "steps", "expected a non-empty list of iteration counts "
                                                             "(integers >= 0), e.g. [0, 1, 2, 5, 10]")
            if len(set(steps)) != len(steps):
                raise Check.spec_error(spec, assignment, "steps", "iteration counts must not repeat")
        shift = spec.options.get("shift", 1)
        if not isinstance(shift, int) or isinstance(shift, bool) or shift < 0:
            raise Check.spec_error(spec, assignment, "shift", "expected an integer >= 0 (0 turns the detection off)")
        if "initial" in spec.options:
            Check.need_function(spec, assignment, "initial", spec.options["initial"])

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


__all__ = ["TrajectoryCheck"]
