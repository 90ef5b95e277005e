//! Issue 20's recurrent map: the `sgd_step` `network!` generates for a 16-wide tanh
//! recurrence over a sequence of `N` inputs, against a careful hand-written
//! backpropagation-through-time (BPTT) step, in f64 and f32.
//!
//! ```text
//! input x[N]; target t; param A[16][16], B[16], c[16], V[1][16];
//! let mut z = tanh(B * x[0] + c);
//! for k in 1..N { z = tanh(A * z + B * x[k] + c); }
//! output y = sum(V * z); loss = sq(y - t);
//! ```
//!
//! **Length.** The issue's length, `N = 100`: the `for` is emitted as a Rust loop
//! (docs/DSL.md, "Long loops"), so the crate builds in seconds. `network!` needs
//! literals: the `x[100]` and `1..100` in both networks must equal `N` (the `const _`
//! after them checks the input counts).
//!
//! **The hand-written step** keeps every state `z_k` in a fixed-size array
//! (`[[F; 16]; N]`, no allocation) and runs the textbook reverse loop,
//! `d_k = δ_k ⊙ (1 − z_k²)`, `dL/dA += d_k z_{k−1}ᵀ`, `dL/dB += d_k x_k`, `dL/dc += d_k`,
//! `δ_{k−1} = Aᵀ d_k`, with the gradient of `A` accumulated in a local array (the
//! backward pass reads the old `A`) and every parameter updated at the end, as the
//! generated step updates simultaneously. The forward matrix–vector products are
//! register-blocked (4 rows × 2 partial sums, as `benches/wide.rs` blocks its hidden
//! layer); `Aᵀ d` and the `A` gradient run along contiguous rows (vectorised). It is
//! measured twice: with `symnn::math::tanh` (the polynomial the generated code calls)
//! and with std's `tanh` (`f64::tanh`, what a Rust programmer writes).
//!
//! Before anything is timed, `main` checks that generated and hand-written code agree:
//! output, loss and full gradient on several sequences (f64: `max |a − b| / max |b|`
//! within 1e-12), and the parameters after a few SGD steps; f32 within 1e-4. Then one
//! paired measurement per row (`benches/common/paired.rs`: generated and hand-written
//! interleaved in one process, the median ns per `sgd_step` of each and the median of
//! the per-round ratios generated/hand-written), and a summary table.
//!
//! Run: `cargo bench --bench recurrent`.

// The hand-written net indexes several arrays with one counter, as numeric code does.
#![allow(clippy::needless_range_loop)]
use std::hint::black_box;

use symnn::math::Math;
use symnn::{network, Float};

#[path = "common/paired.rs"]
mod paired;
use paired::{side, Chunk, Report};

/// Sequence length. `network!` needs a literal: the `x[10]` and `1..10` in both networks
/// below must equal this (the `const _` after them checks the input counts).
const N: usize = 100;
/// State width.
const W: usize = 16;
/// Parameters: `A`, `B`, `c`, `V`, row-major, in declaration order.
const P: usize = W * W + 3 * W;

network! {
    /// The recurrent map, f64 (sequence length: keep equal to `N`).
    pub struct Rnn64 {
        input x[100];
        target t;
        param A[16][16], B[16], c[16], V[1][16];
        let mut z = tanh(B * x[0] + c);
        for k in 1..100 { z = tanh(A * z + B * x[k] + c); }
        output y = sum(V * z);
        loss = sq(y - t);
    }
}

network! {
    /// The same in f32 (sequence length: keep equal to `N`).
    pub struct Rnn32 {
        type Float = f32;
        input x[100];
        target t;
        param A[16][16], B[16], c[16], V[1][16];
        let mut z = tanh(B * x[0] + c);
        for k in 1..100 { z = tanh(A * z + B * x[k] + c); }
        output y = sum(V * z);
        loss = sq(y - t);
    }
}

const _: () = assert!(Rnn64::NUM_INPUTS == N && Rnn32::NUM_INPUTS == N);
const _: () = assert!(Rnn64::NUM_PARAMS == P && Rnn32::NUM_PARAMS == P);

const LR: f64 = 0.01;
const TARGET: f64 = 0.25;

/// Input sequence `s` (a few distinct ones for the checks; sequence 0 is timed).
fn sequence<F: Float>(s: usize) -> [F; N] {
    core::array::from_fn(|k| F::from_f64(0.8 * (0.7 * k as f64 + 0.3 + 1.1 * s as f64).sin()))
}

