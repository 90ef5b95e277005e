//! The whole DSL surface of SPEC §1–2, one small network per feature, each checked
//! against values computed by hand in the test.
use symnn::{network, Model};

network! {
    /// Mixed input shapes, matrix literal params, matrix output.
    #[allow(dead_code)]
    pub(crate) struct Shapes {
        input a, v[3], m[2][2];
        target t[2][2];
        param W[2][2] = [[1.0, 0.5], [0.0, 1.0]], b[2] = 0.25, s = 2.0;
        output Y = W * m * s + a;
        loss = mse(Y, t) + sum(v) * 0.0 + mean(b);
    }
}

#[test]
fn shapes_flatten_row_major_in_declaration_order() {
    assert_eq!(
        (
            Shapes::NUM_INPUTS,
            Shapes::NUM_TARGETS,
            Shapes::NUM_OUTPUTS,
            Shapes::NUM_PARAMS
        ),
        (8, 4, 4, 7)
    );
    assert_eq!(
        Shapes::PARAM_NAMES,
        ["W[0][0]", "W[0][1]", "W[1][0]", "W[1][1]", "b[0]", "b[1]", "s"]
    );
    let net = Shapes::new();
    assert_eq!(net.params, [1.0, 0.5, 0.0, 1.0, 0.25, 0.25, 2.0]);
    // input = [a, v0, v1, v2, m00, m01, m10, m11]
    let y = net.forward(&[1.0, 9.0, 9.0, 9.0, 1.0, 2.0, 3.0, 4.0]);
    // W*m = [[1 + 1.5, 2 + 2], [3, 4]]; *2 + 1
    assert_eq!(y, [6.0, 9.0, 7.0, 9.0]);
    let loss = net.loss(
        &[1.0, 9.0, 9.0, 9.0, 1.0, 2.0, 3.0, 4.0],
        &[6.0, 9.0, 7.0, 8.0],
    );
    assert!((loss - (0.25 + 0.25)).abs() < 1e-15); // mse = 1/4, mean(b) = 0.25
}

network! {
    /// No inputs and no targets: forward(&[]).
    struct NoData {
        param w = 3.0;
        output y = w * w;
        loss = sq(w - 1.0);
    }
}

#[test]
fn networks_without_inputs_or_targets() {
    let mut net = NoData::new();
    assert_eq!(net.forward(&[]), [9.0]);
    assert_eq!(net.gradient(&[], &[]), (4.0, [4.0]));
    for _ in 0..200 {
        net.sgd_step(&[], &[], 0.1);
    }
    assert!((net.params[0] - 1.0).abs() < 1e-12);
}

network! {
    /// Loops with the variable in indices, `let mut`, element assignment, `for _`.
    struct Loops {
        input x[4];
        param w[4] = [1.0, 2.0, 3.0, 4.0];
        let mut prefix = [0.0, 0.0, 0.0, 0.0];
        prefix[0] = w[0] * x[0];
        for i in 0..3 {
            prefix[i + 1] = prefix[i] + w[i + 1] * x[i + 1];
        }
        let mut z = 1.0;
        for _ in 0..3 {
            z = z * 2.0;
        }
        let mut m = [[0.0, 0.0], [0.0, 0.0]];
        for i in 0..2 {
            for j in 0..=1 {
                m[i][j] = x[2 * i + j] * (i + j);
            }
        }
        output y = [prefix[3], z, sum(m)];
        loss = sum(y);
    }
}

#[test]
fn loops_unroll_with_indices_and_mutation() {
    let net = Loops::new();
    let y = net.forward(&[1.0, 1.0, 1.0, 2.0]);
    // prefix[3] = 1 + 2 + 3 + 8; z = 8; m = [[0, 1], [1, 4]]
    assert_eq!(y, [14.0, 8.0, 6.0]);
    let (_, g) = net.gradient(&[1.0, 1.0, 1.0, 2.0], &[]);
    assert_eq!(g, [1.0, 1.0, 1.0, 2.0]);
}

network! {
    /// Functions: multi-argument fns, fns as dense activations, method forms.
    struct Functions {
        input x[2];
        target t;
        fn lerp(a, b, u) = a + (b - a) * u;
        fn swish(u) = u * sigmoid(u);
        let h = dense(x, 3, swish);
        let k = lerp(x[0], x[1], 0.25);
        output y = sum(h) * 0.0 + k.powi(2) + x[0].max(x[1]) + x[0].min(x[1]) + x.sum();
        loss = (y - t).abs();
    }
}

#[test]
fn functions_inline_and_method_forms() {
    let net = Functions::new();
    // k = 1 + (3 - 1) * 0.25 = 1.5; y = 2.25 + 3 + 1 + 4
    assert_eq!(net.forward(&[1.0, 3.0]), [10.25]);
    assert_eq!(Functions::PARAM_NAMES[0], "h.weight[0][0]");
    assert_eq!(Functions::PARAM_NAMES[8], "h.bias[2]");
    let (loss, grad) = net.gradient(&[1.0, 3.0], &[10.0]);
    assert_eq!(loss, 0.25);
    assert!(
        grad.iter().all(|g| *g == 0.0),
        "h only enters times 0: {grad:?}"
    );
}

