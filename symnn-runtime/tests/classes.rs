//! Classes of data sets without labels (class-index targets), and the check of a data
//! set's classes against the model's outputs (training and metrics).
mod common;

use common::{LinReg, Softmax};
use symnn_runtime::metrics::{self, ConfusionMatrix};
use symnn_runtime::{Cost, Dataset, Model, ParamGroup, Sgd, TrainError, Trainer};

/// [`Softmax`] (4 inputs, 3 logits) with a class-index target: `L = -log softmax(z)[k]`,
/// NaN for a `k` that is not a class (as `sparse_cross_entropy` gives).
#[derive(Clone, Debug, PartialEq)]
struct Sparse(Softmax<f64>);

impl Sparse {
    fn one_hot(target: &[f64]) -> Option<[f64; 3]> {
        let k = metrics::class_index(target[0]);
        let mut t = [0.0; 3];
        *t.get_mut(k)? = 1.0;
        Some(t)
    }
}

impl Model for Sparse {
    type Float = f64;
    const NUM_PARAMS: usize = 15;
    const NUM_INPUTS: usize = 4;
    const NUM_TARGETS: usize = 1;
    const NUM_OUTPUTS: usize = 3;
    fn param_names() -> &'static [&'static str] {
        Softmax::<f64>::param_names()
    }
    fn param_groups() -> &'static [ParamGroup] {
        Softmax::<f64>::param_groups()
    }
    fn cost() -> Cost {
        Cost::default()
    }
    fn derivation() -> &'static str {
        "z = W x + b; L = logsumexp(z) - z[k]"
    }
    fn params(&self) -> &[f64] {
        self.0.params()
    }
    fn params_mut(&mut self) -> &mut [f64] {
        self.0.params_mut()
    }
    fn with_seed_boxed(_seed: u64) -> Box<Self> {
        Box::new(Sparse(Softmax::zeros()))
    }
    fn forward_slice(&self, input: &[f64], output: &mut [f64]) {
        self.0.forward_slice(input, output)
    }
    fn loss_slice(&self, input: &[f64], target: &[f64]) -> f64 {
        Self::one_hot(target).map_or(f64::NAN, |t| self.0.loss_slice(input, &t))
    }
    fn accumulate_gradient_slice(&self, input: &[f64], target: &[f64], grad: &mut [f64]) -> f64 {
        match Self::one_hot(target) {
            Some(t) => self.0.accumulate_gradient_slice(input, &t, grad),
            None => f64::NAN,
        }
    }
    fn sgd_step_slice(&mut self, input: &[f64], target: &[f64], lr: f64) -> f64 {
        match Self::one_hot(target) {
            Some(t) => self.0.sgd_step_slice(input, &t, lr),
            None => f64::NAN,
        }
    }
}

/// `n_per_class[c]` samples of class `c`, in class order; input `i` is `[i, 0, 0, 0]`.
fn class_index_rows(n_per_class: &[usize]) -> (Vec<f64>, Vec<usize>) {
    let labels: Vec<usize> = n_per_class
        .iter()
        .enumerate()
        .flat_map(|(c, &n)| std::iter::repeat_n(c, n))
        .collect();
    let inputs = (0..labels.len())
        .flat_map(|i| [i as f64, 0.0, 0.0, 0.0])
        .collect();
    (inputs, labels)
}

fn unlabelled_class_indices(n_per_class: &[usize]) -> Dataset<f64> {
    let (inputs, labels) = class_index_rows(n_per_class);
    let targets = labels.iter().map(|&l| l as f64).collect();
    Dataset::new(inputs, 4, targets, 1).unwrap()
}

#[test]
fn class_of_reads_a_single_unlabelled_target_as_its_class() {
    let d = Dataset::<f64>::new(vec![], 0, vec![2.0, 0.0, 1.0, 7.0, 0.25, 0.75, 2.5], 1).unwrap();
    // Class indices as the index (so 0/1 targets as 0/1); other numbers as
    // probabilities against 0.5.
    assert_eq!(
        (0..d.len()).map(|i| d.class_of(i)).collect::<Vec<_>>(),
        [2, 0, 1, 7, 0, 1, 1]
    );
    // One-hot rows: the argmax.
    let rows = Dataset::<f64>::new(vec![], 0, vec![0.0, 0.0, 1.0, 0.0, 1.0, 0.0], 3).unwrap();
    assert_eq!((rows.class_of(0), rows.class_of(1)), (2, 1));
}

