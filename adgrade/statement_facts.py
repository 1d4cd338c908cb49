"""What one top-level statement of a submission binds, reads and changes: the facts slicing works on.

Read from the source alone with `ast` and `symtable` (never executed): the names a statement binds
and reads, the objects it may change (`x[...] =`, `x.append(...)`, passing `x` to a function that
changes its parameter), the calls it makes, the functions it defines and the globals their bodies
read, and whether it does something the analysis cannot follow (`exec`, `globals()`, star imports).
adgrade/slicing.py decides from these facts which statements a question's checks need.

This module never executes student code and imports no array framework.
"""

from __future__ import annotations

import ast
import symtable
from dataclasses import dataclass, field
from typing import Iterable

from adgrade.cells import parse_source

__all__ = ["Statement", "Facts", "CallFacts", "FunctionFacts", "analyse_cells", "CONFIG_CALLS", "MUTATING_CALLS",
           "READ_ONLY_METHODS"]

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
class CallFacts:
    """A call made by a statement: whom, with which argument roots (names whose objects are handed over)."""

    callee: str | None  # a plain name called (`f(...)`), else None
    attr: str | None  # the last attribute of `a.b.f(...)`
    receiver: str | None  # the root name of `a.b.f(...)` (a method call or a module function)
    chain: tuple[str, ...] = ()  # the attribute chain, root first
    args: list[set[str]] = field(default_factory=list)  # argument roots by position (keywords appended)
    keywords: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class Facts:
    """What a piece of code reads, binds and may mutate (module-scope names only)."""

    reads: set[str] = field(default_factory=set)
    binds: set[str] = field(default_factory=set)
    stores_into: set[str] = field(default_factory=set)  # x[...] = / x.a = / del x[...] / x += (the object)
    calls: list[CallFacts] = field(default_factory=list)
    aliases: dict[str, set[str]] = field(default_factory=dict)  # bound name -> roots its value may share
    config: bool = False
    dynamic: bool = False

    def merge(self, other: "Facts") -> None:
        self.reads |= other.reads
        self.binds |= other.binds
        self.stores_into |= other.stores_into
        self.calls += other.calls
        for k, v in other.aliases.items():
            self.aliases.setdefault(k, set()).update(v)
        self.config |= other.config
        self.dynamic |= other.dynamic


@dataclass
class FunctionFacts:
    """A student function or class: what calling it (or its methods) reads, binds and mutates."""

    name: str
    facts: Facts
    params: list[str] = field(default_factory=list)
    mutated_params: set[str] = field(default_factory=set)
    varargs: bool = False
    local: Facts = field(default_factory=Facts)  # its body's calls and stores, parameters included
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
    facts: Facts = field(default_factory=Facts)
    functions: list[FunctionFacts] = field(default_factory=list)  # what a def/class statement defines
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

    def __init__(self, facts: Facts, module_level: bool):
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
        call = CallFacts(None, None, None)
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


def _scope_facts(table: symtable.SymbolTable, into: Facts, *, module: bool) -> None:
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


def _nested_facts(table: symtable.SymbolTable, into: Facts) -> None:
    """Globals read and written by a table and every scope nested in it."""
    _scope_facts(table, into, module=False)
    for child in table.get_children():
        _nested_facts(child, into)


def _function_node_facts(node: ast.AST, globals_: set[str]) -> tuple[Facts, Facts]:
    """Calls and stores in a function or class body (methods and nested functions included: they run
    when it is called): (restricted to module-scope names, unrestricted for the parameter analysis)."""
    local = Facts()
    walker = _Walker(local, module_level=False)
    bodies = [node]
    for sub in ast.walk(node):
        if sub is not node and isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bodies.append(sub)
    for owner in bodies:
        for stmt in owner.body:  # type: ignore[attr-defined]
            walker.visit(stmt)
    body = Facts(stores_into=local.stores_into & globals_, config=local.config, dynamic=local.dynamic)
    for call in local.calls:
        body.calls.append(CallFacts(
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
        body = Facts()
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
        fn = FunctionFacts(node.name, body, local=local)
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
