//! `LevenbergMarquardt` and `Lbfgs` on hand-written models: convergence, `f32`,
//! non-finite trial points (rejected, not errors) and errors (parameters left at the
//! last finite iterate). The NIST StRD suite is in `tests/nist.rs`.
#![allow(clippy::needless_range_loop)]

mod common;

use common::LinReg;
use std::sync::atomic::{AtomicUsize, Ordering};
use symnn_runtime::{
    Cost, Dataset, Lbfgs, LbfgsStop, LevenbergMarquardt, Model, NewtonCg, ParamGroup, TrainError,
};

const NAMES: [&str; 4] = ["a", "b", "c", "d"];

/// A least-squares model in f64: `$forward` writes the `O` outputs `y` from parameters
/// `b` and the input `x`, `$jac` writes `j[o * P + p] = ∂y_o/∂b_p`. The loss is
/// `Σ_o (y_o − t_o)²`.
macro_rules! lsq_model {
    ($name:ident, $p:expr, $i:expr, $o:expr, |$b:ident, $x:ident, $y:ident| $forward:block, |$b2:ident, $x2:ident, $j:ident| $jac:block) => {
        #[derive(Clone, Debug)]
        struct $name {
            b: Vec<f64>,
        }
        impl $name {
            fn out(&self, $x: &[f64], $y: &mut [f64]) {
                let $b = &self.b[..];
                $forward
            }
            fn jac(&self, $x2: &[f64], $j: &mut [f64]) {
                let $b2 = &self.b[..];
                $jac
            }
        }
        impl Model for $name {
            type Float = f64;
            const NUM_PARAMS: usize = $p;
            const NUM_INPUTS: usize = $i;
            const NUM_TARGETS: usize = $o;
            const NUM_OUTPUTS: usize = $o;
            fn param_names() -> &'static [&'static str] {
                &NAMES[..$p]
            }
            fn param_groups() -> &'static [ParamGroup] {
                &[]
            }
            fn cost() -> Cost {
                Cost::default()
            }
            fn derivation() -> &'static str {
                ""
            }
            fn params(&self) -> &[f64] {
                &self.b
            }
            fn params_mut(&mut self) -> &mut [f64] {
                &mut self.b
            }
            fn with_seed_boxed(_seed: u64) -> Box<Self> {
                Box::new($name { b: vec![0.0; $p] })
            }
            fn forward_slice(&self, input: &[f64], output: &mut [f64]) {
                self.out(input, output);
            }
            fn loss_slice(&self, input: &[f64], target: &[f64]) -> f64 {
                let mut y = [0.0; $o];
                self.out(input, &mut y);
                (0..$o).map(|k| (y[k] - target[k]).powi(2)).sum()
            }
            fn accumulate_gradient_slice(
                &self,
                input: &[f64],
                target: &[f64],
                grad: &mut [f64],
            ) -> f64 {
                let mut y = [0.0; $o];
                let mut j = [0.0; $o * $p];
                self.out(input, &mut y);
                self.jac(input, &mut j);
                let mut loss = 0.0;
                for k in 0..$o {
                    let r = y[k] - target[k];
                    loss += r * r;
                    for p in 0..$p {
                        grad[p] += 2.0 * r * j[k * $p + p];
                    }
                }
                loss
            }
            fn sgd_step_slice(&mut self, input: &[f64], target: &[f64], lr: f64) -> f64 {
                let mut g = [0.0; $p];
                let l = self.accumulate_gradient_slice(input, target, &mut g);
                for p in 0..$p {
                    self.b[p] -= lr * g[p];
                }
                l
            }
            fn param_jacobian_slice(&self, input: &[f64], jac: &mut [f64], output: &mut [f64]) {
                self.jac(input, jac);
                self.out(input, output);
            }
        }
    };
}

