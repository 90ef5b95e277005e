//! `sgd_step` (and, for the MLP, `gradient` and `forward`) of the code `network!`
//! generates, against a hand-written Rust version of the same computation.
//!
//! Before anything is timed, `main` checks that the generated and the hand-written code
//! compute the same thing: same loss, same output, same gradient and the same parameters
//! after a few simultaneous SGD steps from the same start (within 1e-12). It then prints
//! a paired A/B measurement (generated and hand-written interleaved, robust to the load
//! drifting between criterion's sequential benchmarks) before the criterion benchmarks.
//!
//! The 2-8-8-1 hand-written step is measured twice: with glibc's `tanh` (what a Rust
//! programmer writes, `f64::tanh`) and with `symnn::math::tanh` (the polynomial the
//! generated code calls), so the ratio separates the code generator from the math
//! library.
//!
//! Run: `cargo bench --bench sgd_step`. Results: docs/PERFORMANCE.md.

// The hand-written nets index several arrays with one counter, as numeric code does.
#![allow(clippy::needless_range_loop)]
use std::time::Duration;

use criterion::{black_box, Criterion};
use symnn::network;

#[path = "common/paired.rs"]
mod paired;
use paired::{side, Chunk};

network! {
    /// 2-2-1 classifier with one shared bias (tests/seed_003.rs).
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

const SEED_X: [f64; 2] = [0.35, 0.9];
const SEED_Y: [f64; 1] = [1.0];
const SEED_LR: f64 = 0.3;

const MLP_X: [f64; 2] = [0.35, -0.9];
const MLP_T: [f64; 1] = [0.5];
const MLP_LR: f64 = 0.05;

/// Steps after which the benchmarked network is reset to its start, so that the timed
/// state stays in the regime of a real training run (not saturated after millions of
/// steps on one sample). Same for generated and hand-written; also the calls of one
/// chunk of the paired measurement.
const RESET_EVERY: u32 = 1024;

// ---------------------------------------------------------------------------------------
// Hand-written seed 003
// ---------------------------------------------------------------------------------------

/// Seed 003 written by hand: named scalars, shared bias.
#[derive(Clone, Copy, Debug)]
struct HandSeed {
    w0: f64,
    w13: f64,
    w14: f64,
    w23: f64,
    w24: f64,
    w35: f64,
    w45: f64,
}

#[inline(always)]
fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl HandSeed {
    fn from_params(p: [f64; 7]) -> Self {
        Self {
            w0: p[0],
            w13: p[1],
            w14: p[2],
            w23: p[3],
            w24: p[4],
            w35: p[5],
            w45: p[6],
        }
    }

    fn params(&self) -> [f64; 7] {
        [
            self.w0, self.w13, self.w14, self.w23, self.w24, self.w35, self.w45,
        ]
    }

    /// One simultaneous SGD step; returns the loss before it. The BCE is computed from
    /// the logit with one `exp` shared between the output sigmoid and the softplus, so
    /// it stays finite for large |z5| (as the spec requires of the generated code) and
    /// costs 3 `exp` + 1 `ln_1p` in all.
    #[inline]
    fn sgd_step(&mut self, x: &[f64; 2], y: &[f64; 1], lr: f64) -> f64 {
        let (x1, x2, y) = (x[0], x[1], y[0]);
        let two_b = self.w0 + self.w0;
        let f3 = sigmoid(x1 * self.w13 + x2 * self.w23 + two_b);
        let f4 = sigmoid(x1 * self.w14 + x2 * self.w24 + two_b);
        let z5 = f3 * self.w35 + f4 * self.w45 + two_b;
        let e = (-z5.abs()).exp();
        let r = 1.0 / (1.0 + e);
        let f5 = if z5 >= 0.0 { r } else { e * r };
        // -(y ln f5 + (1 - y) ln(1 - f5)) = softplus(z5) - y z5
        let loss = z5.max(0.0) + e.ln_1p() - y * z5;

        let d5 = f5 - y; // dL/dz5
        let d3 = d5 * self.w35 * f3 * (1.0 - f3); // dL/dz3
        let d4 = d5 * self.w45 * f4 * (1.0 - f4); // dL/dz4

        // (Scaling each neuron's adjoint by `lr` once, `l3 = lr * d3; w13 -= x1 * l3`,
        // as the generated step does, made this hand-written step *slower* here: paired
        // ratio generated/hand-written 0.94-0.95 instead of 0.97-0.98, two runs each,
        // load ~3. This net is latency-bound; `lr * (x1 * d3)` keeps `lr` off the
        // chain. The faster form is kept, so the baseline is the careful one.)
        let g0 = 2.0 * (d3 + d4 + d5);
        self.w0 -= lr * g0;
        self.w13 -= lr * (x1 * d3);
        self.w23 -= lr * (x2 * d3);
        self.w14 -= lr * (x1 * d4);
        self.w24 -= lr * (x2 * d4);
        self.w35 -= lr * (f3 * d5);
        self.w45 -= lr * (f4 * d5);
        loss
    }
}

// ---------------------------------------------------------------------------------------
// Hand-written 2-8-8-1 tanh MLP
// ---------------------------------------------------------------------------------------

/// The 2-8-8-1 MLP written by hand: fixed-size arrays, constant trip counts.
/// `SYMNN_TANH`: `symnn::math::tanh` (as the generated code) instead of glibc's.
#[derive(Clone, Copy, Debug)]
struct HandMlp<const SYMNN_TANH: bool> {
    w1: [[f64; 2]; 8],
    b1: [f64; 8],
    w2: [[f64; 8]; 8],
    b2: [f64; 8],
    w3: [f64; 8],
    b3: f64,
}

/// dL/d(every parameter), laid out like `HandMlp`.
#[derive(Clone, Copy, Debug)]
struct HandMlpGrad {
    w1: [[f64; 2]; 8],
    b1: [f64; 8],
    w2: [[f64; 8]; 8],
    b2: [f64; 8],
    w3: [f64; 8],
    b3: f64,
}

/// The hand-written 2-8-8-1 with glibc's `tanh`.
type HandMlpGlibc = HandMlp<false>;
/// The hand-written 2-8-8-1 with `symnn::math::tanh`.
type HandMlpSymnn = HandMlp<true>;

impl<const SYMNN_TANH: bool> HandMlp<SYMNN_TANH> {
    /// `tanh` over a layer: glibc's per element, or `symnn::math::tanh_in_place`
    /// (one vectorisable loop; `z.map(symnn::math::tanh)` measured slower).
    #[inline(always)]
    fn tanh(mut z: [f64; 8]) -> [f64; 8] {
        if SYMNN_TANH {
            symnn::math::tanh_in_place(&mut z);
            z
        } else {
            z.map(f64::tanh)
        }
    }

    /// From the generated code's layout: h1.weight, h1.bias, h2.weight, h2.bias,
    /// y.weight, y.bias, row-major.
    fn from_params(p: &[f64; 105]) -> Self {
        let mut n = HandMlp {
            w1: [[0.0; 2]; 8],
            b1: [0.0; 8],
            w2: [[0.0; 8]; 8],
            b2: [0.0; 8],
            w3: [0.0; 8],
            b3: 0.0,
        };
        let mut it = p.iter().copied();
        let mut next = || it.next().unwrap();
        n.w1.iter_mut().flatten().for_each(|v| *v = next());
        n.b1.iter_mut().for_each(|v| *v = next());
        n.w2.iter_mut().flatten().for_each(|v| *v = next());
        n.b2.iter_mut().for_each(|v| *v = next());
        n.w3.iter_mut().for_each(|v| *v = next());
        n.b3 = next();
        n
    }

    fn params(&self) -> Vec<f64> {
        let mut v = Vec::with_capacity(105);
        v.extend(self.w1.iter().flatten());
        v.extend(self.b1);
        v.extend(self.w2.iter().flatten());
        v.extend(self.b2);
        v.extend(self.w3);
        v.push(self.b3);
        v
    }

    /// Forward pass keeping the activations: each layer's pre-activations first, then
    /// the activation function over the layer.
    #[inline(always)]
    fn activations(&self, x: &[f64; 2]) -> ([f64; 8], [f64; 8], f64) {
        let mut z1 = self.b1;
        for j in 0..8 {
            z1[j] += self.w1[j][0] * x[0] + self.w1[j][1] * x[1];
        }
        let h1 = Self::tanh(z1);
        let mut z2 = self.b2;
        for j in 0..8 {
            let mut s = 0.0;
            for k in 0..8 {
                s += self.w2[j][k] * h1[k];
            }
            z2[j] += s;
        }
        let h2 = Self::tanh(z2);
        let mut y = self.b3;
        for k in 0..8 {
            y += self.w3[k] * h2[k];
        }
        (h1, h2, y)
    }

    #[inline]
    fn forward(&self, x: &[f64; 2]) -> [f64; 1] {
        [self.activations(x).2]
    }

    /// Loss and full gradient (no update).
    #[inline]
    fn gradient(&self, x: &[f64; 2], t: &[f64; 1]) -> (f64, HandMlpGrad) {
        let (h1, h2, y) = self.activations(x);
        let diff = y - t[0];
        let loss = diff * diff;
        let dy = 2.0 * diff;
        let mut g = HandMlpGrad {
            w1: [[0.0; 2]; 8],
            b1: [0.0; 8],
            w2: [[0.0; 8]; 8],
            b2: [0.0; 8],
            w3: [0.0; 8],
            b3: dy,
        };
        let mut dz2 = [0.0; 8];
        for j in 0..8 {
            g.w3[j] = dy * h2[j];
            dz2[j] = dy * self.w3[j] * (1.0 - h2[j] * h2[j]);
        }
        let mut dh1 = [0.0; 8];
        for j in 0..8 {
            g.b2[j] = dz2[j];
            for k in 0..8 {
                g.w2[j][k] = dz2[j] * h1[k];
                dh1[k] += self.w2[j][k] * dz2[j];
            }
        }
        for j in 0..8 {
            let dz1 = dh1[j] * (1.0 - h1[j] * h1[j]);
            g.b1[j] = dz1;
            g.w1[j][0] = dz1 * x[0];
            g.w1[j][1] = dz1 * x[1];
        }
        (loss, g)
    }

    /// Fused simultaneous SGD step: every gradient is computed from the old parameters
    /// (each layer's weights are read for backprop before they are overwritten).
    #[inline]
    fn sgd_step(&mut self, x: &[f64; 2], t: &[f64; 1], lr: f64) -> f64 {
        let (h1, h2, y) = self.activations(x);
        let diff = y - t[0];
        let loss = diff * diff;
        let dy = 2.0 * diff;

        let mut dz2 = [0.0; 8];
        for j in 0..8 {
            dz2[j] = dy * self.w3[j] * (1.0 - h2[j] * h2[j]);
            self.w3[j] -= lr * dy * h2[j];
        }
        self.b3 -= lr * dy;

        let mut dh1 = [0.0; 8];
        for j in 0..8 {
            let d = dz2[j];
            let ld = lr * d;
            for k in 0..8 {
                dh1[k] += self.w2[j][k] * d;
                self.w2[j][k] -= ld * h1[k];
            }
            self.b2[j] -= ld;
        }

        for j in 0..8 {
            let ld = lr * dh1[j] * (1.0 - h1[j] * h1[j]);
            self.b1[j] -= ld;
            self.w1[j][0] -= ld * x[0];
            self.w1[j][1] -= ld * x[1];
        }
        loss
    }
}

impl HandMlpGrad {
    fn flat(&self) -> Vec<f64> {
        let mut v = Vec::with_capacity(105);
        v.extend(self.w1.iter().flatten());
        v.extend(self.b1);
        v.extend(self.w2.iter().flatten());
        v.extend(self.b2);
        v.extend(self.w3);
        v.push(self.b3);
        v
    }
}

// ---------------------------------------------------------------------------------------
// Equivalence checks (run before timing)
// ---------------------------------------------------------------------------------------

fn assert_close(what: &str, a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-12,
            "{what}[{i}]: generated {x} vs hand-written {y}"
        );
    }
}

