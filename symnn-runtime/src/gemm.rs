//! Placeholder until the register-tiled kernels land: naive loops, same signatures.
#![allow(missing_docs, clippy::needless_range_loop)]
use crate::Float;
pub fn gemm_nt<F: Float, const R: usize, const C: usize>(n: usize, w: &[[F; C]; R], x: &[F], xs: usize, z: &mut [F], zs: usize) {
    for s in 0..n {
        for i in 0..R {
            let mut acc = F::ZERO;
            for k in 0..C {
                acc += w[i][k] * x[s * xs + k];
            }
            z[s * zs + i] = acc;
        }
    }
}
pub fn gemm_tn_acc<F: Float, const R: usize, const C: usize>(n: usize, d: &[F], ds: usize, x: &[F], xs: usize, g: &mut [[F; C]; R], scale: F) {
    for i in 0..R {
        for k in 0..C {
            let mut acc = F::ZERO;
            for s in 0..n {
                acc += d[s * ds + i] * x[s * xs + k];
            }
            g[i][k] += scale * acc;
        }
    }
}
pub fn gemm_nn<F: Float, const R: usize, const C: usize>(n: usize, d: &[F], ds: usize, w: &[[F; C]; R], out: &mut [F], os: usize) {
    for s in 0..n {
        for k in 0..C {
            let mut acc = F::ZERO;
            for i in 0..R {
                acc += d[s * ds + i] * w[i][k];
            }
            out[s * os + k] = acc;
        }
    }
}
