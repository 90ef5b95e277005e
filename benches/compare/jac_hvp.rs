//! symnn's side of the input-Jacobian / Hessian-vector-product comparison with JAX
//! (issue 17 item 6; `jac_hvp.py` is JAX's side and prints the table). The 64-32-10
//! tanh / softmax cross-entropy network of `benches/compare`'s `digits` group, f64.
//!
//! ```text
//! cargo build --release --features compare --example jac_hvp_compare
//! jac_hvp_compare DIR [BATCHES]   # writes DIR/digits_*.f64, prints one JSON line
//! ```
//!
//! Parameters, inputs, targets and the tangent `v` come from closed formulas (see
//! `jac_hvp_common.rs`), which `jac_hvp.py` evaluates too. Timed (median over BATCHES
//! batches, default 21): `input_jacobian` per sample, `hvp` per sample (ns per call,
//! each batch = 256 calls over 256 different samples) and the sum of `hvp` over a batch
//! of 256 samples (a loop of per-sample calls adding into one vector; ns per batch).

#[path = "jac_hvp_common.rs"]
mod common;

use common::*;
use symnn::network;

network! {
    /// 64-32-10 tanh classifier, softmax cross-entropy, f64 (`compare.py`'s `digits`).
    pub struct Digits {
        input x[64];
        target t[10];
        let h = dense(x, 32, tanh);
        output z = dense(h, 10, identity);
        loss = cross_entropy(z, t);
    }
}

const I: usize = 64;
const O: usize = 10;
const P: usize = Digits::NUM_PARAMS;
const SCALE: f64 = 0.1;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("usage: jac_hvp_compare DIR [BATCHES]"));
    let batches: usize = args.next().map_or(21, |s| s.parse().expect("BATCHES"));
    std::fs::create_dir_all(&dir).expect("create DIR");

    let net = Digits::from_params(std::array::from_fn(|k| param(k, SCALE)));
    let xs: Vec<[f64; I]> = (0..BATCH)
        .map(|s| std::array::from_fn(|i| input(s, i, I)))
        .collect();
    let ts: Vec<[f64; O]> = (0..BATCH)
        .map(|s| std::array::from_fn(|c| if c == class(s) { 1.0 } else { 0.0 }))
        .collect();
    let v: [f64; P] = std::array::from_fn(tangent);

    // Values for the agreement check: sample 0's Jacobian and hvp, the batch sum.
    let jac = net.input_jacobian(&xs[0]);
    write_f64(&dir.join("digits_jac.f64"), jac.iter().flatten().copied());
    let mut out = [0.0; P];
    let loss0 = net.hvp(&xs[0], &ts[0], &v, &mut out);
    write_f64(
        &dir.join("digits_hvp.f64"),
        out.iter().copied().chain([loss0]),
    );
    let mut sum = [0.0; P];
    for s in 0..BATCH {
        net.hvp(&xs[s], &ts[s], &v, &mut out);
        sum.iter_mut().zip(&out).for_each(|(a, b)| *a += b);
    }
    write_f64(&dir.join("digits_hvpsum.f64"), sum.iter().copied());

    let jac_ns = median_ns(batches, BATCH, |s| {
        bb(net.input_jacobian(bb(&xs[s])));
    });
    let hvp_ns = median_ns(batches, BATCH, |s| {
        bb(net.hvp(bb(&xs[s]), bb(&ts[s]), bb(&v), &mut out));
        bb(&mut out);
    });
    let sum_ns = median_ns(batches, 1, |_| {
        sum = [0.0; P];
        for s in 0..BATCH {
            net.hvp(bb(&xs[s]), bb(&ts[s]), bb(&v), &mut out);
            sum.iter_mut().zip(&out).for_each(|(a, b)| *a += b);
        }
        bb(&mut sum);
    });
    println!(
        "{{\"net\":\"digits\",\"params\":{P},\"batches\":{batches},\"jac_ns\":{jac_ns:.1},\"hvp_ns\":{hvp_ns:.1},\"hvp_sum256_ns\":{sum_ns:.1}}}"
    );
}
