mod common;

use common::{temp_dir, LinReg, Softmax};
use serde_json::Value;
use symnn_runtime::checkpoint::{self, from_json, load_json, save_json, to_json};
use symnn_runtime::init::SplitMix64;
use symnn_runtime::CheckpointError;

/// Finite f64 values from random bit patterns (all exponents, subnormals included),
/// plus awkward hand-picked ones.
fn awkward_f64(rng: &mut SplitMix64, n: usize) -> Vec<f64> {
    let mut out = vec![
        0.1,
        1.0 / 3.0,
        -0.0,
        5e-324,
        f64::MIN_POSITIVE,
        f64::MAX,
        -f64::MAX,
        1e22,
        2.0f64.powi(60) + 2048.0,
    ];
    while out.len() < n {
        let x = f64::from_bits(rng.next_u64());
        if x.is_finite() {
            out.push(x);
        }
    }
    out
}

fn awkward_f32(rng: &mut SplitMix64, n: usize) -> Vec<f32> {
    let mut out = vec![
        0.1f32,
        1.0 / 3.0,
        -0.0,
        f32::from_bits(1),
        f32::MIN_POSITIVE,
        f32::MAX,
        16777217.0,
    ];
    while out.len() < n {
        let x = f32::from_bits(rng.next_u64() as u32);
        if x.is_finite() {
            out.push(x);
        }
    }
    out
}

fn bits64(m: &Softmax<f64>) -> Vec<u64> {
    m.params.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn json_round_trip_is_bit_exact_for_f64() {
    let mut rng = SplitMix64::new(1);
    let values = awkward_f64(&mut rng, 15 * 2000);
    for chunk in values.chunks(15) {
        let model = Softmax {
            params: chunk.to_vec(),
        };
        let mut back = Softmax::<f64>::zeros();
        from_json(&mut back, &to_json(&model).unwrap()).unwrap();
        assert_eq!(bits64(&back), bits64(&model), "{:?}", model.params);
    }
}

#[test]
fn json_round_trip_is_bit_exact_for_f32() {
    let mut rng = SplitMix64::new(2);
    let values = awkward_f32(&mut rng, 15 * 2000);
    for chunk in values.chunks(15) {
        let model = Softmax {
            params: chunk.to_vec(),
        };
        let mut back = Softmax::<f32>::zeros();
        from_json(&mut back, &to_json(&model).unwrap()).unwrap();
        let bits = |m: &Softmax<f32>| m.params.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&model), "{:?}", model.params);
    }
}

#[test]
fn json_layout_follows_the_param_groups() {
    let model = Softmax {
        params: (0..15).map(|i| i as f64 * 0.5).collect(),
    };
    let doc: Value = serde_json::from_str(&to_json(&model).unwrap()).unwrap();
    assert_eq!(doc["format"], "symnn");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["float"], "f64");
    // W is 3 rows of 4, row-major: W[1][2] is parameter 6.
    assert_eq!(doc["params"]["W"][1][2], 3.0);
    assert_eq!(doc["params"]["W"].as_array().unwrap().len(), 3);
    assert_eq!(doc["params"]["b"], serde_json::json!([6.0, 6.5, 7.0]));
    let lin: Value =
        serde_json::from_str(&to_json(&LinReg::<f32>::new(0.5, -1.0, 0.25)).unwrap()).unwrap();
    assert_eq!(lin["float"], "f32");
    assert_eq!(lin["params"]["b"], 0.25);
    assert_eq!(lin["params"]["w"], serde_json::json!([0.5, -1.0]));
}

