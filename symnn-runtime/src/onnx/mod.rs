//! ONNX export of a generated network's `forward` (feature `onnx`).
//!
//! Every `network!` struct gets `to_onnx(&self) -> Vec<u8>` when this feature is on: an
//! ONNX model (IR version [`IR_VERSION`], opset [`OPSET`] of the default domain) with
//! the input `"input"` of shape `[N, I]` (a symbolic batch dimension `N`), the output
//! `"output"` of shape `[N, O]`, and the parameter groups the forward pass reads as
//! initializers named and shaped as in `PARAM_GROUPS` (`h.weight` `[16, 4]`, `h.bias`
//! `[16]`, a scalar `w0` of shape `[]`), holding the network's current values.
//!
//! The macro works out the operator list at compile time (symnn-codegen's
//! `emit/onnx.rs`: dense layers and products as `Gemm`/`MatMul`, activations and
//! formulas as ONNX operators or elementwise decompositions, see `docs/RUNTIME.md`);
//! this module turns that list ([`Op`]) and the parameter values into the protobuf
//! bytes, with the official schema compiled by prost ([`proto`]).
//!
//! [`decode`] reads a model back, for checks:
//!
//! ```
//! # #[cfg(feature = "onnx")] {
//! use symnn_runtime::onnx;
//! # let bytes = Vec::new();
//! # if !bytes.is_empty() {
//! let model = onnx::decode(&bytes).unwrap();
//! assert_eq!(model.ir_version, Some(onnx::IR_VERSION));
//! # }
//! # }
//! ```

#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    rustdoc::all,
    reason = "generated from onnx.proto by prost-build"
)]
pub mod proto;

use std::collections::HashMap;

use prost::Message as _;

use self::proto::tensor_proto::DataType;
use self::proto::{
    attribute_proto::AttributeType, tensor_shape_proto::dimension, type_proto, AttributeProto,
    GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto,
    TypeProto, ValueInfoProto,
};
use crate::{Float, ParamGroup};

/// The ONNX IR version of exported models (8: ONNX 1.10 and later; onnxruntime
/// reads it).
pub const IR_VERSION: i64 = 8;

/// The opset version of the default (`ai.onnx`) domain that exported models import.
pub const OPSET: i64 = 17;

/// Decodes ONNX protobuf bytes (as written by a generated `to_onnx`).
///
/// # Errors
/// If the bytes are not a valid `ModelProto` encoding.
pub fn decode(bytes: &[u8]) -> Result<ModelProto, prost::DecodeError> {
    ModelProto::decode(bytes)
}

