//! The walk over the resolved program: declarations' leaves, statements, bindings
//! (with the versioned names the derivation prints), unrolled loops, and expressions.

use super::builtins::binary;
use super::{binding_index, leaf_index, Lowering, Tensor, Value};
use crate::graph::{Graph, Node, NodeId};
use crate::resolved::{
    element_name, Activation, BindingId, Expr, ExprKind, Slot, SlotKind, SlotRef, Stmt, Wrt,
    WrtBase,
};
use crate::shape::Shape;
use crate::tensor::rows_cols;

impl Lowering<'_> {
    /// The leaves of a declaration, created in layout order on first use.
    pub(super) fn slot(&mut self, slot: SlotRef) -> Tensor {
        let program = self.program;
        let (slots, tensors) = match slot.kind {
            SlotKind::Input => (&program.inputs, &mut self.inputs),
            SlotKind::Target => (&program.targets, &mut self.targets),
            SlotKind::Param => (&program.params, &mut self.params),
        };
        if let Some(tensor) = &tensors[slot.index] {
            return tensor.clone();
        }
        let Slot { shape, offset, .. } = slots[slot.index];
        let elems = (offset..offset + shape.len())
            .map(|k| {
                let k = leaf_index(k);
                self.graph.insert(match slot.kind {
                    SlotKind::Input => Node::Input(k),
                    SlotKind::Target => Node::Target(k),
                    SlotKind::Param => Node::Param(k),
                })
            })
            .collect();
        let tensor = Tensor { shape, elems };
        tensors[slot.index] = Some(tensor.clone());
        tensor
    }

    pub(super) fn block(&mut self, body: &[Stmt]) {
        for stmt in body {
            self.stmt(stmt);
        }
    }

    fn stmt(&mut self, stmt: &Stmt) {
        match stmt {
            // The matrix view and a rolled loop's iteration keep a whole reassignment
            // (`z = A * z`) whole when the new value is a tensor, like a `let` (the
            // same nodes; only what the derivation names differs).
            Stmt::Assign {
                binding,
                indices,
                value,
            } if (self.matrix_view || self.roll.is_some()) && indices.is_empty() => {
                let value = self.expr(value);
                self.bind(*binding, value);
            }
            Stmt::Let { binding, value } => {
                let value = self.expr(value);
                self.bind(*binding, value);
            }
            Stmt::Assign {
                binding,
                indices,
                value,
            } => {
                let current = self.binding(*binding);
                let mut current = self.scalars(current);
                // The element range the place denotes.
                let (mut start, mut shape) = (0usize, current.shape);
                for index in indices {
                    let i = self.index_value(index);
                    let Some((_, row)) = shape.index() else { break };
                    start += i * row.len();
                    shape = row;
                }
                let new = self.expr(value);
                let new = self.scalars(new);
                current.elems.splice(start..start + shape.len(), new.elems);
                let name = self.program.bindings[binding_index(*binding)].name.clone();
                let versioned = self.version(&name);
                for (i, &id) in current
                    .elems
                    .iter()
                    .enumerate()
                    .skip(start)
                    .take(shape.len())
                {
                    self.name_node(element_name(&versioned, current.shape, i), id);
                }
                self.bindings[binding_index(*binding)] = Some(current.into());
            }
            Stmt::For {
                var,
                start,
                count,
                body,
            } => {
                if self.try_roll(*var, *start, *count, body) {
                    return;
                }
                for k in 0..*count {
                    // The check stage bounded the iteration count and the values.
                    let value = start.wrapping_add(k as i64);
                    if let Some(var) = var {
                        // (Created up front as the old lowering did: node ids decide
                        // operand order, which `derivation()` prints.)
                        self.graph.constant(value as f64);
                        self.loop_values[var.0 as usize] = value;
                    }
                    self.block(body);
                }
            }
            Stmt::Loss(value) => {
                let value = self.expr(value);
                self.loss = Some(self.scalars(value).elems[0]);
            }
        }
    }

    /// Binds `binding` to `value` (a `let`), under its next versioned name.
    fn bind(&mut self, binding: BindingId, value: Value) {
        let name = self.program.bindings[binding_index(binding)].name.clone();
        let versioned = self.version(&name);
        match &value {
            Value::Scalars(t) => {
                for (i, &id) in t.elems.iter().enumerate() {
                    self.name_node(element_name(&versioned, t.shape, i), id);
                }
            }
            Value::Wide(id) => self.names.push((versioned, *id)),
        }
        if binding == self.program.output {
            self.output = Some(value.clone());
        }
        self.bindings[binding_index(binding)] = Some(value);
    }

    pub(super) fn binding(&self, b: BindingId) -> Value {
        self.bindings[binding_index(b)]
            .clone()
            .expect("the check stage allows a binding's use only after its definition")
    }

    fn index_value(&self, index: &crate::resolved::Index) -> usize {
        usize::try_from(index.eval(&self.loop_values))
            .expect("the check stage range-checks every index in every iteration")
    }

    /// The display name of the next value of binding `name`: `name` for the first,
    /// then `name⁽²⁾`, `name⁽³⁾`, ... (superscript digits in parentheses, which no
    /// identifier can contain, so a version never reads like a user's `z_2` or `z2`).
    pub(super) fn version(&mut self, name: &str) -> String {
        let n = self.versions.entry(name.to_string()).or_insert(0);
        *n += 1;
        if *n == 1 {
            name.to_string()
        } else {
            format!("{name}{}", version_suffix(*n))
        }
    }

    fn name_node(&mut self, name: String, id: NodeId) {
        if !self.graph.node(id).is_leaf() {
            self.names.push((name, id));
        }
    }

    /// Lowers an expression. Each operand is lowered once; then the operation goes
    /// to the tensor path when [`Lowering::goes_wide`] says so, else it is scalarised
    /// exactly as before tensors existed (same nodes, same order).
    pub(super) fn expr(&mut self, e: &Expr) -> Value {
        let shape = e.shape;
        match &e.kind {
            ExprKind::Num(value) => Tensor::scalar(self.graph.constant(*value)).into(),
            ExprKind::LoopVar(var) => {
                if let Some(read) = self.rolled_loop_value(*var) {
                    return read;
                }
                let value = self.loop_values[var.0 as usize];
                Tensor::scalar(self.graph.constant(value as f64)).into()
            }
            ExprKind::Slot(slot) => self.slot(*slot).into(),
            ExprKind::Binding(b) => self.binding(*b),
            ExprKind::Arg(k) => self.args[*k].clone(),
            ExprKind::Diff(e, wrt) => {
                self.has_diff = true;
                let value = self.expr(e);
                let e = self.scalars(value);
                let vars = self.wrt_nodes(wrt);
                let shape = e.shape.append(wrt.shape);
                let mut elems = Vec::with_capacity(shape.len());
                for &root in &e.elems {
                    elems.extend(self.derivatives(root, &vars));
                }
                Tensor { shape, elems }.into()
            }
            ExprKind::Laplacian(e, wrt) => {
                self.has_diff = true;
                let value = self.expr(e);
                let root = self.scalars(value).elems[0];
                let vars = self.wrt_nodes(wrt);
                let first = self.derivatives(root, &vars);
                let second: Vec<NodeId> = first
                    .iter()
                    .zip(&vars)
                    .map(|(&d, &v)| self.derivatives(d, &[v])[0])
                    .collect();
                Tensor::scalar(self.graph.sum(second)).into()
            }
            ExprKind::Neg(a) => {
                let a = self.expr(a);
                self.elementwise(shape, vec![a], |this, l| this.graph.neg(l[0]))
            }
            ExprKind::Elementwise(op, lhs, rhs) => {
                let (a, b) = (self.expr(lhs), self.expr(rhs));
                let op = *op;
                self.elementwise(shape, vec![a, b], |this, l| {
                    binary(&mut this.graph, op, l[0], l[1])
                })
            }
            ExprKind::Powi(x, n) => {
                let x = self.expr(x);
                let n = *n;
                self.elementwise(shape, vec![x], |this, l| {
                    this.graph.insert(Node::Powi(l[0], n))
                })
            }
            ExprKind::Call(f, args) => {
                let values: Vec<Value> = args.iter().map(|a| self.expr(a)).collect();
                let f = *f;
                let function = &self.program.fns[f.0 as usize];
                let whole = function.shaped || function.body.shape != Shape::Scalar;
                if whole {
                    // Called as written, with whole values.
                    return self.call(f, values);
                }
                self.elementwise(shape, values, |this, l| {
                    let args: Vec<Tensor> = l.iter().map(|&x| Tensor::scalar(x)).collect();
                    this.apply_fn(f, &args, Shape::Scalar).elems[0]
                })
            }
            ExprKind::Apply(b, args) => {
                let values: Vec<Value> = args.iter().map(|a| self.expr(a)).collect();
                self.apply(*b, values, shape)
            }
            ExprKind::MatMul(lhs, rhs) => {
                let (a, b) = (self.expr(lhs), self.expr(rhs));
                let (rows, cols) = rows_cols(lhs.shape);
                let work = rows * cols * rows_cols(rhs.shape).1;
                let matrix = match rhs.shape {
                    Shape::Matrix(..) => lhs.shape.len().max(rhs.shape.len()),
                    _ => lhs.shape.len(),
                };
                if self.product_goes_wide(shape, work, &[&a, &b], false, matrix) {
                    let (a, b) = (self.as_tensor(a), self.as_tensor(b));
                    return Value::Wide(self.graph.matmul(a, b, false, false));
                }
                let (a, b) = (self.scalars(a), self.scalars(b));
                self.matmul(&a, &b, shape).into()
            }
            ExprKind::Array(items) => {
                let elems = items
                    .iter()
                    .flat_map(|item| {
                        let value = self.expr(item);
                        self.scalars(value).elems
                    })
                    .collect();
                Tensor { shape, elems }.into()
            }
            ExprKind::Index(base, index) => {
                if let Some(read) = self.rolled_read(e) {
                    return read;
                }
                let i = self.index_value(index);
                let n = shape.len();
                let elems = match self.expr(base) {
                    // Only the selected elements of a tensor.
                    Value::Wide(t) => (i * n..(i + 1) * n)
                        .map(|k| self.graph.elem(t, k))
                        .collect(),
                    Value::Scalars(base) => base.elems[i * n..(i + 1) * n].to_vec(),
                };
                Tensor { shape, elems }.into()
            }
            ExprKind::Dense {
                input,
                weight,
                bias,
                activation,
            } => {
                let x = self.expr(input);
                let work = shape.len() * input.shape.len();
                if self.product_goes_wide(shape, work, &[&x], true, work) {
                    return self.wide_dense(x, shape, *weight, *bias, *activation);
                }
                let x = self.scalars(x);
                let weight = self.slot(SlotRef {
                    kind: SlotKind::Param,
                    index: *weight,
                });
                let bias = self.slot(SlotRef {
                    kind: SlotKind::Param,
                    index: *bias,
                });
                let z = self.matmul(&weight, &x, shape);
                let z = self.zip(&z, &bias, shape, Graph::add);
                match *activation {
                    Activation::Builtin(b) => self.builtin(b, vec![z], shape),
                    Activation::Fn(f) => self.apply_fn(f, &[z], shape),
                }
                .into()
            }
        }
    }

    /// The scalar leaves `diff(e, v)` differentiates with respect to, row-major.
    fn wrt_nodes(&mut self, wrt: &Wrt) -> Vec<NodeId> {
        let whole = match wrt.base {
            WrtBase::Slot(slot) => self.slot(slot),
            WrtBase::Arg(k) => {
                let arg = self.args[k].clone();
                self.scalars(arg)
            }
        };
        let (mut start, mut shape) = (0usize, wrt.base_shape);
        for index in &wrt.indices {
            let i = self.index_value(index);
            let Some((_, row)) = shape.index() else { break };
            start += i * row.len();
            shape = row;
        }
        whole.elems[start..start + wrt.shape.len()].to_vec()
    }

    /// `∂root/∂v` for each leaf `v` of `vars` ([`crate::diff::wrt_leaves`]).
    fn derivatives(&mut self, root: NodeId, vars: &[NodeId]) -> Vec<NodeId> {
        crate::diff::wrt_leaves(&mut self.graph, root, vars)
    }
}

/// `⁽n⁾`: a binding's version number as a superscript (see `Lowering::version`).
pub fn version_suffix(n: usize) -> String {
    const DIGITS: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let digits: String = n
        .to_string()
        .bytes()
        .map(|b| DIGITS[usize::from(b - b'0')])
        .collect();
    format!("⁽{digits}⁾")
}
