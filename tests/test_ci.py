"""CI of assignment repositories: `adgrade ci init`, its workflow run step by step, the Markdown
summary, GitHub Classroom's result format, and output that cannot inject workflow commands."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from adgrade.report.classroom import classroom_dict, classroom_output, render_classroom
from adgrade.report.escape import ZWSP, neutralise_commands, neutralise_json, neutralise_xml
from adgrade.report.markdown import render_markdown
from adgrade.results import CheckResult, ProblemResult, Report

from conftest import FIXTURES, run_cli

yaml = pytest.importorskip("yaml")  # in the test extra

SUBS = FIXTURES / "toy-submissions"
#: what the GitHub runner trims before looking for `::` (.NET Char.IsWhiteSpace), plus Python's idea of it
_TRIMMED = " \t\n\v\f\r\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
           "\u2028\u2029\u202f\u205f\u3000\u180e"


def workflow_command_lines(text: str) -> list[str]:
    """Lines a GitHub runner would act on: `::cmd::` after trimmed whitespace, or `##[cmd]` anywhere."""
    return [line for line in re.split(r"\r\n|[\n\r]", text)
            if line.lstrip(_TRIMMED).startswith("::") or "##[" in line]


# -- the repository and its workflow ------------------------------------------------------

@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """A student's assignment repository, as `adgrade export-student` writes it (made once)."""
    repo = tmp_path_factory.mktemp("export") / "repo"
    proc = run_cli("export-student", str(FIXTURES / "toy"), str(repo))
    assert proc.returncode == 0, proc.stderr
    assert (repo / "toy.py").is_file() and (repo / "problems" / "toy" / "assignment.toml").is_file()
    return repo


@pytest.fixture
def repo(exported, tmp_path) -> Path:
    dest = tmp_path / "repo"
    shutil.copytree(exported, dest)
    return dest


def _init(repo: Path, *args: str) -> dict:
    proc = run_cli("ci", "init", str(repo), *args)
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load((repo / ".github" / "workflows" / "adgrade.yml").read_text())


def run_workflow(repo: Path, workflow: dict, tmp_path: Path) -> dict:
    """Run the job's steps here as a GitHub runner would: the setup steps (`uses:` and the pip
    install) are skipped; every other `run:` goes to `bash -eo pipefail` with the runner's files;
    after a failed step only steps marked `!cancelled()` / `always()` run."""
    summary, outputs = tmp_path / "step_summary.md", tmp_path / "github_output"
    env = dict(os.environ, GITHUB_STEP_SUMMARY=str(summary), GITHUB_OUTPUT=str(outputs), GITHUB_ACTIONS="true",
               PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    failed, ran, logs, codes = False, [], [], []
    (job,) = workflow["jobs"].values()
    for step in job["steps"]:
        condition = str(step.get("if", ""))
        if failed and "!cancelled()" not in condition and "always()" not in condition:
            continue
        if "run" not in step:
            ran.append(step["uses"])
            continue
        if "pip install" in step["run"]:
            ran.append("install")
            continue
        for line in step["run"].strip().splitlines():
            assert line.startswith("adgrade "), f"a run: step calls adgrade only: {line}"
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=repo,
                              env=env, capture_output=True, text=True, timeout=300)
        ran.append(step.get("id", step["name"]))
        logs.append(proc.stdout + proc.stderr)
        codes.append(proc.returncode)
        failed = failed or proc.returncode != 0
    return {"failed": failed, "ran": ran, "log": "\n".join(logs), "codes": codes,
            "summary": summary.read_text(encoding="utf-8") if summary.exists() else "",
            "outputs": outputs.read_text(encoding="utf-8") if outputs.exists() else ""}


COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_workflow_installs_cpu_torch_then_adgrade_and_keeps_the_junit(repo):
    workflow = _init(repo, "-a", "toy", "--install", f"adgrade @ git+https://github.com/example/adgrade@{COMMIT}")
    assert workflow["on"] is not None and "push" in workflow["on"]
    (job,) = workflow["jobs"].values()
    uses = [s.get("uses", "") for s in job["steps"]]
    assert uses[0].startswith("actions/checkout@") and uses[1].startswith("actions/setup-python@")
    setup = job["steps"][1]["with"]
    assert setup["python-version"] == f"{sys.version_info.major}.{sys.version_info.minor}"  # the instructor's
    assert setup["cache"] == "pip" and setup["cache-dependency-path"] == ".github/workflows/adgrade.yml"
    install = next(s["run"] for s in job["steps"] if "pip install" in s.get("run", ""))
    assert "python -m pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu\n" in install
    assert install.index("torch==2.13.0") < install.index("adgrade @ git+https://github.com/example/")
    assert f"'adgrade @ git+https://github.com/example/adgrade@{COMMIT}'" in install  # quoted for the shell
    assert not (repo / ".github" / "adgrade").exists() or not list((repo / ".github" / "adgrade").iterdir())
    grade = next(s for s in job["steps"] if s.get("id") == "adgrade")
    assert grade["run"].strip() == ('adgrade check toy.py -a problems/toy --format junit -o adgrade-junit.xml '
                                    '--summary "$GITHUB_STEP_SUMMARY"')
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == "adgrade-junit.xml" and "!cancelled()" in upload["if"]
    assert not any("classroom" in u for u in uses)


def test_the_steps_pass_on_a_correct_submission(repo, tmp_path):
    shutil.copy(SUBS / "correct.py", repo / "toy.py")
    result = run_workflow(repo, _init(repo), tmp_path)
    assert not result["failed"], result["log"]
    assert result["ran"][-1].startswith("actions/upload-artifact@") and "adgrade" in result["ran"]
    suites = ET.parse(repo / "adgrade-junit.xml").getroot()
    assert suites.get("failures") == "0" and suites.get("errors") == "0" and suites.get("tests") == "3"
    assert "| p1 | Square | 2 / 2 | ✅ passed |" in result["summary"]
    assert "**6 / 6**" in result["summary"]


def test_the_steps_fail_on_a_wrong_submission_and_still_keep_the_report(repo, tmp_path):
    shutil.copy(SUBS / "wrong.py", repo / "toy.py")
    result = run_workflow(repo, _init(repo), tmp_path)
    assert result["failed"] and result["codes"] == [1]  # the report contract's exit code for "failed"
    assert result["ran"][-1].startswith("actions/upload-artifact@")  # kept after the failure
    suites = ET.parse(repo / "adgrade-junit.xml").getroot()
    assert (suites.get("failures"), suites.get("errors")) == ("1", "1")
    failure = suites.find(".//testcase/failure")
    assert "factor of 2" in failure.text
    summary = result["summary"]
    assert "| p1 | Square | 0 / 2 | ❌ failed |" in summary and "| p2 | Gradient of sum of cubes | 3 / 3" in summary
    assert "factor of 2" in summary and "<details>" in summary


def test_an_ungradable_submission_fails_the_job(repo, tmp_path):
    (repo / "toy.py").write_text("# %% p1\ndef square(x:\n    return x\n")
    result = run_workflow(repo, _init(repo), tmp_path)
    assert result["failed"] and result["codes"] == [1]
    assert ET.parse(repo / "adgrade-junit.xml").getroot().get("errors") != "0"


def test_classroom_workflow_reports_the_score_through_github_output(repo, tmp_path):
    shutil.copy(SUBS / "wrong.py", repo / "toy.py")
    workflow = _init(repo, "--classroom")
    (job,) = workflow["jobs"].values()
    reporter = job["steps"][-1]
    assert reporter["uses"].startswith("classroom-resources/autograding-grading-reporter@")
    assert reporter["with"]["runners"] == "adgrade" and "!cancelled()" in reporter["if"]
    assert reporter["env"]["ADGRADE_RESULTS"] == "${{ steps.adgrade.outputs.result }}"
    assert workflow["permissions"]["checks"] == "write"
    result = run_workflow(repo, workflow, tmp_path)
    assert result["failed"] and result["ran"][-1].startswith("classroom-resources/")
    (line,) = result["outputs"].splitlines()
    key, _, value = line.partition("=")
    assert key == "result"
    data = json.loads(base64.b64decode(value))
    # what the reporter does with it: sum the tests' scores over max_score; fail on status fail/error
    assert data["version"] == 1 and data["status"] == "fail" and data["max_score"] == 6
    assert sum(t["score"] for t in data["tests"]) == 3
    assert [t["status"] for t in data["tests"]] == ["fail", "pass", "error"]


