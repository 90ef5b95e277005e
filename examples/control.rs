//! Learn a pendulum's discrete-time dynamics, linearise the network at the upright
//! equilibrium with its exact `input_jacobian`, design an LQR controller on that
//! linearisation, and balance the *true* pendulum with it.
//!
//! The plant: a damped pendulum, angle θ measured from upright,
//! `θ'' = (g/l) sin θ − c θ' / (m l²) + u / (m l²)` with m = l = 1, g = 9.81, c = 0.1,
//! sampled with one classical RK4 step of dt = 0.05 s per control step:
//! `s_{k+1} = f(s_k, u_k)`, `s = (θ, ω)`.
//!
//! 1. Data: 4 000 training and 1 000 validation transitions, states and torques drawn
//!    uniformly from |θ| ≤ 1 rad, |ω| ≤ 4 rad/s, |u| ≤ 20 N·m (fixed SplitMix64 streams).
//! 2. Model: a 3-32-32-2 tanh network predicts the state increment `s_{k+1} − s_k`.
//!    Inputs are divided by the box half-widths and targets by the increments'
//!    standard deviations, so the network sees values of order one; the learned step
//!    is `f̂(s, u) = s + σ ⊙ net(s / r_s, u / r_u)`.
//! 3. Linearisation: `A = ∂f̂/∂s`, `B = ∂f̂/∂u` at s = 0, u = 0, from the network's
//!    symbolic `input_jacobian` and the chain rule through the scaling. The truth is
//!    the exact Jacobian of the RK4 step: at an equilibrium every RK4 stage is evaluated
//!    at the same point, so it is the RK4 polynomial of the linearised vector field,
//!    `A = Σ_{k≤4} (h Ac)^k / k!`, `B = h Σ_{k≤3} (h Ac)^k / (k+1)! · Bc` (checked
//!    against central differences below).
//! 4. LQR: the discrete Riccati equation iterated to convergence, Q = diag(10, 1),
//!    R = 0.1.
//! 5. Closed loop `u = −K s` on the true RK4 dynamics from θ₀ = 0.2, 0.5, 0.8 rad,
//!    ω₀ = 0, for 5 s.
//!
//! Run: `cargo run --release --example control`. Writes `target/plots/control.svg`
//! (the angle trajectories). Deterministic: fixed seeds, one training thread.
use std::error::Error;
use std::fs;

use symnn::init::SplitMix64;
use symnn::plot::{self, Series};
use symnn::{metrics, network, Adam, Dataset, LrSchedule, Trainer};

network! {
    /// 3-32-32-2 tanh model of one pendulum step: scaled (θ, ω, u) → scaled
    /// (Δθ, Δω).
    pub struct PendulumStep {
        input x[3];
        target t[2];
        let h1 = dense(x, 32, tanh);
        let h2 = dense(h1, 32, tanh);
        output y = dense(h2, 2, identity);
        loss = mse(y, t);
    }
}

// The plant.
const GRAVITY: f64 = 9.81;
const LENGTH: f64 = 1.0;
const MASS: f64 = 1.0;
const DAMPING: f64 = 0.1;
const DT: f64 = 0.05;

// The sampling box (half-widths) for θ, ω, u; also the input scaling.
const INPUT_RANGE: [f64; 3] = [1.0, 4.0, 20.0];
const TRAIN_POINTS: usize = 4000;
const VALID_POINTS: usize = 1000;
const TRAIN_SEED: u64 = 17;
const VALID_SEED: u64 = 18;
const INIT_SEED: u64 = 1;
const SHUFFLE_SEED: u64 = 7;
const EPOCHS: usize = 300;

// The controller and the closed-loop runs.
const Q: [f64; 2] = [10.0, 1.0];
const R: f64 = 0.1;
const INITIAL_ANGLES: [f64; 3] = [0.2, 0.5, 0.8];
const SIM_STEPS: usize = 100; // 5 s

type State = [f64; 2];
type Mat2 = [[f64; 2]; 2];

/// The continuous dynamics `(θ', ω')`.
fn vector_field(s: State, u: f64) -> State {
    let inertia = MASS * LENGTH * LENGTH;
    [
        s[1],
        GRAVITY / LENGTH * s[0].sin() - DAMPING / inertia * s[1] + u / inertia,
    ]
}

