"""The seeds' questions that depend on conventions, through the real CLI.

Seed 000's notebook as the student handed it in (the rebuilt seeds: tests/fixtures/seeds/ once copied there,
else ../shared/seeds/as-submissions), and the cells of seeds 003 and 004 that these questions need
(tests/fixtures/conventions/, each file says where it comes from), graded with `--only` so each run is short.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, run_json

HERE = FIXTURES / "conventions"


def _seed(name: str) -> Path:
    for folder in (FIXTURES / "seeds", ROOT.parent.parent / "shared" / "seeds" / "as-submissions",
                   Path("/work/shared/seeds/as-submissions")):
        if (folder / name).is_file():
            return folder / name
    pytest.fail(f"seed {name} not found (tests/fixtures/seeds/ or ../shared/seeds/as-submissions/)")


def _grade(path: Path, assignment: str, *only: str) -> dict:
    args = [a for q in only for a in ("--only", q)]
    report, proc = run_json("check", str(path), "-a", assignment, *args)
    assert proc.returncode in (0, 1), proc.stderr
    return {p["id"]: p for p in report["problems"]}


def _text(problem: dict) -> str:
    return "\n".join([c["message"] for c in problem["checks"]] + problem["notes"])


def test_seed_000_network_full_marks_and_the_starters_sgd_update_warned():
    problems = _grade(_seed("000_jax-nn.ipynb"), "jax-nn", "q1c", "q1d")
    for pid in ("q1c", "q1d"):
        assert problems[pid]["score"] == problems[pid]["max_score"] == 15, _text(problems[pid])
    [sgd] = [c for c in problems["q1d"]["checks"] if "sgd_update" in c["name"]]
    assert sgd["status"] == "warning"
    assert "`gradients`" in sgd["message"] and "param -= lr*g" in sgd["message"]
    assert "broadcast" not in sgd["message"]  # the soft-max model's grad_fun is not the student's error


def test_float32_inside_predict_nn_is_judged_at_float32():
    problems = _grade(HERE / "jaxnn_float32_predict.py", "jax-nn", "q1c")
    q1c = problems["q1c"]
    assert q1c["score"] == 15, _text(q1c)
    assert any("float32 tolerance" in n for n in q1c["notes"])


def test_seed_003_linear_model_with_W_stored_n_by_C_credited():
    problems = _grade(HERE / "seed003_t2_loss_grad.py", "jax-objectives", "t2")
    t2 = problems["t2"]
    assert t2["score"] == 7, _text(t2)
    assert any("takes W as (n, C)" in n for n in t2["notes"])
    [numgrad] = [c for c in t2["checks"] if c["status"] != "passed"]
    assert "1-D" in numgrad["message"]


def test_seed_004_p1_full_marks_with_b2_gradient_a_single_number():
    problems = _grade(HERE / "seed004_p1.py", "torch-backprop", "p1")
    p1 = problems["p1"]
    assert p1["score"] == p1["max_score"] == 1, _text(p1)
    assert any("['b2']" in n and "compared by value" in n for n in p1["notes"])
