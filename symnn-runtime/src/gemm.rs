//! Batch matrix products for a block of `n` samples (the batch code's layers):
//! [`gemm_nt`] (forward, `Z = X·Wᵀ`), [`gemm_tn_acc`] (weight gradient `ΔᵀX`, or a
//! fused SGD update) and [`gemm_nn`] (backprop, `Δ·W`).
//!
//! All data is row-major. `W` is a const-generic `R × C` matrix; the per-sample
//! matrices (`X`, `Z`, `Δ`, ...) are slices with an explicit row stride, so a sample's
//! row can be part of a wider one. The sizes are forwarded to kernels that are *not*
//! generic over `R` and `C` (one instantiation per element type and ISA, however
//! many layer shapes a program has).
//!
//! **Dispatch.** Each call picks a version from [`simd::isa()`](crate::simd::isa):
//! AVX-512, AVX2+FMA, or portable Rust (no `mul_add`: without hardware FMA it is a
//! slow libm call). The vector versions are compiled with `#[target_feature]` on their
//! entry points (everything below them is `#[inline(always)]`), so the crate needs no
//! `-C target-cpu=native` and runs on any `x86_64`; see [`simd`].
//!
//! **Tiling.** Two register-tiled micro-kernels, written once over a small lane
//! abstraction (`Lanes`: load, masked load for the last partial vector, splat, FMA, a
//! four-way horizontal sum) and instantiated for `__m256`/`__m256d`, `__m512`/`__m512d`
//! and a portable `[F; 4]`:
//!
//! * *dot* (for [`gemm_nt`]): `z[s][i] = Σ_k x[s][k]·w[i][k]`, both operands contiguous
//!   along `k`. A tile of `MS` samples × `MR` rows keeps `MS·MR` vector accumulators
//!   along `k` (each step loads `MS + MR` vectors for `MS·MR` FMAs); at the end four
//!   accumulators at a time are reduced with a fixed `hadd` tree and stored as four
//!   adjacent outputs. No packing: `W`'s rows are already the layout a dot product
//!   wants. Loop order: a block of `MR` rows of `W` (in L1) against every sample tile.
//! * *broadcast* (for [`gemm_tn_acc`] and [`gemm_nn`]): `out[m][k] = Σ_p a[m][p]·b[p][k]`
//!   with `b` contiguous along `k` and `a` read one scalar at a time (broadcast) with
//!   arbitrary strides, which is how `Δᵀ` is read without transposing it. A tile of `MR`
//!   output rows × `NV` vectors along `k` keeps `MR·NV` accumulators; each step loads
//!   `NV` vectors and broadcasts `MR` scalars.
//!
//! Tile sizes per ISA (16 registers for AVX2, 32 for AVX-512) are in the entry points.
//! Every remainder is handled: fewer samples or rows in a tile (smaller const tiles),
//! and the last partial vector along `k` with masked loads and stores.
//!
//! **Determinism.** No threads; the summation order depends only on the ISA and the
//! shape, and each output's order is the same whichever tile computes it (so a
//! sample's result does not depend on its batch). Results differ between ISAs by
//! rounding (different lane counts and FMA).
//!
//! **Measured** (AMD Zen 4, one thread, `cargo bench --bench gemm`; FMA peak 118
//! GFLOP/s f32, 59 f64): MNIST 784-128-10 in f32 with 64 samples, `gemm_nt` and
//! `gemm_tn_acc` at 128×784 reach 114 GFLOP/s (97 % of peak) with AVX-512, 112 and 103
//! with AVX2; the 10×128 ones 98–106. The 64-32-10 f64 shapes with 32 samples reach
//! 44–55 GFLOP/s (75–94 % of peak): 190 ns per sample for the set. No packing: it
//! could only remove the last few percent, at a copy per call.
//!
//! Performance: `docs/PERFORMANCE.md` and `cargo bench --bench gemm`.

// Register tiles index several arrays with one counter; and no `copy_from_slice` or
// closures below the entry points: anything not inlined into them is compiled without
// their target features.
#![allow(clippy::needless_range_loop, clippy::manual_memcpy)]

use core::any::TypeId;

