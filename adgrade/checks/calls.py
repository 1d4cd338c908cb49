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
from adgrade.diagnose import likely_cause_across_points, matches
from adgrade.feedback import explain_error, show_args
from adgrade.results import CheckResult
from adgrade.runner import protocol

#: what the expected side of each kind is: the transform applied to `function`
EXPECTED_TRANSFORM = {"gradient": "grad", "jacobian": "jacrev", "hessian": "hessian", "derivative": "derivative"}
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
    options: ClassVar[tuple[str, ...]] = ("expected_backend",)
    checks_calls = True

    @classmethod
    def validate_spec(cls, spec, problem, assignment) -> None:
        super().validate_spec(spec, problem, assignment)
        from adgrade.spec import SpecError

        def fail(fld: str, msg: str) -> SpecError:
            return SpecError(f"{assignment.source}: {spec.where}.{fld}: {msg}")

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

    # -- asking ---------------------------------------------------------------------------
    def requests(self) -> list[Request]:
        base: dict[str, Any] = {
            "backend": self.backend_name,
            "entry": self.spec.entry,
            "wrapper": self.wrapper_payload(),
        }
        if self.kind == "autodiff":
            base.update(transform=self.spec.transform, order=self.spec.order,
                        argnums=list(self.spec.argnums) if isinstance(self.spec.argnums, tuple) else self.spec.argnums)
        return [
            Request(f"{self.key}/{i}", "call", {**base, **self.call_params(args)}, self.time_limit)
            for i, args in enumerate(self.inputs())
        ]

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

    # -- judging ------------------------------------------------------------------------------
    def precheck(self, answers: list) -> CheckResult | None:
        """A verdict before any comparison: the process failed, or the calls broke the question's rules."""
        self.prepare()
        problem = self.process_failure(answers)
        if problem is not None:
            return problem
        forbidden = self.forbidden_calls(answers)
        return self.result("failed", forbidden) if forbidden else None

    def judge(self, answers: list) -> CheckResult:
        inputs = self.inputs()
        early = self.precheck(answers)
        if early is not None:
            return early
        failures: list[tuple[tuple, Any, Any, Comparison | str]] = []
        actuals, expecteds = [], []
        for args, answer, expected in zip(inputs, answers, self._expected):
            verdict = self.compare_one(answer.value, expected, args)
            if verdict is not None:
                failures.append((args, answer.value, expected, verdict))
            actuals.append(answer.value)
            expecteds.append(expected)
        if not failures:
            return self.result("passed", **details_seconds(answers))
        return self.result("failed", self.failure_message(failures, actuals, expecteds, inputs),
                           **self.failure_details(failures))

    def process_failure(self, answers: list) -> CheckResult | None:
        """Missing entry, exception, timeout, crash: a result before any comparison."""
        for args, answer in zip(self.inputs(), answers):
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
            verdict = self.fn(self.spec.judge)(actual, expected, args)
            return verdict or None
        cmp = compare(actual, expected, rtol=self.spec.rtol, atol=self.spec.atol,
                      require_float64=self.spec.dtype == "float64", dims=dims_of(args),
                      name=self.answer_label)
        return None if cmp.ok else cmp

    def failure_message(self, failures, actuals, expecteds, inputs) -> str:
        args, actual, expected, verdict = failures[0]
        n, k = len(inputs), len(failures)
        if isinstance(verdict, str):
            return verdict if n == 1 else f"{verdict} (at {show_args(args)}; wrong at {k} of {n} inputs)"
        where = "at every point" if k == n and n > 1 else (f"at {k} of {n} points" if n > 1 else "")
        head = f"{self.answer_label} is wrong" + (f" {where}" if where else "") + "."
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
        for mistake in self.spec.mistakes:
            fn = self.fn(mistake.function)
            try:
                if all(matches(actual, to_numpy_tree(get_backend("numpy"),
                                                     fn(np, *self.with_functions(args, get_backend("numpy")))))
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
