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
//!   state;
//! - it skips the preview when a bound proves the step finite ([`Rule::bound`]): the
//!   largest magnitudes of the parameters and states ([`Extent`], measured once an
//!   epoch and carried forward by the bound) and of the gradient (measured by the
//!   gradient's own finiteness check) bound every new value. The preview was a whole
//!   pass over parameters, gradient and state, 7 % of an MNIST epoch
//!   (docs/RUNTIME.md, "Non-finite steps").

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

/// Upper bounds on the magnitudes of the parameters and of the two states (0 for an
/// empty state); infinite when a value is not finite or not known.
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Extent {
    pub(crate) params: f64,
    pub(crate) s0: f64,
    pub(crate) s1: f64,
}

/// The largest `|x|` of `values`, or infinity if one is NaN or infinite; one
/// vectorised pass.
#[cfg(feature = "std")]
pub(crate) fn max_abs<F: Float>(values: &[F]) -> f64 {
    let mut max = [F::ZERO; 16];
    let mut probe = [F::ZERO; 16];
    let (chunks, rest) = values.as_chunks::<16>();
    for chunk in chunks {
        for l in 0..16 {
            let a = chunk[l].abs();
            max[l] = if a > max[l] { a } else { max[l] };
            probe[l] += chunk[l] * F::ZERO;
        }
    }
    let mut m = max.iter().fold(F::ZERO, |m, &a| if a > m { a } else { m });
    let mut p = probe.iter().fold(F::ZERO, |s, &x| s + x);
    for &x in rest {
        m = if x.abs() > m { x.abs() } else { m };
        p += x * F::ZERO;
    }
    if p == F::ZERO {
        m.to_f64()
    } else {
        f64::INFINITY
    }
}

#[cfg(feature = "std")]
impl Extent {
    /// Measured: one pass over the parameters and each state.
    pub(crate) fn measure<F: Float>(params: &[F], s0: &[F], s1: &[F]) -> Extent {
        Extent {
            params: max_abs(params),
            s0: max_abs(s0),
            s1: max_abs(s1),
        }
    }
}

impl<F: Float> Rule<F> {
    /// Bounds on the magnitudes after [`apply`](Rule::apply), given bounds before it
    /// (`before`) and `max_grad ≥ max |grad|`; `None` unless every new parameter and
    /// state is then surely finite (at most a quarter of the float type's largest
    /// value: room for the rounding of the few operations of one update, which the
    /// bounds also absorb by growing 0.01 % a step).
    ///
    /// Each bound follows the rule's formula with every term at its largest magnitude
    /// (computed in f64): plain SGD `|p'| ≤ P + lr·(G + wd·P)`; momentum adds
    /// `|v'| ≤ μ·A + G'`; Adam `|m'| ≤ β1·A + (1−β1)·G'`, `v' ≤ β2·B + (1−β2)·G'²`,
    /// `|p'| ≤ P + lr·(|m'|/bias1)/eps` (as `√v̂ + eps ≥ eps`).
    #[cfg(feature = "std")]
    pub(crate) fn bound(&self, before: Extent, max_grad: f64) -> Option<Extent> {
        // (The largest finite value of f64 or f32; a `Float` with a smaller range never
        // skips the preview.)
        let largest = if F::from_f64(f64::MAX).is_finite() {
            f64::MAX
        } else {
            f64::from(f32::MAX)
        };
        if !F::from_f64(largest).is_finite() {
            return None;
        }
        let limit = largest / 4.0;
        let grow = 1.0001;
        let Extent {
            params: p,
            s0: a,
            s1: b,
        } = before;
        let g = max_grad;
        let after = match *self {
            Rule::Sgd {
                lr,
                momentum,
                nesterov,
                weight_decay,
            } => {
                let (lr, mu, wd) = (
                    lr.to_f64().abs(),
                    momentum.to_f64().abs(),
                    weight_decay.to_f64().abs(),
                );
                let g1 = g + wd * p;
                if momentum == F::ZERO {
                    Extent {
                        params: p + lr * g1,
                        s0: a,
                        s1: b,
                    }
                } else {
                    let v = mu * a + g1;
                    let d = if nesterov { g1 + mu * v } else { v };
                    Extent {
                        params: p + lr * d,
                        s0: v,
                        s1: b,
                    }
                }
            }
            Rule::Adam { .. } => {
                let e = self.adam();
                let (lr, wd) = (e.lr.to_f64().abs(), e.weight_decay.to_f64().abs());
                let (beta1, beta2) = (e.beta1.to_f64(), e.beta2.to_f64());
                let (eps, bias1, bias2) = (e.eps.to_f64(), e.bias1.to_f64(), e.bias2.to_f64());
                let decoupled = e.decoupled;
                if !(eps > 0.0 && bias1 > 0.0 && bias2 > 0.0) {
                    return None;
                }
                let (p, g1) = if decoupled {
                    (p * (1.0 + lr * wd), g)
                } else {
                    (p, g + wd * p)
                };
                let m = beta1.abs() * a + (1.0 - beta1).abs() * g1;
                let v = beta2.abs() * b + (1.0 - beta2).abs() * g1 * g1;
                let m_hat = m / bias1;
                // (`v̂ = v / bias2` and `lr·m̂` are intermediate values of the update.)
                // (`is_some_and(<=)` is false for NaN too.)
                let within = |x: f64| x.partial_cmp(&limit).is_some_and(|o| o.is_le());
                if ![v / bias2, lr * m_hat, m_hat].into_iter().all(within) {
                    return None;
                }
                Extent {
                    params: p + lr * m_hat / eps,
                    s0: m,
                    s1: v,
                }
            }
        };
        let after = Extent {
            params: after.params * grow,
            s0: after.s0 * grow,
            s1: after.s1 * grow,
        };
        (after.params <= limit && after.s0 <= limit && after.s1 <= limit).then_some(after)
    }

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
    #[cfg(feature = "std")]
    use super::{max_abs, Extent};

