"""Plain data between the grader and the submission's process.

Only JSON crosses the boundary; arrays travel as dtype + shape + base64 bytes.
Nothing from the child is ever unpickled or evaluated: `decode` rebuilds
NumPy arrays from a short whitelist of dtypes, checks that the byte count
matches the shape, and turns everything else into plain Python values or an
`Opaque` marker that says what the student returned instead.

Frames are length-prefixed JSON on a dedicated pipe (never stdout, which the
student owns).
"""

from __future__ import annotations

import base64
import json
import math
import os
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

#: dtypes an answer may have; anything else is reported, not rebuilt
ALLOWED_DTYPES = {
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
}
#: largest array the child sends back (raw bytes; base64 adds a third): a larger one is reported as too large
MAX_FRAME_BYTES = 32 * 2**20
#: largest answer frame the parent reads; the child checks its own answer against it before sending, so an
#: honest answer is never larger (a larger one is forged and breaks the protocol)
MAX_ANSWER_FRAME = 48 * 2**20
#: largest frame of any other event (cell and request markers, a cell's error with its traceback)
MAX_EVENT_FRAME = 256 * 2**10
#: most list/tuple/dict items in one answer: decoding a forged list of millions of numbers is refused
#: (before it is built, where the frame's own size says so)
MAX_ITEMS = 1_000_000
#: longest string inside an answer
MAX_STRING = 100_000
#: deepest nesting the encoder follows (self-referencing lists end here)
MAX_DEPTH = 32
_HEADER = struct.Struct(">Q")


@dataclass(frozen=True)
class Opaque:
    """Something the student returned that is not plain data."""

    type_name: str
    reason: str = ""

    def describe(self) -> str:
        return f"a {self.type_name}" + (f" ({self.reason})" if self.reason else "")


@dataclass(frozen=True)
class ArrayOrigin:
    """Where an array came from in the child (kept beside the decoded value)."""

    framework: str  # numpy | jax | torch | autograd | python
    requires_grad: bool = False


class ProtocolError(Exception):
    """The child sent something that is not a well-formed frame."""


# -- encoding (runs in the child; no framework imports here) ------------------

def _framework_array(value: Any) -> tuple[np.ndarray, str, bool] | None:
    """A framework array as (numpy array, framework, requires_grad), or None."""
    module = type(value).__module__ or ""
    if module.startswith("torch") and hasattr(value, "detach"):
        requires_grad = bool(getattr(value, "requires_grad", False))
        return np.asarray(value.detach().cpu().numpy()), "torch", requires_grad
    if module.startswith(("jax", "jaxlib")) and hasattr(value, "__array__"):
        return np.asarray(value), "jax", False
    if module.startswith("autograd") and hasattr(value, "_value"):
        return np.asarray(value._value), "autograd", False
    return None


class _Items:
    """How many container items an answer may still hold (the same count `decode` makes)."""

    def __init__(self, limit: int | None):
        self.left = limit

    def take(self, n: int) -> bool:
        if self.left is None:
            return True
        self.left -= n
        return self.left >= 0


def encode(value: Any, depth: int = 0, max_items: int | None = None) -> Any:
    """Turn a student's answer into JSON-able plain data; never raises. `max_items` bounds the container
    items of an answer (the child passes MAX_ITEMS; the grader's own inputs are not bounded)."""
    try:
        return _encode(value, depth, _Items(max_items))
    except Exception as exc:  # an object that raises on every method
        return {"__opaque__": _type_name(value), "reason": f"could not be read: {_short(exc)}"}


def _type_name(value: Any) -> str:
    try:
        cls = type(value)
        return f"{cls.__module__}.{cls.__qualname__}" if cls.__module__ != "builtins" else cls.__qualname__
    except Exception:
        return "object"


