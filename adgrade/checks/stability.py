"""`stability`: the student's entry at extreme inputs must be finite and right.

Like `value`: entry(*args) against `expected(xp, *args)` (evaluated with NumPy
in the trusted parent), at inputs chosen so that a naive formula overflows
(logits of ±1000, ⟨a, x⟩ = ±800). An answer that is NaN or inf where the
reference is finite is explained as overflow, with the stable form to use
instead; a finite but wrong answer is compared as usual, with a note on what
loses precision at extreme inputs.

Fields: entry (or wrapper), inputs, expected, manual, require_autodiff,
forbid, rtol, atol, dtype, mistakes, examples, points, and
hints = [{ when = "nonfinite", message }] for the problem set's own words.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from adgrade.checks.calls import CallCheck
from adgrade.compare import Comparison
from adgrade.feedback import show_args

#: what overflow is, in words; completed by the remedy
OVERFLOW_NAN = "exp of a large number is inf in float64 (exp(t) overflows for t > 709), and inf/inf, inf − inf or 0·inf is NaN"
OVERFLOW_INF = ("exp of a large number is inf in float64 (exp(t) overflows for t > 709), or a log of a number that "
                "underflowed to 0 is -inf")
NAIVE_FORMS = ("naive log(1 + exp(t)), exp(t)/(1 + exp(t)), and a softmax or log(sum(exp(z))) without subtracting "
               "the maximum all do this")
#: stable forms, for scalar arguments (softplus, sigmoid) and for rows of logits (softmax, log-sum-exp)
REMEDY_SCALAR = ("log(1 + exp(t)) = log1p(exp(−|t|)) + max(t, 0); σ(t) = 1/(1 + exp(−t)) for t ≥ 0 and "
                 "exp(t)/(1 + exp(t)) for t < 0")
REMEDY_ROWS = ("for softmax and log-sum-exp subtract the row max m first (logsumexp(z) = m + log Σ exp(z − m), "
               "log_softmax(z) = z − logsumexp(z))")
REMEDY_BUILTIN = "or the framework's logsumexp / log_softmax / softplus / sigmoid"
REMEDY = f"use a stable form: {REMEDY_SCALAR}; {REMEDY_ROWS}; {REMEDY_BUILTIN}"
AUTODIFF_NOTE = ("Your code used automatic differentiation: the derivative overflows too when the formula "
                 "differentiated does, and even a guarded formula (where/if) gives NaN when the branch not taken "
                 "overflows (its derivative is 0·inf). Differentiate a formula that is stable everywhere, e.g. "
                 "log1p(exp(−|t|)) + max(t, 0).")


def remedy_for(args: tuple = ()) -> str:
    """The stable forms, the likelier first: rows of logits (an argument of 2 or more dimensions) or scalars."""
    if any(np.ndim(a) >= 2 for a in args if isinstance(a, (np.ndarray, np.generic, float, int))):
        return f"use a stable form: {REMEDY_ROWS}; {REMEDY_SCALAR}; {REMEDY_BUILTIN}"
    return REMEDY


def overflow_text(actual: Any, args: tuple = ()) -> str:
    """The cause and the remedy of a NaN/inf answer (NaN and inf have different usual causes)."""
    arr = None
    try:
        arr = np.asarray(actual, dtype=np.complex128) if actual is not None else None
    except (TypeError, ValueError):
        arr = None
    has_nan = bool(arr is not None and np.isnan(arr).any())
    return f"overflow: {OVERFLOW_NAN if has_nan else OVERFLOW_INF}; {NAIVE_FORMS}. To fix it, {remedy_for(args)}."


class StabilityCheck(CallCheck):
    kind = "stability"
    options: ClassVar[tuple[str, ...]] = ("expected_backend",)

    @classmethod
    def validate_spec(cls, spec, problem, assignment) -> None:
        super(CallCheck, cls).validate_spec(spec, problem, assignment)  # unknown fields only
        from adgrade.spec import SpecError

        if not spec.entry and not spec.wrapper:
            raise SpecError(f"{assignment.source}: {spec.where}.entry: a 'stability' check needs `entry` "
                            f"(the student's name) or `wrapper`")
        if not spec.expected and not spec.judge:
            raise SpecError(f"{assignment.source}: {spec.where}.expected: a 'stability' check needs `expected` "
                            f"(functions.py (xp, *args), stable at the extreme inputs) or a `judge`")

    def name(self) -> str:
        if self.spec.name:
            return self.spec.name
        n = len(self.inputs())
        return f"{self.subject} is finite and right at {n} extreme input{'s' if n != 1 else ''}"

    def expected_value(self, args: tuple) -> Any:
        if not self.spec.expected:
            return None
        return self._evaluate(self.spec.expected, args, self.spec.options.get("expected_backend", "numpy"))

    # -- judging --------------------------------------------------------------------------
    def judge(self, answers: list):
        self._used_autodiff = any(a.autodiff_calls for a in answers if a.status == "ok")
        return super().judge(answers)

    def failure_message(self, failures, actuals, expecteds, inputs) -> str:
        n = len(inputs)
        nonfinite = [f for f in failures if isinstance(f[3], Comparison) and f[3].kind == "nonfinite"]
        if not nonfinite:
            text = super().failure_message(failures, actuals, expecteds, inputs)
            verdict = failures[0][3]
            if isinstance(verdict, Comparison) and verdict.kind == "value" and not self.known_mistake(failures):
                text += ("\nAt extreme inputs a formula can stay finite and still lose the answer: an exp that "
                         "underflows to 0, a probability clipped or offset by a small constant before its log, "
                         "or a large number subtracted from a nearly equal one. To fix it, " + remedy_for(failures[0][0])
                         + ".")
            return text
        args, actual, expected, verdict = nonfinite[0]
        where = f"at {len(nonfinite)} of {n} extreme inputs" if n > 1 else "at the extreme input"
        bad_args = [show_args(f[0]) for f in nonfinite]
        lines = [f"{self.subject} gives NaN or inf {where}, where the right answer is finite.",
                 f"At {show_args(args)}: {_without_cause(verdict)}"]
        if len(nonfinite) < len(failures):
            lines.append(f"Also wrong (finite, but not the right value) at {len(failures) - len(nonfinite)} more.")
        if len(nonfinite) > 1:
            lines.append(f"NaN/inf also at: {'; '.join(bad_args[1:3])}{' ...' if len(bad_args) > 3 else ''}")
        mistake = self.known_mistake(failures)
        lines.append(f"Likely cause: {mistake}" if mistake else f"Likely cause: {overflow_text(actual, args)}")
        if getattr(self, "_used_autodiff", False):
            lines.append(AUTODIFF_NOTE)
        hint = self.when_hint("nonfinite")
        if hint:
            lines.append(f"Hint: {hint}")
        return "\n".join(lines)


def _without_cause(verdict: Comparison) -> str:
    """compare's message without its generic "Likely cause" (the check gives a fuller one)."""
    text = verdict.message
    if verdict.cause:
        text = text.replace(f" Likely cause: {verdict.cause}.", "")
    return text


__all__ = ["StabilityCheck", "overflow_text"]
