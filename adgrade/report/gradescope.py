"""Gradescope's autograder `results.json` for one submission.

The format (gradescope-autograders.readthedocs.io, "Autograder Specifications"): a top-level
`score`, `execution_time` (seconds), `output`, and `tests[]`, each with `name`, `score`,
`max_score`, `status` ("passed" / "failed"), `output` and `visibility` ("visible",
"after_due_date", "after_published" or "hidden"). One test per check; hidden checks get
the hidden visibility asked for (default "after_published": students see them once grades
are published).
"""

from __future__ import annotations

import json
import math
from typing import Any

from adgrade import __version__
from adgrade.report import scores
from adgrade.report.escape import neutralise_json
from adgrade.results import Report

HIDDEN_VISIBILITIES = ("after_published", "after_due_date", "hidden")
#: check statuses shown as passed on Gradescope (warnings lose no points; inconclusive timings score as passed)
PASSING = ("passed", "inconclusive", "warning")


def test_status(status: str, score: float, max_score: float) -> str:
    if status in PASSING:
        return "passed"
    if status == "skipped":
        return "passed" if score >= max_score - 1e-9 else "failed"
    return "failed"


def _test_output(status: str, message: str) -> str:
    prefix = {"warning": "Warning (no points lost): ", "inconclusive": "Inconclusive (scored as passed): ",
              "timeout": "Timed out: ", "error": "Error: ", "skipped": "Skipped: "}.get(status, "")
    return (prefix + message) if message or prefix else ""


def gradescope_dict(report: Report, hidden_visibility: str = "after_published") -> dict[str, Any]:
    if hidden_visibility not in HIDDEN_VISIBILITIES:
        raise ValueError(f"hidden visibility must be one of {', '.join(HIDDEN_VISIBILITIES)}")
    tests = []
    for problem, check in report.checks():
        name = f"{problem.id}: {check.name}" + (" (bonus)" if problem.bonus else "")
        tests.append({
            "name": name,
            "score": round(check.score, 6),
            "max_score": round(check.max_score, 6),
            "status": test_status(check.status, check.score, check.max_score),
            "output": _test_output(check.status, check.message),
            "visibility": hidden_visibility if check.hidden else "visible",
            "tags": [t for t in (problem.id, check.kind, "bonus" if problem.bonus else "") if t],
        })
    lines = [f"{report.assignment}: {scores.report_total(report)} ({report.status})"]
    if report.error:
        lines.append("")
        lines.append(f"Could not grade this submission: {report.error}")
    for problem in report.problems:
        for note in problem.notes:
            lines.append(f"{problem.id}: {note}")
    lines.extend(f"Note: {note}" for note in report.notes)
    return {
        "score": round(report.score, 6),
        "execution_time": max(1, math.ceil(report.duration_s)),
        "output": "\n".join(lines),
        "output_format": "text",
        "tests": tests,
        "extra_data": {"adgrade": __version__, "assignment": report.assignment, "status": report.status,
                       "max_score": round(report.max_score, 6)},
    }


def render_gradescope(report: Report, hidden_visibility: str = "after_published") -> str:
    return neutralise_json(json.dumps(gradescope_dict(report, hidden_visibility), indent=2, ensure_ascii=False))
