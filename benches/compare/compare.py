#!/usr/bin/env python3
"""Train the networks of symnn's benches with JAX and PyTorch, for docs/PERFORMANCE.md.

Run by hand through `benches/compare/run.sh` (it makes the venv); not part of CI or
`cargo test`. See benches/compare/README.md.

Benchmarks (`--only` picks one):

  small   2-8-8-1 tanh, MSE, f64, per-sample SGD (lr 0.05) on 256 seeded synthetic
          samples: ns per sample.
  digits  64-32-10 tanh + softmax cross-entropy, f64, on the 1,797 `digits` images
          (pixels / 16): per-sample SGD and minibatch-32 SGD (lr 0.1): ns per sample.
  mnist   784-128-10 ReLU + softmax cross-entropy, f32, SGD lr 0.1, batch 64, one epoch
          of the 60,000 MNIST training images (pixels / 255): s per epoch and GFLOP/s
          (409,000 FLOP per sample).
  pinn    (only with `--only pinn`) examples/pinn.rs's 2-20-20-20-1 tanh Poisson PINN,
          f32, full-batch Adam on 1,024 samples: symnn (the `pinn_compare` example,
          built with cargo) against JAX (nested jvp and trace(hessian) Laplacians):
          loss and gradient agreement (f64 and f32), then ms per step.
  node    (only with `--only node`; node.py) examples/neural_ode.rs's neural ODE, a
          2-16-2 tanh field integrated with H RK4 steps, Adam on minibatches of 32
          trajectories: symnn (the `node_compare` example) against JAX (`lax.scan` +
          `grad` + `jit`): loss, gradient and Adam agreement in f64, then ms per step.

JAX runs each epoch as one `jax.jit` call (`lax.scan` over the batches); PyTorch runs
the usual eager loop (`zero_grad`, forward, `backward`, `optimizer.step()`). Both start
from the same Glorot-uniform parameters (drawn once with NumPy, biases zero), visit the
data in the same fixed order (no shuffling) and use the same learning rates, so their
losses after the first epoch agree (to rounding); the table prints them.

Each (benchmark, tool, thread count) runs in its own process, pinned with `taskset`
(`-c 0` for 1 thread, `-c 0,1` for 2). JAX on 1 thread also gets
`XLA_FLAGS=--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1`; PyTorch
gets `torch.set_num_threads(n)`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_DATA = REPO / "symnn-runtime" / "data"

MNIST_FLOP_PER_SAMPLE = 409_000  # forward + backward of 784-128-10, as issue 7 defines it

# ---------------------------------------------------------------------------------------
# Benchmark definitions
# ---------------------------------------------------------------------------------------

# name -> (layers, hidden activation, loss, dtype, lr, batch, data set)
CASES = {
    "small": dict(layers=[2, 8, 8, 1], act="tanh", loss="mse", dtype="float64", lr=0.05,
                  batch=1, data="small", unit="ns/sample"),
    "digits-b1": dict(layers=[64, 32, 10], act="tanh", loss="xent", dtype="float64",
                      lr=0.1, batch=1, data="digits", unit="ns/sample"),
    "digits-b32": dict(layers=[64, 32, 10], act="tanh", loss="xent", dtype="float64",
                       lr=0.1, batch=32, data="digits", unit="ns/sample"),
    "mnist": dict(layers=[784, 128, 10], act="relu", loss="xent", dtype="float32", lr=0.1,
                  batch=64, data="mnist", unit="s/epoch"),
}
GROUPS = {"small": ["small"], "digits": ["digits-b1", "digits-b32"], "mnist": ["mnist"]}

# Timed repetitions: (warm-up epochs, timed measurements, epochs per measurement) per
# tool. JAX's small epochs are ~0.3 ms, so several are dispatched per measurement
# (asynchronously, one block at the end) to keep the timer's overhead out.
REPS = {
    # full run
    ("small", "jax"): (3, 30, 20), ("small", "torch"): (1, 15, 1),
    ("digits-b1", "jax"): (2, 30, 2), ("digits-b1", "torch"): (1, 10, 1),
    ("digits-b32", "jax"): (3, 30, 20), ("digits-b32", "torch"): (1, 15, 1),
    ("mnist", "jax"): (2, 30, 1), ("mnist", "torch"): (1, 30, 1),
}
QUICK_REPS = {k: (1, 3, 1) for k in REPS}
# The timed loop stops early once it has run MIN_MEASUREMENTS and BUDGET_S seconds (set
# by --budget; a 2-thread run on a loaded 2-core machine can be 20x slower than usual).
MIN_MEASUREMENTS = 10
BUDGET_S = 240.0


# ---------------------------------------------------------------------------------------
# Data (NumPy; identical arrays for both tools)
# ---------------------------------------------------------------------------------------


def data_small():
    """256 samples, x ~ U(-1, 1)^2 (NumPy PCG64, seed 7), t = sin(pi a) cos(pi b) / 2."""
    rng = np.random.default_rng(7)
    x = rng.uniform(-1.0, 1.0, size=(256, 2))
    t = 0.5 * np.sin(np.pi * x[:, 0]) * np.cos(np.pi * x[:, 1])
    return x, t[:, None], None


def data_digits(data_dir: Path):
    with gzip.open(data_dir / "digits.csv.gz", "rt") as f:
        a = np.loadtxt(f, delimiter=",")
    x = a[:, :64] / 16.0
    labels = a[:, 64].astype(np.int64)
    assert x.shape == (1797, 64) and labels.max() == 9
    return x, np.eye(10)[labels], labels


def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, = struct.unpack(">I", raw[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def data_mnist(data_dir: Path):
    images = read_idx(data_dir / "mnist" / "train-images-idx3-ubyte.gz")
    labels = read_idx(data_dir / "mnist" / "train-labels-idx1-ubyte.gz").astype(np.int64)
    x = images.reshape(len(images), 784).astype(np.float32) / np.float32(255.0)
    assert x.shape == (60000, 784) and labels.shape == (60000,)
    return x, np.eye(10, dtype=np.float32)[labels], labels


def load_data(case: dict, data_dir: Path):
    d = case["data"]
    if d == "small":
        x, t, labels = data_small()
    elif d == "digits":
        x, t, labels = data_digits(data_dir)
    else:
        x, t, labels = data_mnist(data_dir)
    dt = np.dtype(case["dtype"])
    return x.astype(dt), t.astype(dt), labels


def glorot_params(layers, dtype, seed=42):
    """[(W (out, in), b (out,))...]: W ~ U(-a, a), a = sqrt(6 / (in + out)); b = 0."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(layers[:-1], layers[1:]):
        a = np.sqrt(6.0 / (fan_in + fan_out))
        w = rng.uniform(-a, a, size=(fan_out, fan_in)).astype(dtype)
        params.append((w, np.zeros(fan_out, dtype=dtype)))
    return params


