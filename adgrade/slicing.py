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

This module never executes student code and imports no array framework.
"""

from __future__ import annotations

import ast
import builtins
import symtable
from dataclasses import dataclass, field
from typing import Iterable

from adgrade.cells import parse_source

__all__ = ["Statement", "SlicePlan", "Question", "plan_slice", "analyse_cells", "wrapper_names", "request_names"]

#: calls that configure the process for what follows (matched on the last name of the call)
CONFIG_CALLS = frozenset({
    "seed", "manual_seed", "manual_seed_all", "set_seed", "set_random_seed", "set_default_dtype",
    "set_default_tensor_type", "set_default_device", "filterwarnings", "simplefilter", "resetwarnings",
    "seterr", "use_deterministic_algorithms", "set_num_threads", "setrecursionlimit", "chdir", "putenv",
    "enable_x64", "set_flush_denormal", "set_grad_enabled", "set_detect_anomaly", "disable_jit",
    "set_printoptions", "default_rng_seed", "set_matmul_precision", "set_float32_matmul_precision",
})
#: calls that change an argument in place (besides torch's trailing-underscore convention)
MUTATING_CALLS = frozenset({
    "shuffle", "copyto", "fill_diagonal", "put", "place", "putmask", "heappush", "heappop", "heapify",
    "heapreplace", "setattr", "delattr", "update_wrapper", "clip_grad_norm_", "clip_grad_value_", "exec",
})
#: methods that do not change their object (a call of any other method may)
READ_ONLY_METHODS = frozenset({
    "keys", "values", "items", "get", "copy", "clone", "detach", "item", "numpy", "tolist", "view", "reshape",
    "sum", "mean", "std", "var", "max", "min", "argmax", "argmin", "size", "dim", "t", "transpose", "permute",
    "flatten", "ravel", "squeeze", "unsqueeze", "count", "index", "startswith", "endswith", "format", "join",
    "split", "strip", "lower", "upper", "replace", "astype", "dot", "matmul", "norm", "all", "any", "prod",
    "cumsum", "abs", "exp", "log", "sqrt", "tanh", "sin", "cos", "float", "double", "int", "long", "cpu",
    "cuda", "contiguous", "expand", "repeat", "split", "chunk", "tile", "isnumeric", "isdigit", "conj",
    "block_until_ready", "parameters", "named_parameters", "modules", "named_modules", "children",
    "state_dict", "numel", "nelement", "type", "__len__", "__getitem__", "at", "set", "add", "multiply",
    "subtract", "divide", "power", "round", "clip", "clamp", "real", "imag", "nonzero", "diagonal", "trace",
    "det", "inverse", "solve", "eval_shape", "lower", "compile", "decode", "encode", "fromkeys",
})
#: calls whose result is a new immutable value sharing no object (`device = torch.device("cpu")`,
#: `n = int(x)`): a name bound to one links no objects together. Builtins only when the submission never
#: rebinds them; module functions only when their root is bound by imports alone.
IMMUTABLE_RESULT_CALLS = frozenset({
    ("str",), ("int",), ("float",), ("bool",), ("complex",), ("len",), ("repr",), ("format",), ("hash",),
    ("torch", "device"),
})
#: calls whose use means the analysis cannot tell what is read or written
DYNAMIC_CALLS = frozenset({"exec", "eval", "globals", "locals", "vars", "__import__", "get_ipython"})


# ----------------------------------------------------------------------------- the facts of one statement

@dataclass
class _Call:
    """A call made by a statement: whom, with which argument roots (names whose objects are handed over)."""

    callee: str | None  # a plain name called (`f(...)`), else None
    attr: str | None  # the last attribute of `a.b.f(...)`
    receiver: str | None  # the root name of `a.b.f(...)` (a method call or a module function)
    chain: tuple[str, ...] = ()  # the attribute chain, root first
    args: list[set[str]] = field(default_factory=list)  # argument roots by position (keywords appended)
    keywords: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class _Facts:
    """What a piece of code reads, binds and may mutate (module-scope names only)."""

    reads: set[str] = field(default_factory=set)
    binds: set[str] = field(default_factory=set)
    stores_into: set[str] = field(default_factory=set)  # x[...] = / x.a = / del x[...] / x += (the object)
    calls: list[_Call] = field(default_factory=list)
    aliases: dict[str, set[str]] = field(default_factory=dict)  # bound name -> roots its value may share
    config: bool = False
    dynamic: bool = False

    def merge(self, other: "_Facts") -> None:
        self.reads |= other.reads
        self.binds |= other.binds
        self.stores_into |= other.stores_into
        self.calls += other.calls
        for k, v in other.aliases.items():
            self.aliases.setdefault(k, set()).update(v)
        self.config |= other.config
        self.dynamic |= other.dynamic


@dataclass
class _Function:
    """A student function or class: what calling it (or its methods) reads, binds and mutates."""

    name: str
    facts: _Facts
    params: list[str] = field(default_factory=list)
    mutated_params: set[str] = field(default_factory=set)
    varargs: bool = False
    local: _Facts = field(default_factory=_Facts)  # its body's calls and stores, parameters included
    param_names: set[str] = field(default_factory=set)


@dataclass
class Statement:
    """One top-level statement of a code cell."""

    cell: int  # the cell's index
    index: int  # position among the cell's top-level statements
    first_line: int  # lines within the cell's source (1-based)
    last_line: int
    summary: str  # "your compare_runtimes(...) call", in the student's terms
    kind: str  # def | class | import | assign | other | unparsed
    facts: _Facts = field(default_factory=_Facts)
    functions: list[_Function] = field(default_factory=list)  # what a def/class statement defines
    kills: set[str] = field(default_factory=set)  # names it always rebinds as a whole
    literals: set[str] = field(default_factory=set)  # names it binds to an immutable literal (`lr = 0.01`)
    #: names it binds to the result of an IMMUTABLE_RESULT_CALLS call -> that call's root name (immutable
    #: too once the whole program is known not to rebind the root: _Program)
    immutable_calls: dict[str, str] = field(default_factory=dict)
    #: it ends the cell on purpose (`raise`, `assert`, `sys.exit()`): what follows in the cell depends on it
    barrier: bool = False
    #: name -> the names handed to the call whose result it binds (`grad_W = grad(loss, argnums=0)`),
    #: or {"lambda"}: candidates for what a question's entry was written as
    makes: dict[str, set[str]] = field(default_factory=dict)


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


# ----------------------------------------------------------------------------- reading statements

def _chain(node: ast.AST) -> tuple[str, ...]:
    """`a.b.c` -> ('a', 'b', 'c'); `a[0].b` -> ('a', 'b'); () when not rooted at a name."""
    parts: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, (ast.Subscript, ast.Starred)):
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            # `model.to(device).weight`: the object came from `model`
            parts.append(node.func.attr)
            node = node.func.value
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            return tuple(reversed(parts))
        else:
            return ()


def _roots(node: ast.AST | None) -> set[str]:
    """Names whose objects an expression may hand over (an alias, a container of them, a call's result)."""
    if node is None:
        return set()
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        return _roots(node.value)
    if isinstance(node, ast.Call):
        out = set()
        if isinstance(node.func, ast.Attribute):
            out |= _roots(node.func.value)
        for a in node.args:
            out |= _roots(a)
        for k in node.keywords:
            out |= _roots(k.value)
        return out
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return set().union(*(_roots(e) for e in node.elts)) if node.elts else set()
    if isinstance(node, ast.Dict):
        return set().union(*(_roots(v) for v in node.values if v is not None)) if node.values else set()
    if isinstance(node, ast.IfExp):
        return _roots(node.body) | _roots(node.orelse)
    if isinstance(node, ast.BoolOp):
        return set().union(*(_roots(v) for v in node.values))
    if isinstance(node, ast.NamedExpr):
        return _roots(node.value)
    if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
        out = set()
        for gen in node.generators:
            out |= _roots(gen.iter)
        return out
    return set()  # arithmetic, comparisons, constants, f-strings, lambdas: new objects


def _is_literal(node: ast.AST | None) -> bool:
    """An immutable value written out: numbers, strings, None, booleans, tuples of them."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant):
        return True
    if isinstance(node, ast.Tuple):
        return all(_is_literal(e) for e in node.elts)
    if isinstance(node, ast.BinOp):
        return _is_literal(node.left) and _is_literal(node.right)
    if isinstance(node, ast.IfExp):  # `"cuda" if torch.cuda.is_available() else "cpu"`: either is a literal
        return _is_literal(node.body) and _is_literal(node.orelse)
    return False


class _Walker(ast.NodeVisitor):
    """Collects stores into objects, calls, aliases and markers of one scope (not nested function bodies)."""

    def __init__(self, facts: _Facts, module_level: bool):
        self.facts = facts
        self.module_level = module_level
        self.loop_depth = 0

    # nested scopes: their bodies are analysed through symtable (reads) and separately (calls)
    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        for d in node.decorator_list:
            self.visit(d)
        for d in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
            self.visit(d)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for d in node.decorator_list + node.bases + [k.value for k in node.keywords]:
            self.visit(d)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        # its body runs whenever it is called: count its calls as this scope's (conservative)
        self.visit(node.body)

    def _loop(self, node: ast.AST) -> None:
        self.loop_depth += 1
        self.generic_visit(node)
        self.loop_depth -= 1

    def visit_For(self, node: ast.For) -> None:
        for name in _target_names(node.target):
            self.facts.aliases.setdefault(name, set()).update(_roots(node.iter))
        self._loop(node)

    visit_AsyncFor = visit_For  # type: ignore[assignment]
    visit_While = _loop  # type: ignore[assignment]

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            if item.optional_vars is not None:
                for name in _target_names(item.optional_vars):
                    self.facts.aliases.setdefault(name, set()).update(_roots(item.context_expr))
        self.generic_visit(node)

    visit_AsyncWith = visit_With  # type: ignore[assignment]

    def _store(self, target: ast.AST, value: ast.AST | None) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self._store(t, None)
        elif isinstance(target, ast.Starred):
            self._store(target.value, value)
        elif isinstance(target, ast.Name):
            if value is not None:
                self.facts.aliases.setdefault(target.id, set()).update(_roots(value))
        else:
            chain = _chain(target)
            if chain:
                self.facts.stores_into.add(chain[0])
                if value is not None:  # `holder.x = W`: holder now shares W's object
                    self.facts.aliases.setdefault(chain[0], set()).update(_roots(value))

    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            self._store(t, node.value)
            if isinstance(t, (ast.Tuple, ast.List)):
                for name in _target_names(t):
                    self.facts.aliases.setdefault(name, set()).update(_roots(node.value))
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._store(node.target, node.value)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        chain = _chain(node.target)
        if chain:
            self.facts.stores_into.add(chain[0])  # `W += 1` changes a NumPy array in place
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for t in node.targets:
            if not isinstance(t, ast.Name):
                chain = _chain(t)
                if chain:
                    self.facts.stores_into.add(chain[0])
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if any(a.name == "*" for a in node.names):
            self.facts.dynamic = True

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in ("__dict__", "__globals__", "__builtins__", "f_globals", "f_locals"):
            self.facts.dynamic = True
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        call = _Call(None, None, None)
        if isinstance(func, ast.Name):
            call.callee = func.id
            if func.id in DYNAMIC_CALLS and not (func.id == "vars" and node.args):
                self.facts.dynamic = True
        else:
            chain = _chain(func)
            if chain:
                call.chain = chain
                call.receiver = chain[0]
                call.attr = chain[-1] if len(chain) > 1 else None
            elif isinstance(func, ast.Attribute):
                call.attr = func.attr
        call.args = [_roots(a) for a in node.args]
        call.keywords = {k.arg or "**": _roots(k.value) for k in node.keywords}
        last = call.attr or call.callee
        if last in CONFIG_CALLS and self.loop_depth == 0:
            self.facts.config = True
        if last == "update" and "config" in call.chain and self.loop_depth == 0:
            self.facts.config = True  # jax.config.update(...), from jax import config; config.update(...)
        self.facts.calls.append(call)
        self.generic_visit(node)


def _target_names(target: ast.AST) -> set[str]:
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        return set().union(*(_target_names(t) for t in target.elts)) if target.elts else set()
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return set()


def _scope_facts(table: symtable.SymbolTable, into: _Facts, *, module: bool) -> None:
    """Module-scope names read and written by a symbol table (and, for a module, its own bindings)."""
    for sym in table.get_symbols():
        name = sym.get_name()
        if module:
            if sym.is_referenced():
                into.reads.add(name)
            if (sym.is_assigned() or sym.is_imported()) and not sym.is_declared_global():
                into.binds.add(name)
        elif sym.is_global():
            if sym.is_referenced():
                into.reads.add(name)
            if sym.is_declared_global() and sym.is_assigned():
                into.binds.add(name)  # `global G; G = ...` inside a function


def _nested_facts(table: symtable.SymbolTable, into: _Facts) -> None:
    """Globals read and written by a table and every scope nested in it."""
    _scope_facts(table, into, module=False)
    for child in table.get_children():
        _nested_facts(child, into)


def _function_node_facts(node: ast.AST, globals_: set[str]) -> tuple[_Facts, _Facts]:
    """Calls and stores in a function or class body (methods and nested functions included: they run
    when it is called): (restricted to module-scope names, unrestricted for the parameter analysis)."""
    local = _Facts()
    walker = _Walker(local, module_level=False)
    bodies = [node]
    for sub in ast.walk(node):
        if sub is not node and isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bodies.append(sub)
    for owner in bodies:
        for stmt in owner.body:  # type: ignore[attr-defined]
            walker.visit(stmt)
    body = _Facts(stores_into=local.stores_into & globals_, config=local.config, dynamic=local.dynamic)
    for call in local.calls:
        body.calls.append(_Call(
            call.callee if call.callee in globals_ else None, call.attr,
            call.receiver if call.receiver in globals_ else None, call.chain,
            [a & globals_ for a in call.args], {k: v & globals_ for k, v in call.keywords.items()}))
    body.aliases = {k: v & globals_ for k, v in local.aliases.items() if k in globals_}
    return body, local


def _summary(node: ast.stmt) -> tuple[str, str]:
    """(what the statement is, in the student's terms; its kind)."""
    def short(expr: ast.AST, limit: int = 40) -> str:
        try:
            text = " ".join(ast.unparse(expr).split())
        except Exception:  # noqa: BLE001 - unparse of odd trees
            return "..."
        return text if len(text) <= limit else text[: limit - 3] + "..."

    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return f"your definition of {node.name}", "def"
    if isinstance(node, ast.ClassDef):
        return f"your class {node.name}", "class"
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return f"your import of {', '.join(a.asname or a.name for a in node.names)}", "import"
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        return f"your {short(node.value.func)}(...) call", "other"
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        lhs = " = ".join(short(t, 30) for t in targets)
        op = "=" if not isinstance(node, ast.AugAssign) else ast.unparse(node)[len(ast.unparse(node.target)):].split()[0]
        if isinstance(node.value, ast.Call):
            return f"your `{lhs} {op} {short(node.value.func, 30)}(...)` line", "assign"
        return f"your assignment to {lhs}", "assign"
    if isinstance(node, (ast.For, ast.AsyncFor)):
        return f"your `for {short(node.target, 20)} in {short(node.iter, 30)}:` loop", "other"
    if isinstance(node, ast.While):
        return f"your `while {short(node.test, 30)}:` loop", "other"
    if isinstance(node, (ast.With, ast.AsyncWith)):
        return f"your `with {short(node.items[0].context_expr, 30)}:` block", "other"
    if isinstance(node, ast.If):
        return f"your `if {short(node.test, 30)}:` block", "other"
    if isinstance(node, ast.Try):
        return "your try block", "other"
    if isinstance(node, ast.Expr):
        return f"your expression `{short(node.value)}`", "other"
    return f"your {type(node).__name__.lower()} statement", "other"


def _statement(cell: int, index: int, node: ast.stmt) -> Statement:
    summary, kind = _summary(node)
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    stmt = Statement(cell, index, first, node.end_lineno or node.lineno, summary, kind)
    stmt.barrier = _ends_the_cell(node)
    facts = stmt.facts
    try:
        table = symtable.symtable(ast.unparse(node), "<statement>", "exec")
    except (SyntaxError, ValueError, RecursionError):
        facts.dynamic = True
        return stmt
    _scope_facts(table, facts, module=True)
    own = None
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        want = "class" if isinstance(node, ast.ClassDef) else "function"
        own = next((c for c in table.get_children() if c.get_name() == node.name and c.get_type() == want), None)
    for child in table.get_children():
        if child is not own:
            _nested_facts(child, facts)  # lambdas, comprehensions, defaults: read when the statement runs
    _Walker(facts, module_level=True).visit(node)
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        stmt.kills = set(facts.binds)
    elif isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
        stmt.kills = {t.id for t in node.targets}  # type: ignore[attr-defined]
        if _is_literal(node.value):
            stmt.literals = set(stmt.kills)
        elif (isinstance(node.value, ast.Call) and _chain(node.value.func) in IMMUTABLE_RESULT_CALLS
              and isinstance(node.value.func, (ast.Name, ast.Attribute))):
            root = _chain(node.value.func)[0]
            stmt.immutable_calls = {n: root for n in stmt.kills}
        elif isinstance(node.value, ast.Lambda):
            stmt.makes = {n: {"lambda"} for n in stmt.kills}
        elif isinstance(node.value, ast.Call) and isinstance(node.value.func, (ast.Name, ast.Attribute)):
            handed = {a.id for a in node.value.args if isinstance(a, ast.Name)}
            handed |= {k.value.id for k in node.value.keywords if isinstance(k.value, ast.Name)}
            callee = _chain(node.value.func)
            if handed and callee:
                stmt.makes = {n: handed | {"@" + callee[0]} for n in stmt.kills}
    elif isinstance(node, ast.AnnAssign) and node.value is not None and isinstance(node.target, ast.Name):
        stmt.kills = {node.target.id}
        if _is_literal(node.value):
            stmt.literals = set(stmt.kills)
    if own is not None:
        body = _Facts()
        if isinstance(node, ast.ClassDef):
            # the class body runs now; its methods' bodies run when they are called
            for sym in own.get_symbols():
                if sym.is_global() and sym.is_referenced():
                    facts.reads.add(sym.get_name())
            for method in own.get_children():
                _nested_facts(method, body)
        else:
            _nested_facts(own, body)
        globals_ = body.reads | body.binds | _all_globals(own)
        restricted, local = _function_node_facts(node, globals_)
        body.merge(restricted)
        fn = _Function(node.name, body, local=local)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            fn.params = [p.arg for p in a.posonlyargs + a.args]
            fn.varargs = a.vararg is not None or a.kwarg is not None
            fn.param_names = {p.arg for p in a.posonlyargs + a.args + a.kwonlyargs}
            fn.param_names |= {p.arg for p in (a.vararg, a.kwarg) if p is not None}
            fn.mutated_params = set(local.stores_into) & fn.param_names
        else:
            fn.varargs = True  # a class: its constructor's arguments, conservatively
            fn.mutated_params = {"*"}
        stmt.functions.append(fn)
        stmt.kills = {node.name} - facts.reads
        facts.binds.add(node.name)
    return stmt


#: calls that end the process or the cell
EXIT_CALLS = frozenset({"exit", "quit", "_exit", "abort"})


def _ends_the_cell(node: ast.stmt) -> bool:
    """A top-level `raise`, `assert` or exit call: when it fires, the rest of its cell does not run."""
    if isinstance(node, (ast.Raise, ast.Assert)):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        chain = _chain(node.value.func)
        return bool(chain) and chain[-1] in EXIT_CALLS
    return False


def _all_globals(table: symtable.SymbolTable) -> set[str]:
    out = {s.get_name() for s in table.get_symbols() if s.is_global()}
    for child in table.get_children():
        out |= _all_globals(child)
    return out


def analyse_cells(cells: Iterable[tuple[int, str]]) -> dict[int, list[Statement]]:
    """(cell index, source) of the code cells, in order -> their top-level statements.
    A cell that does not parse is one statement the analysis cannot follow."""
    out: dict[int, list[Statement]] = {}
    for index, source in cells:
        tree = parse_source(source)
        if tree is None:
            lines = max(1, source.count("\n") + 1)
            # it never runs (the whole cell fails to compile): it binds nothing, and is kept so that
            # the student sees the syntax error
            stmt = Statement(index, 0, 1, lines, "your code (it does not parse)", "unparsed")
            out[index] = [stmt]
            continue
        out[index] = [_statement(index, i, node) for i, node in enumerate(tree.body)]
    return out


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
        self.functions: dict[str, list[_Function]] = {}
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

    def _call_mutates(self, call: _Call) -> set[str]:
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
