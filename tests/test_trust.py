"""The trust boundary between the grader and the submission's process (issue 12): nothing the submission
writes on the grader's channel earns points, stalls the grader or becomes a grader failure.

The student's code runs in the same process as the child that talks to the grader, so it can always find
the channel (here: every pipe in /proc/self/fd). What holds is the parent's side: it owns the schedule
(runner/schedule.py), bounds every frame and every answer, cross-checks what it is told with the source
(audit.py), and bounds the whole run's time (runner/budget.py). Each attack below is graded through the
real engine; the unit tests pin the rules one by one.
"""

from __future__ import annotations

import base64
import csv
import json
import struct
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from adgrade.audit import audit, is_autodiff
from adgrade.engine import GradeOptions, grade_submission
from adgrade.report.gradescope import render_gradescope
from adgrade.report.json_report import render_json
from adgrade.runner import protocol
from adgrade.runner.budget import RunBudget
from adgrade.runner.limits import Limits
from adgrade.runner.parent import Job, Launcher, ProcessRunner
from adgrade.runner.schedule import Due, Schedule, expected_frames
from adgrade.spec import load_assignment
from adgrade.trust import MAX_REPORT_BYTES, bound_report

from conftest import FIXTURES, run_cli

NUMPY_ONLY = ["p1", "p2", "p3"]

#: what a cheater puts in a cell: send a frame on every pipe the process holds beyond stdout/stderr
FORGE = '''
import base64 as _b64, json as _json, os as _os, struct as _struct

def _send(message, raw=None):
    data = raw if raw is not None else _json.dumps(message).encode()
    for _name in _os.listdir("/proc/self/fd"):
        _fd = int(_name)
        try:
            if _fd > 2 and _os.readlink(f"/proc/self/fd/{_fd}").startswith("pipe:"):
                _os.write(_fd, _struct.pack(">Q", len(data)) + data)
        except OSError:
            pass

def _array(values):
    import numpy
    a = numpy.asarray(values, dtype=numpy.float64)
    return {"__array__": "float64", "shape": list(a.shape), "data": _b64.b64encode(a.tobytes()).decode(),
            "origin": "numpy", "requires_grad": False}

def _forge_answer(rid, value, **extra):
    _send({"event": "request_start", "id": rid})
    _send({"event": "answer", "id": rid, "ok": True, "value": value, "seconds": 0.001, "autodiff_calls": [],
           **extra})
'''

HONEST_P2 = """
# %% p2
def double(x):
    return 2 * x
"""
HONEST_P3 = """
# %% p3
def negate(x):
    return -x
"""


@pytest.fixture(scope="module")
def spec():
    return load_assignment(FIXTURES / "trust")


