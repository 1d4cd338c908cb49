"""Reports where grades go: Gradescope results.json, JUnit XML, the CSV gradebook, the class summary.

The renderers are checked on a hand-made Report covering every check status (fast), and
through the real CLI: `adgrade check --format gradescope|junit|csv` and `adgrade export`.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import xml.etree.ElementTree as ET

import pytest

from conftest import FIXTURES, ROOT, run_cli

from adgrade.batch import normalise_message, report_from_dict, summarize
from adgrade.report import FORMATS, renderer
from adgrade.report.csv_report import render_gradebook
from adgrade.report.gradescope import gradescope_dict, render_gradescope
from adgrade.report.junit import render_junit
from adgrade.report.summary import render_summary_text
from adgrade.results import CheckResult, ProblemResult, Report

JAX_NN = ROOT / "submissions_example" / "jax-nn"

GRADESCOPE_TOP = {"score", "execution_time", "output", "tests"}
GRADESCOPE_TEST = {"name", "score", "max_score", "status", "output", "visibility"}


def sample_report() -> Report:
    """Every check status, a hidden check, a bonus problem, notes and characters XML cannot hold."""
    r = Report(assignment="demo", submission="student/hw.ipynb", duration_s=3.2)
    p1 = ProblemResult("q1", "Gradient", False, 5.0)
    p1.checks = [
        CheckResult("grad at 6 points", "failed", 0.0, 3.0, "`g` is wrong at 3 points.\nAt 0.5: 1.0 but 2.0\x07",
                    kind="gradient"),
        CheckResult("hidden grad", "passed", 2.0, 2.0, hidden=True, kind="gradient"),
    ]
    p2 = ProblemResult("q2", "Training loop", False, 4.0)
    p2.checks = [
        CheckResult("loss goes down", "timeout", 0.0, 2.0, "stopped after 10 s", kind="convergence"),
        CheckResult("uses autodiff", "error", 0.0, 1.0, "NameError: name 'jnp' is not defined", kind="autodiff"),
        CheckResult("starter code", "warning", 0.0, 0.0, "broadcast (3, 1) against (3,)", kind="value"),
        CheckResult("timing", "inconclusive", 1.0, 1.0, "machine too noisy", kind="timing",
                    details={"median_seconds": 0.0012}),
    ]
    p2.notes = ["your code at cell 4 was stopped: infinite loop"]
    p3 = ProblemResult("q3", "Hessian", True, 1.0)
    p3.checks = [CheckResult("hessian", "skipped", 0.0, 1.0, "q1 failed first", kind="hessian")]
    r.problems = [p1, p2, p3]
    r.notes = ["no question markers were found"]
    return r


# ----------------------------------------------------------------------------- Gradescope

def test_gradescope_field_names_and_statuses():
    data = gradescope_dict(sample_report())
    assert GRADESCOPE_TOP <= set(data)
    assert data["score"] == 3.0 and isinstance(data["execution_time"], int) and data["execution_time"] >= 1
    assert "demo: 3 / 9 (failed)" in data["output"] and "no question markers" in data["output"]
    tests = data["tests"]
    assert len(tests) == 7
    for t in tests:
        assert GRADESCOPE_TEST <= set(t), t
        assert t["status"] in ("passed", "failed")
        assert t["visibility"] in ("visible", "after_published")
        assert isinstance(t["score"], float) and isinstance(t["max_score"], float)
    by_name = {t["name"]: t for t in tests}
    assert by_name["q1: grad at 6 points"]["status"] == "failed"
    assert "wrong at 3 points" in by_name["q1: grad at 6 points"]["output"]
    assert by_name["q1: hidden grad"]["visibility"] == "after_published"
    assert by_name["q1: grad at 6 points"]["visibility"] == "visible"
    assert by_name["q2: loss goes down"]["status"] == "failed"
    assert by_name["q2: loss goes down"]["output"].startswith("Timed out")
    assert by_name["q2: starter code"]["status"] == "passed"  # a warning loses no points
    assert by_name["q2: timing"]["status"] == "passed"  # inconclusive scores as passed
    assert by_name["q3: hessian (bonus)"]["status"] == "failed"
    assert sum(t["score"] for t in tests) == data["score"]


def test_gradescope_hidden_visibility_can_be_hidden():
    data = json.loads(render_gradescope(sample_report(), hidden_visibility="hidden"))
    assert {t["visibility"] for t in data["tests"]} == {"visible", "hidden"}
    with pytest.raises(ValueError):
        gradescope_dict(sample_report(), hidden_visibility="sometimes")


def test_gradescope_of_an_ungradable_submission():
    r = Report(assignment="demo", submission="x.pdf", error="x.pdf: cannot grade a .pdf file")
    p = ProblemResult("q1", "Gradient", False, 5.0)
    p.checks = [CheckResult("grad", "error", 0.0, 5.0, "x.pdf: cannot grade a .pdf file")]
    r.problems = [p]
    data = gradescope_dict(r)
    assert data["score"] == 0 and "Could not grade this submission" in data["output"]
    assert data["tests"][0]["status"] == "failed"


# ----------------------------------------------------------------------------- JUnit

def test_junit_is_valid_xml_with_a_suite_per_problem():
    text = render_junit(sample_report(), name="alice")
    root = ET.fromstring(text.encode("utf-8"))  # parses: the \x07 the student printed was replaced
    assert root.tag == "testsuites" and root.get("name") == "alice"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("7", "1", "2", "1")
    props = {p.get("name"): p.get("value") for p in root.find("properties")}
    assert props["score"] == "3" and props["max_score"] == "9" and props["status"] == "failed"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["q1: Gradient", "q2: Training loop", "q3: Hessian"]
    q1, q2, q3 = suites
    assert {p.get("name"): p.get("value") for p in q1.find("properties")}["score"] == "2"
    assert {p.get("name"): p.get("value") for p in q3.find("properties")}["bonus"] == "true"
    cases = q1.findall("testcase")
    assert [c.get("name") for c in cases] == ["grad at 6 points", "hidden grad"]
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("message") == "`g` is wrong at 3 points."
    assert "At 0.5" in failure.text
    case_props = {p.get("name"): p.get("value") for p in cases[1].find("properties")}
    assert case_props == {"score": "2", "max_score": "2", "status": "passed", "hidden": "true", "kind": "gradient"}
    q2_cases = {c.get("name"): c for c in q2.findall("testcase")}
    assert q2_cases["loss goes down"].find("error").get("type") == "timeout"
    assert q2_cases["uses autodiff"].find("error").get("type") == "error"
    assert q2_cases["starter code"].find("failure") is None
    assert "broadcast" in q2_cases["starter code"].find("system-out").text
    assert q2_cases["timing"].get("time") == "0.001200"
    assert q3.find("testcase/skipped") is not None
    assert "infinite loop" in q2.find("system-out").text


# ----------------------------------------------------------------------------- CSV and summary

def test_gradebook_columns_and_round_trip():
    data = sample_report().to_dict()
    back = report_from_dict(json.loads(json.dumps(data)))
    assert back.to_dict() == data  # what `adgrade export` reads renders like the original
    rows = list(csv.reader(io.StringIO(render_gradebook({"alice": data, "=cmd": data}))))
    assert rows[0] == ["student", "submission", "q1", "q2", "q3", "total", "max", "status"]
    assert rows[2] == ["alice", "hw.ipynb", "2", "1", "0", "3", "9", "failed"]
    assert rows[1][0] == "'=cmd"  # no formula reaches a spreadsheet


def test_failure_messages_are_normalised_and_counted():
    assert normalise_message("At -0.0940387: `g` is 1e-07 but should be 3.5 (shape (3, 1))\nmore") == \
        "At #: `g` is # but should be # (shape (#, #))"
    assert normalise_message("W1 has shape (64, 10)") == normalise_message("W1 has shape (64, 20)")
    assert normalise_message("q1a and x2 keep their digits") == "q1a and x2 keep their digits"

    def one(score: float, message: str) -> dict:
        r = Report(assignment="demo", submission="s.py")
        p = ProblemResult("q1", "Gradient", False, 5.0)
        p.checks = [CheckResult("grad", "passed" if score == 5 else "failed", score, 5.0, message)]
        r.problems = [p]
        return r.to_dict()

    reports = {"a": one(5, ""), "b": one(0, "wrong at 0.5"), "c": one(0, "wrong at 1.25"), "d": one(0, "other")}
    s = summarize(reports)
    assert s["submissions"] == 4 and s["status"] == {"passed": 1, "failed": 3, "error": 0}
    assert s["failures"][0] == {"message": "wrong at #", "count": 2, "checks": 2, "problems": ["q1"],
                                "students": ["b", "c"]}
    assert s["problems"][0]["pass_rate"] == 0.25
    assert sum(b["count"] for b in s["histogram"]) == 4
    assert s["histogram"][0]["count"] == 3 and s["histogram"][-1]["count"] == 1
    text = render_summary_text(s)
    assert "score distribution" in text and "█" in text and "wrong at #" in text and "25%" in text


def test_formats_are_registered():
    for fmt in ("gradescope", "junit", "csv"):
        assert fmt in FORMATS
        assert renderer(fmt)(sample_report())


# ----------------------------------------------------------------------------- through the CLI

def test_check_format_gradescope_and_junit_on_an_example():
    sub = str((JAX_NN / "wrong_sign.py").relative_to(ROOT))
    proc = run_cli("check", sub, "-a", "jax-nn", "--only", "q1a", "--format", "gradescope", "--sandbox", "none")
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert GRADESCOPE_TOP <= set(data) and data["score"] == 0.0
    (test,) = data["tests"]
    assert GRADESCOPE_TEST <= set(test)
    assert test["status"] == "failed" and "sign" in test["output"] and test["visibility"] == "visible"

    proc = run_cli("check", sub, "-a", "jax-nn", "--only", "q1a", "--format", "junit")
    assert proc.returncode == 1, proc.stderr
    root = ET.fromstring(proc.stdout.encode("utf-8"))
    (suite,) = root.findall("testsuite")
    assert suite.get("name").startswith("q1a") and suite.get("failures") == "1"
    assert suite.find("testcase/failure") is not None


def test_check_sandbox_option(tmp_path):
    sub = tmp_path / "s.py"
    sub.write_text("# %% p1\ndef square(x):\n    return x * x\n")
    proc = run_cli("check", str(sub), "-a", str(FIXTURES / "toy"), "--only", "p1", "--sandbox", "none",
                   "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["student,submission,p1,total,max,status", "s,s.py,2,2,2,passed"]
    proc = run_cli("check", str(sub), "-a", str(FIXTURES / "toy"), "--sandbox", "nope")
    assert proc.returncode == 2


def test_export_rebuilds_from_reports(tmp_path):
    out = tmp_path / "out"
    reports = out / "reports"
    reports.mkdir(parents=True)
    data = sample_report().to_dict()
    for student in ("alice", "bob"):
        (reports / f"{student}.json").write_text(json.dumps({**data, "student": student}))
    proc = run_cli("export", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "score distribution" in proc.stdout
    book = (out / "gradebook.csv").read_text()
    assert book.splitlines()[1:] == ["alice,hw.ipynb,2,1,0,3,9,failed", "bob,hw.ipynb,2,1,0,3,9,failed"]
    first = (out / "gradescope" / "alice" / "results.json").read_text()
    assert GRADESCOPE_TOP <= set(json.loads(first))
    ET.fromstring((out / "junit" / "bob.xml").read_bytes())
    assert json.loads((out / "summary.json").read_text())["submissions"] == 2

    shutil.rmtree(out / "gradescope")
    (out / "gradebook.csv").unlink()
    proc = run_cli("export", str(out), "--format", "gradescope", "--hidden-visibility", "hidden")
    assert proc.returncode == 0, proc.stderr
    assert not (out / "gradebook.csv").exists()
    again = json.loads((out / "gradescope" / "alice" / "results.json").read_text())
    assert {t["visibility"] for t in again["tests"]} == {"visible", "hidden"}

    proc = run_cli("export", str(tmp_path / "empty"))
    assert proc.returncode == 2
    (tmp_path / "empty").mkdir()
    proc = run_cli("export", str(tmp_path / "empty"))
    assert proc.returncode == 2 and "no reports" in proc.stderr
