"""Which of a submission's top-level statements the planned checks need (program slicing).

Real notebooks are full of the student's own experiments: benchmarks, training
demos, plots, downloads. The checks only read a few names (the entries, the
names a wrapper reads) at the end of each question's cells, so before running
anything this module works out, from the source alone (`ast` + `symtable`),
which top-level statements those names depend on, and the rest is not run.

The analysis is a backward slice over the top-level statements in cell order,
one slice per question from the end of its own cells (a name redefined in a
later question is graded as it was at each end point), unioned:

- a statement is kept when it binds or may mutate a name needed at that point
  (assignment, augmented assignment, `del`, `x[...] = `, `x.a = `, a method
  call `x.append(...)`, passing `x` to a student function that mutates that
  parameter or to an in-place library function, `global` writes of the
  functions it may call, a mutation through an alias such as
  `opt = SGD(model.parameters()); opt.step()`; names holding immutable
  values, `device = torch.device(...)`, `lr = 0.1`, tie no objects together);
- a kept statement's reads become needed, and so do the globals read by every
  function it may call (function bodies, class bodies and methods,
  decorators, default arguments, lambdas);
- imports, configuration calls (seeding, `jax.config.update`,
  `torch.set_default_dtype`, warnings filters...), and definitions (`def`,
  `class`: cheap, and other modules may resolve entries by their names) are
  always kept;
- anything the analysis cannot follow (exec, eval, globals(), star imports,
  `__dict__`) is kept, and makes every earlier statement needed.

Why not a library: the candidates (pyan, code2flow, astroid/pylint's
inference, jedi) build call graphs or infer types for IDEs; none gives
"which top-level statements bind or mutate what, in order", and each adds a
large dependency to a grader whose analysis must be conservative and
explainable. The standard library's `symtable` already answers the scoping
questions (which names a function body reads as globals), and `ast` the rest.

The facts of each statement (what it binds, reads and changes) come from
adgrade/statement_facts.py; this module decides what is needed.

This module never executes student code and imports no array framework.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field
from typing import Iterable

from adgrade.cells import parse_source
from adgrade.statement_facts import (CONFIG_CALLS, MUTATING_CALLS, READ_ONLY_METHODS, CallFacts, FunctionFacts,
                                     Statement, analyse_cells)

__all__ = ["Statement", "SlicePlan", "Question", "plan_slice", "analyse_cells", "wrapper_names", "request_names"]

@dataclass
class SlicePlan:
    """The outcome: per cell, the statements not run, and which kept ones the checks really need."""

    enabled: bool = True
    why_disabled: str = ""
    statements: dict[int, list[Statement]] = field(default_factory=dict)  # cell index -> its statements
    skip: dict[int, list[int]] = field(default_factory=dict)  # cell index -> statement indices not run
    needed: dict[int, set[int]] = field(default_factory=dict)  # cell index -> statements the checks need
    #: a statement not run may change an object (not only bind names): a later AttributeError, KeyError
    #: or IndexError might then be the trimming's doing
    skipped_may_change: bool = False
    #: a statement not run makes a call (it may have written a file a later statement reads)
    skipped_calls: bool = False

    def skipped_statements(self) -> list[Statement]:
        return [s for c, idx in sorted(self.skip.items()) for s in self.statements[c] if s.index in idx]

    def is_needed(self, cell: int, index: int | None) -> bool:
        """Whether a statement defines or changes something a check reads (a hang there is the question's).
        Unknown statements (None) and cells that were not analysed count as needed."""
        if not self.enabled or cell not in self.statements or index is None:
            return True
        return index in self.needed.get(cell, set())

    def binds_skipped(self, name: str) -> bool:
        """Whether a statement that was not run binds `name` (a NameError may then be the slicing's doing)."""
        return any(name in s.facts.binds or s.facts.dynamic for s in self.skipped_statements())

    def statement(self, cell: int, index: int | None) -> Statement | None:
        for s in self.statements.get(cell, ()):
            if s.index == index:
                return s
        return None


# ----------------------------------------------------------------------------- the names a check reads

def wrapper_names(source: str) -> set[str] | None:
    """The student's names a problem-set wrapper reads (`sub.NAME`, `getattr(sub, "NAME")`);
    None when it uses `sub` in a way that cannot be followed."""
    tree = parse_source(source)
    if tree is None:
        return None
    fn = next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    if fn is None or len(fn.args.args) < 2:
        return None
    sub = fn.args.args[1].arg
    names: set[str] = set()
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
               and n.value.isidentifier()}
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Name) and node.id == sub):
            continue
        parent = parents.get(node)
        if isinstance(parent, ast.Attribute) and parent.value is node:
            names.add(parent.attr)
        elif (isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name)
              and parent.func.id in ("getattr", "hasattr") and parent.args and parent.args[0] is node):
            key = parent.args[1] if len(parent.args) > 1 else None
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                names.add(key.value)
            else:
                names |= strings  # `for name in ("W1", "b1"): getattr(sub, name)`
        elif isinstance(parent, ast.Compare) and node in parent.comparators:
            continue  # `"name" in sub`: a question, not a read
        else:
            return None  # handed on or iterated: anything may be read
    return names


