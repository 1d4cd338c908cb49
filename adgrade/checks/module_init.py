"""The `init` measure of the `module` check kind: are a student's nn.Linear weights U(-b, b), biases 0?

Every layer is tested against U(-b, b), b = `init_bound(fan_in, fan_out, *init_args)`: max|w| <= b, a
seeded Kolmogorov-Smirnov test at `alpha`, max|w| close enough to b, biases exactly 0. A statistical
failure counts only when it repeats on every seed the model was built with; a certain one (a weight
beyond the bound, a bias not 0) on the first. The message names the likely cause: a known mistake of
the problem set, PyTorch's default initialisation left in place, a one-sided or bell-shaped
distribution, one bound for every layer, or a bound off by a simple factor.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from adgrade.checks.module_probe import MAX_SAMPLES
from adgrade.checks.module_text import linear_text, num, ratio_words

#: seeds the init measure builds the model with: a statistical failure must show at both
INIT_SEEDS = (0, 1)
#: a weight may exceed the bound by this much (float32 rounding of b and of the sampler)
BOUND_RTOL = 1e-5

if TYPE_CHECKING:
    from adgrade.checks.module import ModuleCheck


def judge_init(check: ModuleCheck, args: tuple, value: dict) -> str:
    if "not_module" in value:
        return check.not_module(args, value)
    problem = check.count_problem(args, value)
    if problem:
        return problem
    _, init_args = check.split(args)
    alpha = float(check.opt("alpha", 1e-4))
    seeds = value["seeds"]
    first = seeds[0]
    bounds = [check.bound(check.opt("init_bound"), layer["shape"], init_args) for layer in first]
    # 1. what a single build shows for certain: non-finite, beyond the bound, biases not 0
    for k, (layer, b) in enumerate(zip(first, bounds), start=1):
        if not layer["finite"]:
            return f"{check.built(args, value)}: layer {k} ({linear_text(layer['shape'])}) has NaN or inf weights."
    verdicts = [[layer_verdict(layer, b, alpha) for layer, b in zip(seed, bounds)] for seed in seeds]
    certain = [(k, v) for k, v in enumerate(verdicts[0], start=1) if v and v[0] in ("above", "bias")]
    if certain:
        k, _ = certain[0]
        return init_message(check, args, value, k, first, bounds, init_args, alpha, verdicts[0])
    # 2. statistical evidence counts only when every seed shows it for the same layer
    for k in range(1, len(first) + 1):
        if all(len(v) >= k and v[k - 1] for v in verdicts):
            return init_message(check, args, value, k, first, bounds, init_args, alpha, verdicts[0])
    return ""


def init_message(check: ModuleCheck, args: tuple, value: dict, k: int, layers: list, bounds: list,
                 init_args: list, alpha: float, verdicts: list) -> str:
    layer, b = layers[k - 1], bounds[k - 1]
    fan_out, fan_in = layer["shape"][0], int(np.prod(layer["shape"][1:]))
    head = (f"{check.built(args, value)}: layer {k} ({linear_text(layer['shape'])}, fan_in {fan_in}, "
            f"fan_out {fan_out})")
    kind = verdicts[k - 1][0]
    if kind == "bias":
        msg = (f"{head}: the bias is not 0 (largest |b| = {num(layer['bias']['max_abs'])}); every bias must "
               f"start at exactly 0 (nn.init.zeros_(layer.bias)).")
    else:
        msg = (f"{head}: the weights lie in [{num(layer['min'])}, {num(layer['max'])}] with std "
               f"{num(layer['std'])}; expected U(−{num(b)}, {num(b)}), bound {num(b)} (std "
               f"{num(b / math.sqrt(3))}). {verdicts[k - 1][1]}")
    wrong = sum(1 for v in verdicts if v)
    if wrong > 1:
        msg += f"\n{wrong} of {len(layers)} layers are wrong."
    cause = init_cause(check, layers, bounds, init_args, alpha, kind)
    if cause:
        msg += f"\nLikely cause: {cause}"
    return msg


def init_cause(check: ModuleCheck, layers: list, bounds: list, init_args: list, alpha: float, kind: str) -> str:
    def all_pass(fn: Any, bias_too: bool = True) -> bool:
        for layer in layers:
            v = layer_verdict(layer, fn(layer["shape"]), alpha)
            if v and (bias_too or v[0] != "bias"):
                return False
        return True

    for mistake in check.spec.mistakes:
        try:
            if all_pass(lambda s, m=mistake: check.bound(m.function, s, init_args)):
                return mistake.message
        except Exception:
            continue
    default = lambda s: 1.0 / math.sqrt(int(np.prod(s[1:])))  # noqa: E731  nn.Linear's own init
    biases = [layer["bias"] for layer in layers if layer["bias"]]
    if biases and all(bb["max_abs"] > 0 for bb in biases) and all_pass(default, bias_too=False):
        return ("this is PyTorch's default initialisation of nn.Linear (weights U(±1/√fan_in), biases not 0): "
                "the init function did not change the layers. Modify each nn.Linear's weight and bias in "
                "place (e.g. nn.init.uniform_(layer.weight, -b, b) and nn.init.zeros_(layer.bias)), for "
                "every nn.Linear in model.modules().")
    if kind == "bias":
        return ""
    mins = [layer["min"] for layer in layers]
    if all(m >= 0 for m in mins):
        return ("every weight is ≥ 0: the interval must be symmetric around 0. torch.rand gives [0, 1); "
                "use nn.init.uniform_(w, -b, b) or (2 * torch.rand(...) - 1) * b.")
    kurt = [kurtosis(layer["sample"]) for layer in layers if len(layer["sample"]) >= 200]
    if kurt and np.median(kurt) > -0.6:
        return ("the weights are bell-shaped like a normal distribution (excess kurtosis "
                f"{np.median(kurt):.2f}; a uniform one has −1.2): draw them from a uniform distribution "
                "(nn.init.uniform_ / xavier_uniform_), not normal_/randn.")
    # U(-c, c) estimated from the largest layer (max|w| (n + 1)/n), then tested on every layer
    big = max(range(len(layers)), key=lambda i: layers[i]["n"])
    layer = layers[big]
    c = max(-layer["min"], layer["max"]) * (layer["n"] + 1) / max(layer["n"], 1)
    if len(layers) > 1 and max(bounds) > 1.1 * min(bounds) and all_pass(lambda s: c, bias_too=False):
        return (f"every layer has the same bound ≈ {num(c)}, but the expected bound depends on each "
                f"layer's fan_in and fan_out (here from {num(min(bounds))} to {num(max(bounds))}).")
    if bounds[big] > 0 and c > 0:
        r = c / bounds[big]
        nice = Fraction(r).limit_denominator(4)
        for factor in ([float(nice)] if abs(float(nice) - r) <= 0.03 * r and nice != 1 else []) + [r]:
            scaled = lambda s, f=factor: f * check.bound(check.opt("init_bound"), s, init_args)  # noqa: E731
            if all_pass(scaled, bias_too=False):
                return (f"the weights look uniform with a bound {ratio_words(factor)} the expected one in "
                        f"every layer.")
    return ""


def validate_init(check: ModuleCheck, label: str) -> list[str]:
    """With `layers`: U(-b, b) weights pass the test, and every known mistake is told apart."""
    if not check.opt("layers"):
        return []
    problems = []
    alpha = float(check.opt("alpha", 1e-4))
    rng = np.random.default_rng(0)
    for args in check.inputs():
        ctor, init_args = check.split(args)
        shapes = [list(s) for s in check.fn(check.opt("layers"))(*ctor)]
        bounds = [check.bound(check.opt("init_bound"), s, init_args) for s in shapes]
        if any(not b >= 0 for b in bounds):
            problems.append(f"{label}: `init_bound` gives {bounds} at {list(args)}: a bound must be ≥ 0")
            continue
        layers = [simulated_layer(rng, s, b) for s, b in zip(shapes, bounds)]
        if any(layer_verdict(layer, b, alpha) for layer, b in zip(layers, bounds)):
            problems.append(f"{label}: simulated U(-b, b) weights fail the test at {list(args)} "
                            f"(alpha = {alpha} too large?)")
        for mistake in check.spec.mistakes:
            wrong = [check.bound(mistake.function, s, init_args) for s in shapes]
            sim = [simulated_layer(rng, s, b) for s, b in zip(shapes, wrong)]
            if not any(layer_verdict(layer, b, alpha) for layer, b in zip(sim, bounds)):
                problems.append(f"{label}: mistake `{mistake.function}` passes the test at {list(args)}: "
                                f"it cannot be told apart from the right bound there")
    return problems


# -- the statistics ---------------------------------------------------------------------------


def layer_verdict(layer: dict, b: float, alpha: float) -> tuple[str, str] | None:
    """None when one layer's weights look U(-b, b) and its bias is 0; else (kind, why)."""
    bias = layer.get("bias")
    if bias and bias["max_abs"] != 0:
        return ("bias", "")
    if not layer["finite"]:
        return ("above", "Some weights are NaN or infinite.")
    n = int(layer["n"])
    if n == 0:
        return None
    largest = max(abs(layer["min"]), abs(layer["max"]))
    if largest > b * (1 + BOUND_RTOL) + 1e-30:
        return ("above", f"{num(largest)} is outside the bound.")
    if b == 0:
        return None
    # max|w| of n draws from U(-b, b) is below b(1 - eps) with probability (1 - eps)^n = alpha
    eps = -math.expm1(math.log(alpha) / n)
    if largest < b * (1 - eps):
        return ("below", f"The largest |w| is {num(largest)}; with {n} weights from U(−b, b) it would be "
                         f"above {num(b * (1 - eps))} (the bound is too small).")
    sample = np.sort(np.asarray(layer["sample"], dtype=np.float64))
    if sample.size >= 20:
        d, p = ks_uniform(sample, b)
        if p < alpha:
            return ("shape", f"Their distribution is not U(−b, b) (Kolmogorov–Smirnov D = {d:.3f}, "
                             f"p = {p:.1e} on {sample.size} weights).")
    return None


