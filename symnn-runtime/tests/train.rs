mod common;

use common::{check_gradient, data_path, LinReg, Softmax};
use symnn_runtime::data::CsvFormat;
use symnn_runtime::{
    metrics, Adam, Dataset, LrSchedule, Model, Optimizer, Progress, Sgd, Standardizer, TrainError,
    Trainer,
};

/// 25 points on a grid with `t = 2 x0 - 3 x1 + 0.5` exactly.
fn plane() -> Dataset<f64> {
    let grid = [-1.0, -0.5, 0.0, 0.5, 1.0];
    let mut rows = Vec::new();
    for &a in &grid {
        for &b in &grid {
            rows.push(([a, b], [2.0 * a - 3.0 * b + 0.5]));
        }
    }
    Dataset::from_rows(&rows)
}

fn iris_split() -> (Dataset<f64>, Dataset<f64>) {
    let format = CsvFormat::new(4).one_hot_label(3).skip_rows(1);
    let data = Dataset::from_csv_path(data_path("iris.csv"), &format).unwrap();
    let (mut train, mut test) = data.stratified_split(0.3, 1);
    let scaler = Standardizer::fit(&train);
    scaler.transform(&mut train);
    scaler.transform(&mut test);
    (train, test)
}

#[test]
fn hand_written_models_have_correct_gradients() {
    check_gradient(&LinReg::<f64>::new(0.3, -0.7, 0.2), &[1.5, -2.0], &[0.25]);
    let mut m = Softmax::<f64>::zeros();
    for (i, p) in m.params.iter_mut().enumerate() {
        *p = (i as f64 * 0.37).sin();
    }
    check_gradient(&m, &[0.5, -1.0, 2.0, 0.1], &[0.0, 1.0, 0.0]);
}

#[test]
fn sgd_recovers_the_plane_coefficients() {
    let data = plane();
    let mut model = LinReg::<f64>::new(0.0, 0.0, 0.0);
    let history = Trainer::new(Sgd::new(0.1).momentum(0.5))
        .epochs(200)
        .batch_size(5)
        .seed(3)
        .fit(&mut model, &data, None)
        .unwrap();
    let [w0, w1, b] = [model.params[0], model.params[1], model.params[2]];
    assert!(
        (w0 - 2.0).abs() < 1e-6 && (w1 + 3.0).abs() < 1e-6 && (b - 0.5).abs() < 1e-6,
        "{:?}",
        model.params
    );
    assert_eq!(history.reports.len(), 200);
    assert!(history.last().unwrap().train_loss < 1e-10);
    // 25 samples in batches of 5: 5 steps an epoch.
    assert_eq!(history.last().unwrap().steps, 200 * 5);
}

#[test]
fn softmax_regression_learns_iris() {
    let (train, test) = iris_split();
    assert_eq!((train.len(), test.len()), (105, 45));
    let mut model = Softmax::<f64>::zeros();
    let before = metrics::mean_loss(&model, &test);
    let history = Trainer::new(Adam::new(0.05))
        .epochs(60)
        .batch_size(16)
        .seed(11)
        .metric("accuracy", metrics::accuracy)
        .progress(Progress::Plain)
        .fit(&mut model, &train, Some(&test))
        .unwrap();
    let last = history.last().unwrap();
    assert_eq!(history.metric_name, Some("accuracy"));
    assert_eq!(last.metric, Some(metrics::accuracy(&model, &test)));
    assert!(
        last.metric.unwrap() >= 0.9,
        "test accuracy {:?}",
        last.metric
    );
    assert!(
        last.eval_loss.unwrap() < before / 4.0,
        "{before} -> {:?}",
        last.eval_loss
    );
    assert!(last.samples_per_sec > 0.0);
    let cm = metrics::ConfusionMatrix::from_model(&model, &test, 3);
    assert_eq!(cm.total(), 45);
    assert_eq!(cm.accuracy(), last.metric.unwrap());
}

