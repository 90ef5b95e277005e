//! The numerics sweep (issue 9, part 4): every builtin and every loss, in `f64` and
//! `f32`, through every code path the macro emits, at extreme inputs.
//!
//! * **Networks**: one per builtin / loss and float type. The *scalar tier* nets
//!   ([`scalar_case!`]) compute `u = a·x + b` (`a = 1`, `b = 0`, so `u = x` exactly) and
//!   apply the builtin to `u`; the *tensor tier* nets ([`wide_case!`]) are a 16-16 `dense`
//!   layer (256 multiply-adds: the tensor path, `gemm` in the batch code) with the
//!   builtin as its activation or a loss on top, run with zero weights, inputs of 1 and the
//!   grid value in the biases.
//! * **Paths**: `forward`, `loss`, `gradient`, `sgd_step`, `accumulate_gradient_batch`
//!   and `sgd_step_batch`, the batches being [`BATCH`] copies of the sample (full lane
//!   blocks plus a tail in both tiers and both float types).
//! * **Grid**: [`GRID_F64`] / [`GRID_F32`] (0, tiny, ±1, saturating, ±700, overflow
//!   thresholds, ±∞), plus per-case targets and points.
//! * **Rule**: a carefully written `f64` reference ([`Want`]) gives every output, the
//!   loss and every gradient entry (rounded to `f32` for the `f32` nets). Where the
//!   reference is finite in the float type, the result must be finite and within
//!   `rtol·(|want| + scale) + atol` of it (`scale` is the size of the terms the formula
//!   cancels, e.g. `|z|` in `softplus(z) - t·z`). Where the reference is ±∞ the result
//!   must be the same infinity. Where it is NaN (undefined: `ln(-1)`, `sin(∞)`, `∞ - ∞`,
//!   `0·∞`), nothing is asserted; those cases are collected and printed (`--nocapture`)
//!   as the table of docs/NUMERICS.md "Numerics sweep".
//!
//! Every failure of every (case, float, path, input, quantity) is collected and reported
//! at once. Run with `cargo test --test numerics_sweep -- --nocapture`.
#![allow(clippy::approx_constant, clippy::excessive_precision)]

use std::collections::BTreeMap;
use std::fmt::Write as _;

use symnn::network;

// ---------------------------------------------------------------------------------------
// The networks.

/// A scalar-tier case: `$n64` (f64) and `$n32` (f32), with `input x; param a = 1, b = 0;`
/// and `let $u = a * x + b;` before the body, which uses `$u` and may declare more
/// parameters (after `a`, `b`) and targets.
macro_rules! scalar_case {
    ($n64:ident, $n32:ident, |$u:ident| $($body:tt)*) => {
        network! {
            #[allow(dead_code)]
            pub struct $n64 {
                type Float = f64;
                input x;
                param a = 1.0, b = 0.0;
                let $u = a * x + b;
                $($body)*
            }
        }
        network! {
            #[allow(dead_code)]
            pub struct $n32 {
                type Float = f32;
                input x;
                param a = 1.0, b = 0.0;
                let $u = a * x + b;
                $($body)*
            }
        }
        sweep_impl!($n64, f64);
        sweep_impl!($n32, f32);
    };
}

/// A tensor-tier case: `input x[16]` and the body (a 16-unit `dense` layer `y` and a loss).
macro_rules! wide_case {
    ($n64:ident, $n32:ident, $($body:tt)*) => {
        network! {
            #[allow(dead_code)]
            pub struct $n64 {
                type Float = f64;
                input x[16];
                $($body)*
            }
        }
        network! {
            #[allow(dead_code)]
            pub struct $n32 {
                type Float = f32;
                input x[16];
                $($body)*
            }
        }
        sweep_impl!($n64, f64);
        sweep_impl!($n32, f32);
    };
}

/// A dense activation on the tensor tier: `y = dense(x, 16, act)`, `loss = sum(y)`.
macro_rules! dense_case {
    ($n64:ident, $n32:ident, $act:ident) => {
        wide_case!($n64, $n32, output y = dense(x, 16, $act); loss = sum(y););
    };
}

