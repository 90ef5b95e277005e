//! Loops emitted as Rust loops (issue 20) against the same program unrolled, and
//! against central finite differences.
//!
//! Each DSL body is compiled three times: `loop_threshold = 0` (every loop that can
//! be a Rust loop is one), a huge threshold (everything unrolled, the reference), and
//! `loop_threshold = 0` with `tensor_threshold = 0` (the loop body's products as
//! tensor loops).
#![allow(clippy::needless_range_loop, non_snake_case)]

use symnn::{network, Model};

macro_rules! triplets {
    ($rolled:ident, $unrolled:ident, $tensor:ident, { $($body:tt)* }) => {
        network! {
            #[symnn(loop_threshold = 0)]
            pub struct $rolled { $($body)* }
        }
        network! {
            #[symnn(loop_threshold = 18446744073709551615)]
            pub struct $unrolled { $($body)* }
        }
        network! {
            #[symnn(loop_threshold = 0, tensor_threshold = 0)]
            pub struct $tensor { $($body)* }
        }
    };
}

// The recurrent map of issue 20, 4 wide and 30 long.
triplets!(RnnRolled, RnnUnrolled, RnnTensor, {
    input x[30];
    target t;
    param A[4][4], B[4], c[4], V[1][4];
    let mut z = tanh(B * x[0] + c);
    for k in 1..30 { z = tanh(A * z + B * x[k] + c); }
    output y = sum(V * z);
    loss = sq(y - t);
});

// A neural ODE: RK4 of a 2-8-2 field, the loss summed along the trajectory (the
// state carries it, and reads a target row per step, so `forward` runs a loop that
// leaves the loss out), a captured value, and a loop variable used as a number.
triplets!(OdeRolled, OdeUnrolled, OdeTensor, {
    input s0[2];
    target traj[12][2];
    param W1[8][2], b1[8], W2[2][8], b2[2], logh = -2.0, drift = 0.01;
    fn f(s[2]) = W2 * tanh(W1 * s + b1) + b2;
    let h = exp(logh);
    let mut s = s0;
    let mut L = 0.0;
    for k in 0..12 {
        let k1 = f(s);
        let k2 = f(s + 0.5 * h * k1);
        let k3 = f(s + 0.5 * h * k2);
        let k4 = f(s + h * k3);
        s = s + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4) + drift * k;
        L = L + sum(sq(s - traj[k]));
    }
    output y = s;
    loss = L;
});

// Two loops in sequence, the second reading the first's result; index formulas in
// the loop variable; a parameter read per step; a nested unrolled loop; an element
// assignment of the state.
triplets!(MixRolled, MixUnrolled, MixTensor, {
    input x[25];
    target t[2];
    param w[12], u[3], a = 0.5, b = -0.3;
    let mut z = [x[0], x[1]];
    for k in 0..12 {
        z[0] = tanh(a * z[0] + w[k] * x[2 * k + 1]);
        for j in 0..2 { z[1] = z[1] + u[j] * z[0] * x[k + j]; }
    }
    let mut q = z[0] + z[1];
    for i in 0..10 { q = sigmoid(b * q + u[2] * x[24 - i] + z[1]); }
    output y = [q, z[0]];
    loss = sq(y[0] - t[0]) + sq(y[1] - t[1]);
});

fn inputs(n: usize, seed: u64) -> Vec<f64> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        })
        .collect()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

