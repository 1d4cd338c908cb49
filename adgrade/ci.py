"""`adgrade ci init`: the GitHub Actions workflow of an assignment repository.

An assignment repository (one per student, GitHub Classroom style) is what `adgrade
export-student` writes: `problems/<name>/` (the student copy of the problem set) and the
student's submission beside it. The workflow written here grades that submission on every
push with the same `adgrade check` a student runs by hand:

- Python is set up, then `pip install torch==2.13.0` (the CPU build; a bare `torch` can pull
  a multi-GB CUDA build), then adgrade from `--install` (default: `adgrade` from the index).
- One `adgrade check` writes the JUnit XML (kept as an artifact), appends the Markdown table
  of problems, scores and statuses to the run's summary page (`$GITHUB_STEP_SUMMARY`) and,
  for GitHub Classroom, the autograding `result` to `$GITHUB_OUTPUT`. Its exit code fails
  the job exactly as the report contract says: 0 passed; 1 failed or not gradable; 2 bad usage.

Every `run:` step after the install calls `adgrade` and nothing else, so the tests run them
as they are (tests/test_ci.py). Values are quoted for the shell, and none may hold `${{`
(GitHub would evaluate it inside `run:`), a newline or a NUL.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from adgrade import __version__

WORKFLOW_PATH = Path(".github") / "workflows" / "adgrade.yml"
TORCH = "torch==2.13.0"
JUNIT_FILE = "adgrade-junit.xml"
#: the step id the Classroom reporter reads `result` from (runners: adgrade -> env ADGRADE_RESULTS)
STEP_ID = "adgrade"


class CIError(ValueError):
    """Bad input for the workflow (shown as a usage error, exit code 2)."""


@dataclass
class WorkflowSettings:
    assignment: str  # the problem set's name: problems/<assignment> in the repository
    submission: str  # path of the graded file, relative to the repository root
    install: str = "adgrade"  # what pip installs: a requirement, e.g. "adgrade @ git+https://..."
    python: str = "3.11"
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


def install_commands(settings: WorkflowSettings) -> list[str]:
    return ["python -m pip install --upgrade pip",
            f"python -m pip install {TORCH}",
            f"python -m pip install {shlex.quote(_safe(settings.install, 'the install source'))}"]


def _yaml_str(value: str) -> str:
    import json

    return json.dumps(value)  # a JSON string is a YAML double-quoted scalar


def _run(lines: list[str]) -> str:
    """A literal block scalar for a step's `run:` (the step's keys sit at 8 columns)."""
    return "|\n" + "".join(f"{' ' * 10}{line}\n" for line in lines)


def workflow_yaml(settings: WorkflowSettings) -> str:
    python = _yaml_str(_safe(settings.python, "the Python version"))
    grade = grade_command(settings)
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

      # torch==2.13.0 first: the CPU build (a bare `torch` requirement can pull a multi-GB CUDA build)
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
            raise CIError(f"{problems / name} holds no assignment.toml: run `adgrade export-student {name} {repo}` "
                          "first, or pass the repository folder as DIR")
        return name
    found = sorted(toml.parent.name for toml in problems.glob("*/assignment.toml"))
    if len(found) != 1:
        raise CIError(f"{problems} holds {'no problem set' if not found else 'several: ' + ', '.join(found)}; "
                      "name it with -a")
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


def write_workflow(repo: Path, settings: WorkflowSettings, force: bool = False) -> Path:
    path = repo / WORKFLOW_PATH
    if path.exists() and not force:
        raise CIError(f"{path} exists; pass --force to replace it")
    text = workflow_yaml(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
