//! `sparse_cross_entropy(z, k)`: cross-entropy with the class index `k` as the target.
//!
//! References, each independent of the code under test: the same network with
//! `cross_entropy` and a one-hot target (another lowering), central finite differences
//! of the generated `loss`, and softmax / log-sum-exp computed here in plain Rust.
use symnn::{datasets, metrics, network, Adam, Dataset, Model, Progress, Standardizer, Trainer};

network! {
    /// 3-input, 4-class linear classifier with a class-index target.
    struct Sparse {
        input x[3];
        target k;
        param w[4][3], b[4];
        output z = w * x + b;
        loss = sparse_cross_entropy(z, k);
    }
}

network! {
    /// The same network with a one-hot target (same parameter layout).
    struct OneHot {
        input x[3];
        target t[4];
        param w[4][3], b[4];
        output z = w * x + b;
        loss = cross_entropy(z, t);
    }
}

network! {
    /// The logits are the parameters, so the gradient is dL/dz itself; `k` is a
    /// parameter too, to show that no derivative flows into it.
    struct Logits {
        param z[4], k = 0.0;
        output p = softmax(z);
        loss = sparse_cross_entropy(z, k);
    }
}

network! {
    /// Scaled logits `a * z` (the numerics tests' form), f64.
    struct Scaled {
        input z[3];
        target k;
        param a = 1.0;
        output y = a * z;
        loss = sparse_cross_entropy(y, k);
    }
}

network! {
    /// The same in f32.
    struct Scaled32 {
        type Float = f32;
        input z[3];
        target k;
        param a = 1.0;
        output y = a * z;
        loss = sparse_cross_entropy(y, k);
    }
}

/// SplitMix64, for reproducible points.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        lo + (hi - lo) * ((z >> 11) as f64 / (1u64 << 53) as f64)
    }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()).max(1.0)
}

/// `(logsumexp(z), softmax(z))`, computed stably here.
fn lse_softmax(z: &[f64]) -> (f64, Vec<f64>) {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = z.iter().map(|&x| (x - m).exp()).sum();
    let lse = m + sum.ln();
    (lse, z.iter().map(|&x| (x - lse).exp()).collect())
}

#[test]
fn equals_cross_entropy_with_a_one_hot_target_for_every_class() {
    let mut rng = Rng(1);
    for trial in 0..20 {
        // Logits up to about +-30 at the larger scales.
        let scale = [0.5, 2.0, 10.0][trial % 3];
        let params: [f64; 16] = std::array::from_fn(|_| rng.uniform(-scale, scale));
        let x: [f64; 3] = std::array::from_fn(|_| rng.uniform(-1.5, 1.5));
        let sparse = Sparse::from_params(params);
        let one_hot = OneHot::from_params(params);
        // (Currently bit-identical: both lowerings compute ln(sum) - (z[k] - m) and
        // exp(z[j] - m) * (1/sum) - t[j].)
        for k in 0..4 {
            let mut t = [0.0; 4];
            t[k] = 1.0;
            let (loss, grad) = sparse.gradient(&x, &[k as f64]);
            let (want_loss, want_grad) = one_hot.gradient(&x, &t);
            assert!(
                close(loss, want_loss, 1e-12),
                "k={k}: loss {loss} vs {want_loss}"
            );
            assert_eq!(loss, sparse.loss(&x, &[k as f64]));
            for (i, (g, w)) in grad.iter().zip(&want_grad).enumerate() {
                assert!(
                    close(*g, *w, 1e-12),
                    "k={k}: dL/d{} = {g} vs {w}",
                    Sparse::PARAM_NAMES[i]
                );
            }
            // The loss is lse(z) - z[k], from the output.
            let z = sparse.forward(&x);
            let (lse, _) = lse_softmax(&z);
            assert!(close(loss, lse - z[k], 1e-12), "k={k}: {loss}");
        }
    }
}

#[test]
fn gradient_is_softmax_minus_onehot_and_zero_for_k() {
    let z = [0.3, -1.2, 2.0, 0.7];
    let (lse, p) = lse_softmax(&z);
    for k in 0..4 {
        let mut params = [0.0; 5];
        params[..4].copy_from_slice(&z);
        params[4] = k as f64;
        let net = Logits::from_params(params);
        let (loss, grad) = net.gradient(&[], &[]);
        assert!(close(loss, lse - z[k], 1e-14), "k={k}: {loss}");
        for j in 0..4 {
            let want = p[j] - if j == k { 1.0 } else { 0.0 };
            assert!(
                close(grad[j], want, 1e-14),
                "k={k} j={j}: {} vs {want}",
                grad[j]
            );
        }
        // k is data: structurally zero gradient, not a finite-difference artefact.
        assert_eq!(grad[4], 0.0, "k={k}");
    }
}

