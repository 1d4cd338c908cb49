"""Hostile students in a class folder and in the sandbox (issue 12): each attack is reproduced and fails.

Alongside tests/test_adversarial.py (hostile *code*, graded in the sandbox), these are the attacks on
what lies around the code: candidate files that crash a parser, symbolic links, what a submission
leaves behind (System V shared memory, a full scratch folder, leftovers of a killed grader), the
memory of a whole submission, user namespaces, and text that reaches a terminal, a CI log or a
spreadsheet. Most are unit tests of the logic; a few grade the small numpy `toy` problem set
through the real CLI (about half a second a student); the sandbox tests need bubblewrap (skipped
without it, an error in CI).
"""

from __future__ import annotations

import csv
import json
import os
import stat
import zipfile
from pathlib import Path

import pytest

from adgrade.discovery import LINK_NOT_GRADED, discover
from adgrade.cells import SubmissionError, parse_source, read_submission, top_level_definitions

from conftest import FIXTURES, ROOT, run_cli

GOOD = "# %% p1\ndef square(x):\n    return x * x\n"
MINUS = "# %% p1\ndef square(x):\n    return x * x\n\nx = " + "-" * 100_000 + "1\n"


def deep_notebook(depth: int = 100_000) -> str:
    nb = {"cells": [{"cell_type": "code", "source": GOOD, "metadata": {"deep": None}, "outputs": [],
                     "execution_count": None}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(nb).replace('"deep": null', '"deep": ' + "[" * depth + "]" * depth)


def toy_link_zip(path: Path, members: dict[str, bytes], links: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
        for name, target in links.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, target)
    return path


# ----------------------------------------------------------------- candidate files never crash the batch

def test_a_file_too_deep_for_the_parser_is_a_syntax_error_not_a_crash(tmp_path):
    hostile = tmp_path / "minus.py"
    hostile.write_text(MINUS)
    cells = read_submission(hostile)  # reading splits cells; parsing is what overflowed
    assert parse_source(cells[0].source) is None
    imports, defs = top_level_definitions(cells)  # MemoryError in the parser before issue 12
    assert defs == {} and imports == []


def test_a_deeply_nested_notebook_is_refused_with_a_clear_message(tmp_path):
    hostile = tmp_path / "deep.ipynb"
    hostile.write_text(deep_notebook())
    with pytest.raises(SubmissionError, match=r"nests more than 64 levels deep.*Open it in Jupyter"):
        read_submission(hostile)
    # a bracket inside a string is not nesting: an honest notebook with "[[[[" in its code reads fine
    honest = tmp_path / "honest.ipynb"
    honest.write_text(deep_notebook(3).replace("return x * x", "return x * x  # [[[[[[" + "[" * 200))
    assert [c.kind for c in read_submission(honest)] == ["code"]


def test_hostile_candidates_cost_only_their_student_in_grade_resume_and_check(tmp_path):
    toy = FIXTURES / "toy"
    klass = tmp_path / "class"
    for name in ("alice", "bob", "carl"):
        (klass / name).mkdir(parents=True)
        (klass / name / "hw.py").write_text(GOOD)
    (klass / "alice" / "z_scratch.py").write_text(MINUS)  # a second candidate that overflows the parser
    (klass / "bob" / "deep.ipynb").write_text(deep_notebook())  # one that overflows json's recursion
    (klass / "carl" / "hw.py").write_text(MINUS)  # the only file: graded, 0 with a clear message
    out = tmp_path / "out"
    proc = run_cli("grade", str(klass), "-a", str(toy), "--only", "p1", "--out", str(out), "--workers", "1",
                   "--sandbox", "none")
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    with open(out / "gradebook.csv", newline="") as f:
        book = {r["student"]: r for r in csv.DictReader(f)}
    assert {s: book[s]["total"] for s in book} == {"alice": "2", "bob": "2", "carl": "0"}
    carl = json.loads((out / "reports" / "carl.json").read_text())
    assert "nested too deeply for Python to compile" in json.dumps(carl)
    proc = run_cli("grade", str(klass), "-a", str(toy), "--only", "p1", "--out", str(out), "--resume",
                   "--sandbox", "none")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "3 already graded" in proc.stderr

    proc = run_cli("check", str(klass / "bob" / "deep.ipynb"), "-a", str(toy), "--sandbox", "none",
                   "--format", "json")
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "nests more than 64 levels deep" in json.loads(proc.stdout)["message"]


# ----------------------------------------------------------------------- symbolic links in a class folder

def test_links_in_a_class_folder_are_never_followed(tmp_path):
    klass = tmp_path / "class"
    (klass / "mallory").mkdir(parents=True)
    (klass / "eve").mkdir()
    (klass / "honest1.py").write_text(GOOD)
    (klass / "carol.py").symlink_to(ROOT / "reference" / "jax_nn.py")
    (klass / "mallory" / "hw.py").symlink_to("../honest1.py")
    (klass / "dave.py").symlink_to("/etc/shadow")
    (klass / "trent").symlink_to(ROOT / "reference")
    (klass / "eve" / "real.py").write_text(GOOD)
    (klass / "eve" / "copy.py").symlink_to("../honest1.py")
    (klass / "eve" / "peek").symlink_to("../mallory")
    found = {s.student: s for s in discover([klass], tmp_path / "work", {"square"}).submissions}
    assert set(found) == {"honest1", "carol", "mallory", "dave", "trent", "eve"}
    for student, shown in (("carol", "carol.py"), ("mallory", "hw.py"), ("dave", "dave.py"), ("trent", "trent")):
        sub = found[student]
        assert sub.path is None, student
        assert sub.error.startswith(f"{shown} -> ") and LINK_NOT_GRADED in sub.error, sub.error
    assert found["dave"].error.startswith("dave.py -> /etc/shadow: a link, not a file: not graded")
    # a student with a real file and links: the file is graded, the links named for the instructor
    assert found["eve"].path == klass / "eve" / "real.py"
    assert "copy.py -> ../honest1.py: " + LINK_NOT_GRADED in found["eve"].note
    assert "peek -> ../mallory: " + LINK_NOT_GRADED in found["eve"].note
    assert found["eve"].candidates == [str(klass / "eve" / "real.py")]
    # a link named on the command line (or matched by a pattern) is not followed either
    (only,) = discover([klass / "dave.py"], tmp_path / "work", set()).submissions
    assert only.path is None and LINK_NOT_GRADED in only.error


def test_links_in_an_lms_zip_are_reported_for_their_student(tmp_path):
    archive = toy_link_zip(tmp_path / "lms.zip", {"Smith John_123_assignsubmission_file_hw.py": GOOD.encode()}, {
        "Doe Jane_456_assignsubmission_file_hw.py": "../../reference/jax_nn.py",
        "Roe Rick_789_assignsubmission_file_/hw.py": "/etc/shadow"})
    found = discover([archive], tmp_path / "work", {"square"})
    subs = {s.student: s for s in found.submissions}
    assert subs["Smith_John_123"].path is not None
    assert subs["Doe_Jane_456"].path is None and "-> ../../reference/jax_nn.py: " + LINK_NOT_GRADED \
        in subs["Doe_Jane_456"].error
    assert subs["Roe_Rick_789"].error.startswith("hw.py -> /etc/shadow: " + LINK_NOT_GRADED)
    assert not any(p.is_symlink() for p in (tmp_path / "work").rglob("*"))
    assert sum(LINK_NOT_GRADED in w for w in found.warnings) == 2


def test_a_class_with_links_grades_to_a_complete_gradebook(tmp_path):
    klass = tmp_path / "class"
    klass.mkdir()
    (klass / "honest1.py").write_text(GOOD)
    (klass / "carol.py").symlink_to(FIXTURES / "toy" / "functions.py")
    (klass / "dave.py").symlink_to("/etc/shadow")
    out = tmp_path / "out"
    proc = run_cli("grade", str(klass), "-a", str(FIXTURES / "toy"), "--only", "p1", "--out", str(out),
                   "--workers", "1", "--sandbox", "none")
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
    with open(out / "gradebook.csv", newline="") as f:
        book = {r["student"]: (r["total"], r["status"]) for r in csv.DictReader(f)}
    assert book == {"honest1": ("2", "passed"), "carol": ("0", "error"), "dave": ("0", "error")}
    dave = (out / "reports" / "dave.json").read_text()
    assert LINK_NOT_GRADED in dave and "root:" not in dave


# ------------------------------------------------------------ text safe for a terminal, a CI log, a spreadsheet

TERMINAL_ATTACKS = ("\x1b]0;pwned title\x07", "\x1b]52;c;cm0gLXJmIH4=\x1b\\", "\x1b[2J\x1b[H", "\x9b31m",
                    "\u202e")
PRINTS_ESCAPES = ("# %% p1\n"
                  "print('\\x1b]0;pwned title\\x07 \\x1b]52;c;cm0gLXJmIH4=\\x1b\\\\ \\x1b[2J\\x1b[H')\n"
                  "def square(x):\n"
                  "    raise ValueError('\\x1b]0;pwned title\\x07\\x1b[2J\\u202e\\n::error title=pwned::gotcha')\n")


def hostile_report():
    from adgrade.results import CheckResult, ProblemResult, Report

    message = "".join(TERMINAL_ATTACKS) + "\n::error title=pwned::gotcha\r::warning::x"
    check = CheckResult("value of square", "error", 0, 2, message=message, kind="value")
    problem = ProblemResult("p1", "Square" + TERMINAL_ATTACKS[0], False, 2, [check], notes=[message])
    return Report(assignment="toy", submission="hw\x1b[2J.py", problems=[problem], notes=[message],
                  output=message)


@pytest.mark.parametrize("fmt", ["text", "markdown", "junit", "html"])
def test_text_and_markdown_carry_no_terminal_control_and_no_workflow_command(fmt):
    from adgrade.report import renderer

    text = renderer(fmt)(hostile_report())
    assert "x1b]0;pwned title" in text  # shown, as a visible escape
    for char in ("\x1b", "\x07", "\x9b", "\u202e", "\r"):
        assert char not in text, (fmt, repr(char))
    assert not any(line.lstrip().startswith("::") for line in text.splitlines())


def test_json_escapes_what_a_terminal_would_act_on_and_keeps_the_data():
    from adgrade.report import renderer

    report = hostile_report()
    text = renderer("json")(report)
    for char in ("\x1b", "\x07", "\x9b", "\u202e", "\r"):
        assert char not in text
    assert json.loads(text)["notes"] == report.notes  # the data itself unchanged


@pytest.mark.parametrize("separator", [",", ";", "\t", "|"])
def test_no_gradebook_cell_starts_a_formula_whatever_the_separator(separator):
    from adgrade.report.csv_report import render_gradebook

    names = ["x;=1+2;.py", "=HYPERLINK(1).py", "+1.py", "-1.py", "@SUM(A1).py", "\tx.py", "\r=1.py",
             "a,=1.py", "a|=1.py", "a; =1.py", "honest-name_1.py"]
    reports = {f"s{i}": {"submission": f"/class/{name}", "score": 0, "max_score": 2, "status": "failed",
                         "problems": []} for i, name in enumerate(names)}
    text = render_gradebook(reports)
    # read as a spreadsheet that splits on SEPARATOR and ignores quoting would: no cell starts a formula
    for line in text.replace("\r", "\n").splitlines():
        for cell in line.split(separator):
            assert not cell.strip().strip('"')[:1] in ("=", "+", "-", "@"), (separator, line, cell)
    with_csv = {row["student"]: row["submission"] for row in csv.DictReader(text.splitlines())}
    assert with_csv["s10"] == "honest-name_1.py" and with_csv["s0"] == "x;'=1+2;.py"


def test_check_and_grade_output_carry_no_control_sequence_and_no_workflow_command(tmp_path):
    toy = FIXTURES / "toy"
    hostile = tmp_path / "hw.py"
    hostile.write_text(PRINTS_ESCAPES)
    proc = run_cli("check", str(hostile), "-a", str(toy), "--only", "p1", "--sandbox", "none", "-v")
    assert proc.returncode == 1, proc.stderr
    shown = proc.stdout + proc.stderr
    assert "pwned" in shown  # the student still sees what they raised
    for char in ("\x1b", "\x07", "\u202e"):
        assert char not in shown, repr(char)
    assert not any(line.lstrip().startswith("::") for line in shown.splitlines())

    klass = tmp_path / "class"
    (klass / "eve").mkdir(parents=True)
    (klass / "eve" / "hw.py").write_text(GOOD)
    (klass / "eve" / "x\n::error title=pwned::gotcha.py").write_text("y = 1\n")  # picked over: a note on stderr
    (klass / "notes\n::error title=pwned::\x1b]0;t\x07.txt").write_text("")  # not gradable: a warning on stderr
    (klass / "x;=1+2;.py").write_text(GOOD)
    (klass / "zed.py").write_text(PRINTS_ESCAPES)  # its message reaches the class summary's common failures
    out = tmp_path / "out"
    proc = run_cli("grade", str(klass), "-a", str(toy), "--only", "p1", "--out", str(out), "--workers", "1",
                   "--sandbox", "none")
    assert proc.returncode == 0, proc.stderr
    assert "pwned" in proc.stderr and "pwned" in proc.stdout  # the names and the message are still shown
    assert not any(line.lstrip().startswith("::") for line in (proc.stdout + proc.stderr).splitlines())
    assert "\x1b" not in proc.stdout + proc.stderr
    book = (out / "gradebook.csv").read_text()
    assert "x;'=1+2;.py" in book and ";=" not in book


# ------------------------------------------------------------------------- what a submission leaves behind

HONEST_REST = """
# %% p2
def double(x):
    return 2 * x


# %% p3
def negate(x):
    return -x


# %% p4
def halve(x):
    return x / 2
"""

SYSV = """
import ctypes, ctypes.util, json, os
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
librt = ctypes.CDLL(ctypes.util.find_library("rt") or "librt.so.1", use_errno=True)
KEY = 0x5ADA
"""

# The attacks run inside the entry a check calls: slicing (issue 9) skips top-level statements no check needs.
LEAVES_IPC = SYSV + """
# %% p1
def square(x):
    # 64 MB of System V shared memory with a message for the next student, and a POSIX message queue
    seg = libc.shmget(KEY, 64 << 20, 0o1000 | 0o666)  # IPC_CREAT
    addr = libc.shmat(seg, None, 0)
    ctypes.memset(addr, 1, 64 << 20)
    ctypes.memmove(addr, b"hello next student", 18)
    sem = libc.semget(KEY, 1, 0o1000 | 0o666)
    msq = libc.msgget(KEY, 0o1000 | 0o666)
    mq = librt.mq_open(b"/adgrade-hello", os.O_CREAT | os.O_RDWR, 0o666, None)
    print("LEFT", json.dumps([seg, sem, msq, mq]), flush=True)
    return x * x
""" + HONEST_REST

LOOKS_FOR_IPC = SYSV + """
# %% p1
def square(x):
    found = {"shm": libc.shmget(KEY, 0, 0), "sem": libc.semget(KEY, 0, 0), "msg": libc.msgget(KEY, 0, 0),
             "mq": librt.mq_open(b"/adgrade-hello", os.O_RDONLY, 0, None)}
    listed = {k: open(f"/proc/sysvipc/{k}").read().splitlines()[1:] for k in ("shm", "sem", "msg")}
    print("FOUND", json.dumps({"ids": found, "listed": listed}), flush=True)
    return x * x
""" + HONEST_REST

MAKES_USERNS = """
import ctypes, json, subprocess
# %% p1
def square(x):
    libc = ctypes.CDLL(None, use_errno=True)
    code = 0 if libc.unshare(0x10000000) == 0 else ctypes.get_errno()  # CLONE_NEWUSER
    tool = subprocess.run(["unshare", "-U", "-r", "id", "-u"], capture_output=True, text=True)
    print("USERNS", json.dumps({"unshare": code, "tool": tool.returncode, "id": tool.stdout.strip()}), flush=True)
    return x * x
""" + HONEST_REST

MEMORY_IN_PROCESSES = """
import subprocess, sys, time
# %% p1
def square(x):
    # four processes of 400 MB each (exec'd: os.fork is closed to students), every one within the
    # 1024 MB limit, together well over it
    hog = "b = bytearray(b'x') * (400 << 20); import time; time.sleep(30)"
    kids = [subprocess.Popen([sys.executable, "-c", hog]) for _ in range(4)]
    time.sleep(30)
    return x * x
""" + HONEST_REST

FILLS_SCRATCH = """
import os, time
# %% p1
def square(x):
    with open("big.bin", "wb") as f:
        f.write(b"x" * (64 << 20))  # more than the scratch folder holds here
    return x * x


# %% p2
def double(x):
    os.makedirs("many", exist_ok=True)
    for i in range(5000):
        open(f"many/{i}", "w").close()
    time.sleep(2.5)  # however fast the files came, the server's watch (every 50 ms) sees them in this call
    return 2 * x


# %% p3
def negate(x):
    return -x


# %% p4
def halve(x):
    return x / 2
"""


@pytest.fixture(scope="module")
def adversarial():
    from adgrade.spec import load_assignment

    return load_assignment(FIXTURES / "adversarial")


@pytest.fixture(scope="module")
def bwrap_factory():
    from test_adversarial import require_bwrap

    from adgrade.runner.sandbox import launcher_factory

    require_bwrap()
    factory = launcher_factory("bwrap")
    yield factory
    factory.close()


def grade_text(tmp_path: Path, text: str, spec, factory, name: str = "sub.py", time_limit: float = 3):
    from adgrade.engine import GradeOptions, grade_submission

    path = tmp_path / name
    path.write_text(text)
    # slicing=False: every statement runs, the attacks in cells no check needs included
    return grade_submission(path, spec, GradeOptions(launcher_factory=factory, time_limit=time_limit, slicing=False))


def printed(report, tag: str):
    for line in report.output.splitlines():
        if line.startswith(tag + " "):
            return json.loads(line[len(tag) + 1:])
    raise AssertionError(f"no {tag} line in the output:\n{report.output}\nnotes: {report.notes}")


def problem_text(report, pid: str) -> str:
    problem = {p.id: p for p in report.problems}[pid]
    return " ".join([c.message for c in problem.checks] + problem.notes)


def test_ipc_objects_do_not_outlive_their_submission(tmp_path, adversarial, bwrap_factory):
    first = grade_text(tmp_path, LEAVES_IPC, adversarial, bwrap_factory, "leaves.py")
    made = printed(first, "LEFT")
    assert all(i >= 0 for i in made), made  # it could make them (its own IPC namespace)
    assert first.score == 5
    # the next submission on the same worker (the same fork server) finds nothing of it
    second = grade_text(tmp_path, LOOKS_FOR_IPC, adversarial, bwrap_factory, "looks.py")
    found = printed(second, "FOUND")
    assert found["ids"] == {"shm": -1, "sem": -1, "msg": -1, "mq": -1}, found
    assert found["listed"] == {"shm": [], "sem": [], "msg": []}
    assert second.score == 5


def test_a_submission_cannot_make_a_user_namespace(tmp_path, adversarial, bwrap_factory):
    report = grade_text(tmp_path, MAKES_USERNS, adversarial, bwrap_factory)
    seen = printed(report, "USERNS")
    assert seen["unshare"] != 0 and seen["tool"] != 0 and seen["id"] == "", seen  # ENOSPC as root, EPERM if not
    assert report.score == 5


def test_memory_is_bounded_for_the_whole_submission_not_per_process(tmp_path, adversarial, bwrap_factory):
    report = grade_text(tmp_path, MEMORY_IN_PROCESSES, adversarial, bwrap_factory, time_limit=20)
    text = problem_text(report, "p1")
    assert "together used" in text and "limit of 1024 MB for all of them together" in text, text
    assert {p.id: p.status for p in report.problems} == {"p1": "failed", "p2": "passed", "p3": "passed",
                                                         "p4": "passed"}


def test_the_scratch_folder_is_bounded_in_bytes_and_in_files(tmp_path, adversarial, monkeypatch):
    from test_adversarial import require_bwrap

    from adgrade.runner import sandbox

    require_bwrap()
    monkeypatch.setattr(sandbox, "SCRATCH_MB", 16)
    monkeypatch.setattr(sandbox, "SCRATCH_FILES", 1000)
    factory = sandbox.launcher_factory("bwrap")
    try:
        if not factory.sandbox.scratch_is_tmpfs():
            pytest.skip("this bubblewrap has no --size: the scratch folder is the host's")
        report = grade_text(tmp_path, FILLS_SCRATCH, adversarial, factory)
    finally:
        factory.close()
    p1, p2 = problem_text(report, "p1"), problem_text(report, "p2")
    assert "No space left on device" in p1 and "the scratch folder is full" in p1, p1
    assert "more than 1000 files and folders in its scratch folder" in p2, p2
    assert {p.id: p.status for p in report.problems} == {"p1": "failed", "p2": "failed", "p3": "passed",
                                                         "p4": "passed"}


# ------------------------------------------------------------------ leftovers of a grader killed with SIGKILL

def test_leftovers_of_a_killed_grader_are_removed_at_the_next_start(tmp_path):
    import subprocess
    import sys

    from adgrade.runner.sandbox import _start_time, remove_leftovers

    # a grader that makes its folders (as `check` and `grade` do) and is killed with SIGKILL: no clean-up runs
    script = ("import os, signal\n"
              "from adgrade.runner.sandbox import launcher_factory, Sandbox\n"
              "factory = launcher_factory('none', fork_server=False)\n"
              "Sandbox()\n"
              "os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", script], env={**os.environ, "TMPDIR": str(tmp_path)})
    assert proc.returncode == -9
    left = sorted(p.name.split("-")[1] for p in tmp_path.iterdir())
    assert left == ["runs", "sandbox"], left
    # a living grader's folder (this process), and folders that are not ours to judge, stay
    mine = tmp_path / f"adgrade-runs-{os.getpid()}-{_start_time(os.getpid())}-abc"
    old_style = tmp_path / "adgrade-runs-k2j3h4"
    reused = tmp_path / f"adgrade-runs-{os.getpid()}-1-abc"  # this pid, but another process's start time
    other = tmp_path / "unrelated-runs-1-2-3"
    for folder in (mine, old_style, reused, other):
        folder.mkdir()
    removed = remove_leftovers(str(tmp_path))
    assert len(removed) == 3 and str(reused) in removed
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, old_style.name, other.name])


