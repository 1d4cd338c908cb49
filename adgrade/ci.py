"""`adgrade ci init`: the GitHub Actions workflow of an assignment repository.

An assignment repository (one per student, GitHub Classroom style) is what `adgrade
export-student` writes: `problems/<name>/` (the student copy of the problem set) and the
student's submission beside it. The workflow written here grades that submission on every
push with the same `adgrade check` a student runs by hand:

- Python is set up (pip's cache kept between runs, keyed on this workflow file, which pins
  every version), then the CPU build of torch from PyTorch's CPU index (the CUDA build that a
  plain `pip install torch` resolves to on Linux is 29 packages, 2.7 GB), then exactly the
  adgrade the instructor ran `ci init` with: a wheel of it that `ci init` writes into the
  repository (.github/adgrade/), installed only if its sha256 is the one pinned in the
  workflow. `--install` may name another pinned source instead (a git URL at a commit, or a
  wheel URL with its sha256); never a bare name from the package index.
- One `adgrade check` writes the JUnit XML (kept as an artifact), appends the Markdown table
  of problems, scores and statuses to the run's summary page (`$GITHUB_STEP_SUMMARY`) and,
  for GitHub Classroom, the autograding `result` to `$GITHUB_OUTPUT`. Its exit code fails
  the job exactly as the report contract says: 0 passed; 1 failed or not gradable; 2 bad usage.

tests/test_ci.py runs the generated `run:` steps, in order, in a fresh virtual environment made
from a bare clone of an exported repository. Values are quoted for the shell, and none may hold
`${{` (GitHub would evaluate it inside `run:`), a newline or a NUL.
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from adgrade import __version__

WORKFLOW_PATH = Path(".github") / "workflows" / "adgrade.yml"
#: where `ci init` writes the wheel of the running adgrade, in the repository
WHEEL_DIR = Path(".github") / "adgrade"
TORCH = "torch==2.13.0"
#: PyTorch's own index of CPU-only builds (the same torch, without 2.7 GB of CUDA libraries)
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
JUNIT_FILE = "adgrade-junit.xml"
#: the step id the Classroom reporter reads `result` from (runners: adgrade -> env ADGRADE_RESULTS)
STEP_ID = "adgrade"


class CIError(ValueError):
    """Bad input for the workflow (shown as a usage error, exit code 2)."""


@dataclass
class WorkflowSettings:
    assignment: str  # the problem set's name: problems/<assignment> in the repository
    submission: str  # path of the graded file, relative to the repository root
    #: the wheel in the repository (relative path) and its sha256, written by `ci init`
    wheel: str = ""
    wheel_sha256: str = ""
    #: or another pinned source pip installs: "adgrade @ git+https://...@<commit>" or "adgrade @ https://...whl#sha256=..."
    install: str = ""
    python: str = f"{sys.version_info.major}.{sys.version_info.minor}"  # the instructor's, by default
    classroom: bool = False  # also report to GitHub Classroom (autograding-grading-reporter)
    time_limit: float | None = None


def _safe(value: str, what: str) -> str:
    if not value or "${{" in value or any(c in value for c in "\n\r\x00"):
        raise CIError(f"{what} {value!r} cannot go into a workflow (empty, a newline, or `${{{{`)")
    return value


def grade_command(settings: WorkflowSettings) -> str:
    """The one grading command of the workflow (a shell line)."""
    parts = ["adgrade", "check", shlex.quote(_safe(settings.submission, "the submission")),
             "-a", shlex.quote("problems/" + _safe(settings.assignment, "the assignment")),
             "--format", "junit", "-o", JUNIT_FILE]
    if settings.time_limit:
        parts += ["--time-limit", f"{settings.time_limit:g}"]
    parts += ["--summary", '"$GITHUB_STEP_SUMMARY"']
    if settings.classroom:
        parts += ["--classroom-output", '"$GITHUB_OUTPUT"']
    return " ".join(parts)


_COMMIT = re.compile(r"@[0-9a-f]{40}$")


def check_install_source(requirement: str) -> str:
    """REQUIREMENT if it pins one adgrade that exists: a direct reference to a git commit or to a
    wheel with its sha256. A bare name (or a version range) would install whatever the package
    index serves under that name, and adgrade is not published there."""
    name, at, url = requirement.partition("@")
    url = url.strip()
    if not at or name.strip().lower() != "adgrade" or not url:
        raise CIError(f"--install {requirement!r}: name one pinned adgrade, e.g. "
                      "'adgrade @ git+https://github.com/ORG/adgrade@<40-hex commit>', or leave --install out to "
                      "commit a wheel of the adgrade running here (no package named adgrade is published on "
                      "PyPI: whoever registers the name would run code in your CI)")
    if url.startswith("git+"):
        if not _COMMIT.search(url.split("#")[0]):
            raise CIError(f"--install {requirement!r}: a git URL must end in @ and a full 40-hex commit (a branch "
                          "or tag can move); e.g. git+https://github.com/ORG/adgrade@" + "0123abcd" * 5)
    elif not (url.split("#")[0].endswith(".whl") and re.search(r"#sha256=[0-9a-f]{64}$", url)):
        raise CIError(f"--install {requirement!r}: a URL must be a git+ URL at a commit, or a .whl URL ending in "
                      "#sha256=<64 hex> (pip then checks it)")
    return requirement


def install_commands(settings: WorkflowSettings) -> list[str]:
    torch = f"python -m pip install {TORCH} --index-url {TORCH_CPU_INDEX}"
    if settings.install:
        source = shlex.quote(_safe(check_install_source(settings.install), "the install source"))
        return [torch, f"python -m pip install {source}"]
    wheel = _safe(settings.wheel, "the wheel")
    if not re.fullmatch(r"[0-9a-f]{64}", settings.wheel_sha256):
        raise CIError("the wheel's sha256 is missing")
    # sha256sum reads "HASH  FILE" lines; --strict: a malformed line is an error, not a warning
    return [torch,
            f"echo {shlex.quote(settings.wheel_sha256 + '  ' + wheel)} | sha256sum --check --strict",
            f"python -m pip install {shlex.quote(wheel)}"]


def _yaml_str(value: str) -> str:
    import json

    return json.dumps(value)  # a JSON string is a YAML double-quoted scalar


def _run(lines: list[str]) -> str:
    """A literal block scalar for a step's `run:` (the step's keys sit at 8 columns)."""
    return "|\n" + "".join(f"{' ' * 10}{line}\n" for line in lines)


def workflow_yaml(settings: WorkflowSettings) -> str:
    python = _yaml_str(_safe(settings.python, "the Python version"))
    grade = grade_command(settings)
    installs = (f"the adgrade {__version__} that `ci init` was run with,\n      # {settings.wheel}, "
                "only if its sha256 is the one pinned here" if not settings.install
                else "adgrade from the pinned source `ci init --install` named")
    if settings.classroom:
        on = "'on':\n  push:\n  repository_dispatch:\n  workflow_dispatch:\n"
        permissions = "permissions:\n  checks: write\n  actions: read\n  contents: read\n"
        job_head = ("    # the Classroom reporter updates the check run with this name\n"
                    "    name: Autograding Tests\n"
                    "    if: github.actor != 'github-classroom[bot]'\n")
    else:
        on = "'on':\n  push:\n  pull_request:\n  workflow_dispatch:\n"
        permissions = "permissions:\n  contents: read\n"
        job_head = "    name: adgrade\n"
    out = f"""\
