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
//! Zen 4 host: 118 GFLOP/s; set `SYMNN_PEAK_GFLOPS` to the running host's, e.g. 178.9
//! on the Intel AVX-512 host). Target (issue 18): ≥ 40 % per core on 1 and 2 threads.
//!
//! Run: `cargo bench --bench small_mlp`. Diagnosis modes: `-- --probe` times the
//! gradient of the whole data set alone (this network and its `tensor_threshold = 0`
//! twin, which the block code now equals) and each GEMM of a block alone, plain and
//! through the transposed matrix; `-- --only default|tensor|step1|step2 N` runs just
//! that N times (for `perf record`). See docs/PERFORMANCE.md, "Small MLP".
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

network! {
    /// The same network with every layer a tensor node (`tensor_threshold = 0`), for
    /// the probe (`--probe`).
    #[symnn(tensor_threshold = 0)]
    pub struct Mlp4T {
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
/// f32 FMA peak of one core of the Zen 4 host the first figures in docs/PERFORMANCE.md
/// come from; `SYMNN_PEAK_GFLOPS` overrides it (the Intel AVX-512 host of the later
/// figures: 178.9, from `cargo bench --bench gemm -- --table`).
const PEAK_GFLOPS: f64 = 118.0;

fn peak_gflops() -> f64 {
    std::env::var("SYMNN_PEAK_GFLOPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PEAK_GFLOPS)
}

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
    if let Some(i) = args.iter().position(|a| a == "--only") {
        // `--only default|tensor|step1|step2 N`: N gradients (or N one-/two-thread
        // Trainer steps) and nothing else, for `perf stat -e cycles:u,instructions:u`
        // (user-mode cycles, which load on the other core barely moves).
        let n: usize = args.get(i + 2).and_then(|s| s.parse().ok()).unwrap_or(200);
        only(&data, &args[i + 1], n);
        return;
    }
    if args.iter().any(|a| a == "--probe") {
        probe(&data);
        return;
    }
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
        "4-32-16-4 tanh f32, {SAMPLES} samples, full-batch Adam, Trainer; {:.0} FLOP/sample; ISA {:?}; peak {:.1} GFLOP/s a core",
        FLOP_PER_SAMPLE,
        symnn::simd::isa(),
        peak_gflops()
    );
    for (what, secs, threads, loss) in [
        ("1 thread", r.a, 1.0, loss1),
        ("2 threads", r.b, 2.0, loss2),
    ] {
        let gflops = FLOP_PER_SAMPLE * SAMPLES as f64 / secs / 1e9;
        eprintln!(
            "{what:<10} {:>8.3} ms/step  {gflops:>6.1} GFLOP/s  {:>5.1} % of the per-core peak  (loss {loss:.5})",
            secs * 1e3,
            100.0 * gflops / (peak_gflops() * threads),
        );
    }
    eprintln!(
        "speed-up of 2 threads (1-thread time / 2-thread time, per round): median {:.3} (quartiles {:.3}-{:.3})",
        r.ratio, r.ratio_q1, r.ratio_q3
    );
}

fn only(data: &Dataset<f32>, what: &str, n: usize) {
    use symnn::Model;
    let mut g = vec![0f32; Mlp4::NUM_PARAMS];
    let (a, b) = (Mlp4::with_seed(1), Mlp4T::with_seed(1));
    let mut loss = 0.0;
    for _ in 0..n {
        g.fill(0.0);
        loss += match what {
            "default" => a.accumulate_gradient_batch_slice(data.inputs(), data.targets(), &mut g),
            "tensor" => b.accumulate_gradient_batch_slice(data.inputs(), data.targets(), &mut g),
            _ => 0.0,
        };
    }
    if let Some(threads) = what.strip_prefix("step").and_then(|t| t.parse().ok()) {
        let mut net = Mlp4::with_seed(1);
        let (s, l) = run(&mut net, data, threads, n);
        eprintln!("{:.3} ms/step (loss {l:.5})", s * 1e3);
    }
    std::hint::black_box((loss, g));
}

/// The gradient of the whole data set alone (`accumulate_gradient_batch_slice`, one
/// thread), for the default network and its all-tensor twin, against the full step.
fn probe(data: &Dataset<f32>) {
    use symnn::Model;
    #[inline(never)]
    fn grad_of<M: Model<Float = f32>>(net: &M, data: &Dataset<f32>, g: &mut [f32]) -> f32 {
        g.fill(0.0);
        net.accumulate_gradient_batch_slice(data.inputs(), data.targets(), g)
    }
    let (a, b) = (Mlp4::with_seed(1), Mlp4T::with_seed(1));
    let mut ga = vec![0f32; Mlp4::NUM_PARAMS];
    let mut gb = vec![0f32; Mlp4T::NUM_PARAMS];
    let r = paired::interleave(
        9,
        2,
        || {
            let t = Instant::now();
            for _ in 0..20 {
                std::hint::black_box(grad_of(&a, data, &mut ga));
            }
            t.elapsed().as_secs_f64() / 20.0
        },
        || {
            let t = Instant::now();
            for _ in 0..20 {
                std::hint::black_box(grad_of(&b, data, &mut gb));
            }
            t.elapsed().as_secs_f64() / 20.0
        },
    );
    let diff = ga
        .iter()
        .zip(&gb)
        .map(|(x, y)| (x - y).abs() / (1.0 + x.abs()))
        .fold(0f32, f32::max);
    for (what, secs) in [("default", r.a), ("all tensor", r.b)] {
        let gflops = FLOP_PER_SAMPLE * SAMPLES as f64 / secs / 1e9;
        eprintln!(
            "gradient of {SAMPLES} samples, {what:<10}: {:>8.3} ms  {gflops:>6.1} GFLOP/s  {:>5.1} %",
            secs * 1e3,
            100.0 * gflops / peak_gflops()
        );
    }
    eprintln!("largest relative difference of the two gradients: {diff:.2e}");
    pieces();
}

/// The pieces of the all-tensor block gradient, each timed alone over the 157 blocks
/// of 64 samples a step has (ms per step, one thread).
fn pieces() {
    use std::hint::black_box;
    use symnn::gemm::{gemm_nn, gemm_nt, gemm_tn_acc};
    const B: usize = 64;
    const BLOCKS: usize = SAMPLES.div_ceil(B);
    fn time(what: &str, macs: usize, mut f: impl FnMut()) {
        let mut best = f64::INFINITY;
        for _ in 0..15 {
            let t = Instant::now();
            for _ in 0..BLOCKS {
                f();
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        let gflops = 2.0 * (macs * B * BLOCKS) as f64 / best / 1e9;
        eprintln!(
            "  {what:<34} {:>7.3} ms/step  {gflops:>6.1} GFLOP/s",
            best * 1e3
        );
    }
    let mut rng = SplitMix64::new(3);
    let mut fill = |v: &mut [f32]| v.iter_mut().for_each(|x| *x = rng.symmetric(1.0) as f32);
    let (mut w1, mut w2, mut w3) = ([[0f32; 4]; 32], [[0f32; 32]; 16], [[0f32; 16]; 4]);
    fill(w1.as_flattened_mut());
    fill(w2.as_flattened_mut());
    fill(w3.as_flattened_mut());
    let (mut x, mut h1, mut h2, mut y) = (
        vec![0f32; B * 4],
        vec![0f32; B * 32],
        vec![0f32; B * 16],
        vec![0f32; B * 4],
    );
    fill(&mut x);
    fill(&mut h1);
    fill(&mut h2);
    fill(&mut y);
    let (mut g1, mut g2, mut g3) = ([[0f32; 4]; 32], [[0f32; 32]; 16], [[0f32; 16]; 4]);
    eprintln!("pieces of the all-tensor block gradient, {BLOCKS} blocks of {B}:");
    time("gemm_nt<32,4>  (x -> z1)", 128, || {
        gemm_nt(B, black_box(&w1), &x, 4, &mut h1, 32)
    });
    time("gemm_nt<16,32> (h1 -> z2)", 512, || {
        gemm_nt(B, black_box(&w2), &h1, 32, &mut h2, 16)
    });
    time("gemm_nt<4,16>  (h2 -> y)", 64, || {
        gemm_nt(B, black_box(&w3), &h2, 16, &mut y, 4)
    });
    time("gemm_nn<4,16>  (d3 -> d2)", 64, || {
        gemm_nn(B, &y, 4, black_box(&w3), &mut h2, 16)
    });
    time("gemm_nn<16,32> (d2 -> d1)", 512, || {
        gemm_nn(B, &h2, 16, black_box(&w2), &mut h1, 32)
    });
    time("gemm_tn_acc<32,4>  (dW1)", 128, || {
        gemm_tn_acc(B, &h1, 32, &x, 4, black_box(&mut g1), 1.0)
    });
    time("gemm_tn_acc<16,32> (dW2)", 512, || {
        gemm_tn_acc(B, &h2, 16, &h1, 32, black_box(&mut g2), 1.0)
    });
    time("gemm_tn_acc<4,16>  (dW3)", 64, || {
        gemm_tn_acc(B, &y, 4, &h2, 16, black_box(&mut g3), 1.0)
    });
    // The same products with the weights transposed once (`Wᵀ`, `Wᵀ`-shaped gradient):
    // every one a broadcast product with vectors along the wider side.
    let (mut t1, mut t2, mut t3) = ([[0f32; 32]; 4], [[0f32; 16]; 32], [[0f32; 4]; 16]);
    time("gemm_nn<4,32> with W1ᵀ (x -> z1)", 128, || {
        gemm_nn(B, &x, 4, black_box(&t1), &mut h1, 32)
    });
    time("gemm_nn<32,16> with W2ᵀ (h1 -> z2)", 512, || {
        gemm_nn(B, &h1, 32, black_box(&t2), &mut h2, 16)
    });
    time("gemm_nn<16,4> with W3ᵀ (h2 -> y)", 64, || {
        gemm_nn(B, &h2, 16, black_box(&t3), &mut y, 4)
    });
    time("gemm_tn_acc<4,32> (dW1ᵀ)", 128, || {
        gemm_tn_acc(B, &x, 4, &h1, 32, black_box(&mut t1), 1.0)
    });
    time("gemm_tn_acc<32,16> (dW2ᵀ)", 512, || {
        gemm_tn_acc(B, &h1, 32, &h2, 16, black_box(&mut t2), 1.0)
    });
    black_box((&mut t1, &mut t2, &mut t3));
}