# ------------------------------------------------------------ the JAX compilation cache (issue 9, point 3)

PLANTS_CACHE = """
import json, os
# %% p1
def square(x):
    tried = {}
    for name, folder in (("own", os.environ.get("ADGRADE_JAX_CACHE", "")), ("trusted", "@@TRUSTED@@")):
        try:
            with open(os.path.join(folder, "jit_square-planted"), "w") as f:
                f.write("a compiled executable for the next one to load")
            tried[name] = "WROTE"
        except OSError as exc:
            tried[name] = type(exc).__name__
    print("CACHE", json.dumps({"env": os.environ.get("ADGRADE_JAX_CACHE"), "tried": tried}), flush=True)
    return x * x
""" + HONEST_REST


@pytest.mark.parametrize("student_cache", [True, False], ids=["check", "grade"])
def test_no_submission_writes_a_cache_entry_anyone_else_loads(tmp_path, adversarial, monkeypatch, student_cache):
    from test_adversarial import require_bwrap

    from adgrade.runner.sandbox import launcher_factory

    require_bwrap()
    trusted = tmp_path / "cache" / "jax"
    trusted.mkdir(parents=True)
    monkeypatch.setenv("ADGRADE_JAX_CACHE", str(trusted))
    monkeypatch.delenv("ADGRADE_JAX_STUDENT_CACHE", raising=False)
    factory = launcher_factory("bwrap", student_cache=student_cache)
    try:
        report = grade_text(tmp_path, PLANTS_CACHE.replace("@@TRUSTED@@", str(trusted)), adversarial, factory)
    finally:
        factory.close()
    seen = printed(report, "CACHE")
    assert report.score == 5
    assert list(trusted.iterdir()) == []  # the grader's own cache: never written by a submission
    own = tmp_path / "cache" / "jax-student"
    if student_cache:  # check: the student's process writes a cache of its own (warm from the second check)
        assert seen["env"] == str(own) and seen["tried"]["own"] == "WROTE"
        assert [p.name for p in own.iterdir()] == ["jit_square-planted"]
        assert seen["tried"]["trusted"] != "WROTE"
    else:  # grade: the trusted cache, read-only; nothing of any student's is ever loaded
        assert seen["env"] == str(trusted) and seen["tried"] == {"own": "OSError", "trusted": "OSError"}
        assert not own.exists() or list(own.iterdir()) == []


