"""Staging a JAX call: run the student's function as one compiled program instead of op by op.

Eager JAX compiles every primitive for every new shape, one XLA program each (tens of ms apiece on a
small CPU): a check that calls `predict_nn` at four widths, or a `hessian_manual` that loops over rows,
costs hundreds of compilations, and those, not the student's arithmetic, were most of a jax-nn check.
Under `jax.jit` the same call is traced once and compiled as one program (the persistent cache keeps
it), with the same mathematics.

Tracing differs from eager running in what the function can observe and change, so a call is staged
only when the code it can reach shows none of those differences (`stageable`, read from the bytecode of
the student's functions and the problem set's wrapper, transitively, through globals, closures,
default arguments, containers of functions and `sub.NAME` in wrappers):

- no `try` or `with` (an error that tracing raises, such as converting a traced value to a float,
  would be caught by the student's own handler and change the answer instead of failing);
- nothing that looks at a value rather than computing with it: `type`, `isinstance`, `id`, `str`,
  `repr`, `format`, f-strings, `print` (the student would see `Traced<...>`, not their numbers), nor
  the modules that print, log or keep state (`sys`, `logging`, `warnings`, `random`, `numpy.random`,
  a global random generator): a staged call that fails is run again eagerly, so nothing it does may
  have an effect the second run repeats;
- nothing written outside the call: no `global`/`nonlocal` writes, and an item, attribute or
  mutating method (`append`, `update`, `+=` ...) only on an object the function made itself (a list
  or dict literal, a comprehension, `list(...)`, `.copy()`) or, in the function the check calls, on an
  argument (fresh for every call); `x.at[i].add(v)` is JAX's functional update and allowed;
- no student class or instance (methods keep state on `self`), no cached function (`lru_cache`), no
  mutable default argument.

A traced program of more than MAX_EQUATIONS operations (a Python loop unrolled) is not compiled: eager
running compiles each operation once and reuses it. A result holding anything but arrays and plain
Python values (a closure over traced values, an object) is not returned: the eager run answers. Any
other failure of the staged call also leaves the answer to the eager run, which is the one reported.
Python values in the result (ints, strings, None) are returned as the function made them.

The numbers: XLA fuses a multiply and an add into one FMA instruction under `jit`, rounding once
instead of twice; the student's process is started with XLA's instruction set capped below FMA on x86
(runner/limits.py) so that a staged and an eager call agree to the last bit in the cases measured.
Elsewhere they agree to rounding, which every tolerance absorbs.
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
                            "input", "open", "breakpoint", "exec", "eval", "setattr", "delattr", "__import__",
                            "str", "repr", "format", "ascii", "hash"})
#: modules whose use prints, logs or keeps state between calls
EAGER_MODULES = frozenset({"random", "numpy.random", "sys", "logging", "warnings", "os", "io", "builtins",
                           "pickle", "shelve", "pdb", "IPython", "matplotlib", "matplotlib.pyplot"})
#: methods that change their object in place (lists, dicts, sets, NumPy arrays)
MUTATING_METHODS = frozenset({
    "append", "extend", "insert", "pop", "popitem", "remove", "clear", "update", "setdefault", "add",
    "discard", "sort", "reverse", "fill", "put", "resize", "itemset", "setflags", "__setitem__",
    "__delitem__", "__setattr__", "__delattr__", "__iadd__", "__isub__", "__imul__", "__itruediv__",
})
#: builtins whose result is a new object
NEW_OBJECT_BUILTINS = frozenset({"list", "dict", "set", "tuple", "frozenset", "sorted", "bytearray"})
#: instructions whose result, stored in a local, is a new object of the function's own
_NEW_OBJECT_OPS = frozenset({"BUILD_LIST", "BUILD_MAP", "BUILD_SET", "BUILD_TUPLE", "BUILD_CONST_KEY_MAP",
                             "BUILD_STRING", "BUILD_SLICE", "LIST_EXTEND", "SET_UPDATE", "DICT_UPDATE",
                             "DICT_MERGE", "LIST_TO_TUPLE", "LOAD_CONST", "UNARY_NEGATIVE", "UNARY_POSITIVE",
                             "UNARY_NOT", "UNARY_INVERT", "COMPARE_OP", "IS_OP", "CONTAINS_OP"})
_TARGET_STORES = frozenset({"STORE_SUBSCR", "DELETE_SUBSCR", "STORE_SLICE", "DELETE_SLICE", "STORE_ATTR",
                            "DELETE_ATTR"})
_GLOBAL_WRITES = frozenset({"STORE_GLOBAL", "DELETE_GLOBAL", "STORE_NAME", "DELETE_NAME"})
_OUTER_LOADS = ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_CLASSDEREF")
#: how many functions deep the analysis follows calls (deeper code is not staged)
MAX_DEPTH = 12
#: a traced program larger than this (a Python loop unrolled: gradient descent over 1000 steps) compiles
#: slower than eager running, which compiles each operation once and reuses it: run it eagerly
MAX_EQUATIONS = 1000
#: primitives XLA rewrites in a compiled program (`pow` by a constant: repeated multiplication) where an
#: eager call computes them otherwise: the numbers would differ in the last bits
REWRITTEN_PRIMITIVES = frozenset({"pow"})


class _Analysis:
    def __init__(self, own_file: Callable[[str], bool], student_names: Callable[[str], Any] | None):
        self.own_file = own_file
        self.student_names = student_names  # `sub.NAME` in a wrapper: the student's NAME
        self.seen: set[int] = set()

    # -- what a name can stand for -------------------------------------------------------
    def callable_ok(self, obj: Any, depth: int, root: bool = False) -> bool:
        """Whether calling `obj` is safe to trace (see the module's docstring)."""
        for _ in range(8):  # a resolved entry, jax.jit, functools.partial: the student's function inside
            if not _static_flag(obj):
                return False  # an entry that tries several of the student's functions in turn
            if not isinstance(obj, (types.FunctionType, type)) and self._student_defined(type(obj)):
                return False  # an instance of a student's class: it keeps state
            if _static(obj, "cache_info") is not None:
                return False  # functools.lru_cache: a traced result would be kept for later calls
            if isinstance(obj, types.FunctionType) and self.own_file(obj.__code__.co_filename):
                return self.function_ok(obj, depth, root)
            if _eager_library_function(obj):
                return False  # logging.warning, operator.setitem, np.copyto, heapq.heappush ...
            if isinstance(obj, type):
                return not self._student_defined(obj)
            if isinstance(obj, types.MethodType):
                return not self._student_defined(obj.__func__) and self.value_ok(obj.__self__, depth)
            if isinstance(obj, types.ModuleType):
                return obj.__name__ not in EAGER_MODULES
            if isinstance(obj, types.BuiltinFunctionType):
                owner = getattr(obj, "__self__", None)
                if isinstance(owner, types.ModuleType):  # len, sum, math.exp: by name (see above)
                    return owner.__name__ != "builtins" or obj.__name__ not in EAGER_BUILTINS | {"next"}
                return self.value_ok(owner, depth)  # a method of an object: of a global generator, a list
            if isinstance(obj, _functools().partial):
                if not all(self.value_ok(v, depth) for v in (*obj.args, *obj.keywords.values())):
                    return False
                root = False  # the arguments it binds are the caller's objects, not fresh for each call
            inner = next((v for v in (_static(obj, "__wrapped__"), _static(obj, "func"), _static(obj, "fun"))
                          if v is not None and callable(v)), None)
            if inner is None:
                return True  # a library's function or callable object
            obj = inner
        return False

    def value_ok(self, value: Any, depth: int, nesting: int = 0) -> bool:
        """Whether a value the code reaches (a global, a closure's, a default, an item of those) is safe."""
        if value is None or value is _UNKNOWN or isinstance(value, (bool, int, float, complex, str, bytes)):
            return True
        if isinstance(value, types.ModuleType):
            return value.__name__ not in EAGER_MODULES
        if _is_random_state(value):
            return False
        if isinstance(value, (list, tuple, set, frozenset, dict)) or (
                type(value).__module__ == "types" and hasattr(value, "__dict__")):  # SimpleNamespace
            items = list(value.values() if isinstance(value, dict) else
                         vars(value).values() if hasattr(value, "__dict__") else value)
            if nesting > 3 or len(items) > 256:
                return all(not callable(v) for v in items[:256]) and nesting <= 3
            return all(self.value_ok(v, depth, nesting + 1) for v in items)
        if callable(value):
            return self.callable_ok(value, depth + 1)
        return not self._student_defined(type(value))

    def _student_defined(self, obj: Any) -> bool:
        if isinstance(obj, type):
            members = []
            for member in vars(obj).values():
                member = getattr(member, "__func__", member)  # staticmethod, classmethod
                members += [member, getattr(member, "fget", None)]  # property
            return any(self._student_defined(m) for m in members if isinstance(m, types.FunctionType))
        code = getattr(obj, "__code__", None)
        return code is not None and self.own_file(code.co_filename)

    def function_ok(self, fn: types.FunctionType, depth: int, root: bool) -> bool:
        if not self.own_file(fn.__code__.co_filename):
            return True  # a library's function: tracing it is what the library is for
        if depth > MAX_DEPTH:
            return False
        key = id(fn) * 2 + root  # not the code: a student's decorator makes many functions of one code
        if key in self.seen:
            return True
        self.seen.add(key)
        defaults = list(fn.__defaults__ or ()) + list((fn.__kwdefaults__ or {}).values())
        if any(_mutable(d) or not self.value_ok(d, depth) for d in defaults):
            return False  # `history=[]` is shared by every call
        closure = {}
        if fn.__closure__:
            for name, cell in zip(fn.__code__.co_freevars, fn.__closure__):
                try:
                    closure[name] = cell.cell_contents
                except ValueError:  # an empty cell
                    pass
        return self.code_ok(fn.__code__, fn.__globals__, closure, depth, root)

    # -- one function's code -------------------------------------------------------------
    def code_ok(self, code: types.CodeType, globals_: dict, closure: dict, depth: int, root: bool) -> bool:
        if getattr(code, "co_exceptiontable", b""):
            return False  # try/except/finally or with
        nargs = (code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & inspect.CO_VARARGS)
                 + bool(code.co_flags & inspect.CO_VARKEYWORDS))
        params = set(code.co_varnames[:nargs])
        instructions = [ins for ins in dis.get_instructions(code) if ins.opname != "CACHE"]
        own = _own_locals(instructions, globals_, params)
        wrapper_sub = code.co_varnames[1] if code.co_filename.startswith("<adgrade ") and code.co_argcount > 1 \
            else None

        def outer(ins: Any) -> Any:
            if ins.opname.startswith(("LOAD_DEREF", "LOAD_CLASSDEREF")):
                return closure.get(ins.argval, _UNKNOWN)
            if ins.argval in globals_:
                return globals_[ins.argval]
            return getattr(builtins, ins.argval, _UNKNOWN)

        def changes_own(i: int) -> bool:
            """Whether what instruction i changes belongs to this call."""
            root_ins, chain = _target(instructions, i)
            if root_ins is None:
                return False
            if len(chain) >= 2 and chain[-2].opname in ("LOAD_ATTR", "LOAD_METHOD") and chain[-2].argval == "at" \
                    and chain[-1].opname == "BINARY_SUBSCR" and instructions[i].opname == "LOAD_METHOD":
                return True  # x.at[i].add(v): JAX's functional update
            if root_ins.opname.startswith("LOAD_FAST"):
                name = root_ins.argval
                if any(c.opname in ("CALL", "PRECALL", "CALL_FUNCTION_EX") for c in chain):
                    return False
                if root and name in params:
                    return True  # the check's arguments: decoded afresh for every call
                return name in own and not chain
            # a module's function named like a method (`jnp.append`) changes nothing
            value = outer(root_ins) if root_ins.opname.startswith(_OUTER_LOADS) else None
            return (isinstance(value, types.ModuleType) and instructions[i].opname in ("LOAD_ATTR", "LOAD_METHOD")
                    and all(c.opname in ("LOAD_ATTR", "LOAD_METHOD") for c in chain))

        for i, ins in enumerate(instructions):
            op = ins.opname
            if op in _GLOBAL_WRITES or op == "FORMAT_VALUE":
                return False
            if op in ("STORE_DEREF", "DELETE_DEREF") and ins.argval in code.co_freevars:
                return False  # nonlocal: state of an enclosing call
            if op.startswith("LOAD_GLOBAL") or op == "LOAD_NAME":
                if ins.argval in EAGER_BUILTINS and ins.argval not in globals_:
                    return False
                if not self.value_ok(outer(ins), depth):
                    return False
            elif op in ("LOAD_DEREF", "LOAD_CLASSDEREF") and ins.argval in closure:
                if not self.value_ok(closure[ins.argval], depth):
                    return False
            elif op in ("LOAD_ATTR", "LOAD_METHOD"):
                if ins.argval in MUTATING_METHODS and not changes_own(i):
                    return False
                root_ins, chain = _target(instructions, i)
                if root_ins is None:
                    continue
                if root_ins.opname.startswith(_OUTER_LOADS) and all(c.opname in ("LOAD_ATTR", "LOAD_METHOD")
                                                                   for c in chain):
                    base = _attribute(outer(root_ins), [c.argval for c in chain])
                    if not _plain_owner(base):
                        return False  # a method of a deque, a namespace, a library object: it may keep state
                    value = _attribute(base, [ins.argval])
                    if not self.value_ok(value, depth):
                        return False  # np.random.normal, sys.stdout.write, a student's object's method
                elif wrapper_sub is not None and root_ins.opname.startswith("LOAD_FAST") \
                        and root_ins.argval == wrapper_sub and not chain:
                    # a wrapper's `sub.NAME`: the student's NAME is called inside
                    try:
                        value = self.student_names(ins.argval) if self.student_names else _UNKNOWN
                    except Exception:  # noqa: BLE001 - not defined: the call fails the same way eagerly
                        continue
                    if not self.value_ok(value, depth):
                        return False
            elif op in _TARGET_STORES:
                if not changes_own(i):
                    return False
            elif op == "BINARY_OP" and ins.argrepr.endswith("=") and i + 1 < len(instructions):
                store = instructions[i + 1]  # `x += y` changes a list x in place
                if not store.opname.startswith("STORE_FAST"):
                    if not store.opname.startswith(("STORE_SUBSCR", "STORE_ATTR")):
                        return False  # a cell variable (STORE_DEREF): shared with a closure
                elif not (store.argval in own or (root and store.argval in params)):
                    return False
        for const in code.co_consts:  # lambdas and inner functions: read with the same globals
            if isinstance(const, types.CodeType) and not self.code_ok(const, globals_, closure, depth + 1, False):
                return False
        return True


