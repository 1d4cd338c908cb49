"""The engine: one grading of one submission, used the same way by `check`, `grade`, CI and the tests.

plan (problems x checks x seeded inputs) -> run the submission's cells in a
child process, asking each question's requests at the end of its cells ->
judge in this process -> a `Report` (data; the CLI renders it).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from adgrade.audit import Audit, audit
from adgrade.cells import Cell, SubmissionError, read_submission, top_level_definitions
from adgrade.checks import Check, get_check_class
from adgrade.feedback import explain_error
from adgrade.questions import QuestionMatcher, assign_questions, question_ends
from adgrade.resolve import (candidate_names, describe_resolution, differentiating_aliases, entry_needs, plan_question,
                             reference_signatures)
from adgrade.results import FAILING, CheckResult, ProblemResult, Report
from adgrade.runner.limits import Limits
from adgrade.runner.parent import Answer, Job, Launcher, ProcessRunner, RunOutcome
from adgrade.slicing import Question, SlicePlan, check_roots, full_run_reason, plan_slice, skipped_notes, statement_label
from adgrade.spec import AssignmentSpec, ProblemSpec
from adgrade.trust import REVIEW, TAMPERING, bound_report, oversized, tampered_message


#: the note when the grader's runner failed: an infrastructure failure, not a verdict on the student
RUNNER_LOST = "the grader's runner stopped unexpectedly"


@dataclass
class GradeOptions:
    only: list[str] | None = None  # problem ids
    include_hidden: bool = True
    time_limit: float | None = None  # overrides every question's limit
    memory_limit_mb: int | None = None
    launcher_factory: object = None  # callable(Limits) -> Launcher; default a plain rlimited process
    #: run only the statements the checks depend on (adgrade/slicing.py); False: every cell, as written
    slicing: bool = True
    #: trace a JAX call the analysis finds safe as one compiled program (adgrade/runner/staging.py)
    stage: bool = True


@dataclass
class Plan:
    problems: list[tuple[ProblemSpec, list[Check]]] = field(default_factory=list)
    hidden_not_run: int = 0


def plan(assignment: AssignmentSpec, options: GradeOptions) -> Plan:
    out = Plan(hidden_not_run=assignment.hidden_checks)
    wanted = set(options.only or ())
    unknown = wanted - {p.id for p in assignment.problems}
    if unknown:
        raise ValueError(f"no problem {', '.join(sorted(unknown))} in {assignment.name} "
                         f"(problems: {', '.join(p.id for p in assignment.problems)})")
    for problem in assignment.problems:
        if wanted and problem.id not in wanted:
            continue
        checks = []
        question: dict = {}  # one per question: the conventions its checks detect (checks/calls.py)
        for i, spec in enumerate(problem.checks):
            if spec.hidden and not options.include_hidden:
                out.hidden_not_run += 1
                continue
            check = get_check_class(spec.kind)(spec, problem, assignment, i)
            check.question = question
            checks.append(check)
        out.problems.append((problem, checks))
    return out


def plan_backends(the_plan: Plan) -> list[str]:
    """The frameworks the planned checks run the submission with (what its process preloads)."""
    backends: list[str] = []
    for _problem, checks in the_plan.problems:
        for check in checks:
            for name in (check.backend_name, *check.spec.backend_choices):
                if name not in backends:
                    backends.append(name)
    return backends


def matchers_for(assignment: AssignmentSpec) -> list[QuestionMatcher]:
    return [QuestionMatcher(p.id, p.cells.markers, p.cells.comments, p.cells.headings, p.cells.tags)
            for p in assignment.problems]


def grade_submission(path: str | Path, assignment: AssignmentSpec, options: GradeOptions | None = None) -> Report:
    options = options or GradeOptions()
    started = time.monotonic()
    the_plan = plan(assignment, options)
    report = Report(assignment=assignment.name, submission=str(path), hidden_not_run=the_plan.hidden_not_run)
    try:
        cells = read_submission(path)
    except SubmissionError as exc:
        return _ungradable(report, the_plan, str(exc), started)

    by_hand = problems_for_grading_by_hand(cells, assignment, the_plan)
    coded = Plan([(p, c) for p, c in the_plan.problems if p.id not in by_hand], the_plan.hidden_not_run)
    job, notes, unmarked = build_job(path, cells, assignment, coded, options)
    _give_sources(cells, assignment, the_plan)
    report.notes.extend(notes)
    source = audit(cells)  # read before it runs: nothing the process says changes it
    for touch in source.touches:
        report.flag(REVIEW, f"its code reaches for the grader's channel or internals: {touch}")
    limits = Limits(memory_mb=options.memory_limit_mb or assignment.memory_limit_mb)
    launcher = options.launcher_factory(limits) if options.launcher_factory else Launcher(limits)  # type: ignore[operator]
    runner = ProcessRunner(launcher, limits)

    # The child runs while this thread prepares the expected side (importing frameworks overlaps).
    holder: dict[str, object] = {}

    def run() -> None:
        try:
            outcome = runner.run(job)
            reason = full_run_reason(job.slice_plan, _failures(cells, job, outcome)) if job.skip_statements else None
            if reason:
                # the trimmed run may have failed where the student's own run would not: run everything
                full = dataclasses.replace(job, skip_statements={})
                outcome = runner.run(full)
                holder["job"] = full
                holder["note"] = f"all of your code was run, because {reason}"
            holder["outcome"] = outcome
        except Exception as exc:  # the grader's side broke (a sandbox or fork server gone), not the student's code
            holder["error"] = f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    prepare_errors = _prepare_expected(the_plan)
    thread.join()
    job = holder.get("job", job)  # type: ignore[assignment]
    # informational, one short line per cell: with the report's notes, not in every question's box
    report.notes.extend(_skip_notes(cells, job).values())
    if holder.get("note"):
        report.notes.append(str(holder["note"]))
    outcome = holder.get("outcome")
    if not isinstance(outcome, RunOutcome):
        report.grader_error = str(holder.get("error") or "the runner stopped")
        outcome = RunOutcome(fatal=f"{RUNNER_LOST} ({report.grader_error})")

    if outcome.fatal and not outcome.cells and not report.grader_error:
        # no student code ran at all: the process could not even load the frameworks
        report.grader_error = outcome.fatal
    report.output = outcome.output
    if outcome.output_bytes > 64 * 1024:
        report.notes.append(f"your code printed {outcome.output_bytes / 1024:.0f} KB; only the start and end are kept")
    report.notes.extend(_skipped_hang_notes(cells, job, outcome))
    if outcome.busy_retries:
        report.notes.append(f"the grader's machine was busy: {len(outcome.busy_retries)} step(s) that ran out of "
                            "time were run once more (time limits count the CPU time your code uses)")
    setup_failures = _cell_failures(cells, job, outcome, question=None)
    report.notes.extend(setup_failures)
    for problem, checks in the_plan.problems:
        result = ProblemResult(problem.id, problem.title, problem.bonus, planned_points(checks))
        if problem.id in by_hand:
            report.problems.append(_by_hand(result, problem, checks, by_hand[problem.id]))
            continue
        cell_notes = _cell_failures(cells, job, outcome, question=problem.id)
        result.notes.extend(cell_notes)
        if problem.id in unmarked:
            result.notes.append(unmarked[problem.id])
        tampered = outcome.tampered_questions.get(problem.id)
        graded_as: list[str] = []
        for check in checks:
            if tampered:
                result.checks.append(check.result("error", tampered_message(tampered)))
                continue
            answers = [outcome.answers.get(r.id) or Answer(r.id, "not_run", message="not run")
                       for r in check.requests()]
            checked = _judge(check, answers, outcome, prepare_errors.get(check.key))
            if checked.status not in FAILING and check.spec.manual:  # the record saw nothing: the source may
                checked = _manual_in_source(check, audit(_cells_up_to(cells, job, problem.id))) or checked
            # conventions accepted on the way (a layout detected, float32 tolerance): said once per question
            for note in checked.details.get("notes", ()):
                if note not in result.notes:
                    result.notes.append(note)
            said = _resolutions(answers, job.entries.get(problem.id, {}))
            for text in said:
                if text not in graded_as:
                    graded_as.append(text)
            if said:
                checked.details["graded_as"] = said
                if checked.status in ("failed", "error", "timeout"):
                    # the message names the entry; say which of the student's definitions that was
                    checked.message += "".join(f"\nNote: {t[0].upper()}{t[1:]}." for t in said
                                               if t not in checked.message)
            result.checks.append(checked)
        result.notes.extend(t[0].upper() + t[1:] + "." for t in graded_as)
        if cell_notes:
            for c in result.checks:
                if c.status in ("failed", "error", "timeout") and cell_notes[0] not in c.message:
                    c.message += "\nNote: " + " ".join(cell_notes)
        report.problems.append(result)
    if outcome.fatal:
        report.notes.append(outcome.fatal)
    for note in outcome.tampering:
        report.flag(TAMPERING, f"broke the grader's protocol: {note}")
    report.duration_s = time.monotonic() - started
    bound_report(report)
    return report


def problems_for_grading_by_hand(cells: list[Cell], assignment: AssignmentSpec, the_plan: Plan) -> dict[str, str]:
    """Problem id -> why it is left for grading by hand: `grading = "by-hand"`, or "code-or-by-hand" and
    the submission has no cell of its own for it and defines none of its entries (answered on paper)."""
    out: dict[str, str] = {}
    owner = assign_questions(cells, matchers_for(assignment))
    defined = set(top_level_definitions(cells)[1])
    for problem, _ in the_plan.problems:
        if problem.grading == "by-hand":
            out[problem.id] = "this problem is graded by hand"
        elif problem.grading == "code-or-by-hand":
            own = any(q == problem.id for q in owner.values())
            names = set(problem.entries) | {a for info in problem.names.values() for a in info.aliases}
            if not own and not (names & defined):
                out[problem.id] = f"your submission has no code for {problem.id} (answered on paper?)"
    return out


def _by_hand(result: ProblemResult, problem: ProblemSpec, checks: list[Check], why: str) -> ProblemResult:
    """Checks `skipped`, no points awarded here (they stay in the maximum), and what code would be graded."""
    from adgrade.resolve import call_words

    reference = checks[0].assignment.reference if checks else None
    calls = "; ".join(call_words(problem, e, reference) for e in problem.entries)
    result.by_hand = True
    result.notes.append(
        f"Left for your instructor to grade by hand: {why}. Its points are not awarded here (neither 0 nor "
        f"full marks: the instructor adds them)." + (f" To have it checked automatically, write {calls} in a "
                                                     f"cell marked {marking_words(problem)}." if calls else ""))
    for check in checks:
        wanted = "; ".join(call_words(problem, e, reference) for e in check.entries_needed() if e)
        result.checks.append(check.result(
            "skipped", f"not graded here: {why}; left for your instructor to grade by hand."
                       + (f" Graded automatically, it would call {wanted}." if wanted else "")))
    return result


def marking_words(problem: ProblemSpec) -> str:
    """How this problem set marks a question's cells, in its own words (never another course's)."""
    ways = []
    if problem.cells.headings:
        ways.append(f"by a heading such as \"{problem.cells.headings[0]}\"")
    if problem.cells.comments:
        ways.append(f"by a first comment line `# {problem.cells.comments[0]}`")
    if problem.cells.markers:
        ways.append(f"(in a .py file) by `# %% {problem.cells.markers[0]}`")
    if problem.cells.tags:
        ways.append(f"by the cell tag `{problem.cells.tags[0]}`")
    return ", ".join(ways[:-1]) + (" or " if len(ways) > 1 else "") + ways[-1] if ways else f"`# %% {problem.id}`"


def _resolutions(answers: list[Answer], plans: dict[str, dict]) -> list[str]:
    """What was graded as what, in the student's words, from the answers' plain data."""
    out: list[str] = []
    for answer in answers:
        for info in answer.resolved:
            text = describe_resolution(info, plans.get(str(info.get("entry"))))
            if text not in out:
                out.append(text)
    return out


def entry_plans(assignment: AssignmentSpec, the_plan: Plan, cells: list[Cell],
                owner: dict[int, str | None]) -> dict[str, dict[str, dict]]:
    """For every planned question, the candidates of each entry, read from that question's own cells."""
    reference = reference_signatures(assignment.reference) if assignment.reference else {}
    entries = {e for p in assignment.problems for e in p.entries}
    aliases = differentiating_aliases([c.source for c in cells if c.kind == "code"])
    plans = {}
    every_cell = [(c.label, c.source) for c in cells if c.kind == "code"]
    for problem, checks in the_plan.problems:
        sources = [(c.label, c.source) for c in cells if c.kind == "code" and owner.get(c.index) == problem.id]
        # a question with no cell of its own (merged into another's: `# %% e4 + e5`) is graded with the
        # definitions at the end of the file: its candidates are read from every cell
        plans[problem.id] = plan_question(entry_needs(problem, checks, reference), sources or every_cell,
                                          set(assignment.given_code), aliases, others=entries,
                                          own_sources=bool(sources))
    # an entry several problems share (p2c times p2a's and p2b's functions) may stand for what the
    # problem that asks for it found in its own cells
    found: dict[str, list[dict]] = {}
    for by_entry in plans.values():
        for entry, entry_plan in by_entry.items():
            for cand in entry_plan["candidates"][1:]:
                if cand not in found.setdefault(entry, []):
                    found[entry].append(cand)
    for by_entry in plans.values():
        for entry, entry_plan in by_entry.items():
            entry_plan["candidates"] += [c for c in found.get(entry, ()) if c not in entry_plan["candidates"]]
    return plans


