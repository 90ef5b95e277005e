//! A neural ODE: learn the vector field of a damped pendulum, `θ'' = −sin θ − 0.1 θ'`,
//! from simulated trajectories, with the RK4 integrator written as a loop in the DSL.
//!
//! The model is a 2-16-2 tanh network `f(s) = W2 · tanh(W1 · s + b1) + b2` (82
//! parameters) for the field `s' = f(s)`, `s = [θ, ω]`. One sample is a trajectory: its
//! input the initial state `s0`, its target the true states after `1..=H` intervals of
//! `h = 0.1` s. The network integrates `f` from `s0` with one classical RK4 step per
//! interval and its loss is the summed squared distance to the true states, so the
//! gradient differentiates through the whole integration (what `lax.scan` + `grad`
//! does in JAX, here exact and symbolic at compile time).
//!
//! 1. Data: 256 training and 64 held-out initial conditions, `θ ∈ U(−2, 2)` rad,
//!    `ω ∈ U(−1.5, 1.5)` rad/s (fixed SplitMix64 streams), their true trajectories by
//!    RK4 of the true field with 20 substeps per interval (`examples/common/pendulum.rs`,
//!    shared with `benches/compare/node.rs`).
//! 2. Training: Adam through `Trainer` (lr 3e-2 with a cosine decay to 1 % over 400
//!    epochs, minibatches of 32 trajectories shuffled with a fixed seed, one thread: the
//!    run is deterministic; `NODE_EPOCHS=n` trains `n` epochs instead).
//! 3. Fit, before and after: the RMS error of the integrated states on the held-out
//!    trajectories over the training horizon `H`, and over 300 intervals (30 s, three times the training horizon, by RK4
//!    of the learned field, a `Field` network holding the same parameters); the RMS
//!    error of the learned field against the true one on a grid over the sampling box.
//! 4. Plot: θ(t) of three held-out trajectories, true and learned, over 30 s:
//!    `target/plots/neural_ode.svg`.
//!
//! **Horizon.** `H = 100` RK4 steps, issue 20's: the DSL loop is emitted as a Rust
//! loop (docs/DSL.md, "Long loops"), so the example builds in seconds; the reverse pass
//! is backpropagation through time, derived symbolically from one RK4 step.
//!
//! Run: `cargo run --release --example neural_ode`. `benches/compare --only node` trains the same network
//! on the same data against JAX.

use std::error::Error;
use std::fs;
use std::time::Duration;

use symnn::plot::{self, Series};
use symnn::{network, Adam, Dataset, LrSchedule, Model, Trainer};

#[path = "common/pendulum.rs"]
mod pendulum;
use pendulum::State;

network! {
    /// The neural ODE: `H` RK4 steps of the learned field from `s0`, the loss summed over
    /// the states after each step. `h = 0.1` (`pendulum::DT`). The horizon is the `100`
    /// in `traj[100]` and in `0..100`: keep both equal to `H`.
    pub struct NeuralOde {
        input s0[2];
        target traj[100][2];
        param W1[16][2], b1[16], W2[2][16], b2[2];
        fn f(u[2]) = W2 * tanh(W1 * u + b1) + b2;
        let mut s = s0;
        let mut L = 0.0;
        for k in 0..100 {
            let k1 = f(s);
            let k2 = f(s + 0.05 * k1);
            let k3 = f(s + 0.05 * k2);
            let k4 = f(s + 0.1 * k3);
            s = s + 0.1 / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
            L = L + sum(sq(s - traj[k]));
        }
        output y = s;
        loss = L;
    }
}

network! {
    /// The learned vector field alone, with `NeuralOde`'s parameters (same names, same
    /// order): for rollouts longer than the training horizon and for the field error.
    pub struct Field {
        input s[2];
        param W1[16][2], b1[16], W2[2][16], b2[2];
        output y = W2 * tanh(W1 * s + b1) + b2;
        loss = sum(sq(y));
    }
}

