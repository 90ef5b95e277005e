//! User `fn` calls: inlined with their arguments, element by element for an
//! elementwise call; a body that differentiates with respect to its own parameters is
//! lowered on placeholder leaves, which are then substituted by the arguments.

use std::collections::HashMap;

use super::{Lowering, Tensor, Value};
use crate::graph::{Node, NodeId};
use crate::resolved::{Expr, ExprKind, FnId, Wrt, WrtBase};
use crate::shape::Shape;
use crate::tensor::{LeafKind, TensorOp};

/// Placeholder leaves for the parameters of a `fn` whose body differentiates with
/// respect to them: `Node::Input(k)` with `k` at or above this (no network has that
/// many inputs). They never reach the emitter: [`Lowering::call`] substitutes them.
pub(super) const PLACEHOLDER_BASE: u32 = 1 << 30;

/// Whether an expression (a `fn` body) contains `diff`/`laplacian` with respect to
/// one of the `fn`'s own parameters.
fn differentiates_args(e: &Expr) -> bool {
    let wrt_arg = |w: &Wrt| matches!(w.base, WrtBase::Arg(_));
    match &e.kind {
        ExprKind::Diff(a, w) | ExprKind::Laplacian(a, w) => wrt_arg(w) || differentiates_args(a),
        ExprKind::Num(_)
        | ExprKind::LoopVar(_)
        | ExprKind::Slot(_)
        | ExprKind::Binding(_)
        | ExprKind::Arg(_) => false,
        ExprKind::Neg(a) | ExprKind::Index(a, _) | ExprKind::Powi(a, _) => differentiates_args(a),
        ExprKind::Dense { input, .. } => differentiates_args(input),
        ExprKind::Elementwise(_, a, b) | ExprKind::MatMul(a, b) => {
            differentiates_args(a) || differentiates_args(b)
        }
        ExprKind::Array(items) | ExprKind::Apply(_, items) | ExprKind::Call(_, items) => {
            items.iter().any(differentiates_args)
        }
    }
}

