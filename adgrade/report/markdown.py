"""Markdown for one submission: GitHub's job summary (`$GITHUB_STEP_SUMMARY`), PR comments.

A heading with the total, a table of problems (score and status), then each check that did
not pass, folded in a <details> with its message in a code block. Everything that comes
from the submission is escaped: it is shown literally, cannot break the table or the
page, and carries no line a CI runner would take for a workflow command.
"""

from __future__ import annotations

from adgrade.report.escape import html_text, md_code_block, md_inline, neutralise_commands, neutralise_controls
from adgrade.report import scores
from adgrade.results import Report

ICON = {"passed": "✅", "failed": "❌", "error": "💥", "timeout": "⏱️", "skipped": "➖", "inconclusive": "❔",
        "warning": "⚠️"}


def _points(score: float, max_score: float, bonus: bool = False) -> str:
    return scores.problem(score, max_score, bonus)


def render_markdown(report: Report, verbose: bool = False) -> str:
    out: list[str] = []
    status = report.status
    out.append(f"## {ICON.get(status, '')} adgrade: {md_inline(report.assignment)} — "
               f"{scores.report_total(report)} ({status})")
    if report.submission:
        out.append("")
        out.append(f"Submission: {md_inline(report.submission)}")
    if report.error:
        out.append("")
        out.append("**This submission could not be graded:**")
        out.append("")
        out.append(md_code_block(report.error))
        # nothing ran: the one message says why (not once more per check, under a table of zeros)
        return neutralise_commands(neutralise_controls("\n".join(out).rstrip() + "\n"))
    out.append("")
    out.append("| Problem | Title | Score | Status |")
    out.append("|---|---|---:|---|")
    for p in report.problems:
        title = md_inline(p.title) + (" (bonus)" if p.bonus else "")
        out.append(f"| {md_inline(p.id)} | {title} | {_points(p.score, p.max_score, p.bonus)} | "
                   f"{ICON.get(p.status, '')} {p.status} |")
    out.append(f"| **Total** | | **{scores.report_total(report)}** | "
               f"**{ICON.get(status, '')} {status}** |")

    details: list[str] = []
    for p in report.problems:
        for c in p.checks:
            if c.status in ("passed", "skipped") and not verbose:
                continue
            if c.status == "passed" and not c.message:
                continue
            summary = (f"{ICON.get(c.status, '')} <b>{html_text(p.id)}</b>: {html_text(c.name)} — "
                       f"{html_text(c.status)}, {scores.problem(c.score, c.max_score)}")
            details.append(f"<details><summary>{summary}</summary>")
            details.append("")
            details.append(md_code_block(c.message or "(no message)"))
            details.append("")
            details.append("</details>")
            details.append("")
        for note in p.notes:
            if not any(note in c.message for c in p.checks):
                details.append(f"- **{md_inline(p.id)}**: {md_inline(note)}")
                details.append("")
    if details:
        out.append("")
        out.append("### What to look at")
        out.append("")
        out.extend(details)
    notes = [md_inline(n) for n in report.notes]
    if report.hidden_not_run:
        notes.append(f"{report.hidden_not_run} hidden check(s) were not run here; your final score may differ.")
    if notes:
        out.append("")
        out.extend(f"> {n}" for n in notes)
    return neutralise_commands(neutralise_controls("\n".join(out).rstrip() + "\n"))
