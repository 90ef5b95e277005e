//! A fitted `Standardizer` saved and restored: identical values after the round trip,
//! an atomic write, and errors that name the file.
mod common;

use common::{temp_dir, LinReg};
use symnn_runtime::checkpoint::{self, CheckpointError};
use symnn_runtime::data::{DataError, STANDARDIZER_FORMAT};
use symnn_runtime::{Dataset, Float, Model, Standardizer};

/// Columns with awkward values (no short decimal form), a negative one and a
/// constant one (standard deviation 1 after fitting).
fn fitted<F: Float>() -> (Standardizer<F>, Dataset<F>) {
    let rows: Vec<([F; 3], [F; 1])> = (0..7)
        .map(|i| {
            let x = f64::from(i);
            let row = [(x * 0.1).sin() / 3.0, -1e-3 * x.powi(3) + 0.7, 5.0];
            (row.map(F::from_f64), [F::ZERO])
        })
        .collect();
    let data = Dataset::from_rows(&rows);
    (Standardizer::fit(&data), data)
}

fn bits<F: Float>(values: &[F]) -> Vec<u64> {
    values.iter().map(|v| v.to_f64().to_bits()).collect()
}

fn round_trip<F: Float>(name: &str) {
    let dir = temp_dir(name);
    let path = dir.join("scaler.json");
    let (scaler, data) = fitted::<F>();
    scaler.save(&path).unwrap();
    let restored = Standardizer::<F>::load(&path).unwrap();
    assert_eq!(bits(restored.mean()), bits(scaler.mean()));
    assert_eq!(bits(restored.std()), bits(scaler.std()));
    assert_eq!(restored, scaler);
    // It transforms exactly as the original does.
    let (mut a, mut b) = (data.clone(), data);
    scaler.transform(&mut a);
    restored.transform(&mut b);
    assert_eq!(bits(a.inputs()), bits(b.inputs()));
    // The atomic write leaves only the file itself.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["scaler.json"]);
    // The text says what it is.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(STANDARDIZER_FORMAT), "{text}");
    assert!(
        text.contains(&format!("\"float\": \"{}\"", F::NAME)),
        "{text}"
    );
    // Saving again replaces the file.
    let rows = [([1.0, 2.0, 3.0].map(F::from_f64), [F::ZERO]); 2];
    let other = Standardizer::fit(&Dataset::from_rows(&rows));
    other.save(&path).unwrap();
    assert_eq!(Standardizer::<F>::load(&path).unwrap(), other);
}

#[test]
fn a_saved_standardizer_restores_identically_f64() {
    round_trip::<f64>("scaler-f64");
}

#[test]
fn a_saved_standardizer_restores_identically_f32() {
    round_trip::<f32>("scaler-f32");
}

