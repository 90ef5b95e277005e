//! The tensor path (matrix-calculus nodes emitted as loops) against the scalar path
//! (everything unrolled), central finite differences, hand-derived gradients, and the
//! heap-friendly API on a network too big for a test thread's stack.
//!
//! The same DSL body is compiled twice: `#[symnn(tensor_threshold = 1000000)]` keeps
//! every operation scalar, the default (or `= 0`) sends the layers to the tensor path.
#![allow(clippy::needless_range_loop, non_snake_case)]

use symnn::{network, Model};

macro_rules! twins {
    ($scalar:ident, $tensor:ident, $forced:ident, { $($body:tt)* }) => {
        network! {
            #[symnn(tensor_threshold = 1000000)]
            pub struct $scalar { $($body)* }
        }
        network! {
            pub struct $tensor { $($body)* }
        }
        network! {
            #[symnn(tensor_threshold = 0)]
            pub struct $forced { $($body)* }
        }
    };
}

twins!(Mid16Scalar, Mid16Tensor, Mid16Forced, {
    input x[16];
    target t[4];
    let h1 = dense(x, 32, tanh);
    let h2 = dense(h1, 32, relu);
    output z = dense(h2, 4, identity);
    loss = cross_entropy(z, t);
});

twins!(Wide64Scalar, Wide64Tensor, Wide64Forced, {
    input x[64];
    target t[10];
    let h = dense(x, 32, sigmoid);
    output z = dense(h, 10, identity);
    loss = cross_entropy(z, t);
});

twins!(SharedScalar, SharedTensor, SharedForced, {
    // One `fn` at two points and a matrix applied twice: each weight's gradient is a
    // sum of outer products (written term by term).
    input x[2], xb[2];
    target t[1];
    param W1[20][2], b1[20], W2[20][20], b2[20], W4[1][20], b4;
    fn u(z[2]) = sum(W4 * tanh(W2 * tanh(W2 * tanh(W1 * z + b1) + b2) + b2)) + b4;
    output y = u(x);
    loss = sq(u(x) - t[0]) + sq(u(xb));
});

/// Deterministic points in [-1, 1).
fn points(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = symnn::init::SplitMix64::new(seed);
    (0..n).map(|_| rng.symmetric(1.0)).collect()
}

fn assert_rel(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-300);
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * scale,
            "{what}[{k}]: {x} vs {y} (relative to {scale})"
        );
    }
}

/// Every public method of `A` and `B` agrees to 1e-12 relative at several points,
/// from the same parameters, and over 10 SGD steps.
fn same_network<A: Model<Float = f64>, B: Model<Float = f64>>(seed: u64) {
    let (i, t) = (A::NUM_INPUTS, A::NUM_TARGETS);
    let mut a = A::with_seed_boxed(seed);
    let mut b = B::from_params_boxed(a.params());
    assert_eq!(A::param_names(), B::param_names());
    for k in 0..5 {
        let x = points(i, seed * 100 + k);
        // A probability vector as the target (cross-entropy's usual input).
        let mut target: Vec<f64> = points(t, seed * 200 + k).iter().map(|v| v.abs()).collect();
        let s: f64 = target.iter().sum();
        target.iter_mut().for_each(|v| *v /= s);
        let (mut oa, mut ob) = (vec![0.0; A::NUM_OUTPUTS], vec![0.0; B::NUM_OUTPUTS]);
        a.forward_slice(&x, &mut oa);
        b.forward_slice(&x, &mut ob);
        assert_rel("forward", &oa, &ob, 1e-12);
        assert_rel(
            "loss",
            &[a.loss_slice(&x, &target)],
            &[b.loss_slice(&x, &target)],
            1e-12,
        );
        let (mut ga, mut gb) = (vec![0.0; A::NUM_PARAMS], vec![0.0; B::NUM_PARAMS]);
        let la = a.gradient_into_slice(&x, &target, &mut ga);
        let lb = b.gradient_into_slice(&x, &target, &mut gb);
        assert_rel("gradient loss", &[la], &[lb], 1e-12);
        assert_rel("gradient", &ga, &gb, 1e-12);
        assert!(
            ga.iter().any(|&g| g != 0.0),
            "a gradient that is all zero tests nothing"
        );
    }
    for step in 0..10 {
        let x = points(i, 7000 + step);
        let mut target = vec![0.0; t];
        target[(step as usize) % t] = 1.0;
        let la = a.sgd_step_slice(&x, &target, 0.05);
        let lb = b.sgd_step_slice(&x, &target, 0.05);
        assert_rel("sgd_step loss", &[la], &[lb], 1e-12);
        assert_rel("params after sgd_step", a.params(), b.params(), 1e-12);
    }
}