def planned_points(checks: list[Check]) -> float:
    """A problem's maximum is what its planned checks are worth: hidden checks left out of a student's
    own check leave the maximum too (the spec guarantees all checks add up to the problem's points)."""
    return sum(float(c.spec.points or 0.0) for c in checks)


def _ungradable(report: Report, the_plan: Plan, message: str, started: float) -> Report:
    report.error = message
    for problem, checks in the_plan.problems:
        result = ProblemResult(problem.id, problem.title, problem.bonus, planned_points(checks))
        for check in checks:
            result.checks.append(check.result("error", message))
        report.problems.append(result)
    report.duration_s = time.monotonic() - started
    return report


def build_job(path: str | Path, cells: list[Cell], assignment: AssignmentSpec, the_plan: Plan,
              options: GradeOptions) -> tuple[Job, list[str], dict[str, str]]:
    notes: list[str] = []
    for cell in cells:
        notes.extend(f"{cell.label}: {n}" for n in cell.notes)
    owner = assign_questions(cells, matchers_for(assignment))
    planned = [p.id for p, _ in the_plan.problems]
    ends = question_ends(cells, owner, [p.id for p in assignment.problems])
    code_cells = [c for c in cells if c.kind == "code"]
    unmarked: dict[str, str] = {}
    if code_cells and all(ends.get(q) is None for q in planned) and len(code_cells) >= 1:
        if any(p.cells.markers or p.cells.comments or p.cells.headings or p.cells.tags for p, _ in the_plan.problems):
            first = the_plan.problems[0][0]
            notes.append(f"no question markers were found (for {first.id}, for example, mark its cells "
                         f"{marking_words(first)}); every question is graded with the definitions at the end "
                         f"of the file")
    else:
        for problem, _ in the_plan.problems:
            q = problem.id
            if ends.get(q) is None:
                unmarked[q] = (f"no cell was found for {q}; it was graded with the definitions at the end of "
                               f"the file (mark its cells {marking_words(problem)})")
    name = Path(path).name
    is_notebook = Path(path).suffix == ".ipynb"
    job_cells = [
        {"index": c.index, "source": c.source, "first_line": c.first_line, "label": c.label,
         "filename": f"{name} {c.label}" if is_notebook else name}
        for c in code_cells
    ]
    scale = time_scale()
    limit_of = {p.id: (options.time_limit or p.time_limit * scale) for p in assignment.problems}
    schedule: list[tuple[str, object]] = []
    ending_at: dict[int | None, list[str]] = {}
    for q in planned:
        ending_at.setdefault(ends.get(q), []).append(q)
    for c in code_cells:
        schedule.append(("cell", c.index))
        for q in ending_at.get(c.index, []):
            schedule.append(("question", q))
    for q in ending_at.get(None, []):
        schedule.append(("question", q))
    requests: dict[str, list[dict]] = {}
    request_limits: dict[str, float] = {}
    for problem, checks in the_plan.problems:
        reqs = requests.setdefault(problem.id, [])
        for check in checks:
            for r in check.requests():
                reqs.append(r.to_plain())
                request_limits[r.id] = options.time_limit or (r.time_limit * scale if r.time_limit else
                                                              limit_of[problem.id])
    cell_limits = {c.index: (limit_of[owner[c.index]] if owner.get(c.index) else assignment.setup_time_limit * scale)
                   for c in code_cells}
    entries = entry_plans(assignment, the_plan, cells, owner)
    slice_plan = _plan_slice(code_cells, owner, ends, the_plan, entries)
    backends = plan_backends(the_plan)
    watch: set[str] = set()
    for problem, checks in the_plan.problems:
        for check in checks:
            watch.update(check.spec.forbid)
            if check.spec.require:
                from adgrade.requirements import watched_names

                watch.update(watched_names(check.spec.require))
    job = Job(
        submission=name,
        cells=job_cells,
        schedule=schedule,
        requests=requests,
        backends=backends,
        cell_time_limit=cell_limits,
        request_time_limit=request_limits,
        setup_time_limit=max(assignment.setup_time_limit, 30.0) * scale,
        cell_question={c.index: owner.get(c.index) for c in code_cells},
        watch=sorted(watch),
        skip_statements={c: list(s) for c, s in slice_plan.skip.items()} if options.slicing else {},
        skippable={c: [s.index for s in stmts if not slice_plan.is_needed(c, s.index)]
                   for c, stmts in slice_plan.statements.items()},
        statement_labels={c.index: {s.index: statement_label(s, c.first_line)
                                    for s in slice_plan.statements.get(c.index, [])} for c in code_cells},
        slice_plan=slice_plan,
        entries=entries,
        stage=options.stage,
    )
    return job, notes, unmarked


