"""JAX side of `cargo bench --bench shared_weights`: the same 2-20-20-20-1 tanh `u`
evaluated at two points a sample (`loss = mean((u(x) - t)^2 + u(xb)^2)`), the same
inputs and targets formulas, plain SGD (lr 1e-3) on the whole batch, `jit` of one
step; one thread. Run with the compare venv:

    taskset -c 0 benches/compare/.venv/bin/python benches/compare/two_points.py f64
    taskset -c 0 benches/compare/.venv/bin/python benches/compare/two_points.py f32

Prints the median of 5 timed runs (and the fastest) in microseconds a step. The
initial weights differ from symnn's (Glorot from numpy's generator): the time of a
step does not depend on them.
"""
import os, sys, time
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
import jax, jax.numpy as jnp, numpy as np
dtype = sys.argv[1] if len(sys.argv) > 1 else "f64"
if dtype == "f64":
    jax.config.update("jax_enable_x64", True)
dt = jnp.float64 if dtype == "f64" else jnp.float32
rng = np.random.default_rng(1)
def init(shape, fan_in, fan_out):
    lim = np.sqrt(6/(fan_in+fan_out)); return jnp.asarray(rng.uniform(-lim, lim, shape), dt)
P = dict(W1=init((20,2),2,20), b1=jnp.zeros(20,dt), W2=init((20,20),20,20), b2=jnp.zeros(20,dt),
         W3=init((20,20),20,20), b3=jnp.zeros(20,dt), W4=init((1,20),20,1), b4=jnp.zeros((),dt))
def u(p, z):  # z: [n, 2]
    h = jnp.tanh(z @ p["W1"].T + p["b1"]); h = jnp.tanh(h @ p["W2"].T + p["b2"]); h = jnp.tanh(h @ p["W3"].T + p["b3"])
    return (h @ p["W4"].T)[:, 0] + p["b4"]
def loss(p, x, xb, t):
    return jnp.mean((u(p, x) - t) ** 2 + u(p, xb) ** 2)
@jax.jit
def step(p, x, xb, t):
    l, g = jax.value_and_grad(loss)(p, x, xb, t)
    return jax.tree_util.tree_map(lambda a, b: a - 1e-3 * b, p, g), l
for n in [64, 1024]:
    k = np.arange(n * 4)
    X = jnp.asarray(((k * 37 % 101) / 101.0).reshape(n, 4), dt)
    x, xb = X[:, :2], X[:, 2:]
    t = jnp.asarray(((np.arange(n) * 13 % 7) / 7.0), dt)
    p = P
    for _ in range(50):
        p, l = step(p, x, xb, t)
    jax.block_until_ready(p)
    reps = max(200_000 // n, 200)
    best = []
    for r in range(5):
        t0 = time.perf_counter()
        for _ in range(reps):
            p, l = step(p, x, xb, t)
        jax.block_until_ready(p)
        best.append((time.perf_counter() - t0) / reps)
    best.sort()
    print(f"jax {dtype} two points n={n}: median {best[2]*1e6:.2f} us/step ({best[2]*1e6/n:.3f} us/sample), min {best[0]*1e6:.2f}")
