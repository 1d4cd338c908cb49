"""What a submission's source says about it, read with `ast` before (and whatever) it runs.

Two findings, independent of anything the submission's process reports:

- `autodiff_reach`: which automatic-differentiation functions an entry can
  reach, through its own body, the student's functions and module-level values
  it uses, aliases (`g = jax.grad`, `from jax import grad as g`, `getattr(jax,
  "grad")`) and private modules (`jax._src.api.grad`, `torch.autograd.*`,
  `autograd.core.make_vjp`). A "manual" entry that reaches one fails, even if
  the process's own record of the calls it made was emptied.
- `channel_touches`: code that reaches for the grader's channel or adgrade's
  internals (writing on raw file descriptors, /proc/self/fd, importing
  adgrade, walking the garbage collector or the grader's frames, ctypes). Such
  a submission is flagged for the instructor's review; it is not scored down
  for it (an honest student may write `os.write(1, ...)`, and this is a
  reading of the text, not a proof).

Both are approximations of the code's meaning: names are resolved
flow-insensitively (the last binding wins), and code built at run time
(`exec`, `eval` of strings) is not followed; the parent's protocol checks and
the process's own call record cover what this does not.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Iterable

from adgrade.backends.autograd_backend import PROBE_TARGETS as AUTOGRAD_TARGETS
from adgrade.backends.jax_backend import PROBE_TARGETS as JAX_TARGETS
from adgrade.backends.torch_backend import PROBE_TARGETS as TORCH_TARGETS
from adgrade.cells import parsed_code_cells

#: the public autodiff entry points every backend already watches at run time
PUBLIC_AUTODIFF = {f"{m}.{a}" for m, a in (*JAX_TARGETS, *AUTOGRAD_TARGETS, *TORCH_TARGETS)}
#: the names those functions have in private modules (jax._src.api.grad, autograd.core.make_vjp, ...)
AUTODIFF_WORDS = {a.rpartition(".")[2] for a in PUBLIC_AUTODIFF} | {
    "elementwise_grad", "grad_and_aux", "holomorphic_grad", "make_hvp", "make_ggnvp", "deriv", "multigrad_dict",
    "hessian_tensor_product", "hessian_vector_product", "tensor_jacobian_product", "vector_jacobian_product",
    "backward_pass", "run_backward", "_jvp", "_vjp", "jvp_jaxpr", "vjp_jaxpr",
}
#: whole modules that are differentiation machinery, whatever the name used in them
AUTODIFF_MODULES = ("jax._src.interpreters.ad", "jax.interpreters.ad", "jax._src.ad_util", "torch.autograd",
                    "torch._C._autograd", "torch._C._functions", "torch.func", "torch._functorch", "functorch",
                    "autograd.core", "autograd.differential_operators", "jax.experimental.jet")
#: in torch.autograd, names that switch differentiation off or define it by hand: not autodiff of the answer
NOT_AUTODIFF = {"no_grad", "set_grad_enabled", "enable_grad", "inference_mode", "grad_mode", "Function",
                "Variable", "function", "gradcheck", "gradgradcheck", "detect_anomaly", "set_detect_anomaly",
                "torch.func.functional_call", "torch.func.vmap", "torch.func.stack_module_state"}
#: packages whose private modules are autodiff when a name in them is one of AUTODIFF_WORDS
PRIVATE_PACKAGES = ("jax._src.", "jax._src", "jaxlib.", "torch._", "autograd.")


def is_autodiff(path: str) -> bool:
    """Whether a dotted name (as resolved from the source) is an automatic-differentiation function."""
    if path in PUBLIC_AUTODIFF:
        return True
    head, _, last = path.rpartition(".")
    if last in NOT_AUTODIFF or path in NOT_AUTODIFF:
        return False
    if any(path == m or path.startswith(m + ".") for m in AUTODIFF_MODULES):
        return path not in AUTODIFF_MODULES or head == ""  # a module used as a whole counts through its names
    return last in AUTODIFF_WORDS and any(path.startswith(p) for p in PRIVATE_PACKAGES)


@dataclass(frozen=True)
class Finding:
    line: int
    what: str
    cell: str = ""  # a notebook's "cell 7" (line numbers count from its first line)

    def __str__(self) -> str:
        return f"{self.cell + ', ' if self.cell else ''}line {self.line}: {self.what}"


@dataclass
class _Node:
    """A top-level name of the submission: a function, a class, or a value assigned at module level."""

    name: str
    line: int
    refs: set[str] = field(default_factory=set)  # other top-level names it uses
    autodiff: list[Finding] = field(default_factory=list)  # autodiff it uses directly


@dataclass
class Audit:
    nodes: dict[str, _Node] = field(default_factory=dict)
    touches: list[Finding] = field(default_factory=list)
    #: a method named backward is defined: `.backward()` calls may be the student's own
    own_backward: bool = False
    #: the notebook cell being read (findings name it)
    cell: str = ""

    def finding(self, node: ast.AST, what: str) -> Finding:
        return Finding(getattr(node, "lineno", 0), what, self.cell)

    def autodiff_reach(self, entry: str) -> list[Finding]:
        """Autodiff the top-level name `entry` can reach, each with the line where it is used."""
        seen, todo, found = set(), [entry], []
        while todo:
            name = todo.pop()
            if name in seen or name not in self.nodes:
                continue
            seen.add(name)
            node = self.nodes[name]
            found.extend(f for f in node.autodiff if f not in found)
            todo.extend(node.refs)
        return sorted(found, key=lambda f: f.line)


# -- reading the source --------------------------------------------------------------------------------------

def audit(cells: Iterable) -> Audit:
    """Read every code cell (cells.Cell: source, first_line) in order; cells that do not parse are skipped
    (the run reports their SyntaxError)."""
    out = Audit()
    aliases: dict[str, str] = {}  # top-level name -> dotted path it stands for
    trees = []
    labels = []
    for cell, tree in parsed_code_cells(cells):
        offset = getattr(cell, "first_line", 1) - 1
        if offset:
            ast.increment_lineno(tree, offset)
        trees.append(tree)
        label = str(getattr(cell, "label", ""))
        labels.append(label if label.startswith("cell") else "")
    # first pass: every import and alias anywhere (flow-insensitive: a name imported in a function is
    # the same module for the purpose of this reading)
    for tree in trees:
        for node in ast.walk(tree):
            _bind_imports(node, aliases)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "backward":
                out.own_backward = True
    for _ in range(3):  # aliases of aliases (g = grad; h = g)
        for tree in trees:
            for stmt in tree.body:
                _bind_assignment(stmt, aliases)
    for tree, label in zip(trees, labels):
        out.cell = label
        for stmt in tree.body:
            _collect_top_level(stmt, aliases, out)
        _find_touches(tree, aliases, out)
    out.cell = ""
    return out


def _bind_imports(node: ast.AST, aliases: dict[str, str]) -> None:
    if isinstance(node, ast.Import):
        for a in node.names:
            if a.asname:
                aliases[a.asname] = a.name
            else:
                top = a.name.split(".")[0]
                aliases[top] = top
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
        for a in node.names:
            if a.name == "*":
                # `from jax import *` and the like: its autodiff names are bound as themselves
                for path in PUBLIC_AUTODIFF:
                    module, _, name = path.rpartition(".")
                    if module == node.module:
                        aliases[name] = path
            else:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"


def _bind_assignment(stmt: ast.stmt, aliases: dict[str, str]) -> None:
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        path = resolve(stmt.value, aliases)
        if path:
            aliases[stmt.targets[0].id] = path
    elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
        path = resolve(stmt.value, aliases)
        if path:
            aliases[stmt.target.id] = path


def resolve(expr: ast.AST, aliases: dict[str, str]) -> str:
    """The dotted path an expression names (`jax.grad`, `api.grad` -> `jax._src.api.grad`, `getattr(jax,
    "grad")`, `__import__("jax")`, `importlib.import_module("jax._src.api")`), or ''."""
    if isinstance(expr, ast.Name):
        return aliases.get(expr.id, "")
    if isinstance(expr, ast.Attribute):
        base = resolve(expr.value, aliases)
        return f"{base}.{expr.attr}" if base else ""
    if isinstance(expr, ast.Call):
        func = resolve(expr.func, aliases) if not isinstance(expr.func, ast.Name) else (
            aliases.get(expr.func.id, expr.func.id))
        args = expr.args
        if func in ("getattr", "builtins.getattr") and len(args) >= 2 and _const_str(args[1]):
            base = resolve(args[0], aliases)
            return f"{base}.{args[1].value}" if base else ""
        if func in ("__import__", "builtins.__import__", "importlib.import_module") and args and _const_str(args[0]):
            if func == "importlib.import_module" or expr.keywords or len(args) >= 4:  # a fromlist: the module
                return args[0].value
            return args[0].value.split(".")[0]  # __import__("a.b") is package a
    return ""


def _const_str(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _collect_top_level(stmt: ast.stmt, aliases: dict[str, str], out: Audit) -> None:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        names = [stmt.name]
    elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    else:
        return
    for name in names:
        if isinstance(stmt, ast.AugAssign):
            node = out.nodes.setdefault(name, _Node(name, stmt.lineno))
        else:  # a new definition replaces the earlier one, as it does when the cells run
            node = out.nodes[name] = _Node(name, stmt.lineno)
        _uses(stmt, aliases, node, out)


def _uses(tree: ast.AST, aliases: dict[str, str], node: _Node, out: Audit) -> None:
    """What a definition uses: autodiff paths (directly or by alias), other top-level names, and
    `.backward()` calls (PyTorch's reverse pass) unless the student defines a backward of their own.
    A function's own parameters and local variables shadow the module's names."""
    _scan(tree, aliases, frozenset(), node, out)


_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _scan(tree: ast.AST, aliases: dict[str, str], shadowed: frozenset, node: _Node, out: Audit) -> None:
    if isinstance(tree, _FUNCTIONS):
        # decorators and defaults belong to the enclosing scope
        outer = [*getattr(tree, "decorator_list", []), *tree.args.defaults,
                 *[d for d in tree.args.kw_defaults if d is not None]]
        for sub in outer:
            _scan(sub, aliases, shadowed, node, out)
        local = _local_names(tree)
        inner = {k: v for k, v in aliases.items() if k not in local}
        body = tree.body if isinstance(tree.body, list) else [tree.body]
        for stmt in body:  # a local alias of autodiff (g = jax.grad inside the function) still counts
            for sub in ast.walk(stmt):
                _bind_imports(sub, inner)
            _bind_assignment(stmt, inner)
        for stmt in body:
            _scan(stmt, inner, shadowed | (local - inner.keys()), node, out)
        return
    if isinstance(tree, (ast.Attribute, ast.Name, ast.Call)):
        path = resolve(tree, aliases)
        if path and is_autodiff(path) and isinstance(getattr(tree, "ctx", ast.Load()), ast.Load) and not (
                isinstance(tree, ast.Name) and tree.id in shadowed):
            used = ast.unparse(tree)
            shown = used if used == path else f"{used[:80]} ({path})"
            finding = out.finding(tree, f"`{shown[:160]}`")
            if finding not in node.autodiff:
                node.autodiff.append(finding)
    if isinstance(tree, ast.Name) and isinstance(tree.ctx, ast.Load) and tree.id != node.name \
            and tree.id not in shadowed:
        node.refs.add(tree.id)
    if (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Attribute) and tree.func.attr == "backward"
            and not out.own_backward):
        finding = out.finding(tree, f"`{ast.unparse(tree.func)[:120]}()` (PyTorch's backward pass)")
        if finding not in node.autodiff:
            node.autodiff.append(finding)
    for child in ast.iter_child_nodes(tree):
        _scan(child, aliases, shadowed, node, out)


def _local_names(fn: ast.AST) -> set[str]:
    """Parameters and names bound in a function's own body (not in nested functions), minus globals."""
    args = fn.args
    names = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
    names.update(a.arg for a in (args.vararg, args.kwarg) if a is not None)
    declared_global: set[str] = set()
    todo = list(fn.body) if isinstance(fn.body, list) else [fn.body]
    while todo:
        sub = todo.pop()
        if isinstance(sub, (ast.Global, ast.Nonlocal)):
            declared_global.update(sub.names)
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            names.add(sub.id)
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(sub.name)
            continue  # its body is its own scope
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in sub.names if a.name != "*")
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            names.add(sub.name)
        if isinstance(sub, ast.Lambda):
            continue
        todo.extend(ast.iter_child_nodes(sub))
    return names - declared_global


