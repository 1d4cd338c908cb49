"""Entry resolution: which of the student's definitions a check's entry name stands for.

Courses fix only some names; students choose the rest (`hessian(fun, x)` for the
problem set's `hessian_manual`, a method `initialize_weights(self, d, xavier)` on
their own `nn.Module`, `grad_W = grad(loss, argnums=0)` and `grad_b = ...` for a
`loss_grad` returning both). Two halves, like a check:

- before running (the parent, `plan_entries`): read *that question's own cells*
  with `ast` and list the candidates for each entry, best first: the exact name,
  the problem set's aliases, per-argument gradient functions composed into one
  (where the spec allows it), a method of that name on a class the question
  defines, then the question's other top-level callables that fit the call
  (only name-alike ones when the course gave the name). The course's given code
  and other questions' cells are never candidates.
- at answer time (the child, `EntryResolver` in adgrade/runner/entries.py): the
  first candidate that exists and accepts the call's arguments is used, and kept
  for the rest of the question. What was used goes back with the answer as plain
  data; the parent says it in the student's words (`describe_resolution`).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

from adgrade.cells import parse_source

#: calls whose first argument is the function being differentiated (JAX, autograd, torch.func)
DIFFERENTIATING = {"grad", "value_and_grad", "jacfwd", "jacrev", "hessian", "jacobian", "elementwise_grad",
                   "holomorphic_grad", "vjp", "jvp", "vmap_grad"}
#: check kinds whose entry returns a derivative (a function passed to grad() in the question is then
#: the objective, not the answer)
DERIVATIVE_KINDS = {"gradient", "jacobian", "hessian", "derivative", "finite_difference"}


# =====================================================================================
# reading a question's cells (parent side, before anything runs)
# =====================================================================================

@dataclass
class Definition:
    """One top-level callable a question's cells define."""

    name: str
    kind: str  # "function" | "class" | "callable" (assigned: lambda, grad(...), jit(...), partial(...))
    params: tuple[str, ...] | None  # positional parameters (None: not known before running)
    required: int = 0
    varargs: bool = False
    bases: tuple[str, ...] = ()
    methods: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> params after self
    derivative: tuple[str, Any] | None = None  # NAME = grad(F, argnums=k): (F, k)
    label: str = ""
    line: int = 0
    order: int = 0  # position among the question's definitions (later ones are preferred on a tie)
    #: the differentiating functions its code calls ("grad", "hessian", ...; "autograd" for torch.autograd
    #: and autograd.*), itself or through another definition of the question: ranks candidates, never a
    #: verdict (audit.py judges)
    differentiates: frozenset[str] = frozenset()
    calls: frozenset[str] = frozenset()  # plain names it calls

    @property
    def is_module(self) -> bool:
        return self.kind == "class" and any(b.split(".")[-1] == "Module" for b in self.bases)

    def signature(self) -> str:
        if self.params is None:
            return self.name
        return f"{self.name}({', '.join(self.params)}{', ...' if self.varargs else ''})"

    def fits(self, n_args: int) -> bool | None:
        """Whether a call with n_args positional arguments fits (None: unknown before running)."""
        if self.params is None:
            return None
        return self.required <= n_args and (n_args <= len(self.params) or self.varargs)


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else node.attr
    return ""


def _params(args: ast.arguments, skip: int = 0) -> tuple[tuple[str, ...], int, bool]:
    positional = [a.arg for a in args.posonlyargs + args.args][skip:]
    n_defaults = len(args.defaults)
    required = max(0, len(args.posonlyargs + args.args) - n_defaults - skip)
    return tuple(positional), required, args.vararg is not None


def _derivative_of(call: ast.Call, aliases: dict[str, str] | None = None) -> tuple[str, Any] | None:
    """`grad(F, argnums=k)` (or `g(F, argnums=k)` after `from jax import grad as g`) -> (F, k); None for
    anything else."""
    if _differentiating(call.func, aliases or {}) not in ("grad", "jacrev", "jacfwd") or not call.args:
        return None
    target = _dotted(call.args[0])
    if not target:
        return None
    argnums: Any = 0
    for kw in call.keywords:
        if kw.arg in ("argnums", "argnum"):
            try:
                argnums = ast.literal_eval(kw.value)
            except ValueError:
                return None
    if len(call.args) > 1:
        try:
            argnums = ast.literal_eval(call.args[1])
        except ValueError:
            return None
    return target, (tuple(argnums) if isinstance(argnums, list) else argnums)