fn check_seed003() {
    let start = Seed003::new().params;
    let mut gen = Seed003::from_params(start);
    let mut hand = HandSeed::from_params(start);
    for step in 0..10 {
        let lg = gen.sgd_step(&SEED_X, &SEED_Y, SEED_LR);
        let lh = hand.sgd_step(&SEED_X, &SEED_Y, SEED_LR);
        assert_close(&format!("seed003 loss, step {step}"), &[lg], &[lh]);
        assert_close(
            &format!("seed003 params after step {step}"),
            &gen.params,
            &hand.params(),
        );
    }
}

fn check_mlp<const SYMNN_TANH: bool>() {
    let samples = [
        ([0.35, -0.9], [0.5]),
        ([-1.0, 0.25], [-0.3]),
        ([0.8, 0.6], [1.2]),
    ];
    let start = Mlp::new().params;
    let mut gen = Mlp::from_params(start);
    let mut hand = HandMlp::<SYMNN_TANH>::from_params(&start);
    assert_close("mlp params at start", &gen.params, &hand.params());
    for step in 0..12 {
        let (x, t) = &samples[step % samples.len()];
        assert_close(
            &format!("mlp forward, step {step}"),
            &gen.forward(x),
            &hand.forward(x),
        );
        let (lg, gg) = gen.gradient(x, t);
        let (lh, gh) = hand.gradient(x, t);
        assert_close(&format!("mlp gradient loss, step {step}"), &[lg], &[lh]);
        assert_close(&format!("mlp gradient, step {step}"), &gg, &gh.flat());
        let lg = gen.sgd_step(x, t, MLP_LR);
        let lh = hand.sgd_step(x, t, MLP_LR);
        assert_close(&format!("mlp sgd_step loss, step {step}"), &[lg], &[lh]);
        assert_close(
            &format!("mlp params after step {step}"),
            &gen.params,
            &hand.params(),
        );
    }
}

