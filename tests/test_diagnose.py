"""diagnose: each likely cause is found where it applies, and not claimed where it does not."""

from __future__ import annotations

import numpy as np
import pytest

from adgrade.diagnose import (
    describe_factor,
    format_array,
    format_number,
    likely_cause,
    likely_cause_across_points,
    matches,
    numeric_array,
)
from adgrade.runner.protocol import DecodedArray


def rng(seed: int = 7) -> np.random.Generator:
    return np.random.default_rng(seed)


# -- helpers ------------------------------------------------------------------------

def test_numeric_array_accepts_numbers_and_lists_only():
    assert numeric_array([1, 2.0]).dtype == np.float64
    assert type(numeric_array(np.ones(2).view(DecodedArray))) is np.ndarray
    for not_numbers in (None, "1", True, {"a": 1}, [[1.0], [1.0, 2.0]], [None], np.array([True])):
        assert numeric_array(not_numbers) is None


def test_format_number_and_array():
    assert format_number(0.1 + 0.2) == "0.3"
    assert format_number(float("nan")) == "nan" and format_number(-np.inf) == "-inf"
    assert format_number(-0.0) == "0"
    assert format_array(np.array([[1.0, 2.5], [3.0, 4.0]])) == "[[1, 2.5], [3, 4]]"


# -- constant factors -----------------------------------------------------------------

@pytest.mark.parametrize(
    ("c", "words"),
    [(2.0, "factor of 2"), (0.5, "factor of ½"), (3.0, "factor of 3"), (1 / 3, "factor of 1/3"),
     (1.5, "factor of 3/2"), (1.37, "about 1.37")],
)
def test_constant_factor_is_named(c, words):
    e = rng().normal(size=(3, 4))
    cause = likely_cause(c * e, e)
    assert words in cause and "everywhere" in cause


def test_sign_flip_is_a_sign_flip_not_a_factor_of_two():
    e = rng().normal(size=5)
    cause = likely_cause(-e, e)
    assert cause.startswith("sign flipped")
    assert "factor" not in cause


def test_negative_factor_mentions_both():
    e = rng().normal(size=5)
    cause = likely_cause(-2 * e, e)
    assert "-2" in cause and "sign flipped" in cause


def test_factor_named_by_dims():
    e = rng().normal(size=4)
    assert "off by a factor of 4 = N" in likely_cause(4 * e, e, dims={"N": 4})
    assert "sum instead of mean?" in likely_cause(4 * e, e, dims={"N": 4})
    assert "1/4 = 1/N" in likely_cause(e / 4, e, dims={"N": 4})
    assert "(mean instead of sum?)" in likely_cause(e / 4, e, dims={"N": 4})
    assert "6 = m·n" in likely_cause(6 * e, e, dims={"m": 2, "n": 3})
    # without dims the same factor is just a number
    assert likely_cause(4 * e, e) == "off by a factor of 4 everywhere"


def test_factor_two_with_n_two_mentions_both_readings():
    e = rng().normal(size=4)
    cause = likely_cause(2 * e, e, dims={"N": 2})
    assert "factor of 2" in cause and "N" in cause and "stray 2" in cause


def test_factor_survives_float32_rounding():
    e = rng().normal(size=6)
    assert "factor of 2" in likely_cause((2 * e).astype(np.float32), e)


def test_random_wrong_answers_claim_no_factor():
    r = rng(11)
    for _ in range(50):
        e = r.normal(size=(3, 3))
        a = r.normal(size=(3, 3))
        assert likely_cause(a, e) == ""


def test_scalar_gets_only_plain_factors():
    # one number is always "some factor" of another: only name the usual suspects
    assert "factor of 2" in likely_cause(2 * 22.35361841987789, 22.35361841987789)
    assert likely_cause(3.0, 4.0) == ""  # 3/4 would be chance, not a cause
    assert likely_cause(1.37 * 2.2, 2.2) == ""
    assert "= N" in likely_cause(4 * 0.7, 0.7, dims={"N": 4})


def test_describe_factor_edge_cases():
    assert describe_factor(1.0) == ""
    assert describe_factor(float("nan")) == ""
    assert describe_factor(1.0000001) == ""
    assert describe_factor(1.37, generic=False) == ""


