//! Accuracy of `symnn_runtime::math` against `std`, in ulp, over the whole domain.
//!
//! Each function and type is swept over (a) a dense log-spaced grid of positive and
//! negative values from the smallest subnormal to the largest finite value, (b) 10^5
//! random bit patterns and 10^5 uniform values in the function's interesting range, from
//! a fixed-seed PCG, and (c) special values, which must match exactly.
//!
//! References: `f64::exp`, `ln`, `ln_1p` of `std` (glibc: correctly rounded or within
//! about 0.5 ulp). `tanh`, sigmoid and softplus are built from `std`'s `exp_m1`, `exp`
//! and `ln_1p` with the combining step in double-double (see [`tanh_ref`],
//! [`sigmoid_ref`]), which leaves them within about 0.5 ulp (softplus: 1 ulp) of the true
//! value themselves; `std`'s own `f64::tanh` is up to 1.7 ulp off and is only compared
//! in the printed table. The `f32` functions are compared with the `f64` reference
//! rounded to `f32`.
//!
//! The table of measured maxima (docs/NUMERICS.md) is printed by
//! `cargo test -p symnn-runtime --test math_accuracy -- --ignored --nocapture`.

use rand::{RngCore, SeedableRng};
use symnn_runtime::math;

/// Ordered integer key of an `f64`: adjacent floats differ by 1, `±0` both map to 0.
fn key64(x: f64) -> i64 {
    let b = x.to_bits();
    let mag = (b & !(1 << 63)) as i64;
    if b >> 63 == 1 {
        -mag
    } else {
        mag
    }
}

/// Ordered integer key of an `f32` (see [`key64`]).
fn key32(x: f32) -> i64 {
    let b = x.to_bits();
    let mag = i64::from(b & !(1 << 31));
    if b >> 31 == 1 {
        -mag
    } else {
        mag
    }
}

/// Distance in ulp between two `f64`: the number of representable values between them,
/// across a sign change (±0 count as one value). Two NaNs are 0 apart; a NaN and a number
/// are `u64::MAX` apart.
fn ulp_distance_f64(a: f64, b: f64) -> u64 {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => 0,
        (false, false) => key64(a).abs_diff(key64(b)),
        _ => u64::MAX,
    }
}

/// [`ulp_distance_f64`] for `f32`.
fn ulp_distance_f32(a: f32, b: f32) -> u64 {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => 0,
        (false, false) => key32(a).abs_diff(key32(b)),
        _ => u64::MAX,
    }
}

#[test]
fn ulp_distance_basics() {
    assert_eq!(ulp_distance_f64(0.0, -0.0), 0);
    assert_eq!(ulp_distance_f64(1.0, 1.0 + f64::EPSILON), 1);
    assert_eq!(ulp_distance_f64(-5e-324, 5e-324), 2);
    assert_eq!(ulp_distance_f64(f64::MAX, f64::INFINITY), 1);
    assert_eq!(ulp_distance_f64(f64::NAN, f64::NAN), 0);
    assert_eq!(ulp_distance_f64(f64::NAN, 1.0), u64::MAX);
    assert_eq!(ulp_distance_f32(0.0, -0.0), 0);
    assert_eq!(ulp_distance_f32(-1e-45, 1e-45), 2);
    assert_eq!(ulp_distance_f32(1.0, 1.0 + f32::EPSILON), 1);
}

// ---------------------------------------------------------------------------------------
// References
// ---------------------------------------------------------------------------------------

/// `1/(1+e^-x)` from `std::exp`, with the division done in double-double so that the
/// only error left is `std::exp`'s (damped by `e/(1+e) ≤ 1`) and the final rounding.
fn sigmoid_ref(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let e = (-x.abs()).exp(); // in [0, 1]
    let s_hi = 1.0 + e;
    let s_lo = e - (s_hi - 1.0); // exact: 1 + e = s_hi + s_lo
    let num = if x >= 0.0 { 1.0 } else { e };
    let q = num / s_hi;
    // num - q·(s_hi + s_lo), the first part exact with an FMA.
    let rem = (-q).mul_add(s_hi, num) - q * s_lo;
    q + rem / s_hi
}

