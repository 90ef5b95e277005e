//! Optimizers and learning-rate schedules.
//!
//! An optimizer is a *policy*: given the parameters and the (already averaged)
//! gradient of one minibatch, it updates the parameters in place. Keeping that a
//! small trait with tiny impls ([`Sgd`], [`Adam`], [`AdamW`]) lets the
//! [`Trainer`](crate::Trainer) stay generic and lets users plug in their own.
//!
//! All optimizers size their state (momentum buffers, moment estimates) lazily on
//! the first [`Optimizer::step`], so one value works for any model, and
//! [`Optimizer::reset`] forgets it so a new training run starts fresh.
//!
//! The update rules follow PyTorch's `SGD`, `Adam` and `AdamW` with default options
//! (no dampening, no AMSGrad), written out on each type.

use crate::Float;

/// Updates parameters from a gradient. See the [module docs](self).
pub trait Optimizer<F: Float> {
    /// Applies one update to `params` given `grad` (same length; dL/dparams averaged
    /// over the minibatch).
    ///
    /// # Panics
    /// If `params` and `grad` differ in length, or the length changed since the
    /// last step without a [`reset`](Optimizer::reset).
    fn step(&mut self, params: &mut [F], grad: &[F]);
    /// The learning rate the next step will use.
    fn learning_rate(&self) -> F;
    /// Sets the learning rate (used by [`LrSchedule`]s).
    fn set_learning_rate(&mut self, lr: F);
    /// Forgets all state (moment estimates, step count), as if newly built.
    fn reset(&mut self);
}

/// Resizes a state buffer on first use, and checks the length afterwards.
fn ensure_len<F: Float>(state: &mut Vec<F>, n: usize, what: &str) {
    if state.is_empty() {
        state.resize(n, F::ZERO);
    }
    assert_eq!(
        state.len(),
        n,
        "{what}: parameter count changed without reset()"
    );
}

/// Stochastic gradient descent with optional momentum, Nesterov momentum and
/// (coupled, L2-style) weight decay, as in PyTorch:
///
/// ```text
/// g = grad + weight_decay * p
/// v = momentum * v + g                  (v starts at 0)
/// d = g + momentum * v   if nesterov,  else  d = v   (d = g without momentum)
/// p = p - lr * d
/// ```
#[derive(Clone, Debug)]
pub struct Sgd<F> {
    lr: F,
    momentum: F,
    nesterov: bool,
    weight_decay: F,
    velocity: Vec<F>,
}

impl<F: Float> Sgd<F> {
    /// Plain SGD with learning rate `lr`.
    pub fn new(lr: F) -> Self {
        Sgd {
            lr,
            momentum: F::ZERO,
            nesterov: false,
            weight_decay: F::ZERO,
            velocity: Vec::new(),
        }
    }
    /// Sets the momentum factor (typically `0.9`).
    pub fn momentum(mut self, momentum: F) -> Self {
        self.momentum = momentum;
        self
    }
    /// Uses Nesterov momentum (only meaningful with a non-zero momentum).
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }
    /// Adds `weight_decay * p` to the gradient (L2 regularisation).
    pub fn weight_decay(mut self, weight_decay: F) -> Self {
        self.weight_decay = weight_decay;
        self
    }
}

impl<F: Float> Optimizer<F> for Sgd<F> {
    fn step(&mut self, params: &mut [F], grad: &[F]) {
        assert_eq!(
            params.len(),
            grad.len(),
            "Sgd::step: params and grad lengths differ"
        );
        let use_momentum = self.momentum != F::ZERO;
        if use_momentum {
            ensure_len(&mut self.velocity, params.len(), "Sgd");
        }
        for i in 0..params.len() {
            let g = grad[i] + self.weight_decay * params[i];
            let d = if use_momentum {
                let v = self.momentum * self.velocity[i] + g;
                self.velocity[i] = v;
                if self.nesterov {
                    g + self.momentum * v
                } else {
                    v
                }
            } else {
                g
            };
            params[i] -= self.lr * d;
        }
    }
    fn learning_rate(&self) -> F {
        self.lr
    }
    fn set_learning_rate(&mut self, lr: F) {
        self.lr = lr;
    }
    fn reset(&mut self) {
        self.velocity.clear();
    }
}