def differentiating_aliases(sources: list[str]) -> dict[str, str]:
    """`from jax import grad as g` in any cell -> {"g": "grad"}: the names a submission gives the
    frameworks' differentiating functions."""
    out: dict[str, str] = {}
    for source in sources:
        tree = parse_source(source)
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.asname and alias.name in DIFFERENTIATING:
                        out[alias.asname] = alias.name
    return out


def _differentiating(func: ast.AST, aliases: dict[str, str]) -> str:
    """The differentiating function a call's callee names ("grad", "hessian", ...), or ""."""
    last = _dotted(func).split(".")[-1]
    if last in DIFFERENTIATING:
        return last
    return aliases.get(last, "") if isinstance(func, ast.Name) else ""


def _calls_autodiff(node: ast.AST, aliases: dict[str, str]) -> tuple[frozenset[str], frozenset[str]]:
    """(the differentiating functions the code under NODE calls itself, the plain names it calls)."""
    found, names = set(), set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            dotted = _dotted(sub.func)
            if _differentiating(sub.func, aliases):
                found.add(_differentiating(sub.func, aliases))
            elif ".autograd." in f".{dotted}." and not dotted.startswith(("autograd.numpy", "anp.")):
                found.add("autograd")
            elif dotted.endswith(".backward"):
                # torch's loss.backward() counts for an entry that must use autodiff; a manual entry never
                # forbids it here: a hand-written backprop has backward methods of its own
                found.add("backward")
            if isinstance(sub.func, ast.Name):
                names.add(sub.func.id)
    return frozenset(found), frozenset(names)


def read_definitions(sources: list[tuple[str, str]],
                     aliases: dict[str, str] | None = None) -> tuple[dict[str, Definition], set[str]]:
    """(name -> its last top-level callable definition, names passed to grad-like calls) of
    [(label, source)] cells; cells that do not parse are passed over."""
    aliases = aliases if aliases is not None else differentiating_aliases([src for _, src in sources])
    defs: dict[str, Definition] = {}
    handed: dict[str, set[str]] = {}  # name -> the differentiating functions it is handed to
    sources_order = {label: i for i, (label, _) in enumerate(sources)}
    for label, source in sources:
        tree = parse_source(source)
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _differentiating(node.func, aliases) and node.args:
                name = _dotted(node.args[0])
                if name:
                    handed.setdefault(name, set()).add(_differentiating(node.func, aliases))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                params, required, varargs = _params(node.args)
                auto, calls = _calls_autodiff(node, aliases)
                defs[node.name] = Definition(node.name, "function", params, required, varargs,
                                             label=label, line=node.lineno, differentiates=auto, calls=calls)
            elif isinstance(node, ast.ClassDef):
                methods = {}
                init: tuple[tuple[str, ...], int, bool] = ((), 0, False)
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        is_static = any(_dotted(d) == "staticmethod" for d in item.decorator_list)
                        p = _params(item.args, skip=0 if is_static else 1)
                        methods[item.name] = p[0]
                        if item.name == "__init__":
                            init = p
                defs[node.name] = Definition(node.name, "class", init[0], init[1], init[2],
                                             bases=tuple(_dotted(b) for b in node.bases), methods=methods,
                                             label=label, line=node.lineno)
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                value = node.value
                name = node.targets[0].id
                if isinstance(value, ast.Lambda):
                    params, required, varargs = _params(value.args)
                    auto, calls = _calls_autodiff(value, aliases)
                    defs[name] = Definition(name, "callable", params, required, varargs, label=label,
                                            line=node.lineno, differentiates=auto, calls=calls)
                elif isinstance(value, ast.Call) and (_differentiating(value.func, aliases) or _dotted(
                        value.func).split(".")[-1] in {"jit", "partial", "vmap", "checkpoint"}):
                    auto, calls = _calls_autodiff(value, aliases)
                    # jit(f) and partial(f, ...) are f: what f does counts
                    wrapped = {_dotted(a) for a in value.args[:1]} - {""}
                    defs[name] = Definition(name, "callable", None, derivative=_derivative_of(value, aliases),
                                            label=label, line=node.lineno, differentiates=auto,
                                            calls=calls | frozenset(wrapped))
                else:
                    defs.pop(name, None)  # rebound to something that is not a function
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for sub in ast.walk(target):
                        if isinstance(sub, ast.Name):
                            defs.pop(sub.id, None)
    for order, d in enumerate(sorted(defs.values(), key=lambda d: (sources_order.get(d.label, 0), d.line))):
        d.order = order
    # an objective: what is handed to grad(); a gradient handed only to jacfwd/jacrev (its Hessian) is
    # still a gradient
    differentiated = {name for name, by in handed.items()
                      if not (by <= {"jacfwd", "jacrev", "jacobian"} and _derivative_like(name))}
    changed = True
    while changed:  # through the question's own helpers: a function calling `grad_f = grad(f)` differentiates
        changed = False
        for d in defs.values():
            more = frozenset().union(*(defs[c].differentiates for c in d.calls if c in defs and c != d.name))
            if not more <= d.differentiates:
                d.differentiates |= more
                changed = True
    return defs, differentiated