/// Every path of one network, through its inherent (generated) methods.
macro_rules! sweep_impl {
    ($name:ident, $f:ty) => {
        impl Sweep for $name {
            fn defaults() -> Vec<f64> {
                $name::new().params.iter().map(|&p| f64::from(p)).collect()
            }

            fn observe(params: &[f64], input: &[f64], target: &[f64]) -> Vec<Obs> {
                const P: usize = $name::NUM_PARAMS;
                const I: usize = $name::NUM_INPUTS;
                const T: usize = $name::NUM_TARGETS;
                const O: usize = $name::NUM_OUTPUTS;
                let cast = |v: &[f64]| v.iter().map(|&v| v as $f).collect::<Vec<$f>>();
                let params: [$f; P] = cast(params).try_into().unwrap();
                let x: [$f; I] = cast(input).try_into().unwrap();
                let t: [$f; T] = cast(target).try_into().unwrap();
                let lr = LR as $f;
                let net = $name::from_params(params);
                let mut obs = Vec::new();
                let mut push = |path: Path, q: Q, v: $f| obs.push((path, q, f64::from(v)));

                let y: [$f; O] = net.forward(&x);
                for (i, &v) in y.iter().enumerate() {
                    push(Path::Forward, Q::Output(i), v);
                }
                push(Path::Loss, Q::Loss, net.loss(&x, &t));
                let (loss, grad) = net.gradient(&x, &t);
                push(Path::Gradient, Q::Loss, loss);
                for (k, &g) in grad.iter().enumerate() {
                    push(Path::Gradient, Q::Grad(k), g);
                }
                let mut stepped = net.clone();
                push(Path::SgdStep, Q::Loss, stepped.sgd_step(&x, &t, lr));
                for (k, &p) in stepped.params.iter().enumerate() {
                    push(Path::SgdStep, Q::Param(k), p);
                }

                let xs = vec![x; BATCH];
                let ts = vec![t; BATCH];
                let mut sum = [0.0 as $f; P];
                push(
                    Path::Batch,
                    Q::Loss,
                    net.accumulate_gradient_batch(&xs, &ts, &mut sum),
                );
                for (k, &g) in sum.iter().enumerate() {
                    push(Path::Batch, Q::Grad(k), g);
                }
                let mut stepped = net.clone();
                push(
                    Path::SgdStepBatch,
                    Q::Loss,
                    stepped.sgd_step_batch(&xs, &ts, lr),
                );
                for (k, &p) in stepped.params.iter().enumerate() {
                    push(Path::SgdStepBatch, Q::Param(k), p);
                }
                obs
            }
        }
    };
}

// Scalar tier: the elementwise builtins (the output is the builtin, the loss the output).
scalar_case!(Exp64, Exp32, |u| output y = exp(u); loss = y;);
scalar_case!(Ln64, Ln32, |u| output y = ln(u); loss = y;);
scalar_case!(Log64, Log32, |u| output y = log(u); loss = y;);
scalar_case!(Sqrt64, Sqrt32, |u| output y = sqrt(u); loss = y;);
scalar_case!(Abs64, Abs32, |u| output y = abs(u); loss = y;);
scalar_case!(Sin64, Sin32, |u| output y = sin(u); loss = y;);
scalar_case!(Cos64, Cos32, |u| output y = cos(u); loss = y;);
scalar_case!(Tanh64, Tanh32, |u| output y = tanh(u); loss = y;);
scalar_case!(Sigmoid64, Sigmoid32, |u| output y = sigmoid(u); loss = y;);
scalar_case!(Relu64, Relu32, |u| output y = relu(u); loss = y;);
scalar_case!(LeakyRelu64, LeakyRelu32, |u| output y = leaky_relu(u, 0.01); loss = y;);
scalar_case!(Softplus64, Softplus32, |u| output y = softplus(u); loss = y;);
scalar_case!(Sq64, Sq32, |u| output y = sq(u); loss = y;);
scalar_case!(Identity64, Identity32, |u| output y = identity(u); loss = y;);
scalar_case!(Powi3_64, Powi3_32, |u| output y = powi(u, 3); loss = y;);
scalar_case!(PowiM2_64, PowiM2_32, |u| output y = powi(u, -2); loss = y;);
scalar_case!(PowConst64, PowConst32, |u| output y = pow(u, 2.5); loss = y;);
scalar_case!(PowBase64, PowBase32, |u| output y = pow(2.0, u); loss = y;);
scalar_case!(PowParam64, PowParam32, |u| param c = 2.5; output y = pow(u, c); loss = y;);
scalar_case!(Max64, Max32, |u| output y = max(u, 0.0); loss = y;);
scalar_case!(Min64, Min32, |u| output y = min(u, 0.0); loss = y;);
// The array builtins: sum, mean, dot, transpose (linear), softmax, log_softmax.
scalar_case!(Linear64, Linear32, |u|
    let v = [u, 2.0 * u];
    output y = sum(v) + mean(v) + dot(v, v) + sum(transpose([[u, 1.0]]));
    loss = y;
);
scalar_case!(Softmax64, Softmax32, |u| output y = softmax([u, 0.0, -u]); loss = y[0];);
scalar_case!(LogSoftmax64, LogSoftmax32, |u| output y = log_softmax([u, 0.0, -u]); loss = y[2];);
// The losses.
scalar_case!(Mse64, Mse32, |u| target t; output y = u; loss = mse(y, t););
scalar_case!(Bce64, Bce32, |u| target t; output y = u; loss = bce(y, t););
scalar_case!(BceSigmoid64, BceSigmoid32, |u| target t; output y = sigmoid(u); loss = bce(y, t););
scalar_case!(BceLogits64, BceLogits32, |u| target t; output y = u; loss = bce_logits(y, t););
scalar_case!(CrossEntropy64, CrossEntropy32, |u|
    target t[3]; output y = u; loss = cross_entropy([u, 0.0, -u], t););
scalar_case!(SparseCe64, SparseCe32, |u|
    target k; output y = u; loss = sparse_cross_entropy([u, 0.0, -u], k););

