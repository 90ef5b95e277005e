#!/usr/bin/env python3
"""Compile cost of `network!` against network size: macro expansion time and the
`cargo build --release` time of a small user crate holding one network.

Run by hand (not in CI), from the workspace root:

    python3 benches/compile_cost/run.py [--timeout SECONDS] [--runs N] [NAME ...]

Networks (all by default): 2-8-8-1, 16-32-32-4, 64-32-10, 784-128-10, 784-256-256-10.
For each network it writes the DSL body to a file, times `symnn_codegen::expand` with
the `expand_time` example (median of `--runs`, default 3, release build), then builds a
scratch binary crate (path dependency on this workspace, `CARGO_INCREMENTAL=0`,
dependencies built once beforehand) whose `main` calls `sgd_step`, and reports the
wall time of `cargo build --release`. Each of the two steps of each network gets
`--timeout` seconds (default 900); a step that runs out is killed with its whole
process group (cargo and its rustc children) and reported as `timeout (> N s)` in the
table, and the build is skipped when the expansion alone timed out. Parameter and
layer counts come from the widths (and are checked against the engine's count when
the expansion finishes). Results go to stdout as a Markdown table
(docs/PERFORMANCE.md).
"""
import argparse
import os
import pathlib
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRATCH = ROOT / "target" / "compile_cost"


def mlp(name, widths, act="tanh", loss="cross_entropy"):
    lines = [f"pub struct {name} {{", f"    input x[{widths[0]}];", f"    target t[{widths[-1]}];"]
    prev = "x"
    for i, w in enumerate(widths[1:-1]):
        lines.append(f"    let h{i + 1} = dense({prev}, {w}, {act});")
        prev = f"h{i + 1}"
    lines.append(f"    output y = dense({prev}, {widths[-1]}, identity);")
    lines.append(f"    loss = {loss}(y, t);")
    lines.append("}")
    return "\n".join(lines) + "\n"


# name -> (widths, hidden activation, loss)
NETS = {
    "2-8-8-1": ([2, 8, 8, 1], "tanh", "mse"),
    "16-32-32-4": ([16, 32, 32, 4], "tanh", "cross_entropy"),
    "64-32-10": ([64, 32, 10], "tanh", "cross_entropy"),
    "784-128-10": ([784, 128, 10], "relu", "cross_entropy"),
    "784-256-256-10": ([784, 256, 256, 10], "relu", "cross_entropy"),
}


def params_of(widths):
    """Weights and biases of the dense layers."""
    return sum(a * b + b for a, b in zip(widths, widths[1:]))


def run(cmd, cwd, timeout, env=None):
    """(seconds, stdout) on success; (None, "timeout") or (None, error text) otherwise.

    The command runs in its own session so that on a timeout its whole process group
    (cargo and the rustc processes it started) is killed, not only the direct child.
    """
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        return None, "timeout"
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        text = (err or out or "").strip()
        return None, text[-2000:] or f"exit status {proc.returncode}"
    return elapsed, out


def failure(text, timeout):
    """A table cell for a failed step: the timeout, or the last line of the error."""
    if text == "timeout":
        return f"timeout (> {timeout:g} s)"
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return ("failed: " + (lines[-1] if lines else "no output"))[:70].replace("|", "/")


def write_crate(dsl):
    crate = SCRATCH / "user"
    (crate / "src").mkdir(parents=True, exist_ok=True)
    (crate / "Cargo.toml").write_text(
        f"""[package]
name = "compile-cost-user"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
symnn = {{ path = "{ROOT}" }}

[profile.dev.build-override]
opt-level = 3

[workspace]
"""
    )
    (crate / "src" / "main.rs").write_text(
        f"""use std::hint::black_box;
symnn::network! {{
{dsl}}}
fn main() {{
    let mut net = Net::new();
    let x = [0.5; Net::NUM_INPUTS];
    let t = [0.0; Net::NUM_TARGETS];
    println!("{{}}", net.sgd_step(black_box(&x), black_box(&t), 0.01));
}}
"""
    )
    return crate


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds allowed for each network's expansion and, separately, its build")
    parser.add_argument("--runs", type=int, default=3, help="expansions timed per network (median)")
    parser.add_argument("names", nargs="*", default=list(NETS), help=f"networks (default all: {', '.join(NETS)})")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in NETS]
    if unknown:
        parser.error(f"unknown network(s) {', '.join(unknown)}; known: {', '.join(NETS)}")
    SCRATCH.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, CARGO_INCREMENTAL="0", CARGO_TARGET_DIR=str(SCRATCH / "target"))

    # Build the timing tool and the scratch crate's dependencies once.
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "symnn-codegen", "--example", "expand_time"],
                   cwd=ROOT, check=True)
    crate = write_crate(mlp("Net", [2, 8, 8, 1], loss="mse"))
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=crate, env=env, check=True)
    tool = ROOT / "target" / "release" / "examples" / "expand_time"

    print(f"timeout {args.timeout:g} s per step; expansion = median of {args.runs}")
    print()
    print("| network | layers | params | expansion | generated code | `cargo build --release` |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in args.names:
        widths, act, loss = NETS[name]
        dsl = mlp("Net", widths, act, loss)
        label = f"{name} {act}, {loss}"
        layers = len(widths) - 1
        params = params_of(widths)
        dsl_file = SCRATCH / f"{name}.dsl"
        dsl_file.write_text(dsl)
        _, out = run([str(tool), str(dsl_file), str(args.runs)], ROOT, args.timeout)
        fields = dict(kv.split("=", 1) for kv in out.split()) if "expand_ms=" in out else {}
        if fields:
            expand = f"{float(fields['expand_ms']) / 1e3:.3f} s"
            size = f"{int(fields['generated_bytes']) / 1e6:.1f} MB"
            if int(fields["params"]) != params:
                params = f"{params} (engine: {fields['params']})"
        else:
            expand, size = failure(out, args.timeout), "-"
        if out == "timeout":
            # rustc runs the same expansion first, so the build cannot finish in time either.
            build = "skipped (expansion timed out)"
        else:
            write_crate(dsl)
            # main.rs was rewritten, so cargo rebuilds only the user crate.
            secs, err = run(["cargo", "build", "--release", "-q"], crate, args.timeout, env)
            build = f"{secs:.1f} s" if secs is not None else failure(err, args.timeout)
        params = f"{params:,}" if isinstance(params, int) else params
        print(f"| {label} | {layers} | {params} | {expand} | {size} | {build} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
