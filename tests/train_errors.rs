//! A training run that meets a non-finite loss or gradient says where: the step, the
//! training sample, and the first non-finite parameter gradient by its DSL name.

use symnn::{network, Dataset, Sgd, TrainError, Trainer};

network! {
    /// Linear layers, so a huge input overflows the loss and one weight's gradient.
    struct Linear {
        input x[2];
        target t[1];
        let h1 = dense(x, 4, identity);
        output y = dense(h1, 1, identity);
        loss = mse(y, t);
    }
}

/// Only `h1.weight[3][0]` and `y.weight[0][3]` are non-zero, so sample 5's huge `x[0]`
/// reaches the output through unit 3 alone: its loss overflows and so does
/// dL/d`h1.weight[3][0]` = 2 (y - t) `y.weight[0][3]` x[0]; every earlier gradient is 0.
fn model() -> Linear {
    let mut params = [0.0; Linear::NUM_PARAMS];
    params[Linear::param_index("h1.weight[3][0]").unwrap()] = 1.0;
    params[Linear::param_index("y.weight[0][3]").unwrap()] = 0.5;
    Linear::from_params(params)
}

fn data() -> Dataset<f64> {
    let mut rows = vec![([0.5, -0.5], [1.0]); 8];
    rows[5] = ([1e300, 0.0], [0.0]);
    Dataset::from_rows(&rows)
}

#[test]
fn a_non_finite_loss_names_step_sample_and_parameter() {
    let mut net = model();
    let before = net.clone();
    let err = Trainer::new(Sgd::new(0.01))
        .batch_size(4)
        .shuffle(false)
        .threads(1)
        .fit(&mut net, &data(), None)
        .unwrap_err();
    let TrainError::NonFiniteLoss {
        epoch: 1,
        step: 2,
        sample: Some(5),
        param_name: Some("h1.weight[3][0]"),
        value,
    } = err
    else {
        panic!("{err:?}")
    };
    assert!(value.is_infinite());
    let text = err.to_string();
    for part in ["step 2", "training sample 5", "h1.weight[3][0]"] {
        assert!(text.contains(part), "{text:?} lacks {part:?}");
    }
    // The first step (samples 0-3) was taken; the failing one was not.
    assert_ne!(net, before);
    assert!(net.params.iter().all(|p| p.is_finite()));
}

