//! Hand-written models with hand-derived gradients, standing in for `network!` output.
#![allow(dead_code)]
// Index loops read like the formulas they implement.
#![allow(clippy::needless_range_loop)]

use symnn_runtime::{Cost, Float, Model, ParamGroup};

/// `y = w[0] x0 + w[1] x1 + b`, loss `(y - t)^2`.
///
/// dL/dw[j] = 2 (y - t) x_j, dL/db = 2 (y - t).
#[derive(Clone, Debug, PartialEq)]
pub struct LinReg<F> {
    pub params: Vec<F>,
}

impl<F: Float> LinReg<F> {
    pub fn new(w0: f64, w1: f64, b: f64) -> Self {
        LinReg {
            params: vec![F::from_f64(w0), F::from_f64(w1), F::from_f64(b)],
        }
    }
    fn predict(&self, x: &[F]) -> F {
        self.params[0] * x[0] + self.params[1] * x[1] + self.params[2]
    }
}

impl<F: Float> Model for LinReg<F> {
    type Float = F;
    const NUM_PARAMS: usize = 3;
    const NUM_INPUTS: usize = 2;
    const NUM_TARGETS: usize = 1;
    const NUM_OUTPUTS: usize = 1;
    fn param_names() -> &'static [&'static str] {
        &["w[0]", "w[1]", "b"]
    }
    fn param_groups() -> &'static [ParamGroup] {
        &[
            ParamGroup {
                name: "w",
                shape: &[2],
                offset: 0,
            },
            ParamGroup {
                name: "b",
                shape: &[],
                offset: 2,
            },
        ]
    }
    fn cost() -> Cost {
        Cost::default()
    }
    fn derivation() -> &'static str {
        "y = w[0]*x0 + w[1]*x1 + b; L = (y - t)^2"
    }
    fn params(&self) -> &[F] {
        &self.params
    }
    fn with_seed_boxed(_seed: u64) -> Box<Self> {
        Box::new(Self {
            params: vec![F::ZERO; Self::NUM_PARAMS],
        })
    }
    fn params_mut(&mut self) -> &mut [F] {
        &mut self.params
    }
    fn forward_slice(&self, input: &[F], output: &mut [F]) {
        output[0] = self.predict(input);
    }
    fn loss_slice(&self, input: &[F], target: &[F]) -> F {
        let d = self.predict(input) - target[0];
        d * d
    }
    fn accumulate_gradient_slice(&self, input: &[F], target: &[F], grad: &mut [F]) -> F {
        let d = self.predict(input) - target[0];
        let two_d = d + d;
        grad[0] += two_d * input[0];
        grad[1] += two_d * input[1];
        grad[2] += two_d;
        d * d
    }
    fn sgd_step_slice(&mut self, input: &[F], target: &[F], lr: F) -> F {
        let mut g = [F::ZERO; 3];
        let loss = self.accumulate_gradient_slice(input, target, &mut g);
        for (p, g) in self.params.iter_mut().zip(g) {
            *p -= lr * g;
        }
        loss
    }
}

/// Softmax regression with 4 inputs and 3 classes (iris-shaped):
/// `z = W x + b`, `L = -sum_c t_c log softmax(z)_c`.
///
/// dL/dz_c = p_c - t_c (for one-hot t), so dL/dW[c][j] = (p_c - t_c) x_j, dL/db_c = p_c - t_c.
#[derive(Clone, Debug, PartialEq)]
pub struct Softmax<F> {
    pub params: Vec<F>,
}

pub const SOFTMAX_NAMES: [&str; 15] = [
    "W[0][0]", "W[0][1]", "W[0][2]", "W[0][3]", "W[1][0]", "W[1][1]", "W[1][2]", "W[1][3]",
    "W[2][0]", "W[2][1]", "W[2][2]", "W[2][3]", "b[0]", "b[1]", "b[2]",
];