use crate::simd::{self, Isa};
use crate::Float;

/// `z[s*zs + i] = Σ_k w[i][k] * x[s*xs + k]` for `s < n`, `i < R` (forward:
/// `Z = X·Wᵀ`).
///
/// # Panics
/// If `n > 1` and a stride is smaller than its row (`xs < C`, `zs < R`), or a slice
/// is too short for `n` rows.
pub fn gemm_nt<F: Float, const R: usize, const C: usize>(
    n: usize,
    w: &[[F; C]; R],
    x: &[F],
    xs: usize,
    z: &mut [F],
    zs: usize,
) {
    check(n, x.len(), xs, C);
    check(n, z.len(), zs, R);
    if n == 0 || R == 0 {
        return;
    }
    let w = w.as_flattened();
    // SAFETY: the checks above bound every access (n rows of the given widths and
    // strides); the ISA-specific versions run only if `isa()` found the features.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        match simd::isa() {
            Isa::Avx512 => {
                if same::<F, f32>() {
                    return x86::nt_512_f32(n, R, C, cast(w), cast(x), xs, cast_mut(z), zs);
                }
                if same::<F, f64>() {
                    return x86::nt_512_f64(n, R, C, cast(w), cast(x), xs, cast_mut(z), zs);
                }
            }
            Isa::Avx2Fma => {
                if same::<F, f32>() {
                    return x86::nt_256_f32(n, R, C, cast(w), cast(x), xs, cast_mut(z), zs);
                }
                if same::<F, f64>() {
                    return x86::nt_256_f64(n, R, C, cast(w), cast(x), xs, cast_mut(z), zs);
                }
            }
            Isa::Portable => {}
        }
        nt::<Portable<F>, 2, 4>(n, R, C, w.as_ptr(), x.as_ptr(), xs, z.as_mut_ptr(), zs);
    }
}

/// `g[i][k] += scale * Σ_s d[s*ds + i] * x[s*xs + k]` for `i < R`, `k < C`, `s < n`
/// (the weight gradient `ΔᵀX`; with `g = W` and `scale = -lr/n`, a fused SGD update).
///
/// # Panics
/// If `n > 1` and a stride is smaller than its row (`ds < R`, `xs < C`), or a slice is
/// too short for `n` rows.
pub fn gemm_tn_acc<F: Float, const R: usize, const C: usize>(
    n: usize,
    d: &[F],
    ds: usize,
    x: &[F],
    xs: usize,
    g: &mut [[F; C]; R],
    scale: F,
) {
    check(n, d.len(), ds, R);
    check(n, x.len(), xs, C);
    if n == 0 || R == 0 || C == 0 {
        return;
    }
    let g = g.as_flattened_mut();
    // out(i, k) += scale · Σ_s a(i, s)·b(s, k) with a(i, s) = d[i + s·ds], b = x.
    let (m, p, k) = (R, n, C);
    // SAFETY: as in `gemm_nt`.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        match simd::isa() {
            Isa::Avx512 => {
                if same::<F, f32>() {
                    let (a, b, o, sc) = (cast(d), cast(x), cast_mut(g), cast_val(scale));
                    return x86::ab_512_f32::<true>(m, p, k, a, 1, ds, b, xs, o, k, sc);
                }
                if same::<F, f64>() {
                    let (a, b, o, sc) = (cast(d), cast(x), cast_mut(g), cast_val(scale));
                    return x86::ab_512_f64::<true>(m, p, k, a, 1, ds, b, xs, o, k, sc);
                }
            }
            Isa::Avx2Fma => {
                if same::<F, f32>() {
                    let (a, b, o, sc) = (cast(d), cast(x), cast_mut(g), cast_val(scale));
                    return x86::ab_256_f32::<true>(m, p, k, a, 1, ds, b, xs, o, k, sc);
                }
                if same::<F, f64>() {
                    let (a, b, o, sc) = (cast(d), cast(x), cast_mut(g), cast_val(scale));
                    return x86::ab_256_f64::<true>(m, p, k, a, 1, ds, b, xs, o, k, sc);
                }
            }
            Isa::Portable => {}
        }
        let (a, b, o) = (d.as_ptr(), x.as_ptr(), g.as_mut_ptr());
        ab::<Portable<F>, 4, 2, true>(m, p, k, a, 1, ds, b, xs, o, k, scale);
    }
}

