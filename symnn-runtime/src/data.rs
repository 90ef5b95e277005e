//! Data sets in the shape training code wants them: fixed-width rows of inputs and
//! targets, each sample a pair of slices.
//!
//! Generated networks take `&[F]` inputs and targets of a known width, so a
//! [`Dataset`] stores all inputs in one flat row-major `Vec<F>` and all targets in
//! another. Iterating is then slicing, with no allocation per sample, and a
//! minibatch is a list of row indices. Classification data also keeps its integer
//! class labels, for stratified splits and metrics.
//!
//! Around it: CSV loading with errors that name file, line and column
//! ([`Dataset::from_csv_path`]), seeded (optionally stratified) train/test splits,
//! one-hot encoding and a [`Standardizer`] fitted on the training split only; and
//! [`read_idx`] for IDX files (MNIST's format), gzipped or not, with errors that name
//! file and byte offset.
//!
//! **Determinism.** Splits draw from `rand_pcg::Pcg64` (a generator whose output is
//! specified, so it is the same on every platform) seeded with `seed_from_u64`, and
//! shuffle with `rand`'s Fisher-Yates `SliceRandom::shuffle`: the same seed gives the
//! same split everywhere, for the same `rand`/`rand_pcg` minor versions.

pub use crate::data_error::{DataError, IdxProblem, Location};
pub use crate::idx::{read_idx, read_idx_from, Idx};
use crate::Float;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::io::Read;
use std::path::Path;

/// The random stream used for splits and shuffling: PCG-64 (`rand_pcg::Pcg64`),
/// whose output is specified and identical on every platform, seeded with
/// `seed_from_u64`. Shuffles use `rand`'s Fisher–Yates `SliceRandom::shuffle`.
/// Same seed, same `rand`/`rand_pcg` minor versions → same order everywhere.
pub(crate) fn rng(seed: u64) -> rand_pcg::Pcg64 {
    rand_pcg::Pcg64::seed_from_u64(seed)
}

/// Samples with fixed-width inputs and targets, stored row-major in two flat vectors.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset<F> {
    inputs: Vec<F>,
    targets: Vec<F>,
    input_width: usize,
    target_width: usize,
    labels: Option<Vec<usize>>,
    num_classes: Option<usize>,
}

impl<F: Float> Dataset<F> {
    /// A data set from flat row-major inputs (`input_width` values a sample) and
    /// targets (`target_width` values a sample).
    ///
    /// Fails if a length is not a multiple of its width or the sample counts differ.
    /// A width of 0 is allowed (networks without inputs or targets); then the other
    /// vector determines the count.
    pub fn new(
        inputs: Vec<F>,
        input_width: usize,
        targets: Vec<F>,
        target_width: usize,
    ) -> Result<Self, DataError> {
        let rows = |len: usize, width: usize, what: &str| -> Result<Option<usize>, DataError> {
            match width {
                0 if len == 0 => Ok(None),
                0 => Err(DataError::Shape(format!(
                    "{what}: width 0 but {len} values"
                ))),
                w if len.is_multiple_of(w) => Ok(Some(len / w)),
                w => Err(DataError::Shape(format!(
                    "{what}: {len} values is not a multiple of the width {w}"
                ))),
            }
        };
        let n_in = rows(inputs.len(), input_width, "inputs")?;
        let n_t = rows(targets.len(), target_width, "targets")?;
        if let (Some(a), Some(b)) = (n_in, n_t) {
            if a != b {
                return Err(DataError::Shape(format!(
                    "{a} input rows but {b} target rows"
                )));
            }
        }
        Ok(Dataset {
            inputs,
            targets,
            input_width,
            target_width,
            labels: None,
            num_classes: None,
        })
    }

    /// A data set from fixed-size arrays, the types generated networks use.
    pub fn from_rows<const I: usize, const T: usize>(rows: &[([F; I], [F; T])]) -> Self {
        Dataset {
            inputs: rows.iter().flat_map(|(x, _)| *x).collect(),
            targets: rows.iter().flat_map(|(_, t)| *t).collect(),
            input_width: I,
            target_width: T,
            labels: None,
            num_classes: None,
        }
    }

