//! `to_onnx`: the forward pass as a list of ONNX operators, written into the generated
//! method as static data (`symnn::__private::onnx::Op`), which the runtime turns into
//! protobuf bytes with the parameter values (`symnn-runtime/src/onnx/`).
//!
//! The input is the program lowered a second time with tensor threshold 0
//! ([`crate::lower::lower_at`]), so layers and products are `MatMul` tensor nodes and
//! elementwise operations maps whatever the network's own tier; what still scalarises
//! (softmax, indexing, `fn`s on scalars) is scalar nodes. The walk goes over the DAG
//! the output needs in id (topological) order and gives every node one value:
//!
//! - a *batched* value is `[N, w]`, one row per sample (it depends on the input); an
//!   unbatched one (parameters and constants only) is `[w]`; a scalar has `w = 1`, so
//!   numpy broadcasting does what a map's scalar argument does;
//! - a product is `Gemm(x, W, transB)` for a layer (a parameter matrix times a batched
//!   vector), else `MatMul` on `[N, r, c]` / `[r, c]` reshapes;
//! - a map's kernel is walked with its lanes bound to its arguments' values, so a
//!   kernel is elementwise ops on whole arrays; scalar nodes are `[N, 1]` columns,
//!   and a list of scalars (a packed tensor, the output) is one `Concat` of columns
//!   and slices (runs of consecutive elements of one tensor are one `Slice`), or one
//!   `Softmax`/`LogSoftmax` when it is the lowering's softmax of a vector;
//! - each function goes to the ONNX operator onnxruntime's CPU provider implements for
//!   the network's float type, or to elementwise ops (`softplus` in f64, which
//!   onnxruntime has for float only); `if`s are a comparison and `Where`.
//!
//! Ops are hash-consed (an equal op is made once) and the ones the output does not
//! need are dropped at the end, so the list is the output's DAG, each node once.

use std::collections::HashMap;

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::tokens::{index, local, Float};
use super::Layout;
use crate::builtins::Func;
use crate::graph::{rows_cols, LeafKind, Node, NodeId, TensorOp};
use crate::lower::Lowered;
use crate::resolved::FloatType;
use crate::shape::Shape;