/// `out[s*os + k] = Σ_i d[s*ds + i] * w[i][k]` for `s < n`, `k < C` (backprop:
/// `Δ·W`).
///
/// # Panics
/// If `n > 1` and a stride is smaller than its row (`ds < R`, `os < C`), or a slice
/// is too short for `n` rows.
pub fn gemm_nn<F: Float, const R: usize, const C: usize>(
    n: usize,
    d: &[F],
    ds: usize,
    w: &[[F; C]; R],
    out: &mut [F],
    os: usize,
) {
    check(n, d.len(), ds, R);
    check(n, out.len(), os, C);
    if n == 0 || C == 0 {
        return;
    }
    let w = w.as_flattened();
    // out(s, k) = Σ_i a(s, i)·b(i, k) with a(s, i) = d[s·ds + i], b = w.
    let (m, p, k) = (n, R, C);
    // SAFETY: as in `gemm_nt`.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        match simd::isa() {
            Isa::Avx512 => {
                if same::<F, f32>() {
                    let (a, b, o) = (cast(d), cast(w), cast_mut(out));
                    return x86::ab_512_f32::<false>(m, p, k, a, ds, 1, b, k, o, os, 0.0);
                }
                if same::<F, f64>() {
                    let (a, b, o) = (cast(d), cast(w), cast_mut(out));
                    return x86::ab_512_f64::<false>(m, p, k, a, ds, 1, b, k, o, os, 0.0);
                }
            }
            Isa::Avx2Fma => {
                if same::<F, f32>() {
                    let (a, b, o) = (cast(d), cast(w), cast_mut(out));
                    return x86::ab_256_f32::<false>(m, p, k, a, ds, 1, b, k, o, os, 0.0);
                }
                if same::<F, f64>() {
                    let (a, b, o) = (cast(d), cast(w), cast_mut(out));
                    return x86::ab_256_f64::<false>(m, p, k, a, ds, 1, b, k, o, os, 0.0);
                }
            }
            Isa::Portable => {}
        }
        let (a, b, o) = (d.as_ptr(), w.as_ptr(), out.as_mut_ptr());
        ab::<Portable<F>, 4, 2, false>(m, p, k, a, ds, 1, b, k, o, os, F::ZERO);
    }
}

/// `n` rows of `width` elements, `stride` apart, fit in `len`.
#[inline]
#[track_caller]
fn check(n: usize, len: usize, stride: usize, width: usize) {
    if n == 0 {
        return;
    }
    assert!(
        n == 1 || stride >= width,
        "gemm: row stride {stride} < row width {width}"
    );
    let need = (n - 1)
        .checked_mul(stride)
        .and_then(|v| v.checked_add(width));
    assert!(
        need.is_some_and(|need| need <= len),
        "gemm: slice of {len} elements too short for {n} rows of {width} with stride {stride}"
    );
}

#[inline(always)]
fn same<A: 'static, B: 'static>() -> bool {
    TypeId::of::<A>() == TypeId::of::<B>()
}