#: library functions that change their argument or print (reached by name: `from logging import warning`)
EAGER_FUNCTIONS = frozenset({
    "operator.setitem", "operator.delitem", "operator.iadd", "operator.isub", "operator.imul",
    "operator.itruediv", "operator.ifloordiv", "operator.imod", "operator.ipow", "operator.iand", "operator.ior",
    "operator.ixor", "operator.iconcat", "operator.ilshift", "operator.irshift", "operator.imatmul",
    "numpy.copyto", "numpy.put", "numpy.place", "numpy.putmask", "numpy.fill_diagonal", "numpy.put_along_axis",
    "numpy.save", "numpy.savetxt", "numpy.savez", "_operator.setitem", "_operator.delitem",
})
#: modules whose every function prints, logs or changes what it is given
EAGER_FUNCTION_MODULES = (EAGER_MODULES - {"builtins"}) | {"heapq", "_heapq", "pprint", "bisect", "_bisect"}


def _eager_library_function(obj: Any) -> bool:
    module = getattr(obj, "__module__", None) or ""
    name = getattr(obj, "__name__", "") or ""
    if not isinstance(module, str) or not isinstance(name, str):
        return False
    if module in ("operator", "_operator") and name.startswith("i") and name not in ("index", "indexOf", "inv",
                                                                                      "invert", "is_", "is_not",
                                                                                      "itemgetter"):
        return True
    return (f"{module}.{name}" in EAGER_FUNCTIONS or module.split(".")[0] in EAGER_FUNCTION_MODULES
            or module in EAGER_FUNCTION_MODULES)