/// Every one-sample and batch method of `M` against `R`'s, at the same parameters.
fn agree<M: Model<Float = f64>, R: Model<Float = f64>>(tol: f64) {
    let (p, i, t, o) = (M::NUM_PARAMS, M::NUM_INPUTS, M::NUM_TARGETS, M::NUM_OUTPUTS);
    assert_eq!(
        (p, i, t, o),
        (R::NUM_PARAMS, R::NUM_INPUTS, R::NUM_TARGETS, R::NUM_OUTPUTS)
    );
    let mut m = M::from_params_boxed(&inputs(p, 1));
    let mut r = R::from_params_boxed(m.params());
    for sample in 0..4 {
        let x = inputs(i, 10 + sample);
        let y = inputs(t, 20 + sample);
        let (mut om, mut or) = (vec![0.0; o], vec![0.0; o]);
        m.forward_slice(&x, &mut om);
        r.forward_slice(&x, &mut or);
        for k in 0..o {
            assert!(
                close(om[k], or[k], tol),
                "forward[{k}]: {} vs {}",
                om[k],
                or[k]
            );
        }
        let (lm, lr) = (m.loss_slice(&x, &y), r.loss_slice(&x, &y));
        assert!(close(lm, lr, tol), "loss: {lm} vs {lr}");
        let (mut gm, mut gr) = (vec![0.0; p], vec![0.0; p]);
        let lgm = m.gradient_into_slice(&x, &y, &mut gm);
        let lgr = r.gradient_into_slice(&x, &y, &mut gr);
        assert!(close(lgm, lgr, tol));
        for k in 0..p {
            assert!(
                close(gm[k], gr[k], tol),
                "dL/dθ[{k}] = {} vs {}",
                gm[k],
                gr[k]
            );
        }
        let before = m.params().to_vec();
        m.sgd_step_slice(&x, &y, 0.01);
        r.sgd_step_slice(&x, &y, 0.01);
        for k in 0..p {
            assert!(close(m.params()[k], r.params()[k], tol));
            assert!(close(m.params()[k], before[k] - 0.01 * gm[k], tol));
        }
    }
    // A batch of three (each sample runs the loop).
    let xs = inputs(3 * i, 40);
    let ys = inputs(3 * t, 41);
    let (mut gm, mut gr) = (vec![0.0; p], vec![0.0; p]);
    let lm = m.accumulate_gradient_batch_slice(&xs, &ys, &mut gm);
    let lr = r.accumulate_gradient_batch_slice(&xs, &ys, &mut gr);
    assert!(close(lm, lr, tol));
    for k in 0..p {
        assert!(close(gm[k], gr[k], tol), "batch dL/dθ[{k}]");
    }
    let (mut om, mut or) = (vec![0.0; 3 * o], vec![0.0; 3 * o]);
    m.forward_batch_slice(&xs, &mut om);
    r.forward_batch_slice(&xs, &mut or);
    for k in 0..3 * o {
        assert!(close(om[k], or[k], tol));
    }
}

/// The rolled gradient against central finite differences of the rolled loss.
fn finite_differences<M: Model<Float = f64>>() {
    let (p, i, t) = (M::NUM_PARAMS, M::NUM_INPUTS, M::NUM_TARGETS);
    let mut m = M::from_params_boxed(&inputs(p, 3));
    let x = inputs(i, 4);
    let y = inputs(t, 5);
    let mut g = vec![0.0; p];
    m.gradient_into_slice(&x, &y, &mut g);
    for k in 0..p {
        let h = 1e-6;
        let v = m.params()[k];
        m.params_mut()[k] = v + h;
        let up = m.loss_slice(&x, &y);
        m.params_mut()[k] = v - h;
        let down = m.loss_slice(&x, &y);
        m.params_mut()[k] = v;
        let fd = (up - down) / (2.0 * h);
        assert!(
            (fd - g[k]).abs() <= 1e-6 * (1.0 + fd.abs()),
            "dL/dθ[{k}]: {} vs finite differences {fd}",
            g[k]
        );
    }
}

#[test]
fn a_rolled_recurrent_map_equals_the_unrolled_one() {
    agree::<RnnRolled, RnnUnrolled>(1e-12);
    agree::<RnnTensor, RnnUnrolled>(1e-12);
    finite_differences::<RnnRolled>();
}

#[test]
fn a_rolled_rk4_integrator_equals_the_unrolled_one() {
    agree::<OdeRolled, OdeUnrolled>(1e-12);
    agree::<OdeTensor, OdeUnrolled>(1e-12);
    finite_differences::<OdeRolled>();
}

#[test]
fn sequential_loops_index_formulas_and_per_step_parameters_roll() {
    agree::<MixRolled, MixUnrolled>(1e-12);
    agree::<MixTensor, MixUnrolled>(1e-12);
    finite_differences::<MixRolled>();
}

#[test]
fn the_rolled_form_is_a_loop_and_the_unrolled_form_is_not() {
    // The rolled programs' cost grows with one iteration, the unrolled ones' with all.
    assert!(RnnRolled::derivation().contains("for k in 1..30 (a Rust loop"));
    assert!(RnnRolled::derivation().contains("z[0] = tanh(zₖ₋₁[0]*A[0][0]"));
    assert!(RnnRolled::derivation().contains("dL/dA[0][0] = zₖ₋₁[0]*t3"));
    assert!(!RnnUnrolled::derivation().contains("for k in"));
    const { assert!(!RnnRolled::HAS_DERIVATIVE_METHODS) };
    const { assert!(RnnUnrolled::HAS_DERIVATIVE_METHODS) };
}

