"""GitHub Classroom's autograding result for one submission.

GitHub Classroom's graders (`classroom-resources/autograding-command-grader`, `-io-grader`,
`-python-grader`) set a step output `result`: this JSON, base64-encoded. The reporter
(`classroom-resources/autograding-grading-reporter`) reads it from an environment variable
`<RUNNER>_RESULTS` for each id in its `runners` input, prints every test, sums the tests'
`score` over the runners' `max_score` for the grade it posts to Classroom, and fails when a
runner's `status` is `fail` or `error`:

```json
{"version": 1, "status": "pass" | "fail" | "error", "max_score": 6,
 "tests": [{"name": "...", "status": "pass" | "fail" | "error", "score": 2, "message": "...",
            "test_code": "...", "filename": "...", "line_no": 0, "duration": 12}]}
```

One test per check, named `<problem>: <check>`; `duration` in milliseconds as the graders
write it. Bonus problems count in the tests' scores, not in `max_score` (as in the report
contract). The reporter prints messages to the CI log, so they are neutralised here (no
line can pass for a workflow command). `classroom_output` gives the `result=<base64>` line
a step appends to `$GITHUB_OUTPUT`.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from adgrade.report.escape import neutralise_commands, neutralise_json
from adgrade.report.gradescope import test_status
from adgrade.results import Report

STATUS = {"passed": "pass", "failed": "fail", "error": "error"}


def _test_state(status: str, score: float, max_score: float) -> str:
    if status in ("error", "timeout"):
        return "error"
    return "pass" if test_status(status, score, max_score) == "passed" else "fail"


def classroom_dict(report: Report, test_code: str = "") -> dict[str, Any]:
    tests = []
    for problem, check in report.checks():
        name = f"{problem.id}: {check.name}" + (" (bonus)" if problem.bonus else "")
        seconds = check.details.get("median_seconds") if isinstance(check.details, dict) else None
        message = check.message
        if check.status not in ("passed", "failed") and check.status:
            message = f"{check.status}: {message}" if message else check.status
        tests.append({
            "name": neutralise_commands(name),
            "status": _test_state(check.status, check.score, check.max_score),
            "score": round(check.score, 6),
            "message": neutralise_commands(message),
            "test_code": test_code or f"adgrade check {report.submission} -a {report.assignment} --only {problem.id}",
            "filename": report.submission,
            "line_no": 0,
            "duration": int(round(seconds * 1000)) if isinstance(seconds, (int, float)) else 0,
        })
    return {
        "version": 1,
        "status": STATUS.get(report.status, "error"),
        "max_score": round(report.max_score, 6),
        "tests": tests,
    }


def render_classroom(report: Report) -> str:
    return neutralise_json(json.dumps(classroom_dict(report), indent=2, ensure_ascii=False))


def classroom_output(report: Report, name: str = "result") -> str:
    """The line for `$GITHUB_OUTPUT`: `result=<base64 of the compact JSON>` (one line, no delimiter needed)."""
    data = json.dumps(classroom_dict(report), ensure_ascii=False, separators=(",", ":"))
    return f"{name}={base64.b64encode(data.encode('utf-8')).decode('ascii')}\n"
