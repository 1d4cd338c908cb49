"""`backend = ["autograd", "jax"]`: the framework a student's entry is written in (adgrade/backend_choice.py)."""

from __future__ import annotations

import pytest

from adgrade.backend_choice import choose

SOURCES = {
    "autograd": "import autograd.numpy as np\nfrom autograd import grad\n"
                "def helper(x):\n    return np.sum(x ** 2)\n"
                "def entry(f, x):\n    return grad(helper)(x) + f(x)\n",
    "jax": "import jax\nimport jax.numpy as jnp\ndef entry(f, x):\n    return jax.grad(lambda y: jnp.sum(y))(x)\n",
    "through a helper": "import jax.numpy as jnp\ndef helper(x):\n    return jnp.cos(x)\n"
                        "def entry(f, x):\n    return helper(x)\n",
    "nothing": "def entry(f, x):\n    return f(x) * 2\n",
}


@pytest.mark.parametrize("case, want", [("autograd", "autograd"), ("jax", "jax"), ("through a helper", "jax"),
                                        ("nothing", "jax")])
def test_the_framework_the_entry_refers_to_wins(case, want):
    namespace: dict = {"__name__": "__main__"}
    exec(compile(SOURCES[case], "student.py", "exec"), namespace)
    assert choose(namespace["entry"], ["jax", "autograd"]) == want