    /// A classification data set: `features` row-major with `width` values a sample,
    /// one label in `0..num_classes` a sample; targets are the one-hot encodings of
    /// the labels, and the labels are kept ([`Dataset::labels`]). Fails if a label is
    /// out of range ([`DataError::LabelOutOfRange`]) or the lengths disagree.
    pub fn classification(
        features: Vec<F>,
        width: usize,
        labels: Vec<usize>,
        num_classes: usize,
    ) -> Result<Self, DataError> {
        let targets = one_hot(&labels, num_classes)?;
        let mut data = Dataset::new(features, width, targets, num_classes)?;
        data.labels = Some(labels);
        data.num_classes = Some(num_classes);
        Ok(data)
    }

    /// A classification data set with *sparse* targets: one target a sample, the class
    /// index as a float (`2.0` for class 2; `target_width() == 1`), for a loss that
    /// takes the integer class (sparse categorical cross-entropy) instead of a one-hot
    /// row. The labels are kept ([`Dataset::labels`]), as in
    /// [`classification`](Dataset::classification). Fails if a label is not in
    /// `0..num_classes` ([`DataError::LabelOutOfRange`]) or the lengths disagree.
    pub fn sparse_classification(
        features: Vec<F>,
        width: usize,
        labels: Vec<usize>,
        num_classes: usize,
    ) -> Result<Self, DataError> {
        check_labels(&labels, num_classes)?;
        let targets = class_index_targets(&labels)?;
        let mut data = Dataset::new(features, width, targets, 1)?;
        data.labels = Some(labels);
        data.num_classes = Some(num_classes);
        Ok(data)
    }

    /// The same samples with sparse targets: one target a sample, the class index as
    /// a float (see [`sparse_classification`](Dataset::sparse_classification)). Fails
    /// unless the data set has labels.
    pub fn with_class_index_targets(&self) -> Result<Self, DataError> {
        let (Some(labels), Some(num_classes)) = (&self.labels, self.num_classes) else {
            return Err(DataError::Shape(
                "with_class_index_targets needs a data set with class labels".into(),
            ));
        };
        check_labels(labels, num_classes)?;
        let mut data = self.clone();
        data.targets = class_index_targets(labels)?;
        data.target_width = 1;
        Ok(data)
    }

    /// The same samples with one target a sample, the label as `0.0` or `1.0`: the
    /// encoding for a single sigmoid output. Fails unless the data set has labels
    /// and at most two classes.
    pub fn binary_targets(&self) -> Result<Self, DataError> {
        let labels = self.labels.as_ref().ok_or_else(|| {
            DataError::Shape("binary_targets needs a data set with class labels".into())
        })?;
        if let Some((row, &label)) = labels.iter().enumerate().find(|(_, &l)| l > 1) {
            return Err(DataError::LabelOutOfRange {
                row,
                label,
                num_classes: 2,
            });
        }
        let mut data = self.clone();
        data.targets = labels
            .iter()
            .map(|&l| if l == 1 { F::ONE } else { F::ZERO })
            .collect();
        data.target_width = 1;
        data.num_classes = Some(2);
        Ok(data)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        (self.inputs.len().checked_div(self.input_width))
            .or_else(|| self.targets.len().checked_div(self.target_width))
            .unwrap_or(0)
    }
    /// True if there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Values per input row.
    pub fn input_width(&self) -> usize {
        self.input_width
    }
    /// Values per target row.
    pub fn target_width(&self) -> usize {
        self.target_width
    }
    /// Input row `i`.
    pub fn input(&self, i: usize) -> &[F] {
        &self.inputs[i * self.input_width..(i + 1) * self.input_width]
    }
    /// Target row `i`.
    pub fn target(&self, i: usize) -> &[F] {
        &self.targets[i * self.target_width..(i + 1) * self.target_width]
    }
    /// Sample `i` as `(input, target)`.
    pub fn get(&self, i: usize) -> (&[F], &[F]) {
        (self.input(i), self.target(i))
    }
    /// All samples in order, as `(input, target)` slices.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[F], &[F])> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }
    /// All inputs, flat row-major.
    pub fn inputs(&self) -> &[F] {
        &self.inputs
    }
    /// All targets, flat row-major.
    pub fn targets(&self) -> &[F] {
        &self.targets
    }
    /// Class labels, if the data set was built from labels.
    pub fn labels(&self) -> Option<&[usize]> {
        self.labels.as_deref()
    }
    /// Number of classes, if the data set was built from labels.
    pub fn num_classes(&self) -> Option<usize> {
        self.num_classes
    }

