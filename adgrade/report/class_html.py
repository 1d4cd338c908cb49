"""The class report of a batch as one self-contained HTML page (`adgrade report OUT --format html`).

From the class summary (`adgrade.batch.summarize`, the data of OUT/summary.json) and the reports
(OUT/reports/*.json, the report contract): the score histogram, the pass rate per problem, the most
common failures, a table of students and, further down, one section per student (its anchor is
`#student-<id>`) with every check that did not pass. Inline CSS and PNGs only; everything is escaped.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from adgrade.report import plots, scores
from adgrade.report.html import anchor, badge, esc, flags_banner, img, page
from adgrade.report.scores import points as pts

CLASS_CSS = """
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
.charts figure { margin: 8px 0; }
td.cell-passed { background: #dafbe1; } td.cell-failed { background: #ffebe9; } td.cell-missing { color: var(--muted); }
section.student { border: 1px solid var(--line); border-radius: 8px; margin: 14px 0; padding: 10px 16px; }
section.student h3 { font-size: 16px; }
section.student .pts { margin-left: auto; font-weight: 600; font-variant-numeric: tabular-nums; }
.failure { margin: 8px 0 0; }
.top-link { font-size: 13px; }
table.failures td:last-child { white-space: nowrap; }
"""

NOT_PASSING = ("failed", "error", "timeout", "warning")


def _status(data: dict[str, Any]) -> str:
    return "error" if data.get("grader_error") else str(data.get("status", "error"))


def _students_links(students: list[str], known: set[str]) -> str:
    return ", ".join(f'<a href="#{anchor("student", s)}">{esc(s)}</a>' if s in known else esc(s) for s in students)


def _problem_ids(reports: dict[str, dict[str, Any]]) -> list[str]:
    order: list[str] = []
    for data in reports.values():
        for p in data.get("problems", []):
            if isinstance(p, dict) and p.get("id") not in order:
                order.append(p.get("id"))
    return order


def render_class_html(summary: dict[str, Any], reports: dict[str, dict[str, Any]], title: str = "",
                      reports_href: str | None = "reports") -> str:
    """The page (text). REPORTS_HREF: where the per-student JSON reports are, relative to the page
    (None: no links to them)."""
    assignments = Counter(str(d.get("assignment", "")) for d in reports.values())
    assignment = assignments.most_common(1)[0][0] if assignments else ""
    title = title or f"{assignment}: class report"
    known = set(reports)
    n = summary.get("submissions", len(reports))
    status = summary.get("status", {})
    score = summary.get("score") or {}
    max_score = float(summary.get("max_score", 0) or 0)
    body: list[str] = []
    head = (f'<header class="top" id="top"><div><h1>{esc(title)}</h1>'
            f'<div class="muted" id="counts">{int(n)} submission(s): {badge("passed")} {int(status.get("passed", 0))} '
            f'&nbsp; {badge("failed")} {int(status.get("failed", 0))} &nbsp; {badge("error")} '
            f'{int(status.get("error", 0))} could not be graded</div></div>')
    if score:
        head += (f'<div class="scorebox"><div class="score" id="mean-score">{pts(score.get("mean"))}'
                 f'<span class="of"> / {pts(max_score)}</span></div><div class="muted">mean score; median '
                 f'{pts(score.get("median"))}, min {pts(score.get("min"))}, max {pts(score.get("max"))}</div></div>')
    body.append(head + "</header>")

    # charts
    charts = []
    try:
        charts.append(img(plots.histogram_png(summary.get("histogram") or [], max_score), "score histogram"))
        charts.append(img(plots.pass_rate_png(summary.get("problems") or []), "pass rate per problem"))
    except Exception as exc:  # a plot never costs the report
        charts.append(f'<p class="muted">(no charts: {esc(type(exc).__name__)}: {esc(exc)})</p>')
    body.append('<div class="charts">' + "".join(charts) + "</div>")

    # per problem
    problems = summary.get("problems") or []
    if problems:
        rows = []
        for p in problems:
            rate = float(p.get("pass_rate", 0.0))
            bar = (f'<span class="bar" style="width:{max(1, round(rate * 120))}px;background:{plots.rate_color(rate)}">'
                   "</span>")
            bonus = ' <span class="tag">bonus</span>' if p.get("bonus") else ""
            rows.append(f'<tr><td>{esc(p.get("id"))}</td><td>{esc(p.get("title", ""))}{bonus}</td>'
                        f'<td class="num">{int(p.get("passed", 0))} / {int(p.get("graded", 0))}</td>'
                        f'<td class="num">{rate:.0%}</td><td>{bar}</td>'
                        f'<td class="num">{pts(p.get("mean_score"))} / {pts(p.get("max_score"))}</td></tr>')
        body.append('<h2 id="problems">Pass rate per problem</h2><table class="problems"><thead><tr><th>problem</th>'
                    '<th>title</th><th class="num">passed</th><th class="num">pass rate</th><th></th>'
                    '<th class="num">mean score</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")

    # most common failures
    failures = summary.get("failures") or []
    body.append('<h2 id="failures">Most common failures</h2>')
    if failures:
        rows = [f'<tr><td class="num">{int(f.get("count", 0))}</td><td>{esc(" ".join(f.get("problems", [])))}</td>'
                f'<td><code>{esc(f.get("message", ""))}</code></td>'
                f'<td>{_students_links(list(f.get("students", [])), known)}</td></tr>' for f in failures]
        body.append('<p class="muted">First line of each message, numbers replaced by #.</p>'
                    '<table class="failures"><thead><tr><th class="num">students</th><th>problems</th><th>message</th>'
                    "<th>e.g.</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
    else:
        body.append('<p class="muted">No failures.</p>')

    # the reports an instructor must look at
    flagged = summary.get("flagged") or []
    if flagged:
        rows = [f'<tr><td>{_students_links([str(f.get("student", ""))], known)}</td>'
                f'<td>{esc(" ".join(str(x) for x in f.get("flags", [])))}</td>'
                f'<td>{"<br>".join(esc(r) for r in f.get("review", []))}</td></tr>' for f in flagged]
        body.append('<section id="flagged"><h2>Flagged for your review</h2><table class="failures"><thead><tr>'
                    "<th>student</th><th>flags</th><th>why</th></tr></thead><tbody>" + "".join(rows)
                    + "</tbody></table></section>")

    # students
    pids = _problem_ids(reports)
    head_cells = "".join(f'<th class="num">{esc(pid)}</th>' for pid in pids)
    rows = []
    for student in sorted(reports):
        data = reports[student]
        by_id = {p.get("id"): p for p in data.get("problems", []) if isinstance(p, dict)}
        cells = []
        for pid in pids:
            p = by_id.get(pid)
            if p is None:
                cells.append('<td class="num cell-missing">–</td>')
            else:
                cls = "cell-passed" if p.get("status") == "passed" else "cell-failed"
                cells.append(f'<td class="num {cls}" title="{esc(p.get("status", ""))}">{pts(p.get("score", 0))}</td>')
        submission = Path(str(data.get("submission", ""))).name
        rows.append(f'<tr><td><a href="#{anchor("student", student)}">{esc(student)}</a></td>'
                    f"<td><code>{esc(submission)}</code></td>{''.join(cells)}"
                    f'<td class="num"><strong>{pts(data.get("score", 0))}</strong>{_bonus_words(data)}</td>'
                    f'<td class="num">{pts(data.get("max_score", 0))}</td><td>{badge(_status(data))}</td></tr>')
    body.append('<h2 id="students">Students</h2><table class="students"><thead><tr><th>student</th><th>file</th>'
                f'{head_cells}<th class="num">total</th><th class="num">max</th><th>status</th></tr></thead><tbody>'
                + "".join(rows) + "</tbody></table>")

    # one section per student: what did not pass
    body.append('<h2 id="details">Each student</h2>')
    for student in sorted(reports):
        body.append(_student_section(student, reports[student], reports_href))
    return page(title, body, CLASS_CSS)


def _bonus_words(data: dict[str, Any]) -> str:
    bonus = scores.points(scores.bonus_of(data))
    return f' <span class="muted">({bonus} bonus)</span>' if bonus != "0" else ""


def _student_section(student: str, data: dict[str, Any], reports_href: str | None) -> str:
    link = (f' <a class="top-link" href="{esc(reports_href.rstrip("/") + "/" + student + ".json")}">JSON report</a>'
            if reports_href else "")
    out = [f'<section class="student" id="{anchor("student", student)}"><h3>{badge(_status(data))} {esc(student)}'
           f'<span class="pts">{esc(scores.report_total(data))}</span></h3>'
           f'<div class="muted"><code>{esc(data.get("submission", ""))}</code>{link} · '
           '<a class="top-link" href="#top">back to top</a></div>']
    if data.get("grader_error"):
        out.append(f'<div class="banner bad">The grader failed here (graded again on --resume):'
                   f'<pre>{esc(data["grader_error"])}</pre></div>')
    if data.get("message"):
        out.append(f'<div class="banner bad">Could not grade this submission:<pre>{esc(data["message"])}</pre></div>')
    if data.get("flags"):
        out.append(flags_banner(list(data["flags"]), list(data.get("review") or [])))
    shown = 0
    for p in data.get("problems", []):
        if not isinstance(p, dict):
            continue
        for c in p.get("checks", []):
            if not isinstance(c, dict) or c.get("status") not in NOT_PASSING:
                continue
            shown += 1
            hidden = ' <span class="tag">hidden</span>' if c.get("hidden") else ""
            out.append(f'<div class="failure"><strong>{esc(p.get("id"))}</strong> {badge(str(c.get("status")))} '
                       f'{esc(c.get("name", ""))}{hidden} <span class="muted">({scores.problem(c.get("score", 0), c.get("max_score", 0))})</span>'
                       + (f'<pre>{esc(c.get("message"))}</pre>' if c.get("message") else "") + "</div>")
    if not shown and not data.get("message") and not data.get("grader_error"):
        out.append('<p class="muted">Every check passed.</p>')
    notes = list(data.get("notes", []))
    if notes:
        out.append("<ul>" + "".join(f'<li class="note">{esc(n)}</li>' for n in notes) + "</ul>")
    out.append("</section>")
    return "".join(out)
