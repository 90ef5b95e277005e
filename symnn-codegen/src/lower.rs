//! Stage 3, lower: evaluate the (checked) program symbolically into the scalar DAG.
//!
//! Every DSL value is a [`Tensor`]: a shape and the node ids of its elements,
//! row-major. `for` loops are unrolled, `fn`s inlined, `dense` layers expanded into
//! their dot products, and the loss builtins written out in their stable forms
//! (log-softmax with a max shift). The checker has already rejected every invalid
//! program; the few "impossible" cases here return an error instead of panicking.

use std::collections::HashMap;

use crate::ast::{BinOp, Expr, FnDef, Init, Loc, Network, Stmt};
use crate::builtins::Builtin;
use crate::graph::{Func, Graph, Node, NodeId};
use crate::resolved::{element_name, FloatType, ParamInit, Slot};
use crate::shape::Shape;

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
    /// Parameter groups in declaration order (`dense` groups where the layer is).
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
    /// The parameter leaf nodes, in storage order.
    pub fn param_nodes(&mut self) -> Vec<NodeId> {
        (0..self.num_params())
            .map(|k| self.graph.insert(Node::Param(k as u32)))
            .collect()
    }
    /// The name of every parameter element in storage order.
    pub fn param_names(&self) -> Vec<String> {
        self.params
            .iter()
            .flat_map(|s| (0..s.shape.len()).map(move |i| s.element_name(i)))
            .collect()
    }
}

/// Lowers a checked network.
pub fn lower(network: &Network, float: FloatType) -> syn::Result<Lowered> {
    let mut lowering = Lowering::new();
    lowering.declare(&network.body)?;
    lowering.block(&network.body, true)?;
    lowering.finish(network, float)
}

#[derive(Clone)]
struct Binding {
    value: Tensor,
}

/// A parameter group in the order the lowering met it, plus where it belongs in
/// declaration order.
struct ParamGroup {
    slot: Slot,
    /// (top-level statement index, position within it): the sort key for the layout.
    order: (usize, usize),
}

struct Lowering<'a> {
    graph: Graph,
    globals: HashMap<String, Tensor>,
    fns: HashMap<String, &'a FnDef>,
    scopes: Vec<HashMap<String, Binding>>,
    inputs: Vec<Slot>,
    targets: Vec<Slot>,
    params: Vec<ParamGroup>,
    next_param: usize,
    /// The top-level statement being lowered and the binding it defines (names `dense`).
    statement: usize,
    binding_name: Option<String>,
    output: Option<(String, Tensor)>,
    output_span: Option<proc_macro2::Span>,
    loss: Option<NodeId>,
    bindings: Vec<(String, NodeId)>,
    versions: HashMap<String, usize>,
    fn_depth: usize,
}

impl<'a> Lowering<'a> {
    fn new() -> Self {
        Lowering {
            graph: Graph::new(),
            globals: HashMap::new(),
            fns: HashMap::new(),
            scopes: vec![HashMap::new()],
            inputs: Vec::new(),
            targets: Vec::new(),
            params: Vec::new(),
            next_param: 0,
            statement: 0,
            binding_name: None,
            output: None,
            output_span: None,
            loss: None,
            bindings: Vec::new(),
            versions: HashMap::new(),
            fn_depth: 0,
        }
    }