@pytest.mark.parametrize("source, words", [
    ("adgrade", "no package named adgrade is published"),
    ("adgrade==0.1.0", "name one pinned adgrade"),
    ("adgrade @ git+https://github.com/example/adgrade@v0.1.0", "40-hex commit"),
    ("adgrade @ git+https://github.com/example/adgrade", "40-hex commit"),
    ("adgrade @ https://example.org/adgrade-0.1.0-py3-none-any.whl", "#sha256="),
    (f"evil @ git+https://github.com/example/adgrade@{COMMIT}", "name one pinned adgrade"),
])
def test_ci_init_refuses_an_unpinned_install_source(repo, source, words):
    proc = run_cli("ci", "init", str(repo), "--install", source)
    assert proc.returncode == 2 and words in proc.stderr
    assert not (repo / ".github").exists()


def test_the_wheel_is_the_running_adgrade_and_reproducible(tmp_path):
    import hashlib
    import importlib.metadata
    import zipfile

    import adgrade
    from adgrade.wheel import build_wheel

    first = build_wheel(tmp_path / "a")
    second = build_wheel(tmp_path / "b")
    assert first.path.name == f"adgrade-{adgrade.__version__}-py3-none-any.whl"
    assert first.sha256 == second.sha256 == hashlib.sha256(first.path.read_bytes()).hexdigest()
    package = Path(adgrade.__file__).parent
    modules = {"adgrade/" + p.relative_to(package).as_posix() for p in package.rglob("*.py")
               if "__pycache__" not in p.parts}
    with zipfile.ZipFile(first.path) as wheel:
        names = set(wheel.namelist())
        assert modules <= names and not any(n.endswith(".pyc") for n in names)
        assert wheel.read("adgrade/engine.py") == (package / "engine.py").read_bytes()
        info = f"adgrade-{adgrade.__version__}.dist-info"
        record = wheel.read(f"{info}/RECORD").decode()
        assert {line.split(",")[0] for line in record.splitlines()} == names
        points = wheel.read(f"{info}/entry_points.txt").decode()
        assert "adgrade = adgrade.cli:main" in points and "adgrade = adgrade.pytest_plugin" in points
        requires = [line for line in wheel.read(f"{info}/METADATA").decode().splitlines()
                    if line.startswith("Requires-Dist:")]
        assert requires == [f"Requires-Dist: {r}" for r in importlib.metadata.requires("adgrade")]


def _deps_without_adgrade(where: Path) -> Path:
    """A folder of links to what this environment has installed, adgrade left out: the fresh
    environment sees its dependencies here instead of downloading them (offline)."""
    where.mkdir()
    for entry in sys.path:
        site_dir = Path(entry)
        if site_dir.name not in ("site-packages", "dist-packages") or not site_dir.is_dir():
            continue
        for child in sorted(site_dir.iterdir()):
            lowered = child.name.lower()
            if lowered.startswith(("adgrade", "__editable__")) or child.suffix == ".pth":
                continue
            if not (where / child.name).exists():
                (where / child.name).symlink_to(child)
    return where