# Written by `adgrade ci init` (adgrade {__version__}).
# Grades {settings.submission} against problems/{settings.assignment} on every push, with the
# `adgrade check` students run by hand. The job fails exactly when that command does (exit
# code 1: a problem failed, or the submission could not be graded; 2: bad usage). The table
# of problems is on the run's summary page; the JUnit XML is kept as an artifact.
name: adgrade

{on}
{permissions}
jobs:
  grade:
{job_head}    runs-on: ubuntu-latest
    timeout-minutes: 30
    steps:
      - name: Check out the repository
        uses: actions/checkout@v4

      - name: Set up Python
        uses: actions/setup-python@v5
        with:
          python-version: {python}
          cache: pip
          # every version installed is pinned in this file: its hash is the cache's key
          cache-dependency-path: {WORKFLOW_PATH.as_posix()}

      # torch from PyTorch's CPU index first (a plain `torch` is the CUDA build: 29 packages, 2.7 GB);
      # then {installs}
      - name: Install adgrade
        run: {_run(install_commands(settings))}
      - name: {_yaml_str("Grade " + settings.submission)}
        id: {STEP_ID}
        run: {_run([grade])}
      - name: Keep the JUnit report
        if: ${{{{ !cancelled() }}}}
        uses: actions/upload-artifact@v4
        with:
          name: adgrade-junit
          path: {JUNIT_FILE}
          if-no-files-found: warn
