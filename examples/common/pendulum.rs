//! The damped pendulum that `examples/neural_ode.rs` learns and `benches/compare/node.rs`
//! (the `node` group of `benches/compare`) trains against JAX: the true vector field,
//! the fine-step RK4 that simulates it, the seeded initial conditions and
//! trajectories, and the seed of the network's initial parameters. Included by both with `#[path = ...] mod pendulum;`, so the example and
//! the comparison see the same data bit for bit.
//!
//! `θ'' = −sin θ − 0.1 θ'`, state `s = [θ, ω]`, `ω = θ'`.
#![allow(dead_code)] // each includer uses part of it

use symnn::init::SplitMix64;

/// Observation interval, and the step of the RK4 the network is integrated with. The
/// `network!`s write it as the literals `0.1`, `0.05` (`h/2`) and `0.1 / 6.0`.
pub const DT: f64 = 0.1;
/// Fine RK4 steps per observation interval for the true trajectories.
pub const SUBSTEPS: usize = 20;
/// The damping coefficient.
pub const DAMPING: f64 = 0.1;
/// Initial angles are drawn from `U(−THETA0, THETA0)` (rad) ...
pub const THETA0: f64 = 2.0;
/// ... and initial angular velocities from `U(−OMEGA0, OMEGA0)` (rad/s).
pub const OMEGA0: f64 = 1.5;

/// Training and held-out trajectories, and the seeds of their initial conditions.
pub const TRAIN: usize = 256;
pub const HELD_OUT: usize = 64;
pub const TRAIN_SEED: u64 = 20;
pub const HELD_OUT_SEED: u64 = 21;
/// The seed of the network's initial parameters (`NeuralOde::with_seed`: Glorot-uniform
/// `W1`, `W2`, `U(−0.1, 0.1)` biases).
pub const INIT_SEED: u64 = 3;

/// A state `[θ, ω]`.
pub type State = [f64; 2];

/// The true vector field `(θ', ω') = (ω, −sin θ − 0.1 ω)`.
pub fn field(s: State) -> State {
    [s[1], -s[0].sin() - DAMPING * s[1]]
}

/// One classical RK4 step of length `h` of the vector field `f`.
pub fn rk4(f: impl Fn(State) -> State, s: State, h: f64) -> State {
    let axpy = |a: f64, k: State| [s[0] + a * k[0], s[1] + a * k[1]];
    let k1 = f(s);
    let k2 = f(axpy(h / 2.0, k1));
    let k3 = f(axpy(h / 2.0, k2));
    let k4 = f(axpy(h, k3));
    [
        s[0] + h / 6.0 * (k1[0] + 2.0 * k2[0] + 2.0 * k3[0] + k4[0]),
        s[1] + h / 6.0 * (k1[1] + 2.0 * k2[1] + 2.0 * k3[1] + k4[1]),
    ]
}

/// The true states after `1..=steps` observation intervals from `s0`, each interval
/// integrated with `SUBSTEPS` RK4 steps of the true field.
pub fn true_trajectory(s0: State, steps: usize) -> Vec<State> {
    let h = DT / SUBSTEPS as f64;
    let mut s = s0;
    (0..steps)
        .map(|_| {
            for _ in 0..SUBSTEPS {
                s = rk4(field, s, h);
            }
            s
        })
        .collect()
}

/// The states after `1..=steps` intervals of one RK4 step each of the field `f` (how
/// the network is integrated).
pub fn model_trajectory(f: impl Fn(State) -> State, s0: State, steps: usize) -> Vec<State> {
    let mut s = s0;
    (0..steps)
        .map(|_| {
            s = rk4(&f, s, DT);
            s
        })
        .collect()
}

/// `n` initial conditions, uniform in the box, from SplitMix64 stream `seed`.
pub fn initial_conditions(n: usize, seed: u64) -> Vec<State> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| {
            let theta = THETA0 * (2.0 * rng.next_f64() - 1.0);
            let omega = OMEGA0 * (2.0 * rng.next_f64() - 1.0);
            [theta, omega]
        })
        .collect()
}

/// The samples of a data set: inputs `s0` (2 values a row) and targets the true states
/// after `1..=horizon` intervals (`2 * horizon` values a row, `traj[k][0..2]` row-major).
pub fn samples(initial: &[State], horizon: usize) -> (Vec<f64>, Vec<f64>) {
    let inputs = initial.iter().flatten().copied().collect();
    let targets = initial
        .iter()
        .flat_map(|&s0| true_trajectory(s0, horizon))
        .flatten()
        .collect();
    (inputs, targets)
}
