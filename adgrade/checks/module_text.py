"""How the `module` check kind writes numbers, shapes and layers in its messages."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np


def plain_arg(a: Any) -> Any:
    if isinstance(a, np.generic):
        return a.item()
    if isinstance(a, np.ndarray) and a.ndim == 0:
        return a.item()
    return a


def show(a: Any) -> str:
    if isinstance(a, bool):
        return str(a)
    if isinstance(a, float):
        return f"{a:g}"
    return str(a) if isinstance(a, (int, str)) else repr(a)[:40]


def shape_text(shape: Any) -> str:
    shape = tuple(int(n) for n in shape)
    return f"({shape[0]},)" if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"


def linear_text(shape: Any) -> str:
    shape = [int(n) for n in shape]
    return f"nn.Linear({shape[1]}, {shape[0]})" if len(shape) == 2 else f"a layer of weight shape {shape_text(shape)}"


def linears_text(shapes: list) -> str:
    return ", ".join(linear_text(s) for s in shapes)


def num(x: float) -> str:
    x = float(x)
    return f"{x:.4g}".replace("-", "−")


def sci(x: float) -> str:
    return "0" if x == 0 else f"{float(x):.2e}"


def row(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:6.1f}" if math.isfinite(v) else f"{v:>6}" for v in values) + "]"


def ratio_words(r: float) -> str:
    fr = Fraction(r).limit_denominator(4)
    if fr.numerator <= 8 and abs(float(fr) - r) <= 1e-9 * r and fr != 1:
        text = str(fr.numerator) if fr.denominator == 1 else f"{fr.numerator}/{fr.denominator}"
        return f"{text} times"
    return f"about {r:.3g} times"
