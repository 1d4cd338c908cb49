"""Small spec-format features of issue 10: the `custom` kind, a trajectory refusing a `judge`, `require` on a
kind that cannot check it, a backend list, and wrapper checks named by the student's names they use.
Judgements use synthetic answers (no child process)."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from adgrade.checks import get_check_class
from adgrade.runner.parent import Answer
from adgrade.spec import SpecError, load_assignment

FUNCTIONS = '''
import numpy as np

def inputs_n(rng):
    return [(3,), (5,)]

def judge_unit_rows(answer, expected, args):
    norms = np.linalg.norm(np.asarray(answer), axis=-1)
    if not np.allclose(norms, 1.0):
        return f"every row must have length 1; yours have lengths {np.round(norms, 3).tolist()}"
    return None

def iterates(xp, n):
    return [n * 1.0, n * 2.0]

def loss_through_softplus(xp, sub, x):
    return xp.sum(sub.softplus(x))
'''


def problem_set(tmp_path, check: str, backend: str = "numpy"):
    root = tmp_path / "feat"
    root.mkdir(exist_ok=True)
    (root / "functions.py").write_text(FUNCTIONS)
    (root / "assignment.toml").write_text(textwrap.dedent(f'''
        [assignment]
        name = "feat"
        backend = "{backend}"
        [[problems]]
        id = "p"
        entries = ["SoftplusFn", "softplus"]
          [[problems.checks]]
        ''') + textwrap.dedent(check))
    return load_assignment(root)


def the_check(spec):
    problem = spec.problems[0]
    return get_check_class(problem.checks[0].kind)(problem.checks[0], problem, spec, 0)


def test_custom_kind_is_judged_by_the_problem_sets_judge(tmp_path):
    check = the_check(problem_set(tmp_path, '''
        kind = "custom"
        entry = "sample_sphere"
        inputs = "inputs_n"
        judge = "judge_unit_rows"
        '''))
    good = [Answer("a", "ok", value=np.eye(3)), Answer("b", "ok", value=np.eye(5))]
    assert check.judge(good).status == "passed"
    bad = check.judge([Answer("a", "ok", value=2 * np.eye(3)), Answer("b", "ok", value=np.eye(5))])
    assert bad.status == "failed" and "every row must have length 1" in bad.message
    assert check.name() == "`sample_sphere` passes the problem set's test at 2 points"


def test_custom_needs_a_judge(tmp_path):
    with pytest.raises(SpecError, match="a 'custom' check needs `judge`"):
        problem_set(tmp_path, 'kind = "custom"\nentry = "f"\ninputs = "inputs_n"\n')


def test_a_trajectory_refuses_a_judge_instead_of_ignoring_it(tmp_path):
    with pytest.raises(SpecError, match=r"checks\[0\]\.judge: a 'trajectory' check .* takes no `judge`"):
        problem_set(tmp_path, 'kind = "trajectory"\nentry = "gd"\nexpected = "iterates"\n'
                              'inputs = "inputs_n"\njudge = "judge_unit_rows"\n')


def test_require_on_a_kind_that_cannot_check_it_is_refused(tmp_path):
    with pytest.raises(SpecError, match="does not look at the calls"):
        problem_set(tmp_path, 'kind = "timing"\nentries = ["a", "b"]\ninputs = "inputs_n"\nrequire = ["jax.jvp"]\n')


def test_a_backend_list_is_the_students_choice(tmp_path):
    spec = problem_set(tmp_path, 'kind = "value"\nentry = "f"\ninputs = "inputs_n"\njudge = "judge_unit_rows"\n'
                                 'backend = ["jax", "autograd"]\n')
    check = spec.problems[0].checks[0]
    assert check.backend == "jax" and check.backend_choices == ("jax", "autograd")
    assert {"jax", "autograd"} <= set(spec.backends)
    assert the_check(spec).requests()[0].params["backend"] == ["jax", "autograd"]
    with pytest.raises(SpecError, match="unknown backend 'jaxx'"):
        problem_set(tmp_path, 'kind = "value"\nentry = "f"\ninputs = "inputs_n"\njudge = "judge_unit_rows"\n'
                              'backend = ["jaxx", "autograd"]\n')


def test_a_wrapper_check_is_named_by_the_entries_the_wrapper_uses(tmp_path):
    check = the_check(problem_set(tmp_path, '''
        kind = "value"
        wrapper = "loss_through_softplus"
        inputs = "inputs_n"
        judge = "judge_unit_rows"
        '''))
    assert check.subject == "`softplus`"  # not "SoftplusFn, softplus"


@pytest.mark.parametrize("kind_fields", [
    'kind = "convergence"\nentry = "gd"\nlimit = "iterates"\ninputs = "inputs_n"\n',
    'kind = "timing"\nentries = ["a", "b"]\ninputs = "inputs_n"\n',
])
def test_kinds_that_judge_by_their_own_rules_refuse_a_judge(tmp_path, kind_fields):
    with pytest.raises(SpecError, match="takes no `judge` \\(it would be ignored\\)"):
        problem_set(tmp_path, kind_fields + 'judge = "judge_unit_rows"\n')
