"""Entry resolution: which of the student's definitions stands for an entry (adgrade/resolve.py plans,
adgrade/runner/entries.py answers).

Unit tests of both halves: the plan read from a question's own cells (ast, nothing runs), and the
child's choice at call time, on namespaces built by executing small student cells.
"""

from __future__ import annotations

import math
import textwrap

import pytest

from adgrade.questions import QuestionMatcher, _heading_match
from adgrade.resolve import EntryNeed, describe_resolution, plan_question, read_definitions, similarity
from adgrade.runner.entries import EntryResolver, MissingEntry, SignatureMismatch


def _plans(question: str, cells: list[str], needs: list[EntryNeed], excluded=()) -> dict:
    sources = [(f"cell {i + 1}", textwrap.dedent(src)) for i, src in enumerate(cells)]
    return {question: plan_question(needs, sources, set(excluded))}


def _namespace(*cells: str) -> dict:
    ns: dict = {"__name__": "__main__"}
    for src in cells:
        exec(compile(textwrap.dedent(src), "<student>", "exec"), ns)
    return ns


def _resolver(question: str, cells: list[str], needs: list[EntryNeed], excluded=()) -> EntryResolver:
    resolver = EntryResolver(_namespace(*cells), _plans(question, cells, needs, excluded))
    resolver.start_question(question)
    return resolver


T2_CELL = """
def grad(f, argnums=0):                     # stands in for jax.grad: d/d(argument) by central differences
    def g(*args):
        h = 1e-6
        lo, hi = list(args), list(args)
        lo[argnums] = args[argnums] - h
        hi[argnums] = args[argnums] + h
        return (f(*hi) - f(*lo)) / (2 * h)
    return g

def loss_and_grads(W, b, X, y):
    return (W * X + b - y) ** 2

grad_W = grad(loss_and_grads, argnums=0)
grad_b = grad(loss_and_grads, argnums=1)
"""
LOSS_GRAD = EntryNeed("loss_grad", ("W", "b", "X", "y"), "loss_grad(W, b, X, y)", "(dL/dW, dL/db)",
                      given=False, compose_argnums=(0, 1), derivative=True)


def test_reading_definitions_finds_functions_classes_methods_and_per_argument_gradients():
    defs, differentiated = read_definitions([("cell 3", T2_CELL + textwrap.dedent("""
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self, depth):
                super().__init__()
            def initialize_weights(self, d, xavier=False):
                pass
        hessian_fun = lambda x: x
        W = 3.0
        """))])
    assert defs["loss_and_grads"].params == ("W", "b", "X", "y") and defs["loss_and_grads"].label == "cell 3"
    assert defs["grad_W"].derivative == ("loss_and_grads", 0) and defs["grad_b"].derivative == ("loss_and_grads", 1)
    assert defs["Net"].is_module and defs["Net"].params == ("depth",)
    assert defs["Net"].methods["initialize_weights"] == ("d", "xavier")
    assert defs["hessian_fun"].params == ("x",)
    assert "W" not in defs  # a value, not a callable
    assert "loss_and_grads" in differentiated


def test_per_argument_gradients_are_graded_together_and_the_objective_is_never_the_answer():
    plans = _plans("t2", [T2_CELL], [LOSS_GRAD])
    hows = [(c["how"], c["names"]) for c in plans["t2"]["loss_grad"]["candidates"]]
    assert hows[0] == ("name", ["loss_grad"])
    assert ("argnums", ["grad_W", "grad_b"]) in hows
    # loss_and_grads is handed to grad(): the loss, not its gradient, although its parameters fit
    assert all(names != ["loss_and_grads"] for _, names in hows)

    resolver = EntryResolver(_namespace(T2_CELL), plans)
    resolver.start_question("t2")
    dW, db = resolver.lookup("loss_grad")(2.0, 1.0, 3.0, 4.0)
    assert dW == pytest.approx(2 * (2 * 3 + 1 - 4) * 3, rel=1e-5) and db == pytest.approx(2 * (2 * 3 + 1 - 4), rel=1e-5)
    assert resolver.used[0]["how"] == "argnums" and resolver.used[0]["names"] == ["grad_W", "grad_b"]
    words = describe_resolution(resolver.used[0], plans["t2"]["loss_grad"])
    assert "`grad_W` and `grad_b`" in words and "`loss_grad(W, b, X, y)`" in words and "cell 1" in words