// Rosenbrock as least squares: outputs (1 − a, 10 (b − a²)), targets 0, so the loss
// is (1 − a)² + 100 (b − a²)².
lsq_model!(
    Rosenbrock,
    2,
    1,
    2,
    |b, _x, y| {
        y[0] = 1.0 - b[0];
        y[1] = 10.0 * (b[1] - b[0] * b[0]);
    },
    |b, _x, j| {
        j[0] = -1.0;
        j[1] = 0.0;
        j[2] = -20.0 * b[0];
        j[3] = 10.0;
    }
);

/// Counts forward evaluations that came out non-finite.
static STEEP_NONFINITE: AtomicUsize = AtomicUsize::new(0);

// y = exp(1000 a x): overflows for a x > 0.71, which large trial steps reach.
lsq_model!(
    Steep,
    1,
    1,
    1,
    |b, x, y| {
        y[0] = (1000.0 * b[0] * x[0]).exp();
        if !y[0].is_finite() {
            STEEP_NONFINITE.fetch_add(1, Ordering::Relaxed);
        }
    },
    |b, x, j| {
        j[0] = 1000.0 * x[0] * (1000.0 * b[0] * x[0]).exp();
    }
);

static GROWTH_NONFINITE: AtomicUsize = AtomicUsize::new(0);

// y = exp(10 a x): from a = −5 the Jacobian is tiny, so the first trial steps (as long
// as the trust region allows) overflow.
lsq_model!(
    Growth,
    1,
    1,
    1,
    |b, x, y| {
        y[0] = (10.0 * b[0] * x[0]).exp();
        if !y[0].is_finite() {
            GROWTH_NONFINITE.fetch_add(1, Ordering::Relaxed);
        }
    },
    |b, x, j| {
        j[0] = 10.0 * x[0] * (10.0 * b[0] * x[0]).exp();
    }
);

// y = a x, but the Jacobian is NaN once a > 2.5 (an accepted iterate reaches 3).
lsq_model!(
    BadJacobian,
    1,
    1,
    1,
    |b, x, y| {
        y[0] = b[0] * x[0];
    },
    |b, x, j| {
        j[0] = if b[0] > 2.5 { f64::NAN } else { x[0] };
    }
);

// y = a x, finite only at a = 1 exactly: every trial point is NaN.
lsq_model!(
    Island,
    1,
    1,
    1,
    |b, x, y| {
        y[0] = if b[0] == 1.0 { b[0] * x[0] } else { f64::NAN };
    },
    |_b, x, j| {
        j[0] = x[0];
    }
);

fn zeros_data(n: usize, inputs: usize, targets: usize) -> Dataset<f64> {
    Dataset::new(
        vec![0.0; n * inputs],
        inputs,
        vec![0.0; n * targets],
        targets,
    )
    .unwrap()
}

fn line_data(slope: f64) -> Dataset<f64> {
    let xs: Vec<f64> = (1..=10).map(|k| k as f64 / 10.0).collect();
    let ts = xs.iter().map(|x| slope * x).collect();
    Dataset::new(xs, 1, ts, 1).unwrap()
}

fn plane_data<F: symnn_runtime::Float>() -> Dataset<F> {
    let mut inputs = Vec::new();
    let mut targets = Vec::new();
    for i in 0..7 {
        for j in 0..5 {
            let (x0, x1) = (i as f64 / 3.0 - 1.0, j as f64 / 2.0 - 1.0);
            inputs.extend([F::from_f64(x0), F::from_f64(x1)]);
            targets.push(F::from_f64(2.0 * x0 - 3.0 * x1 + 0.5));
        }
    }
    Dataset::new(inputs, 2, targets, 1).unwrap()
}

#[test]
fn lbfgs_solves_rosenbrock() {
    let mut m = Rosenbrock { b: vec![-1.2, 1.0] };
    let r = Lbfgs::new().fit(&mut m, &zeros_data(1, 1, 2)).unwrap();
    assert!(r.converged, "{r:?}");
    assert!(
        (m.b[0] - 1.0).abs() < 1e-7 && (m.b[1] - 1.0).abs() < 1e-7,
        "{:?} {r:?}",
        m.b
    );
    assert!(r.loss < 1e-14 && r.iterations < 100, "{r:?}");
    assert_eq!(r.loss, m.loss_slice(&[0.0], &[0.0, 0.0]));
}

