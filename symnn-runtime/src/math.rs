//! Branch-free, vectorisable `exp`, `ln`, `ln_1p`, `tanh`, `sigmoid` and `softplus` for
//! `f32` and `f64`.
//!
//! # Why
//!
//! The code `network!` generates is straight-line arithmetic, except for its activation
//! functions, which were calls into the platform's libm (`f64::tanh`, `f64::exp`, ...).
//! In a small network those calls dominate: glibc's scalar `tanh` costs about 8 ns, so
//! the 16 `tanh` of a 2-8-8-1 MLP are about 135 ns of its whole SGD step. Worse, an
//! opaque libm call inside a loop stops the compiler from vectorising it, so a layer's
//! activations are computed one at a time even where the rest of the layer is SIMD.
//!
//! The functions here are written for the vectoriser: every one is `#[inline(always)]`
//! and uses only arithmetic, IEEE bit manipulation (`to_bits`/`from_bits`) and
//! comparisons that become selects (blends), never a branch, a table lookup or a libm
//! call. A loop such as `for x in &mut layer { *x = tanh(*x) }` therefore compiles to
//! SSE2 (`xmm`) code by default and to AVX2 (`ymm`) code where that target feature is
//! enabled. (`mul_add` is deliberately not used: without the `fma` target feature it is
//! a libm call.) Polynomials are evaluated with Estrin's scheme for short dependency
//! chains.
//!
//! Where this pays off (docs/NUMERICS.md has the paired measurements): over arrays,
//! `f32` is 1.4–7× faster than `std` and `f64` `tanh`/`ln_1p`/`exp` 1.4–1.9× on the
//! default SSE2 target; `f64` `ln` and `softplus` over arrays, and a dependent chain of
//! scalar `exp`/`ln`/`sigmoid` calls, are slower than glibc's table-driven code.
//!
//! # Accuracy
//!
//! Every function handles its whole domain, including subnormals, the overflow and
//! underflow thresholds, `±0`, `±∞` and NaN (NaN in gives NaN out). The measured
//! maximum errors (all at most 2 ulp), the special values and the algorithms are
//! tabulated in `docs/NUMERICS.md`; `symnn-runtime/tests/math_accuracy.rs` asserts them.
//! In brief:
//!
//! * `exp`: `x = k·ln2 + r` with `|r| ≤ ln2/2` (Cody–Waite reduction, `k` rounded with
//!   the `1.5·2^52` magic number), `e^r = 1 + r + r²·q(r)` with a minimax `q` (degree 10
//!   for `f64`, 5 for `f32`), then `2^k` applied as two exact power-of-two factors so that
//!   overflow gives `∞` and the subnormal range underflows gradually.
//! * `ln`: `x = 2^k·m` with `m ∈ [√2/2, √2)` (subnormals are scaled by `2^54`/`2^24`
//!   first), `s = (m-1)/(m+1)` and the fdlibm formula `ln(m) = f - f²/2 + s·(f²/2 + R(s²))`
//!   with a minimax `R` (degree 7 / 3 in `s²`).
//! * `ln_1p`: the same kernel on `u = 1 + x` plus the rounding error of `1 + x` divided by
//!   `u`, so tiny `x` give `x` exactly and there is no cancellation near 0.
//! * `tanh`: `expm1(2|x|) / (expm1(2|x|) + 2)` with the sign of `x`, where `expm1` shares
//!   the `exp` kernel (`2^k·(e^r-1) + (2^k-1)`): accurate near 0, exactly `±1` for large
//!   `|x|`, no cancellation.
//! * `sigmoid`: `e = e^-|x|`, then `1/(1+e)` for `x ≥ 0` and `e/(1+e)` below: never
//!   overflows, never NaN for finite `x`, and correct (down to subnormals) far left.
//! * `softplus`: `max(x, 0) + ln_1p(e^-|x|)`: exactly `x` for large `x` (no overflow), and
//!   `e^x` (not 0) far left.
//!
//! # Use
//!
//! Generated code calls the free functions with a concrete type, e.g.
//! `::symnn::math::tanh(x)` for an `x: f64`; generic code can use the [`Math`] trait. The
//! `*_in_place` functions apply a function to a whole array (a layer's activations) in
//! one loop, which is the shape that vectorises best.
//!
//! ```
//! use symnn_runtime::math;
//!
//! assert_eq!(math::tanh(1e-300_f64), 1e-300);
//! assert_eq!(math::softplus(700.0_f64), 700.0);
//! let mut layer = [-2.0_f32, -0.5, 0.0, 0.5, 2.0];
//! math::sigmoid_in_place(&mut layer);
//! assert_eq!(layer[2], 0.5);
//! ```

