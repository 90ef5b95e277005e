//! The errors of loading and building data ([`DataError`]), with the [`Location`] of a
//! bad CSV cell and the [`IdxProblem`] of a bad IDX file. Re-exported from
//! [`data`](crate::data); kept apart so that the loaders (`data.rs`, `idx.rs`) depend on
//! these types and not on each other.

use std::fmt;
use std::io;

/// Where in a CSV source an error is: file (or source name), 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// File path or the source name given to [`Dataset::from_csv_reader`](crate::Dataset::from_csv_reader).
    pub file: String,
    /// 1-based line number.
    pub line: u64,
    /// 1-based column (field) number.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: line {}, column {}",
            self.file, self.line, self.column
        )
    }
}

/// Why data could not be loaded or built.
#[derive(Debug)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be opened or read.
    Io {
        /// The path.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The CSV reader failed (e.g. invalid UTF-8).
    Csv {
        /// The source name.
        file: String,
        /// 1-based line number (0 if unknown).
        line: u64,
        /// The `csv` crate's message.
        message: String,
    },
    /// A row has the wrong number of columns; `at.column` is the first missing or
    /// extra column.
    ColumnCount {
        /// Where.
        at: Location,
        /// Columns every row must have.
        expected: usize,
        /// Columns this row has.
        found: usize,
    },
    /// A cell that should hold a finite number does not.
    NotANumber {
        /// Where.
        at: Location,
        /// The cell's text.
        text: String,
    },
    /// A class-label cell is not an integer in `0..num_classes`.
    BadLabel {
        /// Where.
        at: Location,
        /// The cell's text.
        text: String,
        /// Number of classes.
        num_classes: usize,
    },
    /// An in-memory class label is not in `0..num_classes` (from
    /// [`one_hot`](crate::data::one_hot), [`Dataset::classification`](crate::Dataset::classification),
    /// [`Dataset::sparse_classification`](crate::Dataset::sparse_classification), ...).
    LabelOutOfRange {
        /// Sample index.
        row: usize,
        /// The label.
        label: usize,
        /// Number of classes.
        num_classes: usize,
    },
    /// Lengths and widths do not fit together.
    Shape(String),
    /// A saved preprocessing step (a [`Standardizer`](crate::Standardizer)) is
    /// malformed, or a fitted one holds values that cannot be saved.
    Preprocessing {
        /// The path or source name (`None` when saving to text).
        file: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// An IDX file is malformed or unreadable ([`read_idx`](crate::data::read_idx)).
    Idx {
        /// The path or source name.
        file: String,
        /// Byte offset of the problem in the (decompressed) stream.
        offset: u64,
        /// What is wrong.
        problem: IdxProblem,
    },
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Io { file, source } => write!(f, "{file}: {source}"),
            DataError::Csv {
                file,
                line,
                message,
            } => write!(f, "{file}: line {line}: {message}"),
            DataError::ColumnCount {
                at,
                expected,
                found,
            } => {
                write!(f, "{at}: expected {expected} columns, found {found}")
            }
            DataError::NotANumber { at, text } => {
                write!(f, "{at}: expected a finite number, found {text:?}")
            }
            DataError::BadLabel {
                at,
                text,
                num_classes,
            } => write!(
                f,
                "{at}: expected a class label (an integer in 0..{num_classes}), found {text:?}"
            ),
            DataError::LabelOutOfRange {
                row,
                label,
                num_classes,
            } => {
                write!(
                    f,
                    "sample {row}: class label {label} is out of range for {num_classes} \
                     classes (expected 0..{num_classes})"
                )
            }
            DataError::Shape(message) => write!(f, "{message}"),
            DataError::Preprocessing {
                file: Some(file),
                message,
            } => write!(f, "{file}: {message}"),
            DataError::Preprocessing {
                file: None,
                message,
            } => write!(f, "{message}"),
            DataError::Idx {
                file,
                offset,
                problem,
            } => write!(f, "{file}: byte {offset}: {problem}"),
        }
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DataError::Io { source, .. } => Some(source),
            DataError::Idx {
                problem: IdxProblem::Io(e) | IdxProblem::Gzip(e),
                ..
            } => Some(e),
            _ => None,
        }
    }
}