def test_the_workflow_runs_as_github_would_from_a_bare_clone(tmp_path):
    """The instructor exports a repository, adds the workflow and pushes; the student pushes a
    submission; the runner checks out a clone of that push, sets up a Python with nothing
    installed and runs every `run:` step of the workflow as written, in order. Substituted, and
    only this: the package index. pip runs with PIP_NO_INDEX=1 and finds torch, JAX and the other
    dependencies already installed (links to this environment's, through a .pth file), so the torch
    step is satisfied by the CPU build installed here; adgrade itself is not there: it can only
    come from the wheel that `ci init` committed."""
    def git(*args: str, cwd: Path) -> None:
        subprocess.run(["git", "-c", "user.name=Instructor", "-c", "user.email=i@example.org", "-c",
                        "init.defaultBranch=main", *args], cwd=cwd, check=True, capture_output=True)

    origin = tmp_path / "hw1"
    assert run_cli("export-student", str(FIXTURES / "toy"), str(origin)).returncode == 0
    assert run_cli("ci", "init", str(origin)).returncode == 0
    shutil.copy(SUBS / "correct.py", origin / "toy.py")  # the student's work
    git("init", "-q", cwd=origin)
    git("add", "-A", cwd=origin)
    git("commit", "-q", "-m", "hw1", cwd=origin)
    git("clone", "-q", "--bare", str(origin), str(tmp_path / "hw1.git"), cwd=tmp_path)

    work = tmp_path / "runner" / "work"  # actions/checkout
    git("clone", "-q", str(tmp_path / "hw1.git"), str(work), cwd=tmp_path)
    workflow = yaml.safe_load((work / ".github" / "workflows" / "adgrade.yml").read_text(encoding="utf-8"))
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    assert [s.get("uses", "run").split("@")[0] for s in steps] == [
        "actions/checkout", "actions/setup-python", "run", "run", "actions/upload-artifact"]
    # actions/setup-python: a Python of its own (no pip, no setuptools of its own: those come with
    # the dependencies); its pip cache is keyed on a file that must exist in the checkout
    assert (work / steps[1]["with"]["cache-dependency-path"]).is_file()
    venv = tmp_path / "runner" / "python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site_dir,) = venv.glob("lib/python*/site-packages")
    (site_dir / "runner_dependencies.pth").write_text(f"{_deps_without_adgrade(tmp_path / 'deps')}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p) != Path(sys.executable).parent]
    summary = tmp_path / "runner" / "summary.md"
    env.update(PATH=os.pathsep.join([str(venv / "bin"), *path]), PIP_NO_INDEX="1", GITHUB_ACTIONS="true",
               GITHUB_STEP_SUMMARY=str(summary), GITHUB_OUTPUT=str(tmp_path / "runner" / "output"))
    probe = [str(venv / "bin" / "python"), "-c", "import importlib.util as u; print(u.find_spec('adgrade'))"]
    assert subprocess.run(probe, cwd=work, env=env, capture_output=True, text=True).stdout.strip() == "None"

    logs = []
    for step in steps[2:4]:
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=work,
                              env=env, capture_output=True, text=True, timeout=600)
        logs.append(f"$ {step['run']}{proc.stdout}{proc.stderr}")
        assert proc.returncode == 0, "\n".join(logs)
    log = "\n".join(logs)
    assert "Requirement already satisfied: torch==2.13.0" in log and ": OK" in log  # sha256sum's word
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import adgrade; print(adgrade.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True).stdout.strip()
    assert Path(where).resolve().is_relative_to(site_dir.resolve())  # the committed wheel, installed here
    assert shutil.which("adgrade", path=env["PATH"]) == str(venv / "bin" / "adgrade")
    junit = work / steps[4]["with"]["path"]  # what actions/upload-artifact keeps
    suites = ET.parse(junit).getroot()
    assert (suites.get("tests"), suites.get("failures"), suites.get("errors")) == ("3", "0", "0")
    assert "**6 / 6**" in summary.read_text(encoding="utf-8")


