mod common;

use common::{data_path, temp_dir};
use symnn_runtime::data::{one_hot, CsvFormat, DataError};
use symnn_runtime::{Dataset, Standardizer};

fn load(text: &str, format: &CsvFormat) -> Result<Dataset<f64>, DataError> {
    Dataset::from_csv_reader(text.as_bytes(), "mem.csv", format)
}

/// Asserts the error message names the source, the line and the column.
fn assert_at(err: &DataError, line: u64, column: usize) {
    let text = err.to_string();
    assert!(text.starts_with("mem.csv: "), "{text}");
    assert!(
        text.contains(&format!("line {line}, column {column}")),
        "{text}"
    );
}

#[test]
fn csv_wrong_column_count_names_line_and_column() {
    let f = CsvFormat::new(2).one_hot_label(3);
    let err = load("1,2,0\n3,4\n", &f).unwrap_err();
    assert_at(&err, 2, 3);
    assert!(
        err.to_string().ends_with("expected 3 columns, found 2"),
        "{err}"
    );
    let err = load("1,2,0\n3,4,1\n5,6,2,7\n", &f).unwrap_err();
    assert_at(&err, 3, 4);
}

#[test]
fn csv_non_numeric_cell_names_line_and_column() {
    let f = CsvFormat::new(2).targets(1);
    let err = load("1,2,3\n4,x,6\n", &f).unwrap_err();
    assert_at(&err, 2, 2);
    assert!(err.to_string().contains("found \"x\""), "{err}");
    // A target cell, and non-finite values, too.
    assert_at(&load("1,2,3\n4,5,six\n", &f).unwrap_err(), 2, 3);
    assert_at(&load("nan,2,3\n", &f).unwrap_err(), 1, 1);
    assert_at(&load("1,inf,3\n", &f).unwrap_err(), 1, 2);
}

#[test]
fn csv_label_out_of_range_names_line_and_column() {
    let f = CsvFormat::new(2).one_hot_label(3);
    let err = load("1,2,0\n1,2,2\n1,2,3\n", &f).unwrap_err();
    assert_at(&err, 3, 3);
    assert!(err.to_string().contains("integer in 0..3"), "{err}");
    assert_at(&load("1,2,1.5\n", &f).unwrap_err(), 1, 3);
    assert_at(&load("1,2,-1\n", &f).unwrap_err(), 1, 3);
}

#[test]
fn csv_line_numbers_count_skipped_header_lines() {
    let f = CsvFormat::new(2).one_hot_label(2).skip_rows(1);
    let err = load("a,b,label\n1,2,0\n1,zz,1\n", &f).unwrap_err();
    assert_at(&err, 3, 2);
}

#[test]
fn csv_errors_name_the_file() {
    let dir = temp_dir("csv-file");
    let path = dir.join("broken.csv");
    std::fs::write(&path, "1,2,0\n1,2\n").unwrap();
    let err =
        Dataset::<f32>::from_csv_path(&path, &CsvFormat::new(2).one_hot_label(2)).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{}: line 2, column 3", path.display())),
        "{text}"
    );
    let missing =
        Dataset::<f32>::from_csv_path(dir.join("nope.csv"), &CsvFormat::new(2)).unwrap_err();
    assert!(
        matches!(missing, DataError::Io { .. }) && missing.to_string().contains("nope.csv"),
        "{missing}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn csv_loads_targets_delimiters_and_exact_f32() {
    let f = CsvFormat::new(1).targets(2).delimiter(b';');
    let d = Dataset::<f32>::from_csv_reader(" 0.1 ;2;3\n4;5;6\n".as_bytes(), "x", &f).unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(d.get(0), (&[0.1f32][..], &[2.0f32, 3.0][..]));
    assert_eq!(d.target(1), [5.0, 6.0]);
    assert!(d.labels().is_none());
}

#[test]
fn iris_csv_loads_with_one_hot_labels() {
    let f = CsvFormat::new(4).one_hot_label(3).skip_rows(1);
    let d = Dataset::<f64>::from_csv_path(data_path("iris.csv"), &f).unwrap();
    assert_eq!(d.len(), 150);
    // The first sample of the file: 5.1,3.5,1.4,0.2,0
    assert_eq!(d.get(0), (&[5.1, 3.5, 1.4, 0.2][..], &[1.0, 0.0, 0.0][..]));
    let labels = d.labels().unwrap();
    for c in 0..3 {
        assert_eq!(labels.iter().filter(|&&l| l == c).count(), 50);
    }
    assert_eq!(d.num_classes(), Some(3));
}

#[test]
fn one_hot_by_hand() {
    assert_eq!(
        one_hot::<f64>(&[2, 0], 3).unwrap(),
        [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]
    );
    let err = one_hot::<f64>(&[0, 4], 3).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::LabelOutOfRange {
                row: 1,
                label: 4,
                num_classes: 3
            }
        ),
        "{err:?}"
    );
}

#[test]
fn dataset_new_checks_shapes() {
    assert!(Dataset::<f64>::new(vec![0.0; 5], 2, vec![0.0; 2], 1).is_err());
    assert!(Dataset::<f64>::new(vec![0.0; 6], 2, vec![0.0; 2], 1).is_err());
    let d = Dataset::<f64>::new(vec![], 0, vec![1.0, 2.0], 1).unwrap();
    assert_eq!((d.len(), d.input(1), d.target(1)), (2, &[][..], &[2.0][..]));
}

