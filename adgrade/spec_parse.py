"""Reading a problem set: `assignment.toml`'s tables into spec.py's dataclasses, `functions.py` loaded, and
every name a check gives checked against it.

Every error names the file and the field (`problems[2].checks[0].inputs`) so an instructor can fix a
broken spec from the message alone. The format is described in docs/spec-format.md.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from adgrade.spec import (BACKEND_NAMES_BUILTIN, CHOOSING_KINDS, FUNCTION_FIELDS, GRADING_MODES, AssignmentSpec,
                          CellSpec, CheckSpec, Conventions, EntryInfo, Layout, LayoutChoice, Mistake, ProblemSpec,
                          SpecError)


class _Fields:
    """Read typed fields of one TOML table, naming the field on error."""

    def __init__(self, source: Path, where: str, table: Any):
        self.source = source
        self.where = where
        if not isinstance(table, dict):
            self.fail("", f"expected a table, got {type(table).__name__}")
        self.table = dict(table)
        self.used: set[str] = set()

    def fail(self, key: str, message: str) -> None:
        location = ".".join(p for p in (self.where, key) if p)
        raise SpecError(f"{self.source}: {location}: {message}")

    def get(self, key: str, types: type | tuple, default: Any = ..., *, choices: tuple | None = None) -> Any:
        self.used.add(key)
        if key not in self.table:
            if default is ...:
                self.fail(key, "this field is required")
            return default
        value = self.table[key]
        if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            self.fail(key, f"expected {_type_words(types)}, got a boolean")
        if not isinstance(value, types):
            self.fail(key, f"expected {_type_words(types)}, got {value!r}")
        if choices is not None and value not in choices:
            self.fail(key, f"must be one of {', '.join(map(str, choices))}; got {value!r}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.get(key, (list, str), [])
        if isinstance(value, str):
            value = [value]
        if not all(isinstance(v, str) for v in value):
            self.fail(key, "expected a list of strings")
        return tuple(value)

    def extra(self) -> dict[str, Any]:
        return {k: v for k, v in self.table.items() if k not in self.used}


def _type_words(types: type | tuple) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             list: "a list", dict: "a table"}
    types = types if isinstance(types, tuple) else (types,)
    if int in types and float in types:
        types = tuple(t for t in types if t is not int)
    return " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in types))


def parse_assignment(root: Path) -> AssignmentSpec:
    source = root / "assignment.toml"
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{source}: file not found: a problem set needs an assignment.toml") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{source}: not valid TOML: {exc}") from None
    top = _Fields(source, "", data)
    head = _Fields(source, "assignment", top.get("assignment", dict))
    name = head.get("name", str)
    if name != root.name:
        head.fail("name", f"must equal the folder name {root.name!r}, got {name!r}")
    backend = head.get("backend", str, "numpy")
    reference = head.get("reference", str, "")
    functions_file = root / head.get("functions", str, "functions.py")
    spec = AssignmentSpec(
        name=name,
        title=head.get("title", str, name),
        root=root,
        source=source,
        functions_path=functions_file,
        backend=backend,
        reference=(root / reference).resolve() if reference else None,
        time_limit=float(head.get("time_limit", (int, float), 10.0)),
        setup_time_limit=float(head.get("setup_time_limit", (int, float), 60.0)),
        memory_limit_mb=head.get("memory_limit_mb", int, 4096),
        seed=head.get("seed", int, 0),
        x64=head.get("x64", bool, True),
    )
    if spec.reference is not None and not spec.reference.is_file():
        head.fail("reference", f"file {spec.reference} does not exist")
    spec.hidden_checks = head.get("hidden_checks", int, 0)
    spec.given_code = head.strings("given_code")
    frozen = head.get("frozen", str, "")
    if frozen:
        spec.frozen = _load_frozen(source, root / frozen)
    for key in head.extra():
        head.fail(key, "unknown field (see docs/spec-format.md)")
    problems = top.get("problems", list)
    if not problems:
        top.fail("problems", "a problem set needs at least one [[problems]] table")
    seen: set[str] = set()
    for i, table in enumerate(problems):
        problem = _parse_problem(source, f"problems[{i}]", table, spec)
        if problem.id in seen:
            raise SpecError(f"{source}: problems[{i}].id: duplicate problem id {problem.id!r}")
        seen.add(problem.id)
        spec.problems.append(problem)
    _check_references(spec)
    return spec


def _load_frozen(source: Path, path: Path) -> dict[str, dict]:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{source}: assignment.frozen: file {path} does not exist") from None
    except ValueError as exc:
        raise SpecError(f"{source}: assignment.frozen: {path.name} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise SpecError(f"{source}: assignment.frozen: {path.name} must map check keys to tables")
    return data


def _parse_problem(source: Path, where: str, table: Any, assignment: AssignmentSpec) -> ProblemSpec:
    f = _Fields(source, where, table)
    problem = ProblemSpec(
        id=f.get("id", str),
        title=f.get("title", str, ""),
        points=float(f.get("points", (int, float), 1)),
        where=where,
        bonus=f.get("bonus", bool, False),
        backend=f.get("backend", str, assignment.backend),
        entries=f.strings("entries"),
        description=f.get("description", str, ""),
        time_limit=float(f.get("time_limit", (int, float), assignment.time_limit)),
        slice=f.get("slice", bool, True),
    )
    if not problem.id or any(c.isspace() for c in problem.id):
        f.fail("id", f"must be a non-empty word, got {problem.id!r}")
    if problem.points < 0:
        f.fail("points", f"must not be negative, got {problem.points}")
    problem.title = problem.title or problem.id
    cells = _Fields(source, f"{where}.cells", f.get("cells", dict, {}))
    problem.cells = CellSpec(cells.strings("markers"), cells.strings("comments"),
                             cells.strings("headings"), cells.strings("tags"))
    for key in cells.extra():
        cells.fail(key, "unknown field; use markers, comments, headings or tags")
    problem.layouts = tuple(_parse_layout(source, f"{where}.layouts[{k}]", t)
                            for k, t in enumerate(f.get("layouts", list, [])))
    problem.grading = f.get("grading", str, "code", choices=GRADING_MODES)
    for entry, table in f.get("names", dict, {}).items():
        problem.names[entry] = _parse_entry_info(source, f"{where}.names.{entry}", entry, table)
    checks = f.get("checks", list)
    if not checks:
        f.fail("checks", "a problem needs at least one [[problems.checks]] table")
    for j, check_table in enumerate(checks):
        problem.checks.append(_parse_check(source, f"{where}.checks[{j}]", check_table))
    _check_conventions(source, problem)
    for key in f.extra():
        f.fail(key, "unknown field (see docs/spec-format.md)")
    _assign_points(source, problem)
    return problem


def _parse_entry_info(source: Path, where: str, entry: str, table: Any) -> EntryInfo:
    f = _Fields(source, where, table)
    if not entry.isidentifier():
        f.fail("", f"{entry!r} is not a Python name")
    compose = f.get("compose_argnums", list, [])
    if not all(isinstance(k, int) and not isinstance(k, bool) for k in compose):
        f.fail("compose_argnums", "expected a list of integers, e.g. [0, 1]")
    info = EntryInfo(entry, call=f.get("call", str, ""), returns=f.get("returns", str, ""),
                     given=f.get("given", bool, True), aliases=f.strings("aliases"),
                     compose_argnums=tuple(compose))
    if info.call and not info.call.startswith(entry + "("):
        f.fail("call", f"must be the call of {entry}, e.g. \"{entry}(x)\"; got {info.call!r}")
    bad = [a for a in info.aliases if not a.isidentifier()]
    if bad:
        f.fail("aliases", f"not Python names: {', '.join(map(repr, bad))}")
    for key in f.extra():
        f.fail(key, "unknown field; use call, returns, given, aliases or compose_argnums")
    return info


def _parse_check(source: Path, where: str, table: Any) -> CheckSpec:
    f = _Fields(source, where, table)
    argnums = f.get("argnums", (int, list), 0)
    if isinstance(argnums, list):
        if not all(isinstance(a, int) for a in argnums):
            f.fail("argnums", "expected an integer or a list of integers")
        argnums = tuple(argnums)
    mistakes = []
    for k, m in enumerate(f.get("mistakes", list, [])):
        mf = _Fields(source, f"{where}.mistakes[{k}]", m)
        mistakes.append(Mistake(mf.get("function", str), mf.get("message", str)))
    examples = f.get("examples", list, [])
    for k, example in enumerate(examples):
        if not isinstance(example, dict) or "args" not in example or "value" not in example:
            f.fail(f"examples[{k}]", "expected a table with `args` and `value`")
    inputs = f.get("inputs", (str, list), None)
    if isinstance(inputs, list) and not all(isinstance(a, list) for a in inputs):
        f.fail("inputs", "an inline list of inputs is a list of argument lists, e.g. [[3.5], [1.0]]")
    spec = CheckSpec(
        kind=f.get("kind", str),
        where=where,
        name=f.get("name", str, ""),
        entry=f.get("entry", str, None),
        wrapper=f.get("wrapper", str, None),
        inputs=inputs,
        expected=f.get("expected", str, None),
        function=f.get("function", str, None),
        analytic=f.get("analytic", str, None),
        argnums=argnums,
        transform=f.get("transform", str, None, choices=("grad", "jacfwd", "jacrev", "hessian", "derivative")),
        order=f.get("order", int, 1),
        manual=f.get("manual", bool, False),
        forbid=f.strings("forbid"),
        require=f.strings("require"),
        test_functions=f.strings("test_functions"),
        points=(float(p) if (p := f.get("points", (int, float), None)) is not None else None),
        warning=f.get("warning", bool, False),
        hidden=f.get("hidden", bool, False),
        optional=f.get("optional", bool, False),
        rtol=_float_or_none(f, "rtol"),
        atol=_float_or_none(f, "atol"),
        dtype=f.get("dtype", str, None, choices=("float64", "float32")),
        judge=f.get("judge", str, None),
        judge_in_copy=f.get("judge_in_copy", bool, False),
        backend=f.get("backend", (str, list), None),
        backends_validate=f.strings("backends_validate") or ("autograd", "jax", "torch"),
        mistakes=tuple(mistakes),
        examples=tuple(examples),
        time_limit=_float_or_none(f, "time_limit"),
        require_autodiff=f.get("require_autodiff", bool, False),
        hints=tuple(_hints(f)),
        conventions=_parse_conventions(source, f"{where}.conventions", f.get("conventions", dict, {})),
    )
    for k, text in enumerate(spec.require):
        from adgrade.requirements import mode_of, parse_requirement

        try:
            alternatives = parse_requirement(text)
        except ValueError as exc:
            f.fail(f"require[{k}]", str(exc))
        if spec.manual and all(alt.pattern or mode_of(alt.outer or "") for alt in alternatives):
            f.fail(f"require[{k}]", "a `manual` check forbids autodiff, so it cannot require it")
    if isinstance(spec.backend, list):
        if not spec.backend or not all(isinstance(b, str) for b in spec.backend) or len(set(spec.backend)) != len(spec.backend):
            f.fail("backend", "expected a backend name, or a list of different backend names the student may choose from")
        spec.backend_choices = tuple(spec.backend) if len(spec.backend) > 1 else ()
        spec.backend = spec.backend[0]
    if spec.manual and spec.require_autodiff:
        f.fail("require_autodiff", "a check cannot be both `manual` and `require_autodiff`")
    if spec.entry and spec.wrapper:
        f.fail("wrapper", "give either `entry` or `wrapper`, not both")
    if spec.judge_in_copy and not spec.judge:
        f.fail("judge_in_copy", "there is no `judge` to put in the student copy")
    spec.options = f.extra()
    return spec


def _parse_layout(source: Path, where: str, table: Any) -> Layout:
    from adgrade.conventions import LAYOUT_TRANSFORMS

    f = _Fields(source, where, table)
    name = f.get("name", str)
    choices = []
    raw = f.get("choices", list)
    if len(raw) < 2:
        f.fail("choices", "a layout needs at least two choices (the task's own first)")
    for k, choice in enumerate(raw):
        cf = _Fields(source, f"{where}.choices[{k}]", choice)
        choices.append(LayoutChoice(cf.get("label", str),
                                    cf.get("transform", str, "none", choices=LAYOUT_TRANSFORMS)))
        for key in cf.extra():
            cf.fail(key, "unknown field; use label and transform")
    if choices[0].transform != "none":
        f.fail("choices", "the first choice is the task's own layout: its transform must be \"none\"")
    layout = Layout(name=name, what=f.get("what", str, name), choices=tuple(choices))
    for key in f.extra():
        f.fail(key, "unknown field; use name, what and choices")
    return layout


def _parse_conventions(source: Path, where: str, table: Any) -> Conventions:
    from adgrade.conventions import parse_path

    f = _Fields(source, where, table)
    args = f.get("args", list, [])
    if not all(isinstance(a, int) and not isinstance(a, bool) and a >= 0 for a in args):
        f.fail("args", "expected a list of argument positions (0 is the first argument)")
    answer = f.strings("answer")
    for k, path in enumerate(answer):
        try:
            parse_path(path)
        except ValueError as exc:
            f.fail(f"answer[{k}]", str(exc))
    conventions = Conventions(layout=f.get("layout", str, None), args=tuple(args), answer=answer,
                              vectors=f.get("vectors", bool, False), items=f.strings("items"))
    if (conventions.args or conventions.answer) and not conventions.layout:
        f.fail("layout", "`args` and `answer` say where a layout applies: name the problem's layout too")
    for key in f.extra():
        f.fail(key, "unknown field; use layout, args, answer, vectors or items")
    return conventions


def _check_conventions(source: Path, problem: ProblemSpec) -> None:
    names = [layout.name for layout in problem.layouts]
    if len(set(names)) != len(names):
        raise SpecError(f"{source}: {problem.where}.layouts: two layouts share a name")
    for check in problem.checks:
        layout = check.conventions.layout
        if layout and layout not in names:
            known = ", ".join(names) or "none declared"
            raise SpecError(f"{source}: {check.where}.conventions.layout: no layout {layout!r} in "
                            f"{problem.id}'s [[problems.layouts]] ({known})")
        if layout and not check.conventions.args:
            raise SpecError(f"{source}: {check.where}.conventions.args: say which arguments are in the "
                            f"{layout!r} layout (e.g. args = [1])")


def _hints(f: _Fields) -> list[dict]:
    import re

    out = []
    for k, hint in enumerate(f.get("hints", list, [])):
        if not isinstance(hint, dict) or not isinstance(hint.get("message"), str):
            f.fail(f"hints[{k}]", "expected a table with a `message` (and `error = REGEX` or `when = ...`)")
        if "error" in hint:
            try:
                re.compile(hint["error"])
            except (re.error, TypeError) as exc:
                f.fail(f"hints[{k}].error", f"not a regular expression: {exc}")
        out.append(dict(hint))
    return out


def _float_or_none(f: _Fields, key: str) -> float | None:
    value = f.get(key, (int, float), None)
    return None if value is None else float(value)


def _assign_points(source: Path, problem: ProblemSpec) -> None:
    """Split the problem's points over its scored checks, or check the given split adds up."""
    scored = [c for c in problem.checks if not c.warning]
    for c in problem.checks:
        if c.warning and c.points:
            raise SpecError(f"{source}: {c.where}.points: a warning check is never scored; remove `points`")
        if c.warning:
            c.points = 0.0
    given = [c for c in scored if c.points is not None]
    if not scored:
        if problem.points:
            raise SpecError(f"{source}: {problem.where}.points: the problem has points but only warning checks")
        return
    if not given:
        for c in scored:
            c.points = problem.points / len(scored)
        return
    if len(given) != len(scored):
        missing = next(c for c in scored if c.points is None)
        raise SpecError(f"{source}: {missing.where}.points: give points to every scored check of "
                        f"{problem.id!r} or to none of them")
    total = sum(c.points for c in scored)  # type: ignore[misc]
    if abs(total - problem.points) > 1e-9:
        raise SpecError(f"{source}: {problem.where}.points: the problem is worth {problem.points:g} but its "
                        f"checks' points add up to {total:g}")