def _functools() -> Any:
    import functools

    return functools


def _mutable(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes, types.FunctionType,
                                           types.BuiltinFunctionType, types.ModuleType, type)):
        return False
    if isinstance(value, (tuple, frozenset)):
        return any(_mutable(v) for v in value)
    import sys

    jax = sys.modules.get("jax")
    return not (jax is not None and isinstance(value, jax.Array))  # JAX arrays are immutable


def _is_random_state(value: Any) -> bool:
    """A global random generator (NumPy's, Python's): drawing from it changes it."""
    import random
    import sys

    numpy = sys.modules.get("numpy")
    kinds: tuple = (random.Random,)
    if numpy is not None:
        kinds += (numpy.random.Generator, numpy.random.RandomState, numpy.random.BitGenerator)
    return isinstance(value, kinds)


def _plain_owner(value: Any) -> bool:
    """Whether an attribute of this outer value may be read in a staged call: a module's, a function's or
    a class's, or a method of plain data (arrays, numbers, strings, lists, dicts: their changing
    methods are refused by name)."""
    import sys

    if value is _UNKNOWN or value is None or isinstance(value, (types.ModuleType, types.FunctionType, type,
                                                                 bool, int, float, complex, str, bytes, list,
                                                                 tuple, dict, set, frozenset, range)):
        return True
    jax, numpy = sys.modules.get("jax"), sys.modules.get("numpy")
    return (jax is not None and isinstance(value, jax.Array)) or (
        numpy is not None and isinstance(value, (numpy.ndarray, numpy.generic, numpy.dtype)))


