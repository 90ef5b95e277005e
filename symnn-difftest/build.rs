//! Generates the networks of the differential test: random programs from a seed
//! that together use the whole DSL, plus hand-written ones (the no-panic fuzzer's valid
//! seeds and a large dense net). The generator itself is
//! `symnn-codegen/tests/support/netgen.rs` (shared with the no-panic fuzzer).
//!
//! How many random networks and from which seed: `SYMNN_DIFFTEST_NETWORKS` (default
//! 44) and `SYMNN_DIFFTEST_SEED` (default `0x5EED_D200`; decimal or `0x` hex), read at
//! build time (changing either rebuilds). Every network is compiled twice, in both code
//! tiers: narrow ones as written (scalar) and with `tensor_threshold = 0` (loops);
//! wide ones (one in six, a layer of >= 256 multiply-adds) as written (tensor tier for
//! that layer) and with `tensor_threshold = 1000000` (everything unrolled). Writes `$OUT_DIR/nets.rs`: one `symnn::network!` per
//! program, its `erase!` adapter and the table `CASES` linking struct, source, code and
//! the targets that are class indices (of `sparse_cross_entropy`), which the test sets
//! to integers in range (mostly) rather than random floats.
//!
//! Long loops (issue 20): `SYMNN_DIFFTEST_LOOPS` (default 6) random networks built
//! around loops of 20-200 iterations (`netgen::loop_network`, seeded from the same
//! seed). Each is compiled rolled (`loop_threshold = 0`, its loops emitted as Rust
//! loops; a third of them also `tensor_threshold = 0`), listed in `ROLLED` with the
//! number of loops it should roll (and does: `derive` counts them here) and its text
//! unrolled (`loop_threshold = 18446744073709551615`), whose graph the interpreter
//! runs. Those below 100 iterations are compiled unrolled too (a `Case` like the
//! others, its rolled twin's reference); the unrolled code of a 100-200-step loop is
//! 2-7 MB of Rust per network (a 1.5x-2x longer build of this crate for two of them),
//! so those are compiled unrolled only with `SYMNN_DIFFTEST_LOOP_TWINS=all`.
//!
//! Every program is run through `symnn_codegen::derive` here first, so a generator bug
//! fails the build with the engine's error and the program text.

use std::fmt::Write as _;
use std::str::FromStr;

#[path = "../symnn-codegen/tests/support/netgen.rs"]
mod netgen;

use netgen::{loop_network, network, Rng};

/// Random networks by default (a fifth of them `f32`, a sixth wide).
const RANDOM_NETWORKS: usize = 44;
const SEED: u64 = 0x5EED_D200;
/// Random long-loop networks by default (`netgen::loop_network`), each compiled rolled
/// (a fifth of them `f32`; a third also with `tensor_threshold = 0`), and unrolled
/// below [`TWIN_ITERATIONS`].
const LOOP_NETWORKS: usize = 6;
/// Long-loop networks with fewer iterations are compiled unrolled too (all with
/// `SYMNN_DIFFTEST_LOOP_TWINS=all`).
const TWIN_ITERATIONS: usize = 100;
/// `loop_threshold` for the unrolled twins (every loop unrolled: the reference).
const UNROLL_ALL: &str = "18446744073709551615";

/// `name`'s value as an integer (decimal, or hex with `0x`), or `default`.
fn env_number(name: &str, default: u64) -> u64 {
    println!("cargo:rerun-if-env-changed={name}");
    let Ok(text) = std::env::var(name) else {
        return default;
    };
    let text = text.trim().replace('_', "");
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.unwrap_or_else(|e| panic!("{name}={text:?} is not a number: {e}"))
}

