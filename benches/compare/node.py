#!/usr/bin/env python3
"""The `node` group of benches/compare (`run.sh --only node`): examples/neural_ode.rs's
neural ODE in symnn against JAX. See README.md, "The `node` group".

A 2-16-2 tanh vector field `f(s) = W2 tanh(W1 s + b1) + b2` for a damped pendulum,
integrated from each trajectory's initial state with H classical RK4 steps of h = 0.1
(symnn: a `for` loop in the DSL, unrolled at expansion today; JAX: `lax.scan`), the
loss of a trajectory the summed squared distance of the H states to the true ones, the
mean over a minibatch of 32 trajectories (in data order, cycling through 256), Adam
(lr 1e-2, beta 0.9 / 0.999, eps 1e-8, written out like symnn-runtime/src/optim.rs).

symnn's `node_compare` example (benches/compare/node.rs) exports the data and the start
parameters, exactly those of examples/neural_ode.rs, as little-endian f64 files; JAX
reads them. Then:

* correctness (f64): the mean loss and gradient over the 256 trajectories at the start
  (symnn one-sample and block paths, JAX `value_and_grad`), and the minibatch losses
  of the first STEPS Adam steps and the parameters after them. The run stops if the
  starting losses differ by more than 1e-12 (relative).
* timing, one pinned process each (`taskset -c 0`; JAX with
  `XLA_FLAGS=--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1`):
  symnn block path (`accumulate_gradient_batch_slice` + `Adam::step`), one-sample path,
  `Trainer` (`threads(1)`); JAX f64 and f32, the Adam steps inside one `jit`-compiled
  `lax.scan` (80 steps a call, two warm-up calls). ms per step.

Run through compare.py (`--only node`), or this file directly with the same flags.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

HIDDEN = 16
CHECK_STEPS = 16
STOP_LOSS_REL = 1e-12
# (steps per measurement, measurements) per timed configuration; --quick: (8, 3).
REPS = {"batch": (80, 20), "sample": (80, 20), "trainer1": (80, 20),
        "time-float64": (80, 20), "time-float32": (80, 20)}
TITLES = {
    "batch": "symnn `accumulate_gradient_batch_slice` + Adam (f64)",
    "sample": "symnn `accumulate_gradient_slice` × 32 + Adam (f64)",
    "trainer1": "symnn `Trainer` (batch 32, `threads(1)`, f64)",
    "time-float64": "JAX jit + scan (f64)",
    "time-float32": "JAX jit + scan (f32)",
}


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def load(d: Path):
    meta = json.loads((d / "meta.json").read_text())
    n, h = meta["train"], meta["horizon"]
    params = np.fromfile(d / "params.f64", dtype="<f8")
    s0 = np.fromfile(d / "s0.f64", dtype="<f8").reshape(n, 2)
    traj = np.fromfile(d / "traj.f64", dtype="<f8").reshape(n, h, 2)
    assert params.shape == (meta["num_params"],) == (2 * HIDDEN + HIDDEN + 2 * HIDDEN + 2,)
    return meta, params, s0, traj


# ---------------------------------------------------------------------------------------
# JAX
# ---------------------------------------------------------------------------------------


def node_jax(dtype_name, meta):
    """(loss_and_grad(p, s0, traj), adam_steps(state, S0, TR, idx), start(params)) for JAX,
    with `S0`/`TR` the minibatches stacked as [n_batches, batch, ...] and `idx` the
    minibatch index of each step."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    dt = jnp.dtype(dtype_name)
    h = meta["dt"]
    # The DSL's literals: 0.05 = h/2, 0.1 = h, 0.1 / 6.0 = h/6 (the same doubles).
    half, full, sixth = (jnp.asarray(v, dt) for v in (h / 2, h, h / 6.0))
    two = jnp.asarray(2, dt)

    def unflatten(p):
        w1 = p[0:32].reshape(HIDDEN, 2)
        b1 = p[32:48]
        w2 = p[48:80].reshape(2, HIDDEN)
        b2 = p[80:82]
        return w1, b1, w2, b2

    def trajectory_loss(p, s0, traj):
        w1, b1, w2, b2 = unflatten(p)

        def f(u):
            return w2 @ jnp.tanh(w1 @ u + b1) + b2

        def step(carry, target):
            s, loss = carry
            k1 = f(s)
            k2 = f(s + half * k1)
            k3 = f(s + half * k2)
            k4 = f(s + full * k3)
            s = s + sixth * (k1 + two * k2 + two * k3 + k4)
            return (s, loss + jnp.sum((s - target) ** 2)), None

        (_, loss), _ = lax.scan(step, (s0, jnp.zeros((), dt)), traj)
        return loss

    def mean_loss(p, s0, traj):
        return jnp.mean(jax.vmap(trajectory_loss, in_axes=(None, 0, 0))(p, s0, traj))

    loss_and_grad = jax.jit(jax.value_and_grad(mean_loss))

    lr, b1, b2, eps = (jnp.asarray(v, dt) for v in (meta["lr"], 0.9, 0.999, 1e-8))
    one = jnp.asarray(1, dt)

    def adam(state, s0, traj):
        p, m, v, b1t, b2t = state
        loss, g = jax.value_and_grad(mean_loss)(p, s0, traj)
        b1t, b2t = b1t * b1, b2t * b2
        m = b1 * m + (one - b1) * g
        v = b2 * v + (one - b2) * g * g
        p = p - lr * (m / (one - b1t)) / (jnp.sqrt(v / (one - b2t)) + eps)
        return (p, m, v, b1t, b2t), loss

    def adam_steps(state, s0_batches, traj_batches, idx):
        return lax.scan(lambda st, i: adam(st, s0_batches[i], traj_batches[i]), state, idx)

    def start(params):
        p = jnp.asarray(params, dt)
        return (p, jnp.zeros_like(p), jnp.zeros_like(p), one, one)

    return loss_and_grad, jax.jit(adam_steps), start


