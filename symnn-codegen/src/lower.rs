//! Stage 3, lower: evaluate the resolved program symbolically into the scalar DAG.
//!
//! Every DSL value is a [`Tensor`]: a shape and the node ids of its elements,
//! row-major. `for` loops are unrolled, `fn`s inlined, `dense` layers expanded into
//! their dot products, and the loss builtins written out in their stable forms
//! (log-softmax with a max shift).
//!
//! The check stage has resolved every name, shape, index and parameter offset
//! ([`crate::resolved`]), so this stage has no error path: it only builds nodes. The
//! order in which it creates nodes is part of the output (operands of `+` and `*` are
//! sorted by id, which is what `derivation()` prints and the emitter writes), so leaves
//! are created in declaration order up front and `dense` parameters where the layer is.

use std::collections::HashMap;

use crate::ast::BinOp;
use crate::builtins::{Builtin, Func};
use crate::graph::{Graph, Node, NodeId};
use crate::resolved::{
    element_name, Activation, BindingId, Expr, ExprKind, FloatType, FnId, Program, Slot, SlotKind,
    SlotRef, Stmt, Wrt, WrtBase,
};
use crate::shape::Shape;
use crate::tensor::{rows_cols, LeafKind, TensorOp};

/// Placeholder leaves for the parameters of a `fn` whose body differentiates with
/// respect to them: `Node::Input(k)` with `k` at or above this (no network has that
/// many inputs). They never reach the emitter: [`Lowering::call`] substitutes them.
const PLACEHOLDER_BASE: u32 = 1 << 30;

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

/// A value of the DSL: a shape and its elements' nodes, row-major.
#[derive(Clone, Debug)]
pub struct Tensor {
    /// The shape.
    pub shape: Shape,
    /// `shape.len()` node ids.
    pub elems: Vec<NodeId>,
}

impl Tensor {
    fn scalar(id: NodeId) -> Tensor {
        Tensor {
            shape: Shape::Scalar,
            elems: vec![id],
        }
    }

    /// Element `i`, a scalar broadcasting to every position.
    fn at(&self, i: usize) -> NodeId {
        if self.elems.len() == 1 {
            self.elems[0]
        } else {
            self.elems[i]
        }
    }
}

/// A DSL value during lowering: its elements' scalar nodes, or one tensor node for the
/// whole array (operations at or above the program's tensor threshold).
#[derive(Clone, Debug)]
enum Value {
    /// Scalarised.
    Scalars(Tensor),
    /// A tensor node (its shape is in the graph).
    Wide(NodeId),
}

impl From<Tensor> for Value {
    fn from(t: Tensor) -> Value {
        Value::Scalars(t)
    }
}

/// The lowered network: its graph and everything the emitter needs around it.
#[derive(Debug)]
pub struct Lowered {
    /// The DAG (forward pass only; [`crate::diff`] adds the derivative).
    pub graph: Graph,
    /// Element type.
    pub float: FloatType,
    /// Inputs in declaration order.
    pub inputs: Vec<Slot>,
    /// Targets in declaration order.
    pub targets: Vec<Slot>,
    /// Parameter groups in layout order (`dense` groups where the layer is).
    pub params: Vec<Slot>,
    /// The output's name.
    pub output_name: String,
    /// The output's value.
    pub output: Tensor,
    /// The loss.
    pub loss: NodeId,
    /// Named forward values in evaluation order (element names, with `_2`, `_3`, ... on
    /// reassigned or loop-local names), for the derivation.
    pub bindings: Vec<(String, NodeId)>,
    /// Whether the program contains `diff` or `laplacian`.
    pub has_diff: bool,
}

impl Lowered {
    /// Total number of parameters.
    pub fn num_params(&self) -> usize {
        self.params.iter().map(|s| s.shape.len()).sum()
    }
    /// Total number of inputs.
    pub fn num_inputs(&self) -> usize {
        self.inputs.iter().map(|s| s.shape.len()).sum()
    }
    /// Total number of targets.
    pub fn num_targets(&self) -> usize {
        self.targets.iter().map(|s| s.shape.len()).sum()
    }
    /// The name of every parameter element in storage order.
    pub fn param_names(&self) -> Vec<String> {
        self.params
            .iter()
            .flat_map(|s| (0..s.shape.len()).map(move |i| s.element_name(i)))
            .collect()
    }
}

