"""`adgrade check --watch`: the diff between two gradings, the polling loop, and the command."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from adgrade.results import CheckResult, ProblemResult, Report
from adgrade.watch import Change, diff_reports, file_signature, render_changes, watch

from conftest import FIXTURES, ROOT

SUBS = FIXTURES / "toy-submissions"


def _report(p1: str = "passed", p1_message: str = "", p2: str = "passed", error: str = "") -> Report:
    def check(name: str, status: str, points: float, message: str = "") -> CheckResult:
        return CheckResult(name, status, points if status in ("passed", "warning", "inconclusive") else 0.0,
                           points, message)

    return Report("toy", "hw.py", error=error, problems=[
        ProblemResult("p1", "Square", False, 2.0, [check("square matches", p1, 2.0, p1_message)]),
        ProblemResult("p2", "Cubes", False, 3.0, [check("cube_grad matches", p2, 1.5),
                                                  check("cube_grad is manual", "passed", 1.5)]),
    ])


def test_nothing_changed():
    assert diff_reports(_report(), _report()) == []
    assert diff_reports(_report("failed", "off by 2"), _report("failed", "off by 2")) == []


def test_a_fix_shows_the_problem_the_check_and_the_total():
    changes = diff_reports(_report("failed", "off by a factor of 2"), _report())
    assert [c.kind for c in changes] == ["problem", "fixed", "total"]
    problem, fixed, total = changes
    assert (problem.problem, problem.old_status, problem.new_status, problem.old_score, problem.new_score) == \
        ("p1", "failed", "passed", 0.0, 2.0)
    assert fixed.check == "square matches" and fixed.old_status == "failed" and fixed.new_status == "passed"
    assert (total.old_score, total.new_score, total.max_score, total.new_status) == (3.0, 5.0, 5.0, "passed")
    assert "fixed" in fixed.describe() and "0 → 2 / 2" in problem.describe()


def test_a_new_failure_carries_its_message():
    changes = diff_reports(_report(), _report(p2="error"))
    kinds = {c.kind: c for c in changes}
    assert set(kinds) == {"problem", "new_failure", "total"}
    assert kinds["new_failure"].problem == "p2" and kinds["new_failure"].new_status == "error"
    assert kinds["problem"].problem == "p2"  # p1 did not move, so it is not mentioned
    text = render_changes(changes, _report(p2="error"))
    assert "p1" not in text and "now error" in text


def test_still_failing_for_another_reason():
    changes = diff_reports(_report("failed", "off by a factor of 2"), _report("error", "NameError: x"))
    assert [c.kind for c in changes] == ["still_failing"]  # the score and status of p1 did not move
    assert changes[0].message == "NameError: x" and "failed → error" in changes[0].describe()


def test_the_submission_becoming_ungradable_and_gradable_again():
    broken = _report("error", "SyntaxError", "error", error="SyntaxError at line 3")
    changes = diff_reports(_report(), broken)
    assert changes[0].kind == "error" and changes[0].message == "SyntaxError at line 3"
    assert not [c for c in changes if c.kind == "new_failure"]  # one reason, said once
    back = diff_reports(broken, _report())
    assert back[0].kind == "graded" and {"fixed", "total"} <= {c.kind for c in back}


def test_render_says_when_nothing_changed():
    text = render_changes([], _report(), "[12:00:00]")
    assert text.startswith("[12:00:00] graded hw.py again: 5 / 5 passed") and "nothing changed" in text


def test_the_loop_grades_again_only_after_a_save(tmp_path):
    """The loop with a fake clock: polls see the file change once; a second grading follows, then it stops."""
    sub = tmp_path / "hw.py"
    sub.write_text("x = 1\n")
    reports = iter([_report("failed", "off by 2"), _report()])
    shown: list = []
    polls = {"n": 0}

    def fake_sleep(seconds: float) -> None:
        polls["n"] += 1
        if polls["n"] == 3:  # the student saves while the loop is waiting
            sub.write_text("x = 22\n")

    last = watch(sub, lambda: next(reports), lambda r: shown.append(("first", r.status)),
                 lambda changes, r: shown.append(("changes", [c.kind for c in changes])), interval=0.5,
                 max_runs=2, sleep=fake_sleep)
    assert shown == [("first", "failed"), ("changes", ["problem", "fixed", "total"])]
    assert last.status == "passed"
    assert polls["n"] >= 4  # it waited for the save, then for it to settle


def test_the_loop_stops_on_ctrl_c_with_the_last_report(tmp_path):
    sub = tmp_path / "hw.py"
    sub.write_text("x = 1\n")

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    last = watch(sub, lambda: _report(p2="failed"), lambda r: None, lambda c, r: None, sleep=interrupt)
    assert last.status == "failed"


def test_a_vanished_file_is_waited_for(tmp_path):
    sub = tmp_path / "hw.py"
    sub.write_text("x = 1\n")
    signatures = iter([file_signature(sub), None, None, (1, 2, 3), (1, 2, 3)])
    graded = []
    watch(sub, lambda: graded.append(1) or _report(), lambda r: None, lambda c, r: None, max_runs=2,
          sleep=lambda s: None, signature=lambda p: next(signatures))
    assert len(graded) == 2  # the missing file was never graded; the one that came back was


def test_change_describe_covers_every_kind():
    for kind in ("total", "problem", "new_failure", "fixed", "still_failing", "error", "graded"):
        assert Change(kind, "p1", "c", "failed", "passed", 0.0, 1.0, 1.0).describe()


def test_check_watch_regrades_on_save_and_shows_only_what_changed(tmp_path):
    """The real command: a bounded run (hidden --watch-max-runs) while the file is edited between runs."""
    sub = tmp_path / "hw.py"
    shutil.copy(SUBS / "wrong.py", sub)
    proc = subprocess.Popen([sys.executable, "-m", "adgrade.cli", "check", str(sub), "-a", str(FIXTURES / "toy"),
                             "--only", "p1", "--only", "p2", "--sandbox", "none", "--watch", "--watch-max-runs", "2",
                             "--watch-interval", "0.1"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # the first report, in full, then the "Watching" line on stderr
        waiting = proc.stderr.readline()
        while waiting and "Watching" not in waiting:
            waiting = proc.stderr.readline()
        assert "Watching" in waiting, waiting
        time.sleep(0.05)
        sub.write_text((SUBS / "correct.py").read_text())
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err  # the last grading passed
    first, _, again = out.partition("graded ")
    assert "Square" in first and "factor of 2" in first  # the full first report
    assert again.startswith(f"{sub} again: 5 / 5 passed"), again
    assert "p1: 0 → 2 / 2 (failed → passed)" in again and "fixed" in again
    assert "p2" not in again  # p2 passed both times: not shown
    assert "Stopped watching: 5 / 5 passed" in err


def test_watch_refuses_other_formats(tmp_path):
    sub = tmp_path / "hw.py"
    shutil.copy(SUBS / "correct.py", sub)
    proc = subprocess.run([sys.executable, "-m", "adgrade.cli", "check", str(sub), "-a", str(FIXTURES / "toy"),
                           "--watch", "--format", "json"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--watch" in proc.stderr
