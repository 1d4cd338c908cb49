"""The parent's copy of the child's schedule: which frame is due next, and what it may hold.

The child's pipe to the grader is reachable by the student's code (it runs in
the same process), so nothing on it is believed for being there. The parent
knows the whole schedule (the setup it sent): `ready`, then for every cell not
skipped `cell_start`/`cell_end`, for every request not yet answered
`request_start`/`answer`, then `finished` (inside a running cell, `statement`
frames may name the top-level statement that starts, each later than the
last). A frame is accepted only when it is
the one due, for the cell or request due, once, within the size allowed for
it, with fields of the right types and bounds. Anything else raises
ProtocolError, which the parent records as tampering with the grader.

What this cannot stop: code in the child's process that sends exactly the
frames due, with values of its own making (see docs/sandbox.md). It can only
replace the answers of the questions whose code it runs in, never add frames,
answer twice, or make the grader fail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from adgrade.runner import protocol

#: the child's own caps on what it sends (child.describe_error); longer is cut, never believed longer
ERROR_TEXT_LIMITS = {"type": 200, "message": 2000, "traceback": 4000, "text": 200, "cell": 300}
MAX_CALLS = 100
MAX_CALL_NAME = 200
#: a cell's top-level statements are numbered below this
MAX_STATEMENTS = 1_000_000


@dataclass(frozen=True)
class Due:
    """One frame the child must send next."""

    event: str  # ready | cell_start | cell_end | request_start | answer | finished
    key: Any = None  # a cell index (int) or a request id (str)

    def describe(self) -> str:
        if self.key is None:
            return f"`{self.event}`"
        what = "cell" if self.event.startswith("cell") else "request"
        return f"`{self.event}` of {what} {self.key}"


@dataclass
class Event:
    """An accepted frame, as plain checked values."""

    due: Due
    seconds: float = 0.0
    ok: bool = False
    value: Any = None
    error: dict | None = None
    autodiff_calls: list[str] = field(default_factory=list)
    #: which of the student's definitions stood for an entry (entries.EntryResolver), short plain data
    resolved: list[dict] = field(default_factory=list)


def expected_frames(schedule: list, requests: dict[str, list[dict]], skip_cells: set[int],
                    skip_requests: set[str]) -> list[Due]:
    """Every frame the child will send, in order, for this life (the same walk as child.Child.run)."""
    due = [Due("ready")]
    for kind, key in schedule:
        if kind == "cell":
            if key not in skip_cells:
                due += [Due("cell_start", key), Due("cell_end", key)]
        else:
            for request in requests.get(key, ()):
                if request["id"] not in skip_requests:
                    due += [Due("request_start", request["id"]), Due("answer", request["id"])]
    due.append(Due("finished"))
    return due


class Schedule:
    """The frames due in one life of the child, consumed in order."""

    def __init__(self, due: list[Due]):
        self.due = due
        self.position = 0
        self.statement = -1  # the running cell's last statement announced

    def next(self) -> Due | None:
        return self.due[self.position] if self.position < len(self.due) else None

    def size_limit(self) -> int:
        """The largest frame that may come next: only an answer carries a value."""
        due = self.next()
        return protocol.MAX_ANSWER_FRAME if due is not None and due.event == "answer" else protocol.MAX_EVENT_FRAME

    def accept(self, frame: dict, life_seconds: float) -> Event:
        """The frame as an Event if it is the one due and well formed; ProtocolError otherwise.
        `life_seconds`: how long this life of the child has run, as the parent saw it (a duration the
        child reports can be no longer)."""
        due = self.next()
        if due is None:
            raise protocol.ProtocolError(f"sent {_describe(frame)} after its last step")
        if frame.get("event") == "statement" and due.event == "cell_end":
            return self._statement(frame, due)
        if frame.get("event") != due.event or not _same_key(frame, due):
            raise protocol.ProtocolError(f"sent {_describe(frame)} where {due.describe()} was due")
        self.position += 1
        self.statement = -1
        event = Event(due)
        if due.event == "ready":
            event.seconds = _seconds(frame.get("seconds"), life_seconds)
        elif due.event == "cell_end":
            event.error = checked_error(frame.get("error"))
        elif due.event == "answer":
            _answer(frame, event, life_seconds)
        return event


    def _statement(self, frame: dict, due: Due) -> Event:
        """Which top-level statement of the running cell starts (not a step: nothing is consumed)."""
        stmt = frame.get("stmt")
        if not _same_key(frame, due) or type(stmt) is not int or not self.statement < stmt < MAX_STATEMENTS:
            raise protocol.ProtocolError(f"sent `statement` {_short(stmt, 20)} of {_short(frame.get('index'), 20)} "
                                         f"where a later statement of cell {due.key} (or its end) was due")
        self.statement = stmt
        return Event(Due("statement", (due.key, stmt)))


def _answer(frame: dict, event: Event, life_seconds: float) -> None:
    ok = frame.get("ok")
    if type(ok) is not bool:
        raise protocol.ProtocolError("an answer whose `ok` is not true or false")
    event.ok = ok
    event.seconds = _seconds(frame.get("seconds"), life_seconds)
    calls = frame.get("autodiff_calls", [])
    if type(calls) is not list or len(calls) > MAX_CALLS or not all(
            type(c) is str and len(c) <= MAX_CALL_NAME for c in calls):
        raise protocol.ProtocolError("an answer whose `autodiff_calls` is not a short list of names")
    event.autodiff_calls = list(calls)
    event.resolved = checked_resolutions(frame.get("resolved", []))
    if ok:
        event.value = protocol.decode(frame.get("value"), max_items=protocol.MAX_ITEMS)
    else:
        event.error = checked_error(frame.get("error")) or {}


def checked_error(value: Any) -> dict | None:
    """A cell's or an answer's error as the child describes it: strings cut to the child's own caps,
    a line number or None; anything of another type is not the child's doing."""
    if value is None:
        return None
    if type(value) is not dict:
        raise protocol.ProtocolError("an error that is not an object")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in ERROR_TEXT_LIMITS:
            if item is not None and type(item) is not str:
                raise protocol.ProtocolError(f"an error whose `{key}` is not text")
            out[key] = (item or "")[:ERROR_TEXT_LIMITS[key]] if key != "cell" else (item[:300] if item else None)
        elif key == "line":
            if item is not None and (type(item) is not int or not 0 <= item < 10**9):
                raise protocol.ProtocolError("an error whose `line` is not a line number")
            out[key] = item
        elif key == "defined":  # a missing entry: the question's own definitions (entries.MissingEntry)
            if type(item) is not list or len(item) > 12 or not all(type(d) is str for d in item):
                raise protocol.ProtocolError("an error whose `defined` is not a short list of names")
            out[key] = [d[:200] for d in item]
        elif key == "problem_set" and item is not None:  # raised in the problem set's own code (child.py)
            out[key] = _problem_set_origin(item)
        elif type(key) is str and len(key) <= 40 and (item is None or type(item) in (bool, int, float)):
            out[key] = item  # a small field added by a newer child; never text of unbounded length
    return out


