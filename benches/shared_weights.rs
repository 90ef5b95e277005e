//! A weight shared between two uses — one `fn u` evaluated at two points per sample,
//! as in a PINN's interior and boundary terms — against the same network used once:
//! `sgd_step_batch` time per step and per sample at batch sizes 2, 64 and 1,024
//! (2-20-20-20-1 tanh, f64, tensor tier for the 20×20 products).
//!
//! A shared weight's gradient is a sum of outer products; it is written term by term
//! (`emit/step.rs`, `GroupGrad::terms`), each a GEMM update in the batch block, so the
//! two-point network should cost about twice the one-point network per sample.
//!
//! Run: `cargo bench --bench shared_weights`. Results: docs/PERFORMANCE.md ("Shared
//! weights").

use std::time::Instant;
use symnn::{network, Float, Model};

network! {
    /// One `fn` at two points a sample.
    pub struct Two {
        input x[2], xb[2];
        target t;
        param W1[20][2], b1[20], W2[20][20], b2[20], W3[20][20], b3[20], W4[1][20], b4;
        fn u(z[2]) = sum(W4 * tanh(W3 * tanh(W2 * tanh(W1 * z + b1) + b2) + b3)) + b4;
        output y = u(x);
        loss = sq(u(x) - t) + sq(u(xb));
    }
}

network! {
    /// [`Two`] in f32.
    pub struct TwoF32 {
        type Float = f32;
        input x[2], xb[2];
        target t;
        param W1[20][2], b1[20], W2[20][20], b2[20], W3[20][20], b3[20], W4[1][20], b4;
        fn u(z[2]) = sum(W4 * tanh(W3 * tanh(W2 * tanh(W1 * z + b1) + b2) + b3)) + b4;
        output y = u(x);
        loss = sq(u(x) - t) + sq(u(xb));
    }
}

network! {
    /// The same `fn` at one point.
    pub struct Plain {
        input x[2];
        target t;
        param W1[20][2], b1[20], W2[20][20], b2[20], W3[20][20], b3[20], W4[1][20], b4;
        fn u(z[2]) = sum(W4 * tanh(W3 * tanh(W2 * tanh(W1 * z + b1) + b2) + b3)) + b4;
        output y = u(x);
        loss = sq(u(x) - t);
    }
}

/// `sgd_step_batch` on `n` samples: the mean over `reps` steps, after a tenth as many
/// warm-up steps (compare the rows of one run: the machine is shared).
fn time<M: Model>(name: &str, n: usize) {
    let mut net = M::with_seed_boxed(1);
    let x: Vec<M::Float> = (0..n * M::NUM_INPUTS)
        .map(|k| M::Float::from_f64(((k * 37 % 101) as f64) / 101.0))
        .collect();
    let t: Vec<M::Float> = (0..n * M::NUM_TARGETS)
        .map(|k| M::Float::from_f64(((k * 13 % 7) as f64) / 7.0))
        .collect();
    let reps = (200_000 / n).max(20);
    let lr = M::Float::from_f64(1e-3);
    for _ in 0..reps / 10 {
        net.sgd_step_batch_slice(&x, &t, lr);
    }
    let start = Instant::now();
    for _ in 0..reps {
        net.sgd_step_batch_slice(&x, &t, lr);
    }
    let per = start.elapsed().as_secs_f64() / reps as f64;
    println!(
        "{name} n={n}: {:.2} us/step ({:.3} us/sample)",
        per * 1e6,
        per * 1e6 / n as f64
    );
}

fn main() {
    for n in [2, 64, 1024] {
        time::<Two>("two points", n);
        time::<Plain>("plain", n);
        time::<TwoF32>("two points f32", n);
    }
}