/// `tanh` from `std::exp_m1`: `e/(e+2)` with `e = expm1(2|x|)`, the division in
/// double-double. `std`'s own `f64::tanh` (glibc) is up to about 1.7 ulp off (see
/// `print_max_ulp`), more than the functions under test, so it is not the reference.
fn tanh_ref(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x.abs() > 20.0 {
        return 1.0_f64.copysign(x);
    }
    let e = (2.0 * x.abs()).exp_m1();
    let s_hi = e + 2.0;
    let s_lo = if e > 2.0 {
        2.0 - (s_hi - e)
    } else {
        e - (s_hi - 2.0)
    };
    let q = e / s_hi;
    let rem = (-q).mul_add(s_hi, e) - q * s_lo;
    (q + rem / s_hi).copysign(x)
}

/// `ln(1 + e^x)` from `std`: `max(x, 0) + ln_1p(e^-|x|)`, one rounding at the end.
fn softplus_ref(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let l = (-x.abs()).exp().ln_1p();
    if x > 0.0 {
        x + l
    } else {
        l
    }
}

/// One function under test: its name, both implementations and references, the domain
/// its uniform random values are drawn from, and the asserted ulp bounds.
struct Case {
    name: &'static str,
    ours64: fn(f64) -> f64,
    ours32: fn(f32) -> f32,
    reference: fn(f64) -> f64,
    range64: (f64, f64),
    range32: (f64, f64),
    bound64: u64,
    bound32: u64,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "exp",
            ours64: math::exp::<f64>,
            ours32: math::exp::<f32>,
            reference: f64::exp,
            range64: (-746.0, 710.0),
            range32: (-104.0, 89.0),
            bound64: 1,
            bound32: 1,
        },
        Case {
            name: "ln",
            ours64: math::ln::<f64>,
            ours32: math::ln::<f32>,
            reference: f64::ln,
            range64: (0.0, 4.0),
            range32: (0.0, 4.0),
            bound64: 1,
            bound32: 1,
        },
        Case {
            name: "ln_1p",
            ours64: math::ln_1p::<f64>,
            ours32: math::ln_1p::<f32>,
            reference: f64::ln_1p,
            range64: (-1.0, 4.0),
            range32: (-1.0, 4.0),
            bound64: 1,
            bound32: 1,
        },
        Case {
            name: "tanh",
            ours64: math::tanh::<f64>,
            ours32: math::tanh::<f32>,
            reference: tanh_ref,
            range64: (-20.0, 20.0),
            range32: (-10.0, 10.0),
            bound64: 2,
            bound32: 2,
        },
        Case {
            name: "sigmoid",
            ours64: math::sigmoid::<f64>,
            ours32: math::sigmoid::<f32>,
            reference: sigmoid_ref,
            range64: (-750.0, 40.0),
            range32: (-105.0, 20.0),
            bound64: 2,
            bound32: 2,
        },
        Case {
            name: "softplus",
            ours64: math::softplus::<f64>,
            ours32: math::softplus::<f32>,
            reference: softplus_ref,
            range64: (-750.0, 40.0),
            range32: (-105.0, 20.0),
            bound64: 2,
            bound32: 2,
        },
    ]
}

// ---------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------

/// Points of the log-spaced grid on each side of 0.
const GRID: u64 = 200_000;
/// Random values of each kind (bit patterns, uniform in range).
const RANDOM: usize = 100_000;
const SEED: u64 = 0x5EED_0F3A_7E00;

/// `GRID` evenly spaced bit patterns from the smallest subnormal to `f64::MAX` (evenly
/// spaced bits are log-spaced values), both signs.
fn grid64() -> Vec<f64> {
    let top = f64::MAX.to_bits();
    (0..=GRID)
        .map(|i| f64::from_bits(1 + (top - 1) / GRID * i))
        .flat_map(|x| [x, -x])
        .collect()
}

fn grid32() -> Vec<f32> {
    let top = u64::from(f32::MAX.to_bits());
    (0..=GRID)
        .map(|i| f32::from_bits((1 + (top - 1) * i / GRID) as u32))
        .flat_map(|x| [x, -x])
        .collect()
}

/// Uniform in `[0, 1)` with 53 random bits.
fn unit(rng: &mut rand_pcg::Pcg64) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

fn random64(range: (f64, f64)) -> Vec<f64> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(SEED);
    let mut v = Vec::with_capacity(2 * RANDOM);
    for _ in 0..RANDOM {
        let x = f64::from_bits(rng.next_u64());
        if x.is_finite() {
            v.push(x);
        }
        v.push(range.0 + (range.1 - range.0) * unit(&mut rng));
    }
    v
}