def write(tmp_path: Path, text: str, name: str = "student.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def grade(path: Path, spec, only=NUMPY_ONLY, **options):
    # slicing=False: every statement runs, attacks in statements no check needs included (with slicing
    # those are not even run; an attack inside an entry is: the class test below)
    return grade_submission(path, spec, GradeOptions(only=only, slicing=False, **options))


def scores(report) -> dict[str, float]:
    return {p.id: p.score for p in report.problems}


def messages(report, pid: str) -> str:
    problem = next(p for p in report.problems if p.id == pid)
    return " ".join([c.message for c in problem.checks] + problem.notes)


def review(report) -> str:
    return "\n".join(report.review)


def assert_tampering_in_p1_only(report):
    assert scores(report) == {"p1": 0, "p2": 1, "p3": 1}, [messages(report, p) for p in NUMPY_ONLY]
    assert report.flags[:1] == ["tampering"] and "broke the grader's protocol" in review(report)
    assert "broke its protocol" in messages(report, "p1")
    assert not report.grader_error and report.status == "failed"


# -- 1. forged answers ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def factories():
    made: dict[str, object] = {}
    yield made
    for factory in made.values():
        factory.close()


@pytest.mark.parametrize("mode", ["plain", "none", "bwrap"])
def test_forged_answers_from_a_cell_that_defines_nothing_score_nothing(mode, spec, tmp_path, factories):
    """The review's q1d: the cell defines nothing and sends p1's request_start + answer frames itself.
    Through every launcher: a plain process, the fork server, and the fork server in the sandbox (`grade`)."""
    factory = None
    if mode != "plain":
        if mode == "bwrap":
            from test_adversarial import require_bwrap

            require_bwrap()
        from adgrade.runner.sandbox import launcher_factory

        factory = factories.setdefault(mode, launcher_factory(mode))
    path = write(tmp_path, "# %% p1\n" + FORGE + """
_forge_answer("p1/0/0", 2.25)
_forge_answer("p1/0/1", _array([1.0, 4.0, 9.0]))
""" + HONEST_P2 + HONEST_P3)
    report = grade(path, spec, launcher_factory=factory)
    assert_tampering_in_p1_only(report)
    assert "`request_start` of p1/0/0 where `cell_end` of cell 0 was due" in review(report)
    assert "while cell 0 ran (p1)" in review(report)


def test_a_complete_forged_sequence_is_caught_when_the_real_frames_follow(spec, tmp_path):
    """A cheater who sends exactly the frames due (its cell's end, then p1's requests answered) is caught
    by the child's own frames that follow (here the next statement's): nothing can be answered twice."""
    path = write(tmp_path, "# %% p1\n" + FORGE + """
_send({"event": "cell_end", "index": 0, "error": None})
_forge_answer("p1/0/0", 2.25)
_forge_answer("p1/0/1", _array([1.0, 4.0, 9.0]))
""" + HONEST_P2 + HONEST_P3)
    report = grade(path, spec)
    assert_tampering_in_p1_only(report)
    # the child announces each statement of the cell it runs: the next one after the forged end gives it away
    assert "sent `statement` of 0 where `request_start` of request p1/0/0 was due" in review(report)


def test_a_forged_answer_inside_the_request_costs_the_whole_question(spec, tmp_path):
    """Forged inside the entry (the answer due, right value), then the real answer arrives: the question's
    answers, the forged one included, count for nothing."""
    path = write(tmp_path, "# %% p1\n" + FORGE + """
def square(x):
    _send({"event": "answer", "id": "p1/0/0", "ok": True, "value": 2.25, "seconds": 0.0, "autodiff_calls": []})
    return 0 * x
""" + HONEST_P2 + HONEST_P3)
    report = grade(path, spec)
    assert_tampering_in_p1_only(report)


# -- 2. malformed frames: the submission's doing, never a grader failure -----------------------------

MALFORMED = {
    "nested JSON": '_send(None, raw=b"[" * 200000 + b"]" * 200000)',
    "non-numeric seconds": '_send({"event": "answer", "id": "p2/0/0", "ok": True, "value": 3.0, '
                           '"seconds": "soon", "autodiff_calls": []})',
    "a shape of 2**70": '_send({"event": "answer", "id": "p2/0/0", "ok": True, "value": {"__array__": "float64", '
                        '"shape": [2**70], "data": "AAAAAAAAAAA="}, "seconds": 0.0, "autodiff_calls": []})',
    "a huge frame length": '_send(None, raw=b"x" * 16)  # then claim 2**60 bytes\n'
                           '    _send(None, raw=b"")',
    "an empty autodiff list of the wrong type": '_send({"event": "answer", "id": "p2/0/0", "ok": True, '
                                                '"value": 3.0, "seconds": 0.0, "autodiff_calls": {"a": 1}})',
}


@pytest.mark.parametrize("attack", sorted(MALFORMED))
def test_a_malformed_frame_is_tampering_not_a_grader_failure(attack, spec, tmp_path):
    body = MALFORMED[attack]
    if attack == "a huge frame length":
        body = "for _fd in range(3, 1024):\n        try:\n            _os.write(_fd, _struct.pack('>Q', 2**60))\n" \
               "        except OSError:\n            pass"
    path = write(tmp_path, """
# %% p1
def square(x):
    return x * x
# %% p2
""" + FORGE + f"""
def double(x):
    {body}
    return 2 * x
""" + HONEST_P3)
    report = grade(path, spec)
    # p1 was answered before: kept; p2 gets 0; p3 is graded after the restart
    assert scores(report) == {"p1": 2, "p2": 0, "p3": 1}, [messages(report, p) for p in NUMPY_ONLY]
    assert report.flags[:1] == ["tampering"] and "broke its protocol" in messages(report, "p2")
    assert not report.grader_error


def test_a_list_as_a_cell_index_is_tampering(spec, tmp_path):
    path = write(tmp_path, """
# %% p1
def square(x):
    return x * x
""" + HONEST_P2 + "# %% p3\n" + FORGE + """
_send({"event": "cell_end", "index": [3], "error": None})
def negate(x):
    return -x
""")
    report = grade(path, spec)
    assert scores(report) == {"p1": 2, "p2": 1, "p3": 0}
    assert report.flags[:1] == ["tampering"] and "`cell_end` of [3]" in review(report)
    assert not report.grader_error


# -- 3. time: forged frames cannot keep a life going, and restarts do not multiply the limits ----------

def test_forged_request_starts_do_not_keep_a_hanging_entry_alive(spec, tmp_path):
    path = write(tmp_path, "# %% p1\n" + FORGE + """
import time
def square(x):
    while True:  # the review's attack: a fresh request_start every 2 s reset the deadline
        _send({"event": "request_start", "id": "p1/0/0"})
        time.sleep(0.5)
""" + HONEST_P2 + HONEST_P3)
    report = grade(path, spec)
    assert_tampering_in_p1_only(report)


def test_the_whole_run_is_bounded_across_restarts(tmp_path):
    """Every cell hangs: each life is stopped and the next skips that cell, but the run as a whole stops
    at its total budget, never the sum of lives."""
    cells = [{"index": i, "source": "while True:\n    pass\n", "first_line": 1, "label": f"cell {i}",
              "filename": "student.py"} for i in range(4)]
    job = Job(submission="student.py", cells=cells, schedule=[("cell", i) for i in range(4)], requests={},
              backends=[], cell_time_limit={i: 2.0 for i in range(4)}, request_time_limit={},
              setup_time_limit=30.0, cell_question={i: None for i in range(4)}, total_time_limit=3.0)
    outcome = ProcessRunner(Launcher(Limits()), Limits()).run(job)
    assert outcome.fatal.startswith("the submission's process used all the time its questions allow together (3 s")
    assert outcome.cells[0].status == "timeout"
    assert 3 not in outcome.cells  # never started: the budget was spent


def test_budget_is_twice_every_step_and_the_setup_in_cpu_time_with_a_wall_backstop():
    job = SimpleNamespace(cell_time_limit={0: 5.0, 1: 5.0}, request_time_limit={"a": 3.0}, setup_time_limit=10.0)
    budget = RunBudget.for_job(job, backstop_factor=3.0, backstop_extra=30.0)
    assert budget.cpu_seconds == 46.0 and budget.wall_seconds == 138.0
    assert not budget.cpu_exhausted(40.0) and budget.cpu_exhausted(47.0)
    budget.end_life(20.0)
    assert budget.cpu_exhausted(27.0) and not budget.cpu_exhausted(None)
    small = RunBudget.for_job(SimpleNamespace(cell_time_limit={}, request_time_limit={}, setup_time_limit=1.0,
                                              total_time_limit=3.0))
    assert (small.cpu_seconds, small.wall_seconds) == (3.0, 33.0)


def test_a_request_whose_process_exits_is_skipped_on_restart(spec, tmp_path):
    path = write(tmp_path, """
# %% p1
import os
def square(x):
    os._exit(3)
""" + HONEST_P2 + HONEST_P3)
    report = grade(path, spec)
    assert scores(report) == {"p1": 0, "p2": 1, "p3": 1}
    assert "exited early with exit code 3" in messages(report, "p1") and not report.flags


# -- 4. judging is bounded by the size of the expected answer ----------------------------------------------

def test_a_huge_answer_is_not_judged(spec, tmp_path):
    path = write(tmp_path, """
# %% p1
import numpy as np
def square(x):
    return np.zeros(200_000)
# %% p2
def double(x):
    return [0.5] * 1_500_000
""" + HONEST_P3)
    report = grade(path, spec)
    assert scores(report) == {"p1": 0, "p2": 0, "p3": 1}
    assert "more than 10,000 numbers on input 1 of 2 (expected a single number), so it was not compared" \
        in messages(report, "p1")
    assert "list of 1500000 items (too large to return" in messages(report, "p2")
    assert not report.flags


# -- 5. notes and report size ---------------------------------------------------------------------------------

def test_reports_stay_under_a_megabyte(spec, tmp_path):
    failing_cells = "".join(f"# %%\nraise ValueError({i} * 'x' + 'y' * 100_000)\n" for i in range(300))
    path = write(tmp_path, failing_cells + """
# %% p1
print("z" * 5_000_000)
def square(x):
    return x * x
""" + HONEST_P2 + HONEST_P3)
    report = grade(path, spec)
    assert scores(report) == {"p1": 2, "p2": 1, "p3": 1}
    assert len(report.notes) <= 41 and all(len(n) < 2_100 for n in report.notes)
    assert any("more notes not shown" in n for n in report.notes)
    for text in (render_json(report), render_gradescope(report)):
        assert len(text.encode("utf-8")) < MAX_REPORT_BYTES
    assert len(json.dumps(report.to_dict())) + len(report.output) < MAX_REPORT_BYTES


def test_bound_report_shrinks_a_report_with_huge_messages():
    from adgrade.results import CheckResult, ProblemResult, Report

    report = Report("a", "s.py", output="o" * 200_000)
    for i in range(40):
        problem = ProblemResult(f"q{i}", "t", False, 1.0, notes=["n" * 50_000] * 60)
        problem.checks = [CheckResult(f"c{j}", "failed", 0, 1, message="m" * 100_000) for j in range(20)]
        report.problems.append(problem)
    bound_report(report)
    assert len(json.dumps(report.to_dict())) + len(json.dumps(report.output)) < MAX_REPORT_BYTES


# -- static analysis: autodiff reached through aliases and private modules; the channel touched ---------

def test_manual_gradient_through_jax_private_module_fails(spec, tmp_path):
    path = write(tmp_path, """
# %% p5
import jax.numpy as jnp
from jax._src.api import grad as _g

def sin_grad(x):
    return _g(lambda t: jnp.sum(jnp.sin(t)))(x)
""")
    report = grade(path, spec, only=["p5"])
    assert scores(report) == {"p5": 0}
    assert "reaches automatic differentiation: line 7: `_g (jax._src.api.grad)`" in messages(report, "p5")


def test_manual_gradient_that_empties_the_record_fails_and_is_flagged(spec, tmp_path):
    """The process's record of autodiff calls emptied from inside (or an answer forged with an empty list):
    the source still shows autograd.grad, and touching adgrade's internals flags the report for review."""
    path = write(tmp_path, """
# %% p4
import autograd
import adgrade.runner.protocol as _p

_write = _p.write_frame
_p.write_frame = lambda fd, m: _write(fd, {**m, "autodiff_calls": []} if m.get("event") == "answer" else m)

def cube_grad(x):
    return autograd.grad(lambda t: (t ** 3).sum())(x)
""")
    report = grade(path, spec, only=["p4"])
    assert scores(report) == {"p4": 0}
    assert "reaches automatic differentiation: line 10: `autograd.grad`" in messages(report, "p4")
    assert report.flags == ["review"] and "imports adgrade.runner.protocol" in review(report)


def test_honest_manual_gradient_passes_unflagged(spec, tmp_path):
    path = write(tmp_path, """
# %% p4
from autograd import grad  # used elsewhere, not in the answer
import numpy as np

def cube_grad(x):
    grad = 3 * x ** 2  # a local named grad is not autograd.grad
    return grad

check = grad(lambda t: (t ** 3).sum())(np.ones(2))
""")
    report = grade(path, spec, only=["p4"])
    assert scores(report) == {"p4": 2} and not report.flags


def _audit(text: str):
    return audit([SimpleNamespace(kind="code", source=textwrap.dedent(text), first_line=1, label="lines 1-9")])


def test_audit_resolves_aliases_and_private_modules():
    found = _audit("""
        import jax, torch, importlib
        from jax import grad as g
        api = importlib.import_module("jax._src.api")
        d = getattr(jax, "jacrev")
        df = jax.grad(jax.numpy.cos)
        def a(x): return helper(x)
        def helper(x): return g(f)(x)
        def b(x): return api.vjp(f, x)
        def c(x): return d(f)(x)
        def e(x): return df(x)
        def t(x):
            y = torch.tensor(x, requires_grad=True)
            y.sum().backward()
            return y.grad
        def fine(x, g=None):
            g = 2 * x
            with torch.no_grad():
                return g
    """)
    reach = {name: [str(f) for f in found.autodiff_reach(name)] for name in "abcet"}
    assert reach["a"] == ["line 8: `g (jax.grad)`"]
    assert reach["b"] == ["line 9: `api.vjp (jax._src.api.vjp)`"]
    assert any("jax.jacrev" in f for f in reach["c"]) and reach["e"] == ["line 6: `jax.grad`"]
    assert "backward pass" in reach["t"][0]
    assert found.autodiff_reach("fine") == []
    assert is_autodiff("torch.autograd.functional.jacobian") and is_autodiff("autograd.core.backward_pass")
    assert not is_autodiff("torch.autograd.no_grad") and not is_autodiff("jax.numpy.sin")


def test_a_redefinition_replaces_the_earlier_one():
    found = _audit("""
        import jax
        def manual_grad(x): return jax.grad(f)(x)
        def manual_grad(x): return 3 * x ** 2
    """)
    assert found.autodiff_reach("manual_grad") == []


def test_audit_flags_the_grader_channel_and_internals():
    found = _audit("""
        import os, gc, sys
        os.write(1, b"fine")
        print("fine")
        os.write(901, b"frame")
        f = os.fdopen(fd, "wb")
        open("/proc/self/fd/4", "wb")
        objs = gc.get_objects()
        frame = sys._getframe().f_back
        from adgrade.runner import protocol
        m = __import__("adgrade")
    """)
    lines = sorted(f.line for f in found.touches)
    assert lines == [5, 6, 7, 8, 9, 10, 11], [str(f) for f in found.touches]
    assert not _audit("import os\nos.write(2, b'x')\nprint(open('data.txt').read())\n").touches


# -- the protocol's rules, one by one --------------------------------------------------------------------------

def _schedule() -> Schedule:
    return Schedule(expected_frames([("cell", 0), ("question", "q")], {"q": [{"id": "q/0/0"}]}, set(), set()))


def test_the_parent_accepts_only_the_frame_due_once():
    s = _schedule()
    assert [d.event for d in s.due] == ["ready", "cell_start", "cell_end", "request_start", "answer", "finished"]
    s.accept({"event": "ready", "seconds": 0.1}, 1.0)
    with pytest.raises(protocol.ProtocolError, match="`request_start` of q/0/0 where `cell_start` of cell 0"):
        s.accept({"event": "request_start", "id": "q/0/0"}, 1.0)
    s = _schedule()
    for frame in ({"event": "ready", "seconds": 0}, {"event": "cell_start", "index": 0},
                  {"event": "cell_end", "index": 0, "error": None}, {"event": "request_start", "id": "q/0/0"}):
        s.accept(frame, 1.0)
    event = s.accept({"event": "answer", "id": "q/0/0", "ok": True, "value": 1.5, "seconds": 99.0,
                      "autodiff_calls": []}, 2.0)
    assert event.value == 1.5 and event.seconds == 2.0  # never longer than the parent saw
    with pytest.raises(protocol.ProtocolError, match="where `finished` was due"):
        s.accept({"event": "answer", "id": "q/0/0", "ok": True, "value": 1.5, "seconds": 0, "autodiff_calls": []},
                 2.0)
    s.accept({"event": "finished"}, 2.0)
    with pytest.raises(protocol.ProtocolError, match="after its last step"):
        s.accept({"event": "finished"}, 2.0)


def test_statements_of_the_running_cell_only_move_forward():
    s = _schedule()
    s.accept({"event": "ready", "seconds": 0}, 1.0)
    s.accept({"event": "cell_start", "index": 0}, 1.0)
    assert s.accept({"event": "statement", "index": 0, "stmt": 0}, 1.0).due == Due("statement", (0, 0))
    assert s.accept({"event": "statement", "index": 0, "stmt": 2}, 1.0).due.key == (0, 2)
    for bad in ({"event": "statement", "index": 0, "stmt": 2}, {"event": "statement", "index": 1, "stmt": 3},
                {"event": "statement", "index": 0, "stmt": "3"}):
        with pytest.raises(protocol.ProtocolError, match="statement"):
            _copy = Schedule(s.due)
            _copy.position, _copy.statement = s.position, s.statement
            _copy.accept(bad, 1.0)
    s.accept({"event": "cell_end", "index": 0, "error": None}, 1.0)
    with pytest.raises(protocol.ProtocolError, match="where `request_start` of request q/0/0 was due"):
        s.accept({"event": "statement", "index": 0, "stmt": 5}, 1.0)


def test_skipped_steps_are_not_due():
    due = expected_frames([("cell", 0), ("cell", 1), ("question", "q")], {"q": [{"id": "a"}, {"id": "b"}]},
                          {0}, {"a"})
    assert due == [Due("ready"), Due("cell_start", 1), Due("cell_end", 1), Due("request_start", "b"),
                   Due("answer", "b"), Due("finished")]


@pytest.mark.parametrize("frame, match", [
    ({"event": "cell_start", "index": True}, "where `cell_start` of cell 0 was due"),  # bool is not an index
    ({"event": "cell_start", "index": 0.0}, "was due"),
])
def test_keys_must_have_the_exact_type(frame, match):
    s = _schedule()
    s.accept({"event": "ready", "seconds": 0}, 1.0)
    with pytest.raises(protocol.ProtocolError, match=match):
        s.accept(frame, 1.0)


def test_a_cell_error_keeps_what_the_child_describes():
    from adgrade.runner.schedule import checked_error

    origin = {"function": "f" * 500, "line": 3, "called_by_student": True}
    got = checked_error({"type": "E", "message": "m" * 5000, "line": 4, "problem_set": origin, "extra": [1]})
    assert got == {"type": "E", "message": "m" * 2000, "line": 4,
                   "problem_set": {"function": "f" * 200, "line": 3, "called_by_student": True}}


@pytest.mark.parametrize("error", [["x"], {"message": ["x"]}, {"line": "12"}, {"line": 10**12},
                                   {"problem_set": {"function": 3}}])
def test_a_cell_error_of_the_wrong_types_is_refused(error):
    s = _schedule()
    s.accept({"event": "ready", "seconds": 0}, 1.0)
    s.accept({"event": "cell_start", "index": 0}, 1.0)
    with pytest.raises(protocol.ProtocolError):
        s.accept({"event": "cell_end", "index": 0, "error": error}, 1.0)


def test_frames_are_bounded_before_they_are_read():
    reader = protocol.FrameReader()
    reader.feed(struct.pack(">Q", 2**40))
    with pytest.raises(protocol.ProtocolError, match="more than the 262144 bytes allowed here"):
        reader.pop(protocol.MAX_EVENT_FRAME)
    with pytest.raises(protocol.ProtocolError, match="not JSON"):
        protocol.parse_frame(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(protocol.ProtocolError, match="more items"):
        protocol.parse_frame(b"[" + b"0," * (5 * protocol.MAX_ITEMS) + b"0]")
    reader = protocol.FrameReader()
    payload = json.dumps({"event": "ready", "seconds": 0}).encode()
    reader.feed(struct.pack(">Q", len(payload)) + payload[:5])
    assert reader.pop(100) is None
    reader.feed(payload[5:])
    assert reader.pop(100) == {"event": "ready", "seconds": 0}


def test_decoding_refuses_what_no_honest_child_sends():
    with pytest.raises(protocol.ProtocolError, match="characters of data for shape"):
        protocol.decode({"__array__": "float64", "shape": [2**40, 2**30], "data": "AAAAAAAAAAA="})
    with pytest.raises(protocol.ProtocolError, match="bad shape"):
        protocol.decode({"__array__": "float64", "shape": [2**70], "data": ""})
    with pytest.raises(protocol.ProtocolError, match="more than an answer may hold"):
        protocol.decode({"__seq__": "list", "items": [0] * 11}, max_items=10)
    with pytest.raises(protocol.ProtocolError, match="too large"):
        protocol.decode(2**80)
    data = base64.b64encode(np.arange(3.0).tobytes()).decode()
    assert protocol.decode({"__array__": "float64", "shape": [3], "data": data}).tolist() == [0.0, 1.0, 2.0]


def test_the_child_encoder_keeps_the_same_bounds():
    big = protocol.encode([0.0] * 11, max_items=10)
    assert big["__opaque__"] == "list of 11 items" and "too large to return" in big["reason"]
    assert protocol.decode(protocol.encode([[0.0] * 5] * 1, max_items=10), max_items=10) == [[0.0] * 5]
    assert protocol.encode("x" * (protocol.MAX_STRING + 1), max_items=10)["__opaque__"].startswith("string of")
    assert protocol.encode([0.0] * 11) == {"__seq__": "list", "items": [0.0] * 11}  # the grader's inputs: unbounded


# -- a class of honest and hostile students, graded as an instructor does ------------------------------------

def test_a_class_with_forgers_ends_with_a_complete_gradebook(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    honest = "# %% p1\ndef square(x):\n    return x * x\n" + HONEST_P2 + HONEST_P3
    (folder / "ada.py").write_text(honest)
    (folder / "forger.py").write_text("# %% p1\n" + FORGE + '\ndef square(x):\n    _forge_answer("p1/0/0", 2.25)\n'
                                      '    return x * x\n' + HONEST_P2 + HONEST_P3)
    (folder / "garbage.py").write_text("# %% p1\n" + FORGE + "\ndef square(x):\n    _send(None, raw=b'{' * 50)\n"
                                       "    return x * x\n" + HONEST_P2 + HONEST_P3)
    out = tmp_path / "graded"
    args = ["grade", str(folder), "-a", str(FIXTURES / "trust"), "--out", str(out), "--workers", "1",
            "--only", "p1", "--only", "p2", "--only", "p3", "--sandbox", "auto"]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr  # every student has a report: no grader failure
    with open(out / "gradebook.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"ada", "forger", "garbage"}
    assert (rows["ada"]["total"], rows["ada"]["flags"]) == ("4", "")
    for student in ("forger", "garbage"):
        assert rows[student]["total"] == "2" and rows[student]["flags"] == "tampering review" \
            and rows[student]["status"] == "failed"
        report = json.loads((out / "reports" / f"{student}.json").read_text())
        assert "grader_error" not in report and report["flags"] == ["tampering", "review"]
    assert "Flagged for review (2): forger (tampering review), garbage (tampering review)" in proc.stderr
    for path in (out / "reports").glob("*.json"):
        assert path.stat().st_size < MAX_REPORT_BYTES
    # nothing is a grader failure, so --resume grades no one again
    again = run_cli(*args, "--resume")
    assert again.returncode == 0, again.stderr
    assert "Graded 0 submission(s)" in again.stderr