def ks_uniform(sorted_sample: np.ndarray, b: float) -> tuple[float, float]:
    """One-sample Kolmogorov–Smirnov statistic against U(-b, b), and its p-value (Stephens' approximation)."""
    n = sorted_sample.size
    cdf = np.clip((sorted_sample + b) / (2 * b), 0.0, 1.0)
    i = np.arange(1, n + 1)
    d = float(max(np.max(i / n - cdf), np.max(cdf - (i - 1) / n)))
    lam = (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * d
    if lam < 0.3:
        return d, 1.0
    p = 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))
    return d, min(max(p, 0.0), 1.0)


def kurtosis(sample: Any) -> float:
    s = np.asarray(sample, dtype=np.float64)
    s = s - s.mean()
    var = float(np.mean(s ** 2))
    return float(np.mean(s ** 4) / var ** 2 - 3.0) if var > 0 else 0.0


def simulated_layer(rng: np.random.Generator, shape: list, b: float) -> dict:
    w = rng.uniform(-b, b, size=int(np.prod(shape))).astype(np.float32).astype(np.float64)
    sample = w if w.size <= MAX_SAMPLES else rng.choice(w, size=MAX_SAMPLES, replace=False)
    return {"shape": shape, "n": int(w.size), "finite": True, "min": float(w.min()), "max": float(w.max()),
            "mean": float(w.mean()), "std": float(w.std()), "sample": sample, "bias": {"n": shape[0], "max_abs": 0.0}}