fn labelled(n_per_class: &[usize]) -> Dataset<f64> {
    let mut labels = Vec::new();
    for (c, &n) in n_per_class.iter().enumerate() {
        labels.extend(std::iter::repeat(c).take(n));
    }
    let features = (0..labels.len()).map(|i| i as f64).collect();
    Dataset::classification(features, 1, labels, n_per_class.len()).unwrap()
}

#[test]
fn split_is_a_seeded_partition() {
    let d = labelled(&[30, 10]);
    let (train, test) = d.split(0.25, 9);
    assert_eq!((train.len(), test.len()), (30, 10));
    let mut all: Vec<f64> = train
        .inputs()
        .iter()
        .chain(test.inputs())
        .copied()
        .collect();
    all.sort_by(f64::total_cmp);
    assert_eq!(all, (0..40).map(|i| i as f64).collect::<Vec<_>>());
    // Order is kept inside each half, and labels travel with their rows.
    assert!(test.inputs().windows(2).all(|w| w[0] < w[1]));
    for i in 0..test.len() {
        assert_eq!(
            test.labels().unwrap()[i],
            usize::from(test.input(i)[0] >= 30.0)
        );
    }
    assert_eq!(d.split(0.25, 9), (train, test.clone()));
    assert_ne!(d.split(0.25, 10).1, test);
}

#[test]
fn stratified_split_keeps_class_proportions() {
    let d = labelled(&[30, 10, 20]);
    let (train, test) = d.stratified_split(0.2, 4);
    let count =
        |data: &Dataset<f64>, c: usize| data.labels().unwrap().iter().filter(|&&l| l == c).count();
    assert_eq!(
        [count(&test, 0), count(&test, 1), count(&test, 2)],
        [6, 2, 4]
    );
    assert_eq!(
        [count(&train, 0), count(&train, 1), count(&train, 2)],
        [24, 8, 16]
    );
    // Without stored labels the class comes from the one-hot target rows.
    let unlabelled = Dataset::new(d.inputs().to_vec(), 1, d.targets().to_vec(), 3).unwrap();
    assert_eq!(
        unlabelled.stratified_split(0.2, 4).1.inputs(),
        test.inputs()
    );
}

#[test]
fn standardizer_uses_training_statistics() {
    // Column 0: 1, 3 -> mean 2, std 1. Column 1: constant 5 -> only centred.
    let mut train = Dataset::from_rows(&[([1.0, 5.0], [0.0]), ([3.0, 5.0], [0.0])]);
    let mut test = Dataset::from_rows(&[([5.0, 7.0], [0.0])]);
    let s = Standardizer::fit(&train);
    assert_eq!((s.mean(), s.std()), (&[2.0, 5.0][..], &[1.0, 1.0][..]));
    s.transform(&mut train);
    s.transform(&mut test);
    assert_eq!(train.inputs(), [-1.0, 0.0, 1.0, 0.0]);
    assert_eq!(test.input(0), [3.0, 2.0]);
    let mut row = [3.0, 2.0];
    s.inverse_row(&mut row);
    assert_eq!(row, [5.0, 7.0]);
}

#[test]
fn binary_targets_from_labels() {
    let d = labelled(&[2, 1]);
    let b = d.binary_targets().unwrap();
    assert_eq!((b.target_width(), b.targets()), (1, &[0.0, 0.0, 1.0][..]));
    assert!(labelled(&[1, 1, 1]).binary_targets().is_err());
    assert!(Dataset::from_rows(&[([1.0], [1.0])])
        .binary_targets()
        .is_err());
}

#[cfg(feature = "datasets")]
mod embedded {
    use symnn_runtime::datasets;

    fn counts(labels: &[usize], n: usize) -> Vec<usize> {
        (0..n)
            .map(|c| labels.iter().filter(|&&l| l == c).count())
            .collect()
    }

    #[test]
    fn iris() {
        let d = datasets::iris::<f64>();
        assert_eq!(d.class_names, ["setosa", "versicolor", "virginica"]);
        assert_eq!(
            (d.data.len(), d.data.input_width(), d.data.target_width()),
            (150, 4, 3)
        );
        assert_eq!(counts(d.data.labels().unwrap(), 3), [50, 50, 50]);
    }

    #[test]
    fn breast_cancer() {
        let d = datasets::breast_cancer::<f32>();
        assert_eq!(d.class_names, ["malignant", "benign"]);
        assert_eq!((d.data.len(), d.data.input_width()), (569, 30));
        assert_eq!(counts(d.data.labels().unwrap(), 2), [212, 357]);
        // First row of the file starts 17.99,10.38 and is malignant.
        assert_eq!(&d.data.input(0)[..2], [17.99f32, 10.38]);
        assert_eq!(d.data.binary_targets().unwrap().target(0), [0.0]);
    }

    #[test]
    fn digits() {
        let d = datasets::digits::<f64>();
        assert_eq!(
            (d.data.len(), d.data.input_width(), d.data.target_width()),
            (1797, 64, 10)
        );
        assert_eq!(d.class_names.len(), 10);
        assert!(d
            .data
            .inputs()
            .iter()
            .all(|&p| (0.0..=16.0).contains(&p) && p.fract() == 0.0));
        assert!(counts(d.data.labels().unwrap(), 10)
            .iter()
            .all(|&n| (170..=190).contains(&n)));
    }
}