def test_grade_without_a_sandbox_gives_students_no_cache(tmp_path, monkeypatch):
    from adgrade.runner.sandbox import launcher_factory

    monkeypatch.setenv("ADGRADE_JAX_CACHE", str(tmp_path / "jax"))
    factory = launcher_factory("none", fork_server=False)
    try:
        assert factory.env_extra["ADGRADE_JAX_CACHE"] == "off"  # nothing would stop them writing a shared one
    finally:
        factory.close()
    factory = launcher_factory("none", fork_server=False, student_cache=True)
    try:
        assert factory.env_extra["ADGRADE_JAX_CACHE"] == str(tmp_path / "jax-student")
    finally:
        factory.close()


# ------------------------------------------------------------------------------ a class of them, end to end

HONEST = """
# %% p1
def square(x):
    return x * x
""" + HONEST_REST


def test_a_class_of_honest_and_hostile_students_ends_with_a_complete_gradebook(tmp_path):
    from test_adversarial import require_bwrap

    require_bwrap()
    adversarial = FIXTURES / "adversarial"
    klass = tmp_path / "class"
    (klass / "honest2").mkdir(parents=True)
    (klass / "mallory").mkdir()
    (klass / "honest1.py").write_text(HONEST)
    (klass / "honest2" / "hw.py").write_text(HONEST)
    (klass / "honest2" / "deep.ipynb").write_text(deep_notebook())  # a candidate that used to crash the batch
    (klass / "carol.py").symlink_to(adversarial / "functions.py")  # the reference functions
    (klass / "mallory" / "hw.py").symlink_to("../honest1.py")  # another student's work
    (klass / "ipc_leaver.py").write_text(LEAVES_IPC)
    (klass / "ipc_looker.py").write_text(LOOKS_FOR_IPC)  # graded next, by the same worker
    (klass / "hog.py").write_text(MEMORY_IN_PROCESSES)
    (klass / "userns.py").write_text(MAKES_USERNS)
    out = tmp_path / "out"
    # a generous time limit: the hog must meet the memory bound, never a deadline, however busy the machine
    proc = run_cli("grade", str(klass), "-a", str(adversarial), "--out", str(out), "--workers", "1",
                   "--sandbox", "bwrap", "--time-limit", "30", timeout=900)
    assert proc.returncode == 0, proc.stderr
    with open(out / "gradebook.csv", newline="") as f:
        book = {r["student"]: r["total"] for r in csv.DictReader(f)}
    assert book == {"honest1": "5", "honest2": "5", "carol": "0", "mallory": "0", "ipc_leaver": "5",
                    "ipc_looker": "5", "hog": "3", "userns": "5"}
    looker = json.loads((out / "reports" / "ipc_looker.json").read_text())
    assert 'FOUND {"ids": {"shm": -1, "sem": -1, "msg": -1, "mq": -1}' in looker["output"]
    hog = json.loads((out / "reports" / "hog.json").read_text())
    assert "for all of them together" in json.dumps(hog)
    for report in (out / "reports").glob("*.json"):
        assert report.stat().st_size < 2**20, report


