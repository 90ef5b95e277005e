//! The loops behind the generated code's tensor nodes: matrix–vector products,
//! their transposes, outer-product gradient writes, and the fused forms a careful
//! engineer writes by hand.
//!
//! `network!` emits straight-line code for small layers and, above its tensor
//! threshold, calls these with the layer's sizes as const generics, so every loop
//! has constant trip counts over fixed-size arrays: no allocation, no dynamic
//! dispatch, no bounds checks in the hot loops, and LLVM vectorises them. They are
//! generic over [`Float`] (one lane type today; a SIMD lane type can replace it).
//!
//! Summation order: [`matvec`] keeps two partial sums per row (even and odd
//! columns) and blocks four rows at a time (eight for rows of 256 or more), so each
//! pair of `x` values is loaded once per block and at least eight independent add
//! chains hide the add latency (plain
//! one-accumulator dot products are latency-bound without fast-math). The result
//! differs from a left-to-right sum only by rounding. Every other kernel adds in
//! index order.
//!
//! **Zero rows.** The backward kernels skip a row whose adjoint `d[i]` is exactly zero
//! (a ReLU unit that is off: about half of them in a trained ReLU layer). Its
//! contribution `0·w` or `0·x` is zero, so for finite weights and inputs the result is
//! bit for bit the same; with an infinite or NaN input the skipped row keeps its old
//! value instead of becoming NaN.
//!
//! Each kernel states its formula; `tests` check every one against a naive loop.

use crate::Float;

/// `&s[offset..offset + N]` as an array: a declared vector read in place.
///
/// # Panics
/// If the range is out of bounds (never for generated code: the offsets are the
/// network's own layout, and the check is folded away).
#[inline(always)]
pub fn vector<F, const N: usize>(s: &[F], offset: usize) -> &[F; N] {
    match s[offset..offset + N].try_into() {
        Ok(v) => v,
        Err(_) => unreachable!("the range has N elements"),
    }
}

/// Mutable [`vector`].
#[inline(always)]
pub fn vector_mut<F, const N: usize>(s: &mut [F], offset: usize) -> &mut [F; N] {
    match (&mut s[offset..offset + N]).try_into() {
        Ok(v) => v,
        Err(_) => unreachable!("the range has N elements"),
    }
}

/// `s[offset..offset + R*C]` as an `R × C` row-major matrix, read in place.
#[inline(always)]
pub fn matrix<F, const R: usize, const C: usize>(s: &[F], offset: usize) -> &[[F; C]; R] {
    let (rows, _) = s[offset..offset + R * C].as_chunks::<C>();
    match rows.try_into() {
        Ok(m) => m,
        Err(_) => unreachable!("the range has R rows"),
    }
}

/// Mutable [`matrix`].
#[inline(always)]
pub fn matrix_mut<F, const R: usize, const C: usize>(
    s: &mut [F],
    offset: usize,
) -> &mut [[F; C]; R] {
    let (rows, _) = s[offset..offset + R * C].as_chunks_mut::<C>();
    match rows.try_into() {
        Ok(m) => m,
        Err(_) => unreachable!("the range has R rows"),
    }
}

/// `z = W·x`, then `y[i] = epilogue(i, z[i])` in the same pass over the rows (the
/// bias and activation of a layer, fused into its matrix–vector loop).
#[inline(always)]
pub fn matvec_map<F: Float, const R: usize, const C: usize>(
    w: &[[F; C]; R],
    x: &[F; C],
    z: &mut [F; R],
    y: &mut [F; R],
    epilogue: impl Fn(usize, F) -> F,
) {
    let mut i = 0;
    // Wide rows: eight at a time (each pair of `x` values loaded once for eight rows);
    // narrow ones: four (measured: eight rows are 5–7 % faster at 784 columns, no
    // better at 64).
    if C >= 256 {
        while i + 8 <= R {
            block::<F, R, C, 8>(w, x, z, y, &epilogue, i);
            i += 8;
        }
    }
    while i + 4 <= R {
        block::<F, R, C, 4>(w, x, z, y, &epilogue, i);
        i += 4;
    }
    while i < R {
        let s = dot(&w[i], x);
        z[i] = s;
        y[i] = epilogue(i, s);
        i += 1;
    }
}