def _attribute(value: Any, names: list[str]) -> Any:
    """`value.a.b` through modules only (reading a library module's attribute runs no student code)."""
    for name in names:
        if not isinstance(value, types.ModuleType):
            return value
        value = getattr(value, name, _UNKNOWN)
    return value


def _target(instructions: list, i: int) -> tuple[Any, list]:
    """For an instruction that changes or reads an attribute/item chain (`a.b[k] = v`, `a.b.append`), the
    load the chain starts from and the chain's instructions after it, from the instructions' source
    positions (the target's first column). (None, []) when that cannot be told."""
    target = instructions[i].positions
    if target is None or target.lineno is None:
        return None, []
    chain: list = []
    for j in range(i - 1, -1, -1):
        pos = instructions[j].positions
        if pos is None or pos.lineno != target.lineno or pos.col_offset is None \
                or pos.col_offset < target.col_offset or (target.end_col_offset is not None
                                                          and pos.end_col_offset is not None
                                                          and pos.end_col_offset > target.end_col_offset):
            break
        if pos.col_offset != target.col_offset:
            continue  # the key of a subscript, an argument
        op = instructions[j].opname
        if op.startswith("LOAD_FAST") or op.startswith(_OUTER_LOADS) or op == "LOAD_CONST":
            return instructions[j], list(reversed(chain))
        chain.append(instructions[j])
    return None, []


