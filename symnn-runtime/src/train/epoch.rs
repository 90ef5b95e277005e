//! Running a [`Trainer`]: [`Trainer::fit`], [`Trainer::iter_epochs`] and the epoch
//! loop ([`Epochs`]): shuffling, gathering a step's samples, the step and its checks,
//! evaluation and early stopping.

use super::builder::Trainer;
use super::errors::TrainError;
use super::errors::{check_shape, find_culprit, first_non_finite, param_name};
use super::parallel::{threads_for, update, Bounds, Samples, Split, StepGradient};
use super::report::{EpochReport, History, Reporter};
use crate::aligned::AlignedVec;
use crate::optim::Optimizer;
use crate::{Dataset, Float, Model};
use rand::seq::SliceRandom;
use std::time::Instant;

impl<M: Model, O: Optimizer<M::Float>> Trainer<M, O> {
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
    /// Fails at once if the data's widths do not match the model
    /// ([`TrainError::Shape`]), a data set has more classes than the model has outputs
    /// for ([`TrainError::TooManyClasses`]), or `train` is empty.
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
                AlignedVec::zeroed(step_len * M::NUM_INPUTS),
                AlignedVec::zeroed(step_len * M::NUM_TARGETS),
            )
        } else {
            // Without shuffling a step's samples are already contiguous in `train`.
            (AlignedVec::zeroed(0), AlignedVec::zeroed(0))
        };
        let max_threads =
            threads_for::<M>(step_len, self.resolved_threads(), self.min_ops_per_thread);
        let split = Split::new(&mut self.workers, max_threads, M::NUM_PARAMS);
        Ok(Epochs {
            rng: crate::data::rng(self.seed),
            order: (0..train.len()).collect(),
            gather_inputs,
            gather_targets,
            split,
            grad: AlignedVec::zeroed(M::NUM_PARAMS),
            bounds: Bounds::Unknown,
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

/// A training run in progress, yielding one [`EpochReport`] per epoch; from
/// [`Trainer::iter_epochs`].
pub struct Epochs<'a, M: Model, O> {
    trainer: &'a mut Trainer<M, O>,
    model: &'a mut M,
    train: &'a Dataset<M::Float>,
    eval: Option<&'a Dataset<M::Float>>,
    rng: rand_pcg::Pcg64,
    order: Vec<usize>,
    /// A step's samples gathered in shuffled order (empty without shuffling), on a
    /// cache line for the batch kernels' vector loads ([`AlignedVec`]).
    gather_inputs: AlignedVec<M::Float>,
    gather_targets: AlignedVec<M::Float>,
    split: Split<M::Float>,
    grad: AlignedVec<M::Float>,
    /// Bounds on the parameters and optimizer state, to skip the preview of a step.
    bounds: Bounds,
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
        let (shuffle, min_ops) = (t.shuffle, t.min_ops_per_thread);
        let chunk = t.batch_size * t.accumulate;
        if shuffle {
            self.order.iter_mut().enumerate().for_each(|(i, x)| *x = i);
            self.order.shuffle(&mut self.rng);
        }
        let mut loss_sum = 0.0;
        self.bounds = Bounds::Unknown;
        for start in (0..self.order.len()).step_by(chunk) {
            if per_step {
                self.set_lr(self.step);
            }
            let batch = &self.order[start..(start + chunk).min(self.order.len())];
            let n = batch.len();
            let (iw, tw) = (M::NUM_INPUTS, M::NUM_TARGETS);
            let samples = if shuffle {
                Samples::Gather {
                    data: self.train,
                    rows: batch,
                    inputs: &mut self.gather_inputs,
                    targets: &mut self.gather_targets,
                }
            } else {
                Samples::Contiguous {
                    inputs: &self.train.inputs()[start * iw..(start + n) * iw],
                    targets: &self.train.targets()[start * tw..(start + n) * tw],
                }
            };
            let threads = threads_for::<M>(n, self.split.max_threads, min_ops);
            let StepGradient {
                loss: batch_loss,
                non_finite,
                max_abs: max_grad,
            } = self.split.gradient(
                &*self.model,
                samples,
                n,
                threads,
                &mut self.grad,
                &mut self.trainer.workers,
            );
            let (inputs, targets) = if shuffle {
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
            if let Some((param_index, value)) = non_finite {
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
            let params = self.model.params_mut();
            let refused = match self.trainer.optimizer.__elementwise(params.len()) {
                // Checked before it is applied, on the step's threads: nothing to undo.
                Some(rule) => update(
                    rule,
                    params,
                    &self.grad,
                    threads,
                    &mut self.trainer.workers,
                    &mut self.bounds,
                    max_grad,
                ),
                // Another optimizer: step, check, and restore the backup if need be.
                None => {
                    self.before.copy_from_slice(params);
                    self.trainer.optimizer.step(params, &self.grad);
                    let found = first_non_finite(params);
                    if found.is_some() {
                        params.copy_from_slice(&self.before);
                    }
                    found
                }
            };
            if let Some((param_index, value)) = refused {
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