#[test]
fn stratified_split_of_class_index_targets_without_labels() {
    let counts = [30, 10, 20];
    let unlabelled = unlabelled_class_indices(&counts);
    let (inputs, labels) = class_index_rows(&counts);
    let labelled = Dataset::sparse_classification(inputs, 4, labels, 3).unwrap();
    let (train, test) = unlabelled.stratified_split(0.2, 4);
    let count = |d: &Dataset<f64>, c: f64| d.targets().iter().filter(|&&t| t == c).count();
    // Every class keeps its proportion (class 2 is not read as class 1).
    assert_eq!(
        [count(&test, 0.0), count(&test, 1.0), count(&test, 2.0)],
        [6, 2, 4]
    );
    assert_eq!(
        [count(&train, 0.0), count(&train, 1.0), count(&train, 2.0)],
        [24, 8, 16]
    );
    // The same split as the labelled data set gives.
    let (labelled_train, labelled_test) = labelled.stratified_split(0.2, 4);
    assert_eq!(test.inputs(), labelled_test.inputs());
    assert_eq!(train.inputs(), labelled_train.inputs());
    // Binary 0/1 targets still split by class.
    let binary = unlabelled_class_indices(&[15, 5]);
    let (_, test) = binary.stratified_split(0.2, 1);
    assert_eq!([count(&test, 0.0), count(&test, 1.0)], [3, 1]);
}

#[test]
fn class_count_and_predictable_classes() {
    assert_eq!(
        metrics::class_count(&unlabelled_class_indices(&[2, 0, 0, 1])),
        Some(4)
    );
    let (inputs, labels) = class_index_rows(&[1, 1]);
    let declared = Dataset::sparse_classification(inputs, 4, labels, 5).unwrap();
    assert_eq!(metrics::class_count(&declared), Some(5));
    let probabilities = Dataset::<f64>::new(vec![], 0, vec![0.2, 1.0], 1).unwrap();
    assert_eq!(metrics::class_count(&probabilities), None);
    let one_hot = Dataset::<f64>::new(vec![], 0, vec![0.0, 1.0, 0.0, 1.0, 0.0, 0.0], 3).unwrap();
    assert_eq!(metrics::class_count(&one_hot), Some(3));
    assert_eq!([1, 2, 3].map(metrics::predictable_classes), [2, 2, 3]);
}

#[test]
fn fit_rejects_more_classes_than_outputs() {
    let too_many = unlabelled_class_indices(&[3, 3, 3, 0, 2]);
    let fit = |train: &Dataset<f64>, eval: Option<&Dataset<f64>>| {
        let mut model = Sparse(Softmax::zeros());
        Trainer::new(Sgd::new(0.1))
            .epochs(2)
            .fit(&mut model, train, eval)
    };
    let error = fit(&too_many, None).unwrap_err();
    assert_eq!(
        error,
        TrainError::TooManyClasses {
            data: "training",
            classes: 5,
            outputs: 3
        }
    );
    let message = error.to_string();
    assert!(
        message.starts_with("the training data has 5 classes but the model has 3 outputs"),
        "{message}"
    );
    // Declared classes count, even when no sample has the extra ones.
    let (inputs, labels) = class_index_rows(&[3, 3, 3]);
    let declared = Dataset::sparse_classification(inputs, 4, labels, 4).unwrap();
    assert!(matches!(
        fit(&declared, None),
        Err(TrainError::TooManyClasses { classes: 4, .. })
    ));
    // The evaluation data is checked too, before any training.
    let fine = unlabelled_class_indices(&[3, 3, 3]);
    assert_eq!(
        fit(&fine, Some(&too_many)).unwrap_err(),
        TrainError::TooManyClasses {
            data: "evaluation",
            classes: 5,
            outputs: 3
        }
    );
    // As many classes as outputs trains.
    assert_eq!(fit(&fine, Some(&fine)).unwrap().reports.len(), 2);
    // A one-output model on whole-number targets may be a regression: not a class error.
    let counts: Vec<([f64; 2], [f64; 1])> = (0..10)
        .map(|i| ([f64::from(i), 1.0], [f64::from(i % 7)]))
        .collect();
    let mut linear = LinReg::<f64>::new(0.0, 0.0, 0.0);
    Trainer::new(Sgd::new(0.001))
        .epochs(1)
        .fit(&mut linear, &Dataset::from_rows(&counts), None)
        .unwrap();
    // But labelled data with three classes for one output is.
    let (_, labels) = class_index_rows(&[2, 2, 2]);
    let three = Dataset::sparse_classification(vec![0.5; 12], 2, labels, 3).unwrap();
    let error = Trainer::new(Sgd::new(0.1))
        .fit(&mut linear, &three, None)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the training data has 3 classes but the model has 1 output, which tells apart only 2 classes"
    );
}