def _own_locals(instructions: list, globals_: dict, params: set[str]) -> set[str]:
    """The locals that only ever hold objects the function made itself (see the module's docstring); a
    parameter holds the caller's object."""
    producers: dict[str, list[str | None]] = {name: ["?"] for name in params}
    for k, ins in enumerate(instructions):
        if not ins.opname.startswith("STORE_FAST") or k == 0:
            continue
        prev = instructions[k - 1]
        if ins.is_jump_target:  # `x = state or {}`: the value comes from more than one place
            producers.setdefault(ins.argval, []).append("?")
            continue
        made: str | None = None  # None: a new object; a name: the same object as that local's; "?": unknown
        if prev.opname in _NEW_OBJECT_OPS:
            made = None
        elif prev.opname == "BINARY_OP":
            if prev.argrepr.endswith("="):
                root_ins, chain = _target(instructions, k - 1)
                made = root_ins.argval if root_ins is not None and root_ins.opname.startswith("LOAD_FAST") \
                    and not chain else "?"
            else:
                made = None
        elif prev.opname in ("CALL", "CALL_FUNCTION_EX"):
            root_ins, chain = _target(instructions, k - 1)
            made = "?"
            if root_ins is not None:
                if root_ins.opname == "LOAD_CONST" and isinstance(root_ins.argval, types.CodeType):
                    made = None  # a comprehension
                elif root_ins.opname.startswith(("LOAD_GLOBAL", "LOAD_NAME")) and not [c for c in chain
                                                                                     if c.opname.startswith("LOAD_")] \
                        and root_ins.argval in NEW_OBJECT_BUILTINS and root_ins.argval not in globals_:
                    made = None
                elif any(c.opname in ("LOAD_METHOD", "LOAD_ATTR") and c.argval == "copy" for c in chain):
                    made = None
        else:
            made = "?"
        producers.setdefault(ins.argval, []).append(made)
    own = {name for name, made in producers.items() if "?" not in made}
    changed = True
    while changed:  # `x += y` keeps x the function's own only if x was
        changed = False
        for name in list(own):
            if any(m is not None and m not in own for m in producers[name]):
                own.discard(name)
                changed = True
    return own


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
    if not _dicts_in_order((args, kwargs)):
        raise NotPlain("a dict whose keys are not in sorted order (JAX's trees sort them)")
    leaves, treedef = tree_util.tree_flatten((list(args), dict(kwargs)))
    dynamic = [i for i, leaf in enumerate(leaves) if isinstance(leaf, jax.Array)]
    shape: dict[str, Any] = {}

    def program(values: list) -> list:
        full = list(leaves)
        for i, value in zip(dynamic, values):
            full[i] = value
        call_args, call_kwargs = tree_util.tree_unflatten(treedef, full)
        out = fn(*call_args, **call_kwargs)
        shape["ordered"] = _dicts_in_order(out)
        out_leaves, out_def = tree_util.tree_flatten(out)
        traced = [isinstance(leaf, jax.core.Tracer) for leaf in out_leaves]
        shape.update(treedef=out_def, leaves=[None if t else leaf for t, leaf in zip(traced, out_leaves)],
                     traced=traced)
        return [leaf for t, leaf in zip(traced, out_leaves) if t]

    values = [leaves[i] for i in dynamic]
    traced = jax.jit(program).trace(values)
    if not shape["ordered"]:
        raise NotPlain("a dict whose keys are not in sorted order (JAX's trees sort them)")
    primitives = _primitives(traced.jaxpr.jaxpr)
    if sum(primitives.values()) > MAX_EQUATIONS:
        raise TooLarge(f"{sum(primitives.values())} operations traced")
    if primitives.keys() & REWRITTEN_PRIMITIVES:
        raise NotPlain("x ** 3.0 is rewritten as x * x * x in a compiled program (libm's pow eagerly)")
    for leaf in shape["leaves"]:
        _plain_or_raise(jax, leaf)
    arrays = iter(jax.block_until_ready(traced.lower().compile()(values)))
    out_leaves = [next(arrays) if t else leaf for t, leaf in zip(shape["traced"], shape["leaves"])]
    return tree_util.tree_unflatten(shape["treedef"], out_leaves)


