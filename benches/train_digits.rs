//! One epoch of training on `digits` (1 438 training samples, 64-32-10 tanh network,
//! softmax cross-entropy, minibatch 32, Adam) through the runtime's `Trainer`, in
//! `f32` and `f64`; and, for comparison, the bare generated gradient over the same
//! samples (no shuffling, averaging or optimizer).
//!
//! Throughput is reported in samples/s (criterion's `elem/s`).
//!
//! Run: `cargo bench --bench train_digits`. Results: docs/PERFORMANCE.md.
use std::time::Duration;

use criterion::{black_box, BatchSize, Criterion, Throughput};
use symnn::{datasets, network, Adam, Dataset, Float, Model, Progress, Standardizer, Trainer};

network! {
    /// 64-32-10 classifier, f32.
    pub struct Digits32 {
        type Float = f32;
        input x[64];
        target t[10];
        let h = dense(x, 32, tanh);
        output z = dense(h, 10, identity);
        loss = cross_entropy(z, t);
    }
}

network! {
    /// The same network in f64.
    pub struct Digits64 {
        input x[64];
        target t[10];
        let h = dense(x, 32, tanh);
        output z = dense(h, 10, identity);
        loss = cross_entropy(z, t);
    }
}

/// The standardised 80% training split the `digits` example uses.
fn training_data<F: Float>() -> Dataset<F> {
    let (mut train, _) = datasets::digits::<F>().data.stratified_split(0.2, 42);
    Standardizer::fit(&train).transform(&mut train);
    train
}

fn bench_net<M: Model + Default>(c: &mut Criterion, name: &str) {
    let train = training_data::<M::Float>();
    let mut group = c.benchmark_group("digits_epoch");
    group.throughput(Throughput::Elements(train.len() as u64));

    // Every iteration trains one epoch from the same start (`fit` resets Adam), so
    // each timed epoch does the same work.
    let start = M::default();
    let mut trainer = Trainer::new(Adam::new(M::Float::from_f64(1e-2)))
        .epochs(1)
        .batch_size(32)
        .seed(7)
        .progress(Progress::Silent);
    group.bench_function(format!("trainer/{name}"), |b| {
        b.iter_batched_ref(
            || start.clone(),
            |net| trainer.fit(net, black_box(&train), None).expect("finite"),
            BatchSize::SmallInput,
        )
    });

    let mut grad = vec![M::Float::ZERO; M::NUM_PARAMS];
    group.bench_function(format!("gradient_only/{name}"), |b| {
        b.iter(|| {
            grad.fill(M::Float::ZERO);
            let mut loss = M::Float::ZERO;
            for (x, t) in black_box(&train).iter() {
                loss += start.accumulate_gradient_slice(x, t, &mut grad);
            }
            black_box(loss)
        })
    });
    group.finish();
}

fn main() {
    eprintln!(
        "Digits32: {} params, COST = {:?}",
        Digits32::NUM_PARAMS,
        Digits32::COST
    );
    // Short runs on a small noisy machine; command-line flags still override these.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .configure_from_args();
    bench_net::<Digits32>(&mut c, "f32");
    bench_net::<Digits64>(&mut c, "f64");
    c.final_summary();
}