network! {
    /// Transposes, rows, leaky_relu, powi with a negative exponent, literals like 1e-3.
    struct Algebra {
        input X[2][3];
        param v[2] = [1.0, -1.0];
        let Xt = X.T;
        let row = X[1];
        let u = transpose(Xt) * [1.0, 1.0, 1.0];
        output y = [dot(Xt * v, row), leaky_relu(-2.0, 1e-3), powi(2.0, -2), u[0]];
        loss = sum(y);
    }
}

#[test]
fn transposes_rows_and_literals() {
    let net = Algebra::new();
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    // Xt * v = col0 - col1 of X^T... = [1-4, 2-5, 3-6] = [-3,-3,-3]; row = [4,5,6] -> -45
    let y = net.forward(&x);
    assert_eq!(y, [-45.0, -0.002, 0.25, 6.0]);
}

network! {
    /// f32 everywhere, softmax output, cross-entropy from logits.
    struct Classifier32 {
        type Float = f32;
        input x[2];
        target t[3];
        param W[3][2] = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]];
        let z = W * x;
        output p = softmax(z);
        loss = cross_entropy(z, t);
    }
}

#[test]
fn f32_softmax_classifier() {
    let net = Classifier32::new();
    let p = net.forward(&[0.0, 0.0]);
    assert!(p.iter().all(|&pi| (pi - 1.0 / 3.0).abs() < 1e-7));
    let (loss, grad) = net.gradient(&[1.0, 2.0], &[0.0, 0.0, 1.0]);
    // z = [1, 2, 3]: loss = ln(e + e^2 + e^3) - 3
    let want = ((1.0f64).exp() + (2.0f64).exp() + (3.0f64).exp()).ln() - 3.0;
    assert!((f64::from(loss) - want).abs() < 1e-6);
    // dL/dW[i][j] = (p_i - t_i) x_j
    let s = (1.0f64).exp() + (2.0f64).exp() + (3.0f64).exp();
    let p: Vec<f64> = [1.0f64, 2.0, 3.0].iter().map(|z| z.exp() / s).collect();
    let want = [
        p[0],
        2.0 * p[0],
        p[1],
        2.0 * p[1],
        p[2] - 1.0,
        2.0 * (p[2] - 1.0),
    ];
    for (g, w) in grad.iter().zip(want) {
        assert!((f64::from(*g) - w).abs() < 1e-6, "{grad:?}");
    }
}

network! {
    /// Outputs that are leaves, and a param used only in the loss (a regulariser).
    struct Leaves {
        input x;
        target t;
        param w = 0.5, lambda = 0.1;
        output y = x;
        loss = sq(w * y - t) + lambda * sq(w);
    }
}

#[test]
fn leaf_outputs_and_regularisers() {
    let mut net = Leaves::new();
    assert_eq!(net.forward(&[7.0]), [7.0]);
    let (loss, g) = net.gradient(&[2.0], &[0.0]);
    assert_eq!(loss, 1.0 + 0.1 * 0.25);
    assert_eq!(g, [2.0 * 1.0 * 2.0 + 0.2 * 0.5, 0.25]);
    let before = net.params;
    let l = net.sgd_step(&[2.0], &[0.0], 0.5);
    assert_eq!(l, loss);
    assert_eq!(net.params, [before[0] - 0.5 * g[0], before[1] - 0.5 * g[1]]);
}

#[test]
fn initialisation_is_deterministic_and_documented() {
    network! {
        struct Init {
            input x[3];
            param M[4][3], v[5], c;
            let h = dense(x, 2, tanh);
            output y = sum(M * x) + sum(v) + c + sum(h);
            loss = sq(y);
        }
    }
    let (a, b, c) = (Init::new(), Init::new(), Init::with_seed(1));
    assert_eq!(a, b);
    assert_ne!(a, c);
    let glorot = (6.0f64 / 7.0).sqrt();
    assert!(a.params[..12].iter().all(|p| p.abs() <= glorot));
    assert!(a.params[12..18].iter().all(|p| p.abs() <= 0.1));
    let dense_bound = (6.0f64 / 5.0).sqrt();
    assert!(a.params[18..24].iter().all(|p| p.abs() <= dense_bound));
    assert_eq!(&a.params[24..26], &[0.0, 0.0], "dense biases start at zero");
    assert_eq!(Init::param_index("h.bias[1]"), Some(25));
    assert_eq!(Init::param_index("nope"), None);
    let groups: Vec<_> = Init::PARAM_GROUPS
        .iter()
        .map(|g| (g.name, g.shape.to_vec(), g.offset))
        .collect();
    assert_eq!(
        groups,
        [
            ("M", vec![4, 3], 0),
            ("v", vec![5], 12),
            ("c", vec![], 17),
            ("h.weight", vec![2, 3], 18),
            ("h.bias", vec![2], 24)
        ]
    );
    assert_eq!(<Init as Model>::param_names().len(), 26);
    assert_eq!(Init::default(), a);
    assert_eq!(Init::from_params(a.params), a);
}

