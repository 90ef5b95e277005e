//! Handwritten digits (scikit-learn's 8x8 `digits`: 1797 samples, 64 pixels, 10
//! classes) with a 64-32-10 network — 2 410 parameters whose gradient `network!`
//! derives symbolically and emits as straight-line Rust.
//!
//! Pixels (0..16) are standardised on the training split; stratified 80/20 split;
//! softmax cross-entropy from logits; Adam, minibatches of 32, cosine learning-rate
//! decay; the trainer reports test loss and accuracy after every epoch.
//!
//! Run: `cargo run --release --example digits`. Writes `target/plots/digits.svg` and
//! the trained parameters as `target/checkpoints/digits.json` and `.safetensors`.
use std::error::Error;
use std::fs;
use std::time::{Duration, Instant};

use symnn::{
    checkpoint, datasets, metrics, network, plot, Adam, LrSchedule, Progress, Standardizer, Trainer,
};

network! {
    /// 64-32-10 classifier for 8x8 digits: one tanh hidden layer, logits out.
    pub struct DigitsNet {
        type Float = f32;
        input x[64];
        target t[10];
        let h = dense(x, 32, tanh);
        output z = dense(h, 10, identity);
        loss = cross_entropy(z, t);
    }
}

const SPLIT_SEED: u64 = 42;
const INIT_SEED: u64 = 1;
const SHUFFLE_SEED: u64 = 7;
const EPOCHS: usize = 30;
const BATCH: usize = 32;
const LR: f32 = 1e-2;

fn main() -> Result<(), Box<dyn Error>> {
    let digits = datasets::digits::<f32>();
    let (mut train, mut test) = digits.data.stratified_split(0.2, SPLIT_SEED);
    let scaler = Standardizer::fit(&train);
    scaler.transform(&mut train);
    scaler.transform(&mut test);
    println!(
        "digits: {} training / {} test samples; {} parameters; generated code: {} ops forward, {} ops gradient",
        train.len(),
        test.len(),
        DigitsNet::NUM_PARAMS,
        DigitsNet::COST.forward_ops,
        DigitsNet::COST.gradient_ops,
    );

    let mut net = DigitsNet::with_seed(INIT_SEED);
    let started = Instant::now();
    let history = Trainer::new(Adam::new(LR))
        .epochs(EPOCHS)
        .batch_size(BATCH)
        .seed(SHUFFLE_SEED)
        .lr_schedule(LrSchedule::cosine(EPOCHS, 0.05))
        .metric("accuracy", metrics::accuracy)
        .progress(Progress::Auto)
        .fit(&mut net, &train, Some(&test))?;
    let wall = started.elapsed();

    let test_acc = metrics::accuracy(&net, &test);
    let train_acc = metrics::accuracy(&net, &train);
    let cm =
        metrics::ConfusionMatrix::from_model(&net, &test, 10).with_class_names(&digits.class_names);
    println!("\nconfusion matrix (test):\n{cm}\n");

    fs::create_dir_all("target/plots")?;
    fs::create_dir_all("target/checkpoints")?;
    plot::plot_history(&history, "target/plots/digits.svg")?;
    checkpoint::save_json(&net, "target/checkpoints/digits.json")?;
    checkpoint::save_safetensors(&net, "target/checkpoints/digits.safetensors")?;
    // Reload into a differently initialised network: the same parameters, bit for bit.
    let mut reloaded = DigitsNet::with_seed(INIT_SEED + 1);
    checkpoint::load_safetensors(&mut reloaded, "target/checkpoints/digits.safetensors")?;
    assert_eq!(reloaded, net, "safetensors round trip");

    let epochs = history.reports.len();
    let train_time: Duration = history.reports.iter().map(|r| r.elapsed).sum();
    let per_epoch = train_time / epochs as u32;
    let samples_per_sec = (train.len() * epochs) as f64 / train_time.as_secs_f64();
    let last = history.last().expect("at least one epoch");
    println!("summary");
    println!(
        "  network          64-32-10 tanh, f32, {} parameters",
        DigitsNet::NUM_PARAMS
    );
    println!("  training         {epochs} epochs, Adam lr {LR} (cosine), minibatch {BATCH}");
    println!(
        "  loss             train {:.4}, test {:.4}",
        last.train_loss,
        last.eval_loss.unwrap_or(f64::NAN)
    );
    println!("  train accuracy   {:.2}%", 100.0 * train_acc);
    let correct: usize = (0..10).map(|c| cm.get(c, c)).sum();
    println!(
        "  test accuracy    {:.2}% ({correct} of {})",
        100.0 * test_acc,
        test.len()
    );
    println!(
        "  time per epoch   {:.1} ms (training only; {:.2} s in all with evaluation)",
        per_epoch.as_secs_f64() * 1e3,
        wall.as_secs_f64()
    );
    println!("  throughput       {samples_per_sec:.0} samples/s (forward + gradient + Adam)");
    println!("  wrote            target/plots/digits.svg, target/checkpoints/digits.{{json,safetensors}}");
    Ok(())
}