// Tensor tier: every builtin usable as a `dense` activation, then the losses.
dense_case!(DExp64, DExp32, exp);
dense_case!(DLn64, DLn32, ln);
dense_case!(DSqrt64, DSqrt32, sqrt);
dense_case!(DAbs64, DAbs32, abs);
dense_case!(DSin64, DSin32, sin);
dense_case!(DCos64, DCos32, cos);
dense_case!(DTanh64, DTanh32, tanh);
dense_case!(DSigmoid64, DSigmoid32, sigmoid);
dense_case!(DRelu64, DRelu32, relu);
dense_case!(DSoftplus64, DSoftplus32, softplus);
dense_case!(DSq64, DSq32, sq);
dense_case!(DIdentity64, DIdentity32, identity);
wide_case!(WMse64, WMse32, target t[16]; output y = dense(x, 16, identity); loss = mse(y, t););
wide_case!(WBce64, WBce32, target t[16]; output y = dense(x, 16, identity); loss = bce(y, t););
wide_case!(WBceSigmoid64, WBceSigmoid32,
    target t[16]; output y = dense(x, 16, sigmoid); loss = bce(y, t););
wide_case!(WBceLogits64, WBceLogits32,
    target t[16]; output y = dense(x, 16, identity); loss = bce_logits(y, t););
wide_case!(WCrossEntropy64, WCrossEntropy32,
    target t[16]; output y = dense(x, 16, identity); loss = cross_entropy(y, t););
wide_case!(WSparseCe64, WSparseCe32,
    target k; output y = dense(x, 16, identity); loss = sparse_cross_entropy(y, k););

// ---------------------------------------------------------------------------------------
// Paths, grid, references.

/// Samples per batch: f64 lanes 4 / f32 lanes 8 (scalar tier) and blocks of 32 / 64
/// (tensor tier): 67 is at least one full block plus a tail of 3 everywhere.
const BATCH: usize = 67;
/// The SGD learning rate (a power of two: `lr·g` is exact).
const LR: f64 = 0.25;
/// Units (and inputs) of the tensor-tier layer.
const UNITS: usize = 16;

/// Inputs (pre-activations) for f64: 0, tiny, ±1, where sigmoid/tanh saturate, ±700,
/// beyond `exp`'s overflow threshold (709.78), ±∞.
const GRID_F64: &[f64] = &[
    0.0,
    1e-300,
    -1e-300,
    1.0,
    -1.0,
    20.0,
    -20.0,
    700.0,
    -700.0,
    710.0,
    -710.0,
    f64::INFINITY,
    f64::NEG_INFINITY,
];

/// The same for f32: subnormal 1e-38, ±88 / ±89 around `exp`'s overflow threshold
/// (88.72), ±700 (overflows `exp` in f32).
const GRID_F32: &[f64] = &[
    0.0,
    1e-38,
    -1e-38,
    1.0,
    -1.0,
    20.0,
    -20.0,
    88.0,
    -88.0,
    89.0,
    -89.0,
    700.0,
    -700.0,
    f64::INFINITY,
    f64::NEG_INFINITY,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Path {
    Forward,
    Loss,
    Gradient,
    SgdStep,
    Batch,
    SgdStepBatch,
}

/// One observed quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Q {
    Output(usize),
    Loss,
    Grad(usize),
    /// A parameter after the SGD step.
    Param(usize),
}

type Obs = (Path, Q, f64);

/// `Sweep::observe`: params, input, target -> every path's quantities.
type Observe = fn(&[f64], &[f64], &[f64]) -> Vec<Obs>;

/// (case, float, target, input) of a failure or a documented value.
type Key = (String, &'static str, String, String);

trait Sweep {
    fn defaults() -> Vec<f64>;
    fn observe(params: &[f64], input: &[f64], target: &[f64]) -> Vec<Obs>;
}

/// A reference value and the size of the terms its formula cancels.
type V = (f64, f64);

fn v(value: f64) -> V {
    (value, 0.0)
}

/// The exact values of one sample: outputs, loss, and the loss's gradient w.r.t. every
/// parameter.
struct Want {
    outputs: Vec<V>,
    loss: V,
    grad: Vec<V>,
}

/// A scalar-tier case's reference in terms of `u`: outputs, loss, dL/du and the
/// gradient w.r.t. parameters after `a`, `b`.
struct UWant {
    outputs: Vec<V>,
    loss: V,
    du: V,
    extra: Vec<V>,
}

/// `output y = f(u); loss = y;`
fn unary(f: V, df: V) -> UWant {
    UWant {
        outputs: vec![f],
        loss: f,
        du: df,
        extra: vec![],
    }
}

/// A tensor-tier case's reference: the layer's outputs, the loss, dL/d(pre-activation)
/// per unit.
struct WWant {
    outputs: Vec<V>,
    loss: V,
    dpre: Vec<V>,
}

enum Kind {
    /// Input `[x]`, declared parameters.
    Scalar(fn(f64, &[f64]) -> UWant),
    /// Input ones, weights 0, biases `bias(x)`.
    Wide {
        bias: fn(f64) -> Vec<f64>,
        want: fn(&[f64], &[f64]) -> WWant,
    },
}

struct Case {
    name: &'static str,
    kind: Kind,
    /// Each target vector is swept with every grid point.
    targets: &'static [&'static [f64]],
    /// Extra grid points (both types).
    extra: &'static [f64],
    /// `Sweep::observe` of the f64 and the f32 network.
    observe: [Observe; 2],
    defaults: fn() -> Vec<f64>,
}