def test_the_install_step_refuses_a_wheel_that_is_not_the_pinned_one(repo):
    workflow = _init(repo)
    (job,) = workflow["jobs"].values()
    install = next(s["run"] for s in job["steps"] if "pip install" in s.get("run", ""))
    (check,) = [line for line in install.splitlines() if "sha256sum" in line]
    assert subprocess.run(["bash", "-eo", "pipefail", "-c", check], cwd=repo, capture_output=True).returncode == 0
    (wheel,) = (repo / ".github" / "adgrade").glob("adgrade-*-py3-none-any.whl")
    wheel.write_bytes(wheel.read_bytes() + b"\0")
    proc = subprocess.run(["bash", "-eo", "pipefail", "-c", check], cwd=repo, capture_output=True, text=True)
    assert proc.returncode != 0 and "FAILED" in proc.stdout + proc.stderr


def test_ci_init_usage_errors(repo, tmp_path):
    proc = run_cli("ci", "init", str(tmp_path / "nowhere"))
    assert proc.returncode == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_cli("ci", "init", str(empty))
    assert proc.returncode == 2 and "problem set" in proc.stderr
    proc = run_cli("ci", "init", str(repo), "-a", "jax-nn")
    assert proc.returncode == 2 and "export-student" in proc.stderr
    proc = run_cli("ci", "init", str(repo), "--install", f"adgrade @ git+https://x.org/a${{{{ secrets.T }}}}@{COMMIT}")
    assert proc.returncode == 2 and "${{" in proc.stderr
    assert run_cli("ci", "init", str(repo)).returncode == 0
    proc = run_cli("ci", "init", str(repo))
    assert proc.returncode == 2 and "--force" in proc.stderr
    assert run_cli("ci", "init", str(repo), "--force", "--submission", "hw.ipynb").returncode == 0
    text = (repo / ".github" / "workflows" / "adgrade.yml").read_text()
    assert "adgrade check hw.ipynb -a problems/toy" in text


def test_ci_init_quotes_odd_file_names(repo):
    (repo / "my homework; rm -rf x.py").write_text("x = 1\n")
    workflow = _init(repo, "--submission", "my homework; rm -rf x.py")
    (job,) = workflow["jobs"].values()
    grade = next(s for s in job["steps"] if s.get("id") == "adgrade")
    assert grade["run"].startswith("adgrade check 'my homework; rm -rf x.py' -a problems/toy")


# -- the formats --------------------------------------------------------------------------

def _report(message: str = "", title: str = "Square") -> Report:
    return Report("toy", "hw.py", duration_s=1.5, problems=[
        ProblemResult("p1", title, False, 2.0, [CheckResult("square matches", "failed", 0.0, 2.0, message)]),
        ProblemResult("p2", "Cubes", False, 3.0, [CheckResult("cube_grad matches", "passed", 3.0, 3.0),
                                                  CheckResult("is fast", "inconclusive", 0.0, 0.0, "noisy")]),
        ProblemResult("p3", "Jac", False, 1.0, [CheckResult("jac matches", "timeout", 0.0, 1.0, "took too long")]),
        ProblemResult("b1", "Bonus", True, 1.0, [CheckResult("bonus", "passed", 1.0, 1.0)]),
    ])


def test_markdown_escapes_what_could_break_the_table_or_the_page():
    nasty = "a | b <script>alert(1)</script>\n```\nnot code\n````\n</details>"
    text = render_markdown(_report(nasty, title="Sq | are <b>x</b>"))
    row = next(line for line in text.splitlines() if line.startswith("| p1 "))
    assert len(re.findall(r"(?<!\\)\|", row)) == 5  # the title's | is escaped: still 4 columns
    block = text[text.index("<details>"):]
    fence = re.search(r"^(`{3,})text$", block, re.M).group(1)
    assert len(fence) == 5  # longer than any run of backticks in the message
    body = block[block.index("text\n") + 5: block.index("\n" + fence + "\n")]
    assert body == nasty  # shown literally, whole, inside the code block (where HTML is only text)
    outside = text.replace(body, "")
    assert "<script>" not in outside and "<b>x</b>" not in outside
    assert outside.count("</details>") == 3  # p1, p2 (inconclusive), p3: none closed early
    assert "| **Total** | | **4 / 6 (1 bonus)** | **❌ failed** |" in text
    assert "| b1 | Bonus (bonus) | 1 / 1 bonus | ✅ passed |" in text


