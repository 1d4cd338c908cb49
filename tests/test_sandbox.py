"""The sandbox (runner/sandbox.py) and the fork server (runner/forkserver.py).

What a sandboxed child can see and do, that every submission gets a fresh process from the fork
server, that the fork server never stands between a submission and its grade (it can die, fail to
start, be asked for from several threads), and the "auto" mode's one loud line when bubblewrap is
missing. Runs for real when `bwrap` is installed; skipped without it, except in CI (CI=true), where
that is an error.
"""

from __future__ import annotations

import io
import json
import os
import signal
import textwrap
import threading
import time
from pathlib import Path

import pytest

from adgrade.engine import GradeOptions, grade_submission
from adgrade.runner import sandbox
from adgrade.runner.forkserver_client import ForkServerError
from adgrade.runner.limits import Limits
from adgrade.runner.parent import Job, Launcher, ProcessRunner
from adgrade.spec import load_assignment

from conftest import FIXTURES, ROOT
from test_adversarial import require_bwrap, sandbox_uid_processes


@pytest.fixture(scope="module")
def adv():
    return load_assignment(FIXTURES / "adversarial")


@pytest.fixture(scope="module")
def toy():
    return load_assignment(FIXTURES / "toy")


@pytest.fixture(scope="module")
def bwrap_factory():
    require_bwrap()
    factory = sandbox.launcher_factory("bwrap")
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def plain_factory():
    factory = sandbox.launcher_factory("none")
    yield factory
    factory.close()


