//! The training loop: minibatches, seeded shuffling, evaluation, early stopping and
//! non-finite detection, generic over any [`Model`] and [`Optimizer`].
//!
//! A [`Trainer`] is a builder holding the *policy* (optimizer, epochs, batch size,
//! schedule, ...). [`Trainer::fit`] runs it to the end and returns the
//! [`History`]; [`Trainer::iter_epochs`] returns an iterator that trains one epoch
//! per `next()` and yields its [`EpochReport`], so callers can log, plot, save
//! checkpoints or stop whenever they like without a callback API.
//!
//! One optimizer step: copy its `batch_size * accumulate` samples, in shuffled
//! order, into two contiguous buffers (inputs and targets, allocated once per run),
//! zero a gradient buffer, add the block's gradient with one
//! [`Model::accumulate_gradient_batch_slice`] call (generated networks override it
//! with batch code; its default loops over [`Model::accumulate_gradient_slice`]),
//! divide by the sample count, optionally clip the global norm, step.
//!
//! **Threads.** With the `threads` cargo feature (on by default) a step whose work,
//! `Model::cost().gradient_ops` times its samples, is large enough is split across a
//! dedicated rayon pool: see [`Trainer::threads`] and
//! [`Trainer::min_ops_per_thread`]. The samples are cut into fixed contiguous chunks,
//! each accumulated into its own gradient buffer, and the buffers are added in chunk
//! order, so the arithmetic is fixed by the thread count.
//!
//! **Determinism.** Sample order comes from one `rand_pcg::Pcg64` stream seeded
//! with [`Trainer::seed`] (a portable generator with specified output), shuffled
//! afresh each epoch with `rand`'s `SliceRandom::shuffle`; everything else is
//! arithmetic in an order fixed by the data, the batch size and the number of threads
//! each step gets (a function of [`Trainer::threads`], the model's op count and
//! [`Trainer::min_ops_per_thread`], never of timings). The same seed, model, data and
//! thread setting therefore give bit-identical parameters on every run and platform
//! (for the same `rand` and `rand_pcg` minor versions, and a platform with IEEE-754
//! `f32`/`f64`). The default `threads(0)` stands for the core count, so pass an
//! explicit count to reproduce a large network's run on a machine with a different
//! number of cores; `threads(1)` is the sequential computation.
//!
//! **Non-finite values are errors.** After every step the loss, the gradient and
//! the updated parameters are checked; the first NaN or infinity ends training with
//! a [`TrainError`] naming the epoch, step and parameter, and the model is left
//! with the parameters from before the failing step.

use crate::optim::{LrSchedule, Optimizer};
use crate::progress::{Progress, Reporter};
use crate::{Dataset, Float, Model};
use rand::seq::SliceRandom;
use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

type MetricFn<M> = Box<dyn Fn(&M, &Dataset<<M as Model>::Float>) -> f64>;