#[test]
fn cost_and_derivation_describe_the_generated_code() {
    // Computed in the macro; the test reads them at run time like a user would.
    let (leaves, classifier) = (<Leaves as Model>::cost(), <Classifier32 as Model>::cost());
    assert_eq!(leaves.forward_ops, 0, "the output is the input itself");
    assert_eq!(classifier.forward_calls, 3, "three exps: {classifier:?}");
    assert!(classifier.gradient_ops > classifier.forward_ops);
    let d = Leaves::derivation();
    assert!(d.contains("dL/dw = "), "{d}");
    assert!(d.contains("dL/dlambda = "), "{d}");
    assert!(d.contains("loss:"), "{d}");
}

#[test]
fn model_trait_slices_match_arrays() {
    let net = Functions::new();
    let mut out = [0.0];
    net.forward_slice(&[1.0, 3.0], &mut out);
    assert_eq!(out, net.forward(&[1.0, 3.0]));
    let mut grad = vec![1.0; Functions::NUM_PARAMS];
    let loss = net.accumulate_gradient_slice(&[1.0, 3.0], &[10.0], &mut grad);
    assert_eq!(loss, net.loss_slice(&[1.0, 3.0], &[10.0]));
    assert!(grad.iter().all(|g| *g == 1.0));
    let (l2, o2) = net.loss_and_output(&[1.0, 3.0], &[10.0]);
    assert_eq!((l2, o2), (loss, out));
}

#[test]
#[should_panic(expected = "`input` has length 1 but the network expects 2")]
fn model_trait_names_wrong_lengths() {
    let net = Functions::new();
    net.loss_slice(&[1.0], &[0.0]);
}

network! {
    /// Elementwise losses broadcast a scalar target against a one-element output.
    struct ScalarTarget {
        input x[2];
        target t;
        param w[2] = [0.5, -0.5];
        output p = sigmoid([dot(w, x)]);
        loss = bce(p, t) + mse(p, 0.0);
    }
}

#[test]
fn losses_broadcast_scalars() {
    let net = ScalarTarget::new();
    let p = net.forward(&[1.0, 1.0])[0];
    assert_eq!(p, 0.5);
    let loss = net.loss(&[1.0, 1.0], &[1.0]);
    assert!((loss - (2.0f64.ln() + 0.25)).abs() < 1e-15, "{loss}");
}

network! {
    /// No parameters at all; constants that overflow f32; a folded non-finite constant.
    struct Constants32 {
        type Float = f32;
        input x;
        target t;
        output y = x * 1e40 + ln(0.0) * 0.0 + 1e-50;
        loss = sq(y - t) * 0.0 + min(x, 1e39);
    }
}

#[test]
fn constants_beyond_f32_and_networks_without_params() {
    assert_eq!(Constants32::NUM_PARAMS, 0);
    let mut net = Constants32::new();
    let y = net.forward(&[1.0])[0];
    assert!(y.is_nan(), "ln(0) * 0 is NaN, folded at compile time: {y}");
    // `expr * 0` is folded to 0 symbolically (documented), so the NaN does not reach
    // the loss; 1e39 rounds to +inf in f32.
    assert_eq!(net.loss(&[-2.0], &[0.0]), -2.0);
    assert_eq!(net.sgd_step(&[0.5], &[0.0], 0.1), 0.5);
    assert_eq!(net.gradient(&[0.5], &[0.0]).1.len(), 0);
}

network! {
    /// The loss is a bare parameter; a gradient is a bare parameter.
    struct BareLoss {
        param w = 3.0, v = 2.0;
        output y = w;
        loss = w;
    }
}

network! {
    struct BareGradient {
        param w = 3.0, v = 2.0;
        output y = w * v;
        loss = w * v;
    }
}

#[test]
fn bare_parameter_losses_and_gradients_update_simultaneously() {
    let mut net = BareLoss::new();
    assert_eq!(net.sgd_step(&[], &[], 0.5), 3.0, "the loss before the step");
    assert_eq!(net.params, [2.5, 2.0]);
    let mut net = BareGradient::new();
    assert_eq!(net.sgd_step(&[], &[], 0.5), 6.0);
    // dL/dw = v = 2, dL/dv = w = 3, both from the old values.
    assert_eq!(net.params, [2.0, 0.5]);
    let mut grad = [0.0; 2];
    assert_eq!(net.accumulate_gradient(&[], &[], &mut grad), 1.0);
    assert_eq!(grad, [0.5, 2.0]);
}

network! {
    /// Each gradient is a product with the *other* parameter.
    struct Product {
        param w = 3.0, v = 2.0;
        output y = w * v;
        loss = sq(w * v - 1.0);
    }
}

#[test]
fn fused_updates_read_only_old_parameters() {
    let mut net = Product::new();
    // dL/dw = 2 (wv - 1) v = 20, dL/dv = 2 (wv - 1) w = 30.
    assert_eq!(net.gradient(&[], &[]).1, [20.0, 30.0]);
    net.sgd_step(&[], &[], 0.01);
    assert_eq!(net.params, [3.0 - 0.2, 2.0 - 0.3]);
}
