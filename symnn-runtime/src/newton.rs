//! Newton-CG (truncated Newton, line-search form) with the exact Hessian–vector
//! product [`Model::hvp_slice`], over a [`Model`] and a [`Dataset`].
//!
//! [`NewtonCg::fit`] minimises the mean loss, like [`Lbfgs`](crate::Lbfgs). Each
//! iteration (Nocedal & Wright, Algorithm 7.1):
//!
//! 1. the mean gradient `g` ([`Model::accumulate_gradient_batch_slice`]);
//! 2. conjugate gradients on `H p = −g`, where each product `H v` is the mean of
//!    [`Model::hvp_slice`] over the data set (exact forward-over-reverse code in
//!    generated networks; a finite difference of two gradients for hand-written
//!    models), stopped at the relative residual `η = min(0.5, √‖g‖)` (superlinear
//!    convergence), at [`NewtonCg::max_cg`] steps, or on negative curvature
//!    (`pᵀHp ≤ ε ‖p‖²`: the last CG iterate is used, or `−g` on the first step);
//! 3. the strong-Wolfe line search of the L-BFGS module from `α = 1`.
//!
//! Stopping rules, non-finite handling and errors are L-BFGS's ([`LbfgsStop`],
//! [`TrainError`]); the report counts Hessian–vector passes over the data set.
//!
//! Why our own and not `argmin`: the crate's Newton-CG needs its `Gradient`/`Hessian`
//! operator traits and `ndarray` or `nalgebra` vectors (another dependency tree in
//! the default build), while this is 200 lines over the same `f64` vectors and line
//! search as L-BFGS; the per-iteration overhead against one gradient is measured in
//! `tests/second_order.rs` (`newton_cg_cost_per_iteration`, ignored; numbers in
//! `docs/RUNTIME.md`).
use crate::lbfgs::{axpy, dot, inf_norm, norm2, Evaluator, LbfgsStop, LineSearch, Start};
use crate::lm::set_params;
use crate::train::TrainError;
use crate::{Dataset, Float, Model};

/// Truncated Newton with conjugate gradients and exact Hessian–vector products. See
/// the [module docs](self).
#[derive(Clone, Debug, PartialEq)]
pub struct NewtonCg {
    max_iterations: usize,
    max_cg: usize,
    gtol: f64,
    ftol: f64,
}

impl Default for NewtonCg {
    fn default() -> Self {
        Self::new()
    }
}

/// The result of [`NewtonCg::fit`].
#[derive(Clone, Debug, PartialEq)]
pub struct NewtonCgReport {
    /// Accepted (Newton) steps.
    pub iterations: usize,
    /// Loss-and-gradient passes over the data set (line search included).
    pub evaluations: usize,
    /// Hessian–vector passes over the data set (CG steps).
    pub hessian_vector_products: usize,
    /// True for `Gtol` and `Ftol`.
    pub converged: bool,
    /// Why it stopped.
    pub stop: LbfgsStop,
    /// The final mean loss.
    pub loss: f64,
    /// The mean loss at the start.
    pub initial_loss: f64,
    /// `‖∇f‖_∞` at the end.
    pub gradient_norm: f64,
}

impl NewtonCg {
    /// Defaults: at most 200 Newton iterations and `min(P, 100)` CG steps each,
    /// `gtol = 1e-10`, `ftol = 1e-14`.
    pub fn new() -> Self {
        NewtonCg {
            max_iterations: 200,
            max_cg: 100,
            gtol: 1e-10,
            ftol: 1e-14,
        }
    }
    /// At most this many Newton steps.
    pub fn max_iterations(mut self, n: usize) -> Self {
        self.max_iterations = n;
        self
    }
    /// At most this many CG steps (Hessian–vector passes) per Newton step.
    pub fn max_cg(mut self, n: usize) -> Self {
        self.max_cg = n.max(1);
        self
    }
    /// Stop when `‖∇f‖_∞ ≤ tol`.
    pub fn gtol(mut self, tol: f64) -> Self {
        self.gtol = tol;
        self
    }
    /// Stop when the relative decrease of the loss in one step is at most `tol`.
    pub fn ftol(mut self, tol: f64) -> Self {
        self.ftol = tol;
        self
    }