def split_batches(n, batch):
    """(number of full batches, size of the last partial batch or 0)."""
    return n // batch, n % batch


# ---------------------------------------------------------------------------------------
# JAX
# ---------------------------------------------------------------------------------------


def run_jax(case, x, t, labels, init, reps):
    if case["dtype"] == "float64":
        os.environ.setdefault("JAX_ENABLE_X64", "1")
    import jax
    import jax.numpy as jnp
    from jax import lax

    if case["dtype"] == "float64":
        jax.config.update("jax_enable_x64", True)
    act = {"tanh": jnp.tanh, "relu": jax.nn.relu}[case["act"]]
    lr = case["lr"]
    batch = case["batch"]

    def forward(params, xb):
        h = xb
        for i, (w, b) in enumerate(params):
            h = h @ w.T + b
            if i + 1 < len(params):
                h = act(h)
        return h

    def loss_fn(params, xb, tb):
        z = forward(params, xb)
        if case["loss"] == "mse":
            return jnp.mean((z - tb) ** 2)
        return -jnp.mean(jnp.sum(tb * jax.nn.log_softmax(z), axis=-1))

    grad_fn = jax.grad(loss_fn)

    def step(params, xb, tb):
        g = grad_fn(params, xb, tb)
        return jax.tree_util.tree_map(lambda p, gp: p - lr * gp, params, g)

    n = len(x)
    nb, rem = split_batches(n, batch)
    xs = jnp.asarray(x[: nb * batch].reshape(nb, batch, -1))
    ts = jnp.asarray(t[: nb * batch].reshape(nb, batch, -1))
    xr = jnp.asarray(x[nb * batch:])
    tr = jnp.asarray(t[nb * batch:])

    @jax.jit
    def epoch(params, xs, ts, xr, tr):
        def body(p, xt):
            return step(p, xt[0], xt[1]), None

        params, _ = lax.scan(body, params, (xs, ts))
        if rem:
            params = step(params, xr, tr)
        return params

    @jax.jit
    def evaluate(params, x, t):
        z = forward(params, x)
        if case["loss"] == "mse":
            return jnp.mean((z - t) ** 2), jnp.float32(-1)
        loss = -jnp.mean(jnp.sum(t * jax.nn.log_softmax(z), axis=-1))
        acc = jnp.mean(jnp.argmax(z, axis=-1) == jnp.argmax(t, axis=-1))
        return loss, acc

    params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in init]
    xall, tall = jnp.asarray(x), jnp.asarray(t)
    warm, count, inner = reps
    first = None
    for i in range(warm):
        params = epoch(params, xs, ts, xr, tr)
        jax.block_until_ready(params)
        if i == 0:
            first = [float(v) for v in evaluate(params, xall, tall)]
    times = []
    budget_end = time.perf_counter() + BUDGET_S
    for i in range(count):
        if i >= MIN_MEASUREMENTS and time.perf_counter() > budget_end:
            break
        t0 = time.perf_counter()
        for _ in range(inner):
            params = epoch(params, xs, ts, xr, tr)
        jax.block_until_ready(params)
        times.append((time.perf_counter() - t0) / inner)
    last = [float(v) for v in evaluate(params, xall, tall)]
    epochs = warm + len(times) * inner
    from importlib.metadata import version as pkg_version
    version = f"jax {jax.__version__} (jaxlib {pkg_version('jaxlib')}, {jax.default_backend()})"
    return times, first, last, epochs, version