#[test]
fn gradient_matches_central_finite_differences() {
    let mut rng = Rng(2);
    for _ in 0..5 {
        let params: [f64; 16] = std::array::from_fn(|_| rng.uniform(-1.0, 1.0));
        let x: [f64; 3] = std::array::from_fn(|_| rng.uniform(-1.5, 1.5));
        let net = Sparse::from_params(params);
        for k in 0..4 {
            let target = [k as f64];
            let (_, grad) = net.gradient(&x, &target);
            for (i, &symbolic) in grad.iter().enumerate() {
                let h = 1e-6;
                let (mut plus, mut minus) = (net.clone(), net.clone());
                plus.params[i] += h;
                minus.params[i] -= h;
                let fd = (plus.loss(&x, &target) - minus.loss(&x, &target)) / (2.0 * h);
                assert!(
                    (fd - symbolic).abs() <= 1e-7,
                    "k={k} dL/d{}: symbolic {symbolic} vs finite difference {fd}",
                    Sparse::PARAM_NAMES[i]
                );
            }
        }
    }
}

#[test]
fn finite_for_huge_logits_f64() {
    let net = Scaled::new();
    let z = [700.0, -700.0, 0.0];
    for k in 0..3 {
        let (loss, grad) = net.gradient(&z, &[k as f64]);
        // lse(z) = 700 (+ e^-700, lost), so L = 700 - z[k]; dL/da = sum p z - z[k] = 700 - z[k].
        assert!(loss.is_finite() && grad[0].is_finite(), "k={k}");
        assert!(close(loss, 700.0 - z[k], 1e-15), "k={k}: {loss}");
        assert!(close(grad[0], 700.0 - z[k], 1e-15), "k={k}: {}", grad[0]);
    }
    // And at a = -1 (the largest logit moves to the other end).
    let net = Scaled::from_params([-1.0]);
    let (loss, grad) = net.gradient(&z, &[0.0]);
    assert!(close(loss, 1400.0, 1e-15), "{loss}");
    // dL/da = sum p_i z_i - z_0 with p = onehot(1): -700 - 700.
    assert!(close(grad[0], -1400.0, 1e-15), "{}", grad[0]);
}

#[test]
fn finite_for_large_logits_f32() {
    // |z| = 80, and 160 at a = 2, where exp overflows f32 (max ~3.4e38 = e^88.7): only
    // the shifted form stays finite there.
    let z = [80.0f32, -80.0, 0.0];
    for a in [1.0f32, 2.0] {
        let net = Scaled32::from_params([a]);
        for k in 0..3 {
            let (loss, grad) = net.gradient(&z, &[k as f32]);
            // L = lse(a z) - a z[k] = a (80 - z[k]); dL/da = sum p z - z[k] = 80 - z[k].
            let want_grad = 80.0 - f64::from(z[k]);
            let want_loss = f64::from(a) * want_grad;
            assert!(
                close(f64::from(loss), want_loss, 1e-6),
                "a={a} k={k}: {loss} vs {want_loss}"
            );
            assert!(
                close(f64::from(grad[0]), want_grad, 1e-6),
                "a={a} k={k}: {} vs {want_grad}",
                grad[0]
            );
        }
    }
}

#[test]
fn out_of_range_or_non_integer_k_gives_a_nan_loss() {
    // Documented behaviour (docs/DSL.md): no indicator [k == j] is 1, so the loss is NaN
    // (a Trainer stops with a non-finite-loss error) and the gradient is softmax(z).
    // The data constructors (`Dataset::sparse_classification`) never produce such a k.
    let z = [0.3, -1.2, 2.0, 0.7];
    let (lse, p) = lse_softmax(&z);
    for k in [
        4.0,
        12.0,
        -1.0,
        2.5,
        1e-9,
        3.000_000_000_000_000_4,
        f64::NAN,
        f64::INFINITY,
    ] {
        let mut params = [0.0; 5];
        params[..4].copy_from_slice(&z);
        params[4] = k;
        let net = Logits::from_params(params);
        let (loss, grad) = net.gradient(&[], &[]);
        assert!(loss.is_nan(), "k={k}: {loss}");
        assert!(net.loss(&[], &[]).is_nan(), "k={k}");
        for j in 0..4 {
            assert!(close(grad[j], p[j], 1e-14), "k={k} j={j}: {}", grad[j]);
        }
        assert_eq!(grad[4], 0.0);
    }
    // -0.0 is class 0 (it equals 0.0).
    let mut params = [0.0; 5];
    params[..4].copy_from_slice(&z);
    params[4] = -0.0;
    let (loss, _) = Logits::from_params(params).gradient(&[], &[]);
    assert!(close(loss, lse - z[0], 1e-14));
}