def _give_sources(cells: list[Cell], assignment: AssignmentSpec, the_plan: Plan) -> None:
    """Each check sees the code cells in force at the end of its question (for facts read from the source)."""
    owner = assign_questions(cells, matchers_for(assignment))
    ends = question_ends(cells, owner, [p.id for p in assignment.problems])
    code = [c for c in cells if c.kind == "code"]
    for problem, checks in the_plan.problems:
        end = ends.get(problem.id)
        in_force = [c for c in code if end is None or c.index <= end]
        for check in checks:
            check.sources = in_force


def _plan_slice(code_cells: list[Cell], owner: dict[int, str | None], ends: dict[str, int | None],
                the_plan: Plan, entries: dict[str, dict[str, dict]] | None = None) -> SlicePlan:
    """Which statements the planned checks need, each question from the end of its own cells (the
    student's definitions that may stand for an entry included: resolve.candidate_names)."""
    questions = []
    for problem, checks in the_plan.problems:
        own = {c.index for c in code_cells if owner.get(c.index) == problem.id}
        roots = check_roots(problem.entries, checks)
        if roots is not None:
            roots |= candidate_names((entries or {}).get(problem.id, {}))
        questions.append(Question(ends.get(problem.id), roots, own, run_all=not problem.slice))
    return plan_slice([(c.index, c.source) for c in code_cells], questions)


