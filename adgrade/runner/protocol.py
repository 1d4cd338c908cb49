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
#: largest frame the parent accepts from the child (huge arrays are a result, not a crash)
MAX_FRAME_BYTES = 64 * 2**20
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


def encode(value: Any, depth: int = 0) -> Any:
    """Turn a student's answer into JSON-able plain data; never raises."""
    try:
        return _encode(value, depth)
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


def _encode(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        return {"__opaque__": "nested structure", "reason": f"deeper than {MAX_DEPTH} levels"}
    # exact types only: a subclass of float could lie in __float__/__repr__
    if value is None or type(value) in (bool, str):
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
        return {"__seq__": type(value).__name__, "items": [_encode(v, depth + 1) for v in value]}
    if type(value) is dict:
        items = []
        for k, v in value.items():
            if type(k) not in (str, int):
                return {"__opaque__": "dict", "reason": f"key of type {_type_name(k)}"}
            items.append([k, _encode(v, depth + 1)])
        return {"__dict__": items}
    return {"__opaque__": _type_name(value), "reason": "not an array, number, list, tuple or dict"}


# -- decoding (runs in the parent) --------------------------------------------

def decode(data: Any, depth: int = 0) -> Any:
    """Rebuild plain values from `encode`'s output. Raises ProtocolError on malformed input."""
    if depth > MAX_DEPTH + 2:
        raise ProtocolError("nesting too deep")
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, dict):
        if "__array__" in data:
            return _decode_array(data)
        if "__float__" in data:
            text = data["__float__"]
            if text not in ("inf", "-inf", "nan"):
                raise ProtocolError(f"bad float {text!r}")
            return float(text)
        if "__seq__" in data:
            items = [decode(v, depth + 1) for v in _list(data.get("items"))]
            return tuple(items) if data["__seq__"] == "tuple" else items
        if "__dict__" in data:
            out = {}
            for pair in _list(data["__dict__"]):
                if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[0], (str, int)):
                    raise ProtocolError("bad dict item")
                out[pair[0]] = decode(pair[1], depth + 1)
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
    if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape) or len(shape) > 32:
        raise ProtocolError("bad shape")
    raw = base64.b64decode(data.get("data", ""), validate=True)
    expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
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
    """Incremental reader for length-prefixed frames on a non-blocking fd."""

    def __init__(self, max_bytes: int = MAX_FRAME_BYTES + 2**20):
        self.buffer = bytearray()
        self.max_bytes = max_bytes
        self.error: ProtocolError | None = None

    def feed(self, chunk: bytes) -> list[dict]:
        """The complete frames so far. A malformed frame raises ProtocolError, but only after the good
        frames before it (in the same chunk) have been returned: the error comes on the next call."""
        if self.error is not None:
            raise self.error
        self.buffer += chunk
        frames = []
        try:
            while len(self.buffer) >= _HEADER.size:
                (length,) = _HEADER.unpack_from(self.buffer)
                if length > self.max_bytes:
                    raise ProtocolError(f"frame of {length} bytes is larger than the limit")
                if len(self.buffer) < _HEADER.size + length:
                    break
                payload = bytes(self.buffer[_HEADER.size:_HEADER.size + length])
                del self.buffer[:_HEADER.size + length]
                try:
                    message = json.loads(payload)
                except ValueError as exc:
                    raise ProtocolError(f"frame is not JSON: {exc}") from None
                if not isinstance(message, dict):
                    raise ProtocolError("frame is not an object")
                frames.append(message)
        except ProtocolError as exc:
            if not frames:
                raise
            self.error = exc
        return frames


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
