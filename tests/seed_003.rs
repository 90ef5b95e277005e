//! Seed 003: the 2-2-1 sigmoid classifier with one shared bias and a BCE loss, from the
//! SymPy notebook. Its printed numbers are the reference.
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

#[test]
fn initial_output_matches_notebook() {
    let net = Seed003::new();
    let f5 = net.forward(&X)[0];
    assert!((f5 - 0.649864477526152).abs() < 1e-15, "f5 = {f5}");
}

#[test]
fn thousand_simultaneous_steps_match_reference() {
    let mut net = Seed003::new();
    for _ in 0..1000 {
        net.sgd_step(&X, &Y, 0.3);
    }
    let f5 = net.forward(&X)[0];
    assert!((f5 - 0.999455631785846).abs() < 1e-13, "f5 = {f5}");
}
