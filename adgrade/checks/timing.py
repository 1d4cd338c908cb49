"""`timing`: how long two candidates take on the same inputs, and how that grows with size.

Never an absolute time. The child (`probe_timing` in checks/timing_probe.py, run in the submission's
process, which already runs single-threaded) warms each candidate up and
compiles it where asked (the first call is excluded), calibrates a repeat
count so that one timed block lasts a few milliseconds, then runs many short
interleaved rounds (A B, B A, ...; every size in every round) within a time
budget, blocking on each result. It returns plain lists of per-call times.

The parent judges from paired, per-round ratios, distribution-free:
- one input (or several without `scaling`): the median ratio
  time(other) / time(better) with a confidence interval (order statistics of
  the ratios of A B / B A pairs of rounds);
- `scaling`: per pair of rounds, the ratio of ratios between the largest and
  the smallest size (how much the ratio grows), median and confidence interval;
  the growth exponent of each candidate (log-log slope of time against size)
  is reported beside it.
`passed` when the interval lies above `margin`, `failed` when it lies below
margin / 1.1, `inconclusive` (scores as passed) otherwise: the machine was
too noisy to tell. With `scored = false` (or no `better`) the numbers are
reported, never failed. Times are the CPU time of the child process (all its
threads), which a busy machine does not inflate as it does elapsed time.

Spec fields: see docs/check-kinds/timing.md.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from adgrade.checks.base import Check, Request
from adgrade.checks.timing_bounds import bounds_of, judge_exponent, judge_slowdown, pooled_slowdown, slowdowns, worst
from adgrade.checks.timing_probe import TRANSFORMS
from adgrade.checks.timing_stats import CONFIDENCE, analyse, size_scalar
from adgrade.feedback import explain_error
from adgrade.results import CheckResult
from adgrade.runner import protocol

CANDIDATE_KEYS = ("label", "entry", "wrapper", "transform", "argnums", "jit")
#: default seconds of interleaved rounds for the whole check (warm-up and compilation come on top):
#: a scored verdict gets more than numbers that are only reported
DEFAULT_BUDGET = {"scored": 1.5, "reported": 0.5}
#: default `margin` of a ratio check (better must be faster) and of a scaling check (the ratio must
#: grow by at least this factor from the smallest to the largest size)
DEFAULT_MARGIN = {"ratio": 1.0, "growth": 1.5}
#: a scored check fails only when the interval lies below margin / TOLERANCE: a small systematic
#: difference between two equally fast candidates (memory layout, code placement) never fails anyone
TOLERANCE = 1.1
#: fewest rounds, whatever the budget: 10 A B / B A pairs for a verdict, 6 for a report
#: (7 pairs are the fewest with a 95 % interval for a median, 6 give a 97 % one of min to max)
MIN_ROUNDS = {"scored": 20, "reported": 12}


def candidates_of(spec: Any) -> list[dict[str, Any]]:
    """The two candidates of a spec's `entries`, as tables with a label (no validation)."""
    out = []
    for item in spec.options.get("entries") or []:
        cand = {"entry": item} if isinstance(item, str) else dict(item)
        if "label" not in cand:
            name = cand.get("entry") or cand.get("wrapper") or "?"
            cand["label"] = f"{cand['transform']}({name})" if cand.get("transform") else str(name)
        out.append(cand)
    return out


def size_text(size: Any) -> str:
    if isinstance(size, (list, tuple)):
        return "[" + ", ".join(f"{s:g}" if isinstance(s, float) else str(s) for s in size) + "]"
    return f"{size:g}" if isinstance(size, float) else str(size)