# =====================================================================================
# planning (parent side): the candidates of every entry, best first
# =====================================================================================

@dataclass
class EntryNeed:
    """What the problem set says about one entry (spec.EntryInfo plus what its checks do with it)."""

    name: str
    params: tuple[str, ...] = ()  # the call the checks make, in course terms
    call: str = ""
    returns: str = ""
    given: bool = True  # the course gave students this name
    aliases: tuple[str, ...] = ()
    compose_argnums: tuple[int, ...] = ()  # may be per-argument gradient functions, in this argnums order
    kind: str = "function"  # function | module
    derivative: bool = False  # it returns a derivative
    objective: bool = False  # the checks differentiate it
    way: str = ""  # "manual" (a check forbids autodiff), "autodiff" (a check requires it), or ""
    #: differentiating functions its checks forbid (all of them for `manual`; a `forbid` list's)
    forbidden: frozenset[str] = frozenset()


_TOKEN = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def name_tokens(name: str) -> set[str]:
    return {t.lower() for t in _TOKEN.findall(name)} - {"my", "fn", "func", "function", "the", "of", "compute"}


def similarity(name: str, wanted: list[str]) -> int:
    """Shared name tokens (a token matches one it starts, at 3 letters or more: grad / gradient)."""
    have = name_tokens(name)
    best = 0
    for w in wanted:
        want = name_tokens(w)
        shared = sum(1 for a in want if any(a == b or (min(len(a), len(b)) >= 3 and (a.startswith(b) or
                                                                                   b.startswith(a)))
                                            for b in have))
        best = max(best, shared)
    return best


#: name tokens that say how a derivative is computed: by hand, or by automatic differentiation. An entry
#: pair such as `trace_grad_analytic` / `trace_grad_autodiff` is told apart by them: `trace_grad_jax` is
#: never the analytic one, whatever else its name shares
MANUAL_WORDS = frozenset({"manual", "analytic", "analytical", "hand", "handwritten", "exact", "symbolic",
                          "explicit", "numpy", "np"})
AUTODIFF_WORDS = frozenset({"autodiff", "autograd", "auto", "automatic", "ad", "jax", "torch", "pytorch"})


def method_word(name: str) -> str:
    """"manual" or "autodiff" when the name says how it differentiates (and only one of them), else ""."""
    tokens = name_tokens(name)
    manual, auto = bool(tokens & MANUAL_WORDS), bool(tokens & AUTODIFF_WORDS)
    return "manual" if manual and not auto else "autodiff" if auto and not manual else ""


def method_agreement(name: str, wanted: list[str], way: str = "") -> int:
    """1: the name says the same way of differentiating as the entry (its name, an alias, or `way`: what
    its checks demand, "manual" or "autodiff"); -1: the other way; 0: either says nothing."""
    mine = method_word(name)
    theirs = ({method_word(w) for w in wanted} | {way}) - {""}
    if not mine or not theirs:
        return 0
    return 1 if mine in theirs else -1