    /// The class of sample `i`: its label if known; otherwise, for one target a
    /// sample, the class index it holds (`2.0` is class 2, so a 0/1 target is class 0
    /// or 1), or for a target that is not a whole number, a probability (`1` if it is
    /// at least `0.5`, else `0`); for two or more targets, the argmax of the row (a
    /// one-hot row's class).
    pub fn class_of(&self, i: usize) -> usize {
        match (&self.labels, self.target(i)) {
            (Some(labels), _) => labels[i],
            (None, &[x]) => match crate::metrics::class_index(x) {
                usize::MAX => usize::from(x.to_f64() >= 0.5),
                index => index,
            },
            (None, row) => crate::metrics::argmax(row),
        }
    }

    /// A new data set with the samples at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Self {
        let mut out = Dataset {
            inputs: Vec::with_capacity(indices.len() * self.input_width),
            targets: Vec::with_capacity(indices.len() * self.target_width),
            input_width: self.input_width,
            target_width: self.target_width,
            labels: self
                .labels
                .as_ref()
                .map(|_| Vec::with_capacity(indices.len())),
            num_classes: self.num_classes,
        };
        for &i in indices {
            out.inputs.extend_from_slice(self.input(i));
            out.targets.extend_from_slice(self.target(i));
            if let (Some(dst), Some(src)) = (&mut out.labels, &self.labels) {
                dst.push(src[i]);
            }
        }
        out
    }

    /// Splits into `(train, test)` with `round(len * test_fraction)` random samples in
    /// `test`, chosen by a seeded shuffle (see the [module docs](self) on determinism); both
    /// halves keep the original sample order.
    pub fn split(&self, test_fraction: f64, seed: u64) -> (Self, Self) {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        idx.shuffle(&mut rng(seed));
        let n_test = fraction_of(self.len(), test_fraction);
        self.split_at_indices(&idx[..n_test])
    }

    /// Like [`split`](Dataset::split), but takes `round(n_c * test_fraction)` samples
    /// of every class `c` (see [`class_of`](Dataset::class_of)), so both halves keep
    /// the class proportions.
    pub fn stratified_split(&self, test_fraction: f64, seed: u64) -> (Self, Self) {
        let mut rng = rng(seed);
        // The samples of each class, classes in increasing order (only those present:
        // an empty class draws nothing from the stream anyway).
        let mut classes: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for i in 0..self.len() {
            classes.entry(self.class_of(i)).or_default().push(i);
        }
        let mut test = Vec::new();
        for idx in classes.values_mut() {
            idx.shuffle(&mut rng);
            test.extend_from_slice(&idx[..fraction_of(idx.len(), test_fraction)]);
        }
        self.split_at_indices(&test)
    }

    fn split_at_indices(&self, test: &[usize]) -> (Self, Self) {
        let mut in_test = vec![false; self.len()];
        for &i in test {
            in_test[i] = true;
        }
        let train: Vec<usize> = (0..self.len()).filter(|&i| !in_test[i]).collect();
        let test: Vec<usize> = (0..self.len()).filter(|&i| in_test[i]).collect();
        (self.subset(&train), self.subset(&test))
    }

    /// Applies `f` to every input row in place (e.g. a fitted [`Standardizer`]).
    pub fn map_inputs(&mut self, mut f: impl FnMut(&mut [F])) {
        if self.input_width > 0 {
            self.inputs
                .chunks_exact_mut(self.input_width)
                .for_each(&mut f);
        }
    }

    /// Loads a CSV file; see [`CsvFormat`] for the column layout. Errors name the
    /// file, the line and the column.
    pub fn from_csv_path(path: impl AsRef<Path>, format: &CsvFormat) -> Result<Self, DataError> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| DataError::Io {
            file: path.display().to_string(),
            source: e,
        })?;
        Self::from_csv_reader(
            std::io::BufReader::new(file),
            &path.display().to_string(),
            format,
        )
    }

    /// Loads CSV text from `reader`; `source` names it in error messages.
    pub fn from_csv_reader(
        reader: impl Read,
        source: &str,
        format: &CsvFormat,
    ) -> Result<Self, DataError> {
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .delimiter(format.delimiter)
            .from_reader(reader);
        let expected = format.inputs + format.target.columns();
        let (mut inputs, mut targets, mut labels) = (Vec::new(), Vec::new(), Vec::new());
        let mut record = csv::StringRecord::new();
        let mut row = 0usize;
        loop {
            match csv.read_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => return Err(csv_error(source, e)),
            }
            row += 1;
            if row <= format.skip_rows {
                continue;
            }
            let line = record.position().map_or(0, |p| p.line());
            let at = |column: usize| Location {
                file: source.to_string(),
                line,
                column,
            };
            if record.len() != expected {
                return Err(DataError::ColumnCount {
                    at: at(expected.min(record.len()) + 1),
                    expected,
                    found: record.len(),
                });
            }
            for (c, cell) in record.iter().enumerate().take(format.inputs) {
                inputs.push(parse_float::<F>(cell).ok_or_else(|| DataError::NotANumber {
                    at: at(c + 1),
                    text: cell.to_string(),
                })?);
            }
            match format.target {
                CsvTarget::Columns(n) => {
                    for (c, cell) in record.iter().enumerate().skip(format.inputs).take(n) {
                        targets.push(parse_float::<F>(cell).ok_or_else(|| {
                            DataError::NotANumber {
                                at: at(c + 1),
                                text: cell.to_string(),
                            }
                        })?);
                    }
                }
                CsvTarget::OneHot { classes } => {
                    let cell = &record[format.inputs];
                    match parse_label(cell) {
                        Some(label) if label < classes => labels.push(label),
                        _ => {
                            return Err(DataError::BadLabel {
                                at: at(format.inputs + 1),
                                text: cell.to_string(),
                                num_classes: classes,
                            })
                        }
                    }
                }
            }
        }
        match format.target {
            CsvTarget::Columns(n) => Dataset::new(inputs, format.inputs, targets, n),
            CsvTarget::OneHot { classes } => {
                Dataset::classification(inputs, format.inputs, labels, classes)
            }
        }
    }
}

