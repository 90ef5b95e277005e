//! The batch kernels (`symnn_runtime::gemm`) at the shapes the batch code uses, at
//! every ISA level this CPU supports, in GFLOP/s (`2·n·R·C / time`), next to this
//! core's measured FMA peak (a tight loop of independent FMAs).
//!
//! Shapes: MNIST 784-128-10 in f32 with n = 64 (`nt` 128×784 and 10×128, `tn_acc`
//! 128×784 and 10×128, `nn` 10×128); 64-32-10 in f64 with n = 32 (`nt` 32×64 and
//! 10×32, `tn_acc` 32×64 and 10×32, `nn` 10×32).
//!
//! `main` prints a table (best of 61 timed runs of ~2 ms each, single thread), then
//! short criterion runs at the default ISA.
//!
//! Run: `cargo bench --bench gemm` (table only: `cargo bench --bench gemm -- --table`).
//! Results: docs/PERFORMANCE.md ("Batch kernels").

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use symnn_runtime::gemm::{gemm_nn, gemm_nt, gemm_tn_acc};
use symnn_runtime::simd::{self, Isa};
use symnn_runtime::Float;

/// Deterministic values in [-1, 1).
fn values<F: Float>(len: usize, seed: u64) -> Vec<F> {
    let mut s = seed;
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            F::from_f64(2.0 * ((s >> 11) as f64 / (1u64 << 53) as f64) - 1.0)
        })
        .collect()
}

fn matrix<F: Float, const R: usize, const C: usize>(seed: u64) -> Box<[[F; C]; R]> {
    let v = values::<F>(R * C, seed);
    let mut m = Box::new([[F::ZERO; C]; R]);
    for (i, row) in m.iter_mut().enumerate() {
        row.copy_from_slice(&v[i * C..(i + 1) * C]);
    }
    m
}