/// Shared state and update of [`Adam`] and [`AdamW`].
#[derive(Clone, Debug)]
struct AdamCore<F> {
    lr: F,
    beta1: F,
    beta2: F,
    eps: F,
    weight_decay: F,
    /// `beta1^t` and `beta2^t`, kept as running products (no `powi` overflow of `t`).
    beta1_t: F,
    beta2_t: F,
    m: Vec<F>,
    v: Vec<F>,
}

impl<F: Float> AdamCore<F> {
    fn new(lr: F, weight_decay: F) -> Self {
        AdamCore {
            lr,
            beta1: F::from_f64(0.9),
            beta2: F::from_f64(0.999),
            eps: F::from_f64(1e-8),
            weight_decay,
            beta1_t: F::ONE,
            beta2_t: F::ONE,
            m: Vec::new(),
            v: Vec::new(),
        }
    }

    fn reset(&mut self) {
        self.m.clear();
        self.v.clear();
        self.beta1_t = F::ONE;
        self.beta2_t = F::ONE;
    }

    /// `decoupled`: AdamW's `p -= lr * wd * p` instead of Adam's `g += wd * p`.
    fn step(&mut self, params: &mut [F], grad: &[F], decoupled: bool) {
        assert_eq!(
            params.len(),
            grad.len(),
            "Adam::step: params and grad lengths differ"
        );
        ensure_len(&mut self.m, params.len(), "Adam");
        ensure_len(&mut self.v, params.len(), "Adam");
        self.beta1_t *= self.beta1;
        self.beta2_t *= self.beta2;
        let bias1 = F::ONE - self.beta1_t;
        let bias2 = F::ONE - self.beta2_t;
        for i in 0..params.len() {
            let mut g = grad[i];
            if decoupled {
                params[i] -= self.lr * self.weight_decay * params[i];
            } else {
                g += self.weight_decay * params[i];
            }
            self.m[i] = self.beta1 * self.m[i] + (F::ONE - self.beta1) * g;
            self.v[i] = self.beta2 * self.v[i] + (F::ONE - self.beta2) * g * g;
            let m_hat = self.m[i] / bias1;
            let v_hat = self.v[i] / bias2;
            params[i] -= self.lr * m_hat / (v_hat.sqrt() + self.eps);
        }
    }
}

macro_rules! adam_builders {
    () => {
        /// Sets `beta1` (default `0.9`), the decay of the first-moment estimate.
        pub fn beta1(mut self, beta1: F) -> Self {
            self.0.beta1 = beta1;
            self
        }
        /// Sets `beta2` (default `0.999`), the decay of the second-moment estimate.
        pub fn beta2(mut self, beta2: F) -> Self {
            self.0.beta2 = beta2;
            self
        }
        /// Sets `eps` (default `1e-8`), added to the denominator.
        pub fn eps(mut self, eps: F) -> Self {
            self.0.eps = eps;
            self
        }
    };
}

/// Adam (Kingma & Ba 2015) with optional coupled L2 weight decay, as in PyTorch:
///
/// ```text
/// t = t + 1;  g = grad + weight_decay * p
/// m = beta1 * m + (1 - beta1) * g
/// v = beta2 * v + (1 - beta2) * g^2
/// p = p - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
/// ```
#[derive(Clone, Debug)]
pub struct Adam<F>(AdamCore<F>);

impl<F: Float> Adam<F> {
    /// Adam with learning rate `lr`, `beta1 = 0.9`, `beta2 = 0.999`, `eps = 1e-8`.
    pub fn new(lr: F) -> Self {
        Adam(AdamCore::new(lr, F::ZERO))
    }
    adam_builders!();
    /// Adds `weight_decay * p` to the gradient before the moment updates (L2). For
    /// decoupled decay use [`AdamW`].
    pub fn weight_decay(mut self, weight_decay: F) -> Self {
        self.0.weight_decay = weight_decay;
        self
    }
}

/// `Optimizer` for a wrapper around `AdamCore`; `$decoupled` selects AdamW's decay.
macro_rules! adam_optimizer {
    ($name:ident, $decoupled:expr) => {
        impl<F: Float> Optimizer<F> for $name<F> {
            fn step(&mut self, params: &mut [F], grad: &[F]) {
                self.0.step(params, grad, $decoupled);
            }
            fn learning_rate(&self) -> F {
                self.0.lr
            }
            fn set_learning_rate(&mut self, lr: F) {
                self.0.lr = lr;
            }
            fn reset(&mut self) {
                self.0.reset();
            }
        }
    };
}
adam_optimizer!(Adam, false);

