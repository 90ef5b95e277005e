//! `gemm_nt`, `gemm_tn_acc` and `gemm_nn` against naive triple loops in f64, at every
//! ISA level this CPU supports (the portable one included), many shapes (odd ones,
//! every remainder of the register tiles) and strides wider than the rows.

use symnn_runtime::gemm::{gemm_nn, gemm_nt, gemm_tn_acc};
use symnn_runtime::simd::{self, Isa};
use symnn_runtime::Float;

/// Deterministic values in [-1, 1) (an LCG), never exactly zero.
fn values<F: Float>(len: usize, seed: u64) -> Vec<F> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            F::from_f64(2.0 * u - 1.0 + 1e-9)
        })
        .collect()
}

fn levels() -> Vec<Isa> {
    Isa::ALL
        .into_iter()
        .filter(|&l| l <= simd::detected())
        .collect()
}

/// `|got - want| <= tol · (terms + |want|)`, `terms` the sum of the magnitudes of the
/// summed products (so a cancelling sum is judged by the size of its terms).
#[track_caller]
fn close<F: Float>(got: F, want: f64, terms: f64, tol: f64, what: &str) {
    let err = (got.to_f64() - want).abs();
    assert!(
        err <= tol * (terms + want.abs()) + 1e-300,
        "{what}: got {got}, want {want} (err {err:e}, terms {terms})"
    );
}

fn tol<F: Float>(k: usize) -> f64 {
    if F::NAME == "f32" {
        // A few ulps per term of the sum, with the portable path's extra rounding.
        4.0 * f32::EPSILON as f64 * (k as f64).sqrt().max(1.0) * 4.0
    } else {
        1e-12
    }
}

fn sentinel<F: Float>() -> F {
    F::from_f64(12345.0)
}

fn check_nt<F: Float, const R: usize, const C: usize>(n: usize, extra: usize, seed: u64) {
    let (xs, zs) = (C + extra, R + extra);
    let wv: Vec<F> = values(R * C, seed);
    let mut w = Box::new([[F::ZERO; C]; R]);
    for (i, row) in w.iter_mut().enumerate() {
        row.copy_from_slice(&wv[i * C..(i + 1) * C]);
    }
    let x: Vec<F> = values(n.max(1) * xs, seed + 1);
    for isa in levels() {
        let mut z = vec![sentinel::<F>(); n * zs];
        simd::with_max_isa(isa, || gemm_nt::<F, R, C>(n, &w, &x, xs, &mut z, zs));
        for s in 0..n {
            for i in 0..zs {
                let got = z[s * zs + i];
                let what = format!("nt {} {isa:?} R={R} C={C} n={n} s={s} i={i}", F::NAME);
                if i >= R {
                    assert!(got == sentinel::<F>(), "{what}: padding written");
                    continue;
                }
                let (mut want, mut terms) = (0.0, 0.0);
                for k in 0..C {
                    let p = w[i][k].to_f64() * x[s * xs + k].to_f64();
                    want += p;
                    terms += p.abs();
                }
                close(got, want, terms, tol::<F>(C), &what);
            }
        }
    }
}

fn check_tn<F: Float, const R: usize, const C: usize>(n: usize, extra: usize, seed: u64) {
    let (ds, xs) = (R + extra, C + extra);
    let d: Vec<F> = values(n.max(1) * ds, seed);
    let x: Vec<F> = values(n.max(1) * xs, seed + 1);
    let g0: Vec<F> = values(R * C, seed + 2);
    let scale = F::from_f64(-0.37);
    for isa in levels() {
        let mut g = Box::new([[F::ZERO; C]; R]);
        for (i, row) in g.iter_mut().enumerate() {
            row.copy_from_slice(&g0[i * C..(i + 1) * C]);
        }
        simd::with_max_isa(isa, || {
            gemm_tn_acc::<F, R, C>(n, &d, ds, &x, xs, &mut g, scale)
        });
        for i in 0..R {
            for k in 0..C {
                let (mut sum, mut terms) = (0.0, 0.0);
                for s in 0..n {
                    let p = d[s * ds + i].to_f64() * x[s * xs + k].to_f64();
                    sum += p;
                    terms += p.abs();
                }
                let old = g0[i * C + k].to_f64();
                let want = old + scale.to_f64() * sum;
                let terms = old.abs() + scale.to_f64().abs() * terms;
                let what = format!("tn_acc {} {isa:?} R={R} C={C} n={n} i={i} k={k}", F::NAME);
                close(g[i][k], want, terms, tol::<F>(n), &what);
            }
        }
    }
}