#: name tokens of a function that returns a derivative
DERIVATIVE_WORDS = ("grad", "gradient", "grads", "jac", "jacobian", "hess", "hessian", "deriv", "derivative", "dl",
                    "backward", "backprop")


def _derivative_like(name: str) -> bool:
    return any(t in DERIVATIVE_WORDS or t.startswith(("grad", "deriv", "jacob", "hess")) for t in name_tokens(name))


def shape_scores(need: EntryNeed, own: dict[str, Definition], differentiated: set[str]) -> list[tuple[tuple, Definition]]:
    """The question's definitions that may stand for an entry by their shape of use, each with a
    sort key (higher is better): fits the call, plays the entry's role, name alike, parameter names."""
    wanted = [need.name, *need.aliases]
    ranked = []
    n = len(need.params)
    for d in own.values():
        if need.kind == "module":
            if not d.is_module:
                continue
        elif d.kind == "class":
            continue
        if need.derivative and d.name in differentiated:
            continue  # the objective handed to grad(), not its derivative
        alike = similarity(d.name, wanted)
        agree = method_agreement(d.name, wanted, need.way)
        if agree < 0:
            continue  # `hessian_jax` for `hessian_analytic`: the student's name says it is the other one
        code = _code_fits(need, d)
        fits = d.fits(n) if n else None
        if need.given and not alike:
            continue  # a name the course gave: only a name-alike definition stands for it
        if fits is False and not alike:
            continue
        if need.objective and d.name in differentiated:
            role = 2  # the student differentiates it: an objective, as the checks will
        elif need.kind == "module" or need.derivative == (_derivative_like(d.name) or d.derivative is not None):
            role = 1  # returns a derivative (by its name, or made by grad()) exactly when the entry does
        else:
            role = 0
        overlap = len({p.lower() for p in d.params or ()} & {p.lower() for p in need.params})
        ranked.append(((fits is not False, code, alike, agree, role, fits is True, overlap, d.order), d))
    return ranked


def _code_fits(need: EntryNeed, d: Definition) -> int:
    """0 when the definition's code differentiates the way the entry's checks forbid (a test helper calling
    jax.hessian next to the hand-written Hessian) or does not where they require it; else 1. It only
    orders candidates: one alone is still graded, and the audit says why it fails."""
    if need.forbidden and d.differentiates & need.forbidden:
        return 0
    if need.way == "autodiff" and not d.differentiates:
        return 0
    return 1


def plan_entry(need: EntryNeed, defs: dict[str, Definition], differentiated: set[str],
               excluded: set[str], own_cells: bool = True,
               shapes: list[tuple[tuple, Definition]] | None = None) -> dict:
    """The candidates for one entry (plain data for the child), best first. Aliases count where the
    question's own cells define them (anywhere, when the submission marks no cells for the question)."""
    candidates: list[dict] = [{"how": "name", "names": [need.name]}]
    late: list[dict] = []  # aliases that say or do the other way of differentiating: after every other candidate
    for alias in need.aliases:
        if alias not in excluded and (alias in defs or not own_cells):
            entry = {"how": "alias", "names": [alias], "label": defs[alias].label if alias in defs else ""}
            other_way = method_agreement(alias, [need.name], need.way) < 0 or (
                alias in defs and not _code_fits(need, defs[alias]))
            (late if other_way else candidates).append(entry)
    own = {n: d for n, d in defs.items() if n not in excluded and n != need.name and n not in need.aliases}
    if need.compose_argnums:
        by_target: dict[str, dict[Any, str]] = {}
        for d in own.values():
            if d.derivative is not None:
                by_target.setdefault(d.derivative[0], {})[d.derivative[1]] = d.name
        for target, parts in sorted(by_target.items()):
            if all(k in parts for k in need.compose_argnums):
                names = [parts[k] for k in need.compose_argnums]
                candidates.append({"how": "argnums", "names": names, "of": target,
                                   "label": own[names[0]].label})
    wanted = [need.name, *need.aliases]
    if need.kind != "module":
        for d in own.values():
            if d.kind == "class":
                for method in d.methods:
                    if method in wanted:
                        candidates.append({"how": "method", "names": [method], "cls": d.name,
                                           "signature": f"{d.name}.{method}(self, {', '.join(d.methods[method])})",
                                           "label": d.label})
    if shapes is None:
        shapes = shape_scores(need, own, differentiated)
    for _, d in sorted(shapes, key=lambda r: r[0], reverse=True):
        cand = {"how": "shape", "names": [d.name], "signature": d.signature(), "label": d.label,
                "alike": similarity(d.name, wanted) > 0}
        if d.kind == "callable" and d.params is None:
            cand["made"] = True  # `d4 = grad(grad(jnp.tanh))` in their cells: their work, though it wraps JAX's
        candidates.append(cand)
    candidates += late
    callables = [d.signature() for d in defs.values() if d.kind != "class" or d.is_module]
    return {"entry": need.name, "kind": need.kind, "params": list(need.params), "call": need.call,
            "returns": need.returns, "candidates": candidates, "defined": callables[:12]}