/// AdamW (Loshchilov & Hutter 2019): Adam with *decoupled* weight decay, as in
/// PyTorch. Each step first shrinks the parameters, `p = p - lr * weight_decay * p`,
/// then applies the [`Adam`] update with the raw gradient.
#[derive(Clone, Debug)]
pub struct AdamW<F>(AdamCore<F>);

impl<F: Float> AdamW<F> {
    /// AdamW with learning rate `lr` and decoupled `weight_decay` (PyTorch's default
    /// is `0.01`); betas and eps as [`Adam::new`].
    pub fn new(lr: F, weight_decay: F) -> Self {
        AdamW(AdamCore::new(lr, weight_decay))
    }
    adam_builders!();
}

adam_optimizer!(AdamW, true);

/// A learning-rate schedule: the factor applied to the optimizer's initial learning
/// rate at time `t`, where `t` counts epochs or optimizer steps from 0 depending on
/// how the [`Trainer`](crate::Trainer) was told to apply it.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum LrSchedule {
    /// The initial learning rate throughout.
    #[default]
    Constant,
    /// Multiply by `gamma` every `every` units: `lr = lr0 * gamma^floor(t / every)`.
    StepDecay {
        /// Units (epochs or steps) between decays; at least 1.
        every: usize,
        /// Factor per decay, e.g. `0.5`.
        gamma: f64,
    },
    /// Cosine annealing from `lr0` down to `lr0 * min_factor` over `period` units,
    /// then flat: `lr = lr0 * (min + (1 - min) * (1 + cos(pi * min(t, period) / period)) / 2)`.
    Cosine {
        /// Units (epochs or steps) until the minimum is reached; at least 1.
        period: usize,
        /// The final learning rate as a fraction of the initial one.
        min_factor: f64,
    },
}