/// The element types with vectorisable transcendental functions: `f32` and `f64`.
///
/// Associated functions rather than methods, so that they never shadow the inherent
/// `f64::exp` etc. of `std`. The free functions of this module ([`exp`], [`tanh`], ...)
/// call these.
pub trait Math: Copy {
    /// `e^x`.
    fn exp(x: Self) -> Self;
    /// Natural logarithm: `ln(0) = -∞`, `ln(x < 0) = NaN`.
    fn ln(x: Self) -> Self;
    /// `ln(1 + x)`, accurate for tiny `x`: `ln_1p(-1) = -∞`, `ln_1p(x < -1) = NaN`.
    fn ln_1p(x: Self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(x: Self) -> Self;
    /// Logistic function `1 / (1 + e^-x)`.
    fn sigmoid(x: Self) -> Self;
    /// `ln(1 + e^x)`, without overflow for large `x`.
    fn softplus(x: Self) -> Self;
}

/// `e^x`. See [`Math::exp`].
#[inline(always)]
pub fn exp<F: Math>(x: F) -> F {
    F::exp(x)
}

/// Natural logarithm. See [`Math::ln`].
#[inline(always)]
pub fn ln<F: Math>(x: F) -> F {
    F::ln(x)
}

/// `ln(1 + x)`. See [`Math::ln_1p`].
#[inline(always)]
pub fn ln_1p<F: Math>(x: F) -> F {
    F::ln_1p(x)
}

/// Hyperbolic tangent. See [`Math::tanh`].
#[inline(always)]
pub fn tanh<F: Math>(x: F) -> F {
    F::tanh(x)
}

/// Logistic function `1 / (1 + e^-x)`. See [`Math::sigmoid`].
#[inline(always)]
pub fn sigmoid<F: Math>(x: F) -> F {
    F::sigmoid(x)
}

/// `ln(1 + e^x)`. See [`Math::softplus`].
#[inline(always)]
pub fn softplus<F: Math>(x: F) -> F {
    F::softplus(x)
}

/// Replaces every element of `v` by its [`exp`], in one vectorisable loop.
#[inline(always)]
pub fn exp_in_place<F: Math, const N: usize>(v: &mut [F; N]) {
    for x in v.iter_mut() {
        *x = F::exp(*x);
    }
}

/// Replaces every element of `v` by its [`tanh`], in one vectorisable loop.
#[inline(always)]
pub fn tanh_in_place<F: Math, const N: usize>(v: &mut [F; N]) {
    for x in v.iter_mut() {
        *x = F::tanh(*x);
    }
}

/// Replaces every element of `v` by its [`sigmoid`], in one vectorisable loop.
#[inline(always)]
pub fn sigmoid_in_place<F: Math, const N: usize>(v: &mut [F; N]) {
    for x in v.iter_mut() {
        *x = F::sigmoid(*x);
    }
}

/// Replaces every element of `v` by its [`softplus`], in one vectorisable loop.
#[inline(always)]
pub fn softplus_in_place<F: Math, const N: usize>(v: &mut [F; N]) {
    for x in v.iter_mut() {
        *x = F::softplus(*x);
    }
}

impl Math for f64 {
    #[inline(always)]
    fn exp(x: f64) -> f64 {
        f64_impl::exp(x)
    }
    #[inline(always)]
    fn ln(x: f64) -> f64 {
        f64_impl::ln(x)
    }
    #[inline(always)]
    fn ln_1p(x: f64) -> f64 {
        f64_impl::ln_1p(x)
    }
    #[inline(always)]
    fn tanh(x: f64) -> f64 {
        f64_impl::tanh(x)
    }
    #[inline(always)]
    fn sigmoid(x: f64) -> f64 {
        f64_impl::sigmoid(x)
    }
    #[inline(always)]
    fn softplus(x: f64) -> f64 {
        f64_impl::softplus(x)
    }
}

impl Math for f32 {
    #[inline(always)]
    fn exp(x: f32) -> f32 {
        f32_impl::exp(x)
    }
    #[inline(always)]
    fn ln(x: f32) -> f32 {
        f32_impl::ln(x)
    }
    #[inline(always)]
    fn ln_1p(x: f32) -> f32 {
        f32_impl::ln_1p(x)
    }
    #[inline(always)]
    fn tanh(x: f32) -> f32 {
        f32_impl::tanh(x)
    }
    #[inline(always)]
    fn sigmoid(x: f32) -> f32 {
        f32_impl::sigmoid(x)
    }
    #[inline(always)]
    fn softplus(x: f32) -> f32 {
        f32_impl::softplus(x)
    }
}

/// `if c { a } else { b }` for floats: written as a plain `if` on values that are both
/// already computed, which LLVM turns into a select (a blend in vector code).
macro_rules! select {
    ($c:expr, $a:expr, $b:expr) => {
        if $c {
            $a
        } else {
            $b
        }
    };
}

mod f64_impl {
    /// `log2(e)`.
    const LOG2E: f64 = core::f64::consts::LOG2_E;
    /// High part of `ln 2` (fdlibm's `0x3fe62e42fee00000`): 32 significant bits, so
    /// `k·LN2_HI` is exact for every `|k| < 2^21`.
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    /// `ln 2 - LN2_HI`.
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    /// `1.5·2^52`: adding it rounds any `|y| < 2^51` to an integer (ties to even), which
    /// then sits in the low bits of the sum's mantissa.
    const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;
    /// `2^52`: `from_bits(TWO52_BITS | n) = 2^52 + n` turns a small integer `n` into a
    /// float without a (non-vectorisable before AVX-512) `i64 -> f64` conversion.
    const TWO52: f64 = 4_503_599_627_370_496.0;
    /// Above this `e^x` overflows (`e^710 > f64::MAX`); larger inputs are clamped to it.
    const EXP_HI: f64 = 710.0;
    /// Below this `e^x` rounds to 0 (`e^-746 < 2^-1075`); smaller inputs are clamped to it.
    const EXP_LO: f64 = -746.0;
    /// Bits of `√2/2`: `ln` reduces its argument to `m ∈ [√2/2, √2)`.
    const SQRT_HALF_BITS: u64 = 0x3fe6_a09e_667f_3bcd;