// --- Careful f64 references ---

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        x.exp() / (1.0 + x.exp())
    }
}

/// σ'(x) = e/(1+e)² with e = exp(-|x|): 0 (not NaN) at ±∞.
fn dsigmoid(x: f64) -> f64 {
    let e = (-x.abs()).exp();
    e / ((1.0 + e) * (1.0 + e))
}

fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// tanh'(x) = 4e/(1+e)² with e = exp(-2|x|).
fn dtanh(x: f64) -> f64 {
    let e = (-2.0 * x.abs()).exp();
    4.0 * e / ((1.0 + e) * (1.0 + e))
}

/// ln Σ exp(z_j) with the max shift (NaN when the max is infinite: ∞ - ∞).
fn lse(z: &[f64]) -> f64 {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + z.iter().map(|&x| (x - m).exp()).sum::<f64>().ln()
}

fn softmax(z: &[f64]) -> Vec<f64> {
    let l = lse(z);
    z.iter().map(|&x| (x - l).exp()).collect()
}

/// `t·ln p` with the convention 0·ln 0 = 0 (a target of 0 ignores the prediction).
fn xlny(t: f64, p: f64) -> f64 {
    if t == 0.0 {
        0.0
    } else {
        t * p.ln()
    }
}

/// `-(t ln p + (1-t) ln(1-p))` with 0·ln 0 = 0; undefined (NaN) unless `p` is a
/// probability.
fn bce(p: f64, t: f64) -> f64 {
    if (0.0..=1.0).contains(&p) {
        -(xlny(t, p) + xlny(1.0 - t, 1.0 - p))
    } else {
        f64::NAN
    }
}

/// d bce / dp = -(t/p - (1-t)/(1-p)), a zero weight's term dropped.
fn dbce(p: f64, t: f64) -> f64 {
    let term = |t: f64, p: f64| if t == 0.0 { 0.0 } else { t / p };
    if (0.0..=1.0).contains(&p) {
        -(term(t, p) - term(1.0 - t, 1.0 - p))
    } else {
        f64::NAN
    }
}

/// Cross-entropy of logits `z` against `t`: `lse(z)·Σt - Σ t_j z_j` and its gradient
/// `softmax(z)·Σt - t`.
fn cross_entropy(z: &[f64], t: &[f64]) -> (V, Vec<V>) {
    let st: f64 = t.iter().sum();
    let dot: f64 = z.iter().zip(t).map(|(z, t)| z * t).sum();
    let scale =
        z.iter().map(|z| z.abs()).fold(0.0, f64::max) * t.iter().map(|t| t.abs()).sum::<f64>();
    let loss = (lse(z) * st - dot, scale + 1.0);
    let p = softmax(z);
    let grad = p.iter().zip(t).map(|(p, t)| (p * st - t, 1.0)).collect();
    (loss, grad)
}