def batches(meta, s0, traj, dtype):
    n, b = meta["train"], meta["batch"]
    nb = n // b
    return (s0[: nb * b].reshape(nb, b, 2).astype(dtype),
            traj[: nb * b].reshape(nb, b, meta["horizon"], 2).astype(dtype), nb)


def worker_jax(args):
    """--worker: `--mode check-float64` or `time-<dtype>`; prints one RESULT line."""
    dtype = args.mode.split("-", 1)[1]
    import jax
    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from importlib.metadata import version as pkg_version
    d = Path(args.node_dir)
    meta, params, s0, traj = load(d)
    version = f"jax {jax.__version__} (jaxlib {pkg_version('jaxlib')}, {jax.default_backend()})"
    out = dict(tool="jax", version=version, mode=args.mode,
               affinity=sorted(os.sched_getaffinity(0)))
    loss_and_grad, adam_steps, start = node_jax(dtype, meta)
    s0b, trb, nb = batches(meta, s0, traj, dtype)
    s0b, trb = jnp.asarray(s0b), jnp.asarray(trb)
    if args.mode.startswith("check-"):
        loss, grad = loss_and_grad(start(params)[0], s0.astype(dtype), traj.astype(dtype))
        np.asarray(grad, dtype=np.float64).tofile(d / f"jax_grad_{dtype}.f64")
        idx = jnp.arange(CHECK_STEPS) % nb
        state, losses = adam_steps(start(params), s0b, trb, idx)
        final, _ = loss_and_grad(state[0], s0.astype(dtype), traj.astype(dtype))
        np.asarray(state[0], dtype=np.float64).tofile(d / f"jax_params_{dtype}_trained.f64")
        out.update(loss=float(loss), losses=[float(v) for v in losses],
                   final_full_loss=float(final))
    else:
        steps, reps = (8, 3) if args.quick else REPS[args.mode]
        state = start(params)
        k = 0
        times = []
        for rep in range(reps + 2):  # two warm-up calls (the first compiles)
            idx = (k + jnp.arange(steps)) % nb
            t0 = time.perf_counter()
            state, losses = adam_steps(state, s0b, trb, idx)
            jax.block_until_ready(state)
            if rep >= 2:
                times.append((time.perf_counter() - t0) / steps)
            k += steps
        out.update(step_s=times, steps_per_measurement=steps, last_loss=float(losses[-1]))
    print("RESULT " + json.dumps(out), flush=True)


