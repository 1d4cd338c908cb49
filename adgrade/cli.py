"""The command line: parse, call the engine, render. No grading logic lives here.

Exit codes: 0 all passed, 1 something failed (or the submission could not be
graded), 2 bad usage or a broken problem spec (stderr says what and where).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from adgrade import __version__
from adgrade.report import FORMATS as REPORT_FORMATS
from adgrade.report import scores
from adgrade.spec import SpecError

SANDBOX_MODES = ("auto", "bwrap", "none")


class UsageProblem(click.ClickException):
    exit_code = 2


def _fail_spec(exc: Exception) -> UsageProblem:
    return UsageProblem(str(exc))


def _stderr(message: str) -> None:
    from adgrade.report.escape import terminal_text

    # file names and notes are the students': no control character, no CI workflow command
    click.echo(terminal_text(message), err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="adgrade")
def main() -> None:
    """Grade automatic-differentiation homework: gradients, Jacobians, Hessians, training loops.

    \b
    Check your work:       adgrade check my_homework.py -a jax-nn
    See the assignments:   adgrade list
    Check a problem set:   adgrade validate jax-nn
    """


def _launcher_factory(mode: str, student_cache: bool = False):
    """GradeOptions.launcher_factory for --sandbox (None: the engine's default launcher); `student_cache`
    for `check`: the student's process keeps a JAX compilation cache of its own."""
    from adgrade.batch import launcher_factory

    try:
        return launcher_factory(mode, student_cache=student_cache)
    except Exception as exc:
        raise UsageProblem(f"--sandbox {mode}: {exc}") from None


def _prestart(options, spec) -> None:
    """Start the submission's process-to-be (a fork server importing the frameworks) while this process
    reads the problem set and the submission: the two overlap instead of adding up."""
    from adgrade.engine import plan, plan_backends

    factory = options.launcher_factory
    if factory is None or not hasattr(factory, "prestart"):
        return
    try:
        factory.prestart(plan_backends(plan(spec, options)))
    except ValueError:  # --only naming no problem: grading says so
        pass


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

    from adgrade.spec import available_assignments
    from adgrade.spec_parse import parse_assignment

    found = available_assignments()
    if not found:
        raise UsageProblem("no problem sets found (looked in ./problems, $ADGRADE_PROBLEMS and the installed ones)")
    table = Table(title="assignments")
    # the name is what students type after -a: never cut; the other columns wrap (folding only a word too long)
    table.add_column("name", no_wrap=True, min_width=max(len(name) for name in found))
    for column in ("title", "problems", "points", "backends"):
        table.add_column(column, overflow="fold")
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
                      scores.points(points) + (f" + {scores.points(bonus)} bonus" if bonus else ""),
                      ", ".join(spec.backends))
    Console().print(table)
    for message in broken:
        _stderr(message)
    if broken:
        sys.exit(2)