fn fraction_of(n: usize, fraction: f64) -> usize {
    ((n as f64 * fraction.clamp(0.0, 1.0)).round() as usize).min(n)
}

/// Parses a finite number straight into `F` (no double rounding through `f64` for `f32`).
fn parse_float<F: Float>(text: &str) -> Option<F> {
    let value = if F::NAME == "f32" {
        F::from_f64(f64::from(text.parse::<f32>().ok()?))
    } else {
        F::from_f64(text.parse::<f64>().ok()?)
    };
    value.is_finite().then_some(value)
}

/// A class label: a non-negative integer, written `2` or `2.0`.
fn parse_label(text: &str) -> Option<usize> {
    text.parse::<usize>().ok().or_else(|| {
        let x = text.parse::<f64>().ok()?;
        (x >= 0.0 && x.fract() == 0.0 && x < 1e15).then_some(x as usize)
    })
}

fn csv_error(source: &str, e: csv::Error) -> DataError {
    let line = e.position().map_or(0, |p| p.line());
    DataError::Csv {
        file: source.to_string(),
        line,
        message: e.to_string(),
    }
}

/// Checks every label is in `0..num_classes`; the error names the first bad sample.
fn check_labels(labels: &[usize], num_classes: usize) -> Result<(), DataError> {
    match labels.iter().position(|&l| l >= num_classes) {
        Some(row) => Err(DataError::LabelOutOfRange {
            row,
            label: labels[row],
            num_classes,
        }),
        None => Ok(()),
    }
}

