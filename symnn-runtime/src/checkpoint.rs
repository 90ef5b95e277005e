//! Saving and loading parameters: JSON for people and diffs, safetensors (feature
//! `safetensors`) for other tools.
//!
//! Both formats store one named tensor per [`ParamGroup`](crate::ParamGroup)
//! (`"w13"`, `"h1.weight"` of shape `[8, 2]`, ...), so a checkpoint reads like the
//! `network!` declaration and stays valid when unrelated parameters are added
//! elsewhere. Loading checks everything before touching the model: the names must
//! match exactly, and every shape and the float type must agree; on any error the
//! model is left as it was. Files are written atomically (a temporary file in the
//! same directory, synced, then renamed over the target), so a crash never leaves a
//! half-written checkpoint.
//!
//! The JSON format:
//!
//! ```json
//! {
//!   "format": "symnn",
//!   "version": 1,
//!   "float": "f32",
//!   "params": { "h1.bias": [0.0, 0.5], "h1.weight": [[0.25, -1.5], [2.0, 0.125]], "w13": 0.2 }
//! }
//! ```
//!
//! Scalars are numbers, vectors arrays, matrices arrays of rows. Round trips are
//! bit-exact: `f64` values are written in the shortest form that parses back to
//! the same value (and `serde_json` is built with `float_roundtrip` so parsing is
//! correctly rounded), and `f32` values are written as the `f64` they widen to
//! exactly (`0.1f32` appears as `0.10000000149011612`), which any JSON reader
//! narrows back to the same `f32`. NaN and infinities cannot be saved.
//!
//! Models whose [`Model::param_groups`] is empty (hand-written ones) are saved with
//! one scalar entry per [`Model::param_names`] entry.
//!
//! A JSON checkpoint can also carry the fitted [`Standardizer`] of the model's inputs
//! ([`save_json_with_standardizer`] / [`load_json_with_standardizer`]: a
//! `"standardizer"` field beside `"params"`), so that inference in another process
//! needs nothing re-implemented; [`Standardizer::save`] writes one on its own.

use crate::{Float, Model, Standardizer};
use serde_json::{json, Map, Value};
use std::fmt;
use std::path::Path;

/// The `"version"` written into JSON checkpoints.
pub const JSON_VERSION: u64 = 1;

/// One named tensor of a model: name, shape and its range in the parameter array.
struct Group {
    name: String,
    shape: Vec<usize>,
    offset: usize,
    len: usize,
}

fn groups<M: Model>() -> Vec<Group> {
    let declared = M::param_groups();
    if declared.is_empty() {
        return M::param_names()
            .iter()
            .enumerate()
            .map(|(i, n)| Group {
                name: n.to_string(),
                shape: vec![],
                offset: i,
                len: 1,
            })
            .collect();
    }
    declared
        .iter()
        .map(|g| Group {
            name: g.name.to_string(),
            shape: g.shape.to_vec(),
            offset: g.offset,
            len: g.len(),
        })
        .collect()
}

/// Checks there are no non-finite values (they cannot be stored in JSON and are
/// never a state worth keeping).
fn check_finite<M: Model>(model: &M) -> Result<(), CheckpointError> {
    match model.params().iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(CheckpointError::NonFinite {
            name: M::param_names()
                .get(i)
                .map_or_else(|| format!("#{i}"), |n| n.to_string()),
            value: model.params()[i].to_f64(),
        }),
    }
}

/// The JSON checkpoint text of `model` (pretty-printed).
pub fn to_json<M: Model>(model: &M) -> Result<String, CheckpointError> {
    check_finite(model)?;
    let params = model.params();
    let mut map = Map::new();
    for g in groups::<M>() {
        let values = &params[g.offset..g.offset + g.len];
        map.insert(g.name, nest(values, &g.shape));
    }
    let doc = json!({
        "format": "symnn",
        "version": JSON_VERSION,
        "float": M::Float::NAME,
        "params": Value::Object(map),
    });
    Ok(serde_json::to_string_pretty(&doc).expect("a JSON value always serialises"))
}

/// Nested arrays of `shape` holding `values` (row-major).
fn nest<F: Float>(values: &[F], shape: &[usize]) -> Value {
    match shape {
        [] => json!(values[0].to_f64()),
        [_, rest @ ..] => {
            let inner: usize = rest.iter().product();
            if inner == 0 {
                return Value::Array(vec![]);
            }
            Value::Array(values.chunks(inner).map(|c| nest(c, rest)).collect())
        }
    }
}