/// Seconds per call of `f`: the best of 61 runs of ~2 ms after a warm-up. The best,
/// not the median: the machine is shared, and a run short enough to fit in one time
/// slice measures the kernel rather than the neighbours.
fn time(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < Duration::from_millis(30) {
        f();
        calls += 1;
    }
    let per_run = (calls as f64 * 0.002 / start.elapsed().as_secs_f64()).ceil() as u64;
    (0..61)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_run {
                f();
            }
            t.elapsed().as_secs_f64() / per_run as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// Seconds per call at each level (`NAN` where the CPU lacks it).
type Secs = [f64; 3];

/// One kernel at one shape, timed at every level; prints a row of GFLOP/s.
fn row(name: &str, flops: f64, mut f: impl FnMut()) -> Secs {
    let mut line = format!("{name:<28}");
    let mut out = [f64::NAN; 3];
    for (isa, out) in Isa::ALL.into_iter().zip(&mut out) {
        if isa > simd::detected() {
            line += &format!("{:>12}", "-");
            continue;
        }
        *out = simd::with_max_isa(isa, || time(&mut f));
        line += &format!("{:>12.1}", flops / *out / 1e9);
    }
    println!("{line}");
    out
}

fn nt<F: Float, const R: usize, const C: usize>(n: usize) -> Secs {
    let w = matrix::<F, R, C>(1);
    let x = values::<F>(n * C, 2);
    let mut z = vec![F::ZERO; n * R];
    let name = format!("nt {} n={n} R={R} C={C}", F::NAME);
    row(&name, (2 * n * R * C) as f64, || {
        gemm_nt::<F, R, C>(n, black_box(&w), black_box(&x), C, &mut z, R);
        black_box(&mut z);
    })
}

fn tn<F: Float, const R: usize, const C: usize>(n: usize) -> Secs {
    let d = values::<F>(n * R, 3);
    let x = values::<F>(n * C, 4);
    let mut g = matrix::<F, R, C>(5);
    let name = format!("tn_acc {} n={n} R={R} C={C}", F::NAME);
    let scale = F::from_f64(1e-9);
    row(&name, (2 * n * R * C) as f64, || {
        gemm_tn_acc::<F, R, C>(n, black_box(&d), R, black_box(&x), C, &mut g, scale);
        black_box(&mut g);
    })
}

fn nn<F: Float, const R: usize, const C: usize>(n: usize) -> Secs {
    let d = values::<F>(n * R, 6);
    let w = matrix::<F, R, C>(7);
    let mut out = vec![F::ZERO; n * C];
    let name = format!("nn {} n={n} R={R} C={C}", F::NAME);
    row(&name, (2 * n * R * C) as f64, || {
        gemm_nn::<F, R, C>(n, black_box(&d), R, black_box(&w), &mut out, C);
        black_box(&mut out);
    })
}

// ---------------------------------------------------------------------------------------
// Peak: independent FMA chains, no memory traffic
// ---------------------------------------------------------------------------------------

#[cfg(target_arch = "x86_64")]
mod peak {
    use std::arch::x86_64::*;

    /// 2 · 12 FMAs of `W` lanes per iteration: 12 independent accumulators cover
    /// the FMA latency (4 cycles) times its throughput (2 per cycle) with room.
    macro_rules! peak_fn {
        ($name:ident, $feat:literal, $v:ty, $set1:ident, $fma:ident, $t:ty, $lanes:literal) => {
            #[target_feature(enable = $feat)]
            pub unsafe fn $name(iters: u64, seed: $t) -> ($t, f64) {
                let a = $set1(0.999_999 as $t);
                let b = $set1(1e-7 as $t);
                let mut acc: [$v; 12] = [$set1(seed); 12];
                for _ in 0..iters {
                    for acc in acc.iter_mut() {
                        *acc = $fma(*acc, a, b);
                    }
                }
                let mut out = [0 as $t; $lanes];
                let mut s = acc[0];
                for v in &acc[1..] {
                    s = $fma(s, a, *v);
                }
                core::ptr::copy_nonoverlapping(
                    (&raw const s).cast::<$t>(),
                    out.as_mut_ptr(),
                    $lanes,
                );
                (out[0], (iters * 12 * 2 * $lanes) as f64)
            }
        };
    }
    peak_fn!(
        f32_256,
        "avx2,fma",
        __m256,
        _mm256_set1_ps,
        _mm256_fmadd_ps,
        f32,
        8
    );
    peak_fn!(
        f64_256,
        "avx2,fma",
        __m256d,
        _mm256_set1_pd,
        _mm256_fmadd_pd,
        f64,
        4
    );
    peak_fn!(
        f32_512,
        "avx512f",
        __m512,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        f32,
        16
    );
    peak_fn!(
        f64_512,
        "avx512f",
        __m512d,
        _mm512_set1_pd,
        _mm512_fmadd_pd,
        f64,
        8
    );
}

#[cfg(target_arch = "x86_64")]
fn peaks() {
    type Peak32 = unsafe fn(u64, f32) -> (f32, f64);
    type Peak64 = unsafe fn(u64, f64) -> (f64, f64);
    let runs32: [(&str, Isa, Peak32); 2] = [
        ("AVX2 f32", Isa::Avx2Fma, peak::f32_256),
        ("AVX-512 f32", Isa::Avx512, peak::f32_512),
    ];
    let runs64: [(&str, Isa, Peak64); 2] = [
        ("AVX2 f64", Isa::Avx2Fma, peak::f64_256),
        ("AVX-512 f64", Isa::Avx512, peak::f64_512),
    ];
    let iters = 20_000;
    for (name, isa, f) in runs32 {
        if isa <= simd::detected() {
            // SAFETY: the features were detected.
            let mut flops = 0.0;
            let secs = time(|| flops = black_box(unsafe { f(iters, black_box(1.0)) }).1);
            println!("peak {name:<22}{:>12.1} GFLOP/s", flops / secs / 1e9);
        }
    }
    for (name, isa, f) in runs64 {
        if isa <= simd::detected() {
            // SAFETY: the features were detected.
            let mut flops = 0.0;
            let secs = time(|| flops = black_box(unsafe { f(iters, black_box(1.0)) }).1);
            println!("peak {name:<22}{:>12.1} GFLOP/s", flops / secs / 1e9);
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn peaks() {}

fn table() {
    println!(
        "GFLOP/s, single thread, best of 61 runs of ~2 ms (default ISA: {:?}, detected: {:?})",
        simd::isa(),
        simd::detected()
    );
    peaks();
    println!(
        "{:<28}{:>12}{:>12}{:>12}",
        "kernel", "portable", "avx2", "avx512"
    );
    println!("-- MNIST 784-128-10, f32, n = 64");
    let mnist = [
        nt::<f32, 128, 784>(64),
        tn::<f32, 128, 784>(64),
        nt::<f32, 10, 128>(64),
        tn::<f32, 10, 128>(64),
        nn::<f32, 10, 128>(64),
    ];
    total("MNIST set, per sample", &mnist, 64);
    // (The rows above use `Vec`s, which the allocator places 16 bytes past a cache
    // line at these sizes: every vector load splits across two lines.)
    println!("-- the same nt, data aligned to 64 bytes or 16 bytes past");
    for (w_skew, x_skew) in [(0, 0), (0, 4), (4, 0), (4, 4)] {
        nt_skewed(w_skew, x_skew);
    }
    println!("-- 64-32-10, f64, n = 32");
    let wide = [
        nt::<f64, 32, 64>(32),
        nt::<f64, 10, 32>(32),
        tn::<f64, 32, 64>(32),
        tn::<f64, 10, 32>(32),
        nn::<f64, 10, 32>(32),
    ];
    total("64-32-10 set, per sample", &wide, 32);
}

/// One cache line of f32s: a `Vec<Line>` starts on a 64-byte boundary.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Line([f32; 16]);

/// `v` copied `skew` floats past the start of a fresh `Vec<Line>`.
fn skewed(v: &[f32], skew: usize) -> Vec<Line> {
    let mut lines = vec![Line([0.0; 16]); v.len().div_ceil(16) + 1];
    floats_mut(&mut lines)[skew..skew + v.len()].copy_from_slice(v);
    lines
}

fn floats(lines: &[Line]) -> &[f32] {
    // SAFETY: `Line` is `repr(C)` over `[f32; 16]`: 64 bytes, no padding.
    unsafe { std::slice::from_raw_parts(lines.as_ptr().cast::<f32>(), lines.len() * 16) }
}

fn floats_mut(lines: &mut [Line]) -> &mut [f32] {
    // SAFETY: as in `floats`.
    unsafe { std::slice::from_raw_parts_mut(lines.as_mut_ptr().cast::<f32>(), lines.len() * 16) }
}

/// `gemm_nt` 128×784 on 64 samples with `w` and `x` placed `w_skew`/`x_skew` floats
/// past a 64-byte boundary (rows are 3,136 bytes, so every row has the same skew).
fn nt_skewed(w_skew: usize, x_skew: usize) {
    const R: usize = 128;
    const C: usize = 784;
    let n = 64;
    let w_lines = skewed(&values::<f32>(R * C, 1), w_skew);
    let x_lines = skewed(&values::<f32>(n * C, 2), x_skew);
    let w: &[[f32; C]; R] = floats(&w_lines)[w_skew..w_skew + R * C]
        .as_chunks::<C>()
        .0
        .try_into()
        .expect("R rows");
    let x = &floats(&x_lines)[x_skew..x_skew + n * C];
    let mut z = vec![0.0f32; n * R];
    let name = format!(
        "nt f32 n=64 128x784 w+{}B x+{}B",
        (w.as_ptr() as usize) % 64,
        (x.as_ptr() as usize) % 64
    );
    row(&name, (2 * n * R * C) as f64, || {
        gemm_nt::<f32, R, C>(n, black_box(w), black_box(x), C, &mut z, R);
        black_box(&mut z);
    });
}

/// The set's total time per sample, in ns, at each level.
fn total(name: &str, set: &[Secs], n: usize) {
    let mut line = format!("{name:<28}");
    for l in 0..3 {
        let t: f64 = set.iter().map(|s| s[l]).sum();
        line += &if t.is_nan() {
            format!("{:>12}", "-")
        } else {
            format!("{:>9.0} ns", t / n as f64 * 1e9)
        };
    }
    println!("{line}");
}

fn bench_default(c: &mut Criterion) {
    let w = matrix::<f32, 128, 784>(1);
    let x = values::<f32>(64 * 784, 2);
    let mut z = vec![0.0f32; 64 * 128];
    c.bench_function("gemm_nt/f32/n64/128x784", |b| {
        b.iter(|| gemm_nt::<f32, 128, 784>(64, black_box(&w), black_box(&x), 784, &mut z, 128))
    });
    let d = values::<f32>(64 * 128, 3);
    let mut g = matrix::<f32, 128, 784>(5);
    c.bench_function("gemm_tn_acc/f32/n64/128x784", |b| {
        b.iter(|| {
            gemm_tn_acc::<f32, 128, 784>(64, black_box(&d), 128, black_box(&x), 784, &mut g, 1e-9)
        })
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Skip the table when criterion only lists or smoke-tests (`cargo test --benches`).
    if !args.iter().any(|a| a == "--list" || a == "--test") {
        table();
    }
    if args.iter().any(|a| a == "--table") {
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .configure_from_args();
    bench_default(&mut c);
    c.final_summary();
}