def _short(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"[:200]
    except Exception:
        return type(exc).__name__


def _encode_array(arr: np.ndarray, framework: str, requires_grad: bool = False) -> dict:
    if arr.dtype.name not in ALLOWED_DTYPES:
        return {"__opaque__": f"array of dtype {arr.dtype}", "reason": "not a numeric dtype"}
    if arr.nbytes > MAX_FRAME_BYTES:
        return {"__opaque__": f"array of shape {tuple(arr.shape)}", "reason": f"too large to return ({arr.nbytes / 2**20:.0f} MB)"}
    data = np.ascontiguousarray(arr).tobytes()
    return {
        "__array__": arr.dtype.name,
        "shape": list(arr.shape),
        "data": base64.b64encode(data).decode("ascii"),
        "origin": framework,
        "requires_grad": requires_grad,
    }


def _encode(value: Any, depth: int, items: _Items) -> Any:
    if depth > MAX_DEPTH:
        return {"__opaque__": "nested structure", "reason": f"deeper than {MAX_DEPTH} levels"}
    # exact types only: a subclass of float could lie in __float__/__repr__
    if value is None or type(value) is bool:
        return value
    if type(value) is str:
        if items.left is not None and len(value) > MAX_STRING:
            return {"__opaque__": f"string of {len(value)} characters", "reason": "too large to return"}
        return value
    if type(value) is int:
        if abs(value) < 2**63:
            return value
        return {"__float__": "inf" if value > 0 else "-inf"}
    if type(value) is float:
        if math.isfinite(value):
            return value
        return {"__float__": repr(value)}
    if type(value) is complex:
        return _encode_array(np.asarray(value), "python")
    if isinstance(value, np.ndarray):
        # a subclass is read as its plain memory (its methods are never trusted)
        return _encode_array(value.view(np.ndarray), "numpy")
    if isinstance(value, np.generic):
        return _encode_array(np.asarray(value), "numpy")
    found = _framework_array(value)
    if found is not None:
        arr, framework, requires_grad = found
        return _encode_array(arr, framework, requires_grad)
    if type(value) in (list, tuple):
        if not items.take(len(value)):
            return {"__opaque__": f"{type(value).__name__} of {len(value)} items",
                    "reason": f"too large to return (an answer holds at most {MAX_ITEMS} items)"}
        return {"__seq__": type(value).__name__, "items": [_encode(v, depth + 1, items) for v in value]}
    if type(value) is dict:
        if not items.take(len(value)):
            return {"__opaque__": f"dict of {len(value)} items",
                    "reason": f"too large to return (an answer holds at most {MAX_ITEMS} items)"}
        pairs = []
        for k, v in value.items():
            if type(k) not in (str, int) or (type(k) is str and len(k) > MAX_STRING):
                return {"__opaque__": "dict", "reason": f"key of type {_type_name(k)}"}
            pairs.append([k, _encode(v, depth + 1, items)])
        return {"__dict__": pairs}
    return {"__opaque__": _type_name(value), "reason": "not an array, number, list, tuple or dict"}


# -- decoding (runs in the parent) --------------------------------------------

def decode(data: Any, depth: int = 0, max_items: int | None = None) -> Any:
    """Rebuild plain values from `encode`'s output. Raises ProtocolError on malformed input, and on more
    than `max_items` container items (the parent passes MAX_ITEMS for answers, as the child's encoder does)."""
    return _decode(data, depth, _Items(max_items))


def _decode(data: Any, depth: int, items: _Items) -> Any:
    if depth > MAX_DEPTH + 2:
        raise ProtocolError("nesting too deep")
    if type(data) is int and not -2**63 <= data < 2**63:
        raise ProtocolError("an integer too large for any array")  # the encoder sends these as infinities
    if data is None or type(data) in (bool, int, float, str):
        return data
    if type(data) is dict:
        if "__array__" in data:
            return _decode_array(data)
        if "__float__" in data:
            text = data["__float__"]
            if text not in ("inf", "-inf", "nan"):
                raise ProtocolError(f"bad float {str(text)[:40]!r}")
            return float(text)
        if "__seq__" in data:
            raw = _list(data.get("items"))
            if not items.take(len(raw)):
                raise ProtocolError(f"a list of {len(raw)} items is more than an answer may hold")
            out_items = [_decode(v, depth + 1, items) for v in raw]
            return tuple(out_items) if data["__seq__"] == "tuple" else out_items
        if "__dict__" in data:
            raw = _list(data["__dict__"])
            if not items.take(len(raw)):
                raise ProtocolError(f"a dict of {len(raw)} items is more than an answer may hold")
            out = {}
            for pair in raw:
                if type(pair) is not list or len(pair) != 2 or type(pair[0]) not in (str, int):
                    raise ProtocolError("bad dict item")
                out[pair[0]] = _decode(pair[1], depth + 1, items)
            return out
        if "__opaque__" in data:
            return Opaque(str(data["__opaque__"])[:200], str(data.get("reason", ""))[:300])
    raise ProtocolError(f"unexpected value of type {type(data).__name__}")


def _list(value: Any) -> list:
    if not isinstance(value, list):
        raise ProtocolError("expected a list")
    return value


class DecodedArray(np.ndarray):
    """A NumPy array that remembers which framework produced it."""

    origin: ArrayOrigin | None = None

    def __array_finalize__(self, obj: Any) -> None:
        self.origin = getattr(obj, "origin", None)


def _decode_array(data: dict) -> np.ndarray:
    dtype = data.get("__array__")
    if dtype not in ALLOWED_DTYPES:
        raise ProtocolError(f"dtype {dtype!r} not allowed")
    shape = data.get("shape")
    if type(shape) is not list or len(shape) > 32 or not all(type(n) is int and 0 <= n < 2**48 for n in shape):
        raise ProtocolError(f"bad shape {str(shape)[:60]}")
    # sizes in Python integers (NumPy's int64 would wrap), checked against the text before anything is decoded
    expected = math.prod(shape) * np.dtype(dtype).itemsize
    text = data.get("data", "")
    if type(text) is not str or expected > MAX_ANSWER_FRAME or len(text) != 4 * ((expected + 2) // 3):
        raise ProtocolError(f"{len(text) if type(text) is str else 'no'} characters of data for shape "
                            f"{str(shape)[:60]} of {dtype}")
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise ProtocolError(f"bad array data ({exc})") from None
    if len(raw) != expected:
        raise ProtocolError(f"{len(raw)} bytes for shape {shape} of {dtype}")
    arr = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    out = arr.view(DecodedArray)
    out.origin = ArrayOrigin(str(data.get("origin", "numpy"))[:20], bool(data.get("requires_grad", False)))
    return out


def origin_of(value: Any) -> ArrayOrigin | None:
    return getattr(value, "origin", None) if isinstance(value, np.ndarray) else None


# -- framing --------------------------------------------------------------------

def write_frame(fd: int, message: dict) -> None:
    payload = json.dumps(message, allow_nan=False).encode("utf-8")
    _write_all(fd, _HEADER.pack(len(payload)) + payload)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class FrameReader:
    """Incremental reader for length-prefixed frames on a non-blocking fd.

    `feed` stores what was read; `pop(limit)` returns the next complete frame if its declared length is
    within `limit` (the caller knows which frame is due, hence how large it may be). A frame too large,
    not JSON, too deeply nested or not an object raises ProtocolError before it is parsed or built.
    """

    def __init__(self, max_bytes: int = MAX_ANSWER_FRAME):
        self.buffer = bytearray()
        self.max_bytes = max_bytes

    def feed(self, chunk: bytes) -> None:
        self.buffer += chunk

    def pending(self) -> int:
        return len(self.buffer)

    def pop(self, limit: int | None = None) -> dict | None:
        limit = self.max_bytes if limit is None else min(limit, self.max_bytes)
        if len(self.buffer) < _HEADER.size:
            return None
        (length,) = _HEADER.unpack_from(self.buffer)
        if length > limit:
            raise ProtocolError(f"a frame of {length} bytes, more than the {limit} bytes allowed here")
        if len(self.buffer) < _HEADER.size + length:
            return None
        payload = bytes(self.buffer[_HEADER.size:_HEADER.size + length])
        del self.buffer[:_HEADER.size + length]
        return parse_frame(payload)


def parse_frame(payload: bytes) -> dict:
    # a cheap bound before parsing: every item of a JSON list or object but the first follows a comma
    # (base64 has none), so a frame with more commas than an answer may hold items is refused unbuilt
    if payload.count(b",") > 4 * MAX_ITEMS + 1000:
        raise ProtocolError("a frame with more items than an answer may hold")
    try:
        message = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"frame is not JSON: {str(exc)[:100]}") from None
    if type(message) is not dict:
        raise ProtocolError("frame is not an object")
    return message


def frame_size(message: dict) -> int:
    """The bytes `write_frame` would send for this message (without its header)."""
    return len(json.dumps(message, allow_nan=False).encode("utf-8"))


def read_frame_blocking(fd: int) -> dict:
    """Read one frame from a blocking fd (the child reading its instructions)."""
    header = _read_exact(fd, _HEADER.size)
    (length,) = _HEADER.unpack(header)
    return json.loads(_read_exact(fd, length))


def _read_exact(fd: int, n: int) -> bytes:
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 2**20))
        if not chunk:
            raise EOFError("pipe closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)
