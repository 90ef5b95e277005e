//! Train a 2-4-1 network on XOR with plain per-sample SGD.
//!
//! The whole model is the `network!` block below: at compile time the macro differentiates
//! the binary cross-entropy loss symbolically and emits straight-line Rust for `forward`,
//! `gradient` and a fused `sgd_step`. Training is deterministic: `Xor::new()` draws the
//! initial weights from symnn's fixed-seed initialisation scheme, and the samples are
//! visited in a fixed order.
//!
//! Run with `cargo run --release --example xor`.
use std::time::Instant;

use symnn::network;

network! {
    /// XOR classifier: 2 inputs, 4 tanh hidden units, 1 sigmoid output, BCE loss.
    pub struct Xor {
        input x[2];
        target t[1];
        let h = dense(x, 4, tanh);
        output p = dense(h, 1, sigmoid);
        loss = bce(p, t);
    }
}

const DATA: [([f64; 2], [f64; 1]); 4] = [
    ([0.0, 0.0], [0.0]),
    ([0.0, 1.0], [1.0]),
    ([1.0, 0.0], [1.0]),
    ([1.0, 1.0], [0.0]),
];
const EPOCHS: usize = 2000;
const LEARNING_RATE: f64 = 0.5;
const REPORT_EVERY: usize = 250;

fn main() {
    println!(
        "Xor: {} params {:?}",
        Xor::NUM_PARAMS,
        &Xor::PARAM_NAMES[..]
    );
    println!("cost of the generated code: {}", Xor::COST);
    println!("\nderivation (first lines):");
    for line in Xor::derivation().lines().take(14) {
        println!("  {line}");
    }
    println!("  ...");

    let mut net = Xor::new();
    println!(
        "\ntraining: {EPOCHS} epochs x {} samples, lr = {LEARNING_RATE}",
        DATA.len()
    );
    // `black_box` keeps the optimiser from specialising the loop to the constant samples
    // (x = 0 or 1 would fold away multiplications), so the timing is that of real data.
    let data = std::hint::black_box(DATA);
    let start = Instant::now();
    for epoch in 1..=EPOCHS {
        let mut epoch_loss = 0.0;
        for (x, t) in &data {
            epoch_loss += net.sgd_step(x, t, LEARNING_RATE);
        }
        if epoch == 1 || epoch % REPORT_EVERY == 0 {
            println!(
                "  epoch {epoch:>5}: mean loss {:.6}",
                epoch_loss / DATA.len() as f64
            );
        }
    }
    let elapsed = start.elapsed();
    let steps = EPOCHS * DATA.len();
    println!(
        "trained in {elapsed:?}: {steps} steps, {:.1} ns per sgd_step (loop and progress printing included)",
        elapsed.as_secs_f64() * 1e9 / steps as f64
    );

    println!("\npredictions:");
    let mut correct = 0;
    for (x, t) in &DATA {
        let p = net.forward(x)[0];
        let class = if p > 0.5 { 1.0 } else { 0.0 };
        let ok = class == t[0];
        correct += usize::from(ok);
        println!(
            "  {:?} -> p = {p:.4}  class {class}  target {}  {}",
            x,
            t[0],
            if ok { "ok" } else { "WRONG" }
        );
    }
    println!("{correct}/{} correct", DATA.len());
    assert_eq!(correct, DATA.len(), "XOR not learned");
}
