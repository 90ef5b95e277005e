//! Every builtin and operator, differentiated by the macro, against central finite
//! differences of the generated `loss` (an independent reference: it only evaluates).
//! Points avoid the kinks of relu/abs/max, where finite differences are meaningless.
use symnn::{network, Model};

/// Central differences of `loss_slice` in every parameter vs `accumulate_gradient_slice`.
fn check_against_finite_differences<M: Model<Float = f64>>(net: &M, input: &[f64], target: &[f64]) {
    let mut grad = vec![0.0; M::NUM_PARAMS];
    let loss = net.accumulate_gradient_slice(input, target, &mut grad);
    assert!(loss.is_finite(), "loss {loss}");
    assert!((loss - net.loss_slice(input, target)).abs() <= 1e-12 * loss.abs().max(1.0));
    // The fused sgd_step is the simultaneous update params - lr * grad, every gradient
    // from the old parameters (its code interleaves writes with the backward pass).
    let lr = 0.01;
    let mut stepped = net.clone();
    let step_loss = stepped.sgd_step_slice(input, target, lr);
    assert!((step_loss - loss).abs() <= 1e-12 * loss.abs().max(1.0));
    for (k, (&after, &g)) in stepped.params().iter().zip(&grad).enumerate() {
        let want = net.params()[k] - lr * g;
        assert!(
            (after - want).abs() <= 1e-13 * want.abs().max(1.0),
            "sgd_step {}: {after} vs {want}",
            M::param_names()[k]
        );
    }
    for (k, &symbolic) in grad.iter().enumerate() {
        let h = 1e-6 * net.params()[k].abs().max(1.0);
        let mut plus = net.clone();
        plus.params_mut()[k] += h;
        let mut minus = net.clone();
        minus.params_mut()[k] -= h;
        let fd = (plus.loss_slice(input, target) - minus.loss_slice(input, target)) / (2.0 * h);
        let tol = 1e-6 * fd.abs().max(1.0);
        assert!(
            (fd - symbolic).abs() <= tol,
            "dL/d{}: symbolic {symbolic} vs finite difference {fd}",
            M::param_names()[k]
        );
    }
}

