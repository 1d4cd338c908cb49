"""The real courses' notebooks (the seeds, rebuilt as submissions) and renamed variants, through the real
CLI: graded as a careful instructor grades them, on the mathematics, whatever the student named things.

tests/fixtures/seeds/ are copies of shared/seeds/as-submissions/ (what real students handed in);
tests/fixtures/renamed/ are realistic variants (every entry renamed, cells reordered and merged, the
course's starter kept), written by make_variants.py there.
"""

from __future__ import annotations

from functools import lru_cache

import pytest

from conftest import FIXTURES, ROOT, run_json

#: report() caches each check per process: meant for one worker, so each seed is checked once (without effect
#: under pytest 9.2 + pytest-xdist 3.8: see tests/test_example_custom_gradients.py)
pytestmark = pytest.mark.xdist_group("seeds")

SEEDS = FIXTURES / "seeds"
RENAMED = FIXTURES / "renamed"


@lru_cache(maxsize=None)
def report(path: str, assignment: str, *only: str) -> dict:
    args = [a for q in only for a in ("--only", q)]
    data, proc = run_json("check", path, "-a", assignment, *args, timeout=900)
    assert proc.returncode in (0, 1), proc.stderr
    return data


def problems(data: dict) -> dict[str, dict]:
    return {p["id"]: p for p in data["problems"]}


def text(problem: dict) -> str:
    return " ".join([c["message"] for c in problem["checks"]] + problem.get("notes", []))


def test_seed_000_jax_nn_full_marks_with_the_starters_gradients_warning():
    data = report(str(SEEDS / "000_jax-nn.ipynb"), "jax-nn")
    assert data["score"] == 42 and data["max_score"] == 40 and data["status"] == "passed"
    warnings = " ".join(c["message"] for p in data["problems"] for c in p["checks"] if c["status"] == "warning")
    assert "`gradients`" in warnings


def test_seed_002_autograd_intro_only_cos_cos_fails():
    by_id = problems(report(str(SEEDS / "002_autograd-intro.ipynb"), "autograd-intro"))
    assert by_id["e3"]["status"] == "failed" and "cos(cos(x))" in text(by_id["e3"])
    assert all(p["status"] == "passed" for pid, p in by_id.items() if pid != "e3"), by_id


def test_seed_003_jax_objectives():
    by_id = problems(report(str(SEEDS / "003_jax-objectives.ipynb"), "jax-objectives"))
    t1, t2, t3 = by_id["t1"], by_id["t2"], by_id["t3"]
    # t1: f right; mse indexes the batch by rows; analytical_gradient(w, x) is called with the batch and
    # is the mean of ∇f, the known mistake, named (not a signature error inside the grader)
    assert 1 <= t1["score"] <= 2, text(t1)
    assert "mean gradient of f, not the gradient of the MSE" in text(t1)
    assert "analytical_gradient(w, X)" in text(t1) and "y left out" in text(t1)
    # t2: cross-entropy and the gradient under the student's own names (grad_W, grad_b) get credit;
    # numerical_gradient handles 1-D params only
    assert 5 <= t2["score"] <= 7, text(t2)
    checks = {c["name"]: c for c in t2["checks"]}
    assert checks["loss_grad returns (dL/dW, dL/db) of the cross-entropy of the linear model"]["status"] == "passed"
    assert "`grad_W` and `grad_b`" in text(t2)
    assert "only 1-D params" in text(t2) or "handles only 1-D" in text(t2)
    assert t3["status"] == "passed"


def test_seed_004_torch_backprop():
    """Every problem. p2c (timing) used to run out of time: p4's slice kept the seed's own benchmark
    loops (cells 13/14), linked to p4's network through a shared `device = torch.device(...)`."""
    data = report(str(SEEDS / "004_torch-backprop.ipynb"), "torch-backprop")
    by_id = problems(data)
    for pid in ("p1", "p2a", "p2b", "p2c", "p4"):
        assert by_id[pid]["status"] == "passed", (pid, text(by_id[pid]))
    assert "`My_nn_4a(depth)` (cell 17) as `DeepTanhNet(depth)`" in text(by_id["p4"])
    assert "method `My_nn_4a.initialize_weights(self, d, xavier)`" in text(by_id["p4"])
    # the training script: which code is expected, with its call
    assert by_id["p1-train"]["score"] == 0
    assert "`train_regressor(X, y, epochs)` -> the trained params dict" in text(by_id["p1-train"])
    # answered on paper: left for grading by hand, saying what code would be graded
    for pid, call in (("p3", "`hat_nn(x)`"), ("p5", "`gd_iterate(X, y, w0, alpha, k)`")):
        problem = by_id[pid]
        assert problem.get("by_hand") is True and problem["score"] == 0 and problem["max_score"] == 1
        assert all(c["status"] == "skipped" for c in problem["checks"])
        assert "grade by hand" in text(problem) and call in text(problem) and '"Question' in text(problem)
    # the benchmark loops no check needs were left out, and said so
    said = " ".join(data["notes"])
    assert "cell 13: not run" in said and "cell 14: not run" in said and "`for L in test_l:` loop" in said, said


def test_renamed_jax_objectives_is_graded_on_its_mathematics():
    data = report(str(RENAMED / "jax_objectives_renamed.ipynb"), "jax-objectives")
    assert data["score"] == data["max_score"] == 19, [(p["id"], text(p)) for p in data["problems"]]
    said = " ".join(n for p in data["problems"] for n in p["notes"])
    for words in ("`mean_sq_err(weights, X, y)` (cell 3) as `mse(w, X, y)`",
                  "`grad_by_hand(weights, X, y)` (cell 3) as `analytical_gradient(w, X, y)`",
                  "`xent(labels, logits)`", "`dW_fn` and `db_fn`", "as `numerical_gradient(func, params, epsilon)`",
                  "`L(U, V, X, lam)` (cell 8) as `loss(U, V, X, lambda_)`"):
        assert words in said, said