/// Rows `i..i + B` of [`matvec_map`], two partial sums each.
#[inline(always)]
fn block<F: Float, const R: usize, const C: usize, const B: usize>(
    w: &[[F; C]; R],
    x: &[F; C],
    z: &mut [F; R],
    y: &mut [F; R],
    epilogue: &impl Fn(usize, F) -> F,
    i: usize,
) {
    let mut acc = [[F::ZERO; 2]; B];
    let mut j = 0;
    while j + 2 <= C {
        for (r, acc) in acc.iter_mut().enumerate() {
            acc[0] += w[i + r][j] * x[j];
            acc[1] += w[i + r][j + 1] * x[j + 1];
        }
        j += 2;
    }
    for (r, acc) in acc.iter_mut().enumerate() {
        if j < C {
            acc[0] += w[i + r][j] * x[j];
        }
        let s = acc[0] + acc[1];
        z[i + r] = s;
        y[i + r] = epilogue(i + r, s);
    }
}

/// `z = W·x`.
#[inline(always)]
pub fn matvec<F: Float, const R: usize, const C: usize>(
    w: &[[F; C]; R],
    x: &[F; C],
    z: &mut [F; R],
) {
    let mut y = [F::ZERO; R];
    matvec_map(w, x, z, &mut y, |_, s| s);
}

/// `Σ_j a[j]·b[j]` with two partial sums (even and odd indices).
#[inline(always)]
pub fn dot<F: Float, const N: usize>(a: &[F; N], b: &[F; N]) -> F {
    let mut acc = [F::ZERO; 2];
    let mut j = 0;
    while j + 2 <= N {
        acc[0] += a[j] * b[j];
        acc[1] += a[j + 1] * b[j + 1];
        j += 2;
    }
    if j < N {
        acc[0] += a[j] * b[j];
    }
    acc[0] + acc[1]
}

/// `out = Wᵀ·d`: `out[j] = Σ_i W[i][j]·d[i]`, row by row (contiguous, vectorised).
#[inline(always)]
pub fn matvec_t<F: Float, const R: usize, const C: usize>(
    w: &[[F; C]; R],
    d: &[F; R],
    out: &mut [F; C],
) {
    *out = [F::ZERO; C];
    for (row, &di) in w.iter().zip(d) {
        if di == F::ZERO {
            continue;
        }
        for (o, &wij) in out.iter_mut().zip(row) {
            *o += wij * di;
        }
    }
}

/// `out = Wᵀ·d` and the SGD step `W -= lr·(d·hᵀ)` in one pass over `W` (each
/// weight is read for the product before it is overwritten): a layer's backward
/// loop with its update fused in. `lr·d[i]` is formed once per row.
#[inline(always)]
pub fn matvec_t_sgd<F: Float, const R: usize, const C: usize>(
    w: &mut [[F; C]; R],
    d: &[F; R],
    h: &[F; C],
    lr: F,
    out: &mut [F; C],
) {
    *out = [F::ZERO; C];
    for (row, &di) in w.iter_mut().zip(d) {
        if di == F::ZERO {
            continue;
        }
        let step = lr * di;
        for ((o, wij), &hj) in out.iter_mut().zip(row.iter_mut()).zip(h) {
            *o += *wij * di;
            *wij -= step * hj;
        }
    }
}

/// `out = Wᵀ·d` and `G += d·hᵀ` in one pass (accumulating a layer's gradient).
///
/// (Index loops: the iterator form of four zipped streams measured 8 % slower on the
/// 64-32-10 minibatch bench, `benches/wide.rs`.)
#[inline(always)]
#[allow(clippy::needless_range_loop)]
pub fn matvec_t_acc<F: Float, const R: usize, const C: usize>(
    w: &[[F; C]; R],
    d: &[F; R],
    h: &[F; C],
    g: &mut [[F; C]; R],
    out: &mut [F; C],
) {
    *out = [F::ZERO; C];
    for i in 0..R {
        let di = d[i];
        if di == F::ZERO {
            continue;
        }
        for j in 0..C {
            out[j] += w[i][j] * di;
            g[i][j] += di * h[j];
        }
    }
}

/// The SGD step `W -= lr·(d·xᵀ)` (a weight's gradient is the outer product of its
/// layer's adjoint and input; it is never materialised). `lr·d[i]` once per row.
#[inline(always)]
pub fn outer_sgd<F: Float, const R: usize, const C: usize>(
    w: &mut [[F; C]; R],
    d: &[F; R],
    x: &[F; C],
    lr: F,
) {
    for (row, &di) in w.iter_mut().zip(d) {
        if di == F::ZERO {
            continue;
        }
        let step = lr * di;
        for (wij, &xj) in row.iter_mut().zip(x) {
            *wij -= step * xj;
        }
    }
}

/// `G += d·xᵀ` (index loops, as [`matvec_t_acc`]).
#[inline(always)]
#[allow(clippy::needless_range_loop)]
pub fn outer_acc<F: Float, const R: usize, const C: usize>(
    g: &mut [[F; C]; R],
    d: &[F; R],
    x: &[F; C],
) {
    for i in 0..R {
        let di = d[i];
        if di == F::ZERO {
            continue;
        }
        for j in 0..C {
            g[i][j] += di * x[j];
        }
    }
}