@main.command()
@click.argument("submission", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-a", "--assignment", help="Assignment name (see `adgrade list`) or a problem-set folder.")
@click.option("--format", "fmt", type=click.Choice(list(REPORT_FORMATS)), default="text", show_default=True,
              help="Output format; json follows the report contract; gradescope is a results.json; junit is XML; "
                   "markdown suits GitHub summaries; classroom is GitHub Classroom's autograding result.")
@click.option("--only", multiple=True, metavar="PROBLEM", help="Grade only this problem (repeatable).")
@click.option("--time-limit", type=float, help="Seconds for each question's cells and each check call.")
@click.option("--memory-limit", type=int, help="Memory limit of the submission's process, in MB.")
@click.option("--all", "include_hidden", is_flag=True, help="Also run hidden checks (instructors).")
@click.option("--all-cells", is_flag=True, help="Run every statement of the submission, not only what the "
                                                "checks depend on (slower: benchmarks and demos run too).")
@click.option("-v", "--verbose", is_flag=True, help="Show passed checks and timings too.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Also write the report here.")
@click.option("--sandbox", type=click.Choice(SANDBOX_MODES), default="auto", show_default=True,
              help="How the submission's process is confined: auto (bwrap where available), bwrap, none.")
@click.option("--summary", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Also append the report as Markdown to FILE (in GitHub Actions: \"$GITHUB_STEP_SUMMARY\").")
@click.option("--classroom-output", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Also append GitHub Classroom's autograding result (result=BASE64) to FILE "
                   "(in GitHub Actions: \"$GITHUB_OUTPUT\").")
@click.option("--watch", is_flag=True, help="Grade again whenever SUBMISSION is saved and show what changed, "
                                            "until Ctrl-C.")
@click.option("--watch-max-runs", type=click.IntRange(min=1), hidden=True)
@click.option("--watch-interval", type=click.FloatRange(min=0.01), default=0.5, hidden=True)
def check(submission: Path, assignment: str | None, fmt: str, only: tuple[str, ...], time_limit: float | None,
          memory_limit: int | None, include_hidden: bool, verbose: bool, output: Path | None,
          sandbox: str = "auto", summary: Path | None = None, classroom_output: Path | None = None,
          watch: bool = False, watch_max_runs: int | None = None, watch_interval: float = 0.5,
          all_cells: bool = False) -> None:
    """Grade one SUBMISSION (.py or .ipynb) and explain every failure.

    With --watch it stays, grades again each time the file is saved and prints only what
    changed (problems whose score or status moved, new and fixed failures); Ctrl-C ends it
    with the exit code of the last grading.
    """
    if watch and fmt != "text":
        raise UsageProblem("--watch shows the report as text; leave out --format (use -o FILE for a JSON copy)")
    from adgrade.engine import GradeOptions, grade_submission, guess_assignment
    from adgrade.report import renderer

    if assignment:
        spec = _load(assignment)
    else:
        from adgrade.spec import available_assignments
        from adgrade.spec_parse import parse_assignment

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
                           memory_limit_mb=memory_limit,
                           launcher_factory=_launcher_factory(sandbox, student_cache=True),
                           slicing=not all_cells)
    _prestart(options, spec)

    def grade_once():
        try:
            return grade_submission(submission, spec, options)
        except ValueError as exc:  # --only naming a problem that does not exist
            raise UsageProblem(str(exc)) from None
        except SpecError as exc:
            raise _fail_spec(exc) from None

    def write_files(report, text: str | None) -> None:
        if output:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text if text is not None else renderer("json")(report), encoding="utf-8")
        if summary:
            _append(summary, renderer("markdown")(report) + "\n")
        if classroom_output:
            from adgrade.report.classroom import classroom_output as result_line

            _append(classroom_output, result_line(report))

    def show(report) -> None:
        if fmt == "text":
            from adgrade.report.terminal import print_text

            print_text(report, verbose)
            text = None
        else:
            text = renderer(fmt)(report)
            if output and fmt == "html":  # a page of inline images: to the file only
                _stderr(f"Wrote {output}: {scores.report_total(report)} ({report.status}).")
            else:
                from adgrade.report.escape import neutralise_controls

                click.echo(neutralise_controls(text))
        write_files(report, text)

    if watch:
        report = _watch(submission, grade_once, show, write_files, watch_interval, watch_max_runs)
    else:
        report = grade_once()
        show(report)
    sys.exit(report.exit_code)


