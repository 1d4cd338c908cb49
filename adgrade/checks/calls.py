"""Checks that call the student's entry on inputs and compare with an expected value.

`value`       entry(*args) against `expected(xp, *args)`
`gradient`    entry(*args) against the gradient of `function` (or `analytic`)
`jacobian`    entry(*args) against the Jacobian of `function` (or `analytic`)
`hessian`     entry(*args) against the Hessian of `function` (or `analytic`)
`derivative`  entry(x) against the `order`-th derivative of `function` (or `analytic`)
`autodiff`    the backend's `transform` of the student's entry against the same transform of `function`

The expected side runs here, in the trusted parent: analytic solutions with
xp = numpy, autodiff of `function` with the problem's backend.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from adgrade.backends import get_backend
from adgrade.checks.base import Check, Request
from adgrade.compare import Comparison, compare
from adgrade.conventions import RAN, RIGHT, SHAPES_RIGHT, Detection, apply_to_args, apply_to_paths, detect
from adgrade.diagnose import likely_cause_across_points, matches
from adgrade.feedback import explain_error, show_args
from adgrade.results import CheckResult
from adgrade.runner import protocol

#: what the expected side of each kind is: the transform applied to `function`
EXPECTED_TRANSFORM = {"gradient": "grad", "jacobian": "jacrev", "hessian": "hessian", "derivative": "derivative"}
#: kinds whose answer is a number computed by the student's code, where the precision it ran in matters
PATH_KINDS = ("value", "gradient", "jacobian", "hessian", "derivative", "autodiff")
#: the child's probe that reports the float dtypes the student's computation ran in (plain strings)
PATH_PROBE = "adgrade.precision:probe_path_dtypes"
KIND_WORDS = {"gradient": "the gradient", "jacobian": "the Jacobian", "hessian": "the Hessian",
              "derivative": "the derivative", "value": "the expected value", "autodiff": "the reference"}


def to_numpy_tree(backend: Any, value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        out = [to_numpy_tree(backend, v) for v in value]
        return tuple(out) if isinstance(value, tuple) else out
    if isinstance(value, dict):
        return {k: to_numpy_tree(backend, v) for k, v in value.items()}
    if backend.is_array(value):
        return backend.to_numpy(value)
    return value


class CallCheck(Check):
    options: ClassVar[tuple[str, ...]] = ("expected_backend", "static")
    checks_calls = True
    uses_judge = True  # compare_one; kinds that judge otherwise set it back to False

    @classmethod
    def validate_spec(cls, spec, problem, assignment) -> None:
        super().validate_spec(spec, problem, assignment)
        def fail(fld: str, msg: str) -> Exception:
            return cls.spec_error(spec, assignment, fld, msg)

        if not spec.entry and not spec.wrapper:
            raise fail("entry", f"a {spec.kind!r} check needs `entry` (the student's name) or `wrapper`")
        index = next(i for i, c in enumerate(problem.checks) if c is spec)
        if f"{problem.id}/{index}" in assignment.frozen:
            pass  # a student copy: the expected side is stored, not computed
        elif spec.kind == "custom":
            if not spec.judge:
                raise fail("judge", "a 'custom' check needs `judge`: functions.py (answer, expected, args) -> "
                                    "None when right, else the message for the student")
        elif spec.kind == "value":
            if not spec.expected and not spec.judge:
                raise fail("expected", "a value check needs `expected` (or a `judge`)")
        elif not spec.function and not spec.analytic and not spec.judge and not spec.test_functions:
            raise fail("function", f"a {spec.kind!r} check needs `function` (to differentiate) or `analytic`")
        if spec.kind == "autodiff" and not spec.transform:
            raise fail("transform", "an autodiff check needs `transform` (grad, jacfwd, jacrev, hessian, derivative)")
        if spec.kind == "derivative" and spec.order < 1:
            raise fail("order", "must be at least 1")

    # -- identity ---------------------------------------------------------------------
    @property
    def subject(self) -> str:
        if self.spec.entry:
            return f"`{self.spec.entry}`"
        return super().subject

    @property
    def answer_label(self) -> str:
        """What the compared value is: the entry's result, or its derivative taken by the grader."""
        if self.kind == "autodiff":
            words = {"grad": "the gradient", "jacfwd": "the Jacobian (forward mode)", "jacrev": "the Jacobian",
                     "hessian": "the Hessian", "derivative": f"derivative {self.spec.order}"}
            return f"{words.get(self.spec.transform or '', self.spec.transform)} of {self.subject} " \
                   f"(taken by {self.backend_name})"
        return self.subject

    def name(self) -> str:
        if self.spec.name:
            return self.spec.name
        n = len(self.inputs())
        points = f" at {n} point{'s' if n != 1 else ''}"
        if self.kind == "autodiff":
            return f"{self.spec.transform} of {self.subject} matches{points}"
        return f"{self.subject} matches {KIND_WORDS.get(self.kind, 'the reference')}{points}"

    # -- conventions the task left open (conventions.py) ------------------------------------
    @property
    def layout(self):
        """The problem's layout this check is graded in (W as (C, n) or (n, C)), or None."""
        name = self.spec.conventions.layout
        return next((lay for lay in self.problem.layouts if lay.name == name), None) if name else None

    @property
    def n_choices(self) -> int:
        layout = self.layout
        return len(layout.choices) if layout is not None else 1

    def choice_inputs(self, choice: int) -> list[tuple]:
        """The inputs with the layout's arguments in `choice`'s layout (choice 0: the task's own)."""
        if choice == 0:
            return self.inputs()
        transform = self.layout.choices[choice].transform
        return [self._in_layout(args, transform) for args in self.inputs()]

    def _in_layout(self, args: tuple, transform: str) -> tuple:
        """`args` with the layout's arguments moved by `transform` (positions as the input generator gives
        them: a test function handed first (`test_functions`) does not count)."""
        from adgrade.sent_code import TestFunctionRef

        offset = 1 if args and isinstance(args[0], TestFunctionRef) else 0
        return apply_to_args(tuple(args), tuple(i + offset for i in self.spec.conventions.args), transform)

    def choice_expected(self, choice: int) -> list:
        self.prepare()
        if choice == 0:
            return self._expected
        transform = self.layout.choices[choice].transform
        return [apply_to_paths(e, self.spec.conventions.answer, transform) for e in self._expected]

    def wants_path_precision(self) -> bool:
        """Ask the student's process what precision the computation ran in: only where it can change the
        verdict (float64 not required, no tolerance fixed by the problem set, a framework that can tell)."""
        return (self.kind in PATH_KINDS and self.spec.dtype != "float64" and not self.spec.judge
                and not (self.spec.rtol is not None and self.spec.atol is not None)
                and self.backend_name in ("jax", "torch"))

    @staticmethod
    def _suffix(choice: int) -> str:
        return "" if choice == 0 else f"~{choice}"

    # -- asking ---------------------------------------------------------------------------
    def requests(self) -> list[Request]:
        base: dict[str, Any] = {
            "backend": list(self.spec.backend_choices) or self.backend_name,
            "entry": self.spec.entry,
            "wrapper": self.wrapper_payload(),
        }
        if self.kind == "autodiff":
            base.update(transform=self.spec.transform, order=self.spec.order,
                        argnums=list(self.spec.argnums) if isinstance(self.spec.argnums, tuple) else self.spec.argnums)
        out = []
        for choice in range(self.n_choices):
            suffix = self._suffix(choice)
            inputs = self.choice_inputs(choice)
            out += [Request(f"{self.key}/{i}{suffix}", "call", {**base, **self.call_params(args)}, self.time_limit)
                    for i, args in enumerate(inputs)]
            if inputs and self.wants_path_precision():
                out.append(Request(f"{self.key}/path{suffix}", PATH_PROBE, {**base, **self.call_params(inputs[0])},
                                   self.time_limit))
        return out

    # -- the expected side ------------------------------------------------------------------
    def expected_transform(self) -> str | None:
        if self.kind == "autodiff":
            return self.spec.transform
        return EXPECTED_TRANSFORM.get(self.kind)

    def expected_backend(self) -> str:
        name = self.spec.options.get("expected_backend")
        if name:
            return name
        backend = get_backend(self.backend_name)
        return self.backend_name if backend.differentiable else "autograd"

    def expected_value(self, args: tuple) -> Any:
        if self.kind in ("value", "custom"):
            if not self.spec.expected:
                return None
            return self._evaluate(self.spec.expected, args, self.spec.options.get("expected_backend", "numpy"))
        if self.spec.analytic:
            return self._evaluate(self.spec.analytic, args, self.spec.options.get("expected_backend", "numpy"))
        if self.spec.function or self.spec.test_functions:
            return self.autodiff_expected(args, self.expected_backend())
        return None

    def _evaluate(self, name: str, args: tuple, backend_name: str) -> Any:
        backend = get_backend(backend_name)
        out = self.fn(name)(backend.xp, *self.with_functions(backend.convert_inputs(args), backend))
        return to_numpy_tree(backend, out)

    def autodiff_expected(self, args: tuple, backend_name: str) -> Any:
        """The derivative of `function` by a backend's autodiff (trusted: never the student's process)."""
        backend = get_backend(backend_name)
        from adgrade.sent_code import TestFunctionRef

        if args and isinstance(args[0], TestFunctionRef) and not self.spec.function:
            # entry(f, x) against the derivative of the test function f itself (e.g. hessian_manual(f, x))
            function, args = self.fn(args[0].name), tuple(args[1:])
        else:
            function = self.fn(self.spec.function)  # type: ignore[arg-type]
        f = lambda *a: function(backend.xp, *a)  # noqa: E731
        transform = self.expected_transform()
        tf = backend.transform(transform, f, self.spec.argnums, self.spec.order)  # type: ignore[arg-type]
        return to_numpy_tree(backend, tf(*backend.convert_inputs(args)))

    def prepare(self) -> None:
        """Compute every expected value now (the engine overlaps this with the student's run)."""
        if getattr(self, "_expected", None) is None:
            if self.frozen and "expected" in self.frozen:
                self._expected = [protocol.decode(e) for e in self.frozen["expected"]]
            else:
                self._expected = [self.expected_value(args) for args in self.inputs()]

    # -- the student copy -----------------------------------------------------------------------
    def rehearse(self) -> None:
        self.prepare()
        # known mistakes are frozen at the same inputs, called as known_mistake calls them: in every
        # layout the task leaves open, with test functions as the grader's functions
        transforms = ["none"] + ([c.transform for c in self.layout.choices[1:]] if self.layout is not None else [])
        numpy = get_backend("numpy")
        for mistake in self.spec.mistakes:
            for transform in transforms:
                for args in self.inputs():
                    try:
                        self.fn(mistake.function)(np, *self.with_functions(self._in_layout(args, transform), numpy))
                    except Exception:
                        continue  # one that does not apply to these arguments: never matched

    def frozen_values(self) -> dict[str, Any]:
        # the expected side may be autodiff of `function` (not a call that can be looked up): stored as
        # values, for the kinds whose prepare() reads them (the others find their calls in the tables)
        self.prepare()
        return {"expected": [protocol.encode(e) for e in self._expected]}

    # -- judging ------------------------------------------------------------------------------
    def precheck(self, answers: list, inputs: list | None = None) -> CheckResult | None:
        """A verdict before any comparison: the process failed, or the calls broke the question's rules."""
        self.prepare()
        problem = self.process_failure(answers, inputs)
        if problem is not None:
            return problem
        forbidden = self.forbidden_calls(answers)
        return self.result("failed", forbidden) if forbidden else None

    def judge(self, answers: list) -> CheckResult:
        self.prepare()
        by_id = {r.id: a for r, a in zip(self.requests(), answers)}
        n = len(self.inputs())
        groups = []
        for choice in range(self.n_choices):
            suffix = self._suffix(choice)
            calls = [by_id.get(f"{self.key}/{i}{suffix}") for i in range(n)]
            if any(a is None for a in calls):  # answers given by position only (older callers): the first n
                calls = list(answers[:n]) if choice == 0 else calls
            if any(a is None for a in calls) or len(calls) < n:
                from adgrade.runner.parent import Answer

                got = calls + [None] * (n - len(calls))
                calls = [a if a is not None else Answer(f"{self.key}/{i}{suffix}", "not_run", message="not run")
                         for i, a in enumerate(got)]
            groups.append((calls, by_id.get(f"{self.key}/path{suffix}")))
        if self.layout is None:
            return self.judge_choice(0, *groups[0])
        return self._judge_layout(groups)

    def judge_choice(self, choice: int, answers: list, path_answer: Any = None) -> CheckResult:
        """The verdict on one layout choice's calls (the only one where the task left no layout open)."""
        inputs = self.choice_inputs(choice)
        self._choice = choice
        early = self.precheck(answers, inputs)
        if early is not None:
            return early
        self._path_precision = path_precision(path_answer)
        self._notes: list[str] = []
        failures: list[tuple[tuple, Any, Any, Comparison | str]] = []
        actuals, expecteds = [], []
        for args, answer, expected in zip(inputs, answers, self.choice_expected(choice)):
            verdict = self.compare_one(answer.value, expected, args)
            if verdict is not None:
                failures.append((args, answer.value, expected, verdict))
            actuals.append(answer.value)
            expecteds.append(expected)
        notes = list(dict.fromkeys(self._notes))
        extra = {"notes": notes} if notes else {}
        if not failures:
            return self.result("passed", **details_seconds(answers), **extra)
        return self.result("failed", self.failure_message(failures, actuals, expecteds, inputs),
                           **self.failure_details(failures), **extra)

    def _judge_layout(self, groups: list) -> CheckResult:
        """Grade the layout the student chose: the question's, once a check has shown it; else this check's best."""
        layout = self.layout
        results = [self.judge_choice(c, calls, path) for c, (calls, path) in enumerate(groups)]
        ranks = [_rank(result, calls) for result, (calls, _) in zip(results, groups)]
        key = ("layout", layout.name)
        decided = self.question.get(key)
        if decided is None:
            choice, rank = detect(ranks)
            if rank >= RAN:
                decided = Detection(choice, self.subject, rank)
                self.question[key] = decided
        choice = decided.choice if decided is not None else 0
        result = results[choice]
        label = layout.choices[choice].label
        result.details["layout"] = f"{layout.what}: {label}"
        if choice != 0 and decided is not None and decided.by == self.subject:
            note = (f"{self.subject} takes {layout.what} as {label}, where the task writes "
                    f"{layout.choices[0].label}. The task left this open, so all of {self.problem.id} is graded "
                    f"with {layout.what} stored your way (every check that takes or returns {layout.what})")
            result.details.setdefault("notes", []).insert(0, note)
        if result.status in ("failed", "error") and decided is not None and decided.by != self.subject:
            better = [c for c, r in enumerate(results) if r.status == "passed"]
            if better:
                other = layout.choices[better[0]].label
                result.message += (f"\nWith {layout.what} as {other} it would be right, but {decided.by} takes "
                                   f"{layout.what} as {label}: keep one layout of {layout.what} throughout the "
                                   f"question.")
        return result

    def process_failure(self, answers: list, inputs: list | None = None) -> CheckResult | None:
        """Missing entry, exception, timeout, crash: a result before any comparison."""
        for args, answer in zip(inputs if inputs is not None else self.inputs(), answers):
            if answer.status == "ok":
                continue
            if answer.status == "missing":
                return self.missing_entry(answer)
            if answer.status in ("timeout",):
                return self.result("timeout", f"{self.subject} on {show_args(args)}: {answer.message}")
            if answer.status == "error" and (answer.error or {}).get("type") == "NotImplementedError":
                return self.result("error", f"{self.subject}: not implemented yet (it raises NotImplementedError)")
            if answer.status == "error":
                return self.result("error", f"{self.subject} raised an error on {show_args(args)}: "
                                   + explain_error(answer.error) + self.error_hint(answer.error))
            return self.result("error", f"{self.subject} on {show_args(args)}: {answer.message}")
        return None

    def forbidden_calls(self, answers: list) -> str:
        """Why the calls the entry made break the check's rules (`manual`, `forbid`, `require`), or ''."""
        recorded = {c for a in answers for c in a.autodiff_calls}
        if self.spec.require:
            from adgrade.requirements import requirement_message

            missing = requirement_message(self.subject, self.spec.require, recorded)
            if missing:
                return missing
        calls = sorted(c for c in recorded if ">" not in c)  # "outer>inner": a call inside another
        if self.spec.require_autodiff and not any(self.is_autodiff(c) for c in calls):
            return (f"{self.subject} must use automatic differentiation, but it made no autodiff call "
                    f"(such as grad) while it ran: it looks computed by hand.")
        if not calls:
            return ""
        autodiff = [c for c in calls if self.is_autodiff(c)]
        if self.spec.manual and autodiff:
            return (f"{self.subject} must compute the derivative by hand, but it calls {', '.join(autodiff)} "
                    f"(automatic differentiation) while it runs. Write out the derivative yourself.")
        banned = [c for c in calls if c in self.spec.forbid]
        if banned:
            return (f"{self.subject} calls {', '.join(banned)}, which this question does not allow "
                    f"(not allowed: {', '.join(self.spec.forbid)}).")
        return ""

    @staticmethod
    def is_autodiff(name: str) -> bool:
        from adgrade.backends import available_backends, get_backend

        return any(name in get_backend(b).autodiff_calls for b in available_backends())

    def compare_one(self, actual: Any, expected: Any, args: tuple) -> Comparison | str | None:
        if self.spec.judge:
            static = self.spec.options.get("static")
            if static:
                # facts read from the student's source (an undefined name, an update that changes nothing)
                # beside what the call showed: the judge words both
                from adgrade.source_facts import function_facts

                facts = function_facts(self.sources, str(static))
                actual = {**actual, "static": facts} if isinstance(actual, dict) else {"value": actual,
                                                                                        "static": facts}
            verdict = self.fn(self.spec.judge)(actual, expected, args)
            return verdict or None
        conventions = self.spec.conventions
        cmp = compare(actual, expected, rtol=self.spec.rtol, atol=self.spec.atol,
                      require_float64=self.spec.dtype == "float64", dims=dims_of(args),
                      name=self.answer_label, vectors=conventions.vectors, items=conventions.items,
                      path_precision=getattr(self, "_path_precision", None))
        notes = getattr(self, "_notes", None)
        if notes is not None:
            notes.extend(cmp.notes)
        return None if cmp.ok else cmp

    def failure_message(self, failures, actuals, expecteds, inputs) -> str:
        args, actual, expected, verdict = failures[0]
        n, k = len(inputs), len(failures)
        if isinstance(verdict, str):
            return verdict if n == 1 else f"{verdict} (at {show_args(args)}; wrong at {k} of {n} inputs)"
        where = "at every point" if k == n and n > 1 else (f"at {k} of {n} points" if n > 1 else "")
        head = f"{self.answer_label} is wrong" + (f" {where}" if where else "") + "."
        if all(isinstance(f[3], Comparison) and f[3].values_right for f in failures):
            # the numbers are right: the message says exactly that, and nothing about being wrong
            points = f" (at {'all ' if k == n else ''}{k} of {n} points)" if n > 1 else ""
            head = f"{self.answer_label} has the right values, but not the shape the task asks for{points}."
        lines = [head, f"At {show_args(args)}: {verdict.message}"]
        mistake = self.known_mistake(failures)
        if mistake:
            lines.append(f"Likely cause: {mistake}")
        elif verdict.kind == "value" and n > 1:
            failed_at = {id(f[0]) for f in failures}
            across = likely_cause_across_points(actuals, expecteds, list(inputs), dims=dims_of(inputs[0]),
                                                passed=[id(a) not in failed_at for a in inputs])
            # only when it adds something the single point could not show (e.g. a factor that varies)
            if across and (not verdict.cause or "point to point" in across):
                lines.append(f"Across the points: {across}")
        return "\n".join(lines)

    def known_mistake(self, failures) -> str:
        transform = "none"
        choice = getattr(self, "_choice", 0)
        if choice and self.layout is not None:
            transform = self.layout.choices[choice].transform
        for mistake in self.spec.mistakes:
            fn = self.fn(mistake.function)
            try:
                # the mistake functions are written in the task's layout; layout transforms are their own inverse
                if all(matches(actual, apply_to_paths(
                        to_numpy_tree(get_backend("numpy"),
                                      fn(np, *self.with_functions(self._in_layout(args, transform),
                                                                  get_backend("numpy")))),
                        self.spec.conventions.answer, transform))
                       for args, actual, _, _ in failures):
                    return mistake.message
            except Exception:
                continue  # a mistake function that does not apply to this answer's shape
        return ""

    def failure_details(self, failures) -> dict[str, Any]:
        _, _, _, verdict = failures[0]
        if isinstance(verdict, str):
            return {}
        details: dict[str, Any] = {"leaf": verdict.path, "failure": verdict.kind}
        if verdict.worst:
            details.update({k: _plain(v) for k, v in verdict.worst.items()})
        if verdict.actual is not None and verdict.expected is not None:
            details["_actual"] = verdict.actual
            details["_expected"] = verdict.expected
        return details

    # -- adgrade validate ---------------------------------------------------------------------
    def validate(self) -> list[str]:
        problems: list[str] = []
        label = f"{self.problem.id} / {self.name()}"
        if self.kind != "value" and self.spec.function and self.spec.analytic:
            for backend_name in self.spec.backends_validate:
                for args in self.inputs():
                    try:
                        auto = self.autodiff_expected(args, backend_name)
                        analytic = self._evaluate(self.spec.analytic, args, "numpy")
                    except Exception as exc:
                        problems.append(f"{label}: differentiating `{self.spec.function}` with {backend_name} "
                                        f"at {show_args(args)} raised {type(exc).__name__}: {exc}")
                        break
                    cmp = compare(analytic, auto, rtol=1e-6, atol=1e-8, name=f"analytic `{self.spec.analytic}`")
                    if not cmp.ok:
                        problems.append(f"{label}: analytic `{self.spec.analytic}` disagrees with {backend_name} "
                                        f"autodiff of `{self.spec.function}` at {show_args(args)}: {cmp.message}")
                        break
        from adgrade.checks.base import _from_toml

        for example in self.spec.examples:
            try:
                args = tuple(np.float64(a) if isinstance(a, (int, float)) else _from_toml(a) for a in example["args"])
                got = self.expected_value(args)
            except Exception as exc:
                problems.append(f"{label}: the expected side raised {type(exc).__name__} on example "
                                f"{example['args']}: {exc}")
                continue
            want = example["value"]
            cmp = compare(got, float(want) if isinstance(want, (int, float)) else _from_toml(want),
                          rtol=1e-7, atol=1e-8, name="expected value")
            if not cmp.ok:
                problems.append(f"{label}: example {example['args']} should give {want}: {cmp.message}")
        return problems


