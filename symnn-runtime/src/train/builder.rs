//! The [`Trainer`]: the policy of a training run (optimizer, epochs, batch size,
//! schedule, ...) and its builder methods. Running it is in `epoch.rs`.

use super::parallel::Workers;
use crate::optim::{LrSchedule, Optimizer};
use crate::progress::Progress;
use crate::{Dataset, Float, Model};
use std::fmt;
use std::marker::PhantomData;

type MetricFn<M> = Box<dyn Fn(&M, &Dataset<<M as Model>::Float>) -> f64>;

/// Trains a [`Model`] with an [`Optimizer`]. See the [module docs](crate::train).
///
/// ```
/// # use symnn_runtime::{Trainer, optim::Adam, LrSchedule, Progress, metrics};
/// # fn demo<M: symnn_runtime::Model<Float = f64> + 'static>(
/// #     model: &mut M, train: &symnn_runtime::Dataset<f64>, test: &symnn_runtime::Dataset<f64>,
/// # ) -> Result<(), symnn_runtime::TrainError> {
/// let history = Trainer::new(Adam::new(0.01))
///     .epochs(50)
///     .batch_size(16)
///     .seed(42)
///     .lr_schedule(LrSchedule::cosine(50, 0.05))
///     .metric("accuracy", metrics::accuracy)
///     .early_stopping(5, 1e-4)
///     .progress(Progress::Auto)
///     .fit(model, train, Some(test))?;
/// println!("best epoch: {:?}", history.best_epoch);
/// # Ok(()) }
/// ```
pub struct Trainer<M: Model, O> {
    pub(super) optimizer: O,
    pub(super) base_lr: f64,
    pub(super) epochs: usize,
    pub(super) batch_size: usize,
    pub(super) accumulate: usize,
    pub(super) seed: u64,
    pub(super) shuffle: bool,
    pub(super) schedule: LrSchedule,
    pub(super) schedule_per_step: bool,
    pub(super) eval_every: usize,
    pub(super) early_stopping: Option<EarlyStopping>,
    pub(super) restore_best: bool,
    pub(super) metric: Option<(&'static str, MetricFn<M>)>,
    pub(super) progress: Progress,
    pub(super) clip_grad_norm: Option<f64>,
    pub(super) threads: usize,
    pub(super) min_ops_per_thread: usize,
    pub(super) workers: Workers,
    _model: PhantomData<fn(&M)>,
}

/// The default of [`Trainer::min_ops_per_thread`]: a thread is given a share of a
/// minibatch only if that share is at least this many gradient operations
/// (`Model::cost().gradient_ops` times its samples).
///
/// Chosen from `benches/threads.rs` on a 2-core x86-64 machine: the scalar generated
/// code runs about 3-4.5 G ops/s on one thread, and handing a chunk to a worker and
/// joining it costs a split step 10-30 µs, so a 2-thread split breaks even near
/// 100 000 ops a thread and was measured 1.17x / 1.41x / 1.64x faster at 180 000 /
/// 360 000 / 720 000 (64-32-10 net). At 200 000 ops (50-70 µs a thread) a split
/// step is clearly faster; anything smaller stays sequential. See `docs/RUNTIME.md`.
pub const DEFAULT_MIN_OPS_PER_THREAD: usize = 200_000;

/// Early-stopping settings (see [`Trainer::early_stopping`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct EarlyStopping {
    pub(super) patience: usize,
    pub(super) min_delta: f64,
    pub(super) on_metric: bool,
}

impl<M: Model, O: Optimizer<M::Float>> Trainer<M, O> {
    /// A trainer with `optimizer` and the defaults: 10 epochs, batch size 32, no
    /// accumulation, seed 0, shuffling on, constant learning rate, evaluation every
    /// epoch, no metric, no early stopping, silent, all cores for steps large enough
    /// to split ([`threads`](Trainer::threads)). The optimizer's current learning
    /// rate is the base rate schedules scale.
    pub fn new(optimizer: O) -> Self {
        Trainer {
            base_lr: optimizer.learning_rate().to_f64(),
            optimizer,
            epochs: 10,
            batch_size: 32,
            accumulate: 1,
            seed: 0,
            shuffle: true,
            schedule: LrSchedule::Constant,
            schedule_per_step: false,
            eval_every: 1,
            early_stopping: None,
            restore_best: true,
            metric: None,
            progress: Progress::Silent,
            clip_grad_norm: None,
            threads: 0,
            min_ops_per_thread: DEFAULT_MIN_OPS_PER_THREAD,
            workers: Workers::default(),
            _model: PhantomData,
        }
    }

