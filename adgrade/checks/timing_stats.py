"""The statistics of a `timing` check (checks/timing.py): pure functions of plain lists of times.

A median ratio with a distribution-free confidence interval (order statistics of the ratios of
A B / B A pairs of rounds), and for `scaling` the ratio of ratios between the largest and the
smallest size with each candidate's growth exponent (the log-log slope of time against size).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

CONFIDENCE = 0.95


def size_scalar(size: Any) -> float:
    """One number per size for growth exponents: the size itself, or the product of a list ([m, n, k])."""
    if isinstance(size, (list, tuple)):
        return float(np.prod([float(s) for s in size]))
    return float(size)


def median_ci(samples: Any, confidence: float = CONFIDENCE) -> tuple[float, tuple[float, float] | None]:
    """Median and a distribution-free confidence interval for it (binomial order statistics).

    With n samples sorted x(1) <= ... <= x(n), [x(k), x(n-k+1)] covers the median with probability
    1 - 2 P(Binomial(n, 1/2) <= k - 1); k is the largest one that keeps this at `confidence` or more.
    None when there are too few samples for that coverage (n < 6 at 95 %).
    """
    xs = np.sort(np.asarray(samples, dtype=float))
    n = len(xs)
    if n == 0:
        return float("nan"), None
    med = float(np.median(xs))
    tail = (1 - confidence) / 2
    cdf, k = 0.0, 0
    for j in range(n):
        cdf += math.comb(n, j) / 2**n
        if cdf > tail:
            break
        k = j + 1
    if k == 0:
        return med, None
    return med, (float(xs[k - 1]), float(xs[n - k]))


def _pairs(x: np.ndarray) -> np.ndarray:
    """Geometric means of consecutive pairs (rounds 0-1, 2-3, ...); an odd last round is dropped."""
    x = np.asarray(x, dtype=float)
    k = len(x) // 2
    if k == 0:
        return x
    return np.sqrt(x[0:2 * k:2] * x[1:2 * k:2])


def _slopes(log_sizes: np.ndarray, log_times: np.ndarray) -> np.ndarray:
    """Least-squares slope of log time against log size, one per round (log_times: sizes x rounds)."""
    x = log_sizes - log_sizes.mean()
    return (x[:, None] * (log_times - log_times.mean(axis=0))).sum(axis=0) / (x * x).sum()


def analyse(times: list[list[np.ndarray]], labels: list[str], better: str | None = None,
            scaling: list | None = None) -> dict[str, Any]:
    """Medians, paired ratios and (with scaling) growth, each with a confidence interval.

    times[p][c] holds the per-call times of candidate c at input p, one per round; the rounds are
    interleaved, so the samples of one round are paired across candidates and inputs. Rounds come
    in pairs (A B, then B A): every ratio-like sample is the geometric mean over one such pair,
    which cancels what running first or second does (caches, clock ramp-up).
    """
    a, b = labels
    # the ratio is time(other) / time(better): above 1 when `better` is faster
    num, den = (1, 0) if better in (None, a) else (0, 1)
    ratio_of = f"{labels[num]} / {labels[den]}"
    out: dict[str, Any] = {"ratio_of": ratio_of, "times": {}, "times_ci": {}}
    for c, label in enumerate(labels):
        meds, cis = [], []
        for per_point in times:
            m, ci = median_ci(per_point[c])
            meds.append(m)
            cis.append(list(ci) if ci else None)
        out["times"][label] = meds
        out["times_ci"][label] = cis
    # per input: one ratio per A B / B A pair of rounds
    ratios = [_pairs(per_point[num] / per_point[den]) for per_point in times]
    out["ratio"], out["ratio_ci"] = [], []
    for r in ratios:
        m, ci = median_ci(r)
        out["ratio"].append(m)
        out["ratio_ci"].append(list(ci) if ci else None)
    if scaling:
        s = np.array([size_scalar(x) for x in scaling])
        lo_i, hi_i = int(np.argmin(s)), int(np.argmax(s))
        growth = ratios[hi_i] / ratios[lo_i]  # per round: how much the ratio grew
        g, gci = median_ci(growth)
        out.update(growth=g, growth_ci=list(gci) if gci else None, smallest=lo_i, largest=hi_i)
        logs = np.log(s)
        out["exponents"], out["exponents_ci"] = {}, {}
        for c, label in enumerate(labels):
            slopes = _slopes(logs, np.log(np.vstack([_pairs(per_point[c]) for per_point in times])))
            e, eci = median_ci(slopes)
            out["exponents"][label] = e
            out["exponents_ci"][label] = list(eci) if eci else None
        out.update(statistic="growth", statistic_value=g, statistic_ci=out["growth_ci"])
    else:
        # several inputs without scaling: one sample per round, the geometric mean over the inputs
        pooled = np.exp(np.mean(np.log(np.vstack(ratios)), axis=0))
        r, rci = median_ci(pooled)
        out.update(statistic="ratio", statistic_value=r, statistic_ci=list(rci) if rci else None)
    return out