// ---------------------------------------------------------------------------------------
// Paired measurement (benches/common/paired.rs)
// ---------------------------------------------------------------------------------------

// The measured steps, each compiled on its own (`#[inline(never)]`) so that no timing
// loop, wherever it lives, is compiled into them (docs/PERFORMANCE.md, "The measuring
// stick"). Inputs, targets and `lr` are opaque to the optimiser.

#[inline(never)]
fn seed_generated(n: &mut Seed003) -> f64 {
    n.sgd_step(black_box(&SEED_X), black_box(&SEED_Y), black_box(SEED_LR))
}

#[inline(never)]
fn seed_hand(n: &mut HandSeed) -> f64 {
    n.sgd_step(black_box(&SEED_X), black_box(&SEED_Y), black_box(SEED_LR))
}

#[inline(never)]
fn mlp_generated(n: &mut Mlp) -> f64 {
    n.sgd_step(black_box(&MLP_X), black_box(&MLP_T), black_box(MLP_LR))
}

#[inline(never)]
fn mlp_hand<const S: bool>(n: &mut HandMlp<S>) -> f64 {
    n.sgd_step(black_box(&MLP_X), black_box(&MLP_T), black_box(MLP_LR))
}

/// The hand-written step compiled a second time with `avx2,fma`, behind the same
/// run-time check the generated one-sample code uses (`symnn::simd::isa()`): the row
/// against it separates what the instruction set buys from what the code generator
/// does.
#[inline(never)]
fn mlp_hand_avx2<const S: bool>(n: &mut HandMlp<S>) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn avx2<const S: bool>(n: &mut HandMlp<S>) -> f64 {
            n.sgd_step(black_box(&MLP_X), black_box(&MLP_T), black_box(MLP_LR))
        }
        if symnn::simd::isa() >= symnn::simd::Isa::Avx2Fma {
            // SAFETY: the CPU has AVX2 and FMA (detected at run time).
            return unsafe { avx2(n) };
        }
    }
    n.sgd_step(black_box(&MLP_X), black_box(&MLP_T), black_box(MLP_LR))
}

