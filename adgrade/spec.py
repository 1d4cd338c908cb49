"""Problem sets: `problems/<name>/assignment.toml` + `functions.py` as dataclasses, and where they are found.

`load_assignment` finds a problem set by name or path and reads it (spec_parse.py: the TOML tables,
functions.py and the references between them).

Every error names the file and the field (`problems[2].checks[0].inputs`) so
an instructor can fix a broken spec from the message alone. The format is
described in docs/spec-format.md.
"""

from __future__ import annotations

import importlib.util
import os
import sys
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


#: fields of a check that name a function of functions.py
FUNCTION_FIELDS = ("wrapper", "expected", "function", "analytic", "judge")
#: kinds whose requests go through the child's `call` probe, which picks the student's framework
CHOOSING_KINDS = ("value", "gradient", "jacobian", "hessian", "derivative", "autodiff", "custom", "stability",
                  "trajectory", "convergence", "convergence_rate")


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
    from adgrade.spec_parse import parse_assignment  # spec_parse builds these dataclasses: imported late

    root = resolve_assignment(str(name_or_path))
    return parse_assignment(root)