/// One classical RK4 step of length `DT` with the torque held constant: the true `f`.
fn rk4_step(s: State, u: f64) -> State {
    let at = |s: State, k: State, h: f64| [s[0] + h * k[0], s[1] + h * k[1]];
    let k1 = vector_field(s, u);
    let k2 = vector_field(at(s, k1, DT / 2.0), u);
    let k3 = vector_field(at(s, k2, DT / 2.0), u);
    let k4 = vector_field(at(s, k3, DT), u);
    [
        s[0] + DT / 6.0 * (k1[0] + 2.0 * k2[0] + 2.0 * k3[0] + k4[0]),
        s[1] + DT / 6.0 * (k1[1] + 2.0 * k2[1] + 2.0 * k3[1] + k4[1]),
    ]
}

fn mat_mul(a: &Mat2, b: &Mat2) -> Mat2 {
    let mut c = [[0.0; 2]; 2];
    for i in 0..2 {
        for j in 0..2 {
            c[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j];
        }
    }
    c
}

fn mat_vec(a: &Mat2, v: [f64; 2]) -> [f64; 2] {
    [
        a[0][0] * v[0] + a[0][1] * v[1],
        a[1][0] * v[0] + a[1][1] * v[1],
    ]
}

fn transpose(a: &Mat2) -> Mat2 {
    [[a[0][0], a[1][0]], [a[0][1], a[1][1]]]
}

/// The exact Jacobian (A, B) of `rk4_step` at the upright equilibrium s = 0, u = 0.
fn true_linearisation() -> (Mat2, [f64; 2]) {
    let inertia = MASS * LENGTH * LENGTH;
    // The vector field's Jacobian at θ = 0 (cos 0 = 1), scaled by the step.
    let ha: Mat2 = [[0.0, DT], [DT * GRAVITY / LENGTH, -DT * DAMPING / inertia]];
    let bc = [0.0, 1.0 / inertia];
    // A = I + hA + (hA)²/2 + (hA)³/6 + (hA)⁴/24;  B = h (I + hA/2 + (hA)²/6 + (hA)³/24) Bc.
    let mut a = [[1.0, 0.0], [0.0, 1.0]];
    let mut b_poly = [[1.0, 0.0], [0.0, 1.0]];
    let mut power = [[1.0, 0.0], [0.0, 1.0]];
    let mut factorial = 1.0;
    for k in 1..=4 {
        power = mat_mul(&power, &ha);
        factorial *= k as f64;
        for i in 0..2 {
            for j in 0..2 {
                a[i][j] += power[i][j] / factorial;
                if k <= 3 {
                    b_poly[i][j] += power[i][j] / (factorial * (k + 1) as f64);
                }
            }
        }
    }
    let b = mat_vec(&b_poly, bc);
    (a, [DT * b[0], DT * b[1]])
}

/// Central differences of `rk4_step` at s = 0, u = 0: a check on `true_linearisation`.
fn finite_difference_linearisation() -> (Mat2, [f64; 2]) {
    let h = 1e-6;
    let column = |d: [f64; 3]| {
        let plus = rk4_step([d[0], d[1]], d[2]);
        let minus = rk4_step([-d[0], -d[1]], -d[2]);
        [
            (plus[0] - minus[0]) / (2.0 * h),
            (plus[1] - minus[1]) / (2.0 * h),
        ]
    };
    let (c0, c1, cu) = (
        column([h, 0.0, 0.0]),
        column([0.0, h, 0.0]),
        column([0.0, 0.0, h]),
    );
    ([[c0[0], c1[0]], [c0[1], c1[1]]], cu)
}

/// The trained network with its input and target scaling: `f̂(s, u) = s + σ ⊙ net(x / r)`.
struct LearnedModel {
    net: PendulumStep,
    target_scale: [f64; 2],
}

impl LearnedModel {
    fn scaled_input(s: State, u: f64) -> [f64; 3] {
        [
            s[0] / INPUT_RANGE[0],
            s[1] / INPUT_RANGE[1],
            u / INPUT_RANGE[2],
        ]
    }

    fn step(&self, s: State, u: f64) -> State {
        let y = self.net.forward(&Self::scaled_input(s, u));
        [
            s[0] + self.target_scale[0] * y[0],
            s[1] + self.target_scale[1] * y[1],
        ]
    }

