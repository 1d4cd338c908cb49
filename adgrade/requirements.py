"""`require`: calls an entry must make while it runs ("must use jax.jvp"), the mirror of `forbid`.

A requirement is a string; every requirement of a check must be met, by the calls the submission's
process recorded while the check's requests ran (adgrade/runner/child.py records each autodiff call,
and each call made *inside* another as "outer>inner"):

    "jax.jvp"                          that call
    "jax.jvp | torch.func.jvp"         any one of them
    "jax.jvp(jax.grad)"                jax.grad called while jax.jvp runs: a jvp of a gradient
    "forward-over-reverse"             any forward-mode call with a reverse-mode call inside it, in any
                                       framework (jvp of grad: the Hessian-vector product's usual form)
    "reverse-over-reverse", "forward-over-forward", "reverse-over-forward"   likewise
    "forward-mode", "reverse-mode"     any forward-mode (jvp, linearize, jacfwd, make_jvp, make_dual) or
                                       reverse-mode (grad, vjp, jacrev, backward, ...) call

Only calls the student's code makes count; the grader's own transforms never do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: the last part of a call's dotted name, by the mode of differentiation it uses
FORWARD_NAMES = frozenset({"jvp", "linearize", "jacfwd", "make_jvp", "make_dual"})
REVERSE_NAMES = frozenset({
    "grad", "value_and_grad", "grad_and_value", "grad_and_aux", "grad_named", "vjp", "jacrev", "jacobian",
    "backward", "elementwise_grad", "make_vjp", "deriv", "holomorphic_grad", "multigrad_dict",
    "vector_jacobian_product", "tensor_jacobian_product",
})
PATTERNS = {
    "forward-over-reverse": ("forward", "reverse"),
    "reverse-over-reverse": ("reverse", "reverse"),
    "forward-over-forward": ("forward", "forward"),
    "reverse-over-forward": ("reverse", "forward"),
    "forward-mode": ("forward", None),
    "reverse-mode": ("reverse", None),
}
PATTERN_WORDS = {
    "forward-over-reverse": "forward-over-reverse (a jvp of a gradient, e.g. jax.jvp(jax.grad(f), (x,), (v,)))",
    "reverse-over-reverse": "reverse-over-reverse (a gradient of a gradient)",
    "forward-over-forward": "forward-over-forward (a jvp of a jvp)",
    "reverse-over-forward": "reverse-over-forward (a gradient of a jvp)",
    "forward-mode": "forward-mode autodiff (a jvp)",
    "reverse-mode": "reverse-mode autodiff (grad or vjp)",
}
_DOTTED = r"[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)+"
_ALTERNATIVE = re.compile(rf"^\s*(?:(?P<pattern>[a-z]+-(?:over-[a-z]+|mode))|(?P<outer>{_DOTTED})"
                          rf"(?:\(\s*(?P<inner>{_DOTTED})\s*\))?)\s*$")


def mode_of(call: str) -> str | None:
    """'forward', 'reverse' or None for a recorded call's dotted name."""
    last = call.rpartition(".")[2]
    if last in FORWARD_NAMES:
        return "forward"
    if last in REVERSE_NAMES:
        return "reverse"
    return None


@dataclass(frozen=True)
class Alternative:
    pattern: str | None = None  # a PATTERNS key
    outer: str | None = None  # a dotted call
    inner: str | None = None  # a dotted call made inside `outer`

    def met(self, calls: set[str], nested: set[tuple[str, str]]) -> bool:
        if self.pattern:
            outer_mode, inner_mode = PATTERNS[self.pattern]
            if inner_mode is None:
                return any(mode_of(c) == outer_mode for c in calls)
            return any(mode_of(o) == outer_mode and mode_of(i) == inner_mode for o, i in nested)
        if self.inner:
            return (self.outer, self.inner) in nested
        return self.outer in calls

    def words(self) -> str:
        if self.pattern:
            return PATTERN_WORDS[self.pattern]
        if self.inner:
            return f"{self.outer} of {self.inner} ({self.inner} called inside {self.outer})"
        return str(self.outer)

    def watched(self) -> list[str]:
        """Dotted names to record that are not autodiff (those are always recorded)."""
        return [n for n in (self.outer, self.inner) if n and mode_of(n) is None]


def parse_requirement(text: str) -> list[Alternative]:
    """One requirement string as its alternatives; ValueError with what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a requirement is a non-empty string")
    out = []
    for part in text.split("|"):
        m = _ALTERNATIVE.match(part)
        if not m:
            raise ValueError(f"cannot read {part.strip()!r}: write a dotted call (`jax.jvp`), a call inside "
                             f"another (`jax.jvp(jax.grad)`), or one of {', '.join(PATTERNS)}; "
                             f"separate alternatives with `|`")
        if m["pattern"] and m["pattern"] not in PATTERNS:
            raise ValueError(f"unknown pattern {m['pattern']!r} (known: {', '.join(PATTERNS)})")
        out.append(Alternative(m["pattern"], m["outer"], m["inner"]))
    return out


def split_calls(recorded: list[str] | set[str]) -> tuple[set[str], set[tuple[str, str]]]:
    """Recorded names as (calls, {(outer, inner)}): the child records a nested call as "outer>inner"."""
    calls, nested = set(), set()
    for item in recorded:
        if ">" in item:
            outer, _, inner = item.partition(">")
            nested.add((outer, inner))
        else:
            calls.add(item)
    return calls, nested


def describe_calls(calls: set[str], nested: set[tuple[str, str]]) -> str:
    """What the entry called instead, in words a student can act on."""
    if not calls:
        return "it made no autodiff call at all"
    modes = {mode_of(c) for c in calls} - {None}
    text = "it called only " + ", ".join(sorted(calls))
    if nested:
        text += ", with " + ", ".join(f"{i} inside {o} ({mode_of(o) or 'a call'}-over-{mode_of(i) or 'a call'})"
                                      for o, i in sorted(nested))
    elif len(calls) > 1 or modes:
        text += ", none of them inside another"
    if modes == {"reverse"}:
        text += (": reverse mode only, a gradient of a gradient" if nested else
                 ": reverse mode only, never nested (differences of gradients, i.e. finite differences?)")
    elif modes == {"forward"}:
        text += ": forward mode only"
    if any(c.rpartition(".")[2] in ("hessian", "hessian_tensor_product") for c in calls):
        text += " (a hessian call builds the whole n×n Hessian: n times the work of one Hessian-vector product)"
    return text


def unmet(requirements: tuple[str, ...], recorded: list[str] | set[str]) -> list[str]:
    """The requirements the recorded calls do not meet, each in words ("a or b")."""
    calls, nested = split_calls(recorded)
    missing = []
    for text in requirements:
        alternatives = parse_requirement(text)
        if not any(alt.met(calls, nested) for alt in alternatives):
            missing.append(" or ".join(alt.words() for alt in alternatives))
    return missing


def requirement_message(subject: str, requirements: tuple[str, ...], recorded: list[str] | set[str]) -> str:
    """'' when every requirement is met; otherwise what was required and what was called instead."""
    missing = unmet(requirements, recorded)
    if not missing:
        return ""
    calls, nested = split_calls(recorded)
    return (f"{subject} must use {'; and '.join(missing)}, but while it ran {describe_calls(calls, nested)}.")


def watched_names(requirements: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for text in requirements:
        for alt in parse_requirement(text):
            out.extend(alt.watched())
    return out
