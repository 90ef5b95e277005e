//! Metrics over a model and a data set: accuracy, confusion matrix, MSE, MAE, mean loss.
//!
//! They take any [`Model`] and a [`Dataset`] and run `forward` sample by sample, so
//! they double as the metric closures the [`Trainer`](crate::Trainer) accepts
//! (`.metric("accuracy", metrics::accuracy)`). Results are `f64` whatever the
//! model's float type, accumulated in `f64`.
//!
//! An output row's class is [`class_of`] it: the argmax for two or more values, and
//! for a single value (a sigmoid probability) `1` if it is at least `0.5`. A sample's
//! true class is its data set's stored label if any; otherwise a single target of a
//! model with two or more outputs is a class index (`2.0` is class 2: the targets of
//! `sparse_cross_entropy`, see [`Dataset::sparse_classification`]), and any other
//! target row is read by [`Dataset::class_of`] (a one-hot row's argmax; a single 0/1
//! target, or class index, as its class; a single probability against `0.5`).
//!
//! [`accuracy`] and [`ConfusionMatrix::from_model`] panic, naming both numbers, when
//! the data holds more classes ([`class_count`]) than the model's outputs can predict
//! ([`predictable_classes`]), instead of counting those samples as wrong.

use crate::{Dataset, Float, Model};
use std::fmt;

/// Index of the largest value (the first one on ties; NaN never wins).
pub fn argmax<F: Float>(row: &[F]) -> usize {
    let mut best = 0;
    for (i, &x) in row.iter().enumerate().skip(1) {
        if x > row[best] || row[best].to_f64().is_nan() {
            best = i;
        }
    }
    best
}

/// The class a row stands for: [`argmax`] for two or more values, `x >= 0.5` for one.
pub fn class_of<F: Float>(row: &[F]) -> usize {
    match row {
        [x] => usize::from(x.to_f64() >= 0.5),
        _ => argmax(row),
    }
}

/// The class a *class-index* target holds: `x` if it is a non-negative integer (`2.0`
/// is class 2), otherwise `usize::MAX`, a class no prediction matches.
pub fn class_index<F: Float>(x: F) -> usize {
    let x = x.to_f64();
    if x >= 0.0 && x.fract() == 0.0 && x < 2f64.powi(53) {
        x as usize
    } else {
        usize::MAX
    }
}

/// The true class of sample `i` for a model with `outputs` outputs: the stored label if
/// any; the class index if the sample has one target and the model two or more outputs
/// (a one-hot row would have one target per output); otherwise [`class_of`] the target row.
fn actual_class<F: Float>(data: &Dataset<F>, i: usize, outputs: usize) -> usize {
    match (data.labels(), data.target(i)) {
        (None, &[index]) if outputs >= 2 => class_index(index),
        _ => data.class_of(i),
    }
}

/// How many classes `data` holds, read as [`accuracy`] reads its samples: the number
/// of classes if it has labels; for one target a sample, one more than the largest
/// class index (`None` if some target is not a whole number, e.g. a probability); for
/// two or more targets, the row width (one-hot rows). `None` for no samples.
pub fn class_count<F: Float>(data: &Dataset<F>) -> Option<usize> {
    if let Some(n) = data.num_classes() {
        return Some(n);
    }
    if data.is_empty() {
        return None;
    }
    match data.target_width() {
        1 => data
            .targets()
            .iter()
            .map(|&x| class_index(x))
            .try_fold(0, |most, k| (k != usize::MAX).then(|| most.max(k + 1))),
        width => Some(width),
    }
}

/// How many classes a model with `outputs` outputs can predict ([`class_of`] its
/// output): 2 for one output (a probability), one per output otherwise.
pub fn predictable_classes(outputs: usize) -> usize {
    if outputs == 1 {
        2
    } else {
        outputs
    }
}

/// `(classes, outputs)` if `data` holds more classes than a model with `outputs`
/// outputs can predict (the samples of the others could never be classified right).
pub(crate) fn class_mismatch<F: Float>(
    data: &Dataset<F>,
    outputs: usize,
) -> Option<(usize, usize)> {
    let classes = class_count(data)?;
    (outputs > 0 && classes > predictable_classes(outputs)).then_some((classes, outputs))
}

/// Panics with a message naming both numbers if `data` has more classes than the
/// model's outputs can predict.
#[track_caller]
fn assert_classes<M: Model>(data: &Dataset<M::Float>, what: &str) {
    if let Some((classes, outputs)) = class_mismatch(data, M::NUM_OUTPUTS) {
        panic!(
            "symnn: {what}: the data has {classes} classes but the model has {outputs} output{}, which predict{} only {} classes",
            if outputs == 1 { "" } else { "s" },
            if outputs == 1 { "s" } else { "" },
            predictable_classes(outputs)
        );
    }
}

