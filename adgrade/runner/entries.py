"""Entry resolution, the child's half: which candidate answers a call, at answer time.

adgrade/resolve.py (the parent, before anything runs) lists the candidates for each entry from the
question's own cells; here, in the student's process, the first candidate that exists and accepts the
call's arguments is used (one that raises is passed over when a later one fits and runs) and kept for
the rest of the question. When none accepts them but one takes a subset by name (`analytical_gradient(w,
x)` for the call `(w, X, y)`), that call is made and judged, so the real mistake is named. What was used
goes back with the answer as plain data; the parent says it in the student's words
(`resolve.describe_resolution`).

Standard library only: the student's process imports this module.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from adgrade.resolve import describe_call

__all__ = ["EntryResolver", "MissingEntry", "SignatureMismatch"]


class MissingEntry(Exception):
    """The student defined nothing that can stand for an entry."""

    def __init__(self, name: str, defined: list[str] | None = None):
        super().__init__(name)
        self.name = name
        self.defined = defined or []


class SignatureMismatch(Exception):
    """The student's definition cannot be called the way the checks call the entry."""

    def __init__(self, message: str, entry: str, signature: str):
        super().__init__(message)
        self.entry = entry
        self.signature = signature


def _signature_of(fn: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def _shown_signature(name: str, fn: Any) -> str:
    sig = _signature_of(fn)
    return f"{name}{sig}" if sig is not None else name


def _is_students(obj: Any) -> bool:
    """Defined by the student's cells (which run as __main__), directly or wrapped (jax.grad(f))."""
    seen = 0
    while obj is not None and seen < 5:
        if getattr(obj, "__module__", None) == "__main__":
            return True
        obj = getattr(obj, "__wrapped__", None)
        seen += 1
    return False


def binds(fn: Any, args: tuple, kwargs: dict) -> bool:
    sig = _signature_of(fn)
    if sig is None:
        return True  # builtins and C functions: find out by calling
    try:
        sig.bind(*args, **kwargs)
    except TypeError:
        return False
    return True


def adapt_by_names(fn: Any, wanted: list[str], args: tuple, kwargs: dict) -> tuple[list[int], list[str]] | None:
    """The argument positions to pass when fn's parameters are a subset (any order) of the call's,
    matched by name ignoring case; (positions, names left out), or None when no such call exists."""
    sig = _signature_of(fn)
    if sig is None or kwargs or len(wanted) != len(args):
        return None
    lower = [w.lower() for w in wanted]
    chosen: list[int] = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        key = p.name.lower()
        if key in lower and lower.index(key) not in chosen:
            chosen.append(lower.index(key))
        elif p.default is p.empty:
            return None  # it needs something the call does not have
        else:
            break
    if not chosen or chosen == list(range(len(args))):
        return None
    return chosen, [w for i, w in enumerate(wanted) if i not in chosen]


def reordered_by_names(fn: Any, wanted: list[str], args: tuple, kwargs: dict) -> list[int] | None:
    """When fn's positional parameters are the call's, by name (ignoring case), in another order: the
    argument positions to pass them in; else None."""
    sig = _signature_of(fn)
    if sig is None or kwargs or len(wanted) != len(args):
        return None
    names = [p.name.lower() for p in sig.parameters.values()
             if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    lower = [w.lower() for w in wanted]
    if len(names) != len(lower) or sorted(names) != sorted(lower) or names == lower or len(set(lower)) != len(lower):
        return None
    return [lower.index(n) for n in names]


def _picking(fn: Callable, positions: list[int]) -> Callable:
    def call(*args: Any, **kwargs: Any) -> Any:
        return fn(*[args[i] for i in positions], **kwargs)

    call.__name__ = getattr(fn, "__name__", "entry")
    return call


class EntryResolver:
    """Finds entries in the student's namespace for the question being answered."""

    def __init__(self, namespace: dict[str, Any], plans: dict[str, dict[str, dict]]):
        self.namespace = namespace
        self.plans = plans or {}
        self.question: str | None = None
        self.used: list[dict] = []  # resolutions used while answering the current request
        self._chosen: dict[tuple, tuple[Callable, dict]] = {}

    def start_question(self, question: str | None) -> None:
        self.question = question
        self._chosen.clear()

    def plan(self, name: str) -> dict | None:
        return self.plans.get(self.question or "", {}).get(name)

    def has(self, name: str) -> bool:
        plan = self.plan(name)
        if plan is None:
            return name in self.namespace
        return any(self._build(c, plan) is not None for c in plan["candidates"] if c["how"] != "method") or \
            any(c["how"] == "method" for c in plan["candidates"])

    def lookup(self, name: str) -> Any:
        plan = self.plan(name)
        if plan is None or (name in self.namespace and not callable(self.namespace[name])):
            if name in self.namespace:
                return self.namespace[name]  # a value (W1 = ...), or an entry no plan covers: as named
            raise MissingEntry(name)
        if plan.get("kind") == "module":
            for index, cand in enumerate(plan["candidates"]):
                obj = self._build(cand, plan)
                if obj is not None and isinstance(obj, type):
                    self._note(cand, index, plan, obj)
                    return obj
            for index, cand in enumerate(plan["candidates"]):
                obj = self._build(cand, plan)
                if obj is not None:
                    self._note(cand, index, plan, obj)
                    return obj
            raise self._missing(plan)
        if not any(c["how"] == "method" for c in plan["candidates"]) and \
                all(self._build(c, plan) is None for c in plan["candidates"]):
            raise self._missing(plan)
        dispatcher = self._dispatcher(name, plan)
        # what the entry stands for, for those who read its code before calling it (backend_choice, which
        # picks the framework the student wrote it in); the call still goes through the dispatcher
        built = (self._build(c, plan) for c in plan["candidates"])
        first = next((fn for fn in built if fn is not None), None)
        if first is not None:
            dispatcher.__wrapped__ = first  # type: ignore[attr-defined]
        return dispatcher

    # -- internals ----------------------------------------------------------------------
    def _missing(self, plan: dict) -> MissingEntry:
        defined = []
        for text in plan.get("defined") or []:
            fname = text.split("(")[0]
            obj = self.namespace.get(fname)
            defined.append(_shown_signature(fname, obj) if callable(obj) else text)
        return MissingEntry(plan["entry"], defined)

    def _build(self, cand: dict, plan: dict) -> Any:
        """The callable a candidate stands for, or None when the student's namespace lacks it."""
        names = cand["names"]
        ns = self.namespace
        if cand["how"] == "method":
            return None  # needs the object: built at call time
        if not all(n in ns and callable(ns[n]) for n in names):
            return None
        if cand["how"] != "name" and not cand.get("made") and not all(_is_students(ns[n]) for n in names):
            return None  # e.g. `from jax import hessian`: the framework's, not the student's work
        if cand["how"] == "argnums":
            parts = [ns[n] for n in names]

            def composed(*args: Any, **kwargs: Any) -> tuple:
                return tuple(p(*args, **kwargs) for p in parts)

            sig = _signature_of(parts[0])
            if sig is not None:
                composed.__signature__ = sig  # type: ignore[attr-defined]
            composed.__name__ = " and ".join(names)
            return composed
        return ns[names[0]]

    def _method(self, cand: dict, args: tuple) -> Callable | None:
        if not args:
            return None
        bound = getattr(args[0], cand["names"][0], None)
        if not callable(bound):
            return None

        def call_method(obj: Any, *rest: Any, **kwargs: Any) -> Any:
            return getattr(obj, cand["names"][0])(*rest, **kwargs)

        return call_method

    def _note(self, cand: dict, index: int, plan: dict, fn: Any, adapted: str = "", left_out=()) -> None:
        if cand["how"] == "name" and not adapted:
            return  # the exact name, called as the checks call it: nothing to say
        info = {"entry": plan["entry"], "how": cand["how"], "index": index, "names": list(cand["names"]),
                "label": cand.get("label", ""), "adapted": adapted, "left_out": list(left_out)}
        if cand.get("of"):
            info["of"] = cand["of"]
        if cand["how"] == "method" or cand.get("made"):  # (made: the framework's signature is not theirs)
            info["signature"] = cand.get("signature", "")
        elif cand["how"] != "argnums":
            info["signature"] = _shown_signature(cand["names"][0], fn)
        if info not in self.used:
            self.used.append(info)

    def _choices(self, plan: dict, args: tuple, kwargs: dict) -> list[tuple[int, dict, Callable]]:
        out = []
        for index, cand in enumerate(plan["candidates"]):
            fn = self._method(cand, args) if cand["how"] == "method" else self._build(cand, plan)
            if fn is not None:
                out.append((index, cand, fn))
        return out

    def _dispatcher(self, name: str, plan: dict) -> Callable:
        resolver = self

        def entry(*args: Any, **kwargs: Any) -> Any:
            key = (resolver.question, name, len(args), tuple(sorted(kwargs)))
            if key in resolver._chosen:
                fn, info = resolver._chosen[key]
                if info:
                    resolver._note(*info["note"])
                return fn(*args, **kwargs)
            return resolver._first_call(key, plan, args, kwargs)

        entry.__name__ = name
        # one candidate, called as it is: tracing the call (runner/staging.py) picks the same function; with
        # several, the first call tries them in turn and an error that only tracing raises would move it on
        entry.__adgrade_stageable__ = (  # type: ignore[attr-defined]
            len(plan["candidates"]) == 1 and plan["candidates"][0]["how"] != "method")
        params = plan.get("params") or []
        if params and all(p.isidentifier() for p in params):
            entry.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
                [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in params])
        return entry

    def _first_call(self, key: tuple, plan: dict, args: tuple, kwargs: dict) -> Any:
        choices = self._choices(plan, args, kwargs)
        if not choices:
            raise self._missing(plan)
        wanted = [str(p) for p in plan.get("params") or []]
        fitting = []
        for index, cand, fn in choices:
            order = reordered_by_names(fn, wanted, args, kwargs) if cand["how"] != "method" else None
            if order is not None:  # the call's parameters, by name, in another order: pass them so
                call = f"{cand['names'][0]}({', '.join(wanted[i] for i in order)})"
                fitting.append((index, cand, _picking(fn, order), (cand, index, plan, fn, call, [])))
            elif self._binds(cand, fn, args, kwargs):
                fitting.append((index, cand, fn, (cand, index, plan, fn)))
        first_error: BaseException | None = None
        for n, (index, cand, fn, note) in enumerate(fitting):
            try:
                value = fn(*args, **kwargs)
            except Exception as exc:
                if n + 1 < len(fitting) and cand["how"] == "shape":
                    first_error = first_error or exc
                    continue  # a later candidate may fit better; this one's error is kept if none does
                if first_error is not None:
                    raise first_error
                self._keep(key, fn, note)
                raise
            self._keep(key, fn, note)
            return value
        if first_error is not None:
            raise first_error
        for index, cand, fn in choices:
            if cand["how"] == "shape" and not cand.get("alike"):
                continue
            if cand["how"] == "method":
                continue
            mapping = adapt_by_names(fn, wanted, args, kwargs)
            if mapping is None:
                continue
            positions, left_out = mapping
            call = f"{cand['names'][0]}({', '.join(wanted[i] for i in positions)})"
            adapted = _picking(fn, positions)
            self._keep(key, adapted, (cand, index, plan, fn, call, left_out))
            return adapted(*args, **kwargs)
        index, cand, fn = choices[0]
        shown = cand.get("signature") if cand["how"] == "method" else _shown_signature(cand["names"][0], fn)
        raise SignatureMismatch(
            f"the checks call {describe_call(plan)}, with {len(args)} argument{'s' if len(args) != 1 else ''}; "
            f"your `{shown}` cannot be called that way. Give it the parameters of that call, in that order.",
            plan["entry"], str(shown))

    def _binds(self, cand: dict, fn: Callable, args: tuple, kwargs: dict) -> bool:
        if cand["how"] == "method":
            return binds(getattr(args[0], cand["names"][0]), args[1:], kwargs)
        return binds(fn, args, kwargs)

    def _keep(self, key: tuple, fn: Callable, note: tuple) -> None:
        self._chosen[key] = (fn, {"note": note})
        self._note(*note)
