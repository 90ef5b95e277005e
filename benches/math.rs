//! `symnn::math` against `std` (the platform libm) for each function and type.
//!
//! Two measurements per function and type, in ns per element:
//!
//! * **latency**: a dependent scalar chain `x = f(x)·c + d` (1024 steps), so each call
//!   waits for the previous one: the cost of one call in straight-line generated code;
//! * **throughput**: `out[i] = f(in[i])` over 1024 values spread over the function's
//!   useful range: the cost per element when a whole layer is computed in one loop
//!   (which vectorises for `symnn::math`, and cannot for a libm call).
//!
//! Plus the motivating case: the 16 `tanh` of a 2-8-8-1 MLP's hidden layers, as
//! `math::tanh_in_place` on a `[f64; 16]` against a loop of `f64::tanh`.
//!
//! `main` first checks that the two sides compute the same thing (within 4 ulp), then
//! prints a paired A/B measurement (std and ours interleaved, median of 401 rounds,
//! robust to the load drifting), then runs a few criterion benchmarks.
//!
//! Run: `cargo bench --bench math`. Results: docs/NUMERICS.md.
use std::time::{Duration, Instant};

#[path = "common/paired.rs"]
mod paired;

use criterion::{black_box, Criterion};
use symnn::math;

/// Elements per chain and per array.
const N: usize = 1024;
const ROUNDS: usize = 401;
const _: () = assert!(ROUNDS % 2 == 1, "paired() inverts a median");

/// Median ns per element of `a` and `b` (each returns its elapsed ns for `N` elements),
/// timed alternately (benches/common/paired.rs: 401 rounds after 20 warm-up rounds),
/// and the median of the per-round ratios `b / a`.
fn paired(a: impl FnMut() -> f64, b: impl FnMut() -> f64) -> (f64, f64, f64) {
    let r = paired::interleave(ROUNDS, 20, a, b);
    // An odd number of rounds: the median of b/a is the reciprocal of that of a/b.
    (r.a / N as f64, r.b / N as f64, 1.0 / r.ratio)
}

fn elapsed_ns(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e9
}

/// One benchmarked function: name, std and ours for both types, the chain constants
/// `(c, d)` and the range of the throughput inputs.
struct Fun {
    name: &'static str,
    std64: fn(f64) -> f64,
    ours64: fn(f64) -> f64,
    std32: fn(f32) -> f32,
    ours32: fn(f32) -> f32,
    chain: (f64, f64),
    range: (f64, f64),
}

