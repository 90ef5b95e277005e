//! The block-of-samples path (`accumulate_gradient_batch`: SIMD across samples for the
//! scalar tier, batched matrix products for the tensor tier) against the one-sample
//! path (`accumulate_gradient` once per sample), on the same samples into the same
//! zeroed gradient, in f64 and f32, for 2-8-8-1 tanh/MSE and 64-32-10 sigmoid/softmax
//! cross-entropy.
//!
//! Before timing, `main` checks that both paths give the same loss and gradient (within
//! rounding: only the summation order differs). The paired measurement interleaves the
//! two in one process and prints the median ns per sample of each and the median of
//! the per-round ratios (one-sample / block, so > 1 means the block path is faster).
//!
//! Run: `cargo bench --bench batch`. Results: docs/PERFORMANCE.md ("Batch lanes").

use std::time::Duration;

use criterion::{black_box, Criterion};
use symnn::{network, Float, Model};

#[path = "common/paired.rs"]
mod paired;
use paired::{side, Chunk};

network! {
    /// 2-8-8-1 tanh MLP, MSE, f64.
    pub struct Mlp {
        input x[2];
        target t[1];
        let h1 = dense(x, 8, tanh);
        let h2 = dense(h1, 8, tanh);
        output y = dense(h2, 1, identity);
        loss = mse(y, t);
    }
}

network! {
    /// 2-8-8-1 tanh MLP, MSE, f32.
    pub struct Mlp32 {
        type Float = f32;
        input x[2];
        target t[1];
        let h1 = dense(x, 8, tanh);
        let h2 = dense(h1, 8, tanh);
        output y = dense(h2, 1, identity);
        loss = mse(y, t);
    }
}

network! {
    /// 64-32-10 sigmoid classifier, softmax cross-entropy, f64.
    pub struct Wide {
        input x[64];
        target t[10];
        let h = dense(x, 32, sigmoid);
        output z = dense(h, 10, identity);
        loss = cross_entropy(z, t);
    }
}

network! {
    /// 64-32-10 sigmoid classifier, softmax cross-entropy, f32.
    pub struct Wide32 {
        type Float = f32;
        input x[64];
        target t[10];
        let h = dense(x, 32, sigmoid);
        output z = dense(h, 10, identity);
        loss = cross_entropy(z, t);
    }
}

/// Samples per call (a minibatch of 256 from the trainer's point of view).
const BATCH: usize = 256;

/// `BATCH` deterministic samples: inputs in [0, 1), one-hot or smooth targets.
fn data<M: Model>() -> (Vec<M::Float>, Vec<M::Float>) {
    let mut rng = symnn::init::SplitMix64::new(3);
    let f = M::Float::from_f64;
    let x = (0..BATCH * M::NUM_INPUTS)
        .map(|_| f(0.5 + rng.symmetric(0.5)))
        .collect();
    let y = (0..BATCH * M::NUM_TARGETS)
        .map(|j| {
            if M::NUM_TARGETS == 1 {
                f(rng.symmetric(1.0))
            } else {
                f(f64::from(u8::from(
                    j % M::NUM_TARGETS == (j / M::NUM_TARGETS) % 7,
                )))
            }
        })
        .collect();
    (x, y)
}

fn one_sample<M: Model>(
    net: &M,
    x: &[M::Float],
    y: &[M::Float],
    grad: &mut [M::Float],
) -> M::Float {
    grad.fill(M::Float::ZERO);
    let mut loss = M::Float::ZERO;
    for (xs, ys) in x
        .chunks_exact(M::NUM_INPUTS)
        .zip(y.chunks_exact(M::NUM_TARGETS))
    {
        loss += net.accumulate_gradient_slice(xs, ys, grad);
    }
    loss
}

fn block<M: Model>(net: &M, x: &[M::Float], y: &[M::Float], grad: &mut [M::Float]) -> M::Float {
    grad.fill(M::Float::ZERO);
    net.accumulate_gradient_batch_slice(x, y, grad)
}

fn check<M: Model>(tol: f64) {
    let net = M::with_seed_boxed(1);
    let (x, y) = data::<M>();
    let (mut a, mut b) = (
        vec![M::Float::ZERO; M::NUM_PARAMS],
        vec![M::Float::ZERO; M::NUM_PARAMS],
    );
    let (la, lb) = (
        one_sample(&*net, &x, &y, &mut a),
        block(&*net, &x, &y, &mut b),
    );
    let scale = a.iter().fold(1e-300f64, |m, g| m.max(g.to_f64().abs()));
    assert!((la.to_f64() - lb.to_f64()).abs() <= tol * la.to_f64().abs());
    for (g, h) in a.iter().zip(&b) {
        assert!((g.to_f64() - h.to_f64()).abs() <= tol * scale, "{g} vs {h}");
    }
}

// The measured calls, each compiled on its own (`#[inline(never)]`): no timing loop is
// compiled into them (docs/PERFORMANCE.md, "The measuring stick").

#[inline(never)]
fn one_sample_step<M: Model>(
    net: &M,
    x: &[M::Float],
    y: &[M::Float],
    grad: &mut [M::Float],
) -> f64 {
    one_sample(black_box(net), black_box(x), black_box(y), grad).to_f64()
}

#[inline(never)]
fn block_step<M: Model>(net: &M, x: &[M::Float], y: &[M::Float], grad: &mut [M::Float]) -> f64 {
    block(black_box(net), black_box(x), black_box(y), grad).to_f64()
}

/// One-sample path (a) against block path (b), interleaved (benches/common/paired.rs):
/// 201 rounds of `calls` batches each; median ns/sample of each side and the median
/// per-round ratio a/b (the block path's speed-up).
fn paired<M: Model>(name: &str, calls: usize) -> paired::Report {
    let net = M::with_seed_boxed(1);
    let (x, y) = data::<M>();
    let grad = vec![M::Float::ZERO; M::NUM_PARAMS];
    paired::paired(
        name,
        Chunk::new(calls).samples(BATCH).rounds(201, 10),
        side("one-sample", &grad, |g| one_sample_step(&*net, &x, &y, g)),
        side("block", &grad, |g| block_step(&*net, &x, &y, g)),
    )
}

fn bench<M: Model>(c: &mut Criterion, name: &str) {
    let net = M::with_seed_boxed(1);
    let (x, y) = data::<M>();
    let mut grad = vec![M::Float::ZERO; M::NUM_PARAMS];
    c.bench_function(&format!("one_sample/{name}"), |b| {
        b.iter(|| one_sample(&*net, black_box(&x), black_box(&y), &mut grad));
    });
    c.bench_function(&format!("block/{name}"), |b| {
        b.iter(|| block(&*net, black_box(&x), black_box(&y), &mut grad));
    });
}

fn main() {
    check::<Mlp>(1e-12);
    check::<Mlp32>(1e-4);
    check::<Wide>(1e-12);
    check::<Wide32>(1e-4);
    eprintln!("block == one-sample (loss and gradient of {BATCH} samples, within rounding)");
    eprintln!("ISA: {:?}", symnn::simd::isa());
    if paired::wanted() {
        paired::<Mlp>("2-8-8-1 f64", 8);
        paired::<Mlp32>("2-8-8-1 f32", 8);
        paired::<Wide>("64-32-10 f64", 2);
        paired::<Wide32>("64-32-10 f32", 2);
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args();
    bench::<Mlp>(&mut c, "2-8-8-1_f64");
    bench::<Mlp32>(&mut c, "2-8-8-1_f32");
    bench::<Wide>(&mut c, "64-32-10_f64");
    bench::<Wide32>(&mut c, "64-32-10_f32");
    c.final_summary();
}
