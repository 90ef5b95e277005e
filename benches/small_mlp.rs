//! Issue 18 item 6: a small MLP near the FMA peak. SimpleChains.jl's published small-MLP
//! benchmark: a 4-32-16-4 tanh MLP, 10,000 samples, full-batch Adam (its figure: about
//! 23 % of an AVX-512 core's f32 peak, 41 µs a step on 18 cores of an i9-10980XE).
//!
//! Here: the same network in f32 (tanh, tanh, identity; `mse` against a fixed smooth
//! function of the inputs), 10,000 samples of `x ~ U(-1, 1)⁴`, `Trainer` with batch
//! 10,000 (one step an epoch, no shuffling) and `Adam(1e-3)`, on 1 and 2 threads
//! (rounds interleaved, `benches/common/paired.rs`). Prints ms per step and GFLOP/s,
//! counting `6 · (4·32 + 32·16 + 16·4) = 4,224` FLOP per sample (forward and backward
//! products; activations not counted), and the share of the f32 FMA peak per core
//! (`PEAK_GFLOPS`, from `cargo bench --bench gemm -- --table` on this project's 2-core
//! AVX-512 host: 118 GFLOP/s). Target (issue 18): ≥ 40 % per core on 1 and 2 threads.
//!
//! Run: `cargo bench --bench small_mlp`.
use std::time::Instant;

#[path = "common/paired.rs"]
mod paired;

use symnn::init::SplitMix64;
use symnn::{network, Adam, Dataset, Trainer};

network! {
    /// SimpleChains.jl's small-MLP benchmark network, f32.
    pub struct Mlp4 {
        type Float = f32;
        input x[4];
        target t[4];
        let h1 = dense(x, 32, tanh);
        let h2 = dense(h1, 16, tanh);
        output y = dense(h2, 4, identity);
        loss = mse(y, t);
    }
}

const SAMPLES: usize = 10_000;
const FLOP_PER_SAMPLE: f64 = 6.0 * (4.0 * 32.0 + 32.0 * 16.0 + 16.0 * 4.0);
/// f32 FMA peak of one core of the host the figures in docs/PERFORMANCE.md come from.
const PEAK_GFLOPS: f64 = 118.0;

fn data() -> Dataset<f32> {
    let mut rng = SplitMix64::new(11);
    let mut rows = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let x: [f32; 4] = std::array::from_fn(|_| rng.symmetric(1.0) as f32);
        let t = [
            (x[0] * x[1]).sin(),
            x[2].cos() * x[3],
            x[0] - x[3] * x[3],
            (x[1] + x[2]).tanh(),
        ];
        rows.push((x, t));
    }
    Dataset::from_rows(&rows)
}

/// Seconds per step of a run of `steps` full-batch Adam steps on `threads` threads.
fn run(net: &mut Mlp4, data: &Dataset<f32>, threads: usize, steps: usize) -> (f64, f64) {
    let start = Instant::now();
    let history = Trainer::new(Adam::new(1e-3))
        .epochs(steps)
        .batch_size(SAMPLES)
        .shuffle(false)
        .threads(threads)
        .fit(net, data, None)
        .expect("finite");
    let loss = history.last().map_or(f64::NAN, |r| r.train_loss);
    (start.elapsed().as_secs_f64() / steps as f64, loss)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let data = data();
    let steps = 50;
    let (mut one, mut two) = (Mlp4::with_seed(1), Mlp4::with_seed(1));
    let (mut loss1, mut loss2) = (f64::NAN, f64::NAN);
    let r = paired::interleave(
        9,
        1,
        || {
            let (s, l) = run(&mut one, &data, 1, steps);
            loss1 = l;
            s
        },
        || {
            let (s, l) = run(&mut two, &data, 2, steps);
            loss2 = l;
            s
        },
    );
    eprintln!(
        "4-32-16-4 tanh f32, {SAMPLES} samples, full-batch Adam, Trainer; {:.0} FLOP/sample; ISA {:?}",
        FLOP_PER_SAMPLE,
        symnn::simd::isa()
    );
    for (what, secs, threads, loss) in [
        ("1 thread", r.a, 1.0, loss1),
        ("2 threads", r.b, 2.0, loss2),
    ] {
        let gflops = FLOP_PER_SAMPLE * SAMPLES as f64 / secs / 1e9;
        eprintln!(
            "{what:<10} {:>8.3} ms/step  {gflops:>6.1} GFLOP/s  {:>5.1} % of the per-core peak  (loss {loss:.5})",
            secs * 1e3,
            100.0 * gflops / (PEAK_GFLOPS * threads),
        );
    }
    eprintln!(
        "speed-up of 2 threads (1-thread time / 2-thread time, per round): median {:.3} (quartiles {:.3}-{:.3})",
        r.ratio, r.ratio_q1, r.ratio_q3
    );
}