/// The generated `to_onnx` method (inside `if_onnx!`) for `forward`, from `program`
/// lowered with tensor threshold 0.
pub fn method(program: &Lowered, layout: &Layout) -> TokenStream {
    let ops = ops(program);
    let (op, unary, binary) = (local("O"), local("U"), local("B"));
    let items = ops.iter().map(|o| o.tokens(&op, &unary, &binary));
    let name = layout.name.to_string();
    let (i, o) = (index(layout.i), index(layout.o));
    let ops_name = local("OPS");
    let doc = format!(
        "An ONNX model of [`forward`](Self::forward) with the current parameters: input \
         `\"input\"` `[N, {}]` (a batch of `N` samples, one per row), output \
         `\"output\"` `[N, {}]`, and the parameter groups `forward` reads \
         (`PARAM_GROUPS`) as initializers of the same names and shapes. ONNX IR \
         version 8, opset 17, element type `{}`. Only with symnn's `onnx` feature \
         (docs/RUNTIME.md, \"ONNX export\").",
        layout.i,
        layout.o,
        match layout.float.0 {
            FloatType::F32 => "float",
            FloatType::F64 => "double",
        }
    );
    quote! {
        ::symnn::__private::if_onnx! {
        #[doc = #doc]
        #[must_use]
        pub fn to_onnx(&self) -> ::symnn::__private::onnx::Vec<u8> {
            use ::symnn::__private::onnx::{Binary as #binary, Op as #op, Unary as #unary};
            const #ops_name: &[#op] = &[#(#items),*];
            ::symnn::__private::onnx::model(
                &::symnn::__private::onnx::Spec {
                    name: #name,
                    inputs: #i,
                    outputs: #o,
                    groups: &Self::PARAM_GROUPS,
                    ops: #ops_name,
                },
                &self.params,
            )
        }
        }
    }
}

/// One op of the list (the runtime's `Op`; operands are indices of earlier ops).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Op {
    Input,
    Param(u32),
    /// The constant's bits.
    Const(u64),
    Consts(Vec<u64>),
    Columns(u32, u32, u32),
    Reshape(u32, Vec<i64>),
    Transpose(u32, Vec<i64>),
    Unary(Unary, u32),
    Binary(Binary, u32, u32),
    Where(u32, u32, u32),
    Gemm(u32, u32, bool, bool),
    MatMul(u32, u32),
    ReduceSum(u32),
    Concat(Vec<u32>),
    Expand(u32, u32, bool),
    Softmax(u32),
    LogSoftmax(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Unary {
    Neg,
    Reciprocal,
    Exp,
    Log,
    Sqrt,
    Abs,
    Sin,
    Cos,
    Tanh,
    Sigmoid,
    Relu,
    Softplus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Max,
    Min,
    Greater,
    GreaterOrEqual,
    Equal,
}

impl Op {
    fn operands(&self) -> Vec<u32> {
        match self {
            Op::Input | Op::Param(_) | Op::Const(_) | Op::Consts(_) => Vec::new(),
            Op::Columns(x, ..)
            | Op::Reshape(x, _)
            | Op::Transpose(x, _)
            | Op::Unary(_, x)
            | Op::ReduceSum(x)
            | Op::Expand(x, ..)
            | Op::Softmax(x)
            | Op::LogSoftmax(x) => vec![*x],
            Op::Binary(_, a, b) | Op::Gemm(a, b, ..) | Op::MatMul(a, b) => vec![*a, *b],
            Op::Where(c, a, b) => vec![*c, *a, *b],
            Op::Concat(items) => items.clone(),
        }
    }

    fn renumber(&mut self, new: &[u32]) {
        let f = |x: &mut u32| *x = new[*x as usize];
        match self {
            Op::Input | Op::Param(_) | Op::Const(_) | Op::Consts(_) => {}
            Op::Columns(x, ..)
            | Op::Reshape(x, _)
            | Op::Transpose(x, _)
            | Op::Unary(_, x)
            | Op::ReduceSum(x)
            | Op::Expand(x, ..)
            | Op::Softmax(x)
            | Op::LogSoftmax(x) => f(x),
            Op::Binary(_, a, b) | Op::Gemm(a, b, ..) | Op::MatMul(a, b) => {
                f(a);
                f(b);
            }
            Op::Where(c, a, b) => {
                f(c);
                f(a);
                f(b);
            }
            Op::Concat(items) => items.iter_mut().for_each(f),
        }
    }

    fn tokens(&self, op: &syn::Ident, unary: &syn::Ident, binary: &syn::Ident) -> TokenStream {
        let float = |bits: u64| Float(FloatType::F64).literal(f64::from_bits(bits));
        let int = |i: &u32| Literal::u32_unsuffixed(*i);
        let long = |i: &i64| Literal::i64_unsuffixed(*i);
        match self {
            Op::Input => quote!(#op::Input),
            Op::Param(g) => {
                let g = int(g);
                quote!(#op::Param(#g))
            }
            Op::Const(bits) => {
                let v = float(*bits);
                quote!(#op::Const(#v))
            }
            Op::Consts(values) => {
                let values = values.iter().map(|&b| float(b));
                quote!(#op::Consts(&[#(#values),*]))
            }
            Op::Columns(x, a, b) => {
                let (x, a, b) = (int(x), int(a), int(b));
                quote!(#op::Columns(#x, #a, #b))
            }
            Op::Reshape(x, shape) => {
                let (x, shape) = (int(x), shape.iter().map(long));
                quote!(#op::Reshape(#x, &[#(#shape),*]))
            }
            Op::Transpose(x, perm) => {
                let (x, perm) = (int(x), perm.iter().map(long));
                quote!(#op::Transpose(#x, &[#(#perm),*]))
            }
            Op::Unary(f, x) => {
                let f = syn::Ident::new(&format!("{f:?}"), proc_macro2::Span::call_site());
                let x = int(x);
                quote!(#op::Unary(#unary::#f, #x))
            }
            Op::Binary(f, a, b) => {
                let f = syn::Ident::new(&format!("{f:?}"), proc_macro2::Span::call_site());
                let (a, b) = (int(a), int(b));
                quote!(#op::Binary(#binary::#f, #a, #b))
            }
            Op::Where(c, a, b) => {
                let (c, a, b) = (int(c), int(a), int(b));
                quote!(#op::Where(#c, #a, #b))
            }
            Op::Gemm(a, b, ta, tb) => {
                let (a, b) = (int(a), int(b));
                quote!(#op::Gemm(#a, #b, #ta, #tb))
            }
            Op::MatMul(a, b) => {
                let (a, b) = (int(a), int(b));
                quote!(#op::MatMul(#a, #b))
            }
            Op::ReduceSum(x) => {
                let x = int(x);
                quote!(#op::ReduceSum(#x))
            }
            Op::Concat(items) => {
                let items = items.iter().map(int);
                quote!(#op::Concat(&[#(#items),*]))
            }
            Op::Expand(x, len, batched) => {
                let (x, len) = (int(x), int(len));
                quote!(#op::Expand(#x, #len, #batched))
            }
            Op::Softmax(x) => {
                let x = int(x);
                quote!(#op::Softmax(#x))
            }
            Op::LogSoftmax(x) => {
                let x = int(x);
                quote!(#op::LogSoftmax(#x))
            }
        }
    }
}

/// A node's value: the op computing it, whether it has the batch dimension, and its
/// width (elements per sample; 1 for a scalar).
#[derive(Clone, Copy, Debug)]
struct Val {
    op: u32,
    batched: bool,
    width: usize,
}

/// The op list of `forward`: the output (`[N, O]`) is the last op.
fn ops(program: &Lowered) -> Vec<Op> {
    let mut export = Export {
        program,
        ops: Vec::new(),
        memo: HashMap::new(),
        vals: HashMap::new(),
    };
    let output = export.output();
    // Keep what the output needs (in order: the output comes last).
    let mut needed = vec![false; export.ops.len()];
    needed[output.op as usize] = true;
    for i in (0..export.ops.len()).rev() {
        if needed[i] {
            for o in export.ops[i].operands() {
                needed[o as usize] = true;
            }
        }
    }
    let mut new = vec![u32::MAX; export.ops.len()];
    let mut ops = Vec::new();
    for (i, mut op) in export.ops.into_iter().enumerate() {
        if needed[i] {
            op.renumber(&new);
            new[i] = u32::try_from(ops.len()).expect("fewer than 2^32 ops");
            ops.push(op);
        }
    }
    ops
}

/// The walk (see the module docs).
struct Export<'p> {
    program: &'p Lowered,
    ops: Vec<Op>,
    memo: HashMap<Op, u32>,
    /// The value of every node of the graph walked so far.
    vals: HashMap<NodeId, Val>,
}

impl Export<'_> {
    /// The output as `[N, O]`, after the nodes it needs.
    fn output(&mut self) -> Val {
        let program = self.program;
        let g = &program.graph;
        let needed = g.reachable(&program.output.elems);
        for (id, node) in g.iter() {
            if !needed[id.index()] {
                continue;
            }
            let val = match node {
                Node::Tensor(t) => self.tensor(id, &g.tensor_def(t).op),
                _ => {
                    let args: Vec<Val> = node.children().map(|c| self.vals[&c]).collect();
                    self.apply(node, &args)
                }
            };
            self.vals.insert(id, val);
        }
        let out = self.vector(&program.output.elems);
        if out.batched {
            out
        } else {
            self.expand(out, out.width, true)
        }
    }

    fn push(&mut self, op: Op) -> u32 {
        if let Some(&i) = self.memo.get(&op) {
            return i;
        }
        let i = u32::try_from(self.ops.len()).expect("fewer than 2^32 ops");
        self.ops.push(op.clone());
        self.memo.insert(op, i);
        i
    }

    fn constant(&mut self, v: f64) -> Val {
        Val {
            op: self.push(Op::Const(v.to_bits())),
            batched: false,
            width: 1,
        }
    }

    fn input(&mut self) -> u32 {
        self.push(Op::Input)
    }

    fn unary(&mut self, f: Unary, x: Val) -> Val {
        Val {
            op: self.push(Op::Unary(f, x.op)),
            ..x
        }
    }

    fn binary(&mut self, f: Binary, a: Val, b: Val) -> Val {
        Val {
            op: self.push(Op::Binary(f, a.op, b.op)),
            batched: a.batched || b.batched,
            width: a.width.max(b.width),
        }
    }

    /// `if a cmp b { t } else { e }`.
    fn select(&mut self, cmp: Binary, args: &[Val]) -> Val {
        let c = self.binary(cmp, args[0], args[1]);
        let (t, e) = (args[2], args[3]);
        Val {
            op: self.push(Op::Where(c.op, t.op, e.op)),
            batched: c.batched || t.batched || e.batched,
            width: c.width.max(t.width).max(e.width),
        }
    }

    fn columns(&mut self, x: Val, start: usize, end: usize) -> Val {
        if start == 0 && end == x.width {
            return x;
        }
        let (a, b) = (u32_of(start), u32_of(end));
        Val {
            op: self.push(Op::Columns(x.op, a, b)),
            batched: x.batched,
            width: end - start,
        }
    }

    fn expand(&mut self, x: Val, width: usize, batched: bool) -> Val {
        Val {
            op: self.push(Op::Expand(x.op, u32_of(width), batched)),
            batched,
            width,
        }
    }

    fn reshape(&mut self, x: u32, shape: Vec<i64>) -> u32 {
        self.push(Op::Reshape(x, shape))
    }

    /// A value broadcast to `width` elements per sample if it has fewer (a kernel
    /// that reads no array lane, say).
    fn fit(&mut self, v: Val, width: usize) -> Val {
        if v.width == width {
            v
        } else {
            self.expand(v, width, v.batched)
        }
    }

    /// The parameter group holding element `k`: its index and slot.
    fn group(&self, k: usize) -> (usize, &crate::resolved::Slot) {
        self.program
            .params
            .iter()
            .enumerate()
            .find(|(_, s)| s.offset <= k && k < s.offset + s.shape.len())
            .expect("every parameter element is in a group")
    }

    /// Group `g` flattened: `[len]` (a scalar `[1]`).
    fn group_flat(&mut self, g: usize) -> Val {
        let len = self.program.params[g].shape.len();
        let param = self.push(Op::Param(u32_of(g)));
        let op = match self.program.params[g].shape {
            Shape::Vector(_) => param,
            _ => self.reshape(param, vec![i64_of(len)]),
        };
        Val {
            op,
            batched: false,
            width: len,
        }
    }

    /// Parameter elements `offset..offset + len` (within one group).
    fn params(&mut self, offset: usize, len: usize) -> Val {
        let (g, slot) = self.group(offset);
        let start = offset - slot.offset;
        let flat = self.group_flat(g);
        self.columns(flat, start, start + len)
    }

    /// Input elements `offset..offset + len`.
    fn inputs(&mut self, offset: usize, len: usize) -> Val {
        let input = Val {
            op: self.input(),
            batched: true,
            width: self.program.num_inputs(),
        };
        self.columns(input, offset, offset + len)
    }

    /// A scalar node (or a kernel node, with `args` the operands' values).
    fn apply(&mut self, node: Node, args: &[Val]) -> Val {
        match node {
            Node::Const(bits) => self.constant(f64::from_bits(bits)),
            Node::Input(k) => self.inputs(k as usize, 1),
            Node::Param(k) => self.params(k as usize, 1),
            Node::Target(_) => unreachable!("the output never depends on a target (check)"),
            Node::Lane(_) | Node::Tensor(_) => unreachable!("lanes and tensors are walked apart"),
            Node::Var(_) => unreachable!("the ONNX lowering unrolls every loop"),
            Node::Neg(_) => self.unary(Unary::Neg, args[0]),
            Node::Add(..) => self.binary(Binary::Add, args[0], args[1]),
            Node::Sub(..) => self.binary(Binary::Sub, args[0], args[1]),
            Node::Mul(..) => self.binary(Binary::Mul, args[0], args[1]),
            Node::Div(..) => self.binary(Binary::Div, args[0], args[1]),
            Node::Call(f, _) => self.call(f, args[0]),
            Node::Powi(_, n) => self.powi(args[0], n),
            Node::Pow(..) => self.binary(Binary::Pow, args[0], args[1]),
            Node::Max(..) => self.binary(Binary::Max, args[0], args[1]),
            Node::Min(..) => self.binary(Binary::Min, args[0], args[1]),
            Node::IfGt(..) => self.select(Binary::Greater, args),
            Node::IfGe(..) => self.select(Binary::GreaterOrEqual, args),
            Node::IfEq(..) => self.select(Binary::Equal, args),
            Node::StopGradient(_) => args[0],
            Node::Elem(_, k) => {
                let k = k as usize;
                if args[0].width == 1 {
                    args[0]
                } else {
                    self.columns(args[0], k, k + 1)
                }
            }
        }
    }

    /// `f(x)`: the ONNX operator where onnxruntime's CPU provider has it for the
    /// network's float type, else elementwise ops.
    fn call(&mut self, f: Func, x: Val) -> Val {
        let op = match f {
            Func::Exp => Unary::Exp,
            Func::Ln => Unary::Log,
            Func::Sqrt => Unary::Sqrt,
            Func::Abs => Unary::Abs,
            Func::Sin => Unary::Sin,
            Func::Cos => Unary::Cos,
            Func::Tanh => Unary::Tanh,
            Func::Sigmoid => Unary::Sigmoid,
            Func::Relu => Unary::Relu,
            Func::Softplus if self.program.float == FloatType::F32 => Unary::Softplus,
            Func::Softplus => return self.softplus(x),
        };
        self.unary(op, x)
    }

    /// `max(x, 0) + ln_1p(exp(-|x|))`, the emitted code's stable softplus, with
    /// `ln_1p(e) = ln(u)·e/(u − 1)` for `u = 1 + e ≠ 1`, else `e` (ONNX has no `Log1p`;
    /// this keeps full relative accuracy for tiny `e`).
    fn softplus(&mut self, x: Val) -> Val {
        let relu = self.unary(Unary::Relu, x);
        let abs = self.unary(Unary::Abs, x);
        let neg = self.unary(Unary::Neg, abs);
        let e = self.unary(Unary::Exp, neg);
        let one = self.constant(1.0);
        let u = self.binary(Binary::Add, e, one);
        let ln = self.unary(Unary::Log, u);
        let scaled = self.binary(Binary::Mul, ln, e);
        let d = self.binary(Binary::Sub, u, one);
        let ratio = self.binary(Binary::Div, scaled, d);
        let ln_1p = self.select(Binary::Equal, &[u, one, e, ratio]);
        self.binary(Binary::Add, relu, ln_1p)
    }

    /// `x^n`: products for small `n` (what `powi` computes), else `Pow`.
    fn powi(&mut self, x: Val, n: i32) -> Val {
        match n {
            0 => self.constant(1.0),
            1 => x,
            2 => self.binary(Binary::Mul, x, x),
            3 => {
                let sq = self.binary(Binary::Mul, x, x);
                self.binary(Binary::Mul, sq, x)
            }
            -1 => self.unary(Unary::Reciprocal, x),
            -2 => {
                let sq = self.binary(Binary::Mul, x, x);
                self.unary(Unary::Reciprocal, sq)
            }
            _ => {
                let n = self.constant(f64::from(n));
                self.binary(Binary::Pow, x, n)
            }
        }
    }

    /// A tensor node, its operands' values known.
    fn tensor(&mut self, id: NodeId, op: &TensorOp) -> Val {
        let g = &self.program.graph;
        let shape = g.shape_of(id);
        let len = shape.len();
        match op {
            TensorOp::Leaf { kind, offset } => match kind {
                LeafKind::Input => self.inputs(*offset as usize, len),
                LeafKind::Param => self.params(*offset as usize, len),
                LeafKind::Target => unreachable!("the output never depends on a target (check)"),
            },
            TensorOp::Pack(items) => {
                let v = self.vector(items);
                self.fit(v, len)
            }
            &TensorOp::MatMul { a, b, ta, tb } => self.matmul(id, (a, ta), (b, tb)),
            TensorOp::Map { kernel, args } => {
                let lanes: Vec<Val> = args.iter().map(|a| self.vals[a]).collect();
                let v = self.kernel(*kernel, &lanes);
                self.fit(v, len)
            }
            TensorOp::Sum(t) => {
                let t = self.vals[t];
                Val {
                    op: self.push(Op::ReduceSum(t.op)),
                    batched: t.batched,
                    width: 1,
                }
            }
            TensorOp::Transpose(t) => {
                let (r, c) = rows_cols(g.shape_of(*t));
                let t = self.vals[t];
                if r == 1 || c == 1 {
                    return t;
                }
                let (r, c) = (i64_of(r), i64_of(c));
                let (shape, perm, flat) = if t.batched {
                    (vec![0, r, c], vec![0, 2, 1], vec![0, r * c])
                } else {
                    (vec![r, c], vec![1, 0], vec![r * c])
                };
                let m = self.reshape(t.op, shape);
                let m = self.push(Op::Transpose(m, perm));
                Val {
                    op: self.reshape(m, flat),
                    ..t
                }
            }
        }
    }

    /// A map's kernel over whole arrays, lane `j` bound to `lanes[j]`.
    fn kernel(&mut self, root: NodeId, lanes: &[Val]) -> Val {
        let g = &self.program.graph;
        let mut local: HashMap<NodeId, Val> = HashMap::new();
        for n in g.kernel_nodes(root) {
            let node = g.node(n);
            let val = match node {
                Node::Lane(j) => lanes[j as usize],
                // (A kernel reads no tensors: its array arguments are lanes.)
                Node::Tensor(_) | Node::Elem(..) => self.vals[&n],
                _ => {
                    let args: Vec<Val> = node.children().map(|c| local[&c]).collect();
                    self.apply(node, &args)
                }
            };
            local.insert(n, val);
        }
        local[&root]
    }

    /// A matrix operand in its own shape: `[r, c]`, or `[N, r, c]` when batched (a
    /// parameter matrix is its initializer).
    fn matrix(&mut self, id: NodeId) -> (u32, bool) {
        let g = &self.program.graph;
        let shape = g.shape_of(id);
        if let (
            Some(TensorOp::Leaf {
                kind: LeafKind::Param,
                offset,
            }),
            Shape::Matrix(..),
        ) = (g.tensor_node(id).map(|t| &t.op), shape)
        {
            let (group, slot) = self.group(*offset as usize);
            if slot.offset == *offset as usize && slot.shape == shape {
                return (self.push(Op::Param(u32_of(group))), false);
            }
        }
        let (r, c) = rows_cols(shape);
        let v = self.vals[&id];
        let dims = if v.batched {
            vec![0, i64_of(r), i64_of(c)]
        } else {
            vec![i64_of(r), i64_of(c)]
        };
        (self.reshape(v.op, dims), v.batched)
    }

    /// `op(a) · op(b)` (`op` transposes when the flag is set).
    fn matmul(&mut self, id: NodeId, (a, ta): (NodeId, bool), (b, tb): (NodeId, bool)) -> Val {
        let g = &self.program.graph;
        let (m, p) = rows_cols(g.shape_of(id));
        let (av, bv) = (self.vals[&a], self.vals[&b]);
        // A layer: a parameter (or constant) matrix times a batched vector,
        // `x · op(W)ᵀ` on rows.
        if !av.batched && bv.batched && matches!(g.shape_of(b), Shape::Vector(_)) && !tb {
            let (w, _) = self.matrix(a);
            return Val {
                op: self.push(Op::Gemm(bv.op, w, false, !ta)),
                batched: true,
                width: m,
            };
        }
        let (am, a_batched) = self.matrix(a);
        let (bm, b_batched) = self.matrix(b);
        if !a_batched && !b_batched {
            let prod = self.push(Op::Gemm(am, bm, ta, tb));
            return Val {
                op: self.reshape(prod, vec![i64_of(m * p)]),
                batched: false,
                width: m * p,
            };
        }
        let transpose = |this: &mut Self, x: u32, batched: bool, flag: bool| {
            if !flag {
                return x;
            }
            let perm = if batched { vec![0, 2, 1] } else { vec![1, 0] };
            this.push(Op::Transpose(x, perm))
        };
        let am = transpose(self, am, a_batched, ta);
        let bm = transpose(self, bm, b_batched, tb);
        let prod = self.push(Op::MatMul(am, bm));
        Val {
            op: self.reshape(prod, vec![0, i64_of(m * p)]),
            batched: true,
            width: m * p,
        }
    }

    /// Scalar nodes as one vector value: a softmax of a vector, or the concatenation of
    /// runs (consecutive elements of one tensor, constants) and columns.
    fn vector(&mut self, items: &[NodeId]) -> Val {
        if let Some(v) = self.softmax(items) {
            return v;
        }
        let g = &self.program.graph;
        let mut parts: Vec<Val> = Vec::new();
        let mut i = 0;
        while i < items.len() {
            let node = g.node(items[i]);
            let mut run = 1;
            match node {
                Node::Elem(t, k) => {
                    while i + run < items.len()
                        && g.node(items[i + run]) == Node::Elem(t, k + u32_of(run))
                    {
                        run += 1;
                    }
                    let tv = self.vals[&t];
                    let k = k as usize;
                    parts.push(if tv.width == 1 {
                        tv
                    } else {
                        self.columns(tv, k, k + run)
                    });
                }
                Node::Const(_) => {
                    while i + run < items.len() && g.as_const(items[i + run]).is_some() {
                        run += 1;
                    }
                    if run == 1 {
                        parts.push(self.vals[&items[i]]);
                    } else {
                        let values = items[i..i + run]
                            .iter()
                            .map(|&c| g.as_const(c).unwrap_or(f64::NAN).to_bits())
                            .collect();
                        parts.push(Val {
                            op: self.push(Op::Consts(values)),
                            batched: false,
                            width: run,
                        });
                    }
                }
                _ => parts.push(self.vals[&items[i]]),
            }
            i += run;
        }
        if parts.len() == 1 {
            return parts[0];
        }
        let batched = parts.iter().any(|p| p.batched);
        let ops: Vec<u32> = parts
            .iter()
            .map(|&p| {
                if batched && !p.batched {
                    self.expand(p, p.width, true).op
                } else {
                    p.op
                }
            })
            .collect();
        Val {
            op: self.push(Op::Concat(ops)),
            batched,
            width: parts.iter().map(|p| p.width).sum(),
        }
    }

    /// `Softmax(z)` or `LogSoftmax(z)` when `items` are the lowering's softmax or
    /// log-softmax of some vector `z` (`lower/builtins.rs`: `exp(zᵢ − m) / s` or
    /// `(zᵢ − m) − ln s`, with `m` the stop-gradient max of the `zᵢ` and `s` the sum of
    /// the `exp(zᵢ − m)`).
    fn softmax(&mut self, items: &[NodeId]) -> Option<Val> {
        let g = &self.program.graph;
        if items.len() < 2 {
            return None;
        }
        // Each item as (zᵢ, m, s, log form).
        let parse = |item: NodeId| -> Option<(NodeId, NodeId, NodeId, bool)> {
            match g.node(item) {
                Node::Div(e, s) => match g.node(e) {
                    Node::Call(Func::Exp, d) => match g.node(d) {
                        Node::Sub(z, m) => Some((z, m, s, false)),
                        _ => None,
                    },
                    _ => None,
                },
                Node::Sub(d, l) => match (g.node(d), g.node(l)) {
                    (Node::Sub(z, m), Node::Call(Func::Ln, s)) => Some((z, m, s, true)),
                    _ => None,
                },
                _ => None,
            }
        };
        let parsed: Vec<_> = items.iter().map(|&i| parse(i)).collect::<Option<_>>()?;
        let (_, m, s, log) = parsed[0];
        if parsed
            .iter()
            .any(|&(_, m2, s2, l2)| (m2, s2, l2) != (m, s, log))
        {
            return None;
        }
        let zs: Vec<NodeId> = parsed.iter().map(|p| p.0).collect();
        // `m` = stop-gradient(max of the zᵢ); `s` = the sum of `exp(zᵢ − m)`.
        let Node::StopGradient(max) = g.node(m) else {
            return None;
        };
        let mut maxed = leaves(g, max, |n| match n {
            Node::Max(a, b) => Some((a, b)),
            _ => None,
        });
        let mut summed = leaves(g, s, |n| match n {
            Node::Add(a, b) => Some((a, b)),
            _ => None,
        });
        let mut want_z = zs.clone();
        let mut want_e: Vec<NodeId> = zs
            .iter()
            .map(|&z| {
                let d = g.find(Node::Sub(z, m))?;
                g.find(Node::Call(Func::Exp, d))
            })
            .collect::<Option<_>>()?;
        for list in [&mut maxed, &mut summed, &mut want_z, &mut want_e] {
            list.sort();
        }
        if maxed != want_z || summed != want_e {
            return None;
        }
        let z = self.vector(&zs);
        let op = if log {
            Op::LogSoftmax(z.op)
        } else {
            Op::Softmax(z.op)
        };
        Some(Val {
            op: self.push(op),
            ..z
        })
    }
}

/// The leaves of a tree of one binary operation rooted at `root` (`split` gives a
/// node's two operands when it is that operation).
fn leaves(
    g: &crate::graph::Graph,
    root: NodeId,
    split: impl Fn(Node) -> Option<(NodeId, NodeId)>,
) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        match split(g.node(n)) {
            Some((a, b)) => {
                stack.push(a);
                stack.push(b);
            }
            None => out.push(n),
        }
    }
    out
}

fn u32_of(n: usize) -> u32 {
    u32::try_from(n).expect("the check stage bounds array sizes")
}

fn i64_of(n: usize) -> i64 {
    i64::try_from(n).expect("the check stage bounds array sizes")
}

#[cfg(test)]
mod tests;