def _append(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def _watch(submission: Path, grade_once, show, write_files, interval: float, max_runs: int | None):
    """check --watch: the first report in full, then what changed after each save (adgrade/watch.py)."""
    import time

    from adgrade.report.escape import terminal_text
    from adgrade.watch import render_changes, watch

    def waiting() -> None:
        _stderr(f"Watching {submission} for changes (Ctrl-C to stop)...")

    def changes(found, report) -> None:
        click.echo(terminal_text(render_changes(found, report, time.strftime("[%H:%M:%S]"))), nl=False)
        sys.stdout.flush()
        write_files(report, None)

    def first(report) -> None:
        show(report)
        sys.stdout.flush()

    report = watch(submission, grade_once, first, changes, interval=interval, max_runs=max_runs,
                   on_waiting=waiting)
    _stderr(f"Stopped watching: {scores.report_total(report)} {report.status}.")
    return report


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
    # a problem set that loads but is wrong is a broken problem set: exit 2, as for one that does not load
    sys.exit(2 if failed else 0)


@main.command()
@click.argument("submissions", nargs=-1, required=True)
@click.option("-a", "--assignment", required=True, help="Assignment name (see `adgrade list`) or a problem-set folder.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Results folder: reports/<student>.json, gradebook.csv, gradescope/, junit/, summary.")
@click.option("--workers", type=click.IntRange(min=1), help="Submissions graded at once [default: the CPU cores].")
@click.option("--resume", is_flag=True, help="Grade only the students that have no report in OUT yet.")
@click.option("--force", is_flag=True, help="Grade everyone again, replacing the reports in OUT.")
@click.option("--only", multiple=True, metavar="PROBLEM", help="Grade only this problem (repeatable).")
@click.option("--time-limit", type=float, help="Seconds for each question's cells and each check call.")
@click.option("--memory-limit", type=int, help="Memory limit of each submission's process, in MB.")
@click.option("--sandbox", type=click.Choice(SANDBOX_MODES), default="auto", show_default=True,
              help="How each submission's process is confined: auto (bwrap where available), bwrap, none.")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="Where the gradings run: a local process pool, or a Dask distributed cluster.")
@click.option("--scheduler", metavar="ADDRESS", help="The Dask scheduler's address (implies --executor dask).")
@click.option("--hidden-visibility", type=click.Choice(["after_published", "after_due_date", "hidden"]),
              default="after_published", show_default=True, help="Gradescope visibility of hidden checks.")
