//! Why training stops with an error ([`TrainError`]), and the checks and diagnosis
//! behind it: data shapes, the non-finite probes run after every step, and the search
//! for the sample to blame.

use crate::{Dataset, Float, Model};
use std::fmt;

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
    /// A data set with one target a sample holds more classes than the model has
    /// outputs to tell apart: with two or more outputs the target is a class index
    /// (`sparse_cross_entropy`), one output (logit) per class; with one output a
    /// labelled data set may have two classes. Checked before training.
    TooManyClasses {
        /// `"training"` or `"evaluation"`.
        data: &'static str,
        /// The data's classes ([`metrics::class_count`](crate::metrics::class_count)).
        classes: usize,
        /// The model's outputs.
        outputs: usize,
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
            TrainError::TooManyClasses { data, classes, outputs } => {
                let (noun, verb) = if *outputs == 1 { ("output", "tells") } else { ("outputs", "tell") };
                write!(
                    f,
                    "the {data} data has {classes} classes but the model has {outputs} {noun}, \
                     which {verb} apart only {} classes",
                    crate::metrics::predictable_classes(*outputs)
                )?;
                if *outputs >= 2 {
                    write!(
                        f,
                        ": a class-index target must be below the number of outputs (one logit per class)"
                    )?;
                }
                Ok(())
            }
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
    check_classes::<M>(data, which)
}

/// With one target a sample, the target is a class when the model has two or more
/// outputs (a class index for `sparse_cross_entropy`) or the data set has labels:
/// then every class needs an output to predict it, or the loss of its samples is NaN
/// (an index past the logits) or meaningless. A single-output model on unlabelled
/// data may be a regression on whole numbers, so that is not checked.
fn check_classes<M: Model>(
    data: &Dataset<M::Float>,
    which: &'static str,
) -> Result<(), TrainError> {
    let classified = M::NUM_OUTPUTS >= 2 || data.labels().is_some();
    if M::NUM_TARGETS != 1 || !classified {
        return Ok(());
    }
    match crate::metrics::class_mismatch(data, M::NUM_OUTPUTS) {
        Some((classes, outputs)) => Err(TrainError::TooManyClasses {
            data: which,
            classes,
            outputs,
        }),
        None => Ok(()),
    }
}

/// The first NaN or infinity, if any. The common all-finite case is one vectorised
/// pass (`Σ v·0` is 0 exactly when every `v` is finite); only a non-finite array is
/// searched element by element.
pub(super) fn first_non_finite<F: Float>(values: &[F]) -> Option<(usize, f64)> {
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

/// `g *= scale` for every element, then [`first_non_finite`] of the result and the
/// largest `|g|` (infinite if one is not finite), in one pass for the all-finite case.
pub(super) fn scale_and_check<F: Float>(grad: &mut [F], scale: F) -> (Option<(usize, f64)>, f64) {
    let mut lanes = [F::ZERO; 16];
    let mut max = [F::ZERO; 16];
    let (chunks, rest) = grad.as_chunks_mut::<16>();
    for chunk in chunks {
        for ((l, m), v) in lanes.iter_mut().zip(&mut max).zip(chunk) {
            *v *= scale;
            *l += *v * F::ZERO;
            let a = v.abs();
            *m = if a > *m { a } else { *m };
        }
    }
    let mut probe = lanes.iter().fold(F::ZERO, |a, &l| a + l);
    let mut m = max.iter().fold(F::ZERO, |m, &a| if a > m { a } else { m });
    for v in rest {
        *v *= scale;
        probe += *v * F::ZERO;
        m = if v.abs() > m { v.abs() } else { m };
    }
    if probe == F::ZERO {
        (None, m.to_f64())
    } else {
        (first_non_finite(grad), f64::INFINITY)
    }
}

/// The first sample of a step whose own loss or gradient is not finite.
pub(super) struct Culprit {
    /// Its row in the training data.
    pub(super) sample: usize,
    /// Its first non-finite gradient component: index, name and value.
    pub(super) param: Option<(usize, &'static str, f64)>,
}

/// Finds the [`Culprit`] of a step whose summed loss or gradient was not finite, by
/// recomputing its samples one at a time (`rows[k]` is sample `k`'s row in the data).
/// `None` when every sample is finite on its own and only their sum overflowed.
/// Runs only on the way to an error, so its allocation does not matter.
#[cold]
pub(super) fn find_culprit<M: Model>(
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

pub(super) fn param_name<M: Model>(i: usize) -> &'static str {
    M::param_names().get(i).copied().unwrap_or("?")
}