/// Trains a [`Model`] with an [`Optimizer`]. See the [module docs](self).
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
    optimizer: O,
    base_lr: f64,
    epochs: usize,
    batch_size: usize,
    accumulate: usize,
    seed: u64,
    shuffle: bool,
    schedule: LrSchedule,
    schedule_per_step: bool,
    eval_every: usize,
    early_stopping: Option<EarlyStopping>,
    restore_best: bool,
    metric: Option<(&'static str, MetricFn<M>)>,
    progress: Progress,
    clip_grad_norm: Option<f64>,
    threads: usize,
    min_ops_per_thread: usize,
    /// The worker pool, built on the first run that splits a batch and kept for later
    /// runs with the same number of threads.
    #[cfg(feature = "threads")]
    pool: Option<rayon::ThreadPool>,
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
struct EarlyStopping {
    patience: usize,
    min_delta: f64,
    on_metric: bool,
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
            #[cfg(feature = "threads")]
            pool: None,
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

    /// Trains `model` on `train` for the configured epochs (or until early
    /// stopping), evaluating on `eval` if given. Each call starts afresh: the
    /// optimizer is reset and the shuffling stream reseeded.
    pub fn fit(
        &mut self,
        model: &mut M,
        train: &Dataset<M::Float>,
        eval: Option<&Dataset<M::Float>>,
    ) -> Result<History, TrainError> {
        let metric_name = self.metric.as_ref().map(|(name, _)| *name);
        let mut run = self.iter_epochs(model, train, eval)?;
        let mut reports = Vec::new();
        for report in &mut run {
            reports.push(report?);
        }
        Ok(History {
            reports,
            metric_name,
            stopped_early: run.stopped_early(),
            best_epoch: run.best_epoch(),
        })
    }

    /// Like [`fit`](Trainer::fit), but as an iterator that trains one epoch per
    /// `next()`. It ends after the last epoch, on early stopping (after yielding that
    /// epoch's report), or after yielding an error. Best parameters are restored
    /// when it ends by itself.
    ///
    /// Fails at once if the data's widths do not match the model or `train` is empty.
    pub fn iter_epochs<'a>(
        &'a mut self,
        model: &'a mut M,
        train: &'a Dataset<M::Float>,
        eval: Option<&'a Dataset<M::Float>>,
    ) -> Result<Epochs<'a, M, O>, TrainError> {
        check_shape::<M>(train, "training")?;
        if let Some(eval) = eval {
            check_shape::<M>(eval, "evaluation")?;
        }
        if train.is_empty() {
            return Err(TrainError::EmptyDataset);
        }
        self.optimizer.reset();
        self.optimizer
            .set_learning_rate(M::Float::from_f64(self.base_lr));
        let reporter = Reporter::start(self.progress, self.epochs);
        // The largest step: its samples fit the gather buffers, and its thread count
        // bounds every step's.
        let step_len = (self.batch_size * self.accumulate).min(train.len());
        let (gather_inputs, gather_targets) = if self.shuffle {
            (
                vec![M::Float::ZERO; step_len * M::NUM_INPUTS],
                vec![M::Float::ZERO; step_len * M::NUM_TARGETS],
            )
        } else {
            // Without shuffling a step's samples are already contiguous in `train`.
            (Vec::new(), Vec::new())
        };
        let max_threads =
            threads_for::<M>(step_len, self.resolved_threads(), self.min_ops_per_thread);
        let split = Split::new::<M, O>(self, max_threads);
        Ok(Epochs {
            rng: crate::data::rng(self.seed),
            order: (0..train.len()).collect(),
            gather_inputs,
            gather_targets,
            split,
            grad: vec![M::Float::ZERO; M::NUM_PARAMS],
            before: vec![M::Float::ZERO; M::NUM_PARAMS],
            trainer: self,
            model,
            train,
            eval,
            epoch: 0,
            step: 0,
            best: None,
            bad_epochs: 0,
            stopped_early: false,
            done: false,
            reporter,
        })
    }
}

impl<M: Model, O> Trainer<M, O> {
    /// [`threads`](Trainer::threads) with `0` resolved to the core count; `1` without
    /// the `threads` feature.
    fn resolved_threads(&self) -> usize {
        if !cfg!(feature = "threads") {
            1
        } else if self.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.threads
        }
    }
}

/// How many threads a step of `n` samples gets (see [`Trainer::threads`]): a pure
/// function of the sample count, the model's op count and the settings, never of
/// timings, so that results are reproducible.
fn threads_for<M: Model>(n: usize, threads: usize, min_ops_per_thread: usize) -> usize {
    let by_work = match min_ops_per_thread {
        0 => usize::MAX,
        min => M::cost().gradient_ops.saturating_mul(n) / min,
    };
    threads.min(n).min(by_work).max(1)
}

/// The half-open sample range of chunk `c` when `n` samples are cut into `t` chunks.
#[cfg(feature = "threads")]
fn chunk_range(n: usize, t: usize, c: usize) -> std::ops::Range<usize> {
    c * n / t..(c + 1) * n / t
}

/// Per-run state of the threaded path: a gradient buffer and a loss slot for each
/// chunk but the first, which the calling thread accumulates straight into the step's
/// gradient.
struct Split<F> {
    /// The most threads any step of the run gets (1: never split).
    max_threads: usize,
    #[cfg(feature = "threads")]
    bufs: Vec<Vec<F>>,
    #[cfg(feature = "threads")]
    losses: Vec<F>,
    #[cfg(not(feature = "threads"))]
    _float: PhantomData<F>,
}