/// One operator of an exported forward pass, as the macro writes it (generated code
/// only). Operands are indices of earlier ops in the same list; each op's value has
/// the network's float type. A *batched* value has shape `[N, w]` (one row per
/// sample), an unbatched one `[w]` (a scalar is `[1]`), except [`Op::Param`] and what
/// [`Op::Reshape`]/[`Op::MatMul`] make, which have the shapes the macro gave them.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// The graph input `"input"`, `[N, I]`.
    Input,
    /// Parameter group `g` of `PARAM_GROUPS`: an initializer of the group's shape.
    Param(u32),
    /// A constant, `[1]`.
    Const(f64),
    /// Constants, `[len]`.
    Consts(&'static [f64]),
    /// `x[..., start..end]` along the last axis (`Slice`).
    Columns(u32, u32, u32),
    /// `Reshape(x, shape)` (a 0 copies the batch dimension).
    Reshape(u32, &'static [i64]),
    /// `Transpose(x, perm)`.
    Transpose(u32, &'static [i64]),
    /// An elementwise function.
    Unary(Unary, u32),
    /// An elementwise operation with numpy broadcasting (comparisons give booleans).
    Binary(Binary, u32, u32),
    /// `Where(condition, then, else)`.
    Where(u32, u32, u32),
    /// `Gemm(a, b)` with `transA`, `transB`.
    Gemm(u32, u32, bool, bool),
    /// `MatMul(a, b)` (numpy semantics, batch dimensions broadcast).
    MatMul(u32, u32),
    /// The sum over the last axis, kept as an axis of length 1 (`ReduceSum`).
    ReduceSum(u32),
    /// `Concat` of the values along the last axis.
    Concat(&'static [u32]),
    /// `x` broadcast to `[N, len]` (batched) or `[len]` (`Expand`).
    Expand(u32, u32, bool),
    /// `Softmax` over the last axis.
    Softmax(u32),
    /// `LogSoftmax` over the last axis.
    LogSoftmax(u32),
}

/// The elementwise functions of [`Op::Unary`] (the ONNX operator of the same name).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unary {
    /// `Neg`
    Neg,
    /// `Reciprocal`
    Reciprocal,
    /// `Exp`
    Exp,
    /// `Log`
    Log,
    /// `Sqrt`
    Sqrt,
    /// `Abs`
    Abs,
    /// `Sin`
    Sin,
    /// `Cos`
    Cos,
    /// `Tanh`
    Tanh,
    /// `Sigmoid`
    Sigmoid,
    /// `Relu`
    Relu,
    /// `Softplus` (onnxruntime: float only)
    Softplus,
}

/// The binary operations of [`Op::Binary`] (the ONNX operator of the same name).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    /// `Add`
    Add,
    /// `Sub`
    Sub,
    /// `Mul`
    Mul,
    /// `Div`
    Div,
    /// `Pow`
    Pow,
    /// `Max`
    Max,
    /// `Min`
    Min,
    /// `Greater` (boolean result)
    Greater,
    /// `GreaterOrEqual` (boolean result)
    GreaterOrEqual,
    /// `Equal` (boolean result)
    Equal,
}

impl Unary {
    fn op_type(self) -> &'static str {
        match self {
            Unary::Neg => "Neg",
            Unary::Reciprocal => "Reciprocal",
            Unary::Exp => "Exp",
            Unary::Log => "Log",
            Unary::Sqrt => "Sqrt",
            Unary::Abs => "Abs",
            Unary::Sin => "Sin",
            Unary::Cos => "Cos",
            Unary::Tanh => "Tanh",
            Unary::Sigmoid => "Sigmoid",
            Unary::Relu => "Relu",
            Unary::Softplus => "Softplus",
        }
    }
}

impl Binary {
    fn op_type(self) -> &'static str {
        match self {
            Binary::Add => "Add",
            Binary::Sub => "Sub",
            Binary::Mul => "Mul",
            Binary::Div => "Div",
            Binary::Pow => "Pow",
            Binary::Max => "Max",
            Binary::Min => "Min",
            Binary::Greater => "Greater",
            Binary::GreaterOrEqual => "GreaterOrEqual",
            Binary::Equal => "Equal",
        }
    }
}

/// What a generated `to_onnx` passes: the network's name and sizes, its parameter
/// groups and the operator list, whose last op is the output (`[N, O]`).
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// The struct's name (the graph's name).
    pub name: &'static str,
    /// `NUM_INPUTS`.
    pub inputs: usize,
    /// `NUM_OUTPUTS`.
    pub outputs: usize,
    /// `PARAM_GROUPS`.
    pub groups: &'static [ParamGroup],
    /// The forward pass.
    pub ops: &'static [Op],
}

/// The ONNX model of `spec` with the parameter values `params` (generated code only).
///
/// # Panics
/// If an op reads a later op or a parameter group out of range (the macro never
/// writes such a list).
#[doc(hidden)]
pub fn model<F: Float>(spec: &Spec, params: &[F]) -> Vec<u8> {
    let dtype = if core::mem::size_of::<F>() == 4 {
        DataType::Float
    } else {
        DataType::Double
    };
    let mut b = Builder {
        dtype,
        nodes: Vec::new(),
        initializers: Vec::new(),
        names: Vec::with_capacity(spec.ops.len()),
        fresh: 0,
        batch: None,
        used_groups: Vec::new(),
        ints: HashMap::new(),
    };
    let last = spec.ops.len().saturating_sub(1);
    for (i, op) in spec.ops.iter().enumerate() {
        let out = if i == last {
            "output".to_string()
        } else {
            format!("v{i}")
        };
        let name = b.op(*op, out, spec);
        b.names.push(name);
    }
    if b.names.last().is_none_or(|n| n != "output") {
        // The output is the input or a parameter itself (no node made it).
        let from = b
            .names
            .last()
            .cloned()
            .unwrap_or_else(|| "input".to_string());
        b.node("Identity", &[&from], "output".to_string(), Vec::new());
    }
    for &g in &b.used_groups {
        let group = &spec.groups[g];
        let values = &params[group.offset..group.offset + group.len()];
        let dims: Vec<i64> = group.shape.iter().map(|&d| dim(d)).collect();
        let mut t = float_tensor(dtype, &dims, values.iter().map(|v| v.to_f64()));
        t.name = Some(group.name.to_string());
        b.initializers.push(t);
    }
    let graph = GraphProto {
        node: b.nodes,
        name: Some(spec.name.to_string()),
        initializer: b.initializers,
        doc_string: Some(format!(
            "The forward pass of the symnn network `{}`.",
            spec.name
        )),
        input: vec![value_info("input", dtype, spec.inputs)],
        output: vec![value_info("output", dtype, spec.outputs)],
        ..GraphProto::default()
    };
    let model = ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
        producer_name: Some("symnn".to_string()),
        producer_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        graph: Some(graph),
        ..ModelProto::default()
    };
    model.encode_to_vec()
}

