"""Conventions a task left open: which one the student chose, and grading that one consistently.

A problem set declares them (docs/spec-format.md, "Conventions"):

- a *layout* of an argument, at the problem level (`[[problems.layouts]]`):
  W stored (C, n) or (n, C). A check that uses it (`conventions.layout`) asks
  the student's process once per choice, with the argument in that choice's
  layout (`conventions.args`); the answer leaves in the same layout
  (`conventions.answer`, e.g. the gradient w.r.t. W) are expected in it too.
  The first check of the question whose calls tell the choices apart decides
  for the whole question, and the report says which one was detected.
- the shape of the answer, at the check level: `conventions.vectors` (a row, a
  column or a flat vector alike) and `conventions.items` (a tuple, a list or a
  dict of gradients). Those are compare's business (compare.py).

Everything here runs in the trusted parent on plain data. Every layout
transform is its own inverse, so the same function moves an argument into a
choice's layout and a reference value out of the task's layout into it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["LAYOUT_TRANSFORMS", "Detection", "apply_to_args", "apply_to_paths", "detect", "transform_value"]

#: transforms a layout choice may apply; each is an involution (applying it twice gives the input back)
LAYOUT_TRANSFORMS = ("none", "transpose")

_PATH_PART = re.compile(r"\[(\d+|'[^']*'|\"[^\"]*\")\]")


def transform_value(value: Any, transform: str) -> Any:
    """`value` (an array, or a list/tuple/dict of arrays) in the layout `transform` describes."""
    if transform == "none":
        return value
    if transform == "transpose":
        if isinstance(value, dict):
            return {k: transform_value(v, transform) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            out = [transform_value(v, transform) for v in value]
            return tuple(out) if isinstance(value, tuple) else out
        if isinstance(value, np.ndarray) and value.ndim >= 2:
            return np.ascontiguousarray(np.swapaxes(value, -1, -2))
        return value
    raise ValueError(f"unknown layout transform {transform!r} (known: {', '.join(LAYOUT_TRANSFORMS)})")


def apply_to_args(args: tuple, indices: tuple[int, ...], transform: str) -> tuple:
    """The call's positional arguments with those at `indices` moved into the choice's layout."""
    if transform == "none" or not indices:
        return args
    return tuple(transform_value(a, transform) if i in indices else a for i, a in enumerate(args))


def parse_path(path: str) -> list[int | str]:
    """'[0]' -> [0]; "['W']" -> ['W']; '' -> [] (the whole value). ValueError when it is not such a path."""
    parts: list[int | str] = []
    pos = 0
    for m in _PATH_PART.finditer(path):
        if m.start() != pos:
            break
        token = m.group(1)
        parts.append(int(token) if token.isdigit() else token[1:-1])
        pos = m.end()
    if pos != len(path):
        raise ValueError(f"not a path like [0] or ['W']: {path!r}")
    return parts


def apply_to_paths(value: Any, paths: tuple[str, ...], transform: str) -> Any:
    """`value` with the leaves at `paths` moved into the choice's layout (a path that is not there: unchanged)."""
    if transform == "none" or not paths:
        return value
    for path in paths:
        value = _apply_at(value, parse_path(path), transform)
    return value


def _apply_at(value: Any, parts: list[int | str], transform: str) -> Any:
    if not parts:
        return transform_value(value, transform)
    head, rest = parts[0], parts[1:]
    if isinstance(value, dict) and head in value:
        out = dict(value)
        out[head] = _apply_at(value[head], rest, transform)
        return out
    if isinstance(value, (list, tuple)) and isinstance(head, int) and 0 <= head < len(value):
        items = list(value)
        items[head] = _apply_at(items[head], rest, transform)
        return tuple(items) if isinstance(value, tuple) else items
    return value


# -- which choice the student made -----------------------------------------------------------

#: how well a choice's calls went, best last: nothing ran / ran / ran with the right shapes / right
RAN, SHAPES_RIGHT, RIGHT = 1, 2, 3


@dataclass(frozen=True)
class Detection:
    """The layout choice a question is graded in, and the check whose calls showed it."""

    choice: int
    by: str  # the student's entry, as messages name it ("`linear_model`")
    rank: int


def detect(ranks: list[int]) -> tuple[int, int]:
    """(choice, rank): the best-ranked choice; among equals the task's own (the first declared)."""
    best = max(ranks)
    return ranks.index(best), best