HESSIAN = EntryNeed("hessian_manual", ("f", "x"), "hessian_manual(f, x)", "the Hessian of f at x", given=False,
                    aliases=("hessian",), derivative=True)


def test_a_renamed_function_whose_parameters_fit_is_graded_and_the_report_says_so():
    cells = ["""
        def cubic(x):
            return x ** 3

        def my_hess(fun, x):
            h = 1e-4
            return (fun(x + h) - 2 * fun(x) + fun(x - h)) / h ** 2

        print(my_hess(cubic, 2.0))
        """]
    resolver = _resolver("q1b-hessian", cells, [HESSIAN])
    value = resolver.lookup("hessian_manual")(math.sin, 0.5)
    assert value == pytest.approx(-math.sin(0.5), rel=1e-5)
    info = resolver.used[0]
    assert info["how"] == "shape" and info["names"] == ["my_hess"]
    assert describe_resolution(info, resolver.plan("hessian_manual")).startswith(
        "graded your `my_hess(fun, x)` (cell 1) as `hessian_manual(f, x)`")


def test_a_framework_function_under_an_alias_is_not_the_students_work():
    import types

    fake_jax_hessian = types.FunctionType((lambda f, x: 0).__code__, {}, "hessian")
    fake_jax_hessian.__module__ = "jax._src.api"
    plans = _plans("q", [], [HESSIAN])  # no cells of its own: aliases count anywhere
    resolver = EntryResolver({"__name__": "__main__", "hessian": fake_jax_hessian}, plans)
    resolver.start_question("q")
    with pytest.raises(MissingEntry):
        resolver.lookup("hessian_manual")


def test_a_method_of_the_students_class_stands_for_a_function_taking_the_model():
    cell = """
        class Module:
            pass

        class My_nn_4a(Module):
            def __init__(self, depth):
                self.depth = depth
                self.d = None
            def initialize_weights(self, d, xavier=False):
                self.d = ("xavier" if xavier else d)
        """
    needs = [EntryNeed("DeepTanhNet", ("depth",), "DeepTanhNet(depth)", given=False, kind="module"),
             EntryNeed("initialize_weights", ("model", "d", "xavier"), "initialize_weights(model, d, xavier=False)",
                       given=False)]
    resolver = _resolver("p4", [cell], needs)
    cls = resolver.lookup("DeepTanhNet")
    model = cls(3)
    resolver.lookup("initialize_weights")(model, 0.5, False)
    assert type(model).__name__ == "My_nn_4a" and model.d == 0.5
    resolver.lookup("initialize_weights")(model, 0.5, True)
    assert model.d == "xavier"
    hows = {i["entry"]: i["how"] for i in resolver.used}
    assert hows == {"DeepTanhNet": "shape", "initialize_weights": "method"}
    method = next(i for i in resolver.used if i["how"] == "method")
    assert "My_nn_4a.initialize_weights(self, d, xavier)" in describe_resolution(method, resolver.plan("initialize_weights"))


MEAN_GRAD_CELL = """
def analytical_gradient(w, x):
    return [w * sum(x) / len(x)]
"""
ANALYTICAL = EntryNeed("analytical_gradient", ("w", "X", "y"), "analytical_gradient(w, X, y)",
                       "the gradient of the MSE w.r.t. w, shape (5,)", given=False, derivative=True)


