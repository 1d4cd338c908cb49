"""compare(): the one judgement every check calls."""

from __future__ import annotations

import json

import numpy as np
import pytest

from adgrade.compare import TOLERANCES, Comparison, Tolerance, compare, tolerance_for
from adgrade.runner.protocol import DecodedArray, Opaque, decode, encode


def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def roundtrip(value):
    """What the grader actually receives from the student's process."""
    return decode(json.loads(json.dumps(encode(value))))


# -- tolerances ---------------------------------------------------------------------

def test_tolerance_table_defaults():
    assert TOLERANCES[np.dtype(np.float64)] == Tolerance(rtol=1e-7, atol=1e-9)
    assert TOLERANCES[np.dtype(np.float32)] == Tolerance(rtol=2e-5, atol=1e-6)
    assert TOLERANCES[np.dtype(np.float16)] == Tolerance(rtol=2e-3, atol=1e-3)
    assert TOLERANCES[np.dtype(np.complex64)] == TOLERANCES[np.dtype(np.float32)]
    assert TOLERANCES[np.dtype(np.complex128)] == TOLERANCES[np.dtype(np.float64)]


def test_tolerance_for_ints_is_float64_and_overrides_win():
    assert tolerance_for(np.int32) == TOLERANCES[np.dtype(np.float64)]
    assert tolerance_for("float32", rtol=1e-3) == Tolerance(rtol=1e-3, atol=1e-6)
    assert tolerance_for(np.float64, atol=0.5) == Tolerance(rtol=1e-7, atol=0.5)


def test_correct_answer_with_tiny_noise_passes():
    e = rng().normal(size=(4, 3))
    result = compare(e + 1e-12, e)
    assert result.ok and result.kind == "" and result.message == ""


def test_atol_is_scaled_by_reference_magnitude():
    e = np.array([1e6, 0.0])
    # an error of 1e-4 at a zero entry is rounding noise next to 1e6 ...
    assert compare(e + np.array([0.0, 1e-4]), e).ok
    # ... but not next to values of size 1
    assert not compare(np.array([1.0, 1e-4]), np.array([1.0, 0.0])).ok


def test_float32_answer_right_to_single_precision_passes():
    e = rng().normal(size=(5, 5))
    assert compare(e.astype(np.float32), e).ok
    assert compare(roundtrip(e.astype(np.float32)), e).ok


def test_float32_answer_fails_when_float64_is_required():
    e = rng().normal(size=5)
    result = compare(e.astype(np.float32), e, require_float64=True)
    assert not result.ok and result.kind == "dtype"
    assert "computed in float32" in result.message
    assert "jax_enable_x64" in result.message and "torch.float64" in result.message


def test_float64_requirement_hint_names_the_framework():
    e = rng().normal(size=3)
    answer = e.astype(np.float32).view(DecodedArray)
    from adgrade.runner.protocol import ArrayOrigin
    answer.origin = ArrayOrigin("jax")
    result = compare(answer, e, require_float64=True)
    assert "jax_enable_x64" in result.message and "torch" not in result.message


def test_float32_answer_wrong_at_single_precision_fails():
    e = np.array([1.0, 2.0, 3.0])
    result = compare((e * (1 + 1e-3)).astype(np.float32), e)
    assert not result.ok and result.kind == "value"
    assert "rtol 2e-05" in result.message


def test_float16_judged_with_its_own_tolerance():
    e = np.array([0.1, 0.2, 0.3])
    assert compare(e.astype(np.float16), e).ok
    assert not compare(e.astype(np.float16), e, require_float64=True).ok


def test_rtol_override_applies():
    assert compare(1.01, 1.0, rtol=0.05).ok
    assert not compare(1.01, 1.0).ok


def test_integer_answer_compared_as_float64():
    assert compare(np.array([1, 2, 3]), np.array([1.0, 2.0, 3.0])).ok
    assert compare(4, 4.0).ok


# -- structure ------------------------------------------------------------------------

def test_list_and_tuple_are_interchangeable():
    e = (np.ones(2), np.zeros(3))
    assert compare([np.ones(2), np.zeros(3)], e).ok
    assert compare(roundtrip((np.ones(2), np.zeros(3))), list(e)).ok


def test_sequence_length_mismatch_is_structure():
    result = compare([1.0, 2.0], [1.0, 2.0, 3.0])
    assert result.kind == "structure"
    assert "has 2 items, expected 3" in result.message


def test_dict_missing_and_extra_keys_are_named():
    e = {"W1": np.ones((2, 2)), "b1": np.zeros(2)}
    result = compare({"W1": np.ones((2, 2)), "b": np.zeros(2)}, e)
    assert not result.ok and result.kind == "structure"
    assert "missing key 'b1'" in result.message
    assert "unexpected key 'b'" in result.message


def test_array_where_dict_expected_is_structure():
    result = compare(np.ones(3), {"W": np.ones(3)})
    assert result.kind == "structure" and "a dict with keys 'W'" in result.message


