#!/usr/bin/env bash
# input_jacobian / hvp against JAX (issue 17 item 6): builds the two Rust examples, runs
# them and jac_hvp.py pinned to one core, prints the tables. Usage:
#   benches/compare/jac_hvp.sh [PYTHON] [DIR]     (run from the repository root)
set -euo pipefail
PY=${1:-benches/compare/.venv/bin/python}
DIR=${2:-${CARGO_TARGET_DIR:-target}/jac_hvp}
mkdir -p "$DIR"
cargo build --release --features compare --example jac_hvp_compare --example jac_hvp_mnist_compare
BIN=${CARGO_TARGET_DIR:-target}/release/examples
export JAX_PLATFORMS=cpu XLA_FLAGS=--xla_force_host_platform_device_count=1
uptime
taskset -c 0 "$BIN/jac_hvp_compare" "$DIR" > "$DIR/digits_symnn.json"
taskset -c 0 "$PY" benches/compare/jac_hvp.py "$DIR" --net digits
taskset -c 0 "$BIN/jac_hvp_mnist_compare" "$DIR" > "$DIR/mnist_symnn.json"
taskset -c 0 "$PY" benches/compare/jac_hvp.py "$DIR" --net mnist
uptime