def request_names(params: object) -> set[str] | None:
    """The student's names a request's parameters refer to (entries, init functions, wrappers'
    reads), found wherever they sit in the parameters; None when a wrapper cannot be followed."""
    out: set[str] = set()

    def walk(value: object, key: str = "") -> bool:
        if isinstance(value, dict):
            if isinstance(value.get("source"), str) and isinstance(value.get("name"), str):
                if key != "wrapper":
                    return True  # problem-set code handed to the student (a test function): reads nothing of theirs
                names = wrapper_names(value["source"])
                if names is None:
                    return False
                out.update(names)
                return True
            return all(walk(v, k) for k, v in value.items())
        if isinstance(value, list):
            if key == "names":
                out.update(v for v in value if isinstance(v, str))
                return True
            return all(walk(v, key) for v in value)
        if isinstance(value, str) and key in ("entry", "init", "method"):
            out.add(value)
        return True

    return out if walk(params) else None


# ----------------------------------------------------------------------------- the slice

@dataclass
class Question:
    """What one graded question needs: checks run after cell `end` (None: at the end of the file) and
    read `roots` (None: anything). `own_cells` are its own cells: every function, class or transformed
    function (`grad_W = grad(loss)`) defined there counts as read too, since entries may be found by
    other names. `run_all`: the question grades a side effect; everything before its end runs."""

    end: int | None
    roots: set[str] | None
    own_cells: set[int] = field(default_factory=set)
    run_all: bool = False


