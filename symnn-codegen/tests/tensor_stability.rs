//! The tensor tier keeps the stable forms of the scalar tier: `bce(sigmoid(z), t)` and
//! `ln(sigmoid(z))` over a tensor stay finite for large |z| (SPEC: up to 700 in f64).
//! A sigmoid map read by a consumer map used to be stored and its `ln` taken: `inf`
//! from z = 37 on (found by the differential test's finite-difference check, which saw
//! the loss lose 1e-9 relative at z ≈ 17).
use std::str::FromStr;

fn loss(attr: &str, body: &str, z: f64) -> f64 {
    let source = format!("{attr} struct N {{ input x[2]; param w[2]; target t[2]; {body} }}");
    let (_, derived) = symnn_codegen::derive(proc_macro2::TokenStream::from_str(&source).unwrap())
        .unwrap_or_else(|e| panic!("{e}"));
    let program = &derived.program;
    program
        .graph
        .evaluate(&[program.loss], &[z, -z], &[0.0, 1.0], &[1.0, 1.0])[0]
}

#[test]
fn tensor_tier_bce_of_sigmoid_is_stable() {
    for body in [
        "output y = sigmoid(w * x); loss = bce(y, t);",
        "output y = w * x; loss = bce(sigmoid(y), t);",
        "output y = w * x; loss = mean(-ln(sigmoid(y)));",
        "output y = w * x; loss = mean(-ln(1.0 - sigmoid(y)));",
    ] {
        for z in [5.0, 20.0, 40.0, 700.0] {
            let scalar = loss("", body, z);
            let tensor = loss("#[symnn(tensor_threshold = 0)]", body, z);
            assert!(
                scalar.is_finite(),
                "{body} at z = {z}: scalar tier {scalar}"
            );
            assert!(
                (tensor - scalar).abs() <= 1e-14 * scalar.abs(),
                "{body} at z = {z}: tensor tier {tensor}, scalar tier {scalar}"
            );
        }
    }
}