    /// Number of passes over the training data.
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }
    /// Samples per minibatch (the last one of an epoch may be smaller).
    ///
    /// # Panics
    /// If `batch_size` is 0.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        assert!(batch_size > 0, "batch_size must be at least 1");
        self.batch_size = batch_size;
        self
    }
    /// Gradient accumulation: one optimizer step per `k` minibatches, with the
    /// gradient averaged over all their samples (equivalent to a batch of
    /// `batch_size * k`).
    ///
    /// # Panics
    /// If `k` is 0.
    pub fn accumulate(mut self, k: usize) -> Self {
        assert!(k > 0, "accumulate must be at least 1");
        self.accumulate = k;
        self
    }
    /// Seed of the shuffling stream (see the module docs on determinism).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Whether to shuffle the training samples each epoch (default `true`).
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }
    /// A learning-rate schedule with `t` counting epochs from 0.
    pub fn lr_schedule(mut self, schedule: LrSchedule) -> Self {
        self.schedule = schedule;
        self.schedule_per_step = false;
        self
    }
    /// A learning-rate schedule with `t` counting optimizer steps from 0.
    pub fn lr_schedule_per_step(mut self, schedule: LrSchedule) -> Self {
        self.schedule = schedule;
        self.schedule_per_step = true;
        self
    }
    /// Evaluates on the held-out data every `n` epochs (and after the last); default 1.
    ///
    /// # Panics
    /// If `n` is 0.
    pub fn eval_every(mut self, n: usize) -> Self {
        assert!(n > 0, "eval_every must be at least 1");
        self.eval_every = n;
        self
    }
    /// A metric reported each evaluated epoch, computed on the evaluation data
    /// (or the training data when there is none), e.g.
    /// `.metric("accuracy", metrics::accuracy)`.
    pub fn metric(
        mut self,
        name: &'static str,
        metric: impl Fn(&M, &Dataset<M::Float>) -> f64 + 'static,
    ) -> Self {
        self.metric = Some((name, Box::new(metric)));
        self
    }
    /// Stops when the evaluation loss (the training loss without evaluation data)
    /// has not dropped by more than `min_delta` for `patience` evaluated epochs, and
    /// then restores the parameters of the best epoch (see
    /// [`restore_best`](Trainer::restore_best)).
    pub fn early_stopping(mut self, patience: usize, min_delta: f64) -> Self {
        self.early_stopping = Some(EarlyStopping {
            patience,
            min_delta,
            on_metric: false,
        });
        self
    }
    /// Like [`early_stopping`](Trainer::early_stopping) but watches the metric,
    /// where higher is better.
    pub fn early_stopping_on_metric(mut self, patience: usize, min_delta: f64) -> Self {
        self.early_stopping = Some(EarlyStopping {
            patience,
            min_delta,
            on_metric: true,
        });
        self
    }
    /// Whether early stopping restores the best epoch's parameters when training
    /// ends (default `true`; no effect without early stopping).
    pub fn restore_best(mut self, restore: bool) -> Self {
        self.restore_best = restore;
        self
    }
    /// Scales the averaged gradient down to this L2 norm when it is larger.
    pub fn clip_grad_norm(mut self, max_norm: f64) -> Self {
        self.clip_grad_norm = Some(max_norm);
        self
    }
    /// The most threads one optimizer step's samples are split across: `1` is
    /// sequential, `0` (the default) every core (`std::thread::available_parallelism`).
    ///
    /// A step with `n` samples gets `t = min(threads, n, n * gradient_ops /
    /// min_ops_per_thread)` threads (at least 1), where `gradient_ops` is
    /// `Model::cost().gradient_ops`: small networks and small batches stay sequential,
    /// because handing work to a thread costs microseconds (see
    /// [`min_ops_per_thread`](Trainer::min_ops_per_thread)). The samples are cut into
    /// `t` contiguous chunks whose boundaries depend only on `n` and `t`; each chunk's
    /// gradient is accumulated into its own buffer and the buffers are added in chunk
    /// order, so the result is bit-identical from run to run for a given `threads`
    /// value and machine core count (`0` depends on the core count; give an explicit
    /// number to reproduce a run on another machine). `t = 1` is exactly the
    /// sequential computation. Different `t` differ by rounding only.
    ///
    /// Without the `threads` cargo feature (on by default) this setting has no effect
    /// and training is sequential.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }
    /// The least work, in gradient operations (`Model::cost().gradient_ops` per
    /// sample), that justifies one more thread for a step (see
    /// [`threads`](Trainer::threads)); default [`DEFAULT_MIN_OPS_PER_THREAD`]. `0` splits
    /// every step of two or more samples, whatever the model's cost. A model whose
    /// `cost()` reports no gradient ops (a hand-written `Model` with `Cost::default()`)
    /// is split only with `0`.
    pub fn min_ops_per_thread(mut self, ops: usize) -> Self {
        self.min_ops_per_thread = ops;
        self
    }
    /// How to report progress (default [`Progress::Silent`]).
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &O {
        &self.optimizer
    }
}

impl<M: Model, O> Trainer<M, O> {
    /// [`threads`](Trainer::threads) with `0` resolved to the core count; `1` without
    /// the `threads` feature.
    pub(super) fn resolved_threads(&self) -> usize {
        if !cfg!(feature = "threads") {
            1
        } else if self.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.threads
        }
    }
}

impl<M: Model, O: fmt::Debug> fmt::Debug for Trainer<M, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trainer")
            .field("optimizer", &self.optimizer)
            .field("epochs", &self.epochs)
            .field("batch_size", &self.batch_size)
            .field("accumulate", &self.accumulate)
            .field("seed", &self.seed)
            .field("shuffle", &self.shuffle)
            .field("schedule", &self.schedule)
            .field("schedule_per_step", &self.schedule_per_step)
            .field("eval_every", &self.eval_every)
            .field("early_stopping", &self.early_stopping)
            .field("restore_best", &self.restore_best)
            .field("metric", &self.metric.as_ref().map(|m| m.0))
            .field("progress", &self.progress)
            .field("clip_grad_norm", &self.clip_grad_norm)
            .field("threads", &self.threads)
            .field("min_ops_per_thread", &self.min_ops_per_thread)
            .finish_non_exhaustive()
    }
}
