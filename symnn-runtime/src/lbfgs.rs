//! Full-batch L-BFGS with a strong-Wolfe line search, over a [`Model`] and a
//! [`Dataset`].
//!
//! [`Lbfgs::fit`] minimises the **mean** loss over the data set,
//! `f(θ) = (1/N) Σ_s loss(x_s, t_s; θ)`, with its gradient from
//! [`Model::accumulate_gradient_batch_slice`] (the generated batch code), summed in
//! `f64` over blocks of [`BLOCK`] samples. The iterates, the history and the line
//! search are `f64` whatever the model's float type; parameters are rounded to the
//! model's type before each evaluation (and the rounded values are the iterate).
//!
//! # The algorithm
//!
//! - **Direction**: the two-loop recursion (Nocedal & Wright, Algorithm 7.4) over the
//!   last `m` pairs `(s, y)` (default 10), with initial Hessian `γ I`,
//!   `γ = sᵀy / yᵀy` of the newest pair. A pair is stored only if
//!   `sᵀy > ε ‖y‖²` (curvature condition), so the matrix stays positive definite.
//!   If the direction is not a descent direction the history is dropped and the step
//!   is steepest descent.
//! - **Line search**: Nocedal & Wright's Algorithm 3.5 with `zoom` (3.6) for the
//!   strong Wolfe conditions, `c1 = 1e-4`, `c2 = 0.9`, cubic interpolation safeguarded
//!   to the inner 80% of the bracket, at most 30 evaluations. The first step tries
//!   `α = min(1, 1/‖g‖₂)`, later ones `α = 1`.
//! - **Non-finite trial points** (loss or a gradient component NaN/∞) are treated as
//!   "too far": the step is cut to a tenth of the way from the last good point and
//!   the point becomes the bracket's upper end. They are never errors by themselves.
//! - **A failed line search** (no point with sufficient decrease) drops the history
//!   and retries along steepest descent. If that fails too, with every trial point
//!   non-finite, the fit ends with [`TrainError::LineSearchFailed`]; if the trial
//!   points were finite but no lower loss could be found (rounding noise, typical in
//!   `f32` near a minimum), it stops normally with [`LbfgsStop::NoFurtherDecrease`].
//!
//! # Stopping rules ([`LbfgsStop`])
//!
//! - `Gtol`: `‖∇f‖_∞ ≤ gtol` (default `1e-10`);
//! - `Ftol`: `(f_k − f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) ≤ ftol` (default `1e-14`,
//!   scipy's `factr · ε` criterion with a tighter factor);
//! - `NoFurtherDecrease`: see above (`converged` is false);
//! - `MaxIterations` (default 1000; `converged` is false).
use crate::lm::{read_params, set_params};
use crate::train::{check_shape, TrainError};
use crate::{Dataset, Float, Model};
use std::collections::VecDeque;

/// Samples per [`Model::accumulate_gradient_batch_slice`] call; block results are
/// summed in `f64`.
pub const BLOCK: usize = 1024;

/// Most function evaluations in one line search.
pub const MAX_LINE_SEARCH: usize = 30;

/// Full-batch L-BFGS. See the [module docs](self).
///
/// ```
/// # use symnn_runtime::{Lbfgs, Model, Dataset, TrainError};
/// # fn demo<M: Model>(net: &mut M, data: &Dataset<M::Float>) -> Result<(), TrainError> {
/// let report = Lbfgs::new().max_iterations(500).fit(net, data)?;
/// println!("{} iterations, mean loss {}", report.iterations, report.loss);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Lbfgs {
    history: usize,
    max_iterations: usize,
    gtol: f64,
    ftol: f64,
    c1: f64,
    c2: f64,
}

impl Default for Lbfgs {
    fn default() -> Self {
        Self::new()
    }
}

/// Why [`Lbfgs::fit`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LbfgsStop {
    /// `‖∇f‖_∞ ≤ gtol`.
    Gtol,
    /// Relative decrease of the loss at most `ftol`.
    Ftol,
    /// No lower loss along the steepest-descent direction either (rounding noise).
    NoFurtherDecrease,
    /// The iteration limit.
    MaxIterations,
}

