//! symnn networks trained in a `#![no_std]` crate with no allocator: the embedded
//! build, checked by `cargo build -p symnn-nostd` (CI). The crate depends on `symnn`
//! with `default-features = false, features = ["libm"]`, so neither std nor `alloc`
//! is linked: any `std::` or `alloc::` path in the code `network!` generates, or in the
//! runtime's core, fails to compile here. See `docs/EMBEDDED.md`.
//!
//! The tests (in `tests/`, ordinary std binaries) check that these networks train,
//! that training allocates nothing, and that the results match the std build's.
#![no_std]

use symnn::{network, Adam, Model, Optimizer};

network! {
    /// Seed 003's 2-2-1 sigmoid classifier with one shared bias and a BCE loss, in `f32`.
    pub struct Seed003 {
        type Float = f32;
        input x1, x2;
        target y;
        param w0 = 0.1, w13 = 0.2, w14 = 0.8, w23 = 0.6, w24 = 0.4, w35 = 0.1, w45 = 0.5;
        let f3 = sigmoid((x1 * w13 + w0) + (x2 * w23 + w0));
        let f4 = sigmoid((x1 * w14 + w0) + (x2 * w24 + w0));
        output f5 = sigmoid((f3 * w35 + w0) + (f4 * w45 + w0));
        loss = -(y * ln(f5) + (1.0 - y) * ln(1.0 - f5));
    }
}

network! {
    /// 2-8-8-1 tanh MLP with MSE, in `f32` (straight-line code).
    pub struct Mlp {
        type Float = f32;
        input x[2];
        target t[1];
        let h1 = dense(x, 8, tanh);
        let h2 = dense(h1, 8, tanh);
        output y = dense(h2, 1, identity);
        loss = mse(y, t);
    }
}

network! {
    /// 64-32-10 sigmoid classifier with softmax cross-entropy, in `f32` (the tensor
    /// tier: loops over `symnn::kernels` and, in the batch methods, `symnn::gemm`).
    pub struct Wide {
        type Float = f32;
        input x[64];
        target t[10];
        let h = dense(x, 32, sigmoid);
        output z = dense(h, 10, identity);
        loss = cross_entropy(z, t);
    }
}

/// XOR as 2-input, 1-target samples.
pub const XOR: [([f32; 2], [f32; 1]); 4] = [
    ([0.0, 0.0], [0.0]),
    ([0.0, 1.0], [1.0]),
    ([1.0, 0.0], [1.0]),
    ([1.0, 1.0], [0.0]),
];

/// Plain SGD, one sample at a time (each network's fused `sgd_step`): `epochs` passes
/// over `data`. Returns the mean loss of the last pass (before each step). Allocates
/// nothing.
pub fn train_sgd<M: Model<Float = f32>>(
    net: &mut M,
    data: &[([f32; 2], [f32; 1])],
    epochs: usize,
    lr: f32,
) -> f32 {
    let mut mean = 0.0;
    for _ in 0..epochs {
        let mut sum = 0.0;
        for (x, t) in data {
            sum += net.sgd_step_slice(x, t, lr);
        }
        mean = sum / count(data.len());
    }
    mean
}

/// Full-batch Adam: per epoch, the mean gradient of `data` (accumulated into a stack
/// array of `P` values) and one step of `opt`, whose state is two more `[f32; P]`.
/// `P` must be the model's `NUM_PARAMS`. Returns the mean loss of the last epoch
/// (before its step). Allocates nothing.
///
/// # Panics
/// If `P != M::NUM_PARAMS`.
pub fn train_adam<M: Model<Float = f32>, const P: usize>(
    net: &mut M,
    opt: &mut Adam<f32, [f32; P]>,
    data: &[([f32; 2], [f32; 1])],
    epochs: usize,
) -> f32 {
    assert_eq!(
        P,
        M::NUM_PARAMS,
        "the gradient array must hold NUM_PARAMS values"
    );
    let mut grad = [0.0_f32; P];
    let mut mean = 0.0;
    let n = count(data.len());
    for _ in 0..epochs {
        grad.fill(0.0);
        let mut sum = 0.0;
        for (x, t) in data {
            sum += net.accumulate_gradient_slice(x, t, &mut grad);
        }
        for g in &mut grad {
            *g /= n;
        }
        opt.step(net.params_mut(), &grad);
        mean = sum / n;
    }
    mean
}

/// The mean loss over `data`.
pub fn mean_loss<M: Model<Float = f32>>(net: &M, data: &[([f32; 2], [f32; 1])]) -> f32 {
    data.iter().map(|(x, t)| net.loss_slice(x, t)).sum::<f32>() / count(data.len())
}

/// `n` as `f32` (data sets here are tiny).
fn count(n: usize) -> f32 {
    u16::try_from(n).map_or(f32::MAX, f32::from)
}