#[test]
fn levenberg_marquardt_solves_rosenbrock() {
    let mut m = Rosenbrock { b: vec![-1.2, 1.0] };
    let r = LevenbergMarquardt::new()
        .fit(&mut m, &zeros_data(1, 1, 2))
        .unwrap();
    assert!(r.converged, "{r:?}");
    assert!(
        (m.b[0] - 1.0).abs() < 1e-12 && (m.b[1] - 1.0).abs() < 1e-12,
        "{:?} {r:?}",
        m.b
    );
    assert!(r.sum_of_squares < 1e-24);
}

#[test]
fn both_fit_a_linear_regression_in_f64_and_f32() {
    let want = [2.0, -3.0, 0.5];
    let mut m = LinReg::<f64>::new(0.0, 0.0, 0.0);
    let r = Lbfgs::new().fit(&mut m, &plane_data()).unwrap();
    assert!(r.converged, "{r:?}");
    for (p, w) in m.params.iter().zip(want) {
        assert!((p - w).abs() < 1e-7, "{:?}", m.params);
    }
    let mut m = LinReg::<f64>::new(0.0, 0.0, 0.0);
    let r = LevenbergMarquardt::new()
        .fit(&mut m, &plane_data())
        .unwrap();
    assert!(r.converged && r.sum_of_squares < 1e-20, "{r:?}");
    for (p, w) in m.params.iter().zip(want) {
        assert!((p - w).abs() < 1e-9, "{:?}", m.params);
    }
    // f32: internal vectors are f64, the model rounds; expect f32-level accuracy.
    let mut m = LinReg::<f32>::new(0.0, 0.0, 0.0);
    let r = Lbfgs::new().fit(&mut m, &plane_data()).unwrap();
    for (p, w) in m.params.iter().zip(want) {
        assert!((*p as f64 - w).abs() < 1e-4, "{:?} {r:?}", m.params);
    }
    let mut m = LinReg::<f32>::new(0.0, 0.0, 0.0);
    let r = LevenbergMarquardt::new()
        .fit(&mut m, &plane_data())
        .unwrap();
    assert!(r.converged, "{r:?}");
    for (p, w) in m.params.iter().zip(want) {
        assert!((*p as f64 - w).abs() < 1e-4, "{:?} {r:?}", m.params);
    }
}

#[test]
fn levenberg_marquardt_rejects_an_overflowing_trial_point() {
    let xs: Vec<f64> = vec![0.5, 1.0];
    let ts = xs.iter().map(|x| (2.0 * x).exp()).collect();
    let data = Dataset::new(xs, 1, ts, 1).unwrap();
    let mut m = Growth { b: vec![-5.0] };
    let before = GROWTH_NONFINITE.load(Ordering::Relaxed);
    let r = LevenbergMarquardt::new().fit(&mut m, &data).unwrap();
    assert!(
        GROWTH_NONFINITE.load(Ordering::Relaxed) > before,
        "no trial overflowed: {r:?}"
    );
    assert!(r.converged, "{r:?}");
    assert!((m.b[0] - 0.2).abs() < 1e-12, "{:?} {r:?}", m.b);
}

#[test]
fn lbfgs_shortens_the_line_search_on_an_overflowing_trial_point() {
    let data = Dataset::new(vec![1.0], 1, vec![1f64.exp()], 1).unwrap();
    let mut m = Steep { b: vec![0.0] };
    let before = STEEP_NONFINITE.load(Ordering::Relaxed);
    let r = Lbfgs::new().fit(&mut m, &data).unwrap();
    assert!(
        STEEP_NONFINITE.load(Ordering::Relaxed) > before,
        "no trial overflowed: {r:?}"
    );
    assert!(
        r.converged || r.stop == LbfgsStop::NoFurtherDecrease,
        "{r:?}"
    );
    assert!((m.b[0] - 0.001).abs() < 1e-11, "{:?} {r:?}", m.b);
}

