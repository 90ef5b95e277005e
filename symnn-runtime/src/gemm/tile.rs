//! The two register-tiled micro-kernels, written once over [`Lanes`] (see the
//! [module docs](super)), and the portable lanes.
//!
//! Everything here is `#[inline(always)]` plain code, instantiated inside the
//! `#[target_feature]` entry points (`x86.rs`) or the portable path (`mod.rs`): no
//! closures, no `copy_from_slice`, which would be compiled without the features.

use crate::Float;

// ---------------------------------------------------------------------------------------
// Lanes: the vector operations the micro-kernels need
// ---------------------------------------------------------------------------------------

/// A vector of `N` lanes of `F`. Implementations are zero-sized markers; every method
/// is `#[inline(always)]` and must only be called (inlined) inside a function compiled
/// with the implementation's target features.
pub(super) trait Lanes {
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
pub(super) struct Portable<F>(core::marker::PhantomData<F>);

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

/// [`gemm_nt`](super::gemm_nt) with tiles of `MS` samples × `MR` rows (`MS ≤ 6`, `MR ≤ 8`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn nt<S: Lanes, const MS: usize, const MR: usize>(
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
pub(super) unsafe fn ab<S: Lanes, const MR: usize, const NV: usize, const ACC: bool>(
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
