//! Generated items must not clash with user names, and must compile warning-free.
#![deny(warnings, missing_docs, unused, clippy::all, clippy::pedantic)]
#![allow(non_upper_case_globals, dead_code, clippy::float_cmp)]
//! (crate docs, required by `missing_docs`)

use symnn::network;

// User items named like the generated code's internals. (The public methods' parameter
// names — input, target, lr, grad, seed, name, params — are API: a lowercase const of
// one of those names would clash, as it would with any Rust function's parameters.)
const t0: f64 = 100.0;
const t1: f64 = 100.0;
const t5: f64 = 100.0;
const t10: f64 = 100.0;
const g0: f64 = 100.0;
const __t3: f64 = 100.0;
const rng: u64 = 7;
const out: u64 = 7;
const loss: u64 = 7;
const acc: u64 = 7;
const p: u64 = 7;
const g: u64 = 7;
struct Model;
struct Cost;
struct Float;
struct Box;
struct ParamGroup;
struct Scheme;
struct SplitMix64;
fn array() {}
mod init {}

network! {
    /// DSL names that are also the generated code's internal names.
    pub struct Clash {
        input params[2], grad;
        target lr;
        param t0 = 0.5, t1[2] = [0.1, 0.2], input2 = 0.3, unused = 1.0;
        let g0 = dot(t1, params) + t0 * grad;
        let mut t5 = g0 * input2;
        t5 += 1.0;
        output seed = sigmoid(t5);
        loss = bce(seed, lr);
    }
}

network! {
    /// A network without inputs, targets or parameters that matter.
    pub struct Empty {
        param unused;
        output y = 1.0;
        loss = 0.0;
    }
}

#[test]
fn clashing_names_work() {
    let mut net = Clash::new();
    let before = net.loss(&[1.0, 2.0, 0.5], &[1.0]);
    for _ in 0..10 {
        net.sgd_step(&[1.0, 2.0, 0.5], &[1.0], 0.5);
    }
    assert!(net.loss(&[1.0, 2.0, 0.5], &[1.0]) < before);
    assert_eq!(net.params[Clash::param_index("unused").unwrap()], 1.0);
    let _ = (t0, t1, t5, t10, g0, __t3, rng, out, loss, acc, p, g);
    let _ = (Model, Cost, ParamGroup, Scheme, SplitMix64);
    array();
}

#[test]
fn empty_network_has_zero_sizes() {
    let mut net = Empty::new();
    assert_eq!(
        (Empty::NUM_INPUTS, Empty::NUM_TARGETS, Empty::NUM_PARAMS),
        (0, 0, 1)
    );
    assert_eq!(net.forward(&[]), [1.0]);
    assert_eq!(net.sgd_step(&[], &[], 0.1), 0.0);
    assert_eq!(net.gradient(&[], &[]).1, [0.0]);
}

network! {
    /// Negative literals everywhere the emitter may put one.
    pub struct Negatives {
        input x;
        param w = -0.5, v[2] = [-1.0, 2.0];
        output y = [-1.0, x * -2.5, w];
        loss = -3.0 + sum(v) * -1.0 + w * -2.0 + (softplus(x) + sigmoid(x) + abs(x) + relu(-x) + leaky_relu(x, 0.1) + max(x, w) + min(w, x)) * w;
    }
}

#[test]
fn negative_literals_compile_cleanly() {
    let net = Negatives::new();
    assert_eq!(net.forward(&[1.0]), [-1.0, -2.5, -0.5]);
    // x = 0, w = -0.5: softplus ln 2, sigmoid 0.5, abs/relu/leaky/max 0, min -0.5.
    let want = -3.0 - 1.0 + 1.0 + (2f64.ln() + 0.5 - 0.5) * -0.5;
    assert!((net.loss(&[0.0], &[]) - want).abs() < 1e-15);
}

network! {
    /// Long folded constants (1/6, 1/3, e) in f64 and f32.
    pub struct LongConstants {
        input x[6];
        output y = mean(x) + 1.0 / 3.0 + exp(1.0) * x[0];
        loss = sum(x * 0.123456789012);
    }
}

network! {
    /// The same in f32.
    pub struct LongConstants32 {
        type Float = f32;
        input x[6];
        output y = mean(x) + 1.0 / 3.0 + exp(1.0) * x[0];
        loss = sum(x * 0.123456789012);
    }
}

#[test]
fn long_constants_compile_cleanly() {
    let y = LongConstants::new().forward(&[1.0; 6])[0];
    assert!((y - (1.0 + 1.0 / 3.0 + std::f64::consts::E)).abs() < 1e-15);
    let y = LongConstants32::new().forward(&[1.0; 6])[0];
    assert!((y - (1.0 + 1.0 / 3.0 + std::f32::consts::E)).abs() < 1e-6);
}

/// Networks whose generated code compares floats for equality (`sparse_cross_entropy`'s
/// indicator `if k == 2.0 { 1.0 } else { 0.0 }`), under `float_cmp` (pedantic), which the
/// crate allows above for the tests' own assertions. Exact equality is the meaning there:
/// a class index either is `j` or is not.
#[deny(clippy::float_cmp)]
mod float_equality {
    use symnn::network;

    network! {
        /// Class-index target, f64.
        pub struct Sparse {
            input x[2];
            target k;
            let h = dense(x, 3, tanh);
            output z = dense(h, 4, identity);
            loss = sparse_cross_entropy(z, k);
        }
    }

    network! {
        /// The same in f32, with the method form and a class index from a target vector.
        pub struct Sparse32 {
            type Float = f32;
            input x[2];
            target t[2];
            let h = dense(x, 3, tanh);
            output z = dense(h, 4, identity);
            loss = z.sparse_cross_entropy(t[1]) + 0.5 * sparse_cross_entropy(z, 3);
        }
    }
}