#[test]
fn a_non_finite_jacobian_at_an_accepted_iterate_is_an_error_naming_it() {
    let mut m = BadJacobian { b: vec![0.0] };
    let e = LevenbergMarquardt::new()
        .fit(&mut m, &line_data(3.0))
        .unwrap_err();
    match &e {
        TrainError::NonFiniteDerivative {
            iteration,
            param_name,
            sample,
            ..
        } => {
            assert_eq!(*param_name, "a");
            assert_eq!(*sample, Some(0));
            assert!(*iteration >= 1, "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("iteration"), "{e}");
    // The model holds the accepted iterate whose Jacobian failed: finite, past 2.5.
    assert!(m.b[0].is_finite() && m.b[0] > 2.5, "{:?}", m.b);
}

#[test]
fn a_non_finite_start_is_an_error_at_iteration_0() {
    let mut m = Island { b: vec![2.0] };
    let e = LevenbergMarquardt::new()
        .fit(&mut m, &line_data(3.0))
        .unwrap_err();
    assert!(
        matches!(e, TrainError::NonFiniteObjective { iteration: 0, .. }),
        "{e:?}"
    );
    assert_eq!(m.b, [2.0]);
    let e = Lbfgs::new().fit(&mut m, &line_data(3.0)).unwrap_err();
    assert!(
        matches!(e, TrainError::NonFiniteObjective { iteration: 0, .. }),
        "{e:?}"
    );
    assert_eq!(m.b, [2.0]);
}

#[test]
fn exhausted_damping_and_line_search_leave_the_last_finite_iterate() {
    let mut m = Island { b: vec![1.0] };
    let e = LevenbergMarquardt::new()
        .fit(&mut m, &line_data(3.0))
        .unwrap_err();
    assert!(
        matches!(e, TrainError::DampingExhausted { iteration: 0, .. }),
        "{e:?}"
    );
    assert_eq!(m.b, [1.0]);
    assert!(e.to_string().contains("iteration 0"), "{e}");
    let e = Lbfgs::new().fit(&mut m, &line_data(3.0)).unwrap_err();
    assert!(
        matches!(e, TrainError::LineSearchFailed { iteration: 0, .. }),
        "{e:?}"
    );
    assert_eq!(m.b, [1.0]);
}

#[test]
fn outputs_must_match_targets_for_least_squares() {
    // The softmax model has 3 outputs and 3 targets; a model with 1 output and 2 targets:
    #[derive(Clone)]
    struct Odd(Vec<f64>);
    impl Model for Odd {
        type Float = f64;
        const NUM_PARAMS: usize = 1;
        const NUM_INPUTS: usize = 1;
        const NUM_TARGETS: usize = 2;
        const NUM_OUTPUTS: usize = 1;
        fn param_names() -> &'static [&'static str] {
            &["a"]
        }
        fn param_groups() -> &'static [ParamGroup] {
            &[]
        }
        fn cost() -> Cost {
            Cost::default()
        }
        fn derivation() -> &'static str {
            ""
        }
        fn params(&self) -> &[f64] {
            &self.0
        }
        fn params_mut(&mut self) -> &mut [f64] {
            &mut self.0
        }
        fn with_seed_boxed(_: u64) -> Box<Self> {
            Box::new(Odd(vec![0.0]))
        }
        fn forward_slice(&self, _: &[f64], o: &mut [f64]) {
            o[0] = self.0[0];
        }
        fn loss_slice(&self, _: &[f64], t: &[f64]) -> f64 {
            (self.0[0] - t[0]).powi(2) + (self.0[0] - t[1]).powi(2)
        }
        fn accumulate_gradient_slice(&self, i: &[f64], t: &[f64], g: &mut [f64]) -> f64 {
            g[0] += 2.0 * (self.0[0] - t[0]) + 2.0 * (self.0[0] - t[1]);
            self.loss_slice(i, t)
        }
        fn sgd_step_slice(&mut self, _: &[f64], _: &[f64], _: f64) -> f64 {
            0.0
        }
    }
    let data = Dataset::new(vec![0.0], 1, vec![1.0, 3.0], 2).unwrap();
    let e = LevenbergMarquardt::new()
        .fit(&mut Odd(vec![0.0]), &data)
        .unwrap_err();
    assert_eq!(
        e,
        TrainError::OutputsNotTargets {
            outputs: 1,
            targets: 2
        }
    );
    // L-BFGS only needs the loss: it minimises (a−1)² + (a−3)² at a = 2.
    let mut m = Odd(vec![0.0]);
    Lbfgs::new().fit(&mut m, &data).unwrap();
    assert!((m.0[0] - 2.0).abs() < 1e-9);
}