    /// Minimax `q` on `|r| ≤ ln2/2` with `e^r = 1 + r + r²·q(r)` (max abs error 1.4e-18).
    const EXP_Q: [f64; 11] = [
        0.5,
        0.166_666_666_666_666_7,
        0.041_666_666_666_666_685,
        0.008_333_333_333_326_141,
        0.001_388_888_888_887_440_9,
        0.000_198_412_698_748_021_7,
        2.480_158_734_731_387e-5,
        2.755_725_542_385_755e-6,
        2.755_725_293_727_714_6e-7,
        2.510_520_708_268_343e-8,
        2.092_158_096_089_948_4e-9,
    ];

    /// Minimax `P` on `z = s² ∈ [0, (3-2√2)²]` with `ln((1+s)/(1-s)) = 2s + s·z·P(z)`
    /// (max abs error 3.1e-16 in `P`, i.e. about 1e-18 relative in `ln`).
    const LOG_P: [f64; 7] = [
        0.666_666_666_666_667,
        0.399_999_999_998_985_06,
        0.285_714_286_263_715_2,
        0.222_222_110_773_562_08,
        0.181_828_928_902_889_04,
        0.153_316_078_628_691_3,
        0.146_177_380_670_527_88,
    ];

    /// `q(r)` of [`EXP_Q`] by Estrin's scheme: about 7 dependent operations instead of
    /// Horner's 20, which matters both for a scalar call's latency and for how many
    /// loop iterations the CPU can overlap.
    #[inline(always)]
    fn exp_q(r: f64, r2: f64) -> f64 {
        let c = &EXP_Q;
        let r4 = r2 * r2;
        let r8 = r4 * r4;
        let p01 = c[0] + c[1] * r;
        let p23 = c[2] + c[3] * r;
        let p45 = c[4] + c[5] * r;
        let p67 = c[6] + c[7] * r;
        let p89 = c[8] + c[9] * r;
        let p03 = p01 + p23 * r2;
        let p47 = p45 + p67 * r2;
        let p8a = p89 + c[10] * r2;
        (p03 + p47 * r4) + p8a * r8
    }