impl<F: Float> Split<F> {
    /// Allocates the buffers and makes sure the trainer has a pool of
    /// `max_threads - 1` workers (the calling thread is the other one); falls back to
    /// sequential (`max_threads = 1`) if threads cannot be spawned.
    fn new<M: Model<Float = F>, O>(trainer: &mut Trainer<M, O>, max_threads: usize) -> Self {
        #[cfg(feature = "threads")]
        {
            let mut max_threads = max_threads;
            if max_threads > 1 {
                let workers = max_threads - 1;
                let reuse = trainer
                    .pool
                    .as_ref()
                    .is_some_and(|p| p.current_num_threads() == workers);
                if !reuse {
                    trainer.pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(workers)
                        .thread_name(|i| format!("symnn-train-{}", i + 1))
                        // Like a main thread's: generated straight-line code can have
                        // large stack frames.
                        .stack_size(8 << 20)
                        .build()
                        .ok();
                }
                if trainer.pool.is_none() {
                    max_threads = 1;
                }
            }
            let others = max_threads - 1;
            Split {
                max_threads,
                bufs: vec![vec![F::ZERO; M::NUM_PARAMS]; others],
                losses: vec![F::ZERO; others],
            }
        }
        #[cfg(not(feature = "threads"))]
        {
            let _ = (trainer, max_threads);
            Split {
                max_threads: 1,
                _float: PhantomData,
            }
        }
    }

    /// Adds the summed gradient of the samples in `inputs`/`targets` into `grad`
    /// (zeroed by the caller) and returns their summed loss, computed on `threads`
    /// threads (at most `max_threads`): chunk 0 on the calling thread, straight into
    /// `grad`, chunks 1.. on `trainer`'s pool, each into its own buffer; then the
    /// buffers are added into `grad` in chunk order.
    #[cfg_attr(not(feature = "threads"), allow(unused_variables))]
    fn accumulate<M: Model<Float = F>, O>(
        &mut self,
        model: &M,
        inputs: &[F],
        targets: &[F],
        threads: usize,
        grad: &mut [F],
        trainer: &Trainer<M, O>,
    ) -> f64 {
        #[cfg(feature = "threads")]
        if threads > 1 {
            if let Some(pool) = &trainer.pool {
                let n = crate::batch_len::<M>(inputs, targets);
                let (iw, tw) = (M::NUM_INPUTS, M::NUM_TARGETS);
                let chunk = |c: usize| {
                    let r = chunk_range(n, threads, c);
                    (
                        &inputs[r.start * iw..r.end * iw],
                        &targets[r.start * tw..r.end * tw],
                    )
                };
                let others = threads - 1;
                let mut loss = F::ZERO;
                // One small heap job per spawned chunk (rayon's), nothing else.
                pool.in_place_scope(|s| {
                    let slots = self.bufs[..others].iter_mut().zip(&mut self.losses);
                    for (c, (buf, loss)) in (1..).zip(slots) {
                        let (x, y) = chunk(c);
                        s.spawn(move |_| {
                            buf.fill(F::ZERO);
                            *loss = model.accumulate_gradient_batch_slice(x, y, buf);
                        });
                    }
                    let (x, y) = chunk(0);
                    loss = model.accumulate_gradient_batch_slice(x, y, grad);
                });
                // Reduce in chunk order: the same sums every run.
                let mut total = loss.to_f64();
                for (buf, loss) in self.bufs[..others].iter().zip(&self.losses) {
                    grad.iter_mut().zip(buf).for_each(|(g, b)| *g += *b);
                    total += loss.to_f64();
                }
                return total;
            }
        }
        model
            .accumulate_gradient_batch_slice(inputs, targets, grad)
            .to_f64()
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

pub(crate) fn check_shape<M: Model>(
    data: &Dataset<M::Float>,
    which: &'static str,
) -> Result<(), TrainError> {
    for (what, expected, found) in [
        ("inputs", M::NUM_INPUTS, data.input_width()),
        ("targets", M::NUM_TARGETS, data.target_width()),
    ] {
        if expected != found {
            return Err(TrainError::Shape {
                data: which,
                what,
                expected,
                found,
            });
        }
    }
    Ok(())
}

/// A training run in progress, yielding one [`EpochReport`] per epoch; from
/// [`Trainer::iter_epochs`].
pub struct Epochs<'a, M: Model, O> {
    trainer: &'a mut Trainer<M, O>,
    model: &'a mut M,
    train: &'a Dataset<M::Float>,
    eval: Option<&'a Dataset<M::Float>>,
    rng: rand_pcg::Pcg64,
    order: Vec<usize>,
    /// A step's samples gathered in shuffled order (empty without shuffling).
    gather_inputs: Vec<M::Float>,
    gather_targets: Vec<M::Float>,
    split: Split<M::Float>,
    grad: Vec<M::Float>,
    before: Vec<M::Float>,
    epoch: usize,
    step: usize,
    /// Best monitored value, its epoch and the parameters then.
    best: Option<(f64, usize, Vec<M::Float>)>,
    bad_epochs: usize,
    stopped_early: bool,
    done: bool,
    reporter: Reporter,
}

impl<M: Model, O: Optimizer<M::Float>> Epochs<'_, M, O> {
    /// True if early stopping ended the run.
    pub fn stopped_early(&self) -> bool {
        self.stopped_early
    }
    /// The epoch with the best monitored value so far (with early stopping).
    pub fn best_epoch(&self) -> Option<usize> {
        self.best.as_ref().map(|b| b.1)
    }
    /// Optimizer steps taken so far.
    pub fn steps(&self) -> usize {
        self.step
    }