impl Lowering<'_> {
    /// A user `fn`, inlined element by element (scalar arguments broadcast). Its body
    /// is scalar code (a kernel, when the call is elementwise over a tensor): arrays
    /// inside it are never tensor nodes.
    pub(super) fn apply_fn(&mut self, f: FnId, values: &[Tensor], shape: Shape) -> Tensor {
        self.scalar_code(|this| this.apply_fn_scalar(f, values, shape))
    }

    fn apply_fn_scalar(&mut self, f: FnId, values: &[Tensor], shape: Shape) -> Tensor {
        let elems = (0..shape.len())
            .map(|i| {
                let args = values
                    .iter()
                    .map(|v| Tensor::scalar(v.at(i)).into())
                    .collect();
                let result = self.call(f, args);
                self.scalars(result).elems[0]
            })
            .collect();
        Tensor { shape, elems }
    }

    /// A user `fn` inlined with these arguments (whole values).
    ///
    /// A body that differentiates with respect to its own parameters is lowered with
    /// fresh placeholder leaves for them, differentiated there, and the placeholders
    /// are then replaced by the arguments ([`Lowering::substitute`]): the derivative is
    /// with respect to the parameter, not to whatever nodes the argument shares with
    /// the rest of the body.
    pub(super) fn call(&mut self, f: FnId, args: Vec<Value>) -> Value {
        let function = &self.program.fns[f.0 as usize];
        let body = &function.body;
        if !differentiates_args(body) {
            let saved = std::mem::replace(&mut self.args, args);
            let result = self.expr(body);
            self.args = saved;
            return result;
        }
        let mut placeholders = Vec::with_capacity(args.len());
        let mut replace: HashMap<NodeId, NodeId> = HashMap::new();
        let mut tensors: Vec<(u32, Value)> = Vec::new();
        for (arg, &shape) in args.into_iter().zip(&function.params) {
            let shape = if function.shaped {
                shape
            } else {
                self.shape(&arg)
            };
            let first = self.next_placeholder;
            self.next_placeholder += u32::try_from(shape.len()).expect("bounded sizes");
            let elems: Vec<NodeId> = (0..shape.len())
                .map(|i| self.graph.insert(Node::Input(first + i as u32)))
                .collect();
            let actual = self.scalars(arg.clone());
            for (&p, &a) in elems.iter().zip(&actual.elems) {
                replace.insert(p, a);
            }
            tensors.push((first, arg));
            placeholders.push(Tensor { shape, elems }.into());
        }
        let saved = std::mem::replace(&mut self.args, placeholders);
        let result = self.expr(body);
        self.args = saved;
        self.substitute(result, &replace, &tensors)
    }

    /// `value` with the placeholder leaves replaced: scalars by `replace`, a
    /// placeholder tensor (a whole argument read as a tensor) by the argument.
    fn substitute(
        &mut self,
        value: Value,
        replace: &HashMap<NodeId, NodeId>,
        tensors: &[(u32, Value)],
    ) -> Value {
        let roots: Vec<NodeId> = match &value {
            Value::Scalars(t) => t.elems.clone(),
            Value::Wide(t) => vec![*t],
        };
        let Some(start) = replace.keys().min().copied() else {
            return value;
        };
        let end = roots.iter().max().map_or(0, |r| r.index() + 1);
        let mut done: HashMap<NodeId, NodeId> = replace.clone();
        for i in start.index()..end {
            let id = NodeId::from_index(i);
            if done.contains_key(&id) {
                continue;
            }
            let new = match self.graph.tensor_node(id).cloned() {
                Some(def) => match def.op {
                    TensorOp::Leaf {
                        kind: LeafKind::Input,
                        offset,
                    } if offset >= PLACEHOLDER_BASE => {
                        let (first, arg) = tensors
                            .iter()
                            .rev()
                            .find(|(first, _)| *first <= offset)
                            .cloned()
                            .expect("a placeholder tensor belongs to an argument");
                        let skip = (offset - first) as usize;
                        let whole = skip == 0 && self.shape(&arg).len() == def.shape.len();
                        if whole {
                            self.as_tensor(arg)
                        } else {
                            let scalars = self.scalars(arg);
                            let items = scalars.elems[skip..skip + def.shape.len()].to_vec();
                            self.graph.pack(def.shape, items)
                        }
                    }
                    op => {
                        let operands = op.operands();
                        if !operands.iter().any(|o| done.contains_key(o)) {
                            continue;
                        }
                        let m = |n: NodeId| done.get(&n).copied().unwrap_or(n);
                        match op {
                            TensorOp::Leaf { .. } => continue,
                            TensorOp::Pack(items) => self
                                .graph
                                .pack(def.shape, items.into_iter().map(m).collect()),
                            TensorOp::MatMul { a, b, ta, tb } => {
                                self.graph.matmul(m(a), m(b), ta, tb)
                            }
                            TensorOp::Map { kernel, args } => {
                                self.graph
                                    .map(def.shape, kernel, args.into_iter().map(m).collect())
                            }
                            TensorOp::Sum(t) => {
                                self.graph.tensor(Shape::Scalar, TensorOp::Sum(m(t)))
                            }
                            TensorOp::Transpose(t) => self.graph.transpose(m(t)),
                        }
                    }
                },
                None => {
                    let node = self.graph.node(id);
                    if node.is_leaf() || !node.children().any(|c| done.contains_key(&c)) {
                        continue;
                    }
                    let rebuilt = node.map_children(|c| done.get(&c).copied().unwrap_or(c));
                    self.graph.insert(rebuilt)
                }
            };
            done.insert(id, new);
        }
        let m = |n: NodeId| done.get(&n).copied().unwrap_or(n);
        match value {
            Value::Scalars(t) => Tensor {
                shape: t.shape,
                elems: t.elems.into_iter().map(m).collect(),
            }
            .into(),
            Value::Wide(t) => Value::Wide(m(t)),
        }
    }
}
