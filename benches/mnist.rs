//! MNIST-sized: the code `network!` generates for a 784-128-10 ReLU classifier with
//! softmax cross-entropy (101,770 parameters, f64, 814 KB), against a careful
//! hand-written Rust version with plain constant-size loops (`[[f64; 784]; 128]`, ...),
//! written like `benches/wide.rs`'s 64-32-10: bias and activation fused into the
//! matvec, the hidden matvec register-blocked (8 rows x 2 partial sums here, 5-7 %
//! faster than wide.rs's 4 x 2 at this size; see `Hand::activations`), the output
//! rows as 8-lane dot products, stable log-softmax (one `exp` per logit, reused for the
//! softmax), the ReLU derivative from the stored activation (the `w1` rows of
//! inactive units skipped), `lr` applied to each neuron's adjoint once and the update
//! fused into the backward loop.
//!
//! Measured: (a) one-sample fused `sgd_step`; (b) a minibatch of 32:
//! `accumulate_gradient` over 32 samples into a zeroed gradient, then one update
//! `p -= lr/32 * g`. Data: the first `SAMPLES` MNIST training images (pixels / 255, in
//! [0, 1]), visited in order.
//!
//! Both networks and both gradient buffers live on the heap (`Mnist::new_boxed`,
//! `from_params_boxed`, `gradient_into`; the hand-written structs are allocated
//! zeroed): at 814 KB each, values returned by `new()` or `gradient()` would sit on
//! the stack.
//!
//! Before anything is timed, `main` checks that generated and hand-written code agree
//! within 1e-12: forward output, loss and full gradient on several samples, loss and
//! parameters after each of 20 SGD steps, and parameters after two minibatch-32
//! accumulate-then-update steps. Then a paired A/B measurement (generated and
//! hand-written interleaved in one process, median ns/sample of each and the median of
//! the per-round ratios), then short criterion runs.
//!
//! Minibatches are also measured against the baseline a careful engineer writes for
//! them: the same algebra as blocks of matrix products through `matrixmultiply`
//! (`benches/common/gemm_mlp.rs`), against the generated block path
//! (`sgd_step_batch`): f64 at batch 32 (beside the per-sample loops above), and the
//! f32 network of `benches/mnist_epoch.rs` and `examples/mnist.rs` at batch 64, plain
//! SGD (the JAX comparison's setting).
//!
//! Run: `cargo bench --bench mnist`. Results: docs/PERFORMANCE.md ("784-128-10", "Fair
//! minibatch baselines").

// The hand-written net indexes several arrays with one counter, as numeric code does.
#![allow(clippy::needless_range_loop)]
use std::time::Duration;

use criterion::{black_box, Criterion};
use symnn::{data::read_idx, datasets, network};

#[path = "common/gemm_mlp.rs"]
mod gemm_mlp;
#[path = "common/paired.rs"]
mod paired;
use gemm_mlp::{Act, GemmMlp};
use paired::{cycle, side, Chunk};

network! {
    /// 784-128-10 ReLU classifier, softmax cross-entropy, f64.
    pub struct Mnist {
        input x[784];
        target t[10];
        let h = dense(x, 128, relu);
        output z = dense(h, 10, identity);
        loss = cross_entropy(z, t);
    }
}

network! {
    /// `benches/mnist_epoch.rs`'s network: f32, class-index target.
    pub struct Mnist32 {
        type Float = f32;
        input x[784];
        target k;
        let h = dense(x, 128, relu);
        output z = dense(h, 10, identity);
        loss = sparse_cross_entropy(z, k);
    }
}

const IN: usize = 784;
const HID: usize = 128;
const OUT: usize = 10;
const P: usize = HID * IN + HID + OUT * HID + OUT;
const _: () = assert!(P == Mnist::NUM_PARAMS && IN.is_multiple_of(2) && HID.is_multiple_of(8));