#[test]
fn derivation_reads_softmax_minus_onehot() {
    let d = Sparse::derivation();
    // Read from the output: t0 is the shift max z, t1..t4 the shifted logits
    // z[j] - t0, t5..t8 their exps, t9 the sum, t10 = 1/t9, and
    // dL/dz[j] = exp(z[j] - m)/sum - [k == j].
    for line in [
        "L = ln(t9) + (0 if [k == 0] + [k == 1] + [k == 2] + [k == 3] == 1 else NaN) - [k == 0]*t1 - [k == 1]*t2 - [k == 2]*t3 - [k == 3]*t4",
        "t0 = max(max(max(z[0], z[1]), z[2]), z[3])",
        "t1 = z[0] - t0",
        "t5 = exp(t1)",
        "t10 = 1/t9",
        "t14 = t5*t10 - [k == 0]",
        "t11 = t8*t10 - [k == 3]",
        "dL/db[0] = t14",
        "dL/dw[0][2] = x[2]*t14",
    ] {
        assert!(d.contains(line), "missing {line:?} in\n{d}");
    }
    // No derivative with respect to the target anywhere.
    assert!(!d.contains("dL/dk"), "{d}");
}

#[test]
fn cost_is_close_to_cross_entropy() {
    // One select per class instead of one target read: the same order of work.
    let (s, o) = (Sparse::COST, OneHot::COST);
    assert!(s.gradient_ops <= o.gradient_ops + 2 * 4, "{s:?} vs {o:?}");
    assert_eq!(s.gradient_calls, o.gradient_calls);
}

network! {
    /// 4-16-3 iris classifier trained on class-index targets.
    pub struct IrisSparse {
        input x[4];
        target k;
        let h = dense(x, 16, tanh);
        output z = dense(h, 3, identity);
        loss = sparse_cross_entropy(z, k);
    }
}

network! {
    /// The same with one-hot targets (`tests/train_iris.rs`'s network).
    pub struct IrisOneHot {
        input x[4];
        target t[3];
        let h = dense(x, 16, tanh);
        output z = dense(h, 3, identity);
        loss = cross_entropy(z, t);
    }
}

/// Standardised stratified 70/30 split of iris (one-hot targets, labels kept).
fn iris() -> (Dataset<f64>, Dataset<f64>) {
    let (mut train, mut test) = datasets::iris::<f64>().data.stratified_split(0.3, 42);
    let scaler = Standardizer::fit(&train);
    scaler.transform(&mut train);
    scaler.transform(&mut test);
    (train, test)
}

fn trainer<M: Model<Float = f64> + 'static>() -> Trainer<M, Adam<f64>> {
    Trainer::new(Adam::new(0.01))
        .epochs(60)
        .batch_size(16)
        .seed(7)
        .metric("accuracy", metrics::accuracy)
        .progress(Progress::Plain)
}

#[test]
fn iris_trains_on_class_index_targets_like_one_hot() {
    let (train, test) = iris();
    let (sparse_train, sparse_test) = (
        train.with_class_index_targets().unwrap(),
        test.with_class_index_targets().unwrap(),
    );
    assert_eq!(
        (sparse_train.target_width(), sparse_train.target(0).len()),
        (1, 1)
    );

    // Same architecture and seed: the two losses have the same parameter layout,
    // initialisation, loss and gradient, so training follows the same path.
    assert_eq!(IrisSparse::PARAM_NAMES, IrisOneHot::PARAM_NAMES);
    let mut sparse = IrisSparse::with_seed(1);
    let mut one_hot = IrisOneHot::with_seed(1);
    assert_eq!(sparse.params, one_hot.params);
    let history = trainer()
        .fit(&mut sparse, &sparse_train, Some(&sparse_test))
        .expect("training stays finite");
    trainer()
        .fit(&mut one_hot, &train, Some(&test))
        .expect("training stays finite");

    let first = history.reports[0].train_loss;
    let last = history.last().expect("epochs ran").train_loss;
    assert!(
        last < 0.5 * first,
        "training loss should fall: {first} -> {last}"
    );
    let acc = metrics::accuracy(&sparse, &sparse_test);
    let acc_one_hot = metrics::accuracy(&one_hot, &test);
    assert!(acc >= 0.9, "test accuracy {acc} < 0.9");
    assert_eq!(acc, acc_one_hot);
    // The metric during training read the class-index targets too.
    assert_eq!(history.last().unwrap().metric, Some(acc));
    for (a, b) in sparse.params.iter().zip(&one_hot.params) {
        assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} vs {b}");
    }

    // accuracy also reads class-index targets without stored labels (one target a
    // sample, three outputs): the same number.
    let unlabelled = Dataset::new(
        sparse_test.inputs().to_vec(),
        4,
        sparse_test.targets().to_vec(),
        1,
    )
    .unwrap();
    assert_eq!(unlabelled.labels(), None);
    assert_eq!(metrics::accuracy(&sparse, &unlabelled), acc);
}