def test_renamed_torch_backprop_is_graded_on_its_mathematics():
    data = report(str(RENAMED / "torch_backprop_renamed.ipynb"), "torch-backprop", "p2a", "p2b", "p3", "p4", "p5")
    by_id = problems(data)
    assert all(p["status"] == "passed" for p in by_id.values()), [(p["id"], text(p)) for p in data["problems"]]
    assert "`jac_reverse(x, L, param_dict)`" in text(by_id["p2a"])
    assert "`hat(x)`" in text(by_id["p3"]) and "`soft_thr(x, s)`" in text(by_id["p3"])
    assert "`DeepNet(n_hidden)`" in text(by_id["p4"]) and "DeepNet.init_weights" in text(by_id["p4"])
    assert "`ls_solution(X, y)`" in text(by_id["p5"])


def test_renamed_autodiff_exercises_pairs_each_manual_and_autodiff_version_with_its_entry():
    """`_manual` / `_by_hand` / `_exact` and `_torch` / `_autograd` / `_ad` / `_jax`, the autodiff version first in
    e4 and e5: each goes to its own entry (it was 5 of 7, the analytic entries graded on the autodiff code)."""
    data = report(str(RENAMED / "autodiff_exercises_renamed.py"), "autodiff-exercises")
    assert data["score"] == data["max_score"] == 7, [(p["id"], text(p)) for p in data["problems"]]
    by_id = problems(data)
    assert "`quadratic_hessian_manual(A, b, c, x)`" in text(by_id["e4"])
    assert "`quadratic_hessian_torch(A, b, c, x)`" in text(by_id["e4"])
    assert "`trace_grad_by_hand(A, X, B)`" in text(by_id["e5"])
    assert "as `trace_grad_analytic(A, X, B)`" in text(by_id["e5"])
    assert "`logistic_grad_exact(a, x)`" in text(by_id["e7"])


def test_short_names_of_a_student_stand_for_autodiff_exercises_entries():
    """autodiff-exercises leaves its names open: `train_manual` / `train_torch`, `H_manual` / `H_torch` and
    `d4 = grad(grad(grad(grad(jnp.tanh))))` are the student's answers (it was 4.5 of 7: "not defined")."""
    data = report(str(RENAMED / "autodiff_exercises_short_names.py"), "autodiff-exercises", "e2", "e3", "e4")
    by_id = problems(data)
    assert all(p["status"] == "passed" for p in by_id.values()), [(p["id"], text(p)) for p in data["problems"]]
    assert "`train_torch(X, Y, learning_rate=0.01, n_iters=20)`" in text(by_id["e2"])
    assert "`H_manual(A, b, c, x)`" in text(by_id["e4"])
    assert "as `quadratic_hessian_analytic(A, b, c, x)`" in text(by_id["e4"])
    assert "Graded your `d4` (lines 82-84) as `tanh_fourth_derivative(x)`" in text(by_id["e3"])


@pytest.mark.parametrize("name,question,words", [
    ("jax_objectives_t1_named_loss.py", "t1", "`loss(w, X, y)` (lines 13-41) as `mse(w, X, y)`"),
    ("jax_objectives_t3_named_analytical_gradient.py", "t3", "as `analytical_grad(U, V, X, lambda_)`"),
])
def test_another_questions_entry_name_used_in_this_questions_cells_is_this_questions_function(name, question, words):
    """t1's MSE called `loss` (t3's name), t3's hand gradient called `analytical_gradient` (t1's): each
    question's own cells say what the name is there (they were 17 and 16 of 19: "not defined", or the
    `grad(loss)` line graded as the hand gradient)."""
    data = report(str(RENAMED / name), "jax-objectives", question)
    (problem,) = data["problems"]
    assert problem["status"] == "passed", text(problem)
    assert words in text(problem), text(problem)


def test_a_question_merged_into_anothers_cell_is_graded_with_the_whole_files_definitions():
    """`# %% e4 + e5`: the cell is e4's, e5 has none of its own; e5's checks run at the end of the file and
    its candidates come from every cell (it was 0: "nothing in them stands for it")."""
    data = report(str(RENAMED / "autodiff_exercises_merged_e4_e5.py"), "autodiff-exercises", "e4", "e5")
    by_id = problems(data)
    assert all(p["status"] == "passed" for p in by_id.values()), [(p["id"], text(p)) for p in data["problems"]]
    assert "no cell was found for e5; it was graded with the definitions at the end of the file" in text(by_id["e5"])
    assert "as `trace_grad_analytic(A, X, B)`" in text(by_id["e5"])


def test_renamed_hessian_gets_the_bonus():
    by_id = problems(report(str(RENAMED / "jax_nn_hessian_renamed.ipynb"), "jax-nn", "q1b-hessian"))
    hessian = by_id["q1b-hessian"]
    assert hessian["score"] == 2, text(hessian)
    assert "`hessian(fun, x)` (cell 4) as `hessian_manual(f, x)`" in text(hessian)


def test_the_fixtures_are_the_seeds():
    shared = ROOT.parent.parent / "shared" / "seeds" / "as-submissions"
    if not shared.is_dir():
        pytest.skip("the shared seeds are not on this machine")
    for path in SEEDS.glob("*.ipynb"):
        assert path.read_bytes() == (shared / path.name).read_bytes(), path.name