@pytest.mark.parametrize("codec", ["rot13", "zlib_codec", "punycode", "undefined"])
def test_a_coding_line_naming_no_text_encoding_is_the_students_problem(tmp_path, codec):
    from adgrade.discovery import pick_submission

    hostile = tmp_path / "z.py"
    hostile.write_text(f"# -*- coding: {codec} -*-\nx = 1\n")
    with pytest.raises(SubmissionError, match="coding"):
        read_submission(hostile)
    honest = tmp_path / "hw.py"
    honest.write_text(GOOD)
    assert pick_submission([hostile, honest], {"square"})[0] == honest


def test_a_pipe_named_like_a_submission_never_hangs_the_batch(tmp_path):
    klass = tmp_path / "class"
    klass.mkdir()
    os.mkfifo(klass / "frank.py")
    (klass / "honest1.py").write_text(GOOD)
    found = {s.student: s for s in discover([klass], tmp_path / "work", {"square"}).submissions}
    assert found["frank"].path is None and "not a plain file: not graded" in found["frank"].error
    with pytest.raises(SubmissionError, match="not a plain file"):
        read_submission(klass / "frank.py")  # `check frank.py` too


def test_a_project_handed_in_with_its_libraries_is_chosen_from_without_reading_them_all(tmp_path, monkeypatch):
    from adgrade import discovery

    monkeypatch.setattr(discovery, "MAX_CANDIDATES_READ", 5)
    student = tmp_path / "class" / "gina"
    (student / "venv" / "lib" / "site-packages" / "numpy").mkdir(parents=True)
    (student / "venv" / "lib" / "site-packages" / "numpy" / "core.py").write_text("def square(x): pass\n")
    for i in range(20):
        (student / "lib" / f"m{i:02d}").mkdir(parents=True)
        (student / "lib" / f"m{i:02d}" / "util.py").write_text("y = 2\n" * 100)
    (student / "hw.py").write_text(GOOD)
    read = []
    monkeypatch.setattr("adgrade.engine.defined_names",
                        lambda p: (read.append(p), {"square"} if p.name == "hw.py" else set())[1])
    (sub,) = discover([tmp_path / "class"], tmp_path / "work", {"square"}).submissions
    assert sub.path == student / "hw.py"
    assert len(read) == 5 and not any("site-packages" in str(p) for p in sub.candidates)