def write(tmp_path: Path, text: str, name: str = "sub.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def statuses(report):
    return {p.id: p.status for p in report.problems}


def printed(report, tag: str):
    """The JSON the submission printed after `tag`."""
    for line in report.output.splitlines():
        if line.startswith(tag + " "):
            return json.loads(line[len(tag) + 1:])
    raise AssertionError(f"no {tag} line in the output:\n{report.output}\nnotes: {report.notes}")


# -- modes -------------------------------------------------------------------------------------------

@pytest.fixture
def no_bwrap(monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    monkeypatch.setattr(sandbox, "_probe_result", None)
    monkeypatch.setattr(sandbox, "_warned", False)


def test_auto_without_bubblewrap_says_so_once_and_runs_rlimited(no_bwrap):
    stream = io.StringIO()
    assert sandbox.resolve_mode("auto", stream) == "none"
    assert sandbox.resolve_mode("auto", stream) == "none"
    assert stream.getvalue() == sandbox.NOT_FOUND + "\n"
    assert "adgrade: bubblewrap not found; submissions run without a sandbox (rlimits only). " \
           "Install it: apt-get install bubblewrap" in stream.getvalue()
    factory = sandbox.launcher_factory("auto", stream=stream, fork_server=False)
    assert not factory.sandboxed and type(factory(Limits())) is Launcher
    assert stream.getvalue().count("bubblewrap not found") == 1


def test_bwrap_mode_without_bubblewrap_is_an_error_and_none_is_silent(no_bwrap):
    with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap"):
        sandbox.resolve_mode("bwrap")
    stream = io.StringIO()
    assert sandbox.resolve_mode("none", stream) == "none"
    assert stream.getvalue() == ""
    with pytest.raises(ValueError, match="auto, bwrap, none"):
        sandbox.resolve_mode("docker")


def test_the_command_line_binds_nothing_of_the_project_but_the_package(tmp_path):
    box = sandbox.Sandbox()
    argv = box.wrap(["python"], writable=[str(tmp_path)], cwd=str(tmp_path), for_server=True)
    pairs = [(argv[i], argv[i + 1]) for i in range(len(argv) - 1)]
    sources = [b for flag, b in pairs if flag in ("--bind", "--ro-bind")]
    for secret in (ROOT, ROOT / "problems", ROOT / "reference", ROOT / "tests", ROOT / "submissions_example"):
        assert str(secret) not in sources
    assert str(ROOT / "adgrade") in sources or any(str(ROOT / "adgrade").startswith(s + "/") for s in sources)
    writable = [b for flag, b in pairs if flag == "--bind"]
    assert writable == [str(tmp_path)]
    for flag in ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent", "--new-session"):
        assert flag in argv
    assert ("--remount-ro", "/") in pairs
    if os.geteuid() == 0:
        assert box.uid and box.uid > 65535 and "--unshare-user" not in argv
    else:
        assert "--unshare-user" in argv


# -- what a sandboxed child sees -------------------------------------------------------------------------

VIEW = """
# %% p1
import json, os, socket, resource
facts = {
    "uid": os.getuid(), "euid": os.geteuid(),
    "cwd": os.getcwd(), "home": os.environ.get("HOME"), "tmpdir": os.environ.get("TMPDIR"),
    "root": sorted(os.listdir("/")),
    "etc": sorted(os.listdir("/etc")),
    "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "interfaces": [name for _, name in socket.if_nameindex()],
    "hostname": socket.gethostname(),
    "nproc": resource.getrlimit(resource.RLIMIT_NPROC),
    "as": resource.getrlimit(resource.RLIMIT_AS),
    "env": sorted(os.environ),
}
open("mine.txt", "w").write("ok")
try:
    resource.setrlimit(resource.RLIMIT_NPROC, (100000, 100000))
    facts["raised"] = True
except (ValueError, OSError):
    facts["raised"] = False
print("FACTS " + json.dumps(facts))
def square(x):
    return x * x
"""


def test_a_sandboxed_child_sees_little_and_is_nobody(adv, bwrap_factory, tmp_path):
    # slicing=False: the prints no check needs run too (here, they are what the test reads)
    report = grade_submission(write(tmp_path, VIEW), adv,
                              GradeOptions(launcher_factory=bwrap_factory, only=["p1"], time_limit=20, slicing=False))
    assert statuses(report) == {"p1": "passed"}
    facts = printed(report, "FACTS")
    assert facts["cwd"] == facts["home"] == facts["tmpdir"]
    assert set(facts["root"]) <= {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "proc", "dev",
                                  "tmp", "sys", "root", "work", "home", "opt", "nix"} | {
        Path(p).parts[1] for p in sandbox.Sandbox().binds}
    assert "shadow" not in facts["etc"] and "hostname" not in facts["etc"]
    assert facts["interfaces"] == ["lo"]
    assert facts["hostname"] == "adgrade"
    assert len(facts["pids"]) <= 3  # the fork server, the child (and bubblewrap's init): not the host's
    assert not facts["raised"]  # the limits' hard values are set too
    assert facts["as"][0] == adv.memory_limit_mb * 2**20
    if os.geteuid() == 0:  # run as root: the child is not, so RLIMIT_NPROC applies
        assert facts["uid"] == facts["euid"] == bwrap_factory.sandbox.uid
    assert facts["nproc"][0] == Limits().processes
    assert not any(k.startswith(("PYTEST", "CI", "GITHUB", "SSH")) for k in facts["env"])


def test_fork_count_is_bounded(bwrap_factory):
    # RLIMIT_NPROC counts the tasks of the child's user id (its threads too); as root that needs the
    # sandbox's own user id, or Linux ignores it
    source = textwrap.dedent("""
        import os, time
        pids = []
        try:
            for _ in range(2000):
                pid = os.fork()
                if pid == 0:
                    time.sleep(30)
                    os._exit(0)
                pids.append(pid)
        except OSError as exc:
            print("FORKS", len(pids))
    """)
    job = Job(submission="forks.py", cells=[{"index": 0, "source": source, "first_line": 1, "label": "cell 1",
                                             "filename": "forks.py"}],
              schedule=[("cell", 0)], requests={}, backends=[], cell_time_limit={0: 20.0}, request_time_limit={},
              setup_time_limit=20.0, cell_question={0: None})
    limits = Limits(processes=24)
    outcome = ProcessRunner(bwrap_factory(limits), limits).run(job)
    assert outcome.cells[0].status == "ok", outcome
    forks = [int(line.split()[1]) for line in outcome.output.splitlines() if line.startswith("FORKS")]
    assert forks and 0 < forks[0] < 24, outcome.output
    assert sandbox_uid_processes(bwrap_factory) == []  # and all of them are gone


# -- the fork server ----------------------------------------------------------------------------------

FIRST = """
import builtins, os, numpy as np
builtins.LEFT_BEHIND = True
np.allclose = lambda *a, **k: True
os.environ["LEFT_BEHIND"] = "1"
open(os.path.join(os.environ["HOME"], "left.txt"), "w").write("x")
print("PID", os.getpid())
# %% p1
def square(x):
    return x * x
"""
SECOND = """
import builtins, os, numpy as np
clean = (not hasattr(builtins, "LEFT_BEHIND") and np.allclose(1.0, 2.0) is False
         and "LEFT_BEHIND" not in os.environ and not os.path.exists(os.path.join(os.environ["HOME"], "left.txt")))
print("PID", os.getpid())
print("CLEAN", "true" if clean else "false")
# %% p1
def square(x):
    return x * x if clean else -x
"""


@pytest.mark.parametrize("mode", ["bwrap", "none"])
def test_every_submission_gets_a_fresh_process(mode, adv, tmp_path, request):
    factory = request.getfixturevalue("bwrap_factory" if mode == "bwrap" else "plain_factory")
    options = GradeOptions(launcher_factory=factory, only=["p1"], slicing=False)  # the prints run too
    first = grade_submission(write(tmp_path, FIRST, "first.py"), adv, options)
    servers = {id(s) for s in factory.pool._servers.values()}
    second = grade_submission(write(tmp_path, SECOND, "second.py"), adv, options)
    assert statuses(first) == statuses(second) == {"p1": "passed"}
    assert printed(second, "CLEAN") is True
    assert printed(first, "PID") != printed(second, "PID")
    assert {id(s) for s in factory.pool._servers.values()} == servers  # the same warm server forked both


def test_jax_has_not_started_before_the_student_code_and_works_after(toy, bwrap_factory, tmp_path):
    path = write(tmp_path, """
    # %% p1
    from jax._src import xla_bridge
    print("BACKENDS", len(xla_bridge._backends))
    def square(x):
        return x * x
    # %% p3
    import jax.numpy as jnp
    def jac(x):
        A = jnp.arange(6.0).reshape(2, 3) + 1.0
        return (1 - jnp.tanh(A @ x) ** 2)[:, None] * A
    """)
    report = grade_submission(path, toy, GradeOptions(launcher_factory=bwrap_factory, only=["p1", "p3"],
                                                      slicing=False))  # the print runs too
    assert statuses(report) == {"p1": "passed", "p3": "passed"}
    assert printed(report, "BACKENDS") == 0
    assert "Error writing persistent compilation cache" not in report.output  # the cache is read-only, quietly


def test_a_dead_fork_server_costs_the_running_question_only(adv, plain_factory, tmp_path):
    path = write(tmp_path, """
    # %% p1
    import time
    def square(x):
        time.sleep(60)
    # %% p2
    def double(x):
        return 2 * x
    """)
    options = GradeOptions(launcher_factory=plain_factory, only=["p1", "p2"])
    grade_submission(write(tmp_path, "x = 1\n", "warm.py"), adv, options)  # start the server

    def kill_server_soon():
        time.sleep(1.0)
        for server in plain_factory.pool._servers.values():
            os.killpg(server.proc.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_server_soon)
    killer.start()
    report = grade_submission(path, adv, options)
    killer.join()
    assert statuses(report) == {"p1": "failed", "p2": "passed"}
    assert report.problems[0].checks[0].status in ("crashed", "error", "timeout")


def test_a_fork_server_that_cannot_start_falls_back_to_fresh_processes(adv, tmp_path):
    stream = io.StringIO()
    factory = sandbox.launcher_factory("none", stream=stream)

    def broken(backends):
        raise ForkServerError("it is broken on purpose")

    factory.pool.make = broken
    try:
        path = write(tmp_path, "# %% p1\ndef square(x):\n    return x * x\n")
        for _ in range(2):
            report = grade_submission(path, adv, GradeOptions(launcher_factory=factory, only=["p1"]))
            assert statuses(report) == {"p1": "passed"}
    finally:
        factory.close()
    assert stream.getvalue().count("the fork server failed (it is broken on purpose)") == 1


def test_one_server_per_worker_thread(adv, plain_factory, tmp_path):
    path = write(tmp_path, "# %% p1\ndef square(x):\n    return x * x\n")
    before = set(plain_factory.pool._servers)
    results = []

    def worker():
        results.append(grade_submission(path, adv, GradeOptions(launcher_factory=plain_factory, only=["p1"])))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [statuses(r) for r in results] == [{"p1": "passed"}] * 2
    assert len(set(plain_factory.pool._servers) - before) == 2


# -- the runner's own deadline -----------------------------------------------------------------------------

def test_forged_frames_cannot_extend_the_time_limits(tmp_path):
    # a cell that keeps announcing a fresh step would restart the step deadlines forever: the parent owns
    # the schedule, so the first frame out of turn is tampering and ends that code at once (the budget
    # across restarts is tests/test_trust.py's)
    source = textwrap.dedent("""
        import gc, time
        from adgrade.runner import child, protocol
        me = next(o for o in gc.get_objects() if type(o).__name__ == "Child" and hasattr(o, "out_fd"))
        while True:
            protocol.write_frame(me.out_fd, {"event": "cell_start", "index": 0})
            time.sleep(0.2)
    """)
    job = Job(submission="forger.py", cells=[{"index": 0, "source": source, "first_line": 1, "label": "cell 1",
                                               "filename": "forger.py"}],
              schedule=[("cell", 0)], requests={}, backends=[], cell_time_limit={0: 1.0}, request_time_limit={},
              setup_time_limit=2.0, cell_question={0: None})
    started = time.monotonic()
    outcome = ProcessRunner(Launcher(Limits())).run(job)
    assert time.monotonic() - started < 20
    assert outcome.cells[0].status == "tampered" and not outcome.fatal
    assert any("cell_start" in note for note in outcome.tampering)


def test_fork_bomb_in_a_jax_question_costs_only_that_question(bwrap_factory, tmp_path):
    # forked copies of a JAX process deadlock and would hold the process quota: later questions
    # (here the Hessian bonus, which JAX computes with threads) must still be graded
    correct = (ROOT / "submissions_example" / "jax-nn" / "correct.py").read_text()
    start = correct.index("\n", correct.index("# %% q1b ")) + 1
    end = correct.index("# %% ", start)
    bomb = ("import os\n\ndef manual_grad(x):\n    for _ in range(10000):\n        try:\n"
            "            os.fork()\n        except OSError:\n            break\n    return x\n\n")
    path = write(tmp_path, correct[:start] + bomb + correct[end:])
    report = grade_submission(path, load_assignment("jax-nn"),
                              GradeOptions(only=["q1b", "q1b-hessian"], launcher_factory=bwrap_factory))
    status = {p.id: p.status for p in report.problems}
    assert status == {"q1b": "failed", "q1b-hessian": "passed"}, report.to_dict()
    assert sandbox_uid_processes(bwrap_factory) == []
