"""Bounded slowdown and growth exponents of the `timing` kind, judged on synthetic measurements.

Nothing here is timed: the child's answer is made up (per input, per candidate, one time per round),
so the verdicts and the words are tested without depending on the machine or its load.
"""

from __future__ import annotations

import re
import textwrap

import numpy as np
import pytest

from adgrade.checks.timing import TimingCheck
from adgrade.checks.timing_bounds import judge_exponent, judge_slowdown, within
from adgrade.runner.parent import Answer
from adgrade.spec import SpecError, load_assignment

ROUNDS = 40

FUNCTIONS = '''
import numpy as np

def inputs_one(rng):
    return [(np.ones(4),)]

def inputs_size(rng, size):
    return (np.ones(size),)
'''


def problem_set(tmp_path, check_fields: str):
    root = tmp_path / "bounds"
    root.mkdir(exist_ok=True)
    (root / "functions.py").write_text(FUNCTIONS)
    (root / "assignment.toml").write_text(textwrap.dedent('''
        [assignment]
        name = "bounds"
        [[problems]]
        id = "p"
        entries = ["hvp", "grad"]
          [[problems.checks]]
          kind = "timing"
          entries = ["hvp", "grad"]
        ''') + textwrap.dedent(check_fields))
    return load_assignment(root)


def timing_check(tmp_path, fields: str) -> TimingCheck:
    spec = problem_set(tmp_path, fields)
    problem = spec.problems[0]
    return TimingCheck(problem.checks[0], problem, spec, 0)


def synthetic(first_seconds: list[float], second_seconds: list[float], noise: float = 0.01, seed: int = 0):
    """The child's answer: per input (size), both candidates' per-round times around the given medians."""
    rng = np.random.default_rng(seed)
    times = [[list(t1 * np.exp(rng.normal(0, noise, ROUNDS))), list(t2 * np.exp(rng.normal(0, noise, ROUNDS)))]
             for t1, t2 in zip(first_seconds, second_seconds)]
    return [Answer("x", "ok", value={"times": times, "rounds": ROUNDS})]


# -- the judgement, as pure functions -------------------------------------------------------------

def test_within_uses_the_whole_interval():
    assert within([1.1, 1.3], 3.0, 3.3) == "passed"
    assert within([4.8, 5.5], 3.0, 3.3) == "failed"
    assert within([2.8, 3.2], 3.0, 3.3) == "inconclusive"
    assert within([3.1, 3.4], 3.0, 3.3) == "inconclusive"  # above the bound, but within the tolerance
    assert within(None, 3.0, 3.3) == "inconclusive"


def test_slowdown_words_say_which_way_it_went():
    status, words = judge_slowdown("hvp", "grad", 3.0, [(1.19, [1.1, 1.3])], None)
    assert status == "passed"
    assert words.startswith("`hvp` is 1.19× slower than `grad`") and "within the 3× allowed" in words
    assert "faster" not in words
    status, words = judge_slowdown("hvp", "grad", 3.0, [(5.1, [4.8, 5.5])], None)
    assert status == "failed" and "`hvp` is 5.1× slower than `grad`" in words and "at most 3× allowed" in words
    status, words = judge_slowdown("hvp", "grad", 3.0, [(0.8, [0.75, 0.85])], None)
    assert status == "passed" and "takes 0.8× the time of `grad` (it is faster)" in words


def test_slowdown_with_sizes_is_judged_at_every_size_and_names_the_one_that_fails():
    per_size = [(1.5, [1.4, 1.6]), (2.0, [1.9, 2.1]), (6.0, [5.5, 6.5])]
    status, words = judge_slowdown("hvp", "grad", 3.0, per_size, ["10", "100", "1000"])
    assert status == "failed" and words.startswith("At size 1000, `hvp` is 6× slower") and "10: 1.5×" in words


def test_exponent_words():
    assert judge_exponent("hvp", 1.5, 1.02, [0.95, 1.1]) == (
        "passed", "`hvp`'s time grows like size^1.02 (95% CI 0.95 to 1.10): at most size^1.5 allowed.")
    status, words = judge_exponent("hvp", 1.5, 2.01, [1.9, 2.1])
    assert status == "failed" and "faster than the size^1.5 allowed" in words
    assert judge_exponent("hvp", 1.5, 1.55, [1.45, 1.65])[0] == "inconclusive"


# -- through TimingCheck.judge, with made-up measurements ------------------------------------------

def test_a_passing_hvp_slower_than_grad_is_not_called_faster(tmp_path):
    check = timing_check(tmp_path, '''
          inputs = "inputs_one"
          max_slowdown = 3
        ''')
    result = check.judge(synthetic([62e-6], [52e-6]))
    assert result.status == "passed", result.message
    assert "`hvp` is 1.19× slower than `grad`" in result.message and "faster" not in result.message
    assert check.name() == "`hvp` takes at most 3× the time of `grad`"
    failing = check.judge(synthetic([265e-6], [52e-6]))
    assert failing.status == "failed"
    assert re.search(r"`hvp` is 5\.\d+× slower than `grad` \(95% CI", failing.message)
    assert "at most 3× allowed" in failing.message and "ratio hvp / grad = 5." in failing.message
    assert failing.details["slowdown"][0] == pytest.approx(5.1, rel=0.05)


def test_a_slowdown_and_an_exponent_over_sizes(tmp_path):
    check = timing_check(tmp_path, '''
          inputs = "inputs_size"
          scaling = [100, 1000, 10000]
          max_slowdown = 4
          max_exponent = 1.3
        ''')
    sizes = np.array([100, 1000, 10000])
    good = check.judge(synthetic(list(2e-8 * sizes), list(1e-8 * sizes)))  # both linear, hvp 2x grad
    assert good.status == "passed", good.message
    assert "grows like size^1.00" in good.message
    quadratic = check.judge(synthetic(list(1e-10 * sizes**2 + 2e-8 * sizes), list(1e-8 * sizes)))
    assert quadratic.status == "failed"
    assert "faster than the size^1.3 allowed" in quadratic.message and "At size 10000" in quadratic.message


def test_the_old_margin_below_one_tells_the_truth(tmp_path):
    check = timing_check(tmp_path, '''
          inputs = "inputs_one"
          better = "hvp"
          margin = 0.2
        ''')
    result = check.judge(synthetic([62e-6], [52e-6]))
    assert result.status == "passed"
    assert "`hvp` is 1.19× slower than `grad`" in result.message and "at most 5× slower" in result.message
    assert "is faster" not in result.message


@pytest.mark.parametrize("fields, words", [
    ('inputs = "inputs_one"\nbetter = "hvp"\nmax_slowdown = 3\n', "not both"),
    ('inputs = "inputs_one"\nmax_exponent = 1.5\n', "needs `scaling`"),
    ('inputs = "inputs_one"\nmax_slowdown = -1\n', "positive number"),
    ('inputs = "inputs_one"\nscored = true\n', "or a bound"),
])
def test_bad_bounds_are_refused(tmp_path, fields, words):
    with pytest.raises(SpecError, match=words):
        problem_set(tmp_path, fields)