fn scalar_cases() -> Vec<Case> {
    macro_rules! case {
        ($name:expr, $n64:ident, $n32:ident, $targets:expr, $extra:expr, $want:expr) => {
            Case {
                name: $name,
                kind: Kind::Scalar($want),
                targets: $targets,
                extra: $extra,
                observe: [$n64::observe, $n32::observe],
                defaults: $n64::defaults,
            }
        };
        ($name:expr, $n64:ident, $n32:ident, $want:expr) => {
            case!($name, $n64, $n32, &[&[]], &[], $want)
        };
    }
    vec![
        case!("exp", Exp64, Exp32, |u, _| unary(v(u.exp()), v(u.exp()))),
        case!("ln", Ln64, Ln32, |u, _| unary(v(u.ln()), v(1.0 / u))),
        case!("log", Log64, Log32, |u, _| unary(v(u.ln()), v(1.0 / u))),
        case!("sqrt", Sqrt64, Sqrt32, |u, _| unary(
            v(u.sqrt()),
            v(0.5 / u.sqrt())
        )),
        case!("abs", Abs64, Abs32, |u, _| {
            let d = if u > 0.0 {
                1.0
            } else if u < 0.0 {
                -1.0
            } else {
                0.0
            };
            unary(v(u.abs()), v(d))
        }),
        case!("sin", Sin64, Sin32, |u, _| unary(
            v(u.sin()),
            (u.cos(), 1e-7)
        )),
        case!("cos", Cos64, Cos32, |u, _| unary(
            (u.cos(), 1e-7),
            v(-u.sin())
        )),
        case!("tanh", Tanh64, Tanh32, |u, _| unary(
            v(u.tanh()),
            (dtanh(u), 1.0)
        )),
        case!("sigmoid", Sigmoid64, Sigmoid32, |u, _| {
            unary(v(sigmoid(u)), (dsigmoid(u), 1.0))
        }),
        case!("relu", Relu64, Relu32, |u, _| {
            unary(v(u.max(0.0)), v(if u > 0.0 { 1.0 } else { 0.0 }))
        }),
        case!("leaky_relu", LeakyRelu64, LeakyRelu32, |u, _| {
            let (f, d) = if u > 0.0 { (u, 1.0) } else { (0.01 * u, 0.01) };
            unary(v(f), v(d))
        }),
        case!("softplus", Softplus64, Softplus32, |u, _| unary(
            v(softplus(u)),
            v(sigmoid(u))
        )),
        case!("sq", Sq64, Sq32, |u, _| unary(v(u * u), v(2.0 * u))),
        case!("identity", Identity64, Identity32, |u, _| unary(
            v(u),
            v(1.0)
        )),
        case!("powi(u, 3)", Powi3_64, Powi3_32, |u, _| {
            unary(v(u.powi(3)), v(3.0 * u * u))
        }),
        case!("powi(u, -2)", PowiM2_64, PowiM2_32, |u, _| {
            unary(v(u.powi(-2)), v(-2.0 * u.powi(-3)))
        }),
        case!("pow(u, 2.5)", PowConst64, PowConst32, |u, _| {
            unary(v(u.powf(2.5)), v(2.5 * u.powf(1.5)))
        }),
        case!("pow(2, u)", PowBase64, PowBase32, |u, _| {
            let p = 2f64.powf(u);
            unary(v(p), v(p * std::f64::consts::LN_2))
        }),
        case!("pow(u, c) c=2.5", PowParam64, PowParam32, |u, _| {
            let p = u.powf(2.5);
            // d/dc u^c = u^c ln u, which is 0 at u = 0 (0^c = 0 for all c > 0).
            let dc = if u == 0.0 { 0.0 } else { p * u.ln() };
            UWant {
                outputs: vec![v(p)],
                loss: v(p),
                du: v(2.5 * u.powf(1.5)),
                extra: vec![v(dc)],
            }
        }),
        case!("max(u, 0)", Max64, Max32, |u, _| {
            unary(v(u.max(0.0)), v(if u >= 0.0 { 1.0 } else { 0.0 }))
        }),
        case!("min(u, 0)", Min64, Min32, |u, _| {
            unary(v(u.min(0.0)), v(if u <= 0.0 { 1.0 } else { 0.0 }))
        }),
        case!("sum mean dot transpose", Linear64, Linear32, |u, _| {
            // 3u + 1.5u + 5u² + (u + 1)
            let f = 5.5 * u + 5.0 * u * u + 1.0;
            unary((f, 5.5 * u.abs() + 1.0), (5.5 + 10.0 * u, 10.0 * u.abs()))
        }),
        case!("softmax", Softmax64, Softmax32, |u, _| {
            let p = softmax(&[u, 0.0, -u]);
            UWant {
                outputs: p.iter().map(|&p| v(p)).collect(),
                loss: v(p[0]),
                du: (p[0] * (p[1] + 2.0 * p[2]), 1.0),
                extra: vec![],
            }
        }),
        case!("log_softmax", LogSoftmax64, LogSoftmax32, |u, _| {
            let z = [u, 0.0, -u];
            let l = lse(&z);
            let p = softmax(&z);
            let s = u.abs() + 1.0;
            UWant {
                outputs: z.iter().map(|&z| (z - l, s)).collect(),
                loss: (-u - l, s),
                du: (-1.0 - (p[0] - p[2]), 1.0),
                extra: vec![],
            }
        }),
        case!("mse", Mse64, Mse32, &[&[0.5], &[-3.0]], &[], |u, t| {
            let d = u - t[0];
            UWant {
                outputs: vec![v(u)],
                loss: v(d * d),
                du: v(2.0 * d),
                extra: vec![],
            }
        }),
        case!(
            "bce",
            Bce64,
            Bce32,
            &[&[0.0], &[1.0], &[0.25]],
            &[0.5, 0.999],
            |p, t| {
                let t = t[0];
                let loss = bce(p, t);
                UWant {
                    outputs: vec![v(p)],
                    loss: (loss, 1.0),
                    du: (dbce(p, t), 1.0),
                    extra: vec![],
                }
            }
        ),
        case!(
            "bce(sigmoid)",
            BceSigmoid64,
            BceSigmoid32,
            &[&[0.0], &[1.0], &[0.25]],
            &[],
            |u, t| {
                let t = t[0];
                UWant {
                    outputs: vec![v(sigmoid(u))],
                    loss: (softplus(u) - t * u, u.abs() + 1.0),
                    du: (sigmoid(u) - t, 1.0),
                    extra: vec![],
                }
            }
        ),
        case!(
            "bce_logits",
            BceLogits64,
            BceLogits32,
            &[&[0.0], &[1.0], &[0.25]],
            &[],
            |u, t| {
                let t = t[0];
                UWant {
                    outputs: vec![v(u)],
                    loss: (softplus(u) - t * u, u.abs() + 1.0),
                    du: (sigmoid(u) - t, 1.0),
                    extra: vec![],
                }
            }
        ),
        case!(
            "cross_entropy",
            CrossEntropy64,
            CrossEntropy32,
            &[&[0.0, 0.0, 1.0], &[1.0, 0.0, 0.0], &[0.25, 0.5, 0.25]],
            &[],
            |u, t| {
                let (loss, g) = cross_entropy(&[u, 0.0, -u], t);
                UWant {
                    outputs: vec![v(u)],
                    loss,
                    du: (g[0].0 - g[2].0, 1.0),
                    extra: vec![],
                }
            }
        ),
        case!(
            "sparse_cross_entropy",
            SparseCe64,
            SparseCe32,
            &[&[0.0], &[2.0]],
            &[],
            |u, k| {
                let mut t = [0.0; 3];
                t[k[0] as usize] = 1.0;
                let (loss, g) = cross_entropy(&[u, 0.0, -u], &t);
                UWant {
                    outputs: vec![v(u)],
                    loss,
                    du: (g[0].0 - g[2].0, 1.0),
                    extra: vec![],
                }
            }
        ),
    ]
}