# -- transposes and symmetry --------------------------------------------------------------

def test_transposed_rectangular_answer():
    e = rng().normal(size=(2, 3))
    assert likely_cause(e.T, e).startswith("transposed")


def test_transposed_square_answer():
    e = rng().normal(size=(3, 3))
    assert likely_cause(e.T, e).startswith("transposed")


def test_transposed_not_claimed_for_equal_symmetric_matrix():
    m = rng().normal(size=(3, 3))
    s = m + m.T
    assert likely_cause(s, s) == ""
    assert likely_cause(s.T, s) == ""


def test_symmetric_part_is_right():
    a = rng().normal(size=(4, 4))
    cause = likely_cause(a, (a + a.T) / 2)
    assert "not symmetric" in cause and "½(A+Aᵀ)" in cause


def test_symmetric_part_not_claimed_when_answer_symmetric_but_wrong():
    m = rng().normal(size=(3, 3))
    other = rng(3).normal(size=(3, 3))
    assert "symmetric" not in likely_cause(other + other.T, m + m.T)


# -- shapes ---------------------------------------------------------------------------------

def test_column_instead_of_flat_vector():
    e = np.arange(1.0, 4.0)
    cause = likely_cause(e[:, None], e)
    assert "(3, 1)" in cause and "(3,)" in cause and "broadcast" in cause and "values are right" in cause


def test_flat_instead_of_column():
    e = np.arange(1.0, 4.0)[:, None]
    cause = likely_cause(e.ravel(), e)
    assert "flat vector instead of a column" in cause


def test_column_with_wrong_values_says_so():
    e = np.arange(1.0, 4.0)
    cause = likely_cause(2 * e[:, None], e)
    assert "column" in cause and "factor of 2" in cause and "values are right" not in cause


def test_n_by_n_broadcast():
    e = np.array([1.0, 2.0, 3.0])
    cause = likely_cause(e[:, None] - np.zeros(3) + 0 * e, e)
    assert "(n,1) broadcast against (n,)" in cause
    assert likely_cause(np.ones((3, 3)), e[:, None]).startswith("(n,1) broadcast")


def test_broadcast_diagonal_is_noticed():
    e = np.array([1.0, 2.0, 3.0])
    assert "diagonal is the right answer" in likely_cause(np.diag(e) + 5 * (1 - np.eye(3)), e)


def test_extra_unit_axes():
    assert "extra axes of length 1" in likely_cause(np.ones((4, 1, 1)), np.ones(4))


def test_unrelated_shapes_give_no_cause():
    assert likely_cause(np.ones(5), np.ones(3)) == ""
    assert likely_cause(np.ones((2, 5)), np.ones((3, 4))) == ""


def test_size_one_answer_for_scalar_is_compared_as_scalar():
    assert "factor of 2" in likely_cause(np.array([4.0]), 2.0)


# -- precision, overflow, zeros, some elements ----------------------------------------------

def test_float32_precision():
    e = rng().normal(size=(5, 5)) * 10
    cause = likely_cause(e.astype(np.float32), e)
    assert "computed in float32" in cause and "jax_enable_x64" in cause


def test_float32_converted_to_float64():
    e = rng().normal(size=8)
    cause = likely_cause(e.astype(np.float32).astype(np.float64), e)
    assert "computed in float32 and converted" in cause


def test_float64_noise_is_not_called_float32():
    e = rng().normal(size=8)
    assert likely_cause(e * (1 + 1e-7), e) == ""


def test_integer_values_are_not_called_float32():
    e = np.array([1.0, 2.0, 3.0]) + 1e-9
    assert "float32" not in likely_cause(np.array([1.0, 2.0, 3.0]), e)


def test_nan_and_inf_point_to_overflow():
    e = np.array([0.5, 1.0])
    for bad in (np.array([np.nan, 1.0]), np.array([0.5, np.inf])):
        cause = likely_cause(bad, e)
        assert "overflow" in cause and "logsumexp" in cause and "log1p(exp(-|t|)) + max(t, 0)" in cause


def test_all_zeros():
    assert "all zeros" in likely_cause(np.zeros(4), np.ones(4))
    assert likely_cause(np.zeros(4), np.zeros(4)) == ""