#[test]
fn the_folded_jacobian_path_matches_the_full_one() {
    // 3 000 samples of a noisy plane: the full 3000 x 3 Jacobian, and the same rows
    // folded 3 x 3 block by block (forced by a tiny limit).
    let n = 3000;
    let mut inputs = Vec::with_capacity(2 * n);
    let mut targets = Vec::with_capacity(n);
    for k in 0..n {
        let (x0, x1) = ((k % 97) as f64 / 48.0 - 1.0, (k % 89) as f64 / 44.0 - 1.0);
        inputs.extend([x0, x1]);
        targets.push(2.0 * x0 - 3.0 * x1 + 0.5 + 1e-3 * ((k * 7919 % 101) as f64 / 50.0 - 1.0));
    }
    let data = Dataset::new(inputs, 2, targets, 1).unwrap();
    let mut full = LinReg::<f64>::new(0.0, 0.0, 0.0);
    let rf = LevenbergMarquardt::new().fit(&mut full, &data).unwrap();
    let mut folded = LinReg::<f64>::new(0.0, 0.0, 0.0);
    let rb = LevenbergMarquardt::new()
        .full_jacobian_limit(10)
        .fit(&mut folded, &data)
        .unwrap();
    assert!(rf.converged && rb.converged, "{rf:?} {rb:?}");
    for (a, b) in full.params.iter().zip(&folded.params) {
        assert!(
            (a - b).abs() < 1e-12,
            "{:?} vs {:?}",
            full.params,
            folded.params
        );
    }
    assert!((rf.sum_of_squares - rb.sum_of_squares).abs() < 1e-12 * rf.sum_of_squares);
    // And a model with more parameters than residuals (P > m) on both paths.
    let tiny = Dataset::new(vec![0.5, -1.0], 2, vec![1.0], 1).unwrap();
    for limit in [usize::MAX, 1] {
        let mut m = LinReg::<f64>::new(0.0, 0.0, 0.0);
        let r = LevenbergMarquardt::new()
            .full_jacobian_limit(limit)
            .fit(&mut m, &tiny)
            .unwrap();
        assert!(r.sum_of_squares < 1e-24, "{r:?}");
    }
}