/// `dense(x, 16, act)`, `loss = sum(y)`, every bias `x`: outputs `f(x)`, loss `16 f(x)`,
/// dL/dpre `f'(x)` per unit.
fn dense_want(f: V, df: V) -> WWant {
    WWant {
        outputs: vec![f; UNITS],
        loss: (UNITS as f64 * f.0, UNITS as f64 * f.1),
        dpre: vec![df; UNITS],
    }
}

fn same_bias(x: f64) -> Vec<f64> {
    vec![x; UNITS]
}

/// `[x, -x, 0, ..., 0]`: logits for the softmax losses.
fn spread_bias(x: f64) -> Vec<f64> {
    let mut b = vec![0.0; UNITS];
    b[0] = x;
    b[1] = -x;
    b
}

fn wide_cases() -> Vec<Case> {
    macro_rules! case {
        ($name:expr, $n64:ident, $n32:ident, $bias:expr, $targets:expr, $extra:expr, $want:expr) => {
            Case {
                name: $name,
                kind: Kind::Wide {
                    bias: $bias,
                    want: $want,
                },
                targets: $targets,
                extra: $extra,
                observe: [$n64::observe, $n32::observe],
                defaults: $n64::defaults,
            }
        };
        ($name:expr, $n64:ident, $n32:ident, $f:expr) => {
            case!($name, $n64, $n32, same_bias, &[&[]], &[], |b, _| {
                let (f, df): (V, V) = $f(b[0]);
                dense_want(f, df)
            })
        };
    }
    const ONES: &[f64] = &[1.0; UNITS];
    const ZEROS: &[f64] = &[0.0; UNITS];
    const QUARTERS: &[f64] = &[0.25; UNITS];
    const ONEHOT0: &[f64] = &[
        1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    ];
    const ONEHOT1: &[f64] = &[
        0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    ];
    vec![
        case!("dense exp", DExp64, DExp32, |u: f64| (
            v(u.exp()),
            v(u.exp())
        )),
        case!("dense ln", DLn64, DLn32, |u: f64| (v(u.ln()), v(1.0 / u))),
        case!("dense sqrt", DSqrt64, DSqrt32, |u: f64| (
            v(u.sqrt()),
            v(0.5 / u.sqrt())
        )),
        case!("dense abs", DAbs64, DAbs32, |u: f64| {
            let d = if u > 0.0 {
                1.0
            } else if u < 0.0 {
                -1.0
            } else {
                0.0
            };
            (v(u.abs()), v(d))
        }),
        case!("dense sin", DSin64, DSin32, |u: f64| (
            v(u.sin()),
            (u.cos(), 1e-7)
        )),
        case!("dense cos", DCos64, DCos32, |u: f64| (
            (u.cos(), 1e-7),
            v(-u.sin())
        )),
        case!("dense tanh", DTanh64, DTanh32, |u: f64| (
            v(u.tanh()),
            (dtanh(u), 1.0)
        )),
        case!("dense sigmoid", DSigmoid64, DSigmoid32, |u: f64| {
            (v(sigmoid(u)), (dsigmoid(u), 1.0))
        }),
        case!("dense relu", DRelu64, DRelu32, |u: f64| {
            (v(u.max(0.0)), v(if u > 0.0 { 1.0 } else { 0.0 }))
        }),
        case!("dense softplus", DSoftplus64, DSoftplus32, |u: f64| {
            (v(softplus(u)), v(sigmoid(u)))
        }),
        case!("dense sq", DSq64, DSq32, |u: f64| (v(u * u), v(2.0 * u))),
        case!("dense identity", DIdentity64, DIdentity32, |u: f64| (
            v(u),
            v(1.0)
        )),
        case!(
            "wide mse",
            WMse64,
            WMse32,
            same_bias,
            &[&[0.5; UNITS]],
            &[],
            |b, t| {
                let d = b[0] - t[0];
                WWant {
                    outputs: vec![v(b[0]); UNITS],
                    loss: v(d * d),
                    dpre: vec![v(2.0 * d / UNITS as f64); UNITS],
                }
            }
        ),
        case!(
            "wide bce",
            WBce64,
            WBce32,
            same_bias,
            &[ZEROS, ONES, QUARTERS],
            &[0.5, 0.999],
            |b, t| {
                let (p, t) = (b[0], t[0]);
                WWant {
                    outputs: vec![v(p); UNITS],
                    loss: (bce(p, t), 1.0),
                    dpre: vec![(dbce(p, t) / UNITS as f64, 1.0); UNITS],
                }
            }
        ),
        case!(
            "wide bce(sigmoid)",
            WBceSigmoid64,
            WBceSigmoid32,
            same_bias,
            &[ZEROS, ONES, QUARTERS],
            &[],
            |b, t| {
                let (u, t) = (b[0], t[0]);
                WWant {
                    outputs: vec![v(sigmoid(u)); UNITS],
                    loss: (softplus(u) - t * u, u.abs() + 1.0),
                    dpre: vec![((sigmoid(u) - t) / UNITS as f64, 1.0); UNITS],
                }
            }
        ),
        case!(
            "wide bce_logits",
            WBceLogits64,
            WBceLogits32,
            same_bias,
            &[ZEROS, ONES, QUARTERS],
            &[],
            |b, t| {
                let (u, t) = (b[0], t[0]);
                WWant {
                    outputs: vec![v(u); UNITS],
                    loss: (softplus(u) - t * u, u.abs() + 1.0),
                    dpre: vec![((sigmoid(u) - t) / UNITS as f64, 1.0); UNITS],
                }
            }
        ),
        case!(
            "wide cross_entropy",
            WCrossEntropy64,
            WCrossEntropy32,
            spread_bias,
            &[ONEHOT0, ONEHOT1, QUARTERS],
            &[],
            |b, t| {
                let (loss, dpre) = cross_entropy(b, t);
                WWant {
                    outputs: b.iter().map(|&b| v(b)).collect(),
                    loss,
                    dpre,
                }
            }
        ),
        case!(
            "wide sparse_cross_entropy",
            WSparseCe64,
            WSparseCe32,
            spread_bias,
            &[&[0.0], &[1.0]],
            &[],
            |b, k| {
                let mut t = vec![0.0; UNITS];
                t[k[0] as usize] = 1.0;
                let (loss, dpre) = cross_entropy(b, &t);
                WWant {
                    outputs: b.iter().map(|&b| v(b)).collect(),
                    loss,
                    dpre,
                }
            }
        ),
    ]
}