# ---------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------


def symnn_binary(args) -> Path:
    if getattr(args, "symnn_bin", None):
        return Path(args.symnn_bin)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    cmd = ["cargo", "build", "--release", "--features", "compare", "--example", "node_compare"]
    print(f"building: {' '.join(cmd)}", file=sys.stderr, flush=True)
    subprocess.run(cmd, cwd=REPO, check=True)
    return target / "release" / "examples" / "node_compare"


def spawn(tool, mode, args, binary):
    """One process pinned to core 0: symnn's binary or a JAX worker."""
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    if tool == "symnn":
        if mode == "check":
            cmd = [str(binary), "check", str(args.node_dir), str(CHECK_STEPS)]
        else:
            steps, reps = (8, 3) if args.quick else REPS[mode]
            cmd = [str(binary), "time", str(args.node_dir), mode, str(steps), str(reps)]
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker",
               "--node-dir", str(args.node_dir), "--mode", mode]
        if args.quick:
            cmd.append("--quick")
        env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0"] + cmd
    load_before = loadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"node process failed: {' '.join(cmd)} (exit {proc.returncode})")
    res = json.loads(lines[-1][len("RESULT "):])
    res.update(tool=tool, mode=mode, load_before=load_before, load_after=loadavg(),
               wall_s=wall,
               command=(f"XLA_FLAGS='{env['XLA_FLAGS']}' " if "XLA_FLAGS" in env else "")
               + " ".join(cmd))
    return res