    /// `P(z)` of [`LOG_P`] by Estrin's scheme.
    #[inline(always)]
    fn log_p(z: f64) -> f64 {
        let c = &LOG_P;
        let z2 = z * z;
        let z4 = z2 * z2;
        let p01 = c[0] + c[1] * z;
        let p23 = c[2] + c[3] * z;
        let p45 = c[4] + c[5] * z;
        let p03 = p01 + p23 * z2;
        let p46 = p45 + c[6] * z2;
        p03 + p46 * z4
    }

    /// `2^e` for a biased exponent `e ∈ [1, 2046]` (given as the raw field value).
    /// The rounding error of `s = a + b`: `(a + b) - s` exactly (Knuth's TwoSum, valid
    /// for any magnitudes).
    #[inline(always)]
    fn two_sum_err(a: f64, b: f64, s: f64) -> f64 {
        let bb = s - a;
        (a - (s - bb)) + (b - bb)
    }

    #[inline(always)]
    fn pow2_biased(e: u64) -> f64 {
        f64::from_bits(e << 52)
    }

    /// Range reduction `x = k·ln2 + r`, `|r| ≤ ln2/2 (1 + 2^-40)`, for `|x| < 2^40`.
    /// Returns `r`, `k` as a float and `k + 2048` (so it is non-negative) as bits.
    #[inline(always)]
    fn reduce(x: f64) -> (f64, f64, u64) {
        let t = x * LOG2E + ROUND_MAGIC;
        let kf = t - ROUND_MAGIC;
        // t = 1.5·2^52 + k: k sits in the low mantissa bits in two's complement.
        let k_biased = t
            .to_bits()
            .wrapping_sub(ROUND_MAGIC.to_bits())
            .wrapping_add(2048);
        let r = (x - kf * LN2_HI) - kf * LN2_LO;
        (r, kf, k_biased)
    }

    /// `e^r - 1` for the reduced `r`, without the cancellation of `e^r` then `- 1`.
    #[inline(always)]
    fn expm1_kernel(r: f64) -> f64 {
        let r2 = r * r;
        r + r2 * exp_q(r, r2)
    }

    #[inline(always)]
    pub(super) fn exp(x: f64) -> f64 {
        // Comparisons written so that NaN passes through unchanged.
        let x = select!(x > EXP_HI, EXP_HI, x);
        let x = select!(x < EXP_LO, EXP_LO, x);
        let (r, _, kb) = reduce(x);
        let p = 1.0 + expm1_kernel(r);
        // Scale by 2^k = 2^k1 · 2^k2 with k1 = floor(k/2), k2 = k - k1, each in
        // [-539, 513] so both factors are normal: overflow rounds to ∞ and results in
        // the subnormal range are rounded once, by the last multiplication.
        let half = kb >> 1; // k1 + 1024
        let s1 = pow2_biased(half.wrapping_sub(1)); // biased k1
        let s2 = pow2_biased(kb.wrapping_sub(half).wrapping_sub(1)); // biased k2
        p * s1 * s2
    }

    /// `e^y - 1` for `0 ≤ y ≤ 40` (or NaN), accurate near 0.
    #[inline(always)]
    fn expm1_small_nonneg(y: f64) -> f64 {
        let t = y * LOG2E + ROUND_MAGIC;
        let kf = t - ROUND_MAGIC;
        let kb = t.to_bits().wrapping_sub(ROUND_MAGIC.to_bits());
        // k ∈ [0, 58]. The reduced argument as an unevaluated sum r + r_lo:
        let a = y - kf * LN2_HI; // exact
        let b = kf * LN2_LO;
        let r = a - b;
        let r_lo = (a - r) - b; // exact, |a| ≥ |b|
                                // e^r = hi + lo with hi = 1 + r rounded and everything else in lo.
        let r2 = r * r;
        let hi = 1.0 + r;
        let lo = (r - (hi - 1.0)) + (r_lo + r2 * exp_q(r, r2));
        // e^y - 1 = (2^k·hi - 1) + 2^k·lo. The first difference is exact where it
        // cancels (k ≤ 1, hi ≤ 1), so the result is rounded about once.
        let two_k = pow2_biased(kb.wrapping_add(1023));
        (two_k * hi - 1.0) + two_k * lo
    }