/// The labels as class-index targets (`2` as `2.0`). Fails if a label has no exact
/// representation in `F` (above 2^24 in `f32`), rather than rounding it to another class.
fn class_index_targets<F: Float>(labels: &[usize]) -> Result<Vec<F>, DataError> {
    labels
        .iter()
        .enumerate()
        .map(|(row, &label)| {
            let x = F::from_f64(label as f64);
            if x.to_f64() == label as f64 {
                Ok(x)
            } else {
                Err(DataError::Shape(format!(
                    "sample {row}: class label {label} has no exact {} representation, so it cannot be a class-index target",
                    F::NAME
                )))
            }
        })
        .collect()
}

/// One-hot encodes `labels` into a flat row-major `labels.len() x num_classes` vector.
/// Fails with [`DataError::LabelOutOfRange`] (naming the sample, the label and the
/// number of classes) if a label is not in `0..num_classes`.
pub fn one_hot<F: Float>(labels: &[usize], num_classes: usize) -> Result<Vec<F>, DataError> {
    check_labels(labels, num_classes)?;
    let mut out = vec![F::ZERO; labels.len() * num_classes];
    for (row, &label) in labels.iter().enumerate() {
        out[row * num_classes + label] = F::ONE;
    }
    Ok(out)
}

/// How the columns of a CSV file map to inputs and targets: the first
/// `inputs` columns are the inputs, the ones after them the target (every row must
/// have exactly that many columns).
///
/// ```
/// use symnn_runtime::data::CsvFormat;
/// // 4 features then a class label in 0..3, after one header line:
/// let iris = CsvFormat::new(4).one_hot_label(3).skip_rows(1);
/// // 2 inputs then 1 numeric target, semicolon-separated:
/// let reg = CsvFormat::new(2).targets(1).delimiter(b';');
/// # let _ = (iris, reg);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CsvFormat {
    inputs: usize,
    target: CsvTarget,
    skip_rows: usize,
    delimiter: u8,
}

/// The target columns of a [`CsvFormat`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsvTarget {
    /// This many numeric target columns, used as they are.
    Columns(usize),
    /// One column with an integer class label in `0..classes`, one-hot encoded.
    OneHot {
        /// Number of classes.
        classes: usize,
    },
}

impl CsvTarget {
    fn columns(self) -> usize {
        match self {
            CsvTarget::Columns(n) => n,
            CsvTarget::OneHot { .. } => 1,
        }
    }
}

impl CsvFormat {
    /// `inputs` input columns, no target columns, no header, comma-separated.
    pub fn new(inputs: usize) -> Self {
        CsvFormat {
            inputs,
            target: CsvTarget::Columns(0),
            skip_rows: 0,
            delimiter: b',',
        }
    }
    /// `n` numeric target columns after the inputs.
    pub fn targets(mut self, n: usize) -> Self {
        self.target = CsvTarget::Columns(n);
        self
    }
    /// One class-label column after the inputs, one-hot encoded into `classes` targets.
    pub fn one_hot_label(mut self, classes: usize) -> Self {
        self.target = CsvTarget::OneHot { classes };
        self
    }
    /// Skips the first `n` records (header lines).
    pub fn skip_rows(mut self, n: usize) -> Self {
        self.skip_rows = n;
        self
    }
    /// The field delimiter (default `b','`).
    pub fn delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = delimiter;
        self
    }
}

