//! Splitting one optimizer step's samples across threads (cargo feature `threads`):
//! how many threads a step gets, the chunk boundaries, the worker pool and the
//! reduction in chunk order. See [`Trainer::threads`](super::Trainer::threads).

use crate::{Float, Model};
#[cfg(not(feature = "threads"))]
use std::marker::PhantomData;

/// A trainer's worker pool, built on the first run that splits a batch and kept for
/// later runs with the same number of threads (nothing without the `threads` feature).
#[derive(Default)]
pub(super) struct Workers {
    #[cfg(feature = "threads")]
    pool: Option<rayon::ThreadPool>,
}

/// How many threads a step of `n` samples gets (see
/// [`Trainer::threads`](super::Trainer::threads)): a pure
/// function of the sample count, the model's op count and the settings, never of
/// timings, so that results are reproducible.
pub(super) fn threads_for<M: Model>(n: usize, threads: usize, min_ops_per_thread: usize) -> usize {
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
pub(super) struct Split<F> {
    /// The most threads any step of the run gets (1: never split).
    pub(super) max_threads: usize,
    #[cfg(feature = "threads")]
    bufs: Vec<Vec<F>>,
    #[cfg(feature = "threads")]
    losses: Vec<F>,
    #[cfg(not(feature = "threads"))]
    _float: PhantomData<F>,
}

impl<F: Float> Split<F> {
    /// Allocates the buffers and makes sure the trainer's `workers` are a pool of
    /// `max_threads - 1` threads (the calling thread is the other one); falls back to
    /// sequential (`max_threads = 1`) if threads cannot be spawned. `num_params`: the
    /// length of a gradient.
    pub(super) fn new(workers: &mut Workers, max_threads: usize, num_params: usize) -> Self {
        #[cfg(feature = "threads")]
        {
            let mut max_threads = max_threads;
            if max_threads > 1 {
                let count = max_threads - 1;
                let reuse = workers
                    .pool
                    .as_ref()
                    .is_some_and(|p| p.current_num_threads() == count);
                if !reuse {
                    workers.pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(count)
                        .thread_name(|i| format!("symnn-train-{}", i + 1))
                        // Like a main thread's: generated straight-line code can have
                        // large stack frames.
                        .stack_size(8 << 20)
                        .build()
                        .ok();
                }
                if workers.pool.is_none() {
                    max_threads = 1;
                }
            }
            let others = max_threads - 1;
            Split {
                max_threads,
                bufs: vec![vec![F::ZERO; num_params]; others],
                losses: vec![F::ZERO; others],
            }
        }
        #[cfg(not(feature = "threads"))]
        {
            let _ = (workers, max_threads, num_params);
            Split {
                max_threads: 1,
                _float: PhantomData,
            }
        }
    }

    /// Adds the summed gradient of the samples in `inputs`/`targets` into `grad`
    /// (zeroed by the caller) and returns their summed loss, computed on `threads`
    /// threads (at most `max_threads`): chunk 0 on the calling thread, straight into
    /// `grad`, chunks 1.. on the pool of `workers`, each into its own buffer; then the
    /// buffers are added into `grad` in chunk order.
    #[cfg_attr(not(feature = "threads"), allow(unused_variables))]
    pub(super) fn accumulate<M: Model<Float = F>>(
        &mut self,
        model: &M,
        inputs: &[F],
        targets: &[F],
        threads: usize,
        grad: &mut [F],
        workers: &Workers,
    ) -> f64 {
        #[cfg(feature = "threads")]
        if threads > 1 {
            if let Some(pool) = &workers.pool {
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
