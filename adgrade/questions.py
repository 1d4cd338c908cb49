"""Which cells of a submission belong to which question.

Each problem of an assignment says how its cells are recognised (a ``# %% q1a`` title, a first comment
line ``# Q1a.``, a markdown heading, a notebook cell tag); :func:`assign_questions` maps every code cell
to the question it belongs to and :func:`question_ends` tells the engine after which cell each
question's checks run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from adgrade.cells import CELL_MARKER, Cell, split_lines

__all__ = ["QuestionMatcher", "assign_questions", "question_ends"]


@dataclass
class QuestionMatcher:
    """How one question's cells are recognised (see ``[problems.cells]``)."""

    id: str
    markers: tuple[str, ...] = ()  # `# %% q1a ...`: first word of the cell title
    comments: tuple[str, ...] = ()  # first comment line `# Q1a.` / `# Q1a:` / `#q1a` / `# Q1a - ...`
    headings: tuple[str, ...] = ()  # text contained in a markdown heading
    tags: tuple[str, ...] = ()  # notebook cell tag


_TRAILING_PUNCT = ".:-,;"


def _words(text: str) -> list[str]:
    return text.casefold().split()


def _first_words_match(text: str, wanted: str) -> bool:
    """Whether ``text`` starts with the words of ``wanted`` (case-insensitive),
    trailing ``.:-`` of the last compared word ignored: "Q1a. Implement" and
    "q1a:" match "Q1a"; "Q1b-hessian" does not match "Q1b"."""
    want = [w.rstrip(_TRAILING_PUNCT) for w in _words(wanted)]
    have = _words(text)[: len(want)]
    return bool(want) and len(have) == len(want) and [w.rstrip(_TRAILING_PUNCT) for w in have] == want


def _first_comment(cell: Cell) -> str | None:
    """Text of the first comment line of a code cell (``#`` stripped), if any.

    The ``# %%`` marker line of a .py cell, a ``#!`` line and a coding
    cookie (``# -*- coding: utf-8 -*-``) are not comments for this purpose.
    """
    for line in cell.source.split("\n"):
        stripped = line.strip()
        if not stripped.startswith("#") or stripped.startswith("#!") or "-*-" in stripped:
            continue
        if CELL_MARKER.match(stripped):
            continue
        return stripped.lstrip("#").strip()
    return None


def _explicit_match(cell: Cell, matchers: list[QuestionMatcher]) -> str | None:
    """The question a code cell names itself: # %% title, then tag, then comment."""
    if cell.title:
        for m in matchers:
            if any(_first_words_match(cell.title, marker) for marker in m.markers):
                return m.id
    cell_tags = {t.casefold() for t in cell.tags}
    for m in matchers:
        if any(t.casefold() in cell_tags for t in m.tags):
            return m.id
    comment = _first_comment(cell)
    if comment:
        for m in matchers:
            if any(_first_words_match(comment, c) for c in m.comments):
                return m.id
    return None


# ATX heading: up to 3 spaces, 1-6 '#', the text, optional closing '#'s.
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def _headings(markdown: str) -> list[tuple[int, str]]:
    """(level, text) of the headings of a markdown text, in order."""
    found: list[tuple[int, str]] = []
    in_fence = False
    previous = ""  # the previous line if it could be a setext heading's text
    for line in split_lines(markdown):
        if _FENCE.match(line):
            in_fence = not in_fence
            previous = ""
            continue
        if in_fence:
            continue
        # `#text` without a space is not a heading (Jupyter does not render
        # it as one), so a `#hashtag` in prose does not close any section.
        m = _ATX.match(line)
        if m:
            found.append((len(m.group(1)), (m.group(2) or "").strip()))
            previous = ""
            continue
        s = _SETEXT.match(line)
        if s and previous:
            found.append((1 if s.group(1)[0] == "=" else 2, previous.strip()))
            previous = ""
            continue
        previous = line if line.strip() else ""
    return found


def _normalise(text: str) -> tuple[str, ...]:
    """A heading as words: case, emphasis, punctuation and the joins between numbers and letters do
    not change what it says ("Exercise 2.(a)", "Exercise 2a)" and "exercise 2 (a)" are the same words)."""
    text = re.sub(r"[*`]", "", text).casefold()
    text = re.sub(r"(?<=\d)(?=[^\W\d_])|(?<=[^\W\d_])(?=\d)", " ", text)
    return tuple(re.sub(r"[^\w]+|_", " ", text).split())


def _contains_words(heading: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    """Whole words in order: "Task 1" is in "Task 1 (5 pts)" but not in "Task 10"."""
    n = len(needle)
    return any(heading[i : i + n] == needle for i in range(len(heading) - n + 1))


def _heading_match(text: str, matchers: list[QuestionMatcher]) -> str | None:
    """The question whose heading text the heading contains (whole words); the longest
    (most specific) such text wins, then the first matcher."""
    heading = _normalise(text)
    best: tuple[int, str] | None = None
    for m in matchers:
        for wanted in m.headings:
            needle = _normalise(wanted)
            if needle and _contains_words(heading, needle) and (best is None or len(needle) > best[0]):
                best = (len(needle), m.id)
    return best[1] if best else None


def assign_questions(cells: list[Cell], matchers: list[QuestionMatcher]) -> dict[int, str | None]:
    """Every code cell's index -> the question it belongs to, or None.

    A cell that names its question (``# %%`` title, tag, first comment) belongs
    to it.  Otherwise the markdown heading context decides: a heading matching
    question Q opens Q's section at its level, and a later heading closes every
    open section at its level or deeper (then opens its own if it matches), so
    a deeper heading of another question nests inside Q and, once closed, Q
    applies again.  Explicit matches do not change the heading context.
    """
    assignment: dict[int, str | None] = {}
    sections: list[tuple[int, str]] = []  # open (level, question id), outermost first
    for cell in cells:
        if cell.kind == "markdown":
            for level, text in _headings(cell.source):
                while sections and sections[-1][0] >= level:
                    sections.pop()
                qid = _heading_match(text, matchers)
                if qid is not None:
                    sections.append((level, qid))
            continue
        if cell.kind != "code":
            continue
        explicit = _explicit_match(cell, matchers)
        assignment[cell.index] = explicit if explicit is not None else (sections[-1][1] if sections else None)
    return assignment


def question_ends(
    cells: list[Cell], assignment: dict[int, str | None], question_ids: list[str]
) -> dict[str, int | None]:
    """Question id -> index of the last code cell assigned to it, or None."""
    code = {c.index for c in cells if c.kind == "code"}
    ends: dict[str, int | None] = {qid: None for qid in question_ids}
    for index, qid in assignment.items():
        if qid in ends and index in code:
            current = ends[qid]
            ends[qid] = index if current is None else max(current, index)
    return ends
