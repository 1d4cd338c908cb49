"""Conventions the task left open, the size-1 rule, shape-only messages and precision by the computation's path.

Unit tests of compare, of the layout logic of call checks (with answers made here, as the child would send
them), of the precision probe and of the facts read from a student's source. The seeds graded end to end are
in test_conventions_seeds.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from adgrade.cells import read_submission
from adgrade.compare import compare
from adgrade.conventions import apply_to_args, apply_to_paths, parse_path, transform_value
from adgrade.engine import GradeOptions, plan
from adgrade.runner.parent import Answer
from adgrade.source_facts import function_facts
from adgrade.spec import SpecError, load_assignment

from conftest import FIXTURES, ROOT

SEEDS = FIXTURES / "conventions"


def rng() -> np.random.Generator:
    return np.random.default_rng(7)


# -- compare: size-1 leaves, shapes, vectors, items --------------------------------------------

def test_values_right_in_another_shape_says_so():
    e = rng().normal(size=(4, 3))
    result = compare(e.reshape(3, 4), e)
    assert not result.ok and result.kind == "shape" and result.values_right
    assert "Its values are right: only the shape differs" in result.message


def test_a_transposed_answer_is_not_called_right_values():
    e = rng().normal(size=(4, 3))
    result = compare(e.T.copy(), e)
    assert result.kind == "shape" and not result.values_right and "transpose" in result.cause


def test_a_wrong_answer_in_another_shape_is_not_called_right():
    e = rng().normal(size=(3, 1))
    result = compare(2 * e.reshape(3), e)
    assert result.kind == "shape" and not result.values_right


def test_vectors_convention_accepts_row_column_and_flat_alike():
    v = rng().normal(size=5)
    for shape in ((5, 1), (1, 5), (5,)):
        result = compare(v.reshape(shape), v.reshape(5, 1), vectors=True)
        assert result.ok, result.message
    result = compare(v.reshape(1, 5), v.reshape(5, 1), vectors=True)
    assert "a row" in result.notes[0] and "orientation was left open" in result.notes[0]
    # without the declaration the task's shape is required
    assert compare(v.reshape(1, 5), v.reshape(5, 1)).kind == "shape"
    # and a wrong vector in the other orientation is still wrong, on its values
    assert compare(-v.reshape(1, 5), v.reshape(5, 1), vectors=True).kind == "value"


def test_items_convention_reads_a_dict_of_gradients_as_the_tuple():
    dW, db = rng().normal(size=(3, 4)), rng().normal(size=3)
    for keys in (("W", "b"), ("dW", "db"), ("grad_W", "grad_b"), ("dL_dW", "dL_db"), ("W_grad", "b_grad")):
        answer = {keys[1]: db, keys[0]: dW}  # any key order
        result = compare(answer, (dW, db), items=("W", "b"))
        assert result.ok, (keys, result.message)
        assert "read as (W, b)" in result.notes[0]
    # a wrong value inside is found under the student's key order
    result = compare({"dW": dW, "db": 2 * db}, (dW, db), items=("W", "b"), name="loss_grad(W, b, X, y)")
    assert not result.ok and result.path == "[1]"
    # keys that do not name the items: not guessed
    assert compare({"a": dW, "c": db}, (dW, db), items=("W", "b")).kind == "structure"
    assert compare({"W": dW, "b": db}, (dW, db)).kind == "structure"  # not declared


def test_items_convention_reads_a_list_where_a_dict_was_expected():
    grads = {"W1": np.ones((2, 2)), "b1": np.zeros(2)}
    assert compare([np.ones((2, 2)), np.zeros(2)], grads, items=("W1", "b1")).ok
    assert compare([np.ones((2, 2)), np.zeros(2)], grads).kind == "structure"


# -- compare: precision by the computation's path -------------------------------------------------

def _float32_path(e: np.ndarray) -> np.ndarray:
    """A float64 answer with float32 accuracy: computed in float32, converted back."""
    return (e.astype(np.float32) * np.float32(1.0000001)).astype(np.float64)


def test_float32_path_is_judged_at_float32_tolerance_and_says_so():
    e = rng().normal(size=(6, 5))
    answer = _float32_path(e)
    assert not compare(answer, e).ok  # at float64 tolerance it fails, as it did before
    result = compare(answer, e, path_precision="float32", name="the gradient")
    assert result.ok
    assert any("computed in float32" in n and "float32 tolerance" in n for n in result.notes)


@pytest.mark.parametrize("wrong", ["factor", "transposed", "sign"])
def test_float32_path_still_fails_wrong_answers(wrong):
    e = rng().normal(size=(4, 4))
    answer = {"factor": 2 * e, "transposed": e.T.copy(), "sign": -e}[wrong]
    result = compare(_float32_path(answer), e, path_precision="float32")
    assert not result.ok and result.kind == "value"
    assert "float32 tolerance because your computation runs in float32" in result.message


def test_float64_required_ignores_the_float32_path():
    e = rng().normal(size=5)
    result = compare(_float32_path(e), e, path_precision="float32", require_float64=True)
    assert not result.ok and "float32" in result.cause


def test_float64_path_changes_nothing():
    e = rng().normal(size=5)
    assert not compare(_float32_path(e), e, path_precision="float64").ok
    assert not compare(_float32_path(e), e, path_precision=None).ok


# -- layouts: transforms and paths ------------------------------------------------------------------

def test_layout_transforms_are_their_own_inverse():
    W = rng().normal(size=(3, 4))
    assert transform_value(W, "transpose").shape == (4, 3)
    assert np.array_equal(transform_value(transform_value(W, "transpose"), "transpose"), W)
    args = (np.ones((5, 4)), W, np.ones(3))
    moved = apply_to_args(args, (1,), "transpose")
    assert moved[1].shape == (4, 3) and moved[0] is args[0] and moved[2] is args[2]
    value = (W, np.ones(3))
    assert apply_to_paths(value, ("[0]",), "transpose")[0].shape == (4, 3)
    assert apply_to_paths({"W": W}, ("['W']",), "transpose")["W"].shape == (4, 3)
    assert parse_path("[0]['W']") == [0, "W"] and parse_path("") == []
    with pytest.raises(ValueError):
        parse_path("W")


def test_a_layout_that_is_not_declared_is_a_spec_error(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "functions.py").write_text("def f(xp, x):\n    return x\n\ndef inputs(rng):\n    return [(1.0,)]\n")
    (folder / "assignment.toml").write_text(
        '[assignment]\nname = "bad"\n\n[[problems]]\nid = "p"\n\n[[problems.checks]]\nkind = "value"\n'
        'entry = "f"\nexpected = "f"\ninputs = "inputs"\nconventions = { layout = "W", args = [0] }\n')
    with pytest.raises(SpecError, match=r"conventions.layout: no layout 'W'"):
        load_assignment(folder)


# -- layouts: one question graded in the layout the student chose ---------------------------------

@pytest.fixture(scope="module")
def objectives():
    return load_assignment(ROOT / "problems" / "jax-objectives")


def _t2(objectives):
    [(_, checks)] = plan(objectives, GradeOptions(only=["t2"])).problems
    by_entry = {c.spec.entry: c for c in checks}
    return by_entry["linear_model"], by_entry["loss_grad"]


def _answers(check, answer_for_choice):
    """Answers for every request, as the child would send them: answer_for_choice(choice, args) -> value or
    an exception (sent as an error)."""
    out = []
    for request in check.requests():
        rid = request.id
        if "/path" in rid:
            out.append(Answer(rid, "ok", value=None))
            continue
        point, _, choice = rid.rsplit("/", 1)[1].partition("~")
        choice = int(choice or 0)
        args = check.choice_inputs(choice)[int(point)]
        try:
            out.append(Answer(rid, "ok", value=answer_for_choice(choice, args)))
        except Exception as exc:  # noqa: BLE001
            out.append(Answer(rid, "error", error={"type": type(exc).__name__, "message": str(exc)}))
    return out


def _X_at_W(choice, args):
    X, W, b = args
    return X @ W + b  # the seed 003 student: W stored (n, C)


def _loss_grad_nC(fns):
    def answer(choice, args):
        W, b, X, y = args
        dW, db = fns.loss_t2_grad(np, W.T, b, X, y)  # the student's W is (n, C): its gradient is too
        return (dW.T, db)
    return answer


def test_linear_model_with_W_stored_n_by_C_is_credited_and_the_layout_named(objectives):
    linear, loss_grad = _t2(objectives)
    assert {r.id.rsplit("/", 1)[1] for r in linear.requests()} >= {"0", "1", "0~1", "1~1"}
    result = linear.judge(_answers(linear, _X_at_W))
    assert result.status == "passed", result.message
    assert "takes W as (n, C)" in result.details["notes"][0]
    # loss_grad of the same question is asked and expected in the same layout: dL/dW is (n, C)
    result = loss_grad.judge(_answers(loss_grad, _loss_grad_nC(objectives.functions)))
    assert result.status == "passed", result.message
    assert result.details["layout"].startswith("W: (n, C)")


def test_the_task_layout_still_passes_and_says_nothing(objectives):
    linear, loss_grad = _t2(objectives)
    fns = objectives.functions
    result = linear.judge(_answers(linear, lambda c, a: fns.linear_model_t2(np, *a)))
    assert result.status == "passed" and "notes" not in result.details
    result = loss_grad.judge(_answers(loss_grad, lambda c, a: fns.loss_t2_grad(np, *a)))
    assert result.status == "passed"


def test_a_gradient_in_the_other_layout_than_the_model_fails_and_says_why(objectives):
    linear, loss_grad = _t2(objectives)
    fns = objectives.functions
    assert linear.judge(_answers(linear, _X_at_W)).status == "passed"  # the question's layout: (n, C)
    # loss_grad written for W (C, n): right only in the task's layout
    result = loss_grad.judge(_answers(loss_grad, lambda c, a: fns.loss_t2_grad(np, *a)))
    assert result.status in ("failed", "error")
    assert "keep one layout of W throughout the question" in result.message


def test_a_transposed_model_is_still_the_known_mistake(objectives):
    linear, _ = _t2(objectives)
    fns = objectives.functions
    result = linear.judge(_answers(linear, lambda c, a: fns.linear_model_t2_transposed(np, *a)))
    assert result.status == "failed" and "transpose of the answer" in result.message
    assert "notes" not in result.details


def test_loss_grad_as_a_dict_is_read_in_order(objectives):
    _, loss_grad = _t2(objectives)
    fns = objectives.functions

    def as_dict(choice, args):
        dW, db = fns.loss_t2_grad(np, *args)
        return {"db": db, "dW": dW}

    result = loss_grad.judge(_answers(loss_grad, as_dict))
    assert result.status == "passed", result.message
    assert any("read as (W, b)" in n for n in result.details["notes"])


def test_shape_only_difference_is_never_called_wrong_at_every_point():
    spec = load_assignment(ROOT / "problems" / "torch-backprop")
    [(_, checks)] = plan(spec, GradeOptions(only=["p1"])).problems
    forward = checks[0]
    answers = [Answer(r.id, "ok", value=forward.fn("p1_forward")(np, *args).reshape(-1))
               for r, args in zip(forward.requests(), forward.inputs())]
    result = forward.judge(answers)
    assert result.status == "failed"
    assert "wrong at every point" not in result.message
    assert "has the right values, but not the shape the task asks for" in result.message


# -- precision: what the child reports, what the parent asks ------------------------------------------

def test_checks_ask_for_the_path_only_where_it_can_change_the_verdict():
    nn = load_assignment(ROOT / "problems" / "jax-nn")
    [(_, checks)] = plan(nn, GradeOptions(only=["q1c"])).problems
    autodiff = next(c for c in checks if c.kind == "autodiff")
    assert any(r.id.endswith("/path") for r in autodiff.requests())
    objectives = load_assignment(ROOT / "problems" / "jax-objectives")
    [(_, checks)] = plan(objectives, GradeOptions(only=["t1"])).problems
    assert not any("/path" in r.id for c in checks for r in c.requests())  # dtype = "float64" there


def test_path_precision_reads_only_plain_strings():
    from adgrade.checks.calls import path_precision

    assert path_precision(Answer("x", "ok", value=["float32", "float64"])) == "float32"
    assert path_precision(Answer("x", "ok", value=["bfloat16"])) == "float16"
    assert path_precision(Answer("x", "ok", value=["float64"])) is None
    assert path_precision(Answer("x", "ok", value="float32")) is None  # not a list: ignored
    assert path_precision(Answer("x", "error", value=None)) is None
    assert path_precision(None) is None


def test_jax_probe_sees_a_cast_to_float32_inside():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    from adgrade.precision import _jax_dtypes

    def predict_nn(params, x):
        W1, b1, W2, b2 = [jnp.asarray(p, dtype=jnp.float32) for p in params]
        e = jnp.exp(W2 @ jnp.tanh(W1 @ x + b1) + b2)
        return e / jnp.sum(e, axis=0, keepdims=True)

    params = [np.ones((4, 3)), np.ones((4, 1)), np.ones((2, 4)), np.ones((2, 1))]
    loss = lambda ps, x: jnp.sum(predict_nn(ps, x) ** 2)  # noqa: E731
    assert "float32" in _jax_dtypes(jax.grad(loss), (params, np.ones((3, 1))), {})
    assert _jax_dtypes(jax.grad(lambda ps, x: jnp.sum(ps[0] @ x)), (params, np.ones((3, 1))), {}) == ["float64"]


# -- facts read from the source: the starter's sgd_update ----------------------------------------------

STARTER = '''
def sgd_update(params,X,y):
    lr = 0.01
    gradient = grad_fun(params,X,y)
    for param, g in zip(params,gradients):
        param -= lr*g
'''


def _cells(tmp_path, code: str):
    path = tmp_path / "sub.py"
    path.write_text("import jax\nfrom jax import grad\ngrad_fun = None\n" + code)
    return read_submission(path)


def test_the_starters_two_bugs_are_read_from_its_source(tmp_path):
    facts = function_facts(_cells(tmp_path, STARTER), "sgd_update")
    assert facts["undefined"] == ["gradients"]
    [update] = facts["loop_updates"]
    assert update["name"] == "param" and update["code"] == "param -= lr*g" and update["line"] == 9
    assert not facts["returns_value"]


@pytest.mark.parametrize("body,undefined,updates", [
    # `gradients` fixed, the no-op update kept (a classmate's variant)
    ("    grads = grad_fun(params, X, y)\n    for p, g in zip(params, grads):\n        p -= 0.01 * g\n"
     "    return params\n", [], 1),
    # a real update: a new list
    ("    grads = grad_fun(params, X, y)\n    return [p - 0.01 * g for p, g in zip(params, grads)]\n", [], 0),
    # the loop variable updated, then kept: harmless
    ("    new = []\n    for p, g in zip(params, grad_fun(params, X, y)):\n        p -= 0.01 * g\n"
     "        new.append(p)\n    return new\n", [], 0),
    # a name defined later at module level is defined
    ("    return [p - lr * g for p, g in zip(params, grad_fun(params, X, y))]\nlr = 0.1\n", [], 0),
])
def test_variants_of_the_starter(tmp_path, body, undefined, updates):
    facts = function_facts(_cells(tmp_path, "def sgd_update(params, X, y):\n" + body), "sgd_update")
    assert facts["undefined"] == undefined
    assert len(facts["loop_updates"]) == updates


def test_no_definition_no_facts(tmp_path):
    assert function_facts(_cells(tmp_path, "x = 1\n"), "sgd_update") is None


def test_the_jax_nn_judge_words_the_facts(tmp_path):
    nn = load_assignment(ROOT / "problems" / "jax-nn")
    judge = nn.function("judge_sgd_update")
    facts = function_facts(_cells(tmp_path, STARTER), "sgd_update")
    text = judge({"error": "NameError: name 'gradients' is not defined", "type": "NameError",
                  "model": "soft-max regression", "network_error": "TypeError: ...", "static": facts}, None, ())
    assert "`gradients`" in text and "param -= lr*g" in text and "does not change the parameters" in text
    assert "It computes `gradient` and then uses `gradients`" in text
    assert "TypeError" not in text  # the right model was found: the other model's error is no news
    # the call did update: the augmented assignment is not reported
    assert judge({"changed": True, "model": "network", "static": {**facts, "undefined": []}}, None, ()) is None


def test_finite_differences_in_a_flat_shape_are_called_right_values(objectives):
    [(_, checks)] = plan(objectives, GradeOptions(only=["t2"])).problems
    numgrad = next(c for c in checks if c.kind == "finite_difference")
    grad = objectives.function("fd_objective_grad")
    answers = [Answer(r.id, "ok", value=grad(np, args[0]).reshape(-1))
               for r, args in zip(numgrad.requests(), numgrad.inputs())]
    result = numgrad.judge(answers)
    assert result.status == "failed"
    assert "returns the right values, but not in params' shape" in result.message
    assert " is wrong" not in result.message


def test_a_new_params_list_never_returned_is_told(tmp_path):
    code = ("def sgd_update(params, X, y):\n    grads = grad_fun(params, X, y)\n"
            "    params = [p - 0.01 * g for p, g in zip(params, grads)]\n")
    facts = function_facts(_cells(tmp_path, code), "sgd_update")
    assert [r["name"] for r in facts["argument_rebinds"]] == ["params"] and not facts["loop_updates"]
    judge = load_assignment(ROOT / "problems" / "jax-nn").function("judge_sgd_update")
    text = judge({"changed": False, "model": "network", "static": facts}, None, ())
    assert "does not change the parameters" in text and "`params = [p - 0.01 * g" in text
    assert "return params" in text
    # returning it is right, and says nothing
    facts = function_facts(_cells(tmp_path, code + "    return params\n"), "sgd_update")
    assert facts["argument_rebinds"] == []
