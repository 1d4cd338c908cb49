"""The CSV gradebook: one row per student, a column per problem, total, max, status."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from adgrade.results import Report

FIXED_HEAD = ["student", "submission"]
FIXED_TAIL = ["total", "max", "status"]


#: a character that starts a formula, after the start of a cell, or after anything a spreadsheet may split
#: cells at (a program that reads `x;=1+2;.py` with `;` as its separator sees the cell `=1+2`)
_FORMULA = re.compile(r"(^|[,;|\t\r\n])(\s*)([=+\-@\t\r])")


def _safe(text: str) -> str:
    """No spreadsheet formula from a student's name or file name (CSV injection), whatever the separator.

    OWASP's guidance: a single quote before the character that would start a formula, here
    wherever a cell could start (the cell's start, or after a separator of any kind).
    """
    return _FORMULA.sub(lambda m: m.group(1) + m.group(2) + "'" + m.group(3), text)


def _number(value: float) -> str:
    return f"{round(float(value), 6):g}"


def gradebook_rows(reports: dict[str, dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and rows from report data (the JSON contract) by student; problems in the order first met."""
    problems: list[str] = []
    for data in reports.values():
        for p in data.get("problems", []):
            if p["id"] not in problems:
                problems.append(p["id"])
    # "flags" (tampering, review: results.Report.flags) only in a class where some report has one
    flagged = any(data.get("flags") for data in reports.values())
    header = FIXED_HEAD + problems + FIXED_TAIL + (["flags"] if flagged else [])
    rows = []
    for student in sorted(reports):
        data = reports[student]
        by_id = {p["id"]: p for p in data.get("problems", [])}
        submission = Path(str(data.get("submission", ""))).name
        row = [_safe(student), _safe(submission)]
        row += [_number(by_id[q]["score"]) if q in by_id else "" for q in problems]
        status = "error" if data.get("grader_error") else data.get("status", "")  # graded again on --resume
        row += [_number(data.get("score", 0)), _number(data.get("max_score", 0)), status]
        if flagged:
            row.append(" ".join(str(f) for f in data.get("flags") or [] if isinstance(f, str))[:200])
        rows.append(row)
    return header, rows


def render_gradebook(reports: dict[str, dict[str, Any]]) -> str:
    header, rows = gradebook_rows(reports)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def render_csv(report: Report) -> str:
    """One submission as a one-row gradebook."""
    return render_gradebook({Path(report.submission).stem or "submission": report.to_dict()}).rstrip("\n")