    /// The fdlibm `ln(1 + f)` kernel for `1 + f ∈ [√2/2, √2)`, plus `k·ln2` and a small
    /// correction `c` (both added in the order that keeps the error below an ulp).
    #[inline(always)]
    fn log_kernel(f: f64, kf: f64, c: f64) -> f64 {
        let hfsq = 0.5 * f * f;
        let s = f / (2.0 + f);
        let z = s * s;
        let r = z * log_p(z);
        kf * LN2_HI - ((hfsq - (s * (hfsq + r) + (kf * LN2_LO + c))) - f)
    }

    /// Splits a positive normal `x` into `k` (as a float) and `f = m - 1` with
    /// `x = 2^k·m`, `m ∈ [√2/2, √2)`.
    #[inline(always)]
    fn split(x: f64) -> (f64, f64) {
        // Shifting the bits by (1.0 - √2/2) moves the exponent boundary to √2/2.
        let ix = x
            .to_bits()
            .wrapping_add(0x3ff0_0000_0000_0000 - SQRT_HALF_BITS);
        let m = f64::from_bits((ix & 0x000f_ffff_ffff_ffff).wrapping_add(SQRT_HALF_BITS));
        // ix >> 52 = k + 1023 (< 4096 even for garbage inputs, which are selected away).
        let kf = f64::from_bits(TWO52.to_bits() | (ix >> 52)) - (TWO52 + 1023.0);
        (m - 1.0, kf)
    }

    #[inline(always)]
    pub(super) fn ln(x: f64) -> f64 {
        // Subnormals (and 0, negatives: selected away below) are scaled into the normal
        // range first.
        let tiny = x < f64::MIN_POSITIVE;
        let xs = select!(tiny, x * 18_014_398_509_481_984.0, x); // 2^54
        let (f, kf) = split(xs);
        let kf = kf - select!(tiny, 54.0, 0.0);
        let y = log_kernel(f, kf, 0.0);
        let y = select!(x == f64::INFINITY, f64::INFINITY, y);
        let y = select!(x == 0.0, f64::NEG_INFINITY, y);
        select!(x >= 0.0, y, f64::NAN) // x < 0 or NaN
    }

    #[inline(always)]
    pub(super) fn ln_1p(x: f64) -> f64 {
        let u = 1.0 + x;
        let (f, kf) = split(u);
        // c = (1 + x) - u exactly (Knuth's TwoSum), then divided by u:
        // ln(1 + x) = ln(u + c) ≈ ln(u) + c/u.
        let c = two_sum_err(1.0, x, u) / u;
        let y = log_kernel(f, kf, c);
        // ln(1 + x) rounds to x for |x| < 2^-54; this also keeps the sign of -0.
        let y = select!(x.abs() < 5.551_115_123_125_783e-17, x, y);
        let y = select!(x == f64::INFINITY, f64::INFINITY, y);
        let y = select!(x == -1.0, f64::NEG_INFINITY, y);
        select!(x >= -1.0, y, f64::NAN) // x < -1 or NaN
    }

    #[inline(always)]
    pub(super) fn tanh(x: f64) -> f64 {
        // tanh|x| = e/(e + 2) with e = expm1(2|x|); tanh(x) = 1 in f64 for |x| > 19.1.
        let y = x.abs() * 2.0;
        let y = select!(y > 40.0, 40.0, y);
        let e = expm1_small_nonneg(y);
        // e/(e + 2), with the rounding error s_lo of s = e + 2 put back (it alone costs up
        // to an ulp): e/(s + s_lo) ≈ q·(1 - s_lo/s), and 1/s = (1 - q)/2.
        let s = e + 2.0;
        let s_lo = two_sum_err(e, 2.0, s);
        let q = e / s;
        (q - q * (s_lo * (0.5 - 0.5 * q))).copysign(x)
    }

