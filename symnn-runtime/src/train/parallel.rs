//! One optimizer step's gradient, on one thread or split across a team: how many
//! threads a step gets, the chunk boundaries, gathering the step's samples, and the
//! reduction in chunk order. See [`Trainer::threads`](super::Trainer::threads).
//!
//! A split step runs two jobs on the [`Team`](super::team::Team) (cargo feature
//! `threads`):
//! 1. thread `c` gathers the samples of chunk `c` (shuffled rows into the contiguous
//!    gather buffer) and accumulates their gradient into its own buffer (chunk 0:
//!    straight into the step's gradient);
//! 2. thread `c` adds the other buffers into its share of the parameters, in chunk
//!    order, scales by `1 / n` and checks that share for NaN and infinity.
//!
//! Each element is summed in the same order whatever the thread that does it, so the
//! result depends on the thread count only, never on timing.

use super::errors::scale_and_check;
#[cfg(feature = "threads")]
use crate::aligned::AlignedVec;
use crate::elementwise::Extent;
use crate::optim::Elementwise;
use crate::{Dataset, Float, Model};
#[cfg(not(feature = "threads"))]
use std::marker::PhantomData;

/// A trainer's worker team, built on the first run that splits a batch and kept for
/// later runs with the same number of threads (nothing without the `threads` feature).
#[derive(Default)]
pub(super) struct Workers {
    #[cfg(feature = "threads")]
    team: Option<super::team::Team>,
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

/// The half-open range of chunk `c` when `n` items are cut into `t` chunks.
#[cfg(feature = "threads")]
fn chunk_range(n: usize, t: usize, c: usize) -> std::ops::Range<usize> {
    c * n / t..(c + 1) * n / t
}

/// A step's samples: rows of the data set to gather into the trainer's buffers (a
/// shuffled step), or already contiguous slices.
pub(super) enum Samples<'s, F> {
    /// Rows `rows` of `data`, gathered in that order into `inputs`/`targets` (which
    /// hold at least `rows.len()` samples).
    Gather {
        /// The training data.
        data: &'s Dataset<F>,
        /// The step's rows, in order.
        rows: &'s [usize],
        /// The gather buffers.
        inputs: &'s mut [F],
        /// The gather buffers.
        targets: &'s mut [F],
    },
    /// The step's samples, back to back.
    Contiguous {
        /// Inputs.
        inputs: &'s [F],
        /// Targets.
        targets: &'s [F],
    },
}

/// What one step's gradient computation found.
pub(super) struct StepGradient {
    /// The summed loss of the step's samples.
    pub(super) loss: f64,
    /// The first non-finite element of the mean gradient (index, value), if any.
    pub(super) non_finite: Option<(usize, f64)>,
    /// The largest magnitude of the mean gradient (infinite if one is not finite).
    pub(super) max_abs: f64,
}

/// Per-run state of the threaded path: a gradient buffer and a loss slot for each
/// chunk but the first, which its thread accumulates straight into the step's
/// gradient.
pub(super) struct Split<F> {
    /// The most threads any step of the run gets (1: never split).
    pub(super) max_threads: usize,
    #[cfg(feature = "threads")]
    bufs: Vec<AlignedVec<F>>,
    #[cfg(not(feature = "threads"))]
    _float: PhantomData<F>,
}