class TimingCheck(Check):
    kind = "timing"
    options: ClassVar[tuple[str, ...]] = ("entries", "backends", "scaling", "scored", "better", "margin", "budget",
                                          "max_slowdown", "max_exponent")
    #: what the child measures: "cpu" (process CPU time, not inflated by a busy machine) or "wall"
    clock: ClassVar[str] = "cpu"
    crosses_test_functions = False  # its one test function goes to both candidates, first (requests)
    #: a student copy keeps the candidates' wrappers and the input generator (inputs hold no answers;
    #: the copy draws them from its practice stream)
    student_side: ClassVar[tuple[str, ...]] = ("inputs", "entries", "test_functions")

    # -- spec ---------------------------------------------------------------------------
    @classmethod
    def validate_spec(cls, spec, problem, assignment) -> None:
        super().validate_spec(spec, problem, assignment)
        def fail(fld: str, msg: str) -> Exception:
            return cls.spec_error(spec, assignment, fld, msg)

        if spec.entry or spec.wrapper:
            raise fail("entry" if spec.entry else "wrapper",
                       "a timing check names its two candidates in `entries`, not in `entry`/`wrapper`")
        if spec.transform:
            raise fail("transform", "a timing check takes `transform` per candidate, inside `entries`")
        entries = spec.options.get("entries")
        if not isinstance(entries, list) or len(entries) != 2:
            raise fail("entries", "a timing check needs `entries`: a list of exactly two candidates "
                                  "(entry names, or tables {label, entry | wrapper, transform, argnums, jit})")
        for i, item in enumerate(entries):
            where = f"entries[{i}]"
            if isinstance(item, str):
                continue
            if not isinstance(item, dict):
                raise fail(where, f"expected an entry name or a table, got {item!r}")
            unknown = sorted(set(item) - set(CANDIDATE_KEYS))
            if unknown:
                raise fail(f"{where}.{unknown[0]}", f"unknown field (a candidate takes: {', '.join(CANDIDATE_KEYS)})")
            if bool(item.get("entry")) == bool(item.get("wrapper")):
                raise fail(where, "give exactly one of `entry` (the student's name) and `wrapper`")
            for key in ("label", "entry", "wrapper", "transform"):
                if key in item and not isinstance(item[key], str):
                    raise fail(f"{where}.{key}", f"expected a string, got {item[key]!r}")
            if item.get("wrapper") and not callable(getattr(assignment.functions, item["wrapper"], None)):
                raise fail(f"{where}.wrapper", f"no function {item['wrapper']!r} in {assignment.functions_path.name}")
            if "transform" in item and item["transform"] not in TRANSFORMS:
                raise fail(f"{where}.transform", f"must be one of {', '.join(TRANSFORMS)}; got {item['transform']!r}")
            argnums = item.get("argnums", 0)
            if not (isinstance(argnums, int) and not isinstance(argnums, bool)) and not (
                    isinstance(argnums, list) and argnums and all(isinstance(a, int) for a in argnums)):
                raise fail(f"{where}.argnums", "expected an integer or a list of integers")
            if "argnums" in item and "transform" not in item:
                raise fail(f"{where}.argnums", "`argnums` only means something with `transform`")
            if "jit" in item and not isinstance(item["jit"], bool):
                raise fail(f"{where}.jit", "expected true or false")
        labels = [c["label"] for c in candidates_of(spec)]
        if labels[0] == labels[1]:
            raise fail("entries", f"the two candidates need different labels (both are {labels[0]!r})")
        backends = spec.options.get("backends")
        if backends is not None:
            if not (isinstance(backends, list) and len(backends) == 2 and all(isinstance(b, str) for b in backends)):
                raise fail("backends", "expected a list of two backend names, one per entry")
            from adgrade.backends import available_backends
            for b in backends:
                if b not in available_backends():
                    raise fail("backends", f"unknown backend {b!r} (known: {', '.join(available_backends())})")
        if spec.inputs is None:
            raise fail("inputs", "a timing check needs `inputs`")
        if len(spec.test_functions) > 1:
            raise fail("test_functions", "a timing check times its candidates on one test function; give one")
        scaling = spec.options.get("scaling")
        if scaling is not None:
            if not isinstance(scaling, list) or len(scaling) < 2:
                raise fail("scaling", "expected a list of at least two sizes")
            for s in scaling:
                ok = (isinstance(s, (int, float)) and not isinstance(s, bool) and s > 0) or (
                    isinstance(s, list) and s and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                      and v > 0 for v in s))
                if not ok:
                    raise fail("scaling", f"a size is a positive number or a list of them ([m, n, k]); got {s!r}")
            if len({size_scalar(s) for s in scaling}) < 2:
                raise fail("scaling", "the sizes must differ")
            if not isinstance(spec.inputs, str):
                raise fail("inputs", "with `scaling`, `inputs` is a functions.py function (rng, size) -> one argument tuple")
        better = spec.options.get("better")
        if better is not None and better not in labels:
            raise fail("better", f"must be one of the candidates' labels: {', '.join(map(repr, labels))}; got {better!r}")
        scored = spec.options.get("scored")
        if scored is not None and not isinstance(scored, bool):
            raise fail("scored", "expected true or false")
        bounded = [k for k in ("max_slowdown", "max_exponent") if spec.options.get(k) is not None]
        if bounded and better is not None:
            raise fail(bounded[0], "give either `better` (which candidate must win) or a bound on the first "
                                   "candidate (`max_slowdown`, `max_exponent`), not both")
        if spec.options.get("max_exponent") is not None and scaling is None:
            raise fail("max_exponent", "a growth exponent needs `scaling` (the sizes to time at)")
        if scored and better is None and not bounded:
            raise fail("better", "a scored timing check needs `better` (the label of the candidate that must "
                                 "win) or a bound: `max_slowdown` or `max_exponent`")
        for key in ("margin", "budget", "max_slowdown", "max_exponent"):
            value = spec.options.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise fail(key, f"expected a positive number, got {value!r}")

    # -- identity --------------------------------------------------------------------------
    @property
    def candidates(self) -> list[dict[str, Any]]:
        return candidates_of(self.spec)

    @property
    def labels(self) -> list[str]:
        return [c["label"] for c in self.candidates]

    @property
    def scaling(self) -> list | None:
        return self.spec.options.get("scaling")

    @property
    def better(self) -> str | None:
        return self.spec.options.get("better")

    @property
    def bounds(self) -> dict[str, float]:
        """`max_slowdown` / `max_exponent` on the first candidate (timing_bounds.py)."""
        return bounds_of(self.spec.options)

    @property
    def judged(self) -> bool:
        """Whether a verdict is asked for: a winner (`better`) or a bound."""
        return bool(self.better) or bool(self.bounds)

    @property
    def scored(self) -> bool:
        scored = self.spec.options.get("scored")
        return self.judged if scored is None else bool(scored)

    @property
    def statistic(self) -> str:
        return "growth" if self.scaling else "ratio"

    @property
    def margin(self) -> float:
        return float(self.spec.options.get("margin") or DEFAULT_MARGIN[self.statistic])

    @property
    def _mode(self) -> str:
        return "scored" if (self.scored and self.judged) else "reported"

    @property
    def budget(self) -> float:
        return float(self.spec.options.get("budget") or DEFAULT_BUDGET[self._mode])

    @property
    def subject(self) -> str:
        return " and ".join(f"`{label}`" for label in self.labels)

    def name(self) -> str:
        if self.spec.name:
            return self.spec.name
        a, b = self.labels
        if self.bounds:
            parts = []
            if "max_slowdown" in self.bounds:
                parts.append(f"takes at most {self.bounds['max_slowdown']:g}× the time of `{b}`")
            if "max_exponent" in self.bounds:
                parts.append(f"has a time that grows at most like size^{self.bounds['max_exponent']:g}")
            return f"`{a}` " + " and ".join(parts)
        if self.scaling:
            if self.better:
                other = b if self.better == a else a
                return f"`{self.better}` scales better than `{other}`"
            return f"time of `{a}` and `{b}` over {len(self.scaling)} sizes"
        return f"time of `{a}` and `{b}`"

    def entries_needed(self) -> list[str]:
        return [c["entry"] for c in self.candidates if c.get("entry")] or list(self.problem.entries)

    def backend_of(self, i: int) -> str:
        backends = self.spec.options.get("backends")
        return backends[i] if backends else self.backend_name

    # -- inputs ----------------------------------------------------------------------------
    def inputs(self) -> list[tuple]:
        if self._inputs is None:
            if self.scaling:
                fn = self.fn(self.spec.inputs)  # type: ignore[arg-type]
                rng = self.rng()
                raw = [fn(rng, size) for size in self.scaling]
                self._inputs = [tuple(a) if isinstance(a, (list, tuple)) else (a,) for a in raw]
            else:
                super().inputs()
        return self._inputs  # type: ignore[return-value]

    # -- asking ----------------------------------------------------------------------------
    def requests(self) -> list[Request]:
        cands = []
        for i, c in enumerate(self.candidates):
            argnums = c.get("argnums", 0)
            cands.append({
                "label": c["label"],
                "backend": self.backend_of(i),
                "entry": c.get("entry"),
                "wrapper": self.wrapper_payload(c["wrapper"]) if c.get("wrapper") else None,
                "transform": c.get("transform"),
                "argnums": list(argnums) if isinstance(argnums, (list, tuple)) else argnums,
                "jit": bool(c.get("jit", False)),
            })
        params = {
            "candidates": cands,
            "points": [protocol.encode(list(args)) for args in self.inputs()],
            "budget": self.budget,
            "min_rounds": MIN_ROUNDS[self._mode],
            # rounds stop well before the parent's deadline, whatever the warm-up took
            "deadline": 0.6 * self.time_limit,
            "clock": self.clock,
        }
        if self.spec.test_functions:  # handed to both candidates as their first argument
            params["test_function"] = self.wrapper_payload(self.spec.test_functions[0])
        return [Request(f"{self.key}/timing", "adgrade.checks.timing_probe:probe_timing", params, self.time_limit)]

    # -- judging ---------------------------------------------------------------------------
    def judge(self, answers: list) -> CheckResult:
        answer = answers[0]
        early = self._process_failure(answer)
        if early is not None:
            return early
        try:
            data = _read_measurements(answer.value, n_points=len(self.inputs()))
        except ValueError as exc:
            return self.result("error", f"the timing measurements sent back by the submission's process cannot be "
                                        f"read ({exc}); did the code replace parts of Python or of adgrade?")
        if "missing" in data:
            name = data["missing"]
            if self.spec.optional:
                return self.result("skipped", f"`{name}` is not defined; nothing to time")
            return self.result("error", f"`{name}` is not defined when the cells of {self.problem.id} end, so it "
                                        f"cannot be timed. Define it with exactly this name in the "
                                        f"{self.problem.id} cell(s).")
        if "error" in data:
            size = ""
            if data.get("point") is not None and self.scaling:
                size = f" at size {size_text(self.scaling[data['point']])}"
            return self.result("error", f"`{data['label']}` raised an error while it was being timed{size}: "
                               + explain_error(data["error"]) + self.error_hint(data["error"]))
        # with a bound on the first candidate, ratios read time(first) / time(second): the slowdown itself
        better = self.labels[1] if self.bounds else self.better
        stats = analyse(data["times"], self.labels, better, self.scaling)
        stats["rounds"] = data["rounds"]
        stats["notes"] = data["notes"]
        return self._verdict(stats, data)

    def _process_failure(self, answer) -> CheckResult | None:
        if answer.status == "ok":
            return None
        if answer.status == "missing":
            name = (answer.error or {}).get("message") or "an entry"
            if self.spec.optional:
                return self.result("skipped", f"`{name}` is not defined; nothing to time")
            return self.result("error", f"`{name}` is not defined when the cells of {self.problem.id} end.")
        if answer.status == "timeout":
            return self.result("timeout", f"timing {self.subject} did not finish: {answer.message} "
                                          f"(a single call must take well under the time limit of "
                                          f"{self.time_limit:g} s)")
        if answer.status == "error":
            return self.result("error", f"timing {self.subject} raised an error: " + explain_error(answer.error))
        return self.result("error", f"timing {self.subject}: {answer.message}")

    def _verdict(self, stats: dict, data: dict) -> CheckResult:
        a, b = self.labels
        lines = [timing_table(stats, self.scaling)]
        bound_details: dict[str, Any] = {}
        if self.bounds and self.scored:
            statuses, heads = [], []
            size_names = [size_text(s) for s in self.scaling] if self.scaling else None
            if "max_slowdown" in self.bounds:
                per = slowdowns(stats, a) if self.scaling else [pooled_slowdown(stats, a)]
                st, words = judge_slowdown(a, b, self.bounds["max_slowdown"], per, size_names)
                statuses.append(st)
                heads.append(words)
                bound_details.update(slowdown=[v for v, _ in per], slowdown_ci=[ci for _, ci in per],
                                     max_slowdown=self.bounds["max_slowdown"])
            if "max_exponent" in self.bounds:
                st, words = judge_exponent(a, self.bounds["max_exponent"], stats["exponents"][a],
                                           stats["exponents_ci"][a])
                statuses.append(st)
                heads.append(words)
                bound_details.update(max_exponent=self.bounds["max_exponent"])
            status, head = worst(statuses), ""
            lines = heads + lines
        elif not (self.scored and self.better):
            status, head = "passed", ""
        elif stats["statistic_ci"] is None:
            status = "inconclusive"
            head = "Too few rounds could be timed to compare the two. Not counted against you."
        else:
            lo, hi = stats["statistic_ci"]
            if lo > self.margin:
                status = "passed"
            elif hi < self.margin / TOLERANCE:
                status = "failed"
            else:
                status = "inconclusive"
            head = self._scored_words(status, stats)
        if head:
            lines.insert(0, head)
        if (not head and not (self.bounds and not self.scaling)) or self.scaling:  # a ratio's head says it all
            lines.append(summary_line(stats, self.scaling, self.better))
        if data["notes"]:
            lines.extend(f"Note: {n}" for n in data["notes"])
        if not (self.scored and self.judged):
            lines.append("Reported, not scored.")
        hint = self.when_hint(status) if status in ("failed", "inconclusive") else ""
        hint = f"\n  Hint: {hint}" if hint else ""
        details = {
            "labels": [a, b],
            "statistic": stats["statistic"],
            "estimate": stats["statistic_value"],
            "ci": stats["statistic_ci"],
            "confidence": CONFIDENCE,
            "margin": self.margin if (self.scored and self.better) else None,
            **bound_details,
            "scored": self.scored,
            "better": self.better,
            "sizes": [size_scalar(s) for s in self.scaling] if self.scaling else None,
            "size_names": [size_text(s) for s in self.scaling] if self.scaling else None,
            "times": stats["times"],
            "times_ci": stats["times_ci"],
            "ratio_of": stats["ratio_of"],
            "ratio": stats["ratio"],
            "ratio_ci": stats["ratio_ci"],
            "growth": stats.get("growth"),
            "growth_ci": stats.get("growth_ci"),
            "exponents": stats.get("exponents"),
            "exponents_ci": stats.get("exponents_ci"),
            "rounds": data["rounds"],
            "repeats": data["repeats"],
            "first_call_seconds": data["first"],
            "measure_seconds": data["seconds"],
            "clock": data["clock"],
            "notes": data["notes"],
        }
        return self.result(status, "\n".join(lines) + hint, **details)

    def _scored_words(self, status: str, stats: dict) -> str:
        a, b = self.labels
        better = self.better
        other = b if better == a else a
        value, (lo, hi) = stats["statistic_value"], stats["statistic_ci"]
        ci = f"{_num(value)} ({CONFIDENCE:.0%} CI {_num(lo)} to {_num(hi)})"
        noisy = "Not counted against you: the machine was too noisy to tell, or the difference is too small."
        if self.scaling:
            rise = (f"time({other}) / time({better}) grows by a factor {ci} from the smallest to the largest size "
                    f"(it must grow by more than {_num(self.margin)})")
            if status == "passed":
                return f"`{better}`'s time grows more slowly with size than `{other}`'s: {rise}."
            if status == "failed":
                how = "its time grows faster" if hi < 1 else "their times grow alike"
                return f"`{better}` must scale better than `{other}`, but {how}: {rise}."
            return f"Could not tell whether `{better}` scales better than `{other}`: {rise}. {noisy}"
        ratio = f"time({other}) / time({better}) = {ci}"
        if self.margin != 1.0:
            # say what was measured, in the direction it went, then what was asked (a margin below 1 allows
            # `better` to be slower: a pass at 0.84 is not "faster")
            fact = (f"`{better}` is {_num(value)}× faster than `{other}`" if value >= 1 else
                    f"`{better}` is {_num(1 / value)}× slower than `{other}`")
            need = (f"it must be at least {_num(self.margin)}× faster" if self.margin > 1 else
                    f"it may be at most {_num(1 / self.margin)}× slower")
            if status == "inconclusive":
                return f"Could not tell whether {need[3:]}: {fact} ({ratio}). {noisy}"
            return f"{fact} ({ratio}); {need}."
        if status == "passed":
            return f"`{better}` is faster than `{other}`: {ratio}."
        if status == "failed":
            return f"`{better}` must be faster than `{other}`, but it is not: {ratio}."
        if lo >= self.margin / TOLERANCE and hi <= self.margin * TOLERANCE:
            return (f"`{better}` and `{other}` take the same time, to within {TOLERANCE - 1:.0%}: {ratio}. "
                    f"Not counted against you.")
        return f"Could not tell whether `{better}` is faster than `{other}`: {ratio}. {noisy}"