    fn finish(&mut self) {
        if !self.done {
            self.done = true;
            self.reporter.finish();
        }
    }

    fn set_lr(&mut self, t: usize) {
        let lr = self.trainer.schedule.lr_at(self.trainer.base_lr, t);
        self.trainer
            .optimizer
            .set_learning_rate(M::Float::from_f64(lr));
    }

    /// One epoch of training; returns the mean training loss.
    fn train_epoch(&mut self) -> Result<f64, TrainError> {
        let t = &*self.trainer;
        let (epoch, per_step, clip) = (self.epoch, t.schedule_per_step, t.clip_grad_norm);
        let chunk = t.batch_size * t.accumulate;
        if t.shuffle {
            self.order.iter_mut().enumerate().for_each(|(i, x)| *x = i);
            self.order.shuffle(&mut self.rng);
        }
        let mut loss_sum = 0.0;
        for start in (0..self.order.len()).step_by(chunk) {
            if per_step {
                self.set_lr(self.step);
            }
            let batch = &self.order[start..(start + chunk).min(self.order.len())];
            let n = batch.len();
            let (iw, tw) = (M::NUM_INPUTS, M::NUM_TARGETS);
            let (inputs, targets) = if self.trainer.shuffle {
                for (k, &i) in batch.iter().enumerate() {
                    let (x, y) = self.train.get(i);
                    self.gather_inputs[k * iw..(k + 1) * iw].copy_from_slice(x);
                    self.gather_targets[k * tw..(k + 1) * tw].copy_from_slice(y);
                }
                (
                    &self.gather_inputs[..n * iw],
                    &self.gather_targets[..n * tw],
                )
            } else {
                (
                    &self.train.inputs()[start * iw..(start + n) * iw],
                    &self.train.targets()[start * tw..(start + n) * tw],
                )
            };
            let threads =
                threads_for::<M>(n, self.split.max_threads, self.trainer.min_ops_per_thread);
            self.grad.fill(M::Float::ZERO);
            let batch_loss = self.split.accumulate(
                &*self.model,
                inputs,
                targets,
                threads,
                &mut self.grad,
                self.trainer,
            );
            let step = self.step + 1;
            if !batch_loss.is_finite() {
                let value = batch_loss / batch.len() as f64;
                let culprit = find_culprit(&*self.model, inputs, targets, batch);
                return Err(TrainError::NonFiniteLoss {
                    epoch,
                    step,
                    value,
                    sample: culprit.as_ref().map(|c| c.sample),
                    param_name: culprit.and_then(|c| c.param).map(|(_, name, _)| name),
                });
            }
            let scale = M::Float::from_f64(1.0 / batch.len() as f64);
            if let Some((param_index, value)) = scale_and_check(&mut self.grad, scale) {
                let param_name = param_name::<M>(param_index);
                let culprit = find_culprit(&*self.model, inputs, targets, batch);
                return Err(TrainError::NonFiniteGradient {
                    epoch,
                    step,
                    param_index,
                    param_name,
                    value,
                    sample: culprit.map(|c| c.sample),
                });
            }
            if let Some(max_norm) = clip {
                let norm = self
                    .grad
                    .iter()
                    .map(|g| g.to_f64().powi(2))
                    .sum::<f64>()
                    .sqrt();
                if norm > max_norm {
                    let s = M::Float::from_f64(max_norm / norm);
                    self.grad.iter_mut().for_each(|g| *g *= s);
                }
            }
            self.before.copy_from_slice(self.model.params());
            self.trainer
                .optimizer
                .step(self.model.params_mut(), &self.grad);
            if let Some((param_index, value)) = first_non_finite(self.model.params()) {
                self.model.params_mut().copy_from_slice(&self.before);
                let param_name = param_name::<M>(param_index);
                return Err(TrainError::NonFinite {
                    epoch,
                    step,
                    param_index,
                    param_name,
                    value,
                });
            }
            self.step = step;
            loss_sum += batch_loss;
        }
        Ok(loss_sum / self.order.len() as f64)
    }

