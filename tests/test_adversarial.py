"""Submissions that attack the grader (tests/adversarial/): each ends with the right score and a clear
message, and grading goes on past it.

Every file is graded through the real engine with the launchers `check` and `grade` use
(`adgrade.runner.sandbox.launcher_factory`, fork server on): the generic attacks (loops, exits,
crashes, floods, patching, odd return values) both in the bubblewrap sandbox and without one;
the attacks only a sandbox stops (reading secrets, writing outside the scratch folder, the network,
fork bombs, killing the grader, changing adgrade on disk) only in it.

The sandbox tests run for real whenever `bwrap` is installed; without it they are skipped, except
in CI (CI=true), where a missing bubblewrap is an error (.ci/run installs it).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import threading
from pathlib import Path

import pytest

from adgrade.engine import GradeOptions, grade_submission
from adgrade.runner.sandbox import launcher_factory
from adgrade.spec import load_assignment

from conftest import FIXTURES, ROOT

ADVERSARIAL = Path(__file__).resolve().parent / "adversarial"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_bwrap() -> None:
    if shutil.which("bwrap") is None:
        if IN_CI:
            pytest.fail("bubblewrap (bwrap) is not installed, and CI must run the sandbox tests for real: "
                        "apt-get install bubblewrap (.ci/run does)")
        pytest.skip("bubblewrap is not installed (apt-get install bubblewrap); the sandbox tests need it")


@pytest.fixture(scope="module")
def spec():
    return load_assignment(FIXTURES / "adversarial")


_factories: dict[str, object] = {}


@pytest.fixture(scope="module")
def factories():
    yield _factories
    for factory in _factories.values():
        factory.close()
    _factories.clear()


def factory_for(mode: str, factories: dict):
    if mode == "bwrap":
        require_bwrap()
    if mode not in factories:
        factories[mode] = launcher_factory(mode)
    return factories[mode]


class Listener:
    """A TCP and UDP port and an abstract Unix socket on the grader's machine: nothing may reach them."""

    def __init__(self) -> None:
        self.token = secrets.token_hex(4)
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.abstract = f"adgrade-test-{self.token}"
        self.unix.bind("\0" + self.abstract)
        self.unix.listen()
        self.received: list[str] = []
        for sock in (self.tcp, self.udp, self.unix):
            sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            for sock, kind in ((self.tcp, "tcp"), (self.unix, "unix")):
                try:
                    conn, _ = sock.accept()
                    self.received.append(kind)
                    conn.close()
                except OSError:
                    pass
            try:
                self.udp.recvfrom(100)
                self.received.append("udp")
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for sock in (self.tcp, self.udp, self.unix):
            sock.close()


@pytest.fixture
def place(tmp_path):
    """Write an adversarial file as a student's submission, next to another student's, with its
    placeholders filled in."""
    other = tmp_path / "submissions" / "other_student.py"
    other.parent.mkdir()
    other.write_text("ANSWERS = 'another student wrote this'\n")
    output = tmp_path / "graded"
    output.mkdir()
    home_secret = Path.home() / f".adgrade-test-secret-{secrets.token_hex(4)}"
    try:
        home_secret.write_text("the grader's own file")
    except OSError:
        home_secret = tmp_path / "no-home-secret"
    listener = Listener()
    context = {"other": other, "output": output, "listener": listener, "home_secret": home_secret,
               "token": listener.token}

    def put(name: str) -> Path:
        path = other.parent / f"{name}.py"
        text = (ADVERSARIAL / f"{name}.py").read_text()
        for key, value in {"REPO": ROOT, "OTHER": other, "SELF": path, "OUTPUT": output, "PORT": listener.port,
                           "TOKEN": listener.token, "ABSTRACT": listener.abstract,
                           "HOMESECRET": home_secret}.items():
            text = text.replace(f"@@{key}@@", str(value))
        path.write_text(text)
        return path

    put.context = context  # type: ignore[attr-defined]
    yield put
    listener.close()
    if home_secret.parent == Path.home():
        home_secret.unlink(missing_ok=True)


def grade(name, mode, spec, factories, place):
    path = place(name)
    # slicing=False: every statement runs, the attacks in cells no check needs included
    report = grade_submission(path, spec, GradeOptions(launcher_factory=factory_for(mode, factories), time_limit=2,
                                                       slicing=False))
    return report, place.context


