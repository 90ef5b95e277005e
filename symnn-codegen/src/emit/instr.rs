//! The instruction list of a method body: flat data, one statement per entry (in the
//! spirit of cranelift's and ISLE's instructions), built from a schedule here, rewritten
//! by [`super::step`], and turned into tokens only by [`super::tokens`].
//!
//! Every variant's meaning is its formula. Temporaries are single-assignment: each
//! [`Temp`] is the `dst` of at most one [`Instr::Let`], before any instruction reads it.

use std::hash::{Hash, Hasher};

use super::loops::{Array, GroupWrite, Loop, MapArg, MapLoop};
use crate::graph::{Func, Graph, Node, NodeId};
use crate::schedule::schedule;
use crate::tensor::{rows_cols, TensorOp};

/// Bodies longer than this keep their temporaries in one array instead of one `let`
/// each: every `let` opens a nested debug-info scope, and a few thousand nested scopes
/// overflow LLVM's stack in debug builds (seen with a 2-32-32-1 net). Small bodies keep
/// plain `let`s, which LLVM optimises best.
pub const LET_LIMIT: usize = 1000;

/// A value computed by one instruction and read by later ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Temp {
    /// `__tN`: the value of graph node `N`, bound by a `let` of its own.
    Node(u32),
    /// `__t[N]`: slot `N` of the temporaries array (bodies above [`LET_LIMIT`]).
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
    /// `__t = [0; len]`: the temporaries array of a body above [`LET_LIMIT`].
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
    /// `__TN = ...`: the array of tensor node `N` (see [`super::loops`]).
    Loop {
        /// The tensor node (its array `__TN`).
        dst: u32,
        /// What computes it.
        op: Loop,
    },
    /// A parameter group's gradient written as a whole (SGD step or accumulation).
    WriteGroup(GroupWrite),
}

