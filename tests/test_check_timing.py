"""The `timing` check kind: interleaved rounds in the child, paired ratios and growth judged here.

Verdicts must be right and the same on every run, also with a busy process on the other core;
the cases are chosen clear (O(n) against O(n^2) with n large enough). The fixture problem set is
tests/fixtures/timing (short budgets so the file stays fast).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from adgrade.checks.timing_stats import analyse, median_ci
from adgrade.engine import GradeOptions, grade_submission
from adgrade.spec import SpecError, load_assignment

from conftest import FIXTURES

pytestmark = pytest.mark.xdist_group("timing")  # timed together, not beside each other

FIXTURE = FIXTURES / "timing"

RIGHT = """
# %% ratio
import numpy as np
def linear(x):
    return np.sum(x)
def quadratic(x):
    return np.outer(x, x).sum()
# %% equal
def same_a(x):
    return np.sort(x)
def same_b(x):
    return np.sort(x)
# %% scaling
def lin(x):
    return np.sum(x * x)
def quad(x):
    return np.outer(x, x).sum()
"""

# `linear` is the slow one, `lin` the one that scales worse
SWAPPED = """
# %% ratio
import numpy as np
def linear(x):
    return np.outer(x, x).sum()
def quadratic(x):
    return np.sum(x)
# %% equal
def same_a(x):
    return np.sort(x)
def same_b(x):
    raise ValueError("boom")
# %% scaling
def lin(x):
    return np.outer(x, x).sum()
def quad(x):
    return np.sum(x * x)
