#!/usr/bin/env python3
"""Runs the ONNX models that `cargo test --test onnx` wrote (tests/onnx.rs) through
onnxruntime's CPU provider and compares them with symnn's `forward`.

Usage: onnx_check.py DIR, where DIR holds manifest.txt (one line per model:
`name dtype rows inputs outputs`) and, per model, name.onnx, name.input and
name.expected (raw little-endian rows). Checks each model with onnx.checker when the
`onnx` package is installed, runs the whole batch and its first row alone (the batch
dimension is symbolic), and fails if an output differs from `forward`'s by more than
1e-5 relative to the sample's output vector: |a - b| <= 1e-5 * max(|b|, max_j |b_j|)
over each row (the norm-wise relative error; NaN only where `forward` gave NaN). Also
prints the elementwise relative error |a - b| / max(|b|, 1e-6), which is larger where
an output is a cancellation of larger terms (an f32 logit near 0): two correct f32
evaluations that sum in different orders differ there by more than 1e-5 of the value.
"""
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

try:
    import onnx
except ImportError:  # optional: the structural check
    onnx = None

RTOL = 1e-5
FLOOR = 1e-6


def _diff(got, expected):
    got, expected = got.astype(np.float64), expected.astype(np.float64)
    both_nan = np.isnan(got) & np.isnan(expected)
    diff = np.where(both_nan, 0.0, np.abs(got - expected))
    return np.where(np.isnan(diff), np.inf, diff), np.where(both_nan, 0.0, np.abs(expected))


def row_error(got, expected):
    """max over rows of max_j |a_j - b_j| / max_j |b_j| (0 where both are NaN)."""
    diff, size = _diff(got, expected)
    scale = np.maximum(np.nan_to_num(size).max(axis=1, keepdims=True), FLOOR)
    return float((diff / scale).max(initial=0.0))


def elem_error(got, expected):
    """max over elements of |a - b| / max(|b|, 1e-6)."""
    diff, size = _diff(got, expected)
    return float((diff / np.maximum(np.nan_to_num(size), FLOOR)).max(initial=0.0))


def main(directory):
    directory = Path(directory)
    lines = (directory / "manifest.txt").read_text().split("\n")
    failed = []
    print(f"onnxruntime {ort.__version__}, onnx {onnx.__version__ if onnx else '(not installed)'}")
    print(f"{'model':<16} {'dtype':<8} {'rows':>4} {'row rel err':>12} {'elem rel err':>12}")
    for line in filter(None, lines):
        name, dtype, rows, inputs, outputs = line.split()
        rows, inputs, outputs = int(rows), int(inputs), int(outputs)
        path = directory / f"{name}.onnx"
        if onnx is not None:
            onnx.checker.check_model(onnx.load(str(path)), full_check=True)
        x = np.fromfile(directory / f"{name}.input", dtype=np.dtype(dtype).newbyteorder("<"))
        expected = np.fromfile(directory / f"{name}.expected", dtype=np.dtype(dtype).newbyteorder("<"))
        x = x.reshape(rows, inputs)
        expected = expected.reshape(rows, outputs)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(["output"], {"input": x})[0]
        one = session.run(["output"], {"input": x[:1]})[0]
        ok = got.shape == expected.shape and got.dtype == expected.dtype
        worst_row, worst_elem = row_error(got, expected), elem_error(got, expected)
        worst_one = row_error(one, got[:1])
        ok = ok and worst_row <= RTOL and worst_one <= RTOL
        print(f"{name:<16} {dtype:<8} {rows:>4} {worst_row:>12.3e} {worst_elem:>12.3e}{'' if ok else '  FAILED'}")
        if not ok:
            failed.append(name)
            diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
            i = np.unravel_index(np.nanargmax(diff), diff.shape)
            print(f"    worst at {i}: onnxruntime {got[i]!r}, forward {expected[i]!r}")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    print(f"all {len(list(filter(None, lines)))} models match forward within {RTOL} relative")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