class _Program:
    """Facts about the whole submission that the backward walk consults (position-independent:
    a name defined twice has the effects of both definitions)."""

    def __init__(self, statements: list[Statement]):
        self.functions: dict[str, list[FunctionFacts]] = {}
        kinds: dict[str, set[str]] = {}
        self.aliases: dict[str, set[str]] = {}
        for s in statements:
            for fn in s.functions:
                self.functions.setdefault(fn.name, []).append(fn)
                kinds.setdefault(fn.name, set()).add(s.kind)
                for k, v in fn.facts.aliases.items():
                    self.aliases.setdefault(k, set()).update(v)
            for name in s.facts.binds - {f.name for f in s.functions}:
                kind = "import" if s.kind == "import" else "literal" if name in s.literals else "data"
                if name in s.immutable_calls:
                    kind = "call:" + s.immutable_calls[name]
                if name in s.makes and self._is_transform(s.makes[name]):
                    kind = "transform"  # grad(loss), jit(f), a lambda: a function, not an object it changes
                kinds.setdefault(name, set()).add(kind)
            for k, v in s.facts.aliases.items():
                self.aliases.setdefault(k, set()).update(v)
        # a name bound to `torch.device(...)` / `int(...)` holds an immutable value when the call's root
        # is what it seems: a module bound by imports only, a builtin the submission never rebinds
        for name, kind_set in kinds.items():
            for kind in [k for k in kind_set if k.startswith("call:")]:
                root = kind[len("call:"):]
                genuine = kinds.get(root) == {"import"} if root not in _BUILTINS else root not in kinds
                kind_set.discard(kind)
                kind_set.add("literal" if genuine else "data")
        self.kind = {n: (next(iter(k)) if len(k) == 1 else "data") for n, k in kinds.items()}
        # a data name bound from a student function or class (grad_W = grad(loss), net = Net()):
        # calling it, or its methods, runs their code
        self.derived: dict[str, set[str]] = {}
        for s in statements:
            if not s.functions:
                callables = {n for n in s.facts.reads if n in self.functions}
                for name in s.facts.binds if callables else ():
                    self.derived.setdefault(name, set()).update(callables)
        self._settle_parameters()

    def _is_transform(self, handed: set[str]) -> bool:
        callee = next((h[1:] for h in handed if h.startswith("@")), "")
        return "lambda" in handed or (callee not in self.functions and bool(handed & set(self.functions)))

    def _settle_parameters(self) -> None:
        """Which parameters each student function may change: stored into, a method called on them,
        handed to an in-place call or to a student function that changes that parameter (to a fixpoint)."""
        changed = True
        rounds = 0
        while changed and rounds < 20:
            changed = False
            rounds += 1
            for fns in self.functions.values():
                for fn in fns:
                    if "*" in fn.mutated_params:
                        continue
                    mutated = set(fn.mutated_params)
                    for call in fn.local.calls:
                        mutated |= self._call_mutates(call) & fn.param_names
                    if not mutated <= fn.mutated_params:
                        fn.mutated_params |= mutated
                        changed = True

    def candidates(self, order: list[Statement], cells: set[int]) -> set[str]:
        """What a question's own cells define that may be graded as one of its entries: functions,
        classes, lambdas and library transforms of student functions (`grad(loss, argnums=0)`)."""
        out: set[str] = set()
        for s in order:
            if s.cell not in cells:
                continue
            out |= {fn.name for fn in s.functions}
            out |= {name for name, handed in s.makes.items() if self._is_transform(handed)}
        return out

    def mutable(self, name: str) -> bool:
        return self.kind.get(name, "data") in ("data", "class")

    def callees(self, names: Iterable[str]) -> set[str]:
        """Student functions and classes that using these names may run (transitively)."""
        out: set[str] = set()
        todo = list(names)
        while todo:
            n = todo.pop()
            targets = ({n} if n in self.functions else set()) | self.derived.get(n, set())
            for t in targets - out:
                out.add(t)
                for fn in self.functions.get(t, ()):
                    todo.extend(fn.facts.reads)
        return out

    def call_reads(self, names: Iterable[str]) -> tuple[set[str], bool]:
        """(globals read when these names are used: their functions' bodies, transitively; whether one
        of those bodies does something the analysis cannot follow)."""
        out: set[str] = set()
        dynamic = False
        for f in self.callees(names):
            for fn in self.functions[f]:
                out |= fn.facts.reads
                dynamic |= fn.facts.dynamic
        return out, dynamic

    def alias_closure(self, names: Iterable[str]) -> set[str]:
        """The names themselves and the (mutable) names whose objects theirs may contain or share."""
        out: set[str] = set()
        todo = list(names)
        while todo:
            n = todo.pop()
            if n in out:
                continue
            out.add(n)
            todo.extend(r for r in self.aliases.get(n, ()) if self.mutable(r))
        return out

    def effects(self, s: Statement) -> tuple[set[str], set[str], set[str], bool, bool]:
        """(reads, binds, may-mutate, config, dynamic) of running a statement, calls included."""
        facts = [s.facts] + [fn.facts for f in self.callees(s.facts.reads) for fn in self.functions[f]]
        reads: set[str] = set()
        binds: set[str] = set(s.facts.binds)
        mutated: set[str] = set()
        config = s.facts.config
        dynamic = s.facts.dynamic
        for fx in facts:
            reads |= fx.reads
            if fx is not s.facts:
                binds |= fx.binds
                config |= fx.config
                dynamic |= fx.dynamic
            mutated |= fx.stores_into
            # `torch.backends.cudnn.deterministic = True`, `os.environ["X"] = "1"`: configuration
            config |= any(self.kind.get(n) == "import" for n in fx.stores_into)
            for call in fx.calls:
                mutated |= self._call_mutates(call)
        return reads, binds, {m for m in mutated if self.mutable(m)}, config, dynamic

    def _call_mutates(self, call: CallFacts) -> set[str]:
        """Names whose objects a call may change."""
        handed = list(call.args) + list(call.keywords.values())
        every = set().union(*handed) if handed else set()
        last = call.attr or call.callee or ""
        in_place = ((last.endswith("_") and not last.startswith("_")) or last in MUTATING_CALLS
                    or "out" in call.keywords)
        out: set[str] = set(every) if in_place else set()
        if call.callee is not None:
            name = call.callee
            if name in self.functions:
                for fn in self.functions[name]:
                    if fn.varargs or "*" in fn.mutated_params:
                        out |= every
                        continue
                    for i, roots in enumerate(call.args):
                        if i >= len(fn.params) or fn.params[i] in fn.mutated_params:
                            out |= roots
                    for k, roots in call.keywords.items():
                        if k == "**" or k in fn.mutated_params:
                            out |= roots
            elif self.kind.get(name) == "transform":
                # it runs student functions: their arguments change if one of those changes its parameters
                if any(fn.varargs or fn.mutated_params for f in self.derived.get(name, ()) for fn in self.functions[f]):
                    out |= every
            elif self.kind.get(name) not in ("import", "def", "class", "literal") and name not in _BUILTINS:
                out |= {name} | every  # calling an object (a model, a closure, a parameter): it and its arguments may change
        elif call.receiver is not None:
            if self.kind.get(call.receiver) == "import":
                if last in CONFIG_CALLS:
                    out.add(call.receiver)
            elif call.attr is not None and call.attr not in READ_ONLY_METHODS:
                out.add(call.receiver)
        return out


