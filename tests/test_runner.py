"""The isolated runner: every failure of the submission's process is a result, never a grader crash."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from adgrade.engine import GradeOptions, grade_submission
from adgrade.spec import load_assignment

from conftest import FIXTURES


@pytest.fixture(scope="module")
def toy_spec():
    return load_assignment(FIXTURES / "toy")


def write(tmp_path: Path, text: str, name: str = "sub.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


GOOD_P1 = """
# %% p1
def square(x):
    return x * x
"""
GOOD_P2 = """
# %% p2
def cube_grad(x):
    return 3 * x ** 2
"""


def statuses(report):
    return {p.id: p.status for p in report.problems}


def test_correct_submission_scores_full_marks(toy_spec, tmp_path):
    path = write(tmp_path, GOOD_P1 + GOOD_P2 + """
# %% p3
import jax.numpy as jnp
def jac(x):
    A = jnp.arange(6.0).reshape(2, 3) + 1.0
    return (1 - jnp.tanh(A @ x) ** 2)[:, None] * A
""")
    report = grade_submission(path, toy_spec)
    assert statuses(report) == {"p1": "passed", "p2": "passed", "p3": "passed"}
    assert report.score == report.max_score == 6
    assert report.exit_code == 0


def test_exit_hang_and_syntax_error_cost_only_their_question(toy_spec, tmp_path):
    path = write(tmp_path, """
print("hello from the student")
# %% p1
def square(x):
    return x * x
import sys
sys.exit(3)
# %% p2
def cube_grad(x):
    while True:
        pass
# %% p3
def jac(x)
    return x
""")
    # every statement runs (the print and sys.exit define nothing a check needs: by default they would not)
    report = grade_submission(path, toy_spec, GradeOptions(time_limit=2, slicing=False))
    assert statuses(report) == {"p1": "passed", "p2": "failed", "p3": "failed"}
    p1, p2, p3 = report.problems
    assert "sys.exit" in " ".join(p1.notes)
    assert p2.checks[0].status == "timeout" and "did not finish within 2 s" in p2.checks[0].message
    assert p3.checks[0].status == "error"
    assert "SyntaxError at line 13" in p3.checks[0].message
    assert "hello from the student" in report.output


def test_os_exit_infinite_cell_and_segfault(toy_spec, tmp_path):
    path = write(tmp_path, """
# %% p1
def square(x):
    import os
    os._exit(0)
# %% p2
while True:
    cube_grad = None
# %% p3
import ctypes
jac = ctypes.string_at(0)
""")
    report = grade_submission(path, toy_spec, GradeOptions(time_limit=2))
    p1, p2, p3 = report.problems
    assert p1.checks[0].status == "error" and "exited early" in p1.checks[0].message
    assert p2.checks[0].status == "timeout" and "was stopped" in p2.checks[0].message
    assert p3.checks[0].status == "error" and "SIGSEGV" in p3.checks[0].message


def test_question_after_a_crash_is_still_graded(toy_spec, tmp_path):
    # p1 kills the process while answering; p2 comes after and must keep its points
    path = write(tmp_path, """
# %% p1
def square(x):
    import os, signal
    os.kill(os.getpid(), signal.SIGKILL)
""" + GOOD_P2)
    report = grade_submission(path, toy_spec, GradeOptions(only=["p1", "p2"], time_limit=3))
    assert statuses(report) == {"p1": "failed", "p2": "passed"}
    assert "SIGKILL" in report.problems[0].checks[0].message


def test_memory_limit_is_a_result(toy_spec, tmp_path):
    path = write(tmp_path, """
# %% p1
def square(x):
    blocks = []
    while True:
        blocks.append(bytearray(50 * 2**20))
""" + GOOD_P2)
    report = grade_submission(path, toy_spec, GradeOptions(only=["p1", "p2"], memory_limit_mb=1500))
    p1, p2 = report.problems
    assert p1.checks[0].status == "error"
    assert "MemoryError" in p1.checks[0].message and "out of memory" in p1.checks[0].message
    assert p2.status == "passed"


def test_name_error_is_explained(toy_spec, tmp_path):
    path = write(tmp_path, """