fn check_nn<F: Float, const R: usize, const C: usize>(n: usize, extra: usize, seed: u64) {
    let (ds, os) = (R + extra, C + extra);
    let d: Vec<F> = values(n.max(1) * ds, seed);
    let wv: Vec<F> = values(R * C, seed + 1);
    let mut w = Box::new([[F::ZERO; C]; R]);
    for (i, row) in w.iter_mut().enumerate() {
        row.copy_from_slice(&wv[i * C..(i + 1) * C]);
    }
    for isa in levels() {
        let mut out = vec![sentinel::<F>(); n * os];
        simd::with_max_isa(isa, || gemm_nn::<F, R, C>(n, &d, ds, &w, &mut out, os));
        for s in 0..n {
            for k in 0..os {
                let got = out[s * os + k];
                let what = format!("nn {} {isa:?} R={R} C={C} n={n} s={s} k={k}", F::NAME);
                if k >= C {
                    assert!(got == sentinel::<F>(), "{what}: padding written");
                    continue;
                }
                let (mut want, mut terms) = (0.0, 0.0);
                for i in 0..R {
                    let p = d[s * ds + i].to_f64() * w[i][k].to_f64();
                    want += p;
                    terms += p.abs();
                }
                close(got, want, terms, tol::<F>(R), &what);
            }
        }
    }
}

const NS: [usize; 6] = [0, 1, 2, 5, 31, 64];

/// Every kernel at one shape, both element types, strides = width and wider.
fn shape<const R: usize, const C: usize>() {
    for (t, &n) in NS.iter().enumerate() {
        for extra in [0, 3] {
            let seed = (R * 1000 + C) as u64 * 16 + t as u64 * 2 + extra as u64;
            check_nt::<f32, R, C>(n, extra, seed);
            check_nt::<f64, R, C>(n, extra, seed);
            check_tn::<f32, R, C>(n, extra, seed);
            check_tn::<f64, R, C>(n, extra, seed);
            check_nn::<f32, R, C>(n, extra, seed);
            check_nn::<f64, R, C>(n, extra, seed);
        }
    }
}

macro_rules! shapes {
    ($($name:ident: $($r:literal x [$($c:literal),*]);*;)*) => {
        $(#[test]
        fn $name() {
            $($(shape::<$r, $c>();)*)*
        })*
    };
}

shapes! {
    rows_1: 1 x [1, 3, 7, 10, 17, 32, 64, 128, 785];
    rows_3: 3 x [1, 3, 7, 10, 17, 32, 64, 128];
    rows_7: 7 x [1, 3, 7, 10, 17, 33, 64, 128];
    rows_10: 10 x [1, 3, 7, 10, 17, 32, 64, 128, 784];
    rows_17: 17 x [1, 3, 7, 10, 17, 32, 64, 129];
    rows_32: 32 x [1, 3, 7, 10, 17, 32, 64, 128];
    rows_64: 64 x [1, 7, 10, 17, 32, 64, 100];
    rows_128: 128 x [1, 3, 10, 17, 32, 64, 784];
    rows_785: 785 x [1, 3, 10];
    // 4-32-16-4 (`benches/small_mlp.rs`): through the transposed matrix.
    small_mlp: 32 x [4]; 16 x [32]; 4 x [16];
}

/// Same ISA, same inputs: bit-identical results; a sample's row does not depend on
/// the others in the batch (the tile that computes it).
#[test]
fn deterministic_and_batch_independent() {
    batch_independent::<10, 37>();
    // Through the transposed matrix (`gemm_nt`'s small-input path).
    batch_independent::<32, 4>();
    batch_independent::<16, 32>();
}

fn batch_independent<const R: usize, const C: usize>() {
    let wv: Vec<f32> = values(R * C, 7);
    let mut w = [[0.0f32; C]; R];
    for (i, row) in w.iter_mut().enumerate() {
        row.copy_from_slice(&wv[i * C..(i + 1) * C]);
    }
    let x: Vec<f32> = values(64 * C, 8);
    for isa in levels() {
        simd::with_max_isa(isa, || {
            let mut z1 = vec![0.0f32; 64 * R];
            let mut z2 = vec![0.0f32; 64 * R];
            gemm_nt::<f32, R, C>(64, &w, &x, C, &mut z1, R);
            gemm_nt::<f32, R, C>(64, &w, &x, C, &mut z2, R);
            assert_eq!(z1, z2);
            for s in 0..64 {
                let mut one = vec![0.0f32; R];
                gemm_nt::<f32, R, C>(1, &w, &x[s * C..], C, &mut one, R);
                assert_eq!(one, z1[s * R..(s + 1) * R], "{isa:?} sample {s}");
            }
        });
    }
}

#[test]
#[should_panic(expected = "too short")]
fn short_slice_panics() {
    let w = [[0.0f64; 4]; 2];
    let mut z = vec![0.0; 2 * 2];
    gemm_nt::<f64, 2, 4>(2, &w, &[0.0; 7], 4, &mut z, 2);
}
