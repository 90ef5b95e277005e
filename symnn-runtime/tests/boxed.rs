//! `Box<M>` is a `Model` that forwards every method to `M`, the overridden ones
//! included (never the trait's defaults), and trains like `M`.
mod common;

use common::LinReg;
use symnn_runtime::{Cost, Dataset, Model, ParamGroup, Sgd, Trainer};

/// A model whose every method leaves its own mark, so a forwarded call is told apart
/// from the trait's default (finite differences, loops over one-sample methods, ...).
#[derive(Clone, Debug, PartialEq)]
struct Marked {
    params: Vec<f64>,
    /// Set by the overridden `from_params_boxed`.
    from_params: bool,
}

impl Model for Marked {
    type Float = f64;
    const NUM_PARAMS: usize = 2;
    const NUM_INPUTS: usize = 1;
    const NUM_TARGETS: usize = 1;
    const NUM_OUTPUTS: usize = 1;
    fn param_names() -> &'static [&'static str] {
        &["a", "b"]
    }
    fn param_groups() -> &'static [ParamGroup] {
        &[ParamGroup {
            name: "ab",
            shape: &[2],
            offset: 0,
        }]
    }
    fn cost() -> Cost {
        Cost {
            forward_ops: 17,
            ..Cost::default()
        }
    }
    fn derivation() -> &'static str {
        "marked derivation"
    }
    fn derivation_latex() -> &'static str {
        "marked latex"
    }
    fn graph_dot() -> &'static str {
        "marked dot"
    }
    fn params(&self) -> &[f64] {
        &self.params
    }
    fn params_mut(&mut self) -> &mut [f64] {
        &mut self.params
    }
    fn forward_slice(&self, _: &[f64], output: &mut [f64]) {
        output[0] = 1.0;
    }
    fn loss_slice(&self, _: &[f64], _: &[f64]) -> f64 {
        2.0
    }
    fn accumulate_gradient_slice(&self, _: &[f64], _: &[f64], grad: &mut [f64]) -> f64 {
        grad[0] += 3.0;
        3.0
    }
    fn sgd_step_slice(&mut self, _: &[f64], _: &[f64], _: f64) -> f64 {
        self.params[0] = 4.0;
        4.0
    }
    fn gradient_into_slice(&self, _: &[f64], _: &[f64], grad: &mut [f64]) -> f64 {
        grad.fill(5.0);
        5.0
    }
    fn accumulate_gradient_batch_slice(&self, _: &[f64], _: &[f64], grad: &mut [f64]) -> f64 {
        grad[1] += 6.0;
        6.0
    }
    fn sgd_step_batch_slice(&mut self, _: &[f64], _: &[f64], _: f64) -> f64 {
        self.params[1] = 7.0;
        7.0
    }
    fn forward_batch_slice(&self, _: &[f64], outputs: &mut [f64]) {
        outputs.fill(12.0);
    }
    fn loss_batch_slice(&self, _: &[f64], _: &[f64]) -> f64 {
        13.0
    }
    fn input_jacobian_slice(&self, _: &[f64], jac: &mut [f64]) {
        jac[0] = 8.0;
    }
    fn input_gradient_slice(&self, _: &[f64], _: &[f64], grad: &mut [f64]) -> f64 {
        grad[0] = 9.0;
        9.0
    }
    fn hvp_slice(&self, _: &[f64], _: &[f64], _: &[f64], out: &mut [f64]) -> f64 {
        out.fill(10.0);
        10.0
    }
    fn param_jacobian_slice(&self, _: &[f64], jac: &mut [f64], output: &mut [f64]) {
        jac.fill(11.0);
        output[0] = 11.0;
    }
    fn with_seed_boxed(seed: u64) -> Box<Self> {
        Box::new(Marked {
            params: vec![seed as f64, 0.0],
            from_params: false,
        })
    }
    fn from_params_boxed(params: &[f64]) -> Box<Self> {
        Box::new(Marked {
            params: params.to_vec(),
            from_params: true,
        })
    }
}