"""


@pytest.fixture(scope="module")
def spec():
    return load_assignment(FIXTURE)


def grade(spec, tmp_path: Path, source: str, only: list[str], name: str = "sub.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    report = grade_submission(path, spec, GradeOptions(only=only))
    return {p.id: p for p in report.problems}, report


def checks(problems, pid):
    return problems[pid].checks


# -- the statistics, without a child ----------------------------------------------------------

def test_median_ci_is_distribution_free_order_statistics():
    med, ci = median_ci(np.arange(1.0, 11.0))
    assert med == 5.5 and ci == (2.0, 9.0)  # P(Bin(10, 1/2) <= 1) = 11/1024 <= 2.5 % < P(<= 2)
    assert median_ci([1.0, 2.0, 3.0, 4.0, 5.0])[1] is None  # too few for a 95 % interval
    med, ci = median_ci(np.r_[np.ones(40), 1e6])  # one huge outlier changes nothing
    assert med == 1.0 and ci == (1.0, 1.0)


def test_analyse_growth_and_exponents_on_synthetic_times():
    rng = np.random.default_rng(1)
    sizes = [100, 400, 1600]
    rounds = 40

    def noisy(t):
        return t * np.exp(rng.normal(0, 0.2, rounds))  # 20 % noise per round

    times = [[noisy(1e-6 * n), noisy(1e-9 * n * n)] for n in sizes]
    stats = analyse(times, ["lin", "quad"], better="lin", scaling=sizes)
    assert stats["ratio_of"] == "quad / lin"
    assert stats["exponents"]["lin"] == pytest.approx(1.0, abs=0.1)
    assert stats["exponents"]["quad"] == pytest.approx(2.0, abs=0.1)
    lo, hi = stats["growth_ci"]
    assert lo < 16 < hi and lo > 8  # the ratio grows with n: 16x from 100 to 1600
    swapped = analyse(times, ["lin", "quad"], better="quad", scaling=sizes)
    assert swapped["growth_ci"][1] < 1 / 8


def test_forged_or_malformed_measurements_are_an_error_not_a_verdict(spec):
    from adgrade.checks.timing import TimingCheck
    from adgrade.runner.parent import Answer

    problem = spec.problem("ratio")
    check = TimingCheck(problem.checks[0], problem, spec, 0)
    ok_times = [[[1e-3] * 20, [2e-3] * 20]]
    assert check.judge([Answer("x", "ok", value={"times": ok_times, "rounds": 20})]).status == "passed"
    for forged in ("fast", {"times": [[[1e-3] * 20, [-1.0] * 20]]}, {"times": [[[1e-3] * 20, [1e-3] * 19]]},
                   {"times": []}, {"times": [[[float("nan")] * 20, [1e-3] * 20]]}):
        result = check.judge([Answer("x", "ok", value=forged)])
        assert result.status == "error" and "cannot be read" in result.message, forged
    timeout = check.judge([Answer("x", "timeout", message="did not finish within 30 s")])
    assert timeout.status == "timeout"


# -- verdicts through the real engine -------------------------------------------------------------

def test_clear_verdicts_right_and_wrong(spec, tmp_path):
    good, report = grade(spec, tmp_path, RIGHT, ["ratio", "equal", "scaling"], "right.py")
    assert checks(good, "ratio")[0].status == "passed"
    assert checks(good, "scaling")[0].status == "passed"
    assert checks(good, "equal")[0].status in ("inconclusive", "passed")  # never failed
    assert good["equal"].status == "passed" and report.score == report.max_score == 4

    scaling = checks(good, "scaling")[0]
    details = scaling.to_dict()["details"]  # plain data, in the JSON report too
    assert details["labels"] == ["lin", "quad"] and details["sizes"] == [100.0, 300.0, 1000.0]
    assert set(details["times"]) == {"lin", "quad"} and len(details["times"]["quad"]) == 3
    assert details["growth_ci"][0] > 1.5 and details["exponents"]["quad"] > details["exponents"]["lin"] + 0.8
    assert "size 1000" in scaling.message and "quad ~ size^" in scaling.message

    bad, report = grade(spec, tmp_path, SWAPPED, ["ratio", "equal", "scaling"], "swapped.py")
    ratio = checks(bad, "ratio")[0]
    assert ratio.status == "failed" and ratio.score == 0 and "must be faster" in ratio.message
    scaling = checks(bad, "scaling")[0]
    assert scaling.status == "failed" and "grows faster" in scaling.message
    assert "Hint: lin must be the O(n) one." in scaling.message
    assert scaling.details["growth_ci"][1] < 1
    equal = checks(bad, "equal")[0]
    assert equal.status == "error" and "`b` raised an error" in equal.message and "ValueError: boom" in equal.message
    assert report.score == 0


def test_unscored_never_fails_and_reports_times(spec, tmp_path):
    # `better` names the slower candidate, but scored = false: reported, passed
    problems, _ = grade(spec, tmp_path, RIGHT, ["report"])
    ratio, scaling = checks(problems, "report")
    for check in (ratio, scaling):
        assert check.status == "passed", check.message
        assert "Reported, not scored." in check.message
    assert ratio.details["ratio_ci"][0][1] < 0.1  # linear / quadratic, far below 1
    assert scaling.details["size_names"] == ["[10, 10]", "[30, 10]", "[100, 10]"]
    assert scaling.details["sizes"] == [100.0, 300.0, 1000.0]  # a list size counts as its product


def test_missing_entries_and_wrappers_say_what_is_missing(spec, tmp_path):
    source = """
    # %% scaling
    import numpy as np
    def lin(x):
        return np.sum(x)
    # %% forms
    import torch
    def torch_sum(x):
        return torch.sum(x)
    """
    problems, _ = grade(spec, tmp_path, source, ["scaling", "forms"])
    scaling = checks(problems, "scaling")[0]
    assert scaling.status == "error" and "`quad` is not defined" in scaling.message
    forms = checks(problems, "forms")[0]  # the wrapper calls sub.linear
    assert forms.status == "error" and "`linear` is not defined" in forms.message


def test_two_backends_and_a_wrapper(spec, tmp_path):
    source = RIGHT + """
# %% forms
import torch
def torch_sum(x):
    assert isinstance(x, torch.Tensor)
    return torch.sum(x * x)
