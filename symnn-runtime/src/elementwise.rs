//! The built-in optimizers' update rules, one element at a time: the single place
//! where [`Sgd`](crate::Sgd)'s, [`Adam`](crate::Adam)'s and
//! [`AdamW`](crate::AdamW)'s formulas are written.
//!
//! Their `Optimizer::step` applies a rule to the whole vector. The
//! [`Trainer`](crate::Trainer) uses the same rule two more ways
//! ([`Optimizer::__elementwise`](crate::Optimizer::__elementwise)):
//! - it **previews** a step (computes every new parameter and checks it is finite
//!   without writing anything), so a step that would produce a NaN or an infinity is
//!   refused with the parameters *and* the optimizer state untouched, with no backup
//!   copy of the parameters;
//! - it splits the preview and the update over its threads by parameter range,
//!   because parameter `i`'s update reads only element `i` of the gradient and of the
//!   state.

use crate::Float;

/// One step's update of parameter `i` from `grad[i]` and up to two state values.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Rule<F> {
    /// [`Sgd`](crate::Sgd); state 0 is the velocity (empty without momentum).
    Sgd {
        lr: F,
        momentum: F,
        nesterov: bool,
        weight_decay: F,
    },
    /// [`Adam`](crate::Adam) (`decoupled: false`) or [`AdamW`](crate::AdamW); states
    /// 0 and 1 are `m` and `v`. `bias1 = 1 - beta1^t`, `bias2 = 1 - beta2^t` for this
    /// step's `t`.
    Adam {
        lr: F,
        beta1: F,
        beta2: F,
        eps: F,
        weight_decay: F,
        bias1: F,
        bias2: F,
        decoupled: bool,
    },
}

/// One rule's update of one element: `(p, g, s0, s1)` to the new `(p, s0, s1)`
/// (states the rule does not use pass through). One type per rule, so that each
/// loop below is compiled, and vectorised, for one formula.
trait Element<F>: Copy {
    fn update(self, p: F, g: F, s0: F, s1: F) -> (F, F, F);
}

#[derive(Clone, Copy)]
struct PlainSgd<F> {
    lr: F,
    weight_decay: F,
}

impl<F: Float> Element<F> for PlainSgd<F> {
    #[inline(always)]
    fn update(self, p: F, g: F, s0: F, s1: F) -> (F, F, F) {
        let g = g + self.weight_decay * p;
        (p - self.lr * g, s0, s1)
    }
}

#[derive(Clone, Copy)]
struct MomentumSgd<F> {
    lr: F,
    momentum: F,
    nesterov: bool,
    weight_decay: F,
}

impl<F: Float> Element<F> for MomentumSgd<F> {
    #[inline(always)]
    fn update(self, p: F, g: F, s0: F, s1: F) -> (F, F, F) {
        let g = g + self.weight_decay * p;
        let v = self.momentum * s0 + g;
        let d = if self.nesterov {
            g + self.momentum * v
        } else {
            v
        };
        (p - self.lr * d, v, s1)
    }
}

#[derive(Clone, Copy)]
struct AdamElement<F> {
    lr: F,
    beta1: F,
    beta2: F,
    eps: F,
    weight_decay: F,
    bias1: F,
    bias2: F,
    decoupled: bool,
}

impl<F: Float> Element<F> for AdamElement<F> {
    #[inline(always)]
    fn update(self, p: F, g: F, s0: F, s1: F) -> (F, F, F) {
        let (mut p, mut g) = (p, g);
        if self.decoupled {
            p -= self.lr * self.weight_decay * p;
        } else {
            g += self.weight_decay * p;
        }
        let m = self.beta1 * s0 + (F::ONE - self.beta1) * g;
        let v = self.beta2 * s1 + (F::ONE - self.beta2) * g * g;
        let m_hat = m / self.bias1;
        let v_hat = v / self.bias2;
        p -= self.lr * m_hat / (v_hat.sqrt() + self.eps);
        (p, m, v)
    }
}

