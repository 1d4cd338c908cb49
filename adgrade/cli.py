"""The command line: parse, call the engine, render. No grading logic lives here.

Exit codes: 0 all passed, 1 something failed (or the submission could not be
graded), 2 bad usage or a broken problem spec (stderr says what and where).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from adgrade import __version__
from adgrade.spec import SpecError


class UsageProblem(click.ClickException):
    exit_code = 2


def _fail_spec(exc: Exception) -> UsageProblem:
    return UsageProblem(str(exc))


def _stderr(message: str) -> None:
    click.echo(message, err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="adgrade")
def main() -> None:
    """Grade automatic-differentiation homework: gradients, Jacobians, Hessians, training loops.

    \b
    Check your work:       adgrade check my_homework.py -a jax-nn
    See the assignments:   adgrade list
    Check a problem set:   adgrade validate jax-nn
    """


def _load(assignment: str):
    from adgrade.spec import load_assignment

    try:
        return load_assignment(assignment)
    except SpecError as exc:
        raise _fail_spec(exc) from None


@main.command("list")
def list_cmd() -> None:
    """List the assignments adgrade knows, with their problems and points."""
    from rich.console import Console
    from rich.table import Table

    from adgrade.spec import available_assignments, parse_assignment

    table = Table(title="assignments")
    for column in ("name", "title", "problems", "points", "backends"):
        table.add_column(column)
    found = available_assignments()
    if not found:
        raise UsageProblem("no problem sets found (looked in ./problems, $ADGRADE_PROBLEMS and the installed ones)")
    broken = []
    for name, root in found.items():
        try:
            spec = parse_assignment(root)
        except SpecError as exc:
            broken.append(str(exc))
            table.add_row(name, "[red]broken spec[/]", "", "", "")
            continue
        points = sum(p.points for p in spec.problems if not p.bonus)
        bonus = sum(p.points for p in spec.problems if p.bonus)
        table.add_row(name, spec.title, " ".join(p.id for p in spec.problems),
                      f"{points:g}" + (f" + {bonus:g} bonus" if bonus else ""), ", ".join(spec.backends))
    Console().print(table)
    for message in broken:
        _stderr(message)
    if broken:
        sys.exit(2)


@main.command()
@click.argument("submission", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-a", "--assignment", help="Assignment name (see `adgrade list`) or a problem-set folder.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format; json follows the report contract.")
@click.option("--only", multiple=True, metavar="PROBLEM", help="Grade only this problem (repeatable).")
@click.option("--time-limit", type=float, help="Seconds for each question's cells and each check call.")
@click.option("--memory-limit", type=int, help="Memory limit of the submission's process, in MB.")
@click.option("--all", "include_hidden", is_flag=True, help="Also run hidden checks (instructors).")
@click.option("-v", "--verbose", is_flag=True, help="Show passed checks and timings too.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Also write the report here.")
def check(submission: Path, assignment: str | None, fmt: str, only: tuple[str, ...], time_limit: float | None,
          memory_limit: int | None, include_hidden: bool, verbose: bool, output: Path | None) -> None:
    """Grade one SUBMISSION (.py or .ipynb) and explain every failure."""
    from adgrade.engine import GradeOptions, grade_submission, guess_assignment
    from adgrade.report import renderer

    if assignment:
        spec = _load(assignment)
    else:
        from adgrade.spec import available_assignments, parse_assignment

        candidates = []
        for root in available_assignments().values():
            try:
                candidates.append(parse_assignment(root))
            except SpecError:
                continue
        spec, why = guess_assignment(submission, candidates)
        if spec is None:
            raise UsageProblem(f"which assignment is {submission}? {why}. Pass it with -a "
                               f"(one of: {', '.join(c.name for c in candidates)}).")
        _stderr(f"Grading as assignment {spec.name} ({why}); pass -a to choose another.")
    options = GradeOptions(only=list(only) or None, include_hidden=include_hidden, time_limit=time_limit,
                           memory_limit_mb=memory_limit)
    try:
        report = grade_submission(submission, spec, options)
    except ValueError as exc:  # --only naming a problem that does not exist
        raise UsageProblem(str(exc)) from None
    except SpecError as exc:
        raise _fail_spec(exc) from None
    if fmt == "text":
        from adgrade.report.terminal import build
        from rich.console import Console

        Console(highlight=False).print(build(report, verbose))
        text = None
    else:
        text = renderer(fmt)(report)
        click.echo(text)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text if text is not None else renderer("json")(report), encoding="utf-8")
    sys.exit(report.exit_code)


@main.command()
@click.argument("assignments", nargs=-1)
@click.option("--no-reference", is_flag=True, help="Skip grading the reference solution.")
def validate(assignments: tuple[str, ...], no_reference: bool) -> None:
    """Check problem sets: analytic solutions against autodiff on every backend, and the reference scores full marks."""
    from rich.console import Console

    from adgrade.spec import available_assignments
    from adgrade.validate import validate_assignment

    console = Console(highlight=False)
    names = list(assignments) or list(available_assignments())
    failed = False
    for name in names:
        spec = _load(name)
        result = validate_assignment(spec, grade_reference=not no_reference)
        for line in result.lines:
            console.print(line)
        failed = failed or not result.ok
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
