//! The emitter's one IR: the instruction list of a method body, flat data with one
//! statement per entry (in the spirit of cranelift's and ISLE's instructions).
//!
//! Scalar statements ([`Instr`], [`Op`] over [`Operand`]s) and the tensor tier's loops
//! ([`Loop`], [`GroupWrite`]: one per tensor node or parameter-group write) live in one
//! type, built from a schedule by [`super::build`], rewritten by pure IR → IR functions
//! ([`super::step`], [`super::fuse`], and the block lifting of [`super::batch`]), and
//! turned into tokens only by [`super::render`], once per target.
//!
//! Every variant's meaning is its formula. Temporaries are single-assignment: each
//! [`Temp`] is the `dst` of at most one [`Instr::Let`], before any instruction reads it.

use std::hash::{Hash, Hasher};

use crate::graph::Func;
use crate::tensor::LeafKind;

/// A value computed by one instruction and read by later ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Temp {
    /// `__tN`: the value of graph node `N`, bound by a `let` of its own.
    Node(u32),
    /// `__t[N]`: slot `N` of the temporaries array (bodies above [`super::build::LET_LIMIT`]).
    Slot(u32),
    /// `__lrN`: the `N`th `lr * x` of a fused SGD step (see [`super::step::scale_by_lr`]).
    Step(u32),
    /// `__loss`: the loss, kept while the parameters are written.
    Loss,
    /// `__g[N]`: the `N`th saved gradient value (see [`Instr::SaveGradients`]).
    Gradient(u32),
    /// `__TN`: the local array of tensor node `N` ([`Instr::Loop`]).
    Tensor(u32),
}

impl Temp {
    /// Whether this is an element of an array declared as a whole (assigned, not bound).
    pub fn is_array_element(self) -> bool {
        matches!(self, Temp::Slot(_) | Temp::Gradient(_))
    }
}

/// What an instruction reads: a temporary, a leaf, or the learning rate.
#[derive(Clone, Copy, Debug)]
pub enum Operand {
    /// A temporary.
    Temp(Temp),
    /// `input[k]`
    Input(usize),
    /// `target[k]`
    Target(usize),
    /// `__params[k]`: a parameter through the body's shared borrow of `self.params`.
    Param(usize),
    /// `self.params[k]`: a parameter read in a body that also writes parameters.
    ParamViaSelf(usize),
    /// A constant.
    Const(f64),
    /// `lr`, the learning-rate argument of `sgd_step`.
    Lr,
    /// `__lJ`: lane `J` of the map whose kernel is being emitted.
    Lane(u32),
    /// `__var[k]`: element `k` of a rolled loop's run-time array (`emit/rolled.rs`).
    Var(u32),
}

impl Operand {
    /// The parameter index, if this reads a parameter (either way).
    pub fn param(self) -> Option<usize> {
        match self {
            Operand::Param(k) | Operand::ParamViaSelf(k) => Some(k),
            _ => None,
        }
    }

    /// Whether this is a parameter read.
    pub fn is_param(self) -> bool {
        self.param().is_some()
    }

    /// Whether this is a computed value (not a leaf, constant or `lr`).
    pub fn is_temp(self) -> bool {
        matches!(self, Operand::Temp(_))
    }

    /// The constant's value, if this is a constant.
    pub fn as_const(self) -> Option<f64> {
        match self {
            Operand::Const(v) => Some(v),
            _ => None,
        }
    }

    /// A key with the same equality as [`PartialEq`] (constants compare by bits, like
    /// the hash-consed graph's constant nodes).
    fn key(self) -> (u8, u64) {
        match self {
            Operand::Temp(Temp::Node(n)) => (0, n.into()),
            Operand::Temp(Temp::Slot(n)) => (1, n.into()),
            Operand::Temp(Temp::Step(n)) => (2, n.into()),
            Operand::Temp(Temp::Loss) => (3, 0),
            Operand::Temp(Temp::Gradient(n)) => (4, n.into()),
            Operand::Input(k) => (5, k as u64),
            Operand::Target(k) => (6, k as u64),
            Operand::Param(k) => (7, k as u64),
            Operand::ParamViaSelf(k) => (8, k as u64),
            Operand::Const(v) => (9, v.to_bits()),
            Operand::Lr => (10, 0),
            Operand::Temp(Temp::Tensor(n)) => (11, n.into()),
            Operand::Lane(j) => (12, j.into()),
            Operand::Var(k) => (13, k.into()),
        }
    }
}

