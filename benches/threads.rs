//! Data-parallel minibatches (`Trainer::threads`): what splitting a step across threads
//! costs and gains.
//!
//! 1. **Break-even.** Two small networks (8-16-4 and the `digits` 64-32-10, f32) trained
//!    with `min_ops_per_thread(0)` (every step split, whatever its size) on 1 and 2
//!    threads, for minibatches of 2 to 1024 samples. Each row prints the work a thread
//!    gets (`Model::cost().gradient_ops` times its samples) and the median speed-up of
//!    2 threads over 1 from paired, interleaved rounds (best times and median ratio). The break-even, where the speed-up
//!    crosses 1, sets `DEFAULT_MIN_OPS_PER_THREAD` (see docs/RUNTIME.md).
//! 2. **MNIST-shaped.** A 784-128-10 ReLU net (f32, softmax cross-entropy, 101 770
//!    parameters) on random data of MNIST's shape, batch 256, Adam, default threshold:
//!    samples/s on 1 and 2 threads and the speed-up.
//!
//! Run: `cargo bench --bench threads`. The machine's other load shows up as noise: the
//! rounds are interleaved and medians reported.
use std::time::Instant;

#[path = "common/paired.rs"]
mod paired;

use symnn::init::SplitMix64;
use symnn::{network, Adam, Dataset, Float, Model, Trainer};

network! {
    /// 8-16-4, tanh, f32: a small net (a few hundred gradient ops a sample).
    pub struct Small {
        type Float = f32;
        input x[8];
        target t[4];
        let h = dense(x, 16, tanh);
        output z = dense(h, 4, identity);
        loss = cross_entropy(z, t);
    }
}

network! {
    /// 64-32-10, tanh, f32 (the `digits` net).
    pub struct Digits {
        type Float = f32;
        input x[64];
        target t[10];
        let h = dense(x, 32, tanh);
        output z = dense(h, 10, identity);
        loss = cross_entropy(z, t);
    }
}

network! {
    /// 784-128-10 ReLU classifier, f32 (the `mnist` example's net).
    pub struct Mnist {
        type Float = f32;
        input x[784];
        target t[10];
        let h = dense(x, 128, relu);
        output z = dense(h, 10, identity);
        loss = cross_entropy(z, t);
    }
}

/// `n` samples of uniform inputs in [0, 1) and one-hot targets of random classes.
fn random_data<M: Model>(n: usize, seed: u64) -> Dataset<M::Float> {
    let mut rng = SplitMix64::new(seed);
    let inputs = (0..n * M::NUM_INPUTS)
        .map(|_| M::Float::from_f64(rng.next_f64()))
        .collect();
    let mut targets = vec![M::Float::ZERO; n * M::NUM_TARGETS];
    for row in targets.chunks_exact_mut(M::NUM_TARGETS) {
        row[rng.next_u64() as usize % M::NUM_TARGETS] = M::Float::ONE;
    }
    Dataset::new(inputs, M::NUM_INPUTS, targets, M::NUM_TARGETS).expect("consistent shapes")
}

/// Seconds for one epoch of `data` with `trainer`, from the same start each time.
fn epoch_secs<M: Model>(
    trainer: &mut Trainer<M, Adam<M::Float>>,
    start: &M,
    data: &Dataset<M::Float>,
) -> f64 {
    let mut net = M::from_params_boxed(start.params());
    let t0 = Instant::now();
    trainer.fit(&mut *net, data, None).expect("finite");
    t0.elapsed().as_secs_f64()
}

/// The fastest of `rounds` interleaved epochs on 1 and on 2 threads (the least
/// disturbed by other load), and the median of the per-round ratios.
fn paired<M: Model>(
    batch: usize,
    min_ops: usize,
    data: &Dataset<M::Float>,
    rounds: usize,
) -> (f64, f64, f64) {
    let start = M::with_seed_boxed(1);
    let trainer = |threads| -> Trainer<M, Adam<M::Float>> {
        Trainer::new(Adam::new(M::Float::from_f64(1e-3)))
            .epochs(1)
            .batch_size(batch)
            .shuffle(false)
            .threads(threads)
            .min_ops_per_thread(min_ops)
    };
    let (mut one, mut two) = (trainer(1), trainer(2));
    // Warm-up: builds the pool, faults in the buffers. Then interleaved rounds
    // (benches/common/paired.rs), alternating which goes first.
    let r = paired::interleave(
        rounds,
        1,
        || epoch_secs(&mut one, &start, data),
        || epoch_secs(&mut two, &start, data),
    );
    (r.a_min, r.b_min, r.ratio)
}

fn break_even<M: Model>(name: &str) {
    let ops = M::cost().gradient_ops;
    println!("\n{name}: {ops} gradient ops a sample, every step split (min_ops_per_thread 0)");
    println!("  batch  ops/thread  1 thread us/step  2 threads us/step  speed-up (best)  (median)");
    for batch in [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] {
        // About 4M gradient ops an epoch, at least 8 steps.
        let steps = (4_000_000 / (ops * batch)).clamp(8, 2000);
        let data = random_data::<M>(batch * steps, 3);
        let (t1, t2, r) = paired::<M>(batch, 0, &data, 31);
        println!(
            "  {batch:>5}  {:>10}  {:>16.2}  {:>17.2}  {:>15.2}  {r:>8.2}",
            ops * batch / 2,
            1e6 * t1 / steps as f64,
            1e6 * t2 / steps as f64,
            t1 / t2,
        );
    }
}

/// Wall time of a fixed integer loop on one thread, and of two copies on two threads:
/// about equal when two cores are free, double when other load takes one.
fn free_cores_probe() -> (f64, f64) {
    fn spin() -> u64 {
        let mut x = 1u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i);
        }
        std::hint::black_box(x)
    }
    let t = Instant::now();
    spin();
    let one = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let other = std::thread::spawn(spin);
    spin();
    other.join().unwrap();
    (one, t.elapsed().as_secs_f64())
}

fn main() {
    println!(
        "available_parallelism: {:?}",
        std::thread::available_parallelism().map(|n| n.get())
    );
    let (one, two) = free_cores_probe();
    println!(
        "free-core probe: 1 job {:.1} ms, 2 jobs on 2 threads {:.1} ms ({:.2}x the time; 1.0 = two free cores)",
        1e3 * one,
        1e3 * two,
        two / one
    );
    break_even::<Small>("8-16-4 f32");
    break_even::<Digits>("64-32-10 f32");

    let data = random_data::<Mnist>(2048, 5);
    let (t1, t2, r) = paired::<Mnist>(256, symnn::train::DEFAULT_MIN_OPS_PER_THREAD, &data, 25);
    println!(
        "\n784-128-10 f32, batch 256, {} samples, {} gradient ops a sample, default threshold:",
        data.len(),
        Mnist::cost().gradient_ops
    );
    println!(
        "  1 thread {:.0} samples/s, 2 threads {:.0} samples/s (best epochs), speed-up {:.2}x (best), {r:.2}x (median ratio)",
        data.len() as f64 / t1,
        data.len() as f64 / t2,
        t1 / t2
    );
}
