//! `Lanes<F, L>`: `L` samples' values of one scalar, for the batch code the macro
//! generates for small (scalar-tier) networks.
//!
//! The batch functions run the same straight-line instruction list as the one-sample
//! functions, with every temporary a `Lanes` instead of an `F`: lane `l` is sample `l`
//! of the block. Every operation is a fixed-length loop over the lanes, `#[inline(always)]`,
//! so LLVM turns it into vector instructions (SSE2 by default, AVX2 inside the generated
//! `#[target_feature]` copy). Each lane computes exactly what the one-sample code computes
//! (same operations, same order), so a batch's per-sample losses and gradients equal the
//! one-sample ones bit for bit; only their summation order differs.

use core::ops::{Add, Div, Mul, Neg, Sub};

use crate::Float;

/// `L` values of one scalar, one per sample of a block.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(transparent)]
pub struct Lanes<F, const L: usize>(pub [F; L]);

impl<F: Float, const L: usize> Lanes<F, L> {
    /// `x` in every lane.
    #[inline(always)]
    pub fn splat(x: F) -> Self {
        Lanes([x; L])
    }

    /// `f` applied to every lane.
    #[inline(always)]
    pub fn map(self, f: impl Fn(F) -> F) -> Self {
        let mut out = self.0;
        for v in &mut out {
            *v = f(*v);
        }
        Lanes(out)
    }

    /// `f` applied lane by lane to two operands.
    #[inline(always)]
    pub fn zip(self, other: Self, f: impl Fn(F, F) -> F) -> Self {
        let mut out = self.0;
        for (v, o) in out.iter_mut().zip(other.0) {
            *v = f(*v, o);
        }
        Lanes(out)
    }

    /// The sum of the lanes, in lane order.
    #[inline(always)]
    pub fn sum(self) -> F {
        self.0.iter().fold(F::ZERO, |acc, &v| acc + v)
    }

    /// The sum of the first `n` lanes (a block of `n ≤ L` samples): the others set to
    /// zero, then summed by halving (lane `i` plus lane `i + ⌈w/2⌉` while `w` lanes are
    /// left), a fixed tree that vectorises. (A fold in lane order is a chain of `L`
    /// dependent scalar additions: with one per parameter a block, the 4-32-16-4 block
    /// gradient spent most of its time there; docs/PERFORMANCE.md, "Small MLP".)
    #[inline(always)]
    pub fn sum_first(self, n: usize) -> F {
        let mut v = self.0;
        for (l, x) in v.iter_mut().enumerate() {
            if l >= n {
                *x = F::ZERO;
            }
        }
        let mut w = L;
        while w > 1 {
            let h = w.div_ceil(2);
            for i in 0..w - h {
                let upper = v[i + h];
                v[i] += upper;
            }
            w = h;
        }
        if L == 0 {
            F::ZERO
        } else {
            v[0]
        }
    }

    /// `√x` per lane.
    #[inline(always)]
    pub fn sqrt(self) -> Self {
        self.map(F::sqrt)
    }
    /// `|x|` per lane.
    #[inline(always)]
    pub fn abs(self) -> Self {
        self.map(F::abs)
    }
    /// `sin x` per lane (the standard library's, not vectorised).
    #[inline(always)]
    pub fn sin(self) -> Self {
        self.map(F::sin)
    }
    /// `cos x` per lane (the standard library's, not vectorised).
    #[inline(always)]
    pub fn cos(self) -> Self {
        self.map(F::cos)
    }
    /// `x^n` per lane.
    #[inline(always)]
    pub fn powi(self, n: i32) -> Self {
        self.map(|x| x.powi(n))
    }
    /// `x^y` per lane.
    #[inline(always)]
    pub fn powf(self, y: Self) -> Self {
        self.zip(y, F::powf)
    }
    /// `max(x, y)` per lane (`F::max`: the non-NaN one if one is NaN).
    #[inline(always)]
    pub fn max(self, y: Self) -> Self {
        self.zip(y, F::max)
    }
    /// `min(x, y)` per lane.
    #[inline(always)]
    pub fn min(self, y: Self) -> Self {
        self.zip(y, F::min)
    }

    /// `if a > b { t } else { e }` per lane.
    #[inline(always)]
    pub fn select_gt(a: Self, b: Self, t: Self, e: Self) -> Self {
        Self::select(a, b, t, e, |a, b| a > b)
    }
    /// `if a >= b { t } else { e }` per lane.
    #[inline(always)]
    pub fn select_ge(a: Self, b: Self, t: Self, e: Self) -> Self {
        Self::select(a, b, t, e, |a, b| a >= b)
    }
    /// `if a == b { t } else { e }` per lane.
    #[inline(always)]
    pub fn select_eq(a: Self, b: Self, t: Self, e: Self) -> Self {
        #[allow(clippy::float_cmp)]
        Self::select(a, b, t, e, |a, b| a == b)
    }

    #[inline(always)]
    fn select(a: Self, b: Self, t: Self, e: Self, cond: impl Fn(F, F) -> bool) -> Self {
        let mut out = e.0;
        for (((o, a), b), t) in out.iter_mut().zip(a.0).zip(b.0).zip(t.0) {
            if cond(a, b) {
                *o = t;
            }
        }
        Lanes(out)
    }
}