#[test]
fn json_files_are_written_atomically_and_read_back() {
    let dir = temp_dir("json-files");
    let path = dir.join("model.json");
    let first = LinReg::<f64>::new(1.0, 2.0, 3.0);
    save_json(&first, &path).unwrap();
    let second = LinReg::<f64>::new(-1.5, 0.1, 1e-300);
    save_json(&second, &path).unwrap();
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["model.json"], "no temporary files are left behind");
    let mut back = LinReg::<f64>::new(0.0, 0.0, 0.0);
    load_json(&mut back, &path).unwrap();
    assert_eq!(back, second);
    let err = load_json(&mut back, dir.join("missing.json")).unwrap_err();
    assert!(
        matches!(err, CheckpointError::Io { .. }) && err.to_string().contains("missing.json"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Loads `text` into a model with known parameters; asserts it fails and leaves the
/// model untouched, and returns the error.
fn load_fails(text: &str) -> CheckpointError {
    let original = Softmax {
        params: (0..15).map(|i| i as f64).collect(),
    };
    let mut model = original.clone();
    let err = from_json(&mut model, text).unwrap_err();
    assert_eq!(model, original, "a failed load must not change the model");
    err
}

fn edited(f: impl FnOnce(&mut Value)) -> String {
    let mut doc: Value = serde_json::from_str(&to_json(&Softmax::<f64>::zeros()).unwrap()).unwrap();
    f(&mut doc);
    doc.to_string()
}

#[test]
fn json_mismatches_are_clear_errors() {
    let err = load_fails(&edited(|d| {
        d["params"].as_object_mut().unwrap().remove("b");
    }));
    assert!(
        matches!(&err, CheckpointError::Missing { name } if name == "b"),
        "{err:?}"
    );
    assert!(err.to_string().contains("\"b\" is missing"), "{err}");

    let err = load_fails(&edited(|d| d["params"]["extra"] = 1.0.into()));
    assert!(
        matches!(&err, CheckpointError::Unexpected { name } if name == "extra"),
        "{err:?}"
    );

    let err = load_fails(&edited(|d| {
        d["params"]["W"] = serde_json::json!([[1, 2, 3], [4, 5, 6], [7, 8, 9], [1, 2, 3]])
    }));
    match &err {
        CheckpointError::Shape {
            name,
            expected,
            found,
        } => {
            assert_eq!(
                (name.as_str(), expected.as_slice(), found.as_slice()),
                ("W", &[3, 4][..], &[4, 3][..])
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains("[4, 3]") && err.to_string().contains("[3, 4]"),
        "{err}"
    );

    // The last value is what fails: the earlier ones must not have been installed.
    let err = load_fails(&edited(|d| d["params"]["b"][2] = "x".into()));
    assert!(matches!(err, CheckpointError::Shape { .. }), "{err:?}");

    let err = load_fails(&to_json(&Softmax::<f32>::zeros()).unwrap());
    assert!(
        matches!(err, CheckpointError::Dtype { model: "f64", .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("f32") && err.to_string().contains("f64"),
        "{err}"
    );

    let err = load_fails(&edited(|d| d["format"] = "other".into()));
    assert!(matches!(err, CheckpointError::Format(_)), "{err:?}");
    assert!(matches!(
        load_fails("{not json"),
        CheckpointError::Format(_)
    ));
}

#[test]
fn non_finite_parameters_are_not_saved() {
    let dir = temp_dir("json-nan");
    let model = LinReg::<f64>::new(1.0, f64::NAN, 0.0);
    let err = save_json(&model, dir.join("m.json")).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::NonFinite { name, .. } if name == "w[1]"),
        "{err:?}"
    );
    assert!(
        std::fs::read_dir(&dir).unwrap().next().is_none(),
        "nothing is written"
    );
    std::fs::remove_dir_all(dir).unwrap();
    let _ = checkpoint::JSON_VERSION;
}

#[cfg(feature = "safetensors")]
mod safetensors_format {
    use super::*;
    use safetensors::tensor::{Dtype, SafeTensors, TensorView};
    use symnn_runtime::checkpoint::{
        from_safetensors, load_safetensors, save_safetensors, to_safetensors,
    };

    #[test]
    fn round_trip_is_bit_exact_for_f64_and_f32() {
        let mut rng = SplitMix64::new(3);
        for chunk in awkward_f64(&mut rng, 15 * 200).chunks(15) {
            let model = Softmax {
                params: chunk.to_vec(),
            };
            let mut back = Softmax::<f64>::zeros();
            from_safetensors(&mut back, &to_safetensors(&model).unwrap()).unwrap();
            assert_eq!(bits64(&back), bits64(&model));
        }
        for chunk in awkward_f32(&mut rng, 15 * 200).chunks(15) {
            let model = Softmax {
                params: chunk.to_vec(),
            };
            let mut back = Softmax::<f32>::zeros();
            from_safetensors(&mut back, &to_safetensors(&model).unwrap()).unwrap();
            let bits = |m: &Softmax<f32>| m.params.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&back), bits(&model));
        }
    }

    #[test]
    fn the_safetensors_crate_reads_our_files() {
        let dir = temp_dir("safetensors-read");
        let path = dir.join("softmax.safetensors");
        let model = Softmax {
            params: (0..15).map(|i| i as f32 - 7.5).collect(),
        };
        save_safetensors(&model, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let mut names = file.names();
        names.sort();
        assert_eq!(names, ["W", "b"]);
        let w = file.tensor("W").unwrap();
        assert_eq!((w.dtype(), w.shape()), (Dtype::F32, &[3, 4][..]));
        let expected: Vec<u8> = model.params[..12]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        assert_eq!(w.data(), expected.as_slice());
        let b = file.tensor("b").unwrap();
        assert_eq!((b.dtype(), b.shape()), (Dtype::F32, &[3][..]));
        assert_eq!(
            b.data(),
            [4.5f32, 5.5, 6.5]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect::<Vec<_>>()
        );

        // Scalars are rank-0 tensors.
        let lin_path = dir.join("lin.safetensors");
        save_safetensors(&LinReg::<f64>::new(1.0, 2.0, 3.0), &lin_path).unwrap();
        let bytes = std::fs::read(&lin_path).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let b = file.tensor("b").unwrap();
        assert_eq!(
            (b.dtype(), b.shape(), b.data()),
            (Dtype::F64, &[][..], &3.0f64.to_le_bytes()[..])
        );

        let mut back = LinReg::<f64>::new(0.0, 0.0, 0.0);
        load_safetensors(&mut back, &lin_path).unwrap();
        assert_eq!(back, LinReg::new(1.0, 2.0, 3.0));
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn file_with(tensors: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)>) -> Vec<u8> {
        let views: Vec<(String, TensorView<'_>)> = tensors
            .iter()
            .map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        safetensors::serialize(views, None).unwrap()
    }

    fn f64_bytes(n: usize) -> Vec<u8> {
        (0..n).flat_map(|i| (i as f64).to_le_bytes()).collect()
    }

    fn rejected(bytes: &[u8]) -> CheckpointError {
        let original = Softmax {
            params: vec![0.5; 15],
        };
        let mut model = original.clone();
        let err = from_safetensors(&mut model, bytes).unwrap_err();
        assert_eq!(model, original, "a failed load must not change the model");
        err
    }

    #[test]
    fn mismatches_are_rejected_and_the_model_untouched() {
        let good_b = ("b", Dtype::F64, vec![3], f64_bytes(3));
        let err = rejected(&file_with(vec![
            ("W", Dtype::F64, vec![4, 3], f64_bytes(12)),
            good_b.clone(),
        ]));
        assert!(
            matches!(&err, CheckpointError::Shape { name, found, .. } if name == "W" && found == &[4, 3]),
            "{err:?}"
        );

        let f32_w = ("W", Dtype::F32, vec![3, 4], vec![0u8; 48]);
        let err = rejected(&file_with(vec![f32_w, good_b.clone()]));
        assert!(
            matches!(err, CheckpointError::Dtype { model: "f64", .. }),
            "{err:?}"
        );

        let err = rejected(&file_with(vec![good_b.clone()]));
        assert!(
            matches!(&err, CheckpointError::Missing { name } if name == "W"),
            "{err:?}"
        );

        let err = rejected(&file_with(vec![
            ("W", Dtype::F64, vec![3, 4], f64_bytes(12)),
            good_b,
            ("c", Dtype::F64, vec![1], f64_bytes(1)),
        ]));
        assert!(
            matches!(&err, CheckpointError::Unexpected { name } if name == "c"),
            "{err:?}"
        );

        assert!(matches!(rejected(b"garbage"), CheckpointError::Format(_)));
    }
}