#[test]
fn sparse_cross_entropy_compiles_cleanly() {
    // (`loss` and `g` are constants of this crate.)
    let (value, grad) = float_equality::Sparse::new().gradient(&[0.5, -1.0], &[2.0]);
    assert!(value.is_finite() && grad.iter().all(|d| d.is_finite()));
    let (value, _) = float_equality::Sparse32::new().gradient(&[0.5, -1.0], &[7.0, 1.0]);
    assert!(value.is_finite());
}

// User items named like the tensor tier's internals without their `__` prefix (a
// `let` pattern resolves constants at the call site even with mixed-site hygiene, so
// the prefix is what keeps `const T3` from turning `let __T3 = ...` into a pattern).
const T3: f64 = 100.0;
const T7: f64 = 100.0;
const l0: f64 = 100.0;
const l1: f64 = 100.0;
const a1: f64 = 100.0;
const i: usize = 7;
const s: f64 = 100.0;
mod kernels {}

network! {
    /// The tensor tier with the default threshold: fused matvec + activation, the
    /// fused backward/update loop, a user `fn` reading a parameter as the activation.
    pub struct TensorDefault {
        input x[40];
        target t[10];
        param scale = 0.5;
        fn act(u) = tanh(u) * scale;
        let h = dense(x, 16, act);
        output z = dense(h, 10, identity);
        loss = cross_entropy(z, t) + 0.01 * sum(h * h);
    }
}

network! {
    /// Every array operation a tensor node: transposes, matrix products, broadcasts,
    /// reductions, elementwise builtins of two arguments, in f32.
    #[symnn(tensor_threshold = 0)]
    pub struct TensorForced {
        type Float = f32;
        input x[3], m[2][3];
        target y[2];
        param W[3][4] = 0.1, V[4][2] = 0.2, c = 0.3;
        let q = tanh(W.T * x) * c;
        let r = transpose(m) * [1.0, 2.0];
        output o = V.T * q - max(q[0], 0.0) * 0.5;
        loss = sum(sq(o - y)) + mean(r) * 0.1 + dot(q, q) + mse(o, y) + bce_logits(o, y) + sum(sq(m));
    }
}

#[test]
fn tensor_tier_compiles_cleanly() {
    let mut net = TensorDefault::new();
    let l = net.sgd_step(&[0.1; 40], &[0.1; 10], 0.1);
    assert!(l.is_finite() && TensorDefault::derivation().contains("h.weight · x"));
    let mut forced = TensorForced::new();
    let l = forced.sgd_step(
        &[0.1, 0.2, 0.3, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        &[0.5, -0.5],
        0.1,
    );
    assert!(l.is_finite());
    let _ = (T3, T7, l0, l1, a1, i, s);
}

// Names of a rolled loop's internals, as user constants.
const var: f64 = 100.0;
const k: usize = 7;
const at: i64 = 7;
const offset: usize = 7;
const next: f64 = 100.0;
const dd: f64 = 100.0;
const dcap: f64 = 100.0;
const m: usize = 7;
const k0: usize = 7;
const k1: usize = 7;
const segment: f64 = 100.0;

network! {
    /// Loops emitted as Rust loops: a recurrent state read per step, a captured value,
    /// a target read per step, a loss accumulated in the state, in f32, under every
    /// lint the generated code promises to pass.
    #[symnn(loop_threshold = 0)]
    pub struct Recurrent {
        type Float = f32;
        input x[20];
        target ys[20];
        param A[3][3] = 0.1, B[3] = 0.2, c = 0.3, w[20] = 0.05;
        let scale = c * 2.0;
        let mut z = [0.0, 0.0, 0.0];
        let mut L = 0.0;
        for k in 0..20 {
            z = tanh(A * z + B * x[k] * scale + w[k] * k);
            L = L + sq(sum(z) - ys[k]);
        }
        output y = z;
        loss = L;
    }
}

network! {
    /// A loop long enough to keep checkpoints (its states pass 256 KiB).
    #[symnn(loop_threshold = 0)]
    pub struct LongLoop {
        input x[20000];
        target t;
        param a = 0.5, b[2] = 0.1;
        let mut z = [0.0, 0.0];
        for k in 0..20000 { z = [tanh(a * z[0] + b[0] * x[k]), tanh(a * z[1] + z[0] * b[1])]; }
        output y = z[1];
        loss = sq(y - t);
    }
}

network! {
    /// A loop keeping every state (32 KB of them, on the stack).
    #[symnn(loop_threshold = 0)]
    pub struct MidLoop {
        input x[2000];
        target t;
        param a = 0.5, b[2] = 0.1;
        let mut z = [0.0, 0.0];
        for k in 0..2000 { z = [tanh(a * z[0] + b[0] * x[k]), tanh(a * z[1] + z[0] * b[1])]; }
        output y = z[1];
        loss = sq(y - t);
    }
}

#[test]
fn rolled_loops_compile_cleanly() {
    let mut net = Recurrent::new();
    let l = net.sgd_step(&[0.1; 20], &[0.2; 20], 0.1);
    assert!(l.is_finite() && Recurrent::derivation().contains("for k in 0..20 (a Rust loop"));
    let mut long = LongLoop::new();
    let x = vec![0.01; 20000];
    let l = long.sgd_step(x.as_slice().try_into().unwrap(), &[0.3], 0.1);
    assert!(l.is_finite());
    let mut mid = MidLoop::new();
    let l = mid.sgd_step(&[0.01; 2000], &[0.3], 0.1);
    assert!(l.is_finite());
    let _ = (var, k, at, offset, next, dd, dcap, m, k0, k1, segment);
}