def _rank(result: CheckResult, calls: list) -> int:
    """How well one layout choice's calls went (conventions.RAN < SHAPES_RIGHT < RIGHT; 0: they raised)."""
    if result.status == "passed":
        return RIGHT
    if not all(a is not None and a.status == "ok" for a in calls):
        return 0
    if result.details.get("failure") in ("value", "nonfinite", "dtype"):
        return SHAPES_RIGHT
    return RAN


def path_precision(answer: Any) -> str | None:
    """The least precise float dtype the student's computation ran in, from the child's plain report:
    "float16", "float32" or None (float64 throughout, or nothing known). A wrong report can only loosen
    the tolerance to float32's, and no wrong formula hides inside float32 rounding."""
    if answer is None or getattr(answer, "status", "") != "ok" or not isinstance(answer.value, list):
        return None
    names = {v for v in answer.value if isinstance(v, str)}
    if names & {"float16", "bfloat16"}:
        return "float16"
    if "float32" in names:
        return "float32"
    return None


def dims_of(args: tuple) -> dict[str, int]:
    """Sizes a constant factor may be named after: N = the length of the first array argument."""
    for arg in args:
        if isinstance(arg, np.ndarray) and arg.ndim >= 1 and arg.shape[0] > 1:
            return {"N": int(arg.shape[0])}
    return {}


def details_seconds(answers: list) -> dict[str, Any]:
    seconds = [a.seconds for a in answers if a.seconds]
    return {"median_seconds": float(np.median(seconds))} if seconds else {}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


class ValueCheck(CallCheck):
    kind = "value"


class GradientCheck(CallCheck):
    kind = "gradient"


class JacobianCheck(CallCheck):
    kind = "jacobian"


class HessianCheck(CallCheck):
    kind = "hessian"


class DerivativeCheck(CallCheck):
    kind = "derivative"


class AutodiffCheck(CallCheck):
    kind = "autodiff"


class CustomCheck(CallCheck):
    """The entry's answer judged by the problem set's own `judge` alone (expected: optional, passed along)."""

    kind = "custom"

    def name(self) -> str:
        if self.spec.name:
            return self.spec.name
        n = len(self.inputs())
        return f"{self.subject} passes the problem set's test at {n} point{'s' if n != 1 else ''}"