impl Instr {
    /// The temporary this instruction defines, if any.
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
                    let len = if matches!(w.value, super::loops::GroupValue::Array(_)) {
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
            Instr::WriteGroup(w) if w.mode == super::loops::WriteMode::Sgd => {
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
            Instr::UpdateAll => vec![Operand::Lr],
            Instr::Loop { op, .. } => op.reads(),
            Instr::WriteGroup(w) => {
                let mut reads: Vec<Operand> = w.arrays().iter().map(|a| a.marker()).collect();
                if w.mode == super::loops::WriteMode::Sgd {
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
                _ => {}
            }
        }
        for instr in instrs {
            match instr {
                Instr::CallGradient => (uses.input, uses.target) = (true, true),
                Instr::AddGrad { .. } | Instr::AddGradAll => uses.grad = true,
                Instr::WriteGroup(w) if w.mode == super::loops::WriteMode::Accumulate => {
                    uses.grad = true;
                }
                Instr::Loop {
                    op:
                        Loop::MatVecTWrite {
                            mode: super::loops::WriteMode::Accumulate,
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

/// How a body reads parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamAccess {
    /// Through `__params` ([`Operand::Param`]).
    Shared,
    /// As `self.params[k]` ([`Operand::ParamViaSelf`]), for a body that writes them.
    ViaSelf,
}

/// The instructions computing some graph nodes: one [`Instr::Let`] per scheduled node,
/// in schedule order, and every node's [`Operand`] for the instructions that follow.
pub struct Body<'g> {
    graph: &'g Graph,
    params: ParamAccess,
    /// In array mode, each scheduled node's slot in `__t`, by node index.
    slots: Option<Vec<u32>>,
    /// The scheduled nodes (for operation counts).
    pub schedule: Vec<NodeId>,
    /// The statements ([`Instr::TempArray`] first in array mode, then one
    /// [`Instr::Let`] per scheduled node).
    pub instrs: Vec<Instr>,
}

impl<'g> Body<'g> {
    /// The body computing `roots`.
    pub fn new(graph: &'g Graph, roots: &[NodeId], params: ParamAccess) -> Self {
        let schedule = schedule(graph, roots);
        let slots = (schedule.len() > LET_LIMIT).then(|| {
            let mut slots = vec![u32::MAX; graph.len()];
            for (i, id) in schedule.iter().enumerate() {
                slots[id.index()] = u32::try_from(i).expect("fewer than 2^32 instructions");
            }
            slots
        });
        let mut body = Body {
            graph,
            params,
            slots,
            schedule: Vec::new(),
            instrs: Vec::with_capacity(schedule.len() + 1),
        };
        if body.slots.is_some() {
            body.instrs.push(Instr::TempArray {
                len: schedule.len(),
            });
        }
        for &id in &schedule {
            if graph.is_tensor(id) {
                if let Some(op) = body.tensor_loop(id) {
                    let dst = u32::try_from(id.index()).expect("fewer than 2^32 nodes");
                    body.instrs.push(Instr::Loop { dst, op });
                }
                continue;
            }
            let Some(op) = body.op(graph.node(id)) else {
                continue;
            };
            let Operand::Temp(dst) = body.operand(id) else {
                unreachable!("a scheduled node is a temporary")
            };
            body.instrs.push(Instr::Let { dst, op });
        }
        body.schedule = schedule;
        body
    }

    /// Number of scheduled nodes.
    pub fn len(&self) -> usize {
        self.schedule.len()
    }

    /// A node as an operand: a temporary, or a leaf read inline.
    pub fn operand(&self, id: NodeId) -> Operand {
        match self.graph.node(id) {
            Node::Const(bits) => Operand::Const(f64::from_bits(bits)),
            Node::Input(k) => Operand::Input(k as usize),
            Node::Target(k) => Operand::Target(k as usize),
            Node::Param(k) => match self.params {
                ParamAccess::Shared => Operand::Param(k as usize),
                ParamAccess::ViaSelf => Operand::ParamViaSelf(k as usize),
            },
            Node::StopGradient(a) => self.operand(a),
            Node::Lane(j) => Operand::Lane(j),
            _ => Operand::Temp(match &self.slots {
                Some(slots) => Temp::Slot(slots[id.index()]),
                None => Temp::Node(u32::try_from(id.index()).expect("fewer than 2^32 nodes")),
            }),
        }
    }

    /// The operation of a non-leaf node; `None` for leaves and aliases, which are
    /// operands, never scheduled.
    fn op(&self, node: Node) -> Option<Op> {
        let o = |id| self.operand(id);
        Some(match node {
            Node::Neg(a) => Op::Neg(o(a)),
            Node::Add(a, b) => Op::Add(o(a), o(b)),
            Node::Sub(a, b) => Op::Sub(o(a), o(b)),
            Node::Mul(a, b) => Op::Mul(o(a), o(b)),
            Node::Div(a, b) => Op::Div(o(a), o(b)),
            Node::Call(f, a) => Op::Call(f, o(a)),
            Node::Powi(a, n) => Op::Powi(o(a), n),
            Node::Pow(a, b) => Op::Pow(o(a), o(b)),
            Node::Max(a, b) => Op::Max(o(a), o(b)),
            Node::Min(a, b) => Op::Min(o(a), o(b)),
            Node::IfGt(a, b, t, e) => Op::IfGt(o(a), o(b), o(t), o(e)),
            Node::IfGe(a, b, t, e) => Op::IfGe(o(a), o(b), o(t), o(e)),
            Node::Elem(t, k) => {
                Op::Elem(u32::try_from(t.index()).expect("fewer than 2^32 nodes"), k)
            }
            Node::IfEq(a, b, t, e) => Op::IfEq(o(a), o(b), o(t), o(e)),
            Node::Const(_)
            | Node::Input(_)
            | Node::Target(_)
            | Node::Param(_)
            | Node::Lane(_)
            | Node::Tensor(_)
            | Node::StopGradient(_) => return None,
        })
    }

    /// A tensor node as an array operand: a declared group in place, or its local.
    pub fn array(&self, id: NodeId) -> Array {
        match self.graph.tensor_node(id).map(|t| &t.op) {
            Some(&TensorOp::Leaf { kind, offset }) => Array::Leaf {
                kind,
                offset: offset as usize,
                via_self: self.params == ParamAccess::ViaSelf,
            },
            _ => Array::Temp(u32::try_from(id.index()).expect("fewer than 2^32 nodes")),
        }
    }

    /// The loop computing a tensor node; `None` for a declared group (read in place).
    fn tensor_loop(&self, id: NodeId) -> Option<Loop> {
        let g = self.graph;
        let def = g.tensor_node(id)?;
        let a = |n: NodeId| self.array(n);
        Some(match &def.op {
            TensorOp::Leaf { .. } => return None,
            TensorOp::Pack(items) => Loop::Pack(items.iter().map(|&s| self.operand(s)).collect()),
            &TensorOp::MatMul { a: x, b: y, ta, tb } => {
                let (xs, ys) = (g.shape_of(x), g.shape_of(y));
                let ((xr, xc), (yr, yc)) = (rows_cols(xs), rows_cols(ys));
                let y_vector = matches!(ys, crate::shape::Shape::Vector(_));
                let x_vector = matches!(xs, crate::shape::Shape::Vector(_));
                match (ta, tb) {
                    (false, false) if y_vector && !x_vector => Loop::MatVec {
                        w: a(x),
                        x: a(y),
                        rows: xr,
                        cols: xc,
                    },
                    (true, false) if y_vector && !x_vector => Loop::MatVecT {
                        w: a(x),
                        d: a(y),
                        rows: xr,
                        cols: xc,
                    },
                    (false, true) if x_vector && y_vector => Loop::Outer {
                        a: a(x),
                        b: a(y),
                        rows: xr,
                        cols: yr,
                    },
                    _ => {
                        let (m, k) = if ta { (xc, xr) } else { (xr, xc) };
                        let p = if tb { yr } else { yc };
                        Loop::MatMul {
                            a: a(x),
                            b: a(y),
                            ta,
                            tb,
                            m,
                            k,
                            p,
                        }
                    }
                }
            }
            TensorOp::Map { kernel, args } => {
                Loop::Map(self.map_loop(def.shape.len(), *kernel, args))
            }
            &TensorOp::Sum(t) => Loop::Sum(a(t), g.shape_of(t).len()),
            &TensorOp::Transpose(t) => {
                let (r, c) = rows_cols(g.shape_of(t));
                Loop::Transpose(a(t), r, c)
            }
        })
    }

    fn map_loop(&self, len: usize, kernel: NodeId, args: &[NodeId]) -> MapLoop {
        let body = Body::new(self.graph, &[kernel], self.params);
        let args = args
            .iter()
            .map(|&arg| {
                if self.graph.is_tensor(arg) {
                    MapArg::Array(self.array(arg))
                } else {
                    MapArg::Scalar(self.operand(arg))
                }
            })
            .collect();
        MapLoop {
            len,
            args,
            result: body.operand(kernel),
            body: body.instrs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_one_let_per_scheduled_node_with_leaves_inline() {
        let mut g = Graph::new();
        let (w, x) = (g.insert(Node::Param(0)), g.insert(Node::Input(0)));
        let wx = g.insert(Node::Mul(w, x));
        let y = g.insert(Node::Call(Func::Tanh, wx));
        let body = Body::new(&g, &[y], ParamAccess::Shared);
        let (Operand::Temp(t_wx), Operand::Temp(t_y)) = (body.operand(wx), body.operand(y)) else {
            panic!("computed nodes are temporaries");
        };
        let op = |id| match g.node(id) {
            Node::Mul(a, b) => Op::Mul(body.operand(a), body.operand(b)),
            _ => unreachable!(),
        };
        assert_eq!(
            body.instrs,
            vec![
                Instr::Let {
                    dst: t_wx,
                    op: op(wx)
                },
                Instr::Let {
                    dst: t_y,
                    op: Op::Call(Func::Tanh, Operand::Temp(t_wx))
                },
            ]
        );
        let via_self = Body::new(&g, &[y], ParamAccess::ViaSelf);
        assert_eq!(via_self.operand(w), Operand::ParamViaSelf(0));
    }

    #[test]
    fn methods_bind_params_only_when_they_read_them() {
        let read = Instr::Let {
            dst: Temp::Node(0),
            op: Op::Neg(Operand::Param(3)),
        };
        let method = Method::new(vec![read.clone()], Returns::Value(Operand::Input(1)));
        assert_eq!(method.instrs, vec![Instr::BindParams, read]);
        let uses = method.uses();
        assert!(uses.params && uses.input && !uses.target && !uses.lr && !uses.grad);

        let call = Method::new(
            vec![Instr::CallGradient, Instr::UpdateAll],
            Returns::Value(Operand::Temp(Temp::Loss)),
        );
        assert_eq!(call.instrs.len(), 2);
        let uses = call.uses();
        assert!(uses.input && uses.target && uses.lr && !uses.params && !uses.grad);
    }
}