def reference_signatures(path: Any) -> dict[str, tuple[str, ...]]:
    """Parameter names of the reference solution's top-level functions and classes (the call's names
    when the problem set does not spell the call out)."""
    try:
        tree = parse_source(open(path, encoding="utf-8").read())
    except (OSError, ValueError, TypeError):
        return {}
    if tree is None:
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out[node.name] = _params(node.args)[0]
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    out[node.name] = _params(item.args, skip=1)[0]
    return out


def entry_needs(problem: Any, checks: list[Any], reference: dict[str, tuple[str, ...]]) -> list[EntryNeed]:
    """What one problem's checks need of each entry (spec.ProblemSpec and its checks' specs)."""
    names: list[str] = list(problem.entries) + list(problem.names)
    module_entries: set[str] = set()
    derivative: set[str] = set()
    objective: set[str] = set()
    ways: dict[str, set[str]] = {}
    forbidden: dict[str, set[str]] = {}
    for check in checks:
        spec = check.spec if hasattr(check, "spec") else check
        if spec.entry:
            names.append(spec.entry)
            if spec.kind == "module":
                module_entries.add(spec.entry)
            if spec.kind in DERIVATIVE_KINDS:
                derivative.add(spec.entry)
            if spec.kind == "autodiff":
                objective.add(spec.entry)
        # what the check says of how its entries differentiate (a wrapper check: the problem's entries)
        targets = [spec.entry] if spec.entry else list(problem.entries)
        banned = {str(f).split(".")[-1] for f in getattr(spec, "forbid", ())} & DIFFERENTIATING
        for target in targets:
            if getattr(spec, "manual", False):
                ways.setdefault(target, set()).add("manual")
                forbidden.setdefault(target, set()).update(DIFFERENTIATING | {"autograd"})
            if getattr(spec, "require_autodiff", False):
                ways.setdefault(target, set()).add("autodiff")
            forbidden.setdefault(target, set()).update(banned)
        init = spec.options.get("init")
        if isinstance(init, str):
            names.append(init)
        for cand in spec.options.get("entries") or ():
            if isinstance(cand, dict) and isinstance(cand.get("entry"), str):
                names.append(cand["entry"])
    out = []
    for name in dict.fromkeys(names):
        info = problem.names.get(name)
        params = (info.params if info is not None and info.call else ()) or reference.get(name, ())
        call = (info.call if info is not None and info.call else "") or \
            (f"{name}({', '.join(params)})" if name in reference else name)
        out.append(EntryNeed(
            name=name, params=tuple(params), call=call, returns=info.returns if info else "",
            given=info.given if info else True, aliases=info.aliases if info else (),
            compose_argnums=info.compose_argnums if info else (),
            kind="module" if name in module_entries else "function", derivative=name in derivative,
            objective=name in objective,
            way=next(iter(ways[name])) if len(ways.get(name, ())) == 1 else "",
            forbidden=frozenset(forbidden.get(name, ()))))
    return out


