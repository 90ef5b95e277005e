//! A `network!`-generated net trained with the `Trainer` on several threads: the same
//! thread count gives bit-identical parameters on every run, and 1 and 2 threads agree
//! up to rounding. The 64-32-10 net's steps of 128 samples are above the default
//! threshold (`gradient_ops * 64 / 2` per thread), so `threads(2)` does split them.
use symnn::init::SplitMix64;
use symnn::train::DEFAULT_MIN_OPS_PER_THREAD;
use symnn::{network, Adam, Dataset, Model, Trainer};

network! {
    /// 64-32-10, tanh, softmax cross-entropy (the `digits` net).
    pub struct Digits {
        input x[64];
        target t[10];
        let h = dense(x, 32, tanh);
        output z = dense(h, 10, identity);
        loss = cross_entropy(z, t);
    }
}

const BATCH: usize = 128;
// The split really happens at this size with the default threshold.
const _: () = assert!(Digits::COST.gradient_ops * BATCH / 2 >= DEFAULT_MIN_OPS_PER_THREAD);

fn random_data(n: usize) -> Dataset<f64> {
    let mut rng = SplitMix64::new(17);
    let inputs = (0..n * 64).map(|_| rng.symmetric(1.0)).collect();
    let mut targets = vec![0.0; n * 10];
    for row in targets.chunks_exact_mut(10) {
        row[rng.next_u64() as usize % 10] = 1.0;
    }
    Dataset::new(inputs, 64, targets, 10).unwrap()
}

fn train(data: &Dataset<f64>, threads: usize) -> (Vec<f64>, f64) {
    let mut net = Digits::with_seed_boxed(3);
    let history = Trainer::new(Adam::new(0.01))
        .epochs(2)
        .batch_size(BATCH)
        .seed(5)
        .threads(threads)
        .fit(&mut *net, data, None)
        .expect("finite");
    (net.params().to_vec(), history.last().unwrap().train_loss)
}

#[test]
fn threaded_training_is_deterministic_and_matches_one_thread() {
    // 600 samples: four steps of 128 and one of 88 an epoch.
    let data = random_data(600);
    let (a, loss_a) = train(&data, 2);
    let (b, loss_b) = train(&data, 2);
    assert!(
        a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()) && loss_a == loss_b,
        "two runs on 2 threads differ"
    );
    let (one, loss_one) = train(&data, 1);
    for (x, y) in a.iter().zip(&one) {
        assert!((x - y).abs() <= 1e-9 * (1.0 + y.abs()), "{x} vs {y}");
    }
    assert!((loss_a - loss_one).abs() <= 1e-9 * loss_one);
    // All cores: whatever their number, a valid and reproducible run.
    let (all, _) = train(&data, 0);
    let (again, _) = train(&data, 0);
    assert_eq!(all, again);
    assert!(all.iter().all(|p| p.is_finite()));
}