/// The result of [`Lbfgs::fit`].
#[derive(Clone, Debug, PartialEq)]
pub struct LbfgsReport {
    /// Accepted steps.
    pub iterations: usize,
    /// Loss-and-gradient evaluations over the whole data set.
    pub evaluations: usize,
    /// True for `Gtol` and `Ftol`.
    pub converged: bool,
    /// Why it stopped.
    pub stop: LbfgsStop,
    /// The final mean loss.
    pub loss: f64,
    /// The mean loss at the starting parameters.
    pub initial_loss: f64,
    /// `‖∇f‖_∞` at the final parameters.
    pub gradient_norm: f64,
}

impl Lbfgs {
    /// The defaults: history 10, at most 1000 iterations, `gtol = 1e-10`,
    /// `ftol = 1e-14`, `c1 = 1e-4`, `c2 = 0.9`.
    pub fn new() -> Self {
        Lbfgs {
            history: 10,
            max_iterations: 1000,
            gtol: 1e-10,
            ftol: 1e-14,
            c1: 1e-4,
            c2: 0.9,
        }
    }
    /// Number of `(s, y)` pairs kept (at least 1).
    pub fn history(mut self, m: usize) -> Self {
        self.history = m.max(1);
        self
    }
    /// At most this many accepted steps.
    pub fn max_iterations(mut self, n: usize) -> Self {
        self.max_iterations = n;
        self
    }
    /// Stop when the largest gradient component is at most this.
    pub fn gtol(mut self, tol: f64) -> Self {
        self.gtol = tol;
        self
    }
    /// Stop when the relative decrease of the loss in one step is at most this.
    pub fn ftol(mut self, tol: f64) -> Self {
        self.ftol = tol;
        self
    }
    /// The Wolfe constants (`0 < c1 < c2 < 1`; defaults 1e-4 and 0.9).
    pub fn wolfe(mut self, c1: f64, c2: f64) -> Self {
        assert!(
            0.0 < c1 && c1 < c2 && c2 < 1.0,
            "symnn: Wolfe constants need 0 < c1 < c2 < 1"
        );
        self.c1 = c1;
        self.c2 = c2;
        self
    }

    /// Minimises the mean loss of `model` over `data`. On success the model holds the
    /// final iterate; on error, the last accepted (finite) iterate.
    ///
    /// # Errors
    /// [`TrainError::Shape`] / [`TrainError::TooManyClasses`] /
    /// [`TrainError::EmptyDataset`] for unusable data;
    /// [`TrainError::NonFiniteObjective`] / [`TrainError::NonFiniteDerivative`] if the
    /// loss or gradient at the starting parameters is not finite;
    /// [`TrainError::LineSearchFailed`] if every trial point of a steepest-descent
    /// line search is non-finite.
    pub fn fit<M: Model>(
        &self,
        model: &mut M,
        data: &Dataset<M::Float>,
    ) -> Result<LbfgsReport, TrainError> {
        let n = M::NUM_PARAMS;
        let Start {
            mut ev,
            mut x,
            mut g,
            f: f0,
        } = Evaluator::start(model, data, "L-BFGS")?;
        let mut f = f0;
        let mut pairs: VecDeque<(Vec<f64>, Vec<f64>, f64)> = VecDeque::with_capacity(self.history);
        let mut d = vec![0.0; n];
        let mut alpha_buf = vec![0.0; self.history];
        let mut ls = LineSearch::new(n);
        let mut iterations = 0;
        let stop = loop {
            if inf_norm(&g) <= self.gtol {
                break LbfgsStop::Gtol;
            }
            if iterations >= self.max_iterations {
                break LbfgsStop::MaxIterations;
            }
            direction(&pairs, &g, &mut d, &mut alpha_buf);
            let mut dg = dot(&d, &g);
            if dg >= 0.0 || dg.is_nan() {
                pairs.clear();
                direction(&pairs, &g, &mut d, &mut alpha_buf);
                dg = dot(&d, &g);
            }
            let first = pairs.is_empty();
            let alpha0 = if first {
                (1.0 / norm2(&g)).min(1.0)
            } else {
                1.0
            };
            let mut outcome = ls.search(
                (self.c1, self.c2),
                model,
                data,
                &mut ev,
                &x,
                f,
                dg,
                &d,
                alpha0,
            );
            if outcome.is_none() && !first {
                // Retry along steepest descent with a fresh history.
                pairs.clear();
                direction(&pairs, &g, &mut d, &mut alpha_buf);
                dg = dot(&d, &g);
                let alpha0 = (1.0 / norm2(&g)).min(1.0);
                outcome = ls.search(
                    (self.c1, self.c2),
                    model,
                    data,
                    &mut ev,
                    &x,
                    f,
                    dg,
                    &d,
                    alpha0,
                );
            }
            let Some(f_new) = outcome else {
                set_params(model, &x);
                if ls.all_nonfinite {
                    return Err(TrainError::LineSearchFailed {
                        iteration: iterations,
                        evaluations: ls.evaluations,
                    });
                }
                break LbfgsStop::NoFurtherDecrease;
            };
            // Accept: s = x_new − x, y = g_new − g.
            iterations += 1;
            let mut s = std::mem::take(&mut ls.x_best);
            let mut y = std::mem::take(&mut ls.g_best);
            for j in 0..n {
                let (xn, gn) = (s[j], y[j]);
                s[j] = xn - x[j];
                y[j] = gn - g[j];
                x[j] = xn;
                g[j] = gn;
            }
            let sy = dot(&s, &y);
            let yy = dot(&y, &y);
            if sy > f64::EPSILON * yy && sy > 0.0 {
                if pairs.len() == self.history {
                    pairs.pop_front();
                }
                pairs.push_back((s, y, 1.0 / sy));
            }
            ls.x_best = vec![0.0; n];
            ls.g_best = vec![0.0; n];
            let rel = (f - f_new) / f.abs().max(f_new.abs()).max(1.0);
            f = f_new;
            if rel <= self.ftol {
                break LbfgsStop::Ftol;
            }
        };
        set_params(model, &x);
        Ok(LbfgsReport {
            iterations,
            evaluations: ev.count,
            converged: matches!(stop, LbfgsStop::Gtol | LbfgsStop::Ftol),
            stop,
            loss: f,
            initial_loss: f0,
            gradient_norm: inf_norm(&g),
        })
    }
}