#[test]
fn tensor_path_equals_scalar_path_on_16_32_32_4() {
    same_network::<Mid16Scalar, Mid16Tensor>(1);
    same_network::<Mid16Scalar, Mid16Forced>(2);
}

#[test]
fn shared_weights_write_their_gradient_term_by_term() {
    same_network::<SharedScalar, SharedTensor>(5);
    same_network::<SharedScalar, SharedForced>(6);
    // The batch block (two GEMM updates per shared weight) against one sample at a
    // time.
    let net = SharedTensor::with_seed_boxed(7);
    let n = 45;
    let (x, t) = (points(n * 4, 8), points(n, 9));
    let mut one = vec![0.0; SharedTensor::NUM_PARAMS];
    let mut loss = 0.0;
    for s in 0..n {
        loss += net.accumulate_gradient_slice(&x[s * 4..s * 4 + 4], &t[s..=s], &mut one);
    }
    let mut batch = vec![0.0; SharedTensor::NUM_PARAMS];
    let batch_loss = net.accumulate_gradient_batch_slice(&x, &t, &mut batch);
    assert_rel("batch loss", &[batch_loss], &[loss], 1e-12);
    assert_rel("batch gradient", &batch, &one, 1e-12);
}

#[test]
fn tensor_path_equals_scalar_path_on_64_32_10() {
    same_network::<Wide64Scalar, Wide64Tensor>(3);
    same_network::<Wide64Scalar, Wide64Forced>(4);
}

#[test]
fn the_default_threshold_sends_these_layers_to_the_tensor_path() {
    assert!(Wide64Tensor::derivation().contains("h.weight · x"));
    // One matrix formula per group instead of one line per parameter.
    assert!(Wide64Tensor::derivation().lines().count() < 200);
    // The derivation is a view: the scalar twin prints the same matrix formulas
    // (docs/DSL.md, "Inspecting a network"), past its first line (the name).
    let body = |d: &'static str| d.split_once('\n').map(|(_, rest)| rest);
    assert_eq!(
        body(Wide64Scalar::derivation()),
        body(Wide64Tensor::derivation())
    );
    assert!(Wide64Tensor::derivation().contains("dL/dh.weight = δ"));
    assert!(!Wide64Tensor::derivation().contains("dL/dh.weight["));
}

/// Central differences of the loss against `gradient_into_slice`.
fn finite_differences<M: Model<Float = f64>>(seed: u64) {
    let net = M::with_seed_boxed(seed);
    let x = points(M::NUM_INPUTS, seed + 1);
    let mut target = vec![0.0; M::NUM_TARGETS];
    target[1] = 1.0;
    let mut grad = vec![0.0; M::NUM_PARAMS];
    net.gradient_into_slice(&x, &target, &mut grad);
    let mut probe = M::from_params_boxed(net.params());
    let h = 1e-6;
    // Every 7th parameter: weights and biases of every layer.
    for k in (0..M::NUM_PARAMS).step_by(7) {
        let p = net.params()[k];
        probe.params_mut()[k] = p + h;
        let up = probe.loss_slice(&x, &target);
        probe.params_mut()[k] = p - h;
        let down = probe.loss_slice(&x, &target);
        probe.params_mut()[k] = p;
        let fd = (up - down) / (2.0 * h);
        assert!(
            (fd - grad[k]).abs() <= 1e-6 * (1.0 + fd.abs()),
            "{}: finite difference {fd}, gradient {}",
            M::param_names()[k],
            grad[k]
        );
    }
}

#[test]
fn tensor_gradients_equal_central_finite_differences() {
    finite_differences::<Mid16Tensor>(5);
    finite_differences::<Wide64Tensor>(6);
    finite_differences::<Wide64Forced>(7);
}