/// The shape a nested JSON array has (following first elements).
fn shape_of(value: &Value) -> Vec<usize> {
    match value {
        Value::Array(items) => {
            let mut shape = vec![items.len()];
            if let Some(first) = items.first() {
                shape.extend(shape_of(first));
            }
            shape
        }
        _ => vec![],
    }
}

/// Appends the numbers of `value` (which must have exactly `shape`) to `out`.
fn flatten<F: Float>(value: &Value, shape: &[usize], out: &mut Vec<F>) -> bool {
    match (shape, value) {
        ([], Value::Number(n)) => match n.as_f64() {
            Some(x) => {
                out.push(F::from_f64(x));
                true
            }
            None => false,
        },
        ([n, rest @ ..], Value::Array(items)) if items.len() == *n => {
            items.iter().all(|item| flatten(item, rest, out))
        }
        _ => false,
    }
}

/// Loads parameters from JSON checkpoint text into `model`; on error `model` is
/// unchanged.
pub fn from_json<M: Model>(model: &mut M, text: &str) -> Result<(), CheckpointError> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| CheckpointError::Format(e.to_string()))?;
    let field = |key: &str| {
        doc.get(key)
            .ok_or_else(|| CheckpointError::Format(format!("missing field {key:?}")))
    };
    if field("format")?.as_str() != Some("symnn") {
        return Err(CheckpointError::Format(
            "not a symnn checkpoint (\"format\" is not \"symnn\")".into(),
        ));
    }
    if field("version")?.as_u64() != Some(JSON_VERSION) {
        return Err(CheckpointError::Format(format!(
            "unsupported version {}",
            field("version")?
        )));
    }
    let float = field("float")?.as_str().unwrap_or("?");
    if float != M::Float::NAME {
        return Err(CheckpointError::Dtype {
            file: float.to_string(),
            model: M::Float::NAME,
        });
    }
    let params = field("params")?
        .as_object()
        .ok_or_else(|| CheckpointError::Format("\"params\" is not an object".into()))?;
    let groups = groups::<M>();
    check_names(params.keys().map(String::as_str), &groups)?;
    let mut values = Vec::with_capacity(M::NUM_PARAMS);
    for g in &groups {
        let value = &params[&g.name];
        if !flatten(value, &g.shape, &mut values) {
            return Err(CheckpointError::Shape {
                name: g.name.clone(),
                expected: g.shape.clone(),
                found: shape_of(value),
            });
        }
    }
    install(model, &groups, &values);
    Ok(())
}

/// Every model group must be in the file and every file entry in the model.
fn check_names<'a>(
    mut names: impl Iterator<Item = &'a str> + Clone,
    groups: &[Group],
) -> Result<(), CheckpointError> {
    if let Some(g) = groups.iter().find(|g| !names.clone().any(|n| n == g.name)) {
        return Err(CheckpointError::Missing {
            name: g.name.clone(),
        });
    }
    if let Some(n) = names.find(|n| !groups.iter().any(|g| g.name == *n)) {
        return Err(CheckpointError::Unexpected {
            name: n.to_string(),
        });
    }
    Ok(())
}

/// Copies `values` (groups concatenated in order) into the model's parameters.
fn install<M: Model>(model: &mut M, groups: &[Group], values: &[M::Float]) {
    let params = model.params_mut();
    let mut at = 0;
    for g in groups {
        params[g.offset..g.offset + g.len].copy_from_slice(&values[at..at + g.len]);
        at += g.len;
    }
}

/// Writes `model`'s JSON checkpoint to `path` atomically.
pub fn save_json<M: Model>(model: &M, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
    write_atomic(path.as_ref(), to_json(model)?.as_bytes())
}

/// Loads a JSON checkpoint from `path` into `model`; on error `model` is unchanged.
pub fn load_json<M: Model>(model: &mut M, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| io_error(path, e))?;
    from_json(model, &text)
}

/// The JSON checkpoint text of `model` with the fitted [`Standardizer`] of its inputs
/// under `"standardizer"` (the object [`Standardizer::to_json`] writes), so that one
/// file holds everything inference needs. [`from_json`] / [`load_json`] still read it
/// (they ignore the standardizer).
///
/// Fails if the standardizer's width is not the model's input count, or as
/// [`to_json`] and [`Standardizer::to_json`] do.
pub fn to_json_with_standardizer<M: Model>(
    model: &M,
    standardizer: &Standardizer<M::Float>,
) -> Result<String, CheckpointError> {
    check_standardizer_width::<M>(standardizer)?;
    let mut doc: Value = serde_json::from_str(&to_json(model)?).expect("to_json writes valid JSON");
    doc["standardizer"] = standardizer.to_value().map_err(CheckpointError::Format)?;
    Ok(serde_json::to_string_pretty(&doc).expect("a JSON value always serialises"))
}

