//! One epoch of MNIST (60,000 images) on the 784-128-10 ReLU network in f32, plain SGD
//! (lr 0.1), minibatches of 64, through `Trainer::fit`: the setting of the JAX and
//! PyTorch numbers in `benches/compare/RESULTS.md`.
//!
//! Rows: the batch path on 1 and 2 threads (`Trainer::threads`), and for scale the
//! one-sample path (the default `Model::accumulate_gradient_batch_slice`, one
//! `accumulate_gradient` per sample) on 1 thread. Each row is the median of several
//! epochs after one warm-up epoch; GFLOP/s counts 409,000 FLOP per sample (forward and
//! backward of 784-128-10, the figure). Also: 2 threads at batch 256.
//!
//! Last, the fair baseline at epoch level: a hand-written epoch (Fisher-Yates shuffle,
//! gather each minibatch into a contiguous block, one `matrixmultiply` sgemm trainer
//! step: `benches/common/gemm_mlp.rs`) interleaved with the `Trainer`'s epochs, batch
//! 64, one thread.
//!
//! Run: `cargo bench --bench mnist_epoch` (about a minute). Results: docs/PERFORMANCE.md
//! ("MNIST epoch", "Fair minibatch baselines").

use std::time::Instant;

use symnn::{datasets, network, Dataset, Model, Sgd, Trainer};

#[path = "common/gemm_mlp.rs"]
mod gemm_mlp;
#[path = "common/paired.rs"]
mod paired;
use gemm_mlp::{Act, GemmMlp};

network! {
    /// 784-128-10 classifier: one ReLU hidden layer, logits out, class-index target.
    pub struct MnistNet {
        type Float = f32;
        input x[784];
        target k;
        let h = dense(x, 128, relu);
        output z = dense(h, 10, identity);
        loss = sparse_cross_entropy(z, k);
    }
}

/// The same network whose batch method is the trait's default: one sample at a time.
#[derive(Clone)]
struct OneSample(Box<MnistNet>);

impl Model for OneSample {
    type Float = f32;
    const NUM_PARAMS: usize = MnistNet::NUM_PARAMS;
    const NUM_INPUTS: usize = MnistNet::NUM_INPUTS;
    const NUM_TARGETS: usize = MnistNet::NUM_TARGETS;
    const NUM_OUTPUTS: usize = MnistNet::NUM_OUTPUTS;
    fn param_names() -> &'static [&'static str] {
        MnistNet::param_names()
    }
    fn param_groups() -> &'static [symnn::ParamGroup] {
        MnistNet::param_groups()
    }
    fn cost() -> symnn::Cost {
        MnistNet::COST
    }
    fn derivation() -> &'static str {
        ""
    }
    fn params(&self) -> &[f32] {
        &self.0.params
    }
    fn params_mut(&mut self) -> &mut [f32] {
        &mut self.0.params
    }
    fn forward_slice(&self, input: &[f32], output: &mut [f32]) {
        self.0.forward_slice(input, output);
    }
    fn loss_slice(&self, input: &[f32], target: &[f32]) -> f32 {
        self.0.loss_slice(input, target)
    }
    fn accumulate_gradient_slice(&self, input: &[f32], target: &[f32], grad: &mut [f32]) -> f32 {
        self.0.accumulate_gradient_slice(input, target, grad)
    }
    fn sgd_step_slice(&mut self, input: &[f32], target: &[f32], lr: f32) -> f32 {
        self.0.sgd_step_slice(input, target, lr)
    }
    fn with_seed_boxed(seed: u64) -> Box<Self> {
        Box::new(OneSample(MnistNet::with_seed_boxed(seed)))
    }
}

const FLOP_PER_SAMPLE: f64 = 409_000.0;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median seconds per epoch of `epochs` epochs (after one warm-up) and the final loss.
fn epochs<M: Model<Float = f32>>(
    model: &mut M,
    train: &Dataset<f32>,
    batch: usize,
    threads: usize,
    epochs: usize,
) -> (f64, f64) {
    let mut trainer = Trainer::new(Sgd::new(0.1))
        .epochs(1)
        .batch_size(batch)
        .seed(7)
        .threads(threads);
    trainer.fit(model, train, None).expect("trains");
    let mut times = Vec::new();
    let mut loss = f64::NAN;
    for _ in 0..epochs {
        let t = Instant::now();
        let history = trainer.fit(model, train, None).expect("trains");
        times.push(t.elapsed().as_secs_f64());
        loss = history.last().map_or(f64::NAN, |r| r.train_loss);
    }
    (median(&mut times), loss)
}