/// Reinterprets a slice of `F` as one of `T` (callers check `F == T` with `same`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn cast<F, T>(s: &[F]) -> *const T {
    s.as_ptr().cast()
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn cast_mut<F, T>(s: &mut [F]) -> *mut T {
    s.as_mut_ptr().cast()
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn cast_val<F: Copy, T: Copy>(v: F) -> T {
    debug_assert_eq!(core::mem::size_of::<F>(), core::mem::size_of::<T>());
    core::mem::transmute_copy(&v)
}

// ---------------------------------------------------------------------------------------
// Lanes: the vector operations the micro-kernels need
// ---------------------------------------------------------------------------------------

/// A vector of `N` lanes of `F`. Implementations are zero-sized markers; every method
/// is `#[inline(always)]` and must only be called (inlined) inside a function compiled
/// with the implementation's target features.
trait Lanes {
    type F: Copy;
    type V: Copy;
    const N: usize;
    unsafe fn zero() -> Self::V;
    unsafe fn load(p: *const Self::F) -> Self::V;
    /// The first `n` lanes (`0 < n < N`) from `p`, the rest zero; reads nothing else.
    unsafe fn load_part(p: *const Self::F, n: usize) -> Self::V;
    unsafe fn store(p: *mut Self::F, v: Self::V);
    /// Writes the first `n` lanes (`0 < n < N`) only.
    unsafe fn store_part(p: *mut Self::F, v: Self::V, n: usize);
    unsafe fn splat(x: Self::F) -> Self::V;
    /// `a·b + c` (fused where the ISA has FMA).
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// The horizontal sums of four vectors, by a fixed tree.
    unsafe fn sum4(v: [Self::V; 4]) -> [Self::F; 4];
}

/// Plain Rust, four lanes: SSE2 vectorises it; no `mul_add`.
struct Portable<F>(core::marker::PhantomData<F>);

impl<F: Float> Lanes for Portable<F> {
    type F = F;
    type V = [F; 4];
    const N: usize = 4;
    #[inline(always)]
    unsafe fn zero() -> [F; 4] {
        [F::ZERO; 4]
    }
    #[inline(always)]
    unsafe fn load(p: *const F) -> [F; 4] {
        p.cast::<[F; 4]>().read_unaligned()
    }
    #[inline(always)]
    unsafe fn load_part(p: *const F, n: usize) -> [F; 4] {
        let mut v = [F::ZERO; 4];
        for (j, v) in v.iter_mut().enumerate().take(n) {
            *v = *p.add(j);
        }
        v
    }
    #[inline(always)]
    unsafe fn store(p: *mut F, v: [F; 4]) {
        p.cast::<[F; 4]>().write_unaligned(v)
    }
    #[inline(always)]
    unsafe fn store_part(p: *mut F, v: [F; 4], n: usize) {
        for (j, v) in v.iter().enumerate().take(n) {
            *p.add(j) = *v;
        }
    }
    #[inline(always)]
    unsafe fn splat(x: F) -> [F; 4] {
        [x; 4]
    }
    #[inline(always)]
    unsafe fn fma(a: [F; 4], b: [F; 4], c: [F; 4]) -> [F; 4] {
        [
            a[0] * b[0] + c[0],
            a[1] * b[1] + c[1],
            a[2] * b[2] + c[2],
            a[3] * b[3] + c[3],
        ]
    }
    #[inline(always)]
    unsafe fn sum4(v: [[F; 4]; 4]) -> [F; 4] {
        v.map(|v| (v[0] + v[1]) + (v[2] + v[3]))
    }
}

// ---------------------------------------------------------------------------------------
// Micro-kernels
// ---------------------------------------------------------------------------------------

/// Runs `$body` with `$m` a `const usize` equal to `$n`, for `$n` in the listed values
/// below `$lim` (a remainder of a tile of `$lim`). The `if const` keeps the arms at or
/// above the limit out of the monomorphised code (they would never run).
macro_rules! with_const {
    ($n:expr, $lim:expr, [$($v:literal),*], $m:ident => $body:expr) => {
        match $n {
            $($v => {
                if const { $v < $lim } {
                    const $m: usize = $v;
                    $body
                } else {
                    unreachable!()
                }
            })*
            _ => unreachable!(),
        }
    };
}

/// Dot tile: `z[s][r] = Σ_k x[s][k]·w[r][k]` for `MS` samples × `MR` rows, `c` columns.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn nt_tile<S: Lanes, const MS: usize, const MR: usize>(
    c: usize,
    w: *const S::F,
    x: *const S::F,
    xs: usize,
    z: *mut S::F,
    zs: usize,
) {
    let mut acc = [[S::zero(); MR]; MS];
    let full = c / S::N;
    let mut off = 0;
    for _ in 0..full {
        let mut xv = [S::zero(); MS];
        for (s, xv) in xv.iter_mut().enumerate() {
            *xv = S::load(x.add(s * xs + off));
        }
        for r in 0..MR {
            let wv = S::load(w.add(r * c + off));
            for s in 0..MS {
                acc[s][r] = S::fma(xv[s], wv, acc[s][r]);
            }
        }
        off += S::N;
    }
    let tail = c - off;
    if tail > 0 {
        let mut xv = [S::zero(); MS];
        for (s, xv) in xv.iter_mut().enumerate() {
            *xv = S::load_part(x.add(s * xs + off), tail);
        }
        for r in 0..MR {
            let wv = S::load_part(w.add(r * c + off), tail);
            for s in 0..MS {
                acc[s][r] = S::fma(xv[s], wv, acc[s][r]);
            }
        }
    }
    for (s, acc) in acc.iter().enumerate() {
        let mut r0 = 0;
        while r0 < MR {
            let cnt = if MR - r0 < 4 { MR - r0 } else { 4 };
            let mut v = [S::zero(); 4];
            for j in 0..cnt {
                v[j] = acc[r0 + j];
            }
            let sums = S::sum4(v);
            for (j, &sum) in sums.iter().enumerate().take(cnt) {
                *z.add(s * zs + r0 + j) = sum;
            }
            r0 += 4;
        }
    }
}