    fn run_epoch(&mut self) -> Result<EpochReport, TrainError> {
        self.epoch += 1;
        let epoch = self.epoch;
        if !self.trainer.schedule_per_step {
            self.set_lr(epoch - 1);
        }
        let started = Instant::now();
        let train_loss = self.train_epoch()?;
        let elapsed = started.elapsed();
        let t = &*self.trainer;
        let evaluate = epoch.is_multiple_of(t.eval_every) || epoch == t.epochs;
        let mut eval_loss = None;
        let mut metric = None;
        if evaluate {
            if let Some(eval) = self.eval {
                let loss = crate::metrics::mean_loss(&*self.model, eval);
                if !loss.is_finite() {
                    let sample = (0..eval.len()).find(|&i| {
                        let (x, y) = eval.get(i);
                        !self.model.loss_slice(x, y).to_f64().is_finite()
                    });
                    return Err(TrainError::NonFiniteEvalLoss {
                        epoch,
                        value: loss,
                        sample,
                    });
                }
                eval_loss = Some(loss);
            }
            if let Some((_, f)) = &t.metric {
                metric = Some(f(&*self.model, self.eval.unwrap_or(self.train)));
            }
        }
        let report = EpochReport {
            epoch,
            epochs: t.epochs,
            train_loss,
            eval_loss,
            metric,
            metric_name: t.metric.as_ref().map(|m| m.0),
            samples_per_sec: self.train.len() as f64 / elapsed.as_secs_f64().max(1e-9),
            lr: t.optimizer.learning_rate().to_f64(),
            steps: self.step,
            elapsed,
        };
        if let Some(es) = t.early_stopping {
            let monitored = if es.on_metric {
                metric.map(|m| -m)
            } else if self.eval.is_some() {
                eval_loss
            } else {
                Some(train_loss)
            };
            if let Some(value) = monitored {
                match &mut self.best {
                    Some(best) if value >= best.0 - es.min_delta => self.bad_epochs += 1,
                    _ => {
                        self.best = Some((value, epoch, self.model.params().to_vec()));
                        self.bad_epochs = 0;
                    }
                }
                if self.bad_epochs >= es.patience.max(1) {
                    self.stopped_early = true;
                }
            }
        }
        Ok(report)
    }
}

impl<M: Model, O: Optimizer<M::Float>> Iterator for Epochs<'_, M, O> {
    type Item = Result<EpochReport, TrainError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.stopped_early || self.epoch >= self.trainer.epochs {
            if let Some(best) = self.best.as_ref().filter(|_| self.trainer.restore_best) {
                self.model.params_mut().copy_from_slice(&best.2);
            }
            self.finish();
            return None;
        }
        match self.run_epoch() {
            Ok(report) => {
                self.reporter.epoch(&report);
                Some(Ok(report))
            }
            Err(e) => {
                self.finish();
                Some(Err(e))
            }
        }
    }
}

