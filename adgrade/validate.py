"""`adgrade validate`: is a problem set right before anyone is graded with it?

1. every analytic solution agrees with autodiff of its function on every
   backend the check names (autograd, JAX and PyTorch by default), and every
   independent example value is reproduced;
2. the assignment's reference solution scores full marks (bonus included).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adgrade.engine import GradeOptions, grade_submission, plan
from adgrade.report import scores
from adgrade.spec import AssignmentSpec


@dataclass
class ValidationResult:
    assignment: str
    problems: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_assignment(spec: AssignmentSpec, grade_reference: bool = True) -> ValidationResult:
    result = ValidationResult(spec.name)
    result.lines.append(f"[bold]{spec.name}[/]: {spec.title}")
    the_plan = plan(spec, GradeOptions(include_hidden=True))
    for problem, checks in the_plan.problems:
        for check in checks:
            try:
                found = check.validate()
            except Exception as exc:  # a broken expected side is exactly what validate is for
                found = [f"{problem.id} / {check.name()}: validating raised {type(exc).__name__}: {exc}"]
            result.problems.extend(found)
            mark = "[red]✗[/]" if found else "[green]✓[/]"
            result.lines.append(f"  {mark} {problem.id}: {check.name()}")
            result.lines.extend(f"      [red]{line}[/]" for line in found)
    if grade_reference:
        if spec.reference is None:
            result.problems.append(f"{spec.name}: no reference solution declared ([assignment].reference)")
            result.lines.append("  [red]✗ no reference solution declared[/]")
        else:
            report = grade_submission(spec.reference, spec, GradeOptions(include_hidden=True))
            full = sum(p.max_score for p in report.problems)
            ok = report.status == "passed" and abs(report.score - full) < 1e-9
            mark = "[green]✓[/]" if ok else "[red]✗[/]"
            full_marks = scores.total(full, report.max_score, full - report.max_score)
            result.lines.append(f"  {mark} reference {spec.reference.name} scores {scores.report_total(report)}"
                                + ("" if ok else f"; full marks are {full_marks}"))
            if not ok:
                for p, c in report.checks():
                    if c.status not in ("passed", "inconclusive", "skipped", "warning"):
                        line = f"reference fails {p.id} / {c.name}: {c.message}"
                        result.problems.append(line)
                        result.lines.append(f"      [red]{line}[/]")
                if report.error:
                    result.problems.append(f"reference could not be graded: {report.error}")
    verdict = "[green]valid[/]" if result.ok else f"[red]{len(result.problems)} problem(s)[/]"
    result.lines.append(f"  {spec.name}: {verdict}")
    return result