def test_wrong_only_on_the_diagonal():
    h = rng().normal(size=(4, 4))
    a = h.copy()
    a[np.diag_indices(4)] += 1.0
    cause = likely_cause(a, h)
    assert "wrong only on the diagonal" in cause


def test_wrong_only_in_a_row_with_factor():
    e = rng().normal(size=(4, 5))
    a = e.copy()
    a[2] *= 3
    cause = likely_cause(a, e)
    assert "row 2" in cause and "factor of 3" in cause


def test_wrong_only_at_last_element():
    e = np.arange(1.0, 7.0)
    a = e.copy()
    a[-1] = 0.0
    assert "last element" in likely_cause(a, e)


def test_some_elements_listed():
    e = np.arange(1.0, 26.0).reshape(5, 5)
    a = e.copy()
    a[0, 1] += 1
    a[3, 4] -= 2
    cause = likely_cause(a, e)
    assert "wrong only at 2 of 25 elements" in cause and "(0, 1)" in cause and "(3, 4)" in cause


def test_some_elements_not_claimed_when_only_zeros_match():
    # a sparse reference whose zeros the student got right, every nonzero wrong
    e = np.diag([1.0, 2.0, 3.0])
    a = np.diag([5.0, -1.0, 0.3])
    assert "wrong only" not in likely_cause(a, e)


def test_non_numeric_input_gives_no_cause():
    assert likely_cause(None, np.ones(2)) == ""
    assert likely_cause("x", 1.0) == ""


# -- across points -----------------------------------------------------------------------------

def _points(seed: int = 5, n: int = 4, size: int = 3) -> list[np.ndarray]:
    r = rng(seed)
    return [r.normal(size=size) for _ in range(n)]


def grad_norm_cubed(x: np.ndarray) -> np.ndarray:
    return 3 * np.linalg.norm(x) * x


def test_across_points_constant_factor():
    xs = _points()
    exp = [grad_norm_cubed(x) for x in xs]
    assert likely_cause_across_points([2 * e for e in exp], exp, xs) == "off by a factor of 2 at every point"
    assert "4 = N" in likely_cause_across_points([4 * e for e in exp], exp, dims={"N": 4})


def test_across_points_odd_constant_factor_named_even_for_scalars():
    exp = [0.3, 1.7, -2.2]
    assert "about 1.37" in likely_cause_across_points([1.37 * e for e in exp], exp)


def test_across_points_extra_norm():
    xs = _points()
    exp = [grad_norm_cubed(x) for x in xs]
    act = [np.linalg.norm(x) * e for x, e in zip(xs, exp)]
    cause = likely_cause_across_points(act, exp, [(x,) for x in xs])
    assert "changes from point to point" in cause and "equals ‖x‖" in cause


def test_across_points_missing_norm():
    xs = _points()
    exp = [grad_norm_cubed(x) for x in xs]
    act = [3 * x for x in xs]  # forgot the ‖x‖
    cause = likely_cause_across_points(act, exp, xs)
    assert "1/‖x‖" in cause


def test_across_points_varying_factor_without_a_name():
    xs = _points()
    exp = [grad_norm_cubed(x) for x in xs]
    act = [k * e for k, e in zip((1.3, 2.9, 0.4, 5.0), exp)]
    cause = likely_cause_across_points(act, exp, xs)
    assert "changes from point to point" in cause and "direction is right" in cause
    assert "equals" not in cause


def test_across_points_scalar_factor_equal_to_x():
    xs = [-2.0, -0.5, 0.5, 1.0, 2.0]
    exp = [np.cos(x) for x in xs]
    act = [x * np.cos(x) for x in xs]  # right at x = 1 by coincidence
    assert "equals x at each point" in likely_cause_across_points(act, exp, xs)


def test_across_points_scalar_random_errors_claim_no_varying_factor():
    xs = [0.3, 1.1, 2.5]
    exp = [np.sin(x) for x in xs]
    act = [np.sin(x) + 5 for x in xs]
    cause = likely_cause_across_points(act, exp, xs)
    assert "point to point" not in cause and cause.startswith("wrong at all 3 points")


