"""JAX's side of the input-Jacobian / Hessian-vector-product comparison (issue 17 item 6).

Same networks, parameters, inputs, targets and tangent as `jac_hvp.rs` /
`jac_hvp_mnist.rs` (closed formulas, see `jac_hvp_common.rs`):

  digits  64-32-10 tanh, softmax cross-entropy (one-hot targets), f64
  mnist   784-128-10 ReLU, sparse softmax cross-entropy (class index), f32

Checks JAX's values against the files symnn wrote to DIR (sample 0's Jacobian and hvp,
the hvp summed over 256 samples), times

  jac_fwd   jit(jacfwd(f, argnums=1))(p, x)              one sample per call
  jac_rev   jit(jacrev(f, argnums=1))(p, x)              one sample per call
  jac_vmap  jit(vmap(jacrev))(p, X) over 256 samples      (ns per sample)
  hvp       jit(jvp(grad(loss), (p,), (v,)))(...)         one sample per call
  hvp_sum   jit(sum(vmap(hvp)))(p, X, T, v)               256 samples per call
  hvp_batch jit(jvp(grad(sum of the 256 losses)))         256 samples per call (same value)

(median over --batches batches; per-sample functions are called on each of the 256
samples in turn, results blocked on at the end of the batch), and prints the table
with symnn's timings from DIR/<net>_symnn.json (the line the Rust example prints).

  JAX_PLATFORMS=cpu XLA_FLAGS=--xla_force_host_platform_device_count=1 \
    taskset -c 0 python jac_hvp.py DIR --net digits
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

BATCH = 256
NETS = {
    "digits": dict(layers=(64, 32, 10), act=jnp.tanh, sparse=False, dtype=np.float64, scale=0.1),
    "mnist": dict(layers=(784, 128, 10), act=jax.nn.relu, sparse=True, dtype=np.float32, scale=0.05),
}


def setup(cfg):
    n_in, n_hid, n_out = cfg["layers"]
    n_p = n_hid * n_in + n_hid + n_out * n_hid + n_out
    k = np.arange(n_p, dtype=np.float64)
    params = cfg["scale"] * np.sin(k + 1)
    v = np.cos(0.3 * k)
    idx = np.arange(BATCH * n_in, dtype=np.float64).reshape(BATCH, n_in)
    x = 0.5 + 0.5 * np.sin(0.7 * idx + 0.3)
    cls = np.arange(BATCH) % 10
    t = cls[:, None].astype(np.float64) if cfg["sparse"] else np.eye(n_out)[cls]
    dt = cfg["dtype"]
    return tuple(jnp.asarray(a.astype(dt)) for a in (params, x, t, v))


def make_fns(cfg):
    n_in, n_hid, n_out = cfg["layers"]
    act = cfg["act"]
    s1, s2, s3 = n_hid * n_in, n_hid * n_in + n_hid, n_hid * n_in + n_hid + n_out * n_hid

    def f(p, x):
        w1 = p[:s1].reshape(n_hid, n_in)
        b1 = p[s1:s2]
        w2 = p[s2:s3].reshape(n_out, n_hid)
        b2 = p[s3:]
        return w2 @ act(w1 @ x + b1) + b2

    def loss(p, x, t):
        z = f(p, x)
        logp = jax.nn.log_softmax(z)
        if cfg["sparse"]:
            return -logp[t[0].astype(jnp.int32)]
        return -jnp.sum(t * logp)

    def hvp(p, x, t, v):
        return jax.jvp(lambda q: jax.grad(loss)(q, x, t), (p,), (v,))[1]

    return dict(
        jac_fwd=jax.jit(jax.jacfwd(f, argnums=1)),
        jac_rev=jax.jit(jax.jacrev(f, argnums=1)),
        jac_vmap=jax.jit(jax.vmap(jax.jacrev(f, argnums=1), in_axes=(None, 0))),
        loss=jax.jit(loss),
        hvp=jax.jit(hvp),
        hvp_sum=jax.jit(lambda p, X, T, v: jnp.sum(jax.vmap(hvp, in_axes=(None, 0, 0, None))(p, X, T, v), axis=0)),
        # The same value as the Hessian of the summed loss times v (one jvp(grad) of
        # the batch loss, matrix-matrix products inside): JAX's natural batched form.
        hvp_batch=jax.jit(lambda p, X, T, v: jax.jvp(
            lambda q: jax.grad(lambda r: jnp.sum(jax.vmap(loss, in_axes=(None, 0, 0))(r, X, T)))(q),
            (p,), (v,))[1]),
    )


def median_ns(batches, calls, fn):
    for i in range(min(calls, 16)):
        fn(i).block_until_ready()
    times = []
    for _ in range(batches):
        t0 = time.perf_counter_ns()
        r = None
        for i in range(calls):
            r = fn(i)
        r.block_until_ready()
        times.append((time.perf_counter_ns() - t0) / calls)
    return float(np.median(times)), float(np.min(times))


def rel(a, b):
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", type=Path)
    ap.add_argument("--net", choices=NETS, default="digits")
    ap.add_argument("--batches", type=int, default=21)
    a = ap.parse_args()
    cfg = NETS[a.net]
    p, X, T, v = setup(cfg)
    fn = make_fns(cfg)
    xs = [X[s] for s in range(BATCH)]
    ts = [T[s] for s in range(BATCH)]

    # Agreement with symnn (files from the Rust example).
    out = {}
    d = a.dir
    jac_f, jac_r = fn["jac_fwd"](p, xs[0]), fn["jac_rev"](p, xs[0])
    out["jac_fwd_vs_rev"] = rel(jac_f, jac_r)
    sym_jac = np.fromfile(d / f"{a.net}_jac.f64", dtype="<f8")
    out["jac_rel"] = rel(sym_jac, jac_r)
    sym_hvp = np.fromfile(d / f"{a.net}_hvp.f64", dtype="<f8")
    h0 = fn["hvp"](p, xs[0], ts[0], v)
    out["hvp_rel"] = rel(sym_hvp[:-1], h0)
    out["loss_rel"] = rel(sym_hvp[-1:], fn["loss"](p, xs[0], ts[0]))
    sym_sum = np.fromfile(d / f"{a.net}_hvpsum.f64", dtype="<f8")
    out["hvp_sum_rel"] = rel(sym_sum, fn["hvp_sum"](p, X, T, v))
    out["hvp_batch_rel"] = rel(sym_sum, fn["hvp_batch"](p, X, T, v))

    b = a.batches
    out["jax_jac_fwd_ns"] = median_ns(b, BATCH, lambda s: fn["jac_fwd"](p, xs[s]))
    out["jax_jac_rev_ns"] = median_ns(b, BATCH, lambda s: fn["jac_rev"](p, xs[s]))
    m, lo = median_ns(b, 4, lambda s: fn["jac_vmap"](p, X))
    out["jax_jac_vmap_ns"] = (m / BATCH, lo / BATCH)
    out["jax_hvp_ns"] = median_ns(b, BATCH, lambda s: fn["hvp"](p, xs[s], ts[s], v))
    out["jax_hvp_sum256_ns"] = median_ns(b, 4, lambda s: fn["hvp_sum"](p, X, T, v))
    out["jax_hvp_batch256_ns"] = median_ns(b, 4, lambda s: fn["hvp_batch"](p, X, T, v))
    print(json.dumps(out))

    sym_path = d / f"{a.net}_symnn.json"
    if sym_path.exists():
        sy = json.loads(sym_path.read_text().strip().splitlines()[-1])
        rows = [
            ("input_jacobian / sample", sy["jac_ns"], "jacfwd", out["jax_jac_fwd_ns"][0], out["jac_rel"]),
            ("input_jacobian / sample", sy["jac_ns"], "jacrev", out["jax_jac_rev_ns"][0], out["jac_rel"]),
            ("input_jacobian / sample", sy["jac_ns"], "vmap(jacrev) /256", out["jax_jac_vmap_ns"][0], out["jac_rel"]),
            ("hvp / sample", sy["hvp_ns"], "jvp(grad)", out["jax_hvp_ns"][0], out["hvp_rel"]),
            ("hvp summed over 256", sy["hvp_sum256_ns"], "sum(vmap(jvp(grad)))", out["jax_hvp_sum256_ns"][0], out["hvp_sum_rel"]),
            ("hvp summed over 256", sy["hvp_sum256_ns"], "jvp(grad(sum loss))", out["jax_hvp_batch256_ns"][0], out["hvp_batch_rel"]),
        ]
        print(f"| {a.net} | symnn ns | JAX | JAX ns | JAX/symnn | max rel diff |")
        print("|---|---:|---|---:|---:|---:|")
        for name, s_ns, jname, j_ns, r in rows:
            print(f"| {name} | {s_ns:,.0f} | {jname} | {j_ns:,.0f} | {j_ns / s_ns:.2f} | {r:.1e} |")


if __name__ == "__main__":
    main()
