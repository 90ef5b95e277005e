//! Support for the differential test (`tests/differential.rs`): `build.rs` generates
//! random networks from a fixed seed plus a few hand-written ones; this crate compiles
//! each with `symnn::network!` and puts it behind one object-safe trait, [`Erased`],
//! which calls every generated method in `f64` terms.

use std::marker::PhantomData;

/// Everything one call of each generated method returned, widened to `f64`.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// `forward(input)`
    pub forward: Vec<f64>,
    /// `Model::forward_slice(input)`
    pub forward_slice: Vec<f64>,
    /// `loss(input, target)`
    pub loss: f64,
    /// `Model::loss_slice(input, target)`
    pub loss_slice: f64,
    /// `loss_and_output(input, target)`
    pub loss_and_output: (f64, Vec<f64>),
    /// `gradient(input, target)`
    pub gradient: (f64, Vec<f64>),
    /// `accumulate_gradient` into zeros
    pub accumulate: (f64, Vec<f64>),
    /// `Model::accumulate_gradient_slice` into zeros
    pub accumulate_slice: (f64, Vec<f64>),
    /// `sgd_step(input, target, lr)`: the loss it returned and the parameters after it
    pub sgd_step: (f64, Vec<f64>),
    /// `Model::sgd_step_slice`: the same
    pub sgd_step_slice: (f64, Vec<f64>),
}

/// The batch methods against the one-sample ones on the same samples.
#[derive(Clone, Debug, Default)]
pub struct BatchOutcome {
    /// `accumulate_gradient_batch` into zeros: summed loss and gradient.
    pub batch: (f64, Vec<f64>),
    /// `Model::accumulate_gradient_batch_slice` into zeros.
    pub batch_slice: (f64, Vec<f64>),
    /// `accumulate_gradient` sample by sample into zeros.
    pub one_by_one: (f64, Vec<f64>),
    /// `Σ_s |loss_s|` and `Σ_s |g_s[k]|`: what a difference in summation order is
    /// relative to.
    pub abs_sums: (f64, Vec<f64>),
    /// `sgd_step_batch`: the mean loss it returned and the parameters after it.
    pub sgd_step_batch: (f64, Vec<f64>),
    /// `forward_batch`'s rows, and `forward` sample by sample (row-major, `O` each).
    pub forward_batch: (Vec<f64>, Vec<f64>),
    /// `loss_batch`: the summed loss (to compare with `one_by_one`'s).
    pub loss_batch: f64,
}

/// The derivative methods of SPEC §5.3 at one point (slice forms, row-major).
#[derive(Clone, Debug)]
pub struct Derivatives {
    /// `input_jacobian`: `O × I`.
    pub input_jacobian: Vec<f64>,
    /// `input_gradient`: the loss and `∂L/∂input`.
    pub input_gradient: (f64, Vec<f64>),
    /// `hvp` along the given `v`: the loss and `H·v`.
    pub hvp: (f64, Vec<f64>),
    /// `param_jacobian`: `O × P`, and the output.
    pub param_jacobian: (Vec<f64>, Vec<f64>),
}

/// A generated network, type-erased.
pub trait Erased: Sync {
    /// Whether the network computes in `f32`.
    fn is_f32(&self) -> bool;
    /// `[NUM_PARAMS, NUM_INPUTS, NUM_TARGETS, NUM_OUTPUTS]`
    fn sizes(&self) -> [usize; 4];
    /// Operations and calls in the generated gradient code (`COST`).
    fn gradient_instructions(&self) -> usize;
    /// `loss(input, target)` with these parameters (rounded to the float type).
    fn loss(&self, params: &[f64], input: &[f64], target: &[f64]) -> f64;
    /// `gradient(input, target)` with these parameters: the loss and the gradient.
    fn gradient(&self, params: &[f64], input: &[f64], target: &[f64]) -> (f64, Vec<f64>);
    /// Calls every method once at this point (values are rounded to the float type).
    fn run(&self, params: &[f64], input: &[f64], target: &[f64], lr: f64) -> Outcome;
    /// Calls the batch methods and the one-sample loop on `inputs.len() / NUM_INPUTS`
    /// samples (flat, row-major).
    fn run_batch(&self, params: &[f64], inputs: &[f64], targets: &[f64], lr: f64) -> BatchOutcome;
    /// `forward(input)` with these parameters.
    fn forward(&self, params: &[f64], input: &[f64]) -> Vec<f64>;
    /// `to_onnx()` with these parameters.
    fn to_onnx(&self, params: &[f64]) -> Vec<u8>;
    /// The derivative methods (`None` for a network with `diff`, which has none).
    fn derivatives(
        &self,
        params: &[f64],
        input: &[f64],
        target: &[f64],
        v: &[f64],
    ) -> Option<Derivatives>;
}

