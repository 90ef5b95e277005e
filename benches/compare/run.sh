#!/usr/bin/env bash
# Compare symnn's networks with JAX and PyTorch (by hand; not in CI). See README.md.
# Usage: benches/compare/run.sh [--quick] [--only mnist|digits|small|pinn|node] [--threads 1|2]
#        [--tool jax|torch|symnn] [--json FILE] [--budget SECONDS]
# (NO_TORCH=1: install everything but torch.)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
    echo "creating $venv" >&2
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
fi
# Idempotent: a no-op (a few seconds) once the pinned versions are there.
# NO_TORCH=1 leaves out torch (~6 GB with its CUDA wheels): enough for `--tool jax` and
# for `--only pinn` / `--only node` (symnn against JAX).
if [[ "${NO_TORCH:-0}" == 1 ]]; then
    grep -v '^torch' "$here/requirements.txt" | "$venv/bin/pip" install --quiet -r /dev/stdin
else
    "$venv/bin/pip" install --quiet -r "$here/requirements.txt"
fi

cd "$repo"
echo "date: $(date '+%Y-%m-%d %H:%M:%S %Z'); $(uptime)" >&2
"$venv/bin/python" "$here/compare.py" "$@"
echo "end: $(uptime)" >&2