#[test]
fn a_box_forwards_every_method() {
    type B = Box<Marked>;
    assert_eq!(
        (B::NUM_PARAMS, B::NUM_INPUTS, B::NUM_TARGETS, B::NUM_OUTPUTS),
        (2, 1, 1, 1)
    );
    assert_eq!(B::param_names(), ["a", "b"]);
    assert_eq!(B::param_groups(), Marked::param_groups());
    assert_eq!(B::cost().forward_ops, 17);
    assert_eq!(
        (B::derivation(), B::derivation_latex(), B::graph_dot()),
        ("marked derivation", "marked latex", "marked dot")
    );

    let mut m: B = B::with_seed_boxed(42).as_ref().clone();
    assert_eq!(m.params(), [42.0, 0.0]);
    m.params_mut()[1] = -1.0;
    assert_eq!(m.params, [42.0, -1.0]);
    let (x, t) = ([0.5], [0.25]);
    let mut one = [0.0];
    let mut two = [0.0; 2];
    m.forward_slice(&x, &mut one);
    assert_eq!(one, [1.0]);
    assert_eq!(m.loss_slice(&x, &t), 2.0);
    assert_eq!(m.accumulate_gradient_slice(&x, &t, &mut two), 3.0);
    assert_eq!(two, [3.0, 0.0]);
    assert_eq!(m.gradient_into_slice(&x, &t, &mut two), 5.0);
    assert_eq!(two, [5.0, 5.0]);
    let mut rows = [0.0; 2];
    m.forward_batch_slice(&[0.5, 0.25], &mut rows);
    assert_eq!(rows, [12.0, 12.0]);
    assert_eq!(m.loss_batch_slice(&[0.5, 0.25], &[1.0, 0.0]), 13.0);
    assert_eq!(m.accumulate_gradient_batch_slice(&x, &t, &mut two), 6.0);
    assert_eq!(two, [5.0, 11.0]);
    assert_eq!(m.sgd_step_slice(&x, &t, 0.1), 4.0);
    assert_eq!(m.sgd_step_batch_slice(&x, &t, 0.1), 7.0);
    assert_eq!(m.params(), [4.0, 7.0]);
    m.input_jacobian_slice(&x, &mut one);
    assert_eq!(one, [8.0]);
    assert_eq!(m.input_gradient_slice(&x, &t, &mut one), 9.0);
    assert_eq!(one, [9.0]);
    assert_eq!(m.hvp_slice(&x, &t, &[1.0, 1.0], &mut two), 10.0);
    assert_eq!(two, [10.0, 10.0]);
    m.param_jacobian_slice(&x, &mut two, &mut one);
    assert_eq!((two, one), ([11.0, 11.0], [11.0]));
    let rebuilt = B::from_params_boxed(&[1.5, 2.5]);
    assert!(
        rebuilt.from_params,
        "from_params_boxed must be Marked's own"
    );
    assert_eq!(rebuilt.params(), [1.5, 2.5]);
}

#[test]
fn a_boxed_network_trains_like_the_network() {
    let rows: Vec<([f64; 2], [f64; 1])> = (0..20)
        .map(|i| {
            let (a, b) = (f64::from(i) / 10.0, f64::from(i % 3));
            ([a, b], [2.0 * a - b + 0.5])
        })
        .collect();
    let data = Dataset::from_rows(&rows);
    let mut plain = LinReg::<f64>::new(0.1, 0.2, 0.3);
    let mut boxed = Box::new(plain.clone());
    let a = Trainer::new(Sgd::new(0.05))
        .epochs(5)
        .batch_size(4)
        .seed(3)
        .fit(&mut plain, &data, None)
        .unwrap();
    // `&mut boxed` is a `&mut Box<LinReg>`: no `&mut *boxed` needed.
    let b = Trainer::new(Sgd::new(0.05))
        .epochs(5)
        .batch_size(4)
        .seed(3)
        .fit(&mut boxed, &data, None)
        .unwrap();
    assert_eq!(boxed.params(), plain.params());
    assert_eq!(a.last().unwrap().train_loss, b.last().unwrap().train_loss);
    assert_ne!(plain.params(), LinReg::<f64>::new(0.1, 0.2, 0.3).params());
}