def by_id(report):
    return {p.id: p for p in report.problems}


def message(report, pid) -> str:
    problem = by_id(report)[pid]
    return " ".join([c.message for c in problem.checks] + problem.notes)


def assert_verdict(report, score, statuses):
    got = {p.id: p.status for p in report.problems}
    assert got == statuses, f"{got}\n" + "\n".join(f"{p.id}: {message(report, p.id)}" for p in report.problems)
    assert report.score == score


PASSED = {"p1": "passed", "p2": "passed", "p3": "passed", "p4": "passed"}

# -- attacks that cost only the question they happen in, sandbox or not --------------------------------

GENERIC_MODES = ["bwrap", "none"]


@pytest.mark.parametrize("mode", GENERIC_MODES)
def test_infinite_loop_in_an_entry_and_in_a_cell(mode, spec, factories, place):
    report, _ = grade("infinite_loop", mode, spec, factories, place)
    assert_verdict(report, 2, {"p1": "failed", "p2": "passed", "p3": "failed", "p4": "passed"})
    p1 = by_id(report)["p1"].checks[0]
    assert p1.status == "timeout" and "did not finish within 2 s" in p1.message
    assert "was stopped" in message(report, "p3") and "did not finish within 2 s" in message(report, "p3")


@pytest.mark.parametrize("mode", GENERIC_MODES)
def test_hang_in_the_setup_code(mode, spec, factories, place):
    report, _ = grade("hang_at_import", mode, spec, factories, place)
    assert_verdict(report, 5, PASSED)
    assert any("was stopped" in n and "did not finish within 3 s" in n for n in report.notes), report.notes


@pytest.mark.parametrize("mode", GENERIC_MODES)
def test_memory_bomb(mode, spec, factories, place):
    report, _ = grade("memory_bomb", mode, spec, factories, place)
    assert_verdict(report, 2, {"p1": "failed", "p2": "failed", "p3": "passed", "p4": "passed"})
    for pid in ("p1", "p2"):
        assert "MemoryError" in message(report, pid) and "out of memory" in message(report, pid)


@pytest.mark.parametrize("mode", GENERIC_MODES)
def test_output_flood_is_capped(mode, spec, factories, place):
    report, _ = grade("output_flood", mode, spec, factories, place)
    assert_verdict(report, 5, PASSED)
    assert len(report.output) < 70_000
    assert any("printed" in n and "only the start and end are kept" in n for n in report.notes)


@pytest.mark.parametrize("mode", GENERIC_MODES)
def test_exits_and_self_kill(mode, spec, factories, place):
    report, _ = grade("exits", mode, spec, factories, place)
    assert_verdict(report, 2, {"p1": "failed", "p2": "passed", "p3": "failed", "p4": "passed"})
    assert "exited early" in message(report, "p1") and "os._exit()" in message(report, "p1")
    assert "sys.exit()" in message(report, "p2")
    assert "SIGKILL" in message(report, "p3")


@pytest.mark.parametrize("mode", GENERIC_MODES)
def test_segfault_and_abort(mode, spec, factories, place):
    report, _ = grade("segfault", mode, spec, factories, place)
    assert_verdict(report, 2, {"p1": "failed", "p2": "failed", "p3": "passed", "p4": "passed"})
    assert "SIGSEGV" in message(report, "p1") and "segmentation fault" in message(report, "p1")
    assert "SIGABRT" in message(report, "p2")


@pytest.mark.parametrize("mode", GENERIC_MODES)
def test_patching_numpy_adgrade_and_forging_answers_changes_nothing(mode, spec, factories, place):
    report, _ = grade("patching", mode, spec, factories, place)
    # the forged answers (1.0 for every request, sent from the set-up cell) are not the frame due: the
    # set-up cell is stopped there and flagged as tampering (tests/test_trust.py), and the questions keep
    # their real answers: p2 and p4 right, p1 and p3 wrong
    assert report.flags == ["tampering", "review"]  # review: its code imports adgrade and walks gc objects
    assert any("`answer` of p1/0/0" in line for line in report.review)
    assert_verdict(report, 2, {"p1": "failed", "p2": "passed", "p3": "failed", "p4": "passed"})
    assert "2.5 but should be 2.25" in message(report, "p1")
    assert "sign" in message(report, "p3")