// Seed 002's style: transposed products written both ways, tanh, and a squared
// residual of `V.T * q`, forced through the tensor path.
network! {
    #[symnn(tensor_threshold = 0)]
    pub struct Seed002Style {
        input x[3];
        target y[2];
        param W[3][4] = [[0.1, -0.2, 0.3, 0.05], [0.4, 0.1, -0.3, 0.2], [-0.1, 0.25, 0.2, -0.4]];
        param V[4][2] = [[0.3, -0.1], [0.2, 0.4], [-0.5, 0.1], [0.15, -0.25]];
        let q = tanh(transpose(W) * x);
        let r = tanh(W.T * x);
        output o = V.T * q;
        loss = sum(sq(V.T * q - y)) + 0.5 * sum(sq(r - q));
    }
}

/// The same network by hand: `q = tanh(Wᵀx)`, `o = Vᵀq`, `L = Σ (o − y)²` (the second
/// term is zero: `r = q`), `dL/dV[i][j] = 2(o_j − y_j) q_i`,
/// `dL/dW[k][i] = Σ_j 2(o_j − y_j) V[i][j] (1 − q_i²) x_k`.
#[test]
fn seed_002_style_transposes_match_the_hand_derived_gradient() {
    let net = Seed002Style::new();
    assert!(
        Seed002Style::derivation().contains("Wᵀ · x"),
        "{}",
        Seed002Style::derivation()
    );
    let (x, y) = ([0.5, -1.0, 2.0], [0.25, -0.5]);
    let p = &net.params;
    let w = |k: usize, i: usize| p[k * 4 + i];
    let v = |i: usize, j: usize| p[12 + i * 2 + j];
    let q: Vec<f64> = (0..4)
        .map(|i| (0..3).map(|k| w(k, i) * x[k]).sum::<f64>().tanh())
        .collect();
    let o: Vec<f64> = (0..2)
        .map(|j| (0..4).map(|i| v(i, j) * q[i]).sum())
        .collect();
    let loss: f64 = (0..2).map(|j| (o[j] - y[j]).powi(2)).sum();
    let mut grad = vec![0.0; 20];
    for i in 0..4 {
        for j in 0..2 {
            grad[12 + i * 2 + j] = 2.0 * (o[j] - y[j]) * q[i];
        }
        let back: f64 = (0..2).map(|j| 2.0 * (o[j] - y[j]) * v(i, j)).sum();
        for k in 0..3 {
            grad[k * 4 + i] = back * (1.0 - q[i] * q[i]) * x[k];
        }
    }
    assert_rel("forward", &net.forward(&x), &o, 1e-14);
    let (l, g) = net.gradient(&x, &y);
    assert_rel("loss", &[l], &[loss], 1e-14);
    assert_rel("gradient", &g, &grad, 1e-13);
}

// 784-128-10 in f64: 101,770 parameters, 814 KB.
network! {
    pub struct Mnist64 {
        input x[784];
        target t[10];
        let h = dense(x, 128, relu);
        output z = dense(h, 10, identity);
        loss = cross_entropy(z, t);
    }
}

/// The boxed constructors and `gradient_into` on a thread with a 2 MiB stack (the
/// size of a test thread's or a rayon worker's): nothing of the network's size is
/// ever on the stack. (`Mnist64::new()` by value would need the 814 KB array there,
/// and several copies of it in a debug build.)
#[test]
fn a_784_128_10_net_trains_on_a_2_mib_stack_through_the_boxed_api() {
    let worker = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            assert_eq!(Mnist64::NUM_PARAMS, 784 * 128 + 128 + 10 * 128 + 10);
            let mut net = Mnist64::with_seed_boxed(3);
            let copy = Mnist64::from_params_boxed(&net.params);
            assert!(copy.params[..] == net.params[..]);
            let x: Vec<f64> = points(784, 9).iter().map(|v| v.abs()).collect();
            let x: &[f64; 784] = x.as_slice().try_into().expect("784 inputs");
            let mut t = [0.0; 10];
            t[3] = 1.0;
            let mut grad = vec![0.0; Mnist64::NUM_PARAMS];
            let grad: &mut [f64; Mnist64::NUM_PARAMS] =
                grad.as_mut_slice().try_into().expect("P gradients");
            let before = net.gradient_into(x, &t, grad);
            assert!(before.is_finite() && grad.iter().any(|&g| g != 0.0));
            for _ in 0..20 {
                net.sgd_step(x, &t, 0.05);
            }
            let after = net.loss(x, &t);
            assert!(after < 0.5 * before, "loss {before} -> {after}");
        })
        .expect("spawn");
    worker.join().expect("no stack overflow, no panic");
}
