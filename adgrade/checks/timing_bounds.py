"""Bounds a `timing` check can put on one candidate, judged from the statistics of timing.analyse.

- `max_slowdown = k`: the first candidate may take at most k times the second's time ("an hvp costs a
  few gradients"); with `scaling`, at every size.
- `max_exponent = p` (with `scaling`): the first candidate's time may grow at most like size^p.

Each bound is judged on a confidence interval, never on one number: `passed` when the whole interval
is within the bound, `failed` when the whole interval is beyond it by more than a small tolerance (a
ratio 10 % above k, an exponent 0.1 above p), `inconclusive` (scores as passed) otherwise. The
words say what was measured, in the direction it went ("takes 1.19× the time of", "is 5.1× slower
than"), and what was allowed. Pure functions: tests/test_timing_bounds.py feeds them synthetic
measurements.
"""

from __future__ import annotations

import math
from typing import Any

#: a slowdown fails only when its interval lies above k × this, an exponent above p + EXPONENT_SLACK
RATIO_TOLERANCE = 1.1
EXPONENT_SLACK = 0.1
_ORDER = {"passed": 0, "inconclusive": 1, "failed": 2}


def _num(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "?"
    return f"{x:.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def within(ci: list | tuple | None, limit: float, fail_above: float) -> str:
    """passed / failed / inconclusive for 'the quantity is at most `limit`' from its interval."""
    if ci is None:
        return "inconclusive"
    lo, hi = ci
    if hi <= limit:
        return "passed"
    if lo > fail_above:
        return "failed"
    return "inconclusive"


def slowdowns(stats: dict, first: str) -> list[tuple[float, list | None]]:
    """time(first) / time(second) per input (size): median and interval, from analyse's ratios.

    analyse reports the ratio other / better with `better` None, i.e. second / first: inverted here."""
    inverted = stats["ratio_of"].split(" / ")[0] != first
    out = []
    for value, ci in zip(stats["ratio"], stats["ratio_ci"]):
        if inverted:
            value = 1.0 / value if value else math.inf
            ci = [1.0 / ci[1], 1.0 / ci[0]] if ci else None
        out.append((value, ci))
    return out


def pooled_slowdown(stats: dict, first: str) -> tuple[float, list | None]:
    """The pooled ratio over several inputs without `scaling`, as time(first) / time(second)."""
    value, ci = stats["statistic_value"], stats["statistic_ci"]
    if stats["ratio_of"].split(" / ")[0] != first:
        value = 1.0 / value if value else math.inf
        ci = [1.0 / ci[1], 1.0 / ci[0]] if ci else None
    return value, ci


def slowdown_words(first: str, second: str, value: float, ci: list | None, limit: float) -> str:
    """'`hvp` is 5.1× slower than `grad` (95% CI 4.8 to 5.5)': the direction the measurement went."""
    interval = f" (95% CI {_num(ci[0])} to {_num(ci[1])})" if ci else " (too few rounds for an interval)"
    if value >= 1.05:
        return f"`{first}` is {_num(value)}× slower than `{second}`{interval}"
    if value <= 1 / 1.05:
        return f"`{first}` takes {_num(value)}× the time of `{second}` (it is faster){interval}"
    return f"`{first}` takes about the same time as `{second}`: {_num(value)}× its time{interval}"


def judge_slowdown(first: str, second: str, limit: float, per_size: list[tuple[float, list | None]],
                   size_names: list[str] | None) -> tuple[str, str]:
    """(status, message) for `max_slowdown`: every input (size) judged; the verdict is the worst."""
    verdicts = [within(ci, limit, limit * RATIO_TOLERANCE) for _, ci in per_size]
    status = max(verdicts, key=_ORDER.__getitem__)
    # the case the message is about: the largest slowdown among the inputs (sizes) with the worst verdict
    pick = max((i for i, v in enumerate(verdicts) if v == status), key=lambda i: per_size[i][0])
    value, ci = per_size[pick]
    where = f"At size {size_names[pick]}, " if size_names else ""
    allowed = f"at most {_num(limit)}× allowed"
    fact = where + slowdown_words(first, second, value, ci, limit)
    if status == "passed":
        head = f"{fact}: within the {_num(limit)}× allowed."
    elif status == "failed":
        head = f"{fact}; {allowed}."
    else:
        head = (f"Could not tell whether `{first}` stays within {_num(limit)}× the time of `{second}`: {fact}. "
                f"Not counted against you: the machine was too noisy to tell, or it is close to the bound.")
    if size_names and len(per_size) > 1:
        head += "\nSlowdown at each size: " + ", ".join(
            f"{name}: {_num(v)}×" for name, (v, _) in zip(size_names, per_size))
    return status, head


def judge_exponent(first: str, limit: float, exponent: float, ci: list | None) -> tuple[str, str]:
    """(status, message) for `max_exponent`: the first candidate's log-log slope of time against size."""
    status = within(ci, limit, limit + EXPONENT_SLACK)
    interval = f" (95% CI {ci[0]:.2f} to {ci[1]:.2f})" if ci else " (too few rounds for an interval)"
    fact = f"`{first}`'s time grows like size^{exponent:.2f}{interval}"
    if status == "passed":
        return status, f"{fact}: at most size^{limit:g} allowed."
    if status == "failed":
        return status, f"{fact}, faster than the size^{limit:g} allowed."
    return status, (f"Could not tell whether `{first}`'s time grows at most like size^{limit:g}: {fact}. "
                    f"Not counted against you.")


def worst(statuses: list[str]) -> str:
    return max(statuses, key=_ORDER.__getitem__) if statuses else "passed"


def bounds_of(options: dict[str, Any]) -> dict[str, float]:
    """The bounds a spec's options set ({} when none)."""
    return {k: float(options[k]) for k in ("max_slowdown", "max_exponent") if options.get(k) is not None}