def _failures(cells: list[Cell], job: Job, outcome: RunOutcome) -> list[tuple[str, dict]]:
    """(where, error) of every cell that raised and every check call that failed, for the fallback."""
    labels = {c.index: c.label for c in cells}
    out: list[tuple[str, dict]] = []
    for index, cell_outcome in sorted(outcome.cells.items()):
        if cell_outcome.status == "error" and cell_outcome.error:
            out.append((f"when your code at {labels.get(index, index)} ran", cell_outcome.error))
    for rid, answer in sorted(outcome.answers.items()):
        if answer.status in ("error", "missing") and answer.error:
            out.append((f"when a check of {rid.split('/')[0]} called your code", answer.error))
    return out


def _skip_notes(cells: list[Cell], job: Job) -> dict[int, str]:
    plan = job.slice_plan
    if plan is None or not job.skip_statements:
        return {}
    shown = dataclasses.replace(plan, skip=job.skip_statements)
    return skipped_notes(shown, {c.index: c.label for c in cells}, {c.index: c.first_line for c in cells})


def _skipped_hang_notes(cells: list[Cell], job: Job, outcome: RunOutcome) -> list[str]:
    labels = {c.index: c.label for c in cells}
    return [f"your code at {labels.get(s.cell, s.cell)} was stopped: {s.message}. No check needs what it "
            f"computes, so it was left out and the rest ran" for s in outcome.skipped_statements]