/// `y = Σ_j w_j sin((j + 1) x / P)` with `P` parameters: a linear least-squares
/// problem whose exact Jacobian row is the feature vector.
macro_rules! wide_linear {
    ($name:ident, $p:expr) => {
        #[derive(Clone)]
        struct $name(Vec<f64>);
        impl $name {
            fn feature(j: usize, x: f64) -> f64 {
                ((j + 1) as f64 * x / $p as f64).sin()
            }
        }
        impl Model for $name {
            type Float = f64;
            const NUM_PARAMS: usize = $p;
            const NUM_INPUTS: usize = 1;
            const NUM_TARGETS: usize = 1;
            const NUM_OUTPUTS: usize = 1;
            fn param_names() -> &'static [&'static str] {
                &[]
            }
            fn param_groups() -> &'static [ParamGroup] {
                &[]
            }
            fn cost() -> Cost {
                Cost::default()
            }
            fn derivation() -> &'static str {
                ""
            }
            fn params(&self) -> &[f64] {
                &self.0
            }
            fn params_mut(&mut self) -> &mut [f64] {
                &mut self.0
            }
            fn with_seed_boxed(_: u64) -> Box<Self> {
                Box::new($name(vec![0.0; $p]))
            }
            fn forward_slice(&self, x: &[f64], o: &mut [f64]) {
                o[0] = (0..$p).map(|j| self.0[j] * Self::feature(j, x[0])).sum();
            }
            fn loss_slice(&self, x: &[f64], t: &[f64]) -> f64 {
                let mut o = [0.0];
                self.forward_slice(x, &mut o);
                (o[0] - t[0]).powi(2)
            }
            fn accumulate_gradient_slice(&self, x: &[f64], t: &[f64], g: &mut [f64]) -> f64 {
                let mut o = [0.0];
                self.forward_slice(x, &mut o);
                for j in 0..$p {
                    g[j] += 2.0 * (o[0] - t[0]) * Self::feature(j, x[0]);
                }
                (o[0] - t[0]).powi(2)
            }
            fn sgd_step_slice(&mut self, _: &[f64], _: &[f64], _: f64) -> f64 {
                0.0
            }
            fn param_jacobian_slice(&self, x: &[f64], jac: &mut [f64], o: &mut [f64]) {
                for j in 0..$p {
                    jac[j] = Self::feature(j, x[0]);
                }
                self.forward_slice(x, o);
            }
        }
    };
}

wide_linear!(Wide1000, 1000);

/// Timing for large P (run in release: `cargo test -p symnn-runtime --release --test
/// second_order -- --ignored --nocapture`): 1000 parameters, 3000 samples, on the
/// full-Jacobian path and the folded path.
#[test]
#[ignore]
fn lm_with_a_thousand_parameters() {
    let n = 3000;
    let xs: Vec<f64> = (0..n).map(|k| k as f64 / n as f64 * 6.0).collect();
    let ts = xs
        .iter()
        .map(|x| (x * 0.7).cos() + 0.01 * (x * 13.0).sin())
        .collect();
    let data = Dataset::new(xs, 1, ts, 1).unwrap();
    for limit in [usize::MAX, 0] {
        let mut m = Wide1000(vec![0.0; 1000]);
        let t = std::time::Instant::now();
        let r = LevenbergMarquardt::new()
            .max_iterations(5)
            .full_jacobian_limit(limit)
            .fit(&mut m, &data)
            .unwrap();
        let s = t.elapsed().as_secs_f64();
        println!(
            "P = 1000, m = 3000, {}: {:.2} s for {} Jacobians ({:.2} s each), SS {:.3e} -> {:.3e}, {:?}",
            if limit == 0 { "folded" } else { "full" },
            s,
            r.jacobian_evaluations,
            s / r.jacobian_evaluations as f64,
            r.initial_sum_of_squares,
            r.sum_of_squares,
            r.stop
        );
    }
}