impl<F: Float> Softmax<F> {
    pub fn zeros() -> Self {
        Softmax {
            params: vec![F::ZERO; 15],
        }
    }
    fn logits(&self, x: &[F]) -> [F; 3] {
        let mut z = [F::ZERO; 3];
        for (c, zc) in z.iter_mut().enumerate() {
            *zc = self.params[12 + c];
            for j in 0..4 {
                *zc += self.params[c * 4 + j] * x[j];
            }
        }
        z
    }
    /// Probabilities and log-probabilities, computed stably.
    fn probs(&self, x: &[F]) -> ([F; 3], [F; 3]) {
        let z = self.logits(x);
        let m = z[0].max(z[1]).max(z[2]);
        let sum = (z[0] - m).exp() + (z[1] - m).exp() + (z[2] - m).exp();
        let lse = m + sum.ln();
        let logp = [z[0] - lse, z[1] - lse, z[2] - lse];
        (logp.map(F::exp), logp)
    }
}

impl<F: Float> Model for Softmax<F> {
    type Float = F;
    const NUM_PARAMS: usize = 15;
    const NUM_INPUTS: usize = 4;
    const NUM_TARGETS: usize = 3;
    const NUM_OUTPUTS: usize = 3;
    fn param_names() -> &'static [&'static str] {
        &SOFTMAX_NAMES
    }
    fn param_groups() -> &'static [ParamGroup] {
        &[
            ParamGroup {
                name: "W",
                shape: &[3, 4],
                offset: 0,
            },
            ParamGroup {
                name: "b",
                shape: &[3],
                offset: 12,
            },
        ]
    }
    fn cost() -> Cost {
        Cost::default()
    }
    fn derivation() -> &'static str {
        "z = W x + b; L = -sum(t * log_softmax(z))"
    }
    fn params(&self) -> &[F] {
        &self.params
    }
    fn with_seed_boxed(_seed: u64) -> Box<Self> {
        Box::new(Self {
            params: vec![F::ZERO; Self::NUM_PARAMS],
        })
    }
    fn params_mut(&mut self) -> &mut [F] {
        &mut self.params
    }
    fn forward_slice(&self, input: &[F], output: &mut [F]) {
        output.copy_from_slice(&self.probs(input).0);
    }
    fn loss_slice(&self, input: &[F], target: &[F]) -> F {
        let logp = self.probs(input).1;
        -(target[0] * logp[0] + target[1] * logp[1] + target[2] * logp[2])
    }
    fn accumulate_gradient_slice(&self, input: &[F], target: &[F], grad: &mut [F]) -> F {
        let (p, logp) = self.probs(input);
        for c in 0..3 {
            let dz = p[c] - target[c];
            for j in 0..4 {
                grad[c * 4 + j] += dz * input[j];
            }
            grad[12 + c] += dz;
        }
        -(target[0] * logp[0] + target[1] * logp[1] + target[2] * logp[2])
    }
    fn sgd_step_slice(&mut self, input: &[F], target: &[F], lr: F) -> F {
        let mut g = vec![F::ZERO; 15];
        let loss = self.accumulate_gradient_slice(input, target, &mut g);
        for (p, g) in self.params.iter_mut().zip(g) {
            *p -= lr * g;
        }
        loss
    }
}

/// Central finite-difference check of a model's gradient at one sample.
pub fn check_gradient<M: Model<Float = f64>>(model: &M, x: &[f64], t: &[f64]) {
    let mut grad = vec![0.0; M::NUM_PARAMS];
    model.accumulate_gradient_slice(x, t, &mut grad);
    for i in 0..M::NUM_PARAMS {
        let h = 1e-6;
        let (mut plus, mut minus) = (model.clone(), model.clone());
        plus.params_mut()[i] += h;
        minus.params_mut()[i] -= h;
        let fd = (plus.loss_slice(x, t) - minus.loss_slice(x, t)) / (2.0 * h);
        assert!(
            (fd - grad[i]).abs() < 1e-6 * (1.0 + fd.abs()),
            "param {i}: fd {fd} vs {}",
            grad[i]
        );
    }
}

/// Path of a file in `symnn-runtime/data/`.
pub fn data_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

/// A fresh empty directory under the system temp dir.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("symnn-runtime-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
