"""pytest plugin: `pytest --adgrade ASSIGNMENT SUBMISSION` grades a submission as a test run.

One test item per check, with node ids `<problem>::<check name>` (`q1a::manual_grad
matches ...`), so `-k`, `-x`, `--junitxml`, IDE test panels and CI test reporters all work.
The engine runs once per session (on the first item that needs it, never at collection),
exactly as `adgrade check` does; each item then passes, fails or is skipped as its check
did, with the check's message as the failure text:

- passed, inconclusive (a timing too noisy to judge; scores as passed) -> passed
- warning (reported, not scored) -> passed, with a warning in pytest's summary
- failed, error, timeout -> failed
- skipped -> skipped

Hidden checks run only with `--adgrade-all`, as with `adgrade check --all`. Registered
through the `pytest11` entry point; without `--adgrade` it does nothing (and imports no
framework).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

_REPORT = pytest.StashKey[dict]()


class AdgradeCheckWarning(UserWarning):
    """A check that is reported but not scored (e.g. a starter-code bug), or an inconclusive timing."""


class CheckFailed(Exception):
    """A check of the submission failed; its message is the whole failure text."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("adgrade", "grading automatic-differentiation homework with adgrade")
    group.addoption("--adgrade", nargs=2, metavar=("ASSIGNMENT", "SUBMISSION"), default=None,
                    help="Grade SUBMISSION (.py or .ipynb) against ASSIGNMENT (a name or a problem-set folder): "
                         "one test per check.")
    group.addoption("--adgrade-all", action="store_true", default=False,
                    help="Also run the assignment's hidden checks (instructors).")
    group.addoption("--adgrade-only", action="append", default=None, metavar="PROBLEM",
                    help="Grade only this problem (repeatable).")
    group.addoption("--adgrade-sandbox", default="auto", choices=("auto", "bwrap", "none"),
                    help="How the submission's process is confined (as adgrade check --sandbox).")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "adgrade(problem, kind): a check of an adgrade assignment")


class ProblemCollector(pytest.Collector):
    """One problem of the assignment; its items are made by the plugin, not collected from files."""

    def collect(self):  # pragma: no cover - items are created directly in pytest_collection_modifyitems
        return []


class CheckItem(pytest.Item):
    def __init__(self, *, problem_id: str, index: int, kind: str, hidden: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.problem_id = problem_id
        self.index = index
        self.kind = kind
        self.hidden = hidden
        self.add_marker(pytest.mark.adgrade(problem_id, kind))

    def runtest(self) -> None:
        from adgrade.report.escape import terminal_text  # no control character, no workflow command

        report = _graded(self.session)
        check = _find(report, self.problem_id, self.index)
        if check is None:
            pytest.skip(f"{self.problem_id}: this check was not run")
        self.user_properties.extend([("score", f"{check.score:g}"), ("max_score", f"{check.max_score:g}"),
                                     ("status", check.status)])
        message = terminal_text(check.message)
        if check.status in ("failed", "error", "timeout"):
            head = "" if check.status == "failed" else f"[{check.status}] "
            raise CheckFailed(f"{head}{message}" if message or head else "failed")
        if check.status == "skipped":
            pytest.skip(message or "skipped")
        if check.status in ("warning", "inconclusive") and message:
            warnings.warn(AdgradeCheckWarning(f"{self.problem_id}: {check.name}: {check.status}: {message}"))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, CheckFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        submission = self.config.getoption("adgrade")[1]
        return Path(submission), None, f"{self.problem_id}: {self.name}"


def _state(config: pytest.Config) -> dict:
    return config.stash.setdefault(_REPORT, {})


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselection, so that they apply to our items too
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    option = config.getoption("adgrade")
    if not option:
        return
    assignment, submission = option
    from adgrade.engine import GradeOptions, plan
    from adgrade.spec import SpecError, load_assignment

    if not Path(submission).is_file():
        raise pytest.UsageError(f"--adgrade: submission {submission} does not exist (or is not a file)")
    try:
        spec = load_assignment(assignment)
    except SpecError as exc:
        raise pytest.UsageError(f"--adgrade: {exc}") from None
    options = GradeOptions(only=config.getoption("adgrade_only") or None,
                           include_hidden=config.getoption("adgrade_all"))
    try:
        the_plan = plan(spec, options)
    except (ValueError, SpecError) as exc:
        raise pytest.UsageError(f"--adgrade: {exc}") from None
    state = _state(config)
    state.update(spec=spec, options=options, submission=submission)
    for problem, checks in the_plan.problems:
        collector = ProblemCollector.from_parent(session, name=problem.id, nodeid=problem.id)
        seen: dict[str, int] = {}
        made = []
        for index, check in enumerate(checks):
            name = check.name().replace("::", ": ")
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:
                name = f"{name} [{seen[name]}]"
            made.append(CheckItem.from_parent(collector, name=name, problem_id=problem.id, index=index,
                                              kind=check.spec.kind, hidden=bool(check.spec.hidden)))
        # as if collected from a file: the terminal counts them ("collected 3 items"), other plugins see them
        config.hook.pytest_collectreport(report=pytest.CollectReport(collector.nodeid, "passed", None, made))
        items.extend(made)


def _graded(session: pytest.Session):
    """The session's one report: graded on first use."""
    config = session.config
    state = _state(config)
    if "report" not in state:
        from adgrade.engine import grade_submission

        options = state["options"]
        # only the problems of the items that run (-k, -m, --deselect leave the others out)
        wanted = {item.problem_id for item in session.items if isinstance(item, CheckItem)}
        if wanted:
            options.only = sorted(wanted)
        from adgrade.batch import launcher_factory

        sandbox = config.getoption("adgrade_sandbox")
        try:
            options.launcher_factory = launcher_factory(sandbox, student_cache=True)  # the student's own run
        except Exception as exc:
            raise pytest.UsageError(f"--adgrade-sandbox {sandbox}: {exc}") from None
        state["report"] = grade_submission(state["submission"], state["spec"], options)
    return state["report"]


def _find(report, problem_id: str, index: int):
    for problem in report.problems:
        if problem.id == problem_id:
            return problem.checks[index] if index < len(problem.checks) else None
    return None


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    report = _state(config).get("report")
    if report is None:
        return
    from adgrade.report import scores
    from adgrade.report.escape import terminal_text  # no control character, no workflow command

    terminalreporter.write_sep("=", "adgrade")
    for problem in report.problems:
        points = scores.problem(problem.score, problem.max_score, problem.bonus)
        terminalreporter.write_line(f"{problem.id}: {points} {problem.status}")
    if report.error:
        terminalreporter.write_line(terminal_text(f"could not grade this submission: {report.error}"))
    for note in report.notes:
        terminalreporter.write_line(terminal_text(f"note: {note}"))
    if report.hidden_not_run:
        terminalreporter.write_line(f"{report.hidden_not_run} hidden check(s) were not run here; "
                                    "your final score may differ.")
    terminalreporter.write_line(f"{report.assignment}: {scores.report_total(report)} {report.status}",
                                bold=True)