@click.option("--all-cells", is_flag=True, help="Run every statement of the submission, not only what the "
                                                "checks depend on (slower: benchmarks and demos run too).")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def grade(submissions: tuple[str, ...], assignment: str, out: Path, workers: int | None, resume: bool, force: bool,
          only: tuple[str, ...], time_limit: float | None, memory_limit: int | None, sandbox: str, executor: str,
          scheduler: str | None, hidden_visibility: str, quiet: bool, all_cells: bool = False) -> None:
    """Grade a class: SUBMISSIONS are folders (a file or a folder per student), files, globs or an LMS .zip.

    Every check runs, hidden ones included. Each report is written to OUT/reports/<student>.json
    as soon as it is done (--resume carries on after an interruption); at the end OUT gets
    gradebook.csv, gradescope/<student>/results.json, junit/<student>.xml and the class summary.
    Exit code 0 when every submission has a report, 1 when the grader itself failed on some.
    """
    import json
    import os

    from rich.console import Console
    from rich.markup import escape

    from adgrade import batch, discovery
    from adgrade.engine import GradeOptions, plan
    from adgrade.report.escape import terminal_text
    from adgrade.report.summary import print_summary

    spec = _load(assignment)
    try:
        plan(spec, GradeOptions(only=list(only) or None))
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    if scheduler and executor == "local":
        executor = "dask"
    if executor == "dask" and not scheduler:
        raise UsageProblem("--executor dask needs --scheduler ADDRESS (e.g. tcp://10.0.0.5:8786)")
    if resume and force:
        raise UsageProblem("--resume and --force contradict each other; pass one")
    # fails here, not in every worker, when the sandbox is not available; the workers get the mode it resolved to
    # ("auto" -> "bwrap" or "none"), so that a fallback is said once, here
    factory = _launcher_factory(sandbox)
    if factory is not None:
        sandbox = getattr(factory, "mode", sandbox)
        getattr(factory, "close", lambda: None)()
    settings = batch.BatchSettings(assignment=str(spec.root.resolve()), assignment_name=spec.name,
                                   only=list(only) or None, time_limit=time_limit, memory_limit_mb=memory_limit,
                                   sandbox=sandbox, all_cells=all_cells)
    existing = batch.load_reports(out)
    previous = out / "batch.json"
    if existing and not (resume or force):
        raise UsageProblem(f"{out} already holds {len(existing)} report(s): pass --resume to grade only the "
                           "students without one, --force to grade everyone again, or another --out")
    if resume and previous.is_file():
        try:
            differ = settings.same_grading(json.loads(previous.read_text()))
        except ValueError:
            differ = []
        if differ:
            raise UsageProblem(f"{out} was graded with other settings ({', '.join(differ)} differ): resume with "
                               "the same -a/--only/--time-limit/--memory-limit, or use --force or another --out")
    if force:
        for stale in batch.reports_dir(out).glob("*.json"):
            stale.unlink()

    entries = {e for p in spec.problems for e in p.entries}
    try:
        found = discovery.discover(submissions, out, entries)
    except batch.BatchError as exc:
        raise UsageProblem(str(exc)) from None
    for warning in found.warnings:
        _stderr(f"warning: {warning}")
    for sub in found.submissions:
        if sub.note:
            _stderr(f"{sub.student}: {sub.note}")

    err = Console(stderr=True, highlight=False)
    if not workers:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    counts = {"passed": 0, "failed": 0, "error": 0}
    progress = None
    state = {"task": None, "done": 0, "total": 0}

    def counts_text() -> str:
        return (f"[green]{counts['passed']} passed[/] [red]{counts['failed']} failed[/] "
                f"[red]{counts['error']} errored[/]")

    def on_start(to_grade: int, already: int) -> None:
        state["total"] = to_grade
        where = f"{workers} worker(s)" if executor == "local" else f"Dask at {scheduler}"
        again = f", {already} already graded" if already else ""
        err.print(f"Grading {to_grade} submission(s) of {spec.name} with {where}{again}.")
        if progress is not None:
            state["task"] = progress.add_task("grading", total=to_grade, counts=counts_text())

    def on_result(sub, data: dict) -> None:
        status = "error" if data.get("grader_error") else data.get("status", "error")
        counts[status if status in counts else "error"] += 1
        state["done"] += 1
        if progress is not None:
            progress.update(state["task"], advance=1, counts=counts_text())
        elif not quiet:
            err.print(f"[{state['done']}/{state['total']}] {sub.student}: {scores.report_total(data)} {status} "
                      f"({data.get('duration_s', 0):.1f} s)")
        if data.get("grader_error"):
            err.print(f"[red]{sub.student}: the grader failed: {escape(terminal_text(data['grader_error']))}[/]")

    if not quiet and err.is_terminal:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        progress = Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                            TextColumn("{task.fields[counts]}"), console=err)
    try:
        if progress is not None:
            progress.start()
        result = batch.run_batch(found.submissions, spec, settings, out, workers=workers, resume=resume,
                                 executor=executor, scheduler=scheduler, on_start=on_start, on_result=on_result)
    except batch.BatchError as exc:
        raise UsageProblem(str(exc)) from None
    finally:
        if progress is not None:
            progress.stop()
    if result.interrupted:
        _stderr(f"Interrupted: {result.graded} report(s) written in {out / 'reports'}; run the same command with "
                "--resume to grade the rest.")
        sys.exit(130)
    written = batch.export(out, batch.EXPORT_FORMATS, hidden_visibility=hidden_visibility)
    summary = json.loads((out / "summary.json").read_text())
    print_summary(summary)
    err.print(f"Graded {result.graded} submission(s) in {result.seconds:.1f} s"
              + (f" ({result.skipped} already graded)" if result.skipped else "")
              + f". Wrote {out / 'reports'}/, {written['csv'][0]}, {out / 'gradescope'}/, {out / 'junit'}/, "
                f"{out / 'summary.txt'}.")
    flagged = {s: d["flags"] for s, d in batch.load_reports(out).items()
               if isinstance(d.get("flags"), list) and d["flags"]}
    if flagged:  # for the instructor: tampering with the grader, or code that reaches for its internals
        from adgrade.report.escape import neutralise_commands

        names = ", ".join(f"{s} ({' '.join(map(str, f))})" for s, f in sorted(flagged.items()))
        _stderr(neutralise_commands(f"Flagged for review ({len(flagged)}): {names}; each report's `review` says why."))
    if result.grader_errors:
        _stderr(f"The grader failed on {len(result.grader_errors)} submission(s): "
                f"{', '.join(sorted(result.grader_errors))}; run again with --resume to retry them.")
        sys.exit(1)
    sys.exit(0)


