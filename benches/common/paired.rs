//! The paired measurement shared by every paired bench (`sgd_step`, `wide`, `mnist`,
//! `batch`, `math`, `threads`, `mnist_epoch`): two pieces of code, A and B, timed alternately in one
//! process, so that load from other processes (which drifts slowly next to one round)
//! hits both alike. Reports the median time of each side and the median of the
//! per-round ratios A/B, with the quartiles of that ratio as its spread.
//!
//! Included with `#[path = "common/paired.rs"] mod paired;`.
//!
//! **What it controls (docs/PERFORMANCE.md, "The measuring stick").** A ratio must not
//! depend on which file holds the timing loop. Two things make that so:
//! - the chunk loop, [`time_chunk`], is `#[inline(never)]`: one loop, compiled the same
//!   way for every bench, never merged into its caller;
//! - the benches route the code they measure through an `#[inline(never)]` function of
//!   their own (the `*_step` wrappers in each bench), so the measured body is compiled
//!   on its own, not inlined into this loop, and the loop around it cannot change its
//!   register allocation or hoist work out of it. What is timed is that function's code
//!   plus one direct call (about 1 ns, the same on both sides).
//!
//! What it does not control: where the data sits. Some rows (`batch`'s 2-8-8-1 f32
//! block path, a gradient buffer 8 bytes from the parameters modulo 4 KiB) change by
//! 7-30 % with the addresses of their data, which differ between processes; quote
//! those as the median over several processes (`benches/ab.sh`).
#![allow(dead_code)] // each bench uses part of it

use std::hint::black_box;
use std::time::Instant;

/// The median of `v` (sorts it).
pub fn median(v: &mut [f64]) -> f64 {
    quantile(v, 0.5)
}

/// The `q`-quantile of `v` by nearest rank (sorts it).
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i]
}

/// What one paired measurement gives.
#[derive(Clone, Copy, Debug)]
pub struct Report {
    /// Median of A's measurements.
    pub a: f64,
    /// Median of B's measurements.
    pub b: f64,
    /// Smallest of A's and of B's measurements (the least disturbed round).
    pub a_min: f64,
    pub b_min: f64,
    /// Median of the per-round ratios A/B.
    pub ratio: f64,
    /// First and third quartiles of the per-round ratios.
    pub ratio_q1: f64,
    pub ratio_q3: f64,
}

/// The interleaving itself: `warmup` rounds discarded, then `rounds` rounds of one
/// measurement of each side, A first in even rounds and B first in odd ones. Each
/// closure runs and times one measurement and returns it.
pub fn interleave(
    rounds: usize,
    warmup: usize,
    mut a: impl FnMut() -> f64,
    mut b: impl FnMut() -> f64,
) -> Report {
    for _ in 0..warmup {
        a();
        b();
    }
    let (mut ta, mut tb, mut ratio) = (
        Vec::with_capacity(rounds),
        Vec::with_capacity(rounds),
        Vec::with_capacity(rounds),
    );
    for round in 0..rounds {
        let (x, y) = if round % 2 == 0 {
            let x = a();
            (x, b())
        } else {
            let y = b();
            (a(), y)
        };
        ta.push(x);
        tb.push(y);
        ratio.push(x / y);
    }
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    Report {
        a_min: min(&ta),
        b_min: min(&tb),
        a: median(&mut ta),
        b: median(&mut tb),
        ratio_q1: quantile(&mut ratio, 0.25),
        ratio_q3: quantile(&mut ratio, 0.75),
        ratio: median(&mut ratio),
    }
}

/// One timed chunk: `calls` calls of `step` on a fresh clone of `start` (cloned
/// outside the timer, dropped after it); returns nanoseconds.
///
/// `#[inline(never)]`: this loop is one function per (state, step) pair, compiled
/// alike wherever `paired` is called from (see the module docs).
#[inline(never)]
pub fn time_chunk<S: Clone>(start: &S, calls: usize, step: &mut impl FnMut(&mut S) -> f64) -> f64 {
    let mut state = start.clone();
    let t = Instant::now();
    for _ in 0..calls {
        black_box(step(&mut state));
    }
    let ns = t.elapsed().as_secs_f64() * 1e9;
    drop(state);
    ns
}

/// How one paired measurement is cut up.
#[derive(Clone, Copy, Debug)]
pub struct Chunk {
    /// Calls of the step in one timed chunk.
    pub calls: usize,
    /// Samples (or elements) one call processes: the report is per sample.
    pub samples: usize,
    /// Measured rounds (one chunk of each side per round).
    pub rounds: usize,
    /// Discarded rounds first.
    pub warmup: usize,
}

impl Chunk {
    /// `calls` calls a chunk, one sample a call, 401 rounds after 20 warm-up rounds
    /// (the settings every paired bench used before this module).
    pub const fn new(calls: usize) -> Self {
        Chunk {
            calls,
            samples: 1,
            rounds: 401,
            warmup: 20,
        }
    }

    pub const fn samples(self, samples: usize) -> Self {
        Chunk { samples, ..self }
    }

    pub const fn rounds(self, rounds: usize, warmup: usize) -> Self {
        Chunk {
            rounds,
            warmup,
            ..self
        }
    }
}

/// One side of a pair: a label for the printout, the start state (cloned before every
/// chunk, so an evolving network stays in a training regime) and the step.
pub struct Side<'a, S, F> {
    pub label: &'a str,
    pub start: &'a S,
    pub step: F,
}

/// Shorthand for a [`Side`].
pub fn side<'a, S, F: FnMut(&mut S) -> f64>(
    label: &'a str,
    start: &'a S,
    step: F,
) -> Side<'a, S, F> {
    Side { label, start, step }
}

/// Times A against B in chunks (see [`Chunk`]), prints
/// `paired NAME: A x ns/sample, B y ns/sample, median ratio r (quartiles q1-q3)` on
/// stderr and returns the report in ns per sample.
pub fn paired<A: Clone, B: Clone>(
    name: &str,
    chunk: Chunk,
    mut a: Side<'_, A, impl FnMut(&mut A) -> f64>,
    mut b: Side<'_, B, impl FnMut(&mut B) -> f64>,
) -> Report {
    let per_sample = 1.0 / (chunk.calls * chunk.samples) as f64;
    let r = interleave(
        chunk.rounds,
        chunk.warmup,
        || time_chunk(a.start, chunk.calls, &mut a.step) * per_sample,
        || time_chunk(b.start, chunk.calls, &mut b.step) * per_sample,
    );
    eprintln!(
        "paired {name}: {} {:.1} ns/sample, {} {:.1} ns/sample, median ratio {:.3} (quartiles {:.3}-{:.3})",
        a.label, r.a, b.label, r.b, r.ratio, r.ratio_q1, r.ratio_q3
    );
    r
}

/// Cycles through `items`; give each side of a pair its own, so both see the same
/// sequence.
pub fn cycle<'a, T>(items: &'a [T]) -> impl FnMut() -> &'a T + 'a {
    let mut i = 0;
    move || {
        let item = &items[i];
        i = (i + 1) % items.len();
        item
    }
}

/// `|a_i - b_i| <= tol` for all `i`, or a panic naming `what` and the index.
pub fn assert_close(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol,
            "{what}[{i}]: {x} vs {y} (tolerance {tol})"
        );
    }
}

/// Whether the paired measurements should run: not when criterion is only listing
/// the benchmarks or smoke-testing them (`cargo test --benches`).
pub fn wanted() -> bool {
    !std::env::args().any(|a| a == "--list" || a == "--test")
}
