//! Reporting training progress on stderr.
//!
//! A library should not decide where its user's terminal output goes, so the
//! [`Trainer`](crate::Trainer) is [`Progress::Silent`] unless asked. With
//! [`Progress::Auto`] it draws a progress bar (cargo feature `progress`, via
//! `indicatif`) when stderr is a terminal, and otherwise prints one plain line per
//! epoch, which is what logs and CI want. [`Progress::Plain`] always prints lines.
//! Lines go through `eprintln!`, so `cargo test` captures them. The trainer's side of
//! the reporting (the bar, the lines) is in `train/report.rs`.

/// How the trainer reports progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Progress {
    /// Nothing.
    #[default]
    Silent,
    /// One line per epoch on stderr (the [`EpochReport`](crate::EpochReport) `Display`).
    Plain,
    /// A progress bar if the `progress` feature is on and stderr is a terminal,
    /// otherwise like [`Plain`](Progress::Plain).
    Auto,
}
