//! Regression of a smooth 2-D function, f(a, b) = sin(a) · cos(b) on [-π, π]², with a
//! 2-32-32-1 tanh network, mean squared error and Adam.
//!
//! Training data: 2 000 random points (a fixed SplitMix64 stream) with the exact
//! value as target; test data: a 41 × 41 grid over the same square. Inputs are
//! standardised with the training points' mean and standard deviation (about π/√3;
//! dividing by π instead, to [-1, 1], trains markedly slower: test MSE ~3e-3 after the
//! same epochs).
//!
//! Run: `cargo run --release --example regression`. Writes
//! `target/plots/regression.svg` (log10 of the train/test MSE per epoch), `target/plots/regression_fit.svg`
//! (prediction vs truth on the grid), `target/plots/regression_slice.svg` (the
//! slice b = 0: sin(a) and the network's prediction), and
//! `target/checkpoints/regression.json`.
use std::error::Error;
use std::f64::consts::PI;
use std::fs;

use symnn::init::SplitMix64;
use symnn::plot::{self, Series};
use symnn::{
    checkpoint, metrics, network, Adam, Dataset, EpochReport, LrSchedule, Progress, Standardizer,
    Trainer,
};

network! {
    /// 2-32-32-1 tanh regressor.
    pub struct Surface {
        input x[2];
        target t[1];
        let h1 = dense(x, 32, tanh);
        let h2 = dense(h1, 32, tanh);
        output y = dense(h2, 1, identity);
        loss = mse(y, t);
    }
}

const DATA_SEED: u64 = 2024;
const INIT_SEED: u64 = 1;
const SHUFFLE_SEED: u64 = 7;
const TRAIN_POINTS: usize = 2000;
const GRID: usize = 41;
const EPOCHS: usize = 300;

fn f(a: f64, b: f64) -> f64 {
    a.sin() * b.cos()
}

/// One sample: input (a, b), target f(a, b).
fn sample(a: f64, b: f64) -> ([f64; 2], [f64; 1]) {
    ([a, b], [f(a, b)])
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut rng = SplitMix64::new(DATA_SEED);
    let train_rows: Vec<_> = (0..TRAIN_POINTS)
        .map(|_| sample(rng.symmetric(PI), rng.symmetric(PI)))
        .collect();
    let grid = |i: usize| -PI + 2.0 * PI * i as f64 / (GRID - 1) as f64;
    let test_rows: Vec<_> = (0..GRID * GRID)
        .map(|k| sample(grid(k / GRID), grid(k % GRID)))
        .collect();
    let mut train = Dataset::from_rows(&train_rows);
    let mut test = Dataset::from_rows(&test_rows);
    let scaler = Standardizer::fit(&train);
    scaler.transform(&mut train);
    scaler.transform(&mut test);
    // The network's prediction at (a, b), in the original coordinates.
    let predict = |net: &Surface, a: f64, b: f64| {
        let mut x = [a, b];
        scaler.transform_row(&mut x);
        net.forward(&x)[0]
    };
    println!(
        "f(a, b) = sin(a) cos(b): {} random training points, {}x{} test grid, {} parameters",
        train.len(),
        GRID,
        GRID,
        Surface::NUM_PARAMS
    );

    let mut net = Surface::with_seed(INIT_SEED);
    let history = Trainer::new(Adam::new(1e-2))
        .epochs(EPOCHS)
        .batch_size(32)
        .seed(SHUFFLE_SEED)
        .lr_schedule(LrSchedule::cosine(EPOCHS, 0.02))
        .metric("mae", metrics::mae)
        .progress(Progress::Auto)
        .fit(&mut net, &train, Some(&test))?;

    let test_mse = metrics::mse(&net, &test);
    let variance = {
        let mean = test_rows.iter().map(|r| r.1[0]).sum::<f64>() / test_rows.len() as f64;
        test_rows
            .iter()
            .map(|r| (r.1[0] - mean).powi(2))
            .sum::<f64>()
            / test_rows.len() as f64
    };
    println!(
        "train MSE {:.3e}; test MSE {:.3e} (R² = {:.5}), test MAE {:.3e}",
        metrics::mse(&net, &train),
        test_mse,
        1.0 - test_mse / variance,
        metrics::mae(&net, &test)
    );

    fs::create_dir_all("target/plots")?;
    fs::create_dir_all("target/checkpoints")?;
    // The loss falls over three decades, so plot log10 of it (plot_history is linear).
    let log_loss = |f: &dyn Fn(&EpochReport) -> Option<f64>| -> Vec<(f64, f64)> {
        history
            .reports
            .iter()
            .filter_map(|r| Some((r.epoch as f64, f(r)?.log10())))
            .collect()
    };
    plot::plot_xy(
        "target/plots/regression.svg",
        "loss (MSE)",
        "epoch",
        "log10 MSE",
        &[
            Series::line("train", log_loss(&|r| Some(r.train_loss))),
            Series::line("test", log_loss(&|r| r.eval_loss)),
        ],
    )?;
    let truth: Vec<f64> = test_rows.iter().map(|r| r.1[0]).collect();
    let predicted: Vec<f64> = test_rows
        .iter()
        .map(|r| predict(&net, r.0[0], r.0[1]))
        .collect();
    plot::plot_prediction_vs_truth("target/plots/regression_fit.svg", &truth, &predicted)?;
    let slice = |g: &dyn Fn(f64) -> f64| -> Vec<(f64, f64)> {
        (0..=200)
            .map(|i| -PI + 2.0 * PI * i as f64 / 200.0)
            .map(|a| (a, g(a)))
            .collect()
    };
    plot::plot_xy(
        "target/plots/regression_slice.svg",
        "slice b = 0",
        "a",
        "f(a, 0)",
        &[
            Series::line("sin(a) (truth)", slice(&|a| f(a, 0.0))),
            Series::line("network", slice(&|a| predict(&net, a, 0.0))),
        ],
    )?;
    checkpoint::save_json(&net, "target/checkpoints/regression.json")?;
    println!(
        "wrote target/plots/regression{{,_fit,_slice}}.svg and target/checkpoints/regression.json"
    );
    Ok(())
}