/// Defines a network with the given body and checks it at one input/target point.
macro_rules! gradient_test {
    ($(#[$attr:meta])* $test:ident, $input:expr, $target:expr, { $($body:tt)* }) => {
        #[test]
        fn $test() {
            network! { $(#[$attr])* struct Net { $($body)* } }
            for seed in 0..3 {
                let net = Net::with_seed(seed);
                check_against_finite_differences(&net, &$input, &$target);
            }
        }
    };
}

gradient_test!(add_sub_mul_div_neg, [0.7, -1.3], [0.2], {
    input x[2]; target t; param a = 0.9, b = -0.4, c = 1.7;
    output o = x;
    loss = -(a * x[0] + b) / (c - x[1] * a) - t * b + a * a / c;
});

gradient_test!(exp_ln_log_sqrt, [0.3], [], {
    input x; param a = 0.8, b = 1.3;
    output o = x;
    loss = exp(a * x) + ln(b + a) + log(b * b) * sqrt(a + 2.0);
});

gradient_test!(abs_sin_cos_tanh, [0.5], [], {
    input x; param a = 0.8, b = -1.1;
    output o = x;
    loss = abs(b) * sin(a * x) + cos(b) * tanh(a - b);
});

gradient_test!(sigmoid_relu_softplus_identity, [0.5], [], {
    input x; param a = 0.8, b = -1.1, c = 0.3;
    output o = x;
    loss = sigmoid(a * x) * relu(a + c) + relu(b) + softplus(b * a) + identity(c * c);
});

gradient_test!(leaky_relu_both_sides, [0.5], [], {
    input x; param a = 0.8, b = -1.1, s = 0.1;
    output o = x;
    loss = leaky_relu(a * x, s) + leaky_relu(b, s) * a + leaky_relu(b, 0.01);
});

gradient_test!(sq_powi_pow, [0.5], [], {
    input x; param a = 0.8, b = 1.6;
    output o = x;
    loss = sq(a - x) + powi(b, 3) + powi(a, -2) + pow(b, a) + pow(a, 2.5);
});

gradient_test!(max_min, [0.5], [], {
    input x; param a = 0.8, b = 1.6, c = -0.2;
    output o = x;
    loss = max(a, b) * min(a, c) + max(c, x) + min(b * a, 2.0);
});

gradient_test!(method_forms, [0.5], [], {
    input x; param a = 0.8, b = 1.6;
    output o = x;
    loss = a.tanh() + b.powi(2) * x + a.max(b) + (a * b).sigmoid().ln() + b.exp().sqrt();
});

gradient_test!(sum_mean_dot, [0.5, -0.2, 1.5], [], {
    input x[3]; param v[3] = [0.3, -0.7, 1.1], m[2][3];
    output o = x;
    loss = sum(v * x) + mean(m) * dot(v, x) + sum((m + 1.0) / (m * 0.5 + 3.0)) + mean(v);
});

gradient_test!(softmax_log_softmax, [0.5, -0.2, 1.5], [], {
    input x[3]; param v[3] = [0.3, -0.7, 1.1];
    let p = softmax(v * x);
    let l = log_softmax(v + x);
    output o = x;
    loss = p[0] * 2.0 - p[2] + l[1] * l[0];
});

gradient_test!(matrix_vector_and_transpose, [0.5, -0.2, 1.5], [0.1, 0.2], {
    input x[3]; target t[2]; param W[2][3], U[3][2], b[2] = 0.1;
    let y = W * x + b;
    let z = U.T * tanh(U * y);
    let k = transpose(W) * y;
    output o = x;
    loss = mse(y, t) + sum(z) * 0.3 + dot(k, x);
});

gradient_test!(matrix_matrix, [0.5, -0.2, 1.5, 0.4], [], {
    input X[2][2]; param A[2][2], B[2][2] = [[1.0, 0.5], [-0.3, 0.8]];
    let C = A * X * B;
    output o = X;
    loss = sum(C * C) + C[0][1] - sum(C[1]);
});

gradient_test!(dense_layers_all_activations, [0.5, -0.2], [1.0, 0.0, 0.0], {
    input x[2]; target t[3];
    fn swish(u) = u * sigmoid(u);
    let h1 = dense(x, 4, tanh);
    let h2 = dense(h1, 4, sigmoid);
    let h3 = dense(h2, 4, softplus);
    let h4 = dense(h3, 3, swish);
    output y = dense(h4, 3, identity);
    loss = cross_entropy(y, t);
});

gradient_test!(losses_mse_bce_bce_logits, [0.5, -0.2], [1.0, 0.0], {
    input x[2]; target t[2]; param w[2] = [0.4, -0.6], b = 0.2;
    let z = w * x + b;
    output o = x;
    loss = mse(z, t) + bce(sigmoid(z), t) + bce_logits(z, t) + bce(sigmoid(z[0]) * 0.5 + 0.25, t[0]);
});

gradient_test!(user_fn_loops_and_mutation, [0.5, -0.2, 0.9], [0.3], {
    input x[3]; target t; param w[3] = [0.2, 0.4, -0.5], c = 0.1;
    fn gauss(u, s) = exp(-(u * u) / (2.0 * s * s));
    let mut acc = c;
    for i in 0..3 {
        acc += w[i] * x[i];
    }
    let mut z = [0.0, 0.0];
    for i in 0..2 {
        z[i] = gauss(w[i + 1] - x[i], 0.8) * i;
    }
    for _ in 0..=1 {
        acc = acc * 0.9;
    }
    output o = x;
    loss = sq(acc - t) + sum(z);
});

gradient_test!(handwritten_sigmoid_fn_and_bce, [0.35, 0.9], [1.0], {
    input x1, x2; target y; param w0 = 0.1, w1 = 0.2, w2 = 0.8;
    fn s(u) = 1.0 / (1.0 + exp(-u));
    output f = s(x1 * w1 + x2 * w2 + w0);
    loss = -(y * ln(f) + (1.0 - y) * ln(1.0 - f));
});

#[test]
fn unused_param_gets_zero_gradient_and_stays_put() {
    network! {
        struct Net { input x; target t; param a = 0.5, unused = 3.0; output y = a * x; loss = sq(y - t); }
    }
    let mut net = Net::new();
    let (_, g) = net.gradient(&[2.0], &[0.0]);
    assert_eq!(g[1], 0.0);
    assert_eq!(g[0], 2.0 * (0.5 * 2.0) * 2.0);
    net.sgd_step(&[2.0], &[0.0], 0.1);
    assert_eq!(net.params[1], 3.0);
}

#[test]
fn hand_derived_gradient_of_a_two_layer_net() {
    // y = v . tanh(W x + b), L = (y - t)^2 / 2; by hand:
    // dL/dv_i = (y - t) h_i, dL/db_i = (y - t) v_i (1 - h_i^2), dL/dW_ij = dL/db_i x_j.
    network! {
        struct Net {
            input x[2]; target t;
            param W[2][2] = [[0.3, -0.2], [0.5, 0.7]], b[2] = [0.1, -0.1], v[2] = [1.5, -0.8];
            let h = tanh(W * x + b);
            output y = dot(v, h);
            loss = 0.5 * sq(y - t);
        }
    }
    let net = Net::new();
    let (x, t) = ([0.4, -1.2], 0.25);
    let (w, b, v): ([[f64; 2]; 2], [f64; 2], [f64; 2]) =
        ([[0.3, -0.2], [0.5, 0.7]], [0.1, -0.1], [1.5, -0.8]);
    let h: Vec<f64> = (0..2)
        .map(|i| (w[i][0] * x[0] + w[i][1] * x[1] + b[i]).tanh())
        .collect();
    let y = v[0] * h[0] + v[1] * h[1];
    let e = y - t;
    let db: Vec<f64> = (0..2).map(|i| e * v[i] * (1.0 - h[i] * h[i])).collect();
    let expected = [
        db[0] * x[0],
        db[0] * x[1],
        db[1] * x[0],
        db[1] * x[1],
        db[0],
        db[1],
        e * h[0],
        e * h[1],
    ];
    let (loss, grad) = net.gradient(&x, &[t]);
    assert!((loss - 0.5 * e * e).abs() < 1e-15);
    for (k, (g, want)) in grad.iter().zip(expected).enumerate() {
        assert!(
            (g - want).abs() < 1e-14,
            "{}: {g} vs {want}",
            Net::PARAM_NAMES[k]
        );
    }
}

gradient_test!(parameter_products, [0.7], [0.2], {
    input x; target t; param a = 0.9, b = -0.4, c = 1.7;
    output o = a * b;
    // Single-product gradients (dL/da = 2(ab - x) b, ...) are what the fused update
    // rewrites as (lr * adjoint) * factor; they must still read old parameters.
    loss = sq(a * b - x) + tanh(c) * t;
});

// Large enough (524 params, > 1000 instructions) for the emitter's array mode and the
// unfused sgd_step, which small nets never reach (kept scalar: with the default
// threshold these layers are tensor nodes; `tensor_layer` below is that case).
gradient_test!(#[symnn(tensor_threshold = 100000)] array_mode_wide_layer, [0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8], [0.0, 1.0, 0.0, 0.0], {
    input x[8]; target t[4];
    let h = dense(x, 40, tanh);
    output y = dense(h, 4, identity);
    loss = cross_entropy(y, t);
});

gradient_test!(tensor_layer, [0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8], [0.0, 1.0, 0.0, 0.0], {
    input x[8]; target t[4];
    let h = dense(x, 40, tanh);
    output y = dense(h, 4, identity);
    loss = cross_entropy(y, t);
});

#[test]
fn array_mode_is_used_for_the_wide_layer() {
    // (Kept scalar: with the default threshold these layers are tensor nodes.)
    let tokens: proc_macro2::TokenStream = quote::quote! {
        #[symnn(tensor_threshold = 100000)]
        struct Wide {
            input x[8]; target t[4];
            let h = dense(x, 40, tanh);
            output y = dense(h, 4, identity);
            loss = cross_entropy(y, t);
        }
    };
    let code = symnn_codegen::expand(tokens).to_string();
    assert!(
        code.contains("let mut __t"),
        "expected the temporaries array"
    );
    assert!(
        code.contains("Self :: gradient"),
        "expected the unfused sgd_step"
    );
}