#[test]
fn the_culprit_is_found_through_a_shuffle() {
    // Shuffled, the step and the sample's position in it vary with the seed, but the
    // sample named is the data set's row.
    let mut net = model();
    let err = Trainer::new(Sgd::new(0.01))
        .batch_size(4)
        .seed(7)
        .fit(&mut net, &data(), None)
        .unwrap_err();
    assert!(
        matches!(
            err,
            TrainError::NonFiniteLoss {
                epoch: 1,
                sample: Some(5),
                param_name: Some("h1.weight[3][0]"),
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_non_finite_gradient_with_a_finite_loss_names_its_sample() {
    // x[0] = 1e160 gives y = 5e159; a target 1e150 below it keeps the loss at 1e300,
    // but dL/d`h1.weight[3][0]` = 2 (y - t) 0.5 x[0] = 1e310 overflows.
    let mut net = model();
    let mut rows = vec![([0.5, -0.5], [1.0]); 8];
    rows[6] = ([1e160, 0.0], [5e159 - 1e150]);
    let err = Trainer::new(Sgd::new(0.01))
        .batch_size(8)
        .shuffle(false)
        .threads(1)
        .fit(&mut net, &Dataset::from_rows(&rows), None)
        .unwrap_err();
    assert!(
        matches!(
            err,
            TrainError::NonFiniteGradient {
                step: 1,
                param_name: "h1.weight[3][0]",
                sample: Some(6),
                ..
            }
        ),
        "{err:?}"
    );
}

network! {
    /// One weight per input, so input `k` is weight `k`'s gradient.
    struct Dot {
        input x[64];
        param w[64];
        output y = sum(w * x);
        loss = y;
    }
}

/// A step whose gradient is finite but whose update overflows `w[k]`: refused before
/// it is applied, on one thread or split across two (the overflowing weight in the
/// second thread's share), for plain SGD and Adam (previewed), and for an optimizer of
/// the user's own (which the trainer steps, checks and rolls back). The parameters are
/// untouched. (`lr * g` overflows for `w[50]` alone: g = 1e150 there, 0.25 elsewhere.)
#[test]
fn an_overflowing_update_is_refused_before_it_touches_anything() {
    /// Plain SGD written by a user: not element-wise as far as the trainer knows.
    #[derive(Debug)]
    struct MySgd(f64);
    impl symnn::Optimizer<f64> for MySgd {
        fn step(&mut self, params: &mut [f64], grad: &[f64]) {
            params
                .iter_mut()
                .zip(grad)
                .for_each(|(p, g)| *p -= self.0 * g);
        }
        fn learning_rate(&self) -> f64 {
            self.0
        }
        fn set_learning_rate(&mut self, lr: f64) {
            self.0 = lr;
        }
        fn reset(&mut self) {}
    }
    fn run<O: symnn::Optimizer<f64>>(opt: O, threads: usize) {
        let mut row = [0.25; 64];
        row[50] = 1e150;
        let data = Dataset::from_rows(&[(row, [0.0; 0]); 4]);
        let start = Dot::from_params([0.5; 64]);
        let mut net = start.clone();
        let err = Trainer::new(opt)
            .epochs(1)
            .batch_size(4)
            .threads(threads)
            .min_ops_per_thread(0)
            .fit(&mut net, &data, None)
            .unwrap_err();
        match err {
            TrainError::NonFinite {
                step,
                param_index,
                param_name,
                value,
                ..
            } => {
                assert_eq!((step, param_index, param_name), (1, 50, "w[50]"));
                assert!(value.is_infinite(), "{value}");
            }
            other => panic!("{other}"),
        }
        assert_eq!(net, start, "parameters changed by a refused step");
    }
    for threads in [1, 2] {
        run(Sgd::new(f64::MAX), threads);
        run(symnn::Adam::new(f64::MAX), threads);
        run(MySgd(f64::MAX), threads);
    }
}

/// The trainer skips the preview of a step that bounds on the parameters, the state
/// and the gradient prove finite (`Rule::bound`). A later step that would overflow
/// must still be caught: three ordinary steps, then one whose update overflows
/// `w[50]` (its input is 0 before, so the loss stays finite), refused with the
/// parameters as the three steps left them. (Adam's step is about `lr` whatever the
/// gradient, so it cannot overflow late like this; its bound is tested in
/// `elementwise.rs`.)
#[test]
fn an_overflow_after_proven_steps_is_still_refused() {
    fn run<O: symnn::Optimizer<f64> + Clone>(opt: O, threads: usize) {
        let mut small = [0.25; 64];
        small[50] = 0.0;
        let mut huge = small;
        huge[50] = 1e300;
        let rows = [
            (small, [0.0; 0]),
            (small, [0.0; 0]),
            (small, [0.0; 0]),
            (huge, [0.0; 0]),
        ];
        let trainer = |opt: O| {
            Trainer::new(opt)
                .epochs(1)
                .batch_size(1)
                .shuffle(false)
                .threads(threads)
                .min_ops_per_thread(0)
        };
        let mut expected = Dot::from_params([0.5; 64]);
        trainer(opt.clone())
            .fit(&mut expected, &Dataset::from_rows(&rows[..3]), None)
            .expect("three ordinary steps");
        let mut net = Dot::from_params([0.5; 64]);
        let err = trainer(opt)
            .fit(&mut net, &Dataset::from_rows(&rows), None)
            .unwrap_err();
        assert!(
            matches!(
                err,
                TrainError::NonFinite {
                    step: 4,
                    param_index: 50,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(net, expected, "parameters changed by the refused step");
        assert!(net.params.iter().all(|p| p.is_finite()));
        assert!(
            net.params[0] < -1e9,
            "the three steps moved w[0]: {}",
            net.params[0]
        );
    }
    for threads in [1, 2] {
        run(Sgd::new(1e10), threads);
        run(Sgd::new(1e10).momentum(0.9), threads);
    }
}
