"""The check plugin interface.

A check has two halves, kept apart on purpose:
- `requests()`: what to ask the submission's process (plain data: which probe,
  which entry, which inputs, which transformation);
- `judge(answers)`: how to decide, in the trusted parent, from the answers and
  from expected values the check computes itself.

Plugins subclass `Check`, register under the entry-point group
`adgrade.checks`, and may read their own fields from `spec.options`.
"""

from __future__ import annotations

import inspect
import json
import textwrap
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import numpy as np

from adgrade.cells import parse_source
from adgrade.results import CheckResult

if TYPE_CHECKING:
    from adgrade.runner.parent import Answer
    from adgrade.spec import AssignmentSpec, CheckSpec, ProblemSpec


@dataclass
class Request:
    id: str
    probe: str = "call"
    params: dict[str, Any] = field(default_factory=dict)
    time_limit: float | None = None

    def to_plain(self) -> dict[str, Any]:
        return {"id": self.id, "probe": self.probe, "params": self.params}


#: the input streams of a check: `grading` (what `check` and `grade` use) and `practice` (what
#: `export-student` freezes into the student copy), so a table of the copy's answers earns nothing
STREAMS = ("grading", "practice")
#: the fields that say which question a check asks (its seed comes from these, not its position)
IDENTITY_FIELDS = ("kind", "entry", "wrapper", "inputs", "function", "transform", "argnums", "order")
#: plugin fields that belong to a check's identity too (timing candidates, module measures ...)
IDENTITY_OPTIONS = ("entries", "measure", "init", "steps", "metric", "limit")


