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
//!
//! **Files.** `mod.rs`: the entry points, their checks and the dispatch; `tile.rs`: the
//! `Lanes` abstraction, its portable version and the two micro-kernels; `x86.rs`: the
//! AVX2 and AVX-512 lanes and the `#[target_feature]` entry points.

// Register tiles index several arrays with one counter; and no `copy_from_slice` or
// closures below the entry points: anything not inlined into them is compiled without
// their target features.
#![allow(clippy::needless_range_loop, clippy::manual_memcpy)]

mod tile;
#[cfg(target_arch = "x86_64")]
mod x86;

use core::any::TypeId;

use crate::simd::{self, Isa};
use crate::Float;
use tile::{ab, nt, Portable};

/// Returns from the enclosing function through the vector entry point
/// `x86::<isa>_<float>::$entry` for `$f` at the running ISA, if there is one; falls
/// through (to the portable code) otherwise. The arguments are written once and cast to
/// each entry point's element type.
macro_rules! dispatch {
    ($f:ty, $entry:ident $(::<$acc:literal>)? ($($arg:expr),* $(,)?)) => {
        #[cfg(target_arch = "x86_64")]
        match simd::isa() {
            Isa::Avx512 => {
                if same::<$f, f32>() {
                    return x86::avx512_f32::$entry $(::<$acc>)? ($($arg),*);
                }
                if same::<$f, f64>() {
                    return x86::avx512_f64::$entry $(::<$acc>)? ($($arg),*);
                }
            }
            Isa::Avx2Fma => {
                if same::<$f, f32>() {
                    return x86::avx2_f32::$entry $(::<$acc>)? ($($arg),*);
                }
                if same::<$f, f64>() {
                    return x86::avx2_f64::$entry $(::<$acc>)? ($($arg),*);
                }
            }
            Isa::Portable => {}
        }
    };
}

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
    if nt_transposed::<F>(R, C) {
        let mut wt = core::mem::MaybeUninit::<[F; TRANSPOSED]>::uninit();
        let wt = wt.as_mut_ptr().cast::<F>();
        // SAFETY: `R·C ≤ TRANSPOSED` (`nt_transposed`), so `wt` holds `Wᵀ` (`C × R`,
        // every element written before the product reads it); the product reads `n`
        // rows of `x` and writes `n` rows of `z`, bounded by the checks above.
        unsafe {
            for i in 0..R {
                for k in 0..C {
                    wt.add(k * R + i).write(w[i * C + k]);
                }
            }
            // z(s, i) = Σ_k x(s, k)·wt(k, i): vectors along the R outputs.
            ab_set(n, C, R, x.as_ptr(), xs, 1, wt, R, z.as_mut_ptr(), zs);
        }
        return;
    }
    // SAFETY: the checks above bound every access (n rows of the given widths and
    // strides); the ISA-specific versions run only if `isa()` found the features.
    unsafe {
        dispatch!(F, nt(n, R, C, cast(w), cast(x), xs, cast_mut(z), zs));
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
    if tn_transposed::<F>(R, C) {
        let mut t = core::mem::MaybeUninit::<[F; TRANSPOSED]>::uninit();
        let t = t.as_mut_ptr().cast::<F>();
        // SAFETY: `R·C ≤ TRANSPOSED`; the product writes all of `t` (`C × R`) before
        // it is read, and reads `n` rows of `d` and `x`, bounded by the checks above.
        unsafe {
            // t(k, i) = Σ_s x(s, k)·d(s, i): vectors along the R rows of the gradient.
            ab_set(C, n, R, x.as_ptr(), 1, xs, d.as_ptr(), ds, t, R);
            for i in 0..R {
                for k in 0..C {
                    let g = &mut g[i * C + k];
                    *g += scale * t.add(k * R + i).read();
                }
            }
        }
        return;
    }
    // out(i, k) += scale · Σ_s a(i, s)·b(s, k) with a(i, s) = d[i + s·ds], b = x.
    let (m, p, k) = (R, n, C);
    // SAFETY: as in `gemm_nt`.
    unsafe {
        dispatch!(
            F,
            ab::<true>(
                m,
                p,
                k,
                cast(d),
                1,
                ds,
                cast(x),
                xs,
                cast_mut(g),
                k,
                cast_val(scale)
            )
        );
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
        dispatch!(
            F,
            ab::<false>(m, p, k, cast(d), ds, 1, cast(w), k, cast_mut(out), os, 0.0)
        );
        let (a, b, o) = (d.as_ptr(), w.as_ptr(), out.as_mut_ptr());
        ab::<Portable<F>, 4, 2, false>(m, p, k, a, ds, 1, b, k, o, os, F::ZERO);
    }
}

/// The largest matrix [`gemm_nt`] and [`gemm_tn_acc`] transpose (on the stack).
const TRANSPOSED: usize = 2048;

/// Whether [`gemm_nt`] (`R` outputs over `C` inputs) is faster through `Wᵀ`: per
/// sample, `C · ⌈R/N⌉` broadcast FMAs plus the transposition (`R·C` moves, counted
/// over a block of 32 samples) against `R` dot products of `⌈C/N⌉` FMAs and a
/// reduction (measured at about two FMAs), `N` the lanes of a vector at the running
/// ISA. Independent of the sample count, so a sample's result does not depend on its
/// block. 4-32-16-4's first two layers take it; 784-128-10 and 64-32-10 do not.
fn nt_transposed<F: Float>(r: usize, c: usize) -> bool {
    let n = lanes::<F>();
    r * c <= TRANSPOSED && 32 * c * r.div_ceil(n) + r * c < 32 * r * (c.div_ceil(n) + 2)
}

/// Whether [`gemm_tn_acc`] (an `R × C` gradient) is faster as its transpose: per
/// sample, `C · ⌈R/N⌉` FMAs plus zeroing and adding back `R·C` elements (over a block
/// of 32), against `R · ⌈C/N⌉` (vectors along the `C` columns, partly empty when
/// `C < N`). 4-32-16-4's first layer (`C = 4`) takes it.
fn tn_transposed<F: Float>(r: usize, c: usize) -> bool {
    let n = lanes::<F>();
    r * c <= TRANSPOSED && 16 * c * r.div_ceil(n) + r * c < 16 * r * c.div_ceil(n)
}

/// Lanes of `F` in a vector of the running ISA's kernels.
fn lanes<F: Float>() -> usize {
    match simd::isa() {
        Isa::Avx512 => 64 / core::mem::size_of::<F>(),
        Isa::Avx2Fma => 32 / core::mem::size_of::<F>(),
        Isa::Portable => 4,
    }
}

/// `o(m, k) = Σ_p a(m, p)·b(p, k)`: the broadcast product (`ab`, see [`tile`]) at
/// the running ISA, on raw pointers.
///
/// # Safety
/// As `ab`: every access `a(m, p)`, `b(p, k)`, `o(m, k)` in bounds.
#[allow(clippy::too_many_arguments)]
unsafe fn ab_set<F: Float>(
    m: usize,
    p: usize,
    k: usize,
    a: *const F,
    am: usize,
    ap: usize,
    b: *const F,
    bs: usize,
    o: *mut F,
    os: usize,
) {
    dispatch!(
        F,
        ab::<false>(m, p, k, a.cast(), am, ap, b.cast(), bs, o.cast(), os, 0.0)
    );
    ab::<Portable<F>, 4, 2, false>(m, p, k, a, am, ap, b, bs, o, os, F::ZERO);
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
