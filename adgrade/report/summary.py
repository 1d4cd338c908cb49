"""The class summary of a batch (data from `adgrade.batch.summarize`): score histogram, pass rate per
problem, the most common failure messages."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from adgrade.report import scores
from adgrade.report.scores import points as pts

BAR = 40


def _bar(count: int, most: int, width: int = BAR) -> str:
    if not count:
        return ""
    return "█" * max(1, round(width * count / most)) if most else ""


def build(summary: dict[str, Any]) -> Group:
    from adgrade.report.escape import clean_strings

    summary = clean_strings(summary)  # failure messages and names are the students'
    parts: list[Any] = []
    status = summary.get("status", {})
    n = summary.get("submissions", 0)
    head = Text.from_markup(
        f"[bold]{n} submission(s)[/]: [green]{status.get('passed', 0)} passed[/], "
        f"[red]{status.get('failed', 0)} failed[/], [red]{status.get('error', 0)} could not be graded[/]")
    parts.append(head)
    score = summary.get("score") or {}
    if score:
        parts.append(Text(f"score out of {pts(summary.get('max_score', 0))}: mean {pts(score['mean'])}, median "
                          f"{pts(score['median'])}, min {pts(score['min'])}, max {pts(score['max'])}"))
    histogram = summary.get("histogram") or []
    if histogram:
        most = max(b["count"] for b in histogram)
        table = Table(title="score distribution", title_justify="left", show_edge=False, box=None)
        table.add_column("score", justify="right")
        table.add_column("n", justify="right")
        table.add_column("")
        last = len(histogram) - 1
        for i, b in enumerate(histogram):
            bracket = "]" if i == last else ")"
            table.add_row(f"[{pts(b['low'])}, {pts(b['high'])}{bracket}", str(b["count"]), _bar(b["count"], most))
        parts.append(table)
    problems = summary.get("problems") or []
    if problems:
        table = Table(title="pass rate per problem", title_justify="left")
        for column, justify in (("problem", "left"), ("title", "left"), ("passed", "right"),
                                ("pass rate", "right"), ("mean score", "right")):
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        for p in problems:
            bonus = " (bonus)" if p.get("bonus") else ""
            table.add_row(p["id"], escape(p.get("title", "")) + bonus, f"{p['passed']}/{p['graded']}",
                          f"{p['pass_rate']:.0%}", scores.problem(p["mean_score"], p["max_score"]))
        parts.append(table)
    failures = summary.get("failures") or []
    if failures:
        table = Table(title="most common failures (numbers replaced by #)", title_justify="left")
        table.add_column("students", justify="right")
        table.add_column("problems")
        table.add_column("message")
        table.add_column("e.g.")
        for f in failures:
            table.add_row(str(f["count"]), " ".join(f["problems"]), escape(f["message"]),
                          escape(", ".join(f["students"][:3])))
        parts.append(table)
    flagged = summary.get("flagged") or []
    if flagged:
        table = Table(title="flagged for your review (tampering: broke the grader's protocol, those questions got 0; "
                            "review: its code reaches for the grader, no points lost)",
                      title_justify="left", title_style="bold red")
        table.add_column("student")
        table.add_column("flags")
        table.add_column("why")
        for f in flagged:
            table.add_row(escape(f["student"]), " ".join(f["flags"]), escape("\n".join(f.get("review") or [])))
        parts.append(table)
    return Group(*parts)


def render_summary_text(summary: dict[str, Any], width: int = 120) -> str:
    from adgrade.report.escape import neutralise_commands

    buffer = io.StringIO()
    Console(file=buffer, width=width, force_terminal=False, color_system=None, highlight=False).print(build(summary))
    return neutralise_commands(buffer.getvalue())


def print_summary(summary: dict[str, Any], console: Console | None = None) -> None:
    """Print the class summary (colours where it is a terminal); no line of it a CI workflow command."""
    import sys

    from adgrade.report.escape import neutralise_commands

    console = console or Console(highlight=False)
    with console.capture() as capture:
        console.print(build(summary))
    out = console.file if console.file is not None else sys.stdout
    out.write(neutralise_commands(capture.get()))
    out.flush()
