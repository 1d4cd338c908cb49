"""`pytest --adgrade ASSIGNMENT SUBMISSION`: one test item per check, the engine run once."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import FIXTURES

pytest_plugins = ["pytester"]

SUBS = FIXTURES / "toy-submissions"


@pytest.fixture
def toy_repo(pytester: pytest.Pytester) -> Path:
    """The toy problem set and the example submissions inside pytester's folder (so no outer
    pytest configuration is picked up from the paths given)."""
    shutil.copytree(FIXTURES / "toy", pytester.path / "toy")
    for name in ("correct.py", "wrong.py", "inject.py"):
        shutil.copy(SUBS / name, pytester.path / name)
    return pytester.path


def _run(pytester: pytest.Pytester, submission: str, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--adgrade", "toy", submission,
                                         "--adgrade-sandbox", "none", *args)


def test_correct_submission_passes_every_check(pytester, toy_repo):
    result = _run(pytester, "correct.py", "-v", "--junitxml=out.xml")
    result.assert_outcomes(passed=3)
    assert result.ret == 0
    result.stdout.fnmatch_lines([
        "*collected 3 items",
        "p1::`square` matches the expected value at 3 points PASSED*",
        "p2::`cube_grad` matches the gradient at 3 points PASSED*",
        "p3::`jac` matches the Jacobian at 2 points PASSED*",
        "toy: 6 / 6 passed",
    ])
    cases = ET.parse(toy_repo / "out.xml").getroot().iter("testcase")
    props = {c.get("classname"): {p.get("name"): p.get("value") for p in c.iter("property")} for c in cases}
    assert props["p2"] == {"score": "3", "max_score": "3", "status": "passed"}


def test_wrong_submission_fails_with_the_checks_message(pytester, toy_repo):
    result = _run(pytester, "wrong.py")
    result.assert_outcomes(passed=1, failed=2)
    assert result.ret == 1
    out = result.stdout.str()
    assert "Likely cause: off by a factor of 2" in out  # the check's message is the failure text
    assert "not implemented yet" in out and "[error]" in out
    assert "Traceback" not in out and "CheckFailed" not in out  # no plugin internals in the report
    result.stdout.fnmatch_lines(["FAILED p1::`square` matches the expected value at 3 points - *",
                                 "FAILED p3::`jac` matches the Jacobian at 2 points - *"])
    assert "toy: 3 / 6 failed" in out


def test_the_engine_runs_once_per_session(pytester, toy_repo, monkeypatch):
    """Count gradings with a conftest that wraps the engine (runpytest_subprocess loads it)."""
    pytester.makeconftest(
        "import adgrade.engine as engine\n"
        "calls = []\n"
        "real = engine.grade_submission\n"
        "def counting(*args, **kwargs):\n"
        "    calls.append(1)\n"
        "    return real(*args, **kwargs)\n"
        "engine.grade_submission = counting\n"
        "def pytest_sessionfinish(session):\n"
        "    print(f'\\nGRADINGS={len(calls)}')\n"
    )
    result = _run(pytester, "wrong.py", "-s")
    result.assert_outcomes(passed=1, failed=2)
    assert "GRADINGS=1" in result.stdout.str()


def test_k_selects_checks_and_only_those_problems_are_graded(pytester, toy_repo):
    result = _run(pytester, "wrong.py", "-k", "p2 or cube_grad", "-v")
    result.assert_outcomes(passed=1, deselected=2)
    out = result.stdout.str()
    assert "toy: 3 / 3 passed" in out  # only p2 graded: the deselected problems cost nothing


def test_collect_only_does_not_grade(pytester, toy_repo):
    result = _run(pytester, "wrong.py", "--collect-only", "-q")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["p1::`square` matches the expected value at 3 points",
                                 "p2::`cube_grad` matches the gradient at 3 points",
                                 "p3::`jac` matches the Jacobian at 2 points"])
    assert "toy:" not in result.stdout.str()


def test_failure_text_cannot_inject_workflow_commands(pytester, toy_repo):
    result = _run(pytester, "inject.py")
    result.assert_outcomes(failed=3)
    for line in (result.stdout.lines + result.stderr.lines):
        assert not line.strip().startswith("::"), line
        assert "##[" not in line, line


def test_bad_usage_is_a_usage_error(pytester, toy_repo):
    result = _run(pytester, "missing.py")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "missing.py" in result.stderr.str()
    result = pytester.runpytest_subprocess("--adgrade", "no-such-assignment", "correct.py")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "no-such-assignment" in result.stderr.str()


def test_without_the_option_the_plugin_does_nothing(pytester):
    pytester.makepyfile("def test_one():\n    assert True\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "adgrade" not in result.stdout.str().split("plugins:")[-1].split("\n", 1)[-1]