/// One epoch of the hand-written sgemm trainer: shuffle, then per minibatch gather the
/// rows into `x` / one-hot `t` and take one step. Returns the mean of the minibatch
/// losses.
fn gemm_epoch(
    net: &mut GemmMlp<f32>,
    train: &Dataset<f32>,
    batch: usize,
    rng: &mut symnn::init::SplitMix64,
    order: &mut [usize],
    (x, t): (&mut Vec<f32>, &mut Vec<f32>),
) -> f64 {
    for i in (1..order.len()).rev() {
        order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    let (ni, no) = (net.inputs, net.outputs);
    let (mut loss, mut steps) = (0.0, 0);
    for idx in order.chunks(batch) {
        x.clear();
        t.clear();
        t.resize(idx.len() * no, 0.0);
        for (r, &i) in idx.iter().enumerate() {
            x.extend_from_slice(train.input(i));
            t[r * no + train.target(i)[0] as usize] = 1.0;
        }
        debug_assert_eq!(x.len(), idx.len() * ni);
        loss += f64::from(net.sgd_step_batch(x, t, 0.1));
        steps += 1;
    }
    loss / f64::from(steps)
}

/// The `Trainer` against the hand-written sgemm epoch, batch 64, one thread, epochs
/// interleaved (benches/common/paired.rs), each side continuing to train.
fn trainer_vs_gemm(train: &Dataset<f32>, rounds: usize) {
    let mut net = MnistNet::with_seed_boxed(1);
    let mut gemm = GemmMlp::new(784, 128, 10, Act::Relu, &net.params[..]);
    let mut trainer = Trainer::new(Sgd::new(0.1))
        .epochs(1)
        .batch_size(64)
        .seed(7)
        .threads(1);
    let mut rng = symnn::init::SplitMix64::new(7);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let (mut x, mut t) = (Vec::new(), Vec::new());
    let (mut loss_a, mut loss_b) = (f64::NAN, f64::NAN);
    let r = paired::interleave(
        rounds,
        1,
        || {
            let start = Instant::now();
            let history = trainer.fit(&mut *net, train, None).expect("trains");
            loss_a = history.last().map_or(f64::NAN, |r| r.train_loss);
            start.elapsed().as_secs_f64()
        },
        || {
            let start = Instant::now();
            loss_b = gemm_epoch(&mut gemm, train, 64, &mut rng, &mut order, (&mut x, &mut t));
            start.elapsed().as_secs_f64()
        },
    );
    let n = train.len();
    row("Trainer, batch 64, 1 thread (paired)", r.a, n, loss_a);
    row(
        "hand-written sgemm epoch, batch 64 (paired)",
        r.b,
        n,
        loss_b,
    );
    eprintln!(
        "Trainer / sgemm epoch: median ratio {:.3} (quartiles {:.3}-{:.3}), {rounds} rounds",
        r.ratio, r.ratio_q1, r.ratio_q3
    );
}

fn row(what: &str, seconds: f64, samples: usize, loss: f64) {
    let gflops = FLOP_PER_SAMPLE * samples as f64 / seconds / 1e9;
    eprintln!(
        "{what:<44} {seconds:>7.3} s/epoch  {:>9.0} samples/s  {gflops:>6.1} GFLOP/s  (train loss {loss:.4})",
        samples as f64 / seconds
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let train = datasets::mnist::<f32>()
        .expect("MNIST is in symnn-runtime/data/mnist")
        .train
        .with_class_index_targets()
        .expect("labels");
    let n = train.len();
    eprintln!(
        "MNIST: {n} training images; ISA {:?}; 409k FLOP/sample",
        symnn::simd::isa()
    );
    let started = Instant::now();
    for threads in [1, 2] {
        let mut net = MnistNet::with_seed_boxed(1);
        let (s, loss) = epochs(&mut *net, &train, 64, threads, 10);
        row(
            &format!("batch path, batch 64, {threads} thread(s)"),
            s,
            n,
            loss,
        );
    }
    {
        let mut net = MnistNet::with_seed_boxed(1);
        let (s, loss) = epochs(&mut *net, &train, 256, 2, 5);
        row("batch path, batch 256, 2 threads", s, n, loss);
        let mut net = MnistNet::with_seed_boxed(1);
        let (s1, loss1) = epochs(&mut *net, &train, 256, 1, 5);
        row("batch path, batch 256, 1 thread", s1, n, loss1);
        eprintln!("2 threads / 1 thread at batch 256: {:.2}x", s1 / s);
    }
    {
        let mut net = OneSample(MnistNet::with_seed_boxed(1));
        let (s, loss) = epochs(&mut net, &train, 64, 1, 2);
        row("one-sample path, batch 64, 1 thread", s, n, loss);
    }
    trainer_vs_gemm(&train, 11);
    eprintln!("({:.0} s in all)", started.elapsed().as_secs_f64());
}