def test_a_signature_that_leaves_out_an_argument_is_still_called_by_name_and_judged():
    resolver = _resolver("t1", [MEAN_GRAD_CELL], [ANALYTICAL])
    assert resolver.lookup("analytical_gradient")(2.0, [1.0, 3.0], [0.0, 0.0]) == [4.0]
    info = resolver.used[0]
    assert info["adapted"] == "analytical_gradient(w, X)" and info["left_out"] == ["y"]
    words = describe_resolution(info, resolver.plan("analytical_gradient"))
    assert "called as `analytical_gradient(w, X)` (y left out)" in words


def test_parameters_in_another_order_are_matched_by_name():
    resolver = _resolver("t1", ["def analytical_gradient(X, y, w):\n    return (X, y, w)\n"], [ANALYTICAL])
    assert resolver.lookup("analytical_gradient")("w", "X", "y") == ("X", "y", "w")
    words = describe_resolution(resolver.used[0], resolver.plan("analytical_gradient"))
    assert words.endswith("its parameters come in another order, so it was called as "
                          "`analytical_gradient(X, y, w)`")


def test_a_definition_that_cannot_be_called_says_the_call_and_what_it_takes():
    resolver = _resolver("t1", ["def analytical_gradient(w, x, h, scale):\n    return w\n"], [ANALYTICAL])
    with pytest.raises(SignatureMismatch) as caught:
        resolver.lookup("analytical_gradient")(1.0, 2.0, 3.0)
    text = str(caught.value)
    assert "`analytical_gradient(w, X, y)` -> the gradient of the MSE w.r.t. w, shape (5,)" in text
    assert "analytical_gradient(w, x, h, scale)" in text


def test_nothing_fitting_is_missing_and_lists_what_the_question_defines():
    cells = ["def xavier_init(param_dict):\n    return param_dict\n"]
    need = EntryNeed("train_regressor", ("X", "y", "epochs"), "train_regressor(X, y, epochs)", given=False)
    resolver = _resolver("p1-train", cells, [need])
    with pytest.raises(MissingEntry) as caught:
        resolver.lookup("train_regressor")
    assert caught.value.defined == ["xavier_init(param_dict)"]


def test_a_name_the_course_gave_is_only_stood_for_by_a_name_alike_definition():
    cells = ["def helper(x):\n    return 2 * x\n\ndef manual_gradient(x):\n    return 3 * x\n"]
    need = EntryNeed("manual_grad", ("x",), "manual_grad(x)", given=True, derivative=True)
    plan = _plans("q1a", cells, [need])["q1a"]["manual_grad"]
    assert [c["names"] for c in plan["candidates"]] == [["manual_grad"], ["manual_gradient"]]


def test_the_course_code_and_other_entries_are_never_candidates():
    cells = ["def sgd_update(params, X, y):\n    pass\n\ndef mse(w, X, y):\n    return 0\n"]
    plan = _plans("t1", cells, [ANALYTICAL], excluded={"sgd_update", "mse"})["t1"]["analytical_gradient"]
    assert [c["names"] for c in plan["candidates"]] == [["analytical_gradient"]]


def test_when_a_candidate_raises_a_later_fitting_one_is_tried():
    cells = ["""
        def hessian_of(f, x):
            raise ValueError("unfinished")

        def hessian_numeric(f, x):
            return 42.0
        """]
    resolver = _resolver("q", cells, [HESSIAN])
    assert resolver.lookup("hessian_manual")(abs, 1.0) == 42.0
    assert resolver.used[-1]["names"] == ["hessian_numeric"]


def test_similar_names():
    assert similarity("grad_W", ["loss_grad"]) == 1
    assert similarity("hessian_fun", ["hessian_manual", "hessian"]) == 1
    assert similarity("cubic_l2_norm", ["hessian_manual"]) == 0


