//! The IDX file format (LeCun's format for MNIST and its relatives), gzip-transparent.
//!
//! An IDX file is a header and a dense row-major array:
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 2 | two zero bytes |
//! | 2 | 1 | element type: `0x08` u8, `0x09` i8, `0x0B` i16, `0x0C` i32, `0x0D` f32, `0x0E` f64 |
//! | 3 | 1 | number of dimensions `n` |
//! | 4 | `4 n` | the dimensions, big-endian u32 each |
//! | `4 + 4 n` | product of the dims × element size | the data |
//!
//! So MNIST's images start with the magic number `0x00000803` (u8, 3 dims: count, rows,
//! columns) and its labels with `0x00000801` (u8, 1 dim: count). Only u8 data is
//! supported; other element types are rejected with [`IdxProblem::UnsupportedType`].
//! The file must end right after the data.

use crate::data_error::{DataError, IdxProblem};
use std::cell::Cell;
use std::io::{self, Read};
use std::path::Path;
use std::rc::Rc;

/// The contents of an IDX file of u8 elements: its dimensions and its data, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    dims: Vec<usize>,
    data: Vec<u8>,
}

impl Idx {
    /// The IDX type code of u8 data.
    pub const TYPE_U8: u8 = 0x08;

    /// An `Idx` from dimensions and matching row-major data (`None` if the data length
    /// is not the product of the dimensions).
    pub fn new(dims: Vec<usize>, data: Vec<u8>) -> Option<Self> {
        (dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) == Some(data.len()))
            .then_some(Idx { dims, data })
    }
    /// The magic number, e.g. `0x00000803` for MNIST images (u8, 3 dims).
    pub fn magic(&self) -> u32 {
        (u32::from(Self::TYPE_U8) << 8) | self.dims.len() as u32
    }
    /// The dimensions, outermost first (MNIST images: `[count, 28, 28]`).
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }
    /// All elements, row-major.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
    /// All elements, row-major, without copying.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }
    /// Number of items: the first dimension (1 for a file with no dimensions).
    pub fn len(&self) -> usize {
        self.dims.first().copied().unwrap_or(1)
    }
    /// True if there are no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Elements per item: the product of the dimensions after the first (784 for MNIST
    /// images, 1 for labels).
    pub fn item_len(&self) -> usize {
        self.dims.iter().skip(1).product()
    }
    /// Item `i` (an image, a label), row-major. Panics if `i >= len()`.
    pub fn item(&self, i: usize) -> &[u8] {
        let n = self.item_len();
        &self.data[i * n..(i + 1) * n]
    }
}

/// Reads an IDX file of u8 elements, gunzipping it first if its name ends in `.gz`.
///
/// Every failure is a [`DataError::Idx`] naming the file and the byte offset in the
/// (decompressed) stream: a truncated header or data, a file that is not IDX, an
/// element type other than u8, bytes after the data, a corrupt gzip stream, or an
/// I/O error.
///
/// ```no_run
/// let images = symnn_runtime::data::read_idx("t10k-images-idx3-ubyte.gz")?;
/// assert_eq!(images.dims(), [10_000, 28, 28]);
/// # Ok::<(), symnn_runtime::DataError>(())
/// ```
pub fn read_idx(path: impl AsRef<Path>) -> Result<Idx, DataError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| DataError::Idx {
        file: name.clone(),
        offset: 0,
        problem: IdxProblem::Io(e),
    })?;
    let gzip = path.extension().is_some_and(|e| e == "gz");
    read_idx_from(io::BufReader::new(file), &name, gzip)
}

