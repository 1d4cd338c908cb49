"""Check plugins: the built-ins, and more through the entry-point group `adgrade.checks`."""

from __future__ import annotations

import importlib
from functools import lru_cache
from importlib.metadata import entry_points

from adgrade.checks.base import Check, Request

__all__ = ["Check", "Request", "get_check_class", "available_checks"]

# used when the package's entry points are not installed (running from a source tree)
_BUILTIN = {
    "value": "adgrade.checks.calls:ValueCheck",
    "gradient": "adgrade.checks.calls:GradientCheck",
    "jacobian": "adgrade.checks.calls:JacobianCheck",
    "hessian": "adgrade.checks.calls:HessianCheck",
    "derivative": "adgrade.checks.calls:DerivativeCheck",
    "autodiff": "adgrade.checks.calls:AutodiffCheck",
    "custom": "adgrade.checks.calls:CustomCheck",
    "trajectory": "adgrade.checks.iterates:TrajectoryCheck",
    "convergence": "adgrade.checks.convergence:ConvergenceCheck",
    "stability": "adgrade.checks.stability:StabilityCheck",
    "finite_difference": "adgrade.checks.finite_difference:FiniteDifferenceCheck",
    "timing": "adgrade.checks.timing:TimingCheck",
    "module": "adgrade.checks.module:ModuleCheck",
    "autograd_function": "adgrade.checks.autograd_function:AutogradFunctionCheck",
    "convergence_rate": "adgrade.checks.rate:ConvergenceRateCheck",
}


@lru_cache(maxsize=1)
def _table() -> dict[str, str]:
    table = dict(_BUILTIN)
    for ep in entry_points(group="adgrade.checks"):
        table[ep.name] = ep.value
    return table


def available_checks() -> list[str]:
    return sorted(_table())


@lru_cache(maxsize=None)
def get_check_class(kind: str) -> type[Check]:
    table = _table()
    if kind not in table:
        raise KeyError(f"unknown check kind {kind!r} (known: {', '.join(sorted(table))})")
    module, _, attr = table[kind].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, Check)):
        raise KeyError(f"check kind {kind!r} ({table[kind]}) is not a subclass of adgrade.checks.Check")
    return cls
