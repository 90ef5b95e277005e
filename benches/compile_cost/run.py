#!/usr/bin/env python3
"""Compile cost of `network!` against network size: macro expansion time and the
`cargo build --release` time of a small user crate holding one network.

Run by hand (not in CI), from the workspace root:

    python3 benches/compile_cost/run.py [--timeout SECONDS] [NAME ...]

For each network it writes the DSL body to a file, times `symnn_codegen::expand` with
the `expand_time` example (median of 5, release build), then builds a scratch binary
crate (path dependency on this workspace, `CARGO_INCREMENTAL=0`, dependencies built
once beforehand) whose `main` calls `sgd_step`, and reports the wall time of
`cargo build --release`. Results go to stdout as a Markdown table (docs/PERFORMANCE.md).
"""
import argparse
import os
import pathlib
import shutil
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


NETS = {
    "2-8-8-1": mlp("Net", [2, 8, 8, 1], loss="mse"),
    "16-32-32-4": mlp("Net", [16, 32, 32, 4]),
    "64-32-10": mlp("Net", [64, 32, 10]),
    "784-128-10": mlp("Net", [784, 128, 10], act="relu"),
    "784-256-256-10": mlp("Net", [784, 256, 256, 10], act="relu"),
}


def run(cmd, cwd, timeout, env=None):
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timeout"
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        return None, (proc.stderr or proc.stdout)[-2000:]
    return elapsed, proc.stdout


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
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("names", nargs="*", default=list(NETS))
    args = parser.parse_args()
    SCRATCH.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, CARGO_INCREMENTAL="0", CARGO_TARGET_DIR=str(SCRATCH / "target"))

    # Build the timing tool and the scratch crate's dependencies once.
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "symnn-codegen", "--example", "expand_time"],
                   cwd=ROOT, check=True)
    crate = write_crate(NETS["2-8-8-1"])
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=crate, env=env, check=True)

    print("| network | params | expansion | generated code | `cargo build --release` |")
    print("|---|---:|---:|---:|---:|")
    for name in args.names:
        dsl = NETS[name]
        dsl_file = SCRATCH / f"{name}.dsl"
        dsl_file.write_text(dsl)
        tool = ROOT / "target" / "release" / "examples" / "expand_time"
        _, out = run([str(tool), str(dsl_file), "3"], ROOT, args.timeout)
        fields = dict(kv.split("=") for kv in out.split()) if out and "expand_ms=" in out else {}
        expand = f"{float(fields['expand_ms']) / 1e3:.3f} s" if fields else out.strip()[:40]
        size = f"{int(fields['generated_bytes']) / 1e6:.1f} MB" if fields else "-"
        params = fields.get("params", "-")
        write_crate(dsl)
        # Touch main.rs so cargo rebuilds only the user crate.
        build, err = run(["cargo", "build", "--release", "-q"], crate, args.timeout, env)
        build = f"{build:.1f} s" if build is not None else err.strip().splitlines()[-1][:60]
        print(f"| {name} | {params} | {expand} | {size} | {build} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
