//! Building a method body's instructions from a schedule: one [`Instr::Let`] per
//! scheduled node (or one [`Instr::Loop`] per tensor node), leaves inline.

use super::ir::{Array, Instr, Loop, MapArg, MapLoop, Op, Operand, Temp};
use crate::graph::{Graph, Node, NodeId};
use crate::schedule::schedule;
use crate::tensor::{rows_cols, TensorOp};

/// Bodies longer than this keep their temporaries in one array instead of one `let`
/// each: every `let` opens a nested debug-info scope, and a few thousand nested scopes
/// overflow LLVM's stack in debug builds (seen with a 2-32-32-1 net). Small bodies keep
/// plain `let`s, which LLVM optimises best.
pub const LET_LIMIT: usize = 1000;

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
        let array = schedule.len() > LET_LIMIT;
        Body::from_schedule(graph, schedule, params, array)
    }

    /// One part of a method computed in several parts (a program around rolled loops,
    /// `emit/rolled.rs`): the body computing `roots` except the nodes `done` marks,
    /// which earlier parts computed (or the caller binds: what only they read is not
    /// computed); it marks its own. Temporaries are always `let`s, so later parts of
    /// the same function see them.
    pub fn part(
        graph: &'g Graph,
        roots: &[NodeId],
        params: ParamAccess,
        done: &mut [bool],
    ) -> Self {
        let mut live = vec![false; graph.len()];
        for r in roots {
            live[r.index()] = true;
        }
        for i in (0..graph.len()).rev() {
            if live[i] && !done[i] {
                for c in graph.children(NodeId::from_index(i)) {
                    live[c.index()] = true;
                }
            }
        }
        let schedule: Vec<NodeId> = schedule(graph, roots)
            .into_iter()
            .filter(|id| live[id.index()] && !done[id.index()])
            .collect();
        for id in &schedule {
            done[id.index()] = true;
        }
        Body::from_schedule(graph, schedule, params, false)
    }

    fn from_schedule(
        graph: &'g Graph,
        schedule: Vec<NodeId>,
        params: ParamAccess,
        array: bool,
    ) -> Self {
        let slots = array.then(|| {
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
            Node::Var(k) => Operand::Var(k),
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
            | Node::Var(_)
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
    use crate::emit::ir::{Method, Returns};
    use crate::graph::Func;

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
