//! Three small real classification data sets, embedded in the binary (cargo feature
//! `datasets`), so examples and tests run offline with one call.
//!
//! They are scikit-learn 1.9.1's copies of UCI data (CC BY 4.0); see
//! `symnn-runtime/data/README.md`. Each loader returns the features unscaled, with
//! one-hot targets and the integer labels ([`Dataset::labels`]), plus the class
//! names. Typical use: [`Dataset::stratified_split`], then a
//! [`Standardizer`](crate::Standardizer) fitted on the training half.

use crate::data::CsvFormat;
use crate::{Dataset, Float};
use std::io::Read;

/// A classification data set and the names of its classes.
#[derive(Clone, Debug, PartialEq)]
pub struct Classification<F> {
    /// Features as inputs, one-hot labels as targets, labels kept.
    pub data: Dataset<F>,
    /// Class names, indexed by label.
    pub class_names: Vec<String>,
}

const IRIS: &[u8] = include_bytes!("../data/iris.csv");
const BREAST_CANCER: &[u8] = include_bytes!("../data/breast_cancer.csv");
const DIGITS_GZ: &[u8] = include_bytes!("../data/digits.csv.gz");

/// Parses scikit-learn's format: a first line `samples,features,class names...`,
/// then one sample a line with the label last.
fn with_header<F: Float>(text: &str, source: &str) -> Classification<F> {
    let (header, body) = text
        .split_once('\n')
        .expect("embedded data has a header line");
    let fields: Vec<&str> = header.trim().split(',').collect();
    let samples: usize = fields[0].parse().expect("sample count");
    let features: usize = fields[1].parse().expect("feature count");
    let class_names: Vec<String> = fields[2..].iter().map(|s| s.to_string()).collect();
    let format = CsvFormat::new(features).one_hot_label(class_names.len());
    let data = Dataset::from_csv_reader(body.as_bytes(), source, &format)
        .unwrap_or_else(|e| panic!("embedded data set is malformed: {e}"));
    assert_eq!(data.len(), samples, "{source}: header sample count");
    Classification { data, class_names }
}

/// Iris (Fisher 1936): 150 flowers, 4 measurements in cm (sepal length and width,
/// petal length and width), 3 classes `setosa`, `versicolor`, `virginica`, 50 each.
pub fn iris<F: Float>() -> Classification<F> {
    with_header(std::str::from_utf8(IRIS).expect("UTF-8"), "iris.csv")
}

/// Breast cancer Wisconsin (diagnostic): 569 tumours, 30 features computed from
/// images of cell nuclei, 2 classes `malignant` (212) and `benign` (357). For a
/// single sigmoid output use [`Dataset::binary_targets`].
pub fn breast_cancer<F: Float>() -> Classification<F> {
    with_header(
        std::str::from_utf8(BREAST_CANCER).expect("UTF-8"),
        "breast_cancer.csv",
    )
}

/// Handwritten digits (UCI optical recognition, test part): 1797 images of 8x8
/// pixels with values 0..=16 (row-major), 10 classes `"0"` to `"9"`.
pub fn digits<F: Float>() -> Classification<F> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(DIGITS_GZ)
        .read_to_string(&mut text)
        .expect("valid gzip");
    let format = CsvFormat::new(64).one_hot_label(10);
    let data = Dataset::from_csv_reader(text.as_bytes(), "digits.csv", &format)
        .unwrap_or_else(|e| panic!("embedded data set is malformed: {e}"));
    Classification {
        data,
        class_names: (0..10).map(|d| d.to_string()).collect(),
    }
}