#[test]
fn bad_files_name_the_file() {
    let dir = temp_dir("scaler-bad");
    let path = dir.join("scaler.json");
    let shown = path.display().to_string();
    let load_error = |text: &str| {
        std::fs::write(&path, text).unwrap();
        let error = Standardizer::<f64>::load(&path).unwrap_err();
        assert!(
            matches!(error, DataError::Preprocessing { file: Some(ref f), .. } if *f == shown),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.starts_with(&format!("{shown}: ")), "{message}");
        message
    };
    assert!(load_error("{ not json").contains("not JSON"));
    assert!(
        load_error(r#"{"format": "symnn", "version": 1, "float": "f64", "params": {}}"#)
            .contains("not a saved standardizer")
    );
    let good = {
        let (scaler, _) = fitted::<f64>();
        scaler.to_json().unwrap()
    };
    assert!(load_error(&good.replace("\"f64\"", "\"f32\""))
        .contains("saved for f32, but is loaded as f64"));
    let f32_text = fitted::<f32>().0.to_json().unwrap();
    assert!(load_error(&f32_text).contains("saved for f32, but is loaded as f64"));
    assert!(
        load_error(&good.replace("\"version\": 1", "\"version\": 7"))
            .contains("unsupported version 7")
    );
    assert!(load_error(r#"{"format": "symnn-standardizer", "version": 1, "float": "f64", "mean": [1.0, 2.0], "std": [1.0]}"#)
        .contains("2 means but 1 standard deviations"));
    assert!(load_error(r#"{"format": "symnn-standardizer", "version": 1, "float": "f64", "mean": [1.0], "std": [0.0]}"#)
        .contains("std[0] is 0, but a standard deviation must be positive"));
    assert!(load_error(r#"{"format": "symnn-standardizer", "version": 1, "float": "f64", "mean": ["a"], "std": [1.0]}"#)
        .contains("mean[0] is not a number"));
    assert!(load_error(
        r#"{"format": "symnn-standardizer", "version": 1, "float": "f64", "std": [1.0]}"#
    )
    .contains("missing field \"mean\""));
    // A missing file is an I/O error naming it.
    let missing = dir.join("nope.json");
    let error = Standardizer::<f64>::load(&missing).unwrap_err();
    assert!(matches!(error, DataError::Io { .. }), "{error:?}");
    assert!(error
        .to_string()
        .starts_with(&missing.display().to_string()));
}

#[test]
fn from_parts_checks_and_non_finite_fits_do_not_save() {
    let s = Standardizer::from_parts(vec![1.0, -2.0], vec![0.5, 4.0]).unwrap();
    let mut row = [2.0, 2.0];
    s.transform_row(&mut row);
    assert_eq!(row, [2.0, 1.0]);
    assert!(Standardizer::from_parts(vec![1.0], vec![-1.0]).is_err());
    assert!(Standardizer::from_parts(vec![f64::NAN], vec![1.0]).is_err());
    // Fitted on data with an infinity: refused at save time, not at load time.
    let data = Dataset::from_rows(&[([f64::INFINITY], [0.0]), ([1.0], [0.0])]);
    let error = Standardizer::fit(&data).to_json().unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("cannot save this standardizer: mean[0] is inf"),
        "{error}"
    );
    let dir = temp_dir("scaler-inf");
    assert!(Standardizer::fit(&data).save(dir.join("s.json")).is_err());
    assert!(std::fs::read_dir(&dir).unwrap().next().is_none());
}

#[test]
fn a_checkpoint_can_carry_the_standardizer() {
    let dir = temp_dir("scaler-checkpoint");
    let path = dir.join("model.json");
    let model = LinReg::<f32>::new(0.1, -2.5, 1.0 / 3.0);
    let rows: Vec<([f32; 2], [f32; 1])> = (0..5)
        .map(|i| ([i as f32 * 0.3, 1.0 / (1.0 + i as f32)], [0.0]))
        .collect();
    let scaler = Standardizer::fit(&Dataset::from_rows(&rows));
    checkpoint::save_json_with_standardizer(&model, &scaler, &path).unwrap();
    let mut restored = LinReg::<f32>::new(0.0, 0.0, 0.0);
    let restored_scaler = checkpoint::load_json_with_standardizer(&mut restored, &path).unwrap();
    assert_eq!(bits(restored.params()), bits(model.params()));
    assert_eq!(bits(restored_scaler.mean()), bits(scaler.mean()));
    assert_eq!(bits(restored_scaler.std()), bits(scaler.std()));
    // A plain checkpoint reader still reads the parameters.
    let mut plain = LinReg::<f32>::new(0.0, 0.0, 0.0);
    checkpoint::load_json(&mut plain, &path).unwrap();
    assert_eq!(plain, model);

    // The standardizer must fit the model's inputs.
    let three_columns = fitted::<f32>().0;
    let error = checkpoint::to_json_with_standardizer(&model, &three_columns).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid checkpoint: the standardizer has 3 columns but the model takes 2 inputs"
    );
    // A checkpoint without one, or with a bad one, is an error naming the file, and
    // leaves the model as it was.
    let shown = path.display().to_string();
    let expect_error = |text: &str, what: &str| {
        std::fs::write(&path, text).unwrap();
        let mut untouched = LinReg::<f32>::new(7.0, 7.0, 7.0);
        let error = checkpoint::load_json_with_standardizer(&mut untouched, &path).unwrap_err();
        assert!(matches!(error, CheckpointError::Format(_)), "{error:?}");
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("invalid checkpoint: {shown}: ")),
            "{message}"
        );
        assert!(message.contains(what), "{message}");
        assert_eq!(untouched, LinReg::<f32>::new(7.0, 7.0, 7.0));
    };
    let without = checkpoint::to_json(&model).unwrap();
    expect_error(&without, "no \"standardizer\" in the checkpoint");
    let with = checkpoint::to_json_with_standardizer(&model, &scaler).unwrap();
    let std0 = format!("{}", scaler.std()[0].to_f64());
    assert!(with.contains(&std0), "{with}");
    expect_error(
        &with.replacen(&std0, "-1.0", 1),
        "standardizer: std[0] is -1, but a standard deviation must be positive",
    );
}