/// The first NaN or infinity, if any. The common all-finite case is one vectorised
/// pass (`Σ v·0` is 0 exactly when every `v` is finite); only a non-finite array is
/// searched element by element.
fn first_non_finite<F: Float>(values: &[F]) -> Option<(usize, f64)> {
    let mut lanes = [F::ZERO; 16];
    let (chunks, rest) = values.as_chunks::<16>();
    for chunk in chunks {
        for (l, &v) in lanes.iter_mut().zip(chunk) {
            *l += v * F::ZERO;
        }
    }
    let probe = rest
        .iter()
        .fold(lanes.iter().fold(F::ZERO, |a, &l| a + l), |a, &v| {
            a + v * F::ZERO
        });
    if probe == F::ZERO {
        return None;
    }
    values
        .iter()
        .position(|v| !v.is_finite())
        .map(|i| (i, values[i].to_f64()))
}

/// `g *= scale` for every element, then [`first_non_finite`] of the result, in one pass
/// for the all-finite case.
fn scale_and_check<F: Float>(grad: &mut [F], scale: F) -> Option<(usize, f64)> {
    let mut lanes = [F::ZERO; 16];
    let (chunks, rest) = grad.as_chunks_mut::<16>();
    for chunk in chunks {
        for (l, v) in lanes.iter_mut().zip(chunk) {
            *v *= scale;
            *l += *v * F::ZERO;
        }
    }
    let mut probe = lanes.iter().fold(F::ZERO, |a, &l| a + l);
    for v in rest {
        *v *= scale;
        probe += *v * F::ZERO;
    }
    if probe == F::ZERO {
        None
    } else {
        first_non_finite(grad)
    }
}

/// The first sample of a step whose own loss or gradient is not finite.
struct Culprit {
    /// Its row in the training data.
    sample: usize,
    /// Its first non-finite gradient component: index, name and value.
    param: Option<(usize, &'static str, f64)>,
}

/// Finds the [`Culprit`] of a step whose summed loss or gradient was not finite, by
/// recomputing its samples one at a time (`rows[k]` is sample `k`'s row in the data).
/// `None` when every sample is finite on its own and only their sum overflowed.
/// Runs only on the way to an error, so its allocation does not matter.
#[cold]
fn find_culprit<M: Model>(
    model: &M,
    inputs: &[M::Float],
    targets: &[M::Float],
    rows: &[usize],
) -> Option<Culprit> {
    let (iw, tw) = (M::NUM_INPUTS, M::NUM_TARGETS);
    let mut grad = vec![M::Float::ZERO; M::NUM_PARAMS];
    rows.iter().enumerate().find_map(|(k, &sample)| {
        let input = &inputs[k * iw..(k + 1) * iw];
        let target = &targets[k * tw..(k + 1) * tw];
        let loss = model.gradient_into_slice(input, target, &mut grad);
        let param = first_non_finite(&grad).map(|(i, v)| (i, param_name::<M>(i), v));
        (!loss.is_finite() || param.is_some()).then_some(Culprit { sample, param })
    })
}

fn param_name<M: Model>(i: usize) -> &'static str {
    M::param_names().get(i).copied().unwrap_or("?")
}

/// What happened in one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochReport {
    /// The epoch, counting from 1.
    pub epoch: usize,
    /// The number of epochs configured.
    pub epochs: usize,
    /// Mean loss over the epoch's training samples, each taken before its step.
    pub train_loss: f64,
    /// Mean loss on the evaluation data after the epoch, if evaluated.
    pub eval_loss: Option<f64>,
    /// The metric after the epoch, if one is set and the epoch was evaluated.
    pub metric: Option<f64>,
    /// The metric's name.
    pub metric_name: Option<&'static str>,
    /// Training throughput of the epoch (evaluation excluded).
    pub samples_per_sec: f64,
    /// The learning rate at the end of the epoch.
    pub lr: f64,
    /// Optimizer steps taken so far in the run.
    pub steps: usize,
    /// Wall time of the epoch's training part.
    pub elapsed: Duration,
}

/// One line: `epoch 3/20  loss 0.412300  eval 0.398100  accuracy 0.9333  lr 1.00e-2  52000 samples/s`.
impl fmt::Display for EpochReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self.epochs.to_string().len();
        write!(
            f,
            "epoch {:>w$}/{}  loss {:.6}",
            self.epoch, self.epochs, self.train_loss
        )?;
        if let Some(e) = self.eval_loss {
            write!(f, "  eval {e:.6}")?;
        }
        if let Some(m) = self.metric {
            write!(f, "  {} {m:.4}", self.metric_name.unwrap_or("metric"))?;
        }
        write!(
            f,
            "  lr {:.2e}  {:.0} samples/s",
            self.lr, self.samples_per_sec
        )
    }
}