# -- references into functions.py -----------------------------------------------------

def _check_references(spec: AssignmentSpec) -> None:
    """Every name a check refers to exists in functions.py and is callable; plugin kinds validate themselves."""
    from adgrade.checks import get_check_class  # late: plugins may import spec

    functions = spec.functions
    source = spec.source

    def need(where: str, name: str) -> None:
        obj = getattr(functions, name, None)
        if obj is None:
            raise SpecError(f"{source}: {where}: no function {name!r} in {spec.functions_path.name}")
        if not callable(obj):
            raise SpecError(f"{source}: {where}: {name!r} in {spec.functions_path.name} is not a function")

    for problem in spec.problems:
        backend = problem.backend
        if backend not in BACKEND_NAMES_BUILTIN:
            from adgrade.backends import available_backends
            if backend not in available_backends():
                raise SpecError(f"{source}: {problem.where}.backend: unknown backend {backend!r} "
                                f"(known: {', '.join(available_backends())})")
        for check in problem.checks:
            try:
                cls = get_check_class(check.kind)
            except KeyError as exc:
                raise SpecError(f"{source}: {check.where}.kind: {exc.args[0]}") from None
            for fld in FUNCTION_FIELDS:
                name = getattr(check, fld)
                if name:
                    need(f"{check.where}.{fld}", name)
            sent = [(f"{check.where}.wrapper", check.wrapper)] if check.wrapper else []
            for k, name in enumerate(check.test_functions):
                need(f"{check.where}.test_functions[{k}]", name)
                sent.append((f"{check.where}.test_functions[{k}]", name))
            for where, name in sent:
                from adgrade.sent_code import sendable_problem

                problem_text = sendable_problem(getattr(functions, name), name)
                if problem_text:
                    raise SpecError(f"{source}: {where}: {problem_text}")
            if isinstance(check.inputs, str):
                need(f"{check.where}.inputs", check.inputs)
            for k, mistake in enumerate(check.mistakes):
                need(f"{check.where}.mistakes[{k}].function", mistake.function)
            for name in (check.backend, *check.backend_choices):
                if name and name not in BACKEND_NAMES_BUILTIN:
                    from adgrade.backends import available_backends
                    if name not in available_backends():
                        raise SpecError(f"{source}: {check.where}.backend: unknown backend {name!r} "
                                        f"(known: {', '.join(available_backends())})")
            if check.backend_choices and cls.kind not in CHOOSING_KINDS:
                raise SpecError(f"{source}: {check.where}.backend: a {check.kind!r} check runs on one backend; a "
                                f"list (the student's choice) works for {', '.join(CHOOSING_KINDS)}")
            cls.validate_spec(check, problem, spec)