// 9,000 iterations of a 4-wide state: its states (288 KB in f64) pass what a rolled
// loop keeps whole (`symnn_codegen::loops::KEPT_STATES_BYTES`), so the reverse pass
// recomputes from checkpoints every 95 iterations.
network! {
    pub struct LongRnn {
        input x[9000];
        target t;
        param A[4][4], B[4], c[4], V[1][4];
        let mut z = tanh(B * x[0] + c);
        for k in 1..9000 { z = tanh(A * z + B * x[k] + c); }
        output y = sum(V * z);
        loss = sq(y - t);
    }
}

/// The same recurrence written by hand: the loss, and its gradient by hand-written
/// backpropagation through time (every state stored).
fn long_rnn_by_hand(p: &[f64], x: &[f64], t: f64) -> (f64, Vec<f64>) {
    let (a, b, c, v) = (&p[0..16], &p[16..20], &p[20..24], &p[24..28]);
    let mut states = vec![[0.0f64; 4]];
    let first: [f64; 4] = std::array::from_fn(|i| (b[i] * x[0] + c[i]).tanh());
    states[0] = first;
    for k in 1..x.len() {
        let z = states[k - 1];
        states.push(std::array::from_fn(|i| {
            let s: f64 = (0..4).map(|j| a[i * 4 + j] * z[j]).sum();
            (s + b[i] * x[k] + c[i]).tanh()
        }));
    }
    let last = states[x.len() - 1];
    let y: f64 = (0..4).map(|i| v[i] * last[i]).sum();
    let mut g = vec![0.0; 28];
    let dy = 2.0 * (y - t);
    for i in 0..4 {
        g[24 + i] = dy * last[i];
    }
    let mut dz: [f64; 4] = std::array::from_fn(|i| dy * v[i]);
    for k in (0..x.len()).rev() {
        let z = states[k];
        let dpre: [f64; 4] = std::array::from_fn(|i| dz[i] * (1.0 - z[i] * z[i]));
        for i in 0..4 {
            g[16 + i] += dpre[i] * x[k];
            g[20 + i] += dpre[i];
        }
        if k == 0 {
            break;
        }
        let prev = states[k - 1];
        for i in 0..4 {
            for j in 0..4 {
                g[i * 4 + j] += dpre[i] * prev[j];
            }
        }
        dz = std::array::from_fn(|j| (0..4).map(|i| a[i * 4 + j] * dpre[i]).sum());
    }
    ((y - t) * (y - t), g)
}

#[test]
fn a_long_loop_recomputes_from_checkpoints_and_matches_hand_written_bptt() {
    let params: Vec<f64> = inputs(28, 7).iter().map(|p| 0.8 * p).collect();
    let net = <LongRnn as Model>::from_params_boxed(&params);
    let x = inputs(9000, 8);
    let t = [0.3];
    let mut g = vec![0.0; 28];
    let loss = net.gradient_into_slice(&x, &t, &mut g);
    let (expected_loss, expected) = long_rnn_by_hand(&params, &x, t[0]);
    assert!(
        close(loss, expected_loss, 1e-12),
        "{loss} vs {expected_loss}"
    );
    for k in 0..28 {
        assert!(
            close(g[k], expected[k], 1e-10),
            "dL/dθ[{k}] = {} vs {}",
            g[k],
            expected[k]
        );
    }
    assert!(LongRnn::derivation().contains("for k in 1..9000 (a Rust loop"));
}

// A matrix state with a matrix product, an unused loop variable, a captured `dense`
// layer's output, and a rolled loop inside an unrolled one (the outer loop writes a
// binding at its own index, so it stays unrolled; its variable is substituted into the
// inner loop's reads).
triplets!(ShapesRolled, ShapesUnrolled, ShapesTensor, {
    input x[6], u[2][40];
    target t[2];
    param W[2][2], hs = 0.3, s[40];
    let h = dense(x, 3, tanh);
    let mut M = [[1.0, 0.0], [0.0, 1.0]];
    for _ in 0..30 { M = tanh(W * M + sum(h) * 0.1); }
    let mut acc = [0.0, 0.0];
    for i in 0..2 {
        let mut q = M[i][i];
        for k in 0..40 { q = sigmoid(q * s[k] + u[i][k] * hs); }
        acc[i] = q;
    }
    output y = acc;
    loss = sq(y[0] - t[0]) + sq(y[1] - t[1]);
});

#[test]
fn matrix_states_captured_layers_and_loops_inside_unrolled_loops_roll() {
    agree::<ShapesRolled, ShapesUnrolled>(1e-12);
    agree::<ShapesTensor, ShapesUnrolled>(1e-12);
    finite_differences::<ShapesRolled>();
    // The matrix loop and the inner loop of each outer iteration.
    assert_eq!(
        ShapesRolled::derivation().matches("(a Rust loop").count(),
        3
    );
}