/// Per-column standardisation `x' = (x - mean) / std`, fitted on training inputs and
/// then applied unchanged to every split, so no test statistics leak into training.
/// Columns with zero variance are only centred.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer<F> {
    mean: Vec<F>,
    std: Vec<F>,
}

impl<F: Float> Standardizer<F> {
    /// Fits means and (population) standard deviations of `data`'s input columns,
    /// accumulating in `f64`.
    pub fn fit(data: &Dataset<F>) -> Self {
        let w = data.input_width();
        let n = data.len().max(1) as f64;
        let mut mean = vec![0.0f64; w];
        for (x, _) in data.iter() {
            for (m, v) in mean.iter_mut().zip(x) {
                *m += v.to_f64();
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0f64; w];
        for (x, _) in data.iter() {
            for ((s, v), m) in var.iter_mut().zip(x).zip(&mean) {
                *s += (v.to_f64() - m).powi(2);
            }
        }
        Standardizer {
            mean: mean.iter().map(|&m| F::from_f64(m)).collect(),
            std: var
                .iter()
                .map(|&s| {
                    let sd = (s / n).sqrt();
                    F::from_f64(if sd > 0.0 { sd } else { 1.0 })
                })
                .collect(),
        }
    }
    /// Column means.
    pub fn mean(&self) -> &[F] {
        &self.mean
    }
    /// Column standard deviations (1 for constant columns).
    pub fn std(&self) -> &[F] {
        &self.std
    }
    /// Standardises one input row in place.
    pub fn transform_row(&self, row: &mut [F]) {
        assert_eq!(
            row.len(),
            self.mean.len(),
            "Standardizer: row width differs from fit"
        );
        for ((x, &m), &s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
            *x = (*x - m) / s;
        }
    }
    /// Undoes [`transform_row`](Standardizer::transform_row).
    pub fn inverse_row(&self, row: &mut [F]) {
        for ((x, &m), &s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
            *x = *x * s + m;
        }
    }
    /// Standardises every input row of `data` in place.
    pub fn transform(&self, data: &mut Dataset<F>) {
        data.map_inputs(|row| self.transform_row(row));
    }

    /// A standardizer with these column means and standard deviations, e.g. from
    /// another tool. Fails unless both have the same length, every value is finite
    /// and every standard deviation positive.
    pub fn from_parts(mean: Vec<F>, std: Vec<F>) -> Result<Self, DataError> {
        check_parts(&mean, &std).map_err(|message| DataError::Preprocessing {
            file: None,
            message,
        })?;
        Ok(Standardizer { mean, std })
    }

    /// The fitted standardizer as JSON text, to restore it in another process with
    /// [`from_json`](Standardizer::from_json) (see [`save`](Standardizer::save)):
    ///
    /// ```json
    /// {"format": "symnn-standardizer", "version": 1, "float": "f32", "mean": [..], "std": [..]}
    /// ```
    ///
    /// Values round-trip bit-exactly, as in JSON checkpoints (`f32` values are
    /// written as the `f64` they widen to). Fails if a value is not finite (fitted on
    /// data with NaN or infinities), which could not be restored.
    pub fn to_json(&self) -> Result<String, DataError> {
        let doc = self
            .to_value()
            .map_err(|message| DataError::Preprocessing {
                file: None,
                message,
            })?;
        Ok(serde_json::to_string_pretty(&doc).expect("a JSON value always serialises"))
    }

    /// The JSON object of [`to_json`](Standardizer::to_json) (also stored in
    /// checkpoints, see `checkpoint::to_json_with_standardizer`).
    pub(crate) fn to_value(&self) -> Result<serde_json::Value, String> {
        check_parts(&self.mean, &self.std)
            .map_err(|message| format!("cannot save this standardizer: {message}"))?;
        let numbers = |values: &[F]| -> Vec<serde_json::Value> {
            values
                .iter()
                .map(|v| serde_json::json!(v.to_f64()))
                .collect()
        };
        Ok(serde_json::json!({
            "format": STANDARDIZER_FORMAT,
            "version": STANDARDIZER_VERSION,
            "float": F::NAME,
            "mean": numbers(&self.mean),
            "std": numbers(&self.std),
        }))
    }

    /// Restores a standardizer from the text of [`to_json`](Standardizer::to_json);
    /// `source` names the text in errors (a file name). Fails, naming `source`, if
    /// the text is not a saved standardizer, holds another float type, or its values
    /// are not finite, of equal lengths, with positive standard deviations.
    pub fn from_json(text: &str, source: &str) -> Result<Self, DataError> {
        parse_standardizer(text).map_err(|message| DataError::Preprocessing {
            file: Some(source.to_string()),
            message,
        })
    }

    /// Writes [`to_json`](Standardizer::to_json) to `path` atomically (a temporary
    /// file in the same directory, synced, then renamed over `path`, as checkpoints
    /// are written), so a reader sees the old file or the new one, never part of one.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), DataError> {
        let text = self.to_json()?;
        let path = path.as_ref();
        crate::atomic_write::write_atomic(path, text.as_bytes()).map_err(|source| DataError::Io {
            file: path.display().to_string(),
            source,
        })
    }

