"""Staging a JAX call: run the student's function as one compiled program instead of op by op.

Eager JAX compiles every primitive for every new shape, one XLA program each (tens of ms apiece on a
small CPU): a check that calls `predict_nn` at four widths, or a `hessian_manual` that loops over rows,
costs hundreds of compilations, and those, not the student's arithmetic, were most of a jax-nn check.
Under `jax.jit` the same call is traced once and compiled as one program (the persistent cache keeps
it), with the same mathematics.

Tracing differs from eager running in what the function can observe and change, so a call is staged
only when the code it can reach shows none of those differences (`stageable`, read from the bytecode of
the student's functions and the problem set's wrapper, transitively):

- no `try` or `with` (an error that tracing raises, such as converting a traced value to a float,
  would be caught by the student's own handler and change the answer instead of failing);
- no `type(...)`, `isinstance(...)` or `id(...)` (a traced value is not the concrete array), and no
  `print(...)` (the student would see `Traced<ShapedArray(...)>`, not their numbers);
- no write to anything that outlives the call: `global`/`nonlocal` names, attributes, items or
  mutating methods (`append`, `update`, ...) of module-level data or of a parameter of a function
  called inside (a traced value must never be left where a later call finds it);
- no student class or instance (methods keep state on `self`).

A traced program of more than MAX_EQUATIONS operations (a Python loop unrolled) is not compiled: eager
running compiles each operation once and reuses it. Anything else is run eagerly, as before. A staged call that fails for any reason is run again eagerly,
and that run's result or error is the answer: staging can make a check faster, never change it.
Python values in the result (ints, strings, None) are returned as the function made them, not as
arrays.
"""

from __future__ import annotations

import builtins
import dis
import inspect
import types
from typing import Any, Callable, Iterable

#: builtins whose answer differs between a traced and a concrete array without raising, or that show the
#: student a traced value (`print` would print `Traced<ShapedArray(float64[3])>`, not their numbers)
EAGER_BUILTINS = frozenset({"type", "isinstance", "id", "issubclass", "vars", "locals", "globals", "print",
                            "input", "open", "breakpoint", "exec", "eval", "setattr", "delattr", "__import__"})
#: methods that change their object in place (lists, dicts, sets, NumPy arrays)
MUTATING_METHODS = frozenset({
    "append", "extend", "insert", "pop", "popitem", "remove", "clear", "update", "setdefault", "add",
    "discard", "sort", "reverse", "fill", "put", "resize", "itemset", "setflags", "__setitem__",
    "__delitem__", "__setattr__", "__delattr__", "__iadd__", "__isub__", "__imul__", "__itruediv__",
})
_SUBSCRIPT_STORES = frozenset({"STORE_SUBSCR", "DELETE_SUBSCR", "STORE_SLICE", "DELETE_SLICE"})
_GLOBAL_WRITES = frozenset({"STORE_GLOBAL", "DELETE_GLOBAL", "STORE_NAME", "DELETE_NAME"})
#: how many functions deep the analysis follows calls (deeper code is not staged)
MAX_DEPTH = 12
#: a traced program larger than this (a Python loop unrolled: gradient descent over 1000 steps) compiles
#: slower than eager running, which compiles each operation once and reuses it: run it eagerly
MAX_EQUATIONS = 1000


