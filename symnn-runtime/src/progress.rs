//! Reporting training progress on stderr.
//!
//! A library should not decide where its user's terminal output goes, so the
//! [`Trainer`](crate::Trainer) is [`Progress::Silent`] unless asked. With
//! [`Progress::Auto`] it draws a progress bar (cargo feature `progress`, via
//! `indicatif`) when stderr is a terminal, and otherwise prints one plain line per
//! epoch, which is what logs and CI want. [`Progress::Plain`] always prints lines.
//! Lines go through `eprintln!`, so `cargo test` captures them.

use crate::train::EpochReport;

/// How the trainer reports progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Progress {
    /// Nothing.
    #[default]
    Silent,
    /// One line per epoch on stderr (the [`EpochReport`] `Display`).
    Plain,
    /// A progress bar if the `progress` feature is on and stderr is a terminal,
    /// otherwise like [`Plain`](Progress::Plain).
    Auto,
}

/// What a running training loop reports to.
pub(crate) struct Reporter {
    plain: bool,
    #[cfg(feature = "progress")]
    bar: Option<indicatif::ProgressBar>,
}

impl Reporter {
    pub(crate) fn start(progress: Progress, epochs: usize) -> Self {
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

    pub(crate) fn epoch(&mut self, report: &EpochReport) {
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

    pub(crate) fn finish(&mut self) {
        #[cfg(feature = "progress")]
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}
