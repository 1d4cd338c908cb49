"""`require`: calls an entry must make (adgrade/requirements.py), and how the child records calls inside calls.

The hvp cases are the issue's: a forward-over-reverse hvp meets "forward-over-reverse"; an hvp by finite
differences of gradients and a reverse-over-reverse one do not, and are told what they called instead.
The end-to-end case (through the CLI) is the example assignment's P2 (tests/test_example_custom_gradients.py).
"""

from __future__ import annotations

import pytest

from adgrade import backends
from adgrade.backends import get_backend
from adgrade.requirements import parse_requirement, requirement_message, split_calls, unmet
from adgrade.runner import child

HVP_SOURCE = '''
def f(x):
    return jnp.sum(x ** 3) + jnp.prod(jnp.cos(x))

def hvp_forward_over_reverse(x, v):
    return jax.jvp(jax.grad(f), (x,), (v,))[1]

def hvp_reverse_over_reverse(x, v):
    return jax.grad(lambda y: jnp.vdot(jax.grad(f)(y), v))(x)

def hvp_finite_differences(x, v):
    return (jax.grad(f)(x + 1e-5 * v) - jax.grad(f)(x - 1e-5 * v)) / 2e-5

def ft(x):
    return torch.sum(x ** 3)

def hvp_torch(x, v):
    return torch.func.jvp(torch.func.grad(ft), (x,), (v,))[1]

def many_grads_then_jvp(x, v):
    for _ in range(300):
        jax.grad(f)(x)
    return jax.jvp(f, (x,), (v,))[1]
'''


@pytest.fixture(scope="module")
def recorded_by():
    """name -> what the child records while that function runs (the child's own recorder)."""
    get_backend("jax").load()
    get_backend("torch").load()
    backends.install_all_probes(child._record)
    import jax
    import jax.numpy as jnp
    import torch

    namespace = {"__name__": "__main__", "jax": jax, "jnp": jnp, "torch": torch}
    exec(compile(HVP_SOURCE, "student.py", "exec"), namespace)

    def run(name: str) -> list[str]:
        args = (torch.ones(3), torch.ones(3)) if name == "hvp_torch" else (jnp.ones(3), jnp.arange(3.0))
        child._recorded.clear()
        child._recording = True
        try:
            namespace[name](*args)
        finally:
            child._recording = False
        return list(child._recorded)

    yield run
    backends.uninstall_probes()


def test_a_call_inside_another_is_recorded_as_outer_then_inner(recorded_by):
    assert set(recorded_by("hvp_forward_over_reverse")) == {"jax.grad", "jax.jvp", "jax.jvp>jax.grad"}
    assert set(recorded_by("hvp_reverse_over_reverse")) == {"jax.grad", "jax.grad>jax.grad"}
    assert set(recorded_by("hvp_finite_differences")) == {"jax.grad"}
    assert "torch.func.jvp>torch.func.grad" in recorded_by("hvp_torch")


def test_each_call_is_recorded_once_so_a_loop_does_not_crowd_out_a_later_call(recorded_by):
    assert set(recorded_by("many_grads_then_jvp")) == {"jax.grad", "jax.jvp"}


def test_forward_over_reverse_is_met_only_by_a_jvp_of_a_gradient(recorded_by):
    need = ("forward-over-reverse",)
    assert requirement_message("`hvp`", need, recorded_by("hvp_forward_over_reverse")) == ""
    assert requirement_message("`hvp`", need, recorded_by("hvp_torch")) == ""
    rr = requirement_message("`hvp`", need, recorded_by("hvp_reverse_over_reverse"))
    assert "must use forward-over-reverse" in rr
    assert "jax.grad inside jax.grad (reverse-over-reverse)" in rr and "gradient of a gradient" in rr
    fd = requirement_message("`hvp`", need, recorded_by("hvp_finite_differences"))
    assert "called only jax.grad" in fd and "finite differences" in fd


def test_named_calls_alternatives_and_nesting():
    calls = ["jax.grad", "jax.jvp", "jax.jvp>jax.grad"]
    assert unmet(("jax.jvp",), calls) == []
    assert unmet(("jax.jvp(jax.grad)",), calls) == []
    assert unmet(("jax.grad(jax.jvp)",), calls) == ["jax.grad of jax.jvp (jax.jvp called inside jax.grad)"]
    assert unmet(("torch.func.jvp | jax.jvp",), calls) == []
    assert unmet(("jax.linearize", "jax.grad"), calls) == ["jax.linearize"]
    assert unmet(("forward-mode", "reverse-mode"), calls) == []
    assert unmet(("reverse-over-reverse",), calls) == ["reverse-over-reverse (a gradient of a gradient)"]
    assert "builds the whole n×n Hessian" in requirement_message("`hvp`", ("forward-over-reverse",), ["jax.hessian"])
    message = requirement_message("`hvp`", ("jax.jvp",), [])
    assert message == "`hvp` must use jax.jvp, but while it ran it made no autodiff call at all."
    assert split_calls(calls) == ({"jax.grad", "jax.jvp"}, {("jax.jvp", "jax.grad")})


@pytest.mark.parametrize("text", ["", "jvp", "jax.jvp(", "forward-over-sideways", "jax.jvp || jax.grad"])
def test_a_requirement_that_cannot_be_read_is_refused(text):
    with pytest.raises(ValueError):
        parse_requirement(text)
