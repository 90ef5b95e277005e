//! What a run reports: one [`EpochReport`] per epoch, the [`History`] of a whole
//! [`fit`](super::Trainer::fit), and the [`Reporter`] that shows them as they come
//! (the trainer's [`Progress`] setting).

use crate::progress::Progress;
use std::fmt;
use std::time::Duration;

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

/// The result of [`Trainer::fit`](crate::Trainer::fit).
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

/// What a running training loop reports to.
pub(super) struct Reporter {
    plain: bool,
    #[cfg(feature = "progress")]
    bar: Option<indicatif::ProgressBar>,
}

impl Reporter {
    pub(super) fn start(progress: Progress, epochs: usize) -> Self {
        #[cfg(feature = "progress")]
        if progress == Progress::Auto && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            let bar = indicatif::ProgressBar::new(epochs as u64);
            let style = indicatif::ProgressStyle::with_template(
                "{bar:30} epoch {pos}/{len} {msg} [{elapsed_precise}, eta {eta}]",
            )
            .expect("valid template");
            bar.set_style(style);
            return Reporter {
                plain: false,
                bar: Some(bar),
            };
        }
        #[cfg(not(feature = "progress"))]
        let _ = epochs; // only the bar needs the total
        Reporter {
            plain: progress != Progress::Silent,
            #[cfg(feature = "progress")]
            bar: None,
        }
    }

    pub(super) fn epoch(&mut self, report: &EpochReport) {
        if self.plain {
            eprintln!("{report}");
        }
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            let mut msg = format!("loss {:.4}", report.train_loss);
            if let Some(e) = report.eval_loss {
                msg += &format!(" eval {e:.4}");
            }
            if let (Some(m), Some(name)) = (report.metric, report.metric_name) {
                msg += &format!(" {name} {m:.4}");
            }
            msg += &format!(" {:.0} samples/s", report.samples_per_sec);
            bar.set_message(msg);
            bar.set_position(report.epoch as u64);
        }
    }

    pub(super) fn finish(&mut self) {
        #[cfg(feature = "progress")]
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}
