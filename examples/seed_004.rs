//! Seed 004: Thomas Nield's SymPy gist of chain-rule partial derivatives for a 1-1-1
//! network: `Z1 = X*W1 + B1`, `A1 = relu(Z1)`, `Z2 = A1*W2 + B2`, `A2 = logistic(Z2)`,
//! cost `C = (A2 - Y)^2`.
//!
//! The gist prints the local partials one at a time:
//!
//! ```text
//! dC_dA2 =  2*A2 - 2*Y
//! dA2_dZ2 =  exp(-Z2)/(1 + exp(-Z2))**2
//! dZ2_dA1 =  W2
//! dZ2_dW2 =  A1
//! dZ2_dB2 =  1
//! dA1_dZ1 =  Z1 > 0
//! dZ1_dW1 =  X
//! dZ1_dB1 =  1
//! ```
//!
//! symnn composes them itself (reverse mode) and prints the whole-network result. This
//! example shows the derivation, evaluates the gist's partials at a point and compares their
//! chain-rule products with the generated `gradient`.
//!
//! Run with `cargo run --release --example seed_004`.
use symnn::network;

network! {
    /// The gist's 1-1-1 network: ReLU hidden unit, logistic output, squared error.
    pub struct Seed004 {
        input X;
        target Y;
        param W1 = 0.5, B1 = 0.1, W2 = -0.8, B2 = 0.3;
        let Z1 = X * W1 + B1;
        let A1 = relu(Z1);
        let Z2 = A1 * W2 + B2;
        let A2 = sigmoid(Z2);
        output out = A2;
        loss = (A2 - Y).powi(2);
    }
}

fn show(net: &Seed004, x: f64, y: f64) {
    let [w1, b1, w2, b2] = net.params;
    let z1 = x * w1 + b1;
    let a1 = z1.max(0.0);
    let z2 = a1 * w2 + b2;
    let a2 = 1.0 / (1.0 + (-z2).exp());
    let dc_da2 = 2.0 * a2 - 2.0 * y;
    let da2_dz2 = (-z2).exp() / (1.0 + (-z2).exp()).powi(2);
    let da1_dz1 = if z1 > 0.0 { 1.0 } else { 0.0 };
    println!("\nX = {x}, Y = {y}, W1 = {w1}, B1 = {b1}, W2 = {w2}, B2 = {b2}");
    println!(
        "  Z1 = {z1}, A1 = {a1}, Z2 = {z2}, A2 = {a2} (generated forward: {})",
        net.forward(&[x])[0]
    );
    println!(
        "  dC_dA2 = {dc_da2}, dA2_dZ2 = {da2_dz2}, dZ2_dA1 = {w2}, dZ2_dW2 = {a1}, dZ2_dB2 = 1"
    );
    println!("  dA1_dZ1 = {}, dZ1_dW1 = {x}, dZ1_dB1 = 1", z1 > 0.0);
    let chain = [
        dc_da2 * da2_dz2 * w2 * da1_dz1 * x,
        dc_da2 * da2_dz2 * w2 * da1_dz1,
        dc_da2 * da2_dz2 * a1,
        dc_da2 * da2_dz2,
    ];
    let (cost, grad) = net.gradient(&[x], &[y]);
    println!("  C = {cost}");
    println!(
        "  {:<6} {:>24} {:>24}",
        "param", "chain of partials", "generated gradient"
    );
    for (k, name) in Seed004::PARAM_NAMES.iter().enumerate() {
        println!("  dC/d{name:<2} {:>24e} {:>24e}", chain[k], grad[k]);
    }
}

fn main() {
    println!("{}", Seed004::derivation());
    println!("cost of the generated code: {}", Seed004::COST);

    let net = Seed004::new();
    show(&net, 1.2, 1.0); // Z1 > 0: the ReLU passes the gradient through
    show(&net, -1.2, 0.0); // Z1 < 0: dA1_dZ1 = 0, so W1 and B1 get nothing

    // A few SGD steps on one sample, as the gist's derivatives are meant for.
    let mut net = net;
    println!("\nSGD on (X = 1.2, Y = 1) at lr = 1.0:");
    for step in 0..=50 {
        let cost = net.sgd_step(&[1.2], &[1.0], 1.0);
        if step % 10 == 0 {
            println!("  step {step:>2}: C = {cost:.6}");
        }
    }
    println!("  A2 = {:.6}", net.forward(&[1.2])[0]);
}