/// The transcendentals, from [`crate::math`] (branch-free, so the lane loops vectorise).
impl<F: Float + crate::math::Math, const L: usize> Lanes<F, L> {
    /// `e^x` per lane.
    #[inline(always)]
    pub fn exp(self) -> Self {
        self.map(crate::math::exp)
    }
    /// `ln x` per lane.
    #[inline(always)]
    pub fn ln(self) -> Self {
        self.map(crate::math::ln)
    }
    /// `ln(1 + x)` per lane.
    #[inline(always)]
    pub fn ln_1p(self) -> Self {
        self.map(crate::math::ln_1p)
    }
    /// `tanh x` per lane.
    #[inline(always)]
    pub fn tanh(self) -> Self {
        self.map(crate::math::tanh)
    }
    /// `1 / (1 + e^-x)` per lane.
    #[inline(always)]
    pub fn sigmoid(self) -> Self {
        self.map(crate::math::sigmoid)
    }
    /// `ln(1 + e^x)` per lane.
    #[inline(always)]
    pub fn softplus(self) -> Self {
        self.map(crate::math::softplus)
    }
}

macro_rules! binary {
    ($trait:ident, $method:ident, $op:tt) => {
        impl<F: Float, const L: usize> $trait for Lanes<F, L> {
            type Output = Self;
            #[inline(always)]
            fn $method(self, other: Self) -> Self {
                self.zip(other, |a, b| a $op b)
            }
        }
    };
}
binary!(Add, add, +);
binary!(Sub, sub, -);
binary!(Mul, mul, *);
binary!(Div, div, /);

impl<F: Float, const L: usize> Neg for Lanes<F, L> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        self.map(|x| -x)
    }
}

/// The `L` samples of `rows` (which must have `L` rows) as `W` lanes: element `k` of
/// the result holds column `k`, sample `l` in lane `l`.
///
/// # Panics
/// If `rows.len() < L`.
#[inline(always)]
pub fn transpose<F: Float, const W: usize, const L: usize>(rows: &[[F; W]]) -> [Lanes<F, L>; W] {
    let rows: &[[F; W]; L] = rows[..L].try_into().expect("a block has L rows");
    let mut out = [Lanes::splat(F::ZERO); W];
    for (k, lanes) in out.iter_mut().enumerate() {
        for (l, row) in rows.iter().enumerate() {
            lanes.0[l] = row[k];
        }
    }
    out
}

/// Up to `L` rows as `W` lanes, lanes past the rows zero (a block's last, short part).
#[inline(always)]
pub fn transpose_padded<F: Float, const W: usize, const L: usize>(
    rows: &[[F; W]],
) -> [Lanes<F, L>; W] {
    let mut out = [Lanes::splat(F::ZERO); W];
    for (l, row) in rows.iter().take(L).enumerate() {
        for (lanes, &v) in out.iter_mut().zip(row) {
            lanes.0[l] = v;
        }
    }
    out
}

/// Column `k` of a block's rows as lanes.
#[inline(always)]
pub fn column<F: Float, const W: usize, const L: usize>(
    rows: &[[F; W]; L],
    k: usize,
) -> Lanes<F, L> {
    let mut out = [F::ZERO; L];
    for (o, row) in out.iter_mut().zip(rows) {
        *o = row[k];
    }
    Lanes(out)
}

/// `grad[k] += acc[k].sum()` for every `k`: a batch's lane accumulators reduced once.
#[inline(always)]
pub fn reduce_into<F: Float, const P: usize, const L: usize>(
    acc: &[Lanes<F, L>; P],
    grad: &mut [F; P],
) {
    for (g, a) in grad.iter_mut().zip(acc) {
        *g += a.sum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_act_lane_by_lane() {
        let a = Lanes([1.0f64, -2.0, 3.0, 0.5]);
        let b = Lanes::splat(2.0);
        assert_eq!((a + b).0, [3.0, 0.0, 5.0, 2.5]);
        assert_eq!((a * b - b / b).0, [1.0, -5.0, 5.0, 0.0]);
        assert_eq!((-a).0, [-1.0, 2.0, -3.0, -0.5]);
        assert_eq!(
            Lanes::select_gt(a, Lanes::splat(0.9), b, Lanes::splat(0.0)).0,
            [2.0, 0.0, 2.0, 0.0]
        );
        assert_eq!(a.sum(), 2.5);
        assert_eq!(a.sum_first(4), 2.5);
        assert_eq!(a.sum_first(2), -1.0);
        assert_eq!(Lanes([1.0f32, 2.0, 4.0, 8.0, 16.0]).sum_first(5), 31.0);
        assert_eq!(Lanes([1.0f32, 2.0, 4.0, 8.0, 16.0]).sum_first(3), 7.0);
        assert_eq!(Lanes::<f32, 0>([]).sum_first(0), 0.0);
        let t: [Lanes<f64, 2>; 3] = transpose(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        assert_eq!(t.map(|l| l.0), [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]);
    }
}