def time_scale() -> float:
    """ADGRADE_TIME_SCALE multiplies every time limit of the problem sets (a slow or shared machine)."""
    try:
        value = float(os.environ.get("ADGRADE_TIME_SCALE", "1") or 1)
    except ValueError:
        return 1.0
    return value if value > 0 else 1.0


def _prepare_expected(the_plan: Plan) -> dict[str, str]:
    errors = {}
    for _, checks in the_plan.problems:
        for check in checks:
            prepare = getattr(check, "prepare", None)
            if prepare is None:
                continue
            try:
                prepare()
            except Exception as exc:
                errors[check.key] = f"{type(exc).__name__}: {exc}"
    return errors


def _judge(check: Check, answers: list[Answer], outcome: RunOutcome, prepare_error: str | None) -> CheckResult:
    if prepare_error:
        return check.result("error", "the problem set's expected side failed (a bug in the problem set, not "
                                     f"in your work; tell your instructor): {prepare_error}")
    if outcome.fatal and all(a.status == "not_run" for a in answers):
        return check.result("error", outcome.fatal)
    too_large = oversized(check, answers)
    if too_large:
        return check.result("failed", too_large)
    try:
        return check.judge(answers)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        return check.result("error", f"the grader failed while judging this check ({type(exc).__name__}: {exc}); "
                                     "this is a grader bug, please report it")