@main.command("export")
@click.argument("out", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--format", "formats", multiple=True, type=click.Choice(["csv", "gradescope", "junit"]),
              help="What to write (repeatable) [default: all three].")
@click.option("--hidden-visibility", type=click.Choice(["after_published", "after_due_date", "hidden"]),
              default="after_published", show_default=True, help="Gradescope visibility of hidden checks.")
def export_cmd(out: Path, formats: tuple[str, ...], hidden_visibility: str) -> None:
    """Rebuild OUT's gradebook.csv, gradescope/ and junit/ files and summary from OUT/reports alone."""
    import json

    from adgrade import batch
    from adgrade.report.summary import print_summary

    try:
        written = batch.export(out, formats or batch.EXPORT_FORMATS, hidden_visibility=hidden_visibility)
    except batch.BatchError as exc:
        raise UsageProblem(str(exc)) from None
    if not formats:  # a chosen format is all that was asked for: the summary is only rewritten (summary.txt)
        print_summary(json.loads((out / "summary.json").read_text()))
    for fmt, paths in written.items():
        _stderr(f"{fmt}: " + ", ".join(str(p) for p in paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else ""))


@main.command("report")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["html"]), default="html", show_default=True,
              help="What to write: html is one self-contained page (charts and tables, no scripts).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write it [default: OUT/class.html, or REPORT.html beside a report].")
