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
