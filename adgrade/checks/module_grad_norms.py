"""The `grad_norms` measure of the `module` check kind: does the gradient reach every layer, at the
reference's scale?

The child reports, for several seeds, the norm of the gradient of the loss on a fixed batch with respect
to every nn.Linear weight. The reference is built here from functions.py alone (`layers`, `init_bound`,
`forward`; biases 0) with torch, and the per-layer median log10 norms must agree within
`log10_tolerance`.
"""

from __future__ import annotations

import math

import numpy as np

from typing import TYPE_CHECKING

from adgrade.checks.module_text import linear_text, row, sci

if TYPE_CHECKING:
    from adgrade.checks.module import ModuleCheck


def reference_norms(check: ModuleCheck, args: tuple) -> np.ndarray:
    """(seeds, layers) gradient norms of the reference model built from functions.py, with torch."""
    import torch
    import torch.nn.functional as F

    from adgrade.backends import get_backend

    xp = get_backend("torch").xp
    ctor, init_args = check.split(args)
    shapes = [tuple(int(n) for n in s) for s in check.fn(check.opt("layers"))(*ctor)]
    xb, labels = check.fixed_batch()
    x = torch.tensor(xb, dtype=torch.float64)
    out = np.zeros((int(check.opt("seeds", 5)), len(shapes)))
    for s in range(out.shape[0]):
        rng = np.random.default_rng([check._seed_base(), s])
        weights = []
        for shape in shapes:
            b = check.bound(check.opt("init_bound"), list(shape), init_args)
            weights.append(torch.tensor(rng.uniform(-b, b, size=shape), dtype=torch.float64, requires_grad=True))
        biases = [torch.zeros(shape[0], dtype=torch.float64) for shape in shapes]
        logits = check.fn(check.opt("forward"))(xp, weights, biases, x)
        if check.opt("loss", "cross_entropy") == "cross_entropy":
            loss = F.cross_entropy(logits, torch.as_tensor(labels).long())
        else:
            loss = F.mse_loss(logits, torch.as_tensor(labels, dtype=torch.float64))
        grads = torch.autograd.grad(loss, weights)
        out[s] = [float(torch.linalg.vector_norm(g)) for g in grads]
    return out


def judge_grad_norms(check: ModuleCheck, args: tuple, value: dict) -> str:
    if "not_module" in value:
        return check.not_module(args, value)
    problem = check.count_problem(args, value)
    if problem:
        return problem
    check.prepare()
    ref = check._reference[check._current]
    tol = float(check.opt("log10_tolerance", 1.0))
    norms = [seed["norms"] for seed in value["seeds"]]
    shapes = [lin["shape"] for lin in value["linears"]]
    head = check.built(args, value)
    for k in range(len(shapes)):
        column = [n[k] for n in norms]
        if any(v is None for v in column):
            return (f"{head}: layer {k + 1} ({linear_text(shapes[k])}): its weight does not require "
                    f"grad, so it gets no gradient (requires_grad was switched off, or the weight was "
                    f"replaced by a plain tensor instead of being changed in place).")
        if not all(math.isfinite(v) for v in column):
            return f"{head}: layer {k + 1} ({linear_text(shapes[k])}): the gradient is NaN or infinite."
    with np.errstate(divide="ignore"):
        mine = np.median(np.log10(np.asarray(norms, dtype=np.float64)), axis=0)
        theirs = np.median(np.log10(ref), axis=0)
    bad = [k for k in range(len(shapes)) if not abs(mine[k] - theirs[k]) <= tol]
    if not bad:
        return ""
    k = bad[0]
    n_seeds = len(norms)
    apart = abs(mine[k] - theirs[k])
    msg = (f"{head}: layer {k + 1} ({linear_text(shapes[k])}): the median norm of the weight gradient over "
           f"{n_seeds} seed{'s' if n_seeds != 1 else ''} is {sci(10 ** mine[k])}, the reference's "
           f"{sci(10 ** theirs[k])}"
           + (f": {apart:.1f} orders of magnitude apart (allowed: {tol:g})." if math.isfinite(apart) else "."))
    if all(n[k] == 0 for n in norms):
        sizes = value["seeds"][0].get("weight_max_abs") or []
        zero = [j + 1 for j, w in enumerate(sizes) if j > k and w == 0]
        if zero:
            msg += (f" The gradient is exactly 0 because the weights of layer {zero[0]} are all 0 after "
                    f"initialisation: no gradient flows back through it.")
        else:
            msg += " The gradient is exactly 0: does the layer take part in forward (not unused, not detached)?"
    msg += (f"\nlog10 of the gradient norm per layer, input to output:\n  yours:     {row(mine)}\n"
            f"  reference: {row(theirs)}")
    if len(bad) > 1:
        msg += f"\n{len(bad)} of {len(shapes)} layers are outside the tolerance."
    return msg
