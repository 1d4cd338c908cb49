"""`adgrade export-student`: what students receive for an assignment.

The student copy of a problem set has no hidden checks, no reference
solution, and no analytic solutions: for every call check the grader's
inputs and expected values are computed here and frozen into
`expected.json`, and the functions that only served to compute them are
removed from `functions.py`. A starter submission goes beside it.
"""

from __future__ import annotations

import ast
import json
import tomllib
from pathlib import Path
from typing import Any

from adgrade.checks.calls import CallCheck
from adgrade.engine import GradeOptions, plan
from adgrade.runner import protocol
from adgrade.spec import AssignmentSpec, parse_assignment
from adgrade.starter import write_starter

#: fields of a call check that only feed the expected side (replaced by frozen data)
EXPECTED_SIDE = ("inputs", "expected", "function", "analytic", "examples", "backends_validate")


def export_student(spec: AssignmentSpec, dest: Path, starter: str = "py") -> list[Path]:
    raw = tomllib.loads(spec.source.read_text(encoding="utf-8"))
    out_dir = dest / "problems" / spec.name
    out_dir.mkdir(parents=True, exist_ok=True)
    the_plan = plan(spec, GradeOptions(include_hidden=True))
    checks = {check.key: check for _, cs in the_plan.problems for check in cs}

    frozen: dict[str, dict] = {}
    hidden = 0
    problems_out = []
    for p_index, problem in enumerate(raw["problems"]):
        kept = []
        points = 0.0
        for c_index, table in enumerate(problem["checks"]):
            if table.get("hidden"):
                hidden += 1
                continue
            key = f"{problem['id']}/{c_index}"
            check = checks[key]
            new_key = f"{problem['id']}/{len(kept)}"
            table = dict(table)
            if isinstance(check, CallCheck) and not table.get("judge"):
                check.prepare()
                frozen[new_key] = {
                    "inputs": [protocol.encode(list(args)) for args in check.raw_inputs()],  # test functions by name
                    "expected": [protocol.encode(e) for e in check._expected],
                }
                for name in EXPECTED_SIDE:
                    table.pop(name, None)
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
    (out_dir / "expected.json").write_text(json.dumps(frozen), encoding="utf-8")
    (out_dir / "assignment.toml").write_text(
        "# Student copy made by `adgrade export-student`: no hidden checks, no reference solution;\n"
        "# the expected values are frozen in expected.json.\n\n"
        + dump_toml({"assignment": head, "problems": problems_out}), encoding="utf-8")
    still_used = _names_in(head) | _names_in(problems_out)
    (out_dir / "functions.py").write_text(_strip_functions(spec.functions_path.read_text(encoding="utf-8"),
                                                            still_used), encoding="utf-8")
    starter_path = write_starter(spec, dest / f"{spec.name.replace('-', '_')}.{'ipynb' if starter == 'ipynb' else 'py'}")
    parse_assignment(out_dir)  # the copy must load: fail here, not in a student's hands
    return [out_dir / "assignment.toml", out_dir / "functions.py", out_dir / "expected.json", starter_path]


def _names_in(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(_names_in(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_names_in(v) for v in value)) if value else set()
    return set()


def _strip_functions(source: str, used: set[str]) -> str:
    """Drop top-level functions nothing kept refers to (directly, or from a kept function's body)."""
    tree = ast.parse(source)
    defs = {node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    keep = {name for name in defs if name in used}
    frontier = list(keep)
    while frontier:  # helpers called by kept functions stay too
        node = defs[frontier.pop()]
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and sub.id in defs and sub.id not in keep:
                keep.add(sub.id)
                frontier.append(sub.id)
    # module-level code that refers to a function (e.g. a table of them) keeps it as well
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and sub.id in defs:
                    keep.add(sub.id)
    lines = source.splitlines(keepends=True)
    drop: set[int] = set()
    for name, node in defs.items():
        if name in keep:
            continue
        start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
        drop.update(range(start, node.end_lineno))  # type: ignore[arg-type]
    return "".join(line for i, line in enumerate(lines) if i not in drop)


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