fn sigmoid_std64(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}
fn sigmoid_std32(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}
fn softplus_std64(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}
fn softplus_std32(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

fn funs() -> Vec<Fun> {
    vec![
        Fun {
            name: "exp",
            std64: f64::exp,
            ours64: math::exp,
            std32: f32::exp,
            ours32: math::exp,
            chain: (-0.5, 0.3),
            range: (-20.0, 20.0),
        },
        Fun {
            name: "ln",
            std64: f64::ln,
            ours64: math::ln,
            std32: f32::ln,
            ours32: math::ln,
            chain: (0.5, 2.0),
            range: (0.01, 100.0),
        },
        Fun {
            name: "ln_1p",
            std64: f64::ln_1p,
            ours64: math::ln_1p,
            std32: f32::ln_1p,
            ours32: math::ln_1p,
            chain: (0.5, 0.5),
            range: (-0.9, 10.0),
        },
        Fun {
            name: "tanh",
            std64: f64::tanh,
            ours64: math::tanh,
            std32: f32::tanh,
            ours32: math::tanh,
            chain: (2.5, -0.3),
            range: (-5.0, 5.0),
        },
        Fun {
            name: "sigmoid",
            std64: sigmoid_std64,
            ours64: math::sigmoid,
            std32: sigmoid_std32,
            ours32: math::sigmoid,
            chain: (4.0, -2.0),
            range: (-10.0, 10.0),
        },
        Fun {
            name: "softplus",
            std64: softplus_std64,
            ours64: math::softplus,
            std32: softplus_std32,
            ours32: math::softplus,
            chain: (0.5, -1.0),
            range: (-10.0, 10.0),
        },
    ]
}

/// Evenly spread inputs in `range`, in a scrambled order (so that a branchy libm
/// function does not see a predictable sequence).
fn inputs(range: (f64, f64)) -> Vec<f64> {
    (0..N)
        .map(|i| {
            let j = (i * 389) % N; // 389 is coprime to 1024: a permutation
            range.0 + (range.1 - range.0) * (j as f64 + 0.5) / N as f64
        })
        .collect()
}

// The timed loops are macros rather than generic functions taking `fn` pointers, so that
// each side is compiled with its function inlined (as generated code calls it).
macro_rules! chain {
    ($f:expr, $t:ty, $c:expr, $d:expr) => {{
        let (c, d) = (black_box($c as $t), black_box($d as $t));
        move || {
            let mut x: $t = black_box(0.25);
            let t = Instant::now();
            for _ in 0..N {
                x = $f(x) * c + d;
            }
            black_box(x);
            elapsed_ns(t)
        }
    }};
}

macro_rules! through {
    ($f:expr, $t:ty, $input:expr) => {{
        let input: Box<[$t; N]> = $input
            .iter()
            .map(|&x| x as $t)
            .collect::<Vec<$t>>()
            .try_into()
            .unwrap();
        let mut out: Box<[$t; N]> = Box::new([0.0; N]);
        move || {
            let t = Instant::now();
            let (i, o) = (black_box(&*input), black_box(&mut *out));
            for (o, &x) in o.iter_mut().zip(i) {
                *o = $f(x);
            }
            black_box(&*out);
            elapsed_ns(t)
        }
    }};
}

fn ulp64(a: f64, b: f64) -> u64 {
    let key = |x: f64| {
        let b = x.to_bits() as i64;
        if b < 0 {
            -(b & i64::MAX)
        } else {
            b
        }
    };
    key(a).abs_diff(key(b))
}

/// Both sides agree (within 4 ulp) on the benchmark inputs.
fn check(funs: &[Fun]) {
    for f in funs {
        for x in inputs(f.range) {
            let (s, o) = ((f.std64)(x), (f.ours64)(x));
            assert!(ulp64(s, o) <= 4, "{}({x}): std {s}, ours {o}", f.name);
            let (s, o) = ((f.std32)(x as f32), (f.ours32)(x as f32));
            let tol = 4.0 * f32::EPSILON * s.abs().max(f32::MIN_POSITIVE);
            assert!(
                (s - o).abs() <= tol,
                "{}({x}): std {s}, ours {o} (f32)",
                f.name
            );
        }
    }
}

macro_rules! row {
    ($fun:expr, $name:expr, $std:expr, $ours:expr, $t:ty) => {{
        let f = $fun;
        let (c, d) = f.chain;
        let (ls, lo, lr) = paired(chain!($std, $t, c, d), chain!($ours, $t, c, d));
        let xs = inputs(f.range);
        let (ts, to, tr) = paired(through!($std, $t, xs), through!($ours, $t, xs));
        eprintln!(
            "| `{}` | {} | {ls:.2} | {lo:.2} | {:.1}× | {ts:.2} | {to:.2} | {:.1}× |",
            $name,
            stringify!($t),
            1.0 / lr,
            1.0 / tr
        );
    }};
}

fn paired_all(funs: &[Fun]) {
    eprintln!("paired std vs symnn::math, median ns/element (speed-up = std / ours):");
    eprintln!("| function | type | latency std | latency ours | speed-up | array std | array ours | speed-up |");
    eprintln!("|---|---|---|---|---|---|---|---|");
    // Each function twice: `fn` pointers are called through `row!`'s macro-expanded
    // closures, where LLVM sees the concrete function and inlines it.
    macro_rules! both {
        ($i:expr, $std64:expr, $ours64:expr, $std32:expr, $ours32:expr) => {
            row!(&funs[$i], funs[$i].name, $std64, $ours64, f64);
            row!(&funs[$i], funs[$i].name, $std32, $ours32, f32);
        };
    }
    both!(0, f64::exp, math::exp::<f64>, f32::exp, math::exp::<f32>);
    both!(1, f64::ln, math::ln::<f64>, f32::ln, math::ln::<f32>);
    both!(
        2,
        f64::ln_1p,
        math::ln_1p::<f64>,
        f32::ln_1p,
        math::ln_1p::<f32>
    );
    both!(
        3,
        f64::tanh,
        math::tanh::<f64>,
        f32::tanh,
        math::tanh::<f32>
    );
    both!(
        4,
        sigmoid_std64,
        math::sigmoid::<f64>,
        sigmoid_std32,
        math::sigmoid::<f32>
    );
    both!(
        5,
        softplus_std64,
        math::softplus::<f64>,
        softplus_std32,
        math::softplus::<f32>
    );

    // 16 tanh in f64, a 2-8-8-1 MLP's hidden activations (N rounds of 16 per timing).
    let layer: [f64; 16] = core::array::from_fn(|i| (i as f64 - 7.5) * 0.3);
    let (s, o, r) = paired(
        || {
            let t = Instant::now();
            for _ in 0..N {
                let mut v = black_box(layer);
                for x in &mut v {
                    *x = x.tanh();
                }
                black_box(v);
            }
            elapsed_ns(t)
        },
        || {
            let t = Instant::now();
            for _ in 0..N {
                let mut v = black_box(layer);
                math::tanh_in_place(&mut v);
                black_box(v);
            }
            elapsed_ns(t)
        },
    );
    eprintln!(
        "16 tanh (f64, one [f64; 16]): std {s:.1} ns, math::tanh_in_place {o:.1} ns, speed-up {:.1}×",
        1.0 / r
    );
}

fn bench_criterion(c: &mut Criterion) {
    let xs = inputs((-5.0, 5.0));
    let mut g = c.benchmark_group("tanh_1024");
    let mut std64 = through!(f64::tanh, f64, xs);
    g.bench_function("std_f64", |b| b.iter(&mut std64));
    let mut ours64 = through!(math::tanh::<f64>, f64, xs);
    g.bench_function("math_f64", |b| b.iter(&mut ours64));
    let mut std32 = through!(f32::tanh, f32, xs);
    g.bench_function("std_f32", |b| b.iter(&mut std32));
    let mut ours32 = through!(math::tanh::<f32>, f32, xs);
    g.bench_function("math_f32", |b| b.iter(&mut ours32));
    g.finish();

    let layer: [f64; 16] = core::array::from_fn(|i| (i as f64 - 7.5) * 0.3);
    let mut g = c.benchmark_group("tanh_16_f64");
    g.bench_function("std", |b| {
        b.iter(|| {
            let mut v = black_box(layer);
            for x in &mut v {
                *x = x.tanh();
            }
            v
        })
    });
    g.bench_function("math_in_place", |b| {
        b.iter(|| {
            let mut v = black_box(layer);
            math::tanh_in_place(&mut v);
            v
        })
    });
    g.finish();
}

fn main() {
    let funs = funs();
    check(&funs);
    eprintln!("std == symnn::math within 4 ulp on the benchmark inputs");

    if paired::wanted() {
        paired_all(&funs);
    }

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .configure_from_args();
    bench_criterion(&mut c);
    c.final_summary();
}