/// All outputs of `model` on `data`, flat row-major (`M::NUM_OUTPUTS` per sample),
/// through [`Model::forward_batch_slice`] (SIMD across samples, GEMMs for wide layers)
/// a chunk of 512 samples at a time, chunks on rayon's threads when the data set is
/// large (feature `threads`; the result does not depend on the thread count).
pub fn predict<M: Model>(model: &M, data: &Dataset<M::Float>) -> Vec<M::Float> {
    crate::evaluate::outputs(model, data.inputs(), data.len())
}

/// Row `i` of flat `width`-wide rows.
fn row<F>(rows: &[F], i: usize, width: usize) -> &[F] {
    &rows[i * width..(i + 1) * width]
}

/// Fraction of samples whose predicted class equals their class (0 for no samples).
///
/// The predicted class is [`class_of`] the output; the true class is the data set's
/// label, or for a model with two or more outputs and one target a sample, that target
/// as a class index ([`class_index`]: class-index targets, as for `sparse_cross_entropy`),
/// or else [`class_of`] the target row (one-hot, or a 0/1 target).
///
/// # Panics
/// If the data holds more classes ([`class_count`]) than the model's outputs can
/// predict ([`predictable_classes`]): those samples could never count as right.
pub fn accuracy<M: Model>(model: &M, data: &Dataset<M::Float>) -> f64 {
    assert_classes::<M>(data, "accuracy");
    let outputs = predict(model, data);
    let correct = (0..data.len())
        .filter(|&i| {
            class_of(row(&outputs, i, M::NUM_OUTPUTS)) == actual_class(data, i, M::NUM_OUTPUTS)
        })
        .count();
    correct as f64 / data.len().max(1) as f64
}

/// Mean of `f(output - target)` over every output value of every sample.
fn mean_error<M: Model>(model: &M, data: &Dataset<M::Float>, f: impl Fn(f64) -> f64) -> f64 {
    assert_eq!(
        M::NUM_OUTPUTS,
        data.target_width(),
        "symnn: mse/mae need as many outputs as targets, but the model has {} outputs and the data {} targets a sample",
        M::NUM_OUTPUTS,
        data.target_width()
    );
    let outputs = predict(model, data);
    let sum: f64 = outputs
        .iter()
        .zip(data.targets())
        .map(|(y, t)| f(y.to_f64() - t.to_f64()))
        .sum();
    sum / (data.len() * M::NUM_OUTPUTS).max(1) as f64
}

/// Mean squared error between outputs and targets (over samples and output values).
///
/// # Panics
/// If the model's output width differs from the data's target width.
pub fn mse<M: Model>(model: &M, data: &Dataset<M::Float>) -> f64 {
    mean_error(model, data, |d| d * d)
}

/// Mean absolute error between outputs and targets (over samples and output values).
///
/// # Panics
/// If the model's output width differs from the data's target width.
pub fn mae<M: Model>(model: &M, data: &Dataset<M::Float>) -> f64 {
    mean_error(model, data, f64::abs)
}

/// Mean of the model's loss over the samples (0 for no samples), through
/// [`Model::loss_batch_slice`] as [`predict`] goes through the forward batch.
pub fn mean_loss<M: Model>(model: &M, data: &Dataset<M::Float>) -> f64 {
    let sum = crate::evaluate::loss_sum(model, data.inputs(), data.targets(), data.len());
    sum / data.len().max(1) as f64
}

/// Counts of (actual class, predicted class) pairs. Rows are actual classes,
/// columns predicted ones, as in scikit-learn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    n: usize,
    counts: Vec<usize>,
    names: Vec<String>,
}

