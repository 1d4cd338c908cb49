"""What the engine does with the submission's answers before believing them.

- A question whose code broke the grader's protocol gets 0, with one message
  that says so (the flag `tampering` is on the report for the instructor).
- An answer far larger than the expected one is not judged: judging costs
  time and memory in the grader, in proportion to the answer's size.
- A report has bounded notes and messages, and is never over `MAX_REPORT_BYTES`
  as JSON (the Gradescope file and the gradebook read from it).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

#: an answer may have this many times the expected number of elements (a grown parameter list, padding)...
SIZE_FACTOR = 4
#: ...or this many, whichever is more (small expected values leave room for a wrong, larger shape)
SIZE_FLOOR = 10_000
#: the bound where the expected size is not known (checks without a stored expected value)
SIZE_UNKNOWN = 2_000_000

MAX_REPORT_BYTES = 1_000_000
MAX_NOTES = 40
MAX_NOTE_CHARS = 2_000
MAX_MESSAGE_CHARS = 8_000
MAX_OUTPUT_CHARS = 64 * 1024

TAMPERING = "tampering"
REVIEW = "review"


def tampered_message(note: str) -> str:
    return ("not graded: your code wrote on the grader's private channel (the pipe adgrade uses to receive "
            f"answers) and broke its protocol: {note}. This question gets 0 and your instructor will review "
            "the submission. Return your answers from your functions; never write to adgrade's file "
            "descriptors.")


# -- answer size --------------------------------------------------------------------------------------

def elements(value: Any, stop: int) -> int:
    """Numbers in a decoded answer (array elements, list and dict items), counted up to `stop`."""
    count = 0
    todo = [value]
    while todo and count <= stop:
        item = todo.pop()
        if isinstance(item, np.ndarray):
            count += int(item.size)
        elif isinstance(item, (list, tuple)):
            count += 1 if not item else 0
            todo.extend(item)
        elif isinstance(item, dict):
            todo.extend(item.values())
        else:
            count += 1
    return count


def describe_shape(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"shape {tuple(value.shape)}"
    if isinstance(value, (int, float, np.generic)):
        return "a single number"
    return f"a structure of {elements(value, 10**9)} numbers"


def oversized(check: Any, answers: list) -> str:
    """A message when an answer is too large to be judged, else ''. The bound is relative to the expected
    value where the check has one (`_expected`, filled by `prepare`), absolute otherwise."""
    expected = getattr(check, "_expected", None)
    if not isinstance(expected, list) or len(expected) != len(answers):
        expected = None  # not one expected value per request (e.g. iterates by step): the absolute bound
    for i, answer in enumerate(answers):
        if getattr(answer, "status", "") != "ok":
            continue
        want = expected[i] if expected is not None else None
        if want is not None:
            bound = max(SIZE_FACTOR * elements(want, 10**9), SIZE_FLOOR)
            expected_words = f"expected {describe_shape(want)}"
        else:
            bound = SIZE_UNKNOWN
            expected_words = f"more than {SIZE_UNKNOWN:,} numbers is not an answer any question here takes"
        got = elements(answer.value, bound)
        if got > bound:
            where = f"on input {i + 1} of {len(answers)}" if len(answers) > 1 else ""
            return (f"{check.subject} returned an answer with more than {bound:,} numbers {where} "
                    f"({expected_words}), so it was not compared. Check what your function returns: "
                    "a list that grows in a loop, or an array built for every pair of inputs?").replace("  ", " ")
    return ""


# -- report size ----------------------------------------------------------------------------------------

def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f" [... {len(text) - limit} characters cut]"


def _bound_notes(notes: list[str]) -> list[str]:
    kept = [_cut(str(n), MAX_NOTE_CHARS) for n in notes[:MAX_NOTES]]
    if len(notes) > MAX_NOTES:
        kept.append(f"[... {len(notes) - MAX_NOTES} more notes not shown]")
    return kept


def report_bytes(report: Any) -> int:
    """The size of the report as the batch stores it (the contract's JSON plus the student's output),
    escaped as plain ASCII JSON (never smaller than the renderers' output)."""
    return len(json.dumps(report.to_dict())) + len(json.dumps(report.output))


def bound_report(report: Any, limit: int = MAX_REPORT_BYTES - 64 * 1024) -> None:
    """Cap the report in place: notes (count and length), messages and output; then, while its JSON is
    still over `limit` (room left under MAX_REPORT_BYTES for the renderers' indentation), shorter
    messages, no details and a shorter output."""
    report.notes = _bound_notes(report.notes)
    if hasattr(report, "review"):
        report.review = _bound_notes(report.review)
    report.output = report.output[-MAX_OUTPUT_CHARS:]
    for problem in report.problems:
        problem.notes = _bound_notes(problem.notes)
        for check in problem.checks:
            check.message = _cut(check.message, MAX_MESSAGE_CHARS)
    cap = MAX_MESSAGE_CHARS
    while report_bytes(report) > limit and cap > 50:
        cap //= 2
        report.output = report.output[-cap:]
        for problem in report.problems:
            problem.notes = [_cut(n, cap) for n in problem.notes]
            for check in problem.checks:
                check.message = _cut(check.message, cap)
                check.details = {k: v for k, v in check.details.items() if k.startswith("_")}
        report.notes = [_cut(n, cap) for n in report.notes]
