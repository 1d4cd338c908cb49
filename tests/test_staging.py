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

LR = 0.1

def fd(f, x, h=1e-6):
    g = [0.0] * x.shape[0]
    for i in range(x.shape[0]):
        g[i] = (f(x.at[i].add(h)) - f(x.at[i].add(-h))) / (2 * h)   # JAX's functional update
    return jnp.array(g)

def lengths(xs):
    return sum(jnp.sum(x) for x in xs) / len(xs) + max(abs(-1.0), min(2.0, 3.0))  # plain builtins

def step(ws, g):
    out = list(ws)
    out[0] = ws[0] - LR * g           # a global constant read on the line of a store into its own list
    total = 0.0
    total += jnp.sum(g)
    return out, total
"""


@pytest.mark.parametrize("name", ["softmax", "predict", "hessian", "update", "uses_append", "fd", "step", "lengths"])
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
    # found by review: state that outlives the call by other roads
    "an lru_cache helper": "import functools\n@functools.lru_cache(maxsize=None)\ndef unit(n, i):\n"
                           "    return jnp.zeros(n).at[i].set(1.0)\ndef f(x):\n    return x @ unit(x.shape[0], 0)\n",
    "a memo on a function attribute": "def basis(n):\n    basis.cache[n] = jnp.eye(n)\n    return basis.cache[n]\n"
                                      "basis.cache = {}\ndef f(x):\n    return basis(3) @ x\n",
    "a class attribute's item": "class Memo:\n    table = {}\ndef f(x):\n    Memo.table['last'] = x\n    return x\n",
    "a mutable default": "def f(x, history=[]):\n    history.append(x)\n    return x\n",
    "a global aliased to a local": "LOSSES = []\ndef f(x):\n    log = LOSSES\n    log.append(x)\n    return x\n",
    "a global list += ": "SEEN = []\ndef keep(ps, x):\n    ps += [x]\n\ndef f(x):\n    keep(SEEN, x)\n    return x\n",
    "a function in a dict": "def sig(z):\n    global last\n    last = z\n    return z\nACT = {'s': sig}\n"
                            "def f(x):\n    return ACT['s'](x)\n",
    "a default that prints": "def relu(z):\n    print(z)\n    return z\ndef f(x, act=relu):\n    return act(x)\n",
    "a staticmethod": "class NN:\n    @staticmethod\n    def act(z):\n        return z\ndef f(x):\n    return NN.act(x)\n",
    "NumPy's global random state": "import numpy as np\ndef f(x):\n    return x + np.random.normal()\n",
    "a global generator": "import numpy as np\nrng = np.random.default_rng(0)\ndef f(x):\n"
                          "    return x + rng.normal()\n",
    "an f-string": "def f(x):\n    return f'loss = {x}'\n",
    "str()": "def f(x):\n    return str(x)\n",
    "sys.stdout": "import sys\ndef f(x):\n    sys.stdout.write('x')\n    return x\n",
    # found by a second review
    "state or {}": "OPT = {'t': 0}\ndef step(w, state=None):\n    st = state or {}\n    st['t'] = 1\n    return w\n"
                   "def f(x):\n    return step(x, OPT)\n",
    "a partial binding a global dict": "import functools\nSTATE = {}\ndef g(x, state):\n    state['m'] = x\n"
                                       "    return x\nf = functools.partial(g, state=STATE)\n",
    "a student's decorator": "CACHE = {}\ndef deco(fn):\n    def wrapper(*a):\n        return fn(*a)\n    return wrapper\n"
                             "@deco\ndef helper(z):\n    return z\n@deco\ndef leak(z):\n    CACHE['a'] = z\n    return z\n"
                             "def f(x):\n    return helper(x) + leak(x)\n",
    "a function on a namespace": "import types\ndef relu(z):\n    global last\n    last = z\n    return z\n"
                                 "cfg = types.SimpleNamespace(act=relu)\ndef f(x):\n    return cfg.act(x)\n",
    "a global deque": "import collections\nHIST = collections.deque()\ndef f(x):\n    HIST.appendleft(x)\n    return x\n",
    "operator.setitem": "import operator\nBEST = {}\ndef f(x):\n    operator.setitem(BEST, 'w', x)\n    return x\n",
    "a cell variable +=": "LOG = []\ndef f(x):\n    hist = LOG\n    hist += [x]\n    g = lambda: hist\n    return x\n",
    "logging by name": "from logging import warning\ndef f(x):\n    warning('x %s', x)\n    return x\n",
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
        return {"label": label, "none": None, "out": out, "shape": [int(n) for n in out.shape]}

    W = jnp.arange(6.0).reshape(3, 2) / 10
    b = jnp.ones(3)
    x = jnp.array([0.5, -1.0])
    eager = f([W, b], x, "net")
    staged = staged_call(jax, f, [[W, b], x, "net"], {})
    assert [issubclass(t, jax.core.Tracer) for t in seen] == [False, True]  # the second call was traced
    assert staged["shape"] == [3] and type(staged["shape"][0]) is int
    assert staged["label"] == "net" and staged["none"] is None
    assert jnp.allclose(staged["out"], eager["out"], rtol=1e-14, atol=0)


@pytest.mark.parametrize("result", [lambda x: (lambda v: x @ v), lambda x: __import__("types").SimpleNamespace(w=x)])
def test_a_result_holding_traced_values_in_an_object_is_left_to_the_eager_run(result) -> None:
    from adgrade.runner.staging import NotPlain

    with pytest.raises(NotPlain):
        staged_call(jax, result, [jnp.eye(2)], {})


def test_the_students_process_computes_staged_calls_to_the_last_bit() -> None:
    """XLA fuses a*b + c into one FMA in a compiled program, never in one operation run alone; the
    student's process caps the instruction set below FMA, and a finite difference (which magnifies the
    last bit 10^8 times) gives the same numbers staged and eager."""
    import subprocess
    import sys
    from pathlib import Path

    from adgrade.runner.limits import child_environment

    script = textwrap.dedent("""
        import numpy as np, jax, jax.numpy as jnp
        from adgrade.runner.staging import staged_call
        def fd(x, h=1e-8):
            f = lambda z: z * z * z + 3.0 * z * z - 2.0 * z
            return (f(x + h) - f(x)) / h
        x = jnp.asarray(np.random.default_rng(0).normal(size=1000))
        print(int(np.sum(np.asarray(fd(x)) != np.asarray(staged_call(jax, fd, [x], {})))))
    """)
    env = child_environment(Path("/tmp"))
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    if "--xla_cpu_max_isa" not in env["XLA_FLAGS"]:
        pytest.skip("not x86: XLA may contract into FMA (results agree to rounding)")
    assert out.stdout.strip() == "0"


def test_the_child_xla_flags_are_ones_the_installed_xla_knows() -> None:
    """XLA aborts a process on a flag it does not know (`parse_flags_from_env`), which would fail every JAX
    check: the student's process environment must start JAX and compile with the flags it is given."""
    import subprocess
    import sys
    from pathlib import Path

    from adgrade.runner.limits import child_environment

    env = child_environment(Path("/tmp"))
    script = "import jax, jax.numpy as jnp; print(float(jax.jit(jnp.tanh)(jnp.asarray(0.5))))"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert abs(float(out.stdout) - 0.46211715726000974) < 1e-15