def test_across_points_right_for_negative_wrong_for_positive():
    xs = [-2.0, -1.0, -0.5, 0.5, 1.0, 2.0]
    exp = [2 * x for x in xs]
    act = [-2 * abs(x) for x in xs]  # right where x < 0
    cause = likely_cause_across_points(act, exp, xs)
    assert cause.startswith("right for x < 0, wrong for x > 0")
    assert "sign flipped" in cause


def test_across_points_threshold_not_through_zero():
    xs = [1.0, 2.0, 3.0, 4.0]
    exp = [1.0, 1.0, 1.0, 1.0]
    act = [1.0, 1.0, 9.0, 9.0]
    assert "right for x ≤ 2, wrong for x ≥ 3" in likely_cause_across_points(act, exp, xs)


def test_across_points_wrong_at_large_inputs_with_overflow():
    a = [np.array([0.1, 0.2]), np.array([0.3, 0.1]), np.array([np.nan, np.nan])]
    e = [np.array([0.1, 0.2]), np.array([0.3, 0.1]), np.array([1.0, 2.0])]
    inputs = [(np.array([1.0, 2.0]),), (np.array([1.0, 1.0]),), (np.array([800.0, 1.0]),)]
    cause = likely_cause_across_points(a, e, inputs)
    assert "right at 2 of 3 points" in cause and "largest" in cause and "overflow" in cause


def test_across_points_mixed_without_inputs():
    exp = [np.ones(2), np.ones(2), np.ones(2)]
    act = [np.ones(2), np.array([3.0, -1.0]), np.ones(2)]
    assert likely_cause_across_points(act, exp).startswith("right at 2 of 3 points")


def test_across_points_uses_given_verdicts():
    exp = [np.ones(2), np.ones(2)]
    act = [np.ones(2) * (1 + 1e-8), 2 * np.ones(2)]
    # the caller's tolerance said point 0 failed too
    assert likely_cause_across_points(act, exp, passed=[True, True]) == ""
    assert likely_cause_across_points(act, exp, passed=[True, False]).startswith("right at 1 of 2")


def test_across_points_everywhere_wrong():
    r = rng(2)
    exp = [r.normal(size=(3, 3)) for _ in range(3)]
    act = [r.normal(size=(3, 3)) for _ in range(3)]
    assert likely_cause_across_points(act, exp) == "wrong at all 3 points tested (not a constant factor, a sign or a transpose)"


def test_across_points_common_per_point_cause():
    r = rng(2)
    exp = [r.normal(size=(2, 3)) for _ in range(3)]
    cause = likely_cause_across_points([e.T for e in exp], exp)
    assert cause.startswith("transposed") and cause.endswith("at every point")
    squares = [r.normal(size=(3, 3)) for _ in range(3)]
    assert "transposed" in likely_cause_across_points([s.T for s in squares], squares)


def test_across_points_all_right_is_silent():
    exp = [np.ones(2), 2 * np.ones(2)]
    assert likely_cause_across_points(exp, exp) == ""


def test_across_points_trees():
    exp = [[np.ones(2), 3.0], [np.array([1.0, -2.0]), 0.5]]
    act = [[-np.ones(2), -3.0], [np.array([-1.0, 2.0]), -0.5]]
    assert likely_cause_across_points(act, exp).startswith("sign flipped")


# -- known wrong answers ---------------------------------------------------------------------------

def test_matches_known_wrong_answer():
    wrong = [0.3, 0.57, 0.81]
    assert matches(np.array(wrong) * (1 + 1e-9), wrong)
    assert not matches(np.array(wrong) * (1 + 1e-4), wrong)
    assert matches(np.array(wrong), tuple(wrong))


def test_matches_structure_and_shape():
    assert matches({"W": np.ones((2, 2)), "b": [1.0, 2.0]}, {"b": (1.0, 2.0), "W": np.ones((2, 2))})
    assert not matches({"W": np.ones((2, 2))}, {"W": np.ones((2, 2)), "b": 1.0})
    assert not matches(np.ones((3, 1)), np.ones(3))
    assert matches(np.array([2.0]), 2.0)
    assert matches([1.0, np.array([2.0])], (1.0, 2.0))
    assert not matches(None, 1.0) and not matches("a", 1.0)


def test_matches_nonfinite():
    assert matches(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]))
    assert not matches(np.array([np.nan, 1.0]), np.array([0.0, 1.0]))