/// Samples used (the first MNIST training images), visited in order.
const SAMPLES: usize = 512;
const LR: f64 = 0.05;
const BATCH: usize = 32;
/// The f32 minibatch (`benches/mnist_epoch.rs`, the JAX comparison) and its `lr`.
const BATCH32: usize = 64;
const LR32: f32 = 0.1;
/// `sgd_step` calls per timed chunk of the paired measurement (~2-5 ms a chunk).
const STEPS_PER_CHUNK: usize = 32;

type Sample = ([f64; IN], [f64; OUT]);
/// A minibatch as the batch path takes it: inputs and targets apart.
type OwnedBlock = (Vec<[f64; IN]>, Vec<[f64; OUT]>);

/// The first `SAMPLES` MNIST training images, pixels (0..=255) scaled to [0, 1],
/// one-hot targets.
fn data() -> Vec<Sample> {
    let dir = datasets::MNIST_DIR;
    let images = read_idx(format!("{dir}/train-images-idx3-ubyte.gz")).expect("MNIST images");
    let labels = read_idx(format!("{dir}/train-labels-idx1-ubyte.gz")).expect("MNIST labels");
    assert_eq!(images.item_len(), IN, "28x28 images");
    (0..SAMPLES)
        .map(|i| {
            let mut x = [0.0; IN];
            for (dst, &src) in x.iter_mut().zip(images.item(i)) {
                *dst = f64::from(src) / 255.0;
            }
            let mut t = [0.0; OUT];
            t[usize::from(labels.item(i)[0])] = 1.0;
            (x, t)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Hand-written 784-128-10
// ---------------------------------------------------------------------------------------

/// The 784-128-10 net written by hand: fixed-size arrays, constant trip counts, in the
/// generated code's parameter order (h.weight, h.bias, z.weight, z.bias; row-major).
#[derive(Clone, Debug)]
#[repr(C)]
struct Hand {
    w1: [[f64; IN]; HID],
    b1: [f64; HID],
    w2: [[f64; HID]; OUT],
    b2: [f64; OUT],
}

/// dL/d(every parameter), laid out like `Hand`.
#[derive(Clone, Debug)]
#[repr(C)]
struct HandGrad {
    w1: [[f64; IN]; HID],
    b1: [f64; HID],
    w2: [[f64; HID]; OUT],
    b2: [f64; OUT],
}

/// A zeroed `Box<T>` allocated on the heap directly (no 814 KB stack temporary).
///
/// # Safety
/// All-zero bytes must be a valid `T`: here, structs of `f64` arrays.
unsafe fn zeroed_box<T>() -> Box<T> {
    let layout = std::alloc::Layout::new::<T>();
    // SAFETY: non-zero-sized layout from the global allocator, as `Box` expects; the
    // caller guarantees zero bytes are a valid `T`.
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout).cast::<T>();
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        Box::from_raw(ptr)
    }
}

/// `sum_i w_i x_i` with 8 independent partial sums, combined pairwise at the end (the
/// output layer's 128-long rows).
///
/// A single running sum is a chain of dependent adds (no reassociation without
/// fast-math), which makes a dot product latency-bound; 8 lanes break the chain and
/// let LLVM use SSE2 pairs. The summation order differs from a straight sum only by
/// rounding (well within the 1e-12 the checks allow).
#[inline(always)]
fn dot<const N: usize>(w: &[f64; N], x: &[f64; N]) -> f64 {
    const L: usize = 8;
    let mut acc = [0.0; L];
    for (w, x) in w.chunks_exact(L).zip(x.chunks_exact(L)) {
        for l in 0..L {
            acc[l] += w[l] * x[l];
        }
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

/// Everything the backward pass needs from the forward pass.
struct Activations {
    h: [f64; HID],
    z: [f64; OUT],
    /// `exp(z_c - max z)`.
    e: [f64; OUT],
    /// `sum_c e_c`.
    se: f64,
    /// `ln sum_c exp(z_c) = max z + ln se`.
    lse: f64,
}

impl HandGrad {
    fn zeros() -> Box<Self> {
        // SAFETY: a struct of f64 arrays.
        unsafe { zeroed_box() }
    }

    fn flat(&self) -> Vec<f64> {
        let mut v = Vec::with_capacity(P);
        v.extend(self.w1.iter().flatten());
        v.extend(self.b1);
        v.extend(self.w2.iter().flatten());
        v.extend(self.b2);
        v
    }
}

impl Hand {
    fn from_params(p: &[f64; P]) -> Box<Self> {
        // SAFETY: a struct of f64 arrays.
        let mut n: Box<Hand> = unsafe { zeroed_box() };
        let mut it = p.iter().copied();
        let mut next = || it.next().unwrap();
        n.w1.iter_mut().flatten().for_each(|v| *v = next());
        n.b1.iter_mut().for_each(|v| *v = next());
        n.w2.iter_mut().flatten().for_each(|v| *v = next());
        n.b2.iter_mut().for_each(|v| *v = next());
        n
    }

    fn params(&self) -> Vec<f64> {
        let mut v = Vec::with_capacity(P);
        v.extend(self.w1.iter().flatten());
        v.extend(self.b1);
        v.extend(self.w2.iter().flatten());
        v.extend(self.b2);
        v
    }

    /// Forward pass, bias and ReLU fused into the matvec loops; stable log-sum-exp of
    /// the logits (the exps are kept for the softmax).
    ///
    /// The hidden layer computes 8 rows at a time with 2 partial sums each, so each
    /// pair of inputs is loaded once per 8 rows and 16 independent add chains hide the
    /// add latency. Variants measured at this size (hand-written `sgd_step` against
    /// itself, paired, f64, load 2.5-3): 4 rows x 2 partial sums (`benches/wide.rs`'s
    /// form, fastest at 64-32-10) 26.2-26.7 us a step, this 8 x 2 24.4-25.0 us (5-7 %
    /// faster in four runs), 4 x 4 the same as 4 x 2, one row with 8 partial sums 30.1
    /// us. Multiplying each `w1` row by the ReLU derivative (0 or 1) instead of skipping
    /// the rows of inactive units: 35.0 us against 26.2 (about half the units are active
    /// on these images).
    #[inline(always)]
    fn activations(&self, x: &[f64; IN]) -> Activations {
        const R: usize = 8;
        let mut h = [0.0; HID];
        for j in (0..HID).step_by(R) {
            // R rows at a time, 2 lanes each: each x pair is loaded once for R rows.
            let mut acc = [[0.0; 2]; R];
            for i in (0..IN).step_by(2) {
                for r in 0..R {
                    acc[r][0] += self.w1[j + r][i] * x[i];
                    acc[r][1] += self.w1[j + r][i + 1] * x[i + 1];
                }
            }
            for r in 0..R {
                h[j + r] = (self.b1[j + r] + (acc[r][0] + acc[r][1])).max(0.0);
            }
        }
        let mut z = [0.0; OUT];
        for c in 0..OUT {
            z[c] = self.b2[c] + dot(&self.w2[c], &h);
        }
        let mut m = z[0];
        for c in 1..OUT {
            m = m.max(z[c]);
        }
        let mut e = [0.0; OUT];
        let mut se = 0.0;
        for c in 0..OUT {
            e[c] = (z[c] - m).exp();
            se += e[c];
        }
        let lse = m + se.ln();
        Activations { h, z, e, se, lse }
    }

    /// Loss `-sum_c t_c (z_c - lse)` and the logits' adjoint
    /// `dL/dz_c = softmax_c * sum(t) - t_c` (the DSL's `cross_entropy` does not assume
    /// the targets sum to 1, so neither does this).
    #[inline(always)]
    fn loss_and_dz(a: &Activations, t: &[f64; OUT]) -> (f64, [f64; OUT]) {
        let mut loss = 0.0;
        let mut st = 0.0;
        for c in 0..OUT {
            loss -= t[c] * (a.z[c] - a.lse);
            st += t[c];
        }
        let scale = st / a.se;
        let mut dz = [0.0; OUT];
        for c in 0..OUT {
            dz[c] = a.e[c] * scale - t[c];
        }
        (loss, dz)
    }

    #[inline]
    fn forward(&self, x: &[f64; IN]) -> [f64; OUT] {
        self.activations(x).z
    }

    #[inline]
    fn loss(&self, x: &[f64; IN], t: &[f64; OUT]) -> f64 {
        Self::loss_and_dz(&self.activations(x), t).0
    }

    /// Adds dL/dparams for one sample into `g`; returns the loss. The ReLU derivative
    /// is read from the stored activation: a unit with `h_j = 0` passes no gradient, so
    /// its row of `w1` is skipped.
    #[inline]
    fn accumulate_gradient(&self, x: &[f64; IN], t: &[f64; OUT], g: &mut HandGrad) -> f64 {
        let a = self.activations(x);
        let (loss, dz) = Self::loss_and_dz(&a, t);
        let mut dh = [0.0; HID];
        for c in 0..OUT {
            let d = dz[c];
            for k in 0..HID {
                dh[k] += self.w2[c][k] * d;
                g.w2[c][k] += d * a.h[k];
            }
            g.b2[c] += d;
        }
        for j in 0..HID {
            if a.h[j] > 0.0 {
                let d = dh[j];
                for i in 0..IN {
                    g.w1[j][i] += d * x[i];
                }
                g.b1[j] += d;
            }
        }
        loss
    }

    /// `p -= scale * g` for every parameter.
    #[inline]
    fn update(&mut self, g: &HandGrad, scale: f64) {
        for j in 0..HID {
            for i in 0..IN {
                self.w1[j][i] -= scale * g.w1[j][i];
            }
            self.b1[j] -= scale * g.b1[j];
        }
        for c in 0..OUT {
            for k in 0..HID {
                self.w2[c][k] -= scale * g.w2[c][k];
            }
            self.b2[c] -= scale * g.b2[c];
        }
    }

    /// Fused simultaneous SGD step: each layer's weights are read for backprop before
    /// they are overwritten in the same loop; `lr` scales each neuron's adjoint once;
    /// rows of inactive ReLU units are skipped (their gradient is zero).
    #[inline]
    fn sgd_step(&mut self, x: &[f64; IN], t: &[f64; OUT], lr: f64) -> f64 {
        let a = self.activations(x);
        let (loss, dz) = Self::loss_and_dz(&a, t);
        let mut dh = [0.0; HID];
        for c in 0..OUT {
            let d = dz[c];
            let ld = lr * d;
            for k in 0..HID {
                dh[k] += self.w2[c][k] * d;
                self.w2[c][k] -= ld * a.h[k];
            }
            self.b2[c] -= ld;
        }
        for j in 0..HID {
            if a.h[j] > 0.0 {
                let ld = lr * dh[j];
                for i in 0..IN {
                    self.w1[j][i] -= ld * x[i];
                }
                self.b1[j] -= ld;
            }
        }
        loss
    }
}

/// One minibatch: zero `g`, accumulate over `batch`, then `p -= lr/n * g`.
#[inline]
fn minibatch_generated(net: &mut Mnist, g: &mut [f64; P], batch: &[Sample], lr: f64) -> f64 {
    g.fill(0.0);
    let mut loss = 0.0;
    for (x, t) in batch {
        loss += net.accumulate_gradient(x, t, g);
    }
    let scale = lr / batch.len() as f64;
    for (p, g) in net.params.iter_mut().zip(g.iter()) {
        *p -= scale * g;
    }
    loss
}

/// The same for the hand-written net.
#[inline]
fn minibatch_hand(net: &mut Hand, g: &mut HandGrad, batch: &[Sample], lr: f64) -> f64 {
    g.w1.iter_mut().flatten().for_each(|v| *v = 0.0);
    g.b1.fill(0.0);
    g.w2.iter_mut().flatten().for_each(|v| *v = 0.0);
    g.b2.fill(0.0);
    let mut loss = 0.0;
    for (x, t) in batch {
        loss += net.accumulate_gradient(x, t, g);
    }
    net.update(g, lr / batch.len() as f64);
    loss
}

/// A zeroed gradient buffer for the generated net, on the heap.
fn generated_grad() -> Box<[f64; P]> {
    vec![0.0; P]
        .into_boxed_slice()
        .try_into()
        .expect("P elements")
}

// ---------------------------------------------------------------------------------------
// Equivalence checks (run before timing)
// ---------------------------------------------------------------------------------------

fn assert_close(what: &str, a: &[f64], b: &[f64]) {
    paired::assert_close(what, a, b, 1e-12);
}

/// The data as f64 blocks of `BATCH` (flat inputs, flat one-hot targets).
fn blocks64(data: &[Sample]) -> Vec<(Vec<f64>, Vec<f64>)> {
    data.chunks_exact(BATCH)
        .map(|b| {
            (
                b.iter().flat_map(|(x, _)| *x).collect(),
                b.iter().flat_map(|(_, t)| *t).collect(),
            )
        })
        .collect()
}

/// One f32 block of `BATCH32`: flat inputs, class indices (for `Mnist32`) and one-hot
/// targets (for the sgemm trainer).
struct Block32 {
    x: Vec<[f32; IN]>,
    k: Vec<[f32; 1]>,
    onehot: Vec<f32>,
}

fn blocks32(data: &[Sample]) -> Vec<Block32> {
    data.chunks_exact(BATCH32)
        .map(|b| Block32 {
            x: b.iter().map(|(x, _)| x.map(|v| v as f32)).collect(),
            k: b.iter()
                .map(|(_, t)| [t.iter().position(|&v| v == 1.0).expect("one-hot") as f32])
                .collect(),
            onehot: b.iter().flat_map(|(_, t)| t.map(|v| v as f32)).collect(),
        })
        .collect()
}

/// The block path and the gemm trainers take the same steps as the per-sample code.
fn check_gemm(data: &[Sample]) {
    let start = Mnist::new_boxed();
    let mut gen = Mnist::from_params_boxed(&start.params);
    let mut gemm = GemmMlp::new(IN, HID, OUT, Act::Relu, &start.params);
    for (b, (x, t)) in blocks64(data).iter().take(2).enumerate() {
        let xs: Vec<[f64; IN]> = x.chunks_exact(IN).map(|r| r.try_into().unwrap()).collect();
        let ts: Vec<[f64; OUT]> = t.chunks_exact(OUT).map(|r| r.try_into().unwrap()).collect();
        let lb = gen.sgd_step_batch(&xs, &ts, LR);
        let lg = gemm.sgd_step_batch(x, t, LR);
        assert_close(&format!("f64 gemm minibatch loss {b}"), &[lb], &[lg]);
        assert_close(
            &format!("f64 params after gemm minibatch {b}"),
            &gen.params,
            &gemm.params,
        );
    }
    let start = Mnist32::new_boxed();
    let mut gen = Mnist32::from_params_boxed(&start.params);
    let mut gemm = GemmMlp::new(IN, HID, OUT, Act::Relu, &start.params);
    let widen = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
    for (b, blk) in blocks32(data).iter().take(2).enumerate() {
        let lb = gen.sgd_step_batch(&blk.x, &blk.k, LR32);
        let lg = gemm.sgd_step_batch(blk.x.as_flattened(), &blk.onehot, LR32);
        paired::assert_close(
            &format!("f32 gemm minibatch loss {b}"),
            &[f64::from(lb)],
            &[f64::from(lg)],
            1e-5,
        );
        paired::assert_close(
            &format!("f32 params after gemm minibatch {b}"),
            &widen(&gen.params),
            &widen(&gemm.params),
            1e-6,
        );
    }
    assert!(gen.params != start.params);
}

fn check(data: &[Sample]) {
    // The hand-written layout is the generated one.
    let groups: Vec<(&str, &[usize], usize)> = Mnist::PARAM_GROUPS
        .iter()
        .map(|g| (g.name, g.shape, g.offset))
        .collect();
    assert_eq!(
        groups,
        [
            ("h.weight", &[HID, IN][..], 0),
            ("h.bias", &[HID][..], HID * IN),
            ("z.weight", &[OUT, HID][..], HID * IN + HID),
            ("z.bias", &[OUT][..], HID * IN + HID + OUT * HID),
        ]
    );
    let start = Mnist::new_boxed();
    let mut gen = Mnist::from_params_boxed(&start.params);
    let mut hand = Hand::from_params(&start.params);
    assert_close("params at start", &gen.params, &hand.params());

    let mut gg = generated_grad();
    for (i, (x, t)) in data.iter().enumerate().take(8) {
        assert_close(&format!("forward {i}"), &gen.forward(x), &hand.forward(x));
        assert_close(&format!("loss {i}"), &[gen.loss(x, t)], &[hand.loss(x, t)]);
        let lg = gen.gradient_into(x, t, &mut gg);
        let mut gh = HandGrad::zeros();
        let lh = hand.accumulate_gradient(x, t, &mut gh);
        assert_close(&format!("gradient loss {i}"), &[lg], &[lh]);
        assert_close(&format!("gradient {i}"), &gg[..], &gh.flat());
        // The samples exercise both branches of the ReLU.
        let active = hand.activations(x).h.iter().filter(|&&h| h > 0.0).count();
        assert!(
            0 < active && active < HID,
            "sample {i}: {active} active units"
        );
    }
    for step in 0..20 {
        let (x, t) = &data[step];
        let lg = gen.sgd_step(x, t, LR);
        let lh = hand.sgd_step(x, t, LR);
        assert_close(&format!("sgd_step loss, step {step}"), &[lg], &[lh]);
        assert_close(
            &format!("params after sgd_step {step}"),
            &gen.params,
            &hand.params(),
        );
    }
    let mut gh = HandGrad::zeros();
    for (b, batch) in data.chunks_exact(BATCH).take(2).enumerate() {
        let lg = minibatch_generated(&mut gen, &mut gg, batch, LR);
        let lh = minibatch_hand(&mut hand, &mut gh, batch, LR);
        assert_close(&format!("minibatch loss {b}"), &[lg], &[lh]);
        assert_close(
            &format!("params after minibatch {b}"),
            &gen.params,
            &hand.params(),
        );
    }
    // Sanity: the checks ran on a net that is learning, not a constant one.
    assert!(gen.params != start.params);
}

// ---------------------------------------------------------------------------------------
// Paired measurement (benches/common/paired.rs)
// ---------------------------------------------------------------------------------------

// The measured calls, each compiled on its own (`#[inline(never)]`): no timing loop is
// compiled into them (docs/PERFORMANCE.md, "The measuring stick").

#[inline(never)]
fn sgd_generated(n: &mut Mnist, (x, t): &Sample) -> f64 {
    n.sgd_step(black_box(x), black_box(t), black_box(LR))
}

#[inline(never)]
fn sgd_hand(n: &mut Hand, (x, t): &Sample) -> f64 {
    n.sgd_step(black_box(x), black_box(t), black_box(LR))
}

#[inline(never)]
fn minibatch_generated_step(n: &mut Mnist, g: &mut [f64; P], batch: &[Sample]) -> f64 {
    minibatch_generated(n, g, black_box(batch), black_box(LR))
}

#[inline(never)]
fn minibatch_hand_step(n: &mut Hand, g: &mut HandGrad, batch: &[Sample]) -> f64 {
    minibatch_hand(n, g, black_box(batch), black_box(LR))
}

#[inline(never)]
fn block_step(n: &mut Mnist, (x, t): &OwnedBlock) -> f64 {
    n.sgd_step_batch(black_box(x), black_box(t), black_box(LR))
}

#[inline(never)]
fn gemm_step(n: &mut GemmMlp<f64>, (x, t): &(Vec<f64>, Vec<f64>)) -> f64 {
    n.sgd_step_batch(black_box(x), black_box(t), black_box(LR))
}

#[inline(never)]
fn block32_step(n: &mut Mnist32, b: &Block32) -> f64 {
    n.sgd_step_batch(black_box(&b.x), black_box(&b.k), black_box(LR32)) as f64
}

#[inline(never)]
fn gemm32_step(n: &mut GemmMlp<f32>, b: &Block32) -> f64 {
    n.sgd_step_batch(
        black_box(b.x.as_flattened()),
        black_box(&b.onehot),
        black_box(LR32),
    ) as f64
}

fn paired_all(data: &[Sample]) {
    let start = Mnist::new_boxed();
    let gen = Mnist::from_params_boxed(&start.params);
    let hand = Hand::from_params(&start.params);
    // Per-sample SGD: chunks of STEPS_PER_CHUNK steps on consecutive samples.
    let (mut next_a, mut next_b) = (cycle(data), cycle(data));
    paired::paired(
        "sgd_step/mnist_784_128_10",
        Chunk::new(STEPS_PER_CHUNK),
        side("generated", &gen, |n| sgd_generated(n, next_a())),
        side("hand-written", &hand, |n| sgd_hand(n, next_b())),
    );
    // Minibatch 32: chunks of one minibatch (32 samples).
    let chunk = Chunk::new(1).samples(BATCH);
    let batches: Vec<&[Sample]> = data.chunks_exact(BATCH).collect();
    let (mut next_a, mut next_b) = (cycle(&batches), cycle(&batches));
    let (mut ga, mut gb) = (generated_grad(), HandGrad::zeros());
    paired::paired(
        "minibatch32/mnist_784_128_10",
        chunk,
        side("generated", &gen, |n| {
            minibatch_generated_step(n, &mut ga, next_a())
        }),
        side("hand-written", &hand, |n| {
            minibatch_hand_step(n, &mut gb, next_b())
        }),
    );
    // f64 minibatch 32 as blocks: the block path against the dgemm trainer, and the
    // dgemm trainer against the per-sample loops.
    let flat = blocks64(data);
    let arrays: Vec<OwnedBlock> = data
        .chunks_exact(BATCH)
        .map(|b| {
            (
                b.iter().map(|s| s.0).collect(),
                b.iter().map(|s| s.1).collect(),
            )
        })
        .collect();
    let gemm = GemmMlp::new(IN, HID, OUT, Act::Relu, &start.params[..]);
    let (mut next_a, mut next_b) = (cycle(&arrays), cycle(&flat));
    paired::paired(
        "minibatch32 f64 sgd_step_batch vs dgemm/mnist_784_128_10",
        chunk,
        side("sgd_step_batch", &gen, |n| block_step(n, next_a())),
        side("hand-written dgemm", &gemm, |n| gemm_step(n, next_b())),
    );
    let (mut next_a, mut next_b) = (cycle(&flat), cycle(&batches));
    paired::paired(
        "minibatch32 f64 dgemm vs per-sample/mnist_784_128_10",
        chunk,
        side("hand-written dgemm", &gemm, |n| gemm_step(n, next_a())),
        side("hand-written per-sample", &hand, |n| {
            minibatch_hand_step(n, &mut gb, next_b())
        }),
    );
    // f32, batch 64, plain SGD: `benches/mnist_epoch.rs`'s step without the Trainer.
    let start32 = Mnist32::new_boxed();
    let gen32 = Mnist32::from_params_boxed(&start32.params);
    let gemm32 = GemmMlp::new(IN, HID, OUT, Act::Relu, &start32.params[..]);
    let b32 = blocks32(data);
    let (mut next_a, mut next_b) = (cycle(&b32), cycle(&b32));
    paired::paired(
        "minibatch64 f32 sgd_step_batch vs sgemm/mnist_784_128_10",
        Chunk::new(1).samples(BATCH32),
        side("sgd_step_batch", &gen32, |n| block32_step(n, next_a())),
        side("hand-written sgemm", &gemm32, |n| gemm32_step(n, next_b())),
    );
}

// ---------------------------------------------------------------------------------------
// Criterion benchmarks (sequential; the paired numbers above are the ones to trust)
// ---------------------------------------------------------------------------------------

/// Times one call of `step` on a network that evolves, reset to `start` every
/// `SAMPLES` calls, cycling through `count` inputs.
fn bench_cycle<N: Clone>(
    c: &mut Criterion,
    name: &str,
    start: &N,
    count: usize,
    mut step: impl FnMut(&mut N, usize) -> f64,
) {
    c.bench_function(name, |b| {
        let mut net = start.clone();
        let mut n = 0usize;
        b.iter(|| {
            n += 1;
            if n == SAMPLES {
                n = 0;
                net = start.clone();
            }
            step(&mut net, n % count)
        })
    });
}

fn bench_mnist(c: &mut Criterion, data: &[Sample]) {
    let start = Mnist::new_boxed();
    let gen = Mnist::from_params_boxed(&start.params);
    let hand = Hand::from_params(&start.params);
    bench_cycle(
        c,
        "sgd_step/mnist_784_128_10/generated",
        &gen,
        SAMPLES,
        |n, i| {
            let (x, t) = &data[i];
            n.sgd_step(black_box(x), black_box(t), black_box(LR))
        },
    );
    bench_cycle(
        c,
        "sgd_step/mnist_784_128_10/hand_written",
        &hand,
        SAMPLES,
        |n, i| {
            let (x, t) = &data[i];
            n.sgd_step(black_box(x), black_box(t), black_box(LR))
        },
    );
    let batches: Vec<&[Sample]> = data.chunks_exact(BATCH).collect();
    let mut ga = generated_grad();
    bench_cycle(
        c,
        "minibatch32/mnist_784_128_10/generated",
        &gen,
        batches.len(),
        |n, i| minibatch_generated(n, &mut ga, black_box(batches[i]), black_box(LR)),
    );
    let mut gb = HandGrad::zeros();
    bench_cycle(
        c,
        "minibatch32/mnist_784_128_10/hand_written",
        &hand,
        batches.len(),
        |n, i| minibatch_hand(n, &mut gb, black_box(batches[i]), black_box(LR)),
    );
}

fn main() {
    let data = data();
    check(&data);
    eprintln!(
        "generated == hand-written within 1e-12 (forward, loss, gradient on 8 samples; \
         params after 20 sgd_steps and 2 minibatch-32 updates)"
    );
    eprintln!(
        "Mnist: {} params, COST = {:?}",
        Mnist::NUM_PARAMS,
        Mnist::COST
    );

    // The paired measurement takes a few seconds; skip it when criterion is only
    // listing benchmarks or smoke-testing them (`cargo test --benches`).
    check_gemm(&data);
    eprintln!("sgd_step_batch == dgemm / sgemm trainers (params after 2 minibatches)");
    if paired::wanted() {
        paired_all(&data);
    }

    // Short runs on a small noisy machine; command-line flags still override these.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .configure_from_args();
    bench_mnist(&mut c, &data);
    c.final_summary();
}
