"""Running only what the checks need (adgrade/slicing.py): the analysis, and the engine around it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from adgrade.slicing import Question, full_run_reason, plan_slice, request_names, wrapper_names


def cells(*sources: str) -> list[tuple[int, str]]:
    return [(i, textwrap.dedent(s).strip() + "\n") for i, s in enumerate(sources)]


def ran(plan, cell_list) -> list[str]:
    """The first line of every statement that runs."""
    out = []
    for index, source in cell_list:
        lines = source.splitlines()
        skip = set(plan.skip.get(index, ()))
        for s in plan.statements[index]:
            if s.index not in skip:
                out.append(lines[s.first_line - 1].strip())
    return out


def skipped(plan, cell_list) -> list[str]:
    out = []
    for index, source in cell_list:
        lines = source.splitlines()
        for s in plan.statements[index]:
            if s.index in set(plan.skip.get(index, ())):
                out.append(lines[s.first_line - 1].strip())
    return out


NOTEBOOK = cells(
    """
    import numpy as np
    import time
    np.random.seed(0)
    """,
    """
    params = []
    scale = 2.0
    def model(x):
        return scale * sum(p * x for p in params)
    params.append(1.5)
    log = []
    """,
    """
    start = time.time()
    for i in range(10**9):
        log.append(model(i))
    print(time.time() - start)
    """,
)


def test_an_experiment_is_skipped_and_everything_a_check_needs_is_kept():
    plan = plan_slice(NOTEBOOK, [Question(end=None, roots={"model"})])
    kept = ran(plan, NOTEBOOK)
    # imports and the seeding run; model's globals (scale, params) and the mutation params.append run
    assert kept == ["import numpy as np", "import time", "np.random.seed(0)", "params = []", "scale = 2.0",
                    "def model(x):", "params.append(1.5)"]
    assert skipped(plan, NOTEBOOK) == ["log = []", "start = time.time()", "for i in range(10**9):",
                                       "print(time.time() - start)"]
    assert plan.skip[2] == [0, 1, 2]  # the whole benchmark cell
    assert not plan.is_needed(2, 1) and plan.is_needed(1, 3)


def test_each_question_is_sliced_from_its_own_end():
    source = cells(
        """
        k = 2
        def f(x):
            return k * x
        """,
        """
        k = 3
        demo = f(10)
        def f(x):
            return x + 1
        """,
    )
    # q1a grades f (k * x) after cell 0 with k = 2; q1b grades the second f. Both definitions of a name
    # count wherever it is read (conservative), so `k = 3` runs too; the demo call does not
    plan = plan_slice(source, [Question(end=0, roots={"f"}), Question(end=1, roots={"f"})])
    assert ran(plan, source) == ["k = 2", "def f(x):", "k = 3", "def f(x):"]
    assert skipped(plan, source) == ["demo = f(10)"]
    # only q1a: nothing after its end runs
    plan = plan_slice(source, [Question(end=0, roots={"f"})])
    assert skipped(plan, source) == ["k = 3", "demo = f(10)", "def f(x):"]


def test_a_later_plain_assignment_makes_an_earlier_one_unneeded():
    source = cells("""
    w = train_for_an_hour()
    w = 1.0
    def predict(x):
        return w * x
    """)
    plan = plan_slice(source, [Question(end=None, roots={"predict"})])
    assert skipped(plan, source) == ["w = train_for_an_hour()"]


def test_mutation_through_a_function_a_parameter_and_an_alias():
    source = cells("""
    import torch
    weights = [0.0]
    def fill(p):
        p.append(1.0)
    def show(p):
        print(len(p))
    def reset():
        global offset
        offset = 5
    offset = 0
    fill(weights)
    show(weights)
    reset()
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    opt.step()
    plot_it = model.weight.shape
    def predict(x):
        return weights[0] * x + offset + model(x)
    """)
    plan = plan_slice(source, [Question(end=None, roots={"predict"})])
    assert skipped(plan, source) == ["show(weights)", "plot_it = model.weight.shape"]
    assert "fill(weights)" in ran(plan, source) and "reset()" in ran(plan, source)
    assert "opt.step()" in ran(plan, source)


def test_a_shared_device_does_not_tie_an_experiment_to_the_graded_model():
    """Seed 004: a benchmark hands `test` (made with `device=device`) to a function that changes it, and
    the graded network is `.to(device)`: a torch.device or a string is immutable, so the two share no
    object and the benchmark is not needed. A device the analysis cannot vouch for still ties them."""
    def notebook(make_device: str) -> list[tuple[int, str]]:
        return cells(
            f"""
            import torch
            device = {make_device}
            network = torch.nn.Linear(3, 2).to(device)
            def jacobian(x, W):
                x.grad = None
                return W @ x
            """,
            """
            test = torch.randn(100, device=device)
            for L in [3, 5, 10]:
                W = torch.randn(100, 100)
                for i in range(1000):
                    jacobian(test, W)
            """,
            """
            def evaluate(x):
                return network(x)
            """,
        )

    for immutable in ('torch.device("cuda:0" if torch.cuda.is_available() else "cpu")', '"cpu"', "str(0)"):
        source = notebook(immutable)
        plan = plan_slice(source, [Question(end=2, roots={"evaluate"})])
        assert "for L in [3, 5, 10]:" in skipped(plan, source), immutable
        assert "network = torch.nn.Linear(3, 2).to(device)" in ran(plan, source)
        assert "test = torch.randn(100, device=device)" in skipped(plan, source)
    for unknown in ("make_device()", "torch.cuda.current_stream()"):
        source = notebook(unknown)
        plan = plan_slice(source, [Question(end=2, roots={"evaluate"})])
        assert "for L in [3, 5, 10]:" in ran(plan, source), unknown
    # `torch` or `str` rebound by the submission: its `device(...)` / `str(...)` may return anything
    source = notebook('torch.device("cpu")')
    source.append((3, "torch = load_my_own_torch()\n"))
    plan = plan_slice(source, [Question(end=2, roots={"evaluate"})])
    assert "for L in [3, 5, 10]:" in ran(plan, source)
    source = notebook("str(0)")
    source.append((3, "def str(x):\n    return [x]\n"))
    plan = plan_slice(source, [Question(end=2, roots={"evaluate"})])
    assert "for L in [3, 5, 10]:" in ran(plan, source)


def test_configuration_and_what_cannot_be_followed_are_kept():
    source = cells(
        """
        import jax
        jax.config.update("jax_enable_x64", True)
        data = download()
        exec("def f(x): return x")
        """,
        """
        plot(data)
        """,
    )
    plan = plan_slice(source, [Question(end=None, roots={"f"})])
    # exec may define anything: it runs, and so does everything before it
    assert skipped(plan, source) == ["plot(data)"]


def test_transformed_functions_in_a_questions_own_cells_are_kept():
    source = cells(
        """
        from jax import grad
        def loss(W):
            return (W ** 2).sum()
        """,
        """
        grad_W = grad(loss, argnums=0)
        value = loss(3.0)
        """,
    )
    plan = plan_slice(source, [Question(end=1, roots={"loss_grad"}, own_cells={0, 1})])
    assert ran(plan, source) == ["from jax import grad", "def loss(W):", "grad_W = grad(loss, argnums=0)"]


def test_a_question_that_grades_a_side_effect_runs_everything_before_it():
    source = cells("counter = 0", "counter += 1\nprint('side effect')", "def f(x):\n    return x")
    plan = plan_slice(source, [Question(end=1, roots={"counter"}, run_all=True),
                               Question(end=2, roots={"f"})])
    assert plan.skip == {}
    assert plan_slice(source, [Question(end=2, roots={"f"})]).skip == {0: [0], 1: [0, 1]}


def test_a_cell_that_does_not_parse_is_kept_and_binds_nothing():
    source = cells("def f(x):\n    return x", "def broken(:\n    pass")
    plan = plan_slice(source, [Question(end=None, roots={"f"})])
    assert plan.skip == {}


def test_names_the_checks_read():
    assert wrapper_names("def w(xp, sub, x):\n    return sub.predict(sub.params, x)") == {"predict", "params"}
    assert wrapper_names("def w(xp, sub):\n    return [getattr(sub, n) for n in ('W1', 'b1')]") >= {"W1", "b1"}
    assert wrapper_names("def w(xp, sub):\n    return helper(sub)") is None
    params = {"backend": "jax", "entry": None, "wrapper": {"name": "w", "source":
              "def w(xp, sub, x):\n    return sub.f(x)"}, "init": "initialize_weights"}
    assert request_names(params) == {"f", "initialize_weights"}


def test_the_fallback_blames_the_slicing_only_for_what_a_skipped_statement_defines():
    source = cells("""
    helper = make_helper()
    def f(x):
        return x
    """)
    plan = plan_slice(source, [Question(end=None, roots={"f"})])
    assert plan.skip == {0: [0]}
    error = {"type": "NameError", "message": "name 'helper' is not defined"}
    assert "helper" in (full_run_reason(plan, [("when a check called your code", error)]) or "")
    typo = {"type": "NameError", "message": "name 'hepler' is not defined"}
    assert full_run_reason(plan, [("when a check called your code", typo)]) is None
    assert full_run_reason(plan, [("x", {"type": "ValueError", "message": "shapes"})]) is None


# -- the engine: a real run ----------------------------------------------------------------------

from adgrade.engine import GradeOptions, grade_submission  # noqa: E402
from adgrade.spec import load_assignment  # noqa: E402

from conftest import FIXTURES  # noqa: E402


@pytest.fixture(scope="module")
def toy_spec():
    return load_assignment(FIXTURES / "toy")


def write(tmp_path: Path, text: str, name: str = "sub.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_hanging_experiment_costs_nothing_and_is_named(toy_spec, tmp_path):
    path = write(tmp_path, """
    # %% p1
    factor = []
    def square(x):
        return x * x * factor[0]
    factor.append(1.0)
    while True:  # the student's benchmark, far too slow
        square(2.0)
    """)
    sliced = grade_submission(path, toy_spec, GradeOptions(only=["p1"], time_limit=2))
    assert sliced.problems[0].status == "passed"
    assert any("`while True:` loop (lines 7-8)" in n and "no check needs" in n for n in sliced.notes)
    # run as written, the loop hangs: it is stopped, left out, and the question keeps its points
    full = grade_submission(path, toy_spec, GradeOptions(only=["p1"], time_limit=2, slicing=False))
    assert full.problems[0].status == "passed"
    assert any("was stopped" in n and "`while True:` loop (lines 7-8)" in n for n in full.notes)


def test_a_sliced_run_that_fails_where_a_full_run_might_not_runs_everything(toy_spec, tmp_path):
    # the analysis follows names, not files: the trimmed run raises FileNotFoundError, the full run passes
    path = write(tmp_path, """
    # %% p1
    import numpy as np
    np.save("w.npy", np.array(2.0))
    def square(x):
        return x * x * float(np.load("w.npy")) / 2.0
    """)
    report = grade_submission(path, toy_spec, GradeOptions(only=["p1"]))
    assert report.problems[0].status == "passed"
    assert any("all of your code was run, because a file was missing" in n for n in report.notes)


def test_slice_false_in_the_spec_runs_everything(toy_spec, tmp_path):
    import dataclasses

    path = write(tmp_path, """
    # %% p1
    def square(x):
        return x * x
    print("a side effect the question grades")
    """)
    spec = dataclasses.replace(toy_spec, problems=[dataclasses.replace(p, slice=False) if p.id == "p1" else p
                                                   for p in toy_spec.problems])
    report = grade_submission(path, spec, GradeOptions(only=["p1"]))
    assert "a side effect the question grades" in report.output
    assert not any("no check needs" in n for n in report.notes)
    report = grade_submission(path, toy_spec, GradeOptions(only=["p1"]))
    assert "a side effect" not in report.output


def test_slice_is_a_boolean_field_of_a_problem(tmp_path):
    import shutil

    from adgrade.spec import SpecError, load_assignment

    root = tmp_path / "toy"
    shutil.copytree(FIXTURES / "toy", root)
    toml = root / "assignment.toml"
    text = toml.read_text()
    toml.write_text(text.replace('id = "p1"', 'id = "p1"\nslice = false', 1))
    assert load_assignment(root).problem("p1").slice is False
    toml.write_text(text.replace('id = "p1"', 'id = "p1"\nslice = "no"', 1))
    with pytest.raises(SpecError, match=r"problems\[0\]\.slice: expected true or false"):
        load_assignment(root)


def test_what_ends_a_cell_on_purpose_runs_when_something_after_it_in_the_cell_does():
    source = cells(
        """
        import sys
        sys.exit("not finished")
        def f(x):
            return x
        """,
        """
        def g(x):
            return x
        assert g(1) == 2, "my own test"
        """,
    )
    plan = plan_slice(source, [Question(end=None, roots={"f", "g"})])
    # the exit decides whether f is defined: it runs; the assert at the end of its cell decides nothing
    assert skipped(plan, source) == ['assert g(1) == 2, "my own test"']


# -- limits on the student's CPU time (runner/cputime.py): the decisions, without a clock -------------------

def test_a_step_is_judged_on_its_cpu_time_not_on_the_clock():
    from adgrade.runner.cputime import verdict, was_busy

    assert verdict(30, cpu=30.2, wall=31, waited=0.5) == "cpu"  # the code used its limit
    assert verdict(30, cpu=31, wall=120, waited=80) == "cpu"  # however busy the machine was
    assert verdict(30, cpu=12, wall=40, waited=27) is None  # a busy machine: it keeps running...
    assert verdict(30, cpu=25, wall=90, waited=64) == "busy"  # ...up to the backstop, 3x the limit
    assert verdict(2, cpu=1, wall=31, waited=29) is None and verdict(2, cpu=1, wall=32, waited=30) == "busy"
    assert verdict(30, cpu=0.1, wall=30.5, waited=0.0) == "idle"  # asleep, waiting on a lock or input()
    assert verdict(30, cpu=0.1, wall=20, waited=0.0) is None  # before its limit nothing is judged
    assert was_busy(cpu=30, wall=95, waited=64) and not was_busy(cpu=30, wall=31, waited=0.5)


def test_the_cpu_time_of_a_process_and_its_children_is_read_from_proc():
    import os
    import subprocess
    import sys
    import time

    from adgrade.runner import cputime

    if not os.path.exists("/proc/self/stat"):
        pytest.skip("no /proc here: the runner falls back to the wall clock")
    spin = "import os\nwhile sum(os.times()[:2]) < 0.3:\n    pass\nimport sys; sys.stdin.read()"
    parent = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, "
                               f"'-c', {spin!r}])"], stdin=subprocess.PIPE)
    try:
        for _ in range(600):  # until the grandchild has spun its 0.3 s (it then waits on stdin)
            usage = cputime.usage(parent.pid)
            if usage is not None and usage.cpu >= 0.3:
                break
            time.sleep(0.05)
        assert usage is not None and usage.cpu >= 0.3  # the grandchild's CPU counts
        assert len(cputime.descendants(parent.pid)) == 2
        assert cputime.host_pid(parent) == parent.pid
    finally:
        parent.stdin.close()  # the grandchild reads EOF and ends, then its parent
        parent.wait(timeout=30)
