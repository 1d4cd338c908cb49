"""The XLA flags of the submission's process: compile time, run time and bits, against XLA's defaults.

    python bench/xla_flags.py              # 2 rounds
    python bench/xla_flags.py --rounds 3

Each round runs three workloads in fresh processes, once with the flags adgrade gives the student's
process (`adgrade.runner.limits.child_xla_flags`) and once with the same flags less the compile-speed
ones (`--xla_cpu_use_fusion_emitters=false --xla_backend_optimization_level=0`):

* compile: a jax-nn-like session (an MLP's prediction, gradient and SGD steps at three sizes; grad,
  Hessian and jacfwd of a small function at three sizes; eager, jit and grad) -- the total time XLA
  spent compiling (JAX's `backend_compile_duration` events), the number of compilations, and a hash
  of every result;
* run: milliseconds per call of a jitted element-wise expression and an MLP gradient on 1000 x 1000
  arrays, and of an eager loop of element-wise operations on them (large inputs, where a slower
  compiled program would show);
* bits: 23 functions (tanh, exp, log1p, softmax, logsumexp, erf, pow, dot, a finite difference...) in
  float32 and float64, eager, jitted and differentiated: which results differ between the two flag sets.

A benchmark, not a test: times depend on the machine and its load, printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

COMPILE = r'''
import time, hashlib, json
import jax, jax.numpy as jnp, numpy as np
from jax._src import monitoring
total = [0.0, 0]
def on_duration(name, secs, **kw):
    if name == "/jax/core/compile/backend_compile_duration":
        total[0] += secs; total[1] += 1
monitoring.register_event_duration_secs_listener(on_duration)
h = hashlib.sha256()
rng = np.random.default_rng(0)
X = jnp.asarray(rng.normal(size=(100, 10))); T = jnp.asarray(rng.normal(size=(100, 3)))
def init(sizes):
    return [(jnp.asarray(rng.normal(size=(m, n)) / np.sqrt(m)), jnp.asarray(rng.normal(size=n)))
            for m, n in zip(sizes[:-1], sizes[1:])]
def softmax(z):
    e = jnp.exp(z - z.max(axis=-1, keepdims=True)); return e / e.sum(axis=-1, keepdims=True)
def predict(params, x):
    for W, b in params[:-1]:
        x = jnp.tanh(x @ W + b)
    W, b = params[-1]; return softmax(x @ W + b)
def loss(params, x, t): return jnp.mean(jnp.sum((predict(params, x) - t) ** 2, axis=1))
def f(x): return jnp.sum(jnp.sin(x) ** 2 * jnp.exp(-x)) + jnp.prod(jnp.cos(x[:2]))
t0 = time.perf_counter()
for sizes in ([10, 3], [10, 20, 3], [10, 32, 16, 3]):
    p = init(sizes)
    for out in (predict(p, X), jax.grad(loss)(p, X, T), jax.jit(jax.grad(loss))(p, X, T), jax.jit(predict)(p, X)):
        for leaf in jax.tree_util.tree_leaves(out): h.update(np.asarray(leaf).tobytes())
    for _ in range(3):
        p = jax.tree_util.tree_map(lambda a, g: a - 0.1 * g, p, jax.grad(loss)(p, X, T))
    for leaf in jax.tree_util.tree_leaves(p): h.update(np.asarray(leaf).tobytes())
for n in (3, 5, 8):
    x = jnp.linspace(0.1, 1, n)
    for out in (jax.grad(f)(x), jax.hessian(f)(x), jax.jit(jax.hessian(f))(x), jax.jacfwd(jax.grad(f))(x)):
        h.update(np.asarray(out).tobytes())
print(json.dumps({"compile_s": total[0], "compilations": total[1], "session_s": time.perf_counter() - t0,
                  "hash": h.hexdigest()[:16]}))
'''

RUN = r'''
import time, json
import jax, jax.numpy as jnp, numpy as np
x = jnp.asarray(np.random.default_rng(0).normal(size=(1000, 1000)))
W = jnp.asarray(np.random.default_rng(1).normal(size=(1000, 1000))) / 30
elementwise = jax.jit(lambda x: jnp.sum(jnp.tanh(x) * jnp.exp(-x * x) + jnp.log1p(x * x)))
mlp_grad = jax.jit(jax.grad(lambda W: jnp.sum(jnp.tanh(x @ W) ** 2)))
def eager_loop(x):
    for _ in range(20):
        x = jnp.tanh(x) * 0.9 + 0.1 * jnp.sin(x)
    return x
out = {}
for name, fn, arg in (("jit elementwise", elementwise, x), ("jit mlp grad", mlp_grad, W), ("eager loop", eager_loop, x)):
    jax.block_until_ready(fn(arg))
    t = time.perf_counter()
    for _ in range(10):
        jax.block_until_ready(fn(arg))
    out[name] = (time.perf_counter() - t) / 10 * 1000
print(json.dumps(out))
'''

BITS = r'''
import hashlib, json
import jax, jax.numpy as jnp, numpy as np, jax.scipy.special as sp
hashes = {}
for dt in (np.float32, np.float64):
    x = jnp.asarray(np.random.default_rng(0).uniform(-3, 3, size=(257, 33)).astype(dt))
    fns = dict(tanh=jnp.tanh, exp=jnp.exp, log=lambda v: jnp.log(jnp.abs(v) + 0.1), log1p=lambda v: jnp.log1p(jnp.abs(v)),
               expm1=jnp.expm1, sin=jnp.sin, cos=jnp.cos, tan=jnp.tan, sigmoid=jax.nn.sigmoid, softplus=jax.nn.softplus,
               erf=sp.erf, logsumexp=lambda v: sp.logsumexp(v, axis=1), softmax=lambda v: jax.nn.softmax(v, axis=1),
               pow=lambda v: jnp.abs(v) ** 1.7, sqrt=lambda v: jnp.sqrt(jnp.abs(v)), rsqrt=lambda v: jax.lax.rsqrt(jnp.abs(v) + 1),
               atan2=lambda v: jnp.arctan2(v, v[::-1]), sum=lambda v: jnp.sum(v * v, axis=0), dot=lambda v: v @ v.T,
               cubic_fd=lambda v: ((v + 1e-4) ** 3 - (v - 1e-4) ** 3) / 2e-4, gelu=jax.nn.gelu, relu=jax.nn.relu,
               logistic=jax.lax.logistic)
    for name, f in fns.items():
        for mode in ("eager", "jit", "grad"):
            out = f(x) if mode == "eager" else jax.jit(f)(x) if mode == "jit" else jax.grad(lambda v: jnp.sum(f(v)))(x)
            hashes[f"{dt.__name__} {name} {mode}"] = hashlib.sha256(np.asarray(out).tobytes()).hexdigest()
print(json.dumps(hashes))
'''


def run(code: str, flags: str) -> dict:
    env = dict(os.environ, XLA_FLAGS=flags, JAX_ENABLE_X64="1", JAX_PLATFORMS="cpu", OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"XLA_FLAGS={flags!r} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from adgrade.runner.limits import _FAST_COMPILE, child_xla_flags

    adgrade_flags = child_xla_flags()
    if _FAST_COMPILE not in adgrade_flags:
        print("this jaxlib does not get the compile-speed flags: nothing to compare")
        return 0
    ways = {"adgrade": adgrade_flags, "without": adgrade_flags.replace(_FAST_COMPILE, "")}
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; adgrade's XLA_FLAGS: {adgrade_flags}", flush=True)
    compiles: dict[str, list[dict]] = {w: [] for w in ways}
    runs: dict[str, list[dict]] = {w: [] for w in ways}
    for r in range(args.rounds):
        for way, flags in ways.items():  # interleaved: a change of load falls on both
            compiles[way].append(run(COMPILE, flags))
            runs[way].append(run(RUN, flags))
            c = compiles[way][-1]
            print(f"round {r + 1} {way:8s} compile {c['compile_s']:5.2f} s ({c['compilations']} programs), "
                  f"session {c['session_s']:5.2f} s, results {c['hash']}; run ms "
                  + ", ".join(f"{k} {v:.1f}" for k, v in runs[way][-1].items()), flush=True)
    print("\nmedians:")
    for way in ways:
        print(f"  {way:8s} compile {statistics.median(c['compile_s'] for c in compiles[way]):5.2f} s, session "
              f"{statistics.median(c['session_s'] for c in compiles[way]):5.2f} s; run ms "
              + ", ".join(f"{k} {statistics.median(r[k] for r in runs[way]):.1f}" for k in runs[way][0]))
    same = {c["hash"] for cs in compiles.values() for c in cs}
    print(f"session results: {'identical' if len(same) == 1 else 'DIFFER'} across flag sets and rounds")
    bits = {way: run(BITS, flags) for way, flags in ways.items()}
    differ = [k for k in bits["adgrade"] if bits["adgrade"][k] != bits["without"][k]]
    print(f"bits: {len(differ)} of {len(bits['adgrade'])} results differ: {', '.join(differ) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
