"""`adgrade export-student`: what students receive for an assignment.

The student copy of a problem set holds no code that computes an answer:

- no hidden checks, no reference solution;
- every trusted function (expected values, analytic solutions, known mistakes, limits, layer
  shapes, bounds ...) is replaced by the results of the calls the grader makes on the copy's
  *practice* inputs (adgrade/frozen.py), stored with the inputs in `expected.json`;
- `functions.py` keeps only what runs in the student's process (wrappers, the function handed
  to a numerical gradient, timing inputs) or reads only the student's data (a custom metric, a
  judge marked `judge_in_copy`), and the helpers those call;
- a judge not marked `judge_in_copy` stays out: the copy compares with the frozen values at the
  check's `rtol`/`atol`.

Practice inputs come from their own seed stream, so the copy's answers are not the graded ones;
fixed inputs (the course's printed examples, inline `inputs`) are the same in both.
Everything is built and loaded in a temporary folder first: a refusal names the check and what
to change, and leaves nothing behind.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from adgrade.cells import parse_source
from adgrade.checks.base import Check
from adgrade.engine import GradeOptions, plan
from adgrade.frozen import Recorder, collect_misses
from adgrade.runner import protocol
from adgrade.spec import FUNCTION_FIELDS, AssignmentSpec, SpecError
from adgrade.spec_parse import parse_assignment
from adgrade.starter import write_starter

COPY_HEADER = ("# Student copy made by `adgrade export-student`: only the code that runs in your own process\n"
               "# (wrappers around your functions) or reads only your answers. The grader's expected values\n"
               "# are frozen in expected.json, at practice inputs.\n")
#: fields only `adgrade validate` reads (independent examples, backends to differentiate with)
VALIDATE_ONLY = ("examples", "backends_validate")


class CopyError(SpecError):
    """A problem set that cannot be put in a student copy as it is; the message says what to change."""


def export_student(spec: AssignmentSpec, dest: Path, starter: str = "py") -> list[Path]:
    """Write the student copy of `spec` and a starter into `dest`; all or nothing."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.adgrade-", dir=dest.parent))
    try:
        written = _build(spec, staging, starter)  # raises before anything reaches `dest`
        (dest / "problems").mkdir(parents=True, exist_ok=True)
        target = dest / "problems" / spec.name
        if target.exists():  # an earlier copy: moved aside, deleted with the staging folder
            target.rename(staging / "previous")
        (staging / "problems" / spec.name).rename(target)
        starter_path = written[-1]
        (staging / starter_path).replace(dest / starter_path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [dest / p for p in written]


def _build(spec: AssignmentSpec, root: Path, starter: str) -> list[Path]:
    raw = tomllib.loads(spec.source.read_text(encoding="utf-8"))
    trusted = parse_assignment(spec.root)  # a private instance: its functions get recorded
    module = trusted.functions
    the_plan = plan(trusted, GradeOptions(include_hidden=True))
    checks = {check.key: check for _, cs in the_plan.problems for check in cs}

    frozen: dict[str, dict] = {}
    code: set[str] = set()  # names of functions.py the copy keeps as code
    hidden = 0
    problems_out = []
    for problem in raw["problems"]:
        kept = []
        points = 0.0
        for c_index, table in enumerate(problem["checks"]):
            if table.get("hidden"):
                hidden += 1
                continue
            check = checks[f"{problem['id']}/{c_index}"]
            new_key = f"{problem['id']}/{len(kept)}"
            table, data, names = _freeze(check, dict(table), module, trusted)
            frozen[new_key] = data
            code |= names
            points += float(check.spec.points or 0.0)
            if not table.get("warning"):
                table["points"] = float(check.spec.points or 0.0)
            kept.append(table)
        if not kept:
            continue
        problem = dict(problem)
        problem["checks"] = kept
        problem["points"] = points
        problems_out.append(problem)

    head = dict(raw["assignment"])
    head.pop("reference", None)
    head["frozen"] = "expected.json"
    if hidden:
        head["hidden_checks"] = hidden
    out_dir = root / "problems" / spec.name
    out_dir.mkdir(parents=True)
    (out_dir / "expected.json").write_text(json.dumps(frozen), encoding="utf-8")
    (out_dir / "assignment.toml").write_text(
        "# Student copy made by `adgrade export-student`: no hidden checks, no reference solution, no code\n"
        "# that computes an answer. The grader's expected values and diagnoses are frozen in expected.json,\n"
        "# at practice inputs (grading uses others).\n\n"
        + dump_toml({"assignment": head, "problems": problems_out}), encoding="utf-8")
    (out_dir / "functions.py").write_text(_strip_functions(spec.functions_path.read_text(encoding="utf-8"), code),
                                          encoding="utf-8")
    starter_name = f"{spec.name.replace('-', '_')}.{'ipynb' if starter == 'ipynb' else 'py'}"
    write_starter(spec, root / starter_name)
    _verify(spec, out_dir)
    return [Path("problems", spec.name, "assignment.toml"), Path("problems", spec.name, "functions.py"),
            Path("problems", spec.name, "expected.json"), Path(starter_name)]


def _where(check: Check) -> str:
    return f"{check.assignment.source}: {check.spec.where} ({check.problem.id}: {check.name()})"


def _freeze(check: Check, table: dict, module: Any, trusted: AssignmentSpec) -> tuple[dict, dict, set[str]]:
    """The copy's table of one check, its frozen data, and the names it keeps as code."""
    spec = check.spec
    if not check.student_copy:
        raise CopyError(f"{_where(check)}: a {spec.kind!r} check cannot be judged in a student copy; "
                        f"mark it `hidden = true` (it then runs only when you grade)")
    code = _function_names([_field(spec, f) for f in check.student_side], module)
    if spec.judge and spec.judge_in_copy:
        code.add(spec.judge)
    elif spec.judge:
        has_expected = spec.expected or spec.function or spec.analytic
        if not has_expected:
            raise CopyError(f"{_where(check)}: its judge `{spec.judge}` never goes into a student copy (a judge may "
                            f"compute the answer), and without it the check has nothing to compare with. If the "
                            f"judge only reads the answer's plain data (shapes, types) and computes no answer, "
                            f"add `judge_in_copy = true`; else give the check `expected` (or `function`/"
                            f"`analytic`) and `rtol`/`atol`, or mark it `hidden = true`.")
        if spec.rtol is None and spec.atol is None:
            raise CopyError(f"{_where(check)}: its judge `{spec.judge}` never goes into a student copy (a judge may "
                            f"compute the answer); the copy compares with the frozen expected values instead. Say "
                            f"how closely with `rtol` and/or `atol` (the judge's own tolerance), or add "
                            f"`judge_in_copy = true` if the judge computes no answer.")
        table.pop("judge", None)
    for name in VALIDATE_ONLY:
        table.pop(name, None)

    check.stream = "practice"  # the copy's inputs are not the graded ones
    check._inputs = None
    data: dict[str, Any] = {"stream": "practice"}
    try:
        check.inputs()
        if not (isinstance(spec.inputs, str) and spec.inputs in code):
            # test functions are named by the check, not frozen: the copy puts them in front again
            data["inputs"] = [protocol.encode(list(args)) for args in check.raw_inputs()]
        recorder = Recorder(module)
        trusted._functions = recorder  # type: ignore[assignment]
        try:
            check.rehearse()
            data.update(check.frozen_values())
        finally:
            trusted._functions = module
    except CopyError:
        raise
    except Exception as exc:
        raise CopyError(f"{_where(check)}: its expected side raised {type(exc).__name__} on the practice inputs: "
                        f"{exc}. Run `adgrade validate` on the problem set.") from None
    named = _function_names([_field(spec, f) for f in ("inputs",) + FUNCTION_FIELDS]
                            + [m.function for m in spec.mistakes] + list(spec.options.values()), module)
    if not spec.judge_in_copy:
        named.discard(spec.judge or "")
    data["calls"] = {name: recorder.calls.get(name, {}) for name in sorted(named - code)}
    return table, data, code


def _field(spec: Any, name: str) -> Any:
    return getattr(spec, name) if hasattr(spec, name) and name != "options" else spec.options.get(name)


def _function_names(values: list, module: Any) -> set[str]:
    """The strings among `values` (searched through lists and tables) that name functions of functions.py."""
    out: set[str] = set()
    for value in values:
        if isinstance(value, str):
            if callable(getattr(module, value, None)):
                out.add(value)
        elif isinstance(value, dict):
            out |= _function_names(list(value.values()), module)
        elif isinstance(value, (list, tuple)):
            out |= _function_names(list(value), module)
    return out


def _verify(spec: AssignmentSpec, out_dir: Path) -> None:
    """The copy must load, and its trusted side must run from the frozen tables alone, here."""
    try:
        copy = parse_assignment(out_dir)
    except SpecError as exc:
        raise CopyError(f"the student copy of {spec.name} would not load: {exc}") from None
    the_plan = plan(copy, GradeOptions(include_hidden=True))
    for _, checks in the_plan.problems:
        for check in checks:
            with collect_misses() as misses:
                try:
                    check.rehearse()
                except Exception as exc:
                    misses.append(f"{type(exc).__name__}: {exc}")
            if misses:
                raise CopyError(f"{spec.source}: {check.problem.id} ({check.name()}): the student copy cannot judge "
                                f"this check from frozen values ({misses[0]}). Mark it `hidden = true`, or make "
                                f"its trusted functions take plain data (numbers, arrays, lists).")


def _strip_functions(source: str, keep_names: set[str]) -> str:
    """Keep the functions named (and the top-level functions and classes they use); drop every other."""
    tree = parse_source(source)
    if tree is None:
        raise ValueError("the reference solution does not parse: run it with python to see the error")
    defs = {node.name: node for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    keep = {name for name in defs if name in keep_names}
    frontier = list(keep)
    while frontier:  # helpers called by kept functions stay too
        node = defs[frontier.pop()]
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and sub.id in defs and sub.id not in keep:
                keep.add(sub.id)
                frontier.append(sub.id)
    lines = source.splitlines(keepends=True)
    drop: set[int] = set()
    for name, node in defs.items():
        if name in keep:
            continue
        start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
        while start > 0 and lines[start - 1].lstrip().startswith("#"):
            start -= 1  # the comment right above a dropped function may state its formula
        drop.update(range(start, node.end_lineno))  # type: ignore[arg-type]
    # module-level code that refers to a dropped function (a table of them, a value computed at import)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if any(isinstance(sub, ast.Name) and sub.id in defs and sub.id not in keep for sub in ast.walk(node)):
            drop.update(range(node.lineno - 1, node.end_lineno))  # type: ignore[arg-type]
    kept = COPY_HEADER + "".join(line for i, line in enumerate(lines) if i not in drop)
    return re.sub(r"\n{4,}", "\n\n\n", kept)  # no holes where the dropped functions were


# -- a small TOML writer for the shapes assignment.toml uses ---------------------------------

def dump_toml(data: dict) -> str:
    out: list[str] = []
    _table(out, [], data)
    return "\n".join(out).strip() + "\n"


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _table(out: list[str], path: list[str], table: dict) -> None:
    simple = {k: v for k, v in table.items() if not isinstance(v, dict) and not _is_table_array(v) and v is not None}
    for key, value in simple.items():
        out.append(f"{_key(key)} = {_value(value)}")
    for key, value in table.items():
        if isinstance(value, dict):
            out.append("")
            out.append(f"[{'.'.join(map(_key, path + [key]))}]")
            _table(out, path + [key], value)
        elif _is_table_array(value):
            for item in value:
                out.append("")
                out.append(f"[[{'.'.join(map(_key, path + [key]))}]]")
                _table(out, path + [key], item)


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")