impl PartialEq for Operand {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Operand {}

impl Hash for Operand {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

/// One scalar operation on operands (a graph [`Node`] with its children resolved).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// `a`
    Copy(Operand),
    /// `-a`
    Neg(Operand),
    /// `a + b`
    Add(Operand, Operand),
    /// `a - b`
    Sub(Operand, Operand),
    /// `a * b`
    Mul(Operand, Operand),
    /// `a / b`
    Div(Operand, Operand),
    /// `f(a)`
    Call(Func, Operand),
    /// `a^n`
    Powi(Operand, i32),
    /// `a^b`
    Pow(Operand, Operand),
    /// `max(a, b)`
    Max(Operand, Operand),
    /// `min(a, b)`
    Min(Operand, Operand),
    /// `if a > b { t } else { e }`
    IfGt(Operand, Operand, Operand, Operand),
    /// `if a >= b { t } else { e }`
    IfGe(Operand, Operand, Operand, Operand),
    /// `__TN[k]`: element `k` of tensor node `N`'s array.
    Elem(u32, u32),
    /// `if a == b { t } else { e }`
    IfEq(Operand, Operand, Operand, Operand),
}

impl Op {
    /// The operands, in order.
    pub fn operands(&self) -> Vec<Operand> {
        match *self {
            Op::Copy(a) | Op::Neg(a) | Op::Call(_, a) | Op::Powi(a, _) => vec![a],
            Op::Add(a, b)
            | Op::Sub(a, b)
            | Op::Mul(a, b)
            | Op::Div(a, b)
            | Op::Pow(a, b)
            | Op::Max(a, b)
            | Op::Min(a, b) => vec![a, b],
            Op::IfGt(a, b, t, e) | Op::IfGe(a, b, t, e) | Op::IfEq(a, b, t, e) => {
                vec![a, b, t, e]
            }
            Op::Elem(t, _) => vec![Operand::Temp(Temp::Tensor(t))],
        }
    }
}

/// One statement of a method body.
#[derive(Clone, Debug, PartialEq)]
pub enum Instr {
    /// `__params = &self.params` (first in a body that reads [`Operand::Param`]).
    BindParams,
    /// `__t = [0; len]`: the temporaries array of a body above [`super::build::LET_LIMIT`].
    TempArray {
        /// Number of slots.
        len: usize,
    },
    /// `dst = op`
    Let {
        /// The temporary defined.
        dst: Temp,
        /// Its value.
        op: Op,
    },
    /// `__g = [values]`: gradient values saved before any parameter is written.
    SaveGradients {
        /// `__g[i]` is `values[i]`.
        values: Vec<Operand>,
    },
    /// `params[param] -= lr * grad`: one SGD write (`-= lr` when `grad` is 1, `+= lr`
    /// when it is -1).
    Update {
        /// The parameter written.
        param: usize,
        /// `dL/dparams[param]`.
        grad: Operand,
    },
    /// `params[param] -= step * factor`, or `params[param] -= step` without a factor:
    /// an SGD write whose `lr *` is in `step` (see [`super::step::scale_by_lr`]).
    UpdateByStep {
        /// The parameter written.
        param: usize,
        /// A [`Temp::Step`] holding `lr * x`.
        step: Temp,
        /// The rest of the gradient, `dL/dparams[param] = x * factor`.
        factor: Option<Operand>,
    },
    /// `grad[param] += value`
    AddGrad {
        /// The element of `grad` written.
        param: usize,
        /// `dL/dparams[param]`.
        value: Operand,
    },
    /// `(__loss, __grad) = self.gradient(input, target)`
    CallGradient,
    /// `params[k] -= lr * __grad[k]` for every `k` (one loop).
    UpdateAll,
    /// `grad[k] += __grad[k]` for every `k` (one loop).
    AddGradAll,
    /// `__TN = ...`: the array of tensor node `N` (see [`Loop`]).
    Loop {
        /// The tensor node (its array `__TN`).
        dst: u32,
        /// What computes it.
        op: Loop,
    },
    /// A parameter group's gradient written as a whole (SGD step or accumulation).
    WriteGroup(GroupWrite),
    /// `dst_i = func(arg_i)` for every call, evaluated together as one vector loop
    /// (one-sample code only; see [`super::call_group`]). No argument reads a `dst`.
    CallGroup {
        /// Numbers the group's local array (`__cgN`) within the body.
        id: u32,
        /// The function every call applies.
        func: Func,
        /// `(dst, arg)` pairs, in program order.
        calls: Vec<(Temp, Operand)>,
    },
}

impl Instr {
    /// The temporary this instruction defines, if any (one; a [`Instr::CallGroup`]'s
    /// several are in [`Instr::defines_all`]).
    pub fn defines(&self) -> Option<Temp> {
        match self {
            Instr::Let { dst, .. } => Some(*dst),
            Instr::Loop { dst, .. } => Some(Temp::Tensor(*dst)),
            _ => None,
        }
    }