#[test]
fn same_seed_gives_bit_identical_parameters() {
    let (train, test) = iris_split();
    let run = |seed: u64| {
        let mut model = Softmax::<f64>::zeros();
        Trainer::new(Adam::new(0.05))
            .epochs(5)
            .batch_size(8)
            .seed(seed)
            .fit(&mut model, &train, Some(&test))
            .unwrap();
        model.params.iter().map(|p| p.to_bits()).collect::<Vec<_>>()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(
        run(7),
        run(8),
        "a different seed should give a different sample order"
    );
}

#[test]
fn accumulation_equals_the_larger_batch() {
    let data = plane();
    let run = |batch: usize, k: usize| {
        let mut model = LinReg::<f64>::new(0.0, 0.0, 0.0);
        let h = Trainer::new(Sgd::new(0.05))
            .epochs(3)
            .batch_size(batch)
            .accumulate(k)
            .seed(5)
            .fit(&mut model, &data, None)
            .unwrap();
        (
            model.params.iter().map(|p| p.to_bits()).collect::<Vec<_>>(),
            h.last().unwrap().steps,
        )
    };
    let (a, steps_a) = run(2, 3);
    let (b, steps_b) = run(6, 1);
    assert_eq!(a, b);
    // ceil(25 / 6) = 5 steps an epoch.
    assert_eq!((steps_a, steps_b), (15, 15));
}

#[test]
fn lr_schedules_per_epoch_and_per_step() {
    let data = plane();
    let mut model = LinReg::<f64>::new(0.0, 0.0, 0.0);
    let h = Trainer::new(Sgd::new(0.1))
        .epochs(5)
        .batch_size(5)
        .lr_schedule(LrSchedule::step_decay(2, 0.5))
        .fit(&mut model, &data, None)
        .unwrap();
    let lrs: Vec<f64> = h.reports.iter().map(|r| r.lr).collect();
    assert_eq!(lrs, [0.1, 0.1, 0.05, 0.05, 0.025]);

    // 5 steps an epoch; halving every 5 steps: the last step of epoch e has t = 5e - 1.
    let h = Trainer::new(Sgd::new(0.1))
        .epochs(3)
        .batch_size(5)
        .lr_schedule_per_step(LrSchedule::step_decay(5, 0.5))
        .fit(&mut model, &data, None)
        .unwrap();
    let lrs: Vec<f64> = h.reports.iter().map(|r| r.lr).collect();
    assert_eq!(lrs, [0.1, 0.05, 0.025]);
}

#[test]
fn evaluation_runs_every_n_epochs_and_after_the_last() {
    let data = plane();
    let mut model = LinReg::<f64>::new(0.0, 0.0, 0.0);
    let h = Trainer::new(Sgd::new(0.05))
        .epochs(7)
        .eval_every(3)
        .fit(&mut model, &data, Some(&data))
        .unwrap();
    let evaluated: Vec<usize> = h
        .reports
        .iter()
        .filter(|r| r.eval_loss.is_some())
        .map(|r| r.epoch)
        .collect();
    assert_eq!(evaluated, [3, 6, 7]);
    assert_eq!(
        h.reports[6].eval_loss,
        Some(metrics::mean_loss(&model, &data))
    );
}

#[test]
fn early_stopping_stops_after_patience_epochs_without_improvement() {
    let data = plane();
    let mut model = LinReg::<f64>::new(0.0, 0.0, 0.0);
    // A zero learning rate never improves: best is epoch 1, then 3 bad epochs.
    let h = Trainer::new(Sgd::new(0.0))
        .epochs(50)
        .early_stopping(3, 1e-9)
        .fit(&mut model, &data, Some(&data))
        .unwrap();
    assert!(h.stopped_early);
    assert_eq!(h.reports.len(), 4);
    assert_eq!(h.best_epoch, Some(1));
}

#[test]
fn early_stopping_restores_the_best_parameters() {
    // Full-batch GD with lr 1.1 on the plane: the Hessian's eigenvalues are 1, 1 and
    // 2, so the bias error grows by |1 - 2.2| = 1.2 a step while the weight errors
    // shrink by 0.1: the loss falls for one epoch, then rises.
    let data = plane();
    let mut model = LinReg::<f64>::new(0.0, 0.0, 0.0);
    let h = Trainer::new(Sgd::new(1.1))
        .epochs(50)
        .batch_size(25)
        .early_stopping(2, 0.0)
        .fit(&mut model, &data, Some(&data))
        .unwrap();
    assert_eq!(h.best_epoch, Some(1));
    assert_eq!(h.reports.len(), 3);
    assert!(
        h.reports[2].eval_loss > h.reports[1].eval_loss
            && h.reports[1].eval_loss > h.reports[0].eval_loss
    );
    assert_eq!(
        Some(metrics::mean_loss(&model, &data)),
        h.reports[0].eval_loss
    );
}

#[test]
fn a_huge_learning_rate_is_a_typed_error_and_the_model_stays_finite() {
    let data = plane();
    let mut model = LinReg::<f64>::new(0.0, 0.0, 0.0);
    let err = Trainer::new(Sgd::new(1e6))
        .epochs(100)
        .batch_size(5)
        .fit(&mut model, &data, None)
        .unwrap_err();
    assert!(
        matches!(
            err,
            TrainError::NonFiniteLoss { .. }
                | TrainError::NonFinite { .. }
                | TrainError::NonFiniteGradient { .. }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("epoch") && text.contains("step"), "{text}");
    assert!(
        model.params.iter().all(|p| p.is_finite()),
        "{:?}",
        model.params
    );
}

#[test]
fn an_infinite_loss_names_epoch_and_step() {
    // Sample 3 (0-based) makes the loss overflow: (1e200)^2 = inf. Batches of one in
    // order, so it is step 4.
    let rows = [
        ([0.0, 0.0], [0.0]),
        ([1.0, 0.0], [1.0]),
        ([0.0, 1.0], [1.0]),
        ([0.0, 0.0], [1e200]),
    ];
    let data = Dataset::from_rows(&rows);
    let mut model = LinReg::<f64>::new(0.1, 0.1, 0.1);
    let err = Trainer::new(Sgd::new(0.01))
        .batch_size(1)
        .shuffle(false)
        .fit(&mut model, &data, None)
        .unwrap_err();
    match err {
        TrainError::NonFiniteLoss {
            epoch: 1,
            step: 4,
            value,
            sample: Some(3),
            // Its gradient, 2 (y - t) x, is finite: only the square overflowed.
            param_name: None,
        } => assert!(value.is_infinite()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_infinite_gradient_names_the_parameter() {
    // f32: loss (0 - 1)^2 = 1 is finite, but dL/dw[0] = 2 * (-1) * 3e38 overflows.
    let rows = [([3e38f32, 0.0], [1.0f32])];
    let data = Dataset::from_rows(&rows);
    let mut model = LinReg::<f32>::new(0.0, 0.0, 0.0);
    let err = Trainer::new(Sgd::new(0.01f32))
        .fit(&mut model, &data, None)
        .unwrap_err();
    assert_eq!(
        err,
        TrainError::NonFiniteGradient {
            epoch: 1,
            step: 1,
            param_index: 0,
            param_name: "w[0]",
            value: f64::NEG_INFINITY,
            sample: Some(0),
        }
    );
    assert_eq!(model.params, [0.0, 0.0, 0.0]);
}

/// Plain SGD that writes NaN into `w[1]` on its third step.
struct Poison {
    inner: Sgd<f64>,
    steps: usize,
}

impl Optimizer<f64> for Poison {
    fn step(&mut self, params: &mut [f64], grad: &[f64]) {
        self.inner.step(params, grad);
        self.steps += 1;
        if self.steps == 3 {
            params[1] = f64::NAN;
        }
    }
    fn learning_rate(&self) -> f64 {
        self.inner.learning_rate()
    }
    fn set_learning_rate(&mut self, lr: f64) {
        self.inner.set_learning_rate(lr);
    }
    fn reset(&mut self) {
        self.steps = 0;
    }
}

#[test]
fn a_nan_parameter_is_named_and_the_step_undone() {
    let data = plane();
    let mut model = LinReg::<f64>::new(0.0, 0.0, 0.0);
    let trainer = Trainer::new(Poison {
        inner: Sgd::new(0.1),
        steps: 0,
    })
    .batch_size(1)
    .shuffle(false);
    let err = trainer.epochs(1).fit(&mut model, &data, None).unwrap_err();
    match err {
        TrainError::NonFinite {
            epoch: 1,
            step: 3,
            param_index: 1,
            param_name: "w[1]",
            value,
        } => {
            assert!(value.is_nan())
        }
        other => panic!("{other:?}"),
    }
    // The model holds the parameters after two good steps.
    let mut two_steps = LinReg::<f64>::new(0.0, 0.0, 0.0);
    Trainer::new(Sgd::new(0.1))
        .epochs(1)
        .batch_size(1)
        .shuffle(false)
        .fit(&mut two_steps, &data.subset(&[0, 1]), None)
        .unwrap();
    assert_eq!(model, two_steps);
}

#[test]
fn mismatched_widths_are_rejected_before_training() {
    let data = Dataset::new(vec![0.0; 6], 3, vec![0.0; 2], 1).unwrap();
    let mut model = LinReg::<f64>::new(0.0, 0.0, 0.0);
    let err = Trainer::new(Sgd::new(0.1))
        .fit(&mut model, &data, None)
        .unwrap_err();
    assert_eq!(
        err,
        TrainError::Shape {
            data: "training",
            what: "inputs",
            expected: 2,
            found: 3
        }
    );
    assert!(err.to_string().contains("3 inputs"), "{err}");
    let empty = Dataset::<f64>::new(vec![], 2, vec![], 1).unwrap();
    assert_eq!(
        Trainer::new(Sgd::new(0.1))
            .fit(&mut model, &empty, None)
            .unwrap_err(),
        TrainError::EmptyDataset
    );
}

#[test]
fn the_epoch_iterator_can_be_stopped_by_the_caller() {
    let data = plane();
    let mut model = LinReg::<f64>::new(0.0, 0.0, 0.0);
    let mut trainer = Trainer::new(Sgd::new(0.05)).epochs(100).batch_size(5);
    let mut seen = Vec::new();
    for report in trainer.iter_epochs(&mut model, &data, None).unwrap() {
        let report = report.unwrap();
        seen.push(report.epoch);
        let line = report.to_string();
        assert!(
            line.starts_with(&format!("epoch {:>3}/100  loss ", report.epoch)),
            "{line}"
        );
        if report.train_loss < 0.01 {
            break;
        }
    }
    assert!(seen.len() < 100 && seen.len() > 1, "{seen:?}");
    assert_eq!(seen, (1..=seen.len()).collect::<Vec<_>>());
    assert!(metrics::mean_loss(&model, &data) < 0.01);
}

#[test]
fn mse_and_mae_by_hand() {
    // y = x0 + x1 (w = 1, 1, b = 0): outputs 1 and 3 against targets 2 and 2.
    let model = LinReg::<f64>::new(1.0, 1.0, 0.0);
    let data = Dataset::from_rows(&[([0.5, 0.5], [2.0]), ([1.0, 2.0], [2.0])]);
    assert_eq!(metrics::mse(&model, &data), 1.0);
    assert_eq!(metrics::mae(&model, &data), 1.0);
    let data = Dataset::from_rows(&[([1.0, 1.0], [2.5]), ([1.0, 2.0], [2.0])]);
    // errors -0.5 and 1: mse (0.25 + 1) / 2, mae 1.5 / 2
    assert_eq!(metrics::mse(&model, &data), 0.625);
    assert_eq!(metrics::mae(&model, &data), 0.75);
    assert_eq!(metrics::predict(&model, &data), [2.0, 3.0]);
    assert_eq!(LinReg::<f64>::NUM_OUTPUTS, 1);
}

#[test]
fn binary_accuracy_thresholds_at_one_half() {
    // Output = x0; targets 0/1. Outputs 0.2, 0.7, 0.5, 0.4 -> classes 0, 1, 1, 0,
    // so samples 1 and 2 are right and 3 and 4 wrong.
    let model = LinReg::<f64>::new(1.0, 0.0, 0.0);
    let data = Dataset::from_rows(&[
        ([0.2, 0.0], [0.0]),
        ([0.7, 0.0], [1.0]),
        ([0.5, 0.0], [0.0]),
        ([0.4, 0.0], [1.0]),
    ]);
    assert_eq!(metrics::accuracy(&model, &data), 0.5);
}

#[test]
fn accuracy_reads_class_index_targets() {
    // 3 outputs, predicted class = argmax of x[0..3] (W = identity on the first three
    // inputs, b = 0). Predictions 0, 1, 2, 0, 1 against classes 0, 1, 2, 2, 1: 4 of 5.
    let mut model = Softmax::<f64>::zeros();
    for c in 0..3 {
        model.params[c * 4 + c] = 1.0;
    }
    let x = vec![
        1.0, 0.0, 0.0, 0.0, //
        0.0, 1.0, 0.0, 0.0, //
        0.0, 0.0, 1.0, 0.0, //
        1.0, 0.0, 0.5, 0.0, //
        0.2, 0.9, 0.0, 0.0,
    ];
    let labels = vec![0, 1, 2, 2, 1];
    let index_targets = vec![0.0, 1.0, 2.0, 2.0, 1.0];
    let one_hot = Dataset::classification(x.clone(), 4, labels.clone(), 3).unwrap();
    let sparse = Dataset::sparse_classification(x.clone(), 4, labels, 3).unwrap();
    // Class-index targets without stored labels: one target a sample, 3 outputs.
    let plain = Dataset::new(x.clone(), 4, index_targets, 1).unwrap();
    assert_eq!(plain.labels(), None);
    for data in [&one_hot, &sparse, &plain] {
        assert_eq!(metrics::accuracy(&model, data), 0.8);
        let cm = metrics::ConfusionMatrix::from_model(&model, data, 3);
        assert_eq!((cm.get(2, 2), cm.get(2, 0), cm.total()), (1, 1, 5));
    }
    // A target that is no class index (2.5, -1) matches no prediction.
    let bad = Dataset::new(x, 4, vec![0.0, 1.0, 2.5, -1.0, 1.0], 1).unwrap();
    assert_eq!(metrics::accuracy(&model, &bad), 0.6);
}

#[test]
fn restore_best_can_be_turned_off() {
    // Same diverging run as above; without restoring, the model keeps epoch 3's parameters.
    let data = plane();
    let mut model = LinReg::<f64>::new(0.0, 0.0, 0.0);
    let mut trainer = Trainer::new(Sgd::new(1.1))
        .epochs(50)
        .batch_size(25)
        .early_stopping(2, 0.0)
        .restore_best(false);
    assert!(format!("{trainer:?}").contains("restore_best: false"));
    let h = trainer.fit(&mut model, &data, Some(&data)).unwrap();
    assert_eq!(h.reports.len(), 3);
    assert_eq!(
        Some(metrics::mean_loss(&model, &data)),
        h.reports[2].eval_loss
    );
}

#[test]
fn gradient_clipping_by_hand() {
    // One sample x = (1, 0), t = 10, params 0: grad = 2 * (0 - 10) * (1, 0, 1) = (-20, 0, -20),
    // norm 20 sqrt 2, clipped to 0.5: (-0.5/sqrt 2, 0, -0.5/sqrt 2). With lr 1 the
    // parameters become (0.5/sqrt 2, 0, 0.5/sqrt 2).
    let data = Dataset::from_rows(&[([1.0, 0.0], [10.0])]);
    let mut model = LinReg::<f64>::new(0.0, 0.0, 0.0);
    Trainer::new(Sgd::new(1.0))
        .epochs(1)
        .clip_grad_norm(0.5)
        .fit(&mut model, &data, None)
        .unwrap();
    let e = 0.5 / 2f64.sqrt();
    assert!(
        (model.params[0] - e).abs() < 1e-15
            && model.params[1] == 0.0
            && (model.params[2] - e).abs() < 1e-15
    );
}
