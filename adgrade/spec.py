"""Problem sets: load `problems/<name>/assignment.toml` + `functions.py` into dataclasses.

Every error names the file and the field (`problems[2].checks[0].inputs`) so
an instructor can fix a broken spec from the message alone. The format is
described in docs/spec-format.md.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

BACKEND_NAMES_BUILTIN = ("numpy", "autograd", "jax", "torch")


class SpecError(Exception):
    """A problem set that cannot be used; the message says where and what to do."""


@dataclass(frozen=True)
class CellSpec:
    markers: tuple[str, ...] = ()
    comments: tuple[str, ...] = ()
    headings: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mistake:
    function: str
    message: str


@dataclass(frozen=True)
class LayoutChoice:
    """One way of storing an argument: `label` for messages ("(n, C)"), `transform` from the task's way."""

    label: str
    transform: str = "none"  # none | transpose (see conventions.LAYOUT_TRANSFORMS)


@dataclass(frozen=True)
class Layout:
    """A layout the task left open (`[[problems.layouts]]`): the first choice is the task's own."""

    name: str
    what: str
    choices: tuple[LayoutChoice, ...]


@dataclass(frozen=True)
class Conventions:
    """Which open conventions a check accepts (`conventions = {...}` on a check)."""

    #: a problem's layout name: the check asks once per choice and grades the one the student uses
    layout: str | None = None
    #: positional arguments that are in that layout
    args: tuple[int, ...] = ()
    #: answer leaves in that layout ("[0]": a gradient w.r.t. the argument)
    answer: tuple[str, ...] = ()
    #: a vector may come as a row, a column or a flat vector
    vectors: bool = False
    #: names of the answer's items: a tuple, a list, or a dict with these keys (dW, grad_W ... too)
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class EntryInfo:
    """`[problems.names.<entry>]`: how students may have named an entry, and the call in course terms."""

    name: str
    #: the call the checks make, in the course's words: "analytical_gradient(w, X, y)"
    call: str = ""
    #: what it returns: "the gradient of the MSE w.r.t. w, shape (5,)"
    returns: str = ""
    #: the course gave students this name (false: students choose their own; any fitting definition
    #: in the question's cells may stand for it)
    given: bool = True
    aliases: tuple[str, ...] = ()
    #: the entry returns a tuple of gradients; per-argument gradient functions `G_k = grad(F, argnums=k)`
    #: for these k, in this order, may stand for it together
    compose_argnums: tuple[int, ...] = ()

    @property
    def params(self) -> tuple[str, ...]:
        """The parameter names of `call` ("f(w, X, y)" -> ("w", "X", "y"))."""
        inside = self.call.partition("(")[2].rpartition(")")[0]
        out = []
        for part in inside.split(","):
            word = part.split("=")[0].strip().lstrip("*")
            if word.isidentifier():
                out.append(word)
        return tuple(out)


#: how a problem is graded: from code only, from code or (when the student wrote none for it) by hand,
#: or always by hand (reported as such, never scored here)
GRADING_MODES = ("code", "code-or-by-hand", "by-hand")


@dataclass
class CheckSpec:
    kind: str
    where: str  # "problems[0].checks[1]", for error messages
    name: str = ""
    entry: str | None = None
    wrapper: str | None = None
    inputs: str | list | None = None
    expected: str | None = None
    function: str | None = None
    analytic: str | None = None
    argnums: int | tuple[int, ...] = 0
    transform: str | None = None
    order: int = 1
    manual: bool = False
    forbid: tuple[str, ...] = ()
    #: calls the entry must make while it runs (adgrade/requirements.py): "jax.jvp", "forward-over-reverse"
    require: tuple[str, ...] = ()
    #: functions.py functions handed to the entry as its first argument (`hvp(f, x, v)`), sent by source
    test_functions: tuple[str, ...] = ()
    points: float | None = None
    warning: bool = False
    hidden: bool = False
    optional: bool = False
    rtol: float | None = None
    atol: float | None = None
    dtype: str | None = None
    judge: str | None = None
    #: the judge only reads the answer's plain data (shapes, types) and computes no answer:
    #: `adgrade export-student` may put it (and what it calls) in the student copy
    judge_in_copy: bool = False
    backend: str | None = None
    #: `backend = ["autograd", "jax"]`: the student may use any of these (backend_choice.py); backend is the first
    backend_choices: tuple[str, ...] = ()
    backends_validate: tuple[str, ...] = ("autograd", "jax", "torch")
    mistakes: tuple[Mistake, ...] = ()
    examples: tuple[dict, ...] = ()
    time_limit: float | None = None
    require_autodiff: bool = False
    #: [{error = REGEX, message}] added to the explanation of a matching exception;
    #: plugin kinds may define other `when` keys
    hints: tuple[dict, ...] = ()
    #: conventions the task left open that this check accepts
    conventions: Conventions = Conventions()
    #: fields a plugin kind reads that the common ones do not cover
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProblemSpec:
    id: str
    title: str
    points: float
    where: str
    bonus: bool = False
    backend: str = "numpy"
    entries: tuple[str, ...] = ()
    description: str = ""
    cells: CellSpec = CellSpec()
    checks: list[CheckSpec] = field(default_factory=list)
    time_limit: float = 10.0
    #: layouts the task left open (W as (C, n) or (n, C)); checks refer to them by name
    layouts: tuple[Layout, ...] = ()
    #: false: the checks grade a side effect of the student's code, so every statement before the end of
    #: this question's cells runs (by default only what the checks depend on runs; see adgrade/slicing.py)
    slice: bool = True
    #: entry name -> what the problem set says about it (given by the course, aliases, the call)
    names: dict[str, EntryInfo] = field(default_factory=dict)
    grading: str = "code"