    /// Every temporary this instruction defines (a fused loop defines two arrays).
    pub fn defines_all(&self) -> Vec<Temp> {
        match self {
            Instr::Loop {
                dst,
                op: Loop::MatVecMap { map_dst, .. },
            } => vec![Temp::Tensor(*dst), Temp::Tensor(*map_dst)],
            Instr::CallGroup { calls, .. } => calls.iter().map(|&(dst, _)| dst).collect(),
            other => other.defines().into_iter().collect(),
        }
    }

    /// The parameter ranges `[start, end)` it reads in place (tensor loops).
    pub fn param_reads(&self) -> Vec<(usize, usize)> {
        match self {
            Instr::Loop { op, .. } => op.param_reads(),
            Instr::WriteGroup(w) => {
                let mut ranges = Vec::new();
                for (a, len) in w.arrays().into_iter().zip([w.rows, w.cols]) {
                    let len = if matches!(w.value, GroupValue::Array(_)) {
                        w.rows * w.cols
                    } else {
                        len
                    };
                    ranges.extend(a.param_range(len));
                }
                ranges
            }
            _ => Vec::new(),
        }
    }

    /// The parameter range `[start, end)` it overwrites, if any (scalar or group).
    pub fn param_write_range(&self) -> Option<(usize, usize)> {
        match self {
            Instr::WriteGroup(w) if w.mode == WriteMode::Sgd => {
                Some((w.offset, w.offset + w.rows * w.cols))
            }
            Instr::Loop { op, .. } => op.param_write(),
            other => other.writes_param().map(|k| (k, k + 1)),
        }
    }

    /// The operands this instruction reads.
    pub fn reads(&self) -> Vec<Operand> {
        match self {
            Instr::Let { op, .. } => op.operands(),
            Instr::SaveGradients { values } => values.clone(),
            Instr::Update { grad, .. } => vec![Operand::Lr, *grad],
            Instr::UpdateByStep { step, factor, .. } => {
                let mut reads = vec![Operand::Temp(*step)];
                reads.extend(*factor);
                reads
            }
            Instr::AddGrad { value, .. } => vec![*value],
            Instr::CallGroup { calls, .. } => calls.iter().map(|&(_, arg)| arg).collect(),
            Instr::UpdateAll => vec![Operand::Lr],
            Instr::Loop { op, .. } => op.reads(),
            Instr::WriteGroup(w) => {
                let mut reads: Vec<Operand> = w.arrays().iter().map(|a| a.marker()).collect();
                if w.mode == WriteMode::Sgd {
                    reads.push(Operand::Lr);
                }
                reads
            }
            Instr::BindParams
            | Instr::TempArray { .. }
            | Instr::CallGradient
            | Instr::AddGradAll => Vec::new(),
        }
    }