    /// Minimises the mean loss of `model` over `data`; errors as [`Lbfgs::fit`](crate::Lbfgs::fit).
    ///
    /// # Errors
    /// As [`Lbfgs::fit`](crate::Lbfgs::fit).
    pub fn fit<M: Model>(
        &self,
        model: &mut M,
        data: &Dataset<M::Float>,
    ) -> Result<NewtonCgReport, TrainError> {
        let n = M::NUM_PARAMS;
        let Start {
            mut ev,
            mut x,
            mut g,
            f: f0,
        } = Evaluator::start(model, data, "Newton-CG")?;
        let mut hv = Hvp::<M>::new();
        let mut ls = LineSearch::new(n);
        let (mut p, mut r, mut dvec, mut hd) =
            (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let mut f = f0;
        let mut iterations = 0;
        let stop = loop {
            if inf_norm(&g) <= self.gtol {
                break LbfgsStop::Gtol;
            }
            if iterations >= self.max_iterations {
                break LbfgsStop::MaxIterations;
            }
            // CG on H p = −g from p = 0.
            let gnorm = norm2(&g);
            let eta = 0.5f64.min(gnorm.sqrt());
            p.fill(0.0);
            for j in 0..n {
                r[j] = -g[j];
                dvec[j] = r[j];
            }
            let mut rr = dot(&r, &r);
            set_params(model, &x);
            for k in 0..self.max_cg.min(n.max(1)) {
                if !hv.apply(model, data, &dvec, &mut hd) {
                    break; // a non-finite product: use the current p
                }
                let dhd = dot(&dvec, &hd);
                if dhd <= f64::EPSILON * dot(&dvec, &dvec) {
                    if k == 0 {
                        for j in 0..n {
                            p[j] = -g[j];
                        }
                    }
                    break;
                }
                let alpha = rr / dhd;
                axpy(alpha, &dvec, &mut p);
                axpy(-alpha, &hd, &mut r);
                let rr_new = dot(&r, &r);
                if rr_new.sqrt() <= eta * gnorm {
                    break;
                }
                let beta = rr_new / rr;
                rr = rr_new;
                for j in 0..n {
                    dvec[j] = r[j] + beta * dvec[j];
                }
            }
            if p.iter().all(|v| *v == 0.0) {
                for j in 0..n {
                    p[j] = -g[j];
                }
            }
            let mut dg = dot(&p, &g);
            if dg >= 0.0 || dg.is_nan() {
                for j in 0..n {
                    p[j] = -g[j];
                }
                dg = dot(&p, &g);
            }
            let mut outcome = ls.search((1e-4, 0.9), model, data, &mut ev, &x, f, dg, &p, 1.0);
            if outcome.is_none() {
                for j in 0..n {
                    p[j] = -g[j];
                }
                dg = dot(&p, &g);
                outcome = ls.search(
                    (1e-4, 0.9),
                    model,
                    data,
                    &mut ev,
                    &x,
                    f,
                    dg,
                    &p,
                    (1.0 / gnorm).min(1.0),
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
            iterations += 1;
            x.copy_from_slice(&ls.x_best);
            g.copy_from_slice(&ls.g_best);
            let rel = (f - f_new) / f.abs().max(f_new.abs()).max(1.0);
            f = f_new;
            if rel <= self.ftol {
                break LbfgsStop::Ftol;
            }
        };
        set_params(model, &x);
        Ok(NewtonCgReport {
            iterations,
            evaluations: ev.count,
            hessian_vector_products: hv.count,
            converged: matches!(stop, LbfgsStop::Gtol | LbfgsStop::Ftol),
            stop,
            loss: f,
            initial_loss: f0,
            gradient_norm: inf_norm(&g),
        })
    }
}

/// The mean Hessian–vector product over the data set, in `f64`.
struct Hvp<M: Model> {
    v: Vec<M::Float>,
    out: Vec<M::Float>,
    count: usize,
}

impl<M: Model> Hvp<M> {
    fn new() -> Self {
        Hvp {
            v: vec![M::Float::ZERO; M::NUM_PARAMS],
            out: vec![M::Float::ZERO; M::NUM_PARAMS],
            count: 0,
        }
    }
    /// `hd = (1/N) Σ_s H_s d`; false if anything is non-finite.
    fn apply(&mut self, model: &M, data: &Dataset<M::Float>, d: &[f64], hd: &mut [f64]) -> bool {
        self.count += 1;
        for (a, b) in self.v.iter_mut().zip(d) {
            *a = M::Float::from_f64(*b);
        }
        hd.fill(0.0);
        for (input, target) in data.iter() {
            model.hvp_slice(input, target, &self.v, &mut self.out);
            for (a, b) in hd.iter_mut().zip(&self.out) {
                *a += b.to_f64();
            }
        }
        let inv = 1.0 / data.len() as f64;
        for a in hd.iter_mut() {
            *a *= inv;
        }
        hd.iter().all(|v| v.is_finite())
    }
}