@pytest.mark.parametrize("heading,expected", [
    ("Exercise 2.(a)", "p2a"), ("Exercise 2(c)", "p2c"), ("Exercise 4a) & 4b)", "p4"), ("Exercise 4 d)", "p4"),
    ("Question 4", "p4"), ("Exercise 1.(c)", "p1-train"), ("Task 10", None), ("Task 1 (5 pts)", "t1"),
])
def test_course_headings_match_as_whole_words_whatever_the_punctuation(heading, expected):
    matchers = [QuestionMatcher("p1-train", headings=("Exercise 1.(c)",)), QuestionMatcher("p2a", headings=("Exercise 2.(a)",)),
                QuestionMatcher("p2c", headings=("Exercise 2.(c)",)), QuestionMatcher("p4", headings=("Question 4", "Exercise 4")),
                QuestionMatcher("t1", headings=("Task 1",))]
    assert _heading_match(heading, matchers) == expected


def test_a_name_that_says_the_other_way_of_differentiating_never_stands_for_the_entry():
    """autodiff-exercises pairs `*_analytic` with `*_autodiff`: a student's `_manual` / `_jax` pair must go
    to the right entries, whatever order they are defined in (before, `_jax` was the analytic one's first
    candidate, and the audit then failed it for using autodiff)."""
    from adgrade.resolve import method_agreement

    cells = ["""
        def quadratic_hessian_jax(A, b, c, x):
            return jax.hessian(f)(x)

        def quadratic_hessian_numpy(A, b, c, x):
            return A

        def quadratic_hessian_manual(A, b, c, x):
            return 0.5 * (A + A.T)
        """]
    params = ("A", "b", "c", "x")
    analytic = EntryNeed("quadratic_hessian_analytic", params, "quadratic_hessian_analytic(A, b, c, x)",
                         derivative=True)
    autodiff = EntryNeed("quadratic_hessian_autodiff", params, "quadratic_hessian_autodiff(A, b, c, x)",
                         derivative=True)
    plans = _plans("e4", cells, [analytic, autodiff])["e4"]
    names = {entry: [c["names"][0] for c in plan["candidates"][1:]] for entry, plan in plans.items()}
    assert names["quadratic_hessian_analytic"] == ["quadratic_hessian_manual", "quadratic_hessian_numpy"]
    assert names["quadratic_hessian_autodiff"] == ["quadratic_hessian_jax"]  # numpy says by hand
    assert method_agreement("trace_grad_by_hand", ["trace_grad_analytic"]) == 1
    assert method_agreement("trace_grad_torch", ["trace_grad_analytic"]) == -1
    assert method_agreement("lstsq_grad_autograd", ["lstsq_grad_autodiff"]) == 1
    assert method_agreement("grad_W", ["loss_grad"]) == 0  # neither says: nothing changes
    assert method_agreement("jax_analytic_grad", ["trace_grad_analytic"]) == 0  # says both: no opinion


def _candidates(question: str, cells: list[str], needs: list[EntryNeed]) -> dict[str, list[str]]:
    plans = _plans(question, cells, needs)[question]
    return {entry: ["+".join(c["names"]) for c in plan["candidates"][1:]] for entry, plan in plans.items()}


def test_numpy_in_a_name_says_by_hand():
    cells = ["""
        def quadratic_hessian_numpy(A, b, c, x):
            return (A + A.T) / 2

        def quadratic_hessian(A, b, c, x):
            return torch.func.hessian(lambda v: 0.5 * v @ A @ v)(x)
        """]
    params = ("A", "b", "c", "x")
    found = _candidates("e4", cells, [EntryNeed("quadratic_hessian_analytic", params, derivative=True),
                                      EntryNeed("quadratic_hessian_autodiff", params, derivative=True)])
    assert found == {"quadratic_hessian_analytic": ["quadratic_hessian_numpy", "quadratic_hessian"],
                     "quadratic_hessian_autodiff": ["quadratic_hessian"]}