// ---------------------------------------------------------------------------------------
// The checker.

/// One float type's settings.
struct FloatType {
    name: &'static str,
    index: usize,
    grid: &'static [f64],
    rtol: f64,
    /// Absolute slack for results in the subnormal range.
    atol: f64,
    round: fn(f64) -> f64,
}

const F64: FloatType = FloatType {
    name: "f64",
    index: 0,
    grid: GRID_F64,
    rtol: 1e-10,
    atol: 4.0 * f64::MIN_POSITIVE,
    round: |x| x,
};

const F32: FloatType = FloatType {
    name: "f32",
    index: 1,
    grid: GRID_F32,
    rtol: 1e-4,
    atol: 4.0 * f32::MIN_POSITIVE as f64,
    round: |x| f64::from(x as f32),
};

/// What one sample must give: the wanted value of each quantity of each path.
fn expectations(case: &Case, params: &[f64], x: f64, t: &[f64]) -> (Vec<f64>, Want) {
    match &case.kind {
        Kind::Scalar(f) => {
            let w = f(x, t);
            // u = a·x + b: dL/da = x·dL/du, dL/db = dL/du.
            let mut grad = vec![(x * w.du.0, x.abs() * w.du.1), w.du];
            grad.extend(w.extra);
            (
                vec![x],
                Want {
                    outputs: w.outputs,
                    loss: w.loss,
                    grad,
                },
            )
        }
        Kind::Wide { want, .. } => {
            let bias = &params[params.len() - UNITS..];
            let w = want(bias, t);
            // pre = W·1 + bias: dL/dW[i][j] = dL/dpre[i] (inputs are 1), dL/dbias = dL/dpre.
            let mut grad: Vec<V> = w
                .dpre
                .iter()
                .flat_map(|&d| std::iter::repeat_n(d, UNITS))
                .collect();
            grad.extend(&w.dpre);
            (
                vec![1.0; UNITS],
                Want {
                    outputs: w.outputs,
                    loss: w.loss,
                    grad,
                },
            )
        }
    }
}

/// The wanted value of a quantity on a path, as the float type computes it from exact
/// per-sample values: a gradient is rounded to the type before the step uses it, and
/// `sgd_step_batch` scales the *summed* gradient and loss (`BATCH` times the sample's),
/// which overflow where `BATCH·g` does (documented in docs/NUMERICS.md).
fn wanted(want: &Want, params: &[f64], path: Path, q: Q, round: fn(f64) -> f64) -> V {
    let b = BATCH as f64;
    match (path, q) {
        (_, Q::Output(i)) => want.outputs[i],
        (Path::Batch, Q::Loss) => (b * want.loss.0, b * want.loss.1),
        (Path::SgdStepBatch, Q::Loss) => (round(b * want.loss.0) / b, want.loss.1),
        (_, Q::Loss) => want.loss,
        (Path::Batch, Q::Grad(k)) => (b * want.grad[k].0, b * want.grad[k].1),
        (_, Q::Grad(k)) => want.grad[k],
        (_, Q::Param(k)) => {
            let (g, s) = want.grad[k];
            let g = match path {
                Path::SgdStepBatch => round(b * g) / b,
                _ => round(g),
            };
            (params[k] - LR * g, LR * s + params[k].abs() * 1e-16)
        }
    }
}

