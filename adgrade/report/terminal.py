"""Rich terminal output: a table of problems, each failing check with its message, the total.

What is written passes through `neutralise_commands` after wrapping, so no line of it (a
student's exception message included) can pass for a CI workflow command; every string of the
report has its control characters made visible first (`clean_strings`: no title, clipboard or
screen-clearing escape sequence from a student's print reaches the terminal).
"""

from __future__ import annotations

import io
import sys

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from adgrade.report import scores
from adgrade.report.escape import clean_strings, neutralise_commands
from adgrade.results import Report

STYLE = {"passed": "green", "failed": "red", "error": "red", "timeout": "red", "skipped": "dim",
         "inconclusive": "yellow", "warning": "yellow"}
MARK = {"passed": "✓", "failed": "✗", "error": "!", "timeout": "⏱", "skipped": "-", "inconclusive": "?",
        "warning": "⚠"}


def build(report: Report, verbose: bool = False) -> Group:
    report = clean_strings(report)  # no control character of the student's reaches the terminal
    parts = []
    title = f"[bold]{escape(report.assignment)}[/] — {escape(report.submission)}"
    if report.error:
        # the submission was never run: one message says why, not one per check under a table of zeros
        parts.append(Panel(escape(report.error), title="could not grade this submission", border_style="red"))
        parts.extend(_flags(report))
        parts.append(_total(report))
        return Group(*parts)
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("problem")
    table.add_column("title")
    table.add_column("score", justify="right")
    table.add_column("status")
    for p in report.problems:
        bonus = " (bonus)" if p.bonus else ""
        points = scores.problem(p.score, p.max_score, p.bonus)
        style = STYLE.get(p.status, "")
        table.add_row(p.id, escape(p.title) + bonus, points, f"[{style}]{p.status}[/]")
    parts.append(table)
    for p in report.problems:
        shown = [c for c in p.checks if verbose or c.status not in ("passed", "skipped")]
        if not shown and not p.notes:
            continue
        lines = Text()
        for c in shown:
            style = STYLE.get(c.status, "")
            lines.append(f"{MARK.get(c.status, '?')} {c.name}", style=f"bold {style}")
            lines.append(f"  [{c.status}, {scores.problem(c.score, c.max_score)}]\n", style="dim")
            if c.message:
                for line in c.message.splitlines():
                    lines.append(f"    {line}\n")
            seconds = c.details.get("median_seconds")
            if verbose and seconds:
                lines.append(f"    took {seconds * 1e3:.2f} ms (median)\n", style="dim")
        for note in p.notes:
            if not any(note in c.message for c in shown):
                lines.append(f"  note: {note}\n", style="yellow")
        parts.append(Panel(lines, title=f"{p.id}: {escape(p.title)}", title_align="left",
                           border_style=STYLE.get(p.status, "")))
    for note in report.notes:
        parts.append(Text(f"note: {note}", style="yellow"))
    if report.hidden_not_run:
        parts.append(Text(f"{report.hidden_not_run} hidden check(s) were not run here; your final score may differ.",
                          style="bold yellow"))
    parts.extend(_flags(report))
    parts.append(_total(report))
    return Group(*parts)


def _flags(report: Report) -> list[Text]:
    """What the instructor will be asked to look at, and why (the student sees it too: nothing is hidden)."""
    if not report.flags:
        return []
    lines = [Text(f"flagged for the instructor's review ({', '.join(report.flags)}):", style="bold red")]
    lines += [Text(f"  {why}", style="red") for why in report.review]
    return lines


def _total(report: Report) -> Text:
    total_style = STYLE.get(report.status, "")
    return Text.from_markup(
        f"[bold]Total: {scores.report_total(report)}[/]  [{total_style}]{report.status}[/]"
        f"  [dim]({report.duration_s:.1f} s)[/]")


def render_text(report: Report, verbose: bool = False, width: int | None = None, color: bool = False) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width or 100, force_terminal=color, color_system="auto" if color else None,
                      highlight=False)
    console.print(build(report, verbose))
    return neutralise_commands(buffer.getvalue())


def print_text(report: Report, verbose: bool = False, console: Console | None = None) -> None:
    """Print the report on the terminal (colours where it is one), neutralised like render_text."""
    console = console or Console(highlight=False)
    with console.capture() as capture:
        console.print(build(report, verbose))
    out = console.file if console.file is not None else sys.stdout
    out.write(neutralise_commands(capture.get()))
    out.flush()
