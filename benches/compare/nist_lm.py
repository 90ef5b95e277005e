"""scipy's MINPACK Levenberg-Marquardt on the two NIST files of examples/curve_fit.rs.

Same models, data and starts; `least_squares(method="lm")` with its default
finite-difference Jacobian and, for a like-for-like comparison, with the exact
Jacobian. Prints certified digits and the time per fit (best of 20 repeats).

    benches/compare/.venv/bin/python benches/compare/nist_lm.py
"""
import pathlib
import time

import numpy as np
from scipy.optimize import least_squares

ROOT = pathlib.Path(__file__).resolve().parents[2]


def load(name):
    lines = (ROOT / "data" / "nist" / f"{name}.dat").read_text().splitlines()
    starts, cert = [[], []], []
    for line in lines:
        t = line.strip()
        if t.startswith("b") and "=" in t:
            v = [float(x) for x in t.split("=")[1].split()[:3]]
            starts[0].append(v[0]); starts[1].append(v[1]); cert.append(v[2])
    header = max(i for i, l in enumerate(lines) if l.strip().startswith("Data:"))
    rows = [l.split() for l in lines[header + 1:] if l.strip()]
    y = np.array([float(r[0]) for r in rows]); x = np.array([float(r[1]) for r in rows])
    return x, y, [np.array(s) for s in starts], np.array(cert)


def misra1a(b, x):
    return b[0] * (1 - np.exp(-b[1] * x))


def misra1a_jac(b, x):
    e = np.exp(-b[1] * x)
    return np.stack([1 - e, b[0] * x * e], axis=1)


def mgh09(b, x):
    return b[0] * (x * x + x * b[1]) / (x * x + x * b[2] + b[3])


def mgh09_jac(b, x):
    num, den = x * x + x * b[1], x * x + x * b[2] + b[3]
    return np.stack([num / den, b[0] * x / den, -b[0] * num * x / den**2, -b[0] * num / den**2], axis=1)


def digits(b, cert):
    return min(15.0, min(-np.log10(abs((bi - c) / c)) if bi != c else 15.0 for bi, c in zip(b, cert)))


for name, f, jac in [("Misra1a", misra1a, misra1a_jac), ("MGH09", mgh09, mgh09_jac)]:
    x, y, starts, cert = load(name)
    for k, start in enumerate(starts):
        for label, j in [("2-point FD Jacobian", "2-point"), ("exact Jacobian", lambda b: jac(b, x))]:
            best = float("inf")
            for _ in range(20):
                t = time.perf_counter()
                r = least_squares(lambda b: f(b, x) - y, start, jac=j, method="lm")
                best = min(best, time.perf_counter() - t)
            print(f"{name:8} start {k + 1}: scipy lm ({label}): {r.nfev:4} evaluations, "
                  f"{best * 1e6:8.1f} µs, sum of squares {2 * r.cost:.10e}, {digits(r.x, cert):.1f} digits")
