"""One way to show scores, in every format people read (text, Markdown, HTML, the class page,
the summary, the CLI's lines): at most two decimals with trailing zeros dropped, and bonus points
counted in the score, never in the maximum, and said: "42 / 40 (2 bonus)". A bonus problem's
own row reads "1 / 1 bonus". The JSON, Gradescope, JUnit and CSV data keep their full numbers
(the report contract)."""

from __future__ import annotations

import math
from typing import Any


def points(value: Any) -> str:
    """36.8462 -> "36.85", 42.0 -> "42", 2.50 -> "2.5"."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    text = f"{round(x, 2):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def total(score: float, max_score: float, bonus: float = 0.0) -> str:
    """A whole report: SCORE includes BONUS (the bonus points earned), MAX_SCORE leaves them out."""
    text = f"{points(score)} / {points(max_score)}"
    return text + (f" ({points(bonus)} bonus)" if points(bonus) != "0" else "")


def problem(score: float, max_score: float, bonus: bool = False) -> str:
    return f"{points(score)} / {points(max_score)}" + (" bonus" if bonus else "")


def bonus_of(data: dict[str, Any]) -> float:
    """The bonus points a report (as JSON data) earned."""
    return sum(float(p.get("score", 0) or 0) for p in data.get("problems", []) if isinstance(p, dict) and p.get("bonus"))


def report_total(report: Any) -> str:
    """total() of a Report (results.Report) or of its JSON data."""
    if isinstance(report, dict):
        return total(float(report.get("score", 0) or 0), float(report.get("max_score", 0) or 0), bonus_of(report))
    bonus = sum(p.score for p in report.problems if p.bonus)
    return total(report.score, report.max_score, bonus)