/// The training horizon (RK4 steps per trajectory): the literal in `NeuralOde`.
const H: usize = 100;
const _: () = assert!(NeuralOde::NUM_TARGETS == 2 * H);
const _: () = assert!(NeuralOde::NUM_PARAMS == Field::NUM_PARAMS);

const TRAIN: usize = pendulum::TRAIN;
const HELD_OUT: usize = pendulum::HELD_OUT;
/// Length of the long rollouts (30 s, three training horizons) for the extrapolation error and the plot.
const LONG: usize = 300;
const SHUFFLE_SEED: u64 = 7;
/// Training epochs (`NODE_EPOCHS=n` for a shorter run).
const EPOCHS: usize = 400;
const BATCH: usize = 32;
const LR: f64 = 3e-2;

/// The field of a `NeuralOde`'s parameters.
fn field_of(net: &NeuralOde) -> Field {
    Field::from_params(net.params)
}

/// RMS over the held-out trajectories and both coordinates of (integrated − true),
/// over the training horizon (the network's own forward pass) and over `LONG`
/// intervals (RK4 of the learned field).
fn trajectory_errors(net: &NeuralOde, initial: &[State], long_truth: &[Vec<State>]) -> (f64, f64) {
    let field = field_of(net);
    let learned = |s: State| field.forward(&s);
    let (mut short, mut long) = (0.0, 0.0);
    for (s0, truth) in initial.iter().zip(long_truth) {
        let model = pendulum::model_trajectory(learned, *s0, LONG);
        for (k, (m, t)) in model.iter().zip(truth).enumerate() {
            let e = (m[0] - t[0]).powi(2) + (m[1] - t[1]).powi(2);
            long += e;
            if k < H {
                short += e;
            }
        }
    }
    let n = initial.len() as f64;
    (
        (short / (2.0 * H as f64 * n)).sqrt(),
        (long / (2.0 * LONG as f64 * n)).sqrt(),
    )
}

/// RMS of (learned − true) field on a 41 × 41 grid over the sampling box.
fn field_error(net: &NeuralOde) -> f64 {
    let field = field_of(net);
    let g = 41;
    let mut sum = 0.0;
    for i in 0..g {
        for j in 0..g {
            let s = [
                pendulum::THETA0 * (2.0 * i as f64 / (g - 1) as f64 - 1.0),
                pendulum::OMEGA0 * (2.0 * j as f64 / (g - 1) as f64 - 1.0),
            ];
            let (m, t) = (field.forward(&s), pendulum::field(s));
            sum += (m[0] - t[0]).powi(2) + (m[1] - t[1]).powi(2);
        }
    }
    (sum / (2 * g * g) as f64).sqrt()
}