/// Reads IDX data from `reader` (gzip-compressed if `gzip`); `source` names it in
/// error messages. See [`read_idx`].
pub fn read_idx_from(reader: impl Read, source: &str, gzip: bool) -> Result<Idx, DataError> {
    let inner_failed = Rc::new(Cell::new(false));
    let input = if gzip {
        Input::Gzip(flate2::read::GzDecoder::new(FlagErrors {
            inner: reader,
            failed: Rc::clone(&inner_failed),
        }))
    } else {
        Input::Plain(reader)
    };
    let mut s = Stream {
        input,
        pos: 0,
        inner_failed,
        source,
    };

    let mut head = [0u8; 4];
    let n = s.fill(&mut head)?;
    if n < 4 {
        return Err(s.error(IdxProblem::TruncatedHeader {
            expected: 4,
            found: n,
        }));
    }
    if head[..2] != [0, 0] {
        return Err(s.error_at(0, IdxProblem::NotIdx { found: head }));
    }
    if head[2] != Idx::TYPE_U8 {
        return Err(s.error_at(2, IdxProblem::UnsupportedType(head[2])));
    }
    let ndims = usize::from(head[3]);
    let header_len = 4 + 4 * ndims;
    let mut raw = vec![0u8; 4 * ndims];
    let n = s.fill(&mut raw)?;
    if n < raw.len() {
        return Err(s.error(IdxProblem::TruncatedHeader {
            expected: header_len,
            found: 4 + n,
        }));
    }
    let dims: Vec<usize> = raw
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let Some(expected) = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) else {
        return Err(s.error_at(4, IdxProblem::TooLarge { dims }));
    };

    // Grow the buffer as data arrives rather than trusting the header with one huge
    // allocation.
    let mut data = Vec::with_capacity(expected.min(1 << 24));
    while data.len() < expected {
        let start = data.len();
        let want = (expected - start).min(1 << 20);
        data.resize(start + want, 0);
        let n = s.fill(&mut data[start..])?;
        if n < want {
            return Err(s.error(IdxProblem::TruncatedData {
                dims,
                expected: expected as u64,
                found: (start + n) as u64,
            }));
        }
    }

    // Read to the end: this also makes the gzip decoder check its CRC and length.
    let end = s.pos;
    let mut probe = [0u8; 4096];
    let mut extra = 0u64;
    loop {
        let n = s.fill(&mut probe)?;
        if n == 0 {
            break;
        }
        extra += n as u64;
    }
    if extra > 0 {
        return Err(s.error_at(end, IdxProblem::TrailingData { bytes: extra }));
    }
    Ok(Idx { dims, data })
}

enum Input<R: Read> {
    Plain(R),
    Gzip(flate2::read::GzDecoder<FlagErrors<R>>),
}

impl<R: Read> Read for Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::Plain(r) => r.read(buf),
            Input::Gzip(r) => r.read(buf),
        }
    }
}

/// Passes reads through and remembers whether the underlying reader failed, to tell
/// an I/O error from a corrupt gzip stream (the decoder reports both as `io::Error`).
struct FlagErrors<R> {
    inner: R,
    failed: Rc<Cell<bool>>,
}

impl<R: Read> Read for FlagErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = self.inner.read(buf);
        if r.is_err() {
            self.failed.set(true);
        }
        r
    }
}

/// The decompressed byte stream and the offset in it.
struct Stream<'a, R: Read> {
    input: Input<R>,
    pos: u64,
    inner_failed: Rc<Cell<bool>>,
    source: &'a str,
}