/// Rows `i..i + MR` of `W` against all `n` samples, `MS` at a time.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn nt_rows<S: Lanes, const MS: usize, const MR: usize>(
    n: usize,
    c: usize,
    w: *const S::F,
    x: *const S::F,
    xs: usize,
    z: *mut S::F,
    zs: usize,
) {
    let mut s = 0;
    while s + MS <= n {
        nt_tile::<S, MS, MR>(c, w, x.add(s * xs), xs, z.add(s * zs), zs);
        s += MS;
    }
    let rest = n - s;
    if rest > 0 {
        let (x, z) = (x.add(s * xs), z.add(s * zs));
        with_const!(rest, MS, [1, 2, 3, 4, 5], M => nt_tile::<S, M, MR>(c, w, x, xs, z, zs));
    }
}

/// [`gemm_nt`] with tiles of `MS` samples × `MR` rows (`MS ≤ 6`, `MR ≤ 8`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn nt<S: Lanes, const MS: usize, const MR: usize>(
    n: usize,
    r: usize,
    c: usize,
    w: *const S::F,
    x: *const S::F,
    xs: usize,
    z: *mut S::F,
    zs: usize,
) {
    let mut i = 0;
    while i + MR <= r {
        nt_rows::<S, MS, MR>(n, c, w.add(i * c), x, xs, z.add(i), zs);
        i += MR;
    }
    let rest = r - i;
    if rest > 0 {
        let (w, z) = (w.add(i * c), z.add(i));
        with_const!(rest, MR, [1, 2, 3, 4, 5, 6, 7], M => nt_rows::<S, MS, M>(n, c, w, x, xs, z, zs));
    }
}

/// Broadcast tile: `o[m][v] (+)= Σ_p a(m, p)·b[p][v]` for `MR` rows × `NV` vectors
/// (the last one `last` lanes wide if `PART`); `ACC`: `o += scale·Σ`, else `o = Σ`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn ab_tile<S: Lanes, const MR: usize, const NV: usize, const PART: bool, const ACC: bool>(
    p_len: usize,
    a: *const S::F,
    am: usize,
    ap: usize,
    b: *const S::F,
    bs: usize,
    o: *mut S::F,
    os: usize,
    last: usize,
    scale: S::F,
) {
    let mut acc = [[S::zero(); NV]; MR];
    for p in 0..p_len {
        let bp = b.add(p * bs);
        let mut bv = [S::zero(); NV];
        for (v, bv) in bv.iter_mut().enumerate() {
            *bv = if PART && v == NV - 1 {
                S::load_part(bp.add(v * S::N), last)
            } else {
                S::load(bp.add(v * S::N))
            };
        }
        let arow = a.add(p * ap);
        for (m, acc) in acc.iter_mut().enumerate() {
            let av = S::splat(*arow.add(m * am));
            for v in 0..NV {
                acc[v] = S::fma(av, bv[v], acc[v]);
            }
        }
    }
    let sc = S::splat(scale);
    for (m, acc) in acc.iter().enumerate() {
        for (v, &acc) in acc.iter().enumerate() {
            let q = o.add(m * os + v * S::N);
            if PART && v == NV - 1 {
                let val = if ACC {
                    S::fma(sc, acc, S::load_part(q, last))
                } else {
                    acc
                };
                S::store_part(q, val, last);
            } else {
                let val = if ACC {
                    S::fma(sc, acc, S::load(q))
                } else {
                    acc
                };
                S::store(q, val);
            }
        }
    }
}