impl<F: Float> Rule<F> {
    /// Applies the rule to `params` (states: empty, or as long as `params`).
    pub(crate) fn apply(&self, params: &mut [F], grad: &[F], s0: &mut [F], s1: &mut [F]) {
        let n = params.len();
        assert!(grad.len() == n && (s0.is_empty() || s0.len() == n));
        assert!(s1.is_empty() || s1.len() == n);
        match *self {
            Rule::Sgd {
                lr,
                momentum,
                weight_decay,
                ..
            } if momentum == F::ZERO => {
                apply_with(PlainSgd { lr, weight_decay }, params, grad, s0, s1);
            }
            Rule::Sgd {
                lr,
                momentum,
                nesterov,
                weight_decay,
            } => {
                let e = MomentumSgd {
                    lr,
                    momentum,
                    nesterov,
                    weight_decay,
                };
                apply_with(e, params, grad, s0, s1);
            }
            Rule::Adam { .. } => apply_with(self.adam(), params, grad, s0, s1),
        }
    }

    /// The first parameter that [`apply`](Rule::apply) would make NaN or infinite,
    /// and its value; writes nothing. (Only the trainer previews: std.)
    #[cfg(feature = "std")]
    pub(crate) fn preview(
        &self,
        params: &[F],
        grad: &[F],
        s0: &[F],
        s1: &[F],
    ) -> Option<(usize, F)> {
        match *self {
            Rule::Sgd {
                lr,
                momentum,
                weight_decay,
                ..
            } if momentum == F::ZERO => {
                preview_with(PlainSgd { lr, weight_decay }, params, grad, s0, s1)
            }
            Rule::Sgd {
                lr,
                momentum,
                nesterov,
                weight_decay,
            } => {
                let e = MomentumSgd {
                    lr,
                    momentum,
                    nesterov,
                    weight_decay,
                };
                preview_with(e, params, grad, s0, s1)
            }
            Rule::Adam { .. } => preview_with(self.adam(), params, grad, s0, s1),
        }
    }

    fn adam(&self) -> AdamElement<F> {
        match *self {
            Rule::Adam {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
                bias1,
                bias2,
                decoupled,
            } => AdamElement {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
                bias1,
                bias2,
                decoupled,
            },
            Rule::Sgd { .. } => unreachable!("called on Adam rules only"),
        }
    }
}

/// [`Rule::apply`] for one formula: one loop per state shape, so each vectorises.
fn apply_with<F: Float, E: Element<F>>(
    e: E,
    params: &mut [F],
    grad: &[F],
    s0: &mut [F],
    s1: &mut [F],
) {
    match (s0.is_empty(), s1.is_empty()) {
        (true, true) => {
            for (p, &g) in params.iter_mut().zip(grad) {
                *p = e.update(*p, g, F::ZERO, F::ZERO).0;
            }
        }
        (false, true) => {
            for ((p, &g), a) in params.iter_mut().zip(grad).zip(s0) {
                (*p, *a, _) = e.update(*p, g, *a, F::ZERO);
            }
        }
        (true, false) => unreachable!("a rule with state 1 has state 0"),
        (false, false) => {
            for (((p, &g), a), b) in params.iter_mut().zip(grad).zip(s0).zip(s1) {
                (*p, *a, *b) = e.update(*p, g, *a, *b);
            }
        }
    }
}

