"""Staging a JAX call as one compiled program (adgrade/runner/staging.py): only where tracing cannot
change the answer, and with the eager answer's Python values."""

from __future__ import annotations

import functools
import os
import textwrap

import pytest

os.environ.setdefault("JAX_ENABLE_X64", "1")
jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

from adgrade.runner.staging import MAX_EQUATIONS, TooLarge, stageable, staged_call  # noqa: E402

CELL = "<cell 3>"  # how the child names a student's cell


def student(source: str, **extra) -> dict:
    """The namespace a student's cell leaves, its functions compiled under the cell's file name."""
    namespace = {"jnp": jnp, "jax": jax, "__name__": "__main__", **extra}
    exec(compile(textwrap.dedent(source), CELL, "exec"), namespace)
    return namespace


def ok(namespace: dict, name: str) -> bool:
    return stageable(namespace[name], {CELL})


PURE = """
def softmax(z):
    return jnp.exp(z) / jnp.sum(jnp.exp(z), axis=0, keepdims=True)

def predict(params, x):
    W, b = params
    return softmax(jnp.dot(W, x) + b)

def hessian(f, x):
    df = jax.grad(f)
    rows = []
    for i in range(x.shape[0]):
        rows.append(jax.grad(lambda z: df(z)[i])(x))
    return jnp.array(rows)

def update(params, g):
    params[0] = params[0] - 0.1 * g   # the call's own argument: fresh for every call
    return params

def uses_append(x):
    return jnp.append(x, 1.0)         # a library function named like a mutating method
"""


@pytest.mark.parametrize("name", ["softmax", "predict", "hessian", "update", "uses_append"])
def test_pure_functions_are_staged(name: str) -> None:
    assert ok(student(PURE), name)


UNSAFE = {
    "a try": "def f(x):\n    try:\n        return float(x)\n    except TypeError:\n        return 0.0\n",
    "a with": "def f(x):\n    with open('log') as fh:\n        return x\n",
    "isinstance": "def f(x):\n    return x * 2 if isinstance(x, jnp.ndarray) else x\n",
    "type()": "def f(x):\n    return type(x).__name__\n",
    "a print": "def f(x):\n    print('x is', x)\n    return x\n",
    "a global write": "count = 0\ndef f(x):\n    global count\n    count += 1\n    return x\n",
    "a global list's append": "seen = []\ndef f(x):\n    seen.append(x)\n    return x\n",
    "a global array's item": "import numpy as np\nbuf = np.zeros(3)\ndef f(x):\n    buf[0] = 1.0\n    return x\n",
    "a global object's attribute": "class Box: pass\nbox = Box()\ndef f(x):\n    box.last = x\n    return x\n",
    "a nonlocal write": "def make():\n    n = 0\n    def f(x):\n        nonlocal n\n        n += 1\n        return x\n"
                        "    return f\nf = make()\n",
    "a student's class": "class Net:\n    def __call__(self, x):\n        return x\nnet = Net()\ndef f(x):\n"
                         "    return net(x)\n",
    "a callee changing its argument": "store = []\ndef keep(ps, x):\n    ps.append(x)\n\ndef f(x):\n"
                                      "    keep(store, x)\n    return x\n",
    "a callee two levels down": "def g(x):\n    try:\n        return x\n    except Exception:\n"
                                "        return x\n\ndef h(x):\n    return g(x)\n\ndef f(x):\n    return h(x)\n",
    "a partial of an unsafe function": "import functools\nlog = []\ndef g(x, k):\n    log.append(k)\n"
                                       "    return x\nf = functools.partial(g, k=1)\n",
}


@pytest.mark.parametrize("label", sorted(UNSAFE))
def test_code_that_tracing_could_change_is_run_eagerly(label: str) -> None:
    assert not ok(student(UNSAFE[label], functools=functools), "f"), label


def test_an_entry_that_tries_several_functions_is_not_staged() -> None:
    namespace = student(PURE)

    def dispatcher(*args):
        return namespace["softmax"](*args)

    dispatcher.__wrapped__ = namespace["softmax"]
    assert stageable(dispatcher, {CELL})
    dispatcher.__adgrade_stageable__ = False
    assert not stageable(dispatcher, {CELL})


def test_a_wrapper_is_read_with_the_student_functions_it_reaches() -> None:
    namespace = student(PURE + UNSAFE["a global list's append"])
    wrapper = student("def wrap(xp, sub, x):\n    return sub.predict(x)\n")["wrap"]
    wrapper.__code__ = wrapper.__code__.replace(co_filename="<adgrade wrap>")
    assert stageable(wrapper, {CELL}, lambda name: namespace["softmax"])
    assert not stageable(wrapper, {CELL}, lambda name: namespace["f"])


def test_a_staged_call_is_traced_once_and_keeps_python_values() -> None:
    seen = []

    def f(params, x, label):
        seen.append(type(x))
        W, b = params
        out = jnp.tanh(W @ x + b)
        return {"out": out, "shape": [int(n) for n in out.shape], "label": label, "none": None}

    W = jnp.arange(6.0).reshape(3, 2) / 10
    b = jnp.ones(3)
    x = jnp.array([0.5, -1.0])
    eager = f([W, b], x, "net")
    staged = staged_call(jax, f, [[W, b], x, "net"], {})
    assert [issubclass(t, jax.core.Tracer) for t in seen] == [False, True]  # the second call was traced
    assert staged["shape"] == [3] and type(staged["shape"][0]) is int
    assert staged["label"] == "net" and staged["none"] is None
    assert jnp.allclose(staged["out"], eager["out"], rtol=1e-14, atol=0)


def test_what_tracing_cannot_do_raises_for_the_eager_run_to_decide() -> None:
    def f(x):
        return x * 2 if float(x[0]) > 0 else -x

    with pytest.raises(jax.errors.ConcretizationTypeError):
        staged_call(jax, f, [jnp.array([1.0, 2.0])], {})


def test_a_loop_that_unrolls_into_a_large_program_runs_eagerly() -> None:
    """Gradient descent over many steps traces into one program per step: compiling that is slower than
    running op by op (each operation compiled once), so staging gives it back to the eager run."""
    def descend(x):
        for _ in range(MAX_EQUATIONS + 1):  # one multiplication per step
            x = x * 0.999
        return x

    with pytest.raises(TooLarge):
        staged_call(jax, descend, [jnp.ones(3)], {})
    short = staged_call(jax, lambda x: x - 0.1 * jax.grad(lambda z: jnp.sum(z ** 2))(x), [jnp.ones(3)], {})
    assert jnp.allclose(short, 0.8 * jnp.ones(3))