    #[inline(always)]
    pub(super) fn sigmoid(x: f64) -> f64 {
        let e = exp(-x.abs());
        let num = select!(x >= 0.0, 1.0, e);
        num / (1.0 + e)
    }

    #[inline(always)]
    pub(super) fn softplus(x: f64) -> f64 {
        let e = exp(-x.abs());
        let pos = select!(x > 0.0, x, 0.0);
        pos + ln_1p(e)
    }
}

mod f32_impl {
    /// `log2(e)`.
    const LOG2E: f32 = core::f32::consts::LOG2_E;
    /// High part of `ln 2` (`0x3f317000`): 12 significant bits, so `k·LN2_HI` is exact for
    /// every `|k| < 2^12`.
    const LN2_HI: f32 = f32::from_bits(0x3f31_7000);
    /// `ln 2 - LN2_HI`, rounded.
    const LN2_LO: f32 = f32::from_bits(0x3805_fdf4);
    /// `1.5·2^23`: adding it rounds any `|y| < 2^22` to an integer.
    const ROUND_MAGIC: f32 = 12_582_912.0;
    /// `2^23`, for the integer-to-float trick (see the `f64` module).
    const TWO23: f32 = 8_388_608.0;
    /// Above this `e^x` overflows (`e^89 > f32::MAX`).
    const EXP_HI: f32 = 89.0;
    /// Below this `e^x` rounds to 0 (`e^-104 < 2^-150`).
    const EXP_LO: f32 = -104.0;
    /// Bits of `√2/2` in `f32`.
    const SQRT_HALF_BITS: u32 = 0x3f35_04f3;

    /// Minimax `q` on `|r| ≤ ln2/2` with `e^r = 1 + r + r²·q(r)` (max abs error 1.3e-9).
    const EXP_Q: [f32; 6] = [
        0.5,
        0.166_666_67,
        0.041_666_467,
        0.008_333_286,
        0.001_393_364_3,
        0.000_199_075_74,
    ];

    /// Minimax `P` on `z = s² ∈ [0, (3-2√2)²]` with `ln((1+s)/(1-s)) = 2s + s·z·P(z)`
    /// (max abs error 1.9e-7 in `P`, about 3e-9 relative in `ln`).
    const LOG_P: [f32; 3] = [0.666_666_87, 0.399_887_17, 0.295_820_47];

    /// `q(r)` of [`EXP_Q`] by Estrin's scheme.
    #[inline(always)]
    fn exp_q(r: f32, r2: f32) -> f32 {
        let c = &EXP_Q;
        let p01 = c[0] + c[1] * r;
        let p23 = c[2] + c[3] * r;
        let p45 = c[4] + c[5] * r;
        p01 + (p23 + p45 * r2) * r2
    }

    /// `P(z)` of [`LOG_P`].
    #[inline(always)]
    fn log_p(z: f32) -> f32 {
        let c = &LOG_P;
        (c[0] + c[1] * z) + c[2] * (z * z)
    }

    /// The rounding error of `s = a + b`: `(a + b) - s` exactly (Knuth's TwoSum, valid
    /// for any magnitudes).
    #[inline(always)]
    fn two_sum_err(a: f32, b: f32, s: f32) -> f32 {
        let bb = s - a;
        (a - (s - bb)) + (b - bb)
    }

    #[inline(always)]
    fn pow2_biased(e: u32) -> f32 {
        f32::from_bits(e << 23)
    }

    /// `x = k·ln2 + r`; returns `r`, `k` and `k + 256` as bits.
    #[inline(always)]
    fn reduce(x: f32) -> (f32, f32, u32) {
        let t = x * LOG2E + ROUND_MAGIC;
        let kf = t - ROUND_MAGIC;
        let k_biased = t
            .to_bits()
            .wrapping_sub(ROUND_MAGIC.to_bits())
            .wrapping_add(256);
        let r = (x - kf * LN2_HI) - kf * LN2_LO;
        (r, kf, k_biased)
    }

    #[inline(always)]
    fn expm1_kernel(r: f32) -> f32 {
        let r2 = r * r;
        r + r2 * exp_q(r, r2)
    }