// ---------------------------------------------------------------------------------------
// Hand-written BPTT
// ---------------------------------------------------------------------------------------

/// The recurrent map written by hand, in the generated code's parameter order.
/// `SYMNN_TANH`: `symnn::math::tanh` (as the generated code) instead of std's.
#[derive(Clone, Debug)]
struct Hand<F, const SYMNN_TANH: bool> {
    a: [[F; W]; W],
    b: [F; W],
    c: [F; W],
    v: [F; W],
}

/// dL/d(every parameter), laid out like `Hand`.
#[derive(Clone, Debug)]
struct Grad<F> {
    a: [[F; W]; W],
    b: [F; W],
    c: [F; W],
    v: [F; W],
}

impl<F: Float> Grad<F> {
    fn flat(&self) -> Vec<F> {
        let mut p = Vec::with_capacity(P);
        p.extend(self.a.iter().flatten());
        p.extend(self.b);
        p.extend(self.c);
        p.extend(self.v);
        p
    }
}

/// `Σ_j a_j b_j` with 4 partial sums combined pairwise (breaks the add chain; differs
/// from a straight sum only by rounding).
#[inline(always)]
fn dot<F: Float>(a: &[F; W], b: &[F; W]) -> F {
    let mut acc = [F::ZERO; 4];
    for j in (0..W).step_by(4) {
        for l in 0..4 {
            acc[l] += a[j + l] * b[j + l];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

impl<F: Float + Math, const SYMNN_TANH: bool> Hand<F, SYMNN_TANH> {
    fn from_params(p: &[F]) -> Self {
        assert_eq!(p.len(), P);
        let mut it = p.iter().copied();
        let mut next = || it.next().expect("P values");
        let a = core::array::from_fn(|_| core::array::from_fn(|_| next()));
        let b = core::array::from_fn(|_| next());
        let c = core::array::from_fn(|_| next());
        let v = core::array::from_fn(|_| next());
        Hand { a, b, c, v }
    }

    fn params(&self) -> Vec<F> {
        Grad {
            a: self.a,
            b: self.b,
            c: self.c,
            v: self.v,
        }
        .flat()
    }

    /// `tanh` over a state: one vectorisable loop of the polynomial, or std's per
    /// element.
    #[inline(always)]
    fn tanh(mut z: [F; W]) -> [F; W] {
        if SYMNN_TANH {
            symnn::math::tanh_in_place(&mut z);
            z
        } else {
            z.map(<F as Float>::tanh)
        }
    }

    /// The forward pass: every state into `zs`, returns `y = V·z_{N−1}`.
    ///
    /// `A z` is register-blocked: 4 rows at a time with 2 partial sums each, so each
    /// pair of state elements is loaded once per 4 rows and 8 independent add chains
    /// hide the add latency (4 partial sums measured the same); the input term and
    /// bias are added after the product, as `A * z + B * x[k] + c` reads.
    #[inline(always)]
    fn states(&self, x: &[F; N], zs: &mut [[F; W]; N]) -> F {
        let mut pre = [F::ZERO; W];
        for i in 0..W {
            pre[i] = self.b[i] * x[0] + self.c[i];
        }
        zs[0] = Self::tanh(pre);
        for k in 1..N {
            let z = zs[k - 1];
            for i in (0..W).step_by(4) {
                let mut acc = [[F::ZERO; 2]; 4];
                for j in (0..W).step_by(2) {
                    for r in 0..4 {
                        for l in 0..2 {
                            acc[r][l] += self.a[i + r][j + l] * z[j + l];
                        }
                    }
                }
                for r in 0..4 {
                    let az = acc[r][0] + acc[r][1];
                    pre[i + r] = az + self.b[i + r] * x[k] + self.c[i + r];
                }
            }
            zs[k] = Self::tanh(pre);
        }
        dot(&self.v, &zs[N - 1])
    }

    /// The reverse loop: the loss and the full gradient into `g` (overwritten).
    #[inline(always)]
    fn backward(&self, x: &[F; N], t: F, zs: &[[F; W]; N], y: F, g: &mut Grad<F>) -> F {
        let e = y - t;
        let loss = e * e;
        let dy = e + e;
        // δ = dL/dz_k, starting at the last state.
        let mut delta = [F::ZERO; W];
        for i in 0..W {
            g.v[i] = dy * zs[N - 1][i];
            delta[i] = dy * self.v[i];
        }
        g.a = [[F::ZERO; W]; W];
        g.b = [F::ZERO; W];
        g.c = [F::ZERO; W];
        for k in (1..N).rev() {
            let (z, zp) = (&zs[k], &zs[k - 1]);
            let mut d = [F::ZERO; W];
            for i in 0..W {
                d[i] = delta[i] * (F::ONE - z[i] * z[i]);
                g.b[i] += d[i] * x[k];
                g.c[i] += d[i];
            }
            // δ_{k−1} = Aᵀ d and dL/dA += d z_{k−1}ᵀ, both along A's rows.
            let mut next = [F::ZERO; W];
            for i in 0..W {
                let di = d[i];
                for j in 0..W {
                    next[j] += self.a[i][j] * di;
                    g.a[i][j] += di * zp[j];
                }
            }
            delta = next;
        }
        for i in 0..W {
            let d = delta[i] * (F::ONE - zs[0][i] * zs[0][i]);
            g.b[i] += d * x[0];
            g.c[i] += d;
        }
        loss
    }

    #[inline(always)]
    fn forward(&self, x: &[F; N]) -> F {
        let mut zs = [[F::ZERO; W]; N];
        self.states(x, &mut zs)
    }

    // (`inline(always)`: so that the `avx2,fma` copy of `sgd_step` has it compiled in.)
    #[inline(always)]
    fn gradient(&self, x: &[F; N], t: F) -> (F, Grad<F>) {
        let mut zs = [[F::ZERO; W]; N];
        let y = self.states(x, &mut zs);
        let mut g = Grad {
            a: [[F::ZERO; W]; W],
            b: [F::ZERO; W],
            c: [F::ZERO; W],
            v: [F::ZERO; W],
        };
        let loss = self.backward(x, t, &zs, y, &mut g);
        (loss, g)
    }

    /// One simultaneous SGD step; returns the loss before it: the gradient into a
    /// local `Grad` (the reverse loop reads the old `A`), then `p −= lr·g`.
    ///
    /// (A fused variant, updating `A` in place after the reverse loop from the stored
    /// `d_k` with `lr·d_k[i]` once per row, the last `Aᵀ d_1` fused with its update,
    /// and `V`, `B`, `c` updated without a gradient array, measured 0.98× this in f64
    /// but 1.11× in f32 at N = 10, load 1.5; two accumulators for `Aᵀ d` changed
    /// nothing.)
    #[inline(always)]
    fn sgd_step(&mut self, x: &[F; N], t: F, lr: F) -> F {
        let (loss, g) = self.gradient(x, t);
        for i in 0..W {
            for j in 0..W {
                self.a[i][j] -= lr * g.a[i][j];
            }
            self.b[i] -= lr * g.b[i];
            self.c[i] -= lr * g.c[i];
            self.v[i] -= lr * g.v[i];
        }
        loss
    }
}

// ---------------------------------------------------------------------------------------
// Equivalence checks (run before timing)
// ---------------------------------------------------------------------------------------

/// `max |a − b| / max |b|`.
fn rel_diff<F: Float>(a: &[F], b: &[F]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0_f64, |m, v| m.max(v.to_f64().abs()));
    let diff = a
        .iter()
        .zip(b)
        .fold(0.0_f64, |m, (x, y)| m.max((x.to_f64() - y.to_f64()).abs()));
    if scale == 0.0 {
        diff
    } else {
        diff / scale
    }
}

fn assert_rel<F: Float>(what: &str, a: &[F], b: &[F], tol: f64) -> f64 {
    let r = rel_diff(a, b);
    assert!(r <= tol, "{what}: max rel. difference {r:e} > {tol:e}");
    r
}

/// What a generated network gives the checks, for both float types.
trait Generated<F>: Clone {
    fn new_net() -> Self;
    fn params(&self) -> &[F];
    fn forward(&self, x: &[F; N]) -> F;
    fn gradient(&self, x: &[F; N], t: F) -> (F, Vec<F>);
    fn sgd_step(&mut self, x: &[F; N], t: F, lr: F) -> F;
}

macro_rules! generated {
    ($net:ident, $f:ty) => {
        impl Generated<$f> for $net {
            fn new_net() -> Self {
                $net::new()
            }
            fn params(&self) -> &[$f] {
                &self.params
            }
            fn forward(&self, x: &[$f; N]) -> $f {
                $net::forward(self, x)[0]
            }
            fn gradient(&self, x: &[$f; N], t: $f) -> ($f, Vec<$f>) {
                let (loss, g) = $net::gradient(self, x, &[t]);
                (loss, g.to_vec())
            }
            fn sgd_step(&mut self, x: &[$f; N], t: $f, lr: $f) -> $f {
                $net::sgd_step(self, x, &[t], lr)
            }
        }
    };
}
generated!(Rnn64, f64);
generated!(Rnn32, f32);

/// Checks a hand-written step against the generated one; returns the largest relative
/// gradient difference seen.
fn check<F: Float + Math, G: Generated<F>, const S: bool>(tol: f64) -> f64 {
    let gen_start = G::new_net();
    let hand_start = Hand::<F, S>::from_params(gen_start.params());
    let t = F::from_f64(TARGET);
    let mut worst: f64 = 0.0;
    for s in 0..4 {
        let x = sequence::<F>(s);
        assert_rel(
            "output",
            &[hand_start.forward(&x)],
            &[gen_start.forward(&x)],
            tol,
        );
        let (lg, gg) = gen_start.gradient(&x, t);
        let (lh, gh) = hand_start.gradient(&x, t);
        assert_rel("loss", &[lh], &[lg], tol);
        worst = worst.max(assert_rel(
            &format!("gradient, sequence {s}"),
            &gh.flat(),
            &gg,
            tol,
        ));
    }
    let (mut gen, mut hand) = (gen_start, hand_start);
    let lr = F::from_f64(LR);
    for step in 0..8 {
        let x = sequence::<F>(step % 3);
        let lg = gen.sgd_step(&x, t, lr);
        let lh = hand.sgd_step(&x, t, lr);
        assert_rel(&format!("sgd_step loss, step {step}"), &[lh], &[lg], tol);
        assert_rel(
            &format!("params after step {step}"),
            &hand.params(),
            gen.params(),
            tol,
        );
    }
    worst
}

// ---------------------------------------------------------------------------------------
// Paired measurement (benches/common/paired.rs)
// ---------------------------------------------------------------------------------------

// The measured steps, each compiled on its own (`#[inline(never)]`; docs/PERFORMANCE.md,
// "The measuring stick"). Input, target and `lr` are opaque to the optimiser.

#[inline(never)]
fn generated64(s: &mut (Rnn64, [f64; N])) -> f64 {
    let (n, x) = s;
    n.sgd_step(black_box(x), black_box(&[TARGET]), black_box(LR))
}

#[inline(never)]
fn generated32(s: &mut (Rnn32, [f32; N])) -> f64 {
    let (n, x) = s;
    f64::from(n.sgd_step(
        black_box(x),
        black_box(&[TARGET as f32]),
        black_box(LR as f32),
    ))
}

#[inline(never)]
fn hand<F: Float + Math, const S: bool>(s: &mut (Hand<F, S>, [F; N])) -> f64 {
    hand_step(s)
}

/// The hand-written step compiled a second time with `avx2,fma`, behind the same
/// run-time check the generated code uses (`symnn::simd::isa()`): the row against it
/// separates what the instruction set buys from what the code generator does.
#[inline(never)]
fn hand_avx2<F: Float + Math, const S: bool>(s: &mut (Hand<F, S>, [F; N])) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn avx2<F: Float + Math, const S: bool>(s: &mut (Hand<F, S>, [F; N])) -> f64 {
            hand_step(s)
        }
        if symnn::simd::isa() >= symnn::simd::Isa::Avx2Fma {
            // SAFETY: the CPU has AVX2 and FMA (detected at run time).
            return unsafe { avx2(s) };
        }
    }
    hand_step(s)
}