def report_cmd(source: Path, fmt: str, output: Path | None) -> None:
    """Write a report people read: SOURCE is a results folder of `adgrade grade` (the class report:
    score histogram, pass rate per problem, the most common failures, every student) or one
    report JSON file (that submission's page)."""
    import json

    from adgrade import batch

    if source.is_dir():
        from adgrade.report.class_html import render_class_html

        reports = batch.load_reports(source)
        if not reports:
            raise UsageProblem(f"{batch.reports_dir(source)}: no reports (grade first: adgrade grade ... "
                               f"--out {source})")
        output = output or source / "class.html"
        # the links to the JSON reports are relative: only where the page sits in the results folder
        here = output.resolve().parent == source.resolve()
        text = render_class_html(batch.summarize(reports), reports, reports_href="reports" if here else None)
        what = f"the class report of {len(reports)} submission(s)"
    else:
        from adgrade.report.html import render_html

        try:
            data = json.loads(source.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or "problems" not in data:
                raise ValueError("not a report (no problems)")
            report = batch.report_from_dict(data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageProblem(f"{source}: cannot read it as a report: {exc}") from None
        text = render_html(report)
        output = output or source.with_suffix(".html")
        what = f"the report of {report.submission}"
    output.parent.mkdir(parents=True, exist_ok=True)
    batch.write_atomic(output, text)
    _stderr(f"Wrote {output}: {what}.")


@main.command("init")
@click.argument("assignment")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
def init_cmd(assignment: str, file: Path | None, force: bool) -> None:
    """Write a starter submission for ASSIGNMENT: every entry stubbed, one marked cell per question.

    FILE ending in .ipynb gives a notebook; default ASSIGNMENT_NAME.py.
    """
    from adgrade.starter import write_starter

    spec = _load(assignment)
    path = file or Path(f"{spec.name.replace('-', '_')}.py")
    if path.exists() and not force:
        raise UsageProblem(f"{path} exists; pass --force to overwrite it, or name another file")
    write_starter(spec, path)
    _stderr(f"Wrote {path}: fill in each `raise NotImplementedError`, then run: adgrade check {path} -a {spec.name}")


@main.command("export-student")
@click.argument("assignment")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--notebook", is_flag=True, help="Write the starter as a notebook instead of a .py file.")
def export_student_cmd(assignment: str, dest: Path, notebook: bool) -> None:
    """Write what students receive into DEST: the problem set without hidden checks, reference or
    analytic solutions (expected values frozen), and a starter submission."""
    from adgrade.export import export_student

    spec = _load(assignment)
    try:
        written = export_student(spec, dest, starter="ipynb" if notebook else "py")
    except SpecError as exc:
        raise _fail_spec(exc) from None
    for path in written:
        _stderr(f"wrote {path}")
    _stderr(f"Students check their work with: adgrade check {written[-1].name} -a problems/{spec.name}")


@main.group("ci")
def ci_group() -> None:
    """Continuous integration for assignment repositories (one per student, GitHub Classroom style)."""


@ci_group.command("init")
@click.argument("repo", default=".", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("-a", "--assignment", help="The problem set's name: REPO/problems/NAME [default: the only one there].")
@click.option("--submission", metavar="FILE", help="The graded file, in REPO [default: the starter "
                                                   "`adgrade export-student` wrote, e.g. jax_nn.py].")
@click.option("--install", default="", metavar="REQUIREMENT",
              help="Install adgrade in CI from this pinned source instead of the wheel written into REPO: "
                   '"adgrade @ git+https://github.com/ORG/adgrade@<commit>" or "adgrade @ https://.../x.whl#sha256=...".')
@click.option("--python", "python_version", default=f"{sys.version_info.major}.{sys.version_info.minor}",
              show_default=True, help="The Python version CI uses (by default the one running here).")
@click.option("--classroom", is_flag=True, help="Also report the score to GitHub Classroom "
                                                "(classroom-resources/autograding-grading-reporter).")
@click.option("--time-limit", type=float, help="Seconds for each question's cells and each check call.")
@click.option("--force", is_flag=True, help="Replace an existing .github/workflows/adgrade.yml.")
def ci_init_cmd(repo: Path, assignment: str | None, submission: str | None, install: str, python_version: str,
                classroom: bool, time_limit: float | None, force: bool) -> None:
    """Write REPO/.github/workflows/adgrade.yml: GitHub Actions grades the submission on every push.

    REPO is an assignment repository made by `adgrade export-student`. Also writes
    REPO/.github/adgrade/adgrade-<version>-py3-none-any.whl, this very adgrade, whose sha256 the
    workflow pins (commit both). The job installs torch==2.13.0 from PyTorch's CPU index and that
    wheel (pip's cache kept), runs `adgrade check` (JUnit XML kept as an artifact, the table of
    problems on the run's summary page) and fails exactly when that command does.
    """
    from adgrade.ci import CIError, WorkflowSettings, find_assignment, submission_in_repo, write_workflow
    from adgrade.spec_parse import parse_assignment

    try:
        name = find_assignment(repo, assignment)
        parse_assignment(repo / "problems" / name)  # the copy must load here, not only in CI
        graded, warning = submission_in_repo(repo, submission, name)
        if warning:
            _stderr(f"warning: {warning}")
        settings = WorkflowSettings(assignment=name, submission=graded, install=install, python=python_version,
                                    classroom=classroom, time_limit=time_limit)
        path, *wheel = write_workflow(repo, settings, force=force)
    except CIError as exc:
        raise UsageProblem(str(exc)) from None
    except SpecError as exc:
        raise _fail_spec(exc) from None
    _stderr(f"Wrote {path}: every push grades {graded} against problems/{name}.")
    if wheel:
        _stderr(f"Wrote {wheel[0]} (sha256 {settings.wheel_sha256}): the adgrade {__version__} running here, which "
                "the workflow installs; commit it with the workflow.")
        from adgrade.ci import ignored_by_git

        if ignored_by_git(repo, wheel[0]):
            _stderr(f"warning: git ignores {wheel[0]} (a .gitignore rule): without it every CI run fails; "
                    f"commit it with `git add -f {wheel[0]}`")
    _stderr("Try its grading step here:")
    cd = "" if repo.resolve() == Path.cwd().resolve() else f"cd {repo} && "
    _stderr(f"  {cd}adgrade check {graded} -a problems/{name}")


if __name__ == "__main__":
    main()
