//! Numerical stability: generated code stays finite (and right) wherever the true value
//! is finite — the SPEC's cases for |z| up to 700, in f64 and f32.
use symnn::network;

network! {
    /// A hand-written cross-entropy on a sigmoid: `ln(f)` and `ln(1 - f)` overflow to
    /// -inf in naive code once the sigmoid rounds to 0 or 1 (|z| > ~37 in f64).
    struct HandBce {
        input z; target y; param a = 1.0;
        output f = sigmoid(a * z);
        loss = -(y * ln(f) + (1.0 - y) * ln(1.0 - f));
    }
}

network! {
    /// The same with the sigmoid written out as the seed notebooks do.
    struct WrittenOutBce {
        input z; target y; param a = 1.0;
        fn s(u) = 1.0 / (1.0 + exp(-u));
        output f = s(a * z);
        loss = -(y * log(f) + (1.0 - y) * log(1.0 - f));
    }
}

network! {
    struct Builtins {
        input z; target y; param a = 1.0;
        output f = sigmoid(a * z);
        loss = bce(f, y) + bce_logits(a * z, y) + softplus(a * z) + softplus(-a * z);
    }
}

network! {
    struct Softmax {
        input z[3]; target t[3]; param a = 1.0;
        output p = softmax(a * z);
        loss = cross_entropy(a * z, t) - sum(t * log_softmax(a * z));
    }
}

network! {
    struct HandBce32 {
        type Float = f32;
        input z; target y; param a = 1.0;
        output f = sigmoid(a * z);
        loss = -(y * ln(f) + (1.0 - y) * ln(1.0 - f));
    }
}

network! {
    struct Softmax32 {
        type Float = f32;
        input z[3]; target t[3]; param a = 1.0;
        output p = softmax(a * z);
        loss = cross_entropy(a * z, t);
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

/// BCE of a sigmoid at logit `z`, and d/da at a = 1: `softplus(z) - y z` and `z (σ(z) - y)`.
fn bce_reference(z: f64, y: f64) -> (f64, f64) {
    let softplus = z.max(0.0) + (-z.abs()).exp().ln_1p();
    let sigmoid = if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        z.exp() / (1.0 + z.exp())
    };
    (softplus - y * z, z * (sigmoid - y))
}

#[test]
fn hand_written_bce_on_sigmoid_is_finite_and_right_at_700() {
    for z in [-700.0, -300.0, -40.0, -1.0, 0.0, 1.0, 40.0, 300.0, 700.0] {
        for y in [0.0, 1.0, 0.3] {
            let (want_loss, want_grad) = bce_reference(z, y);
            for (loss, grad) in [
                HandBce::new().gradient(&[z], &[y]),
                WrittenOutBce::new().gradient(&[z], &[y]),
            ] {
                assert!(
                    close(loss, want_loss),
                    "z={z} y={y}: loss {loss} vs {want_loss}"
                );
                assert!(
                    close(grad[0], want_grad),
                    "z={z} y={y}: grad {} vs {want_grad}",
                    grad[0]
                );
            }
        }
    }
}

#[test]
fn loss_builtins_are_finite_at_700() {
    for z in [-700.0, 700.0] {
        for y in [0.0, 1.0] {
            let (loss, grad) = Builtins::new().gradient(&[z], &[y]);
            let (bce, dbce) = bce_reference(z, y);
            // bce + bce_logits + softplus(z) + softplus(-z) = 2 bce + |z| (+ e^-|z|, negligible).
            assert!(close(loss, 2.0 * bce + z.abs()), "z={z}: {loss}");
            let dsoftplus_pair = z * (1.0 / (1.0 + (-z).exp())) - z * (1.0 / (1.0 + z.exp()));
            assert!(
                close(grad[0], 2.0 * dbce + dsoftplus_pair),
                "z={z}: {}",
                grad[0]
            );
        }
    }
}

#[test]
fn softmax_and_cross_entropy_are_finite_for_huge_logits() {
    let net = Softmax::new();
    let z = [700.0, -700.0, 0.0];
    let p = net.forward(&z);
    assert_eq!(p, [1.0, 0.0, (-700.0f64).exp()]);
    let (loss, grad) = net.gradient(&z, &[0.0, 1.0, 0.0]);
    // cross_entropy = lse(z) - z_1 = 700 + 700; twice (two equal terms).
    assert!(close(loss, 2.0 * 1400.0), "{loss}");
    // d/da = 2 * (sum_i p_i z_i - z_1) = 2 * (700 + 700).
    assert!(close(grad[0], 2.0 * 1400.0), "{}", grad[0]);
}

#[test]
fn f32_networks_stay_finite() {
    for z in [-700.0f32, -90.0, -20.0, 0.5, 20.0, 90.0, 700.0] {
        for y in [0.0f32, 1.0] {
            let (loss, grad) = HandBce32::new().gradient(&[z], &[y]);
            let (want_loss, want_grad) = bce_reference(f64::from(z), f64::from(y));
            assert!(
                (f64::from(loss) - want_loss).abs() <= 1e-5 * want_loss.abs().max(1.0),
                "z={z}: {loss}"
            );
            assert!(
                (f64::from(grad[0]) - want_grad).abs() <= 1e-5 * want_grad.abs().max(1.0),
                "z={z}: {grad:?}"
            );
        }
    }
    let (loss, grad) = Softmax32::new().gradient(&[80.0, -80.0, 0.0], &[0.0, 0.0, 1.0]);
    assert!(
        (loss - 80.0).abs() < 1e-4 && grad[0].is_finite(),
        "{loss} {grad:?}"
    );
}

#[test]
fn f32_matches_f64_on_ordinary_values() {
    let z = 0.7;
    let (l64, g64) = HandBce::new().gradient(&[z], &[1.0]);
    let (l32, g32) = HandBce32::new().gradient(&[z as f32], &[1.0]);
    assert!((f64::from(l32) - l64).abs() < 1e-6);
    assert!((f64::from(g32[0]) - g64[0]).abs() < 1e-6);
}

network! {
    /// tanh written with exp, as notebooks do: (e^u - e^-u) / (e^u + e^-u) is inf/inf
    /// for u > 710 when evaluated as written.
    struct WrittenOutTanh {
        input u; param a = 1.0;
        fn th(v) = (exp(v) - exp(-v)) / (exp(v) + exp(-v));
        output y = th(a * u);
        loss = y;
    }
}

#[test]
fn written_out_tanh_is_evaluated_as_tanh() {
    for u in [-800.0, -1.0, 0.0, 0.5, 800.0] {
        let (loss, grad) = WrittenOutTanh::new().gradient(&[u], &[]);
        let t: f64 = f64::tanh(u);
        assert!((loss - t).abs() < 1e-15, "u={u}: {loss}");
        assert!(
            (grad[0] - u * (1.0 - t * t)).abs() < 1e-12,
            "u={u}: {}",
            grad[0]
        );
    }
}

network! {
    /// Cross-entropy written by hand with ln(softmax(z)).
    struct LnSoftmax {
        input z[3]; target t[3]; param a = 1.0;
        output p = softmax(a * z);
        loss = -sum(t * ln(softmax(a * z)));
    }
}

#[test]
fn ln_of_softmax_is_log_softmax() {
    let (loss, grad) = LnSoftmax::new().gradient(&[700.0, -700.0, 0.0], &[0.0, 1.0, 0.0]);
    assert!(close(loss, 1400.0), "{loss}");
    assert!(close(grad[0], 1400.0), "{}", grad[0]);
}
