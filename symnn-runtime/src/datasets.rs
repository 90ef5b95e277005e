//! Real classification data sets (cargo feature `datasets`), so examples and tests
//! run offline with one call.
//!
//! Three small ones are embedded in the binary: scikit-learn 1.9.1's copies of UCI
//! data (CC BY 4.0); see `symnn-runtime/data/README.md`. Each loader returns the
//! features unscaled, with one-hot targets and the integer labels
//! ([`Dataset::labels`]), plus the class names. Typical use:
//! [`Dataset::stratified_split`], then a [`Standardizer`](crate::Standardizer) fitted
//! on the training half.
//!
//! MNIST (11 MiB of gzip) is *not* embedded: [`mnist`] reads the IDX files from this
//! crate's `data/mnist` directory at run time, and [`mnist_from`] from any directory.

use crate::data::{read_idx, CsvFormat, DataError, Idx, IdxProblem};
use crate::{Dataset, Float};
use std::io::Read;
use std::path::{Path, PathBuf};

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

/// MNIST's training and test sets (see [`mnist`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Mnist<F> {
    /// The 60,000 training images.
    pub train: Dataset<F>,
    /// The 10,000 test images.
    pub test: Dataset<F>,
}

/// Where [`mnist`] looks for the four files: this crate's `data/mnist` directory in
/// the source tree it was compiled from (not embedded in the binary).
pub const MNIST_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist");

/// MNIST (LeCun, Cortes, Burges; CC BY-SA 3.0): 28x28 grey images of handwritten
/// digits, 60,000 for training and 10,000 for testing, read from [`MNIST_DIR`] at run
/// time (the files are not embedded; that would add 11 MiB to every binary). They are
/// in the source repository but not in the published package (crates.io's size
/// limit); with a published crate, use [`mnist_from`] on your own copy.
///
/// Inputs are the 784 pixels row-major, scaled from 0..=255 to `[0, 1]` (`p / 255`);
/// targets are one-hot over the 10 classes; the integer labels are kept
/// ([`Dataset::labels`]). For the sparse form (the class index as one target) use
/// [`Dataset::with_class_index_targets`]. Memory: 784 values a sample, so about
/// 190 MB for the training set in `f32` and 380 MB in `f64`.
///
/// Errors ([`DataError::Idx`]) name the file and the byte offset; see
/// [`read_idx`].
pub fn mnist<F: Float>() -> Result<Mnist<F>, DataError> {
    mnist_from(MNIST_DIR)
}

/// [`mnist`] from another directory holding `train-images-idx3-ubyte`,
/// `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`,
/// each gzipped (`.gz`, preferred if both exist) or not. Any image size works (the
/// input width is rows x columns), so Fashion-MNIST's files load too; labels must be
/// in `0..10`.
pub fn mnist_from<F: Float>(dir: impl AsRef<Path>) -> Result<Mnist<F>, DataError> {
    let dir = dir.as_ref();
    Ok(Mnist {
        train: mnist_split(dir, "train")?,
        test: mnist_split(dir, "t10k")?,
    })
}

/// `dir/name.gz` if it exists, else `dir/name`.
fn idx_path(dir: &Path, name: &str) -> PathBuf {
    let gz = dir.join(format!("{name}.gz"));
    if gz.exists() {
        gz
    } else {
        dir.join(name)
    }
}

fn mnist_split<F: Float>(dir: &Path, prefix: &str) -> Result<Dataset<F>, DataError> {
    const CLASSES: usize = 10;
    let image_path = idx_path(dir, &format!("{prefix}-images-idx3-ubyte"));
    let label_path = idx_path(dir, &format!("{prefix}-labels-idx1-ubyte"));
    let images = read_idx(&image_path)?;
    let labels = read_idx(&label_path)?;
    let magic = |path: &Path, idx: &Idx, expected: u32| {
        if idx.magic() == expected {
            Ok(())
        } else {
            Err(DataError::Idx {
                file: path.display().to_string(),
                offset: 0,
                problem: IdxProblem::UnexpectedMagic {
                    expected,
                    found: idx.magic(),
                },
            })
        }
    };
    magic(&image_path, &images, 0x0000_0803)?;
    magic(&label_path, &labels, 0x0000_0801)?;
    if images.len() != labels.len() {
        return Err(DataError::Shape(format!(
            "{}: {} images, but {}: {} labels",
            image_path.display(),
            images.len(),
            label_path.display(),
            labels.len()
        )));
    }
    // Validate labels where they enter, naming the file and the byte (header: 8 bytes).
    if let Some(sample) = labels
        .data()
        .iter()
        .position(|&l| usize::from(l) >= CLASSES)
    {
        return Err(DataError::Idx {
            file: label_path.display().to_string(),
            offset: 8 + sample as u64,
            problem: IdxProblem::LabelOutOfRange {
                sample,
                label: usize::from(labels.data()[sample]),
                num_classes: CLASSES,
            },
        });
    }
    let width = images.item_len();
    let pixels: Vec<F> = images
        .data()
        .iter()
        .map(|&p| F::from_f64(f64::from(p) / 255.0))
        .collect();
    let labels: Vec<usize> = labels.data().iter().map(|&l| usize::from(l)).collect();
    Dataset::classification(pixels, width, labels, CLASSES)
}