impl ConfusionMatrix {
    /// An all-zero matrix for `num_classes` classes.
    pub fn new(num_classes: usize) -> Self {
        ConfusionMatrix {
            n: num_classes,
            counts: vec![0; num_classes * num_classes],
            names: Vec::new(),
        }
    }
    /// The matrix of `model` on `data`, with classes read as [`accuracy`] reads them.
    /// Predictions or classes `>= num_classes` are clamped to the last class.
    ///
    /// # Panics
    /// As [`accuracy`], if the data holds more classes than the model can predict.
    pub fn from_model<M: Model>(model: &M, data: &Dataset<M::Float>, num_classes: usize) -> Self {
        assert_classes::<M>(data, "ConfusionMatrix::from_model");
        let mut cm = ConfusionMatrix::new(num_classes);
        let outputs = predict(model, data);
        for i in 0..data.len() {
            let predicted = class_of(row(&outputs, i, M::NUM_OUTPUTS));
            cm.add(actual_class(data, i, M::NUM_OUTPUTS), predicted);
        }
        cm
    }
    /// Class names for [`Display`](fmt::Display) (otherwise the indices are shown).
    pub fn with_class_names<S: ToString>(mut self, names: &[S]) -> Self {
        self.names = names.iter().map(ToString::to_string).collect();
        self
    }
    /// Counts one sample.
    pub fn add(&mut self, actual: usize, predicted: usize) {
        let last = self.n.saturating_sub(1);
        self.counts[actual.min(last) * self.n + predicted.min(last)] += 1;
    }
    /// Number of samples of class `actual` predicted as `predicted`.
    pub fn get(&self, actual: usize, predicted: usize) -> usize {
        self.counts[actual * self.n + predicted]
    }
    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.n
    }
    /// Number of samples counted.
    pub fn total(&self) -> usize {
        self.counts.iter().sum()
    }
    /// Fraction on the diagonal (0 when empty).
    pub fn accuracy(&self) -> f64 {
        let diag: usize = (0..self.n).map(|c| self.get(c, c)).sum();
        diag as f64 / self.total().max(1) as f64
    }
    /// Of the samples predicted as `class`, the fraction that are (NaN if none).
    pub fn precision(&self, class: usize) -> f64 {
        let predicted: usize = (0..self.n).map(|a| self.get(a, class)).sum();
        self.get(class, class) as f64 / predicted as f64
    }
    /// Of the samples of `class`, the fraction predicted as it (NaN if none).
    pub fn recall(&self, class: usize) -> f64 {
        let actual: usize = (0..self.n).map(|p| self.get(class, p)).sum();
        self.get(class, class) as f64 / actual as f64
    }
}

/// A table with actual classes as rows and predicted classes as columns.
impl fmt::Display for ConfusionMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |c: usize| self.names.get(c).cloned().unwrap_or_else(|| c.to_string());
        let label_w = (0..self.n)
            .map(|c| name(c).len())
            .max()
            .unwrap_or(0)
            .max("actual".len());
        let cell_w = (0..self.n)
            .map(|c| name(c).len())
            .chain(self.counts.iter().map(|k| k.to_string().len()))
            .max()
            .unwrap_or(1);
        write!(f, "{:>label_w$} \\ predicted", "actual")?;
        writeln!(f)?;
        write!(f, "{:>label_w$}", "")?;
        for c in 0..self.n {
            write!(f, " {:>cell_w$}", name(c))?;
        }
        for a in 0..self.n {
            writeln!(f)?;
            write!(f, "{:>label_w$}", name(a))?;
            for p in 0..self.n {
                write!(f, " {:>cell_w$}", self.get(a, p))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_of_rows() {
        assert_eq!(argmax(&[0.1, 0.7, 0.2]), 1);
        assert_eq!(argmax(&[0.5, 0.5]), 0);
        assert_eq!(class_of(&[0.49f32]), 0);
        assert_eq!(class_of(&[0.5f32]), 1);
        assert_eq!(class_of(&[0.0, 0.0, 1.0]), 2);
        assert_eq!(class_index(2.0f32), 2);
        assert_eq!(class_index(0.0f64), 0);
        assert_eq!(class_index(-0.0f64), 0);
        for bad in [2.5, -1.0, f64::NAN, f64::INFINITY, 1e300] {
            assert_eq!(class_index(bad), usize::MAX, "{bad}");
        }
    }

    #[test]
    fn confusion_matrix_counts_and_display() {
        let mut cm = ConfusionMatrix::new(2).with_class_names(&["neg", "pos"]);
        for (a, p) in [(0, 0), (0, 0), (0, 1), (1, 1), (1, 0), (1, 1), (1, 1)] {
            cm.add(a, p);
        }
        assert_eq!(
            (cm.get(0, 0), cm.get(0, 1), cm.get(1, 0), cm.get(1, 1)),
            (2, 1, 1, 3)
        );
        assert_eq!(cm.total(), 7);
        assert!((cm.accuracy() - 5.0 / 7.0).abs() < 1e-15);
        assert!((cm.precision(1) - 3.0 / 4.0).abs() < 1e-15);
        assert!((cm.recall(0) - 2.0 / 3.0).abs() < 1e-15);
        let text = cm.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[1].trim_start().starts_with("neg"), "{text}");
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            ["neg", "2", "1"]
        );
        assert_eq!(
            lines[3].split_whitespace().collect::<Vec<_>>(),
            ["pos", "1", "3"]
        );
    }
}