def test_nested_paths_are_student_facing():
    e = [np.ones(2), {"b": np.array([1.0, 2.0])}]
    result = compare([np.ones(2), {"b": np.array([1.0, 5.0])}], e)
    assert result.path == "[1]['b']"
    assert "your answer, item [1]['b']" in result.message


def test_code_like_name_is_indexed_as_code_and_labels_are_shown():
    e = [np.ones(2), np.array([2.1, 1.0])]
    result = compare([np.ones(2), np.array([4.2, 2.0])], e, name="grad(params)", labels={"[1]": "W1 gradient"})
    assert result.message.startswith("grad(params)[1] (W1 gradient)")


def test_list_of_numbers_accepted_where_array_expected():
    assert compare([1.0, 2.0, 3.0], np.array([1.0, 2.0, 3.0])).ok
    assert compare([np.float32(1.0), 2.0], np.array([1.0, 2.0])).ok


def test_stacked_array_accepted_where_list_expected():
    assert compare(np.array([-54.0, 81.0, 2.0]), [-54.0, 81.0, 2.0]).ok


def test_most_basic_failure_is_reported_first_and_others_listed():
    e = [np.ones(3), np.ones(3)]
    result = compare([np.full(3, 2.0), np.ones((3, 1))], e)
    assert result.kind == "shape" and result.path == "[1]"
    assert "Also wrong: [0]" in result.message


# -- type ---------------------------------------------------------------------------------

def test_opaque_answer_says_what_was_returned():
    gen = Opaque("generator", "not an array, number, list, tuple or dict")
    result = compare(gen, np.zeros(3))
    assert not result.ok and result.kind == "opaque"
    assert "a generator" in result.message and "expected an array of shape (3,)" in result.message


def test_opaque_article_is_grammatical():
    result = compare(Opaque("array of dtype object", "not a numeric dtype"), np.zeros(2))
    assert "got an array of dtype object (not a numeric dtype)" in result.message


def test_opaque_from_the_real_protocol():
    answer = roundtrip((x for x in range(3)))
    assert isinstance(answer, Opaque)
    assert compare(answer, np.zeros(3)).kind == "opaque"


def test_none_and_str_are_type_failures():
    none = compare(None, np.zeros(3))
    assert none.kind == "type" and "None" in none.message and "return" in none.message
    text = compare("0.5", 0.5)
    assert text.kind == "type" and "the string '0.5'" in text.message and "a single number" in text.message


def test_python_bool_is_not_a_number():
    assert compare(True, 1.0).kind == "type"


def test_ragged_list_is_a_type_failure():
    result = compare([[1.0, 2.0], [3.0]], np.ones((2, 2)))
    assert result.kind == "type"


# -- shape --------------------------------------------------------------------------------

def test_column_vs_flat_vector_is_a_shape_failure_with_broadcast_hint():
    result = compare(np.ones((3, 1)), np.ones(3))
    assert not result.ok and result.kind == "shape"
    assert "(3, 1)" in result.message and "(3,)" in result.message
    assert "broadcast" in result.cause
    assert "values are right" in result.cause


def test_flat_vs_column_also_fails():
    result = compare(np.ones(3), np.ones((3, 1)))
    assert result.kind == "shape" and "broadcast" in result.cause


def test_no_silent_broadcasting_of_a_scalar_answer():
    result = compare(1.0, np.ones(3))
    assert result.kind == "shape"


def test_size_one_answer_accepted_for_scalar():
    assert compare(np.array([3.0]), 3.0).ok
    assert compare(np.array([[3.0]]), np.float64(3.0)).ok
    assert compare(roundtrip(np.float32(3.0)), 3.0).ok


def test_size_one_leaves_compare_by_value_both_ways():
    # seed 004: every gradient exact, but b2's is 0-d where the parameter b2 is (1,)
    result = compare(3.0, np.array([3.0]))
    assert result.ok and any("compared by value" in n for n in result.notes)
    assert compare(np.array([[3.0]]), np.array([3.0])).ok
    grads = {"W": np.ones((2, 2)), "b2": np.float64(-0.25)}
    result = compare(grads, {"W": np.ones((2, 2)), "b2": np.array([-0.25])}, name="my_nn_grad(...)")
    assert result.ok and "my_nn_grad(...)['b2']" in result.notes[0]


def test_size_one_leaf_with_a_wrong_value_still_fails_on_its_value():
    result = compare(3.5, np.array([3.0]))
    assert not result.ok and result.kind == "value"


def test_outer_broadcast_is_explained():
    v = np.array([1.0, 2.0, 3.0])
    result = compare(v[:, None] + 0 * v[None, :], v)
    assert result.kind == "shape"
    assert "(n,1) broadcast against (n,)" in result.cause


def test_transposed_shape_is_explained():
    e = rng().normal(size=(3, 2))
    result = compare(e.T.copy(), e)
    assert result.kind == "shape" and "transpose" in result.cause


# -- dtype ---------------------------------------------------------------------------------

def test_complex_where_real_expected_fails():
    result = compare(np.array([1.0 + 0j, 2.0]), np.array([1.0, 2.0]))
    assert result.kind == "dtype" and "complex" in result.message and ".real" in result.message


