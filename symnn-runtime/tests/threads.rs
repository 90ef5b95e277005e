//! The trainer's batch path and its thread split (`Trainer::threads`): equal to the
//! per-sample loop it replaced, deterministic per thread count, chunked as documented,
//! split only when the model's cost says it pays, and still naming the epoch, step and
//! parameter of a non-finite value.

mod common;

use common::{data_path, LinReg, Softmax};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::sync::{Arc, Mutex};
use symnn_runtime::data::CsvFormat;
use symnn_runtime::train::DEFAULT_MIN_OPS_PER_THREAD;
use symnn_runtime::{
    Adam, Cost, Dataset, Float, Model, Optimizer, ParamGroup, Sgd, Standardizer, TrainError,
    Trainer,
};

fn iris<F: Float>() -> Dataset<F> {
    let format = CsvFormat::new(4).one_hot_label(3).skip_rows(1);
    let mut data = Dataset::from_csv_path(data_path("iris.csv"), &format).unwrap();
    Standardizer::fit(&data).transform(&mut data);
    data
}

fn bits<F: Float>(params: &[F]) -> Vec<u64> {
    params.iter().map(|p| p.to_f64().to_bits()).collect()
}

/// The training loop as it was before the batch path: one `accumulate_gradient_slice`
/// per sample in shuffled order, divide, step.
fn per_sample_reference<M: Model, O: Optimizer<M::Float>>(
    model: &mut M,
    data: &Dataset<M::Float>,
    optimizer: &mut O,
    epochs: usize,
    batch: usize,
    seed: u64,
) {
    optimizer.reset();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..data.len()).collect();
    let mut grad = vec![M::Float::ZERO; M::NUM_PARAMS];
    for _ in 0..epochs {
        order.iter_mut().enumerate().for_each(|(i, x)| *x = i);
        order.shuffle(&mut rng);
        for step in order.chunks(batch) {
            grad.fill(M::Float::ZERO);
            for &i in step {
                let (x, y) = data.get(i);
                model.accumulate_gradient_slice(x, y, &mut grad);
            }
            let scale = M::Float::from_f64(1.0 / step.len() as f64);
            grad.iter_mut().for_each(|g| *g *= scale);
            optimizer.step(model.params_mut(), &grad);
        }
    }
}

fn batch_path_matches<F: Float>() {
    let data = iris::<F>();
    let mut reference = Softmax::<F>::zeros();
    let mut optimizer = Adam::new(F::from_f64(0.05));
    // 150 samples in steps of 16: the last step of each epoch has 6.
    per_sample_reference(&mut reference, &data, &mut optimizer, 4, 16, 9);
    let mut model = Softmax::<F>::zeros();
    Trainer::new(Adam::new(F::from_f64(0.05)))
        .epochs(4)
        .batch_size(8)
        .accumulate(2)
        .seed(9)
        .threads(1)
        .fit(&mut model, &data, None)
        .unwrap();
    assert_eq!(bits(&model.params), bits(&reference.params));
    assert_ne!(model, Softmax::zeros());
}

#[test]
fn the_batch_path_equals_the_per_sample_loop_bit_for_bit() {
    batch_path_matches::<f64>();
    batch_path_matches::<f32>();
}

/// Softmax regression reporting `OPS` gradient ops a sample, recording each call of
/// `accumulate_gradient_batch_slice`: the thread's name and the number of samples.
#[derive(Clone, Debug)]
struct Spy<const OPS: usize> {
    inner: Softmax<f64>,
    calls: Arc<Mutex<Vec<(String, usize)>>>,
}