    /// Reads a standardizer written by [`save`](Standardizer::save). Errors name the
    /// file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, DataError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| DataError::Io {
            file: path.display().to_string(),
            source: e,
        })?;
        Self::from_json(&text, &path.display().to_string())
    }
}

/// The `"format"` of a saved [`Standardizer`].
pub const STANDARDIZER_FORMAT: &str = "symnn-standardizer";
/// The `"version"` of a saved [`Standardizer`].
pub const STANDARDIZER_VERSION: u64 = 1;

/// Why these means and standard deviations make no standardizer.
fn check_parts<F: Float>(mean: &[F], std: &[F]) -> Result<(), String> {
    if mean.len() != std.len() {
        return Err(format!(
            "{} means but {} standard deviations",
            mean.len(),
            std.len()
        ));
    }
    for (what, values) in [("mean", mean), ("std", std)] {
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(format!("{what}[{i}] is {}", values[i].to_f64()));
        }
    }
    match std.iter().position(|&s| s <= F::ZERO) {
        Some(i) => Err(format!(
            "std[{i}] is {}, but a standard deviation must be positive",
            std[i].to_f64()
        )),
        None => Ok(()),
    }
}

fn parse_standardizer<F: Float>(text: &str) -> Result<Standardizer<F>, String> {
    let doc = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    standardizer_from_value(&doc)
}

/// The standardizer of a JSON object written by [`Standardizer::to_value`].
pub(crate) fn standardizer_from_value<F: Float>(
    doc: &serde_json::Value,
) -> Result<Standardizer<F>, String> {
    let field = |key: &str| doc.get(key).ok_or_else(|| format!("missing field {key:?}"));
    if field("format")?.as_str() != Some(STANDARDIZER_FORMAT) {
        return Err(format!(
            "not a saved standardizer (\"format\" is not {STANDARDIZER_FORMAT:?})"
        ));
    }
    if field("version")?.as_u64() != Some(STANDARDIZER_VERSION) {
        return Err(format!("unsupported version {}", field("version")?));
    }
    let float = field("float")?.as_str().unwrap_or("?");
    if float != F::NAME {
        return Err(format!(
            "the standardizer was saved for {float}, but is loaded as {}",
            F::NAME
        ));
    }
    let numbers = |key: &str| -> Result<Vec<F>, String> {
        let items = field(key)?
            .as_array()
            .ok_or_else(|| format!("{key:?} is not an array"))?;
        items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_f64()
                    .map(F::from_f64)
                    .ok_or_else(|| format!("{key}[{i}] is not a number: {v}"))
            })
            .collect()
    };
    let (mean, std) = (numbers("mean")?, numbers("std")?);
    check_parts(&mean, &std)?;
    Ok(Standardizer { mean, std })
}
