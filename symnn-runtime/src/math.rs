//! Placeholder until the vectorised transcendentals land: the standard library's.
#![allow(missing_docs)]
use crate::Float;
#[inline(always)]
pub fn exp<F: Float>(x: F) -> F {
    x.exp()
}
#[inline(always)]
pub fn ln<F: Float>(x: F) -> F {
    x.ln()
}
#[inline(always)]
pub fn ln_1p<F: Float>(x: F) -> F {
    x.ln_1p()
}
#[inline(always)]
pub fn tanh<F: Float>(x: F) -> F {
    x.tanh()
}
#[inline(always)]
pub fn sigmoid<F: Float>(x: F) -> F {
    F::ONE / (F::ONE + (-x).exp())
}
#[inline(always)]
pub fn softplus<F: Float>(x: F) -> F {
    x.max(F::ZERO) + (-x.abs()).exp().ln_1p()
}