/// The graph under construction.
struct Builder {
    dtype: DataType,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    /// The value name of each op so far.
    names: Vec<String>,
    /// Counter for helper values (constants, shapes).
    fresh: usize,
    /// `[N]` as an int64 tensor, made once.
    batch: Option<String>,
    /// Parameter groups read, in first-use order.
    used_groups: Vec<usize>,
    /// The int64 constants made so far, by value (each made once).
    ints: HashMap<Vec<i64>, String>,
}

impl Builder {
    /// Adds the nodes of one op, its result named `out`; returns the name of its
    /// value (`out`, or the input's or initializer's name for ops that make no node).
    fn op(&mut self, op: Op, out: String, spec: &Spec) -> String {
        match op {
            Op::Input => "input".to_string(),
            Op::Param(g) => {
                let g = g as usize;
                if !self.used_groups.contains(&g) {
                    self.used_groups.push(g);
                }
                spec.groups[g].name.to_string()
            }
            Op::Const(v) => {
                let t = float_tensor(self.dtype, &[1], [v].into_iter());
                self.constant_node(t, out)
            }
            Op::Consts(values) => {
                let t = float_tensor(self.dtype, &[dim(values.len())], values.iter().copied());
                self.constant_node(t, out)
            }
            Op::Columns(x, start, end) => {
                let x = self.name(x);
                let starts = self.ints(&[i64::from(start)]);
                let ends = self.ints(&[i64::from(end)]);
                let axes = self.ints(&[-1]);
                self.node("Slice", &[&x, &starts, &ends, &axes], out, Vec::new())
            }
            Op::Reshape(x, shape) => {
                let x = self.name(x);
                let shape = self.ints(shape);
                self.node("Reshape", &[&x, &shape], out, Vec::new())
            }
            Op::Transpose(x, perm) => {
                let x = self.name(x);
                self.node("Transpose", &[&x], out, vec![ints_attr("perm", perm)])
            }
            Op::Unary(f, x) => {
                let x = self.name(x);
                self.node(f.op_type(), &[&x], out, Vec::new())
            }
            Op::Binary(f, a, b) => {
                let (a, b) = (self.name(a), self.name(b));
                self.node(f.op_type(), &[&a, &b], out, Vec::new())
            }
            Op::Where(c, a, b) => {
                let (c, a, b) = (self.name(c), self.name(a), self.name(b));
                self.node("Where", &[&c, &a, &b], out, Vec::new())
            }
            Op::Gemm(a, b, ta, tb) => {
                let (a, b) = (self.name(a), self.name(b));
                let attrs = vec![
                    int_attr("transA", i64::from(ta)),
                    int_attr("transB", i64::from(tb)),
                ];
                self.node("Gemm", &[&a, &b], out, attrs)
            }
            Op::MatMul(a, b) => {
                let (a, b) = (self.name(a), self.name(b));
                self.node("MatMul", &[&a, &b], out, Vec::new())
            }
            Op::ReduceSum(x) => {
                let x = self.name(x);
                let axes = self.ints(&[-1]);
                self.node(
                    "ReduceSum",
                    &[&x, &axes],
                    out,
                    vec![int_attr("keepdims", 1)],
                )
            }
            Op::Concat(items) => {
                let items: Vec<String> = items.iter().map(|&i| self.name(i)).collect();
                let refs: Vec<&str> = items.iter().map(String::as_str).collect();
                self.node("Concat", &refs, out, vec![int_attr("axis", -1)])
            }
            Op::Expand(x, len, batched) => {
                let x = self.name(x);
                let len = i64::from(len);
                let shape = if batched {
                    let batch = self.batch();
                    let len = self.ints(&[len]);
                    let name = self.fresh("shape");
                    self.node("Concat", &[&batch, &len], name, vec![int_attr("axis", 0)])
                } else {
                    self.ints(&[len])
                };
                self.node("Expand", &[&x, &shape], out, Vec::new())
            }
            Op::Softmax(x) => {
                let x = self.name(x);
                self.node("Softmax", &[&x], out, vec![int_attr("axis", -1)])
            }
            Op::LogSoftmax(x) => {
                let x = self.name(x);
                self.node("LogSoftmax", &[&x], out, vec![int_attr("axis", -1)])
            }
        }
    }