/// Mean loss and gradient in `f64`.
pub(crate) struct Evaluator<M: Model> {
    grad: Vec<M::Float>,
    pub(crate) count: usize,
}

/// Where a full-batch method starts: the evaluator, the parameters `x` (f64), the
/// mean gradient `g` and loss `f` there.
pub(crate) struct Start<M: Model> {
    pub(crate) ev: Evaluator<M>,
    pub(crate) x: Vec<f64>,
    pub(crate) g: Vec<f64>,
    pub(crate) f: f64,
}

impl<M: Model> Evaluator<M> {
    pub(crate) fn new() -> Self {
        Evaluator {
            grad: vec![M::Float::ZERO; M::NUM_PARAMS],
            count: 0,
        }
    }

    /// Checks the data and evaluates the starting point of `method` (L-BFGS,
    /// Newton-CG): an error if the data are unusable or the loss or gradient there is
    /// not finite (the parameters are left where they were).
    pub(crate) fn start(
        model: &mut M,
        data: &Dataset<M::Float>,
        method: &'static str,
    ) -> Result<Start<M>, TrainError> {
        check_shape::<M>(data, "training")?;
        if data.is_empty() {
            return Err(TrainError::EmptyDataset);
        }
        let mut ev = Evaluator::<M>::new();
        let mut x: Vec<f64> = model.params().iter().map(|p| p.to_f64()).collect();
        let mut g = vec![0.0; M::NUM_PARAMS];
        let f = ev.eval(model, data, &mut x, &mut g);
        if !f.is_finite() {
            set_params(model, &x);
            return Err(TrainError::NonFiniteObjective {
                method,
                iteration: 0,
                value: f,
            });
        }
        if let Some(k) = g.iter().position(|v| !v.is_finite()) {
            return Err(TrainError::NonFiniteDerivative {
                method,
                iteration: 0,
                param_index: k,
                param_name: M::param_names().get(k).copied().unwrap_or(""),
                sample: None,
                value: g[k],
            });
        }
        Ok(Start { ev, x, g, f })
    }
    /// Sets the model to `x` (rounded; `x` is updated to the rounded values), writes
    /// the mean gradient into `g` and returns the mean loss (non-finite as `NaN`/`inf`).
    pub(crate) fn eval(
        &mut self,
        model: &mut M,
        data: &Dataset<M::Float>,
        x: &mut [f64],
        g: &mut [f64],
    ) -> f64 {
        self.count += 1;
        set_params(model, x);
        read_params(model, x);
        g.fill(0.0);
        let (ni, nt) = (M::NUM_INPUTS, M::NUM_TARGETS);
        let (inputs, targets) = (data.inputs(), data.targets());
        let len = data.len();
        let mut loss = 0.0;
        let mut s0 = 0;
        while s0 < len {
            let s1 = (s0 + BLOCK).min(len);
            self.grad.fill(M::Float::ZERO);
            let l = model.accumulate_gradient_batch_slice(
                &inputs[s0 * ni..s1 * ni],
                &targets[s0 * nt..s1 * nt],
                &mut self.grad,
            );
            loss += l.to_f64();
            for (a, b) in g.iter_mut().zip(&self.grad) {
                *a += b.to_f64();
            }
            s0 = s1;
        }
        let inv = 1.0 / len as f64;
        for a in g.iter_mut() {
            *a *= inv;
        }
        loss * inv
    }
}