#[test]
#[should_panic(
    expected = "accuracy: the data has 5 classes but the model has 3 outputs, which predict only 3 classes"
)]
fn accuracy_rejects_more_classes_than_outputs() {
    metrics::accuracy(
        &Sparse(Softmax::zeros()),
        &unlabelled_class_indices(&[1, 1, 1, 1, 1]),
    );
}

#[test]
#[should_panic(
    expected = "ConfusionMatrix::from_model: the data has 3 classes but the model has 1 output, which predicts only 2 classes"
)]
fn confusion_matrix_rejects_more_classes_than_outputs() {
    let (_, labels) = class_index_rows(&[1, 1, 1]);
    let three = Dataset::sparse_classification(vec![0.5; 6], 2, labels, 3).unwrap();
    ConfusionMatrix::from_model(&LinReg::<f64>::new(0.0, 0.0, 0.0), &three, 3);
}

#[test]
fn accuracy_reads_class_index_targets() {
    // All-zero logits predict class 0: right on exactly the class-0 samples.
    let data = unlabelled_class_indices(&[2, 1, 1]);
    assert_eq!(metrics::accuracy(&Sparse(Softmax::zeros()), &data), 0.5);
}

#[test]
#[should_panic(
    expected = "mse/mae need as many outputs as targets, but the model has 3 outputs and the data 1 targets a sample"
)]
fn mse_names_both_widths() {
    metrics::mse(
        &Sparse(Softmax::zeros()),
        &unlabelled_class_indices(&[1, 1, 1]),
    );
}

/// No targets (a physics-informed network's shape): `L = (p x)^2`, three outputs.
#[derive(Clone, Debug, PartialEq)]
struct NoTargets(Vec<f64>);

impl Model for NoTargets {
    type Float = f64;
    const NUM_PARAMS: usize = 1;
    const NUM_INPUTS: usize = 1;
    const NUM_TARGETS: usize = 0;
    const NUM_OUTPUTS: usize = 3;
    fn param_names() -> &'static [&'static str] {
        &["p"]
    }
    fn param_groups() -> &'static [ParamGroup] {
        &[]
    }
    fn cost() -> Cost {
        Cost::default()
    }
    fn derivation() -> &'static str {
        "L = (p x)^2"
    }
    fn params(&self) -> &[f64] {
        &self.0
    }
    fn params_mut(&mut self) -> &mut [f64] {
        &mut self.0
    }
    fn with_seed_boxed(_seed: u64) -> Box<Self> {
        Box::new(NoTargets(vec![1.0]))
    }
    fn forward_slice(&self, input: &[f64], output: &mut [f64]) {
        output.fill(self.0[0] * input[0]);
    }
    fn loss_slice(&self, input: &[f64], _: &[f64]) -> f64 {
        (self.0[0] * input[0]).powi(2)
    }
    fn accumulate_gradient_slice(&self, input: &[f64], t: &[f64], grad: &mut [f64]) -> f64 {
        grad[0] += 2.0 * self.0[0] * input[0] * input[0];
        self.loss_slice(input, t)
    }
    fn sgd_step_slice(&mut self, input: &[f64], t: &[f64], lr: f64) -> f64 {
        let mut g = [0.0];
        let loss = self.accumulate_gradient_slice(input, t, &mut g);
        self.0[0] -= lr * g[0];
        loss
    }
}

#[test]
fn networks_without_targets_still_train() {
    let data = Dataset::new(vec![0.5, 1.0, 2.0, 7.0], 1, vec![], 0).unwrap();
    let mut model = NoTargets(vec![1.0]);
    let history = Trainer::new(Sgd::new(0.01))
        .epochs(3)
        .fit(&mut model, &data, Some(&data))
        .unwrap();
    assert_eq!(history.reports.len(), 3);
    assert!(model.0[0].abs() < 1.0, "{:?}", model.0);
}