/// Lowers a resolved network into the scalar DAG.
pub fn lower(program: &Program) -> Lowered {
    let mut lowering = Lowering {
        program,
        graph: Graph::new(),
        inputs: vec![None; program.inputs.len()],
        targets: vec![None; program.targets.len()],
        params: vec![None; program.params.len()],
        bindings: vec![None; program.bindings.len()],
        loop_values: vec![0; program.loop_vars],
        args: Vec::new(),
        next_placeholder: PLACEHOLDER_BASE,
        has_diff: false,
        names: Vec::new(),
        versions: HashMap::new(),
        output: None,
        loss: None,
        threshold: program.tensor_threshold,
    };
    for &declaration in &program.declarations {
        lowering.slot(declaration);
    }
    lowering.block(&program.body);
    let output = match lowering.output.take() {
        Some(value) => lowering.scalars(value),
        None => Tensor::scalar(lowering.graph.constant(0.0)),
    };
    let loss = match lowering.loss {
        Some(loss) => loss,
        None => lowering.graph.constant(0.0),
    };
    Lowered {
        graph: lowering.graph,
        float: program.float,
        inputs: program.inputs.clone(),
        targets: program.targets.clone(),
        params: program.params.clone(),
        output_name: program.bindings[binding_index(program.output)].name.clone(),
        output,
        loss,
        bindings: lowering.names,
        has_diff: lowering.has_diff,
    }
}

fn leaf_index(k: usize) -> u32 {
    u32::try_from(k).expect("the check stage bounds every array's size")
}

fn binding_index(b: BindingId) -> usize {
    b.0 as usize
}

struct Lowering<'p> {
    program: &'p Program,
    graph: Graph,
    /// Leaf tensors of each declaration, created on first use (declarations up front,
    /// `dense` groups where the layer is).
    inputs: Vec<Option<Tensor>>,
    targets: Vec<Option<Tensor>>,
    params: Vec<Option<Tensor>>,
    /// The current value of every binding.
    bindings: Vec<Option<Value>>,
    /// The current value of every loop variable.
    loop_values: Vec<i64>,
    /// The arguments of the `fn` being inlined: one element's scalars for an
    /// elementwise call, whole values for a shaped `fn`.
    args: Vec<Value>,
    /// The next placeholder leaf ([`PLACEHOLDER_BASE`] and up), see [`Lowering::call`].
    next_placeholder: u32,
    /// Whether a `diff` or `laplacian` was lowered (the derivative methods then need
    /// one more order and are left out).
    has_diff: bool,
    /// Named forward values, for the derivation.
    names: Vec<(String, NodeId)>,
    /// How many times each name has been bound (`h`, `h_2`, ...).
    versions: HashMap<String, usize>,
    output: Option<Value>,
    loss: Option<NodeId>,
    /// Operations at least this big become tensor nodes.
    threshold: u64,
}