/// The two-loop recursion: `d = −H g`.
fn direction(
    pairs: &VecDeque<(Vec<f64>, Vec<f64>, f64)>,
    g: &[f64],
    d: &mut [f64],
    alpha: &mut [f64],
) {
    for (dj, gj) in d.iter_mut().zip(g) {
        *dj = -gj;
    }
    for (k, (s, y, rho)) in pairs.iter().enumerate().rev() {
        let a = rho * dot(s, d);
        alpha[k] = a;
        axpy(-a, y, d);
    }
    if let Some((s, y, _)) = pairs.back() {
        let gamma = dot(s, y) / dot(y, y);
        for dj in d.iter_mut() {
            *dj *= gamma;
        }
    }
    for (k, (s, y, rho)) in pairs.iter().enumerate() {
        let b = rho * dot(y, d);
        axpy(alpha[k] - b, s, d);
    }
}

enum Trial {
    Point(Point),
    NonFinite,
    /// `x + a d` rounds to `x`.
    NoMove,
}

/// A trial point of the line search: step, loss, slope.
#[derive(Clone, Copy)]
struct Point {
    a: f64,
    f: f64,
    dg: f64,
}

pub(crate) struct LineSearch {
    xt: Vec<f64>,
    gt: Vec<f64>,
    pub(crate) x_best: Vec<f64>,
    pub(crate) g_best: Vec<f64>,
    pub(crate) evaluations: usize,
    pub(crate) all_nonfinite: bool,
}

impl LineSearch {
    pub(crate) fn new(n: usize) -> Self {
        LineSearch {
            xt: vec![0.0; n],
            gt: vec![0.0; n],
            x_best: vec![0.0; n],
            g_best: vec![0.0; n],
            evaluations: 0,
            all_nonfinite: true,
        }
    }

    /// Evaluates `φ(a) = f(x + a d)` and its slope.
    #[allow(clippy::too_many_arguments)]
    fn phi<M: Model>(
        &mut self,
        model: &mut M,
        data: &Dataset<M::Float>,
        ev: &mut Evaluator<M>,
        x: &[f64],
        d: &[f64],
        a: f64,
    ) -> Trial {
        for j in 0..x.len() {
            self.xt[j] = x[j] + a * d[j];
        }
        if self.xt.iter().any(|v| !v.is_finite()) {
            self.evaluations += 1;
            return Trial::NonFinite;
        }
        // A step too short to change any parameter (in the model's float type).
        if self
            .xt
            .iter()
            .zip(x)
            .all(|(&t, &v)| M::Float::from_f64(t) == M::Float::from_f64(v))
        {
            return Trial::NoMove;
        }
        self.evaluations += 1;
        let f = ev.eval(model, data, &mut self.xt, &mut self.gt);
        if !f.is_finite() || self.gt.iter().any(|v| !v.is_finite()) {
            return Trial::NonFinite;
        }
        self.all_nonfinite = false;
        Trial::Point(Point {
            a,
            f,
            dg: dot(&self.gt, d),
        })
    }

    fn keep(&mut self) {
        self.x_best.copy_from_slice(&self.xt);
        self.g_best.copy_from_slice(&self.gt);
    }