#[inline(always)]
fn hand_step<F: Float + Math, const S: bool>(s: &mut (Hand<F, S>, [F; N])) -> f64 {
    let (n, x) = s;
    n.sgd_step(
        black_box(x),
        black_box(F::from_f64(TARGET)),
        black_box(F::from_f64(LR)),
    )
    .to_f64()
}

#[inline(never)]
fn gradient64(s: &mut (Rnn64, [f64; N])) -> f64 {
    let (n, x) = s;
    black_box(black_box(&*n).gradient(black_box(x), black_box(&[TARGET]))).0
}

#[inline(never)]
fn hand_gradient<F: Float + Math, const S: bool>(s: &mut (Hand<F, S>, [F; N])) -> f64 {
    let (n, x) = s;
    black_box(black_box(&*n).gradient(black_box(x), black_box(F::from_f64(TARGET))))
        .0
        .to_f64()
}

#[inline(never)]
fn forward64(s: &mut (Rnn64, [f64; N])) -> f64 {
    let (n, x) = s;
    black_box(&*n).forward(black_box(x))[0]
}

#[inline(never)]
fn hand_forward<F: Float + Math, const S: bool>(s: &mut (Hand<F, S>, [F; N])) -> f64 {
    let (n, x) = s;
    black_box(&*n).forward(black_box(x)).to_f64()
}