    /// Declarations are visible everywhere, so they are collected first.
    fn declare(&mut self, body: &'a [Stmt]) -> syn::Result<()> {
        let (mut n_inputs, mut n_targets) = (0usize, 0usize);
        for (index, stmt) in body.iter().enumerate() {
            match stmt {
                Stmt::Input(decls) | Stmt::Target(decls) => {
                    let is_input = matches!(stmt, Stmt::Input(_));
                    for decl in decls {
                        let shape = decl_shape(&decl.dims, Loc::at(decl.name.span()))?;
                        let counter = if is_input {
                            &mut n_inputs
                        } else {
                            &mut n_targets
                        };
                        let offset = *counter;
                        *counter += shape.len();
                        let elems = (offset..offset + shape.len())
                            .map(|k| {
                                let k = k as u32;
                                self.graph.insert(if is_input {
                                    Node::Input(k)
                                } else {
                                    Node::Target(k)
                                })
                            })
                            .collect();
                        self.globals
                            .insert(decl.name.to_string(), Tensor { shape, elems });
                        let slot = Slot {
                            name: decl.name.to_string(),
                            shape,
                            offset,
                            init: None,
                        };
                        if is_input {
                            &mut self.inputs
                        } else {
                            &mut self.targets
                        }
                        .push(slot);
                    }
                }
                Stmt::Param(decls) => {
                    for (position, p) in decls.iter().enumerate() {
                        let shape = decl_shape(&p.decl.dims, Loc::at(p.decl.name.span()))?;
                        let init = match &p.init {
                            Some(init) => ParamInit::Values(init_values(init, shape)?),
                            None => match shape {
                                Shape::Matrix(r, c) => ParamInit::Glorot {
                                    fan_in: c,
                                    fan_out: r,
                                },
                                _ => ParamInit::Uniform(0.1),
                            },
                        };
                        let tensor =
                            self.new_param(p.decl.name.to_string(), shape, init, (index, position));
                        self.globals.insert(p.decl.name.to_string(), tensor);
                    }
                }
                Stmt::Fn(def) => {
                    self.fns.insert(def.name.to_string(), def);
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn new_param(
        &mut self,
        name: String,
        shape: Shape,
        init: ParamInit,
        order: (usize, usize),
    ) -> Tensor {
        let offset = self.next_param;
        self.next_param += shape.len();
        let elems = (offset..offset + shape.len())
            .map(|k| self.graph.insert(Node::Param(k as u32)))
            .collect();
        self.params.push(ParamGroup {
            slot: Slot {
                name,
                shape,
                offset,
                init: Some(init),
            },
            order,
        });
        Tensor { shape, elems }
    }

    fn block(&mut self, body: &'a [Stmt], top_level: bool) -> syn::Result<()> {
        for (index, stmt) in body.iter().enumerate() {
            if top_level {
                self.statement = index;
            }
            self.stmt(stmt)?;
        }
        Ok(())
    }

    fn stmt(&mut self, stmt: &'a Stmt) -> syn::Result<()> {
        match stmt {
            Stmt::FloatType { .. }
            | Stmt::Input(_)
            | Stmt::Target(_)
            | Stmt::Param(_)
            | Stmt::Fn(_) => Ok(()),
            Stmt::Let { name, value, .. } => {
                self.binding_name = Some(name.to_string());
                let value = self.expr(value)?;
                self.binding_name = None;
                self.bind(&name.to_string(), value);
                Ok(())
            }
            Stmt::Output { name, value, .. } => {
                self.binding_name = Some(name.to_string());
                let value = self.expr(value)?;
                self.binding_name = None;
                self.bind(&name.to_string(), value.clone());
                self.output = Some((name.to_string(), value));
                self.output_span = Some(name.span());
                Ok(())
            }
            Stmt::Loss { value, keyword } => {
                let value = self.expr(value)?;
                match value.elems.as_slice() {
                    [id] => {
                        self.loss = Some(*id);
                        Ok(())
                    }
                    _ => Err(Loc::at(*keyword).error("the loss must be a scalar")),
                }
            }
            Stmt::Assign {
                place,
                op,
                value,
                loc,
            } => {
                let name = place.name.to_string();
                let mut current = self
                    .lookup_binding(&name)
                    .ok_or_else(|| loc.error(format!("cannot find binding `{name}`")))?
                    .value;
                // Resolve the element range the place denotes.
                let (mut start, mut shape) = (0usize, current.shape);
                for index in &place.indices {
                    let i = self.index(index, shape)?;
                    let Some((_, row)) = shape.index() else {
                        return Err(index.loc().error("cannot index a scalar"));
                    };
                    start += i * row.len();
                    shape = row;
                }
                let old = Tensor {
                    shape,
                    elems: current.elems[start..start + shape.len()].to_vec(),
                };
                let rhs = self.expr(value)?;
                let new = match op {
                    None => rhs,
                    Some(op) => self.binary(*op, old, rhs, *loc)?,
                };
                if new.shape != shape {
                    return Err(loc.error(format!("expected a {shape}, found a {}", new.shape)));
                }
                current.elems.splice(start..start + shape.len(), new.elems);
                self.assign(&name, current.clone());
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
                Ok(())
            }
            Stmt::For(lp) => {
                let start = self.int(&lp.start)?;
                let end = self.int(&lp.end)? + i64::from(lp.inclusive);
                for i in start..end {
                    let mut scope = HashMap::new();
                    if let Some(var) = &lp.var {
                        let c = self.graph.constant(i as f64);
                        scope.insert(
                            var.to_string(),
                            Binding {
                                value: Tensor::scalar(c),
                            },
                        );
                        scope.insert(
                            format!("#loopvar {var}"),
                            Binding {
                                value: Tensor::scalar(c),
                            },
                        );
                    }
                    self.scopes.push(scope);
                    let result = self.block(&lp.body, false);
                    self.scopes.pop();
                    result?;
                }
                Ok(())
            }
        }
    }

    /// Binds a new `let` in the innermost scope and names its elements.
    fn bind(&mut self, name: &str, value: Tensor) {
        let versioned = self.version(name);
        for (i, &id) in value.elems.iter().enumerate() {
            self.name_node(element_name(&versioned, value.shape, i), id);
        }
        if let Some(scope) = self.scopes.last_mut() {
            scope.insert(name.to_string(), Binding { value });
        }
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
            self.bindings.push((name, id));
        }
    }

    /// Replaces the value of an existing (mutable) binding in the scope that holds it.
    fn assign(&mut self, name: &str, value: Tensor) {
        for scope in self.scopes.iter_mut().rev() {
            if let Some(b) = scope.get_mut(name) {
                b.value = value;
                return;
            }
        }
    }

    fn lookup_binding(&self, name: &str) -> Option<Binding> {
        self.scopes.iter().rev().find_map(|s| s.get(name)).cloned()
    }

    fn lookup(&self, name: &str) -> Option<Tensor> {
        self.lookup_binding(name)
            .map(|b| b.value)
            .or_else(|| self.globals.get(name).cloned())
    }

    /// The value of an integer expression (index, loop bound, `powi` exponent, width).
    fn int(&self, e: &Expr) -> syn::Result<i64> {
        match e {
            Expr::Num { int: Some(v), .. } => Ok(*v),
            Expr::Name(ident) => {
                let key = format!("#loopvar {ident}");
                let value = self
                    .lookup_binding(&key)
                    .and_then(|b| b.value.elems.first().copied());
                value
                    .and_then(|id| self.graph.as_const(id))
                    .map(|v| v as i64)
                    .ok_or_else(|| {
                        Loc::at(ident.span()).error("expected an integer literal or loop variable")
                    })
            }
            Expr::Neg { operand, .. } => Ok(-self.int(operand)?),
            Expr::Binary {
                op, lhs, rhs, loc, ..
            } => {
                let (a, b) = (self.int(lhs)?, self.int(rhs)?);
                match op {
                    BinOp::Add => a.checked_add(b),
                    BinOp::Sub => a.checked_sub(b),
                    BinOp::Mul => a.checked_mul(b),
                    BinOp::Div => None,
                }
                .ok_or_else(|| loc.error("invalid integer expression"))
            }
            other => Err(other
                .loc()
                .error("expected an integer expression of literals and loop variables")),
        }
    }

    fn index(&self, e: &Expr, shape: Shape) -> syn::Result<usize> {
        let i = self.int(e)?;
        let len = shape.index().map_or(0, |(n, _)| n);
        usize::try_from(i)
            .ok()
            .filter(|&i| i < len)
            .ok_or_else(|| e.loc().error(format!("index {i} out of range for {shape}")))
    }

    fn expr(&mut self, e: &Expr) -> syn::Result<Tensor> {
        match e {
            Expr::Num { value, .. } => Ok(Tensor::scalar(self.graph.constant(*value))),
            Expr::Name(ident) => self
                .lookup(&ident.to_string())
                .ok_or_else(|| Loc::at(ident.span()).error(format!("cannot find `{ident}`"))),
            Expr::Neg { operand, .. } => {
                let mut t = self.expr(operand)?;
                for x in &mut t.elems {
                    *x = self.graph.neg(*x);
                }
                Ok(t)
            }
            Expr::Binary {
                op, lhs, rhs, loc, ..
            } => {
                let (a, b) = (self.expr(lhs)?, self.expr(rhs)?);
                self.binary(*op, a, b, *loc)
            }
            Expr::Array { elems, loc } => {
                let items = elems
                    .iter()
                    .map(|x| self.expr(x))
                    .collect::<syn::Result<Vec<_>>>()?;
                let first = items
                    .first()
                    .map(|t| t.shape)
                    .ok_or_else(|| loc.error("empty array"))?;
                let shape = first
                    .array_of(items.len())
                    .filter(|_| items.iter().all(|t| t.shape == first))
                    .ok_or_else(|| {
                        loc.error("array elements must be scalars or vectors of one shape")
                    })?;
                Ok(Tensor {
                    shape,
                    elems: items.into_iter().flat_map(|t| t.elems).collect(),
                })
            }
            Expr::Index { base, index, .. } => {
                let base = self.expr(base)?;
                let i = self.index(index, base.shape)?;
                let (_, row) = base
                    .shape
                    .index()
                    .ok_or_else(|| index.loc().error("cannot index a scalar"))?;
                let n = row.len();
                Ok(Tensor {
                    shape: row,
                    elems: base.elems[i * n..(i + 1) * n].to_vec(),
                })
            }
            Expr::Transpose { operand, loc } => {
                let t = self.expr(operand)?;
                self.transpose(t, *loc)
            }
            Expr::Call { func, args, loc } => self.call(func, args, *loc),
        }
    }

    fn binary(&mut self, op: BinOp, a: Tensor, b: Tensor, loc: Loc) -> syn::Result<Tensor> {
        if op == BinOp::Mul {
            if let (Shape::Matrix(r, c), Shape::Vector(_) | Shape::Matrix(..)) = (a.shape, b.shape)
            {
                return self.matmul(&a, &b, r, c, loc);
            }
        }
        self.zip(a, b, loc, |g, x, y| match op {
            BinOp::Add => g.add(x, y),
            BinOp::Sub => g.sub(x, y),
            BinOp::Mul => g.mul(x, y),
            BinOp::Div => g.div(x, y),
        })
    }

    /// Elementwise combination with scalar broadcasting.
    fn zip(
        &mut self,
        a: Tensor,
        b: Tensor,
        loc: Loc,
        mut f: impl FnMut(&mut Graph, NodeId, NodeId) -> NodeId,
    ) -> syn::Result<Tensor> {
        let shape = a
            .shape
            .broadcast(b.shape)
            .ok_or_else(|| loc.error(format!("shapes {} and {} do not match", a.shape, b.shape)))?;
        let n = shape.len();
        let pick = |t: &Tensor, i: usize| {
            if t.elems.len() == 1 {
                t.elems[0]
            } else {
                t.elems[i]
            }
        };
        let elems = (0..n)
            .map(|i| f(&mut self.graph, pick(&a, i), pick(&b, i)))
            .collect();
        Ok(Tensor { shape, elems })
    }

    /// Matrix x vector or matrix x matrix.
    fn matmul(
        &mut self,
        a: &Tensor,
        b: &Tensor,
        rows: usize,
        cols: usize,
        loc: Loc,
    ) -> syn::Result<Tensor> {
        let (inner, k, shape) = match b.shape {
            Shape::Vector(n) => (n, 1, Shape::Vector(rows)),
            Shape::Matrix(n, k) => (n, k, Shape::Matrix(rows, k)),
            Shape::Scalar => (0, 0, Shape::Scalar),
        };
        if inner != cols {
            return Err(loc.error(format!("cannot multiply {} by {}", a.shape, b.shape)));
        }
        let mut elems = Vec::with_capacity(rows * k);
        for i in 0..rows {
            for j in 0..k {
                let terms: Vec<NodeId> = (0..cols)
                    .map(|t| self.graph.mul(a.elems[i * cols + t], b.elems[t * k + j]))
                    .collect();
                elems.push(self.graph.sum(terms));
            }
        }
        Ok(Tensor { shape, elems })
    }

    fn transpose(&mut self, t: Tensor, loc: Loc) -> syn::Result<Tensor> {
        let Shape::Matrix(r, c) = t.shape else {
            return Err(loc.error(format!("transpose expects a matrix, found a {}", t.shape)));
        };
        let elems = (0..c)
            .flat_map(|j| (0..r).map(move |i| (i, j)))
            .map(|(i, j)| t.elems[i * c + j])
            .collect();
        Ok(Tensor {
            shape: Shape::Matrix(c, r),
            elems,
        })
    }

    fn call(&mut self, func: &syn::Ident, args: &[Expr], loc: Loc) -> syn::Result<Tensor> {
        let name = func.to_string();
        if let Some(def) = self.fns.get(name.as_str()).copied() {
            let values = args
                .iter()
                .map(|a| self.expr(a))
                .collect::<syn::Result<Vec<_>>>()?;
            return self.apply_fn(def, values, loc);
        }
        let builtin = Builtin::lookup(&name)
            .ok_or_else(|| Loc::at(func.span()).error(format!("unknown function `{name}`")))?;
        if builtin == Builtin::Dense {
            return self.dense(args, loc);
        }
        if builtin == Builtin::Powi {
            let x = self.expr(
                args.first()
                    .ok_or_else(|| loc.error("powi takes 2 arguments"))?,
            )?;
            let n = self.int(
                args.get(1)
                    .ok_or_else(|| loc.error("powi takes 2 arguments"))?,
            )?;
            let n = i32::try_from(n).map_err(|_| loc.error("exponent too large"))?;
            return Ok(self.map(x, |g, x| g.insert(Node::Powi(x, n))));
        }
        let values = args
            .iter()
            .map(|a| self.expr(a))
            .collect::<syn::Result<Vec<_>>>()?;
        self.builtin(builtin, values, loc)
    }

    /// A user `fn`, inlined elementwise (arguments broadcast).
    fn apply_fn(&mut self, def: &'a FnDef, values: Vec<Tensor>, loc: Loc) -> syn::Result<Tensor> {
        if self.fn_depth > 64 {
            return Err(loc.error("functions nest too deeply (recursion is not allowed)"));
        }
        let shape = values
            .iter()
            .try_fold(Shape::Scalar, |s, v| s.broadcast(v.shape));
        let shape = shape.ok_or_else(|| loc.error("the arguments' shapes differ"))?;
        let mut elems = Vec::with_capacity(shape.len());
        for i in 0..shape.len() {
            // A function body sees its arguments and the global declarations only.
            let mut scope = HashMap::new();
            for (arg, v) in def.args.iter().zip(&values) {
                let x = if v.elems.len() == 1 {
                    v.elems[0]
                } else {
                    v.elems[i]
                };
                scope.insert(
                    arg.to_string(),
                    Binding {
                        value: Tensor::scalar(x),
                    },
                );
            }
            let saved = std::mem::replace(&mut self.scopes, vec![scope]);
            self.fn_depth += 1;
            let result = self.expr(&def.body);
            self.fn_depth -= 1;
            self.scopes = saved;
            let result = result?;
            match result.elems.as_slice() {
                [x] => elems.push(*x),
                _ => return Err(def.body.loc().error("a fn must return a scalar")),
            }
        }
        Ok(Tensor { shape, elems })
    }

    fn map(&mut self, t: Tensor, mut f: impl FnMut(&mut Graph, NodeId) -> NodeId) -> Tensor {
        let elems = t.elems.iter().map(|&x| f(&mut self.graph, x)).collect();
        Tensor {
            shape: t.shape,
            elems,
        }
    }

    /// Applies a one-argument activation (builtin or `fn`) elementwise.
    fn activation(&mut self, name: &syn::Ident, t: Tensor, loc: Loc) -> syn::Result<Tensor> {
        let key = name.to_string();
        if let Some(def) = self.fns.get(key.as_str()).copied() {
            return self.apply_fn(def, vec![t], loc);
        }
        match Builtin::lookup(&key) {
            Some(b) if b.is_elementwise() && b.arity() == 1 => self.builtin(b, vec![t], loc),
            _ => {
                Err(Loc::at(name.span()).error(format!("`{key}` is not a one-argument activation")))
            }
        }
    }

    /// `dense(x, units, act)`: declares `<binding>.weight[units][len(x)]` and
    /// `<binding>.bias[units]`, and computes `act(W x + b)`.
    fn dense(&mut self, args: &[Expr], loc: Loc) -> syn::Result<Tensor> {
        let [x, units, act] = args else {
            return Err(loc.error("dense takes 3 arguments: dense(x, units, activation)"));
        };
        let x = self.expr(x)?;
        let Shape::Vector(n) = x.shape else {
            return Err(loc.error(format!("dense expects a vector input, found a {}", x.shape)));
        };
        let units = usize::try_from(self.int(units)?)
            .map_err(|_| units.loc().error("expected a positive width"))?;
        let Expr::Name(act) = act else {
            return Err(act.loc().error("expected an activation name"));
        };
        let binding = self
            .binding_name
            .clone()
            .ok_or_else(|| loc.error("dense must define a `let` or `output`"))?;
        let order = (self.statement, usize::MAX / 2);
        let weight = self.new_param(
            format!("{binding}.weight"),
            Shape::Matrix(units, n),
            ParamInit::Glorot {
                fan_in: n,
                fan_out: units,
            },
            order,
        );
        let bias = self.new_param(
            format!("{binding}.bias"),
            Shape::Vector(units),
            ParamInit::Zero,
            (order.0, order.1 + 1),
        );
        let z = self.matmul(&weight, &x, units, n, loc)?;
        let z = self.zip(z, bias, loc, |g, a, b| g.add(a, b))?;
        self.activation(act, z, loc)
    }

    fn builtin(&mut self, b: Builtin, mut v: Vec<Tensor>, loc: Loc) -> syn::Result<Tensor> {
        let func = |f: Func| move |g: &mut Graph, x: NodeId| g.call(f, x);
        let arity_ok = v.len() == b.arity();
        if !arity_ok {
            return Err(loc.error(format!("expected {} argument(s)", b.arity())));
        }
        let second = if v.len() > 1 { Some(v.remove(1)) } else { None };
        let x = v.remove(0);
        let two = |this: &mut Self, f: fn(&mut Graph, NodeId, NodeId) -> NodeId| {
            let y = second.clone().unwrap_or_else(|| x.clone());
            this.zip(x.clone(), y, loc, f)
        };
        Ok(match b {
            Builtin::Func(f) => self.map(x, func(f)),
            Builtin::Sq => self.map(x, |g, x| g.mul(x, x)),
            Builtin::Identity => x,
            Builtin::LeakyRelu => two(self, |g, x, s| {
                let zero = g.constant(0.0);
                let sx = g.mul(s, x);
                g.insert(Node::IfGt(x, zero, x, sx))
            })?,
            Builtin::Pow => two(self, |g, x, y| g.insert(Node::Pow(x, y)))?,
            Builtin::Max => two(self, |g, x, y| g.insert(Node::Max(x, y)))?,
            Builtin::Min => two(self, |g, x, y| g.insert(Node::Min(x, y)))?,
            Builtin::Sum => Tensor::scalar(self.graph.sum(x.elems)),
            Builtin::Mean => {
                let n = x.elems.len() as f64;
                let s = self.graph.sum(x.elems);
                Tensor::scalar(self.graph.scale(1.0 / n, s))
            }
            Builtin::Dot => {
                let p = two(self, |g, a, b| g.mul(a, b))?;
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
            Builtin::LogSoftmax => self.log_softmax(x),
            Builtin::Transpose => self.transpose(x, loc)?,
            Builtin::Mse => {
                let d = two(self, |g, y, t| {
                    let d = g.sub(y, t);
                    g.mul(d, d)
                })?;
                let n = d.elems.len() as f64;
                let s = self.graph.sum(d.elems);
                Tensor::scalar(self.graph.scale(1.0 / n, s))
            }
            Builtin::Bce => {
                let terms = two(self, |g, p, t| {
                    // -(t ln p + (1 - t) ln(1 - p)); the ln rules make it stable on sigmoids.
                    let ln_p = g.call(Func::Ln, p);
                    let q = g.rsub(1.0, p);
                    let ln_q = g.call(Func::Ln, q);
                    let u = g.rsub(1.0, t);
                    let a = g.mul(t, ln_p);
                    let b = g.mul(u, ln_q);
                    let s = g.add(a, b);
                    g.neg(s)
                })?;
                self.mean(terms)
            }
            Builtin::BceLogits => {
                let terms = two(self, |g, z, t| {
                    let sp = g.call(Func::Softplus, z);
                    let tz = g.mul(t, z);
                    g.sub(sp, tz)
                })?;
                self.mean(terms)
            }
            Builtin::CrossEntropy => {
                let ls = self.log_softmax(x);
                let t = second.unwrap_or_else(|| ls.clone());
                let prods: Vec<NodeId> = ls
                    .elems
                    .iter()
                    .zip(&t.elems)
                    .map(|(&l, &t)| self.graph.mul(t, l))
                    .collect();
                let s = self.graph.sum(prods);
                Tensor::scalar(self.graph.neg(s))
            }
            Builtin::Dense | Builtin::Powi => {
                return Err(loc.error("internal: handled by the caller"))
            }
        })
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

    fn log_softmax(&mut self, x: Tensor) -> Tensor {
        let (shifted, sum) = self.shifted_exp_sum(&x.elems);
        let lse = self.graph.call(Func::Ln, sum);
        let elems = shifted.iter().map(|&s| self.graph.sub(s, lse)).collect();
        Tensor {
            shape: x.shape,
            elems,
        }
    }

    fn finish(self, network: &Network, float: FloatType) -> syn::Result<Lowered> {
        let missing =
            |what: &str| Loc::at(network.name.span()).error(format!("missing `{what}` statement"));
        let (output_name, mut output) = self.output.ok_or_else(|| missing("output"))?;
        // `forward` has no target argument, so the output cannot depend on one.
        let live = self.graph.reachable(&output.elems);
        let target = self.graph.iter().find_map(|(id, node)| match node {
            Node::Target(k) if live[id.index()] => Some(k as usize),
            _ => None,
        });
        if let Some(k) = target {
            let name = self
                .targets
                .iter()
                .find(|s| (s.offset..s.offset + s.shape.len()).contains(&k))
                .map_or_else(
                    || "a target".to_string(),
                    |s| format!("the target `{}`", s.name),
                );
            let span = self.output_span.unwrap_or_else(|| network.name.span());
            return Err(Loc::at(span).error(format!(
                "the output `{output_name}` depends on {name}, but `forward` takes only inputs; use targets in the `loss` only"
            )));
        }
        let mut loss = self.loss.ok_or_else(|| missing("loss"))?;
        let mut bindings = self.bindings;
        let mut graph = self.graph;

        // Lay the parameter groups out in declaration order and renumber the leaves.
        let mut groups = self.params;
        groups.sort_by_key(|g| g.order);
        let mut map = vec![0u32; self.next_param];
        let mut offset = 0usize;
        let mut params = Vec::with_capacity(groups.len());
        for group in groups {
            let mut slot = group.slot;
            for i in 0..slot.shape.len() {
                map[slot.offset + i] = (offset + i) as u32;
            }
            slot.offset = offset;
            offset += slot.shape.len();
            params.push(slot);
        }
        if map.iter().enumerate().any(|(i, &k)| i as u32 != k) {
            let (renumbered, new_id) = graph.renumber_params(&map);
            graph = renumbered;
            for x in output.elems.iter_mut().chain(std::iter::once(&mut loss)) {
                *x = new_id[x.index()];
            }
            for (_, x) in &mut bindings {
                *x = new_id[x.index()];
            }
        }
        Ok(Lowered {
            graph,
            float,
            inputs: self.inputs,
            targets: self.targets,
            params,
            output_name,
            output,
            loss,
            bindings,
        })
    }
}

fn decl_shape(dims: &[crate::ast::Dim], loc: Loc) -> syn::Result<Shape> {
    let sizes: Vec<usize> = dims.iter().map(|d| d.size).collect();
    Shape::from_dims(&sizes).ok_or_else(|| loc.error("at most two dimensions"))
}

/// The declared initial values of a parameter, one per element.
fn init_values(init: &Init, shape: Shape) -> syn::Result<Vec<f64>> {
    fn flatten(init: &Init, out: &mut Vec<f64>) {
        match init {
            Init::Value(v, _) => out.push(*v),
            Init::Array(items, _) => items.iter().for_each(|i| flatten(i, out)),
        }
    }
    match init {
        Init::Value(v, _) => Ok(vec![*v; shape.len()]),
        Init::Array(..) => {
            let mut values = Vec::new();
            flatten(init, &mut values);
            if values.len() == shape.len() {
                Ok(values)
            } else {
                Err(init.loc().error(format!(
                    "expected {} values, found {}",
                    shape.len(),
                    values.len()
                )))
            }
        }
    }
}
