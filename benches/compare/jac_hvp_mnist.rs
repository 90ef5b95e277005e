//! `jac_hvp.rs` for `examples/mnist.rs`'s 784-128-10 ReLU / sparse softmax
//! cross-entropy network, f32 (101,770 parameters). Same formulas (parameter scale
//! 0.05), same JSON line, files DIR/mnist_*.f64.
//!
//! ```text
//! cargo build --release --features compare --example jac_hvp_mnist_compare
//! jac_hvp_mnist_compare DIR [BATCHES]
//! ```

#[path = "jac_hvp_common.rs"]
mod common;

use common::*;
use symnn::network;

network! {
    /// 784-128-10 classifier for 28x28 digits: one ReLU hidden layer, logits out.
    pub struct MnistNet {
        type Float = f32;
        input x[784];
        target k;                     // the class, 0..=9
        let h = dense(x, 128, relu);
        output z = dense(h, 10, identity);
        loss = sparse_cross_entropy(z, k);
    }
}

const I: usize = 784;
const P: usize = MnistNet::NUM_PARAMS;
const SCALE: f64 = 0.05;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(
        args.next()
            .expect("usage: jac_hvp_mnist_compare DIR [BATCHES]"),
    );
    let batches: usize = args.next().map_or(21, |s| s.parse().expect("BATCHES"));
    std::fs::create_dir_all(&dir).expect("create DIR");

    let params: Vec<f32> = (0..P).map(|k| param(k, SCALE) as f32).collect();
    let net = Box::new(MnistNet::from_params(params.try_into().expect("P params")));
    let xs: Vec<[f32; I]> = (0..BATCH)
        .map(|s| std::array::from_fn(|i| input(s, i, I) as f32))
        .collect();
    let ts: Vec<[f32; 1]> = (0..BATCH).map(|s| [class(s) as f32]).collect();
    let v: Box<[f32; P]> = (0..P)
        .map(|k| tangent(k) as f32)
        .collect::<Vec<_>>()
        .try_into()
        .expect("P");
    let mut out: Box<[f32; P]> = vec![0.0f32; P].try_into().expect("P");
    let mut sum: Box<[f32; P]> = vec![0.0f32; P].try_into().expect("P");

    let jac = net.input_jacobian(&xs[0]);
    write_f64(
        &dir.join("mnist_jac.f64"),
        jac.iter().flatten().map(|&x| x as f64),
    );
    let loss0 = net.hvp(&xs[0], &ts[0], &v, &mut out);
    write_f64(
        &dir.join("mnist_hvp.f64"),
        out.iter().map(|&x| x as f64).chain([loss0 as f64]),
    );
    for s in 0..BATCH {
        net.hvp(&xs[s], &ts[s], &v, &mut out);
        sum.iter_mut().zip(out.iter()).for_each(|(a, b)| *a += b);
    }
    write_f64(&dir.join("mnist_hvpsum.f64"), sum.iter().map(|&x| x as f64));

    let jac_ns = median_ns(batches, BATCH, |s| {
        bb(net.input_jacobian(bb(&xs[s])));
    });
    let hvp_ns = median_ns(batches, BATCH, |s| {
        bb(net.hvp(bb(&xs[s]), bb(&ts[s]), bb(&v), &mut out));
        bb(&mut out);
    });
    let sum_ns = median_ns(batches, 1, |_| {
        sum.fill(0.0);
        for s in 0..BATCH {
            net.hvp(bb(&xs[s]), bb(&ts[s]), bb(&v), &mut out);
            sum.iter_mut().zip(out.iter()).for_each(|(a, b)| *a += b);
        }
        bb(&mut sum);
    });
    println!(
        "{{\"net\":\"mnist\",\"params\":{P},\"batches\":{batches},\"jac_ns\":{jac_ns:.1},\"hvp_ns\":{hvp_ns:.1},\"hvp_sum256_ns\":{sum_ns:.1}}}"
    );
}