/// [`Rule::preview`] for one formula. The common all-finite case is one vectorised
/// pass (`Σ p·0` is 0 exactly when every `p` is finite); only then is the first
/// non-finite one searched for.
#[cfg(feature = "std")]
fn preview_with<F: Float, E: Element<F>>(
    e: E,
    params: &[F],
    grad: &[F],
    s0: &[F],
    s1: &[F],
) -> Option<(usize, F)> {
    let state = |s: &[F], i: usize| s.get(i).copied().unwrap_or(F::ZERO);
    let new = |i: usize| e.update(params[i], grad[i], state(s0, i), state(s1, i)).0;
    let mut lanes = [F::ZERO; 16];
    let (pc, _) = params.as_chunks::<16>();
    let (gc, _) = grad.as_chunks::<16>();
    match (s0.is_empty(), s1.is_empty()) {
        (true, true) => {
            for (p, g) in pc.iter().zip(gc) {
                for l in 0..16 {
                    lanes[l] += e.update(p[l], g[l], F::ZERO, F::ZERO).0 * F::ZERO;
                }
            }
        }
        (false, true) => {
            let (ac, _) = s0.as_chunks::<16>();
            for ((p, g), a) in pc.iter().zip(gc).zip(ac) {
                for l in 0..16 {
                    lanes[l] += e.update(p[l], g[l], a[l], F::ZERO).0 * F::ZERO;
                }
            }
        }
        (true, false) => unreachable!("a rule with state 1 has state 0"),
        (false, false) => {
            let (ac, _) = s0.as_chunks::<16>();
            let (bc, _) = s1.as_chunks::<16>();
            for (((p, g), a), b) in pc.iter().zip(gc).zip(ac).zip(bc) {
                for l in 0..16 {
                    lanes[l] += e.update(p[l], g[l], a[l], b[l]).0 * F::ZERO;
                }
            }
        }
    }
    let n = params.len();
    let probe = (n - n % 16..n).fold(lanes.iter().fold(F::ZERO, |a, &l| a + l), |a, i| {
        a + new(i) * F::ZERO
    });
    if probe == F::ZERO {
        return None;
    }
    (0..n).map(|i| (i, new(i))).find(|(_, p)| !p.is_finite())
}

/// One step of an element-wise optimizer, borrowed from it
/// ([`Optimizer::__elementwise`](crate::Optimizer::__elementwise)): the rule, the
/// state it updates, and the step counter to advance once the step is applied. Not
/// public API.
#[doc(hidden)]
#[derive(Debug)]
pub struct Elementwise<'a, F> {
    pub(crate) rule: Rule<F>,
    /// State 0 and 1: each empty, or one value per parameter.
    pub(crate) states: [&'a mut [F]; 2],
    /// Adam's running `beta^t` products and their values after this step.
    pub(crate) advance: Option<([&'a mut F; 2], [F; 2])>,
}

impl<F: Float> Elementwise<'_, F> {
    /// Applies the step to all of `params` and commits it.
    pub(crate) fn step(self, params: &mut [F], grad: &[F]) {
        let Elementwise {
            rule,
            states: [s0, s1],
            advance: counters,
        } = self;
        rule.apply(params, grad, s0, s1);
        advance(counters);
    }
}

/// Writes Adam's new `beta^t` products once a step has been applied.
pub(crate) fn advance<F>(counters: Option<([&mut F; 2], [F; 2])>) {
    if let Some(([b1, b2], [n1, n2])) = counters {
        *b1 = n1;
        *b2 = n2;
    }
}

#[cfg(test)]
mod tests {
    use super::Rule;

    #[test]
    fn preview_finds_the_first_non_finite_update_and_writes_nothing() {
        let rule = Rule::Sgd {
            lr: 1.0_f64,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        };
        let params: Vec<f64> = (0..37).map(f64::from).collect();
        let mut grad = vec![0.5; 37];
        assert_eq!(rule.preview(&params, &grad, &[], &[]), None);
        grad[33] = f64::NEG_INFINITY;
        grad[35] = f64::NAN;
        assert_eq!(
            rule.preview(&params, &grad, &[], &[]),
            Some((33, f64::INFINITY))
        );
        grad[3] = f64::INFINITY;
        assert_eq!(
            rule.preview(&params, &grad, &[], &[]),
            Some((3, f64::NEG_INFINITY))
        );
        // With state (Adam): an overflowing gradient makes `p` NaN.
        let adam = Rule::Adam {
            lr: 0.1_f64,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            bias1: 0.1,
            bias2: 0.001,
            decoupled: false,
        };
        let (m, v) = (vec![0.0; 37], vec![0.0; 37]);
        let mut grad = vec![1.0; 37];
        assert_eq!(adam.preview(&params, &grad, &m, &v), None);
        grad[20] = 1e300 * 1e10;
        assert_eq!(
            adam.preview(&params, &grad, &m, &v).map(|(i, _)| i),
            Some(20)
        );
    }
}