/// Rows `MR` of the output, all `k` columns, `NV` vectors at a time.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn ab_rows<S: Lanes, const MR: usize, const NV: usize, const ACC: bool>(
    p_len: usize,
    k: usize,
    a: *const S::F,
    am: usize,
    ap: usize,
    b: *const S::F,
    bs: usize,
    o: *mut S::F,
    os: usize,
    scale: S::F,
) {
    let strip = NV * S::N;
    let mut j = 0;
    while j + strip <= k {
        ab_tile::<S, MR, NV, false, ACC>(p_len, a, am, ap, b.add(j), bs, o.add(j), os, 0, scale);
        j += strip;
    }
    if j < k {
        let rest = k - j;
        let last = rest % S::N;
        let nv = rest.div_ceil(S::N);
        let (b, o) = (b.add(j), o.add(j));
        if last == 0 {
            with_const!(nv, NV + 1, [1, 2, 3, 4], V => ab_tile::<S, MR, V, false, ACC>(
                p_len, a, am, ap, b, bs, o, os, 0, scale
            ));
        } else {
            with_const!(nv, NV + 1, [1, 2, 3, 4], V => ab_tile::<S, MR, V, true, ACC>(
                p_len, a, am, ap, b, bs, o, os, last, scale
            ));
        }
    }
}

/// `o(m, k) (+)= Σ_p a(m, p)·b(p, k)`, `m < m_len`, `k < k_len`, `p < p_len`, with
/// `a(m, p) = a[m·am + p·ap]`, `b(p, k) = b[p·bs + k]`, `o(m, k) = o[m·os + k]`; tiles
/// of `MR ≤ 8` rows × `NV ≤ 4` vectors.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn ab<S: Lanes, const MR: usize, const NV: usize, const ACC: bool>(
    m_len: usize,
    p_len: usize,
    k_len: usize,
    a: *const S::F,
    am: usize,
    ap: usize,
    b: *const S::F,
    bs: usize,
    o: *mut S::F,
    os: usize,
    scale: S::F,
) {
    let mut i = 0;
    while i + MR <= m_len {
        ab_rows::<S, MR, NV, ACC>(
            p_len,
            k_len,
            a.add(i * am),
            am,
            ap,
            b,
            bs,
            o.add(i * os),
            os,
            scale,
        );
        i += MR;
    }
    let rest = m_len - i;
    if rest > 0 {
        let (a, o) = (a.add(i * am), o.add(i * os));
        with_const!(rest, MR, [1, 2, 3, 4, 5, 6, 7], M => ab_rows::<S, M, NV, ACC>(
            p_len, k_len, a, am, ap, b, bs, o, os, scale
        ));
    }
}

