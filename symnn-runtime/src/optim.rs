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
//! **Without an allocator.** The state lives in a [`State`]: a `Vec<F>` by default
//! (feature `alloc`, implied by `std`), or a fixed array `[F; N]` with `N` the model's
//! `NUM_PARAMS`, which allocates nothing and works in `no_std` builds:
//!
//! ```
//! use symnn_runtime::{Adam, Optimizer};
//!
//! let mut opt: Adam<f32, [f32; 2]> = Adam::fixed(0.01);
//! let mut params = [1.0_f32, 1.0];
//! opt.step(&mut params, &[2.0, -0.5]);
//! assert!(params[0] < 1.0 && params[1] > 1.0);
//! ```
//!
//! The update rules follow PyTorch's `SGD`, `Adam` and `AdamW` with default options
//! (no dampening, no AMSGrad), written out on each type.

pub use crate::elementwise::Elementwise;
use crate::elementwise::Rule;
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
    /// Not public API. For an optimizer whose update of parameter `i` reads only
    /// element `i` of the gradient and of its state (the built-in ones): the next
    /// step's rule and state, for `len` parameters, so that the
    /// [`Trainer`](crate::Trainer) can check a step before applying it and split it
    /// across threads. `None` (the default): the trainer calls
    /// [`step`](Optimizer::step) and checks afterwards, restoring a backup copy.
    #[doc(hidden)]
    fn __elementwise(&mut self, len: usize) -> Option<Elementwise<'_, F>> {
        let _ = len;
        None
    }
}

/// Where an optimizer keeps one value per parameter (momentum, moment estimates).
///
/// `Vec<F>` (the default; feature `alloc`) is sized on the first step, so one
/// optimizer works for any model. `[F; N]` allocates nothing: `N` must be the model's
/// `NUM_PARAMS` (the first step panics otherwise).
pub trait State<F>: Clone + core::fmt::Debug {
    /// Fresh state: empty (`Vec`) or zeros (array).
    fn empty() -> Self;
    /// The values for `n` parameters, zeros on first use; `what` names the optimizer
    /// in panic messages.
    ///
    /// # Panics
    /// If `n` changed since the last step without a [`reset`](State::reset) (`Vec`),
    /// or differs from the array's length.
    fn values(&mut self, n: usize, what: &str) -> &mut [F];
    /// Back to [`empty`](State::empty).
    fn reset(&mut self);
}

#[cfg(feature = "alloc")]
impl<F: Float> State<F> for alloc::vec::Vec<F> {
    fn empty() -> Self {
        alloc::vec::Vec::new()
    }
    #[inline]
    fn values(&mut self, n: usize, what: &str) -> &mut [F] {
        if self.is_empty() {
            self.resize(n, F::ZERO);
        }
        assert_eq!(
            self.len(),
            n,
            "{what}: parameter count changed without reset()"
        );
        self
    }
    fn reset(&mut self) {
        self.clear();
    }
}