#[test]
fn newton_cg_solves_rosenbrock_and_a_regression() {
    let mut m = Rosenbrock { b: vec![-1.2, 1.0] };
    let r = NewtonCg::new().fit(&mut m, &zeros_data(1, 1, 2)).unwrap();
    assert!(r.converged, "{r:?}");
    assert!(
        (m.b[0] - 1.0).abs() < 1e-7 && (m.b[1] - 1.0).abs() < 1e-7,
        "{:?} {r:?}",
        m.b
    );
    assert!(r.hessian_vector_products > 0);
    let mut m = LinReg::<f64>::new(0.0, 0.0, 0.0);
    let r = NewtonCg::new().fit(&mut m, &plane_data()).unwrap();
    assert!(r.loss < 1e-14, "{r:?}");
    for (p, w) in m.params.iter().zip([2.0, -3.0, 0.5]) {
        assert!((p - w).abs() < 1e-7, "{:?}", m.params);
    }
    // Errors as L-BFGS's.
    let mut m = Island { b: vec![2.0] };
    let e = NewtonCg::new().fit(&mut m, &line_data(3.0)).unwrap_err();
    assert!(
        matches!(e, TrainError::NonFiniteObjective { iteration: 0, .. }),
        "{e:?}"
    );
    let mut m = Island { b: vec![1.0] };
    let e = NewtonCg::new().fit(&mut m, &line_data(3.0)).unwrap_err();
    assert!(
        matches!(e, TrainError::LineSearchFailed { iteration: 0, .. }),
        "{e:?}"
    );
    assert_eq!(m.b, [1.0]);
}

/// Newton-CG's cost per iteration against one full-batch gradient (run in release:
/// `cargo test -p symnn-runtime --release --test second_order -- --ignored --nocapture`).
/// The model is `Wide1000` (its `hvp_slice` is the finite-difference default, two
/// gradients a sample), so this measures the optimiser's own overhead around the
/// model calls.
#[test]
#[ignore]
fn newton_cg_cost_per_iteration() {
    let n = 2000;
    let xs: Vec<f64> = (0..n).map(|k| k as f64 / n as f64 * 6.0).collect();
    let ts = xs.iter().map(|x| (x * 0.7).cos()).collect();
    let data = Dataset::new(xs, 1, ts, 1).unwrap();
    let mut m = Wide1000(vec![0.0; 1000]);
    let mut g = vec![0.0; 1000];
    let reps = 5;
    let t = std::time::Instant::now();
    for _ in 0..reps {
        g.fill(0.0);
        std::hint::black_box(m.accumulate_gradient_batch_slice(
            data.inputs(),
            data.targets(),
            &mut g,
        ));
    }
    let grad = t.elapsed().as_secs_f64() / reps as f64;
    let v = vec![1e-3; 1000];
    let mut out = vec![0.0; 1000];
    let t = std::time::Instant::now();
    for (x, y) in data.iter() {
        std::hint::black_box(m.hvp_slice(x, y, &v, &mut out));
    }
    let hvp = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let r = NewtonCg::new()
        .max_iterations(3)
        .max_cg(20)
        .fit(&mut m, &data)
        .unwrap();
    let total = t.elapsed().as_secs_f64();
    let model_time = r.evaluations as f64 * grad + r.hessian_vector_products as f64 * hvp;
    println!(
        "gradient pass {:.1} ms, HVP pass {:.1} ms ({:.2} gradients); Newton-CG: {} iterations, \
         {} evaluations, {} HVP passes, {:.1} ms per iteration = {:.1} gradients; \
         optimiser overhead {:.1}% of the run",
        grad * 1e3,
        hvp * 1e3,
        hvp / grad,
        r.iterations,
        r.evaluations,
        r.hessian_vector_products,
        total / r.iterations as f64 * 1e3,
        total / r.iterations as f64 / grad,
        100.0 * (total - model_time).max(0.0) / total
    );
    // And L-BFGS's per-iteration cost for comparison.
    let mut m = Wide1000(vec![0.0; 1000]);
    let t = std::time::Instant::now();
    let r = Lbfgs::new().max_iterations(20).fit(&mut m, &data).unwrap();
    let total = t.elapsed().as_secs_f64();
    println!(
        "L-BFGS: {} iterations, {} evaluations, {:.2} gradients per iteration, overhead {:.1}%",
        r.iterations,
        r.evaluations,
        total / r.iterations as f64 / grad,
        100.0 * (total - r.evaluations as f64 * grad).max(0.0) / total
    );
}
