mod common;

use common::{data_path, temp_dir};
use symnn_runtime::data::{one_hot, read_idx, CsvFormat, DataError};
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
fn constructors_taking_labels_reject_out_of_range_labels() {
    let is_label_error = |err: &DataError, row, label| {
        matches!(
            err,
            DataError::LabelOutOfRange { row: r, label: l, num_classes: 3 } if *r == row && *l == label
        )
    };
    let x = vec![0.0; 8];
    let err = Dataset::<f64>::classification(x.clone(), 2, vec![0, 2, 3, 1], 3).unwrap_err();
    assert!(is_label_error(&err, 2, 3), "{err:?}");
    assert_eq!(
        err.to_string(),
        "sample 2: class label 3 is out of range for 3 classes (expected 0..3)"
    );
    let err =
        Dataset::<f32>::sparse_classification(vec![0.0; 8], 2, vec![0, 1, 2, 7], 3).unwrap_err();
    assert!(is_label_error(&err, 3, 7), "{err:?}");
    // In range: accepted (label 2 of 3 is the last valid one).
    assert!(Dataset::<f64>::classification(x.clone(), 2, vec![0, 2, 2, 1], 3).is_ok());
    // Converting labelled data to class-index targets keeps the validated labels.
    let sparse = Dataset::<f64>::classification(x, 2, vec![0, 2, 2, 1], 3)
        .unwrap()
        .with_class_index_targets()
        .unwrap();
    assert_eq!(sparse.targets(), [0.0, 2.0, 2.0, 1.0]);
}

#[test]
fn class_index_targets_are_exact_or_rejected() {
    // 2^24 + 1 has no f32 representation: it would round to 2^24, another class.
    let big = (1 << 24) + 1;
    let err =
        Dataset::<f32>::sparse_classification(vec![0.0; 2], 1, vec![3, big], big + 1).unwrap_err();
    assert!(
        matches!(&err, DataError::Shape(m) if m.starts_with("sample 1: class label 16777217 has no exact f32 representation")),
        "{err}"
    );
    // In f64 it is exact; in f32 every label up to 2^24 is.
    let d = Dataset::<f64>::sparse_classification(vec![0.0; 2], 1, vec![3, big], big + 1).unwrap();
    assert_eq!(d.targets(), [3.0, 16_777_217.0]);
    let d = Dataset::<f32>::sparse_classification(vec![0.0; 2], 1, vec![3, 1 << 24], big).unwrap();
    assert_eq!(d.targets(), [3.0, 16_777_216.0]);
}

