//! Central finite differences: the default bodies of [`Model`]'s derivative methods,
//! for hand-written models. Generated networks override every one of them with exact
//! symbolic code, so nothing here runs for a `network!`.

use crate::{Float, Model};

/// Step for a central difference at `x`: `ε^{1/3}·max(1, |x|)`, which balances the
/// truncation error (`h²`) against rounding (`ε/h`).
fn step<F: Float>(x: F) -> F {
    // ε^{1/3} for f32 and f64.
    let cbrt_eps = if F::NAME == "f32" { 4.9e-3 } else { 6.1e-6 };
    F::from_f64(cbrt_eps) * x.abs().max(F::ONE)
}

/// Largest output count the stack buffers below take without `alloc`.
const STACK_OUTPUTS: usize = 64;

fn check(what: &str, len: usize, want: usize) {
    assert_eq!(
        len, want,
        "symnn: `{what}` has length {len} but should have {want}"
    );
}

pub(crate) fn input_jacobian<M: Model>(model: &M, input: &[M::Float], jac: &mut [M::Float]) {
    let (i_n, o_n) = (M::NUM_INPUTS, M::NUM_OUTPUTS);
    check("input", input.len(), i_n);
    check("jac", jac.len(), o_n * i_n);
    assert!(
        o_n <= STACK_OUTPUTS,
        "symnn: finite-difference default limited to {STACK_OUTPUTS} outputs"
    );
    let mut x = [M::Float::ZERO; 256];
    assert!(
        i_n <= x.len(),
        "symnn: finite-difference default limited to 256 inputs"
    );
    x[..i_n].copy_from_slice(input);
    let (mut plus, mut minus) = (
        [M::Float::ZERO; STACK_OUTPUTS],
        [M::Float::ZERO; STACK_OUTPUTS],
    );
    for i in 0..i_n {
        let h = step(input[i]);
        x[i] = input[i] + h;
        model.forward_slice(&x[..i_n], &mut plus[..o_n]);
        x[i] = input[i] - h;
        model.forward_slice(&x[..i_n], &mut minus[..o_n]);
        x[i] = input[i];
        let two_h = (input[i] + h) - (input[i] - h);
        for o in 0..o_n {
            jac[o * i_n + i] = (plus[o] - minus[o]) / two_h;
        }
    }
}

pub(crate) fn input_gradient<M: Model>(
    model: &M,
    input: &[M::Float],
    target: &[M::Float],
    grad: &mut [M::Float],
) -> M::Float {
    let i_n = M::NUM_INPUTS;
    check("input", input.len(), i_n);
    check("grad", grad.len(), i_n);
    let mut x = [M::Float::ZERO; 256];
    assert!(
        i_n <= x.len(),
        "symnn: finite-difference default limited to 256 inputs"
    );
    x[..i_n].copy_from_slice(input);
    for i in 0..i_n {
        let h = step(input[i]);
        x[i] = input[i] + h;
        let plus = model.loss_slice(&x[..i_n], target);
        x[i] = input[i] - h;
        let minus = model.loss_slice(&x[..i_n], target);
        x[i] = input[i];
        grad[i] = (plus - minus) / ((input[i] + h) - (input[i] - h));
    }
    model.loss_slice(input, target)
}

#[cfg(feature = "alloc")]
pub(crate) fn hvp<M: Model>(
    model: &M,
    input: &[M::Float],
    target: &[M::Float],
    v: &[M::Float],
    out: &mut [M::Float],
) -> M::Float {
    let p_n = M::NUM_PARAMS;
    check("v", v.len(), p_n);
    check("out", out.len(), p_n);
    let norm = v
        .iter()
        .map(|x| x.to_f64() * x.to_f64())
        .sum::<f64>()
        .sqrt();
    let loss = model.loss_slice(input, target);
    if norm == 0.0 {
        out.fill(M::Float::ZERO);
        return loss;
    }
    let scale = model
        .params()
        .iter()
        .map(|p| p.to_f64().abs())
        .fold(1.0, Float::max);
    let h = step(M::Float::from_f64(scale)).to_f64() / norm;
    let mut shifted = model.clone();
    let mut plus = alloc::vec![M::Float::ZERO; p_n];
    let mut minus = alloc::vec![M::Float::ZERO; p_n];
    for (sign, buf) in [(1.0, &mut plus), (-1.0, &mut minus)] {
        for ((p, p0), vi) in shifted.params_mut().iter_mut().zip(model.params()).zip(v) {
            *p = *p0 + M::Float::from_f64(sign * h) * *vi;
        }
        shifted.accumulate_gradient_slice(input, target, buf);
    }
    let denom = M::Float::from_f64(2.0 * h);
    for ((o, a), b) in out.iter_mut().zip(&plus).zip(&minus) {
        *o = (*a - *b) / denom;
    }
    loss
}

#[cfg(not(feature = "alloc"))]
pub(crate) fn hvp<M: Model>(
    _model: &M,
    _input: &[M::Float],
    _target: &[M::Float],
    _v: &[M::Float],
    _out: &mut [M::Float],
) -> M::Float {
    panic!("symnn: the finite-difference default of `hvp_slice` needs the `alloc` feature; implement `hvp_slice` for this model")
}

pub(crate) fn param_jacobian<M: Model>(
    model: &M,
    input: &[M::Float],
    jac: &mut [M::Float],
    output: &mut [M::Float],
) {
    let (p_n, o_n) = (M::NUM_PARAMS, M::NUM_OUTPUTS);
    check("jac", jac.len(), o_n * p_n);
    check("output", output.len(), o_n);
    assert!(
        o_n <= STACK_OUTPUTS,
        "symnn: finite-difference default limited to {STACK_OUTPUTS} outputs"
    );
    model.forward_slice(input, output);
    let mut shifted = model.clone();
    let (mut plus, mut minus) = (
        [M::Float::ZERO; STACK_OUTPUTS],
        [M::Float::ZERO; STACK_OUTPUTS],
    );
    for p in 0..p_n {
        let p0 = model.params()[p];
        let h = step(p0);
        shifted.params_mut()[p] = p0 + h;
        shifted.forward_slice(input, &mut plus[..o_n]);
        shifted.params_mut()[p] = p0 - h;
        shifted.forward_slice(input, &mut minus[..o_n]);
        shifted.params_mut()[p] = p0;
        let two_h = (p0 + h) - (p0 - h);
        for o in 0..o_n {
            jac[o * p_n + p] = (plus[o] - minus[o]) / two_h;
        }
    }
}