def rel(a, b):
    """max |a - b| / max |b| over arrays (or scalars)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def print_check(s, j, meta, d):
    sg = np.fromfile(d / "symnn_grad.f64")
    jg = np.fromfile(d / "jax_grad_float64.f64")
    sp = np.fromfile(d / "symnn_params_trained.f64")
    jp = np.fromfile(d / "jax_params_float64_trained.f64")
    n = CHECK_STEPS
    print()
    print(f"Neural ODE correctness (f64; {s['num_params']} parameters, H = {meta['horizon']} "
          f"RK4 steps, {meta['train']} trajectories, minibatches of {meta['batch']}; "
          f"files in {d}):")
    print()
    print("| quantity | symnn | JAX | max rel. diff |")
    print("|---|---:|---:|---:|")
    print(f"| mean loss at start (256 trajectories) | {s['loss']:.17g} | {j['loss']:.17g} | "
          f"{rel(s['loss'], j['loss']):.2e} |")
    print(f"| the same, symnn block path | {s['loss_batch']:.17g} | | "
          f"{rel(s['loss_batch'], j['loss']):.2e} |")
    print(f"| mean gradient at start, max over params | ‖g‖∞ = {np.max(np.abs(sg)):.6g} | "
          f"‖g‖∞ = {np.max(np.abs(jg)):.6g} | {rel(sg, jg):.2e} (block vs one-sample: "
          f"{s['batch_vs_sample_grad_rel']:.2e}) |")
    print(f"| minibatch losses of the first {n} Adam steps | {s['losses'][-1]:.17g} (last) | "
          f"{j['losses'][-1]:.17g} (last) | {rel(s['losses'], j['losses']):.2e} |")
    print(f"| parameters after {n} Adam steps | | | {rel(sp, jp):.2e} |")
    print(f"| mean loss after {n} Adam steps | {s['final_full_loss']:.17g} | "
          f"{j['final_full_loss']:.17g} | {rel(s['final_full_loss'], j['final_full_loss']):.2e} |")
    print()
    print(f"  {j['version']}; symnn COST.gradient_ops = {s['gradient_ops']} per trajectory")
    for c in (s, j):
        print(f"  {c['command']}")


def print_table(results, meta):
    best_jax = min((float(np.median(r["step_s"])) for r in results if r["tool"] == "jax"),
                   default=None)
    jax64 = next((float(np.median(r["step_s"])) for r in results
                  if r["mode"] == "time-float64"), None)
    print()
    print(f"Neural ODE, one Adam step on {meta['batch']} trajectories of H = {meta['horizon']} "
          f"RK4 steps, one thread (core 0):")
    print()
    print("| configuration | median ms/step | min–max | × JAX f64 | × JAX best | "
          "measurements × steps | load before → after |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in results:
        med = float(np.median(r["step_s"]))
        x64 = f"{med / jax64:.2f}" if jax64 else ""
        xbest = f"{med / best_jax:.2f}" if best_jax else ""
        steps = r.get("steps_per_measurement") or REPS[r["mode"]][0]
        print(f"| {TITLES[r['mode']]} | {med * 1e3:.3f} | {min(r['step_s']) * 1e3:.3f}–"
              f"{max(r['step_s']) * 1e3:.3f} | {x64} | {xbest} | {len(r['step_s'])} × {steps} | "
              f"{r['load_before']} → {r['load_after']} |")
    print()
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


def run(args):
    """The whole group: export, check, time, print (called by compare.py --only node)."""
    if getattr(args, "node_dir", None) is None:
        import tempfile
        args.node_dir = tempfile.mkdtemp(prefix="symnn-node-")
    d = Path(args.node_dir)
    d.mkdir(parents=True, exist_ok=True)
    binary = symnn_binary(args)
    subprocess.run([str(binary), "export", str(d)], check=True, capture_output=True)
    meta = load(d)[0]
    tools = [args.tool] if getattr(args, "tool", None) else ["symnn", "jax"]
    if "torch" in tools:
        raise SystemExit("node: PyTorch is not implemented (README.md, node group)")

    check = {}
    if not getattr(args, "no_check", False):
        print(f"node check (load {loadavg()}) ...", file=sys.stderr, flush=True)
        check["symnn"] = spawn("symnn", "check", args, binary)
        check["jax"] = spawn("jax", "check-float64", args, binary)
        print_check(check["symnn"], check["jax"], meta, d)
        diff = rel(check["symnn"]["loss"], check["jax"]["loss"])
        if diff > STOP_LOSS_REL:
            raise SystemExit(f"node: the starting losses differ by {diff:.2e} (relative) > "
                             f"{STOP_LOSS_REL:g}; not timing")

    plan = []
    if "symnn" in tools:
        plan += [("symnn", m) for m in ["batch", "sample", "trainer1"]]
    if "jax" in tools:
        plan += [("jax", m) for m in ["time-float64", "time-float32"]]
    results = []
    for tool, mode in plan:
        print(f"running node {tool} {mode} (load {loadavg()}) ...", file=sys.stderr, flush=True)
        r = spawn(tool, mode, args, binary)
        results.append(r)
        print(f"  {np.median(r['step_s']) * 1e3:.3f} ms/step  wall {r['wall_s']:.1f} s",
              file=sys.stderr, flush=True)
    if results:
        print_table(results, meta)
    if getattr(args, "json", None):
        out = dict(meta=dict(date=time.strftime("%Y-%m-%d %H:%M:%S %Z"), quick=args.quick,
                             python=platform.python_version(), numpy=np.__version__,
                             node_dir=str(d), **meta),
                   check=check, results=results)
        Path(args.json).write_text(json.dumps(out, indent=1))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="few repetitions (smoke test)")
    ap.add_argument("--tool", choices=["jax", "symnn"], help="only this tool")
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--node-dir", help="directory for the exported data, parameters and "
                    "gradients (default: a new temporary directory)")
    ap.add_argument("--symnn-bin", help="the built node_compare example (default: cargo build "
                    "--release --features compare --example node_compare, in $CARGO_TARGET_DIR)")
    ap.add_argument("--no-check", action="store_true", help="timing only")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker_jax(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
