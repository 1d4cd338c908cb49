"""One submission as a single self-contained HTML page (`adgrade check ... --format html`).

Inline CSS, images as base64 `data:` URIs, no script and no request of any kind: the file can be
mailed, attached to an LMS or opened offline. Everything that comes from a submission or a
message (names, messages, the student's printed output, numbers) is HTML-escaped.

A failed array comparison (details `_actual` / `_expected`, present when the Report comes straight
from the engine, not from its JSON) gets a heat map of |actual − expected|, and the two arrays side
by side when they are small; a timing check gets its time-against-size plot (log-log).
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable

from adgrade import __version__
from adgrade.report import plots, scores
from adgrade.results import CheckResult, ProblemResult, Report

STATUS_WORDS = {"passed": "passed", "failed": "failed", "error": "error", "timeout": "timed out",
                "skipped": "skipped", "inconclusive": "inconclusive", "warning": "warning"}

CSS = """
:root { --passed:#1a7f37; --failed:#cf222e; --error:#a40e26; --timeout:#bc4c00; --skipped:#6e7781;
  --inconclusive:#9a6700; --warning:#9a6700; --line:#d0d7de; --soft:#f6f8fa; --text:#1f2328; --muted:#59636e; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto,
  "Helvetica Neue", Arial, sans-serif; color: var(--text); background: #fff; max-width: 1180px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 0; display: flex; gap: 10px; align-items: center; flex-wrap: wrap; }
h3 { font-size: 15px; margin: 0; display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
a { color: #0969da; text-decoration: none; } a:hover { text-decoration: underline; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; margin: 8px 0 0;
  overflow-x: auto; white-space: pre-wrap; word-break: break-word; font: 13px/1.45 ui-monospace, SFMono-Regular,
  Menlo, Consolas, monospace; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 12px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 12px; font-weight: 600;
  color: #fff; background: var(--skipped); white-space: nowrap; letter-spacing: .02em; }
.badge.passed { background: var(--passed); } .badge.failed { background: var(--failed); }
.badge.error { background: var(--error); } .badge.timeout { background: var(--timeout); }
.badge.skipped { background: var(--skipped); } .badge.inconclusive, .badge.warning { background: var(--warning); }
.tag { display: inline-block; padding: 0 7px; border-radius: 4px; font-size: 12px; border: 1px solid var(--line);
  color: var(--muted); }
.muted { color: var(--muted); }
header.top { display: flex; justify-content: space-between; align-items: flex-start; gap: 24px; flex-wrap: wrap;
  padding: 18px 22px; border: 1px solid var(--line); border-left: 8px solid var(--skipped); border-radius: 8px;
  margin-bottom: 20px; }
header.top.passed { border-left-color: var(--passed); } header.top.failed { border-left-color: var(--failed); }
header.top.error { border-left-color: var(--error); }
.scorebox { text-align: right; }
.score { font-size: 34px; font-weight: 700; line-height: 1.1; font-variant-numeric: tabular-nums; }
.score .of { font-size: 20px; color: var(--muted); font-weight: 500; }
.banner { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; margin: 12px 0; background: #fff8c5; }
.banner.bad { background: #ffebe9; border-color: #ff818266; }
section.problem { border: 1px solid var(--line); border-radius: 8px; margin: 18px 0; overflow: hidden; }
section.problem > .head { padding: 12px 16px; background: var(--soft); border-bottom: 1px solid var(--line);
  border-left: 6px solid var(--skipped); }
section.problem.passed > .head { border-left-color: var(--passed); }
section.problem.failed > .head { border-left-color: var(--failed); }
section.problem .pts { margin-left: auto; font-weight: 600; font-variant-numeric: tabular-nums; }
.check { padding: 12px 16px; border-top: 1px solid var(--line); }
.check:first-of-type { border-top: 0; }
.check .pts { margin-left: auto; font-variant-numeric: tabular-nums; color: var(--muted); }
figure { margin: 12px 0 0; } figure img { max-width: 100%; height: auto; border: 1px solid var(--line);
  border-radius: 6px; } figcaption { font-size: 13px; color: var(--muted); }
.worst td, .worst th { padding: 3px 10px; font-size: 13px; }
.note { color: #7d4e00; }
details > summary { cursor: pointer; color: var(--muted); margin-top: 8px; }
footer { margin-top: 32px; color: var(--muted); font-size: 13px; }
.bar { display: inline-block; height: 10px; background: var(--passed); border-radius: 2px; vertical-align: middle; }
"""

# characters HTML cannot carry usefully: C0 controls (but tab, newline, return), and lone surrogates,
# which would make the page impossible to write as UTF-8
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", ":": "&#58;",
                          "#": "&#35;"})


def esc(value: Any) -> str:
    """Text for HTML (element content and quoted attributes alike).

    `:` and `#` are written as character references too: the page looks the same, and when it is
    printed to a CI log (`check --format html` without -o) no student text in it can form a GitHub
    Actions workflow command (`::command::` at a line's start, `##[command]` anywhere).
    """
    from adgrade.report.escape import neutralise_controls

    # control characters (C1 and bidirectional ones included) shown as escapes; one pass: nothing escaped twice
    return _BAD_CHARS.sub("\ufffd", neutralise_controls(str(value))).translate(_ESCAPES)


def anchor(prefix: str, name: str) -> str:
    """A safe id attribute for NAME (problem ids and student ids come from files)."""
    return prefix + "-" + (re.sub(r"[^A-Za-z0-9_-]", "_", str(name)) or "_")


def badge(status: str) -> str:
    cls = status if status in STATUS_WORDS else "skipped"
    return f'<span class="badge {cls}">{esc(STATUS_WORDS.get(status, status))}</span>'


def num(value: Any) -> str:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return esc(value)
    if not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "−inf")
    return f"{round(x, 6):g}"


def img(png: bytes | None, alt: str, caption: str = "") -> str:
    if not png:
        return ""
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    size = plots.png_size(png)
    dims = f' width="{size[0]}" height="{size[1]}"' if size else ""  # its box is laid out before it decodes
    return f'<figure><img src="{plots.data_uri(png)}"{dims} alt="{esc(alt)}">{cap}</figure>'


def page(title: str, body: Iterable[str], css: str = "") -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            # nothing on this page may load anything: inline styles and data: images only
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:\">\n"
            f"<title>{esc(title)}</title>\n<style>{CSS}{css}</style>\n</head>\n<body>\n"
            + "\n".join(body)
            + f"\n<footer>Made by adgrade {esc(__version__)}.</footer>\n</body>\n</html>\n")


# ------------------------------------------------------------------------------- one check

def _worst_table(details: dict[str, Any]) -> str:
    if not ("actual" in details and "expected" in details):
        return ""
    rows = []
    if details.get("leaf"):
        rows.append(("leaf", f"<code>{esc(details['leaf'])}</code>"))
    index = details.get("index")
    if isinstance(index, (list, tuple)) and index:
        rows.append(("element", f"<code>[{esc(', '.join(str(i) for i in index))}]</code>"))
    rows.append(("yours", f"<code>{esc(details['actual'])}</code>"))
    rows.append(("expected", f"<code>{esc(details['expected'])}</code>"))
    if "abs_err" in details:
        rows.append(("abs error", f"<code>{esc(details['abs_err'])}</code>"))
    if "rel_err" in details:
        rows.append(("rel error", f"<code>{esc(details['rel_err'])}</code>"))
    if "rtol" in details or "atol" in details:
        rows.append(("tolerance", f"<code>rtol {esc(details.get('rtol'))}, atol {esc(details.get('atol'))}</code>"))
    cells = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="worst" aria-label="worst element">{cells}</table>'


def _figures(check: CheckResult) -> str:
    details = check.details if isinstance(check.details, dict) else {}
    parts = []
    if check.status in ("failed", "warning") and "_actual" in details and "_expected" in details:
        try:
            png = plots.heatmap_png(details["_actual"], details["_expected"], details.get("index"),
                                    rtol=details.get("rtol"), atol=details.get("atol"))
        except Exception as exc:  # a plot never costs the report
            parts.append(f'<p class="muted">(no heat map: {esc(type(exc).__name__)}: {esc(exc)})</p>')
            png = None
        leaf = f" of {details['leaf']}" if details.get("leaf") else ""
        parts.append(img(png, f"heat map of the error{leaf}",
                         f"Where the answer{leaf} is wrong: |yours − expected| for each element outside the tolerance "
                         "(the worst one marked in blue)."))
    if check.kind == "timing" or "times" in details:
        try:
            png = plots.timing_png(details)
        except Exception as exc:
            parts.append(f'<p class="muted">(no timing plot: {esc(type(exc).__name__)}: {esc(exc)})</p>')
            png = None
        parts.append(img(png, "timing plot", "Median time per call of each candidate, with 95% intervals."))
    return "".join(parts)


def render_check(check: CheckResult, figures: bool = True) -> str:
    details = check.details if isinstance(check.details, dict) else {}
    hidden = ' <span class="tag">hidden</span>' if check.hidden else ""
    kind = f' <span class="tag">{esc(check.kind)}</span>' if check.kind else ""
    pts = f'<span class="pts">{scores.problem(check.score, check.max_score)}</span>' if check.max_score else ""
    parts = [f'<div class="check {esc(check.status)}"><h3>{badge(check.status)} <span class="name">'
             f'{esc(check.name)}</span>{kind}{hidden} {pts}</h3>']
    if check.message:
        parts.append(f'<pre class="message">{esc(check.message)}</pre>')
    if check.status in ("failed", "warning"):
        parts.append(_worst_table(details))
    if figures:
        parts.append(_figures(check))
    parts.append("</div>")
    return "".join(parts)


def render_problem(problem: ProblemResult, figures: bool = True) -> str:
    bonus = ' <span class="tag">bonus</span>' if problem.bonus else ""
    pts = scores.problem(problem.score, problem.max_score, problem.bonus)
    out = [f'<section class="problem {esc(problem.status)}" id="{anchor("problem", problem.id)}">',
           f'<div class="head"><h2>{badge(problem.status)} <span class="pid">{esc(problem.id)}</span> '
           f'<span class="muted">{esc(problem.title)}</span>{bonus} <span class="pts">{pts}</span></h2></div>']
    out.extend(render_check(c, figures) for c in problem.checks)
    for note in problem.notes:
        out.append(f'<div class="check"><span class="note">Note: {esc(note)}</span></div>')
    if not problem.checks and not problem.notes:
        out.append('<div class="check muted">No checks ran for this problem.</div>')
    out.append("</section>")
    return "\n".join(out)


# ------------------------------------------------------------------------------- the page

def overview_table(report: Report) -> str:
    rows = []
    for p in report.problems:
        pts = scores.problem(p.score, p.max_score, p.bonus)
        counts: dict[str, int] = {}
        for c in p.checks:
            counts[c.status] = counts.get(c.status, 0) + 1
        summary = ", ".join(f"{n} {STATUS_WORDS.get(s, s)}" for s, n in counts.items())
        rows.append(f'<tr><td><a href="#{anchor("problem", p.id)}">{esc(p.id)}</a></td><td>{esc(p.title)}</td>'
                    f'<td class="num">{pts}</td><td>{badge(p.status)}</td><td class="muted">{esc(summary)}</td></tr>')
    if not rows:
        return ""
    return ('<table class="overview"><thead><tr><th>problem</th><th>title</th><th class="num">score</th>'
            "<th>status</th><th>checks</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _bonus_words(report: Report) -> str:
    bonus = sum(p.score for p in report.problems if p.bonus)
    return f" ({scores.points(bonus)} bonus)" if scores.points(bonus) != "0" else ""


def flags_banner(flags: list, review: list) -> str:
    """The flags a report carries for the instructor (results.Report.flags), and why."""
    return (f'<div class="banner bad flags"><strong>Flagged for the instructor\'s review</strong> '
            f'({esc(", ".join(str(f) for f in flags))})<ul>'
            + "".join(f"<li>{esc(why)}</li>" for why in review) + "</ul></div>")


def render_html(report: Report) -> str:
    """The report as one HTML page (text)."""
    status = report.status
    body = [
        f'<header class="top {esc(status)}"><div><h1>{esc(report.assignment)}</h1>'
        f'<div class="muted">submission <code>{esc(report.submission)}</code></div>'
        f'<div class="muted">graded in {report.duration_s:.1f} s</div></div>'
        f'<div class="scorebox"><div class="score" id="score">{scores.points(report.score)}'
        f'<span class="of"> / {scores.points(report.max_score)}{_bonus_words(report)}</span></div>'
        f'<div id="status">{badge(status)}</div></div></header>'
    ]
    if report.error:
        body.append(f'<div class="banner bad"><strong>This submission could not be graded.</strong>'
                    f'<pre>{esc(report.error)}</pre></div>')
    if report.grader_error:
        body.append(f'<div class="banner bad"><strong>The grader itself failed on this submission</strong> '
                    f"(not your fault; it is graded again).<pre>{esc(report.grader_error)}</pre></div>")
    if report.hidden_not_run:
        body.append(f'<div class="banner">{report.hidden_not_run} hidden check(s) were not run here; '
                    "your final score may differ.</div>")
    if report.flags:
        body.append(flags_banner(report.flags, report.review))
    if not report.error:  # nothing ran: the banner says why, once (not again in every check)
        body.append(overview_table(report))
        body.extend(render_problem(p) for p in report.problems)
    if report.notes:
        body.append("<h2>Notes</h2><ul>" + "".join(f'<li class="note">{esc(n)}</li>' for n in report.notes)
                    + "</ul>")
    if report.output:
        body.append(f"<details><summary>What your code printed ({len(report.output)} characters)</summary>"
                    f'<pre class="output">{esc(report.output)}</pre></details>')
    return page(f"{report.assignment}: {scores.report_total(report)} ({status}) "
                f"- {report.submission}", body)