#[inline(never)]
fn mlp_gradient_generated(n: &mut Mlp) -> f64 {
    black_box(black_box(&*n).gradient(black_box(&MLP_X), black_box(&MLP_T))).0
}

#[inline(never)]
fn mlp_gradient_hand<const S: bool>(n: &mut HandMlp<S>) -> f64 {
    black_box(black_box(&*n).gradient(black_box(&MLP_X), black_box(&MLP_T))).0
}

#[inline(never)]
fn mlp_forward_generated(n: &mut Mlp) -> f64 {
    black_box(&*n).forward(black_box(&MLP_X))[0]
}

#[inline(never)]
fn mlp_forward_hand<const S: bool>(n: &mut HandMlp<S>) -> f64 {
    black_box(&*n).forward(black_box(&MLP_X))[0]
}

/// Chunks of `RESET_EVERY` calls, each from the start state (so a step's network
/// evolves for 1024 steps, then is reset); 401 rounds.
const CHUNK: Chunk = Chunk::new(RESET_EVERY as usize);

/// The 2-8-8-1 generated code against one hand-written version.
fn mlp_vs_hand<const S: bool>(gen: &Mlp, hand: &HandMlp<S>) {
    let tanh = if S { "symnn::math::tanh" } else { "glibc tanh" };
    for (f, g, h) in [
        (
            "sgd_step",
            mlp_generated as fn(&mut Mlp) -> f64,
            mlp_hand::<S> as fn(&mut HandMlp<S>) -> f64,
        ),
        ("gradient", mlp_gradient_generated, mlp_gradient_hand::<S>),
        ("forward", mlp_forward_generated, mlp_forward_hand::<S>),
    ] {
        paired::paired(
            &format!("{f}/mlp_2_8_8_1 vs hand-written with {tanh}"),
            CHUNK,
            side("generated", gen, g),
            side("hand-written", hand, h),
        );
    }
    paired::paired(
        &format!("sgd_step/mlp_2_8_8_1 vs hand-written with {tanh}, also compiled with avx2,fma"),
        CHUNK,
        side("generated", gen, mlp_generated),
        side("hand-written avx2", hand, mlp_hand_avx2::<S>),
    );
}