DOWNLOADS = """
import os, urllib.request
# %% p1
def square(x):
    os.makedirs("/tmp/mnist_data", exist_ok=True)
    return x * x


# %% p2
def double(x):
    urllib.request.urlopen("http://example.com/mnist.npz", timeout=2)
    return 2 * x


# %% p3
def negate(x):
    return -x


# %% p4
def halve(x):
    return x / 2
"""


def test_the_sandboxs_rules_are_said_in_the_students_words(tmp_path, adversarial, bwrap_factory):
    report = grade_text(tmp_path, DOWNLOADS, adversarial, bwrap_factory)
    p1, p2 = problem_text(report, "p1"), problem_text(report, "p2")
    assert "Read-only file system: '/tmp/mnist_data'" in p1
    assert "write only in its scratch folder, the current working folder" in p1, p1
    assert "the grader has no network: download data in a cell the checks don't need, or use the data the " \
           "assignment gives." in p2, p2


LOCKS_SCRATCH = """
import os
# %% p1
def square(x):
    if not os.path.exists("hoard"):
        os.makedirs("hoard/inner")
        with open("hoard/inner/blob", "wb") as f:
            f.write(b"x" * (10 << 20))
        os.chmod("hoard/inner", 0)
        os.chmod("hoard", 0)
    return x * x
""" + HONEST_REST

NEEDS_SCRATCH = """
# %% p1
def square(x):
    with open("data.bin", "wb") as f:
        f.write(b"x" * (10 << 20))
    return x * x
""" + HONEST_REST


def test_what_a_submission_leaves_in_the_scratch_tmpfs_is_gone_for_the_next(tmp_path, adversarial, monkeypatch):
    from test_adversarial import require_bwrap

    from adgrade.runner import sandbox

    require_bwrap()
    monkeypatch.setattr(sandbox, "SCRATCH_MB", 16)
    factory = sandbox.launcher_factory("bwrap")
    try:
        if not factory.sandbox.scratch_is_tmpfs():
            pytest.skip("this bubblewrap has no --size: the scratch folder is the host's")
        first = grade_text(tmp_path, LOCKS_SCRATCH, adversarial, factory, "locks.py")
        second = grade_text(tmp_path, NEEDS_SCRATCH, adversarial, factory, "needs.py")
    finally:
        factory.close()
    assert first.score == 5
    assert second.score == 5, [n for p in second.problems for n in p.notes]  # 10 MB more fit in 16 MB
