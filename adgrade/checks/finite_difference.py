"""`finite_difference`: the student's own numerical gradient, `entry(func, *args)`.

`func` is the problem's `function` (xp, params) -> scalar, sent to the child
by its source alone (like a wrapper) and handed to the student as
`lambda p: function(xp, p)` with the problem backend's xp. The answer is graded
against `analytic(xp, params)` (else autodiff of `function`) in the parent, on
params of several shapes. A failure names the shape it failed on and whether
smaller-dimensional params passed ("handles only 1-D params"), and recognises
one-sided differences, perturbing every element at once, and float32.

The child runs `probe` below (a dotted probe: `adgrade.checks.finite_difference:probe`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from adgrade.backends import get_backend
from adgrade.checks.base import Request
from adgrade.checks.calls import CallCheck, details_seconds, to_numpy_tree
from adgrade.compare import Comparison, compare
from adgrade.diagnose import format_number, numeric_array
from adgrade.feedback import explain_error, show_args
from adgrade.runner import protocol

PROBE = "adgrade.checks.finite_difference:probe"


# -- the child's side -----------------------------------------------------------------

def probe(child: Any, *, backend: str, entry: str, function: dict, args: Any) -> Any:
    """In the student's process: numerical_gradient(func, *args), func = the problem's function (from source)."""
    from adgrade.runner.child import load_wrapper

    be = get_backend(backend)
    fn = load_wrapper(function, be)
    xp = be.xp

    def func(p: Any) -> Any:
        # students may hand back NumPy arrays or lists (copies they perturbed): give the function its own arrays
        if isinstance(p, (list, tuple)):
            p = np.asarray(p)
        if isinstance(p, (np.ndarray, np.generic)) and not be.is_array(p):
            p = be.asarray(np.asarray(p))
        return fn(xp, p)

    student = child.target(entry, None, be)
    call_args = be.convert_inputs(protocol.decode(args))
    return be.block(student(func, *call_args))


# -- the parent's side ----------------------------------------------------------------------

def _ndim_words(shape: tuple[int, ...]) -> str:
    return f"{tuple(int(n) for n in shape)} ({len(shape)}-D)"


class FiniteDifferenceCheck(CallCheck):
    kind = "finite_difference"
    uses_judge = False
    options: ClassVar[tuple[str, ...]] = ("expected_backend",)
    #: `function` is handed to the student's numerical gradient: a student copy keeps its code
    student_side: ClassVar[tuple[str, ...]] = ("wrapper", "test_functions", "function")

    @classmethod
    def validate_spec(cls, spec, problem, assignment) -> None:
        super(CallCheck, cls).validate_spec(spec, problem, assignment)  # unknown fields
        def fail(fld: str, msg: str) -> Exception:
            return cls.spec_error(spec, assignment, fld, msg)

        if not spec.entry:
            raise fail("entry", "a 'finite_difference' check needs `entry`: the student's numerical gradient, "
                                "called as entry(func, *args)")
        if spec.wrapper:
            raise fail("wrapper", "a 'finite_difference' check sends `function` itself; it takes no `wrapper`")
        if not spec.function:
            raise fail("function", "a 'finite_difference' check needs `function`: functions.py (xp, params) -> "
                                   "a scalar, sent to the student's process by its source alone")
        if not spec.inputs:
            raise fail("inputs", "a 'finite_difference' check needs `inputs`: (rng) -> [(params, epsilon), ...]")

    def name(self) -> str:
        if self.spec.name:
            return self.spec.name
        shapes = ", ".join(str(tuple(np.shape(args[0]))) for args in self.inputs() if args)
        return f"{self.subject} matches the gradient for params of shape {shapes}"

    # -- asking ---------------------------------------------------------------------------
    def requests(self) -> list[Request]:
        base = {"backend": self.backend_name, "entry": self.spec.entry,
                "function": self.wrapper_payload(self.spec.function)}
        return [Request(f"{self.key}/{i}", PROBE, {**base, "args": protocol.encode(list(args))}, self.time_limit)
                for i, args in enumerate(self.inputs())]

    # -- the expected side ----------------------------------------------------------------
    def expected_value(self, args: tuple) -> Any:
        params = args[0]
        if self.spec.analytic:
            return self._evaluate(self.spec.analytic, (params,), self.spec.options.get("expected_backend", "numpy"))
        return self._autodiff(params, self.expected_backend())

    def _autodiff(self, params: Any, backend_name: str) -> Any:
        backend = get_backend(backend_name)
        function = self.fn(self.spec.function)  # type: ignore[arg-type]
        g = backend.grad(lambda p: function(backend.xp, p), 0)
        return to_numpy_tree(backend, g(*backend.convert_inputs((params,))))

    def _f(self, params: np.ndarray) -> float:
        return float(self.fn(self.spec.function)(np, params))  # type: ignore[arg-type]

    # -- judging ----------------------------------------------------------------------------
    def judge(self, answers: list):
        inputs = self.inputs()
        self.prepare()
        for answer in answers:
            if answer.status == "missing":
                return self.missing_entry(answer)
        forbidden = self.forbidden_calls([a for a in answers if a.status == "ok"])
        if forbidden:
            return self.result("failed", forbidden)
        # (args, answer, verdict or None, expected) for every params shape
        outcomes: list[tuple[tuple, Any, str | Comparison | None, Any]] = []
        for args, answer, expected in zip(inputs, answers, self._expected):
            if answer.status == "ok":
                cmp = compare(answer.value, expected, rtol=self.spec.rtol, atol=self.spec.atol,
                              require_float64=self.spec.dtype == "float64", name=f"{self.spec.entry}(func, params, ε)")
                outcomes.append((args, answer.value, None if cmp.ok else cmp, expected))
            elif answer.status == "error":
                outcomes.append((args, None, "it raised an error: " + explain_error(answer.error)
                                 + self.error_hint(answer.error), expected))
            else:
                outcomes.append((args, None, answer.message or answer.status, expected))
        failed = [o for o in outcomes if o[2] is not None]
        if not failed:
            return self.result("passed", **details_seconds(answers))
        if all(a.status == "timeout" for a in answers if a.status != "ok"):
            status = "timeout" if all(a.status != "ok" for a in answers) else "failed"
        else:
            status = "error" if all(a.status != "ok" for a in answers) else "failed"
        return self.result(status, self._message(outcomes, failed),
                           failed_shapes=[list(np.shape(o[0][0])) for o in failed])

    def _message(self, outcomes, failed) -> str:
        # the failure on the fewest dimensions is the most telling
        failed = sorted(failed, key=lambda o: np.ndim(o[0][0]))
        args, actual, verdict, expected = failed[0]
        params = np.asarray(args[0])
        shape = _ndim_words(params.shape)
        passed = [o for o in outcomes if o[2] is None]
        lines = []
        cause = self._cause(args, actual, verdict, expected, passed, failed)
        what = verdict if isinstance(verdict, str) else verdict.message
        if cause and isinstance(verdict, Comparison) and verdict.cause:  # one likely cause: the more specific
            what = what.replace(f" Likely cause: {verdict.cause}.", "")
        # right numbers in another shape: said as such, never "wrong" (compare's values_right)
        head = ("returns the right values, but not in params' shape," if all(
            isinstance(o[2], Comparison) and o[2].values_right for o in failed) else "is wrong")
        lines.append(f"{self.subject} {head} for params of shape {shape}"
                     + (f", ε = {format_number(args[1])}" if len(args) > 1 and np.ndim(args[1]) == 0 else "")
                     + f": {what}")
        others = [_ndim_words(np.shape(o[0][0])) for o in failed[1:]]
        if others:
            lines.append(f"Also wrong for params of shape {', '.join(others)}.")
        if passed:
            lines.append(f"It is right for params of shape {', '.join(_ndim_words(np.shape(o[0][0])) for o in passed)}.")
        if cause:
            lines.append(f"Likely cause: {cause}")
        return "\n".join(lines)

    def _cause(self, args, actual, verdict, expected, passed, failed) -> str:
        a, e = numeric_array(actual), numeric_array(expected)
        if (isinstance(verdict, Comparison) and verdict.kind == "shape" and a is not None and e is not None
                and a.size == e.size and a.dtype.kind in "iuf"
                and np.allclose(a.astype(np.float64).reshape(e.shape), e, rtol=1e-5, atol=1e-7)):
            return (f"your values are right but have shape {tuple(a.shape)}: return them in params' shape "
                    f"{tuple(e.shape)} (e.g. grad.reshape(params.shape)).")
        max_pass = max((np.ndim(o[0][0]) for o in passed), default=-1)
        min_fail = min(np.ndim(o[0][0]) for o in failed)
        if passed and max_pass < min_fail:
            d = max_pass
            only = "only 1-D params" if d == 1 else f"params of up to {d} dimensions only"
            return (f"your routine handles {only} (every case with up to {d} dimension{'s' if d != 1 else ''} "
                    f"passed, every case with more failed). Perturb every element whatever the shape: loop over "
                    f"np.ndindex(params.shape) (or flatten params, perturb, and reshape the result back), and "
                    f"return an array of params' shape.")
        if isinstance(verdict, Comparison) and verdict.kind in ("shape", "structure", "type", "opaque", "dtype"):
            if verdict.kind == "shape" and not verdict.cause:
                return "return the gradient with the same shape as params (one entry per element of params)."
            return ""
        a = numeric_array(actual)
        params = np.asarray(args[0], dtype=np.float64)
        expected = numeric_array(expected)
        if a is None or expected is None or a.shape != params.shape:
            return ""
        a = a.astype(np.float64)
        err = float(np.max(np.abs(a - expected)))
        if a.size > 1 and np.allclose(a, a.flat[0]) and not np.allclose(expected, expected.flat[0]):
            return ("every element of your gradient has the same value: you perturb all elements of params at "
                    "once. Perturb one element at a time (a step vector that is ε at one index and 0 elsewhere).")
        eps = float(args[1]) if len(args) > 1 and np.ndim(args[1]) == 0 else None
        if eps:
            try:
                f0 = self._f(params)
                forward, backward = np.zeros_like(params), np.zeros_like(params)
                for idx in np.ndindex(params.shape):
                    step = np.zeros_like(params)
                    step[idx] = eps
                    forward[idx] = (self._f(params + step) - f0) / eps
                    backward[idx] = (f0 - self._f(params - step)) / eps
            except Exception:
                return ""
            for name, one_sided in (("forward", forward), ("backward", backward)):
                if float(np.max(np.abs(a - one_sided))) < 0.05 * err:
                    formula = "(f(p + ε) − f(p))/ε" if name == "forward" else "(f(p) − f(p − ε))/ε"
                    return (f"your values are one-sided ({name}) differences {formula}, whose error is of order ε; "
                            f"use central differences (f(p + ε) − f(p − ε))/(2ε), whose error is of order ε².")
            rounding32 = 6e-8 * max(abs(f0), 1.0) / (2 * eps)
            if 0.05 * rounding32 <= err <= 50 * rounding32 and err > 1e3 * 1.1e-16 * max(abs(f0), 1.0) / (2 * eps):
                return (f"errors of about {format_number(err)} are the size of float32 rounding "
                        f"(float32 keeps about 7 digits of f, divided by 2ε = {format_number(2 * eps)}): "
                        f"compute in float64 (np.float64 arrays; jax: jax.config.update('jax_enable_x64', True); "
                        f"torch: dtype=torch.float64).")
        return ""  # compare's own "Likely cause", if any, is already in the message

    # -- adgrade validate -------------------------------------------------------------------
    def validate(self) -> list[str]:
        from adgrade.runner.child import load_wrapper

        problems: list[str] = []
        label = f"{self.problem.id} / {self.name()}"
        # the function must work from its source alone: that is all the child gets
        try:
            np_backend = get_backend("numpy")
            standalone = load_wrapper(self.wrapper_payload(self.spec.function), np_backend)  # type: ignore[arg-type]
            for args in self.inputs():
                value = np.asarray(standalone(np, args[0]))
                if value.size != 1:
                    problems.append(f"{label}: `{self.spec.function}` must return a scalar, got shape {value.shape} "
                                    f"for params of shape {np.shape(args[0])}")
                    break
        except Exception as exc:
            problems.append(f"{label}: `{self.spec.function}` does not run from its source alone (it is sent to "
                            f"the student's process by itself; use only xp and its argument): "
                            f"{type(exc).__name__}: {exc}")
        if self.spec.analytic:
            for backend_name in self.spec.backends_validate:
                for args in self.inputs():
                    try:
                        auto = self._autodiff(args[0], backend_name)
                        analytic = self._evaluate(self.spec.analytic, (args[0],), "numpy")
                    except Exception as exc:
                        problems.append(f"{label}: differentiating `{self.spec.function}` with {backend_name} for "
                                        f"params of shape {np.shape(args[0])} raised {type(exc).__name__}: {exc}")
                        break
                    cmp = compare(analytic, auto, rtol=1e-6, atol=1e-8, name=f"analytic `{self.spec.analytic}`")
                    if not cmp.ok:
                        problems.append(f"{label}: analytic `{self.spec.analytic}` disagrees with {backend_name} "
                                        f"autodiff of `{self.spec.function}` at {show_args((args[0],))}: "
                                        f"{cmp.message}")
                        break
        return problems


__all__ = ["FiniteDifferenceCheck", "probe"]