# ---------------------------------------------------------------------------------------
# PyTorch (eager)
# ---------------------------------------------------------------------------------------


def run_torch(case, x, t, labels, init, reps, threads):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    dtype = {"float64": torch.float64, "float32": torch.float32}[case["dtype"]]
    layers = []
    for i, (w, b) in enumerate(init):
        lin = torch.nn.Linear(w.shape[1], w.shape[0], dtype=dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if i + 1 < len(init):
            layers.append(torch.nn.Tanh() if case["act"] == "tanh" else torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=case["lr"])

    xall = torch.from_numpy(x)
    if case["loss"] == "mse":
        tall = torch.from_numpy(t)
        loss_fn = F.mse_loss
    else:
        tall = torch.from_numpy(labels)  # class indices: the idiomatic (and faster) form
        loss_fn = F.cross_entropy
    # Batches split beforehand (views), so the timed loop is only the training step.
    batches = list(zip(torch.split(xall, case["batch"]), torch.split(tall, case["batch"])))

    def epoch():
        for xb, tb in batches:
            opt.zero_grad()
            loss = loss_fn(model(xb), tb)
            loss.backward()
            opt.step()

    def evaluate():
        with torch.no_grad():
            z = model(xall)
            loss = float(loss_fn(z, tall))
            acc = -1.0 if case["loss"] == "mse" else float((z.argmax(1) == tall).double().mean())
        return [loss, acc]

    warm, count, inner = reps
    first = None
    for i in range(warm):
        epoch()
        if i == 0:
            first = evaluate()
    times = []
    budget_end = time.perf_counter() + BUDGET_S
    for i in range(count):
        if i >= MIN_MEASUREMENTS and time.perf_counter() > budget_end:
            break
        t0 = time.perf_counter()
        for _ in range(inner):
            epoch()
        times.append((time.perf_counter() - t0) / inner)
    last = evaluate()
    epochs = warm + len(times) * inner
    version = f"torch {torch.__version__} (eager, {torch.get_num_threads()} threads)"
    return times, first, last, epochs, version


# ---------------------------------------------------------------------------------------
# PINN (`--only pinn`): examples/pinn.rs's Poisson network against JAX
# ---------------------------------------------------------------------------------------

# 2-20-20-20-1 tanh, loss = (-Δu(x) - f(x))² + u(xb)², mean over 1,024 samples (one
# interior and one boundary point each), full-batch Adam with symnn's defaults.
PINN_LAYERS = [2, 20, 20, 20, 1]
PINN_SAMPLES = 1024
PINN_BOUNDARY = 256
PINN_LR = 1e-3
PINN_CHECK_STEPS = 100
# (steps per measurement, measurements) per timed configuration; --quick: (10, 3).
PINN_REPS = {"jvp": (100, 20), "hessian": (20, 10), "batch": (100, 20), "sample": (10, 10),
             "split2": (100, 20), "trainer1": (100, 20), "trainer2": (100, 20)}


def pinn_inputs():
    """Glorot-uniform parameters (NumPy seed 42, biases zero) flattened in symnn's
    storage order (W1 row-major (out, in), b1, W2, b2, ...; b4 a scalar), and 1,024
    rows `x0 x1 xb0 xb1`: interior points U(0,1)² and 256 boundary points (NumPy seed
    17; point k on side k % 4: y=0, y=1, x=0, x=1), interior point k paired with
    boundary point k % 256, as examples/pinn.rs pairs them. Both float64."""
    flat = []
    for w, b in glorot_params(PINN_LAYERS, np.float64, seed=42):
        flat += [w.ravel(), b]
    params = np.concatenate(flat)
    rng = np.random.default_rng(17)
    interior = rng.uniform(0.0, 1.0, size=(PINN_SAMPLES, 2))
    s = rng.uniform(0.0, 1.0, size=PINN_BOUNDARY)
    side = np.arange(PINN_BOUNDARY) % 4
    zero, one = np.zeros(PINN_BOUNDARY), np.ones(PINN_BOUNDARY)
    bx = np.select([side == 0, side == 1, side == 2], [s, s, zero], one)
    by = np.select([side == 0, side == 1, side == 2], [zero, one, s], s)
    boundary = np.stack([bx, by], axis=1)
    points = np.concatenate([interior, boundary[np.arange(PINN_SAMPLES) % PINN_BOUNDARY]],
                            axis=1)
    return params, points


def pinn_jax(dtype_name, lap):
    """(loss_and_grad(params, points), adam_steps(state, points, steps)) for JAX."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    dt = jnp.dtype(dtype_name)
    shapes = []
    for fan_in, fan_out in zip(PINN_LAYERS[:-1], PINN_LAYERS[1:]):
        shapes += [(fan_out, fan_in), (fan_out,)]
    shapes[-1] = ()  # b4 is a scalar

    def unflatten(p):
        out, k = [], 0
        for sh in shapes:
            n = int(np.prod(sh))
            out.append(p[k:k + n].reshape(sh))
            k += n
        return out

    def u(p, z):
        w1, b1, w2, b2, w3, b3, w4, b4 = unflatten(p)
        h = jnp.tanh(w1 @ z + b1)
        h = jnp.tanh(w2 @ h + b2)
        h = jnp.tanh(w3 @ h + b3)
        return jnp.sum(w4 @ h) + b4

    def laplacian_jvp(p, x):
        total = 0.0
        for i in range(2):
            e = jnp.zeros(2, dt).at[i].set(1)
            du = lambda z: jax.jvp(lambda y: u(p, y), (z,), (e,))[1]
            total = total + jax.jvp(du, (x,), (e,))[1]
        return total

    def laplacian_hessian(p, x):
        return jnp.trace(jax.hessian(lambda z: u(p, z))(x))

    laplacian = {"jvp": laplacian_jvp, "hessian": laplacian_hessian}[lap]

    def sample_loss(p, row):
        x, xb = row[:2], row[2:]
        f = 2.0 * 9.869604401089358 * jnp.sin(3.141592653589793 * x[0]) \
            * jnp.sin(3.141592653589793 * x[1])
        return (-laplacian(p, x) - f) ** 2 + u(p, xb) ** 2

    def mean_loss(p, points):
        return jnp.mean(jax.vmap(sample_loss, in_axes=(None, 0))(p, points))

    loss_and_grad = jax.jit(jax.value_and_grad(mean_loss))

    # symnn-runtime/src/optim.rs's Adam, operation for operation: running products
    # beta^t, m_hat = m / (1 - beta1^t), p -= lr * m_hat / (sqrt(v_hat) + eps).
    lr, b1, b2, eps = (jnp.asarray(v, dt) for v in (PINN_LR, 0.9, 0.999, 1e-8))
    one = jnp.asarray(1, dt)

    def adam(state, points):
        p, m, v, b1t, b2t = state
        loss, g = jax.value_and_grad(mean_loss)(p, points)
        b1t, b2t = b1t * b1, b2t * b2
        m = b1 * m + (one - b1) * g
        v = b2 * v + (one - b2) * g * g
        p = p - lr * (m / (one - b1t)) / (jnp.sqrt(v / (one - b2t)) + eps)
        return (p, m, v, b1t, b2t), loss

    def adam_steps(state, points, steps):
        return lax.scan(lambda st, _: adam(st, points), state, None, length=steps)

    adam_steps = jax.jit(adam_steps, static_argnums=2)

    def start(params):
        p = jnp.asarray(params, dt)
        return (p, jnp.zeros_like(p), jnp.zeros_like(p), one, one)

    return loss_and_grad, adam_steps, start, jax.jit(mean_loss)


def pinn_worker_jax(args):
    """--worker --case pinn --tool jax: `--pinn-mode check-<dtype>` or `time-<lap>`."""
    if args.pinn_mode.endswith("float64"):
        import jax
        jax.config.update("jax_enable_x64", True)
    import jax
    from importlib.metadata import version as pkg_version
    d = Path(args.pinn_dir)
    params = np.fromfile(d / "params.f64", dtype="<f8")
    points = np.fromfile(d / "points.f64", dtype="<f8").reshape(PINN_SAMPLES, 4)
    version = f"jax {jax.__version__} (jaxlib {pkg_version('jaxlib')}, {jax.default_backend()})"
    out = dict(case="pinn", tool="jax", threads=args.threads, version=version,
               mode=args.pinn_mode, affinity=sorted(os.sched_getaffinity(0)))
    if args.pinn_mode.startswith("check-"):
        dtype = args.pinn_mode[len("check-"):]
        pts = points.astype(dtype)
        for lap in ["jvp", "hessian"]:
            loss_and_grad, adam_steps, start, mean_loss = pinn_jax(dtype, lap)
            loss, grad = loss_and_grad(start(params)[0], pts)
            np.asarray(grad, dtype=np.float64).tofile(d / f"jax_grad_{dtype}_{lap}.f64")
            state, losses = adam_steps(start(params), pts, PINN_CHECK_STEPS)
            final = float(mean_loss(state[0], pts))
            out[lap] = dict(loss=float(loss), losses=[float(v) for v in losses] + [final])
            if dtype == "float64":
                np.asarray(state[0]).tofile(d / f"jax_params_f64_trained_{lap}.f64")
    else:
        lap = args.pinn_mode[len("time-"):]
        steps, reps = (10, 3) if args.quick else PINN_REPS[lap]
        _, adam_steps, start, _ = pinn_jax("float32", lap)
        pts = jax.numpy.asarray(points.astype(np.float32))
        state = start(params)
        for _ in range(2):  # compile, then one more warm-up call
            state, losses = adam_steps(state, pts, steps)
            jax.block_until_ready(state)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            state, losses = adam_steps(state, pts, steps)
            jax.block_until_ready(state)
            times.append((time.perf_counter() - t0) / steps)
        out.update(step_s=times, steps_per_measurement=steps, steps_trained=steps * (reps + 2),
                   last_loss=float(losses[-1]))
    print("RESULT " + json.dumps(out), flush=True)


def symnn_binary(args) -> Path:
    if args.symnn_bin:
        return Path(args.symnn_bin)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    cmd = ["cargo", "build", "--release", "--features", "compare", "--example", "pinn_compare"]
    print(f"building: {' '.join(cmd)}", file=sys.stderr, flush=True)
    subprocess.run(cmd, cwd=REPO, check=True)
    return target / "release" / "examples" / "pinn_compare"


def spawn_pinn(tool, threads, mode, args, binary):
    """One pinned process of the pinn group: symnn's binary or a JAX worker."""
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    if tool == "symnn":
        if mode == "check":
            cmd = [str(binary), "check", str(args.pinn_dir), str(PINN_CHECK_STEPS)]
        else:
            steps, reps = (10, 3) if args.quick else PINN_REPS[mode]
            cmd = [str(binary), "time", str(args.pinn_dir), mode, str(steps), str(reps)]
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--case", "pinn",
               "--tool", tool, "--threads", str(threads), "--pinn-dir", str(args.pinn_dir),
               "--pinn-mode", mode]
        if args.quick:
            cmd.append("--quick")
        if threads == 1:
            env["XLA_FLAGS"] = ("--xla_cpu_multi_thread_eigen=false "
                                "intra_op_parallelism_threads=1")
    cpus = "0" if threads == 1 else ",".join(str(i) for i in range(threads))
    if shutil.which("taskset") and (os.cpu_count() or 1) >= threads:
        cmd = ["taskset", "-c", cpus] + cmd
    load_before = loadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"pinn process failed: {' '.join(cmd)} (exit {proc.returncode})")
    res = json.loads(lines[-1][len("RESULT "):])
    res.update(tool=tool, threads=threads, mode=mode, load_before=load_before,
               load_after=loadavg(), wall_s=wall,
               command=(f"XLA_FLAGS='{env['XLA_FLAGS']}' " if "XLA_FLAGS" in env else "")
               + " ".join(cmd))
    return res