impl<const OPS: usize> Spy<OPS> {
    fn new() -> Self {
        Spy {
            inner: Softmax::zeros(),
            calls: Arc::default(),
        }
    }
    fn take_calls(&self) -> Vec<(String, usize)> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

impl<const OPS: usize> Model for Spy<OPS> {
    type Float = f64;
    const NUM_PARAMS: usize = 15;
    const NUM_INPUTS: usize = 4;
    const NUM_TARGETS: usize = 3;
    const NUM_OUTPUTS: usize = 3;
    fn param_names() -> &'static [&'static str] {
        Softmax::<f64>::param_names()
    }
    fn param_groups() -> &'static [ParamGroup] {
        Softmax::<f64>::param_groups()
    }
    fn cost() -> Cost {
        Cost {
            gradient_ops: OPS,
            ..Cost::default()
        }
    }
    fn derivation() -> &'static str {
        Softmax::<f64>::derivation()
    }
    fn params(&self) -> &[f64] {
        self.inner.params()
    }
    fn params_mut(&mut self) -> &mut [f64] {
        self.inner.params_mut()
    }
    fn forward_slice(&self, input: &[f64], output: &mut [f64]) {
        self.inner.forward_slice(input, output)
    }
    fn loss_slice(&self, input: &[f64], target: &[f64]) -> f64 {
        self.inner.loss_slice(input, target)
    }
    fn accumulate_gradient_slice(&self, input: &[f64], target: &[f64], grad: &mut [f64]) -> f64 {
        self.inner.accumulate_gradient_slice(input, target, grad)
    }
    fn accumulate_gradient_batch_slice(
        &self,
        inputs: &[f64],
        targets: &[f64],
        grad: &mut [f64],
    ) -> f64 {
        let name = std::thread::current().name().unwrap_or("").to_string();
        let n = symnn_runtime::batch_len::<Self>(inputs, targets);
        self.calls.lock().unwrap().push((name, n));
        self.inner
            .accumulate_gradient_batch_slice(inputs, targets, grad)
    }
    fn sgd_step_slice(&mut self, input: &[f64], target: &[f64], lr: f64) -> f64 {
        self.inner.sgd_step_slice(input, target, lr)
    }
    fn with_seed_boxed(_seed: u64) -> Box<Self> {
        Box::new(Self::new())
    }
}

/// Whether a call ran on one of the trainer's pool threads (chunk 0 of a split step,
/// and an unsplit step, run on the calling thread).
fn on_worker(name: &str) -> bool {
    name.starts_with("symnn-train-")
}

fn worker_calls(calls: &[(String, usize)]) -> usize {
    calls.iter().filter(|(name, _)| on_worker(name)).count()
}

/// Trains a fresh spy on iris; returns its parameter bits and the recorded calls.
fn spy_run<const OPS: usize>(
    threads: usize,
    min_ops: Option<usize>,
    batch: usize,
) -> (Vec<u64>, Vec<(String, usize)>) {
    let data = iris::<f64>();
    let mut model = Spy::<OPS>::new();
    let mut trainer = Trainer::new(Adam::new(0.05))
        .epochs(3)
        .batch_size(batch)
        .seed(4)
        .threads(threads);
    if let Some(min_ops) = min_ops {
        trainer = trainer.min_ops_per_thread(min_ops);
    }
    trainer.fit(&mut model, &data, None).unwrap();
    let calls = model.take_calls();
    (bits(model.params()), calls)
}

#[test]
fn two_threads_are_deterministic_and_agree_with_one_up_to_rounding() {
    let (a, calls) = spy_run::<0>(2, Some(0), 16);
    let (b, _) = spy_run::<0>(2, Some(0), 16);
    assert_eq!(a, b, "two runs on 2 threads differ");
    let (one, one_calls) = spy_run::<0>(1, Some(0), 16);
    // 150 samples: 9 steps of 16 (8 here + 8 on the worker) and one of 6 (3 + 3), 3
    // epochs.
    if cfg!(feature = "threads") {
        assert_eq!(calls.len(), 3 * 10 * 2);
        assert_eq!(worker_calls(&calls), 3 * 10, "{calls:?}");
        let mut sizes: Vec<usize> = calls.iter().map(|c| c.1).collect();
        sizes.sort_unstable();
        sizes.dedup();
        assert_eq!(sizes, [3, 8]);
    }
    assert_eq!(one_calls.len(), 3 * 10);
    assert!(one_calls.iter().all(|(name, _)| !on_worker(name)));
    for (x, y) in a.iter().zip(&one) {
        let (x, y) = (f64::from_bits(*x), f64::from_bits(*y));
        assert!((x - y).abs() <= 1e-9 * (1.0 + y.abs()), "{x} vs {y}");
    }
}

#[test]
fn chunks_are_contiguous_and_fixed_by_the_batch_length() {
    if !cfg!(feature = "threads") {
        return;
    }
    // 150 samples, one step of 150 an epoch on 4 threads: chunks 0..37, 37..75,
    // 75..112, 112..150 (c * n / t), three epochs.
    let (_, calls) = spy_run::<0>(4, Some(0), 150);
    let mut sizes: Vec<usize> = calls.iter().map(|c| c.1).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [[37; 6], [38; 6]].concat());
}