    /// The value name of op `i`.
    fn name(&self, i: u32) -> String {
        self.names[i as usize].clone()
    }

    fn fresh(&mut self, what: &str) -> String {
        self.fresh += 1;
        format!("{what}{}", self.fresh)
    }

    /// `[N]`: the input's first dimension.
    fn batch(&mut self) -> String {
        if let Some(b) = &self.batch {
            return b.clone();
        }
        let name = "batch".to_string();
        self.node(
            "Shape",
            &["input"],
            name.clone(),
            vec![int_attr("start", 0), int_attr("end", 1)],
        );
        self.batch = Some(name.clone());
        name
    }

    /// A constant int64 vector (one node per value).
    fn ints(&mut self, values: &[i64]) -> String {
        if let Some(name) = self.ints.get(values) {
            return name.clone();
        }
        let t = TensorProto {
            dims: vec![dim(values.len())],
            data_type: Some(DataType::Int64 as i32),
            int64_data: values.to_vec(),
            ..TensorProto::default()
        };
        let name = self.fresh("c");
        self.ints.insert(values.to_vec(), name.clone());
        self.constant_node(t, name)
    }

    fn constant_node(&mut self, t: TensorProto, out: String) -> String {
        let attr = AttributeProto {
            name: Some("value".to_string()),
            r#type: Some(AttributeType::Tensor as i32),
            t: Some(t),
            ..AttributeProto::default()
        };
        self.node("Constant", &[], out, vec![attr])
    }

    fn node(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        out: String,
        attribute: Vec<AttributeProto>,
    ) -> String {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| (*s).to_string()).collect(),
            output: vec![out.clone()],
            name: Some(format!("n{}", self.nodes.len())),
            op_type: Some(op_type.to_string()),
            attribute,
            ..NodeProto::default()
        });
        out
    }
}

fn dim(n: usize) -> i64 {
    i64::try_from(n).expect("array sizes fit in i64")
}

/// A float tensor of the model's type, the values little-endian in `raw_data`.
fn float_tensor(dtype: DataType, dims: &[i64], values: impl Iterator<Item = f64>) -> TensorProto {
    let mut raw = Vec::new();
    for v in values {
        if dtype == DataType::Float {
            #[allow(clippy::cast_possible_truncation)] // the network's own f32 values
            raw.extend_from_slice(&(v as f32).to_le_bytes());
        } else {
            raw.extend_from_slice(&v.to_le_bytes());
        }
    }
    TensorProto {
        dims: dims.to_vec(),
        data_type: Some(dtype as i32),
        raw_data: Some(raw),
        ..TensorProto::default()
    }
}

fn int_attr(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_string()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(value),
        ..AttributeProto::default()
    }
}

fn ints_attr(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_string()),
        r#type: Some(AttributeType::Ints as i32),
        ints: values.to_vec(),
        ..AttributeProto::default()
    }
}

/// `[N, len]` of the model's float type.
fn value_info(name: &str, dtype: DataType, len: usize) -> ValueInfoProto {
    let dims = vec![
        dimension_param("N"),
        proto::tensor_shape_proto::Dimension {
            value: Some(dimension::Value::DimValue(dim(len))),
            ..Default::default()
        },
    ];
    ValueInfoProto {
        name: Some(name.to_string()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(dtype as i32),
                shape: Some(TensorShapeProto { dim: dims }),
            })),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

fn dimension_param(name: &str) -> proto::tensor_shape_proto::Dimension {
    proto::tensor_shape_proto::Dimension {
        value: Some(dimension::Value::DimParam(name.to_string())),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