class _Analysis:
    def __init__(self, own_file: Callable[[str], bool], student_names: Callable[[str], Any] | None):
        self.own_file = own_file
        self.student_names = student_names  # `sub.NAME` in a wrapper: the student's NAME
        self.seen: set[int] = set()

    def callable_ok(self, obj: Any, depth: int, root: bool = False) -> bool:
        """Whether calling `obj` is safe to trace (see the module's docstring)."""
        for _ in range(8):  # a resolved entry, jax.jit, functools.partial: the student's function inside
            if not _static_flag(obj):
                return False  # an entry that tries several of the student's functions in turn
            if isinstance(obj, types.FunctionType) and self.own_file(obj.__code__.co_filename):
                return self.function_ok(obj, depth, root)
            if isinstance(obj, type):
                return not self._student_defined(obj)
            if isinstance(obj, types.MethodType):
                return not self._student_defined(obj.__func__)
            if isinstance(obj, (types.BuiltinFunctionType, types.ModuleType)):
                return True
            if not isinstance(obj, types.FunctionType) and self._student_defined(type(obj)):
                return False  # an instance of a student's class: it keeps state
            inner = next((v for v in (_static(obj, "__wrapped__"), _static(obj, "func"), _static(obj, "fun"))
                          if v is not None and callable(v)), None)
            if inner is None:
                return True  # a library's function or callable object
            obj = inner
        return False

    def _student_defined(self, obj: Any) -> bool:
        if isinstance(obj, type):
            return any(self._student_defined(v) for v in vars(obj).values() if isinstance(v, types.FunctionType))
        code = getattr(obj, "__code__", None)
        return code is not None and self.own_file(code.co_filename)

    def function_ok(self, fn: types.FunctionType, depth: int, root: bool) -> bool:
        if not self.own_file(fn.__code__.co_filename):
            return True  # a library's function: tracing it is what the library is for
        if depth > MAX_DEPTH:
            return False
        key = id(fn.__code__) * 2 + root
        if key in self.seen:
            return True
        self.seen.add(key)
        closure = {}
        if fn.__closure__:
            for name, cell in zip(fn.__code__.co_freevars, fn.__closure__):
                try:
                    closure[name] = cell.cell_contents
                except ValueError:  # an empty cell
                    pass
        return self.code_ok(fn.__code__, fn.__globals__, closure, depth, root)

    def code_ok(self, code: types.CodeType, globals_: dict, closure: dict, depth: int, root: bool) -> bool:
        if getattr(code, "co_exceptiontable", b""):
            return False  # try/except/finally or with
        nargs = (code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & inspect.CO_VARARGS)
                 + bool(code.co_flags & inspect.CO_VARKEYWORDS))
        params = set(code.co_varnames[:nargs])
        wrapper_sub = code.co_varnames[1] if code.co_filename.startswith("<adgrade ") and code.co_argcount > 1 \
            else None

        def outer_value(ins: Any) -> Any:
            if ins.opname.startswith(("LOAD_DEREF", "LOAD_CLASSDEREF")):
                return closure.get(ins.argval, _UNKNOWN)
            return globals_.get(ins.argval, _UNKNOWN)

        def changes_own(i: int) -> bool:
            """Whether what instruction i changes in place belongs to this call (see `_changed_root`)."""
            kind, ins = _changed_root(instructions, i)
            if kind == "local":
                return ins.argval not in params or root
            if kind == "outer":
                return isinstance(outer_value(ins), types.ModuleType)
            return False

        instructions = list(dis.get_instructions(code))
        for i, ins in enumerate(instructions):
            op = ins.opname
            if op in _GLOBAL_WRITES:
                return False
            if op in ("STORE_DEREF", "DELETE_DEREF") and ins.argval in code.co_freevars:
                return False  # nonlocal: state of an enclosing call
            if op.startswith("LOAD_GLOBAL") or op == "LOAD_NAME":
                if ins.argval in EAGER_BUILTINS and ins.argval not in globals_:
                    return False
                if not self._value_ok(globals_.get(ins.argval, _UNKNOWN), depth):
                    return False
            elif op in ("LOAD_DEREF", "LOAD_CLASSDEREF") and ins.argval in closure:
                if not self._value_ok(closure[ins.argval], depth):
                    return False
            elif op in ("LOAD_ATTR", "LOAD_METHOD") and ins.argval in MUTATING_METHODS:
                if not changes_own(i):
                    return False
            elif op in ("LOAD_ATTR", "LOAD_METHOD") and wrapper_sub is not None:
                kind, base = _changed_root(instructions, i)
                if kind == "local" and base.argval == wrapper_sub and base is instructions[i - 1]:
                    # a wrapper's `sub.NAME`: the student's NAME is called inside
                    try:
                        value = self.student_names(ins.argval) if self.student_names else _UNKNOWN
                    except Exception:  # noqa: BLE001 - not defined: the call fails the same way eagerly
                        continue
                    if not self._value_ok(value, depth):
                        return False
            elif op in ("STORE_ATTR", "DELETE_ATTR"):
                if not changes_own(i):
                    return False
            elif op in _SUBSCRIPT_STORES:
                # `obj[key] = value`: the object is loaded before the key, which can be any expression;
                # every load on the statement's line counts (conservative)
                line = ins.positions.lineno if ins.positions else None
                for other in instructions[:i]:
                    if not other.positions or other.positions.lineno != line:
                        continue
                    if other.opname.startswith(("LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_CLASSDEREF")):
                        value = outer_value(other)
                        if not (isinstance(value, (types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
                                                   type)) or value is _UNKNOWN and other.argval in dir(builtins)):
                            return False
                    elif other.opname.startswith("LOAD_FAST") and other.argval in params and not root:
                        return False
        for const in code.co_consts:  # lambdas and inner functions: read with the same globals
            if isinstance(const, types.CodeType) and not self.code_ok(const, globals_, closure, depth + 1, False):
                return False
        return True

    def _value_ok(self, value: Any, depth: int) -> bool:
        if value is _UNKNOWN or isinstance(value, types.ModuleType):
            return True
        if callable(value):
            return self.callable_ok(value, depth + 1)
        return not self._student_defined(type(value))