impl<F: Float> Split<F> {
    /// Allocates the buffers and makes sure the trainer's `workers` are a team of
    /// `max_threads - 1` threads (the calling thread is the other one); falls back to
    /// sequential (`max_threads = 1`) if threads cannot be spawned. `num_params`: the
    /// length of a gradient.
    pub(super) fn new(workers: &mut Workers, max_threads: usize, num_params: usize) -> Self {
        #[cfg(feature = "threads")]
        {
            let mut max_threads = max_threads;
            if max_threads > 1 {
                let count = max_threads - 1;
                let reuse = workers.team.as_ref().is_some_and(|t| t.workers() == count);
                if !reuse {
                    workers.team = None;
                    workers.team = super::team::Team::new(count);
                }
                if workers.team.is_none() {
                    max_threads = 1;
                }
            }
            Split {
                max_threads,
                bufs: (1..max_threads)
                    .map(|_| AlignedVec::zeroed(num_params))
                    .collect(),
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

    /// Overwrites `grad` with the mean gradient of the step's `n` samples (gathering
    /// them first for [`Samples::Gather`]), checks it, and returns the summed loss:
    /// on `threads` threads (at most `max_threads`), as the module docs describe.
    #[cfg_attr(not(feature = "threads"), allow(unused_variables))]
    pub(super) fn gradient<M: Model<Float = F>>(
        &mut self,
        model: &M,
        samples: Samples<'_, F>,
        n: usize,
        threads: usize,
        grad: &mut [F],
        workers: &mut Workers,
    ) -> StepGradient {
        let scale = F::from_f64(1.0 / n as f64);
        #[cfg(feature = "threads")]
        if threads > 1 {
            if let Some(team) = &mut workers.team {
                return split_gradient(team, &mut self.bufs, model, samples, n, threads, grad);
            }
        }
        let (iw, tw) = (M::NUM_INPUTS, M::NUM_TARGETS);
        let (inputs, targets): (&[F], &[F]) = match samples {
            Samples::Gather {
                data,
                rows,
                inputs,
                targets,
            } => {
                gather(data, rows, &mut inputs[..n * iw], &mut targets[..n * tw]);
                (&inputs[..n * iw], &targets[..n * tw])
            }
            Samples::Contiguous { inputs, targets } => (inputs, targets),
        };
        grad.fill(F::ZERO);
        let loss = model.accumulate_gradient_batch_slice(inputs, targets, grad);
        let (non_finite, max_abs) = scale_and_check(grad, scale);
        StepGradient {
            loss: loss.to_f64(),
            non_finite,
            max_abs,
        }
    }
}

/// Copies `data`'s rows `rows` into `inputs`/`targets`, back to back.
fn gather<F: Float>(data: &Dataset<F>, rows: &[usize], inputs: &mut [F], targets: &mut [F]) {
    let iw = inputs.len() / rows.len().max(1);
    let tw = targets.len() / rows.len().max(1);
    for (k, &i) in rows.iter().enumerate() {
        let (x, y) = data.get(i);
        inputs[k * iw..(k + 1) * iw].copy_from_slice(x);
        targets[k * tw..(k + 1) * tw].copy_from_slice(y);
    }
}

/// One thread's part of a split step's first job.
#[cfg(feature = "threads")]
struct Chunk<'a, F> {
    /// Rows to gather into `inputs`/`targets` first (a shuffled step).
    rows: Option<(&'a Dataset<F>, &'a [usize])>,
    inputs: &'a mut [F],
    targets: &'a mut [F],
    /// The chunk's samples when they are already contiguous.
    contiguous: Option<(&'a [F], &'a [F])>,
    /// Where its gradient goes (overwritten).
    grad: &'a mut [F],
    loss: F,
}

/// The split path of [`Split::gradient`]: the two team jobs of the module docs.
#[cfg(feature = "threads")]
fn split_gradient<M: Model>(
    team: &mut super::team::Team,
    bufs: &mut [AlignedVec<M::Float>],
    model: &M,
    samples: Samples<'_, M::Float>,
    n: usize,
    threads: usize,
    grad: &mut [M::Float],
) -> StepGradient {
    use std::sync::Mutex;
    let (iw, tw) = (M::NUM_INPUTS, M::NUM_TARGETS);
    let scale = M::Float::from_f64(1.0 / n as f64);
    let num_params = grad.len();
    // Job 1. Each thread locks only its own slot, so the locks never wait; they make
    // the disjoint mutable parts shareable with a `Fn` job.
    let mut slots: Vec<Mutex<Chunk<'_, M::Float>>> = Vec::with_capacity(threads);
    {
        let (mut data_rows, mut contiguous) = (None, None);
        let (mut inputs, mut targets): (&mut [M::Float], &mut [M::Float]) = (&mut [], &mut []);
        match samples {
            Samples::Gather {
                data,
                rows,
                inputs: gi,
                targets: gt,
            } => {
                data_rows = Some((data, rows));
                inputs = &mut gi[..n * iw];
                targets = &mut gt[..n * tw];
            }
            Samples::Contiguous { inputs, targets } => contiguous = Some((inputs, targets)),
        }
        let mut grads = std::iter::once(&mut *grad).chain(bufs.iter_mut().map(|b| &mut **b));
        for c in 0..threads {
            let r = chunk_range(n, threads, c);
            let len = r.end - r.start;
            let (x, rest_x) = std::mem::take(&mut inputs).split_at_mut(if data_rows.is_some() {
                len * iw
            } else {
                0
            });
            let (y, rest_y) = std::mem::take(&mut targets).split_at_mut(if data_rows.is_some() {
                len * tw
            } else {
                0
            });
            inputs = rest_x;
            targets = rest_y;
            slots.push(Mutex::new(Chunk {
                rows: data_rows
                    .map(|(d, rows): (&Dataset<M::Float>, &[usize])| (d, &rows[r.clone()])),
                inputs: x,
                targets: y,
                contiguous: contiguous.map(|(xs, ys): (&[M::Float], &[M::Float])| {
                    (&xs[r.start * iw..r.end * iw], &ys[r.start * tw..r.end * tw])
                }),
                grad: grads.next().expect("a buffer per thread"),
                loss: M::Float::ZERO,
            }));
        }
    }
    team.run(threads, &|c| {
        let mut guard = slots[c]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let chunk = &mut *guard;
        let (x, y): (&[M::Float], &[M::Float]) = match (chunk.rows, chunk.contiguous) {
            (Some((data, rows)), _) => {
                gather(data, rows, chunk.inputs, chunk.targets);
                (&*chunk.inputs, &*chunk.targets)
            }
            (None, Some(xy)) => xy,
            (None, None) => unreachable!("a chunk has samples"),
        };
        chunk.grad.fill(M::Float::ZERO);
        chunk.loss = model.accumulate_gradient_batch_slice(x, y, chunk.grad);
    });
    let loss = slots
        .into_iter()
        .map(|s| {
            s.into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .loss
                .to_f64()
        })
        .sum();
    // Job 2: thread `c` reduces, scales and checks its share of the parameters.
    let bufs = &*bufs;
    // (first index, the share, its first non-finite element, its largest magnitude)
    type Share<'g, F> = (usize, &'g mut [F], Option<(usize, f64)>, f64);
    let mut shares: Vec<Mutex<Share<'_, M::Float>>> = Vec::with_capacity(threads);
    let mut rest = grad;
    for c in 0..threads {
        let r = chunk_range(num_params, threads, c);
        let (share, tail) = std::mem::take(&mut rest).split_at_mut(r.end - r.start);
        rest = tail;
        shares.push(Mutex::new((r.start, share, None, 0.0)));
    }
    team.run(threads, &|c| {
        let mut guard = shares[c]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (start, share, found, max_abs) = &mut *guard;
        let end = *start + share.len();
        for buf in bufs {
            share
                .iter_mut()
                .zip(&buf[*start..end])
                .for_each(|(g, b)| *g += *b);
        }
        let (hit, max) = scale_and_check(share, scale);
        *found = hit.map(|(i, v)| (*start + i, v));
        *max_abs = max;
    });
    let (mut non_finite, mut max_abs) = (None, 0.0f64);
    for share in shares {
        let (_, _, found, max) = share
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        non_finite = non_finite.or(found);
        max_abs = max_abs.max(max);
    }
    StepGradient {
        loss,
        non_finite,
        max_abs,
    }
}

/// What a run knows of the magnitudes of the parameters and of the optimizer's state,
/// for [`update`].
#[derive(Clone, Copy, Debug)]
pub(super) enum Bounds {
    /// To be measured (one pass) at the next step: at the start of every epoch, since
    /// a step of another optimizer or a restored best state changes them.
    Unknown,
    /// Upper bounds, carried from step to step by
    /// [`Rule::bound`](crate::elementwise::Rule::bound).
    Known(Extent),
    /// A step the bound could not prove finite was previewed; so are the epoch's
    /// remaining steps (a run whose steps keep failing the bound pays no measuring).
    Failed,
}

/// Applies an element-wise optimizer's step to `params`, unless it would make a
/// parameter NaN or infinite: then returns the first such (index, value), with the
/// parameters and the optimizer's state untouched. On `threads` threads (at most
/// `max_threads`), each previewing, then updating, its share of the parameters.
///
/// The preview is skipped when [`Rule::bound`](crate::elementwise::Rule::bound)
/// proves the step finite from `bounds` and `max_grad` (the largest `|grad|`);
/// `bounds` then become those after the step.
#[cfg_attr(not(feature = "threads"), allow(unused_variables))]
pub(super) fn update<F: Float>(
    step: Elementwise<'_, F>,
    params: &mut [F],
    grad: &[F],
    threads: usize,
    workers: &mut Workers,
    bounds: &mut Bounds,
    max_grad: f64,
) -> Option<(usize, f64)> {
    let before = match *bounds {
        Bounds::Known(extent) => Some(extent),
        Bounds::Unknown => {
            let [s0, s1] = &step.states;
            Some(Extent::measure(params, s0, s1))
        }
        Bounds::Failed => None,
    };
    let after = before.and_then(|extent| step.rule.bound(extent, max_grad));
    *bounds = after.map_or(Bounds::Failed, Bounds::Known);
    let preview = after.is_none();
    #[cfg(feature = "threads")]
    if threads > 1 {
        if let Some(team) = &mut workers.team {
            return split_update(team, step, params, grad, threads, preview);
        }
    }
    let [s0, s1] = &step.states;
    if preview {
        if let Some((i, v)) = step.rule.preview(params, grad, s0, s1) {
            return Some((i, v.to_f64()));
        }
    }
    step.step(params, grad);
    None
}

/// The split path of [`update`]: a preview job (if `preview`), then (if every share is
/// finite) an update job.
#[cfg(feature = "threads")]
fn split_update<F: Float>(
    team: &mut super::team::Team,
    step: Elementwise<'_, F>,
    params: &mut [F],
    grad: &[F],
    threads: usize,
    preview: bool,
) -> Option<(usize, f64)> {
    use std::sync::Mutex;
    let n = params.len();
    let rule = step.rule;
    let [s0, s1] = &step.states;
    let found: Vec<Mutex<Option<(usize, F)>>> = (0..threads).map(|_| Mutex::new(None)).collect();
    let share = |s: &[F], r: &std::ops::Range<usize>| -> std::ops::Range<usize> {
        if s.is_empty() {
            0..0
        } else {
            r.clone()
        }
    };
    if preview {
        team.run(threads, &|c| {
            let r = chunk_range(n, threads, c);
            let hit = rule.preview(
                &params[r.clone()],
                &grad[r.clone()],
                &s0[share(s0, &r)],
                &s1[share(s1, &r)],
            );
            *found[c]
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                hit.map(|(i, v)| (r.start + i, v));
        });
    }
    let first = found.into_iter().find_map(|f| {
        f.into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    });
    if let Some((i, v)) = first {
        return Some((i, v.to_f64()));
    }
    // Update: each thread its own share of the parameters and of each state.
    let Elementwise {
        states: [s0, s1],
        advance,
        ..
    } = step;
    type Share<'a, F> = (&'a mut [F], &'a [F], &'a mut [F], &'a mut [F]);
    let mut shares: Vec<Mutex<Share<'_, F>>> = Vec::with_capacity(threads);
    let (mut p, mut g, mut a, mut b) = (params, grad, s0, s1);
    for c in 0..threads {
        let len = chunk_range(n, threads, c).len();
        // (An unused state is empty: its shares are too.)
        let (a_len, b_len) = (len.min(a.len()), len.min(b.len()));
        let (ph, pt) = std::mem::take(&mut p).split_at_mut(len);
        let (gh, gt) = g.split_at(len);
        let (ah, at) = std::mem::take(&mut a).split_at_mut(a_len);
        let (bh, bt) = std::mem::take(&mut b).split_at_mut(b_len);
        (p, g, a, b) = (pt, gt, at, bt);
        shares.push(Mutex::new((ph, gh, ah, bh)));
    }
    team.run(threads, &|c| {
        let mut guard = shares[c]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (p, g, a, b) = &mut *guard;
        rule.apply(p, g, a, b);
    });
    drop(shares);
    crate::elementwise::advance(advance);
    None
}