class Check:
    kind: ClassVar[str] = ""
    #: option names (beyond the common CheckSpec fields) this kind accepts
    options: ClassVar[tuple[str, ...]] = ()
    #: whether this kind judges the calls the entry made (`manual`, `forbid`, `require`)
    checks_calls: ClassVar[bool] = False
    #: whether this kind decides with the problem set's `judge` (elsewhere a judge is refused, never ignored)
    uses_judge: ClassVar[bool] = False
    #: whether every test function is combined with every input (timing hands its one test function itself)
    crosses_test_functions: ClassVar[bool] = True
    #: which inputs rng() draws: "grading", or "practice" while `export-student` freezes a copy
    stream: str = "grading"

    def __init__(self, spec: CheckSpec, problem: ProblemSpec, assignment: AssignmentSpec, index: int):
        self.spec = spec
        self.problem = problem
        self.assignment = assignment
        self.index = index
        self._inputs: list[tuple] | None = None
        #: shared by the checks of one question, judged in order (engine.plan): what one check learnt about
        #: the student's conventions (the layout of W) that the others must grade consistently
        self.question: dict = {}
        #: the submission's cells whose code is in force when this question's checks run (engine), for
        #: facts read from the source (source_facts.py); never run here
        self.sources: list = []

    # -- spec validation ------------------------------------------------------------
    @classmethod
    def validate_spec(cls, spec: CheckSpec, problem: ProblemSpec, assignment: AssignmentSpec) -> None:
        """Raise SpecError (naming file and field) when the check's fields do not fit its kind."""
        from adgrade.spec import SpecError

        for key in spec.options:
            if key not in cls.options:
                raise SpecError(f"{assignment.source}: {spec.where}.{key}: unknown field for kind {spec.kind!r}"
                                + (f" (it takes: {', '.join(cls.options)})" if cls.options else ""))
        if spec.judge and not cls.uses_judge:
            raise SpecError(f"{assignment.source}: {spec.where}.judge: a {spec.kind!r} check judges by its own "
                            f"rules and takes no `judge` (it would be ignored); for a judgement of your own use "
                            f"kind 'custom' (or 'value')")
        if spec.require and not cls.checks_calls:
            raise SpecError(f"{assignment.source}: {spec.where}.require: a {spec.kind!r} check does not look at "
                            f"the calls the entry makes; put `require` on a check that calls it (value, "
                            f"gradient, trajectory, ...) in the same problem")

    def fail_spec(self, field_name: str, message: str):
        return self.spec_error(self.spec, self.assignment, field_name, message)

    @staticmethod
    def spec_error(spec: CheckSpec, assignment: AssignmentSpec, field_name: str, message: str):
        """The SpecError for one field of a check's table: file and field named (validate_spec uses it too)."""
        from adgrade.spec import SpecError
        return SpecError(f"{assignment.source}: {spec.where}.{field_name}: {message}")

    @staticmethod
    def need_function(spec: CheckSpec, assignment: AssignmentSpec, field_name: str, name: Any) -> None:
        """Raise the SpecError for a field that must name a function of the problem set's functions.py."""
        if not isinstance(name, str) or not name:
            raise Check.spec_error(spec, assignment, field_name, "expected the name of a function in functions.py")
        obj = getattr(assignment.functions, name, None)
        if obj is None:
            raise Check.spec_error(spec, assignment, field_name,
                                   f"no function {name!r} in {assignment.functions_path.name}")
        if not callable(obj):
            raise Check.spec_error(spec, assignment, field_name,
                                   f"{name!r} in {assignment.functions_path.name} is not a function")

    # -- identity -------------------------------------------------------------------
    @property
    def key(self) -> str:
        return f"{self.problem.id}/{self.index}"

    @property
    def backend_name(self) -> str:
        return self.spec.backend or self.problem.backend

    @property
    def time_limit(self) -> float:
        return self.spec.time_limit or self.problem.time_limit

    @property
    def subject(self) -> str:
        """What the student wrote that this check is about (for messages)."""
        if self.spec.entry:
            return self.spec.entry
        used = self.wrapper_entries()
        if used:
            return " and ".join(f"`{name}`" for name in used)
        entries = [e for e in self.problem.entries]
        return ", ".join(entries) if entries else "your code"

    def wrapper_entries(self, name: str | None = None) -> list[str]:
        """The student's names a wrapper uses (`sub.NAME`), in order: what a message about it is about."""
        import ast

        name = name or self.spec.wrapper
        if not name:
            return []
        try:
            tree = parse_source(textwrap.dedent(inspect.getsource(self.fn(name))))
        except (OSError, TypeError):
            return []
        if tree is None:
            return []
        found = sorted((node.lineno, node.col_offset, node.attr) for node in ast.walk(tree)
                       if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                       and node.value.id == "sub")
        return list(dict.fromkeys(attr for _, _, attr in found))

    def name(self) -> str:
        return self.spec.name or f"{self.subject} ({self.kind})"

    def entries_needed(self) -> list[str]:
        return [self.spec.entry] if self.spec.entry else list(self.problem.entries)

    # -- inputs -----------------------------------------------------------------------
    def identity(self) -> str:
        """What question this check asks, stable when other checks are added, removed or reordered."""
        spec = self.spec
        text = _identity_text(spec)
        # two checks of one problem asking the same question: told apart by their order among equals only
        same = [c for c in self.problem.checks if _identity_text(c) == text]
        nth = next((i for i, c in enumerate(same) if c is spec), 0)
        return text + (f"#{nth}" if nth else "")

    def seed_material(self) -> list[int]:
        return [self.assignment.seed % 2**64, zlib.crc32(self.problem.id.encode()),
                zlib.crc32(self.identity().encode()), STREAMS.index(self.input_stream)]

    @property
    def input_stream(self) -> str:
        """"grading", or "practice" in a student copy (and while export-student freezes one)."""
        frozen = self.frozen
        return frozen.get("stream", "practice") if frozen is not None else self.stream

    def rng(self) -> np.random.Generator:
        # a stable seed per check, from the assignment's seed, the problem and the check's identity
        # (never its position: adding a check leaves the others' inputs alone), per input stream
        return np.random.default_rng(self.seed_material())

    @property
    def frozen(self) -> dict | None:
        """Inputs and expected values stored by `adgrade export-student`, if this is a student copy."""
        return self.assignment.frozen.get(self.key)

    def raw_inputs(self) -> list[tuple]:
        """The input tuples as generated (or frozen), before test functions are put in front of them:
        what a student copy freezes (a test function is named by the check, not frozen)."""
        items = self.inputs()
        if self.spec.test_functions and self.crosses_test_functions:  # (f1, a1), (f1, a2), ..., (f2, a1), ...
            return [tuple(args[1:]) for args in items[:len(items) // len(self.spec.test_functions)]]
        return items

    def inputs(self) -> list[tuple]:
        if self._inputs is None:
            spec_inputs = self.spec.inputs
            if self.frozen and "inputs" in self.frozen:
                from adgrade.runner import protocol

                raw = [tuple(protocol.decode(args)) for args in self.frozen["inputs"]]
            elif spec_inputs is None:
                raw: list = [()]
            elif isinstance(spec_inputs, str):
                raw = list(self.assignment.function(spec_inputs)(self.rng()))
            else:
                raw = [tuple(_from_toml(a) for a in args) for args in spec_inputs]
            self._inputs = [tuple(args) if isinstance(args, (list, tuple)) else (args,) for args in raw]
            if self.spec.test_functions and self.crosses_test_functions:
                # every test function with every input: entry(f, *args)
                from adgrade.sent_code import TestFunctionRef, first_doc_line

                refs = [TestFunctionRef(n, first_doc_line(self.fn(n))) for n in self.spec.test_functions]
                self._inputs = [(ref, *args) for ref in refs for args in self._inputs]
        return self._inputs

    def call_params(self, args: tuple) -> dict[str, Any]:
        """A call's arguments for the child: plain data, and a test function (first) by its source."""
        from adgrade.runner import protocol
        from adgrade.sent_code import TestFunctionRef

        if args and isinstance(args[0], TestFunctionRef):
            return {"args": protocol.encode(list(args[1:])), "test_function": self.wrapper_payload(args[0].name)}
        return {"args": protocol.encode(list(args))}

    def with_functions(self, args: tuple, backend: Any) -> tuple:
        """Arguments for the grader's side: a test function becomes a ParentFunction on `backend`."""
        from adgrade.sent_code import ParentFunction, TestFunctionRef

        return tuple(ParentFunction(self.fn(a.name), backend, a.name) if isinstance(a, TestFunctionRef) else a
                     for a in args)

    def fn(self, name: str) -> Callable:
        calls = (self.frozen or {}).get("calls") or {}
        if name in calls:  # a student copy: the results of this check's calls, not the code
            from adgrade.frozen import FrozenFunction

            return FrozenFunction(name, calls[name])
        return self.assignment.function(name)

    def wrapper_payload(self, name: str | None = None) -> dict | None:
        name = name or self.spec.wrapper
        if not name:
            return None
        return {"name": name, "source": textwrap.dedent(inspect.getsource(self.fn(name)))}

    # -- the two halves ---------------------------------------------------------------
    def requests(self) -> list[Request]:
        raise NotImplementedError

    def judge(self, answers: list[Answer]) -> CheckResult:
        raise NotImplementedError

    # -- `adgrade validate` -------------------------------------------------------------
    def validate(self) -> list[str]:
        """Problems with the expected side (analytic vs autodiff, examples); [] when sound."""
        return []

    # -- the student copy (`adgrade export-student`) -------------------------------------------
    #: fields naming functions of functions.py that run in the student's process (sent by source)
    #: or read only the student's own data: a student copy keeps their code. Every other function
    #: a check names is trusted: the copy holds only the results of the calls `rehearse` makes.
    student_side: ClassVar[tuple[str, ...]] = ("wrapper", "test_functions")
    #: False for a kind that cannot be judged from frozen results: export-student refuses it
    student_copy: ClassVar[bool] = True

    def rehearse(self) -> None:
        """Make, on this check's inputs, every call of functions.py its judging may make.

        export-student records these calls (on the practice inputs) into the student copy.
        The default is the expected side; kinds with more (known mistakes, starts, bounds) add them.
        """
        prepare = getattr(self, "prepare", None)
        if callable(prepare):
            prepare()

    def frozen_values(self) -> dict[str, Any]:
        """What a student copy of this check stores beside the recorded calls (encoded plain data)."""
        return {}

    # -- results every kind gives the same way ----------------------------------------------
    def missing_entry(self, answer: Any) -> CheckResult:
        """The student defined nothing that stands for a name the check calls: skipped when optional,
        else an error that states the call the checks make and what the question's cells define."""
        error = answer.error or {}
        name = error.get("message") or self.spec.entry or "an entry"
        if self.spec.optional:
            return self.result("skipped", f"`{name}` is not defined; nothing to check")
        from adgrade.resolve import call_words

        qid = self.problem.id
        call = call_words(self.problem, str(name), self.assignment.reference)
        defined = [str(d) for d in error.get("defined") or [] if isinstance(d, str)]
        info = self.problem.names.get(str(name))
        if "(" not in call:  # a value the checks use (W1 = ...), not a function they call
            return self.result("error", f"`{name}` is not defined when the cells of {qid} end (not implemented "
                                        f"yet?). Define {call} in the {qid} cell(s).")
        lines = [f"`{name}` is not defined when the cells of {qid} end (not implemented yet?), and nothing "
                 f"in them stands for it. The checks call {call}."]
        if defined:
            lines.append(f"Your {qid} cells define {', '.join(f'`{d}`' for d in defined)}; none of them "
                         f"takes that call.")
        if info is not None and not info.given:
            lines.append("Write it as a function that takes these arguments (any name is fine).")
        else:
            lines.append(f"Define `{name}` with these arguments in the {qid} cell(s).")
        return self.result("error", " ".join(lines))

    # -- the problem set's own words ------------------------------------------------------
    def error_hint(self, error: dict | None) -> str:
        """`hints = [{error = REGEX, message}]`: added to the explanation of a matching exception."""
        import re

        text = f"{(error or {}).get('type', '')}: {(error or {}).get('message', '')}"
        for hint in self.spec.hints:
            if "error" in hint and re.search(hint["error"], text, flags=re.IGNORECASE):
                return "\n  Hint: " + hint["message"]
        return ""

    def when_hint(self, when: str) -> str:
        """`hints = [{when = SITUATION, message}]`: a plugin kind's named situations (constant, nonfinite...)."""
        return " ".join(h["message"] for h in self.spec.hints if h.get("when") == when)

    # -- results ------------------------------------------------------------------------
    def result(self, status: str, message: str = "", fraction: float | None = None, **details: Any) -> CheckResult:
        points = float(self.spec.points or 0.0)
        if self.spec.warning:
            if status in ("failed", "error", "timeout"):
                status = "warning"
            points = 0.0
        if fraction is None:
            fraction = 1.0 if status in ("passed", "inconclusive") else 0.0
        return CheckResult(
            name=self.name(),
            status=status,
            score=points * fraction,
            max_score=points,
            message=message,
            hidden=self.spec.hidden,
            kind=self.kind,
            details=details,
        )


def _identity_text(spec: CheckSpec) -> str:
    fields = {name: getattr(spec, name) for name in IDENTITY_FIELDS if getattr(spec, name) not in (None, "")}
    fields.update({name: spec.options[name] for name in IDENTITY_OPTIONS if name in spec.options})
    return json.dumps(fields, sort_keys=True, default=str)


def _from_toml(value: Any) -> Any:
    """Inline TOML inputs: lists of numbers become float64 arrays, numbers stay Python numbers."""
    if isinstance(value, list):
        try:
            arr = np.asarray(value)
        except ValueError:  # ragged: e.g. [W, V], two matrices of different shapes
            return [_from_toml(v) for v in value]
        if arr.dtype.kind in "iuf":
            return arr.astype(np.float64)
        return [_from_toml(v) for v in value]
    return value