def plan_question(needs: list[EntryNeed], sources: list[tuple[str, str]], excluded: set[str],
                  aliases: dict[str, str] | None = None, others: set[str] | frozenset[str] = frozenset(),
                  own_sources: bool = True) -> dict[str, dict]:
    """entry -> plan for one question, from that question's own cells [(label, source)] (ALIASES: the
    submission's names for differentiating functions, `differentiating_aliases` of all its cells).
    OTHERS: other questions' entries, never this one's answer unless this question's own cells define
    that name (t1's MSE called `loss`, t3's name); with `own_sources=False` (the whole file, for a
    question with no cell of its own) they are always left out."""
    defs, differentiated = read_definitions(sources, aliases)
    excluded = set(excluded) | (set(others) - set(defs) if own_sources else set(others))
    names = {n.name for n in needs} | {a for n in needs for a in n.aliases}
    own = {k: d for k, d in defs.items() if k not in excluded and k not in names}
    scores = {need.name: shape_scores(need, own, differentiated) for need in needs}
    # one definition stands for one entry: the entry it fits best (ties: all of them)
    best: dict[str, tuple] = {}
    for ranked in scores.values():
        for key, d in ranked:
            best[d.name] = max(best.get(d.name, key), key)
    plans = {}
    for need in needs:
        others = {n.name for n in needs if n.name != need.name} | {a for n in needs if n.name != need.name
                                                                 for a in n.aliases}
        shapes = [(key, d) for key, d in scores[need.name] if key >= best[d.name]]
        plans[need.name] = plan_entry(need, defs, differentiated, excluded | others, own_cells=bool(sources),
                                      shapes=shapes)
    return plans


def candidate_names(plans: dict[str, dict]) -> set[str]:
    """Every name a question's entry plans may use (what slicing must keep defined)."""
    names: set[str] = set()
    for plan in plans.values():
        for cand in plan.get("candidates", ()):
            names.update(cand.get("names", ()))
            if cand.get("cls"):
                names.add(cand["cls"])
    return names


_REFERENCE_CACHE: dict[str, dict[str, tuple[str, ...]]] = {}


def call_words(problem: Any, name: str, reference: Any = None) -> str:
    """"`analytical_gradient(w, X, y)` -> the gradient of ..." for a missing or mismatched entry."""
    info = problem.names.get(name)
    if info is not None and info.call:
        return describe_call({"call": info.call, "returns": info.returns})
    key = str(reference or "")
    if key not in _REFERENCE_CACHE:
        _REFERENCE_CACHE[key] = reference_signatures(reference) if reference else {}
    params = _REFERENCE_CACHE[key].get(name)
    call = f"{name}({', '.join(params)})" if params is not None else name
    return describe_call({"call": call, "returns": info.returns if info is not None else ""})


def describe_call(plan: dict) -> str:
    call = plan.get("call") or plan.get("entry", "")
    returns = plan.get("returns") or ""
    return f"`{call}`" + (f" -> {returns}" if returns else "")


# =====================================================================================
# words for the report (parent side)
# =====================================================================================

def describe_resolution(info: dict, plan: dict | None) -> str:
    """'graded your `hessian(fun, x)` (cell 7) as `hessian_manual(f, x)`' from the child's plain data."""
    entry = str(info.get("entry", ""))
    plan = plan or {}
    target = f"`{plan.get('call') or entry}`"
    how = info.get("how")
    where = f" ({info['label']})" if info.get("label") else ""
    names = [str(n) for n in info.get("names") or []]
    signature = str(info.get("signature") or (names[0] if names else entry))
    if how == "argnums":
        parts = " and ".join(f"`{n}`" for n in names)
        of = f" (the gradients of `{info['of']}` by argument)" if info.get("of") else ""
        text = f"graded your {parts}{of}{where} together as {target}, returning their results as a tuple"
    elif how == "method":
        text = (f"graded the method `{info.get('signature') or names[0]}`{where} as {target}, called as "
                f"`model.{names[0]}(...)` on the model built from your class")
    elif how == "name":
        text = f"graded your `{signature}`{where} as {target}"
    else:
        text = f"graded your `{signature}`{where} as {target}"
    adapted = info.get("adapted")
    left = [str(p) for p in info.get("left_out") or []]
    if adapted and left:
        text += (f"; it does not take the checks' arguments, so it was called as `{adapted}` "
                 f"({', '.join(left)} left out) and judged on what it returned")
    elif adapted:
        text += f"; its parameters come in another order, so it was called as `{adapted}`"
    return text