/// `out = a·bᵀ`, materialised (only when an outer product is used as a value).
#[inline(always)]
pub fn outer<F: Float, const R: usize, const C: usize>(
    a: &[F; R],
    b: &[F; C],
    out: &mut [[F; C]; R],
) {
    for (row, &ai) in out.iter_mut().zip(a) {
        for (o, &bj) in row.iter_mut().zip(b) {
            *o = ai * bj;
        }
    }
}

/// `p -= lr·g` elementwise (a vector group's SGD step).
#[inline(always)]
pub fn sgd<F: Float, const N: usize>(p: &mut [F; N], g: &[F; N], lr: F) {
    for (p, &g) in p.iter_mut().zip(g) {
        *p -= lr * g;
    }
}

/// `acc += g` elementwise.
#[inline(always)]
pub fn add_assign<F: Float, const N: usize>(acc: &mut [F; N], g: &[F; N]) {
    for (a, &g) in acc.iter_mut().zip(g) {
        *a += g;
    }
}

/// `Σ_i v[i]`, in index order.
#[inline(always)]
pub fn sum<F: Float, const N: usize>(v: &[F; N]) -> F {
    v.iter().fold(F::ZERO, |s, &x| s + x)
}

/// `out = op(a)·op(b)` for `op(a)` of `M × K` and `op(b)` of `K × P`, either factor
/// possibly transposed (`a` is stored `M × K`, or `K × M` when `ta`; likewise `b`):
/// the general product, for matrix–matrix terms. Plain loops in `i, k, j` order.
#[inline(always)]
#[allow(clippy::many_single_char_names)]
pub fn matmul<F: Float, const M: usize, const K: usize, const P: usize>(
    a: &[F],
    b: &[F],
    ta: bool,
    tb: bool,
    out: &mut [F],
) {
    let a_at = |i: usize, k: usize| if ta { a[k * M + i] } else { a[i * K + k] };
    let b_at = |k: usize, j: usize| if tb { b[j * K + k] } else { b[k * P + j] };
    let out = &mut out[..M * P];
    out.fill(F::ZERO);
    for i in 0..M {
        for k in 0..K {
            let aik = a_at(i, k);
            for j in 0..P {
                out[i * P + j] += aik * b_at(k, j);
            }
        }
    }
}