/// What is wrong with an IDX file; the file and the byte offset are in
/// [`DataError::Idx`].
#[derive(Debug)]
#[non_exhaustive]
pub enum IdxProblem {
    /// The file ends inside the header (`expected` header bytes, `found` of them).
    TruncatedHeader {
        /// Header length (4, or `4 + 4 n` once the dims byte is known).
        expected: usize,
        /// Bytes there were.
        found: usize,
    },
    /// The file ends inside the data.
    TruncatedData {
        /// The dimensions from the header.
        dims: Vec<usize>,
        /// Data bytes the dimensions call for.
        expected: u64,
        /// Data bytes there were.
        found: u64,
    },
    /// The first two bytes are not zero: not an IDX file.
    NotIdx {
        /// The first four bytes.
        found: [u8; 4],
    },
    /// An element type other than u8 (or not an IDX type at all).
    UnsupportedType(u8),
    /// A valid IDX file, but not the kind the caller needs (e.g. labels where images
    /// were expected).
    UnexpectedMagic {
        /// The magic number needed.
        expected: u32,
        /// The file's magic number.
        found: u32,
    },
    /// The dimensions multiply to more bytes than fit in memory (`usize`).
    TooLarge {
        /// The dimensions from the header.
        dims: Vec<usize>,
    },
    /// There are bytes after the data.
    TrailingData {
        /// How many.
        bytes: u64,
    },
    /// A class label outside `0..num_classes` (label files only).
    LabelOutOfRange {
        /// Sample index.
        sample: usize,
        /// The label.
        label: usize,
        /// Number of classes.
        num_classes: usize,
    },
    /// The gzip stream is corrupt (bad header, bad deflate data, CRC or length
    /// mismatch, or it ends early).
    Gzip(io::Error),
    /// The file could not be opened or read.
    Io(io::Error),
}

fn type_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0x08 => "u8",
        0x09 => "i8",
        0x0B => "i16",
        0x0C => "i32",
        0x0D => "f32",
        0x0E => "f64",
        _ => return None,
    })
}

fn describe_magic(magic: u32) -> String {
    let (ty, n) = ((magic >> 8) as u8, magic as u8);
    let ty = type_name(ty).map_or_else(|| format!("type 0x{ty:02x}"), str::to_string);
    format!("0x{magic:08x} ({ty}, {n} dims)")
}

impl fmt::Display for IdxProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdxProblem::TruncatedHeader { expected, found } => write!(
                f,
                "truncated IDX header: expected {expected} bytes, found {found}"
            ),
            IdxProblem::TruncatedData {
                dims,
                expected,
                found,
            } => write!(
                f,
                "truncated IDX data: dims {dims:?} need {expected} bytes, found {found}"
            ),
            IdxProblem::NotIdx { found } => {
                write!(
                    f,
                    "not an IDX file: the magic number must start with two zero bytes, \
                     found {:02x} {:02x} {:02x} {:02x}",
                    found[0], found[1], found[2], found[3]
                )?;
                if found[..2] == [0x1f, 0x8b] {
                    write!(f, " (a gzip header: name the file *.gz)")?;
                }
                Ok(())
            }
            IdxProblem::UnsupportedType(code) => match type_name(*code) {
                Some(name) => write!(
                    f,
                    "unsupported IDX element type 0x{code:02x} ({name}); only 0x08 (u8) is supported"
                ),
                None => write!(
                    f,
                    "unknown IDX element type 0x{code:02x}; only 0x08 (u8) is supported"
                ),
            },
            IdxProblem::UnexpectedMagic { expected, found } => write!(
                f,
                "expected magic number {}, found {}",
                describe_magic(*expected),
                describe_magic(*found)
            ),
            IdxProblem::TooLarge { dims } => {
                write!(f, "IDX dims {dims:?} are too large to load into memory")
            }
            IdxProblem::TrailingData { bytes } => {
                write!(f, "{bytes} unexpected bytes after the end of the IDX data")
            }
            IdxProblem::LabelOutOfRange {
                sample,
                label,
                num_classes,
            } => write!(
                f,
                "label {label} of sample {sample} is out of range for {num_classes} classes \
                 (expected 0..{num_classes})"
            ),
            IdxProblem::Gzip(e) => write!(f, "corrupt gzip stream: {e}"),
            IdxProblem::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}