    /// Random rules and values: after `apply`, every magnitude is within the bound
    /// (which is what lets the trainer skip the preview), and a bound exists for
    /// ordinary values.
    #[cfg(feature = "std")]
    fn bounds_hold<F: crate::Float>() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        let mut proven = 0;
        for case in 0..400 {
            let n = rng.random_range(1..40);
            // Magnitudes from 1e-3 to 1e3, and sometimes near the float's limit.
            let scale = if case % 10 == 9 {
                1e36
            } else {
                10f64.powf(rng.random_range(-3.0..3.0))
            };
            let draw = |rng: &mut rand_pcg::Pcg64, s: f64| -> Vec<F> {
                (0..n)
                    .map(|_| F::from_f64(rng.random_range(-1.0..1.0) * s))
                    .collect()
            };
            let mut params = draw(&mut rng, scale);
            let grad = draw(&mut rng, scale);
            let lr = F::from_f64(10f64.powf(rng.random_range(-4.0..0.0)));
            let rule = match case % 5 {
                0 => Rule::Sgd {
                    lr,
                    momentum: F::ZERO,
                    nesterov: false,
                    weight_decay: F::from_f64(0.01),
                },
                1 => Rule::Sgd {
                    lr,
                    momentum: F::from_f64(0.9),
                    nesterov: false,
                    weight_decay: F::ZERO,
                },
                2 => Rule::Sgd {
                    lr,
                    momentum: F::from_f64(0.9),
                    nesterov: true,
                    weight_decay: F::from_f64(0.1),
                },
                k => Rule::Adam {
                    lr,
                    beta1: F::from_f64(0.9),
                    beta2: F::from_f64(0.999),
                    eps: F::from_f64(1e-8),
                    weight_decay: F::from_f64(0.01),
                    bias1: F::from_f64(0.1),
                    bias2: F::from_f64(0.001),
                    decoupled: k == 4,
                },
            };
            let stateful = case % 5 != 0;
            let mut s0 = if stateful {
                draw(&mut rng, scale)
            } else {
                Vec::new()
            };
            let mut s1: Vec<F> = if case % 5 >= 3 {
                draw(&mut rng, scale).into_iter().map(|v| v * v).collect()
            } else {
                Vec::new()
            };
            let before = Extent::measure(&params, &s0, &s1);
            let bound = rule.bound(before, max_abs(&grad));
            if let Some(b) = bound {
                proven += 1;
                rule.apply(&mut params, &grad, &mut s0, &mut s1);
                let after = Extent::measure(&params, &s0, &s1);
                assert!(
                    after.params <= b.params && after.s0 <= b.s0 && after.s1 <= b.s1,
                    "case {case}: {after:?} exceeds {b:?}"
                );
            } else {
                assert!(
                    scale > 1e30 || F::NAME == "f32",
                    "case {case}: no bound at scale {scale}"
                );
            }
        }
        assert!(proven > 300, "only {proven} of 400 steps proven finite");
    }

    #[cfg(feature = "std")]
    #[test]
    fn bounds_hold_after_every_rule_in_f64_and_f32() {
        bounds_hold::<f64>();
        bounds_hold::<f32>();
    }

    #[cfg(feature = "std")]
    #[test]
    fn a_step_that_may_overflow_has_no_bound() {
        let rule = Rule::Sgd {
            lr: 1.0_f32,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        };
        let near = Extent {
            params: 1e38,
            s0: 0.0,
            s1: 0.0,
        };
        assert_eq!(rule.bound(near, 1.0), None);
        let ok = Extent {
            params: 1.0,
            s0: 0.0,
            s1: 0.0,
        };
        assert!(rule.bound(ok, 1.0).is_some_and(|b| b.params >= 2.0));
        assert_eq!(rule.bound(ok, f64::INFINITY), None);
        assert_eq!(
            rule.bound(
                Extent {
                    params: f64::NAN,
                    ..ok
                },
                1.0
            ),
            None
        );
        // Adam divides by eps: a tiny eps with a large gradient has no bound in f32.
        let adam = Rule::Adam {
            lr: 1.0_f32,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-30,
            weight_decay: 0.0,
            bias1: 0.1,
            bias2: 0.001,
            decoupled: false,
        };
        assert_eq!(adam.bound(ok, 1e10), None);
        assert_eq!(max_abs(&[1.0_f32, -3.0, f32::NAN]), f64::INFINITY);
        assert_eq!(max_abs(&[1.0_f64; 40].map(|x| -x * 2.0)), 2.0);
    }

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