    /// `A = ∂f̂/∂s` and `B = ∂f̂/∂u` at (s, u), from the network's symbolic
    /// `input_jacobian`: `∂f̂_o/∂z_i = δ_oi + σ_o · J[o][i] / r_i`.
    fn linearise(&self, s: State, u: f64) -> (Mat2, [f64; 2]) {
        let jac = self.net.input_jacobian(&Self::scaled_input(s, u));
        let d = |o: usize, i: usize| self.target_scale[o] * jac[o][i] / INPUT_RANGE[i];
        let a = [[1.0 + d(0, 0), d(0, 1)], [d(1, 0), 1.0 + d(1, 1)]];
        (a, [d(0, 2), d(1, 2)])
    }
}

/// Uniform transitions over the sampling box: inputs scaled, targets the raw increments.
fn transitions(n: usize, seed: u64) -> Vec<([f64; 3], [f64; 2])> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| {
            let s = [rng.symmetric(INPUT_RANGE[0]), rng.symmetric(INPUT_RANGE[1])];
            let u = rng.symmetric(INPUT_RANGE[2]);
            let next = rk4_step(s, u);
            (
                LearnedModel::scaled_input(s, u),
                [next[0] - s[0], next[1] - s[1]],
            )
        })
        .collect()
}

/// The infinite-horizon discrete LQR gain for `x⁺ = A x + B u`, cost
/// `Σ xᵀ diag(Q) x + R u²`, by iterating the Riccati difference equation
/// `P ← Q + AᵀPA − AᵀPB (R + BᵀPB)⁻¹ BᵀPA` from P = Q until it stops changing.
/// Returns K (u = −K x) and the number of iterations.
fn lqr(a: &Mat2, b: [f64; 2]) -> Result<([f64; 2], usize), String> {
    let q: Mat2 = [[Q[0], 0.0], [0.0, Q[1]]];
    let mut p = q;
    let at = transpose(a);
    for iteration in 1..=100_000 {
        let pb = mat_vec(&p, b);
        let s = R + b[0] * pb[0] + b[1] * pb[1];
        let btpa = mat_vec(&at, pb); // (BᵀPA)ᵀ = AᵀPB
        let k = [btpa[0] / s, btpa[1] / s];
        let atpa = mat_mul(&at, &mat_mul(&p, a));
        let mut next = [[0.0; 2]; 2];
        let mut change: f64 = 0.0;
        for i in 0..2 {
            for j in 0..2 {
                next[i][j] = q[i][j] + atpa[i][j] - btpa[i] * k[j];
                change = change.max((next[i][j] - p[i][j]).abs() / next[i][j].abs().max(1.0));
            }
        }
        p = next;
        if change < 1e-14 {
            let pb = mat_vec(&p, b);
            let s = R + b[0] * pb[0] + b[1] * pb[1];
            let btpa = mat_vec(&at, pb);
            return Ok(([btpa[0] / s, btpa[1] / s], iteration));
        }
    }
    Err("the Riccati iteration did not converge".into())
}

/// The spectral radius of a 2×2 matrix.
fn spectral_radius(m: &Mat2) -> f64 {
    let trace = m[0][0] + m[1][1];
    let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    let disc = trace * trace / 4.0 - det;
    if disc < 0.0 {
        det.sqrt() // a complex pair, |λ|² = det
    } else {
        (trace / 2.0).abs() + disc.sqrt()
    }
}

fn closed_loop(a: &Mat2, b: [f64; 2], k: [f64; 2]) -> Mat2 {
    [
        [a[0][0] - b[0] * k[0], a[0][1] - b[0] * k[1]],
        [a[1][0] - b[1] * k[0], a[1][1] - b[1] * k[1]],
    ]
}

fn print_linearisation(name: &str, a: &Mat2, b: [f64; 2]) {
    println!("  {name}:");
    for i in 0..2 {
        println!(
            "    A[{i}] = [{:+.6}, {:+.6}]    B[{i}] = {:+.6}",
            a[i][0], a[i][1], b[i]
        );
    }
}

fn max_abs_diff(a: (&Mat2, [f64; 2]), b: (&Mat2, [f64; 2])) -> f64 {
    let mut m: f64 = 0.0;
    for i in 0..2 {
        for j in 0..2 {
            m = m.max((a.0[i][j] - b.0[i][j]).abs());
        }
        m = m.max((a.1[i] - b.1[i]).abs());
    }
    m
}