def rel(a, b):
    """max |a - b| / max |b| over arrays (or scalars)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def run_pinn(args):
    if args.pinn_dir is None:
        import tempfile
        args.pinn_dir = tempfile.mkdtemp(prefix="symnn-pinn-")
    d = Path(args.pinn_dir)
    d.mkdir(parents=True, exist_ok=True)
    params, points = pinn_inputs()
    params.astype("<f8").tofile(d / "params.f64")
    points.astype("<f8").tofile(d / "points.f64")
    binary = symnn_binary(args)
    tools = [args.tool] if args.tool else ["symnn", "jax"]
    if "torch" in tools:
        raise SystemExit("pinn: PyTorch is not implemented yet (README.md, pinn group)")
    results = []

    # Correctness: loss and gradient at the start (f64 and f32), and the Adam trajectory.
    check = {}
    if not args.no_check:
        print(f"pinn check (load {loadavg()}) ...", file=sys.stderr, flush=True)
        check["symnn"] = spawn_pinn("symnn", 1, "check", args, binary)
        for dtype in ["float64", "float32"]:
            check[dtype] = spawn_pinn("jax", 1, f"check-{dtype}", args, binary)
        print_pinn_check(check, d)

    # Timing, all in this one run: (tool, threads, mode) in a fixed interleaved order.
    plan = []
    for threads in ([args.threads] if args.threads else [1, 2]):
        if "symnn" in tools:
            plan += [("symnn", threads, m) for m in
                     (["batch", "sample", "trainer1"] if threads == 1
                      else ["split2", "trainer2"])]
        if "jax" in tools:
            plan += [("jax", threads, f"time-{lap}") for lap in ["jvp", "hessian"]]
    for tool, threads, mode in plan:
        print(f"running pinn {tool} {mode} threads={threads} (load {loadavg()}) ...",
              file=sys.stderr, flush=True)
        r = spawn_pinn(tool, threads, mode, args, binary)
        results.append(r)
        print(f"  {np.median(r['step_s']) * 1e3:.3f} ms/step  wall {r['wall_s']:.1f} s",
              file=sys.stderr, flush=True)
    if results:
        print_pinn_table(results, check.get("symnn", {}).get("gradient_ops")
                         or results[0].get("gradient_ops"))
    if args.json:
        meta = dict(date=time.strftime("%Y-%m-%d %H:%M:%S %Z"), quick=args.quick,
                    python=platform.python_version(), numpy=np.__version__,
                    pinn_dir=str(d))
        Path(args.json).write_text(json.dumps(dict(meta=meta, check=check, results=results),
                                              indent=1))


def print_pinn_check(check, d):
    s = check["symnn"]
    print()
    print(f"PINN correctness ({s['num_params']} parameters, {PINN_SAMPLES} samples, "
          f"files in {d}):")
    print()
    print("| quantity | symnn | JAX nested jvp | JAX trace(hessian) | max rel. diff |")
    print("|---|---:|---:|---:|---:|")
    j64, j32 = check["float64"], check["float32"]
    sg = np.fromfile(d / "symnn_grad_f64.f64")
    sgb = np.fromfile(d / "symnn_grad_f64_batch.f64")
    jg = {lap: np.fromfile(d / f"jax_grad_float64_{lap}.f64") for lap in ["jvp", "hessian"]}
    print(f"| f64 mean loss at start | {s['f64_loss_sample']:.17g} | {j64['jvp']['loss']:.17g} "
          f"| {j64['hessian']['loss']:.17g} | "
          f"{max(rel(s['f64_loss_sample'], j64[l]['loss']) for l in jg):.2e} |")
    print(f"| f64 gradient at start (1-sample path), max over params | ‖g‖∞ = "
          f"{np.max(np.abs(sg)):.6g} | | | {max(rel(sg, jg[l]) for l in jg):.2e} |")
    print(f"| f64 gradient at start (block path) | | | | {max(rel(sgb, jg[l]) for l in jg):.2e} "
          f"(vs 1-sample: {s['f64_batch_vs_sample_grad_rel']:.2e}) |")
    print(f"| f64 loss at start, block path | {s['f64_loss_batch']:.17g} | | | "
          f"{rel(s['f64_loss_batch'], j64['jvp']['loss']):.2e} |")
    n = PINN_CHECK_STEPS
    print(f"| f64 loss after {n} Adam steps | {s['f64_losses'][-1]:.17g} | "
          f"{j64['jvp']['losses'][-1]:.17g} | {j64['hessian']['losses'][-1]:.17g} | "
          f"{max(rel(s['f64_losses'][-1], j64[l]['losses'][-1]) for l in jg):.2e} |")
    sp = np.fromfile(d / "symnn_params_f64_trained.f64")
    jp = {l: np.fromfile(d / f"jax_params_f64_trained_{l}.f64") for l in jg}
    print(f"| f64 parameters after {n} Adam steps | | | | "
          f"{max(rel(sp, jp[l]) for l in jg):.2e} |")
    sg32 = np.fromfile(d / "symnn_grad_f32.f64")
    jg32 = {l: np.fromfile(d / f"jax_grad_float32_{l}.f64") for l in jg}
    print(f"| f32 mean loss at start | {s['f32_loss']:.8g} | {j32['jvp']['loss']:.8g} | "
          f"{j32['hessian']['loss']:.8g} | "
          f"{max(rel(s['f32_loss'], j32[l]['loss']) for l in jg):.2e} |")
    print(f"| f32 gradient at start (block path) | | | | "
          f"{max(rel(sg32, jg32[l]) for l in jg):.2e} |")
    for k in [10, n]:
        print(f"| f32 loss after {k} Adam steps (block path) | {s['f32_losses_batch'][k]:.6g} "
              f"| {j32['jvp']['losses'][k]:.6g} | {j32['hessian']['losses'][k]:.6g} | "
              f"{max(rel(s['f32_losses_batch'][k], j32[l]['losses'][k]) for l in jg):.2e} |")
    print(f"| f32 loss after {n} Adam steps (1-sample path) | "
          f"{s['f32_losses_sample'][-1]:.6g} | | | "
          f"{rel(s['f32_losses_sample'][-1], j32['jvp']['losses'][-1]):.2e} |")
    print()
    print(f"  {check['float64']['version']}; symnn COST.gradient_ops = {s['gradient_ops']} "
          f"per sample")
    for c in check.values():
        print(f"  {c['command']}")


PINN_TITLES = {
    "batch": "symnn `accumulate_gradient_batch_slice` + Adam",
    "sample": "symnn `accumulate_gradient_slice` × 1,024 + Adam",
    "trainer1": "symnn `Trainer` (batch 1,024, `threads(1)`)",
    "trainer2": "symnn `Trainer` (batch 1,024, `threads(2)`)",
    "split2": "symnn block path, 2 halves on `thread::scope` + Adam",
    "time-jvp": "JAX jit + scan, nested `jvp`",
    "time-hessian": "JAX jit + scan, `trace(jax.hessian)`",
}


def print_pinn_table(results, gradient_ops):
    print()
    print("| configuration | threads | median ms/step | min–max | GFLOP/s | × JAX best | "
          "measurements × steps | load before → after |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    best_jax = {}
    for r in results:
        if r["tool"] == "jax":
            m = float(np.median(r["step_s"]))
            best_jax[r["threads"]] = min(best_jax.get(r["threads"], m), m)
    for r in results:
        med = float(np.median(r["step_s"]))
        gflops = gradient_ops * PINN_SAMPLES / med / 1e9
        ratio = f"{med / best_jax[r['threads']]:.2f}" if r["threads"] in best_jax else ""
        print(f"| {PINN_TITLES[r['mode']]} | {r['threads']} | {med * 1e3:.3f} | "
              f"{min(r['step_s']) * 1e3:.3f}–{max(r['step_s']) * 1e3:.3f} | {gflops:.2f} | "
              f"{ratio} | {len(r['step_s'])} × {r.get('steps_per_measurement') or r['steps_trained'] // (len(r['step_s']) + 1)} | "
              f"{r['load_before']} → {r['load_after']} |")
    print()
    print(f"GFLOP/s = COST.gradient_ops ({gradient_ops}) × {PINN_SAMPLES} / median step time "
          f"(symnn's op count for both tools).")
    print("Versions:")
    for v in sorted({r["version"] for r in results if "version" in r}):
        print(f"  {v}")
    print(f"  python {platform.python_version()}, numpy {np.__version__}, "
          f"{platform.machine()}, {os.cpu_count()} CPUs; symnn ISA "
          f"{next((r['isa'] for r in results if 'isa' in r), '?')}")
    print()
    print("Commands (one process each):")
    for r in results:
        print(f"  {r['command']}")


# ---------------------------------------------------------------------------------------
# Worker: one (case, tool, threads) in this process; prints one JSON line
# ---------------------------------------------------------------------------------------


def worker(args):
    if args.case == "pinn":
        pinn_worker_jax(args)
        return
    case = CASES[args.case]
    data_dir = Path(args.data)
    x, t, labels = load_data(case, data_dir)
    init = glorot_params(case["layers"], np.dtype(case["dtype"]))
    reps = (QUICK_REPS if args.quick else REPS)[(args.case, args.tool)]
    global MIN_MEASUREMENTS, BUDGET_S
    MIN_MEASUREMENTS = min(MIN_MEASUREMENTS, reps[1])
    BUDGET_S = args.budget
    if args.tool == "jax":
        times, first, last, epochs, version = run_jax(case, x, t, labels, init, reps)
    else:
        times, first, last, epochs, version = run_torch(case, x, t, labels, init, reps,
                                                        args.threads)
    n = len(x)
    med = float(np.median(times))
    out = dict(case=args.case, tool=args.tool, threads=args.threads, samples=n,
               epoch_s_median=med, epoch_s_min=float(min(times)),
               epoch_s_max=float(max(times)), measurements=len(times),
               epochs_per_measurement=reps[2], epochs_trained=epochs,
               loss_after_epoch1=first[0], acc_after_epoch1=first[1],
               loss_final=last[0], acc_final=last[1], version=version,
               affinity=sorted(os.sched_getaffinity(0)))
    print("RESULT " + json.dumps(out), flush=True)


# ---------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def spawn(case, tool, threads, args):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--case", case,
           "--tool", tool, "--threads", str(threads), "--data", str(args.data),
           "--budget", str(args.budget)]
    if args.quick:
        cmd.append("--quick")
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    if tool == "jax" and threads == 1:
        env["XLA_FLAGS"] = ("--xla_cpu_multi_thread_eigen=false "
                            "intra_op_parallelism_threads=1")
    if tool == "torch":
        env["OMP_NUM_THREADS"] = str(threads)
    cpus = "0" if threads == 1 else ",".join(str(i) for i in range(threads))
    if shutil.which("taskset") and (os.cpu_count() or 1) >= threads:
        cmd = ["taskset", "-c", cpus] + cmd
    load_before = loadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"worker failed: {' '.join(cmd)} (exit {proc.returncode})")
    res = json.loads(lines[-1][len("RESULT "):])
    res.update(load_before=load_before, load_after=loadavg(), wall_s=wall,
               command=(f"XLA_FLAGS='{env['XLA_FLAGS']}' " if "XLA_FLAGS" in env else "")
               + (f"OMP_NUM_THREADS={env['OMP_NUM_THREADS']} " if tool == "torch" else "")
               + " ".join(cmd))
    return res


def fmt_value(res):
    if res["case"] == "mnist":
        return f"{res['epoch_s_median']:.3f} s"
    return f"{res['epoch_s_median'] / res['samples'] * 1e9:,.0f} ns"


def fmt_range(res):
    lo, hi = res["epoch_s_min"], res["epoch_s_max"]
    if res["case"] == "mnist":
        return f"{lo:.3f}–{hi:.3f} s"
    n = res["samples"]
    return f"{lo / n * 1e9:,.0f}–{hi / n * 1e9:,.0f}"


def fmt_quality(loss, acc):
    s = f"{loss:.6g}"
    if acc >= 0:
        s += f" / {acc * 100:.2f} %"
    return s


TITLES = {
    "small": "2-8-8-1 tanh MSE f64, batch 1",
    "digits-b1": "64-32-10 tanh xent f64, batch 1",
    "digits-b32": "64-32-10 tanh xent f64, batch 32",
    "mnist": "784-128-10 ReLU xent f32, batch 64",
}


def print_table(results):
    print()
    print("| benchmark | tool | threads | median | min–max | GFLOP/s | timed × epochs (total) | "
          "loss / acc after epoch 1 | loss / acc at end | load before → after |")
    print("|---|---|---:|---:|---:|---:|---:|---|---|---|")
    for r in results:
        gflops = ""
        if r["case"] == "mnist":
            gflops = f"{r['samples'] * MNIST_FLOP_PER_SAMPLE / r['epoch_s_median'] / 1e9:.2f}"
        unit = "" if r["case"] == "mnist" else " /sample"
        print(f"| {TITLES[r['case']]} | {r['tool']} | {r['threads']} | "
              f"{fmt_value(r)}{unit} | {fmt_range(r)} | {gflops} | "
              f"{r['measurements']} × {r['epochs_per_measurement']} ({r['epochs_trained']}) | "
              f"{fmt_quality(r['loss_after_epoch1'], r['acc_after_epoch1'])} | "
              f"{fmt_quality(r['loss_final'], r['acc_final'])} | "
              f"{r['load_before']} → {r['load_after']} |")
    print()
    print("Versions:")
    for v in sorted({r["version"].split(" (")[0] for r in results}):
        print(f"  {v}")
    print(f"  python {platform.python_version()}, numpy {np.__version__}, "
          f"{platform.machine()}, {os.cpu_count()} CPUs")
    print()
    print("Commands (one process each):")
    for r in results:
        print(f"  {r['command']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="few repetitions (smoke test)")
    ap.add_argument("--only", choices=sorted(GROUPS) + ["pinn", "node"],
                    help="run one benchmark group (pinn, node: only when asked for)")
    ap.add_argument("--threads", type=int, choices=[1, 2],
                    help="only this thread count (default: mnist on 1 and 2, the "
                         "per-sample benches on 1)")
    ap.add_argument("--tool", choices=["jax", "torch", "symnn"],
                    help="only this tool (symnn: pinn and node only)")
    ap.add_argument("--data", default=str(DEFAULT_DATA),
                    help="data directory (digits.csv.gz, mnist/); default %(default)s")
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--budget", type=float, default=240.0,
                    help="seconds of timed runs per process after which a process stops "
                         "once it has 10 measurements (default %(default)s)")
    ap.add_argument("--pinn-dir", help="pinn: directory for the shared parameters, points "
                    "and gradients (default: a new temporary directory)")
    ap.add_argument("--symnn-bin", help="pinn, node: the built pinn_compare / node_compare "
                    "example (default: cargo build --release --features compare --example "
                    "..., in $CARGO_TARGET_DIR)")
    ap.add_argument("--node-dir", help="node: directory for the exported data, parameters "
                    "and gradients (default: a new temporary directory)")
    ap.add_argument("--no-check", action="store_true", help="pinn, node: timing only")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--case", choices=sorted(CASES) + ["pinn"], help=argparse.SUPPRESS)
    ap.add_argument("--pinn-mode", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        worker(args)
        return
    if args.only == "pinn":
        run_pinn(args)
        return
    if args.only == "node":
        sys.path.insert(0, str(HERE))
        import node  # benches/compare/node.py

        node.run(args)
        return

    groups = [args.only] if args.only else ["small", "digits", "mnist"]
    tools = [args.tool] if args.tool else ["jax", "torch"]
    results = []
    for g in groups:
        for case in GROUPS[g]:
            threads_list = [args.threads] if args.threads else ([1, 2] if g == "mnist" else [1])
            for tool in tools:
                for th in threads_list:
                    print(f"running {case} {tool} threads={th} (load {loadavg()}) ...",
                          file=sys.stderr, flush=True)
                    r = spawn(case, tool, th, args)
                    results.append(r)
                    print(f"  {fmt_value(r)}  [{r['version']}]  wall {r['wall_s']:.1f} s",
                          file=sys.stderr, flush=True)
    print_table(results)
    if args.json:
        meta = dict(date=time.strftime("%Y-%m-%d %H:%M:%S %Z"), quick=args.quick,
                    python=platform.python_version(), numpy=np.__version__)
        Path(args.json).write_text(json.dumps(dict(meta=meta, results=results), indent=1))


if __name__ == "__main__":
    main()