"""
    problems, _ = grade(spec, tmp_path, source, ["forms"])
    check = checks(problems, "forms")[0]
    assert check.status == "passed", check.message
    assert check.details["labels"] == ["wrapped", "torch"]


def test_jit_transform_and_a_function_jit_cannot_compile(spec, tmp_path):
    source = """
    # %% jit
    import jax.numpy as jnp
    def energy(x):
        return jnp.sum(jnp.sin(x) ** 2)
    def energy_grad(x):
        return 2 * jnp.sin(x) * jnp.cos(x)
    def branchy_grad(x):
        if float(jnp.sum(x)) > 1e9:  # Python control flow on a traced value
            return x
        return 2 * jnp.sin(x) * jnp.cos(x)
    """
    problems, _ = grade(spec, tmp_path, source, ["jit"])
    compiled, branchy = checks(problems, "jit")
    assert compiled.status == "passed", compiled.message
    assert compiled.details["labels"] == ["by hand", "jax.grad"] and not compiled.details["notes"]
    assert branchy.status == "passed", branchy.message
    assert "branchy was timed without compiling" in branchy.message and "ConcretizationTypeError" in branchy.message


# -- the same verdict every time, also on a busy machine ------------------------------------------

MIXED = RIGHT.replace("def lin(x):\n    return np.sum(x * x)\ndef quad(x):\n    return np.outer(x, x).sum()",
                      "def lin(x):\n    return np.outer(x, x).sum()\ndef quad(x):\n    return np.sum(x * x)")


@pytest.mark.parametrize("busy", [False, True], ids=["quiet", "busy-core"])
def test_same_verdicts_three_times(spec, tmp_path, busy):
    assert MIXED != RIGHT
    # a process spinning on the other core for at most 60 s (killed at the end either way)
    spin = "import time\nt = time.time()\nwhile time.time() - t < 60: pass"
    spinner = subprocess.Popen([sys.executable, "-c", spin]) if busy else None
    try:
        seen = []
        for run in range(3):
            problems, _ = grade(spec, tmp_path, MIXED, ["ratio", "equal", "scaling"], f"mixed{run}.py")
            seen.append({pid: p.checks[0].status for pid, p in problems.items()})
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    for verdicts in seen:
        assert verdicts["ratio"] == "passed", seen
        assert verdicts["scaling"] == "failed", seen  # lin is the O(n^2) one here
        assert verdicts["equal"] in ("inconclusive", "passed"), seen
    assert all(v["ratio"] == seen[0]["ratio"] and v["scaling"] == seen[0]["scaling"] for v in seen)


# -- broken specs are refused, naming the field ----------------------------------------------------

@pytest.mark.parametrize("table,field,words", [
    ('entries = ["linear"]\ninputs = "inputs_vector"', "entries", "exactly two"),
    ('entries = ["linear", "linear"]\ninputs = "inputs_vector"', "entries", "different labels"),
    ('entries = ["linear", "quadratic"]\ninputs = "inputs_vector"\nbetter = "fast"', "better", "labels"),
    ('entries = ["linear", "quadratic"]\ninputs = "inputs_vector"\nscored = true', "better", "needs `better`"),
    ('entries = ["linear", "quadratic"]\ninputs = "inputs_scaling"\nscaling = [100]', "scaling", "two sizes"),
    ('entries = [{ label = "a" }, "quadratic"]\ninputs = "inputs_vector"', "entries[0]", "exactly one of"),
    ('entries = [{ entry = "a", transform = "jvp" }, "b"]\ninputs = "inputs_vector"', "entries[0].transform",
     "one of"),
    ('entries = ["linear", "quadratic"]\ninputs = "inputs_vector"\nbackends = ["numpy"]', "backends", "two"),
    ('entries = ["linear", "quadratic"]', "inputs", "needs `inputs`"),
    ('entries = ["linear", "quadratic"]\ninputs = "inputs_vector"\nrepeat = 3', "repeat", "unknown field"),
])
def test_bad_specs_are_refused(tmp_path, table, field, words):
    folder = tmp_path / "timing"
    folder.mkdir()
    shutil.copy(FIXTURE / "functions.py", folder / "functions.py")
    (folder / "assignment.toml").write_text(
        '[assignment]\nname = "timing"\n\n[[problems]]\nid = "x"\npoints = 1\n\n'
        f'[[problems.checks]]\nkind = "timing"\n{table}\n')
    with pytest.raises(SpecError) as info:
        load_assignment(folder)
    message = str(info.value)
    assert f"problems[0].checks[0].{field}" in message and words in message, message
