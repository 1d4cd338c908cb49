"""JUnit XML for one submission: a testsuite per problem, a testcase per check.

failed -> <failure>, error and timeout -> <error>, skipped -> <skipped>; warnings and
inconclusive timings pass with the message in <system-out>. Scores are <properties>
(score, max_score) of each testsuite and testcase, and of the whole. The text is printed in
CI logs: a line-leading `::` and `##[` are written as character references (report/escape.py),
so the XML carries no workflow command and parses to exactly the same data.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from adgrade.report.escape import neutralise_controls, neutralise_xml
from adgrade.results import Report

# characters XML 1.0 cannot hold (a student's output may print anything)
_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _clean(text: str) -> str:
    # control characters (C1 and bidirectional ones included) shown as escapes, for whoever prints the file
    return _INVALID.sub("\ufffd", neutralise_controls(text or ""))


def _properties(parent: ET.Element, **values) -> None:
    props = ET.SubElement(parent, "properties")
    for name, value in values.items():
        if isinstance(value, float):
            value = f"{value:g}"
        ET.SubElement(props, "property", name=name, value=_clean(str(value).lower() if isinstance(value, bool)
                                                                  else str(value)))


def junit_element(report: Report, name: str | None = None) -> ET.Element:
    suites = ET.Element("testsuites", name=_clean(name or report.submission))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for problem in report.problems:
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        suite = ET.SubElement(suites, "testsuite", name=_clean(f"{problem.id}: {problem.title}"))
        _properties(suite, score=problem.score, max_score=problem.max_score, status=problem.status,
                    bonus=problem.bonus)
        for check in problem.checks:
            counts["tests"] += 1
            seconds = check.details.get("median_seconds") if isinstance(check.details, dict) else None
            case = ET.SubElement(suite, "testcase", name=_clean(check.name),
                                 classname=_clean(f"{report.assignment}.{problem.id}"),
                                 time=f"{seconds:.6f}" if isinstance(seconds, (int, float)) else "0")
            _properties(case, score=check.score, max_score=check.max_score, status=check.status,
                        hidden=check.hidden, kind=check.kind)
            message = _clean(check.message)
            first = message.splitlines()[0] if message else check.status
            if check.status == "failed":
                counts["failures"] += 1
                ET.SubElement(case, "failure", message=first, type="failed").text = message
            elif check.status in ("error", "timeout"):
                counts["errors"] += 1
                ET.SubElement(case, "error", message=first, type=check.status).text = message
            elif check.status == "skipped":
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=first)
            elif message:
                ET.SubElement(case, "system-out").text = f"{check.status}: {message}"
        if problem.notes:
            ET.SubElement(suite, "system-out").text = _clean("\n".join(problem.notes))
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", "0")
    for key, value in totals.items():
        suites.set(key, str(value))
    suites.set("time", f"{report.duration_s:.3f}")
    # the whole: score and status, and why it could not be graded
    props = ET.Element("properties")
    for key, value in (("assignment", report.assignment), ("submission", report.submission),
                       ("score", f"{report.score:g}"), ("max_score", f"{report.max_score:g}"),
                       ("status", report.status)):
        ET.SubElement(props, "property", name=key, value=_clean(value))
    if report.error:
        ET.SubElement(props, "property", name="message", value=_clean(report.error))
    suites.insert(0, props)
    return suites


def render_junit(report: Report, name: str | None = None) -> str:
    element = junit_element(report, name)
    ET.indent(element)
    return neutralise_xml('<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(element, encoding="unicode"))