fn main() -> Result<(), Box<dyn Error>> {
    let train_ic = pendulum::initial_conditions(TRAIN, pendulum::TRAIN_SEED);
    let held_ic = pendulum::initial_conditions(HELD_OUT, pendulum::HELD_OUT_SEED);
    let (inputs, targets) = pendulum::samples(&train_ic, H);
    let train = Dataset::new(inputs, 2, targets, 2 * H)?;
    let (inputs, targets) = pendulum::samples(&held_ic, H);
    let held_out = Dataset::new(inputs, 2, targets, 2 * H)?;
    let long_truth: Vec<Vec<State>> = held_ic
        .iter()
        .map(|&s0| pendulum::true_trajectory(s0, LONG))
        .collect();

    let mut net = NeuralOde::with_seed(pendulum::INIT_SEED);
    println!(
        "neural ODE for θ'' = −sin θ − {} θ': 2-16-2 tanh field, {} params, RK4 with h = {} over H = {H} steps",
        pendulum::DAMPING,
        NeuralOde::NUM_PARAMS,
        pendulum::DT
    );
    println!(
        "{TRAIN} training and {HELD_OUT} held-out trajectories; cost of one trajectory's gradient: {:?}",
        NeuralOde::COST
    );

    // The network's own integration equals RK4 of its field (the DSL's literals match
    // `pendulum::DT`).
    let s0 = held_ic[0];
    let (rolled, integrated) = (
        pendulum::model_trajectory(|s| field_of(&net).forward(&s), s0, H)[H - 1],
        net.forward(&s0),
    );
    let gap = (rolled[0] - integrated[0])
        .abs()
        .max((rolled[1] - integrated[1]).abs());
    assert!(gap < 1e-12, "NeuralOde and RK4 of Field differ by {gap:e}");

    let report = |label: &str, net: &NeuralOde| {
        let (short, long) = trajectory_errors(net, &held_ic, &long_truth);
        println!(
            "{label}: held-out mean loss {:.4e}; RMS state error over {H} steps {short:.3e}, over {LONG} steps {long:.3e}; RMS field error {:.3e}",
            mean_loss(net, &held_out),
            field_error(net)
        );
    };
    report("before", &net);

    let epochs: usize = std::env::var("NODE_EPOCHS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(EPOCHS)
        .max(1);
    let mut trainer = Trainer::new(Adam::new(LR))
        .epochs(epochs)
        .batch_size(BATCH)
        .seed(SHUFFLE_SEED)
        .lr_schedule(LrSchedule::cosine(epochs, 0.01))
        .eval_every(epochs.div_ceil(4))
        .threads(1);
    let history = trainer.fit(&mut net, &train, Some(&held_out))?;
    let elapsed: Duration = history.reports.iter().map(|r| r.elapsed).sum();
    let steps = history.reports.last().map_or(0, |r| r.steps);
    for r in history.reports.iter().filter(|r| r.eval_loss.is_some()) {
        println!(
            "  epoch {:>4}: train loss {:.4e}, held-out loss {:.4e}",
            r.epoch,
            r.train_loss,
            r.eval_loss.unwrap_or(f64::NAN)
        );
    }
    println!(
        "trained {epochs} epochs ({steps} Adam steps of {BATCH} trajectories) in {:.2} s: {:.1} µs per step, {:.2} µs per trajectory",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / steps.max(1) as f64,
        elapsed.as_secs_f64() * 1e6 / (epochs * TRAIN) as f64
    );
    report("after ", &net);

    // Plot: θ(t) of three held-out trajectories, true and learned, over LONG steps.
    let field = field_of(&net);
    let mut series = Vec::new();
    for (i, &s0) in held_ic.iter().take(3).enumerate() {
        let t = |k: usize| k as f64 * pendulum::DT;
        let with_start = |traj: Vec<State>| -> Vec<(f64, f64)> {
            std::iter::once((0.0, s0[0]))
                .chain(traj.iter().enumerate().map(|(k, s)| (t(k + 1), s[0])))
                .collect()
        };
        series.push(Series::line(
            format!("true #{i} (θ0 = {:.2}, ω0 = {:.2})", s0[0], s0[1]),
            with_start(long_truth[i].clone()),
        ));
        series.push(Series::line(
            format!("learned #{i}"),
            with_start(pendulum::model_trajectory(|s| field.forward(&s), s0, LONG)),
        ));
    }
    fs::create_dir_all("target/plots")?;
    plot::plot_xy(
        "target/plots/neural_ode.svg",
        &format!("damped pendulum: true vs learned (trained on {H}-step windows)"),
        "time (s)",
        "θ (rad)",
        &series,
    )?;
    println!("wrote target/plots/neural_ode.svg");
    Ok(())
}

/// Mean loss over a data set (the summed squared state error of one trajectory,
/// averaged over trajectories).
fn mean_loss(net: &NeuralOde, data: &Dataset<f64>) -> f64 {
    net.loss_batch_slice(data.inputs(), data.targets()) / data.len() as f64
}