    #[inline(always)]
    pub(super) fn exp(x: f32) -> f32 {
        let x = select!(x > EXP_HI, EXP_HI, x);
        let x = select!(x < EXP_LO, EXP_LO, x);
        let (r, _, kb) = reduce(x);
        let p = 1.0 + expm1_kernel(r);
        // k ∈ [-150, 129]: k1 = floor(k/2), k2 = k - k1 ∈ [-75, 65], both normal.
        let half = kb >> 1; // k1 + 128
        let s1 = pow2_biased(half.wrapping_sub(1)); // k1 + 127
        let s2 = pow2_biased(kb.wrapping_sub(half).wrapping_sub(1)); // k2 + 127
        p * s1 * s2
    }

    /// `e^y - 1` for `0 ≤ y ≤ 20` (or NaN).
    #[inline(always)]
    fn expm1_small_nonneg(y: f32) -> f32 {
        let t = y * LOG2E + ROUND_MAGIC;
        let kf = t - ROUND_MAGIC;
        let kb = t.to_bits().wrapping_sub(ROUND_MAGIC.to_bits());
        let a = y - kf * LN2_HI;
        let b = kf * LN2_LO;
        let r = a - b;
        let r_lo = (a - r) - b;
        let r2 = r * r;
        let hi = 1.0 + r;
        let lo = (r - (hi - 1.0)) + (r_lo + r2 * exp_q(r, r2));
        let two_k = pow2_biased(kb.wrapping_add(127));
        (two_k * hi - 1.0) + two_k * lo
    }

    #[inline(always)]
    fn log_kernel(f: f32, kf: f32, c: f32) -> f32 {
        let hfsq = 0.5 * f * f;
        let s = f / (2.0 + f);
        let z = s * s;
        let r = z * log_p(z);
        kf * LN2_HI - ((hfsq - (s * (hfsq + r) + (kf * LN2_LO + c))) - f)
    }

    #[inline(always)]
    fn split(x: f32) -> (f32, f32) {
        let ix = x.to_bits().wrapping_add(0x3f80_0000 - SQRT_HALF_BITS);
        let m = f32::from_bits((ix & 0x007f_ffff).wrapping_add(SQRT_HALF_BITS));
        let kf = f32::from_bits(TWO23.to_bits() | (ix >> 23)) - (TWO23 + 127.0);
        (m - 1.0, kf)
    }

    #[inline(always)]
    pub(super) fn ln(x: f32) -> f32 {
        let tiny = x < f32::MIN_POSITIVE;
        let xs = select!(tiny, x * 16_777_216.0, x); // 2^24
        let (f, kf) = split(xs);
        let kf = kf - select!(tiny, 24.0, 0.0);
        let y = log_kernel(f, kf, 0.0);
        let y = select!(x == f32::INFINITY, f32::INFINITY, y);
        let y = select!(x == 0.0, f32::NEG_INFINITY, y);
        select!(x >= 0.0, y, f32::NAN)
    }

    #[inline(always)]
    pub(super) fn ln_1p(x: f32) -> f32 {
        let u = 1.0 + x;
        let (f, kf) = split(u);
        let c = two_sum_err(1.0, x, u) / u;
        let y = log_kernel(f, kf, c);
        // ln(1 + x) rounds to x for |x| < 2^-25.
        let y = select!(x.abs() < 2.980_232_2e-8, x, y);
        let y = select!(x == f32::INFINITY, f32::INFINITY, y);
        let y = select!(x == -1.0, f32::NEG_INFINITY, y);
        select!(x >= -1.0, y, f32::NAN)
    }

    #[inline(always)]
    pub(super) fn tanh(x: f32) -> f32 {
        // tanh(x) = 1 in f32 for |x| > 9.1.
        let y = x.abs() * 2.0;
        let y = select!(y > 20.0, 20.0, y);
        let e = expm1_small_nonneg(y);
        (e / (e + 2.0)).copysign(x)
    }

    #[inline(always)]
    pub(super) fn sigmoid(x: f32) -> f32 {
        let e = exp(-x.abs());
        let num = select!(x >= 0.0, 1.0, e);
        num / (1.0 + e)
    }

    #[inline(always)]
    pub(super) fn softplus(x: f32) -> f32 {
        let e = exp(-x.abs());
        let pos = select!(x > 0.0, x, 0.0);
        pos + ln_1p(e)
    }
}