_BUILTINS = frozenset(dir(builtins))


def plan_slice(cells: list[tuple[int, str]], questions: list[Question]) -> SlicePlan:
    """Decide which statements to run: `cells` are (index, source) of the code cells in the order
    they run; one backward slice per question, from its end point, unioned."""
    statements = analyse_cells(cells)
    plan = SlicePlan(statements=statements)
    order = [s for index, _ in cells for s in statements[index]]
    program = _Program(order)
    position = {index: i for i, (index, _) in enumerate(cells)}
    effects = [program.effects(s) for s in order]
    keep: set[int] = set()
    needed: set[int] = set()

    def last_position(end: int | None) -> int:
        if end is None or end not in position:
            return len(order) - 1
        before = [i for i, s in enumerate(order) if position[s.cell] <= position[end]]
        return max(before) if before else -1

    for question in questions:
        upto = last_position(question.end)
        if question.run_all or question.roots is None:
            keep.update(range(upto + 1))
            needed.update(range(upto + 1))
            continue
        want: set[str] = set()

        def need(names: Iterable[str]) -> bool:
            names = set(names)
            reads, dynamic = program.call_reads(names)
            want.update(names | reads)
            return dynamic

        everything = need(question.roots | program.candidates(order, question.own_cells))
        kept_later: set[int] = set()  # cells in which a later statement is kept
        for i in range(upto, -1, -1):
            s = order[i]
            reads, binds, mutated, config, dynamic = effects[i]
            related = program.alias_closure(want)
            touched = (binds & want) | (program.alias_closure(mutated) & related)
            # `sys.exit()` / `raise` / `assert` decides whether the kept statements after it in its cell run
            barrier = s.barrier and (s.cell in kept_later or any(
                j in keep for j in range(i + 1, len(order)) if order[j].cell == s.cell))
            if everything or dynamic or touched or barrier:
                keep.add(i)
                needed.add(i)
                for name in s.kills & want:
                    if name not in reads and name not in mutated:
                        want.discard(name)
                everything |= need(reads | (mutated & related)) or dynamic
            elif config:
                keep.add(i)
                needed.add(i)
                everything |= need(reads)
            elif s.kind in ("import", "def", "class", "unparsed"):
                keep.add(i)  # cheap, and what they define may be looked up by other means
                everything |= need(reads)  # what the statement itself evaluates (decorators, defaults, bases)
            if i in keep:
                kept_later.add(s.cell)

    for i, s in enumerate(order):
        if i not in keep:
            plan.skip.setdefault(s.cell, []).append(s.index)
            plan.skipped_may_change |= bool(effects[i][2]) or effects[i][4]
            plan.skipped_calls |= bool(s.facts.calls)
        if i in needed:
            plan.needed.setdefault(s.cell, set()).add(s.index)
    return plan


