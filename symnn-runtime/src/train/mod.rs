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
//! persistent worker team (`team.rs`): see [`Trainer::threads`] and
//! [`Trainer::min_ops_per_thread`]. The samples are cut into fixed contiguous chunks,
//! each gathered and accumulated into its own gradient buffer by its thread; the
//! buffers are added in chunk order, and the built-in optimizers' update applied,
//! each thread over its share of the parameters (`parallel.rs`), so the arithmetic is
//! fixed by the thread count.
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
//! with the parameters from before the failing step. (The built-in optimizers' update
//! is previewed before it is applied, so it never touches the parameters or the
//! optimizer's state; other optimizers' steps are rolled back from a copy.)
//!
//! **Where things are.** `builder.rs`: the [`Trainer`] and its settings; `epoch.rs`:
//! [`Trainer::fit`], [`Trainer::iter_epochs`] and the epoch loop ([`Epochs`]);
//! `parallel.rs`: the split of a step across threads; `errors.rs`: [`TrainError`] and
//! the diagnosis of a non-finite step; `report.rs`: [`EpochReport`], [`History`] and
//! the progress output.
//!
//! [`Model`]: crate::Model
//! [`Optimizer`]: crate::Optimizer
//! [`Model::accumulate_gradient_batch_slice`]: crate::Model::accumulate_gradient_batch_slice
//! [`Model::accumulate_gradient_slice`]: crate::Model::accumulate_gradient_slice

mod builder;
mod epoch;
mod errors;
mod parallel;
mod report;
#[cfg(feature = "threads")]
mod team;

pub use builder::{Trainer, DEFAULT_MIN_OPS_PER_THREAD};
pub use epoch::Epochs;
pub(crate) use errors::check_shape;
pub use errors::TrainError;
pub use report::{EpochReport, History};