/// Hand-written networks: the fuzzer's valid seeds, and one large enough (8-40-4 dense,
/// 524 parameters, >1000 gradient instructions) for the emitter's array/unfused paths.
const FIXED: &[&str] = &[
    "pub struct Seed003 {
        input x1, x2;
        target y;
        param w0 = 0.1, w13 = 0.2, w14 = 0.8, w23 = 0.6, w24 = 0.4, w35 = 0.1, w45 = 0.5;
        let f3 = sigmoid((x1 * w13 + w0) + (x2 * w23 + w0));
        let f4 = sigmoid((x1 * w14 + w0) + (x2 * w24 + w0));
        output f5 = sigmoid((f3 * w35 + w0) + (f4 * w45 + w0));
        loss = -(y * ln(f5) + (1.0 - y) * ln(1.0 - f5));
    }",
    "pub struct Mlp {
        type Float = f32;
        input x[2];
        target t[1];
        let h1 = dense(x, 8, tanh);
        let h2 = dense(h1, 8, tanh);
        output y = dense(h2, 1, identity);
        loss = mse(y, t);
    }",
    "pub struct Xor {
        input x[2];
        target t;
        let h = dense(x, 4, tanh);
        output y = sigmoid(dot(h, v) + c);
        param v[4], c = 0.0;
        loss = bce(y, t);
    }",
    "pub struct Loops {
        input x[4];
        let mut z = [0.0, 0.0, 0.0, 0.0];
        for i in 0..3 { z[i + 1] = z[i] + x[i]; }
        for _ in 0..=2 { z += 1.0; z *= 0.5; }
        for i in 0..2 { for j in 0..2 { z[i * 2 + j] -= i; } }
        output y = z;
        loss = sum(y);
    }",
    "pub struct Fns {
        fn s(u) = 1.0 / (1.0 + exp(-u));
        fn mix(a, b) = s(a) * b + w;
        input x[3];
        target t[2];
        param w = 0.5;
        let h = dense(x, 2, s);
        output y = mix(h, 2.0) + s(w);
        loss = mse(y, t);
    }",
    "pub struct Linear {
        input v[2];
        param m[2][2] = [[1.0, 0.5], [0.0, 1.0]], b[2] = 0.1, k[2][3] = 0.0;
        let a = m.T * v + b;
        let c = transpose(k) * a;
        let r = m[1] + m[0][1] * k[1][2];
        output y = [a[0].powi(2), a[1].max(r[0]), powi(c[2], -1), min(r[1], 0.0)];
        loss = sum(y) + mean(m * m);
    }",
    "pub struct Classifier {
        input x[3];
        target t[3];
        param w[3][3] = 0.1;
        let z = w * x;
        output p = softmax(z);
        loss = cross_entropy(z, t) + 0.01 * sum(w * w) + bce_logits(z, t) + bce(p, t);
    }",
    "pub struct Misc {
        input a, b[2];
        param s = 1.0;
        output y = leaky_relu(a, 0.1) + softplus(a) + sq(a) + pow(abs(a), 1.5) + sqrt(s * s) + sin(a) * cos(a)
            + relu(a) + log(exp(a)) + sum(log_softmax(b));
        loss = y;
    }",
    "pub struct Big {
        input x[8];
        target t[4];
        let h = dense(x, 40, tanh);
        output y = dense(h, 4, identity);
        loss = mse(y, t);
    }",
    "pub struct SparseClassifier {
        input x[3];
        target k;
        param w[4][3], b[4];
        let z = w * x + b;
        output p = softmax(z);
        loss = sparse_cross_entropy(z, k) + 0.01 * sum(sq(w));
    }",
    "pub struct BigF32 {
        type Float = f32;
        input x[8];
        target t[4];
        let h = dense(x, 40, sigmoid);
        output y = dense(h, 4, identity);
        loss = cross_entropy(y, t);
    }",
];

/// The class-index targets of the fixed networks: `(struct, target index, classes)`.
const FIXED_CLASS_TARGETS: &[(&str, usize, usize)] = &[("SparseClassifier", 0, 4)];

fn struct_name(source: &str) -> String {
    let rest = source.split("struct ").nth(1).expect("struct");
    rest.split_whitespace().next().expect("name").to_owned()
}