# %% p1
def square(x):
    return x * undefined_thing
""")
    report = grade_submission(path, toy_spec, GradeOptions(only=["p1"]))
    message = report.problems[0].checks[0].message
    assert "NameError" in message and "`undefined_thing` is used but never defined" in message
    assert "line 4" in message


def test_missing_entry_and_not_a_submission(toy_spec, tmp_path):
    report = grade_submission(write(tmp_path, "x = 1\n"), toy_spec, GradeOptions(only=["p1"]))
    assert report.problems[0].checks[0].status == "error"
    assert "`square` is not defined" in report.problems[0].checks[0].message
    bad = write(tmp_path, "{not json", "broken.ipynb")
    report = grade_submission(bad, toy_spec)
    assert report.status == "error" and report.score == 0
    assert "broken.ipynb" in report.error


def test_student_cannot_change_what_the_parent_decides(toy_spec, tmp_path):
    # patching NumPy's comparison and printing a fake report in the child changes nothing
    path = write(tmp_path, """
import numpy as np, json
np.allclose = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
print(json.dumps({"score": 6, "status": "passed"}))
# %% p1
def square(x):
    return x + 1
""")
    report = grade_submission(path, toy_spec, GradeOptions(only=["p1"]))
    assert report.problems[0].status == "failed"


def test_output_flood_is_capped(toy_spec, tmp_path):
    path = write(tmp_path, """
import sys
for _ in range(20000):
    sys.stdout.write("x" * 1000 + "\\n")
""" + GOOD_P1)
    # the printing loop defines nothing a check needs: only a run of every statement prints
    report = grade_submission(path, toy_spec, GradeOptions(only=["p1"], slicing=False))
    assert report.problems[0].status == "passed"
    assert len(report.output) < 70_000
    assert any("printed" in n for n in report.notes)


def test_a_hanging_check_costs_one_time_limit_not_one_per_input(toy_spec, tmp_path):
    # p1 has three inputs; a function that hangs on the first is not called (and waited for) again
    from adgrade.engine import build_job, plan
    from adgrade.cells import read_submission
    from adgrade.runner.parent import ProcessRunner

    path = write(tmp_path, """
# %% p1
def square(x):
    while True:
        pass
""" + GOOD_P2)
    options = GradeOptions(only=["p1", "p2"], time_limit=2)
    the_plan = plan(toy_spec, options)
    job, _, _ = build_job(path, read_submission(path), toy_spec, the_plan, options)
    outcome = ProcessRunner().run(job)
    p1 = [outcome.answers[f"p1/0/{i}"] for i in range(3)]
    assert [a.status for a in p1] == ["timeout"] * 3
    assert "did not finish within 2 s" in p1[0].message
    assert all("on an earlier input" in a.message for a in p1[1:])
    assert outcome.restarts == 1 + len(outcome.busy_retries)  # one hang, one restart (twice on a busy machine)
    assert all(outcome.answers[f"p2/0/{i}"].status == "ok" for i in range(3))


def test_a_fork_server_started_ahead_is_the_one_used_and_started_once() -> None:
    """`check` starts the submission's fork server while it still reads the problem set (prestart);
    the launcher's later `get` waits for that one instead of starting a second, and closing the pool
    stops one that was started ahead and never used."""
    import threading

    from adgrade.runner.forkserver_client import ServerPool

    started, closed = [], []
    release = threading.Event()

    class FakeServer:
        def __init__(self, backends):
            self.backends = backends

        def alive(self):
            return True

        def close(self):
            closed.append(self.backends)

    def make(backends):
        release.wait(10)  # the import of the frameworks, still going on when the launcher asks
        started.append(backends)
        return FakeServer(backends)

    pool = ServerPool(make)
    pool.prestart("main", ("jax",))
    pool.prestart("main", ("jax",))  # asked twice: still one start
    release.set()
    server = pool.get("main", ("jax",))
    assert server.backends == ("jax",) and started == [("jax",)]
    assert pool.get("main", ("jax",)) is server

    pool.prestart("main", ("torch",))
    pool.close()  # the torch server may or may not have started by then: whatever started is stopped
    assert sorted(closed) == sorted(started) and ("jax",) in closed