fn paired_all() {
    let start = Seed003::new().params;
    paired::paired(
        "sgd_step/seed003",
        CHUNK,
        side("generated", &Seed003::from_params(start), seed_generated),
        side("hand-written", &HandSeed::from_params(start), seed_hand),
    );
    let start = Mlp::new().params;
    let gen = Mlp::from_params(start);
    let glibc = HandMlpGlibc::from_params(&start);
    mlp_vs_hand(&gen, &glibc);
    mlp_vs_hand(&gen, &HandMlpSymnn::from_params(&start));
    // Diagnostic: the same pair with both steps inlined into the harness's chunk loop
    // (what the loops copied into each bench measured before): how much the calling
    // context moves the ratio.
    paired::paired(
        "sgd_step/mlp_2_8_8_1 vs glibc, both inlined into the timing loop",
        CHUNK,
        side("generated", &gen, |n: &mut Mlp| {
            n.sgd_step(black_box(&MLP_X), black_box(&MLP_T), black_box(MLP_LR))
        }),
        side("hand-written", &glibc, |n: &mut HandMlpGlibc| {
            n.sgd_step(black_box(&MLP_X), black_box(&MLP_T), black_box(MLP_LR))
        }),
    );
}

// ---------------------------------------------------------------------------------------
// Benchmarks
// ---------------------------------------------------------------------------------------

/// Times `step` on a network that evolves, reset to `start` every `RESET_EVERY` steps.
fn bench_steps<N: Clone>(
    c: &mut Criterion,
    name: &str,
    start: &N,
    mut step: impl FnMut(&mut N) -> f64,
) {
    c.bench_function(name, |b| {
        let mut net = start.clone();
        let mut n = 0u32;
        b.iter(|| {
            n += 1;
            if n == RESET_EVERY {
                n = 0;
                net = start.clone();
            }
            step(&mut net)
        })
    });
}

fn bench_seed003(c: &mut Criterion) {
    let start = Seed003::new().params;
    bench_steps(
        c,
        "sgd_step/seed003/generated",
        &Seed003::from_params(start),
        |net| net.sgd_step(black_box(&SEED_X), black_box(&SEED_Y), black_box(SEED_LR)),
    );
    bench_steps(
        c,
        "sgd_step/seed003/hand_written",
        &HandSeed::from_params(start),
        |net| net.sgd_step(black_box(&SEED_X), black_box(&SEED_Y), black_box(SEED_LR)),
    );
}

fn bench_mlp(c: &mut Criterion) {
    let start = Mlp::new().params;
    let gen = Mlp::from_params(start);
    let hand = HandMlpGlibc::from_params(&start);

    bench_steps(c, "sgd_step/mlp_2_8_8_1/generated", &gen, |net| {
        net.sgd_step(black_box(&MLP_X), black_box(&MLP_T), black_box(MLP_LR))
    });
    bench_steps(c, "sgd_step/mlp_2_8_8_1/hand_written", &hand, |net| {
        net.sgd_step(black_box(&MLP_X), black_box(&MLP_T), black_box(MLP_LR))
    });

    c.bench_function("gradient/mlp_2_8_8_1/generated", |b| {
        b.iter(|| black_box(&gen).gradient(black_box(&MLP_X), black_box(&MLP_T)))
    });
    c.bench_function("gradient/mlp_2_8_8_1/hand_written", |b| {
        b.iter(|| black_box(&hand).gradient(black_box(&MLP_X), black_box(&MLP_T)))
    });

    c.bench_function("forward/mlp_2_8_8_1/generated", |b| {
        b.iter(|| black_box(&gen).forward(black_box(&MLP_X)))
    });
    c.bench_function("forward/mlp_2_8_8_1/hand_written", |b| {
        b.iter(|| black_box(&hand).forward(black_box(&MLP_X)))
    });
}

fn main() {
    check_seed003();
    check_mlp::<false>();
    check_mlp::<true>();
    eprintln!("generated == hand-written (params within 1e-12 after 10-12 SGD steps)");
    eprintln!("Seed003::COST = {:?}", Seed003::COST);
    eprintln!("Mlp::COST     = {:?}", Mlp::COST);

    // The paired A/B measurement takes about a second; skip it when criterion is only
    // listing benchmarks or smoke-testing them (`cargo test --benches`).
    if paired::wanted() {
        paired_all();
    }

    // Short runs on a small noisy machine; command-line flags still override these.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .configure_from_args();
    bench_seed003(&mut c);
    bench_mlp(&mut c);
    c.final_summary();
}