impl<R: Read> Stream<'_, R> {
    fn error_at(&self, offset: u64, problem: IdxProblem) -> DataError {
        DataError::Idx {
            file: self.source.to_string(),
            offset,
            problem,
        }
    }
    fn error(&self, problem: IdxProblem) -> DataError {
        self.error_at(self.pos, problem)
    }

    /// Reads until `buf` is full or the stream ends; returns the bytes read.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, DataError> {
        let mut n = 0;
        while n < buf.len() {
            match self.input.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => {
                    n += k;
                    self.pos += k as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let gzip = matches!(self.input, Input::Gzip(_));
                    return Err(self.error(if gzip && !self.inner_failed.get() {
                        IdxProblem::Gzip(e)
                    } else {
                        IdxProblem::Io(e)
                    }));
                }
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IDX file of u8 with these dims and data.
    fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 0x08, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn read(bytes: &[u8]) -> Result<Idx, DataError> {
        read_idx_from(bytes, "mem.idx", false)
    }

    fn read_gz(bytes: &[u8]) -> Result<Idx, DataError> {
        read_idx_from(bytes, "mem.idx.gz", true)
    }

    /// The error's offset and problem, after checking its message names file and offset.
    fn fails(r: Result<Idx, DataError>) -> (u64, IdxProblem) {
        let err = r.unwrap_err();
        let text = err.to_string();
        match err {
            DataError::Idx {
                file,
                offset,
                problem,
            } => {
                assert!(file.starts_with("mem.idx"), "{file}");
                assert_eq!(text, format!("{file}: byte {offset}: {problem}"));
                (offset, problem)
            }
            other => panic!("expected DataError::Idx, got {other:?}"),
        }
    }

    #[test]
    fn reads_images_and_labels_plain_and_gzipped() {
        let pixels: Vec<u8> = (0..2 * 3 * 2).collect();
        let bytes = idx_bytes(&[2, 3, 2], &pixels);
        for idx in [read(&bytes).unwrap(), read_gz(&gz(&bytes)).unwrap()] {
            assert_eq!(idx.dims(), [2, 3, 2]);
            assert_eq!(idx.magic(), 0x0000_0803);
            assert_eq!((idx.len(), idx.item_len()), (2, 6));
            assert_eq!(idx.item(1), [6, 7, 8, 9, 10, 11]);
            assert_eq!(idx.data(), pixels);
        }
        let labels = read(&idx_bytes(&[3], &[7, 0, 9])).unwrap();
        assert_eq!(
            (labels.magic(), labels.dims(), labels.data()),
            (0x0000_0801, &[3][..], &[7, 0, 9][..])
        );
        // Zero items is a valid (empty) file.
        assert!(read(&idx_bytes(&[0, 28, 28], &[])).unwrap().is_empty());
    }

    #[test]
    fn truncated_header() {
        let (offset, p) = fails(read(&[0, 0, 8]));
        assert_eq!(offset, 3);
        assert!(
            matches!(
                p,
                IdxProblem::TruncatedHeader {
                    expected: 4,
                    found: 3
                }
            ),
            "{p:?}"
        );
        // Dims byte says 3 dims (16-byte header), only 1.5 dims there.
        let bytes = idx_bytes(&[10, 28, 28], &[]);
        let (offset, p) = fails(read(&bytes[..10]));
        assert_eq!(offset, 10);
        assert!(
            matches!(
                p,
                IdxProblem::TruncatedHeader {
                    expected: 16,
                    found: 10
                }
            ),
            "{p:?}"
        );
        assert_eq!(
            p.to_string(),
            "truncated IDX header: expected 16 bytes, found 10"
        );
        // Same through gzip: the offset is in the decompressed stream.
        let (offset, _) = fails(read_gz(&gz(&bytes[..10])));
        assert_eq!(offset, 10);
        // Empty file.
        let (offset, p) = fails(read(&[]));
        assert_eq!(offset, 0);
        assert!(matches!(p, IdxProblem::TruncatedHeader { found: 0, .. }));
    }

    #[test]
    fn truncated_data_says_expected_and_found() {
        let bytes = idx_bytes(&[2, 2, 2], &[1, 2, 3, 4, 5]);
        for r in [read(&bytes), read_gz(&gz(&bytes))] {
            let (offset, p) = fails(r);
            assert_eq!(offset, 16 + 5);
            assert_eq!(
                p.to_string(),
                "truncated IDX data: dims [2, 2, 2] need 8 bytes, found 5"
            );
        }
        let err = read(&bytes).unwrap_err().to_string();
        assert_eq!(
            err,
            "mem.idx: byte 21: truncated IDX data: dims [2, 2, 2] need 8 bytes, found 5"
        );
    }

    #[test]
    fn wrong_magic_and_unsupported_types() {
        let (offset, p) = fails(read(&[0x12, 0x34, 0x08, 0x01, 0, 0, 0, 0]));
        assert_eq!(offset, 0);
        assert!(
            matches!(p, IdxProblem::NotIdx { found } if found == [0x12, 0x34, 0x08, 0x01]),
            "{p:?}"
        );
        // A gzip file read as plain IDX gets a hint.
        let (_, p) = fails(read(&gz(&idx_bytes(&[1], &[0]))));
        assert!(p.to_string().contains("name the file *.gz"), "{p}");
        // f32 data (type 0x0D), and a type byte that is not an IDX type.
        let (offset, p) = fails(read(&[0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0]));
        assert_eq!(offset, 2);
        assert_eq!(
            p.to_string(),
            "unsupported IDX element type 0x0d (f32); only 0x08 (u8) is supported"
        );
        let (offset, p) = fails(read(&[0, 0, 0x42, 1, 0, 0, 0, 0]));
        assert_eq!(offset, 2);
        assert!(matches!(p, IdxProblem::UnsupportedType(0x42)));
        assert!(p.to_string().starts_with("unknown IDX element type 0x42"));
    }

    #[test]
    fn trailing_bytes_and_oversized_dims() {
        let mut bytes = idx_bytes(&[2], &[1, 2]);
        bytes.extend_from_slice(&[9, 9, 9]);
        let (offset, p) = fails(read(&bytes));
        assert_eq!(offset, 10);
        assert!(matches!(p, IdxProblem::TrailingData { bytes: 3 }), "{p:?}");
        if usize::BITS <= 64 {
            let big = idx_bytes(&[u32::MAX, u32::MAX, u32::MAX], &[]);
            let (offset, p) = fails(read(&big));
            assert_eq!(offset, 4);
            assert!(matches!(p, IdxProblem::TooLarge { .. }), "{p:?}");
        }
    }

    #[test]
    fn corrupt_gzip() {
        let bytes = idx_bytes(&[4, 4], &[7; 16]);
        let good = gz(&bytes);
        // Not gzip at all.
        let (offset, p) = fails(read_gz(&bytes));
        assert_eq!(offset, 0);
        assert!(matches!(p, IdxProblem::Gzip(_)), "{p:?}");
        assert!(p.to_string().starts_with("corrupt gzip stream: "), "{p}");
        // A flipped bit in the CRC-32 trailer: everything decompresses, then the
        // check at the end fails, at the end of the decompressed data.
        let mut bad_crc = good.clone();
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 1;
        let (offset, p) = fails(read_gz(&bad_crc));
        assert_eq!(offset, bytes.len() as u64);
        assert!(matches!(p, IdxProblem::Gzip(_)), "{p:?}");
        // Cut off inside the deflate stream (a truncated .gz download).
        let (_, p) = fails(read_gz(&good[..good.len() - 12]));
        assert!(matches!(p, IdxProblem::Gzip(_)), "{p:?}");
    }

    #[test]
    fn io_errors_name_the_offset() {
        /// Gives `ok` bytes of `bytes`, then fails.
        struct Failing {
            bytes: Vec<u8>,
            ok: usize,
            pos: usize,
        }
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.pos >= self.ok {
                    return Err(io::Error::other("disk on fire"));
                }
                let n = buf.len().min(self.ok - self.pos);
                buf[..n].copy_from_slice(&self.bytes[self.pos..self.pos + n]);
                self.pos += n;
                Ok(n)
            }
        }
        let bytes = idx_bytes(&[3, 2], &[1, 2, 3, 4, 5, 6]);
        let failing = Failing {
            bytes: bytes.clone(),
            ok: 14,
            pos: 0,
        };
        let (offset, p) = fails(read_idx_from(failing, "mem.idx", false));
        assert_eq!(offset, 14);
        assert!(matches!(&p, IdxProblem::Io(_)), "{p:?}");
        assert_eq!(p.to_string(), "I/O error: disk on fire");
        // Under gzip, a failure of the file is still an I/O error, not a corrupt stream.
        let zipped = gz(&bytes);
        let failing = Failing {
            ok: zipped.len() / 2,
            bytes: zipped,
            pos: 0,
        };
        let (_, p) = fails(read_idx_from(failing, "mem.idx.gz", true));
        assert!(matches!(&p, IdxProblem::Io(_)), "{p:?}");
        // A missing file: offset 0.
        let err = read_idx("/nonexistent/mem.idx.gz").unwrap_err().to_string();
        assert!(
            err.starts_with("/nonexistent/mem.idx.gz: byte 0: I/O error: "),
            "{err}"
        );
    }

    #[test]
    fn idx_new_checks_the_length() {
        assert!(Idx::new(vec![2, 3], vec![0; 6]).is_some());
        assert!(Idx::new(vec![2, 3], vec![0; 5]).is_none());
    }
}
