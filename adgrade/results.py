"""The result model: what the engine returns and every renderer reads.

Plain dataclasses; `to_dict()` gives the JSON report contract
(shared/report-contract.md). Fields beyond the contract are additions, never
renames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adgrade import __version__

CHECK_STATUSES = ("passed", "failed", "error", "timeout", "skipped", "inconclusive", "warning")
#: statuses that make a problem fail
FAILING = ("failed", "error", "timeout")
#: a report's flags for the instructor, gravest first (Report.flags)
FLAG_ORDER = ("tampering", "review")


@dataclass
class CheckResult:
    name: str
    status: str
    score: float
    max_score: float
    message: str = ""
    hidden: bool = False
    kind: str = ""
    #: extra data for rich renderers (worst element, arrays for heat maps, timings); not in the contract
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "status": self.status,
            "score": round(self.score, 6),
            "max_score": round(self.max_score, 6),
            "message": self.message,
            "hidden": self.hidden,
            "kind": self.kind,
        }
        plain = _plain_details(self.details)
        if plain:
            out["details"] = plain
        return out


@dataclass
class ProblemResult:
    id: str
    title: str
    bonus: bool
    max_score: float
    checks: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: left for the instructor to grade by hand (the problem set allows it and there is no code for it):
    #: its checks are `skipped`, its points are not awarded here and stay in the maximum
    by_hand: bool = False

    @property
    def score(self) -> float:
        return sum(c.score for c in self.checks)

    @property
    def status(self) -> str:
        if any(c.status in FAILING for c in self.checks):
            return "failed"
        return "passed" if self.score >= self.max_score - 1e-9 else "failed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "bonus": self.bonus,
            "title": self.title,
            "score": round(self.score, 6),
            "max_score": round(self.max_score, 6),
            "status": self.status,
            "checks": [c.to_dict() for c in self.checks],
            "notes": list(self.notes),
            **({"by_hand": True} if self.by_hand else {}),
        }


@dataclass
class Report:
    assignment: str
    submission: str
    problems: list[ProblemResult] = field(default_factory=list)
    #: set when the submission could not be graded at all
    error: str = ""
    notes: list[str] = field(default_factory=list)
    output: str = ""  # the submission's own printed output (capped)
    duration_s: float = 0.0
    hidden_not_run: int = 0
    #: set when the grader itself failed (not the submission): batch grading retries these on --resume
    grader_error: str = ""
    #: for the instructor: "tampering" (the submission broke the grader's protocol: those questions got 0),
    #: "review" (its code touches the grader's channel or adgrade's internals: look at it)
    flags: list[str] = field(default_factory=list)
    #: why each flag was raised, with the submission's lines
    review: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(p.score for p in self.problems)

    @property
    def max_score(self) -> float:
        return sum(p.max_score for p in self.problems if not p.bonus)

    @property
    def status(self) -> str:
        if self.error:
            return "error"
        return "passed" if all(p.status == "passed" for p in self.problems if not p.bonus) else "failed"

    @property
    def exit_code(self) -> int:
        return 0 if self.status == "passed" else 1

    def checks(self):
        for problem in self.problems:
            for check in problem.checks:
                yield problem, check

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "adgrade": __version__,
            "assignment": self.assignment,
            "submission": self.submission,
            "score": round(self.score, 6),
            "max_score": round(self.max_score, 6),
            "status": self.status,
            "problems": [p.to_dict() for p in self.problems],
            "message": self.error,
            "notes": list(self.notes),
            "duration_s": round(self.duration_s, 3),
        }
        if self.hidden_not_run:
            out["hidden_not_run"] = self.hidden_not_run
        if self.grader_error:
            out["grader_error"] = self.grader_error
        if self.flags:
            out["flags"] = list(self.flags)
            out["review"] = list(self.review)
        return out

    def flag(self, name: str, why: str) -> None:
        if name not in self.flags:
            self.flags.append(name)
            self.flags.sort(key=lambda f: (FLAG_ORDER.index(f) if f in FLAG_ORDER else len(FLAG_ORDER), f))
        if why not in self.review:
            self.review.append(why)


def _plain_details(details: dict[str, Any]) -> dict[str, Any]:
    """Only JSON-able scalars/lists of details go into the report (arrays stay for HTML)."""
    out = {}
    for key, value in details.items():
        if key.startswith("_"):
            continue
        if isinstance(value, (str, int, float, bool)) or value is None:
            out[key] = value
        elif isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float, bool)) for v in value):
            out[key] = list(value)
        elif isinstance(value, dict) and all(isinstance(v, (str, int, float, bool, type(None))) for v in value.values()):
            out[key] = dict(value)
        elif _nested_plain(value):  # e.g. timing: {label: [seconds per size]}, [[lo, hi], ...]
            out[key] = _json_copy(value)
    return out


def _nested_plain(value: Any, depth: int = 0) -> bool:
    """Lists and str-keyed dicts of scalars (None included), at most 4 levels deep."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return True
    if depth >= 4:
        return False
    if isinstance(value, (list, tuple)):
        return all(_nested_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _nested_plain(v, depth + 1) for k, v in value.items())
    return False


def _json_copy(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_json_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_copy(v) for k, v in value.items()}
    return value
