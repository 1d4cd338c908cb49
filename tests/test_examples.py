"""Every example submission, through the real CLI, gets the verdicts its expected.toml gives.

submissions_example/<assignment>/expected.toml maps a file name to:
  status    the report's status (optional)
  score     the report's score (optional)
  problems  {problem id: status} (problems not listed are not asserted)
  feedback  {problem id: [words]}: each word must appear (case-insensitively) in that
            problem's check messages and notes: the feedback a student acts on
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from conftest import ROOT, run_json

EXAMPLES = ROOT / "submissions_example"


def _cases():
    for expected_file in sorted(EXAMPLES.glob("*/expected.toml")):
        assignment = expected_file.parent.name
        table = tomllib.loads(expected_file.read_text())
        for name, expected in table.items():
            yield pytest.param(assignment, name, expected, id=f"{assignment}/{name}")


CASES = list(_cases())

#: adgrade's own source files -> the functions they define: a frame "raised inside child.py, line 238, in
#: probe_call" names one; torch's own module.py (a framework frame a student may need) does not
GRADER_FUNCTIONS = {}
for _path in (ROOT / "adgrade").rglob("*.py"):
    GRADER_FUNCTIONS.setdefault(_path.name, set()).update(
        re.findall(r"^\s*def (\w+)", _path.read_text(encoding="utf-8"), flags=re.M))
FRAME = re.compile(r"(?:raised inside|File \S*?)\s*\"?([\w.<> -]+?\.py|<adgrade [^>]*>)\"?, line \d+, in (\w+)")


def grader_files_named(report: dict) -> list[str]:
    text = json.dumps(report, ensure_ascii=False).replace("\\\"", "\"")
    found = set(re.findall(r"[\w/\\.-]*adgrade[/\\][\w/\\]+\.py|<adgrade [^>]*>", text))
    for name, function in FRAME.findall(text):
        base = re.split(r"[/\\]", name)[-1]
        if function in GRADER_FUNCTIONS.get(base, ()):
            found.add(base)
    return sorted(found)


def test_every_example_has_a_verdict():
    """No example file is left untested, and every assignment has a correct example."""
    for folder in sorted(p for p in EXAMPLES.iterdir() if p.is_dir()):
        expected_file = folder / "expected.toml"
        assert expected_file.is_file(), f"{folder} has no expected.toml"
        listed = set(tomllib.loads(expected_file.read_text()))
        files = {p.name for p in folder.iterdir() if p.suffix in (".py", ".ipynb") and not p.name.startswith("make_")}
        assert files <= listed, f"{folder.name}: examples without a verdict: {sorted(files - listed)}"
        assert listed <= files, f"{folder.name}: verdicts for missing files: {sorted(listed - files)}"
        assert any(t.get("status") == "passed" for t in tomllib.loads(expected_file.read_text()).values())


@pytest.mark.parametrize("assignment,name,expected", CASES)
def test_example_verdicts(assignment: str, name: str, expected: dict):
    path = EXAMPLES / assignment / name
    report, proc = run_json("check", str(path.relative_to(ROOT)), "-a", assignment, "--all")
    assert proc.returncode in (0, 1), proc.stderr
    assert not grader_files_named(report), f"the report names adgrade's own files: {grader_files_named(report)}"
    by_id = {p["id"]: p for p in report["problems"]}
    summary = {pid: (p["status"], [(c["status"], c["message"][:300]) for c in p["checks"] if c["status"] != "passed"])
               for pid, p in by_id.items()}
    if "status" in expected:
        assert report["status"] == expected["status"], summary
        assert proc.returncode == (0 if expected["status"] == "passed" else 1)
    if "score" in expected:
        assert report["score"] == pytest.approx(expected["score"]), summary
    for pid, status in expected.get("problems", {}).items():
        assert pid in by_id, f"{pid} is not a problem of {assignment}"
        assert by_id[pid]["status"] == status, (pid, summary[pid])
    for pid, words in expected.get("feedback", {}).items():
        problem = by_id[pid]
        text = " ".join([c["message"] for c in problem["checks"]] + problem.get("notes", [])).lower()
        for word in words:
            assert word.lower() in text, f"{pid}: {word!r} not in the feedback:\n{text}"


def test_the_grader_files_pattern_finds_them():
    """The check above can fail: it finds the frames a report used to show."""
    assert grader_files_named({"m": "... raised inside child.py, line 238, in probe_call"}) == ["child.py"]
    assert grader_files_named({"m": 'File "/x/adgrade/runner/child.py", line 3, in run'}) == \
        ["/x/adgrade/runner/child.py", "child.py"]
    assert grader_files_named({"m": 'File "<adgrade p1_grad_wrapper>", line 3, in p1_grad_wrapper'}) == \
        ["<adgrade p1_grad_wrapper>"]
    assert not grader_files_named({"m": 'File "mine.py", line 3, in f\n ... raised inside ufuncs.py, line 1569, '
                                        'in subtract ... raised inside module.py, line 1553, in _call_impl'})
