//! The batch functions (`accumulate_gradient_batch`, `sgd_step_batch` and the `Model`
//! slice forms) against the one-sample functions they must equal: bit for bit on one
//! block of samples when both use the same transcendentals (same per-sample
//! operations, same summation order from zero), and within a rounding tolerance on
//! batches of many blocks plus a tail (where the order of summation differs) or where
//! the one-sample code calls libm's `exp`/`ln` and the lanes `symnn::math`'s.
#![allow(clippy::needless_range_loop)]

use symnn::{network, Float, Model};

network! {
    /// Seed 003's 2-2-1 sigmoid net (shared bias, BCE written out).
    pub struct Seed003 {
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
    /// 2-8-8-1 tanh MLP with MSE.
    pub struct Mlp {
        input x[2];
        target t[1];
        let h1 = dense(x, 8, tanh);
        let h2 = dense(h1, 8, tanh);
        output y = dense(h2, 1, identity);
        loss = mse(y, t);
    }
}

network! {
    /// The same in f32.
    pub struct Mlp32 {
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
    /// Every kind of scalar operation: relu and softplus (selects), sigmoid, exp, ln,
    /// sqrt, abs, sin, cos, powers, max/min, softmax cross-entropy.
    pub struct Mixed {
        input x[3];
        target t[3];
        param a[3] = [0.5, -0.25, 0.75], c = 1.5;
        let h1 = dense(x, 4, relu);
        let h2 = dense(h1, 4, softplus);
        let s = sin(x[0] * a[0]) + cos(x[1] * a[1]) + sqrt(abs(x[2]) + 1.0) + exp(-sq(a[2]));
        let r = max(h2[0], h2[1]) - min(h2[2], h2[3]) + pow(abs(s) + 0.5, c) + sigmoid(s);
        output z = dense(h2, 3, identity) + [r, ln(1.0 + sq(r)), r * r * r];
        loss = cross_entropy(z, t);
    }
}

network! {
    /// A classifier on class-index targets (`sparse_cross_entropy`: an `==` select).
    pub struct Sparse {
        input x[4];
        target k;
        let h = dense(x, 6, tanh);
        output z = dense(h, 3, identity);
        loss = sparse_cross_entropy(z, k);
    }
}

network! {
    /// No targets at all (T = 0): the loss is a function of the output.
    pub struct NoTarget {
        input x[2];
        let h = dense(x, 3, tanh);
        output y = dense(h, 1, identity);
        loss = sq(y[0] - 0.5);
    }
}

network! {
    /// A tensor-tier network (64-32-10).
    pub struct Wide {
        input x[64];
        target t[10];
        let h = dense(x, 32, tanh);
        output z = dense(h, 10, identity);
        loss = cross_entropy(z, t);
    }
}

network! {
    /// A PINN-shaped tensor network: one `fn` at two points, a Laplacian in the loss
    /// (per-sample products, transposes and outer products inside the block), 33
    /// block arrays. Batches of several blocks with a short last one check that rows
    /// left over from an earlier block never reach a result (the arrays are declared
    /// once per call, not zeroed per block).
    pub struct TwoPoint {
        input x[2], xb[2];
        target f;
        param W1[20][2], b1[20], W2[20][20], b2[20], W3[1][20], b3;
        fn u(z[2]) = sum(W3 * tanh(W2 * tanh(W1 * z + b1) + b2)) + b3;
        output y = u(x);
        loss = sq(-laplacian(u(x), x) - f) + sq(u(xb));
    }
}

/// Deterministic points in [-1, 1).
fn points(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = symnn::init::SplitMix64::new(seed);
    (0..n).map(|_| rng.symmetric(1.0)).collect()
}

/// `n` samples of model `M`: random inputs, targets from `target(sample, k)`.
fn samples<M: Model>(
    n: usize,
    target: impl Fn(usize, usize) -> f64,
) -> (Vec<M::Float>, Vec<M::Float>) {
    let f = |v: f64| <M::Float as symnn::Float>::from_f64(v);
    let x = points(n * M::NUM_INPUTS, 7).into_iter().map(f).collect();
    let y = (0..n * M::NUM_TARGETS)
        .map(|j| f(target(j / M::NUM_TARGETS.max(1), j % M::NUM_TARGETS.max(1))))
        .collect();
    (x, y)
}

/// The one-sample reference: `accumulate_gradient_slice` in sample order from zero.
fn one_by_one<M: Model>(model: &M, x: &[M::Float], y: &[M::Float]) -> (M::Float, Vec<M::Float>) {
    let n = symnn::batch_len::<M>(x, y);
    let mut grad = vec![<M::Float as symnn::Float>::ZERO; M::NUM_PARAMS];
    let mut loss = <M::Float as symnn::Float>::ZERO;
    for s in 0..n {
        loss += model.accumulate_gradient_slice(
            &x[s * M::NUM_INPUTS..(s + 1) * M::NUM_INPUTS],
            &y[s * M::NUM_TARGETS..(s + 1) * M::NUM_TARGETS],
            &mut grad,
        );
    }
    (loss, grad)
}

fn to_f64<F: symnn::Float>(v: &[F]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

/// Batch against one-by-one on `n` samples, within `tol` relative to the largest
/// gradient element (`tol = 0`: bit for bit).
fn check<M: Model>(model: &M, n: usize, target: impl Fn(usize, usize) -> f64, tol: f64) {
    let (x, y) = samples::<M>(n, target);
    let (loss, grad) = one_by_one(model, &x, &y);
    let mut batch = vec![<M::Float as symnn::Float>::ZERO; M::NUM_PARAMS];
    let batch_loss = model.accumulate_gradient_batch_slice(&x, &y, &mut batch);
    let (grad, batch) = (to_f64(&grad), to_f64(&batch));
    let scale = grad.iter().fold(1e-300f64, |m, g| m.max(g.abs()));
    let what = std::any::type_name::<M>();
    assert!(
        (batch_loss.to_f64() - loss.to_f64()).abs() <= tol * loss.to_f64().abs(),
        "{what}, n = {n}: loss {batch_loss} vs {loss}"
    );
    for (k, (b, g)) in batch.iter().zip(&grad).enumerate() {
        assert!(
            (b - g).abs() <= tol * scale,
            "{what}, n = {n}: grad[{k}] = {b} vs {g} (scale {scale})"
        );
    }
}

fn class(s: usize, k: usize) -> f64 {
    f64::from(u8::from(s % 3 == k))
}

fn smooth(s: usize, k: usize) -> f64 {
    ((s * 7 + k) as f64 * 0.37).sin()
}

#[test]
fn one_block_is_bit_identical_to_one_sample_at_a_time() {
    // 4 lanes for f64, 8 for f32 (emit/batch.rs `lanes`); one block from zero sums in
    // the same order as the one-sample loop, and tanh is `symnn::math::tanh` in both.
    check(&Mlp::new(), 4, smooth, 0.0);
    check(&Mlp32::new(), 8, smooth, 0.0);
    check(&NoTarget::new(), 4, smooth, 0.0);
    // exp, ln and sigmoid are libm's in straight-line one-sample code (shortest
    // latency) and `symnn::math`'s (1-2 ulp) in the lanes: equal to rounding.
    check(&Seed003::new(), 4, |s, _| (s % 2) as f64, 1e-14);
    check(&Mixed::new(), 4, class, 1e-14);
    check(&Sparse::new(), 4, |s, _| (s % 3) as f64, 1e-14);
}

#[test]
fn batches_with_tails_equal_the_sum_of_samples() {
    for n in [0, 1, 3, 5, 13, 32, 67] {
        check(&Seed003::new(), n, |s, _| (s % 2) as f64, 1e-13);
        check(&Mlp::new(), n, smooth, 1e-13);
        check(&Mlp32::new(), n, smooth, 1e-5);
        check(&Mixed::new(), n, class, 1e-13);
        check(&Sparse::new(), n, |s, _| (s % 3) as f64, 1e-13);
        check(&NoTarget::new(), n, smooth, 1e-13);
        check(&*Wide::new_boxed(), n, class, 1e-13);
    }
    // Several blocks and a short last one (the block is at most 64 samples).
    for n in [3, 64, 133, 200] {
        check(&*TwoPoint::new_boxed(), n, smooth, 1e-12);
    }
}

#[test]
fn sgd_step_batch_is_a_mean_gradient_step() {
    fn run<M: Model>(mut model: M, n: usize, target: impl Fn(usize, usize) -> f64, tol: f64) {
        let (x, y) = samples::<M>(n, target);
        let (loss, grad) = one_by_one(&model, &x, &y);
        let lr = 0.25;
        let expected: Vec<f64> = model
            .params()
            .iter()
            .zip(&grad)
            .map(|(p, g)| p.to_f64() - lr * g.to_f64() / n as f64)
            .collect();
        let mean = model.sgd_step_batch_slice(&x, &y, <M::Float as symnn::Float>::from_f64(lr));
        assert!(
            (mean.to_f64() - loss.to_f64() / n as f64).abs() <= tol * mean.to_f64().abs().max(1.0)
        );
        for (k, (p, e)) in to_f64(model.params()).iter().zip(&expected).enumerate() {
            assert!(
                (p - e).abs() <= tol * e.abs().max(1.0),
                "param {k}: {p} vs {e}"
            );
        }
    }
    for n in [1, 4, 9, 40] {
        run(Seed003::new(), n, |s, _| (s % 2) as f64, 1e-14);
        run(Mlp::new(), n, smooth, 1e-14);
        run(Mlp32::new(), n, smooth, 1e-6);
        run(Mixed::new(), n, class, 1e-14);
        run(*Wide::new_boxed(), n, class, 1e-14);
    }
    // The inherent form, and an empty batch changes nothing.
    let mut net = Mlp::new();
    let before = net.clone();
    assert_eq!(net.sgd_step_batch(&[], &[], 0.1), 0.0);
    assert_eq!(net, before);
    let loss = net.sgd_step_batch(&[[0.5, -0.5], [0.25, 0.75]], &[[1.0], [0.0]], 0.1);
    assert!(loss > 0.0 && net != before);
}

#[test]
#[should_panic(expected = "as many targets as inputs")]
fn mismatched_batches_panic() {
    let mut grad = [0.0; Mlp::NUM_PARAMS];
    Mlp::new().accumulate_gradient_batch(&[[0.0; 2]; 3], &[[0.0]; 2], &mut grad);
}

#[test]
fn every_isa_level_gives_the_same_batch_results() {
    // The portable fallback and the AVX2 / AVX-512 paths (as far as this CPU has them):
    // lanes and maps do the same operations on every path; the GEMM kernels' FMAs and
    // tiles change the last bits, so compare within rounding.
    for isa in symnn::simd::Isa::ALL {
        if isa > symnn::simd::detected() {
            continue;
        }
        symnn::simd::with_max_isa(isa, || {
            assert_eq!(symnn::simd::isa(), isa);
            for n in [4, 13, 40] {
                check(&Mlp::new(), n, smooth, 1e-13);
                check(&Mlp32::new(), n, smooth, 1e-5);
                check(&Mixed::new(), n, class, 1e-13);
                check(&*Wide::new_boxed(), n, class, 1e-13);
            }
        });
    }
}

network! {
    /// Layers whose calls the one-sample code groups into vector loops: six `sigmoid`s,
    /// four `softplus`es and the softmax's six `exp`s (scalar tier).
    pub struct Grouped {
        input x[3];
        target t[6];
        let h = dense(x, 6, sigmoid);
        let g = dense(h, 4, softplus);
        output z = dense(g, 6, identity);
        loss = cross_entropy(z, t);
    }
}

/// Forward, loss, gradient and 3 SGD steps of the one-sample methods on `n` samples.
fn one_sample_results<M: Model + Clone>(
    model: &M,
    n: usize,
    target: impl Fn(usize, usize) -> f64,
) -> Vec<f64> {
    let (x, y) = samples::<M>(n, target);
    let mut results = Vec::new();
    let mut stepped = model.clone();
    for s in 0..n {
        let xs = &x[s * M::NUM_INPUTS..(s + 1) * M::NUM_INPUTS];
        let ys = &y[s * M::NUM_TARGETS..(s + 1) * M::NUM_TARGETS];
        let mut out = vec![<M::Float as symnn::Float>::ZERO; M::NUM_OUTPUTS];
        model.forward_slice(xs, &mut out);
        results.extend(to_f64(&out));
        results.push(model.loss_slice(xs, ys).to_f64());
        let mut grad = vec![<M::Float as symnn::Float>::ZERO; M::NUM_PARAMS];
        results.push(model.gradient_into_slice(xs, ys, &mut grad).to_f64());
        results.extend(to_f64(&grad));
        for _ in 0..3 {
            let lr = <M::Float as symnn::Float>::from_f64(0.001);
            results.push(stepped.sgd_step_slice(xs, ys, lr).to_f64());
        }
    }
    results.extend(to_f64(stepped.params()));
    results
}

#[test]
fn every_isa_level_gives_the_same_one_sample_results() {
    // The one-sample methods with vector loops (grouped calls, tensor kernels) have an
    // `avx2,fma` copy chosen at run time. Both copies perform the same operations in
    // the same order (no FMA contraction in Rust), so the results are bit-identical.
    fn check<M: Model + Clone>(model: &M, target: impl Fn(usize, usize) -> f64 + Copy) {
        let portable = symnn::simd::with_max_isa(symnn::simd::Isa::Portable, || {
            one_sample_results(model, 7, target)
        });
        let bad = portable.iter().position(|v| !v.is_finite());
        assert!(
            bad.is_none(),
            "{}: value {bad:?} is not finite",
            std::any::type_name::<M>()
        );
        for isa in symnn::simd::Isa::ALL {
            if isa > symnn::simd::detected() {
                continue;
            }
            let results = symnn::simd::with_max_isa(isa, || one_sample_results(model, 7, target));
            for (k, (a, b)) in results.iter().zip(&portable).enumerate() {
                assert!(
                    a.to_bits() == b.to_bits(),
                    "{}, {isa:?}: value {k} = {a} vs portable {b}",
                    std::any::type_name::<M>()
                );
            }
        }
    }
    check(&Mlp::new(), smooth);
    check(&Mlp32::new(), smooth);
    check(&Grouped::new(), class);
    check(&Mixed::new(), class);
    check(&*Wide::new_boxed(), class);
}

#[test]
fn grouped_calls_match_finite_differences() {
    // `Grouped`'s sigmoid, softplus and exp groups run symnn's polynomials in one vector
    // loop (ungrouped straight-line calls use libm): its gradient against central
    // differences of its own loss.
    let net = Grouped::new();
    let (x, y) = samples::<Grouped>(5, class);
    for s in 0..5 {
        let xs: [f64; 3] = x[s * 3..s * 3 + 3].try_into().unwrap();
        let ys: [f64; 6] = y[s * 6..s * 6 + 6].try_into().unwrap();
        let (_, grad) = net.gradient(&xs, &ys);
        for k in 0..Grouped::NUM_PARAMS {
            let h = 1e-6;
            let (mut plus, mut minus) = (net.clone(), net.clone());
            plus.params[k] += h;
            minus.params[k] -= h;
            let fd = (plus.loss(&xs, &ys) - minus.loss(&xs, &ys)) / (2.0 * h);
            assert!(
                (grad[k] - fd).abs() <= 1e-7 * fd.abs().max(1.0),
                "sample {s}, param {k}: {} vs {fd}",
                grad[k]
            );
        }
    }
}

/// `forward_batch_slice` and `loss_batch_slice` against `forward_slice` and
/// `loss_slice` sample by sample, within `tol` (relative to the largest output / the
/// summed loss).
fn check_evaluation<M: Model>(model: &M, n: usize, target: impl Fn(usize, usize) -> f64, tol: f64) {
    let (x, y) = samples::<M>(n, target);
    let zero = <M::Float as symnn::Float>::ZERO;
    let mut one = vec![zero; n * M::NUM_OUTPUTS];
    let mut loss = 0.0;
    for s in 0..n {
        let xs = &x[s * M::NUM_INPUTS..(s + 1) * M::NUM_INPUTS];
        model.forward_slice(xs, &mut one[s * M::NUM_OUTPUTS..(s + 1) * M::NUM_OUTPUTS]);
        loss += model
            .loss_slice(xs, &y[s * M::NUM_TARGETS..(s + 1) * M::NUM_TARGETS])
            .to_f64();
    }
    let mut batch = vec![<M::Float as symnn::Float>::from_f64(f64::NAN); n * M::NUM_OUTPUTS];
    model.forward_batch_slice(&x, &mut batch);
    let (one, batch) = (to_f64(&one), to_f64(&batch));
    let scale = one.iter().fold(1e-300f64, |m, v| m.max(v.abs()));
    let what = std::any::type_name::<M>();
    for (k, (b, o)) in batch.iter().zip(&one).enumerate() {
        assert!(
            (b - o).abs() <= tol * scale,
            "{what}, n = {n}: output {k} = {b} vs {o}"
        );
    }
    let batch_loss = model.loss_batch_slice(&x, &y).to_f64();
    assert!(
        (batch_loss - loss).abs() <= tol * loss.abs().max(1e-300),
        "{what}, n = {n}: summed loss {batch_loss} vs {loss}"
    );
}

#[test]
fn forward_and_loss_batches_equal_the_one_sample_methods() {
    for n in [0, 1, 4, 5, 13, 67, 130] {
        check_evaluation(&Seed003::new(), n, |s, _| (s % 2) as f64, 1e-13);
        check_evaluation(&Mlp::new(), n, smooth, 1e-13);
        check_evaluation(&Mlp32::new(), n, smooth, 1e-5);
        check_evaluation(&Mixed::new(), n, class, 1e-13);
        check_evaluation(&Sparse::new(), n, |s, _| (s % 3) as f64, 1e-13);
        check_evaluation(&NoTarget::new(), n, smooth, 1e-13);
        check_evaluation(&*Wide::new_boxed(), n, class, 1e-13);
        check_evaluation(&*TwoPoint::new_boxed(), n, smooth, 1e-12);
    }
    // The inherent forms: one output row per input.
    let net = Mlp::new();
    let inputs = [
        [0.5, -0.5],
        [0.25, 0.75],
        [1.0, 0.0],
        [-1.0, 2.0],
        [0.1, 0.2],
    ];
    let mut outputs = [[f64::NAN]; 5];
    net.forward_batch(&inputs, &mut outputs);
    for (x, y) in inputs.iter().zip(&outputs) {
        let expected = net.forward(x);
        assert!((y[0] - expected[0]).abs() <= 1e-14 * expected[0].abs().max(1.0));
    }
    let targets = [[1.0], [0.0], [0.5], [0.25], [2.0]];
    let summed: f64 = inputs
        .iter()
        .zip(&targets)
        .map(|(x, t)| net.loss(x, t))
        .sum();
    assert!((net.loss_batch(&inputs, &targets) - summed).abs() <= 1e-14 * summed);
    assert_eq!(net.loss_batch(&[], &[]), 0.0);
}

#[test]
fn hand_written_models_get_the_looping_evaluation_defaults() {
    /// `y = a·x`, loss `(y − t)²`: only the required `Model` methods.
    #[derive(Clone)]
    struct Line([f64; 1]);
    impl Model for Line {
        type Float = f64;
        const NUM_PARAMS: usize = 1;
        const NUM_INPUTS: usize = 1;
        const NUM_TARGETS: usize = 1;
        const NUM_OUTPUTS: usize = 1;
        fn param_names() -> &'static [&'static str] {
            &["a"]
        }
        fn param_groups() -> &'static [symnn::ParamGroup] {
            &[]
        }
        fn cost() -> symnn::Cost {
            symnn::Cost::default()
        }
        fn derivation() -> &'static str {
            ""
        }
        fn params(&self) -> &[f64] {
            &self.0
        }
        fn params_mut(&mut self) -> &mut [f64] {
            &mut self.0
        }
        fn forward_slice(&self, input: &[f64], output: &mut [f64]) {
            output[0] = self.0[0] * input[0];
        }
        fn loss_slice(&self, input: &[f64], target: &[f64]) -> f64 {
            (self.0[0] * input[0] - target[0]).powi(2)
        }
        fn accumulate_gradient_slice(
            &self,
            input: &[f64],
            target: &[f64],
            grad: &mut [f64],
        ) -> f64 {
            let r = self.0[0] * input[0] - target[0];
            grad[0] += 2.0 * r * input[0];
            r * r
        }
        fn with_seed_boxed(_: u64) -> Box<Self> {
            Box::new(Line([1.0]))
        }
        fn sgd_step_slice(&mut self, input: &[f64], target: &[f64], lr: f64) -> f64 {
            let mut g = [0.0];
            let loss = self.accumulate_gradient_slice(input, target, &mut g);
            self.0[0] -= lr * g[0];
            loss
        }
    }
    let line = Line([2.0]);
    let mut out = [0.0; 3];
    line.forward_batch_slice(&[1.0, 2.0, 3.0], &mut out);
    assert_eq!(out, [2.0, 4.0, 6.0]);
    assert_eq!(line.loss_batch_slice(&[1.0, 2.0], &[1.0, 1.0]), 1.0 + 9.0);
}

#[test]
#[should_panic(expected = "one output row per input")]
fn a_forward_batch_needs_one_output_row_per_input() {
    Mlp::new().forward_batch(&[[0.0; 2]; 3], &mut [[0.0]; 2]);
}