fn random32(range: (f64, f64)) -> Vec<f32> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(SEED);
    let mut v = Vec::with_capacity(2 * RANDOM);
    for _ in 0..RANDOM {
        let x = f32::from_bits(rng.next_u64() as u32);
        if x.is_finite() {
            v.push(x);
        }
        v.push((range.0 + (range.1 - range.0) * unit(&mut rng)) as f32);
    }
    v
}

/// The largest `x` (over `xs`) error and where it occurs.
#[derive(Debug, Clone, Copy)]
struct Worst<T> {
    ulp: u64,
    at: T,
    ours: T,
    reference: T,
}

fn worst64(case: &Case, xs: &[f64]) -> Worst<f64> {
    let mut w = Worst {
        ulp: 0,
        at: f64::NAN,
        ours: f64::NAN,
        reference: f64::NAN,
    };
    for &x in xs {
        let (o, r) = ((case.ours64)(x), (case.reference)(x));
        let d = ulp_distance_f64(o, r);
        if d > w.ulp || w.at.is_nan() {
            w = Worst {
                ulp: d,
                at: x,
                ours: o,
                reference: r,
            };
        }
    }
    w
}

fn worst32(case: &Case, xs: &[f32]) -> Worst<f32> {
    let mut w = Worst {
        ulp: 0,
        at: f32::NAN,
        ours: f32::NAN,
        reference: f32::NAN,
    };
    for &x in xs {
        let (o, r) = ((case.ours32)(x), (case.reference)(f64::from(x)) as f32);
        let d = ulp_distance_f32(o, r);
        if d > w.ulp || w.at.is_nan() {
            w = Worst {
                ulp: d,
                at: x,
                ours: o,
                reference: r,
            };
        }
    }
    w
}

/// Worst error of one function over the grid, the random values and the specials.
fn measure64(case: &Case) -> Worst<f64> {
    let mut xs = grid64();
    xs.extend(random64(case.range64));
    xs.extend(specials64());
    worst64(case, &xs)
}

fn measure32(case: &Case) -> Worst<f32> {
    let mut xs = grid32();
    xs.extend(random32(case.range32));
    xs.extend(specials32());
    worst32(case, &xs)
}

/// Around the thresholds of every function: each ±1 ulp.
fn around64(x: f64) -> [f64; 3] {
    [x.next_down(), x, x.next_up()]
}

fn around32(x: f32) -> [f32; 3] {
    [x.next_down(), x, x.next_up()]
}

fn specials64() -> Vec<f64> {
    let mut v = vec![
        0.0,
        -0.0,
        1e-300,
        -1e-300,
        700.0,
        -700.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        f64::MIN_POSITIVE,
        5e-324,
        -5e-324,
        f64::MAX,
        f64::MIN,
        1.0,
        -1.0,
        -740.0,
    ];
    // exp overflow / underflow thresholds, the clamps, the tanh saturation.
    for t in [
        709.782_712_893_384,
        -708.396_418_532_264_1,
        -745.133_219_101_941_1,
        -745.1,
        710.0,
        -746.0,
        19.06,
        20.0,
    ] {
        v.extend(around64(t));
        v.extend(around64(-t));
    }
    v
}

fn specials32() -> Vec<f32> {
    let mut v = vec![
        0.0,
        -0.0,
        1e-30,
        -1e-30,
        1e-45,
        -1e-45,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MIN_POSITIVE,
        f32::MAX,
        f32::MIN,
        1.0,
        -1.0,
        -100.0,
        700.0,
        -700.0,
    ];
    for t in [88.722_84, -87.336_55, -103.972_08, 89.0, -104.0, 9.01, 10.0] {
        v.extend(around32(t));
        v.extend(around32(-t));
    }
    v
}

// ---------------------------------------------------------------------------------------
// Accuracy tests
// ---------------------------------------------------------------------------------------

fn case(name: &str) -> Case {
    cases().into_iter().find(|c| c.name == name).unwrap()
}

fn assert_within64(name: &str) {
    let c = case(name);
    let w = measure64(&c);
    assert!(
        w.ulp <= c.bound64,
        "{name}::<f64>: {} ulp > {} at x = {:e}: ours {:e}, reference {:e}",
        w.ulp,
        c.bound64,
        w.at,
        w.ours,
        w.reference
    );
}

fn assert_within32(name: &str) {
    let c = case(name);
    let w = measure32(&c);
    assert!(
        w.ulp <= c.bound32,
        "{name}::<f32>: {} ulp > {} at x = {:e}: ours {:e}, reference {:e}",
        w.ulp,
        c.bound32,
        w.at,
        w.ours,
        w.reference
    );
}