/// Steps per timed chunk, each chunk from the start parameters: about 20,000 recurrence
/// steps (a few hundred µs at N = 10 and at N = 100).
const CHUNK: Chunk = Chunk::new(if N >= 250 { 8 } else { 2000 / N });

/// One row: generated against hand-written, from the same start parameters.
fn pair_with<F: Float + Math, G: Generated<F>, const S: bool>(
    name: &str,
    gen_step: fn(&mut (G, [F; N])) -> f64,
    hand_step: fn(&mut (Hand<F, S>, [F; N])) -> f64,
) -> Row {
    // Each side's state: the network and the (timed) input sequence 0.
    let gen = (G::new_net(), sequence::<F>(0));
    let hand_net = (Hand::<F, S>::from_params(gen.0.params()), sequence::<F>(0));
    let report = paired::paired(
        name,
        CHUNK,
        side("generated", &gen, gen_step),
        side("hand-written", &hand_net, hand_step),
    );
    Row {
        name: name.to_string(),
        report,
    }
}

struct Row {
    name: String,
    report: Report,
}

/// An `sgd_step` row.
fn pair<F: Float + Math, G: Generated<F>, const S: bool>(
    name: &str,
    gen_step: fn(&mut (G, [F; N])) -> f64,
) -> Row {
    pair_with(name, gen_step, hand::<F, S>)
}