# ----------------------------------------------------------------------------- for the engine

def check_roots(entries: Iterable[str], checks: Iterable[object]) -> set[str] | None:
    """The student's names a question's checks read: its entries, each check's entries, and the names
    in its requests (wrappers' `sub.NAME`); None when one of them cannot be followed."""
    roots = set(entries)
    for check in checks:
        roots |= set(check.entries_needed())  # type: ignore[attr-defined]
        for request in check.requests():  # type: ignore[attr-defined]
            names = request_names(request.params)
            if names is None:
                return None
            roots |= names
    return roots


def statement_label(stmt: Statement, first_line: int = 1) -> str:
    """"your compare_runtimes(...) call (line 50)": `first_line` is the file line of the cell's first line."""
    first = first_line - 1 + stmt.first_line
    last = first_line - 1 + stmt.last_line
    return f"{stmt.summary} ({'line ' + str(first) if first == last else f'lines {first}-{last}'})"


def skipped_notes(plan: SlicePlan, labels: dict[int, str], first_lines: dict[int, int] | None = None,
                  most: int = 2) -> dict[int, str]:
    """One short note per cell with statements not run (cell index -> note), naming the experiments
    (loops, then calls) first and prints last."""
    def rank(s: Statement) -> tuple:
        loop = s.summary.startswith(("your `for ", "your `while "))
        return (not loop, s.kind != "other", "print(" in s.summary, s.index)

    notes = {}
    for cell, skipped in sorted(plan.skip.items()):
        statements = plan.statements.get(cell, [])
        gone = [s for s in statements if s.index in set(skipped)]
        if not gone:
            continue
        label = labels.get(cell, f"cell {cell}")
        first_line = (first_lines or {}).get(cell, 1)
        shown = sorted(gone, key=rank)[:most]
        what = ", ".join(statement_label(s, first_line) for s in shown)
        if len(gone) > most:
            what += f" and {len(gone) - most} more"
        if len(gone) == len(statements):
            notes[cell] = f"{label}: not run, no check needs what it computes ({what})"
        else:
            notes[cell] = (f"{label}: not run: {what}; no check needs what "
                           f"{'it computes' if len(gone) == 1 else 'they compute'}")
    return notes


def full_run_reason(plan: SlicePlan | None, errors: Iterable[tuple[str, dict]]) -> str | None:
    """Why the trimmed run may have failed where running everything would not, or None.

    `errors`: (where, error dict from the child) for every kept statement that raised and every check
    call that failed. A NameError (or a missing entry) for a name a skipped statement binds, and an
    AttributeError / KeyError / IndexError when skipped statements may have changed objects, are
    blamed on the trimming."""
    import re

    if plan is None or not plan.skip:
        return None
    skipped = plan.skipped_statements()
    bound = set().union(*(s.facts.binds for s in skipped)) if skipped else set()
    changes = plan.skipped_may_change
    for where, error in errors:
        kind = str(error.get("type", ""))
        message = str(error.get("message", ""))
        name = None
        if kind == "NameError":
            found = re.search(r"name '(\w+)' is not defined", message)
            name = found.group(1) if found else None
        elif kind == "MissingEntry":
            name = message
        if name is not None and name in bound:
            return f"`{name}` was not defined {where}, and code the grader had left out defines it"
        if kind in ("AttributeError", "KeyError", "IndexError") and changes:
            return f"{where} raised {kind}, which code the grader had left out might have prevented"
        if kind == "FileNotFoundError" and plan.skipped_calls:
            return f"a file was missing {where}, and code the grader had left out might have written it"
    return None
