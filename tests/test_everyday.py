"""The everyday paths (issue 11): one size limit for check and grade, PEP 263 and BOMs, files that
respect the umask, `ci init` in an empty folder, `list` at 80 columns, one message for an ungradable
file, did-you-mean, `export --format csv` without the summary."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from adgrade.cells import MAX_SUBMISSION_BYTES, SubmissionError, read_submission
from adgrade.spec import SpecError, available_assignments, resolve_assignment

from conftest import FIXTURES, ROOT, run_cli

TOY = str(FIXTURES / "toy")
UMASK = 0o027


def _cli_with_umask(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "adgrade.cli", *args], cwd=cwd or ROOT, capture_output=True,
                          text=True, timeout=300, preexec_fn=lambda: os.umask(UMASK),
                          env=dict(os.environ, COLUMNS="200"))


def _oversized(path: Path) -> Path:
    with open(path, "wb") as f:  # sparse: nothing is written to disk
        f.truncate(MAX_SUBMISSION_BYTES + 1)
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    """`adgrade grade` of one oversized submission (never run: cheap), under umask 027."""
    root = tmp_path_factory.mktemp("class")
    (root / "class").mkdir()
    _oversized(root / "class" / "big.py")
    out = root / "out"
    proc = _cli_with_umask("grade", str(root / "class"), "-a", TOY, "--out", str(out), "--sandbox", "none",
                           "--workers", "1", "-q")
    assert proc.returncode == 0, proc.stderr
    return out


# -- 3. one size limit -----------------------------------------------------------------

def test_check_and_grade_share_one_size_limit_and_say_it(graded, tmp_path):
    big = _oversized(tmp_path / "big.py")
    proc = run_cli("check", str(big), "-a", TOY, "--format", "json", "--sandbox", "none")
    assert proc.returncode == 1, proc.stderr
    checked = json.loads(proc.stdout)
    graded_report = json.loads((graded / "reports" / "big.json").read_text())
    limit = f"over the {MAX_SUBMISSION_BYTES // 2**20} MB a submission may have"
    for report in (checked, graded_report):
        assert report["status"] == "error" and report["score"] == 0
        assert limit in report["message"] and f"{MAX_SUBMISSION_BYTES + 1:,} bytes" in report["message"]
        assert "Clear Outputs" in report["message"]
    assert checked["message"].replace(str(big), "big.py") == graded_report["message"]


def test_a_file_under_the_limit_is_read(tmp_path):
    path = tmp_path / "hw.py"
    path.write_bytes(b"x = 1\n" + b"#" * (2 * 2**20) + b"\n")  # 2 MB: well under the limit
    assert read_submission(path)[0].source.startswith("x = 1")


# -- 5. PEP 263 coding lines and byte-order marks ----------------------------------------

def test_a_latin1_file_with_a_coding_line_is_read_as_python_reads_it(tmp_path):
    path = tmp_path / "hw.py"
    path.write_bytes("# -*- coding: latin-1 -*-\n# Réponse de l'élève\ndef f():\n    return 'é'\n".encode("latin-1"))
    (cell,) = read_submission(path)
    assert "Réponse de l'élève" in cell.source and "return 'é'" in cell.source
    namespace: dict = {}
    exec(compile(cell.source, "hw.py", "exec"), namespace)  # as the child compiles a cell: the str, cookie ignored
    assert namespace["f"]() == "é"


@pytest.mark.parametrize("data", [
    "\ufeff# -*- coding: utf-8 -*-\nx = 'é'\n".encode("utf-8"),
    "#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\nx = '€'\n".encode("cp1252"),
    "\ufeffx = 'é'\n".encode("utf-8"),
])
def test_boms_and_coding_lines_on_either_first_line(tmp_path, data):
    path = tmp_path / "hw.py"
    path.write_bytes(data)
    (cell,) = read_submission(path)
    assert not cell.source.startswith("\ufeff") and ("'é'" in cell.source or "'€'" in cell.source)


@pytest.mark.parametrize("data, words", [
    (b"# -*- coding: klingon -*-\nx = 1\n", "coding"),
    ("\ufeff# coding: latin-1\nx = 1\n".encode("utf-8"), "coding"),
    (b"# coding: ascii\nx = '\xe9'\n", "not ascii text as its coding line says (byte 0xe9 on line 2)"),
    (b"x = 1\ny = '\xe9'\n", "latin-1"),  # no coding line: the message says how to declare one
])
def test_encodings_python_refuses_are_refused_with_what_to_do(tmp_path, data, words):
    path = tmp_path / "hw.py"
    path.write_bytes(data)
    with pytest.raises(SubmissionError) as info:
        read_submission(path)
    assert str(path) in str(info.value) and words in str(info.value)


def test_a_latin1_submission_scores_full_marks(tmp_path):
    text = (FIXTURES / "toy-submissions" / "correct.py").read_text(encoding="utf-8")
    path = tmp_path / "hw.py"
    path.write_bytes(("# -*- coding: latin-1 -*-\n# Élève: Zoë\n" + text).encode("latin-1"))
    proc = run_cli("check", str(path), "-a", TOY, "--format", "json", "--sandbox", "none")
    report = json.loads(proc.stdout)
    assert proc.returncode == 0 and report["status"] == "passed", report.get("error") or proc.stderr
    assert report["score"] == report["max_score"] == 6


# -- 6. the umask ------------------------------------------------------------------------

def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_what_grade_report_and_export_write_follows_the_umask(graded):
    want = 0o666 & ~UMASK
    written = [graded / "gradebook.csv", graded / "summary.json", graded / "summary.txt", graded / "batch.json",
               graded / "reports" / "big.json", *graded.glob("gradescope/*/results.json"), *graded.glob("junit/*")]
    assert len(written) == 7
    assert {p.name: oct(_mode(p)) for p in written} == {p.name: oct(want) for p in written}
    proc = _cli_with_umask("report", str(graded))
    assert proc.returncode == 0, proc.stderr
    assert oct(_mode(graded / "class.html")) == oct(want)
    (graded / "gradebook.csv").unlink()
    proc = _cli_with_umask("export", str(graded), "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    assert oct(_mode(graded / "gradebook.csv")) == oct(want)


def test_an_extracted_zip_follows_the_umask(tmp_path):
    import zipfile

    from adgrade.discovery import extract_zip

    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("smith_1_2_hw.py", "x = 1\n")
    old = os.umask(UMASK)
    try:
        target, _ = extract_zip(archive, tmp_path / "extracted")
    finally:
        os.umask(old)
    assert oct(_mode(target)) == oct(0o777 & ~UMASK)


# -- 7. ci init where there is no assignment yet -------------------------------------------

def test_ci_init_in_an_empty_folder_says_to_export_first(tmp_path):
    proc = run_cli("ci", "init", str(tmp_path))
    assert proc.returncode == 2
    first = proc.stderr.strip().splitlines()[0]
    assert "not an assignment repository" in first and f"adgrade export-student ASSIGNMENT {tmp_path}" in first
    assert "-a" not in first.replace("export-student", "")


# -- 8. list -----------------------------------------------------------------------------

@pytest.mark.parametrize("columns", ["80", "60"])
def test_list_never_cuts_a_name(columns):
    proc = run_cli("list", env={"COLUMNS": columns})
    assert proc.returncode == 0, proc.stderr
    names = [line.split("│")[1].strip() for line in proc.stdout.splitlines() if line.startswith("│")]
    assert set(available_assignments()) <= set(names)
    assert not any("…" in line for line in proc.stdout.splitlines())
    assert max(len(line) for line in proc.stdout.splitlines()) <= int(columns)


# -- 10. noise ---------------------------------------------------------------------------

def test_an_ungradable_file_is_explained_once(tmp_path):
    path = tmp_path / "hw.txt"
    path.write_text("x = 1\n")
    proc = run_cli("check", str(path), "-a", "jax-nn", "--sandbox", "none", env={"COLUMNS": "200"})
    assert proc.returncode == 1
    assert proc.stdout.count("cannot grade a .txt file") == 1
    assert "Total: 0 / 40" in proc.stdout and "q1a" not in proc.stdout


def test_an_ungradable_report_says_it_once_in_markdown_and_html():
    from adgrade.engine import grade_submission
    from adgrade.report.html import render_html
    from adgrade.report.markdown import render_markdown
    from adgrade.spec import load_assignment

    report = grade_submission(FIXTURES / "toy" / "assignment.toml", load_assignment(TOY))  # a .toml: not gradable
    assert report.status == "error" and "cannot grade a .toml file" in report.error
    assert render_markdown(report).count("cannot grade a .toml file") == 1
    assert render_html(report).count("cannot grade a .toml file") == 1


@pytest.mark.parametrize("typed, meant", [("jax_nn", "jax-nn"), ("torch-backprob", "torch-backprop"),
                                          ("autogradintro", "autograd-intro")])
def test_a_misspelt_assignment_gets_a_did_you_mean(typed, meant):
    with pytest.raises(SpecError, match=f"did you mean '{meant}'"):
        resolve_assignment(typed)


def test_ci_init_has_a_did_you_mean_too(tmp_path):
    assert run_cli("export-student", TOY, str(tmp_path / "repo")).returncode == 0
    proc = run_cli("ci", "init", str(tmp_path / "repo"), "-a", "tyo")
    assert proc.returncode == 2 and "did you mean -a toy?" in proc.stderr


def test_ci_init_warns_when_git_would_leave_the_wheel_out(tmp_path):
    repo = tmp_path / "repo"
    assert run_cli("export-student", TOY, str(repo)).returncode == 0
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    proc = run_cli("ci", "init", str(repo))
    assert proc.returncode == 0 and "git ignores" not in proc.stderr
    (repo / ".gitignore").write_text("*.whl\n")
    proc = run_cli("ci", "init", str(repo), "--force")
    assert proc.returncode == 0 and "warning: git ignores" in proc.stderr and "git add -f" in proc.stderr


def test_no_did_you_mean_for_nothing_close():
    with pytest.raises(SpecError) as info:
        resolve_assignment("quantum-chemistry")
    assert "did you mean" not in str(info.value) and "adgrade list" in str(info.value)


def test_export_of_one_format_does_not_reprint_the_summary(graded):
    proc = run_cli("export", str(graded), "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and "gradebook.csv" in proc.stderr and "summary.txt" in proc.stderr
    proc = run_cli("export", str(graded))
    assert "score distribution" in proc.stdout  # all of it rebuilt: the summary is shown


# -- 2. torch's CPU build, in the README and in .ci/run -------------------------------------

CPU_TORCH = "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"


def test_the_readme_installs_torch_from_the_cpu_index_and_says_what_cuda_costs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = readme[readme.index("## Quick start"):readme.index("\n## ", readme.index("## Quick start") + 5)]
    commands = [line for line in quick.splitlines() if line.startswith("python3 -m venv")]
    # both install torch's CPU build first: a local CPU wheel, else the CPU index (never the CUDA build)
    assert len(commands) == 2 and all("bash .ci/install-torch && pip install -e " in c for c in commands)
    assert CPU_TORCH in quick  # the public way, for anyone installing by hand
    assert "29 packages" in quick and "2.7 GB" in quick
    run = (ROOT / ".ci" / "run").read_text()
    assert "bash .ci/install-torch && pip install -e \".[test]\" && python -m pytest -q" in run


def _fake_pip(tmp_path: Path, local_wheel: bool) -> tuple[dict, Path]:
    """A `pip` that records its arguments; `--no-index` succeeds only where a local wheel exists."""
    log = tmp_path / "pip.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pip").write_text(f"#!/bin/sh\necho \"$*\" >> {log}\n"
                                 f"case \"$*\" in *--no-index*) exit {0 if local_wheel else 1};; esac\nexit 0\n")
    (bin_dir / "pip").chmod(0o755)
    return dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}"), log


@pytest.mark.parametrize("local_wheel", [True, False])
def test_install_torch_takes_a_local_cpu_wheel_else_the_cpu_index(tmp_path, local_wheel):
    env, log = _fake_pip(tmp_path, local_wheel)
    proc = subprocess.run(["bash", str(ROOT / ".ci" / "install-torch")], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == "install -q --no-index --no-deps torch==2.13.0"
    if local_wheel:
        assert len(calls) == 1
    else:
        assert calls[1:] == ["install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"]


# -- 4. pytest --adgrade after the README's install ----------------------------------------

def test_pytest_comes_with_adgrade():
    import importlib.metadata
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(d.replace(" ", "").startswith("pytest>=") for d in project["dependencies"])
    installed = importlib.metadata.requires("adgrade") or []
    assert any(r.startswith("pytest") and "extra" not in r for r in installed)
    points = importlib.metadata.entry_points(group="pytest11")
    assert any(p.value == "adgrade.pytest_plugin" for p in points)


# -- 9. one presentation of scores -----------------------------------------------------------

def _bonus_report():
    from adgrade.results import CheckResult, ProblemResult, Report

    return Report("demo", "hw.py", problems=[
        ProblemResult("q1", "Gradient", False, 40.0, [CheckResult("grad", "failed", 36.846153, 40.0, "off")]),
        ProblemResult("b1", "Hessian", True, 2.0, [CheckResult("hess", "passed", 2.0, 2.0)]),
    ])


def test_points_round_to_two_decimals_and_drop_trailing_zeros():
    from adgrade.report.scores import points, problem, total

    assert [points(x) for x in (36.846153, 42.0, 2.5, 0.1 + 0.2, -0.0001, 1e-9, 40)] == \
        ["36.85", "42", "2.5", "0.3", "0", "0", "40"]
    assert total(42, 40, 2) == "42 / 40 (2 bonus)" and total(40, 40, 0) == "40 / 40"
    assert problem(1, 2, bonus=True) == "1 / 2 bonus" and problem(0.5, 5) == "0.5 / 5"


def test_every_readable_format_shows_the_score_one_way_and_json_keeps_the_numbers():
    from adgrade.batch import summarize
    from adgrade.report.class_html import render_class_html
    from adgrade.report.gradescope import gradescope_dict
    from adgrade.report.html import render_html
    from adgrade.report.markdown import render_markdown
    from adgrade.report.summary import render_summary_text
    from adgrade.report.terminal import render_text

    report = _bonus_report()
    want = "38.85 / 40 (2 bonus)"
    assert f"Total: {want}" in render_text(report)
    assert f"**{want}**" in render_markdown(report) and "| b1 | Hessian (bonus) | 2 / 2 bonus |" in render_markdown(report)
    page = render_html(report)
    assert "38.85<span class=\"of\"> / 40 (2 bonus)</span>" in page and f"{want} (failed)" in page
    assert "36.8462" not in page and "38.8462" not in page
    assert gradescope_dict(report)["output"].startswith(f"demo: {want}")
    data = report.to_dict()
    assert data["score"] == 38.846153 and data["max_score"] == 40.0  # the contract's numbers, unrounded
    classes = render_class_html(summarize({"ann": data}), {"ann": data})
    assert want in classes and "36.85" in classes and "36.8462" not in classes and "38.8462" not in classes
    text = render_summary_text(summarize({"ann": data}))
    assert "mean 38.85" in text and "36.85 / 40" in text and "38.8462" not in text


def test_common_failures_count_students_and_keep_whole_words():
    from adgrade.batch import MESSAGE_CHARS, summarize

    long = ("`manual_grad` is wrong at every point because the derivative of the inner polynomial "
            "was left out of the chain rule ") * 4
    def report(checks: int) -> dict:
        from adgrade.results import CheckResult, ProblemResult, Report

        failing = [CheckResult(f"c{i}", "failed", 0.0, 1.0, long) for i in range(checks)]
        return Report("demo", "hw.py", problems=[ProblemResult("q1", "G", False, float(checks), failing)]).to_dict()

    (failure,) = summarize({"ann": report(3), "bob": report(1)})["failures"]
    assert failure["count"] == 2 and failure["checks"] == 4 and failure["students"] == ["ann", "bob"]
    message = failure["message"]
    assert message.endswith("…") and len(message) <= MESSAGE_CHARS + 1
    assert long.startswith(message[:-1]) and long[len(message) - 1] == " "  # cut at a space, not mid-word


def test_an_oversized_notebook_in_a_zip_gets_the_same_message(tmp_path):
    import zipfile

    from adgrade.discovery import discover

    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("smith_1_2_hw.ipynb", "w", force_zip64=True) as member:
            block = b" " * 2**20
            for _ in range(MAX_SUBMISSION_BYTES // 2**20 + 1):  # zeros compress: a few hundred kB on disk
                member.write(block)
    found = discover([str(archive)], tmp_path / "out")
    (sub,) = found.submissions
    assert f"over the {MAX_SUBMISSION_BYTES // 2**20} MB a submission may have" in sub.error
    assert "Clear Outputs" in sub.error
