//! Evaluating a model on a whole data set: its outputs and its summed loss through the
//! batch methods ([`Model::forward_batch_slice`], [`Model::loss_batch_slice`]: SIMD
//! lanes and GEMM blocks in generated networks), a chunk of samples at a time, the
//! chunks spread over rayon's threads (feature `threads`).
//!
//! Results do not depend on the number of threads: the chunks are a fixed
//! [`CHUNK`] samples, each evaluated alone, and the loss is summed chunk by chunk in
//! order.

use crate::{Float, Model};

/// Samples per chunk: enough for the batch methods' blocks (up to 64) and for a
/// thread's share to outweigh its start-up (measured on MNIST: a 10k test set is 20
/// chunks).
pub const CHUNK: usize = 512;

#[cfg(feature = "threads")]
/// Below this many forward operations (`COST.forward_ops` × samples) one thread
/// evaluates everything: a rayon job costs a few microseconds.
const PARALLEL_OPS: usize = 1 << 20;

#[cfg(feature = "threads")]
fn parallel<M: Model>(n: usize) -> bool {
    M::cost().forward_ops.saturating_mul(n) >= PARALLEL_OPS
}

/// `model`'s outputs for `n` samples whose inputs are `inputs` (`NUM_INPUTS` each,
/// back to back), row-major: `NUM_OUTPUTS` per sample.
pub fn outputs<M: Model>(model: &M, inputs: &[M::Float], n: usize) -> Vec<M::Float> {
    let (i, o) = (M::NUM_INPUTS, M::NUM_OUTPUTS);
    assert_eq!(
        inputs.len(),
        n * i,
        "symnn: {n} samples need {} inputs",
        n * i
    );
    let mut out = vec![M::Float::ZERO; n * o];
    if o == 0 {
        return out;
    }
    let chunk = |(c, rows): (usize, &mut [M::Float])| {
        let samples = rows.len() / o;
        let start = c * CHUNK * i;
        model.forward_batch_slice(&inputs[start..start + samples * i], rows);
    };
    #[cfg(feature = "threads")]
    if parallel::<M>(n) {
        use rayon::prelude::*;
        out.par_chunks_mut(CHUNK * o).enumerate().for_each(chunk);
        return out;
    }
    out.chunks_mut(CHUNK * o).enumerate().for_each(chunk);
    out
}

/// `model`'s loss summed over `n` samples (in f64, chunk by chunk in order).
pub fn loss_sum<M: Model>(model: &M, inputs: &[M::Float], targets: &[M::Float], n: usize) -> f64 {
    let (i, t) = (M::NUM_INPUTS, M::NUM_TARGETS);
    assert_eq!(
        inputs.len(),
        n * i,
        "symnn: {n} samples need {} inputs",
        n * i
    );
    assert_eq!(
        targets.len(),
        n * t,
        "symnn: {n} samples need {} targets",
        n * t
    );
    if i == 0 && t == 0 {
        // (No row says how many samples there are.)
        return n as f64 * model.loss_slice(&[], &[]).to_f64();
    }
    let chunk = |c: usize| {
        let (a, b) = (c * CHUNK, ((c + 1) * CHUNK).min(n));
        model
            .loss_batch_slice(&inputs[a * i..b * i], &targets[a * t..b * t])
            .to_f64()
    };
    let chunks = n.div_ceil(CHUNK);
    #[cfg(feature = "threads")]
    if parallel::<M>(n) {
        use rayon::prelude::*;
        let sums: Vec<f64> = (0..chunks).into_par_iter().map(chunk).collect();
        return sums.iter().sum();
    }
    (0..chunks).map(chunk).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `y = a·x + b` per sample, loss `(y − t)²`: a hand-written model (the batch
    /// methods are the looping defaults).
    #[derive(Clone)]
    struct Affine([f64; 2]);

    impl Model for Affine {
        type Float = f64;
        const NUM_PARAMS: usize = 2;
        const NUM_INPUTS: usize = 1;
        const NUM_TARGETS: usize = 1;
        const NUM_OUTPUTS: usize = 1;
        fn param_names() -> &'static [&'static str] {
            &["a", "b"]
        }
        fn param_groups() -> &'static [crate::ParamGroup] {
            &[]
        }
        fn cost() -> crate::Cost {
            // Big enough to take the threaded path for the larger data below.
            crate::Cost {
                forward_ops: 1000,
                ..crate::Cost::default()
            }
        }
        fn derivation() -> &'static str {
            ""
        }
        fn params(&self) -> &[f64] {
            &self.0
        }
        fn params_mut(&mut self) -> &mut [f64] {
            &mut self.0
        }
        fn forward_slice(&self, input: &[f64], output: &mut [f64]) {
            output[0] = self.0[0] * input[0] + self.0[1];
        }
        fn loss_slice(&self, input: &[f64], target: &[f64]) -> f64 {
            (self.0[0] * input[0] + self.0[1] - target[0]).powi(2)
        }
        fn accumulate_gradient_slice(&self, _: &[f64], _: &[f64], _: &mut [f64]) -> f64 {
            unreachable!("not evaluated")
        }
        fn sgd_step_slice(&mut self, _: &[f64], _: &[f64], _: f64) -> f64 {
            unreachable!("not evaluated")
        }
        fn with_seed_boxed(_: u64) -> Box<Self> {
            Box::new(Affine([1.0, 0.0]))
        }
    }

    #[test]
    fn outputs_and_losses_of_every_chunk_size() {
        let model = Affine([2.0, -1.0]);
        // Below the parallel threshold, a chunk and a bit, several chunks (threaded).
        for n in [0, 1, 7, CHUNK + 3, 3 * CHUNK + 1, 2100] {
            let inputs: Vec<f64> = (0..n).map(|s| s as f64 * 0.5).collect();
            let targets: Vec<f64> = (0..n).map(|s| (s % 3) as f64).collect();
            let out = outputs(&model, &inputs, n);
            assert_eq!(out.len(), n);
            for (s, y) in out.iter().enumerate() {
                assert_eq!(*y, 2.0 * (s as f64 * 0.5) - 1.0, "sample {s} of {n}");
            }
            let want: f64 = (0..n)
                .map(|s| model.loss_slice(&inputs[s..=s], &targets[s..=s]))
                .sum();
            let got = loss_sum(&model, &inputs, &targets, n);
            assert!(
                (got - want).abs() <= 1e-12 * want.max(1.0),
                "{got} vs {want}"
            );
        }
    }
}