fn main() {
    let r64 = check::<f64, Rnn64, true>(1e-12).max(check::<f64, Rnn64, false>(1e-12));
    let r32 = check::<f32, Rnn32, true>(1e-4).max(check::<f32, Rnn32, false>(1e-4));
    eprintln!(
        "N = {N}: generated == hand-written BPTT (gradient max rel. difference: f64 {r64:.1e}, f32 {r32:.1e}; \
         params agree after 8 SGD steps)"
    );
    eprintln!("Rnn64::COST = {:?}", Rnn64::COST);
    if !paired::wanted() {
        return;
    }
    let rows = [
        pair::<f64, Rnn64, true>(
            "sgd_step f64, hand-written with symnn::math::tanh",
            generated64,
        ),
        pair_with(
            "gradient f64 (no update), hand-written with symnn::math::tanh",
            gradient64,
            hand_gradient::<f64, true>,
        ),
        pair_with(
            "forward f64, hand-written with symnn::math::tanh",
            forward64,
            hand_forward::<f64, true>,
        ),
        pair_with(
            "sgd_step f64, hand-written with symnn::math::tanh, also compiled with avx2,fma",
            generated64,
            hand_avx2::<f64, true>,
        ),
        pair::<f64, Rnn64, false>("sgd_step f64, hand-written with std f64::tanh", generated64),
        pair::<f32, Rnn32, true>(
            "sgd_step f32, hand-written with symnn::math::tanh",
            generated32,
        ),
        pair_with(
            "sgd_step f32, hand-written with symnn::math::tanh, also compiled with avx2,fma",
            generated32,
            hand_avx2::<f32, true>,
        ),
        pair::<f32, Rnn32, false>("sgd_step f32, hand-written with std f32::tanh", generated32),
    ];
    println!();
    println!(
        "recurrent map, 16-wide tanh, N = {N}, {} params; paired medians of {} rounds × {} steps",
        P, CHUNK.rounds, CHUNK.calls
    );
    println!();
    println!(
        "| row | generated ns/step | hand-written ns/step | ratio generated/hand (quartiles) |"
    );
    println!("|---|---:|---:|---:|");
    for r in &rows {
        let p = &r.report;
        println!(
            "| {} | {:.0} | {:.0} | {:.3} ({:.3}–{:.3}) |",
            r.name, p.a, p.b, p.ratio, p.ratio_q1, p.ratio_q3
        );
    }
}