"""
    if settings.classroom:
        out += f"""
      - name: Report to GitHub Classroom
        if: ${{{{ !cancelled() }}}}
        uses: classroom-resources/autograding-grading-reporter@v1
        env:
          {STEP_ID.upper()}_RESULTS: "${{{{ steps.{STEP_ID}.outputs.result }}}}"
        with:
          runners: {STEP_ID}
"""
    return out


def default_submission(repo: Path, assignment: str) -> str:
    """The starter `adgrade export-student` wrote: <name with _>.py or .ipynb."""
    stem = assignment.replace("-", "_")
    for suffix in (".py", ".ipynb"):
        if (repo / f"{stem}{suffix}").is_file():
            return f"{stem}{suffix}"
    raise CIError(f"no {stem}.py or {stem}.ipynb in {repo} (the starter `adgrade export-student` writes); "
                  "name the graded file with --submission")


def find_assignment(repo: Path, assignment: str | None) -> str:
    problems = repo / "problems"
    if assignment:
        name = Path(assignment).name if assignment.startswith("problems/") else assignment
        if not (problems / name / "assignment.toml").is_file():
            import difflib

            there = sorted(toml.parent.name for toml in problems.glob("*/assignment.toml"))
            close = difflib.get_close_matches(name, there, n=1, cutoff=0.6)
            if close:
                raise CIError(f"{problems / name} holds no assignment.toml; did you mean -a {close[0]}?")
            raise CIError(f"{problems / name} holds no assignment.toml: run `adgrade export-student {name} {repo}` "
                          "first, or pass the repository folder as DIR")
        return name
    found = sorted(toml.parent.name for toml in problems.glob("*/assignment.toml"))
    if not found:  # not an assignment repository yet: what makes one comes first, not -a
        raise CIError(f"{repo} is not an assignment repository yet ({problems} holds no problem set). Make one "
                      f"with `adgrade export-student ASSIGNMENT {repo}` (see `adgrade list`), then run "
                      f"`adgrade ci init {repo}` again")
    if len(found) > 1:
        raise CIError(f"{problems} holds several problem sets ({', '.join(found)}); name the graded one with -a")
    return found[0]


def submission_in_repo(repo: Path, submission: str | None, assignment: str) -> tuple[str, str | None]:
    """(path relative to the repository, a warning or None)."""
    if not submission:
        return default_submission(repo, assignment), None
    given = Path(submission)
    if not given.is_absolute() and (repo / given).exists():
        return given.as_posix(), None
    try:
        rel = given.resolve().relative_to(repo.resolve())
    except ValueError:
        if given.is_absolute() or given.exists():
            raise CIError(f"the submission {submission} is not inside the repository {repo}") from None
        return given.as_posix(), f"{repo / given} does not exist (yet); the workflow grades it once it does"
    return rel.as_posix(), None if given.exists() else f"{given} does not exist (yet)"


def ignored_by_git(repo: Path, path: Path) -> bool:
    """Whether git would leave PATH out of a commit of REPO (a .gitignore with *.whl, say); False
    where REPO is no git work tree or git is missing."""
    import shutil
    import subprocess

    if not shutil.which("git"):
        return False
    try:
        proc = subprocess.run(["git", "-C", str(repo), "check-ignore", "-q", "--no-index", str(path.resolve())],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0  # 1: not ignored; 128: not a repository


def write_workflow(repo: Path, settings: WorkflowSettings, force: bool = False) -> list[Path]:
    """Write the workflow and, unless settings.install names another source, the wheel of the
    running adgrade it installs. Returns what was written."""
    path = repo / WORKFLOW_PATH
    if path.exists() and not force:
        raise CIError(f"{path} exists; pass --force to replace it")
    grade_command(settings), _safe(settings.python, "the Python version")  # bad values stop before any write
    if settings.install:
        install_commands(settings)
    written = []
    folder = repo / WHEEL_DIR
    for old in folder.glob("adgrade-*.whl"):  # at most one adgrade in the repository: the one the workflow pins
        old.unlink()
    if not settings.install:
        from adgrade.wheel import WheelError, build_wheel

        try:
            built = build_wheel(folder)
        except WheelError as exc:
            raise CIError(str(exc)) from None
        settings.wheel, settings.wheel_sha256 = built.path.relative_to(repo).as_posix(), built.sha256
        written.append(built.path)
    text = workflow_yaml(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return [path, *written]