impl LrSchedule {
    /// Step decay by `gamma` every `every` units.
    pub fn step_decay(every: usize, gamma: f64) -> Self {
        LrSchedule::StepDecay { every, gamma }
    }
    /// Cosine annealing to `min_factor * lr0` over `period` units.
    pub fn cosine(period: usize, min_factor: f64) -> Self {
        LrSchedule::Cosine { period, min_factor }
    }
    /// The learning rate at time `t` given the initial rate `lr0`.
    pub fn lr_at(&self, lr0: f64, t: usize) -> f64 {
        match *self {
            LrSchedule::Constant => lr0,
            LrSchedule::StepDecay { every, gamma } => {
                let decays = t / every.max(1);
                lr0 * gamma.powi(i32::try_from(decays).unwrap_or(i32::MAX))
            }
            LrSchedule::Cosine { period, min_factor } => {
                let period = period.max(1);
                let progress = t.min(period) as f64 / period as f64;
                let cos = (1.0 + (std::f64::consts::PI * progress).cos()) / 2.0;
                lr0 * (min_factor + (1.0 - min_factor) * cos)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * (1.0 + b.abs())
    }

    #[test]
    fn plain_sgd_is_p_minus_lr_g() {
        let mut opt = Sgd::new(0.1);
        let mut p = [1.0, -2.0];
        opt.step(&mut p, &[0.5, -1.0]);
        // 1 - 0.1*0.5 = 0.95; -2 - 0.1*(-1) = -1.9
        assert!(close(p[0], 0.95) && close(p[1], -1.9), "{p:?}");
    }

    #[test]
    fn sgd_momentum_two_steps_by_hand() {
        // p0 = 1, g = 1 each step, lr = 0.1, mu = 0.9.
        // step 1: v = 1,           p = 1 - 0.1       = 0.9
        // step 2: v = 0.9 + 1 = 1.9, p = 0.9 - 0.19  = 0.71
        let mut opt = Sgd::new(0.1).momentum(0.9);
        let mut p = [1.0];
        opt.step(&mut p, &[1.0]);
        assert!(close(p[0], 0.9));
        opt.step(&mut p, &[1.0]);
        assert!(close(p[0], 0.71), "{}", p[0]);
    }

    #[test]
    fn sgd_nesterov_two_steps_by_hand() {
        // step 1: v = 1, d = 1 + 0.9*1 = 1.9,   p = 1 - 0.19 = 0.81
        // step 2: v = 1.9, d = 1 + 0.9*1.9 = 2.71, p = 0.81 - 0.271 = 0.539
        let mut opt = Sgd::new(0.1).momentum(0.9).nesterov(true);
        let mut p = [1.0];
        opt.step(&mut p, &[1.0]);
        assert!(close(p[0], 0.81), "{}", p[0]);
        opt.step(&mut p, &[1.0]);
        assert!(close(p[0], 0.539), "{}", p[0]);
    }

    #[test]
    fn sgd_weight_decay_adds_to_gradient() {
        // g = 0 + 0.5 * 2 = 1, p = 2 - 0.1 * 1 = 1.9
        let mut opt = Sgd::new(0.1).weight_decay(0.5);
        let mut p = [2.0];
        opt.step(&mut p, &[0.0]);
        assert!(close(p[0], 1.9));
    }

    #[test]
    fn adam_first_steps_by_hand() {
        // With bias correction, step 1 moves by exactly lr * g/|g| (up to eps):
        // m = 0.1 g, v = 0.001 g^2, m_hat = g, v_hat = g^2 -> p -= lr * g / (|g| + eps).
        let mut opt = Adam::new(0.01);
        let mut p = [1.0, 1.0];
        opt.step(&mut p, &[2.0, -0.5]);
        assert!(close(p[0], 1.0 - 0.01 * 2.0 / (2.0 + 1e-8)));
        assert!(close(p[1], 1.0 + 0.01 * 0.5 / (0.5 + 1e-8)));
        // Step 2 with g = 1 on p[0]:
        // m = 0.9*0.2 + 0.1*1 = 0.28,         m_hat = 0.28 / (1 - 0.81) = 0.28/0.19
        // v = 0.999*0.004 + 0.001*1 = 0.004996, v_hat = 0.004996 / (1 - 0.998001) = 0.004996/0.001999
        let before = p[0];
        opt.step(&mut p, &[1.0, 0.0]);
        let m_hat: f64 = 0.28 / 0.19;
        let v_hat: f64 = 0.004996 / 0.001999;
        let expected = before - 0.01 * m_hat / (v_hat.sqrt() + 1e-8);
        assert!((p[0] - expected).abs() < 1e-12, "{} vs {expected}", p[0]);
    }

    #[test]
    fn adamw_decays_before_the_adam_update() {
        // p = 2, g = 0: the Adam part is 0 (m = 0), so only decay acts:
        // p = 2 - 0.1 * 0.5 * 2 = 1.9.
        let mut opt = AdamW::new(0.1, 0.5);
        let mut p = [2.0];
        opt.step(&mut p, &[0.0]);
        assert!(close(p[0], 1.9), "{}", p[0]);
        // Adam with the same (coupled) decay sees g = 1 instead and moves by lr = 0.1.
        let mut opt = Adam::new(0.1).weight_decay(0.5);
        let mut p = [2.0];
        opt.step(&mut p, &[0.0]);
        assert!(close(p[0], 2.0 - 0.1 / (1.0 + 1e-8)), "{}", p[0]);
    }

    #[test]
    fn reset_forgets_state() {
        let mut opt = Sgd::new(0.1).momentum(0.9);
        let mut p = [1.0];
        opt.step(&mut p, &[1.0]);
        opt.reset();
        let mut q = [1.0];
        opt.step(&mut q, &[1.0]);
        assert!(close(q[0], 0.9));
    }

    #[test]
    fn schedules_by_hand() {
        let s = LrSchedule::step_decay(2, 0.5);
        let lrs: Vec<f64> = (0..5).map(|t| s.lr_at(1.0, t)).collect();
        assert_eq!(lrs, [1.0, 1.0, 0.5, 0.5, 0.25]);
        let c = LrSchedule::cosine(4, 0.0);
        assert!(close(c.lr_at(1.0, 0), 1.0));
        // halfway: (1 + cos(pi/2)) / 2 = 0.5
        assert!(close(c.lr_at(1.0, 2), 0.5));
        assert!(c.lr_at(1.0, 4).abs() < 1e-15);
        assert!(c.lr_at(1.0, 9).abs() < 1e-15);
        let c = LrSchedule::cosine(4, 0.1);
        assert!(close(c.lr_at(2.0, 4), 0.2));
        assert_eq!(LrSchedule::Constant.lr_at(0.3, 100), 0.3);
    }
}