#[test]
fn exp_f64_accuracy() {
    assert_within64("exp");
}
#[test]
fn exp_f32_accuracy() {
    assert_within32("exp");
}
#[test]
fn ln_f64_accuracy() {
    assert_within64("ln");
}
#[test]
fn ln_f32_accuracy() {
    assert_within32("ln");
}
#[test]
fn ln_1p_f64_accuracy() {
    assert_within64("ln_1p");
}
#[test]
fn ln_1p_f32_accuracy() {
    assert_within32("ln_1p");
}
#[test]
fn tanh_f64_accuracy() {
    assert_within64("tanh");
}
#[test]
fn tanh_f32_accuracy() {
    assert_within32("tanh");
}
#[test]
fn sigmoid_f64_accuracy() {
    assert_within64("sigmoid");
}
#[test]
fn sigmoid_f32_accuracy() {
    assert_within32("sigmoid");
}
#[test]
fn softplus_f64_accuracy() {
    assert_within64("softplus");
}
#[test]
fn softplus_f32_accuracy() {
    assert_within32("softplus");
}

/// Prints the table of docs/NUMERICS.md.
#[test]
#[ignore = "prints the max-ulp table; run with --ignored --nocapture"]
fn print_max_ulp() {
    println!(
        "| function | f64 max ulp (bound) | worst f64 x | f32 max ulp (bound) | worst f32 x |"
    );
    println!("|---|---|---|---|---|");
    for c in cases() {
        let (w64, w32) = (measure64(&c), measure32(&c));
        println!(
            "| `{}` | {} ({}) | {:e} | {} ({}) | {:e} |",
            c.name, w64.ulp, c.bound64, w64.at, w32.ulp, c.bound32, w32.at
        );
    }
    // std's own tanh against the same reference, for comparison.
    let std_tanh = Case {
        name: "tanh",
        ours64: f64::tanh,
        ours32: f32::tanh,
        ..case("tanh")
    };
    let (w64, w32) = (measure64(&std_tanh), measure32(&std_tanh));
    println!(
        "| std `f64::tanh`, `f32::tanh` | {} | {:e} | {} | {:e} |",
        w64.ulp, w64.at, w32.ulp, w32.at
    );
}

// ---------------------------------------------------------------------------------------
// Special values: exact
// ---------------------------------------------------------------------------------------