/// The result of [`Trainer::fit`].
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    /// One report per epoch run.
    pub reports: Vec<EpochReport>,
    /// The metric's name, if one was set.
    pub metric_name: Option<&'static str>,
    /// True if early stopping ended training.
    pub stopped_early: bool,
    /// With early stopping: the best epoch (whose parameters were restored unless
    /// told otherwise).
    pub best_epoch: Option<usize>,
}

impl History {
    /// The last epoch's report.
    pub fn last(&self) -> Option<&EpochReport> {
        self.reports.last()
    }
}

/// Why training stopped with an error.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum TrainError {
    /// A minibatch's loss was NaN or infinite (before the step; parameters untouched).
    NonFiniteLoss {
        /// Epoch, from 1.
        epoch: usize,
        /// Optimizer step in the run, from 1.
        step: usize,
        /// The mean loss of the batch.
        value: f64,
        /// The training-data row of the step's first sample whose own loss or gradient
        /// is not finite (`None`: every sample is finite alone and only the sum
        /// overflowed).
        sample: Option<usize>,
        /// That sample's first non-finite gradient component ([`Model::param_names`]),
        /// if any.
        param_name: Option<&'static str>,
    },
    /// A gradient component was NaN or infinite (before the step; parameters untouched).
    NonFiniteGradient {
        /// Epoch, from 1.
        epoch: usize,
        /// Optimizer step in the run, from 1.
        step: usize,
        /// Index of the parameter.
        param_index: usize,
        /// Its name ([`Model::param_names`]).
        param_name: &'static str,
        /// The averaged gradient component.
        value: f64,
        /// The training-data row of the step's first sample whose own loss or gradient
        /// is not finite (`None`: every sample is finite alone and only the sum
        /// overflowed).
        sample: Option<usize>,
    },
    /// A parameter became NaN or infinite in a step; the step was undone.
    NonFinite {
        /// Epoch, from 1.
        epoch: usize,
        /// Optimizer step in the run, from 1.
        step: usize,
        /// Index of the parameter.
        param_index: usize,
        /// Its name ([`Model::param_names`]).
        param_name: &'static str,
        /// The value it would have had.
        value: f64,
    },
    /// The mean loss on the evaluation data was NaN or infinite.
    NonFiniteEvalLoss {
        /// Epoch, from 1.
        epoch: usize,
        /// The mean loss.
        value: f64,
        /// The first evaluation sample whose loss is not finite (`None`: only the sum
        /// overflowed).
        sample: Option<usize>,
    },
    /// A data set's row width does not match the model.
    Shape {
        /// `"training"` or `"evaluation"`.
        data: &'static str,
        /// `"inputs"` or `"targets"`.
        what: &'static str,
        /// The model's width.
        expected: usize,
        /// The data's width.
        found: usize,
    },
    /// The training data has no samples.
    EmptyDataset,
    /// Least squares ([`LevenbergMarquardt`](crate::LevenbergMarquardt)) needs a model
    /// with as many outputs as targets (residual `forward(x) − t`).
    OutputsNotTargets {
        /// The model's outputs.
        outputs: usize,
        /// The model's targets.
        targets: usize,
    },
    /// The objective (LM: the sum of squares; L-BFGS: the mean loss) was NaN or
    /// infinite at an accepted iterate (iteration 0: the starting parameters). The
    /// model holds the last finite accepted iterate (for iteration 0, the start).
    NonFiniteObjective {
        /// `"Levenberg-Marquardt"`, `"L-BFGS"` or `"Newton-CG"`.
        method: &'static str,
        /// Accepted steps before it.
        iteration: usize,
        /// The value.
        value: f64,
    },
    /// A derivative (LM: a Jacobian entry; L-BFGS: a gradient component) was NaN or
    /// infinite at an accepted iterate, whose parameters the model holds.
    NonFiniteDerivative {
        /// `"Levenberg-Marquardt"`, `"L-BFGS"` or `"Newton-CG"`.
        method: &'static str,
        /// Accepted steps before it.
        iteration: usize,
        /// Index of the parameter.
        param_index: usize,
        /// Its name ([`Model::param_names`]).
        param_name: &'static str,
        /// The sample (data-set row) whose Jacobian row is not finite (LM), if known.
        sample: Option<usize>,
        /// The value.
        value: f64,
    },
    /// Levenberg–Marquardt: trial points stayed non-finite however much the step was
    /// damped. The model holds the last accepted iterate.
    DampingExhausted {
        /// Accepted steps before it.
        iteration: usize,
        /// Non-finite trial points in a row.
        rejected: usize,
    },
    /// L-BFGS or Newton-CG: the line search found no acceptable point (every trial non-finite, or
    /// the evaluation budget of one search spent without a decrease on a non-finite
    /// slope). The model holds the last accepted iterate.
    LineSearchFailed {
        /// Accepted steps before it.
        iteration: usize,
        /// Function evaluations in the failed search.
        evaluations: usize,
    },
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::NonFiniteLoss { epoch, step, value, sample, param_name } => {
                write!(f, "loss became {value} at epoch {epoch}, step {step}")?;
                write_sample(f, *sample)?;
                if let Some(name) = param_name {
                    write!(f, "; the first non-finite gradient of that sample is for {name}")?;
                }
                Ok(())
            }
            TrainError::NonFiniteGradient { epoch, step, param_index, param_name, value, sample } => {
                write!(
                    f,
                    "gradient of parameter {param_name} (#{param_index}) became {value} at epoch {epoch}, step {step}"
                )?;
                write_sample(f, *sample)
            }
            TrainError::NonFinite { epoch, step, param_index, param_name, value } => write!(
                f,
                "parameter {param_name} (#{param_index}) became {value} at epoch {epoch}, step {step} \
                 (step undone; try a smaller learning rate or gradient clipping)"
            ),
            TrainError::NonFiniteEvalLoss { epoch, value, sample } => {
                write!(f, "evaluation loss became {value} after epoch {epoch}")?;
                match sample {
                    Some(row) => write!(f, ", first at evaluation sample {row}"),
                    None => write!(f, " (every sample is finite alone: their sum overflowed)"),
                }
            }
            TrainError::Shape { data, what, expected, found } => write!(
                f,
                "the {data} data has {found} {what} a sample but the model takes {expected}"
            ),
            TrainError::EmptyDataset => write!(f, "the training data has no samples"),
            TrainError::OutputsNotTargets { outputs, targets } => write!(
                f,
                "least squares needs as many outputs as targets (residual = output - target), \
                 but the model has {outputs} outputs and {targets} targets"
            ),
            TrainError::NonFiniteObjective { method, iteration, value } => write!(
                f,
                "{method}: the objective became {value} at iteration {iteration} \
                 (parameters left at the last finite iterate)"
            ),
            TrainError::NonFiniteDerivative { method, iteration, param_index, param_name, sample, value } => {
                let what = if *method == "Levenberg-Marquardt" { "Jacobian" } else { "gradient" };
                write!(
                    f,
                    "{method}: the {what} with respect to {param_name} (#{param_index}) became {value} \
                     at iteration {iteration}"
                )?;
                if let Some(s) = sample {
                    write!(f, ", at training sample {s}")?;
                }
                write!(f, " (parameters left at that iterate)")
            }
            TrainError::DampingExhausted { iteration, rejected } => write!(
                f,
                "Levenberg-Marquardt: damping exhausted at iteration {iteration}: {rejected} trial points \
                 in a row were non-finite however short the step (parameters left at the last finite iterate)"
            ),
            TrainError::LineSearchFailed { iteration, evaluations } => write!(
                f,
                "line search failed at iteration {iteration} after {evaluations} evaluations \
                 (parameters left at the last finite iterate)"
            ),
        }
    }
}

/// `, first at training sample N` (or why no single sample is to blame).
fn write_sample(f: &mut fmt::Formatter<'_>, sample: Option<usize>) -> fmt::Result {
    match sample {
        Some(row) => write!(f, ", first at training sample {row}"),
        None => write!(f, " (every sample is finite alone: their sum overflowed)"),
    }
}

impl std::error::Error for TrainError {}