def test_compile_speed_flags_only_for_the_jaxlib_they_were_verified_on(monkeypatch) -> None:
    from adgrade.runner import limits

    monkeypatch.setattr(limits, "_JAXLIB_VERSION", ["0.10.2"])
    assert limits._FAST_COMPILE in limits.child_xla_flags()
    assert "--xla_cpu_multi_thread_eigen=false" in limits.child_xla_flags()
    for other in ("0.11.0", "0.9.1", ""):
        monkeypatch.setattr(limits, "_JAXLIB_VERSION", [other])
        assert "fusion_emitters" not in limits.child_xla_flags()
        assert "--xla_cpu_multi_thread_eigen=false" in limits.child_xla_flags()


def test_dicts_keep_the_order_the_student_gave_them() -> None:
    """JAX's trees rebuild a dict with its keys sorted: a student iterating `params.values()` would see
    another order, so a dict out of sorted order (given or returned) is left to the eager run."""
    from adgrade.runner.staging import NotPlain

    def flat(params):
        return jnp.concatenate([v.ravel() for v in params.values()])

    unsorted = {"W1": jnp.ones(2), "b1": jnp.zeros(1), "W2": 2 * jnp.ones(1)}
    with pytest.raises(NotPlain):
        staged_call(jax, flat, [unsorted], {})
    with pytest.raises(NotPlain):
        staged_call(jax, lambda x: {"W2": x, "W1": x}, [jnp.ones(2)], {})
    in_order = dict(sorted(unsorted.items()))
    assert jnp.array_equal(staged_call(jax, flat, [in_order], {}), flat(in_order))


def test_a_power_xla_would_rewrite_is_left_to_the_eager_run() -> None:
    from adgrade.runner.staging import NotPlain

    with pytest.raises(NotPlain):
        staged_call(jax, lambda z: z ** 3.0, [jnp.ones(3)], {})


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
