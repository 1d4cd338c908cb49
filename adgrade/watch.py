"""`adgrade check --watch`: grade again whenever the submission is saved; show what changed.

`diff_reports(old, new)` is the whole idea: the problems whose status or score moved, the
checks that started failing (with why) or were fixed, the checks still failing for a new
reason, the total. `watch()` is the loop: it polls the file's modification time, size and
inode every `interval` seconds (no new dependency, works on every file system and editor,
atomic saves included), waits until a save has settled, grades, and hands the changes to
`show_changes`. Clock, sleep and stat are injectable, and `max_runs` bounds the loop, so
tests run it without waiting on a real clock or a Ctrl-C.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from adgrade.report import scores
from adgrade.results import FAILING, CheckResult, Report


@dataclass
class Change:
    """One thing that differs between two gradings of the same submission.

    kind: `total` (the whole score or status), `problem` (a problem's score or status; `added`
    or `removed` problems too), `new_failure`, `fixed`, `still_failing` (failing in both, for
    a new reason or with a new status), `error` (the submission could not be graded; message
    the reason) or `graded` (it can be graded again).
    """

    kind: str
    problem: str = ""
    check: str = ""
    old_status: str = ""
    new_status: str = ""
    old_score: float | None = None
    new_score: float | None = None
    max_score: float | None = None
    message: str = ""

    def describe(self) -> str:
        """One line (the message, if any, follows on lines of its own)."""
        def points(score: float | None) -> str:
            return "-" if score is None else scores.points(score)

        if self.kind == "total":
            return (f"total: {points(self.old_score)} → {points(self.new_score)} / {points(self.max_score)} "
                    f"({self.old_status} → {self.new_status})")
        if self.kind == "problem":
            if not self.old_status:
                return (f"{self.problem}: new problem, {points(self.new_score)} / {points(self.max_score)} "
                        f"{self.new_status}")
            if not self.new_status:
                return f"{self.problem}: no longer graded"
            return (f"{self.problem}: {points(self.old_score)} → {points(self.new_score)} / {points(self.max_score)} "
                    f"({self.old_status} → {self.new_status})")
        if self.kind == "new_failure":
            return f"{self.problem}: ✗ now {self.new_status}: {self.check}"
        if self.kind == "fixed":
            return f"{self.problem}: ✓ fixed ({self.new_status}): {self.check}"
        if self.kind == "still_failing":
            change = self.new_status if self.new_status == self.old_status else \
                f"{self.old_status} → {self.new_status}"
            return f"{self.problem}: ✗ still {change}, for another reason: {self.check}"
        if self.kind == "error":
            return "the submission could not be graded"
        if self.kind == "graded":
            return "the submission can be graded again"
        return self.kind


def _check_keys(report: Report) -> dict[tuple[str, str, int], CheckResult]:
    out: dict[tuple[str, str, int], CheckResult] = {}
    for problem in report.problems:
        seen: dict[str, int] = {}
        for check in problem.checks:
            seen[check.name] = seen.get(check.name, 0) + 1
            out[(problem.id, check.name, seen[check.name])] = check
    return out


def _check_change(problem: str, was: CheckResult | None, now: CheckResult) -> Change | None:
    failing, was_failing = now.status in FAILING, was is not None and was.status in FAILING
    if was is None or not (failing or was_failing):
        return Change("new_failure", problem, now.name, "", now.status, None, now.score, now.max_score,
                      now.message) if failing else None
    if failing and not was_failing:
        kind = "new_failure"
    elif failing:
        if was.status == now.status and was.message == now.message:
            return None
        kind = "still_failing"
    else:
        kind = "fixed"
    return Change(kind, problem, now.name, was.status, now.status, was.score, now.score, now.max_score,
                  now.message if failing else "")


def diff_reports(old: Report, new: Report) -> list[Change]:
    """What changed from `old` to `new` (two gradings of one submission), in report order:
    each problem's change followed by its checks' changes, then the total."""
    changes: list[Change] = []
    if new.error and new.error != old.error:
        changes.append(Change("error", message=new.error))
    elif old.error and not new.error:
        changes.append(Change("graded"))
    old_problems = {p.id: p for p in old.problems}
    old_checks = _check_keys(old)
    new_checks = _check_keys(new)
    for problem in new.problems:
        before = old_problems.get(problem.id)
        if before is None:
            changes.append(Change("problem", problem.id, new_status=problem.status, new_score=problem.score,
                                  max_score=problem.max_score))
        elif before.status != problem.status or abs(before.score - problem.score) > 1e-9:
            changes.append(Change("problem", problem.id, old_status=before.status, new_status=problem.status,
                                  old_score=before.score, new_score=problem.score, max_score=problem.max_score))
        if new.error:  # every check failed for the one reason already given
            continue
        for key, check in new_checks.items():
            if key[0] == problem.id:
                change = _check_change(problem.id, old_checks.get(key), check)
                if change is not None:
                    changes.append(change)
    for problem in old.problems:
        if problem.id not in {p.id for p in new.problems}:
            changes.append(Change("problem", problem.id, old_status=problem.status, old_score=problem.score,
                                  max_score=problem.max_score))
    if old.status != new.status or abs(old.score - new.score) > 1e-9:
        changes.append(Change("total", old_status=old.status, new_status=new.status, old_score=old.score,
                              new_score=new.score, max_score=new.max_score))
    return changes


def render_changes(changes: list[Change], new: Report, when: str = "") -> str:
    """Plain text for the terminal: a header line with the new total, then each change."""
    head = f"{when + ' ' if when else ''}graded {new.submission} again: {scores.report_total(new)} {new.status}"
    lines = [head]
    if not changes:
        lines.append("  nothing changed")
    for change in changes:
        lines.append("  " + change.describe())
        if change.message:
            lines.extend("      " + line for line in change.message.splitlines())
    return "\n".join(lines) + "\n"


Signature = tuple[int, int, int]


def file_signature(path: str | Path) -> Signature | None:
    """What tells one saved version of a file from the next: (mtime in ns, size, inode); None if missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def watch(path: str | Path, grade: Callable[[], Report], show_first: Callable[[Report], None],
          show_changes: Callable[[list[Change], Report], None], *, interval: float = 0.5,
          max_runs: int | None = None, sleep: Callable[[float], None] = time.sleep,
          signature: Callable[[str | Path], Signature | None] = file_signature,
          on_waiting: Callable[[], None] | None = None) -> Report:
    """Grade, show the report, then grade again after every save and show the changes.

    Runs until Ctrl-C (KeyboardInterrupt, caught here) or until `max_runs` gradings; returns the
    last report. A save is taken once the file's signature has stayed the same for one more poll
    (editors write in steps); a file that disappears (an atomic save under way) is waited for.
    """
    report = grade()
    show_first(report)
    runs = 1
    last = signature(path)
    try:
        while max_runs is None or runs < max_runs:
            if on_waiting is not None:
                on_waiting()
            current = last
            while current == last or current is None:
                sleep(interval)
                current = signature(path)
            while True:  # settle
                sleep(min(interval, 0.1))
                again = signature(path)
                if again is not None and again == current:
                    break
                current = again
            last = current
            new = grade()
            show_changes(diff_reports(report, new), new)
            report = new
            runs += 1
    except KeyboardInterrupt:
        pass
    return report