def _read_measurements(value: Any, n_points: int) -> dict:
    """The child's answer, checked to be the plain shape the probe sends (it is untrusted data)."""
    if not isinstance(value, dict):
        raise ValueError("not a table")
    if "missing" in value:
        return {"missing": str(value["missing"])[:200]}
    if "error" in value:
        error = value["error"] if isinstance(value["error"], dict) else {"type": "Exception", "message": str(value["error"])}
        point = value.get("point")
        return {"error": error, "label": str(value.get("label", "?"))[:200],
                "point": point if isinstance(point, int) and 0 <= point < n_points else None}
    times = value.get("times")
    if not isinstance(times, list) or len(times) != n_points:
        raise ValueError("times per input missing")
    rounds = None
    clean = []
    for per_point in times:
        if not isinstance(per_point, list) or len(per_point) != 2:
            raise ValueError("two candidates expected")
        row = []
        for samples in per_point:
            arr = np.asarray(samples, dtype=float) if isinstance(samples, list) else None
            if arr is None or arr.ndim != 1 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
                raise ValueError("times must be positive numbers")
            rounds = len(arr) if rounds is None else rounds
            if len(arr) != rounds:
                raise ValueError("every candidate and size needs the same number of rounds")
            row.append(arr)
        clean.append(row)

    def plain_list(key: str) -> list:
        v = value.get(key)
        return v if isinstance(v, list) else []

    notes = [str(n)[:300] for n in plain_list("notes")[:10]]
    seconds = value.get("seconds")
    return {"times": clean, "rounds": int(rounds or 0), "notes": notes,
            "repeats": _plain_nested(plain_list("repeats")), "first": _plain_nested(plain_list("first")),
            "seconds": float(seconds) if isinstance(seconds, (int, float)) else None,
            "clock": "wall" if value.get("clock") == "wall" else "cpu"}