impl Lowering<'_> {
    /// The leaves of a declaration, created in layout order on first use.
    fn slot(&mut self, slot: SlotRef) -> Tensor {
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

    fn block(&mut self, body: &[Stmt]) {
        for stmt in body {
            self.stmt(stmt);
        }
    }

    fn stmt(&mut self, stmt: &Stmt) {
        match stmt {
            Stmt::Let { binding, value } => {
                let value = self.expr(value);
                let name = self.program.bindings[binding_index(*binding)].name.clone();
                let versioned = self.version(&name);
                match &value {
                    Value::Scalars(t) => {
                        for (i, &id) in t.elems.iter().enumerate() {
                            self.name_node(element_name(&versioned, t.shape, i), id);
                        }
                    }
                    Value::Wide(id) => self.names.push((versioned, *id)),
                }
                if *binding == self.program.output {
                    self.output = Some(value.clone());
                }
                self.bindings[binding_index(*binding)] = Some(value);
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

    fn binding(&self, b: BindingId) -> Value {
        self.bindings[binding_index(b)]
            .clone()
            .expect("the check stage allows a binding's use only after its definition")
    }

    fn index_value(&self, index: &crate::resolved::Index) -> usize {
        usize::try_from(index.eval(&self.loop_values))
            .expect("the check stage range-checks every index in every iteration")
    }

    fn version(&mut self, name: &str) -> String {
        let n = self.versions.entry(name.to_string()).or_insert(0);
        *n += 1;
        if *n == 1 {
            name.to_string()
        } else {
            format!("{name}_{n}")
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
    fn expr(&mut self, e: &Expr) -> Value {
        let shape = e.shape;
        match &e.kind {
            ExprKind::Num(value) => Tensor::scalar(self.graph.constant(*value)).into(),
            ExprKind::LoopVar(var) => {
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
                if self.goes_wide(shape, work, &[&a, &b]) {
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
                if self.goes_wide(shape, shape.len() * input.shape.len(), &[&x]) {
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

    // ---- The tensor path ------------------------------------------------------------

    /// Whether an operation producing `shape` with `work` multiply-adds or elements
    /// goes to the tensor path: it does when it is big enough, or when an operand
    /// already is a tensor (so elementwise chains on a layer stay whole). Scalars
    /// never do.
    fn goes_wide(&self, shape: Shape, work: usize, operands: &[&Value]) -> bool {
        shape != Shape::Scalar
            && (work as u64 >= self.threshold
                || operands.iter().any(|v| matches!(v, Value::Wide(_))))
    }

    /// `activation(W·x + b)` on the tensor path: one product and one map over
    /// `[W·x, b]`, the groups read in place.
    fn wide_dense(
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
    fn apply(&mut self, b: Builtin, values: Vec<Value>, shape: Shape) -> Value {
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
                if self.goes_wide(shape, len, &refs) {
                    let x = self.as_tensor(values.into_iter().next().expect("one argument"));
                    return Value::Wide(self.graph.transpose(x));
                }
            }
            _ => {}
        }
        let args: Vec<Tensor> = values.into_iter().map(|v| self.scalars(v)).collect();
        self.builtin(b, args, shape).into()
    }

    fn shape(&self, v: &Value) -> Shape {
        match v {
            Value::Scalars(t) => t.shape,
            Value::Wide(t) => self.graph.shape_of(*t),
        }
    }

    /// An elementwise operation with `kernel` for one element: one map when it goes
    /// wide, else the kernel per element, zipped with scalar broadcasting.
    fn elementwise(
        &mut self,
        shape: Shape,
        args: Vec<Value>,
        kernel: impl Fn(&mut Self, &[NodeId]) -> NodeId,
    ) -> Value {
        let refs: Vec<&Value> = args.iter().collect();
        if self.goes_wide(shape, shape.len(), &refs) {
            let lanes: Vec<NodeId> = (0..args.len()).map(|j| self.graph.lane(j)).collect();
            let threshold = std::mem::replace(&mut self.threshold, u64::MAX);
            let kernel = kernel(self, &lanes);
            self.threshold = threshold;
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
    fn scalars(&mut self, v: Value) -> Tensor {
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
    fn as_tensor(&mut self, v: Value) -> NodeId {
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

    /// A user `fn`, inlined element by element (scalar arguments broadcast). Its body
    /// is scalar code (a kernel, when the call is elementwise over a tensor): arrays
    /// inside it are never tensor nodes.
    fn apply_fn(&mut self, f: FnId, values: &[Tensor], shape: Shape) -> Tensor {
        let threshold = std::mem::replace(&mut self.threshold, u64::MAX);
        let result = self.apply_fn_scalar(f, values, shape);
        self.threshold = threshold;
        result
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
    fn call(&mut self, f: FnId, args: Vec<Value>) -> Value {
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

    fn map(&mut self, t: Tensor, mut f: impl FnMut(&mut Graph, NodeId) -> NodeId) -> Tensor {
        let elems = t.elems.iter().map(|&x| f(&mut self.graph, x)).collect();
        Tensor {
            shape: t.shape,
            elems,
        }
    }

    /// Elementwise combination with scalar broadcasting, into `shape`.
    fn zip(
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
    fn matmul(&mut self, a: &Tensor, b: &Tensor, shape: Shape) -> Tensor {
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

    fn transpose(t: &Tensor) -> Tensor {
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

    /// A builtin applied to values of checked shapes; the result has `shape`.
    fn builtin(&mut self, b: Builtin, mut v: Vec<Tensor>, shape: Shape) -> Tensor {
        let second = (v.len() > 1).then(|| v.remove(1));
        let x = v.remove(0);
        let y = second.unwrap_or_else(|| x.clone());
        // Two-argument builtins zip their arguments (a scalar broadcasts); reductions
        // and losses then reduce the zipped array to `shape`.
        let zipped = x.shape.broadcast(y.shape).unwrap_or(shape);
        let two = |this: &mut Self, f: fn(&mut Graph, NodeId, NodeId) -> NodeId| {
            this.zip(&x, &y, zipped, f)
        };
        match b {
            Builtin::Func(f) => self.map(x, |g, x| g.call(f, x)),
            Builtin::Sq => self.map(x, |g, x| g.mul(x, x)),
            Builtin::Identity => x,
            Builtin::LeakyRelu => two(self, |g, x, s| {
                let zero = g.constant(0.0);
                let sx = g.mul(s, x);
                g.insert(Node::IfGt(x, zero, x, sx))
            }),
            Builtin::Pow => two(self, |g, x, y| g.insert(Node::Pow(x, y))),
            Builtin::Max => two(self, |g, x, y| g.insert(Node::Max(x, y))),
            Builtin::Min => two(self, |g, x, y| g.insert(Node::Min(x, y))),
            Builtin::Sum => Tensor::scalar(self.graph.sum(x.elems)),
            Builtin::Mean => self.mean(x),
            Builtin::Dot => {
                let p = two(self, |g, x, y| reduction_term(g, Builtin::Dot, x, y));
                Tensor::scalar(self.graph.sum(p.elems))
            }
            Builtin::Softmax => {
                let (shifted, sum) = self.shifted_exp_sum(&x.elems);
                let exps: Vec<NodeId> = shifted
                    .iter()
                    .map(|&s| self.graph.call(Func::Exp, s))
                    .collect();
                let elems = exps.iter().map(|&e| self.graph.div(e, sum)).collect();
                Tensor {
                    shape: x.shape,
                    elems,
                }
            }
            Builtin::LogSoftmax => self.log_softmax(&x),
            Builtin::Transpose => Self::transpose(&x),
            Builtin::Mse => {
                let d = two(self, |g, y, t| reduction_term(g, Builtin::Mse, y, t));
                self.mean(d)
            }
            Builtin::Bce => {
                let terms = two(self, |g, p, t| reduction_term(g, Builtin::Bce, p, t));
                self.mean(terms)
            }
            Builtin::BceLogits => {
                let terms = two(self, |g, z, t| reduction_term(g, Builtin::BceLogits, z, t));
                self.mean(terms)
            }
            Builtin::CrossEntropy => {
                let ls = self.log_softmax(&x);
                let prods: Vec<NodeId> = ls
                    .elems
                    .iter()
                    .zip(&y.elems)
                    .map(|(&l, &t)| self.graph.mul(t, l))
                    .collect();
                let s = self.graph.sum(prods);
                Tensor::scalar(self.graph.neg(s))
            }
            Builtin::SparseCrossEntropy => {
                Tensor::scalar(self.sparse_cross_entropy(&x, y.elems[0]))
            }
            // Not builtins applied to values: the check stage resolves them to
            // `ExprKind::Dense`, `ExprKind::Powi`, `ExprKind::Diff` and
            // `ExprKind::Laplacian`.
            Builtin::Dense | Builtin::Powi | Builtin::Diff | Builtin::Laplacian => x,
        }
    }

    fn mean(&mut self, t: Tensor) -> Tensor {
        let n = t.elems.len() as f64;
        let s = self.graph.sum(t.elems);
        Tensor::scalar(self.graph.scale(1.0 / n, s))
    }

    /// `(z_i - m, sum_j exp(z_j - m))` with `m = max z`, behind a stop-gradient: the
    /// shift cancels mathematically, so its derivative is exactly zero and is skipped.
    fn shifted_exp_sum(&mut self, z: &[NodeId]) -> (Vec<NodeId>, NodeId) {
        let max = z
            .iter()
            .copied()
            .reduce(|a, b| self.graph.insert(Node::Max(a, b)));
        let Some(max) = max else {
            return (vec![], self.graph.constant(0.0));
        };
        let m = self.graph.insert(Node::StopGradient(max));
        let shifted: Vec<NodeId> = z.iter().map(|&x| self.graph.sub(x, m)).collect();
        let exps: Vec<NodeId> = shifted
            .iter()
            .map(|&s| self.graph.call(Func::Exp, s))
            .collect();
        let sum = self.graph.sum(exps);
        (shifted, sum)
    }

    fn log_softmax(&mut self, x: &Tensor) -> Tensor {
        let (shifted, sum) = self.shifted_exp_sum(&x.elems);
        let lse = self.graph.call(Func::Ln, sum);
        let elems = shifted.iter().map(|&s| self.graph.sub(s, lse)).collect();
        Tensor {
            shape: x.shape,
            elems,
        }
    }

    /// `sparse_cross_entropy(z, k) = ln Σ exp(z_j - m) - (z_k - m)`, the shift `m = max z`
    /// behind a stop-gradient as in [`Self::log_softmax`]; `z_k - m` is picked as
    /// `Σ [k == j] (z_j - m)`, so the gradient is the textbook `softmax(z)_j - [k == j]`
    /// and nothing flows into `k`: the same loss and gradient as
    /// `cross_entropy(z, onehot(k))`.
    ///
    /// If `k` is no index of `z` (out of range, not an integer, NaN), no indicator is 1,
    /// and a guard makes the *loss* NaN (the trainer stops on it) instead of a plausible
    /// value; the gradient is then `softmax(z)`. For a valid `k` the guard adds exactly 0.
    fn sparse_cross_entropy(&mut self, z: &Tensor, k: NodeId) -> NodeId {
        let (one, zero) = (self.graph.constant(1.0), self.graph.constant(0.0));
        let onehot: Vec<NodeId> = (0..z.elems.len())
            .map(|j| {
                let j = self.graph.constant(j as f64);
                self.graph.insert(Node::IfEq(k, j, one, zero))
            })
            .collect();
        let (shifted, sum) = self.shifted_exp_sum(&z.elems);
        let lse = self.graph.call(Func::Ln, sum);
        let picked: Vec<NodeId> = onehot
            .iter()
            .zip(&shifted)
            .map(|(&indicator, &s)| self.graph.mul(indicator, s))
            .collect();
        let picked = self.graph.sum(picked);
        let loss = self.graph.sub(lse, picked);
        let matched = self.graph.sum(onehot);
        let nan = self.graph.constant(f64::NAN);
        let guard = self.graph.insert(Node::IfEq(matched, one, zero, nan));
        self.graph.add(loss, guard)
    }
}

/// `a op b` for one element.
fn binary(g: &mut Graph, op: BinOp, a: NodeId, b: NodeId) -> NodeId {
    match op {
        BinOp::Add => g.add(a, b),
        BinOp::Sub => g.sub(a, b),
        BinOp::Mul => g.mul(a, b),
        BinOp::Div => g.div(a, b),
    }
}

/// One element's term of a two-argument reduction: `x·y` (dot), `(y − t)²` (mse),
/// `−(t ln p + (1 − t) ln(1 − p))` (bce; the ln rules make it stable on sigmoids),
/// `softplus(z) − t·z` (bce_logits). Shared by the scalar and tensor paths.
fn reduction_term(g: &mut Graph, b: Builtin, x: NodeId, y: NodeId) -> NodeId {
    match b {
        Builtin::Mse => {
            let d = g.sub(x, y);
            g.mul(d, d)
        }
        Builtin::Bce => {
            // With the convention 0·ln 0 = 0: a term whose weight (t or 1 - t) is 0 takes
            // the logarithm of 1 instead, so bce(0, 0) = bce(1, 1) = 0 with a finite
            // gradient (a select *inside* the ln: neither the value nor the derivative
            // `weight / p` then computes 0·∞ or 0/0). On a sigmoid the ln of the select
            // still becomes a softplus (`simplify::stable_logs`).
            //
            // A sigmoid `p` needs no select: `ln σ(z)` becomes `z − softplus(z)`, finite
            // for every finite z, so `0·ln σ` is 0 already, and the gradient stays the
            // textbook `σ(z) − t` (four selects fewer, and readable in `derivation()`).
            let (p, t) = (x, y);
            if matches!(g.node(p), Node::Call(Func::Sigmoid, _)) {
                let ln_p = g.call(Func::Ln, p);
                let q = g.rsub(1.0, p);
                let ln_q = g.call(Func::Ln, q);
                let u = g.rsub(1.0, t);
                let a = g.mul(t, ln_p);
                let b = g.mul(u, ln_q);
                let s = g.add(a, b);
                return g.neg(s);
            }
            let (zero, one) = (g.constant(0.0), g.constant(1.0));
            let p_or_one = g.insert(Node::IfEq(t, zero, one, p));
            let ln_p = g.call(Func::Ln, p_or_one);
            let q = g.rsub(1.0, p);
            let u = g.rsub(1.0, t);
            let q_or_one = g.insert(Node::IfEq(u, zero, one, q));
            let ln_q = g.call(Func::Ln, q_or_one);
            let a = g.mul(t, ln_p);
            let b = g.mul(u, ln_q);
            let s = g.add(a, b);
            g.neg(s)
        }
        Builtin::BceLogits => {
            let (z, t) = (x, y);
            let sp = g.call(Func::Softplus, z);
            let tz = g.mul(t, z);
            g.sub(sp, tz)
        }
        _ => g.mul(x, y),
    }
}