def test_bool_array_fails_as_dtype():
    assert compare(np.array([True, False]), np.array([1.0, 0.0])).kind == "dtype"


def test_real_answer_for_complex_reference_is_fine():
    assert compare(np.array([1.0, 2.0]), np.array([1.0 + 0j, 2.0])).ok


# -- finiteness -----------------------------------------------------------------------------

def test_nan_where_finite_expected():
    result = compare(np.array([1.0, np.nan, 2.0]), np.array([1.0, 0.5, 2.0]))
    assert not result.ok and result.kind == "nonfinite"
    assert "NaN" in result.message and "element 1" in result.message
    assert "overflow" in result.message and "unstable formula" in result.message
    assert result.worst is not None and result.worst["index"] == (1,)


def test_inf_in_a_large_array_names_where():
    e = np.ones(100)
    a = e.copy()
    a[37] = np.inf
    result = compare(a, e)
    assert result.kind == "nonfinite" and "1 inf" in result.message and "element 37" in result.message


def test_matching_nonfinite_reference_is_accepted():
    assert compare(np.array([np.inf, 1.0]), np.array([np.inf, 1.0])).ok
    assert not compare(np.array([-np.inf, 1.0]), np.array([np.inf, 1.0])).ok


def test_nonfinite_checked_before_values():
    result = compare(np.array([100.0, np.nan]), np.array([1.0, 1.0]))
    assert result.kind == "nonfinite"


# -- values -----------------------------------------------------------------------------------

def test_value_failure_message_has_everything():
    e = np.array([[1.0, 2.0], [3.0, 0.5], [2.1, 4.0]])
    result = compare(2 * e, e)
    assert not result.ok and result.kind == "value"
    w = result.worst
    assert w is not None and w["index"] == (2, 1)
    assert w["actual"] == 8.0 and w["expected"] == 4.0
    assert w["abs_err"] == 4.0 and w["rel_err"] == 1.0
    assert w["rtol"] == 1e-7 and w["atol"] == 1e-9
    for piece in ("(2, 1)", "8 instead of 4", "should be [[1, 2]", "abs error 4", "rel error 1", "rtol 1e-07", "atol 1e-09",
                  "Likely cause: off by a factor of 2"):
        assert piece in result.message, piece
    assert "array(" not in result.message and "DecodedArray" not in result.message
    assert result.actual is not None and result.expected is not None


def test_small_arrays_are_shown_in_full():
    result = compare(np.array([1.0, 5.0]), np.array([1.0, 2.0]))
    assert "[1, 5]" in result.message and "[1, 2]" in result.message


def test_large_arrays_show_the_worst_element_and_a_count():
    e = np.arange(1.0, 101.0)
    a = e.copy()
    a[[3, 50]] += [1.0, 70.0]
    result = compare(a, e)  # worst = furthest outside its own allowance: 70/51 beats 1/4
    assert result.worst["index"] == (50,)
    assert "element 50" in result.message and "2 of 100 elements" in result.message
    assert "[1," not in result.message  # not printed in full


def test_decoded_arrays_are_reported_without_their_class():
    e = rng().normal(size=(2, 2))
    result = compare(roundtrip(-e), e)
    assert "DecodedArray" not in result.message
    assert type(result.actual) is np.ndarray
    assert "sign flipped" in result.cause


def test_random_wrong_answer_has_no_cause():
    r = rng()
    e = r.normal(size=(4, 4))
    result = compare(r.normal(size=(4, 4)), e)
    assert result.kind == "value" and result.cause == "" and "Likely cause" not in result.message


def test_dims_name_the_number_of_samples():
    e = rng().normal(size=3)
    result = compare(4 * e, e, dims={"N": 4})
    assert "off by a factor of 4 = N" in result.message and "sum instead of mean" in result.message


def test_scalar_value_message():
    result = compare(44.70723683975578, 22.35361841987789, name="manual_grad(x)")
    assert result.message.startswith("manual_grad(x) is 44.7072 but should be 22.3536")
    assert "off by a factor of 2" in result.message


def test_symmetric_part_cause_in_message():
    a = rng().normal(size=(4, 4))
    result = compare(a, (a + a.T) / 2)
    assert "symmetric part" in result.message


def test_to_dict_is_json_safe():
    result = compare(np.array([1.0, np.nan]), np.array([1.0, 0.0]))
    data = result.to_dict()
    text = json.dumps(data, allow_nan=False)
    assert "actual" in data["worst"] and '"nan"' in text
    assert set(data) == {"ok", "kind", "path", "message", "cause", "worst"}
    assert Comparison(ok=True).to_dict()["worst"] is None


def test_empty_arrays_compare_equal():
    assert compare(np.zeros((0, 3)), np.zeros((0, 3))).ok


@pytest.mark.parametrize("expected", [0.0, np.zeros(3), {"a": [1.0, (2.0, 3.0)]}])
def test_reference_compared_with_itself_passes(expected):
    assert compare(expected, expected).ok