def _static_flag(obj: Any) -> bool:
    try:
        return bool(inspect.getattr_static(obj, "__adgrade_stageable__", True))
    except Exception:  # noqa: BLE001
        return False


def _static(obj: Any, name: str) -> Any:
    """`obj.name` for a library's object (its type is not the student's: reading it runs no student
    code), or None."""
    try:
        return getattr(obj, name, None)
    except Exception:  # noqa: BLE001 - an object that refuses to be looked at: treated as opaque
        return None


def _changed_root(instructions: list, i: int) -> tuple[str, Any]:
    """Where the attribute chain that instruction i works on starts: ("local", LOAD_FAST),
    ("outer", LOAD_GLOBAL/LOAD_DEREF) or ("unknown", None) (an expression's result)."""
    j = i - 1  # for a store, the owner is loaded right before it (and the value before that)
    while j >= 0 and instructions[j].opname in ("LOAD_ATTR", "LOAD_METHOD", "CACHE"):
        j -= 1
    if j < 0:
        return ("unknown", None)
    ins = instructions[j]
    if ins.opname.startswith("LOAD_FAST"):
        return ("local", ins)
    if ins.opname.startswith(("LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_CLASSDEREF")):
        return ("outer", ins)
    return ("unknown", None)


class _Unknown:
    """A name the analysis cannot see the value of (a builtin, a local of an enclosing call)."""


_UNKNOWN = _Unknown()


def stageable(fn: Callable, own_files: Iterable[str], student_names: Callable[[str], Any] | None = None) -> bool:
    """Whether `fn` (a student's entry, or a problem-set wrapper reaching the student's names through
    `student_names`) can be traced with the same result as running it eagerly. Conservative: code it
    cannot follow is not staged."""
    files = set(own_files)
    analysis = _Analysis(lambda name: name in files or name.startswith("<adgrade "), student_names)
    try:
        return analysis.callable_ok(fn, 0, root=True)
    except Exception:  # noqa: BLE001 - code the analysis does not understand: run it eagerly
        return False


def staged_call(jax: Any, fn: Callable, args: list, kwargs: dict) -> Any:
    """`fn(*args, **kwargs)` traced and compiled as one program; the arrays of the inputs are its
    arguments (everything else, such as a test function or a Python number, is fixed). Raises whatever
    tracing raises: the caller runs the function eagerly then."""
    tree_util = jax.tree_util
    leaves, treedef = tree_util.tree_flatten((list(args), dict(kwargs)))
    dynamic = [i for i, leaf in enumerate(leaves) if isinstance(leaf, jax.Array)]
    shape: dict[str, Any] = {}

    def program(values: list) -> list:
        full = list(leaves)
        for i, value in zip(dynamic, values):
            full[i] = value
        call_args, call_kwargs = tree_util.tree_unflatten(treedef, full)
        out = fn(*call_args, **call_kwargs)
        out_leaves, out_def = tree_util.tree_flatten(out)
        traced = [isinstance(leaf, jax.core.Tracer) for leaf in out_leaves]
        shape.update(treedef=out_def, leaves=[None if t else leaf for t, leaf in zip(traced, out_leaves)],
                     traced=traced)
        return [leaf for t, leaf in zip(traced, out_leaves) if t]

    values = [leaves[i] for i in dynamic]
    traced = jax.jit(program).trace(values)
    size = _equations(traced.jaxpr.jaxpr)
    if size > MAX_EQUATIONS:
        raise TooLarge(f"{size} operations traced")
    arrays = iter(jax.block_until_ready(traced.lower().compile()(values)))
    out_leaves = [next(arrays) if t else leaf for t, leaf in zip(shape["traced"], shape["leaves"])]
    return tree_util.tree_unflatten(shape["treedef"], out_leaves)


class TooLarge(Exception):
    """The traced program is larger than MAX_EQUATIONS: eager running is faster."""


def _equations(jaxpr: Any, depth: int = 0) -> int:
    """The equations of a jaxpr, nested ones (a `jax.jit` or `lax.scan` of the student's) included."""
    from adgrade.precision import jaxprs_in

    total = len(jaxpr.eqns)
    if depth < 16:
        for eqn in jaxpr.eqns:
            for param in eqn.params.values():
                total += sum(_equations(inner, depth + 1) for inner in jaxprs_in(param))
    return total


__all__ = ["stageable", "staged_call", "TooLarge", "MAX_EQUATIONS"]
