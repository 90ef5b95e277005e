//! Seed 004: Thomas Nield's SymPy gist of chain-rule partials for a 1-1-1 network
//! (ReLU hidden unit, logistic output, squared-error cost `C = (A2 - Y)^2`).
//!
//! The gist prints each local partial derivative; the gradient of the cost with respect
//! to each parameter is the product along its chain:
//!
//! ```text
//! dC/dW2 = dC_dA2 * dA2_dZ2 * dZ2_dW2
//! dC/dB2 = dC_dA2 * dA2_dZ2 * dZ2_dB2
//! dC/dW1 = dC_dA2 * dA2_dZ2 * dZ2_dA1 * dA1_dZ1 * dZ1_dW1
//! dC/dB1 = dC_dA2 * dA2_dZ2 * dZ2_dA1 * dA1_dZ1 * dZ1_dB1
//! ```
//!
//! The printed partials are transcribed below as plain Rust and multiplied out; the
//! generated `gradient` must agree to ~1e-12 relative. Nothing here computes an expected
//! value with the generated code.
use symnn::network;

network! {
    /// The gist's 1-1-1 network: ReLU hidden unit, logistic output, squared error.
    pub struct Seed004 {
        input X;
        target Y;
        param W1, B1, W2, B2;
        let Z1 = X * W1 + B1;
        let A1 = relu(Z1);
        let Z2 = A1 * W2 + B2;
        let A2 = sigmoid(Z2);
        output out = A2;
        loss = (A2 - Y).powi(2);
    }
}

/// Parameters in declaration order `[W1, B1, W2, B2]`, input `X`, target `Y`.
type Point = ([f64; 4], f64, f64);

/// The gist's forward definitions (`_Z1`, `relu = Max(x, 0)`, `_Z2`, `logistic`).
fn forward_by_hand(params: [f64; 4], x: f64) -> (f64, f64, f64, f64) {
    let [w1, b1, w2, b2] = params;
    let z1 = x * w1 + b1;
    let a1 = z1.max(0.0);
    let z2 = a1 * w2 + b2;
    let a2 = 1.0 / (1.0 + (-z2).exp());
    (z1, a1, z2, a2)
}

/// The products of the gist's printed partials, as `[dC/dW1, dC/dB1, dC/dW2, dC/dB2]`.
fn chain_rule_by_hand(params: [f64; 4], x: f64, y: f64) -> [f64; 4] {
    let [_w1, _b1, w2, _b2] = params;
    let (z1, a1, z2, a2) = forward_by_hand(params, x);
    let dc_da2 = 2.0 * a2 - 2.0 * y; // 2*A2 - 2*Y
    let da2_dz2 = (-z2).exp() / (1.0 + (-z2).exp()).powi(2); // exp(-Z2)/(1 + exp(-Z2))**2
    let dz2_da1 = w2; // W2
    let dz2_dw2 = a1; // A1
    let dz2_db2 = 1.0; // 1
    let da1_dz1 = if z1 > 0.0 { 1.0 } else { 0.0 }; // Z1 > 0
    let dz1_dw1 = x; // X
    let dz1_db1 = 1.0; // 1
    [
        dc_da2 * da2_dz2 * dz2_da1 * da1_dz1 * dz1_dw1,
        dc_da2 * da2_dz2 * dz2_da1 * da1_dz1 * dz1_db1,
        dc_da2 * da2_dz2 * dz2_dw2,
        dc_da2 * da2_dz2 * dz2_db2,
    ]
}

/// Points with an active and an inactive ReLU, positive and negative weights and inputs.
const POINTS: [Point; 8] = [
    ([0.5, 0.1, -0.8, 0.3], 1.2, 1.0),    // Z1 = 0.7 > 0
    ([0.5, 0.1, -0.8, 0.3], -1.2, 0.0),   // Z1 = -0.5 < 0
    ([-1.3, 0.4, 2.1, -0.6], 0.25, 0.5),  // Z1 = 0.075 > 0
    ([-1.3, 0.4, 2.1, -0.6], 0.5, 1.0),   // Z1 = -0.25 < 0
    ([2.0, -3.0, 1.5, 0.2], 3.0, 0.0),    // Z1 = 3, Z2 = 4.7: saturating output
    ([0.9, 0.0, -4.0, 1.0], 2.0, 1.0),    // Z1 = 1.8, Z2 = -6.2
    ([0.05, -0.01, 0.7, -0.1], 0.1, 0.3), // Z1 = -0.005 < 0, just below the kink
    ([0.05, -0.01, 0.7, -0.1], 0.3, 0.3), // Z1 = 0.005 > 0, just above the kink
];

#[track_caller]
fn assert_rel(what: &str, got: f64, want: f64) {
    // ~1e-12 relative; an exact zero (inactive ReLU) must come out as zero.
    let tol = 1e-12 * want.abs();
    assert!(
        (got - want).abs() <= tol,
        "{what}: generated {got:e}, chain rule gives {want:e} (diff {:e})",
        got - want
    );
}

#[test]
fn param_layout() {
    assert_eq!(Seed004::PARAM_NAMES, ["W1", "B1", "W2", "B2"]);
    assert_eq!(Seed004::param_index("W2"), Some(2));
    assert_eq!(Seed004::param_index("A1"), None);
}

#[test]
fn forward_and_cost_match_the_gist_definitions() {
    for (params, x, y) in POINTS {
        let net = Seed004::from_params(params);
        let (.., a2) = forward_by_hand(params, x);
        assert_rel(
            &format!("A2 at {params:?}, X={x}"),
            net.forward(&[x])[0],
            a2,
        );
        let c = (a2 - y) * (a2 - y);
        assert_rel(&format!("C at {params:?}, X={x}"), net.loss(&[x], &[y]), c);
    }
}

#[test]
fn gradient_is_the_product_of_the_printed_partials() {
    let mut active = 0;
    let mut inactive = 0;
    for (params, x, y) in POINTS {
        let net = Seed004::from_params(params);
        let (loss, grad) = net.gradient(&[x], &[y]);
        let (z1, _, _, a2) = forward_by_hand(params, x);
        assert_rel("loss from gradient()", loss, (a2 - y) * (a2 - y));
        let want = chain_rule_by_hand(params, x, y);
        for k in 0..4 {
            let what = format!(
                "dC/d{} at {params:?}, X={x}, Y={y}",
                Seed004::PARAM_NAMES[k]
            );
            assert_rel(&what, grad[k], want[k]);
        }
        if z1 > 0.0 {
            active += 1;
            assert!(grad[0] != 0.0 && grad[1] != 0.0);
        } else {
            inactive += 1;
            assert_eq!(
                (grad[0], grad[1]),
                (0.0, 0.0),
                "dead ReLU passes no gradient"
            );
        }
    }
    assert!(active >= 3 && inactive >= 3, "both ReLU branches exercised");
}

#[test]
fn sgd_step_applies_the_chain_rule_gradient() {
    let lr = 0.7;
    for (params, x, y) in POINTS {
        let mut net = Seed004::from_params(params);
        let (.., a2) = forward_by_hand(params, x);
        let returned = net.sgd_step(&[x], &[y], lr);
        assert_rel("loss returned by sgd_step", returned, (a2 - y) * (a2 - y));
        let g = chain_rule_by_hand(params, x, y);
        for k in 0..4 {
            let want = params[k] - lr * g[k];
            let what = format!("{} after one step from {params:?}", Seed004::PARAM_NAMES[k]);
            assert!(
                (net.params[k] - want).abs() <= 1e-12 * want.abs().max(1.0),
                "{what}: got {}, want {want}",
                net.params[k]
            );
        }
    }
}
