//! Breast cancer Wisconsin (diagnostic): 569 samples, 30 features, malignant vs
//! benign, with a 30-16-1 network and a sigmoid output trained on binary
//! cross-entropy.
//!
//! Stratified 70/30 train/test split, then 20% of the training part held out for
//! validation; features standardised with the training part's statistics. Adam with
//! minibatches of 16 and early stopping on the *validation* loss (the best epoch's
//! parameters are restored), so the test set is only used for the final numbers.
//!
//! Run: `cargo run --release --example breast_cancer`. Writes
//! `target/plots/breast_cancer.svg` and `target/checkpoints/breast_cancer.json`.
use std::error::Error;
use std::fs;

use symnn::{checkpoint, datasets, metrics, network, plot, Adam, Progress, Standardizer, Trainer};

network! {
    /// 30-16-1 binary classifier: one tanh hidden layer, probability out.
    pub struct CancerNet {
        input x[30];
        target t[1];
        let h = dense(x, 16, tanh);
        output p = dense(h, 1, sigmoid);
        loss = bce(p, t);
    }
}

const SPLIT_SEED: u64 = 42;
const INIT_SEED: u64 = 1;
const SHUFFLE_SEED: u64 = 7;
const EPOCHS: usize = 100;

fn main() -> Result<(), Box<dyn Error>> {
    let cancer = datasets::breast_cancer::<f64>();
    // The embedded set has one-hot targets; one sigmoid output wants a 0/1 target.
    let data = cancer.data.binary_targets()?;
    let (train, mut test) = data.stratified_split(0.3, SPLIT_SEED);
    let (mut train, mut valid) = train.stratified_split(0.2, SPLIT_SEED);
    let scaler = Standardizer::fit(&train);
    scaler.transform(&mut train);
    scaler.transform(&mut valid);
    scaler.transform(&mut test);
    println!(
        "breast_cancer: {} training / {} validation / {} test samples, classes {:?}, {} parameters",
        train.len(),
        valid.len(),
        test.len(),
        cancer.class_names,
        CancerNet::NUM_PARAMS
    );

    let mut net = CancerNet::with_seed(INIT_SEED);
    let history = Trainer::new(Adam::new(3e-3))
        .epochs(EPOCHS)
        .batch_size(16)
        .seed(SHUFFLE_SEED)
        .metric("accuracy", metrics::accuracy)
        .early_stopping(10, 1e-4)
        .progress(Progress::Auto)
        .fit(&mut net, &train, Some(&valid))?;

    if history.stopped_early {
        println!(
            "stopped early after {} epochs; restored epoch {} (lowest validation loss)",
            history.reports.len(),
            history.best_epoch.unwrap_or(0)
        );
    }
    println!(
        "test loss {:.4}; train accuracy {:.2}%, test accuracy {:.2}%",
        metrics::mean_loss(&net, &test),
        100.0 * metrics::accuracy(&net, &train),
        100.0 * metrics::accuracy(&net, &test)
    );
    let cm =
        metrics::ConfusionMatrix::from_model(&net, &test, 2).with_class_names(&cancer.class_names);
    println!("\nconfusion matrix (test):\n{cm}\n");
    for (c, name) in cancer.class_names.iter().enumerate() {
        println!(
            "{name:>9}: precision {:.3}, recall {:.3}",
            cm.precision(c),
            cm.recall(c)
        );
    }

    fs::create_dir_all("target/plots")?;
    fs::create_dir_all("target/checkpoints")?;
    plot::plot_history(&history, "target/plots/breast_cancer.svg")?;
    checkpoint::save_json(&net, "target/checkpoints/breast_cancer.json")?;
    println!("wrote target/plots/breast_cancer.svg and target/checkpoints/breast_cancer.json");
    Ok(())
}