    /// The parameter this instruction overwrites, if any: no instruction after it may
    /// read that parameter's old value.
    pub fn writes_param(&self) -> Option<usize> {
        match self {
            Instr::Update { param, .. } | Instr::UpdateByStep { param, .. } => Some(*param),
            _ => None,
        }
    }
}

/// What a method returns.
#[derive(Clone, Debug, PartialEq)]
pub enum Returns {
    /// `a`
    Value(Operand),
    /// `[values]`
    Array(Vec<Operand>),
    /// `(a, [values])`
    ValueAndArray(Operand, Vec<Operand>),
}

impl Returns {
    fn operands(&self) -> Vec<Operand> {
        match self {
            Returns::Value(a) => vec![*a],
            Returns::Array(values) => values.clone(),
            Returns::ValueAndArray(a, values) => {
                std::iter::once(*a).chain(values.iter().copied()).collect()
            }
        }
    }
}

/// The arguments and borrows a method body uses, for its signature (`_` for an unused
/// argument) and its [`Instr::BindParams`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Uses {
    /// Reads `input`.
    pub input: bool,
    /// Reads `target`.
    pub target: bool,
    /// Reads `__params`.
    pub params: bool,
    /// Reads `lr`.
    pub lr: bool,
    /// Writes `grad`.
    pub grad: bool,
    /// Reads a rolled loop's `__var` array.
    pub var: bool,
}

/// A method body: its statements and its result.
#[derive(Clone, Debug, PartialEq)]
pub struct Method {
    /// The statements, in order.
    pub instrs: Vec<Instr>,
    /// The tail expression.
    pub returns: Returns,
}

impl Method {
    /// `instrs` then `returns`, with [`Instr::BindParams`] in front when they read
    /// [`Operand::Param`].
    pub fn new(mut instrs: Vec<Instr>, returns: Returns) -> Method {
        let mut method = Method {
            instrs: Vec::new(),
            returns,
        };
        if method.scan(&instrs).params {
            method.instrs.push(Instr::BindParams);
        }
        method.instrs.append(&mut instrs);
        method
    }

    /// What the body uses.
    pub fn uses(&self) -> Uses {
        self.scan(&self.instrs)
    }

    fn scan(&self, instrs: &[Instr]) -> Uses {
        let mut uses = Uses::default();
        let reads = instrs
            .iter()
            .flat_map(Instr::reads)
            .chain(self.returns.operands());
        for operand in reads {
            match operand {
                Operand::Input(_) => uses.input = true,
                Operand::Target(_) => uses.target = true,
                Operand::Param(_) => uses.params = true,
                Operand::Lr => uses.lr = true,
                Operand::Var(_) => uses.var = true,
                _ => {}
            }
        }
        for instr in instrs {
            match instr {
                Instr::CallGradient => (uses.input, uses.target) = (true, true),
                Instr::AddGrad { .. } | Instr::AddGradAll => uses.grad = true,
                Instr::WriteGroup(w) if w.mode == WriteMode::Accumulate => {
                    uses.grad = true;
                }
                Instr::Loop {
                    op:
                        Loop::MatVecTWrite {
                            mode: WriteMode::Accumulate,
                            ..
                        },
                    ..
                } => uses.grad = true,
                _ => {}
            }
        }
        uses
    }
}

/// An array read by a loop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Array {
    /// `__T<n>`: the local array of tensor node `n`.
    Temp(u32),
    /// A declared group read in place.
    Leaf {
        /// `input`, `target` or the parameters.
        kind: LeafKind,
        /// The first element.
        offset: usize,
        /// Parameters read as `self.params` (a body that also writes them) rather
        /// than through `__params`.
        via_self: bool,
    },
}

impl Array {
    /// An operand standing for this array in [`Instr::reads`]: the temporary, or the
    /// group's first element (so signatures and borrows see the use).
    pub fn marker(self) -> Operand {
        match self {
            Array::Temp(n) => Operand::Temp(Temp::Tensor(n)),
            Array::Leaf {
                kind,
                offset,
                via_self,
            } => match kind {
                LeafKind::Input => Operand::Input(offset),
                LeafKind::Target => Operand::Target(offset),
                LeafKind::Param if via_self => Operand::ParamViaSelf(offset),
                LeafKind::Param => Operand::Param(offset),
            },
        }
    }

    /// The parameter elements this array reads in place, if it is a parameter group
    /// of `len` elements.
    pub fn param_range(self, len: usize) -> Option<(usize, usize)> {
        match self {
            Array::Leaf {
                kind: LeafKind::Param,
                offset,
                ..
            } => Some((offset, offset + len)),
            _ => None,
        }
    }
}

/// A map argument: an array, or a scalar that broadcasts.
#[derive(Clone, Debug, PartialEq)]
pub enum MapArg {
    /// Element `i` of an array.
    Array(Array),
    /// The same scalar for every element.
    Scalar(Operand),
}