def _plain_nested(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain_nested(v) for v in value[:100]]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return None


# -- words ---------------------------------------------------------------------------------------

def _seconds(t: float) -> str:
    if not math.isfinite(t):
        return "?"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t / 1e-9:.3g} ns"


def _num(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "?"
    if abs(x) >= 1000:
        return f"{x:.0f}"
    return f"{x:.3g}"


def timing_table(stats: dict, scaling: list | None) -> str:
    labels = list(stats["times"])
    n = len(stats["ratio"])
    rows = []
    for p in range(n):
        where = f"size {size_text(scaling[p])}" if scaling else (f"input {p + 1}" if n > 1 else "")
        cells = ", ".join(f"{label} {_seconds(stats['times'][label][p])}" for label in labels)
        rows.append(f"  {where + ': ' if where else ''}{cells} (ratio {stats['ratio_of']} = {_num(stats['ratio'][p])})")
    head = "Median time per call" + (" at each size:" if scaling else ":")
    if n == 1 and not scaling:
        return head + rows[0][1:]
    return "\n".join([head] + rows)


def summary_line(stats: dict, scaling: list | None, better: str | None) -> str:
    value, ci = stats["statistic_value"], stats["statistic_ci"]
    ci_text = f"{CONFIDENCE:.0%} CI {_num(ci[0])} to {_num(ci[1])}" if ci else "too few rounds for an interval"
    if scaling:
        exps = ", ".join(f"{label} ~ size^{e:.2f}" for label, e in stats["exponents"].items())
        lo, hi = stats["smallest"], stats["largest"]
        return (f"Growth with size (log-log slope of time): {exps}. The ratio {stats['ratio_of']} goes from "
                f"{_num(stats['ratio'][lo])} at size {size_text(scaling[lo])} to {_num(stats['ratio'][hi])} at size "
                f"{size_text(scaling[hi])}: a factor {_num(value)} ({ci_text}).")
    return f"Ratio {stats['ratio_of']}: {_num(value)} ({ci_text})."
