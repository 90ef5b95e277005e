//! The two tiers: whether an array operation is scalarised (one node per element,
//! unrolled) or becomes one tensor node ([`crate::tensor`], above the program's tensor
//! threshold or on a tensor operand), and building values in either form.

use super::builtins::reduction_term;
use super::{Lowering, Tensor, Value, MATRIX_VIEW_ELEMENTS};
use crate::builtins::Builtin;
use crate::graph::{Func, Graph, Node, NodeId};
use crate::resolved::Activation;
use crate::shape::Shape;
use crate::tensor::{LeafKind, TensorOp};

impl Lowering<'_> {
    // ---- The choice, and the tensor tier ------------------------------------------

    /// Whether an operation producing `shape` with `work` multiply-adds or elements
    /// goes to the tensor path: it does when it is big enough, or when an operand
    /// already is a tensor (so elementwise chains on a layer stay whole). Scalars
    /// never do.
    pub(super) fn goes_wide(&self, shape: Shape, work: usize, operands: &[&Value]) -> bool {
        shape != Shape::Scalar
            && (work as u64 >= self.threshold
                || operands.iter().any(|v| matches!(v, Value::Wide(_))))
    }

    /// Whether a `dense` layer (`dense`) or a matrix product or transpose whose
    /// largest matrix has `matrix_elems` elements goes to the tensor path: as
    /// [`Lowering::goes_wide`] says, or, in the derivation's matrix view, whenever the
    /// view prints it as a matrix formula (every `dense` layer, and products with a
    /// matrix of more than [`MATRIX_VIEW_ELEMENTS`] elements). The generated code's
    /// lowering only notes that the view would differ.
    pub(super) fn product_goes_wide(
        &mut self,
        shape: Shape,
        work: usize,
        operands: &[&Value],
        dense: bool,
        matrix_elems: usize,
    ) -> bool {
        if self.goes_wide(shape, work, operands) {
            return true;
        }
        let shown = shape != Shape::Scalar
            && !self.scalar_code
            && (dense || matrix_elems > MATRIX_VIEW_ELEMENTS);
        self.matrix_view_differs |= shown;
        shown && self.matrix_view
    }

    /// Runs `f` as scalar code (a user `fn` body or a map kernel): no array
    /// operation in it becomes a tensor node.
    pub(super) fn scalar_code<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        let saved = (
            std::mem::replace(&mut self.threshold, u64::MAX),
            std::mem::replace(&mut self.scalar_code, true),
        );
        let result = f(self);
        (self.threshold, self.scalar_code) = saved;
        result
    }

    /// `activation(W·x + b)` on the tensor path: one product and one map over
    /// `[W·x, b]`, the groups read in place.
    pub(super) fn wide_dense(
        &mut self,
        x: Value,
        shape: Shape,
        weight: usize,
        bias: usize,
        activation: Activation,
    ) -> Value {
        let x = self.as_tensor(x);
        let (w, b) = (&self.program.params[weight], &self.program.params[bias]);
        let w = self.graph.leaf_tensor(LeafKind::Param, w.offset, w.shape);
        let b = self.graph.leaf_tensor(LeafKind::Param, b.offset, b.shape);
        let z = self.graph.matmul(w, x, false, false);
        let (l0, l1) = (self.graph.lane(0), self.graph.lane(1));
        let pre = Tensor::scalar(self.graph.add(l0, l1));
        let kernel = match activation {
            Activation::Builtin(f) => self.builtin(f, vec![pre], Shape::Scalar),
            Activation::Fn(f) => self.apply_fn(f, &[pre], Shape::Scalar),
        }
        .elems[0];
        Value::Wide(self.graph.map(shape, kernel, vec![z, b]))
    }

    /// A builtin applied to lowered values: elementwise ones, reductions and
    /// transposes may go wide; the softmax family scalarises its operand.
    pub(super) fn apply(&mut self, b: Builtin, values: Vec<Value>, shape: Shape) -> Value {
        if b.is_elementwise() {
            return self.elementwise(shape, values, |this, l| {
                let args: Vec<Tensor> = l.iter().map(|&x| Tensor::scalar(x)).collect();
                this.builtin(b, args, Shape::Scalar).elems[0]
            });
        }
        let refs: Vec<&Value> = values.iter().collect();
        match b {
            Builtin::Sum
            | Builtin::Mean
            | Builtin::Dot
            | Builtin::Mse
            | Builtin::Bce
            | Builtin::BceLogits => {
                let zipped = values
                    .iter()
                    .map(|v| self.shape(v))
                    .reduce(|x, y| x.broadcast(y).unwrap_or(x))
                    .unwrap_or(Shape::Scalar);
                if self.goes_wide(zipped, zipped.len(), &refs) {
                    if let Some(value) = self.view_bce_on_sigmoid(b, &values, zipped) {
                        return value;
                    }
                    let lanes: Vec<NodeId> =
                        (0..values.len()).map(|j| self.graph.lane(j)).collect();
                    let term = match b {
                        Builtin::Sum | Builtin::Mean => lanes[0],
                        _ => reduction_term(&mut self.graph, b, lanes[0], lanes[1]),
                    };
                    let args = values.into_iter().map(|v| self.map_arg(v)).collect();
                    let terms = self.graph.map(zipped, term, args);
                    let total = self.graph.sum_all(terms);
                    let value = match b {
                        Builtin::Sum | Builtin::Dot => total,
                        _ => self.graph.scale(1.0 / zipped.len() as f64, total),
                    };
                    return Tensor::scalar(value).into();
                }
            }
            Builtin::Transpose => {
                let len = self.shape(&values[0]).len();
                if self.product_goes_wide(shape, len, &refs, false, len) {
                    let x = self.as_tensor(values.into_iter().next().expect("one argument"));
                    return Value::Wide(self.graph.transpose(x));
                }
            }
            _ => {}
        }
        let args: Vec<Tensor> = values.into_iter().map(|v| self.scalars(v)).collect();
        self.builtin(b, args, shape).into()
    }

    /// The matrix view only: `bce(p, t)` on a sigmoid layer `p` as the scalar tier
    /// writes it (and the generated code computes it, when that layer is scalarised):
    /// the textbook form on the sigmoid, gradient `σ(z) − t`, rather than the tensor
    /// tier's form with a select per term.
    fn view_bce_on_sigmoid(&mut self, b: Builtin, values: &[Value], shape: Shape) -> Option<Value> {
        let [Value::Wide(p), t] = values else {
            return None;
        };
        if !self.matrix_view || b != Builtin::Bce || self.graph.shape_of(*p) != shape {
            return None;
        }
        let Some(TensorOp::Map { kernel, args }) =
            self.graph.tensor_node(*p).map(|node| node.op.clone())
        else {
            return None;
        };
        if !matches!(self.graph.node(kernel), Node::Call(Func::Sigmoid, _)) {
            return None;
        }
        let target = self.graph.lane(args.len());
        let term = reduction_term(&mut self.graph, b, kernel, target);
        let mut args = args;
        args.push(self.map_arg(t.clone()));
        let terms = self.graph.map(shape, term, args);
        let total = self.graph.sum_all(terms);
        let mean = self.graph.scale(1.0 / shape.len() as f64, total);
        Some(Tensor::scalar(mean).into())
    }

    pub(super) fn shape(&self, v: &Value) -> Shape {
        match v {
            Value::Scalars(t) => t.shape,
            Value::Wide(t) => self.graph.shape_of(*t),
        }
    }

    /// An elementwise operation with `kernel` for one element: one map when it goes
    /// wide, else the kernel per element, zipped with scalar broadcasting.
    pub(super) fn elementwise(
        &mut self,
        shape: Shape,
        args: Vec<Value>,
        kernel: impl Fn(&mut Self, &[NodeId]) -> NodeId,
    ) -> Value {
        let refs: Vec<&Value> = args.iter().collect();
        if self.goes_wide(shape, shape.len(), &refs) {
            let lanes: Vec<NodeId> = (0..args.len()).map(|j| self.graph.lane(j)).collect();
            let kernel = self.scalar_code(|this| kernel(this, &lanes));
            let args = args.into_iter().map(|v| self.map_arg(v)).collect();
            return Value::Wide(self.graph.map(shape, kernel, args));
        }
        let args: Vec<Tensor> = args.into_iter().map(|v| self.scalars(v)).collect();
        let elems = (0..shape.len())
            .map(|i| {
                let at: Vec<NodeId> = args.iter().map(|a| a.at(i)).collect();
                kernel(self, &at)
            })
            .collect();
        Tensor { shape, elems }.into()
    }

    /// A value as scalars: a tensor's elements are read one by one.
    pub(super) fn scalars(&mut self, v: Value) -> Tensor {
        match v {
            Value::Scalars(t) => t,
            Value::Wide(t) => {
                let shape = self.graph.shape_of(t);
                let elems = (0..shape.len()).map(|k| self.graph.elem(t, k)).collect();
                Tensor { shape, elems }
            }
        }
    }

    /// A value as a tensor node: a declared group in place, other scalars packed.
    pub(super) fn as_tensor(&mut self, v: Value) -> NodeId {
        let t = match v {
            Value::Wide(t) => return t,
            Value::Scalars(t) => t,
        };
        let leaf = |node: Node| match node {
            Node::Input(k) => Some((LeafKind::Input, k)),
            Node::Target(k) => Some((LeafKind::Target, k)),
            Node::Param(k) => Some((LeafKind::Param, k)),
            _ => None,
        };
        if let Some((kind, first)) = t.elems.first().and_then(|&e| leaf(self.graph.node(e))) {
            let consecutive = t
                .elems
                .iter()
                .enumerate()
                .all(|(i, &e)| leaf(self.graph.node(e)) == Some((kind, first + i as u32)));
            // A parameter leaf is a whole group (its adjoint is that group's gradient);
            // a part of one is packed, so its gradient flows to the scalars.
            let whole = kind != LeafKind::Param
                || self
                    .program
                    .params
                    .iter()
                    .any(|s| s.offset == first as usize && s.shape.len() == t.elems.len());
            if consecutive && whole {
                return self.graph.leaf_tensor(kind, first as usize, t.shape);
            }
        }
        self.graph.pack(t.shape, t.elems)
    }

    /// A map argument: a scalar broadcasts as its node, arrays are tensors.
    fn map_arg(&mut self, v: Value) -> NodeId {
        match v {
            Value::Scalars(t) if t.shape == Shape::Scalar => t.elems[0],
            other => self.as_tensor(other),
        }
    }

    // ---- The scalar tier: one node per element ---------------------------------------

    /// `f` applied to every element.
    pub(super) fn map(
        &mut self,
        t: Tensor,
        mut f: impl FnMut(&mut Graph, NodeId) -> NodeId,
    ) -> Tensor {
        let elems = t.elems.iter().map(|&x| f(&mut self.graph, x)).collect();
        Tensor {
            shape: t.shape,
            elems,
        }
    }

    /// Elementwise combination with scalar broadcasting, into `shape`.
    pub(super) fn zip(
        &mut self,
        a: &Tensor,
        b: &Tensor,
        shape: Shape,
        mut f: impl FnMut(&mut Graph, NodeId, NodeId) -> NodeId,
    ) -> Tensor {
        let elems = (0..shape.len())
            .map(|i| f(&mut self.graph, a.at(i), b.at(i)))
            .collect();
        Tensor { shape, elems }
    }

    /// Matrix x vector or matrix x matrix, into `shape`.
    pub(super) fn matmul(&mut self, a: &Tensor, b: &Tensor, shape: Shape) -> Tensor {
        let Shape::Matrix(rows, cols) = a.shape else {
            unreachable!("the check stage makes the left factor of a product a matrix")
        };
        let k = match b.shape {
            Shape::Matrix(_, k) => k,
            _ => 1,
        };
        let mut elems = Vec::with_capacity(rows * k);
        for i in 0..rows {
            for j in 0..k {
                let terms: Vec<NodeId> = (0..cols)
                    .map(|t| self.graph.mul(a.elems[i * cols + t], b.elems[t * k + j]))
                    .collect();
                elems.push(self.graph.sum(terms));
            }
        }
        Tensor { shape, elems }
    }

    pub(super) fn transpose(t: &Tensor) -> Tensor {
        let Shape::Matrix(r, c) = t.shape else {
            return t.clone();
        };
        let elems = (0..c)
            .flat_map(|j| (0..r).map(move |i| (i, j)))
            .map(|(i, j)| t.elems[i * c + j])
            .collect();
        Tensor {
            shape: Shape::Matrix(c, r),
            elems,
        }
    }
}
