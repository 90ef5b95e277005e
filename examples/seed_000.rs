//! Seed 000: the notebook's 1-2-1 ReLU network with a bias input `x = [1, x1]`, a bias
//! unit in the hidden layer `h = [1, ReLU(W[0]·x), ReLU(W[1]·x)]`, output `y = u·h`, and
//! its `MSE(A, B) = (1/2) * mean((A - B)^2)` loss.
//!
//! The notebook displays `h`, `y`, the `Piecewise` gradients `dL/du`, `dL/dW` and the
//! updated `W_new = W - alpha * dL/dW`, `u_new = u - alpha * dL/du`. symnn prints the
//! same derivation with the ReLU branches expressed through `relu`/its derivative, and
//! evaluates it in generated straight-line code.
//!
//! Run with `cargo run --release --example seed_000`.
use symnn::network;

network! {
    /// The notebook's 1-2-1 ReLU net: bias input, bias hidden unit, half-MSE.
    pub struct Seed000 {
        input x1;
        target y_t;
        param W[2][2] = [[0.5, -0.3], [0.8, 0.2]], u[3] = [0.1, -0.4, 0.6];
        let x = [1.0, x1];
        let h = [1.0, relu(dot(W[0], x)), relu(dot(W[1], x))];
        output y = dot(u, h);
        loss = 0.5 * mse([y_t], [y]);
    }
}

network! {
    /// The same parameters, but outputting the hidden layer `h` (the notebook displays it).
    pub struct Seed000Hidden {
        input x1;
        param W[2][2], u[3];
        let x = [1.0, x1];
        let h = [1.0, relu(dot(W[0], x)), relu(dot(W[1], x))];
        output out = h;
        loss = sum(h);
    }
}

fn main() {
    println!("{}", Seed000::derivation());
    println!("cost of the generated code: {}", Seed000::COST);

    // The notebook's `values` cell: w11=0.5, w12=-0.3, w21=0.8, w22=0.2, u=(0.1,-0.4,0.6),
    // x1 = 1 (they are the declared initial values above).
    let net = Seed000::new();
    let x1 = [1.0];
    let hidden = Seed000Hidden::from_params(net.params);
    println!("\nEvaluated h:\n  {:?}", hidden.forward(&x1));
    println!("Evaluated y:\n  {}", net.forward(&x1)[0]);

    // The notebook keeps y_t and alpha symbolic; pick y_t = 1 and alpha = 0.1 to show the
    // numbers behind its dL/du, dL/dW, W_new and u_new.
    let (y_t, alpha) = ([1.0], 0.1);
    let (loss, grad) = net.gradient(&x1, &y_t);
    println!("\nWith y_t = {}, alpha = {alpha}:", y_t[0]);
    println!("  L = {loss}");
    let mut stepped = net.clone();
    stepped.sgd_step(&x1, &y_t, alpha);
    println!(
        "  {:<8} {:>8} {:>22} {:>22}",
        "param", "value", "dL/dparam", "new value"
    );
    for (k, name) in Seed000::PARAM_NAMES.iter().enumerate() {
        println!(
            "  {name:<8} {:>8} {:>22} {:>22}",
            net.params[k], grad[k], stepped.params[k]
        );
    }

    // Where a ReLU is off the notebook's Piecewise falls to its `x < 0` branch: the row of
    // W feeding it (and its output weight) gets no gradient.
    let mut off = net.clone();
    off.params[Seed000::param_index("W[0][0]").expect("declared")] = -0.5; // W[0]·x = -0.8
    let (_, grad) = off.gradient(&x1, &y_t);
    println!("\nWith w11 = -0.5 (first ReLU inactive):");
    for (name, g) in Seed000::PARAM_NAMES.iter().zip(grad) {
        println!("  dL/d{name} = {g}");
    }
}