/// Same bits, or both NaN.
fn same64(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn same32(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

#[track_caller]
fn exact64(f: fn(f64) -> f64, x: f64, want: f64) {
    let got = f(x);
    assert!(same64(got, want), "f({x:e}) = {got:e}, want {want:e}");
}

#[track_caller]
fn exact32(f: fn(f32) -> f32, x: f32, want: f32) {
    let got = f(x);
    assert!(same32(got, want), "f({x:e}) = {got:e}, want {want:e}");
}

#[test]
fn specials_f64() {
    use math::{exp, ln, ln_1p, sigmoid, softplus, tanh};
    let (inf, nan) = (f64::INFINITY, f64::NAN);
    let e = exp::<f64>;
    exact64(e, inf, inf);
    exact64(e, -inf, 0.0);
    exact64(e, nan, nan);
    exact64(e, 0.0, 1.0);
    exact64(e, -0.0, 1.0);
    for x in around64(709.782_712_893_384) {
        assert_eq!(e(x).is_finite(), x.exp().is_finite(), "exp({x})");
    }
    exact64(e, 709.782_712_893_384_f64.next_up(), inf);
    exact64(e, 710.0, inf);
    exact64(e, f64::MAX, inf);
    exact64(e, -746.0, 0.0);
    exact64(e, f64::MIN, 0.0);
    assert!(e(709.782_712_893_384).is_finite());
    // Gradual underflow: subnormal results within an ulp of std's.
    for x in [-708.5, -720.0, -740.0, -744.0, -745.0] {
        let (ours, std) = (e(x), x.exp());
        assert!(
            ours < f64::MIN_POSITIVE && ours > 0.0,
            "exp({x}) = {ours:e}"
        );
        assert!(
            ulp_distance_f64(ours, std) <= 1,
            "exp({x}) = {ours:e}, std {std:e}"
        );
    }
    exact64(e, -745.133_219_101_941_1, 5e-324);

    let l = ln::<f64>;
    exact64(l, 0.0, -inf);
    exact64(l, -0.0, -inf);
    exact64(l, -1.0, nan);
    exact64(l, -5e-324, nan);
    exact64(l, -inf, nan);
    exact64(l, inf, inf);
    exact64(l, nan, nan);
    exact64(l, 1.0, 0.0);
    for x in [5e-324, 1e-310, f64::MIN_POSITIVE.next_down(), f64::MAX] {
        assert!(ulp_distance_f64(l(x), x.ln()) <= 1, "ln({x:e})");
    }

    let l1 = ln_1p::<f64>;
    exact64(l1, -1.0, -inf);
    exact64(l1, -1.5, nan);
    exact64(l1, -inf, nan);
    exact64(l1, inf, inf);
    exact64(l1, nan, nan);
    exact64(l1, 0.0, 0.0);
    exact64(l1, -0.0, -0.0);
    exact64(l1, 1e-300, 1e-300);
    exact64(l1, -1e-300, -1e-300);
    exact64(l1, 5e-324, 5e-324);
    assert!(ulp_distance_f64(l1(f64::MAX), f64::MAX.ln()) <= 1);

    let t = tanh::<f64>;
    exact64(t, inf, 1.0);
    exact64(t, -inf, -1.0);
    exact64(t, nan, nan);
    exact64(t, 0.0, 0.0);
    exact64(t, -0.0, -0.0);
    exact64(t, 1e-300, 1e-300);
    exact64(t, -1e-300, -1e-300);
    exact64(t, 5e-324, 5e-324);
    exact64(t, 20.0, 1.0);
    exact64(t, -700.0, -1.0);
    exact64(t, f64::MAX, 1.0);

    let s = sigmoid::<f64>;
    exact64(s, inf, 1.0);
    exact64(s, -inf, 0.0);
    exact64(s, nan, nan);
    exact64(s, 0.0, 0.5);
    exact64(s, -0.0, 0.5);
    exact64(s, 700.0, 1.0);
    exact64(s, f64::MAX, 1.0);
    exact64(s, f64::MIN, 0.0);
    let s700 = s(-700.0);
    assert!(ulp_distance_f64(s700, (-700.0_f64).exp()) <= 1, "{s700:e}");
    assert!(
        (s700 - 9.859_676_543_759_77e-305).abs() < 1e-318,
        "{s700:e}"
    );
    assert!(s(-740.0) > 0.0 && s(-740.0) < f64::MIN_POSITIVE);

    let sp = softplus::<f64>;
    exact64(sp, inf, inf);
    exact64(sp, -inf, 0.0);
    exact64(sp, nan, nan);
    exact64(sp, 700.0, 700.0);
    exact64(sp, 40.0, 40.0);
    exact64(sp, f64::MAX, f64::MAX);
    exact64(sp, f64::MIN, 0.0);
    exact64(sp, 0.0, core::f64::consts::LN_2);
    assert!(ulp_distance_f64(sp(-700.0), (-700.0_f64).exp()) <= 1);
    assert!(sp(-740.0) > 0.0 && sp(-740.0) < f64::MIN_POSITIVE);
}

#[test]
fn specials_f32() {
    use math::{exp, ln, ln_1p, sigmoid, softplus, tanh};
    let (inf, nan) = (f32::INFINITY, f32::NAN);
    let e = exp::<f32>;
    exact32(e, inf, inf);
    exact32(e, -inf, 0.0);
    exact32(e, nan, nan);
    exact32(e, 0.0, 1.0);
    // Overflow exactly where the correctly rounded result does.
    for x in around32(88.722_84) {
        let want = f64::from(x).exp() as f32;
        assert_eq!(e(x).is_finite(), want.is_finite(), "exp({x})");
        assert!(ulp_distance_f32(e(x), want) <= 1);
    }
    exact32(e, 89.0, inf);
    exact32(e, -104.0, 0.0);
    exact32(e, f32::MAX, inf);
    exact32(e, f32::MIN, 0.0);
    for x in [-88.0_f32, -95.0, -100.0, -103.0] {
        let (ours, want) = (e(x), f64::from(x).exp() as f32);
        assert!(
            ours < f32::MIN_POSITIVE && ours > 0.0,
            "exp({x}) = {ours:e}"
        );
        assert!(
            ulp_distance_f32(ours, want) <= 1,
            "exp({x}) = {ours:e}, want {want:e}"
        );
    }

    let l = ln::<f32>;
    exact32(l, 0.0, -inf);
    exact32(l, -0.0, -inf);
    exact32(l, -1.0, nan);
    exact32(l, inf, inf);
    exact32(l, nan, nan);
    exact32(l, 1.0, 0.0);
    for x in [1e-45_f32, 1e-40, f32::MIN_POSITIVE.next_down(), f32::MAX] {
        let want = f64::from(x).ln() as f32;
        assert!(ulp_distance_f32(l(x), want) <= 1, "ln({x:e})");
    }

    let l1 = ln_1p::<f32>;
    exact32(l1, -1.0, -inf);
    exact32(l1, -1.5, nan);
    exact32(l1, inf, inf);
    exact32(l1, nan, nan);
    exact32(l1, 0.0, 0.0);
    exact32(l1, -0.0, -0.0);
    exact32(l1, 1e-30, 1e-30);
    exact32(l1, 1e-45, 1e-45);

    let t = tanh::<f32>;
    exact32(t, inf, 1.0);
    exact32(t, -inf, -1.0);
    exact32(t, nan, nan);
    exact32(t, -0.0, -0.0);
    exact32(t, 1e-30, 1e-30);
    exact32(t, 1e-45, 1e-45);
    exact32(t, 10.0, 1.0);
    exact32(t, -700.0, -1.0);

    let s = sigmoid::<f32>;
    exact32(s, inf, 1.0);
    exact32(s, -inf, 0.0);
    exact32(s, nan, nan);
    exact32(s, 0.0, 0.5);
    exact32(s, 700.0, 1.0);
    exact32(s, -700.0, 0.0);
    assert!(s(-100.0) > 0.0 && s(-100.0) < f32::MIN_POSITIVE);

    let sp = softplus::<f32>;
    exact32(sp, inf, inf);
    exact32(sp, -inf, 0.0);
    exact32(sp, nan, nan);
    exact32(sp, 700.0, 700.0);
    exact32(sp, f32::MAX, f32::MAX);
    exact32(sp, 0.0, core::f32::consts::LN_2);
    assert!(sp(-100.0) > 0.0 && sp(-100.0) < f32::MIN_POSITIVE);
}

/// Finite in, finite out for the bounded functions, at every grid point.
#[test]
fn never_nan_for_finite_input() {
    for x in grid64() {
        for (name, f) in [
            ("tanh", math::tanh::<f64> as fn(f64) -> f64),
            ("sigmoid", math::sigmoid::<f64>),
            ("softplus", math::softplus::<f64>),
            ("exp", math::exp::<f64>),
        ] {
            assert!(!f(x).is_nan(), "{name}({x:e}) is NaN");
        }
    }
    for x in grid32() {
        for f in [
            math::tanh::<f32> as fn(f32) -> f32,
            math::sigmoid,
            math::softplus,
        ] {
            assert!(!f(x).is_nan(), "f({x:e}) is NaN");
        }
    }
}

// ---------------------------------------------------------------------------------------
// In-place array functions: bit for bit the scalar ones
// ---------------------------------------------------------------------------------------

#[test]
fn in_place_matches_scalar() {
    let xs64 = random64((-30.0, 30.0));
    let xs32 = random32((-30.0, 30.0));
    type Pair64 = (fn(&mut [f64; 64]), fn(f64) -> f64);
    let fns64: [Pair64; 4] = [
        (math::exp_in_place, math::exp),
        (math::tanh_in_place, math::tanh),
        (math::sigmoid_in_place, math::sigmoid),
        (math::softplus_in_place, math::softplus),
    ];
    type Pair32 = (fn(&mut [f32; 64]), fn(f32) -> f32);
    let fns32: [Pair32; 4] = [
        (math::exp_in_place, math::exp),
        (math::tanh_in_place, math::tanh),
        (math::sigmoid_in_place, math::sigmoid),
        (math::softplus_in_place, math::softplus),
    ];
    for chunk in xs64.chunks_exact(64).take(500) {
        for (in_place, scalar) in fns64 {
            let mut a: [f64; 64] = chunk.try_into().unwrap();
            in_place(&mut a);
            for (&x, &y) in chunk.iter().zip(&a) {
                assert!(same64(y, scalar(x)), "x = {x:e}");
            }
        }
    }
    for chunk in xs32.chunks_exact(64).take(500) {
        for (in_place, scalar) in fns32 {
            let mut a: [f32; 64] = chunk.try_into().unwrap();
            in_place(&mut a);
            for (&x, &y) in chunk.iter().zip(&a) {
                assert!(same32(y, scalar(x)), "x = {x:e}");
            }
        }
    }
}