/// `out = mᵀ` for an `R × C` matrix `m`.
#[inline(always)]
pub fn transpose<F: Float, const R: usize, const C: usize>(m: &[F], out: &mut [F]) {
    for i in 0..R {
        for j in 0..C {
            out[j * R + i] = m[i * C + j];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<const N: usize>(seed: u64) -> [f64; N] {
        let mut rng = crate::init::SplitMix64::new(seed);
        std::array::from_fn(|_| rng.symmetric(1.0))
    }

    fn close(a: &[f64], b: &[f64]) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-12 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    const R: usize = 7;
    const C: usize = 5;

    fn naive_matvec(w: &[f64], x: &[f64]) -> Vec<f64> {
        (0..R)
            .map(|i| (0..C).map(|j| w[i * C + j] * x[j]).sum())
            .collect()
    }

    #[test]
    fn matvec_map_is_the_product_then_the_epilogue_including_the_leftover_rows() {
        let w: [f64; R * C] = sample(1);
        let x: [f64; C] = sample(2);
        let (mut z, mut y) = ([0.0; R], [0.0; R]);
        matvec_map(matrix::<f64, R, C>(&w, 0), &x, &mut z, &mut y, |i, s| {
            (s + i as f64).tanh()
        });
        let expect = naive_matvec(&w, &x);
        close(&z, &expect);
        let ys: Vec<f64> = expect
            .iter()
            .enumerate()
            .map(|(i, s)| (s + i as f64).tanh())
            .collect();
        close(&y, &ys);
    }

    #[test]
    fn transposed_products_and_fused_updates_match_naive_loops() {
        let w0: [f64; R * C] = sample(3);
        let d: [f64; R] = sample(4);
        let h: [f64; C] = sample(5);
        let lr = 0.3;
        let expect_t: Vec<f64> = (0..C)
            .map(|j| (0..R).map(|i| w0[i * C + j] * d[i]).sum())
            .collect();
        let expect_w: Vec<f64> = (0..R * C)
            .map(|k| w0[k] - lr * d[k / C] * h[k % C])
            .collect();

        let mut out = [9.0; C];
        matvec_t(matrix::<f64, R, C>(&w0, 0), &d, &mut out);
        close(&out, &expect_t);

        let mut w = w0;
        let mut out = [9.0; C];
        matvec_t_sgd(matrix_mut::<f64, R, C>(&mut w, 0), &d, &h, lr, &mut out);
        close(&out, &expect_t);
        close(&w, &expect_w);

        let mut w = w0;
        outer_sgd(matrix_mut::<f64, R, C>(&mut w, 0), &d, &h, lr);
        close(&w, &expect_w);

        let mut g = [1.0; R * C];
        let mut out = [9.0; C];
        matvec_t_acc(
            matrix::<f64, R, C>(&w0, 0),
            &d,
            &h,
            matrix_mut::<f64, R, C>(&mut g, 0),
            &mut out,
        );
        close(&out, &expect_t);
        let expect_g: Vec<f64> = (0..R * C).map(|k| 1.0 + d[k / C] * h[k % C]).collect();
        close(&g, &expect_g);

        let mut g = [1.0; R * C];
        outer_acc(matrix_mut::<f64, R, C>(&mut g, 0), &d, &h);
        close(&g, &expect_g);

        let mut o = [0.0; R * C];
        outer(&d, &h, matrix_mut::<f64, R, C>(&mut o, 0));
        let expect_o: Vec<f64> = (0..R * C).map(|k| d[k / C] * h[k % C]).collect();
        close(&o, &expect_o);
    }

    #[test]
    fn general_matmul_handles_every_transpose_flag() {
        const M: usize = 3;
        const K: usize = 4;
        const P: usize = 2;
        let a: [f64; M * K] = sample(6);
        let b: [f64; K * P] = sample(7);
        let at: Vec<f64> = (0..K * M).map(|t| a[(t % M) * K + t / M]).collect();
        let bt: Vec<f64> = (0..P * K).map(|t| b[(t % K) * P + t / K]).collect();
        let expect: Vec<f64> = (0..M * P)
            .map(|t| (0..K).map(|k| a[(t / P) * K + k] * b[k * P + t % P]).sum())
            .collect();
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let mut out = [0.0; M * P];
            let (a, b) = (
                if ta { &at[..] } else { &a[..] },
                if tb { &bt[..] } else { &b[..] },
            );
            matmul::<f64, M, K, P>(a, b, ta, tb, &mut out);
            close(&out, &expect);
        }
        let mut t = [0.0; M * K];
        transpose::<f64, M, K>(&a, &mut t);
        close(&t, &at);
    }

    #[test]
    fn wide_rows_take_the_eight_row_blocks_then_four_then_single_rows() {
        const WR: usize = 13;
        const WC: usize = 301;
        let w: Vec<f64> = (0..WR * WC)
            .map(|k| ((k * 7919) % 1000) as f64 / 500.0 - 1.0)
            .collect();
        let x: [f64; WC] = sample(11);
        let (mut z, mut y) = ([0.0; WR], [0.0; WR]);
        matvec_map(matrix::<f64, WR, WC>(&w, 0), &x, &mut z, &mut y, |i, s| {
            s * i as f64
        });
        for i in 0..WR {
            let want: f64 = (0..WC).map(|j| w[i * WC + j] * x[j]).sum();
            assert!((z[i] - want).abs() <= 1e-12 * (1.0 + want.abs()), "row {i}");
            assert_eq!(y[i], z[i] * i as f64);
        }
    }

    #[test]
    fn rows_with_a_zero_adjoint_are_left_exactly_as_they_were() {
        let w0: [f64; R * C] = sample(8);
        let mut d: [f64; R] = sample(9);
        d[2] = 0.0;
        d[5] = -0.0;
        let h: [f64; C] = sample(10);
        let mut w = w0;
        let mut out = [0.0; C];
        matvec_t_sgd(matrix_mut::<f64, R, C>(&mut w, 0), &d, &h, 0.5, &mut out);
        assert_eq!(w[2 * C..3 * C], w0[2 * C..3 * C]);
        assert_eq!(w[5 * C..6 * C], w0[5 * C..6 * C]);
        assert_ne!(w[C..2 * C], w0[C..2 * C]);
        let mut check = [0.0; C];
        matvec_t(matrix::<f64, R, C>(&w0, 0), &d, &mut check);
        close(&out, &check);
    }

    #[test]
    fn vectors_sums_and_updates() {
        let mut p = [1.0, 2.0, 3.0];
        sgd(&mut p, &[1.0, -1.0, 0.5], 0.5);
        assert_eq!(p, [0.5, 2.5, 2.75]);
        add_assign(&mut p, &[0.5, 0.5, 0.25]);
        assert_eq!(p, [1.0, 3.0, 3.0]);
        assert_eq!(sum(&p), 7.0);
        assert_eq!(dot(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 32.0);
        assert_eq!(vector::<f64, 2>(&p, 1), &[3.0, 3.0]);
    }
}