/// One generated network: its struct name, its DSL source and the compiled code.
pub struct Case {
    /// The struct's name.
    pub name: &'static str,
    /// The DSL text given to `network!` (and to `symnn_codegen::derive` by the test).
    pub source: &'static str,
    /// The code `network!` generated from it.
    pub net: &'static dyn Erased,
    /// The targets that are class indices (`sparse_cross_entropy`'s `k`), as
    /// `(index into the target array, number of classes)`.
    pub class_targets: &'static [(usize, usize)],
    /// Whether `build.rs` generated it with the general generator (else it is one of
    /// the hand-written networks, or a long-loop network).
    pub random: bool,
    /// Whether it is a long-loop network (`netgen::loop_network`), compiled here
    /// unrolled; its rolled form is in [`ROLLED`].
    pub long_loop: bool,
}

/// A long-loop network compiled with `loop_threshold = 0`: its loops are Rust loops.
/// The same program unrolled is the [`Case`] named `unrolled` (if compiled: loops
/// below 100 iterations, or all with `SYMNN_DIFFTEST_LOOP_TWINS=all`).
pub struct RolledCase {
    /// The struct's name (the unrolled twin's with an `R`).
    pub name: &'static str,
    /// The DSL text given to `network!`.
    pub source: &'static str,
    /// The code `network!` generated from it.
    pub net: &'static dyn Erased,
    /// The name of the unrolled twin in [`CASES`], if it was compiled.
    pub unrolled: Option<&'static str>,
    /// The program unrolled (`loop_threshold = 18446744073709551615`): the
    /// interpreter's reference.
    pub unrolled_source: &'static str,
    /// The targets that are class indices, as in [`Case`].
    pub class_targets: &'static [(usize, usize)],
    /// How many top-level loops the generator meant to be Rust loops.
    pub expected_loops: usize,
    /// How many the engine made Rust loops (`derive`'s `program.rolled`, at build time).
    pub rolled_loops: usize,
    /// Iterations of the long loop.
    pub iterations: usize,
}

/// The [`Erased`] implementation of network `M`.
pub struct Wrap<M>(PhantomData<fn() -> M>);

impl<M> Wrap<M> {
    /// The (zero-sized) wrapper.
    pub const NEW: Wrap<M> = Wrap(PhantomData);
}