@pytest.mark.parametrize("mode", GENERIC_MODES)
def test_fake_report_and_garbage_on_the_grader_channel(mode, spec, factories, place):
    report, _ = grade("fake_report", mode, spec, factories, place)
    assert "Score: 5 / 5" in report.output  # printed, and shown as the student's output, nothing more
    assert_verdict(report, 2, {"p1": "failed", "p2": "passed", "p3": "failed", "p4": "passed"})
    # garbage on the grader's channel is the submission's doing: p3 gets 0 and the report is flagged
    assert "broke its protocol" in message(report, "p3") and report.flags == ["tampering", "review"]


@pytest.mark.parametrize("mode", GENERIC_MODES)
def test_returns_that_are_not_arrays(mode, spec, factories, place):
    report, _ = grade("weird_returns", mode, spec, factories, place)
    assert_verdict(report, 0, {"p1": "failed", "p2": "failed", "p3": "failed", "p4": "failed"})
    assert "got the string 'x squared'" in message(report, "p1")
    assert "generator" in message(report, "p2")
    assert "could not be read" in message(report, "p3")
    assert "too large to return" in message(report, "p4")


# -- attacks only the sandbox stops ------------------------------------------------------------------------

def sandbox_uid_processes(factory) -> list[int]:
    """Host pids still running as the sandbox's user id (root only: otherwise the user's own)."""
    uid = getattr(factory.sandbox, "uid", None)
    if uid is None:
        return []
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("Uid:") and str(uid) in line.split():
                out.append(int(entry))
    return out


def test_fork_bomb_is_bounded_and_swept(spec, factories, place):
    report, _ = grade("fork_bomb", "bwrap", spec, factories, place)
    assert_verdict(report, 3, {"p1": "failed", "p2": "passed", "p3": "passed", "p4": "passed"})
    assert by_id(report)["p1"].checks[0].status == "timeout"
    # the bomb's processes and p3's setsid daemon are gone once grading returns
    assert sandbox_uid_processes(factories["bwrap"]) == []


def test_cannot_read_reference_problems_or_other_students(spec, factories, place):
    report, context = grade("read_secrets", "bwrap", spec, factories, place)
    assert "LEAK" not in report.output, report.output
    for target in ("/reference", "/problems", "functions.py", "other_student.py", "read_secrets.py",
                   str(context["output"]), str(context["home_secret"]), "/etc/shadow"):
        assert any(line.startswith("BLOCKED") and target in line for line in report.output.splitlines()), target
    assert_verdict(report, 5, PASSED)


def test_cannot_write_outside_its_scratch_folder(spec, factories, place):
    report, context = grade("write_outside", "bwrap", spec, factories, place)
    assert "WROTE" not in report.output, report.output
    assert "OWN 3" in report.output  # its own folder (cwd, HOME, TMPDIR) is writable
    assert_verdict(report, 5, PASSED)
    assert not (ROOT / "adgrade" / "runner" / "evil.py").exists()
    assert not (ROOT / "problems" / "evil.toml").exists()
    assert not (context["output"] / "evil.json").exists()
    assert not Path(f"/tmp/adgrade-evil-{context['token']}").exists()


def test_no_network(spec, factories, place):
    report, context = grade("network", "bwrap", spec, factories, place)
    assert "REACHED []" in report.output, report.output
    assert context["listener"].received == []
    assert_verdict(report, 5, PASSED)


def test_cannot_kill_the_grader_or_the_fork_server(spec, factories, place):
    factory = factory_for("bwrap", factories)
    report, _ = grade("kill_the_grader", "bwrap", spec, factories, place)
    assert_verdict(report, 5, PASSED)
    servers = list(factory.pool._servers.values())
    assert servers and all(s.alive() for s in servers)
    # and the next submission is served by the same, living server
    report, _ = grade("segfault", "bwrap", spec, factories, place)
    assert report.score == 2
    assert all(s.alive() for s in servers)


def test_cannot_change_adgrade_on_disk(spec, factories, place):
    import adgrade

    before = Path(adgrade.__file__).read_bytes()
    report, _ = grade("modify_adgrade", "bwrap", spec, factories, place)
    assert report.output.count("BLOCKED") == 2, report.output
    assert_verdict(report, 5, PASSED)
    assert Path(adgrade.__file__).read_bytes() == before