/// Loads a checkpoint written by [`to_json_with_standardizer`] into `model` and
/// returns its standardizer. Everything is checked before the model is touched (on
/// error it is unchanged): the parameters as [`from_json`] checks them, and the
/// standardizer as [`Standardizer::from_json`] does, plus its width.
pub fn from_json_with_standardizer<M: Model>(
    model: &mut M,
    text: &str,
) -> Result<Standardizer<M::Float>, CheckpointError> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| CheckpointError::Format(e.to_string()))?;
    let value = doc.get("standardizer").ok_or_else(|| {
        CheckpointError::Format(
            "no \"standardizer\" in the checkpoint (saved without one: use from_json)".into(),
        )
    })?;
    let standardizer = crate::data::standardizer_from_value(value)
        .map_err(|message| CheckpointError::Format(format!("standardizer: {message}")))?;
    check_standardizer_width::<M>(&standardizer)?;
    from_json(model, text)?;
    Ok(standardizer)
}

/// Writes [`to_json_with_standardizer`] to `path` atomically.
pub fn save_json_with_standardizer<M: Model>(
    model: &M,
    standardizer: &Standardizer<M::Float>,
    path: impl AsRef<Path>,
) -> Result<(), CheckpointError> {
    write_atomic(
        path.as_ref(),
        to_json_with_standardizer(model, standardizer)?.as_bytes(),
    )
}

/// Loads a checkpoint file written by [`save_json_with_standardizer`] into `model`
/// and returns its standardizer; on error `model` is unchanged, and a malformed
/// file's message starts with its path.
pub fn load_json_with_standardizer<M: Model>(
    model: &mut M,
    path: impl AsRef<Path>,
) -> Result<Standardizer<M::Float>, CheckpointError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| io_error(path, e))?;
    from_json_with_standardizer(model, &text).map_err(|e| match e {
        CheckpointError::Format(message) => {
            CheckpointError::Format(format!("{}: {message}", path.display()))
        }
        other => other,
    })
}

fn check_standardizer_width<M: Model>(
    standardizer: &Standardizer<M::Float>,
) -> Result<(), CheckpointError> {
    let width = standardizer.mean().len();
    if width == M::NUM_INPUTS {
        Ok(())
    } else {
        Err(CheckpointError::Format(format!(
            "the standardizer has {width} columns but the model takes {} inputs",
            M::NUM_INPUTS
        )))
    }
}

fn io_error(path: &Path, source: std::io::Error) -> CheckpointError {
    CheckpointError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// [`crate::atomic_write::write_atomic`], its error naming `path`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    crate::atomic_write::write_atomic(path, bytes).map_err(|e| io_error(path, e))
}

#[cfg(feature = "safetensors")]
mod st {
    use super::*;
    use safetensors::tensor::{Dtype, SafeTensors, TensorView};

    fn dtype<F: Float>() -> Dtype {
        if F::NAME == "f32" {
            Dtype::F32
        } else {
            Dtype::F64
        }
    }

    /// Little-endian bytes of `values` in the model's own precision.
    fn to_bytes<F: Float>(values: &[F]) -> Vec<u8> {
        let mut out = Vec::with_capacity(values.len() * 8);
        for v in values {
            if F::NAME == "f32" {
                out.extend_from_slice(&(v.to_f64() as f32).to_le_bytes());
            } else {
                out.extend_from_slice(&v.to_f64().to_le_bytes());
            }
        }
        out
    }

    fn from_bytes<F: Float>(bytes: &[u8], out: &mut Vec<F>) {
        if F::NAME == "f32" {
            out.extend(bytes.chunks_exact(4).map(|b| {
                F::from_f64(f64::from(f32::from_le_bytes(
                    b.try_into().expect("4 bytes"),
                )))
            }));
        } else {
            out.extend(
                bytes
                    .chunks_exact(8)
                    .map(|b| F::from_f64(f64::from_le_bytes(b.try_into().expect("8 bytes")))),
            );
        }
    }

    fn st_error(e: safetensors::SafeTensorError) -> CheckpointError {
        CheckpointError::Format(format!("safetensors: {e}"))
    }