/// `out[i] = kernel(args[0][i], args[1][i], ...)` for `i < len`.
#[derive(Clone, Debug, PartialEq)]
pub struct MapLoop {
    /// Number of elements.
    pub len: usize,
    /// One per lane.
    pub args: Vec<MapArg>,
    /// The kernel's statements (reading [`Operand::Lane`]s).
    pub body: Vec<Instr>,
    /// The kernel's value.
    pub result: Operand,
}

/// The operation of one tensor node, as emitted.
#[derive(Clone, Debug, PartialEq)]
pub enum Loop {
    /// `[a, b, ...]`
    Pack(Vec<Operand>),
    /// `W·x` for `W` of `rows × cols`.
    MatVec {
        /// The matrix.
        w: Array,
        /// The vector.
        x: Array,
        /// Rows of `W`.
        rows: usize,
        /// Columns of `W`.
        cols: usize,
    },
    /// `W·x` (stored in the destination) and the map consuming it (stored in
    /// `map_dst`), in one pass: lane `z_lane` of the map is the row's sum.
    MatVecMap {
        /// The matrix.
        w: Array,
        /// The vector.
        x: Array,
        /// Rows of `W`.
        rows: usize,
        /// Columns of `W`.
        cols: usize,
        /// The map.
        map: MapLoop,
        /// Its lane reading the product.
        z_lane: usize,
        /// Its tensor node.
        map_dst: u32,
    },
    /// `Wᵀ·d` for `W` of `rows × cols`.
    MatVecT {
        /// The matrix.
        w: Array,
        /// The vector (`rows` long).
        d: Array,
        /// Rows of `W`.
        rows: usize,
        /// Columns of `W`.
        cols: usize,
    },
    /// `Wᵀ·d` and the write of the gradient `d·hᵀ` of the parameter group `W` (at
    /// `offset`) in one pass over `W`.
    MatVecTWrite {
        /// The group's first parameter.
        offset: usize,
        /// The layer's adjoint (`rows` long).
        d: Array,
        /// The layer's input (`cols` long).
        h: Array,
        /// Rows of `W`.
        rows: usize,
        /// Columns of `W`.
        cols: usize,
        /// An SGD step or a gradient accumulation.
        mode: WriteMode,
    },
    /// `a·bᵀ`, materialised.
    Outer {
        /// `rows` long.
        a: Array,
        /// `cols` long.
        b: Array,
        /// Length of `a`.
        rows: usize,
        /// Length of `b`.
        cols: usize,
    },
    /// `op(a)·op(b)`, the general product (`m × k` times `k × p`).
    MatMul {
        /// Left factor.
        a: Array,
        /// Right factor.
        b: Array,
        /// Transpose `a`.
        ta: bool,
        /// Transpose `b`.
        tb: bool,
        /// Rows of the result.
        m: usize,
        /// Inner dimension.
        k: usize,
        /// Columns of the result.
        p: usize,
    },
    /// An elementwise map.
    Map(MapLoop),
    /// `[Σ_i v[i]]` over `len` elements.
    Sum(Array, usize),
    /// `mᵀ` for `m` of `rows × cols`.
    Transpose(Array, usize, usize),
}

/// How a gradient is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// `params -= lr · g` (`sgd_step`).
    Sgd,
    /// `grad += g` (`accumulate_gradient`).
    Accumulate,
}

/// The gradient of a parameter group computed as a whole.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GroupValue {
    /// An array of the group's size.
    Array(Array),
    /// `a·bᵀ` (a weight: its layer's adjoint times its input), never materialised.
    Outer(Array, Array),
}

/// A parameter group's gradient written as a whole.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroupWrite {
    /// The group's first parameter.
    pub offset: usize,
    /// Rows (the length of the outer product's left factor; 1 for an array).
    pub rows: usize,
    /// Columns (the group's length for an array).
    pub cols: usize,
    /// The gradient.
    pub value: GroupValue,
    /// SGD step or accumulation.
    pub mode: WriteMode,
}

impl GroupWrite {
    /// The arrays it reads.
    pub fn arrays(&self) -> Vec<Array> {
        match self.value {
            GroupValue::Array(a) => vec![a],
            GroupValue::Outer(a, b) => vec![a, b],
        }
    }

