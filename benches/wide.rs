//! The 64-32-10 baseline for the tensor path: the code `network!` generates (the
//! tensor tier: kernel loops, GEMM blocks for minibatches) for a 64-32-10 sigmoid
//! classifier with softmax cross-entropy
//! (2,410 parameters, f64), against a careful hand-written Rust version with plain
//! constant-size loops (`[[f64; 64]; 32]`, ...): bias and activation fused into the
//! matvec, the hidden matvec register-blocked (4 rows x 2 partial sums), the sigmoid
//! derivative from the stored activation, stable log-softmax, `lr` applied to each
//! neuron's adjoint once and the update fused into the backward loop.
//!
//! Measured: (a) one-sample fused `sgd_step`; (b) a minibatch of 32:
//! `accumulate_gradient` over 32 samples into a zeroed gradient, then one update
//! `p -= lr/32 * g`. Data: the first `SAMPLES` images of the `digits` data set (8x8
//! pixels scaled to [0, 1]), visited in order.
//!
//! Before anything is timed, `main` checks that generated and hand-written code agree
//! within 1e-12: forward output, loss and full gradient on several samples, loss and
//! parameters after each of 20 SGD steps, and parameters after two minibatch-32
//! accumulate-then-update steps. Then a paired A/B measurement (generated and
//! hand-written interleaved in one process, median ns/sample of each and the median of
//! the per-round ratios), then short criterion runs.
//!
//! The minibatch is also measured against the baseline a careful engineer writes for
//! minibatches: the same algebra as blocks of matrix products through `matrixmultiply`'s
//! dgemm (`benches/common/gemm_mlp.rs`), against the generated block path
//! (`sgd_step_batch`).
//!
//! Run: `cargo bench --bench wide`. Results: docs/PERFORMANCE.md
//! ("64-32-10: the baseline for the tensor path", "Fair minibatch baselines").

// The hand-written net indexes several arrays with one counter, as numeric code does.
#![allow(clippy::needless_range_loop)]
use std::time::Duration;

use criterion::{black_box, Criterion};
use symnn::{datasets, network};

#[path = "common/gemm_mlp.rs"]
mod gemm_mlp;
#[path = "common/paired.rs"]
mod paired;
use gemm_mlp::{Act, GemmMlp};
use paired::{cycle, side, Chunk};

network! {
    /// 64-32-10 sigmoid classifier, softmax cross-entropy, f64.
    pub struct Wide {
        input x[64];
        target t[10];
        let h = dense(x, 32, sigmoid);
        output z = dense(h, 10, identity);
        loss = cross_entropy(z, t);
    }
}

const IN: usize = 64;
const HID: usize = 32;
const OUT: usize = 10;
const P: usize = HID * IN + HID + OUT * HID + OUT;
const _: () = assert!(P == Wide::NUM_PARAMS && IN.is_multiple_of(8) && HID.is_multiple_of(8));

/// Samples used (the first ones of `digits`), visited in order.
const SAMPLES: usize = 512;
const LR: f64 = 0.1;
const BATCH: usize = 32;

type Sample = ([f64; IN], [f64; OUT]);
/// A minibatch as the batch path takes it: inputs and targets apart.
type Block<'a> = (&'a [[f64; IN]], &'a [[f64; OUT]]);
/// The same, owned.
type OwnedBlock = (Vec<[f64; IN]>, Vec<[f64; OUT]>);

