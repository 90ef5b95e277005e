//! x86_64: the AVX2+FMA and AVX-512 [`Lanes`] and the `#[target_feature]` entry points
//! (one module per ISA and element type, e.g. `avx2_f32::{nt, ab}`).

use super::tile::{ab, nt, Lanes};
use core::arch::x86_64::*;

/// `MASK32[8 - n..16 - n]`: the first `n` lanes set (AVX2 masked loads).
static MASK32: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];
static MASK64: [i64; 8] = [-1, -1, -1, -1, 0, 0, 0, 0];

/// A [`Lanes`] implementation `$name` over `$v` (`$n` lanes of `$f`): the operations
/// that are one intrinsic each are named, the others (`load_part`, `store_part`,
/// `sum4`) given as bodies over the named arguments. Every method is
/// `#[inline(always)]`.
macro_rules! lanes {
    ($name:ident: $v:ty = [$f:ty; $n:literal],
     zero: $zero:ident, load: $load:ident, store: $store:ident, splat: $splat:ident,
     fma: $fma:ident,
     load_part($lp:ident, $ln:ident) $load_part:block
     store_part($sp:ident, $sv:ident, $sn:ident) $store_part:block
     sum4($v4:ident) $sum4:block) => {
        pub(super) struct $name;

        impl Lanes for $name {
            type F = $f;
            type V = $v;
            const N: usize = $n;
            #[inline(always)]
            unsafe fn zero() -> $v {
                $zero()
            }
            #[inline(always)]
            unsafe fn load(p: *const $f) -> $v {
                $load(p)
            }
            #[inline(always)]
            unsafe fn load_part($lp: *const $f, $ln: usize) -> $v $load_part
            #[inline(always)]
            unsafe fn store(p: *mut $f, v: $v) {
                $store(p, v)
            }
            #[inline(always)]
            unsafe fn store_part($sp: *mut $f, $sv: $v, $sn: usize) $store_part
            #[inline(always)]
            unsafe fn splat(x: $f) -> $v {
                $splat(x)
            }
            #[inline(always)]
            unsafe fn fma(a: $v, b: $v, c: $v) -> $v {
                $fma(a, b, c)
            }
            #[inline(always)]
            unsafe fn sum4($v4: [$v; 4]) -> [$f; 4] $sum4
        }
    };
}

lanes! { Avx2F32: __m256 = [f32; 8],
    zero: _mm256_setzero_ps, load: _mm256_loadu_ps, store: _mm256_storeu_ps,
    splat: _mm256_set1_ps, fma: _mm256_fmadd_ps,
    load_part(p, n) {
        let m = _mm256_loadu_si256(MASK32.as_ptr().add(8 - n).cast());
        _mm256_maskload_ps(p, m)
    }
    store_part(p, v, n) {
        let m = _mm256_loadu_si256(MASK32.as_ptr().add(8 - n).cast());
        _mm256_maskstore_ps(p, m, v)
    }
    sum4(v) {
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

lanes! { Avx2F64: __m256d = [f64; 4],
    zero: _mm256_setzero_pd, load: _mm256_loadu_pd, store: _mm256_storeu_pd,
    splat: _mm256_set1_pd, fma: _mm256_fmadd_pd,
    load_part(p, n) {
        let m = _mm256_loadu_si256(MASK64.as_ptr().add(4 - n).cast());
        _mm256_maskload_pd(p, m)
    }
    store_part(p, v, n) {
        let m = _mm256_loadu_si256(MASK64.as_ptr().add(4 - n).cast());
        _mm256_maskstore_pd(p, m, v)
    }
    sum4(v) {
        // [a01 b01 a23 b23], [c01 d01 c23 d23] -> lo + hi halves.
        let ab = _mm256_hadd_pd(v[0], v[1]);
        let cd = _mm256_hadd_pd(v[2], v[3]);
        let lo = _mm256_permute2f128_pd::<0x20>(ab, cd);
        let hi = _mm256_permute2f128_pd::<0x31>(ab, cd);
        core::mem::transmute::<__m256d, [f64; 4]>(_mm256_add_pd(lo, hi))
    }
}

lanes! { Avx512F32: __m512 = [f32; 16],
    zero: _mm512_setzero_ps, load: _mm512_loadu_ps, store: _mm512_storeu_ps,
    splat: _mm512_set1_ps, fma: _mm512_fmadd_ps,
    load_part(p, n) {
        _mm512_maskz_loadu_ps(((1u32 << n) - 1) as u16, p)
    }
    store_part(p, v, n) {
        _mm512_mask_storeu_ps(p, ((1u32 << n) - 1) as u16, v)
    }
    sum4(v) {
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

lanes! { Avx512F64: __m512d = [f64; 8],
    zero: _mm512_setzero_pd, load: _mm512_loadu_pd, store: _mm512_storeu_pd,
    splat: _mm512_set1_pd, fma: _mm512_fmadd_pd,
    load_part(p, n) {
        _mm512_maskz_loadu_pd(((1u32 << n) - 1) as u8, p)
    }
    store_part(p, v, n) {
        _mm512_mask_storeu_pd(p, ((1u32 << n) - 1) as u8, v)
    }
    sum4(v) {
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

/// Module `$module` with the entry points `nt` and `ab::<ACC>`: the micro-kernels over
/// `$lanes` with the given tiles, compiled with the target features `$feat`.
macro_rules! entry {
    ($module:ident, $feat:literal, $lanes:ty, $f:ty,
     nt: ($ms:literal, $mr:literal), ab: ($abm:literal, $abv:literal)) => {
        pub(super) mod $module {
            use super::*;

            #[target_feature(enable = $feat)]
            #[allow(clippy::too_many_arguments)]
            pub(in super::super) unsafe fn nt(
                n: usize,
                r: usize,
                c: usize,
                w: *const $f,
                x: *const $f,
                xs: usize,
                z: *mut $f,
                zs: usize,
            ) {
                super::nt::<$lanes, $ms, $mr>(n, r, c, w, x, xs, z, zs)
            }

            #[target_feature(enable = $feat)]
            #[allow(clippy::too_many_arguments)]
            pub(in super::super) unsafe fn ab<const ACC: bool>(
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
                super::ab::<$lanes, $abm, $abv, ACC>(
                    m_len, p_len, k_len, a, am, ap, b, bs, o, os, scale,
                )
            }
        }
    };
}

entry!(avx2_f32, "avx2,fma", Avx2F32, f32, nt: (3, 4), ab: (6, 2));
entry!(avx2_f64, "avx2,fma", Avx2F64, f64, nt: (3, 4), ab: (6, 2));
entry!(avx512_f32, "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma", Avx512F32, f32,
    nt: (4, 6), ab: (8, 3));
entry!(avx512_f64, "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma", Avx512F64, f64,
    nt: (4, 4), ab: (8, 3));