    /// Strong-Wolfe search from `x` along `d` (`dg0 = ∇f·d < 0`). On success returns
    /// the new loss with the point in `x_best`/`g_best`; `None` if no point with
    /// sufficient decrease was found.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn search<M: Model>(
        &mut self,
        (c1, c2): (f64, f64),
        model: &mut M,
        data: &Dataset<M::Float>,
        ev: &mut Evaluator<M>,
        x: &[f64],
        f0: f64,
        dg0: f64,
        d: &[f64],
        alpha0: f64,
    ) -> Option<f64> {
        self.evaluations = 0;
        self.all_nonfinite = true;
        // Sufficient decrease, and a strict one (rounding can make f = f0 pass).
        let armijo = |p: &Point| p.f <= f0 + c1 * p.a * dg0 && p.f < f0;
        let curvature = |p: &Point| p.dg.abs() <= -c2 * dg0;
        // Best point with sufficient decrease so far (fallback if Wolfe is not met).
        let mut best: Option<f64> = None;
        let mut prev = Point {
            a: 0.0,
            f: f0,
            dg: dg0,
        };
        let mut a = alpha0;
        let mut a_bad = f64::INFINITY; // smallest step known to be non-finite
        let mut first = true;
        // Bracketing phase.
        let (mut lo, mut hi) = loop {
            if self.evaluations >= MAX_LINE_SEARCH {
                return best;
            }
            let p = match self.phi(model, data, ev, x, d, a) {
                Trial::Point(p) => p,
                Trial::NoMove => return best,
                Trial::NonFinite => {
                    a_bad = a_bad.min(a);
                    a = prev.a + 0.1 * (a - prev.a);
                    continue;
                }
            };
            if !armijo(&p) || (!first && p.f >= prev.f) {
                break (prev, p);
            }
            if best.is_none_or(|b| p.f < b) {
                best = Some(p.f);
                self.keep();
            }
            if curvature(&p) {
                return Some(p.f);
            }
            if p.dg >= 0.0 {
                break (p, prev);
            }
            // Extrapolate: up to 4x, staying below a known non-finite step.
            let next = (4.0 * p.a).min(if a_bad.is_finite() {
                0.5 * (p.a + a_bad)
            } else {
                f64::INFINITY
            });
            prev = p;
            a = next;
            first = false;
        };
        // Zoom between lo (sufficient decrease, lower loss) and hi.
        loop {
            if self.evaluations >= MAX_LINE_SEARCH {
                return best;
            }
            let (l, h) = (lo.a.min(hi.a), lo.a.max(hi.a));
            let width = h - l;
            if width <= f64::EPSILON * h.max(f64::MIN_POSITIVE) {
                return best;
            }
            let mut t = cubic_min(&lo, &hi);
            if !(t.is_finite() && t > l + 0.1 * width && t < h - 0.1 * width) {
                t = 0.5 * (l + h);
            }
            let p = match self.phi(model, data, ev, x, d, t) {
                Trial::Point(p) => p,
                Trial::NoMove => return best,
                Trial::NonFinite => {
                    hi = Point {
                        a: t,
                        f: f64::INFINITY,
                        dg: f64::NAN,
                    };
                    continue;
                }
            };
            if !armijo(&p) || p.f >= lo.f {
                hi = p;
            } else {
                if best.is_none_or(|b| p.f < b) {
                    best = Some(p.f);
                    self.keep();
                }
                if curvature(&p) {
                    return Some(p.f);
                }
                if p.dg * (hi.a - lo.a) >= 0.0 {
                    hi = lo;
                }
                lo = p;
            }
        }
    }
}

/// The minimiser of the cubic through two points with values and slopes (`NaN` if
/// it has none, e.g. when an end is non-finite).
fn cubic_min(p: &Point, q: &Point) -> f64 {
    if !(p.f.is_finite() && q.f.is_finite() && p.dg.is_finite() && q.dg.is_finite()) {
        // Quadratic through p (value, slope) and q's value if q.f is finite.
        if q.f.is_finite() && p.dg.is_finite() {
            let h = q.a - p.a;
            let c = (q.f - p.f - p.dg * h) / (h * h);
            if c > 0.0 {
                return p.a - p.dg / (2.0 * c);
            }
        }
        return f64::NAN;
    }
    let d1 = p.dg + q.dg - 3.0 * (p.f - q.f) / (p.a - q.a);
    let disc = d1 * d1 - p.dg * q.dg;
    if disc < 0.0 {
        return f64::NAN;
    }
    let d2 = (q.a - p.a).signum() * disc.sqrt();
    q.a - (q.a - p.a) * (q.dg + d2 - d1) / (q.dg - p.dg + 2.0 * d2)
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub(crate) fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

pub(crate) fn norm2(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

pub(crate) fn inf_norm(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}
