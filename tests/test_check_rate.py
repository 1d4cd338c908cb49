"""`convergence_rate`: order and rate from error sequences (synthetic, no child), and the advice per method.

The end-to-end case (Newton's method on test functions, a reused Hessian caught as linear) is the example
assignment's P3 (tests/test_example_custom_gradients.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from adgrade.checks.rate import advice, classify, estimate

FLOOR = 1e-12


def sequence(step, e0=0.95, n=12, floor_value=1e-16):
    """Errors e_{k+1} = step(e_k), bottoming out at rounding level (as float64 iterates do)."""
    out, e = [], e0
    for _ in range(n):
        e = max(step(e), floor_value)
        out.append(e)
    return np.array(out)


@pytest.mark.parametrize("step, want", [
    (lambda e: 0.5 * e * e, "quadratic"),                       # Newton
    (lambda e: 2.0 * e * e if e < 0.4 else 0.35, "quadratic"), # Newton with C > 1
    (lambda e: e ** 3 if e < 0.9 else 0.85, "quadratic"),       # cubic counts as at least quadratic
    (lambda e: 0.8 * e ** 1.618, "superlinear"),                # secant
    (lambda e: 0.35 * e, "linear"),                             # a reused Hessian
    (lambda e: 0.99 * e, "linear"),                             # slow but converging
    (lambda e: min(1.5 * e, 1e3), "diverging"),
])
def test_classify(step, want):
    assert classify(estimate(sequence(step), FLOOR)) == want


def test_errors_at_the_rounding_floor_do_not_count():
    quadratic = np.array([1e-1, 5e-3, 1.3e-5, 8e-11, 3e-16, 2e-16, 4e-16, 1e-16])
    est = estimate(quadratic, FLOOR)
    assert est["steps_used"] == 4 and est["reached_floor"]
    assert est["q"] == pytest.approx(2.0, abs=0.15)  # 2e-16 after 8e-11 is rounding, not order 3


def test_too_fast_to_measure_but_converged_is_not_a_failure():
    assert classify(estimate(np.array([1e-3, 1e-13, 1e-16, 1e-16]), FLOOR)) == "unknown"


def test_a_nan_iterate_is_divergence():
    assert classify(estimate(np.array([0.1, 0.5, np.inf, np.nan]), FLOOR)) == "diverging"


def test_advice_fits_the_method():
    newton = advice("newton", "linear", 0.34)
    assert "Hessian at x_k" in newton and "α ≈ 0.66" in newton and "step size above 2/L" not in newton
    assert "step size above 2/L" in advice("gradient_descent", "diverging", 1.5)
    assert advice("other", "linear", 0.3) == ""