    /// The safetensors bytes of `model`: one tensor per parameter group (dtype `F32`
    /// or `F64`, shape from [`Model::param_groups`]), metadata `{"format": "symnn"}`.
    pub fn to_safetensors<M: Model>(model: &M) -> Result<Vec<u8>, CheckpointError> {
        check_finite(model)?;
        let groups = groups::<M>();
        let params = model.params();
        let bytes: Vec<Vec<u8>> = groups
            .iter()
            .map(|g| to_bytes(&params[g.offset..g.offset + g.len]))
            .collect();
        let mut tensors = Vec::with_capacity(groups.len());
        for (g, b) in groups.iter().zip(&bytes) {
            tensors.push((
                g.name.clone(),
                TensorView::new(dtype::<M::Float>(), g.shape.clone(), b).map_err(st_error)?,
            ));
        }
        let metadata =
            std::collections::HashMap::from([("format".to_string(), "symnn".to_string())]);
        safetensors::serialize(tensors, Some(metadata)).map_err(st_error)
    }

    /// Loads safetensors bytes into `model`; on error `model` is unchanged.
    pub fn from_safetensors<M: Model>(model: &mut M, bytes: &[u8]) -> Result<(), CheckpointError> {
        let file = SafeTensors::deserialize(bytes).map_err(st_error)?;
        let groups = groups::<M>();
        let names = file.names();
        check_names(names.iter().copied(), &groups)?;
        let mut values = Vec::with_capacity(M::NUM_PARAMS);
        for g in &groups {
            let t = file.tensor(&g.name).map_err(st_error)?;
            if t.dtype() != dtype::<M::Float>() {
                return Err(CheckpointError::Dtype {
                    file: format!("{:?}", t.dtype()),
                    model: M::Float::NAME,
                });
            }
            if t.shape() != g.shape.as_slice() {
                return Err(CheckpointError::Shape {
                    name: g.name.clone(),
                    expected: g.shape.clone(),
                    found: t.shape().to_vec(),
                });
            }
            from_bytes(t.data(), &mut values);
        }
        install(model, &groups, &values);
        Ok(())
    }

    /// Writes `model` as a `.safetensors` file atomically.
    pub fn save_safetensors<M: Model>(
        model: &M,
        path: impl AsRef<Path>,
    ) -> Result<(), CheckpointError> {
        write_atomic(path.as_ref(), &to_safetensors(model)?)
    }

    /// Loads a `.safetensors` file into `model`; on error `model` is unchanged.
    pub fn load_safetensors<M: Model>(
        model: &mut M,
        path: impl AsRef<Path>,
    ) -> Result<(), CheckpointError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| io_error(path, e))?;
        from_safetensors(model, &bytes)
    }
}

#[cfg(feature = "safetensors")]
pub use st::{from_safetensors, load_safetensors, save_safetensors, to_safetensors};

/// Why a checkpoint could not be saved or loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Reading or writing the file failed.
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a well-formed checkpoint.
    Format(String),
    /// The file's float type differs from the model's.
    Dtype {
        /// The file's (`"f32"`, `"F64"`, ...).
        file: String,
        /// The model's (`"f32"` or `"f64"`).
        model: &'static str,
    },
    /// A parameter of the model is not in the file.
    Missing {
        /// Its name.
        name: String,
    },
    /// The file has a parameter the model does not.
    Unexpected {
        /// Its name.
        name: String,
    },
    /// A parameter's shape differs.
    Shape {
        /// Its name.
        name: String,
        /// The model's shape.
        expected: Vec<usize>,
        /// The file's shape (the outer dimensions, for ragged JSON arrays).
        found: Vec<usize>,
    },
    /// A parameter is NaN or infinite, which is never saved.
    NonFinite {
        /// Its name.
        name: String,
        /// Its value.
        value: f64,
    },
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointError::Io { path, source } => write!(f, "{path}: {source}"),
            CheckpointError::Format(message) => write!(f, "invalid checkpoint: {message}"),
            CheckpointError::Dtype { file, model } => {
                write!(
                    f,
                    "float type mismatch: the checkpoint holds {file}, the model uses {model}"
                )
            }
            CheckpointError::Missing { name } => {
                write!(f, "parameter {name:?} is missing from the checkpoint")
            }
            CheckpointError::Unexpected { name } => {
                write!(
                    f,
                    "the checkpoint has parameter {name:?}, which the model does not"
                )
            }
            CheckpointError::Shape {
                name,
                expected,
                found,
            } => {
                write!(f, "parameter {name:?} has shape {found:?} in the checkpoint, the model expects {expected:?}")
            }
            CheckpointError::NonFinite { name, value } => {
                write!(
                    f,
                    "parameter {name} is {value}; refusing to save a non-finite model"
                )
            }
        }
    }
}

impl std::error::Error for CheckpointError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CheckpointError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