# -- the grader's channel and internals ---------------------------------------------------------------------

_STD_FDS = {0, 1, 2}
_FD_FUNCTIONS = {"os.write", "os.writev", "os.pwrite", "os.fdopen", "os.dup", "os.dup2", "os.close",
                 "os.closerange", "os.read", "os.set_inheritable", "os.fstat", "io.open", "io.FileIO",
                 "socket.fromfd", "socket.socket", "fcntl.fcntl", "os.sendfile", "os.splice"}
_INTROSPECTION = {"gc.get_objects": "walks every object of the process (gc.get_objects)",
                  "gc.get_referrers": "walks the process's objects (gc.get_referrers)",
                  "gc.get_referents": "walks the process's objects (gc.get_referents)",
                  "sys._getframe": "reads the caller's frames (sys._getframe)",
                  "inspect.currentframe": "reads the caller's frames (inspect.currentframe)",
                  "inspect.stack": "reads the caller's frames (inspect.stack)",
                  "sys.modules": "reaches loaded modules through sys.modules"}
_PATH_MARKERS = ("/proc/self/fd", "/dev/fd", "/proc/self/mem", "/proc/self/fdinfo", "/proc/thread-self")


def _find_touches(tree: ast.AST, aliases: dict[str, str], out: Audit) -> None:
    def touch(node: ast.AST, what: str) -> None:
        finding = out.finding(node, what)
        if not any((f.line, f.cell) == (finding.line, finding.cell) for f in out.touches):  # one per line
            out.touches.append(finding)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in ("adgrade", "ctypes", "_ctypes"):
                    touch(node, f"imports {a.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in (
                "adgrade", "ctypes", "_ctypes"):
            touch(node, f"imports from {node.module}")
        elif isinstance(node, ast.Call):
            func = resolve(node.func, aliases) or (node.func.id if isinstance(node.func, ast.Name) else "")
            if func in _FD_FUNCTIONS or (func == "open" and node.args):
                fd = node.args[0] if node.args else None
                literal = isinstance(fd, ast.Constant) and type(fd.value) is int
                if func == "open" and not literal:
                    continue  # open(path): an ordinary file
                if func in ("socket.socket",) and not any(k.arg == "fileno" for k in node.keywords):
                    continue
                if literal and fd.value in _STD_FDS and func not in ("os.dup2", "os.close", "os.closerange"):
                    continue
                touch(node, f"calls {func} on a file descriptor ({ast.unparse(node)[:80]})")
            elif func in _INTROSPECTION:
                touch(node, _INTROSPECTION[func])
            if func in ("__import__", "importlib.import_module") and node.args and _const_str(node.args[0]) \
                    and node.args[0].value.split(".")[0] in ("adgrade", "ctypes"):
                touch(node, f"imports {node.args[0].value}")
        elif isinstance(node, ast.Attribute):
            path = resolve(node, aliases)
            if path in _INTROSPECTION and path == "sys.modules":
                touch(node, _INTROSPECTION[path])
            elif node.attr in ("f_back", "f_globals", "f_locals", "tb_frame", "gi_frame", "cr_frame"):
                touch(node, f"reads interpreter frames (.{node.attr})")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if any(m in text for m in _PATH_MARKERS) or (text.startswith("adgrade.") and "." in text[8:] or
                                                         text == "adgrade"):
                touch(node, f"names {text[:60]!r}")