/// The first `SAMPLES` digits, pixels (0..=16) scaled to [0, 1], one-hot targets.
fn data() -> Vec<Sample> {
    let digits = datasets::digits::<f64>().data;
    (0..SAMPLES)
        .map(|i| {
            let (x, t) = digits.get(i);
            let mut xs = [0.0; IN];
            for (dst, &src) in xs.iter_mut().zip(x) {
                *dst = src / 16.0;
            }
            (xs, t.try_into().expect("10 targets"))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Hand-written 64-32-10
// ---------------------------------------------------------------------------------------

/// The 64-32-10 net written by hand: fixed-size arrays, constant trip counts, in the
/// generated code's parameter order (h.weight, h.bias, z.weight, z.bias; row-major).
#[derive(Clone, Debug)]
struct Hand {
    w1: [[f64; IN]; HID],
    b1: [f64; HID],
    w2: [[f64; HID]; OUT],
    b2: [f64; OUT],
}

/// dL/d(every parameter), laid out like `Hand`.
#[derive(Clone, Debug)]
struct HandGrad {
    w1: [[f64; IN]; HID],
    b1: [f64; HID],
    w2: [[f64; HID]; OUT],
    b2: [f64; OUT],
}

#[inline(always)]
fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// `sum_i w_i x_i` with 8 independent partial sums, combined pairwise at the end (the
/// output layer's 32-long rows).
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
    fn zeros() -> Self {
        HandGrad {
            w1: [[0.0; IN]; HID],
            b1: [0.0; HID],
            w2: [[0.0; HID]; OUT],
            b2: [0.0; OUT],
        }
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
    fn from_params(p: &[f64; P]) -> Self {
        let mut n = Hand {
            w1: [[0.0; IN]; HID],
            b1: [0.0; HID],
            w2: [[0.0; HID]; OUT],
            b2: [0.0; OUT],
        };
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

    /// Forward pass, bias and activation fused into the matvec loops; stable
    /// log-sum-exp of the logits (the exps are kept for the softmax).
    ///
    /// The hidden layer computes 4 rows at a time with 2 partial sums each, so each
    /// pair of inputs is loaded once per 4 rows and 8 independent add chains hide
    /// the add latency. Variants measured during development (paired, load 2.5–6,
    /// hand-written `sgd_step`, ratio generated/hand-written): one running sum per row
    /// 2.5 µs (1.97); 8 partial sums per row 1.33 µs (2.68); this 4-row blocking
    /// 1.04 µs (3.44); 8 rows at a time 1.06 µs (no better). Blocking the backward
    /// `w1` update the same way made `sgd_step` slower (1.13 µs), so that loop stays
    /// row by row (contiguous, vectorised).
    #[inline(always)]
    fn activations(&self, x: &[f64; IN]) -> Activations {
        let mut h = [0.0; HID];
        for j in (0..HID).step_by(4) {
            // 4 rows at a time, 2 lanes each: each x pair is loaded once for 4 rows.
            let mut acc = [[0.0; 2]; 4];
            for i in (0..IN).step_by(2) {
                for r in 0..4 {
                    acc[r][0] += self.w1[j + r][i] * x[i];
                    acc[r][1] += self.w1[j + r][i + 1] * x[i + 1];
                }
            }
            for r in 0..4 {
                h[j + r] = sigmoid(self.b1[j + r] + (acc[r][0] + acc[r][1]));
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

    /// Adds dL/dparams for one sample into `g`; returns the loss.
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
            let hj = a.h[j];
            let d = dh[j] * (hj * (1.0 - hj));
            for i in 0..IN {
                g.w1[j][i] += d * x[i];
            }
            g.b1[j] += d;
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
    /// they are overwritten in the same loop; `lr` scales each neuron's adjoint once.
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
            let hj = a.h[j];
            let ld = lr * dh[j] * (hj * (1.0 - hj));
            for i in 0..IN {
                self.w1[j][i] -= ld * x[i];
            }
            self.b1[j] -= ld;
        }
        loss
    }
}

/// One minibatch: zeroed gradient, accumulate over `batch`, then `p -= lr/n * g`.
#[inline]
fn minibatch_generated(net: &mut Wide, batch: &[Sample], lr: f64) -> f64 {
    let mut g = [0.0; P];
    let mut loss = 0.0;
    for (x, t) in batch {
        loss += net.accumulate_gradient(x, t, &mut g);
    }
    let scale = lr / batch.len() as f64;
    for (p, g) in net.params.iter_mut().zip(&g) {
        *p -= scale * g;
    }
    loss
}

/// The same through the batch path: `accumulate_gradient_batch` over the block (the
/// layers as matrix products over its 32 samples), then the same update.
fn minibatch_block(net: &mut Wide, xs: &[[f64; IN]], ts: &[[f64; OUT]], lr: f64) -> f64 {
    let mut g = [0.0; P];
    let loss = net.accumulate_gradient_batch(xs, ts, &mut g);
    let scale = lr / xs.len() as f64;
    for (p, g) in net.params.iter_mut().zip(&g) {
        *p -= scale * g;
    }
    loss
}

/// The same for the hand-written net.
#[inline]
fn minibatch_hand(net: &mut Hand, batch: &[Sample], lr: f64) -> f64 {
    let mut g = HandGrad::zeros();
    let mut loss = 0.0;
    for (x, t) in batch {
        loss += net.accumulate_gradient(x, t, &mut g);
    }
    net.update(&g, lr / batch.len() as f64);
    loss
}

// ---------------------------------------------------------------------------------------
// Equivalence checks (run before timing)
// ---------------------------------------------------------------------------------------

fn assert_close(what: &str, a: &[f64], b: &[f64]) {
    paired::assert_close(what, a, b, 1e-12);
}

fn check(data: &[Sample]) {
    // The hand-written layout is the generated one.
    let groups: Vec<(&str, &[usize], usize)> = Wide::PARAM_GROUPS
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
    let start = Wide::new().params;
    let mut gen = Wide::from_params(start);
    let mut hand = Hand::from_params(&start);
    assert_close("params at start", &gen.params, &hand.params());

    for (i, (x, t)) in data.iter().enumerate().take(8) {
        assert_close(&format!("forward {i}"), &gen.forward(x), &hand.forward(x));
        let (lg, gg) = gen.gradient(x, t);
        let mut gh = HandGrad::zeros();
        let lh = hand.accumulate_gradient(x, t, &mut gh);
        assert_close(&format!("gradient loss {i}"), &[lg], &[lh]);
        assert_close(&format!("gradient {i}"), &gg, &gh.flat());
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
    for (b, batch) in data.chunks_exact(BATCH).take(2).enumerate() {
        let lg = minibatch_generated(&mut gen, batch, LR);
        let lh = minibatch_hand(&mut hand, batch, LR);
        assert_close(&format!("minibatch loss {b}"), &[lg], &[lh]);
        assert_close(
            &format!("params after minibatch {b}"),
            &gen.params,
            &hand.params(),
        );
    }
    // The batch path lands on the same parameters as the one-sample minibatch.
    let mut block = Wide::from_params(gen.params);
    for (b, batch) in data.chunks_exact(BATCH).skip(2).take(2).enumerate() {
        let xs: Vec<[f64; IN]> = batch.iter().map(|(x, _)| *x).collect();
        let ts: Vec<[f64; OUT]> = batch.iter().map(|(_, t)| *t).collect();
        let lb = minibatch_block(&mut block, &xs, &ts, LR);
        let lh = minibatch_hand(&mut hand, batch, LR);
        assert_close(&format!("block minibatch loss {b}"), &[lb], &[lh]);
        assert_close(
            &format!("params after block minibatch {b}"),
            &block.params,
            &hand.params(),
        );
    }
    // The dgemm minibatch trainer and the generated `sgd_step_batch` take the same
    // steps.
    let mut gemm = GemmMlp::new(IN, HID, OUT, Act::Sigmoid, &block.params);
    for (b, (xs, ts)) in blocks(data).into_iter().skip(4).take(2).enumerate() {
        let lb = block.sgd_step_batch(&xs, &ts, LR);
        let lg = gemm.sgd_step_batch(xs.as_flattened(), ts.as_flattened(), LR);
        assert_close(&format!("gemm minibatch loss {b}"), &[lb], &[lg]);
        assert_close(
            &format!("params after gemm minibatch {b}"),
            &block.params,
            &gemm.params,
        );
    }
    // Sanity: the checks ran on a net that is learning, not a constant one.
    assert!(gen.params != start);
}

/// The data as blocks of `BATCH` inputs and targets (the batch path's form).
fn blocks(data: &[Sample]) -> Vec<OwnedBlock> {
    data.chunks_exact(BATCH)
        .map(|batch| {
            (
                batch.iter().map(|(x, _)| *x).collect(),
                batch.iter().map(|(_, t)| *t).collect(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Paired measurement (benches/common/paired.rs)
// ---------------------------------------------------------------------------------------

// The measured calls, each compiled on its own (`#[inline(never)]`): no timing loop is
// compiled into them (docs/PERFORMANCE.md, "The measuring stick").

#[inline(never)]
fn sgd_generated(n: &mut Wide, (x, t): &Sample) -> f64 {
    n.sgd_step(black_box(x), black_box(t), black_box(LR))
}

#[inline(never)]
fn sgd_hand(n: &mut Hand, (x, t): &Sample) -> f64 {
    n.sgd_step(black_box(x), black_box(t), black_box(LR))
}

#[inline(never)]
fn minibatch_generated_step(n: &mut Wide, batch: &[Sample]) -> f64 {
    minibatch_generated(n, black_box(batch), black_box(LR))
}

#[inline(never)]
fn minibatch_hand_step(n: &mut Hand, batch: &[Sample]) -> f64 {
    minibatch_hand(n, black_box(batch), black_box(LR))
}

#[inline(never)]
fn minibatch_block_step(n: &mut Wide, (x, t): &Block) -> f64 {
    minibatch_block(n, black_box(x), black_box(t), black_box(LR))
}

#[inline(never)]
fn sgd_step_batch_step(n: &mut Wide, (x, t): &Block) -> f64 {
    n.sgd_step_batch(black_box(x), black_box(t), black_box(LR))
}

#[inline(never)]
fn gemm_step(n: &mut GemmMlp<f64>, (x, t): &Block) -> f64 {
    n.sgd_step_batch(
        black_box(x.as_flattened()),
        black_box(t.as_flattened()),
        black_box(LR),
    )
}

/// `minibatch_generated` with the gradient buffer supplied (to place it).
#[inline(never)]
fn minibatch_generated_into(net: &mut Wide, g: &mut [f64; P], batch: &[Sample]) -> f64 {
    g.fill(0.0);
    let mut loss = 0.0;
    for (x, t) in black_box(batch) {
        loss += net.accumulate_gradient(x, t, g);
    }
    let scale = black_box(LR) / batch.len() as f64;
    for (p, g) in net.params.iter_mut().zip(g.iter()) {
        *p -= scale * g;
    }
    loss
}

/// Data placement probe (`SYMNN_PLACEMENT_PROBE=1 cargo bench --bench wide`): the
/// generated minibatch with its gradient buffer at several distances (mod 4 KiB) from
/// the parameters, each paired against the same code with the buffer 2 KiB away.
/// Loads that follow a store to an address 4 KiB apart in the low 12 bits can be held
/// up as if they depended on it (the "4K aliasing" of x86 cores), and
/// `accumulate_gradient` reads `params[k]` and writes `g[k]` in the same loops.
fn placement_probe(data: &[Sample]) {
    let batches: Vec<&[Sample]> = data.chunks_exact(BATCH).collect();
    let start = Box::new(Wide::new());
    // Where the state's params land: one Box per chunk clone would move them, so the
    // probe keeps one network and one buffer for the whole run (reset per chunk).
    let mut net = start.clone();
    let mut buf = vec![0.0f64; P + 1024];
    let base = |net: &Wide, buf: &[f64]| (buf.as_ptr() as usize, net.params.as_ptr() as usize);
    let at = |net: &Wide, buf: &[f64], delta: usize| -> usize {
        // Offset (in f64s) into buf so that (g - params) mod 4096 == delta.
        let (b, p) = base(net, buf);
        ((p + delta).wrapping_sub(b) % 4096) / 8
    };
    let reference = 2048;
    for delta in [0usize, 8, 32, 64, 128, 256, 1024, 2896, 4032, 4088] {
        let (oa, ob) = (at(&net, &buf, delta), at(&net, &buf, reference));
        let time = |off: usize, net: &mut Wide, buf: &mut [f64]| {
            net.params = start.params;
            let g: &mut [f64; P] = (&mut buf[off..off + P]).try_into().expect("P");
            let t = std::time::Instant::now();
            for b in &batches[..8] {
                black_box(minibatch_generated_into(net, g, b));
            }
            t.elapsed().as_secs_f64() * 1e9 / (8 * BATCH) as f64
        };
        let (n, bf) = (&mut net, &mut buf);
        let r = {
            let cell = std::cell::RefCell::new((n, bf));
            paired::interleave(
                401,
                20,
                || {
                    let (n, b) = &mut *cell.borrow_mut();
                    time(oa, n, b)
                },
                || {
                    let (n, b) = &mut *cell.borrow_mut();
                    time(ob, n, b)
                },
            )
        };
        eprintln!(
            "placement probe: g - params = {delta:>4} mod 4096: {:.1} ns/sample, at 2048: {:.1}, median ratio {:.3}",
            r.a, r.b, r.ratio
        );
    }
}

fn paired_all(data: &[Sample]) {
    let start = Wide::new().params;
    let gen = Wide::from_params(start);
    let hand = Hand::from_params(&start);
    // Per-sample SGD: chunks of 256 steps on consecutive samples.
    let (mut next_a, mut next_b) = (cycle(data), cycle(data));
    paired::paired(
        "sgd_step/wide_64_32_10",
        Chunk::new(256),
        side("generated", &gen, |n| sgd_generated(n, next_a())),
        side("hand-written", &hand, |n| sgd_hand(n, next_b())),
    );
    // Minibatch 32: chunks of 8 minibatches (256 samples).
    let chunk = Chunk::new(8).samples(BATCH);
    let batches: Vec<&[Sample]> = data.chunks_exact(BATCH).collect();
    let (mut next_a, mut next_b) = (cycle(&batches), cycle(&batches));
    paired::paired(
        "minibatch32/wide_64_32_10",
        chunk,
        side("generated", &gen, |n| minibatch_generated_step(n, next_a())),
        side("hand-written", &hand, |n| minibatch_hand_step(n, next_b())),
    );
    // Minibatch 32 through the batch path, against the same per-sample hand-written
    // loops (block path against one sample at a time: not a like-for-like baseline).
    let xs: Vec<[f64; IN]> = data.iter().map(|(x, _)| *x).collect();
    let ts: Vec<[f64; OUT]> = data.iter().map(|(_, t)| *t).collect();
    let blocks: Vec<Block> = xs.chunks_exact(BATCH).zip(ts.chunks_exact(BATCH)).collect();
    let (mut next_a, mut next_b) = (cycle(&blocks), cycle(&batches));
    paired::paired(
        "minibatch32_block/wide_64_32_10",
        chunk,
        side("block", &gen, |n| minibatch_block_step(n, next_a())),
        side("hand-written per-sample", &hand, |n| {
            minibatch_hand_step(n, next_b())
        }),
    );
    // The like-for-like baseline: the same minibatch as dgemm calls over the block.
    let gemm = GemmMlp::new(IN, HID, OUT, Act::Sigmoid, &start);
    let (mut next_a, mut next_b) = (cycle(&blocks), cycle(&blocks));
    paired::paired(
        "minibatch32 sgd_step_batch vs dgemm/wide_64_32_10",
        chunk,
        side("sgd_step_batch", &gen, |n| sgd_step_batch_step(n, next_a())),
        side("hand-written dgemm", &gemm, |n| gemm_step(n, next_b())),
    );
    let (mut next_a, mut next_b) = (cycle(&blocks), cycle(&batches));
    paired::paired(
        "minibatch32 dgemm vs per-sample/wide_64_32_10",
        chunk,
        side("hand-written dgemm", &gemm, |n| gemm_step(n, next_a())),
        side("hand-written per-sample", &hand, |n| {
            minibatch_hand_step(n, next_b())
        }),
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

fn bench_wide(c: &mut Criterion, data: &[Sample]) {
    let start = Wide::new().params;
    let gen = Wide::from_params(start);
    let hand = Hand::from_params(&start);
    bench_cycle(
        c,
        "sgd_step/wide_64_32_10/generated",
        &gen,
        SAMPLES,
        |n, i| {
            let (x, t) = &data[i];
            n.sgd_step(black_box(x), black_box(t), black_box(LR))
        },
    );
    bench_cycle(
        c,
        "sgd_step/wide_64_32_10/hand_written",
        &hand,
        SAMPLES,
        |n, i| {
            let (x, t) = &data[i];
            n.sgd_step(black_box(x), black_box(t), black_box(LR))
        },
    );
    let batches: Vec<&[Sample]> = data.chunks_exact(BATCH).collect();
    bench_cycle(
        c,
        "minibatch32/wide_64_32_10/generated",
        &gen,
        batches.len(),
        |n, i| minibatch_generated(n, black_box(batches[i]), black_box(LR)),
    );
    bench_cycle(
        c,
        "minibatch32/wide_64_32_10/hand_written",
        &hand,
        batches.len(),
        |n, i| minibatch_hand(n, black_box(batches[i]), black_box(LR)),
    );
}

fn main() {
    let data = data();
    check(&data);
    eprintln!(
        "generated == hand-written within 1e-12 (forward, loss, gradient on 8 samples; \
         params after 20 sgd_steps and 2 minibatch-32 updates)"
    );
    eprintln!("Wide: {} params, COST = {:?}", Wide::NUM_PARAMS, Wide::COST);

    // The paired measurement takes a few seconds; skip it when criterion is only
    // listing benchmarks or smoke-testing them (`cargo test --benches`).
    if paired::wanted() {
        paired_all(&data);
    }
    if std::env::var_os("SYMNN_PLACEMENT_PROBE").is_some() {
        placement_probe(&data);
    }

    // Short runs on a small noisy machine; command-line flags still override these.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .configure_from_args();
    bench_wide(&mut c, &data);
    c.final_summary();
}