def test_a_helper_that_calls_what_the_checks_forbid_comes_after_the_students_own():
    """jax-nn's Hessian bonus forbids jax.hessian (its checks' `forbid`), not jax.grad: the hand-built one
    goes first, the checking helper after it (alone, it would still be graded, and the audit says why)."""
    cells = ["""
        def my_hessian(f, x):
            rows = [jax.grad(lambda v, i=i: jax.grad(f)(v)[i])(x) for i in range(x.size)]
            return jnp.stack(rows)

        def hessian_check(f, x):
            return jnp.allclose(my_hessian(f, x), jax.hessian(f)(x))
        """]
    need = EntryNeed("hessian_manual", ("f", "x"), given=False, derivative=True,
                     forbidden=frozenset({"hessian", "jacfwd", "jacrev", "jacobian"}))
    assert _candidates("q", cells, [need])["hessian_manual"] == ["my_hessian", "hessian_check"]
    need = EntryNeed("hessian_manual", ("f", "x"), given=False, derivative=True)  # nothing forbidden: later wins
    assert _candidates("q", cells, [need])["hessian_manual"] == ["hessian_check", "my_hessian"]


def test_what_the_checks_demand_tells_a_pair_apart_when_the_entry_name_does_not():
    """torch-backprop's `my_backward_2a` is checked `manual`: `jacobian_autograd` (a student's checking
    helper) is never it, even defined after the hand-written `backprop_jacobian`."""
    cells = ["""
        def backprop_jacobian(x, L, params):
            return by_hand(x, L, params)

        def jacobian_autograd(x, L, params):
            return torch.autograd.functional.jacobian(lambda v: net(v, L, params), x)
        """]
    need = EntryNeed("my_backward_2a", ("x", "L", "params"), given=False, derivative=True,
                     aliases=("reverse_jacobian", "backward_jacobian"), way="manual",
                     forbidden=frozenset({"grad", "hessian", "jacobian", "autograd"}))
    assert _candidates("p2a", cells, [need])["my_backward_2a"] == ["backprop_jacobian"]


def test_an_alias_made_by_grad_comes_after_a_hand_written_function_for_a_manual_entry():
    cells = ["""
        def MSE(w, X, y):
            return jnp.mean((X @ w - y) ** 2)

        mse_grad = grad(MSE)

        def analytical_mse_grad(w, X, y):
            return 2 * X.T @ (X @ w - y) / len(y)
        """]
    need = EntryNeed("analytical_gradient", ("w", "X", "y"), given=False, derivative=True,
                     aliases=("mse_grad", "manual_gradient"), way="manual",
                     forbidden=frozenset({"grad", "hessian", "jacobian", "autograd"}))
    assert _candidates("t1", cells, [need])["analytical_gradient"] == ["analytical_mse_grad", "mse_grad"]


def test_grad_imported_under_another_name_is_still_grad():
    cells = ["""
        from jax import grad as g

        def total_loss(W, b, X, y):
            return jnp.sum((X @ W + b - y) ** 2)

        grad_W = g(total_loss, argnums=0)
        grad_b = g(total_loss, argnums=1)
        """]
    need = EntryNeed("loss_grad", ("W", "b", "X", "y"), given=False, compose_argnums=(0, 1), derivative=True)
    found = _candidates("t2", cells, [need])["loss_grad"]
    assert found[0] == "grad_W+grad_b" and "total_loss" not in found  # the objective, never the derivative


def test_a_gradient_handed_to_jacfwd_is_still_a_gradient():
    cells = ["""
        def lstsq_grad_manual(A, b, x):
            return A.T @ (A @ x - b)

        lstsq_hessian_jax = jax.jacfwd(lstsq_grad_manual, argnums=2)
        """]
    need = EntryNeed("lstsq_grad_analytic", ("A", "b", "x"), given=False, derivative=True, way="manual")
    assert _candidates("e6", cells, [need])["lstsq_grad_analytic"] == ["lstsq_grad_manual"]


