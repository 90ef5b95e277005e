// Shared by `jac_hvp.rs` (64-32-10) and `jac_hvp_mnist.rs` (784-128-10): the
// deterministic parameters / inputs / tangents (jac_hvp.py uses the same formulas),
// the timer and the value dump. Included with `#[path]`, not a crate of its own.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

/// Samples in a batch (per-sample timings loop over them too).
pub const BATCH: usize = 256;

/// params[k] = scale * sin(k + 1)
pub fn param(k: usize, scale: f64) -> f64 {
    scale * ((k + 1) as f64).sin()
}
/// x[s][i] = 0.5 + 0.5 sin(0.7 (s*I + i) + 0.3), in [0, 1]
pub fn input(s: usize, i: usize, n_in: usize) -> f64 {
    0.5 + 0.5 * (0.7 * ((s * n_in + i) as f64) + 0.3).sin()
}
/// class of sample s
pub fn class(s: usize) -> usize {
    s % 10
}
/// v[k] = cos(0.3 k)
pub fn tangent(k: usize) -> f64 {
    (0.3 * k as f64).cos()
}

/// Median over `batches` of (ns per call), each batch running `f` `calls` times.
pub fn median_ns(batches: usize, calls: usize, mut f: impl FnMut(usize)) -> f64 {
    for i in 0..calls.min(16) {
        f(i); // warm-up
    }
    let mut v: Vec<f64> = (0..batches)
        .map(|_| {
            let t = Instant::now();
            for i in 0..calls {
                f(i);
            }
            t.elapsed().as_nanos() as f64 / calls as f64
        })
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    v[v.len() / 2]
}

pub fn write_f64(path: &Path, values: impl IntoIterator<Item = f64>) {
    let bytes: Vec<u8> = values.into_iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

pub fn bb<T>(x: T) -> T {
    black_box(x)
}