impl<F: Float, const N: usize> State<F> for [F; N] {
    fn empty() -> Self {
        [F::ZERO; N]
    }
    #[inline]
    fn values(&mut self, n: usize, what: &str) -> &mut [F] {
        assert_eq!(
            n, N,
            "{what}: the model has {n} parameters but the state array holds {N}"
        );
        self
    }
    fn reset(&mut self) {
        self.fill(F::ZERO);
    }
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
///
/// The velocity `v` lives in `S` (see [`State`]): a `Vec` by default, or `[F; N]`
/// through [`Sgd::fixed`]. Plain SGD without momentum never touches it.
#[derive(Clone, Debug)]
pub struct Sgd<
    F,
    #[cfg(feature = "alloc")] S = alloc::vec::Vec<F>,
    #[cfg(not(feature = "alloc"))] S,
> {
    lr: F,
    momentum: F,
    nesterov: bool,
    weight_decay: F,
    velocity: S,
}

#[cfg(feature = "alloc")]
impl<F: Float> Sgd<F> {
    /// Plain SGD with learning rate `lr` (momentum state in a `Vec`, sized on first use).
    pub fn new(lr: F) -> Self {
        Self::with_state(lr)
    }
}

impl<F: Float, const N: usize> Sgd<F, [F; N]> {
    /// Plain SGD with learning rate `lr` and its momentum state in an array of `N`
    /// values (the model's `NUM_PARAMS`): no allocation. Without momentum `N` may be 0.
    pub fn fixed(lr: F) -> Self {
        Self::with_state(lr)
    }
}

impl<F: Float, S: State<F>> Sgd<F, S> {
    /// Plain SGD with learning rate `lr` and its momentum state in `S`.
    pub fn with_state(lr: F) -> Self {
        Sgd {
            lr,
            momentum: F::ZERO,
            nesterov: false,
            weight_decay: F::ZERO,
            velocity: S::empty(),
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

impl<F: Float, S: State<F>> Optimizer<F> for Sgd<F, S> {
    fn step(&mut self, params: &mut [F], grad: &[F]) {
        assert_eq!(
            params.len(),
            grad.len(),
            "Sgd::step: params and grad lengths differ"
        );
        self.__elementwise(params.len())
            .expect("Sgd is element-wise")
            .step(params, grad);
    }
    fn __elementwise(&mut self, len: usize) -> Option<Elementwise<'_, F>> {
        let rule = Rule::Sgd {
            lr: self.lr,
            momentum: self.momentum,
            nesterov: self.nesterov,
            weight_decay: self.weight_decay,
        };
        // Plain SGD never touches (or sizes) the velocity.
        let velocity: &mut [F] = if self.momentum == F::ZERO {
            &mut []
        } else {
            self.velocity.values(len, "Sgd")
        };
        Some(Elementwise {
            rule,
            states: [velocity, &mut []],
            advance: None,
        })
    }
    fn learning_rate(&self) -> F {
        self.lr
    }
    fn set_learning_rate(&mut self, lr: F) {
        self.lr = lr;
    }
    fn reset(&mut self) {
        self.velocity.reset();
    }
}

/// Shared state and update of [`Adam`] and [`AdamW`].
#[derive(Clone, Debug)]
struct AdamCore<F, S> {
    lr: F,
    beta1: F,
    beta2: F,
    eps: F,
    weight_decay: F,
    /// `beta1^t` and `beta2^t`, kept as running products (no `powi` overflow of `t`).
    beta1_t: F,
    beta2_t: F,
    m: S,
    v: S,
}

impl<F: Float, S: State<F>> AdamCore<F, S> {
    fn new(lr: F, weight_decay: F) -> Self {
        AdamCore {
            lr,
            beta1: F::from_f64(0.9),
            beta2: F::from_f64(0.999),
            eps: F::from_f64(1e-8),
            weight_decay,
            beta1_t: F::ONE,
            beta2_t: F::ONE,
            m: S::empty(),
            v: S::empty(),
        }
    }

    fn reset(&mut self) {
        self.m.reset();
        self.v.reset();
        self.beta1_t = F::ONE;
        self.beta2_t = F::ONE;
    }

    /// The next step for `len` parameters. `decoupled`: AdamW's `p -= lr * wd * p`
    /// instead of Adam's `g += wd * p`.
    fn elementwise(&mut self, len: usize, decoupled: bool) -> Elementwise<'_, F> {
        let (beta1_t, beta2_t) = (self.beta1_t * self.beta1, self.beta2_t * self.beta2);
        let rule = Rule::Adam {
            lr: self.lr,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            weight_decay: self.weight_decay,
            bias1: F::ONE - beta1_t,
            bias2: F::ONE - beta2_t,
            decoupled,
        };
        Elementwise {
            rule,
            states: [self.m.values(len, "Adam"), self.v.values(len, "Adam")],
            advance: Some(([&mut self.beta1_t, &mut self.beta2_t], [beta1_t, beta2_t])),
        }
    }

    fn step(&mut self, params: &mut [F], grad: &[F], decoupled: bool) {
        assert_eq!(
            params.len(),
            grad.len(),
            "Adam::step: params and grad lengths differ"
        );
        self.elementwise(params.len(), decoupled).step(params, grad);
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
///
/// `m` and `v` live in `S` (see [`State`]): `Vec`s by default, or two `[F; N]`
/// through [`Adam::fixed`] (`2 * N` values of state, no allocation).
#[derive(Clone, Debug)]
pub struct Adam<
    F,
    #[cfg(feature = "alloc")] S = alloc::vec::Vec<F>,
    #[cfg(not(feature = "alloc"))] S,
>(AdamCore<F, S>);

#[cfg(feature = "alloc")]
impl<F: Float> Adam<F> {
    /// Adam with learning rate `lr`, `beta1 = 0.9`, `beta2 = 0.999`, `eps = 1e-8`
    /// (state in `Vec`s, sized on first use).
    pub fn new(lr: F) -> Self {
        Self::with_state(lr)
    }
}

impl<F: Float, const N: usize> Adam<F, [F; N]> {
    /// [`Adam::new`] with its state in two arrays of `N` values (the model's
    /// `NUM_PARAMS`): no allocation.
    pub fn fixed(lr: F) -> Self {
        Self::with_state(lr)
    }
}

impl<F: Float, S: State<F>> Adam<F, S> {
    /// [`Adam::new`] with its state in `S`.
    pub fn with_state(lr: F) -> Self {
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
        impl<F: Float, S: State<F>> Optimizer<F> for $name<F, S> {
            fn step(&mut self, params: &mut [F], grad: &[F]) {
                self.0.step(params, grad, $decoupled);
            }
            fn __elementwise(&mut self, len: usize) -> Option<Elementwise<'_, F>> {
                Some(self.0.elementwise(len, $decoupled))
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
/// then applies the [`Adam`] update with the raw gradient. State as [`Adam`]'s.
#[derive(Clone, Debug)]
pub struct AdamW<
    F,
    #[cfg(feature = "alloc")] S = alloc::vec::Vec<F>,
    #[cfg(not(feature = "alloc"))] S,
>(AdamCore<F, S>);

#[cfg(feature = "alloc")]
impl<F: Float> AdamW<F> {
    /// AdamW with learning rate `lr` and decoupled `weight_decay` (PyTorch's default
    /// is `0.01`); betas and eps as [`Adam::new`].
    pub fn new(lr: F, weight_decay: F) -> Self {
        Self::with_state(lr, weight_decay)
    }
}

impl<F: Float, const N: usize> AdamW<F, [F; N]> {
    /// [`AdamW::new`] with its state in two arrays of `N` values: no allocation.
    pub fn fixed(lr: F, weight_decay: F) -> Self {
        Self::with_state(lr, weight_decay)
    }
}

impl<F: Float, S: State<F>> AdamW<F, S> {
    /// [`AdamW::new`] with its state in `S`.
    pub fn with_state(lr: F, weight_decay: F) -> Self {
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
                let cos = (1.0 + (core::f64::consts::PI * progress).cos()) / 2.0;
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