#[test]
fn the_model_cost_decides_whether_a_step_is_split() {
    // Cheap model: 32 samples x 1000 ops is far below two threads' worth of work.
    let (_, calls) = spy_run::<1000>(2, None, 32);
    assert!(calls.iter().all(|(name, _)| !on_worker(name)), "{calls:?}");
    // Unknown cost (0 ops, hand-written models): never split by default.
    let (_, calls) = spy_run::<0>(2, None, 32);
    assert!(calls.iter().all(|(name, _)| !on_worker(name)));
    // Expensive model: each half of a 32-sample step is well above the threshold.
    const BIG: usize = DEFAULT_MIN_OPS_PER_THREAD;
    let (_, calls) = spy_run::<BIG>(2, None, 32);
    let split = worker_calls(&calls);
    if cfg!(feature = "threads") {
        // Each step is split; the last one of an epoch (150 = 4 * 32 + 22) too.
        assert_eq!(calls.len(), 3 * 5 * 2);
        assert_eq!(split, 3 * 5);
    } else {
        assert_eq!(split, 0);
    }
    if cfg!(feature = "threads") {
        // Steps of 3 samples on up to 8 threads: one sample (BIG ops) a thread at most,
        // so 3 threads, the caller and two workers.
        let (_, calls) = spy_run::<BIG>(8, None, 3);
        assert!(calls.iter().all(|c| c.1 == 1));
        assert_eq!(calls.len(), 3 * 150);
        assert_eq!(worker_calls(&calls), 2 * 150);
        // At half the cost, 3 samples are 1.5 threads' worth: one thread.
        const HALF: usize = BIG / 2;
        let (_, calls) = spy_run::<HALF>(8, None, 3);
        assert!(calls.iter().all(|c| c.1 == 3 && !on_worker(&c.0)));
    }
}

#[test]
fn threads_zero_uses_every_core() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (a, calls) = spy_run::<0>(0, Some(0), 16);
    let (b, _) = spy_run::<0>(cores, Some(0), 16);
    assert_eq!(a, b);
    if cfg!(feature = "threads") && cores > 1 {
        assert!(worker_calls(&calls) > 0);
    }
}

#[test]
fn an_infinite_loss_on_a_worker_names_epoch_and_step() {
    // Sample 6 of 8 overflows the loss; steps of 4 in order on 2 threads: step 2.
    let mut rows = vec![([0.5, 0.0], [1.0]); 8];
    rows[6] = ([0.0, 0.0], [1e200]);
    let data = Dataset::from_rows(&rows);
    let mut model = LinReg::<f64>::new(0.1, 0.1, 0.1);
    let err = Trainer::new(Sgd::new(0.01))
        .batch_size(4)
        .shuffle(false)
        .threads(2)
        .min_ops_per_thread(0)
        .fit(&mut model, &data, None)
        .unwrap_err();
    match err {
        TrainError::NonFiniteLoss {
            epoch: 1,
            step: 2,
            value,
            sample: Some(6),
            param_name: None,
        } => assert!(value.is_infinite()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_infinite_gradient_on_a_worker_names_the_parameter() {
    // f32: the loss of sample 3 is 1 but dL/dw[1] = 2 * (-1) * 3e38 overflows; it sits
    // in the second thread's chunk of the first step.
    let mut rows = vec![([0.0f32, 0.0], [0.0f32]); 4];
    rows[3] = ([0.0, 3e38], [1.0]);
    let data = Dataset::from_rows(&rows);
    let mut model = LinReg::<f32>::new(0.0, 0.0, 0.0);
    let err = Trainer::new(Sgd::new(0.01f32))
        .batch_size(4)
        .threads(2)
        .min_ops_per_thread(0)
        .fit(&mut model, &data, None)
        .unwrap_err();
    assert_eq!(
        err,
        TrainError::NonFiniteGradient {
            epoch: 1,
            step: 1,
            param_index: 1,
            param_name: "w[1]",
            value: f64::NEG_INFINITY,
            sample: Some(3),
        }
    );
    assert_eq!(model.params, [0.0, 0.0, 0.0]);
}

#[test]
fn a_trainer_can_be_reused_with_its_pool() {
    let data = iris::<f64>();
    let mut trainer = Trainer::new(Adam::new(0.05))
        .epochs(2)
        .batch_size(16)
        .threads(2)
        .min_ops_per_thread(0);
    let mut first = Softmax::<f64>::zeros();
    trainer.fit(&mut first, &data, None).unwrap();
    let mut second = Softmax::<f64>::zeros();
    trainer.fit(&mut second, &data, None).unwrap();
    assert_eq!(bits(&first.params), bits(&second.params));
    let text = format!("{trainer:?}");
    assert!(text.contains("threads: 2"), "{text}");
}