#[test]
fn sparse_targets_hold_the_class_index() {
    let x: Vec<f64> = (0..8).map(f64::from).collect();
    let d = Dataset::sparse_classification(x.clone(), 2, vec![2, 0, 1, 2], 3).unwrap();
    assert_eq!((d.len(), d.target_width()), (4, 1));
    assert_eq!(d.targets(), [2.0, 0.0, 1.0, 2.0]);
    assert_eq!(d.labels(), Some(&[2, 0, 1, 2][..]));
    assert_eq!(d.num_classes(), Some(3));
    assert_eq!(d.get(1), (&[2.0, 3.0][..], &[0.0][..]));
    // The same from one-hot data.
    let one_hot = Dataset::classification(x, 2, vec![2, 0, 1, 2], 3).unwrap();
    assert_eq!(one_hot.target_width(), 3);
    assert_eq!(one_hot.with_class_index_targets().unwrap(), d);
    // Classes (for splits and accuracy) still come from the labels.
    assert_eq!(
        (0..4).map(|i| d.class_of(i)).collect::<Vec<_>>(),
        [2, 0, 1, 2]
    );
    // Without labels there is no class index.
    let plain = Dataset::<f64>::new(vec![0.0; 2], 1, vec![0.5, 1.5], 1).unwrap();
    assert!(matches!(
        plain.with_class_index_targets(),
        Err(DataError::Shape(_))
    ));
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
        labels.extend(std::iter::repeat_n(c, n));
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

/// The real MNIST test set through `read_idx` (gzipped IDX, default build).
#[test]
fn read_idx_reads_the_mnist_test_set() {
    let images = read_idx(data_path("mnist/t10k-images-idx3-ubyte.gz")).unwrap();
    assert_eq!(images.magic(), 0x0000_0803);
    assert_eq!(images.dims(), [10_000, 28, 28]);
    assert_eq!(images.data().len(), 10_000 * 784);
    // Row 7 of the first image (a 7), columns 6..12: checked against Python's
    // gzip + struct reading of the same file.
    assert_eq!(
        &images.item(0)[7 * 28 + 6..7 * 28 + 12],
        [84, 185, 159, 151, 60, 36]
    );
    let labels = read_idx(data_path("mnist/t10k-labels-idx1-ubyte.gz")).unwrap();
    assert_eq!(labels.magic(), 0x0000_0801);
    assert_eq!(labels.dims(), [10_000]);
    let mut histogram = [0usize; 10];
    for &l in labels.data() {
        histogram[usize::from(l)] += 1;
    }
    // Independently computed with
    //   python3 -c "import gzip,collections; b=gzip.open('t10k-labels-idx1-ubyte.gz').read();
    //               print(sorted(collections.Counter(b[8:]).items()))"
    // which gives 980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009.
    assert_eq!(
        histogram,
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    assert_eq!(labels.data()[..3], [7, 2, 1]);
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

    /// An uncompressed IDX file of u8.
    fn write_idx(path: &std::path::Path, dims: &[u32], data: &[u8]) {
        let mut v = vec![0, 0, 0x08, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        std::fs::write(path, v).unwrap();
    }

    /// A small MNIST-shaped directory: `n` train and 1 test images of 2x3 pixels.
    fn tiny_mnist(name: &str, train_labels: &[u8]) -> std::path::PathBuf {
        let dir = super::temp_dir(name);
        let n = train_labels.len() as u32;
        let pixels: Vec<u8> = (0..n * 6).map(|i| (i * 51 % 256) as u8).collect();
        write_idx(&dir.join("train-images-idx3-ubyte"), &[n, 2, 3], &pixels);
        write_idx(&dir.join("train-labels-idx1-ubyte"), &[n], train_labels);
        write_idx(&dir.join("t10k-images-idx3-ubyte"), &[1, 2, 3], &[255; 6]);
        write_idx(&dir.join("t10k-labels-idx1-ubyte"), &[1], &[9]);
        dir
    }

    #[test]
    fn mnist_from_a_directory_scales_pixels_and_keeps_labels() {
        let dir = tiny_mnist("mnist-ok", &[3, 0]);
        let m = datasets::mnist_from::<f64>(&dir).unwrap();
        assert_eq!((m.train.len(), m.train.input_width()), (2, 6));
        assert_eq!(m.train.input(0), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(m.train.target(0), [0., 0., 0., 1., 0., 0., 0., 0., 0., 0.]);
        assert_eq!(m.train.labels(), Some(&[3, 0][..]));
        assert_eq!(m.test.input(0), [1.0; 6]);
        assert_eq!(m.test.with_class_index_targets().unwrap().target(0), [9.0]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn mnist_from_rejects_bad_labels_swapped_files_and_count_mismatch() {
        let dir = tiny_mnist("mnist-bad-label", &[3, 10]);
        let err = datasets::mnist_from::<f32>(&dir).unwrap_err().to_string();
        let file = dir.join("train-labels-idx1-ubyte");
        assert_eq!(
            err,
            format!(
                "{}: byte 9: label 10 of sample 1 is out of range for 10 classes (expected 0..10)",
                file.display()
            )
        );
        std::fs::remove_dir_all(dir).unwrap();

        let dir = tiny_mnist("mnist-swapped", &[3, 0]);
        std::fs::copy(
            dir.join("train-labels-idx1-ubyte"),
            dir.join("train-images-idx3-ubyte"),
        )
        .unwrap();
        let err = datasets::mnist_from::<f32>(&dir).unwrap_err().to_string();
        assert!(
            err.ends_with(
                "train-images-idx3-ubyte: byte 0: expected magic number 0x00000803 (u8, 3 dims), \
                 found 0x00000801 (u8, 1 dims)"
            ),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();

        let dir = tiny_mnist("mnist-count", &[3, 0]);
        write_idx(&dir.join("t10k-labels-idx1-ubyte"), &[2], &[1, 2]);
        let err = datasets::mnist_from::<f32>(&dir).unwrap_err().to_string();
        assert!(
            err.contains("1 images") && err.contains("2 labels"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();

        let err = datasets::mnist_from::<f32>("/nonexistent").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/nonexistent/train-images-idx3-ubyte: byte 0: I/O error"),
            "{err}"
        );
    }

    /// The real thing: 60,000 + 10,000 images from `data/mnist`.
    #[test]
    fn mnist() {
        let m = datasets::mnist::<f32>().unwrap();
        assert_eq!(
            (m.train.len(), m.train.input_width(), m.train.target_width()),
            (60_000, 784, 10)
        );
        assert_eq!((m.test.len(), m.test.input_width()), (10_000, 784));
        // Label counts checked against Python's gzip + struct (data/README.md).
        assert_eq!(
            counts(m.train.labels().unwrap(), 10),
            [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
        );
        assert_eq!(
            counts(m.test.labels().unwrap(), 10),
            [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
        );
        assert!(m.train.inputs().iter().all(|p| (0.0..=1.0).contains(p)));
        assert_eq!(m.test.input(0)[7 * 28 + 6], 84.0 / 255.0);
        assert_eq!(m.test.target(0)[7], 1.0);
    }
}