#[derive(Default)]
struct Report {
    checked: usize,
    /// The failing checks of each (case, float, target, input).
    failures: BTreeMap<Key, Vec<String>>,
    /// Non-finite by nature: (case, float, target, input) and quantity -> the reference
    /// and what the paths gave.
    documented: BTreeMap<(Key, String), (f64, Vec<f64>)>,
}

fn fmt_q(q: Q) -> String {
    match q {
        Q::Output(i) => format!("output[{i}]"),
        Q::Loss => "loss".into(),
        Q::Grad(k) => format!("grad[{k}]"),
        Q::Param(k) => format!("param[{k}] after step"),
    }
}

fn sweep(cases: &[Case], float: &FloatType, report: &mut Report) {
    for case in cases {
        let mut grid: Vec<f64> = float.grid.to_vec();
        grid.extend(case.extra.iter().map(|&x| (float.round)(x)));
        for &t in case.targets {
            for &x in &grid {
                let mut params = (case.defaults)();
                if let Kind::Wide { bias, .. } = &case.kind {
                    let p = params.len();
                    params[..p - UNITS].fill(0.0);
                    params[p - UNITS..].copy_from_slice(&bias(x));
                }
                let (input, want) = expectations(case, &params, x, t);
                let observed = (case.observe[float.index])(&params, &input, t);
                for (path, q, got) in observed {
                    // Only the layer's first row of weights and its biases of a wide case
                    // (the other rows are the same computation).
                    if let (Kind::Wide { .. }, Q::Grad(k) | Q::Param(k)) = (&case.kind, q) {
                        let p = params.len();
                        if k >= UNITS * 2 && k < p - UNITS {
                            continue;
                        }
                    }
                    let (w, scale) = wanted(&want, &params, path, q, float.round);
                    let w = (float.round)(w);
                    // The subnormal slack, times the chain rule's factor x (dL/da = x·dL/du)
                    // and the batch's sample count.
                    let atol = float.atol
                        * x.abs().max(1.0)
                        * if path == Path::Batch {
                            BATCH as f64
                        } else {
                            1.0
                        };
                    let fail = |report: &mut Report, what: String| {
                        let key = (
                            case.name.to_string(),
                            float.name,
                            format!("{t:?}"),
                            format!("{x:e}"),
                        );
                        report.failures.entry(key).or_default().push(what);
                    };
                    report.checked += 1;
                    if w.is_finite() {
                        let tol = float.rtol * (w.abs() + scale) + atol;
                        if !got.is_finite() || (got - w).abs() > tol {
                            fail(
                                report,
                                format!(
                                    "{path:?} {}: got {got:e}, want {w:e} (tol {tol:e})",
                                    fmt_q(q)
                                ),
                            );
                        }
                        continue;
                    }
                    if w.is_infinite() && got != w {
                        fail(
                            report,
                            format!("{path:?} {}: got {got:e}, want {w:e}", fmt_q(q)),
                        );
                        continue;
                    }
                    let key = (
                        (
                            case.name.to_string(),
                            float.name,
                            format!("{t:?}"),
                            format!("{x:e}"),
                        ),
                        fmt_q(q),
                    );
                    report
                        .documented
                        .entry(key)
                        .or_insert((w, Vec::new()))
                        .1
                        .push(got);
                }
            }
        }
    }
}

fn run(cases: &[Case], title: &str) {
    let mut report = Report::default();
    sweep(cases, &F64, &mut report);
    sweep(cases, &F32, &mut report);
    let mut out = String::new();
    writeln!(
        out,
        "{title}: {} cases, {} checks, {} failing inputs, {} documented non-finite (case, float, target, input, quantity)",
        cases.len(),
        report.checked,
        report.failures.len(),
        report.documented.len()
    )
    .unwrap();
    for (((case, float, t, x), q), (want, gots)) in &report.documented {
        let mut values: Vec<String> = Vec::new();
        for got in gots {
            let s = format!("{got:e}");
            if !values.contains(&s) {
                values.push(s);
            }
        }
        writeln!(
            out,
            "  documented: {case} {float} t={t} x={x} {q}: reference {want:e}, got {}",
            values.join(" / ")
        )
        .unwrap();
    }
    println!("{out}");
    let mut failures = String::new();
    for ((case, float, t, x), what) in &report.failures {
        writeln!(
            failures,
            "{case} {float} t={t} x={x}: {} failing checks, e.g.",
            what.len()
        )
        .unwrap();
        for w in what.iter().take(6) {
            writeln!(failures, "    {w}").unwrap();
        }
    }
    assert!(
        report.failures.is_empty(),
        "{} (case, float, target, input) with failures:\n{failures}",
        report.failures.len(),
    );
}

#[test]
fn scalar_tier_sweep() {
    run(&scalar_cases(), "scalar tier");
}

#[test]
fn tensor_tier_sweep() {
    run(&wide_cases(), "tensor tier");
}