// ---------------------------------------------------------------------------------------
// x86_64: AVX2+FMA and AVX-512 lanes and entry points
// ---------------------------------------------------------------------------------------

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{ab, nt, Lanes};
    use core::arch::x86_64::*;

    /// `MASK32[8 - n..16 - n]`: the first `n` lanes set (AVX2 masked loads).
    static MASK32: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];
    static MASK64: [i64; 8] = [-1, -1, -1, -1, 0, 0, 0, 0];

    pub(super) struct Avx2F32;
    pub(super) struct Avx2F64;
    pub(super) struct Avx512F32;
    pub(super) struct Avx512F64;

    impl Lanes for Avx2F32 {
        type F = f32;
        type V = __m256;
        const N: usize = 8;
        #[inline(always)]
        unsafe fn zero() -> __m256 {
            _mm256_setzero_ps()
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m256 {
            _mm256_loadu_ps(p)
        }
        #[inline(always)]
        unsafe fn load_part(p: *const f32, n: usize) -> __m256 {
            let m = _mm256_loadu_si256(MASK32.as_ptr().add(8 - n).cast());
            _mm256_maskload_ps(p, m)
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m256) {
            _mm256_storeu_ps(p, v)
        }
        #[inline(always)]
        unsafe fn store_part(p: *mut f32, v: __m256, n: usize) {
            let m = _mm256_loadu_si256(MASK32.as_ptr().add(8 - n).cast());
            _mm256_maskstore_ps(p, m, v)
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> __m256 {
            _mm256_set1_ps(x)
        }
        #[inline(always)]
        unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
            _mm256_fmadd_ps(a, b, c)
        }
        #[inline(always)]
        unsafe fn sum4(v: [__m256; 4]) -> [f32; 4] {
            // [a01 a23 b01 b23 | a45 a67 b45 b67], then [a0123 b0123 c0123 d0123 | a4567 ...]
            let ab = _mm256_hadd_ps(v[0], v[1]);
            let cd = _mm256_hadd_ps(v[2], v[3]);
            let abcd = _mm256_hadd_ps(ab, cd);
            let s = _mm_add_ps(
                _mm256_castps256_ps128(abcd),
                _mm256_extractf128_ps::<1>(abcd),
            );
            core::mem::transmute::<__m128, [f32; 4]>(s)
        }
    }

    impl Lanes for Avx2F64 {
        type F = f64;
        type V = __m256d;
        const N: usize = 4;
        #[inline(always)]
        unsafe fn zero() -> __m256d {
            _mm256_setzero_pd()
        }
        #[inline(always)]
        unsafe fn load(p: *const f64) -> __m256d {
            _mm256_loadu_pd(p)
        }
        #[inline(always)]
        unsafe fn load_part(p: *const f64, n: usize) -> __m256d {
            let m = _mm256_loadu_si256(MASK64.as_ptr().add(4 - n).cast());
            _mm256_maskload_pd(p, m)
        }
        #[inline(always)]
        unsafe fn store(p: *mut f64, v: __m256d) {
            _mm256_storeu_pd(p, v)
        }
        #[inline(always)]
        unsafe fn store_part(p: *mut f64, v: __m256d, n: usize) {
            let m = _mm256_loadu_si256(MASK64.as_ptr().add(4 - n).cast());
            _mm256_maskstore_pd(p, m, v)
        }
        #[inline(always)]
        unsafe fn splat(x: f64) -> __m256d {
            _mm256_set1_pd(x)
        }
        #[inline(always)]
        unsafe fn fma(a: __m256d, b: __m256d, c: __m256d) -> __m256d {
            _mm256_fmadd_pd(a, b, c)
        }
        #[inline(always)]
        unsafe fn sum4(v: [__m256d; 4]) -> [f64; 4] {
            // [a01 b01 a23 b23], [c01 d01 c23 d23] -> lo + hi halves.
            let ab = _mm256_hadd_pd(v[0], v[1]);
            let cd = _mm256_hadd_pd(v[2], v[3]);
            let lo = _mm256_permute2f128_pd::<0x20>(ab, cd);
            let hi = _mm256_permute2f128_pd::<0x31>(ab, cd);
            core::mem::transmute::<__m256d, [f64; 4]>(_mm256_add_pd(lo, hi))
        }
    }

    impl Lanes for Avx512F32 {
        type F = f32;
        type V = __m512;
        const N: usize = 16;
        #[inline(always)]
        unsafe fn zero() -> __m512 {
            _mm512_setzero_ps()
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m512 {
            _mm512_loadu_ps(p)
        }
        #[inline(always)]
        unsafe fn load_part(p: *const f32, n: usize) -> __m512 {
            _mm512_maskz_loadu_ps(((1u32 << n) - 1) as u16, p)
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m512) {
            _mm512_storeu_ps(p, v)
        }
        #[inline(always)]
        unsafe fn store_part(p: *mut f32, v: __m512, n: usize) {
            _mm512_mask_storeu_ps(p, ((1u32 << n) - 1) as u16, v)
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> __m512 {
            _mm512_set1_ps(x)
        }
        #[inline(always)]
        unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
            _mm512_fmadd_ps(a, b, c)
        }
        #[inline(always)]
        unsafe fn sum4(v: [__m512; 4]) -> [f32; 4] {
            // (No closure here: it would be compiled without AVX-512 and not inlined.)
            let mut h = [_mm256_setzero_ps(); 4];
            for j in 0..4 {
                h[j] = _mm256_add_ps(
                    _mm512_castps512_ps256(v[j]),
                    _mm512_extractf32x8_ps::<1>(v[j]),
                );
            }
            Avx2F32::sum4(h)
        }
    }

    impl Lanes for Avx512F64 {
        type F = f64;
        type V = __m512d;
        const N: usize = 8;
        #[inline(always)]
        unsafe fn zero() -> __m512d {
            _mm512_setzero_pd()
        }
        #[inline(always)]
        unsafe fn load(p: *const f64) -> __m512d {
            _mm512_loadu_pd(p)
        }
        #[inline(always)]
        unsafe fn load_part(p: *const f64, n: usize) -> __m512d {
            _mm512_maskz_loadu_pd(((1u32 << n) - 1) as u8, p)
        }
        #[inline(always)]
        unsafe fn store(p: *mut f64, v: __m512d) {
            _mm512_storeu_pd(p, v)
        }
        #[inline(always)]
        unsafe fn store_part(p: *mut f64, v: __m512d, n: usize) {
            _mm512_mask_storeu_pd(p, ((1u32 << n) - 1) as u8, v)
        }
        #[inline(always)]
        unsafe fn splat(x: f64) -> __m512d {
            _mm512_set1_pd(x)
        }
        #[inline(always)]
        unsafe fn fma(a: __m512d, b: __m512d, c: __m512d) -> __m512d {
            _mm512_fmadd_pd(a, b, c)
        }
        #[inline(always)]
        unsafe fn sum4(v: [__m512d; 4]) -> [f64; 4] {
            let mut h = [_mm256_setzero_pd(); 4];
            for j in 0..4 {
                h[j] = _mm256_add_pd(
                    _mm512_castpd512_pd256(v[j]),
                    _mm512_extractf64x4_pd::<1>(v[j]),
                );
            }
            Avx2F64::sum4(h)
        }
    }

    macro_rules! entry {
        ($feat:literal, $nt:ident, $ab:ident, $lanes:ty, $f:ty,
         nt: ($ms:literal, $mr:literal), ab: ($abm:literal, $abv:literal)) => {
            #[target_feature(enable = $feat)]
            #[allow(clippy::too_many_arguments)]
            pub(super) unsafe fn $nt(
                n: usize,
                r: usize,
                c: usize,
                w: *const $f,
                x: *const $f,
                xs: usize,
                z: *mut $f,
                zs: usize,
            ) {
                nt::<$lanes, $ms, $mr>(n, r, c, w, x, xs, z, zs)
            }

            #[target_feature(enable = $feat)]
            #[allow(clippy::too_many_arguments)]
            pub(super) unsafe fn $ab<const ACC: bool>(
                m_len: usize,
                p_len: usize,
                k_len: usize,
                a: *const $f,
                am: usize,
                ap: usize,
                b: *const $f,
                bs: usize,
                o: *mut $f,
                os: usize,
                scale: $f,
            ) {
                ab::<$lanes, $abm, $abv, ACC>(m_len, p_len, k_len, a, am, ap, b, bs, o, os, scale)
            }
        };
    }

    entry!("avx2,fma", nt_256_f32, ab_256_f32, Avx2F32, f32, nt: (3, 4), ab: (6, 2));
    entry!("avx2,fma", nt_256_f64, ab_256_f64, Avx2F64, f64, nt: (3, 4), ab: (6, 2));
    entry!("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma", nt_512_f32, ab_512_f32, Avx512F32, f32,
        nt: (4, 4), ab: (8, 3));
    entry!("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma", nt_512_f64, ab_512_f64, Avx512F64, f64,
        nt: (4, 4), ab: (8, 3));
}