def test_a_derivative_the_student_made_with_grad_is_their_answer():
    """`d4 = grad(grad(grad(grad(jnp.tanh))))` wraps JAX's own function, but the student made it: the
    plan says so, the child takes it, and the report shows the student's name, not JAX's signature."""
    jax = pytest.importorskip("jax")
    source = "import jax\nimport jax.numpy as jnp\nfrom jax import grad\nd4 = grad(grad(jnp.tanh))\n"
    need = EntryNeed("tanh_second_derivative", ("x",), given=False, derivative=True)
    plans = {"e3": plan_question([need], [("cell 1", source)], set())}
    (made,) = plans["e3"]["tanh_second_derivative"]["candidates"][1:]
    assert made["names"] == ["d4"] and made.get("made")
    resolver = EntryResolver(_namespace(source), plans)
    resolver.start_question("e3")
    value = float(resolver.lookup("tanh_second_derivative")(0.5))
    assert value == pytest.approx(float(jax.grad(jax.grad(jax.numpy.tanh))(0.5)))
    assert resolver.used[0]["signature"] == "d4"


def test_the_checks_say_how_each_entry_differentiates():
    from types import SimpleNamespace

    from adgrade.resolve import DIFFERENTIATING, entry_needs

    def check(entry=None, **kw):
        return SimpleNamespace(entry=entry, kind=kw.pop("kind", "gradient"), options={},
                               manual=kw.get("manual", False), require_autodiff=kw.get("require_autodiff", False),
                               forbid=kw.get("forbid", ()))

    problem = SimpleNamespace(entries=["g_hand", "g_auto"], names={})
    needs = {n.name: n for n in entry_needs(problem, [
        check("g_hand", manual=True), check("g_auto", require_autodiff=True)], {})}
    assert needs["g_hand"].way == "manual" and needs["g_hand"].forbidden >= DIFFERENTIATING
    assert needs["g_auto"].way == "autodiff" and not needs["g_auto"].forbidden
    # a wrapper check (no entry) speaks for the problem's entries; only differentiating names count
    bonus = SimpleNamespace(entries=["hess"], names={})
    wrapper_check = check(None, kind="hessian", forbid=("jax.hessian", "jax.jacfwd", "numpy.linalg.inv"))
    (hess,) = entry_needs(bonus, [wrapper_check], {})
    assert hess.way == "" and hess.forbidden == {"hessian", "jacfwd"}


def test_loss_backward_counts_for_an_autodiff_entry_and_a_backward_method_never_demotes_a_manual_one():
    cells = ["""
        def fit_a(X, Y, learning_rate=0.01, n_iters=20):
            return [w for w in plain_loop(X, Y)]

        def fit_b(X, Y, learning_rate=0.01, n_iters=20):
            loss = ((w * X - Y) ** 2).mean()
            loss.backward()
            return [w]
        """]
    params = ("X", "Y", "learning_rate", "n_iters")
    auto = EntryNeed("linear_regression_autograd", params, given=False, way="autodiff")
    assert _candidates("e2", cells, [auto])["linear_regression_autograd"][0] == "fit_b"
    # the hand-written backward pass (it returns a derivative, as the entry does) stays first
    manual = EntryNeed("my_backprop", ("x",), given=False, derivative=True, way="manual",
                       forbidden=frozenset({"grad", "hessian", "jacobian", "autograd"}))
    cells = ["def net_backward(x):\n    return layer.backward(x)\n\ndef other(x):\n    return x\n"]
    assert _candidates("p", cells, [manual])["my_backprop"] == ["net_backward", "other"]


def test_another_questions_entry_counts_only_where_this_questions_own_cells_define_it():
    need = EntryNeed("mse", ("w", "X", "y"), given=False)
    own = [("cell 2", "def loss(w, X, y):\n    return ((X @ w - y) ** 2).mean()\n")]
    plan = plan_question([need], own, set(), others={"loss"})["mse"]
    assert [c["names"] for c in plan["candidates"]] == [["mse"], ["loss"]]
    # the whole file, for a question with no cell of its own: another question's `loss` stays its own
    plan = plan_question([need], own, set(), others={"loss"}, own_sources=False)["mse"]
    assert [c["names"] for c in plan["candidates"]] == [["mse"]]