/// `‖[ΔA ΔB]‖ / ‖[A − I  B]‖` in the Frobenius norm: the error relative to the learned
/// part of the step (the identity is the `s_k` term, exact by construction).
fn relative_error(net: (&Mat2, [f64; 2]), truth: (&Mat2, [f64; 2])) -> f64 {
    let (mut err, mut size) = (0.0, 0.0);
    for i in 0..2 {
        for j in 0..2 {
            let identity = if i == j { 1.0 } else { 0.0 };
            err += (net.0[i][j] - truth.0[i][j]).powi(2);
            size += (truth.0[i][j] - identity).powi(2);
        }
        err += (net.1[i] - truth.1[i]).powi(2);
        size += truth.1[i].powi(2);
    }
    (err / size).sqrt()
}

fn main() -> Result<(), Box<dyn Error>> {
    let start = std::time::Instant::now();
    println!(
        "pendulum: θ'' = {GRAVITY} sin θ − {DAMPING} θ' + u, RK4 steps of {DT} s; \
         learning s_k+1 = f(s_k, u_k) on |θ| ≤ {}, |ω| ≤ {}, |u| ≤ {}",
        INPUT_RANGE[0], INPUT_RANGE[1], INPUT_RANGE[2]
    );

    // 1. Data. Targets are scaled by the training increments' standard deviations.
    let mut train_rows = transitions(TRAIN_POINTS, TRAIN_SEED);
    let mut valid_rows = transitions(VALID_POINTS, VALID_SEED);
    let mut target_scale = [0.0; 2];
    for (o, scale) in target_scale.iter_mut().enumerate() {
        let n = train_rows.len() as f64;
        let mean = train_rows.iter().map(|r| r.1[o]).sum::<f64>() / n;
        *scale = (train_rows
            .iter()
            .map(|r| (r.1[o] - mean).powi(2))
            .sum::<f64>()
            / n)
            .sqrt();
    }
    for row in train_rows.iter_mut().chain(valid_rows.iter_mut()) {
        row.1 = [row.1[0] / target_scale[0], row.1[1] / target_scale[1]];
    }
    let train = Dataset::from_rows(&train_rows);
    let valid = Dataset::from_rows(&valid_rows);

    // 2. Training.
    let mut net = PendulumStep::with_seed(INIT_SEED);
    println!(
        "model: 3-32-32-2 tanh, {} parameters, predicts the scaled increment (σ_Δθ = {:.4}, σ_Δω = {:.4})",
        PendulumStep::NUM_PARAMS,
        target_scale[0],
        target_scale[1]
    );
    let train_start = std::time::Instant::now();
    let history = Trainer::new(Adam::new(3e-3))
        .epochs(EPOCHS)
        .batch_size(32)
        .seed(SHUFFLE_SEED)
        .threads(1)
        .lr_schedule(LrSchedule::cosine(EPOCHS, 0.01))
        .fit(&mut net, &train, Some(&valid))?;
    let train_time = train_start.elapsed().as_secs_f64();
    let model = LearnedModel { net, target_scale };
    // Validation error of the next state, in physical units.
    let (mut worst, mut sq) = ([0.0f64; 2], [0.0f64; 2]);
    for (x, _) in valid.iter() {
        let (s, u) = (
            [x[0] * INPUT_RANGE[0], x[1] * INPUT_RANGE[1]],
            x[2] * INPUT_RANGE[2],
        );
        let (truth, predicted) = (rk4_step(s, u), model.step(s, u));
        for o in 0..2 {
            let e = (predicted[o] - truth[o]).abs();
            worst[o] = worst[o].max(e);
            sq[o] += e * e;
        }
    }
    let rms = sq.map(|v| (v / valid.len() as f64).sqrt());
    println!(
        "trained {EPOCHS} epochs of Adam in {train_time:.2} s: scaled MSE train {:.2e}, validation {:.2e}",
        metrics::mse(&model.net, &train),
        history.last().and_then(|r| r.eval_loss).unwrap_or(f64::NAN)
    );
    println!(
        "validation next-state error: θ rms {:.2e} (max {:.2e}) rad, ω rms {:.2e} (max {:.2e}) rad/s",
        rms[0], worst[0], rms[1], worst[1]
    );

    // 3. Linearisation at the upright equilibrium.
    let (a_net, b_net) = model.linearise([0.0, 0.0], 0.0);
    let (a_true, b_true) = true_linearisation();
    let (a_fd, b_fd) = finite_difference_linearisation();
    let fd_check = max_abs_diff((&a_true, b_true), (&a_fd, b_fd));
    if fd_check > 1e-7 {
        return Err(
            format!("analytic RK4 Jacobian disagrees with differences: {fd_check:.1e}").into(),
        );
    }
    let lin_error = max_abs_diff((&a_net, b_net), (&a_true, b_true));
    let lin_relative = relative_error((&a_net, b_net), (&a_true, b_true));
    let equilibrium = model.step([0.0, 0.0], 0.0);
    println!("\nlinearisation at θ = 0, ω = 0, u = 0 (s_k+1 ≈ A s_k + B u_k):");
    print_linearisation("network (input_jacobian)", &a_net, b_net);
    print_linearisation("true (Jacobian of the RK4 step)", &a_true, b_true);
    println!(
        "  max |error| over A and B: {lin_error:.2e}; relative error \
         ‖[ΔA ΔB]‖ / ‖[A − I  B]‖ = {:.2} %",
        100.0 * lin_relative
    );
    println!(
        "  (analytic RK4 Jacobian vs central differences: {fd_check:.1e}; network's f̂(0, 0) = \
         [{:+.1e}, {:+.1e}])",
        equilibrium[0], equilibrium[1]
    );
    println!(
        "  open-loop spectral radius: network {:.5}, true {:.5} (> 1: upright is unstable)",
        spectral_radius(&a_net),
        spectral_radius(&a_true)
    );

    // 4. LQR on the learned linearisation (and on the true one, for comparison).
    let (k_net, iters) = lqr(&a_net, b_net)?;
    let (k_true, _) = lqr(&a_true, b_true)?;
    println!(
        "\nLQR (Q = diag({}, {}), R = {R}), Riccati iterated to convergence:",
        Q[0], Q[1]
    );
    println!(
        "  K from the network = [{:.4}, {:.4}]  ({iters} iterations)",
        k_net[0], k_net[1]
    );
    println!(
        "  K from the truth   = [{:.4}, {:.4}]",
        k_true[0], k_true[1]
    );
    println!(
        "  spectral radius of A_true − B_true K_network: {:.4} (< 1: locally stable on the true plant)",
        spectral_radius(&closed_loop(&a_true, b_true, k_net))
    );

    // 5. Closed loop u = −K s on the true dynamics.
    println!(
        "\nclosed loop u = −K s on the true pendulum, {} s:",
        SIM_STEPS as f64 * DT
    );
    let mut series = Vec::new();
    let mut balanced = true;
    for &theta0 in &INITIAL_ANGLES {
        let mut s = [theta0, 0.0];
        let mut max_u: f64 = 0.0;
        let mut trajectory = vec![(0.0, s[0])];
        for k in 1..=SIM_STEPS {
            let u = -(k_net[0] * s[0] + k_net[1] * s[1]);
            max_u = max_u.max(u.abs());
            s = rk4_step(s, u);
            trajectory.push((k as f64 * DT, s[0]));
        }
        let ok = s[0].abs() < 1e-3 && s[1].abs() < 1e-3;
        balanced &= ok;
        println!(
            "  θ0 = {theta0:.1} rad: final θ = {:+.2e} rad, ω = {:+.2e} rad/s, max |u| = {max_u:.2} N·m  {}",
            s[0],
            s[1],
            if ok { "balanced" } else { "NOT balanced" }
        );
        series.push(Series::line(format!("θ0 = {theta0} rad"), trajectory));
    }

    fs::create_dir_all("target/plots")?;
    plot::plot_xy(
        "target/plots/control.svg",
        "pendulum under LQR from the learned model (true dynamics)",
        "time (s)",
        "θ (rad)",
        &series,
    )?;
    println!(
        "\nwrote target/plots/control.svg; total {:.2} s",
        start.elapsed().as_secs_f64()
    );
    if !balanced {
        return Err("the controller did not balance every run".into());
    }
    Ok(())
}