def _cells_up_to(cells: list[Cell], job: Job, question: str) -> list[Cell]:
    """The cells that have run when the question's checks are asked (its definitions as graded)."""
    ran: set[int] = set()
    for kind, key in job.schedule:
        if kind == "question" and key == question:
            break
        if kind == "cell":
            ran.add(key)
    return [c for c in cells if c.index in ran]


def _manual_in_source(check: Check, source: Audit) -> CheckResult | None:
    """A "manual" entry whose source reaches autodiff fails, whatever its process reported of the calls
    it made (aliases and private modules included: audit.py)."""
    if not check.spec.manual:
        return None
    entries = [check.spec.entry] if check.spec.entry else list(check.problem.entries)
    found = [f for entry in entries for f in source.autodiff_reach(entry)]
    if not found:
        return None
    shown = "; ".join(str(f) for f in found[:3]) + (f" (and {len(found) - 3} more)" if len(found) > 3 else "")
    return check.result("failed", f"{check.subject} must compute the derivative by hand, but its code reaches "
                                  f"automatic differentiation: {shown}. Write out the derivative yourself.")


def _cell_failures(cells: list[Cell], job: Job, outcome: RunOutcome, question: str | None) -> list[str]:
    by_index = {c.index: c for c in cells}
    out = []
    for index, cell_outcome in sorted(outcome.cells.items()):
        if cell_outcome.status == "ok" or job.cell_question.get(index) != question:
            continue
        cell = by_index.get(index)
        label = cell.label if cell else f"cell {index}"
        if cell_outcome.status == "error":
            out.append(f"your code at {label} did not run to the end: {explain_error(cell_outcome.error)}")
        else:
            out.append(f"your code at {label} was stopped: {cell_outcome.message}")
    return out


# -- which assignment is this? ---------------------------------------------------------------

def defined_names(path: str | Path) -> set[str]:
    """Top-level names a submission defines, read without running it."""
    try:
        cells = read_submission(path)
    except SubmissionError:
        return set()
    return set(top_level_definitions(cells)[1])


def guess_assignment(path: str | Path, candidates: Iterable[AssignmentSpec]) -> tuple[AssignmentSpec | None, str]:
    """The one assignment whose entry names the submission defines best, or None and why."""
    names = defined_names(path)
    scored = []
    for spec in candidates:
        entries = {e for p in spec.problems for e in p.entries}
        if entries:
            scored.append((len(entries & names) / len(entries), spec))
    if not scored:
        return None, "no assignment declares entry names"
    best = max(s for s, _ in scored)
    top = [spec for s, spec in scored if s == best]
    if best < 0.5:
        return None, f"it defines too few of any assignment's entry names (best match {best:.0%})"
    if len(top) > 1:
        return None, f"it matches several assignments equally: {', '.join(s.name for s in top)}"
    return top[0], f"it defines {best:.0%} of {top[0].name}'s entry names"
