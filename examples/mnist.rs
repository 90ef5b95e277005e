//! MNIST (60,000 training and 10,000 test images of 28x28 handwritten digits) with a
//! 784-128-10 network: 101,770 parameters whose gradient `network!` derives
//! symbolically at compile time.
//!
//! Pixels are scaled to [0, 1] (`datasets::mnist`); one ReLU hidden layer; softmax
//! cross-entropy from the logits against the class index (`sparse_cross_entropy`,
//! gradient `softmax(z) − onehot(k)`); f32; Adam with cosine decay, minibatches of 32, 4
//! epochs; the trainer reports test loss and accuracy after every epoch. The network
//! is built on the heap (`with_seed_boxed`): it is 407 KB of parameters, and
//! `Trainer`, metrics and checkpoints take it by reference (`&mut *net`).
//!
//! Run: `cargo run --release --example mnist`. Reads the IDX files from
//! `symnn-runtime/data/mnist/` at run time; writes `target/plots/mnist.svg` and
//! `target/checkpoints/mnist.safetensors`, which it reloads into a second network and
//! checks that it predicts the same on the test set.
use std::error::Error;
use std::fs;
use std::time::{Duration, Instant};

use symnn::{
    checkpoint, datasets, metrics, network, plot, Adam, Dataset, LrSchedule, Progress, Trainer,
};

network! {
    /// 784-128-10 classifier for 28x28 digits: one ReLU hidden layer, logits out.
    pub struct MnistNet {
        type Float = f32;
        input x[784];
        target k;                     // the class, 0..=9
        let h = dense(x, 128, relu);
        output z = dense(h, 10, identity);
        loss = sparse_cross_entropy(z, k);
    }
}

/// The data with targets in the form the loss above reads: the class index (one value
/// a sample, checked against the 10 classes) for `target k;` with
/// `sparse_cross_entropy`, or the one-hot rows `datasets::mnist` delivers for
/// `target t[10];` with `cross_entropy` (the two losses give the same gradients).
fn targets_for_loss(data: Dataset<f32>) -> Result<Dataset<f32>, Box<dyn Error>> {
    Ok(match MnistNet::NUM_TARGETS {
        1 => data.with_class_index_targets()?,
        _ => data,
    })
}

const INIT_SEED: u64 = 1;
const SHUFFLE_SEED: u64 = 7;
const EPOCHS: usize = 4;
const BATCH: usize = 128;
const LR: f32 = 4e-3;
const PLOT: &str = "target/plots/mnist.svg";
const CHECKPOINT: &str = "target/checkpoints/mnist.safetensors";

fn main() -> Result<(), Box<dyn Error>> {
    let started = Instant::now();
    let mnist = datasets::mnist::<f32>()?;
    let (train, test) = (
        targets_for_loss(mnist.train)?,
        targets_for_loss(mnist.test)?,
    );
    let load_time = started.elapsed();
    println!(
        "mnist: {} training / {} test samples (loaded in {:.2} s); {} parameters; \
         generated code: {} ops forward, {} ops gradient",
        train.len(),
        test.len(),
        load_time.as_secs_f64(),
        MnistNet::NUM_PARAMS,
        MnistNet::COST.forward_ops,
        MnistNet::COST.gradient_ops,
    );

    let mut net = MnistNet::with_seed_boxed(INIT_SEED);
    let fit_started = Instant::now();
    let history = Trainer::new(Adam::new(LR))
        .epochs(EPOCHS)
        .batch_size(BATCH)
        .seed(SHUFFLE_SEED)
        .lr_schedule(LrSchedule::cosine(EPOCHS, 0.05))
        .metric("accuracy", metrics::accuracy)
        .progress(Progress::Auto)
        .fit(&mut *net, &train, Some(&test))?;
    let fit_time = fit_started.elapsed();

    println!("\nepoch  train loss  test loss  test acc   time    samples/s");
    for r in &history.reports {
        println!(
            "{:>5}  {:>10.4}  {:>9.4}  {:>7.2}%  {:>5.2} s  {:>9.0}",
            r.epoch,
            r.train_loss,
            r.eval_loss.unwrap_or(f64::NAN),
            100.0 * r.metric.unwrap_or(f64::NAN),
            r.elapsed.as_secs_f64(),
            r.samples_per_sec,
        );
    }

    // The test set's loss and accuracy: batched forward and loss (SIMD, GEMM blocks,
    // chunks on the threads).
    let eval_started = Instant::now();
    let test_loss = metrics::mean_loss(&*net, &test);
    let test_acc = metrics::accuracy(&*net, &test);
    let eval_time = eval_started.elapsed();
    let train_acc = metrics::accuracy(&*net, &train);
    let cm = metrics::ConfusionMatrix::from_model(&*net, &test, 10);
    println!("\nconfusion matrix (test):\n{cm}\n");

    fs::create_dir_all("target/plots")?;
    fs::create_dir_all("target/checkpoints")?;
    plot::plot_history(&history, PLOT)?;
    checkpoint::save_safetensors(&*net, CHECKPOINT)?;
    // Reload into a differently initialised network: the same parameters bit for bit,
    // hence the same predictions.
    let mut reloaded = MnistNet::with_seed_boxed(INIT_SEED + 1);
    checkpoint::load_safetensors(&mut *reloaded, CHECKPOINT)?;
    assert!(
        *reloaded == *net,
        "safetensors round trip changed parameters"
    );
    assert!(
        metrics::predict(&*reloaded, &test) == metrics::predict(&*net, &test),
        "the reloaded network predicts differently"
    );

    let epochs = history.reports.len();
    let train_time: Duration = history.reports.iter().map(|r| r.elapsed).sum();
    let samples_per_sec = (train.len() * epochs) as f64 / train_time.as_secs_f64();
    let last = history.last().expect("at least one epoch");
    let correct: usize = (0..10).map(|c| cm.get(c, c)).sum();
    println!("summary");
    println!(
        "  network          {}-{}-10 ReLU, f32, {} parameters",
        MnistNet::NUM_INPUTS,
        MnistNet::PARAM_GROUPS[1].shape[0],
        MnistNet::NUM_PARAMS
    );
    println!("  training         {epochs} epochs, Adam lr {LR} (cosine), minibatch {BATCH}");
    println!(
        "  loss             train {:.4}, test {:.4}",
        last.train_loss,
        last.eval_loss.unwrap_or(f64::NAN)
    );
    println!("  train accuracy   {:.2}%", 100.0 * train_acc);
    println!(
        "  test accuracy    {:.2}% ({correct} of {})",
        100.0 * test_acc,
        test.len()
    );
    println!(
        "  training time    {:.2} s ({:.2} s per epoch; {:.2} s with the per-epoch test evaluation)",
        train_time.as_secs_f64(),
        train_time.as_secs_f64() / epochs as f64,
        fit_time.as_secs_f64()
    );
    println!("  throughput       {samples_per_sec:.0} samples/s (forward + gradient + Adam)");
    println!(
        "  test evaluation  {:.1} ms for loss {test_loss:.4} and accuracy on {} samples ({:.1}% of an epoch)",
        1e3 * eval_time.as_secs_f64(),
        test.len(),
        100.0 * eval_time.as_secs_f64() / (train_time.as_secs_f64() / epochs as f64)
    );
    println!(
        "  total            {:.2} s (data loading, training, evaluation, checkpoint)",
        started.elapsed().as_secs_f64()
    );
    println!("  wrote            {PLOT}, {CHECKPOINT}");
    Ok(())
}