    /// Whether it reads a parameter group in place (then an SGD step cannot borrow
    /// the parameters mutably while it runs).
    pub fn reads_params(&self) -> bool {
        self.arrays().iter().any(|a| a.param_range(1).is_some())
    }
}

impl Loop {
    /// Values per sample of the arrays it defines (for stack estimates).
    pub fn values(&self) -> usize {
        match self {
            Loop::Pack(items) => items.len(),
            Loop::MatVec { rows, .. } => *rows,
            Loop::MatVecMap { rows, .. } => 2 * rows,
            Loop::MatVecT { cols, .. } | Loop::MatVecTWrite { cols, .. } => *cols,
            Loop::Outer { rows, cols, .. } | Loop::Transpose(_, rows, cols) => rows * cols,
            Loop::MatMul { m, p, .. } => m * p,
            Loop::Map(map) => map.len,
            Loop::Sum(..) => 1,
        }
    }

    /// The arrays and scalars it reads, as operands (see [`Array::marker`]).
    pub fn reads(&self) -> Vec<Operand> {
        let arrays = |list: &[Array]| list.iter().map(|a| a.marker()).collect::<Vec<_>>();
        match self {
            Loop::Pack(items) => items.clone(),
            Loop::MatVec { w, x, .. } => arrays(&[*w, *x]),
            Loop::MatVecMap { w, x, map, .. } => {
                let mut reads = arrays(&[*w, *x]);
                reads.extend(map_reads(map));
                reads
            }
            Loop::MatVecT { w, d, .. } => arrays(&[*w, *d]),
            Loop::MatVecTWrite {
                offset, d, h, mode, ..
            } => {
                let mut reads = arrays(&[*d, *h]);
                reads.push(match mode {
                    WriteMode::Sgd => Operand::Lr,
                    WriteMode::Accumulate => Operand::Param(*offset),
                });
                reads
            }
            Loop::Outer { a, b, .. } | Loop::MatMul { a, b, .. } => arrays(&[*a, *b]),
            Loop::Map(map) => map_reads(map),
            Loop::Sum(v, _) | Loop::Transpose(v, ..) => arrays(&[*v]),
        }
    }

    /// The parameter ranges it reads in place.
    pub fn param_reads(&self) -> Vec<(usize, usize)> {
        let mut ranges = Vec::new();
        let mut add = |a: &Array, len: usize| ranges.extend(a.param_range(len));
        match self {
            Loop::MatVec { w, x, rows, cols }
            | Loop::MatVecMap {
                w, x, rows, cols, ..
            } => {
                add(w, rows * cols);
                add(x, *cols);
            }
            Loop::MatVecT { w, d, rows, cols } => {
                add(w, rows * cols);
                add(d, *rows);
            }
            Loop::MatVecTWrite {
                offset,
                rows,
                cols,
                h,
                ..
            } => {
                ranges.push((*offset, offset + rows * cols));
                ranges.extend(h.param_range(*cols));
            }
            Loop::Outer { a, b, rows, cols } => {
                add(a, *rows);
                add(b, *cols);
            }
            Loop::MatMul { a, b, m, k, p, .. } => {
                add(a, m * k);
                add(b, k * p);
            }
            Loop::Sum(v, len) => add(v, *len),
            Loop::Transpose(v, r, c) => add(v, r * c),
            Loop::Pack(_) | Loop::Map(_) => {}
        }
        if let Loop::Map(map) | Loop::MatVecMap { map, .. } = self {
            for arg in &map.args {
                if let MapArg::Array(a) = arg {
                    ranges.extend(a.param_range(map.len));
                }
            }
        }
        ranges
    }

    /// The parameter range it overwrites (a fused SGD step).
    pub fn param_write(&self) -> Option<(usize, usize)> {
        match self {
            Loop::MatVecTWrite {
                offset,
                rows,
                cols,
                mode: WriteMode::Sgd,
                ..
            } => Some((*offset, offset + rows * cols)),
            _ => None,
        }
    }
}

fn map_reads(map: &MapLoop) -> Vec<Operand> {
    map.args
        .iter()
        .map(|arg| match arg {
            MapArg::Array(a) => a.marker(),
            MapArg::Scalar(s) => *s,
        })
        .collect()
}