@dataclass
class AssignmentSpec:
    name: str
    title: str
    root: Path
    source: Path  # assignment.toml
    functions_path: Path
    backend: str = "numpy"
    reference: Path | None = None
    time_limit: float = 10.0
    setup_time_limit: float = 60.0
    memory_limit_mb: int = 4096
    seed: int = 0
    x64: bool = True
    problems: list[ProblemSpec] = field(default_factory=list)
    #: a student copy (adgrade export-student): inputs and expected values frozen by check key
    frozen: dict[str, dict] = field(default_factory=dict)
    #: a student copy: how many hidden checks the instructor's problem set has
    hidden_checks: int = 0
    #: names the course's own starter code defines: never graded as the student's work
    given_code: tuple[str, ...] = ()
    _functions: ModuleType | None = field(default=None, repr=False)

    @property
    def functions(self) -> ModuleType:
        if self._functions is None:
            self._functions = load_functions(self.functions_path, self.name)
            if self.frozen:  # a student copy: trusted functions are tables of the grader's calls
                from adgrade.frozen import FrozenFunction, merged_tables

                for name, table in merged_tables(self.frozen).items():
                    if not hasattr(self._functions, name):
                        setattr(self._functions, name, FrozenFunction(name, table))
        return self._functions

    def function(self, name: str) -> Callable:
        return getattr(self.functions, name)

    def problem(self, problem_id: str) -> ProblemSpec:
        for problem in self.problems:
            if problem.id == problem_id:
                return problem
        raise KeyError(problem_id)

    @property
    def backends(self) -> list[str]:
        """Every backend some check of this assignment runs on (what the child must import)."""
        names = []
        for problem in self.problems:
            for check in problem.checks:
                for name in (check.backend or problem.backend, *check.backend_choices):
                    if name not in names:
                        names.append(name)
        return names


# -- where problem sets are found ----------------------------------------------

def search_path() -> list[Path]:
    """Folders that hold problem sets, first match wins."""
    paths = []
    env = os.environ.get("ADGRADE_PROBLEMS")
    if env:
        paths += [Path(p) for p in env.split(os.pathsep) if p]
    paths.append(Path.cwd() / "problems")
    bundled = Path(__file__).resolve().parent.parent / "problems"
    if bundled not in paths:
        paths.append(bundled)
    return paths


def available_assignments() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in search_path():
        if not folder.is_dir():
            continue
        for child in sorted(folder.iterdir()):
            if (child / "assignment.toml").is_file() and child.name not in found:
                found[child.name] = child
    return found


def resolve_assignment(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.is_dir() and (path / "assignment.toml").is_file():
        return path
    if path.name == "assignment.toml" and path.is_file():
        return path.parent
    found = available_assignments()
    if name_or_path in found:
        return found[name_or_path]
    known = ", ".join(found) or "none found"
    import difflib  # only on this error path

    close = difflib.get_close_matches(path.name, list(found), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else "."
    raise SpecError(
        f"no assignment {name_or_path!r}{hint} It is not a folder with an assignment.toml, and not one of: {known}. "
        f"Run `adgrade list` to see the assignments, or pass the path of a problem-set folder."
    )


def load_assignment(name_or_path: str | Path) -> AssignmentSpec:
    root = resolve_assignment(str(name_or_path))
    return parse_assignment(root)


# -- parsing ---------------------------------------------------------------------

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


# -- functions.py ------------------------------------------------------------------

def load_functions(path: Path, assignment_name: str) -> ModuleType:
    if not path.is_file():
        raise SpecError(f"{path}: file not found: the problem set's functions module is missing")
    module_name = "adgrade_problem_" + "".join(c if c.isalnum() else "_" for c in assignment_name)
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise SpecError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except Exception as exc:
        raise SpecError(f"{path}: importing it raised {type(exc).__name__}: {exc}") from None
    sys.modules.setdefault(module_name, module)
    return module


FUNCTION_FIELDS = ("wrapper", "expected", "function", "analytic", "judge")
#: kinds whose requests go through the child's `call` probe, which picks the student's framework
CHOOSING_KINDS = ("value", "gradient", "jacobian", "hessian", "derivative", "autodiff", "custom", "stability",
                  "trajectory", "convergence", "convergence_rate")


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