/// Whether `source` calls `name` as a function (`name(`) or a method (`.name(`).
fn calls(source: &str, name: &str) -> bool {
    source.match_indices(&format!("{name}(")).any(|(at, _)| {
        !source[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// Fails the build if the random networks stopped covering some part of the DSL.
fn assert_coverage(sources: &[(String, bool)]) {
    let random: Vec<&str> = sources[FIXED.len()..]
        .iter()
        .map(|(s, _)| s.as_str())
        .collect();
    // Every builtin of the engine's table (a new builtin fails the build until the
    // generator uses it), and the generated `fn`s.
    for name in symnn_codegen::builtins::names().chain(["fa", "fb"]) {
        assert!(
            random.iter().any(|s| calls(s, name)),
            "no random network calls `{name}`"
        );
    }
    for syntax in [
        "type Float = f32;",
        "fn fb(",
        "input xs, xv[",
        "xm[",
        "let mut",
        " += ",
        " -= ",
        " *= ",
        " /= ",
        " = tanh(",
        "[i + 1]",
        "for _ in 0..=",
        "for i in 0..",
        "let t",
        " * (i + j)",
        ".T",
        ").T",
        ".tanh()",
        ").max(",
        ").powi(",
        "] = [[",
        "] = [",
        ", fa);",
        "(i * 0.5)",
        "[i][",
    ] {
        assert!(
            random.iter().any(|s| s.contains(syntax)),
            "no random network contains `{syntax}`"
        );
    }
}

/// Fails the build if the long-loop networks stopped covering a form of issue 20.
fn assert_loop_coverage(sources: &[String]) {
    for syntax in [
        "type Float = f32;",
        "for k in 0..",
        "for k in 1..",
        "for k in 3..",
        "..=",
        "xq[k]",
        "xq[k + 1]",
        "xq[k + j]",
        "[2 * k + 1]",
        "xr[k]",
        "pk[k]",
        "ts[k]",
        "tr[k]",
        "(k * 0.01)",
        "cap",
        "let u = ",
        "let mut lq",
        "for j in 0..",
        "z[0] = ",
        "z *= ",
        "let mut q = ",
        "for i in 0..",
        "for _ in 0..=1",
        "for m in 7..8",
        "hh[i + 1]",
        "fa(",
        "sparse_cross_entropy(",
        "cross_entropy(",
        "bce_logits(",
        "tensor_threshold = 0",
        "pa * z",
    ] {
        assert!(
            sources.iter().any(|s| s.contains(syntax)),
            "no long-loop network contains `{syntax}`"
        );
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../symnn-codegen/tests/support/netgen.rs");
    let count = usize::try_from(env_number(
        "SYMNN_DIFFTEST_NETWORKS",
        RANDOM_NETWORKS as u64,
    ))
    .expect("SYMNN_DIFFTEST_NETWORKS fits a usize");
    let seed = env_number("SYMNN_DIFFTEST_SEED", SEED);
    let mut sources: Vec<(String, bool)> = FIXED
        .iter()
        .map(|s| (s.to_string(), s.contains("f32")))
        .collect();
    let mut class_targets: Vec<Vec<(usize, usize)>> = FIXED
        .iter()
        .map(|s| {
            let name = struct_name(s);
            FIXED_CLASS_TARGETS
                .iter()
                .filter(|(n, ..)| *n == name)
                .map(|&(_, k, classes)| (k, classes))
                .collect()
        })
        .collect();
    let mut rng = Rng(seed);
    let mut wide = vec![false; FIXED.len()];
    for k in 0..count {
        let f32 = k % 5 == 4;
        let is_wide = k % 6 == 3;
        let (source, next, classes) = network(rng, &format!("Net{k}"), f32, k, is_wide);
        rng = next;
        sources.push((source, f32));
        class_targets.push(classes);
        wide.push(is_wide);
    }

    if count >= RANDOM_NETWORKS {
        assert_coverage(&sources);
    } else {
        println!("cargo:warning=only {count} random networks: DSL coverage not checked");
    }

    // Every network again in the other tier: narrow ones through the tensor path
    // (`tensor_threshold = 0`: every array operation a tensor node, emitted as loops),
    // wide ones (already tensor code as written) fully unrolled.
    // `SYMNN_DIFFTEST_TIERS=one` (for large runs): each random network in one tier
    // only, which halves the build: network k as written if k % 4 < 2, else its twin
    // (so the wide ones, k % 6 == 3, alternate between the tiers too).
    println!("cargo:rerun-if-env-changed=SYMNN_DIFFTEST_TIERS");
    let one_tier = std::env::var("SYMNN_DIFFTEST_TIERS").is_ok_and(|v| v == "one");
    let twins: Vec<(String, bool)> = sources
        .iter()
        .zip(&wide)
        .map(|((source, f32), &wide)| {
            let name = struct_name(source);
            let twin = source.replacen(&format!("struct {name} "), &format!("struct {name}T "), 1);
            let threshold = if wide { 1_000_000 } else { 0 };
            (
                format!("#[symnn(tensor_threshold = {threshold})]\n{twin}"),
                *f32,
            )
        })
        .collect();
    sources.extend(twins);
    class_targets.extend(class_targets.clone());
    let mut random: Vec<bool> = (0..sources.len())
        .map(|k| k % (FIXED.len() + count) >= FIXED.len())
        .collect();
    if one_tier {
        let n = FIXED.len() + count;
        let keep: Vec<bool> = (0..sources.len())
            .map(|k| k % n < FIXED.len() || ((k % n - FIXED.len()) % 4 >= 2) == (k >= n))
            .collect();
        let mut k = 0;
        sources.retain(|_| (keep[k], k += 1).0);
        let mut k = 0;
        class_targets.retain(|_| (keep[k], k += 1).0);
        let mut k = 0;
        random.retain(|_| (keep[k], k += 1).0);
    }
    assert_eq!(
        sources.len(),
        class_targets.len(),
        "one class-target list a network"
    );

    // Long loops: each network unrolled (a `Case`) and rolled (in `ROLLED`).
    let loop_count = usize::try_from(env_number("SYMNN_DIFFTEST_LOOPS", LOOP_NETWORKS as u64))
        .expect("SYMNN_DIFFTEST_LOOPS fits a usize");
    println!("cargo:rerun-if-env-changed=SYMNN_DIFFTEST_LOOP_TWINS");
    let all_twins = std::env::var("SYMNN_DIFFTEST_LOOP_TWINS").is_ok_and(|v| v == "all");
    let mut rng = Rng(seed ^ 0x100B_5EED);
    let mut rolled = Vec::new();
    let mut long_loop = vec![false; sources.len()];
    for k in 0..loop_count {
        let f32 = k % 5 == 4;
        let net = loop_network(rng, &format!("Loop{k}"), f32, k);
        rng = net.rng;
        let unrolled = format!("#[symnn(loop_threshold = {UNROLL_ALL})]\n{}", net.source);
        let twin = all_twins || net.iterations < TWIN_ITERATIONS;
        let tensor = if k % 3 == 2 {
            ", tensor_threshold = 0"
        } else {
            ""
        };
        let rolled_source = format!(
            "#[symnn(loop_threshold = 0{tensor})]\n{}",
            net.source
                .replacen(&format!("struct Loop{k} "), &format!("struct Loop{k}R "), 1)
        );
        if twin {
            sources.push((unrolled.clone(), f32));
            class_targets.push(net.class_targets.clone());
            random.push(false);
            long_loop.push(true);
        }
        rolled.push((
            rolled_source,
            f32,
            net.class_targets,
            net.rolled_loops,
            net.iterations,
            unrolled,
            twin,
        ));
    }
    long_loop.resize(sources.len(), false);
    if loop_count >= LOOP_NETWORKS {
        let all: Vec<String> = rolled.iter().map(|r| r.0.clone()).collect();
        assert_loop_coverage(&all);
    } else if loop_count > 0 {
        println!("cargo:warning=only {loop_count} long-loop networks: coverage not checked");
    }

    let mut out = String::new();
    let mut table = String::new();
    for ((((source, f32), classes), random), long_loop) in sources
        .iter()
        .zip(&class_targets)
        .zip(&random)
        .zip(&long_loop)
    {
        let tokens = proc_macro2::TokenStream::from_str(source).expect("tokenizes");
        if let Err(e) = symnn_codegen::derive(tokens) {
            panic!("generated network rejected: {e}\n{source}");
        }
        let name = struct_name(source);
        let fty = if *f32 { "f32" } else { "f64" };
        let _ = writeln!(
            out,
            "symnn::network! {{\n{source}\n}}\nerase!({name}, {fty});\n"
        );
        let _ = writeln!(
            table,
            "    Case {{ name: {name:?}, source: {source:?}, net: &Wrap::<{name}>::NEW, class_targets: &{classes:?}, random: {random}, long_loop: {long_loop} }},"
        );
    }
    let mut rolled_table = String::new();
    for (source, f32, classes, expected, iterations, unrolled, twin) in &rolled {
        let tokens = proc_macro2::TokenStream::from_str(source).expect("tokenizes");
        let rolled_loops = match symnn_codegen::derive(tokens) {
            Ok((_, derived)) => derived.program.rolled.len(),
            Err(e) => panic!("generated network rejected: {e}\n{source}"),
        };
        let name = struct_name(source);
        let twin = if *twin {
            format!("Some({:?})", name.trim_end_matches('R'))
        } else {
            "None".to_owned()
        };
        let fty = if *f32 { "f32" } else { "f64" };
        let _ = writeln!(
            out,
            "symnn::network! {{\n{source}\n}}\nerase!({name}, {fty});\n"
        );
        let _ = writeln!(
            rolled_table,
            "    RolledCase {{ name: {name:?}, source: {source:?}, net: &Wrap::<{name}>::NEW, unrolled: {twin}, unrolled_source: {unrolled:?}, class_targets: &{classes:?}, expected_loops: {expected}, rolled_loops: {rolled_loops}, iterations: {iterations} }},"
        );
    }
    let both = !one_tier;
    let _ = writeln!(
        out,
        "/// Every generated network.\npub static CASES: &[Case] = &[\n{table}];\n\
         /// The seed of the random networks (`SYMNN_DIFFTEST_SEED`).\npub const SEED: u64 = {seed:#x};\n\
         /// How many random networks (`SYMNN_DIFFTEST_NETWORKS`).\n\
         pub const RANDOM_NETWORKS: usize = {count};\n\
         /// Whether each is compiled in both tiers (else in one, `SYMNN_DIFFTEST_TIERS=one`).\n\
         pub const BOTH_TIERS: bool = {both};\n\
         /// How many long-loop networks (`SYMNN_DIFFTEST_LOOPS`).\n\
         pub const LOOP_NETWORKS: usize = {loop_count};\n\
         /// The long-loop networks' rolled forms (their unrolled twins are in `CASES`).\n\
         pub static ROLLED: &[RolledCase] = &[\n{rolled_table}];"
    );
    let path = std::path::Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("nets.rs");
    std::fs::write(path, out).expect("write nets.rs");
}