macro_rules! erase {
    ($net:ident, $f:ident) => {
        impl $crate::Erased for $crate::Wrap<$net> {
            fn is_f32(&self) -> bool {
                stringify!($f) == "f32"
            }

            fn sizes(&self) -> [usize; 4] {
                [
                    $net::NUM_PARAMS,
                    $net::NUM_INPUTS,
                    $net::NUM_TARGETS,
                    $net::NUM_OUTPUTS,
                ]
            }

            fn gradient_instructions(&self) -> usize {
                $net::COST.gradient_ops + $net::COST.gradient_calls
            }

            fn loss(&self, params: &[f64], input: &[f64], target: &[f64]) -> f64 {
                use ::symnn::Float;
                let narrow = |x: f64| <$f as Float>::from_f64(x);
                let net = $net::from_params(::core::array::from_fn(|k| narrow(params[k])));
                let input: [$f; $net::NUM_INPUTS] = ::core::array::from_fn(|k| narrow(input[k]));
                let target: [$f; $net::NUM_TARGETS] = ::core::array::from_fn(|k| narrow(target[k]));
                net.loss(&input, &target).to_f64()
            }

            fn gradient(&self, params: &[f64], input: &[f64], target: &[f64]) -> (f64, Vec<f64>) {
                use ::symnn::Float;
                let narrow = |x: f64| <$f as Float>::from_f64(x);
                let net = $net::from_params(::core::array::from_fn(|k| narrow(params[k])));
                let input: [$f; $net::NUM_INPUTS] = ::core::array::from_fn(|k| narrow(input[k]));
                let target: [$f; $net::NUM_TARGETS] = ::core::array::from_fn(|k| narrow(target[k]));
                let (loss, grad) = net.gradient(&input, &target);
                (loss.to_f64(), grad.iter().map(|g| g.to_f64()).collect())
            }

            fn forward(&self, params: &[f64], input: &[f64]) -> Vec<f64> {
                use ::symnn::Float;
                let narrow = |x: f64| <$f as Float>::from_f64(x);
                let net = $net::from_params(::core::array::from_fn(|k| narrow(params[k])));
                let input: [$f; $net::NUM_INPUTS] = ::core::array::from_fn(|k| narrow(input[k]));
                net.forward(&input).iter().map(|y| y.to_f64()).collect()
            }

            fn to_onnx(&self, params: &[f64]) -> Vec<u8> {
                use ::symnn::Float;
                let narrow = |x: f64| <$f as Float>::from_f64(x);
                $net::from_params(::core::array::from_fn(|k| narrow(params[k]))).to_onnx()
            }

            fn derivatives(
                &self,
                params: &[f64],
                input: &[f64],
                target: &[f64],
                v: &[f64],
            ) -> Option<$crate::Derivatives> {
                use ::symnn::{Float, Model};
                if !$net::HAS_DERIVATIVE_METHODS {
                    return None;
                }
                let narrow = |x: f64| <$f as Float>::from_f64(x);
                let wide = |xs: &[$f]| xs.iter().map(|&x| x.to_f64()).collect::<Vec<f64>>();
                let net = $net::from_params(::core::array::from_fn(|k| narrow(params[k])));
                let input: Vec<$f> = input.iter().map(|&x| narrow(x)).collect();
                let target: Vec<$f> = target.iter().map(|&x| narrow(x)).collect();
                let v: Vec<$f> = v.iter().map(|&x| narrow(x)).collect();
                let (p, i, o) = ($net::NUM_PARAMS, $net::NUM_INPUTS, $net::NUM_OUTPUTS);
                let mut jac = vec![narrow(f64::NAN); o * i];
                net.input_jacobian_slice(&input, &mut jac);
                let mut gx = vec![narrow(f64::NAN); i];
                let gx_loss = net.input_gradient_slice(&input, &target, &mut gx);
                let mut hv = vec![narrow(f64::NAN); p];
                let hv_loss = net.hvp_slice(&input, &target, &v, &mut hv);
                let mut pj = vec![narrow(f64::NAN); o * p];
                let mut out = vec![narrow(f64::NAN); o];
                net.param_jacobian_slice(&input, &mut pj, &mut out);
                Some($crate::Derivatives {
                    input_jacobian: wide(&jac),
                    input_gradient: (gx_loss.to_f64(), wide(&gx)),
                    hvp: (hv_loss.to_f64(), wide(&hv)),
                    param_jacobian: (wide(&pj), wide(&out)),
                })
            }

            fn run(
                &self,
                params: &[f64],
                input: &[f64],
                target: &[f64],
                lr: f64,
            ) -> $crate::Outcome {
                use ::symnn::{Float, Model};
                let narrow = |x: f64| <$f as Float>::from_f64(x);
                let wide = |xs: &[$f]| xs.iter().map(|&x| x.to_f64()).collect::<Vec<f64>>();
                let net = $net::from_params(::core::array::from_fn(|k| narrow(params[k])));
                let input: [$f; $net::NUM_INPUTS] = ::core::array::from_fn(|k| narrow(input[k]));
                let target: [$f; $net::NUM_TARGETS] = ::core::array::from_fn(|k| narrow(target[k]));
                let lr = narrow(lr);

                let mut forward_slice = [narrow(f64::NAN); $net::NUM_OUTPUTS];
                net.forward_slice(&input, &mut forward_slice);
                let (lo_loss, lo_out) = net.loss_and_output(&input, &target);
                let (g_loss, g) = net.gradient(&input, &target);
                let mut acc = [narrow(0.0); $net::NUM_PARAMS];
                let acc_loss = net.accumulate_gradient(&input, &target, &mut acc);
                let mut acc_slice = [narrow(0.0); $net::NUM_PARAMS];
                let acc_slice_loss = net.accumulate_gradient_slice(&input, &target, &mut acc_slice);
                let mut stepped = net.clone();
                let sgd_loss = stepped.sgd_step(&input, &target, lr);
                let mut stepped_slice = net.clone();
                let sgd_slice_loss = stepped_slice.sgd_step_slice(&input, &target, lr);
                $crate::Outcome {
                    forward: wide(&net.forward(&input)),
                    forward_slice: wide(&forward_slice),
                    loss: net.loss(&input, &target).to_f64(),
                    loss_slice: net.loss_slice(&input, &target).to_f64(),
                    loss_and_output: (lo_loss.to_f64(), wide(&lo_out)),
                    gradient: (g_loss.to_f64(), wide(&g)),
                    accumulate: (acc_loss.to_f64(), wide(&acc)),
                    accumulate_slice: (acc_slice_loss.to_f64(), wide(&acc_slice)),
                    sgd_step: (sgd_loss.to_f64(), wide(&stepped.params)),
                    sgd_step_slice: (sgd_slice_loss.to_f64(), wide(stepped_slice.params())),
                }
            }

            fn run_batch(
                &self,
                params: &[f64],
                inputs: &[f64],
                targets: &[f64],
                lr: f64,
            ) -> $crate::BatchOutcome {
                use ::symnn::{Float, Model};
                let narrow = |x: f64| <$f as Float>::from_f64(x);
                let wide = |xs: &[$f]| xs.iter().map(|&x| x.to_f64()).collect::<Vec<f64>>();
                let net = $net::from_params(::core::array::from_fn(|k| narrow(params[k])));
                let n = inputs.len() / $net::NUM_INPUTS.max(1);
                let xs: Vec<[$f; $net::NUM_INPUTS]> = (0..n)
                    .map(|s| ::core::array::from_fn(|k| narrow(inputs[s * $net::NUM_INPUTS + k])))
                    .collect();
                let ys: Vec<[$f; $net::NUM_TARGETS]> = (0..n)
                    .map(|s| ::core::array::from_fn(|k| narrow(targets[s * $net::NUM_TARGETS + k])))
                    .collect();
                let lr = narrow(lr);
                let mut batch = [narrow(0.0); $net::NUM_PARAMS];
                let batch_loss = net.accumulate_gradient_batch(&xs, &ys, &mut batch);
                let mut batch_slice = [narrow(0.0); $net::NUM_PARAMS];
                let batch_slice_loss = net.accumulate_gradient_batch_slice(
                    xs.as_flattened(),
                    ys.as_flattened(),
                    &mut batch_slice,
                );
                let mut seq = [narrow(0.0); $net::NUM_PARAMS];
                let mut seq_loss = narrow(0.0);
                let mut abs = vec![0.0f64; $net::NUM_PARAMS];
                let mut abs_loss = 0.0f64;
                for (x, y) in xs.iter().zip(&ys) {
                    let mut one = [narrow(0.0); $net::NUM_PARAMS];
                    let l = net.accumulate_gradient(x, y, &mut one);
                    abs_loss += l.to_f64().abs();
                    for (a, g) in abs.iter_mut().zip(&one) {
                        *a += g.to_f64().abs();
                    }
                    seq_loss += net.accumulate_gradient(x, y, &mut seq);
                }
                let mut stepped = net.clone();
                let mean = stepped.sgd_step_batch(&xs, &ys, lr);
                let mut rows = vec![[narrow(f64::NAN); $net::NUM_OUTPUTS]; n];
                net.forward_batch(&xs, &mut rows);
                let one_rows: Vec<f64> = xs.iter().flat_map(|x| wide(&net.forward(x))).collect();
                $crate::BatchOutcome {
                    batch: (batch_loss.to_f64(), wide(&batch)),
                    batch_slice: (batch_slice_loss.to_f64(), wide(&batch_slice)),
                    one_by_one: (seq_loss.to_f64(), wide(&seq)),
                    abs_sums: (abs_loss, abs),
                    sgd_step_batch: (mean.to_f64(), wide(&stepped.params)),
                    forward_batch: (wide(rows.as_flattened()), one_rows),
                    loss_batch: net.loss_batch(&xs, &ys).to_f64(),
                }
            }
        }
    };
}

/// The generated networks (`network!` invocations, `erase!`s and the table [`CASES`]).
pub mod nets {
    use super::{Case, RolledCase, Wrap};
    include!(concat!(env!("OUT_DIR"), "/nets.rs"));
}

pub use nets::{BOTH_TIERS, CASES, LOOP_NETWORKS, RANDOM_NETWORKS, ROLLED, SEED};
