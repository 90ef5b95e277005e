//! Seed 003: the 2-2-1 sigmoid classifier with one shared bias `w0` and a binary
//! cross-entropy loss, trained on the single sample `x = (0.35, 0.9)`, `y = 1`.
//!
//! The notebook prints `f5 = 0.649864477526152` for the initial weights and, after its
//! gradient-descent loop, `0.999453185534398`. This example reproduces both:
//!
//! * **Simultaneous updates** (what `sgd_step` does, and what gradient descent means):
//!   every parameter moves by `-lr * dL/dw` evaluated at the *same* point. 1000 steps at
//!   `lr = 0.3` give `f5 = 0.999455631785846`.
//! * **The notebook's loop** is sequential (Gauss–Seidel style): inside one sweep it calls
//!   `update_w0`, stores the new `w0`, then evaluates `dL/dw13` with that *fresh* `w0`,
//!   stores `w13`, evaluates `dL/dw14` with the fresh `w0` and `w13`, and so on. Its loop
//!   condition `i != 1000` with `i` starting at 1 runs 999 sweeps, not 1000 (the
//!   `stop_criteria` flag is computed once before the loop and never updated, so it does
//!   not stop earlier). Reproducing exactly that gives `0.999453185534398`.
//!
//! Run with `cargo run --release --example seed_003`.
use symnn::network;

network! {
    /// 2-2-1 classifier with one shared bias.
    pub struct Seed003 {
        input x1, x2;
        target y;
        param w0 = 0.1, w13 = 0.2, w14 = 0.8, w23 = 0.6, w24 = 0.4, w35 = 0.1, w45 = 0.5;
        let f3 = sigmoid((x1 * w13 + w0) + (x2 * w23 + w0));
        let f4 = sigmoid((x1 * w14 + w0) + (x2 * w24 + w0));
        output f5 = sigmoid((f3 * w35 + w0) + (f4 * w45 + w0));
        loss = -(y * ln(f5) + (1.0 - y) * ln(1.0 - f5));
    }
}

const X: [f64; 2] = [0.35, 0.9];
const Y: [f64; 1] = [1.0];
const LEARNING_RATE: f64 = 0.3;

fn print_params(net: &Seed003) {
    for (name, value) in Seed003::PARAM_NAMES.iter().zip(net.params) {
        println!("  {name:>4} = {value:.15}");
    }
}

fn main() {
    println!("{}", Seed003::derivation());
    println!("cost of the generated code: {}", Seed003::COST);

    let start = Seed003::new();
    println!("\nResults of the initial parameters (notebook: 0.649864477526152)");
    println!("  f5 = {:.15}", start.forward(&X)[0]);
    let (loss, grad) = start.gradient(&X, &Y);
    println!("  L  = {loss:.15}");
    for (name, g) in Seed003::PARAM_NAMES.iter().zip(grad) {
        println!("  dL/d{name:<3} = {g:+.15}");
    }

    // 1. Simultaneous updates: 1000 plain SGD steps.
    let mut net = start.clone();
    for _ in 0..1000 {
        net.sgd_step(&X, &Y, LEARNING_RATE);
    }
    println!("\nAfter 1000 simultaneous SGD steps at lr = {LEARNING_RATE}:");
    print_params(&net);
    println!(
        "  f5 = {:.15}   (reference: 0.999455631785846)",
        net.forward(&X)[0]
    );

    // 2. The notebook's sequential loop: one parameter at a time, each gradient evaluated
    //    at the parameters as updated so far in this sweep; 999 sweeps.
    let mut net = start.clone();
    for _sweep in 1..1000 {
        for k in 0..Seed003::NUM_PARAMS {
            let (_, grad) = net.gradient(&X, &Y);
            net.params[k] -= LEARNING_RATE * grad[k];
        }
    }
    println!("\nThe notebook's sequential loop (999 sweeps, fresh values reused within a sweep):");
    print_params(&net);
    println!(
        "  f5 = {:.15}   (notebook: 0.999453185534398)",
        net.forward(&X)[0]
    );
}