#: what one resolution may hold (entries.EntryResolver._note): text fields, a position, lists of names
RESOLVED_TEXT = ("entry", "how", "label", "adapted", "signature", "of")
RESOLVED_LISTS = ("names", "left_out")


def checked_resolutions(value: Any) -> list[dict]:
    """An answer's `resolved` list: at most 8 entries of short strings, an index and short name lists."""
    if type(value) is not list or len(value) > 8:
        raise protocol.ProtocolError("an answer whose `resolved` is not a short list")
    out = []
    for item in value:
        if type(item) is not dict:
            raise protocol.ProtocolError("an answer whose `resolved` holds something that is not an object")
        clean: dict[str, Any] = {}
        for key, val in item.items():
            if key in RESOLVED_TEXT and type(val) is str:
                clean[key] = val[:200]
            elif key == "index" and type(val) is int and 0 <= val < 1000:
                clean[key] = val
            elif key in RESOLVED_LISTS and type(val) is list and len(val) <= 6 and all(type(v) is str for v in val):
                clean[key] = [v[:100] for v in val]
            else:
                raise protocol.ProtocolError(f"an answer whose `resolved` has an unexpected `{_short(key, 20)}`")
        out.append(clean)
    return out


def _problem_set_origin(value: Any) -> dict:
    if type(value) is not dict:
        raise protocol.ProtocolError("an error whose `problem_set` is not an object")
    function, line, by_student = value.get("function", ""), value.get("line"), value.get("called_by_student", False)
    if type(function) is not str or (line is not None and type(line) is not int) or type(by_student) is not bool:
        raise protocol.ProtocolError("an error whose `problem_set` has fields of the wrong types")
    return {"function": function[:200], "line": line, "called_by_student": by_student}


def _seconds(value: Any, life_seconds: float) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
        raise protocol.ProtocolError(f"a duration that is not a number of seconds ({_short(value)})")
    # the parent saw the whole life: a step inside it cannot have taken longer (the pipe only adds delay)
    return min(float(value), life_seconds)


def _same_key(frame: dict, due: Due) -> bool:
    if due.key is None:
        return True
    if due.event.startswith("cell"):
        index = frame.get("index")
        return type(index) is int and index == due.key
    rid = frame.get("id")
    return type(rid) is str and rid == due.key


def _describe(frame: dict) -> str:
    event = frame.get("event")
    label = f"`{_short(event, 40)}`" if type(event) is str else "a frame with no event"
    for field_name in ("index", "id"):
        if field_name in frame:
            return f"{label} of {_short(frame[field_name], 60)}"
    return label


def _short(value: Any, n: int = 60) -> str:
    text = repr(value) if type(value) is not str else value
    return text if len(text) <= n else text[:n] + "..."