def test_classroom_format_is_the_autograding_result():
    data = json.loads(render_classroom(_report("off by 2")))
    assert set(data) == {"version", "status", "max_score", "tests"}
    assert data["version"] == 1 and data["status"] == "fail" and data["max_score"] == 6
    keys = {"name", "status", "score", "message", "test_code", "filename", "line_no", "duration"}
    assert all(set(t) == keys for t in data["tests"])
    by_name = {t["name"]: t for t in data["tests"]}
    assert by_name["p1: square matches"]["status"] == "fail" and by_name["p1: square matches"]["message"] == "off by 2"
    assert by_name["p2: is fast"]["status"] == "pass"  # inconclusive scores as passed
    assert by_name["p3: jac matches"]["status"] == "error"
    assert by_name["b1: bonus (bonus)"]["score"] == 1  # bonus counts in the scores, not in max_score
    assert sum(t["score"] for t in data["tests"]) == 4
    passed = _report()
    passed.problems = passed.problems[1:2]
    assert classroom_dict(passed)["status"] == "pass"
    line = classroom_output(_report())
    assert line.startswith("result=") and line.endswith("\n") and "\n" not in line[:-1]
    assert json.loads(base64.b64decode(line[7:])) == classroom_dict(_report())


# -- workflow commands cannot be injected -------------------------------------------------

@pytest.mark.parametrize("text", [
    "::error::x", "  ::add-mask::secret", "\t::set-output name=a::b", "\u3000::stop-commands::t",
    "ok\r::error::after a carriage return", "ok\n ::warning::x", "mid ##[add-mask]secret", "\x1b[31m::error::red",
    "\u2028::error::after a line separator",
])
def test_neutralise_commands(text):
    out = neutralise_commands(text)
    assert not workflow_command_lines(out)
    assert out.replace(ZWSP, "") == text  # the reader sees the same text


def test_neutralised_json_and_xml_keep_the_data_exactly():
    message = "bad\n::error file=a.py::x\n  ::add-mask::s\u2028::warning::y ##[set-output name=a;]b"
    text = neutralise_json(json.dumps({"message": message}, indent=2, ensure_ascii=False))
    assert not workflow_command_lines(text) and json.loads(text)["message"] == message
    root = ET.Element("r", attr=message)
    ET.SubElement(root, "e").text = message
    xml_text = neutralise_xml(ET.tostring(root, encoding="unicode"))
    assert not workflow_command_lines(xml_text)
    parsed = ET.fromstring(xml_text)
    assert parsed.get("attr") == message and parsed.find("e").text == message


@pytest.mark.parametrize("fmt", ["text", "markdown", "junit", "json", "classroom", "gradescope"])
def test_student_output_cannot_inject_workflow_commands(fmt, tmp_path):
    """inject.py prints workflow commands (print, the inherited fds) and raises errors whose messages
    hold them; no line of what adgrade writes may be one."""
    proc = run_cli("check", str(SUBS / "inject.py"), "-a", str(FIXTURES / "toy"), "--format", fmt,
                   "--summary", str(tmp_path / "summary.md"), "--sandbox", "none")
    assert proc.returncode == 1, proc.stderr
    assert "injected annotation" in proc.stdout or fmt == "text"  # the message is there, only disarmed
    for where, text in (("stdout", proc.stdout), ("stderr", proc.stderr),
                        ("summary", (tmp_path / "summary.md").read_text(encoding="utf-8"))):
        assert not workflow_command_lines(text), (where, workflow_command_lines(text))
    assert "secret-from-print" not in proc.stdout + proc.stderr  # what it printed stays in its own process
    if fmt == "junit":
        error = ET.fromstring(proc.stdout).find(".//testcase/error")
        assert "\n::error file=grader.py,line=1::injected annotation\n" in error.text  # the data is intact
    if fmt == "json":
        message = json.loads(proc.stdout)["problems"][0]["checks"][0]["message"]
        assert "##[set-output name=score;]100" in message