class NotPlain(Exception):
    """The traced function returned something other than arrays and plain Python values."""


def _plain_or_raise(jax: Any, leaf: Any) -> None:
    """A result's leaf that is not traced must be plain: a closure, an object or a string made while
    tracing may hold a traced value (or its text), which only the eager run can give correctly."""
    import numpy as np

    if leaf is None or isinstance(leaf, (bool, int, float, complex, bytes, np.generic)):
        return
    if isinstance(leaf, str):
        if "Trace" not in leaf:
            return
    elif isinstance(leaf, np.ndarray) and leaf.dtype != object:
        return
    elif isinstance(leaf, jax.Array) and not isinstance(leaf, jax.core.Tracer):
        return
    raise NotPlain(type(leaf).__name__)


class TooLarge(Exception):
    """The traced program is larger than MAX_EQUATIONS: eager running is faster."""


def _primitives(jaxpr: Any, depth: int = 0, into: Any = None) -> Any:
    """How many times each primitive appears in a jaxpr, nested ones (a `jax.jit` or `lax.scan` of the
    student's) included."""
    from collections import Counter

    from adgrade.precision import jaxprs_in

    into = Counter() if into is None else into
    for eqn in jaxpr.eqns:
        into[eqn.primitive.name] += 1
        if depth < 16:
            for param in eqn.params.values():
                for inner in jaxprs_in(param):
                    _primitives(inner, depth + 1, into)
    return into


def _dicts_in_order(tree: Any, depth: int = 0) -> bool:
    """Whether every dict in a tree of lists, tuples and dicts has its keys in sorted order (JAX's
    trees rebuild a dict in that order: a student iterating `params.values()` would see another)."""
    if depth > 32:
        return False
    if isinstance(tree, dict):
        keys = list(tree)
        try:
            if keys != sorted(keys):
                return False
        except TypeError:
            return False
        return all(_dicts_in_order(v, depth + 1) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return all(_dicts_in_order(v, depth + 1) for v in tree)
    return True





__all__ = ["stageable", "staged_call", "TooLarge", "NotPlain", "MAX_EQUATIONS"]
